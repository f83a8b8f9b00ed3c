//! Dividing the farm's hashrate between the allocations in force and the default route.

use std::collections::BTreeMap;
use std::fmt;

use crate::allocation::{non_negative, Allocation, DEFAULT_ROUTE};
use crate::{Hashrate, Policy};

/// Relative slack before a total counts as over-subscribed, so fractions that add up to exactly
/// 1 in decimal (0.1 + 0.2 + 0.7) are not reported as over-subscribed by a rounding error.
const ROUNDING_SLACK: f64 = 1e-12;

/// What one active allocation receives.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub id: String,
    pub route: String,
    /// H/s asked for (a fraction already multiplied by the farm's hashrate).
    pub requested: f64,
    /// H/s granted; below `requested` only when over-subscribed.
    pub granted: f64,
}

/// One allocation that received less than it asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub id: String,
    pub requested: f64,
    pub granted: f64,
}

/// The active allocations ask for more than the farm delivers: reported, never silent.
#[derive(Debug, Clone, PartialEq)]
pub struct OverSubscription {
    /// Total H/s asked for by the active allocations.
    pub requested: f64,
    /// The farm's hashrate, all of which is granted.
    pub available: f64,
    pub policy: Policy,
    /// The allocations that were cut, in purchase order.
    pub cut: Vec<Cut>,
}

/// The division of the farm's hashrate at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// Every active allocation, in purchase order (`order`, then `id`).
    pub per_allocation: Vec<Grant>,
    /// Target H/s per route: the sum of its grants. Always has [`DEFAULT_ROUTE`], whose target
    /// is `default_remainder` (plus any grant naming it); a route with no active allocation is
    /// absent (its target is 0).
    pub per_route: BTreeMap<String, f64>,
    /// H/s no allocation claims, which goes to the default route.
    pub default_remainder: f64,
    pub oversubscribed: Option<OverSubscription>,
}

impl Resolution {
    /// The target H/s of `route` (0 for a route with no active allocation).
    pub fn route_target(&self, route: &str) -> f64 {
        self.per_route.get(route).copied().unwrap_or(0.0)
    }
}

/// Divides `farm_hs` (the farm's measured H/s) between the allocations active at `now` (unix
/// seconds), the default route taking the remainder. When they ask for more than the farm
/// delivers, `policy` decides who is cut and the result says so in `oversubscribed`.
///
/// Fractions are fractions of the whole farm, so fractions and fixed rates compete for the same
/// hashrate: 0.5 of a 100 TH/s farm plus 60 TH/s is over-subscribed by 10 TH/s. A negative or
/// non-finite `farm_hs` counts as 0. Ties in `order` are served by `id`, so the result never
/// depends on the input's order.
pub fn resolve(allocations: &[Allocation], now: u64, farm_hs: f64, policy: Policy) -> Resolution {
    let available = non_negative(farm_hs);
    let mut active: Vec<&Allocation> = allocations.iter().filter(|a| a.is_active(now)).collect();
    active.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.id.cmp(&b.id)));
    let requested: Vec<f64> = active
        .iter()
        .map(|a| a.amount.requested_hs(available))
        .collect();
    let total: f64 = requested.iter().sum();
    let over = total > available * (1.0 + ROUNDING_SLACK);
    let granted: Vec<f64> = if !over {
        requested.clone()
    } else {
        match policy {
            Policy::PurchaseOrder => {
                let mut left = available;
                requested
                    .iter()
                    .map(|&r| {
                        let g = r.min(left);
                        left = (left - g).max(0.0);
                        g
                    })
                    .collect()
            }
            Policy::ProRata => {
                let factor = available / total;
                requested.iter().map(|&r| r * factor).collect()
            }
        }
    };
    let per_allocation: Vec<Grant> = active
        .iter()
        .zip(requested.iter().zip(&granted))
        .map(|(a, (&requested, &granted))| Grant {
            id: a.id.clone(),
            route: a.route.clone(),
            requested,
            granted,
        })
        .collect();
    let default_remainder = if over {
        0.0
    } else {
        (available - total).max(0.0)
    };
    let mut per_route = BTreeMap::new();
    per_route.insert(DEFAULT_ROUTE.to_string(), default_remainder);
    for grant in &per_allocation {
        *per_route.entry(grant.route.clone()).or_insert(0.0) += grant.granted;
    }
    let oversubscribed = over.then(|| OverSubscription {
        requested: total,
        available,
        policy,
        cut: per_allocation
            .iter()
            .filter(|g| g.granted < g.requested)
            .map(|g| Cut {
                id: g.id.clone(),
                requested: g.requested,
                granted: g.granted,
            })
            .collect(),
    });
    Resolution {
        per_allocation,
        per_route,
        default_remainder,
        oversubscribed,
    }
}

/// H/s as a [`Hashrate`] for messages; the values here are already non-negative and finite.
fn rate(hs: f64) -> Hashrate {
    Hashrate::from_hs(hs).unwrap_or_default()
}

impl fmt::Display for OverSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "allocations ask for {} but the farm delivers {} ({}):",
            rate(self.requested),
            rate(self.available),
            self.policy
        )?;
        for (i, cut) in self.cut.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(
                f,
                "{sep}`{}` gets {} of {}",
                cut.id,
                rate(cut.granted),
                rate(cut.requested)
            )?;
        }
        Ok(())
    }
}
