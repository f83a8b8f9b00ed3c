//! One addition to the per-minute accounting of a route or allocation.

use super::error::StoreError;

/// Work and share counts to add to one accounting row: the row of `minute` for `route` and, when
/// `allocation` is set, that allocation of the route (`None` is the route-level row). Work is in
/// hashes: share difficulty × 2^32, summed. Recording the same key twice adds the two.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountingDelta {
    /// Minutes since the unix epoch (see [`minute_of`]).
    pub minute: i64,
    pub route: String,
    /// The allocation id; `None` (or `Some("")`) is the route-level row.
    pub allocation: Option<String>,
    /// Valid shares the node saw from devices on this route.
    pub seen_shares: u64,
    pub seen_work: f64,
    /// Shares the pool acknowledged (SubmitShares.Success, or an accepted V1 submit).
    pub acked_shares: u64,
    pub acked_work: f64,
    pub rejected_shares: u64,
    pub stale_shares: u64,
}

impl AccountingDelta {
    /// An all-zero delta for one key, to fill in field by field.
    pub fn new(minute: i64, route: impl Into<String>, allocation: Option<String>) -> Self {
        Self {
            minute,
            route: route.into(),
            allocation,
            ..Self::default()
        }
    }

    /// Refuses what can never be stored, so a bad value cannot poison a whole batch at commit time.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        let fail = |reason| {
            Err(StoreError::InvalidDelta {
                route: self.route.clone(),
                minute: self.minute,
                reason,
            })
        };
        if self.route.is_empty() {
            return fail("the route name is empty");
        }
        for work in [self.seen_work, self.acked_work] {
            if !work.is_finite() || work < 0.0 {
                return fail("work must be a finite, non-negative number of hashes");
            }
        }
        let counts = [
            self.seen_shares,
            self.acked_shares,
            self.rejected_shares,
            self.stale_shares,
        ];
        if counts.iter().any(|&c| i64::try_from(c).is_err()) {
            return fail("a share count does not fit SQLite's 64-bit signed integer");
        }
        Ok(())
    }

    /// The row this delta adds to: (minute, route, allocation key).
    pub(crate) fn key(&self) -> (i64, String, String) {
        (
            self.minute,
            self.route.clone(),
            allocation_key(self.allocation.as_deref()).to_owned(),
        )
    }

    /// Adds `other` (same key) into `self`, as the upsert would.
    pub(crate) fn merge(&mut self, other: &AccountingDelta) {
        self.seen_shares = self.seen_shares.saturating_add(other.seen_shares);
        self.seen_work += other.seen_work;
        self.acked_shares = self.acked_shares.saturating_add(other.acked_shares);
        self.acked_work += other.acked_work;
        self.rejected_shares = self.rejected_shares.saturating_add(other.rejected_shares);
        self.stale_shares = self.stale_shares.saturating_add(other.stale_shares);
    }
}

/// The accounting minute of a unix timestamp in seconds (rounds down, also before 1970).
pub fn minute_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(60)
}

/// How an allocation is stored in a key column: route-level rows use the empty string, because
/// SQLite never treats two NULLs as the same key and the upsert would then never match.
pub(crate) fn allocation_key(allocation: Option<&str>) -> &str {
    allocation.unwrap_or("")
}

/// The inverse of [`allocation_key`].
pub(crate) fn allocation_from_key(key: String) -> Option<String> {
    (!key.is_empty()).then_some(key)
}

/// A share count as SQLite stores it; only called on validated values.
pub(crate) fn count_to_sql(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A share count read back; negative values are never written by this code.
pub(crate) fn count_from_sql(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is {value}")))
}
