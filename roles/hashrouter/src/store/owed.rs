//! The scheduler's owed-work state, persisted so a restart continues where it stopped.

use super::error::StoreError;

/// The work still owed to a route (or one allocation of it) at a moment, plus whatever extra
/// scheduler state the caller wants back after a restart (`blob`, e.g. a small JSON string).
/// Saving replaces the previous state of the same (route, allocation).
#[derive(Debug, Clone, PartialEq)]
pub struct OwedState {
    pub route: String,
    /// `None` (or `Some("")`) is the route-level state.
    pub allocation: Option<String>,
    /// Hashes owed: target work integrated over time minus delivered work; negative when ahead.
    pub owed_work: f64,
    /// Unix seconds at which `owed_work` was exact; the scheduler accrues from here on restore.
    pub at_unix: i64,
    pub blob: Option<String>,
}

impl OwedState {
    /// Refuses what can never be stored or restored meaningfully.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        let fail = |reason| {
            Err(StoreError::InvalidState {
                route: self.route.clone(),
                allocation: self.allocation.clone(),
                reason,
            })
        };
        if self.route.is_empty() {
            return fail("the route name is empty");
        }
        if !self.owed_work.is_finite() {
            return fail("owed work must be a finite number of hashes");
        }
        Ok(())
    }
}
