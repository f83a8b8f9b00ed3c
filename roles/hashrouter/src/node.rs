//! A running node: the core task that owns [`Core`], the SV1 listener and the upstream client,
//! connected by bounded queues.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::Config;
use crate::core::{
    Action, Core, CoreConfig, DeviceId, DeviceRequest, Line, NodeSnapshot, UpstreamEvent,
    UpstreamShare, VardiffConfig,
};
use crate::net::sv1_listener;
use crate::net::sv2_upstream::{self, UpstreamSettings};

/// Events for the core task, from connection tasks and the handle.
#[derive(Debug)]
pub enum CoreInput {
    DeviceConnected {
        outbox: mpsc::Sender<DeviceOutput>,
        reply: oneshot::Sender<DeviceId>,
    },
    DeviceRequest {
        device: DeviceId,
        request: DeviceRequest,
    },
    DeviceGone {
        device: DeviceId,
    },
    Upstream(UpstreamEvent),
    Snapshot(oneshot::Sender<NodeSnapshot>),
}

/// What a device connection task is told to do.
#[derive(Debug, Clone)]
pub enum DeviceOutput {
    Line(Line),
    Close(String),
}

/// Commands for the upstream client task.
#[derive(Debug, Clone)]
pub enum UpstreamCommand {
    Submit(UpstreamShare),
    Close(String),
}

/// Queue sizes: large enough to absorb a burst (a new block's jobs to every device), small
/// enough that a stuck peer is noticed instead of buffering without end.
const CORE_QUEUE: usize = 16 * 1024;
pub(crate) const DEVICE_QUEUE: usize = 256;
const UPSTREAM_QUEUE: usize = 16 * 1024;
const TICK: Duration = Duration::from_secs(1);

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot listen on {addr} (sv1.listen): {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// A started node. Dropping it does not stop it; call [`NodeHandle::shutdown`].
pub struct NodeHandle {
    sv1_addr: SocketAddr,
    inbox: async_channel::Sender<CoreInput>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl NodeHandle {
    /// Where SV1 devices connect (the real port when the config said port 0).
    pub fn sv1_addr(&self) -> SocketAddr {
        self.sv1_addr
    }

    /// The node's state now; `None` if the core task has stopped.
    pub async fn snapshot(&self) -> Option<NodeSnapshot> {
        let (reply, answer) = oneshot::channel();
        self.inbox.send(CoreInput::Snapshot(reply)).await.ok()?;
        answer.await.ok()
    }

    /// Stops every task and closes every connection.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts a node from a validated config.
pub async fn start(config: &Config) -> Result<NodeHandle, NodeError> {
    let core_config = CoreConfig {
        extranonce2_size: config.sv1.extranonce2_size as usize,
        vardiff: VardiffConfig {
            initial: config.difficulty.initial,
            minimum: config.difficulty.minimum,
            maximum: config.difficulty.maximum,
            shares_per_minute: config.difficulty.shares_per_minute,
            retarget_interval: Duration::from_secs(config.difficulty.retarget_secs),
        },
        keepalive: (config.jobs.keepalive_secs > 0)
            .then(|| Duration::from_secs(config.jobs.keepalive_secs)),
    };
    let upstream_settings = UpstreamSettings {
        address: config.upstream.address.clone(),
        authority: config.upstream.authority_key()?,
        user_identity: config.upstream.user_identity.clone(),
        require_version_rolling: config.upstream.require_version_rolling,
        extranonce_size: core_config.upstream_extranonce_size() as u16,
        connect_timeout: config.upstream.connect_timeout(),
        reconnect_min: Duration::from_millis(config.upstream.reconnect_min_ms),
        reconnect_max: Duration::from_secs(config.upstream.reconnect_max_secs),
    };

    let listener = tokio::net::TcpListener::bind(&config.sv1.listen)
        .await
        .map_err(|source| NodeError::Bind {
            addr: config.sv1.listen.clone(),
            source,
        })?;
    let sv1_addr = listener.local_addr().map_err(|source| NodeError::Bind {
        addr: config.sv1.listen.clone(),
        source,
    })?;
    info!(%sv1_addr, "listening for Stratum V1 devices");

    let (inbox_tx, inbox_rx) = async_channel::bounded(CORE_QUEUE);
    let (upstream_tx, upstream_rx) = mpsc::channel(UPSTREAM_QUEUE);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let core = Core::new(core_config);
    let tasks = vec![
        tokio::spawn(run_core(core, inbox_rx, upstream_tx, shutdown_rx.clone())),
        tokio::spawn(sv2_upstream::run(
            upstream_settings,
            upstream_rx,
            inbox_tx.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(sv1_listener::run(
            listener,
            config.sv1.max_line_bytes,
            inbox_tx.clone(),
            shutdown_rx,
        )),
    ];
    Ok(NodeHandle {
        sv1_addr,
        inbox: inbox_tx,
        shutdown: shutdown_tx,
        tasks,
    })
}

/// The core task: applies inputs in order, ticks once a second, and carries out actions.
async fn run_core(
    mut core: Core,
    inbox: async_channel::Receiver<CoreInput>,
    upstream: mpsc::Sender<UpstreamCommand>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut outboxes: HashMap<DeviceId, mpsc::Sender<DeviceOutput>> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            input = inbox.recv() => {
                let Ok(input) = input else { break };
                apply(&mut core, &mut outboxes, input);
            }
            _ = tick.tick() => core.tick(Instant::now()),
            _ = shutdown.changed() => break,
        }
        carry_out_actions(&mut core, &mut outboxes, &upstream);
    }
    for outbox in outboxes.values() {
        let _ = outbox.try_send(DeviceOutput::Close("node shutting down".into()));
    }
}

fn apply(
    core: &mut Core,
    outboxes: &mut HashMap<DeviceId, mpsc::Sender<DeviceOutput>>,
    input: CoreInput,
) {
    let now = Instant::now();
    match input {
        CoreInput::DeviceConnected { outbox, reply } => {
            let device = core.device_connected(now);
            if reply.send(device).is_ok() {
                outboxes.insert(device, outbox);
            } else {
                core.device_disconnected(device);
            }
        }
        CoreInput::DeviceRequest { device, request } => {
            core.handle_device_request(device, request, now)
        }
        CoreInput::DeviceGone { device } => {
            outboxes.remove(&device);
            core.device_disconnected(device);
        }
        CoreInput::Upstream(event) => core.handle_upstream(event, now),
        CoreInput::Snapshot(reply) => {
            let _ = reply.send(core.snapshot(now));
        }
    }
}

fn carry_out_actions(
    core: &mut Core,
    outboxes: &mut HashMap<DeviceId, mpsc::Sender<DeviceOutput>>,
    upstream: &mpsc::Sender<UpstreamCommand>,
) {
    while let Some(action) = core.poll_action() {
        match action {
            Action::ToDevice { device, line } => {
                let Some(outbox) = outboxes.get(&device) else {
                    continue;
                };
                if outbox.try_send(DeviceOutput::Line(line)).is_err() {
                    // Full: the device does not read what we send; closed: its task ended.
                    warn!(%device, "device not keeping up with its messages; disconnecting");
                    outboxes.remove(&device);
                    core.device_disconnected(device);
                }
            }
            Action::CloseDevice { device, reason } => {
                if let Some(outbox) = outboxes.remove(&device) {
                    let _ = outbox.try_send(DeviceOutput::Close(reason));
                }
                core.device_disconnected(device);
            }
            Action::SubmitUpstream(share) => {
                if upstream.try_send(UpstreamCommand::Submit(share)).is_err() {
                    warn!("upstream queue full; share not forwarded");
                }
            }
            Action::CloseUpstream { reason } => {
                let _ = upstream.try_send(UpstreamCommand::Close(reason));
            }
        }
    }
}
