//! Splitting devices between routes: the allocations are resolved against the farm's measured
//! hashrate into route targets for the scheduler, whose moves are carried out at once — the
//! moved device gets its new route's current job as a clean job (SV1 `clean_jobs`, SV2 a future
//! job and SetNewPrevHash); its extranonce and difficulty do not change (DESIGN.md §3).

use std::time::Instant;

use tracing::{info, warn};

use crate::allocations::AllocationSet;
use crate::store::OwedState;

use super::events::EventKind;
use super::scheduler::Move;
use super::{Action, Core, RouteId};

impl Core {
    /// Replaces the allocations in force (a reloaded file, a chain update).
    pub fn set_allocations(&mut self, allocations: AllocationSet, now: Instant) {
        info!(allocations = allocations.len(), "allocations in force");
        let old = self.allocations.allocations();
        for new in allocations.allocations() {
            let (kind, message) = match old.iter().find(|a| a.id == new.id) {
                None => (EventKind::AllocationAdded, "allocation added"),
                Some(previous) if previous != new => {
                    (EventKind::AllocationChanged, "allocation changed")
                }
                Some(_) => continue,
            };
            let message = format!("{message}: {} {}", new.id, describe(new));
            self.events.push(now, kind, Some(&new.route), message);
        }
        for gone in old {
            if !allocations.allocations().iter().any(|a| a.id == gone.id) {
                let message = format!("allocation removed: {}", gone.id);
                self.events.push(
                    now,
                    EventKind::AllocationRemoved,
                    Some(&gone.route),
                    message,
                );
            }
        }
        self.allocations = allocations;
    }

    /// Owed work saved before a restart, and the work each route was delivered so far, by route
    /// name. Routes that do not exist yet (a contract's, added once the chain is read) get
    /// theirs when they are added.
    pub fn restore(&mut self, states: &[OwedState], delivered: &[(String, f64)], now: Instant) {
        for state in states {
            let is_route_state = state.allocation.as_deref().unwrap_or("").is_empty();
            if is_route_state && self.route_id(&state.route).is_none() {
                let done = delivered
                    .iter()
                    .find(|(name, _)| *name == state.route)
                    .map_or(0.0, |(_, work)| *work);
                self.pending_restore
                    .insert(state.route.clone(), state.owed_work, done);
            }
        }
        let accounts: Vec<_> = self
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let owed = states
                    .iter()
                    .find(|s| s.route == r.name && s.allocation.as_deref().unwrap_or("").is_empty())
                    .map_or(0.0, |s| s.owed_work);
                let done = delivered
                    .iter()
                    .find(|(name, _)| *name == r.name)
                    .map_or(0.0, |(_, work)| *work);
                (RouteId(i as u16), owed, done)
            })
            .collect();
        self.scheduler.restore(&accounts, now);
    }

    /// The accounting of the minute in progress and the owed work now, for a clean stop (the
    /// store adds the rest of the minute if the node comes back within it).
    pub fn flush_accounting(&mut self, unix: u64) {
        let names: Vec<String> = self.routes.iter().map(|r| r.name.clone()).collect();
        let deltas = self.accounting.drain((unix / 60) as i64, &names);
        let owed = self.owed_states(unix);
        self.actions.push_back(Action::Account { deltas, owed });
    }

    fn owed_states(&self, unix: u64) -> Vec<OwedState> {
        self.scheduler
            .routes()
            .iter()
            .zip(&self.routes)
            .skip(1)
            .filter(|(_, route)| route.retired_at.is_none())
            .map(|(account, route)| OwedState {
                route: route.name.clone(),
                allocation: None,
                owed_work: account.owed,
                at_unix: unix as i64,
                blob: None,
            })
            .collect()
    }

    /// Targets from the allocations, then the scheduler's moves.
    pub(super) fn split(&mut self, now: Instant, unix: u64) {
        let farm = self.scheduler.farm_hashrate(now);
        self.farm_hashrate = farm;
        if self.routes.len() > 1 {
            let resolution = self.allocations.resolve(unix, farm, self.config.policy);
            let targets: Vec<f64> = self
                .routes
                .iter()
                .map(|r| match r.retired_at {
                    Some(_) => 0.0,
                    None => resolution.route_target(&r.name),
                })
                .collect();
            self.scheduler.set_targets(&targets, now);
            let mut grants = vec![Vec::new(); self.routes.len()];
            for grant in &resolution.per_allocation {
                if let Some(RouteId(i)) = self.route_id(&grant.route) {
                    let i = i as usize;
                    grants[i].push((grant.id.clone(), grant.granted));
                }
            }
            self.accounting.set_grants(grants);
            let names: Vec<String> = self.routes.iter().map(|r| r.name.clone()).collect();
            self.accounting.note_granted(&names, unix);
            let report = resolution.oversubscribed.as_ref().map(|o| o.to_string());
            let warm_up = self.config.scheduler.vetting_time * 2;
            if self
                .accounting
                .set_oversubscribed(report.clone(), now, warm_up)
            {
                let message = match report {
                    Some(report) => {
                        warn!(%report, "allocations over-subscribed");
                        format!("allocations over-subscribed: {report}")
                    }
                    None => {
                        info!("allocations no longer over-subscribed");
                        "allocations no longer over-subscribed".to_string()
                    }
                };
                self.events
                    .push(now, EventKind::Oversubscribed, None, message);
            }
        }
        for m in self.scheduler.tick(now) {
            self.apply_move(m);
        }
    }

    fn apply_move(&mut self, m: Move) {
        let Some(job) = self.route(m.to).jobs.current().cloned() else {
            return;
        };
        let Some(d) = self.devices.get_mut(&m.device) else {
            return;
        };
        d.route = m.to;
        if d.is_ready() {
            self.send_job(m.device, &job, true);
        }
    }

    /// At each new minute: the ended minute's accounting and every route's owed work, for the
    /// store.
    pub(super) fn account(&mut self, unix: u64) {
        let names: Vec<String> = self.routes.iter().map(|r| r.name.clone()).collect();
        let Some(deltas) = self.accounting.roll((unix / 60) as i64, &names) else {
            return;
        };
        let owed = self.owed_states(unix);
        self.actions.push_back(Action::Account { deltas, owed });
    }
}

/// An allocation's amount and period, for the event log.
fn describe(allocation: &contracts::Allocation) -> String {
    let amount = match allocation.amount {
        contracts::Amount::Hashrate(hs) => format!("{hs:.4e} H/s"),
        contracts::Amount::Fraction(f) => format!("{:.1}% of the farm", f * 100.0),
    };
    let period = match (allocation.start, allocation.end) {
        (None, None) => String::new(),
        (start, end) => format!(
            " from {} to {}",
            start.map_or("now".to_string(), |s| s.to_string()),
            end.map_or("open end".to_string(), |e| e.to_string())
        ),
    };
    format!("({amount}{period}) to route {}", allocation.route)
}
