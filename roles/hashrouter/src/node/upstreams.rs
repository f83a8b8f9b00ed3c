//! The upstream client task of every route, by route slot. Configured routes get theirs at
//! start; a contract's route gets one when it is added, a new one when its destination changes,
//! and loses it when it is retired. Each task is a generation: events still queued from a
//! replaced task are dropped instead of reaching its successor's route.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::warn;

use key_utils::Secp256k1PublicKey;

use super::{CoreInput, UpstreamCommand};
use crate::core::RouteId;
use crate::net::sv2_upstream::{self, UpstreamSettings};
use crate::net::upstream_link::UpstreamLink;
use crate::net::v1_upstream::{self, V1UpstreamSettings};

const UPSTREAM_QUEUE: usize = 16 * 1024;
/// How long a stopping node waits for its upstream tasks to close their connections.
pub(super) const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The upstream client of one route, by the protocol its pool speaks.
#[derive(Debug, Clone)]
pub enum RouteUpstream {
    Sv2(UpstreamSettings),
    Stratum(V1UpstreamSettings),
}

/// What every route's upstream client shares (from `[upstream]`), whatever its pool.
#[derive(Debug, Clone)]
pub struct UpstreamDefaults {
    pub extranonce_size: u16,
    pub require_version_rolling: bool,
    pub connect_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl UpstreamDefaults {
    /// The client of an SV2 pool pinned to `authority`; `work_selection` for a route that
    /// declares its own jobs.
    pub fn sv2(
        &self,
        route: &str,
        endpoints: Vec<String>,
        authority: Secp256k1PublicKey,
        user_identity: String,
        work_selection: bool,
    ) -> RouteUpstream {
        RouteUpstream::Sv2(UpstreamSettings {
            route: route.to_string(),
            endpoints,
            authority,
            user_identity,
            require_version_rolling: self.require_version_rolling,
            work_selection,
            extranonce_size: self.extranonce_size,
            connect_timeout: self.connect_timeout,
            reconnect_min: self.reconnect_min,
            reconnect_max: self.reconnect_max,
        })
    }

    /// The client of a Stratum V1 pool; `lmr_contract_address` for a Lumerin contract's route.
    pub fn stratum(
        &self,
        route: &str,
        endpoints: Vec<String>,
        user_identity: String,
        password: Option<String>,
        lmr_contract_address: Option<String>,
    ) -> RouteUpstream {
        RouteUpstream::Stratum(V1UpstreamSettings {
            route: route.to_string(),
            endpoints,
            user_identity,
            password,
            extranonce_size: self.extranonce_size,
            lmr_contract_address,
            connect_timeout: self.connect_timeout,
            reconnect_min: self.reconnect_min,
            reconnect_max: self.reconnect_max,
        })
    }
}

/// One running upstream task.
struct UpstreamTask {
    generation: u64,
    commands: mpsc::Sender<UpstreamCommand>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// Every route's upstream task.
pub struct Upstreams {
    tasks: Vec<Option<UpstreamTask>>,
    next_generation: u64,
    inbox: async_channel::Sender<CoreInput>,
}

impl Upstreams {
    pub fn new(inbox: async_channel::Sender<CoreInput>) -> Upstreams {
        Upstreams {
            tasks: Vec::new(),
            next_generation: 1,
            inbox,
        }
    }

    /// Starts the upstream task of `route`, stopping the one it had.
    pub fn start(&mut self, route: RouteId, upstream: RouteUpstream) {
        self.stop(route);
        let index = route.0 as usize;
        if self.tasks.len() <= index {
            self.tasks.resize_with(index + 1, || None);
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let (commands, commands_rx) = mpsc::channel(UPSTREAM_QUEUE);
        let (stop, stop_rx) = watch::channel(false);
        let link = UpstreamLink {
            route,
            generation,
            inbox: self.inbox.clone(),
        };
        let handle = match upstream {
            RouteUpstream::Sv2(settings) => {
                tokio::spawn(sv2_upstream::run(link, settings, commands_rx, stop_rx))
            }
            RouteUpstream::Stratum(settings) => {
                tokio::spawn(v1_upstream::run(link, settings, commands_rx, stop_rx))
            }
        };
        self.tasks[index] = Some(UpstreamTask {
            generation,
            commands,
            stop,
            handle,
        });
    }

    /// Stops the upstream task of `route` (it closes its connection on its own).
    pub fn stop(&mut self, route: RouteId) {
        if let Some(task) = self.tasks.get_mut(route.0 as usize).and_then(Option::take) {
            let _ = task.stop.send(true);
        }
    }

    /// Whether an event of task `generation` is from `route`'s current task.
    pub fn is_current(&self, route: RouteId, generation: u64) -> bool {
        self.task(route).is_some_and(|t| t.generation == generation)
    }

    fn task(&self, route: RouteId) -> Option<&UpstreamTask> {
        self.tasks.get(route.0 as usize)?.as_ref()
    }

    /// Queues a command for `route`'s task; false if the route has none or its queue is full.
    pub fn send(&self, route: RouteId, command: UpstreamCommand) -> bool {
        self.task(route)
            .is_some_and(|t| t.commands.try_send(command).is_ok())
    }

    /// Stops every task and waits (bounded) for them to close their connections.
    pub async fn stop_all(&mut self) {
        let tasks: Vec<UpstreamTask> = self.tasks.iter_mut().filter_map(Option::take).collect();
        for task in &tasks {
            let _ = task.stop.send(true);
        }
        for task in tasks {
            if tokio::time::timeout(STOP_TIMEOUT, task.handle)
                .await
                .is_err()
            {
                warn!("an upstream task did not stop in time");
            }
        }
    }
}
