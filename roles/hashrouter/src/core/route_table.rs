//! Routes that come and go while the node runs: one per on-chain contract, added when the
//! contract starts and retired when it ends, closes or changes hands. Configured routes stay for
//! the node's life.
//!
//! A route is a slot: job ids carry the slot in one byte, so there are at most 255. A retired
//! slot is reused only after [`SLOT_REUSE_DELAY`], when shares of its old jobs and its last
//! accounting minute are long gone; its job book keeps counting, so an old job id never names
//! a new job.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::info;

use super::route::Route;
use super::{Core, RouteId};

/// How long a retired slot rests before it serves another route.
pub const SLOT_REUSE_DELAY: Duration = Duration::from_secs(180);
/// Job ids carry the route in one byte.
const MAX_ROUTES: usize = 255;

/// Why a route could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteTableError {
    #[error("a route named `{0}` already exists")]
    Exists(String),
    #[error("all {MAX_ROUTES} route slots are in use")]
    Full,
}

/// Owed and delivered work of routes saved before a restart whose routes do not exist yet,
/// applied when a route of that name is added.
#[derive(Debug, Default)]
pub(super) struct PendingRestore {
    by_name: HashMap<String, (f64, f64)>,
}

impl PendingRestore {
    pub fn insert(&mut self, name: String, owed: f64, delivered: f64) {
        self.by_name.insert(name, (owed, delivered));
    }

    fn take(&mut self, name: &str) -> (f64, f64) {
        self.by_name.remove(name).unwrap_or((0.0, 0.0))
    }
}

impl Core {
    /// The live route called `name`.
    pub fn route_id(&self, name: &str) -> Option<RouteId> {
        self.routes
            .iter()
            .position(|r| r.retired_at.is_none() && r.name == name)
            .map(|i| RouteId(i as u16))
    }

    /// Adds a route while running. It has no work until its upstream opens a channel; its
    /// target comes from the allocations naming it.
    pub fn add_route(&mut self, name: String, now: Instant) -> Result<RouteId, RouteTableError> {
        if self.route_id(&name).is_some() {
            return Err(RouteTableError::Exists(name));
        }
        let reusable = self.routes.iter().position(|r| {
            r.retired_at
                .is_some_and(|at| now.saturating_duration_since(at) >= SLOT_REUSE_DELAY)
        });
        let index = match reusable {
            Some(index) => {
                let r = &mut self.routes[index];
                r.name = name.clone();
                r.retired_at = None;
                r.error = None;
                r.counters = Default::default();
                r.seen = Default::default();
                r.epoch += 1;
                index
            }
            None if self.routes.len() < MAX_ROUTES => {
                let index = self.routes.len();
                self.routes.push(Route::new(index as u8, name.clone()));
                index
            }
            None => return Err(RouteTableError::Full),
        };
        let route = RouteId(index as u16);
        let (owed, delivered) = self.pending_restore.take(&name);
        self.scheduler.open_route(route, owed, delivered, now);
        self.scheduler.set_available(route, false, now);
        self.accounting.open_route(route);
        info!(route = %name, slot = index, "route added");
        Ok(route)
    }

    /// Retires a route added while running: its channel is dropped, its devices move to
    /// routes with work at once, and upstream events still in flight for it are ignored. The
    /// default route and unknown ids are left alone.
    pub fn retire_route(&mut self, route: RouteId, now: Instant) {
        let index = route.0 as usize;
        if route == RouteId::DEFAULT || index >= self.routes.len() {
            return;
        }
        let r = &mut self.routes[index];
        if r.retired_at.is_some() {
            return;
        }
        if let Some(channel) = r.channel.take() {
            r.counters.unanswered_shares += channel.unanswered() as u64;
        }
        r.jobs.on_upstream_lost();
        r.epoch += 1;
        r.retired_at = Some(now);
        info!(route = %r.name, slot = index, "route retired");
        self.scheduler.close_route(route, now);
    }

    /// Whether events for `route` should be applied (it exists and is not retired).
    pub(super) fn is_live(&self, route: RouteId) -> bool {
        self.routes
            .get(route.0 as usize)
            .is_some_and(|r| r.retired_at.is_none())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use work::Target;

    use super::super::tests::config;
    use super::*;
    use crate::core::UpstreamEvent;
    use crate::store::OwedState;

    fn opened(core: &mut Core, route: RouteId, now: Instant) {
        core.handle_upstream(
            route,
            UpstreamEvent::ChannelOpened {
                channel_id: 1,
                target: Target::from_difficulty(1.0).to_le_bytes(),
                extranonce_prefix: vec![1, 2],
                extranonce_size: 8,
            },
            now,
        );
    }

    fn route_named(core: &Core, name: &str, now: Instant) -> Vec<crate::core::RouteSnapshot> {
        core.snapshot(now)
            .routes
            .into_iter()
            .filter(|r| r.name == name)
            .collect()
    }

    #[test]
    fn routes_are_added_retired_and_their_slots_reused_after_a_rest() {
        let t0 = Instant::now();
        let mut core = Core::new(config(), t0);
        let a = core.add_route("0xaaaa".into(), t0).unwrap();
        assert_eq!(a, RouteId(1));
        assert_eq!(core.route_id("0xaaaa"), Some(a));
        assert_eq!(
            core.add_route("0xaaaa".into(), t0),
            Err(RouteTableError::Exists("0xaaaa".into()))
        );
        opened(&mut core, a, t0);
        let live = &route_named(&core, "0xaaaa", t0)[0];
        assert!(live.upstream.connected && !live.retired);

        core.retire_route(a, t0);
        assert_eq!(core.route_id("0xaaaa"), None);
        let retired = &route_named(&core, "0xaaaa", t0)[0];
        assert!(retired.retired && !retired.upstream.connected && retired.target == 0.0);
        // A late event of its old upstream task changes nothing.
        opened(&mut core, a, t0);
        assert!(!route_named(&core, "0xaaaa", t0)[0].upstream.connected);
        // The default route is never retired.
        core.retire_route(RouteId::DEFAULT, t0);
        assert_eq!(core.route_id("default"), Some(RouteId::DEFAULT));

        // Too soon to reuse the slot: a new one.
        let b = core
            .add_route("0xbbbb".into(), t0 + Duration::from_secs(1))
            .unwrap();
        assert_eq!(b, RouteId(2));
        // After the rest, the retired slot serves the next route; its job ids go on counting.
        let next_job = core.routes[1].jobs.next_job_id();
        let later = t0 + SLOT_REUSE_DELAY;
        let c = core.add_route("0xcccc".into(), later).unwrap();
        assert_eq!(c, a);
        assert!(core.routes[1].jobs.next_job_id() >= next_job);
        assert!(route_named(&core, "0xaaaa", later).is_empty());
        let reused = &route_named(&core, "0xcccc", later)[0];
        assert!(
            !reused.retired && reused.owed == 0.0 && reused.upstream.counters.forwarded_shares == 0
        );
        opened(&mut core, c, later);
        assert!(route_named(&core, "0xcccc", later)[0].upstream.connected);
    }

    #[test]
    fn the_table_holds_at_most_255_routes() {
        let now = Instant::now();
        let mut core = Core::new(config(), now);
        for i in 1..255 {
            core.add_route(format!("r{i}"), now).unwrap();
        }
        assert_eq!(
            core.add_route("one-too-many".into(), now),
            Err(RouteTableError::Full)
        );
    }

    #[test]
    fn owed_work_saved_for_a_route_not_yet_added_is_restored_when_it_is() {
        let now = Instant::now();
        let mut core = Core::new(config(), now);
        let state = OwedState {
            route: "0xcontract".into(),
            allocation: None,
            owed_work: 5e12,
            at_unix: 0,
            blob: None,
        };
        core.restore(&[state], &[("0xcontract".into(), 7e12)], now);
        let route = core.add_route("0xcontract".into(), now).unwrap();
        let account = &core.scheduler.routes()[route.0 as usize];
        assert_eq!((account.owed, account.delivered), (5e12, 7e12));
        // Used once: a later route of the same name starts from nothing.
        core.retire_route(route, now);
        let again = core.add_route("0xcontract".into(), now).unwrap();
        assert_eq!(core.scheduler.routes()[again.0 as usize].owed, 0.0);
    }
}
