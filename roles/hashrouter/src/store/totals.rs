//! What the accounting queries return.

/// Sums of the accounting counters over a range of minutes (or for one minute).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    pub seen_shares: u64,
    /// Hashes (difficulty × 2^32) of the shares seen at the node.
    pub seen_work: f64,
    pub acked_shares: u64,
    /// Hashes the pool acknowledged.
    pub acked_work: f64,
    pub rejected_shares: u64,
    pub stale_shares: u64,
}

/// The counters of one minute of one route or allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinuteRow {
    /// Minutes since the unix epoch.
    pub minute: i64,
    pub totals: Totals,
}

/// A route, or one allocation of it, that the store holds accounting or owed-work state for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteKey {
    pub route: String,
    /// `None` is the route-level entry.
    pub allocation: Option<String>,
}
