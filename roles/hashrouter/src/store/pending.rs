//! What the store writer has received but not yet written, merged per key.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use super::delta::{allocation_key, AccountingDelta};
use super::owed::OwedState;

/// Deltas added together per (minute, route, allocation) and the latest owed-work state per
/// (route, allocation): one flush writes one row per key however many updates arrived.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    deltas: HashMap<(i64, String, String), AccountingDelta>,
    states: HashMap<(String, String), OwedState>,
}

impl Pending {
    pub(crate) fn add_delta(&mut self, delta: AccountingDelta) {
        match self.deltas.entry(delta.key()) {
            Entry::Occupied(mut e) => e.get_mut().merge(&delta),
            Entry::Vacant(e) => {
                e.insert(delta);
            }
        }
    }

    /// A later state replaces an earlier one of the same key.
    pub(crate) fn add_state(&mut self, state: OwedState) {
        self.states.insert(state_key(&state), state);
    }

    /// How many rows the next flush writes.
    pub(crate) fn len(&self) -> usize {
        self.deltas.len() + self.states.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Everything pending, leaving this empty.
    pub(crate) fn take(&mut self) -> (Vec<AccountingDelta>, Vec<OwedState>) {
        (
            self.deltas.drain().map(|(_, d)| d).collect(),
            self.states.drain().map(|(_, s)| s).collect(),
        )
    }

    /// Puts back what a failed flush took: deltas add to anything received since, while a state
    /// received since is newer and wins over the one that failed.
    pub(crate) fn restore(&mut self, deltas: Vec<AccountingDelta>, states: Vec<OwedState>) {
        for delta in deltas {
            self.add_delta(delta);
        }
        for state in states {
            self.states.entry(state_key(&state)).or_insert(state);
        }
    }
}

fn state_key(state: &OwedState) -> (String, String) {
    (
        state.route.clone(),
        allocation_key(state.allocation.as_deref()).to_owned(),
    )
}
