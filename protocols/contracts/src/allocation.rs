//! One buyer's claim on the farm's hashrate, whatever source it came from.

/// The name of the seller's own route (the node's `[upstream]`), which takes whatever the
/// allocations leave over.
pub const DEFAULT_ROUTE: &str = "default";

/// How much an allocation asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// A fixed rate in H/s.
    Hashrate(f64),
    /// A fraction of the farm's measured hashrate, in (0, 1].
    Fraction(f64),
}

impl Amount {
    /// The rate asked for when the farm delivers `farm_hs`. Values a source should have refused
    /// (negative, not finite, a fraction above 1) count as 0, or 1 for the fraction, so a bad
    /// entry can never take more than the farm.
    pub fn requested_hs(self, farm_hs: f64) -> f64 {
        let farm_hs = non_negative(farm_hs);
        match self {
            Amount::Hashrate(hs) => non_negative(hs),
            Amount::Fraction(f) => non_negative(f).min(1.0) * farm_hs,
        }
    }
}

/// `value` if it is a finite non-negative number, else 0.
pub(crate) fn non_negative(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else {
        0.0
    }
}

/// A claim on part of the farm's hashrate for a time window, sent to one route.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Unique within its source (a contract address, a name in `allocations.toml`).
    pub id: String,
    /// The route (destination) the hashrate goes to, by its configured name.
    pub route: String,
    pub amount: Amount,
    /// First second the allocation is in force (unix seconds); `None` = already started.
    pub start: Option<u64>,
    /// First second it is no longer in force (unix seconds, exclusive); `None` = open-ended.
    pub end: Option<u64>,
    /// Purchase order: lower is earlier and is served first under [`crate::Policy::PurchaseOrder`].
    pub order: u64,
}

impl Allocation {
    /// Whether the allocation is in force at `now` (unix seconds): `start <= now < end`.
    pub fn is_active(&self, now: u64) -> bool {
        self.start.is_none_or(|start| now >= start) && self.end.is_none_or(|end| now < end)
    }
}
