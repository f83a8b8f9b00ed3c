//! The routes and allocations of on-chain contracts, kept in step with the chain watcher: a
//! running contract with a usable destination gets a route (and an upstream task) named after
//! it and an allocation for its speed; a changed destination gets a new upstream task; an ended,
//! closed or deleted-and-over contract loses both. The static allocations file, if any, is
//! merged in, so the core always holds one set.

use std::collections::HashMap;
use std::time::Instant;

use contracts::Allocation;
use tracing::{info, warn};

use super::upstreams::{RouteUpstream, UpstreamDefaults, Upstreams};
use crate::allocations::AllocationSet;
use crate::chain::{ChainSnapshot, ChainUpdate, Destination, DestinationPool};
use crate::core::{Core, RouteId, UpstreamEvent};

/// The upstream client of contract `name`'s route. V1 destinations follow Lumerin's validator
/// convention: the contract is the worker name and `lmr.contract-address`.
fn contract_upstream(defaults: &UpstreamDefaults, name: &str, to: &Destination) -> RouteUpstream {
    let endpoints = vec![to.address.clone()];
    match &to.pool {
        DestinationPool::Stratum { password } => defaults.stratum(
            name,
            endpoints,
            name.to_string(),
            password.clone(),
            Some(name.to_string()),
        ),
        DestinationPool::Sv2 { authority } => {
            let user = if to.user.is_empty() { name } else { &to.user };
            // Contracts name no JDS: their routes mine the pool's jobs.
            defaults.sv2(name, endpoints, *authority, user.to_string(), false)
        }
    }
}

/// The contracts' routes and the allocations in force.
pub struct ContractRoutes {
    defaults: UpstreamDefaults,
    /// Contract routes by name, with the destination their upstream task was started for.
    routes: HashMap<String, (RouteId, Destination)>,
    /// The static file's set (its routes are configured ones).
    static_set: AllocationSet,
    chain_allocations: Vec<Allocation>,
    /// The last set given to the core, to skip unchanged ones.
    in_force: Option<AllocationSet>,
    pub chain: Option<ChainSnapshot>,
}

impl ContractRoutes {
    pub fn new(defaults: UpstreamDefaults) -> ContractRoutes {
        ContractRoutes {
            defaults,
            routes: HashMap::new(),
            static_set: AllocationSet::default(),
            chain_allocations: Vec::new(),
            in_force: None,
            chain: None,
        }
    }

    /// A new set from the allocations file.
    pub fn on_static(&mut self, core: &mut Core, set: AllocationSet, now: Instant) {
        self.static_set = set;
        self.push_allocations(core, now);
    }

    /// A poll of the chain watcher.
    pub fn on_chain(
        &mut self,
        core: &mut Core,
        upstreams: &mut Upstreams,
        update: ChainUpdate,
        now: Instant,
    ) {
        let ChainUpdate { snapshot, routes } = update;
        // Progress of the first read of the contracts: shown, but its routes are the contracts
        // read so far, not all of them, so acting on it could retire a route or drop an
        // allocation that the rest of the read would keep.
        let progress_only = snapshot.startup.is_some();
        self.chain = Some(snapshot);
        if progress_only {
            return;
        }
        let gone: Vec<String> = self
            .routes
            .keys()
            .filter(|name| !routes.iter().any(|r| &r.name == *name))
            .cloned()
            .collect();
        for name in gone {
            if let Some((route, _)) = self.routes.remove(&name) {
                info!(contract = %name, "contract over: its hashrate returns to the other routes");
                upstreams.stop(route);
                core.retire_route(route, now);
            }
        }
        let mut allocations = Vec::with_capacity(routes.len());
        for contract in routes {
            let name = contract.name.clone();
            match self.routes.get_mut(&name) {
                Some((route, destination)) if *destination != contract.destination => {
                    info!(contract = %name, destination = %contract.destination.redacted(), "contract destination changed");
                    let route = *route;
                    *destination = contract.destination.clone();
                    upstreams.stop(route);
                    // The old task's own report is dropped as stale: the core hears it here.
                    core.handle_upstream(route, UpstreamEvent::Disconnected, now);
                    upstreams.start(
                        route,
                        contract_upstream(&self.defaults, &name, &contract.destination),
                    );
                }
                Some(_) => {}
                None => match core.add_route(name.clone(), now) {
                    Ok(route) => {
                        info!(contract = %name, destination = %contract.destination.redacted(), speed_hs = ?contract.allocation.amount, "contract running: route added");
                        upstreams.start(
                            route,
                            contract_upstream(&self.defaults, &name, &contract.destination),
                        );
                        self.routes
                            .insert(name.clone(), (route, contract.destination.clone()));
                    }
                    Err(error) => {
                        warn!(contract = %name, %error, "no route for the contract; its hashrate stays on the other routes");
                        continue;
                    }
                },
            }
            allocations.push(contract.allocation);
        }
        self.chain_allocations = allocations;
        self.push_allocations(core, now);
    }

    fn push_allocations(&mut self, core: &mut Core, now: Instant) {
        let mut all = self.static_set.allocations().to_vec();
        all.extend(self.chain_allocations.iter().cloned());
        let set = AllocationSet::new(all);
        if self.in_force.as_ref() != Some(&set) {
            core.set_allocations(set.clone(), now);
            self.in_force = Some(set);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use contracts::Amount;

    use super::*;
    use crate::chain::{ContractRoute, ReadProgress};
    use crate::core::{CoreConfig, SchedulerConfig, VardiffConfig};

    fn core() -> Core {
        let config = CoreConfig {
            sv1_extranonce2_size: 4,
            sv2_max_extranonce_size: 0,
            sv2_share_batch_size: 1,
            version_rolling_guaranteed: true,
            vardiff: VardiffConfig {
                initial: 1e-4,
                minimum: 1e-6,
                maximum: 1e6,
                shares_per_minute: 60.0,
                retarget_interval: Duration::from_secs(60),
            },
            keepalive: None,
            routes: vec!["default".into()],
            scheduler: SchedulerConfig::default(),
            policy: contracts::Policy::default(),
            templates: Default::default(),
        };
        Core::new(config, Instant::now())
    }

    fn defaults() -> UpstreamDefaults {
        UpstreamDefaults {
            extranonce_size: 6,
            require_version_rolling: false,
            connect_timeout: Duration::from_secs(1),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(1),
        }
    }

    fn contract(name: &str) -> ContractRoute {
        // Nothing listens on port 1: the upstream task just retries.
        let destination = Destination::parse("stratum+tcp://buyer:x@127.0.0.1:1").unwrap();
        ContractRoute {
            name: name.to_string(),
            destination,
            allocation: Allocation {
                id: name.to_string(),
                route: name.to_string(),
                amount: Amount::Hashrate(1e6),
                start: None,
                end: None,
                order: 0,
            },
        }
    }

    fn update(startup: Option<ReadProgress>, routes: Vec<ContractRoute>) -> ChainUpdate {
        ChainUpdate {
            snapshot: ChainSnapshot {
                startup,
                ..ChainSnapshot::default()
            },
            routes,
        }
    }

    /// Live routes and allocation ids the core has.
    fn state(core: &Core) -> (Vec<String>, Vec<String>) {
        let snapshot = core.snapshot(Instant::now());
        let routes = snapshot
            .routes
            .iter()
            .filter(|r| !r.retired)
            .map(|r| r.name.clone())
            .collect();
        let allocations = snapshot.allocations.iter().map(|a| a.id.clone()).collect();
        (routes, allocations)
    }

    #[tokio::test]
    async fn progress_updates_are_shown_but_change_no_route_or_allocation() {
        let (inbox, _inbox_rx) = async_channel::bounded(1024);
        let mut upstreams = Upstreams::new(inbox);
        let mut core = core();
        let mut routes = ContractRoutes::new(defaults());
        let reading = Some(ReadProgress {
            done: 1,
            total: Some(60),
        });

        // The first read is under way and has met one running contract: shown, not acted on.
        routes.on_chain(
            &mut core,
            &mut upstreams,
            update(reading, vec![contract("0xaa")]),
            Instant::now(),
        );
        assert_eq!(routes.chain.as_ref().unwrap().startup, reading);
        assert_eq!(state(&core), (vec!["default".to_string()], vec![]));

        // The full read: the contract gets its route and allocation.
        routes.on_chain(
            &mut core,
            &mut upstreams,
            update(None, vec![contract("0xaa")]),
            Instant::now(),
        );
        let full = (
            vec!["default".to_string(), "0xaa".to_string()],
            vec!["0xaa".to_string()],
        );
        assert_eq!(state(&core), full);

        // A progress update naming none of the contracts retires nothing.
        routes.on_chain(
            &mut core,
            &mut upstreams,
            update(reading, Vec::new()),
            Instant::now(),
        );
        assert_eq!(state(&core), full);
        assert!(routes.chain.as_ref().unwrap().startup.is_some());

        // A full update without the contract does retire it.
        routes.on_chain(
            &mut core,
            &mut upstreams,
            update(None, Vec::new()),
            Instant::now(),
        );
        assert_eq!(state(&core), (vec!["default".to_string()], vec![]));
        upstreams.stop_all().await;
    }
}
