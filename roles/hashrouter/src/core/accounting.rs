//! Per-minute accounting of each route and allocation (DESIGN.md §7): work the node saw from
//! devices, work the pool acknowledged, shares the pool rejected and stale shares. A route's
//! work is divided among its allocations in proportion to what each was granted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::store::AccountingDelta;

use super::delivery::{AllocationTotals, DeliveryWindow, RouteHistory};
use super::RouteId;

/// Allocations whose running totals are kept beyond those in force: old contracts' totals are
/// in the store, memory must not grow with every contract ever sold.
const MAX_ALLOCATION_TOTALS: usize = 4096;

/// One route's figures for the current minute.
#[derive(Debug, Clone, Copy, Default)]
struct Minute {
    seen_shares: u64,
    seen_work: f64,
    acked_shares: u64,
    acked_work: f64,
    rejected_shares: u64,
    stale_shares: u64,
}

/// The current minute of every route, and what each route's allocations were granted; for
/// the operator, every route's last hour and every allocation's running totals.
#[derive(Debug)]
pub struct Accounting {
    minute: Option<i64>,
    routes: Vec<Minute>,
    history: Vec<RouteHistory>,
    /// By (route name, allocation id).
    allocation_totals: HashMap<(String, String), AllocationTotals>,
    /// Per route: (allocation id, granted H/s).
    grants: Vec<Vec<(String, f64)>>,
    oversubscribed: Option<String>,
    started: Instant,
}

impl Accounting {
    pub fn new(routes: usize, now: Instant) -> Accounting {
        Accounting {
            minute: None,
            routes: vec![Minute::default(); routes],
            history: vec![RouteHistory::default(); routes],
            allocation_totals: HashMap::new(),
            grants: vec![Vec::new(); routes],
            oversubscribed: None,
            started: now,
        }
    }

    /// Room for route `route` (a route added while running); a reused slot starts empty.
    pub fn open_route(&mut self, route: RouteId) {
        let index = route.0 as usize;
        if index >= self.routes.len() {
            self.routes.resize(index + 1, Minute::default());
            self.history.resize(index + 1, RouteHistory::default());
            self.grants.resize(index + 1, Vec::new());
        }
        self.routes[index] = Minute::default();
        self.history[index] = RouteHistory::default();
        self.grants[index].clear();
    }

    fn at(&mut self, route: RouteId) -> Option<&mut Minute> {
        self.routes.get_mut(route.0 as usize)
    }

    pub fn on_seen(&mut self, route: RouteId, work: f64) {
        if let Some(m) = self.at(route) {
            m.seen_shares += 1;
            m.seen_work += work;
        }
        if let Some(h) = self.history.get_mut(route.0 as usize) {
            h.on_seen(work);
        }
    }

    pub fn on_acked(&mut self, route: RouteId, work: f64) {
        if let Some(m) = self.at(route) {
            m.acked_shares += 1;
            m.acked_work += work;
        }
        if let Some(h) = self.history.get_mut(route.0 as usize) {
            h.on_acked(work);
        }
    }

    /// `seconds` passed with each route's target rate as given (indexed by route).
    pub fn on_elapsed(&mut self, seconds: f64, targets: impl Iterator<Item = f64>) {
        for (history, target) in self.history.iter_mut().zip(targets) {
            history.on_elapsed(seconds, target);
        }
    }

    /// Route `route`'s window of the last `minutes` minutes (the one in progress included).
    pub fn window(&self, route: RouteId, minutes: usize) -> DeliveryWindow {
        self.history
            .get(route.0 as usize)
            .map_or_else(DeliveryWindow::default, |h| h.window(minutes))
    }

    /// What the route's allocations were granted now: (allocation id, H/s).
    pub fn grants(&self, route: RouteId) -> &[(String, f64)] {
        self.grants.get(route.0 as usize).map_or(&[], Vec::as_slice)
    }

    /// An allocation's totals in completed minutes, plus its part of the minute in progress.
    pub fn allocation_totals(&self, route: RouteId, name: &str, id: &str) -> AllocationTotals {
        let key = (name.to_string(), id.to_string());
        let mut totals = self
            .allocation_totals
            .get(&key)
            .copied()
            .unwrap_or_default();
        let index = route.0 as usize;
        if let (Some(h), Some(grants)) = (self.history.get(index), self.grants.get(index)) {
            let total: f64 = grants.iter().map(|(_, g)| g).sum();
            let granted = grants
                .iter()
                .find(|(g, _)| g == id)
                .map_or(0.0, |(_, g)| *g);
            if total > 0.0 && granted > 0.0 {
                let current = h.current().scaled(granted / total);
                totals.seen_work += current.seen_work;
                totals.acked_work += current.acked_work;
            }
        }
        totals
    }

    /// Notes, at `unix`, that every allocation granted hashrate now is being delivered to (the
    /// start of its totals if it had none). `names` are the routes' names by index.
    pub fn note_granted(&mut self, names: &[String], unix: u64) {
        for (name, grants) in names.iter().zip(&self.grants) {
            for (id, granted) in grants {
                if *granted > 0.0 {
                    self.allocation_totals
                        .entry((name.clone(), id.clone()))
                        .or_default()
                        .since_unix
                        .get_or_insert(unix);
                }
            }
        }
    }

    /// Totals an allocation was delivered before a restart (from the store).
    pub fn restore_allocation(&mut self, route: &str, id: &str, totals: AllocationTotals) {
        self.allocation_totals
            .insert((route.to_string(), id.to_string()), totals);
    }

    pub fn on_rejected(&mut self, route: RouteId) {
        if let Some(m) = self.at(route) {
            m.rejected_shares += 1;
        }
    }

    pub fn on_stale(&mut self, route: RouteId) {
        if let Some(m) = self.at(route) {
            m.stale_shares += 1;
        }
    }

    /// What the allocations of each route were granted by the last resolution.
    pub fn set_grants(&mut self, grants: Vec<Vec<(String, f64)>>) {
        self.grants = grants;
        self.grants.resize(self.routes.len(), Vec::new());
    }

    /// Records the current over-subscription; returns true when it changed (to be logged).
    /// Ignored while the farm is still being measured after startup (`warm_up`).
    pub fn set_oversubscribed(
        &mut self,
        report: Option<String>,
        now: Instant,
        warm_up: Duration,
    ) -> bool {
        if now.saturating_duration_since(self.started) < warm_up {
            return false;
        }
        let changed = report != self.oversubscribed;
        self.oversubscribed = report;
        changed
    }

    pub fn oversubscribed(&self) -> Option<&str> {
        self.oversubscribed.as_deref()
    }

    /// At the first call of a new minute, the rows of the minute that ended: per route, and per
    /// allocation in proportion to its grant.
    pub fn roll(&mut self, unix_minute: i64, names: &[String]) -> Option<Vec<AccountingDelta>> {
        let previous = self.minute.replace(unix_minute)?;
        if previous == unix_minute {
            return None;
        }
        Some(self.rows(previous, names))
    }

    /// The rows of the minute in progress so far (at a stop), counted under `unix_minute` if the
    /// minute had not started yet.
    pub fn drain(&mut self, unix_minute: i64, names: &[String]) -> Vec<AccountingDelta> {
        let minute = *self.minute.get_or_insert(unix_minute);
        self.rows(minute, names)
    }

    fn rows(&mut self, previous: i64, names: &[String]) -> Vec<AccountingDelta> {
        for history in &mut self.history {
            history.roll();
        }
        let mut deltas = Vec::new();
        for (i, m) in self.routes.iter_mut().enumerate() {
            let m = std::mem::take(m);
            if m.seen_shares + m.acked_shares + m.rejected_shares + m.stale_shares == 0 {
                continue;
            }
            let Some(name) = names.get(i) else { continue };
            deltas.push(delta(previous, name, None, &m, 1.0));
            let grants = &self.grants[i];
            let total: f64 = grants.iter().map(|(_, g)| g).sum();
            if total > 0.0 {
                for (id, granted) in grants {
                    let delta = delta(previous, name, Some(id), &m, granted / total);
                    let totals = self
                        .allocation_totals
                        .entry((name.clone(), id.clone()))
                        .or_default();
                    totals.seen_work += delta.seen_work;
                    totals.acked_work += delta.acked_work;
                    deltas.push(delta);
                }
            }
        }
        if self.allocation_totals.len() > MAX_ALLOCATION_TOTALS {
            let granted = &self.grants;
            self.allocation_totals.retain(|(route, id), _| {
                names
                    .iter()
                    .zip(granted)
                    .any(|(name, grants)| name == route && grants.iter().any(|(g, _)| g == id))
            });
        }
        deltas
    }
}

fn delta(
    minute: i64,
    route: &str,
    allocation: Option<&String>,
    m: &Minute,
    share: f64,
) -> AccountingDelta {
    let count = |n: u64| (n as f64 * share).round() as u64;
    AccountingDelta {
        minute,
        route: route.to_string(),
        allocation: allocation.cloned(),
        seen_shares: count(m.seen_shares),
        seen_work: m.seen_work * share,
        acked_shares: count(m.acked_shares),
        acked_work: m.acked_work * share,
        rejected_shares: count(m.rejected_shares),
        stale_shares: count(m.stale_shares),
    }
}
