//! Splitting the farm between routes by global deficit scheduling (DESIGN.md §6).
//!
//! Each route has a target rate (from the allocations; the default route takes the rest) and an
//! account of work owed: the integral of its target minus the work its shares delivered. On
//! every rebalance the scheduler turns what each route is owed into a wanted rate, compares it
//! with the hashrate of the devices on the route, and moves whole devices from routes with too
//! much to routes with too little, as long as a move brings both closer. What whole devices
//! cannot match is made up over time: the owed work of an under-served route grows until a
//! device moves to it, and shrinks again until it moves away, which time-slices devices between
//! routes. A minimum dwell time bounds how often any device switches.
//!
//! Pure and deterministic: time is passed in, moves come out; the core carries them out at the
//! next job boundary.

mod estimator;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use estimator::HashrateEstimator;

use super::DeviceId;

/// A destination of work. Route 0 is the default route (the seller's own pool), which gets
/// whatever no allocation claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId(pub u16);

impl RouteId {
    pub const DEFAULT: RouteId = RouteId(0);
}

/// Tuning of the scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// A device stays at least this long on a route before it may move again (unless the route
    /// fails).
    pub min_dwell: Duration,
    /// Owed work is paid back over about this long.
    pub catch_up_horizon: Duration,
    /// While catching up, a route gets at most this fraction above its target rate, so a route
    /// returning from an outage does not take the whole farm.
    pub max_catch_up: f64,
    /// A new device is scheduled only after this many accepted shares...
    pub vetting_shares: u64,
    /// ...and this long connected; until then it mines on the default route.
    pub vetting_time: Duration,
    /// Half-life of the device hashrate estimate.
    pub estimate_half_life: Duration,
    /// How often devices are reassigned (owed work accrues continuously).
    pub rebalance_interval: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            min_dwell: Duration::from_secs(60),
            catch_up_horizon: Duration::from_secs(120),
            max_catch_up: 0.5,
            vetting_shares: 8,
            vetting_time: Duration::from_secs(60),
            estimate_half_life: Duration::from_secs(600),
            rebalance_interval: Duration::from_secs(5),
        }
    }
}

/// Move `device` from one route to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub device: DeviceId,
    pub from: RouteId,
    pub to: RouteId,
}

/// The work account of one route.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteAccount {
    /// Target rate in H/s (0 for the default route: it takes the remainder).
    pub target: f64,
    /// Work owed in hashes: the target's integral minus delivered work. Negative when ahead.
    pub owed: f64,
    /// Work delivered in hashes (difficulty-weighted shares × 2^32).
    pub delivered: f64,
    /// Shares that delivered it.
    pub shares: u64,
    /// False while the route's upstream is down: its devices go elsewhere, its debt grows.
    pub available: bool,
}

/// One device as the scheduler sees it.
#[derive(Debug, Clone)]
struct ScheduledDevice {
    route: RouteId,
    /// When the scheduler last moved it (`None`: never, so it may move as soon as it is vetted).
    since: Option<Instant>,
    estimate: HashrateEstimator,
}

/// The deficit scheduler.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    routes: Vec<RouteAccount>,
    // Ordered, so every run with the same inputs makes the same moves.
    devices: BTreeMap<DeviceId, ScheduledDevice>,
    last_accrual: Instant,
    last_rebalance: Instant,
    switches: u64,
}

/// A route's wanted and current hashrate during one rebalance.
#[derive(Debug, Clone, Copy)]
struct Balance {
    /// Hashrate on the route now minus what it should have (H/s).
    surplus: f64,
    available: bool,
}

impl Scheduler {
    /// A scheduler with `routes` routes (route 0 the default), all available.
    pub fn new(config: SchedulerConfig, routes: usize, now: Instant) -> Self {
        let routes = (0..routes.max(1))
            .map(|_| RouteAccount {
                available: true,
                ..RouteAccount::default()
            })
            .collect();
        Scheduler {
            config,
            routes,
            devices: BTreeMap::new(),
            last_accrual: now,
            last_rebalance: now,
            switches: 0,
        }
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    pub fn routes(&self) -> &[RouteAccount] {
        &self.routes
    }

    /// Device switches so far.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// The route `device` mines for.
    pub fn route_of(&self, device: DeviceId) -> Option<RouteId> {
        self.devices.get(&device).map(|d| d.route)
    }

    /// A new device: it mines on the default route until it is vetted.
    pub fn add_device(&mut self, device: DeviceId, now: Instant) -> RouteId {
        self.devices.insert(
            device,
            ScheduledDevice {
                route: RouteId::DEFAULT,
                since: None,
                estimate: HashrateEstimator::new(now),
            },
        );
        RouteId::DEFAULT
    }

    pub fn remove_device(&mut self, device: DeviceId) {
        self.devices.remove(&device);
    }

    /// Sets every route's target rate (H/s), indexed by route; the default route's entry is
    /// ignored. Call whenever allocations change; owed work accrues at the rates in force.
    pub fn set_targets(&mut self, targets: &[f64], now: Instant) {
        self.accrue(now);
        for (route, target) in self.routes.iter_mut().zip(targets).skip(1) {
            route.target = if target.is_finite() {
                target.max(0.0)
            } else {
                0.0
            };
        }
    }

    /// A fresh account for route `route` (a new slot, or a retired one reused): nothing owed or
    /// delivered, no target, unavailable until its upstream brings work.
    pub fn open_route(&mut self, route: RouteId, owed: f64, delivered: f64, now: Instant) {
        self.accrue(now);
        let index = route.0 as usize;
        if index >= self.routes.len() {
            self.routes.resize(index + 1, RouteAccount::default());
        }
        self.routes[index] = RouteAccount {
            owed,
            delivered,
            ..RouteAccount::default()
        };
    }

    /// Closes a route for good: no target, unavailable, its devices leave at once.
    pub fn close_route(&mut self, route: RouteId, now: Instant) {
        self.set_available(route, false, now);
        if let Some(r) = self.routes.get_mut(route.0 as usize) {
            r.target = 0.0;
        }
    }

    /// Marks a route's upstream up or down. Its devices leave at the next rebalance, whatever
    /// their dwell time; its owed work keeps accruing.
    pub fn set_available(&mut self, route: RouteId, available: bool, now: Instant) {
        self.accrue(now);
        if let Some(r) = self.routes.get_mut(route.0 as usize) {
            r.available = available;
        }
        // Failover must not wait for the next regular rebalance.
        if !available {
            self.last_rebalance = now - self.config.rebalance_interval;
        }
    }

    /// Credits an accepted share of `work` hashes from `device` to `route` (the route of the
    /// job it was found on, which may differ from the device's route right after a move).
    pub fn on_share(&mut self, device: DeviceId, route: RouteId, work: f64, now: Instant) {
        if let Some(d) = self.devices.get_mut(&device) {
            d.estimate
                .on_share(work, now, self.config.estimate_half_life);
        }
        if let Some(r) = self.routes.get_mut(route.0 as usize) {
            r.delivered += work;
            r.shares += 1;
            if route != RouteId::DEFAULT {
                r.owed -= work;
            }
        }
    }

    /// Accrues owed work to `now` and, once per rebalance interval, returns the device moves
    /// that bring routes closer to what they are owed.
    pub fn tick(&mut self, now: Instant) -> Vec<Move> {
        self.accrue(now);
        if now.saturating_duration_since(self.last_rebalance) < self.config.rebalance_interval {
            return Vec::new();
        }
        self.last_rebalance = now;
        self.rebalance(now)
    }

    /// The farm's measured hashrate: the estimates of every device that has sent a share (H/s),
    /// vetted or not, so the farm is known before its devices can be scheduled. Allocations
    /// given as fractions, and over-subscription, are resolved against it.
    pub fn farm_hashrate(&mut self, now: Instant) -> f64 {
        let half_life = self.config.estimate_half_life;
        self.devices
            .values_mut()
            .map(|d| d.estimate.hashrate(now, half_life))
            .sum()
    }

    /// The hashrate estimate of a device (H/s).
    pub fn device_hashrate(&mut self, device: DeviceId, now: Instant) -> f64 {
        let half_life = self.config.estimate_half_life;
        self.devices
            .get_mut(&device)
            .map_or(0.0, |d| d.estimate.hashrate(now, half_life))
    }

    /// Restores route accounts saved before a restart (owed and delivered work), by index.
    pub fn restore(&mut self, accounts: &[(RouteId, f64, f64)], now: Instant) {
        self.accrue(now);
        for (route, owed, delivered) in accounts {
            if let Some(r) = self.routes.get_mut(route.0 as usize) {
                r.owed = *owed;
                r.delivered = *delivered;
            }
        }
    }

    fn accrue(&mut self, now: Instant) {
        let dt = now
            .saturating_duration_since(self.last_accrual)
            .as_secs_f64();
        self.last_accrual = self.last_accrual.max(now);
        if dt <= 0.0 {
            return;
        }
        for route in self.routes.iter_mut().skip(1) {
            route.owed += route.target * dt;
        }
    }

    fn rebalance(&mut self, now: Instant) -> Vec<Move> {
        let config = &self.config;
        let half_life = config.estimate_half_life;
        // Hashrate of every vetted device, and per route. Devices still being vetted stay on
        // the default route and count for nothing until their estimate means something.
        let mut movable: Vec<(DeviceId, RouteId, f64, bool)> = Vec::new();
        let mut capacity = vec![0.0; self.routes.len()];
        for (id, d) in self.devices.iter_mut() {
            if !is_vetted(d, config, now) {
                continue;
            }
            let rate = d.estimate.hashrate(now, half_life);
            let dwelt = d
                .since
                .is_none_or(|since| now.saturating_duration_since(since) >= config.min_dwell);
            capacity[d.route.0 as usize] += rate;
            movable.push((*id, d.route, rate, dwelt));
        }
        let total: f64 = capacity.iter().sum();
        let smallest = movable
            .iter()
            .map(|m| m.2)
            .filter(|rate| *rate > 0.0)
            .fold(f64::INFINITY, f64::min);
        let mut balance = self.balances(&capacity, total, smallest);

        // Largest devices first, so whole devices fill the big gaps and the small ones the rest;
        // ties broken by id for determinism.
        movable.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        let mut moves = Vec::new();
        for &(device, from, rate, dwelt) in &movable {
            let from_balance = balance[from.0 as usize];
            let forced = !from_balance.available;
            if !(dwelt || forced) || rate <= 0.0 || (!forced && from_balance.surplus <= 0.0) {
                continue;
            }
            let Some(to) = best_receiver(&balance, from, rate, forced) else {
                continue;
            };
            balance[from.0 as usize].surplus -= rate;
            balance[to.0 as usize].surplus += rate;
            moves.push(Move { device, from, to });
        }
        for m in &moves {
            if let Some(d) = self.devices.get_mut(&m.device) {
                d.route = m.to;
                d.since = Some(now);
            }
        }
        self.switches += moves.len() as u64;
        moves
    }

    /// Each route's surplus: its hashrate now minus the rate it should get, which is its target
    /// plus its owed work spread over the catch-up horizon, the default route taking what is
    /// left of the farm. The extra rate for catching up is bounded by a fraction of the target,
    /// but never below the smallest device (`quantum`): a target smaller than any device can
    /// only be met by lending it a whole device now and then.
    fn balances(&self, capacity: &[f64], total: f64, quantum: f64) -> Vec<Balance> {
        let horizon = self.config.catch_up_horizon.as_secs_f64().max(1.0);
        let mut wanted: Vec<f64> = self
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if i == 0 || !r.available {
                    return 0.0;
                }
                let most = (self.config.max_catch_up * r.target).max(if quantum.is_finite() {
                    quantum
                } else {
                    0.0
                });
                let correction = (r.owed / horizon).clamp(-r.target, most);
                (r.target + correction).max(0.0)
            })
            .collect();
        let claimed: f64 = wanted.iter().sum();
        if claimed > total && claimed > 0.0 {
            // More wanted than the farm has (e.g. catching up after an outage): scale down.
            let scale = total / claimed;
            wanted.iter_mut().for_each(|w| *w *= scale);
        }
        let claimed: f64 = wanted.iter().skip(1).sum();
        wanted[0] = (total - claimed).max(0.0);
        self.routes
            .iter()
            .enumerate()
            .map(|(i, r)| Balance {
                surplus: capacity[i] - wanted[i],
                available: i == 0 || r.available,
            })
            .collect()
    }
}

/// Whether a device's estimate means enough for it to be scheduled.
fn is_vetted(d: &ScheduledDevice, config: &SchedulerConfig, now: Instant) -> bool {
    d.estimate.shares() >= config.vetting_shares && d.estimate.age(now) >= config.vetting_time
}

/// The route a device of `rate` H/s leaving `from` should go to: the one it helps most, if the
/// move reduces the total mismatch. A forced move (its route is down) always goes somewhere
/// available, to the route that needs it most.
fn best_receiver(balance: &[Balance], from: RouteId, rate: f64, forced: bool) -> Option<RouteId> {
    let from_surplus = balance[from.0 as usize].surplus;
    let mut best: Option<(RouteId, f64)> = None;
    for (i, b) in balance.iter().enumerate() {
        let to = RouteId(i as u16);
        if to == from || !b.available || (!forced && b.surplus >= 0.0) {
            continue;
        }
        let before = from_surplus.abs() + b.surplus.abs();
        let after = (from_surplus - rate).abs() + (b.surplus + rate).abs();
        let gain = before - after;
        if !forced && gain <= 0.0 {
            continue;
        }
        if best.is_none_or(|(_, g)| gain > g) {
            best = Some((to, gain));
        }
    }
    best.map(|(to, _)| to)
}
