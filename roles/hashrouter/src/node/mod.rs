//! A running node: the core task that owns [`Core`], the SV1 and SV2 listeners, every route's
//! upstream client ([`upstreams`]), the template provider client ([`template_client`]) and the
//! job-declaring routes' JDS clients ([`jds_clients`]), and the allocation sources (the static
//! file, the chain watcher, [`contract_routes`]), connected by bounded queues.

mod contract_routes;
mod jds_clients;
mod sv1_fanout;
mod template_client;
mod upstreams;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, info_span, warn, Instrument};

use crate::allocations::AllocationSet;
use crate::chain::ChainUpdate;
use crate::config::Config;
use crate::config::RouteProtocol;
use crate::core::{
    Action, AllocationTotals, ConnectionId, Core, CoreConfig, DeviceId, DeviceRequest,
    NodeSnapshot, RouteId, Sv2Message, Sv2Request, TemplatesConfig, UpstreamEvent, UpstreamShare,
    VardiffConfig,
};
use crate::net::connection_limit::{raise_fd_limit, ConnectionLimit};
use crate::net::device_writer::DeviceWriter;
use crate::net::jds_client::JdsSettings;
use crate::net::sv2_downstream::DownstreamSettings;
use crate::net::tp_client::TemplateProviderSettings;
use crate::net::{listener, sv1_device, sv2_downstream};
use crate::store::{spawn_store_writer, Store, StoreCommand};
use crate::wall_clock::unix_now;
use contract_routes::ContractRoutes;
use jds_clients::JdsClients;
use template_client::TemplateClient;
use upstreams::{RouteUpstream, UpstreamDefaults, Upstreams, STOP_TIMEOUT};

/// Events for the core task, from connection tasks and the handle.
#[derive(Debug)]
pub enum CoreInput {
    DeviceConnected {
        writer: Arc<DeviceWriter>,
        reply: oneshot::Sender<DeviceId>,
    },
    DeviceRequest {
        device: DeviceId,
        request: DeviceRequest,
    },
    DeviceGone {
        device: DeviceId,
    },
    /// A downstream SV2 connection passed its handshake and sent a first frame.
    Sv2Connected {
        outbox: mpsc::Sender<Sv2Output>,
        reply: oneshot::Sender<ConnectionId>,
    },
    Sv2Request {
        connection: ConnectionId,
        request: Sv2Request,
    },
    Sv2Gone {
        connection: ConnectionId,
    },
    /// Something the upstream of a route said (or its loss), from the route's `generation`th
    /// upstream task.
    Upstream {
        route: RouteId,
        generation: u64,
        event: UpstreamEvent,
    },
    /// Something the template provider said (or its loss).
    Template(crate::core::TemplateEvent),
    /// Something a route's Job Declaration Server said (or its loss), from the route's
    /// `generation`th JDS client task.
    Jds {
        route: RouteId,
        generation: u64,
        event: crate::core::JdsEvent,
    },
    /// New allocations (a reloaded file).
    Allocations(AllocationSet),
    /// A poll of the chain watcher.
    Chain(ChainUpdate),
    Snapshot(oneshot::Sender<NodeSnapshot>),
}

/// What a downstream SV2 connection task is told to do.
#[derive(Debug, Clone)]
pub enum Sv2Output {
    Message(Sv2Message),
    Close(String),
}

/// Commands for the upstream client task.
#[derive(Debug, Clone)]
pub enum UpstreamCommand {
    Submit(UpstreamShare),
    /// Send a declared job on the route's channel (routes with job declaration only).
    SetCustomMiningJob(crate::core::CustomJob),
    Close(String),
}

/// Queue sizes: large enough to absorb a burst (a new block's jobs to every device), small
/// enough that a stuck peer is noticed instead of buffering without end.
const CORE_QUEUE: usize = 16 * 1024;
/// A proxy's connection carries one job message per channel per block: room for many channels.
pub(crate) const SV2_CONNECTION_QUEUE: usize = 64 * 1024;
const TICK: Duration = Duration::from_secs(1);
/// Minutes of accounting the store writer may fall behind by.
const STORE_QUEUE: usize = 1024;
/// How long a stopping node waits for its accounting to reach the disk.
const STORE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot listen on {addr} ({field}): {source}")]
    Bind {
        field: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0} routes configured; at most 255 are supported")]
    TooManyRoutes(usize),
    #[error("allocations file: {0}")]
    Allocations(#[from] crate::allocations::AllocationError),
    #[error("accounting store (store.data_dir): {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("wallet key (lumerin.wallet_key_file / wallet_key_env): {0}")]
    WalletKey(#[from] crate::chain::wallet_key::WalletKeyError),
}

/// A started node. Dropping it does not stop it; call [`NodeHandle::shutdown`].
pub struct NodeHandle {
    sv1_addr: SocketAddr,
    sv2_addr: Option<SocketAddr>,
    api_addr: Option<SocketAddr>,
    inbox: async_channel::Sender<CoreInput>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl NodeHandle {
    /// Where SV1 devices connect (the real port when the config said port 0).
    pub fn sv1_addr(&self) -> SocketAddr {
        self.sv1_addr
    }

    /// Where SV2 devices and proxies connect, if the SV2 server is configured.
    pub fn sv2_addr(&self) -> Option<SocketAddr> {
        self.sv2_addr
    }

    /// Where the HTTP API, `/metrics` and the dashboard are served, if `[api]` is configured.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api_addr
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
    let routes = config.routes()?;
    if routes.len() > 255 {
        return Err(NodeError::TooManyRoutes(routes.len()));
    }
    let core_config = CoreConfig {
        sv1_extranonce2_size: config.sv1.extranonce2_size as usize,
        sv2_max_extranonce_size: config
            .sv2
            .as_ref()
            .map_or(0, |sv2| sv2.max_extranonce_size as usize),
        sv2_share_batch_size: config.sv2.as_ref().map_or(1, |sv2| sv2.share_batch_size),
        version_rolling_guaranteed: config.upstream.require_version_rolling,
        vardiff: VardiffConfig {
            initial: config.difficulty.initial,
            minimum: config.difficulty.minimum,
            maximum: config.difficulty.maximum,
            shares_per_minute: config.difficulty.shares_per_minute,
            retarget_interval: Duration::from_secs(config.difficulty.retarget_secs),
        },
        keepalive: (config.jobs.keepalive_secs > 0)
            .then(|| Duration::from_secs(config.jobs.keepalive_secs)),
        routes: routes.iter().map(|r| r.name.clone()).collect(),
        scheduler: config.split.scheduler(),
        policy: config
            .allocations
            .as_ref()
            .map(|a| a.policy)
            .unwrap_or_default(),
        templates: TemplatesConfig {
            job_declaration: routes
                .iter()
                .filter(|r| r.job_declaration.is_some())
                .map(|r| r.name.clone())
                .collect(),
            solo_payout_script: config
                .solo
                .as_ref()
                .map(|solo| solo.payout_script())
                .transpose()?,
            coinbase_tag: config
                .template_provider
                .as_ref()
                .map(|tp| tp.coinbase_tag.clone())
                .unwrap_or_default(),
        },
    };
    let extranonce_size = core_config.upstream_extranonce_size() as u16;
    let defaults = UpstreamDefaults {
        extranonce_size,
        require_version_rolling: config.upstream.require_version_rolling,
        connect_timeout: config.upstream.connect_timeout(),
        reconnect_min: Duration::from_millis(config.upstream.reconnect_min_ms),
        reconnect_max: Duration::from_secs(config.upstream.reconnect_max_secs),
    };
    let upstream_settings: Vec<RouteUpstream> = routes
        .iter()
        .map(|route| match (route.protocol, route.authority) {
            (RouteProtocol::Sv2, Some(authority)) => defaults.sv2(
                &route.name,
                route.endpoints.clone(),
                authority,
                route.user_identity.clone(),
                route.job_declaration.is_some(),
            ),
            // Validation gives every SV2 route its key, so only V1 routes get here.
            _ => defaults.stratum(
                &route.name,
                route.endpoints.clone(),
                route.user_identity.clone(),
                route.password.clone(),
                None,
            ),
        })
        .collect();
    let jds_settings: Vec<(RouteId, JdsSettings)> = routes
        .iter()
        .enumerate()
        .filter_map(|(index, route)| {
            let jd = route.job_declaration.as_ref()?;
            let settings = JdsSettings {
                route: route.name.clone(),
                endpoints: vec![jd.address.clone()],
                authority: jd.authority,
                authority_field: jd.authority_field.clone(),
                user_identifier: route.user_identity.clone(),
                connect_timeout: defaults.connect_timeout,
                reconnect_min: defaults.reconnect_min,
                reconnect_max: defaults.reconnect_max,
            };
            Some((RouteId(index as u16), settings))
        })
        .collect();
    let template_settings = match &config.template_provider {
        Some(tp) => Some(TemplateProviderSettings {
            endpoints: tp.endpoints(),
            authority: tp.authority_key()?,
            connect_timeout: defaults.connect_timeout,
            reconnect_min: defaults.reconnect_min,
            reconnect_max: defaults.reconnect_max,
        }),
        None => None,
    };
    let allocations = match &config.allocations {
        Some(allocations) => {
            let mut source = allocations.source(config.route_names());
            let set = source.load()?;
            Some((source, set, allocations.reload_period()))
        }
        None => None,
    };
    let api_token = match &config.api {
        Some(api) => api.load_token()?,
        None => None,
    };
    // Refused before anything listens: a node that cannot read its contracts must not start.
    let chain = match &config.lumerin {
        Some(lumerin) => Some((lumerin.watcher_settings()?, lumerin.wallet_key().load()?)),
        None => None,
    };

    let device_limit = Arc::new(ConnectionLimit::new(device_connection_cap(
        config.limits.max_device_connections,
    )));
    let (sv1_listener, sv1_addr) = bind("sv1.listen", &config.sv1.listen).await?;
    info!(%sv1_addr, "listening for Stratum V1 devices");
    let sv2 = match &config.sv2 {
        Some(sv2) => {
            let settings = DownstreamSettings {
                keys: sv2.responder_keys()?,
                handshake_timeout: sv2.handshake_timeout(),
            };
            let (sv2_listener, addr) = bind("sv2.listen", &sv2.listen).await?;
            info!(sv2_addr = %addr, authority = %sv2.authority_public_key, "listening for SV2 devices");
            Some((sv2_listener, addr, settings))
        }
        None => None,
    };

    let api = match &config.api {
        Some(api) => {
            let (listener, addr) = bind("api.listen", &api.listen).await?;
            info!(api_addr = %addr, "serving the API, /metrics and the dashboard on http://{addr}/");
            Some((listener, addr))
        }
        None => None,
    };

    let (inbox_tx, inbox_rx) = async_channel::bounded(CORE_QUEUE);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let mut core = Core::new(core_config, Instant::now());
    let store = match &config.store {
        Some(store_config) => {
            let store = Store::open(&store_config.data_dir)?;
            let states = store.load_state()?;
            let mut delivered = Vec::new();
            // Configured routes, and contracts' routes, which come back once the chain is read.
            let names = routes
                .iter()
                .map(|r| r.name.clone())
                .chain(states.iter().map(|s| s.route.clone()));
            for name in names {
                if delivered.iter().any(|(known, _)| *known == name) {
                    continue;
                }
                let totals = store.totals(&name, None, i64::MIN, i64::MAX)?;
                delivered.push((name, totals.seen_work));
            }
            core.restore(&states, &delivered, Instant::now());
            for key in store.routes()? {
                let Some(allocation) = key.allocation.as_deref() else {
                    continue;
                };
                let totals = store.totals(&key.route, Some(allocation), i64::MIN, i64::MAX)?;
                let since_minute = store.first_minute(&key.route, Some(allocation))?;
                let since_unix = since_minute.and_then(|m| u64::try_from(m * 60).ok());
                let totals = AllocationTotals {
                    seen_work: totals.seen_work,
                    acked_work: totals.acked_work,
                    since_unix,
                };
                core.restore_allocation(&key.route, allocation, totals);
            }
            info!(path = %store_config.data_dir.display(), routes = states.len(), "owed work restored");
            let (commands, receiver) = async_channel::bounded(STORE_QUEUE);
            Some((commands, spawn_store_writer(store, receiver)))
        }
        None => None,
    };
    let (store_commands, store_writer) = match store {
        Some((commands, writer)) => (Some(commands), Some(writer)),
        None => (None, None),
    };
    let mut tasks = Vec::new();
    let mut upstreams = Upstreams::new(inbox_tx.clone());
    for (index, settings) in upstream_settings.into_iter().enumerate() {
        upstreams.start(RouteId(index as u16), settings);
    }
    let mut jds_clients = JdsClients::new(inbox_tx.clone());
    for (route, settings) in jds_settings {
        info!(route = %settings.route, jds = ?settings.endpoints, "declaring jobs to the route's JDS");
        jds_clients.start(route, settings);
    }
    let declaration = JdClients {
        template: template_settings.map(|settings| {
            info!(endpoints = ?settings.endpoints, "taking templates from the template provider");
            TemplateClient::start(settings, inbox_tx.clone())
        }),
        jds: jds_clients,
    };
    let mut contract_routes = ContractRoutes::new(defaults);
    if let Some((settings, wallet)) = chain {
        let (updates_tx, updates_rx) = async_channel::bounded(4);
        tasks.push(crate::chain::spawn_watcher(
            settings,
            wallet,
            updates_tx,
            shutdown_rx.clone(),
        ));
        tasks.push(forward(
            updates_rx,
            CoreInput::Chain,
            inbox_tx.clone(),
            shutdown_rx.clone(),
        ));
    }
    let mut reload_requests = None;
    if let Some((source, set, period)) = allocations {
        contract_routes.on_static(&mut core, set, Instant::now());
        let (sets_tx, sets_rx) = async_channel::bounded(4);
        let (requests_tx, requests_rx) = async_channel::bounded(4);
        reload_requests = Some(requests_tx);
        tasks.push(crate::allocations::spawn_watcher(
            source,
            period,
            sets_tx,
            requests_rx,
        ));
        tasks.push(forward(
            sets_rx,
            CoreInput::Allocations,
            inbox_tx.clone(),
            shutdown_rx.clone(),
        ));
    }
    tasks.extend([
        tokio::spawn(run_core(
            core,
            inbox_rx,
            upstreams,
            declaration,
            contract_routes,
            store_commands,
            shutdown_rx.clone(),
        )),
        tokio::spawn(listener::run(
            sv1_listener,
            device_limit.clone(),
            shutdown_rx.clone(),
            {
                let (inbox, shutdown) = (inbox_tx.clone(), shutdown_rx.clone());
                let max_line_bytes = config.sv1.max_line_bytes;
                move |stream, peer| {
                    sv1_device::run(stream, max_line_bytes, inbox.clone(), shutdown.clone())
                        .instrument(info_span!("sv1", %peer))
                }
            },
        )),
    ]);
    if let Some(writer) = store_writer {
        // Ends once the core task has dropped its sender, after the last write.
        tasks.push(tokio::spawn(async move {
            match writer.await {
                Ok(Err(error)) => warn!(%error, "accounting store closed with an error"),
                Err(error) => warn!(%error, "accounting store writer failed"),
                Ok(Ok(_)) => {}
            }
        }));
    }
    let sv2_addr = sv2.as_ref().map(|(_, addr, _)| *addr);
    let api_addr = api.as_ref().map(|(_, addr)| *addr);
    if let Some((listener, _)) = api {
        let settings = crate::api::ApiSettings {
            info: crate::api::NodeInfo {
                version: env!("CARGO_PKG_VERSION").to_string(),
                started_unix: unix_now(),
                sv1_addr,
                sv2_addr,
                template_provider: config.template_provider.is_some(),
                chain: config.lumerin.is_some(),
                device_limit: device_limit.clone(),
            },
            token: api_token,
            reload: reload_requests,
        };
        tasks.extend(crate::api::spawn(
            listener,
            settings,
            inbox_tx.clone(),
            shutdown_rx.clone(),
        ));
    }
    if let Some((sv2_listener, _, settings)) = sv2 {
        let (inbox, shutdown) = (inbox_tx.clone(), shutdown_rx.clone());
        tasks.push(tokio::spawn(listener::run(
            sv2_listener,
            device_limit,
            shutdown_rx,
            move |stream, peer| {
                sv2_downstream::run(stream, settings.clone(), inbox.clone(), shutdown.clone())
                    .instrument(info_span!("sv2", %peer))
            },
        )));
    }
    Ok(NodeHandle {
        sv1_addr,
        sv2_addr,
        api_addr,
        inbox: inbox_tx,
        shutdown: shutdown_tx,
        tasks,
    })
}

/// How many device connections the listeners accept: the configured cap, but never more than the
/// open-file limit (raised to its hard limit here) leaves after the node's own descriptors.
fn device_connection_cap(configured: Option<usize>) -> usize {
    let budget = match raise_fd_limit() {
        Ok(fds) => {
            info!(open_files = fds.soft, "open-file limit");
            fds.device_budget()
        }
        Err(error) => {
            warn!(%error, "cannot read the open-file limit; device connections are not capped by it");
            usize::MAX
        }
    };
    let cap = match configured {
        Some(wanted) if wanted > budget => {
            warn!(
                configured = wanted,
                allowed = budget,
                "limits.max_device_connections is more than the open-file limit allows; \
                 using the lower figure (raise the service's LimitNOFILE / ulimit -n)"
            );
            budget
        }
        Some(wanted) => wanted,
        None => budget,
    };
    info!(max_device_connections = cap, "device connection limit");
    cap
}

/// Passes what a source produces to the core task until shutdown; dropping the receiver then
/// stops the source at its next send.
fn forward<T: Send + 'static>(
    source: async_channel::Receiver<T>,
    wrap: fn(T) -> CoreInput,
    inbox: async_channel::Sender<CoreInput>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                item = source.recv() => {
                    let Ok(item) = item else { break };
                    if inbox.send(wrap(item)).await.is_err() {
                        break;
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    })
}

async fn bind(
    field: &'static str,
    addr: &str,
) -> Result<(tokio::net::TcpListener, SocketAddr), NodeError> {
    let error = |source| NodeError::Bind {
        field,
        addr: addr.to_string(),
        source,
    };
    let mut last_error = None;
    for candidate in tokio::net::lookup_host(addr).await.map_err(error)? {
        match listen_on(candidate) {
            Ok(listener) => {
                let local = listener.local_addr().map_err(error)?;
                return Ok((listener, local));
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(error(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the address resolves to nothing",
        )
    })))
}

/// Connections the kernel queues before they are accepted. A farm's devices all reconnect at
/// once after a power cut or a restart; a short queue (std's 128) drops their SYNs into
/// one-second retransmit waits. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

fn listen_on(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Where the core task sends what it has for each connection.
#[derive(Default)]
struct Outboxes {
    sv1: HashMap<DeviceId, Arc<DeviceWriter>>,
    sv2: HashMap<ConnectionId, mpsc::Sender<Sv2Output>>,
}

/// The job declaration side's clients: the template provider and each declaring route's JDS.
struct JdClients {
    template: Option<TemplateClient>,
    jds: JdsClients,
}

/// The core task: applies inputs in order, ticks once a second, and carries out actions.
async fn run_core(
    mut core: Core,
    inbox: async_channel::Receiver<CoreInput>,
    mut upstreams: Upstreams,
    mut declaration: JdClients,
    mut contract_routes: ContractRoutes,
    store: Option<async_channel::Sender<StoreCommand>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut outboxes = Outboxes::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            input = inbox.recv() => {
                let Ok(input) = input else { break };
                apply(
                    &mut core,
                    &mut outboxes,
                    &mut upstreams,
                    &declaration,
                    &mut contract_routes,
                    input,
                );
            }
            _ = tick.tick() => core.tick(Instant::now(), unix_now()),
            _ = shutdown.changed() => break,
        }
        carry_out_actions(
            &mut core,
            &mut outboxes,
            &upstreams,
            &declaration,
            store.as_ref(),
        );
    }
    // What the current minute has so far, and the owed work now, on disk before stopping.
    core.flush_accounting(unix_now());
    carry_out_actions(
        &mut core,
        &mut outboxes,
        &upstreams,
        &declaration,
        store.as_ref(),
    );
    if let Some(store) = &store {
        let (reply, written) = oneshot::channel();
        if store.send(StoreCommand::Flush(reply)).await.is_ok() {
            match tokio::time::timeout(STORE_FLUSH_TIMEOUT, written).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => warn!(%error, "accounting not fully written at shutdown"),
                _ => warn!("accounting store did not confirm its last write"),
            }
        }
    }
    for writer in outboxes.sv1.values() {
        writer.close("node shutting down".into());
    }
    // Stopped together, so the whole takes at most STOP_TIMEOUT.
    let template = async {
        if let Some(template) = declaration.template.take() {
            template.stop(STOP_TIMEOUT).await;
        }
    };
    tokio::join!(
        upstreams.stop_all(),
        declaration.jds.stop_all(STOP_TIMEOUT),
        template
    );
    // SV2 connection tasks see the shutdown themselves and send Reconnect first.
}

fn apply(
    core: &mut Core,
    outboxes: &mut Outboxes,
    upstreams: &mut Upstreams,
    declaration: &JdClients,
    contract_routes: &mut ContractRoutes,
    input: CoreInput,
) {
    let now = Instant::now();
    match input {
        CoreInput::DeviceConnected { writer, reply } => {
            let device = core.device_connected(now);
            if reply.send(device).is_ok() {
                outboxes.sv1.insert(device, writer);
            } else {
                core.device_disconnected(device);
            }
        }
        CoreInput::DeviceRequest { device, request } => {
            core.handle_device_request(device, request, now)
        }
        CoreInput::DeviceGone { device } => {
            outboxes.sv1.remove(&device);
            core.device_disconnected(device);
        }
        CoreInput::Sv2Connected { outbox, reply } => {
            let connection = core.sv2_connected();
            if reply.send(connection).is_ok() {
                outboxes.sv2.insert(connection, outbox);
            } else {
                core.sv2_disconnected(connection);
            }
        }
        CoreInput::Sv2Request {
            connection,
            request,
        } => core.handle_sv2(connection, request, now),
        CoreInput::Sv2Gone { connection } => {
            outboxes.sv2.remove(&connection);
            core.sv2_disconnected(connection);
        }
        CoreInput::Upstream {
            route,
            generation,
            event,
        } => {
            if upstreams.is_current(route, generation) {
                core.handle_upstream(route, event, now)
            }
        }
        CoreInput::Template(event) => core.handle_template(event, now),
        CoreInput::Jds {
            route,
            generation,
            event,
        } => {
            if declaration.jds.is_current(route, generation) {
                core.handle_jds(route, event, now)
            }
        }
        CoreInput::Allocations(set) => contract_routes.on_static(core, set, now),
        CoreInput::Chain(update) => contract_routes.on_chain(core, upstreams, update, now),
        CoreInput::Snapshot(reply) => {
            let mut snapshot = core.snapshot(now);
            snapshot.chain = contract_routes.chain.clone();
            let _ = reply.send(snapshot);
        }
    }
}

/// Writes the gathered device lines; drops the devices that refused one (not reading, or gone).
fn write_sv1_lines(
    core: &mut Core,
    outboxes: &mut Outboxes,
    lines: &mut Vec<sv1_fanout::Sv1Write>,
) {
    for (device, error) in sv1_fanout::write(lines) {
        warn!(%device, %error, "disconnecting the device");
        if let Some(writer) = outboxes.sv1.remove(&device) {
            writer.abandon(error.to_string());
        }
        core.device_disconnected(device);
    }
}

fn carry_out_actions(
    core: &mut Core,
    outboxes: &mut Outboxes,
    upstreams: &Upstreams,
    declaration: &JdClients,
    store: Option<&async_channel::Sender<StoreCommand>>,
) {
    // Lines for SV1 devices are gathered and written together (see `sv1_fanout`); any other
    // action first writes what was gathered, so the order between kinds is kept.
    let mut sv1_lines: Vec<sv1_fanout::Sv1Write> = Vec::new();
    loop {
        let Some(action) = core.poll_action() else {
            if sv1_lines.is_empty() {
                break;
            }
            write_sv1_lines(core, outboxes, &mut sv1_lines);
            continue;
        };
        if !matches!(action, Action::ToSv1 { .. }) && !sv1_lines.is_empty() {
            write_sv1_lines(core, outboxes, &mut sv1_lines);
        }
        match action {
            Action::ToSv1 { device, line } => {
                if let Some(writer) = outboxes.sv1.get(&device) {
                    sv1_lines.push((device, writer.clone(), line));
                }
            }
            Action::ToSv2 {
                connection,
                message,
            } => {
                let Some(outbox) = outboxes.sv2.get(&connection) else {
                    continue;
                };
                if outbox.try_send(Sv2Output::Message(message)).is_err() {
                    warn!(%connection, "SV2 connection not keeping up with its messages; closing");
                    outboxes.sv2.remove(&connection);
                    core.sv2_disconnected(connection);
                }
            }
            Action::CloseSv2 { connection, reason } => {
                if let Some(outbox) = outboxes.sv2.remove(&connection) {
                    let _ = outbox.try_send(Sv2Output::Close(reason));
                }
            }
            Action::SubmitUpstream { route, share } => {
                if !upstreams.send(route, UpstreamCommand::Submit(share)) {
                    warn!(
                        route = route.0,
                        "upstream queue full or gone; share not forwarded"
                    );
                }
            }
            Action::SetCustomJob { route, job } => {
                if !upstreams.send(route, UpstreamCommand::SetCustomMiningJob(job)) {
                    warn!(
                        route = route.0,
                        "upstream queue full or gone; declared job not sent"
                    );
                }
            }
            Action::ToTemplateProvider(command) => {
                let sent = declaration
                    .template
                    .as_ref()
                    .is_some_and(|template| template.send(command));
                if !sent {
                    warn!("template provider queue full or no client; command dropped");
                }
            }
            Action::ToJds { route, command } => {
                if !declaration.jds.send(route, command) {
                    warn!(
                        route = route.0,
                        "JDS client queue full or no client; command dropped"
                    );
                }
            }
            Action::CloseUpstream { route, reason } => {
                upstreams.send(route, UpstreamCommand::Close(reason));
            }
            Action::Account { deltas, owed } => {
                let Some(store) = store else { continue };
                let full = (!deltas.is_empty()
                    && store.try_send(StoreCommand::Record(deltas)).is_err())
                    || store.try_send(StoreCommand::SaveState(owed)).is_err();
                if full {
                    warn!("accounting store queue full; a minute of accounting was dropped");
                }
            }
        }
    }
}
