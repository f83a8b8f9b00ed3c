//! The JDS client task of every route that declares its own jobs, by route slot. Each task is
//! a generation, like the upstream tasks: events still queued from a stopped task are dropped
//! instead of reaching a successor's route.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::warn;

use super::CoreInput;
use crate::core::{JdsCommand, RouteId};
use crate::net::jds_client::{self, JdsSettings};
use crate::net::jds_link::JdsLink;

/// Declarations, missing transactions and solutions waiting for one JDS connection.
const JDS_QUEUE: usize = 1024;

/// One running JDS client task.
struct JdsTask {
    generation: u64,
    commands: mpsc::Sender<JdsCommand>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// Every job-declaring route's JDS client task.
pub struct JdsClients {
    tasks: Vec<Option<JdsTask>>,
    next_generation: u64,
    inbox: async_channel::Sender<CoreInput>,
}

impl JdsClients {
    pub fn new(inbox: async_channel::Sender<CoreInput>) -> JdsClients {
        JdsClients {
            tasks: Vec::new(),
            next_generation: 1,
            inbox,
        }
    }

    /// Starts the JDS client of `route`, stopping the one it had.
    pub fn start(&mut self, route: RouteId, settings: JdsSettings) {
        self.stop(route);
        let index = route.0 as usize;
        if self.tasks.len() <= index {
            self.tasks.resize_with(index + 1, || None);
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let (commands, commands_rx) = mpsc::channel(JDS_QUEUE);
        let (stop, stop_rx) = watch::channel(false);
        let link = JdsLink {
            route,
            generation,
            inbox: self.inbox.clone(),
        };
        let handle = tokio::spawn(jds_client::run(link, settings, commands_rx, stop_rx));
        self.tasks[index] = Some(JdsTask {
            generation,
            commands,
            stop,
            handle,
        });
    }

    /// Stops the JDS client of `route` (it closes its connection on its own).
    pub fn stop(&mut self, route: RouteId) {
        if let Some(task) = self.tasks.get_mut(route.0 as usize).and_then(Option::take) {
            let _ = task.stop.send(true);
        }
    }

    /// Whether an event of task `generation` is from `route`'s current JDS client.
    pub fn is_current(&self, route: RouteId, generation: u64) -> bool {
        self.task(route).is_some_and(|t| t.generation == generation)
    }

    fn task(&self, route: RouteId) -> Option<&JdsTask> {
        self.tasks.get(route.0 as usize)?.as_ref()
    }

    /// Queues a command for `route`'s JDS client; false if it has none or its queue is full.
    pub fn send(&self, route: RouteId, command: JdsCommand) -> bool {
        self.task(route)
            .is_some_and(|t| t.commands.try_send(command).is_ok())
    }

    /// Stops every task and waits, at most `timeout` in all, for them to close their
    /// connections.
    pub async fn stop_all(&mut self, timeout: Duration) {
        let tasks: Vec<JdsTask> = self.tasks.iter_mut().filter_map(Option::take).collect();
        for task in &tasks {
            let _ = task.stop.send(true);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        for task in tasks {
            if tokio::time::timeout_at(deadline, task.handle)
                .await
                .is_err()
            {
                warn!("a JDS client did not stop in time");
            }
        }
    }
}
