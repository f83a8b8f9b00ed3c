//! One validated snapshot of an allocation source.

use std::collections::BTreeSet;

use contracts::{resolve, Allocation, Policy, Resolution};

/// The allocations a source holds at one moment, validated (unique ids, known routes, sane
/// amounts and windows) and kept in purchase order. Replaced whole on reload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllocationSet {
    allocations: Vec<Allocation>,
}

impl AllocationSet {
    /// A set of already validated allocations, sorted into purchase order (`order`, then `id`).
    pub fn new(mut allocations: Vec<Allocation>) -> AllocationSet {
        allocations.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.id.cmp(&b.id)));
        AllocationSet { allocations }
    }

    /// In purchase order.
    pub fn allocations(&self) -> &[Allocation] {
        &self.allocations
    }

    pub fn len(&self) -> usize {
        self.allocations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.allocations.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Allocation> {
        self.allocations.iter().find(|a| a.id == id)
    }

    /// The routes any allocation (active or not) names.
    pub fn routes(&self) -> BTreeSet<&str> {
        self.allocations.iter().map(|a| a.route.as_str()).collect()
    }

    /// Per-route targets at `now` for a farm delivering `farm_hs` (see [`contracts::resolve`]).
    pub fn resolve(&self, now: u64, farm_hs: f64, policy: Policy) -> Resolution {
        resolve(&self.allocations, now, farm_hs, policy)
    }

    /// The first start or end strictly after `now`: when the resolution next changes even if
    /// the farm's hashrate does not.
    pub fn next_change_after(&self, now: u64) -> Option<u64> {
        self.allocations
            .iter()
            .flat_map(|a| [a.start, a.end])
            .flatten()
            .filter(|&t| t > now)
            .min()
    }
}
