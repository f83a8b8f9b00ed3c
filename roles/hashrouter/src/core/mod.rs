//! The sans-IO core of the node (DESIGN.md §2): device sessions, job translation, share
//! validation and upstream reconciliation as a deterministic state machine.
//!
//! The network layer feeds it events (an SV1 request, an SV2 message, an upstream message, a
//! tick) with the current time and drains [`Action`]s from [`Core::poll_action`]. Nothing in here
//! touches a socket, a clock or a runtime, so tests drive it directly.
//!
//! Every device is one [`Device`]: an SV1 connection or one SV2 channel. They share the job
//! book, share validation, vardiff and the upstream channel; only the way jobs and answers are
//! phrased differs (`sv1_session`, `sv2_session`, `fanout`).

mod accounting;
mod coinbase;
mod declarator;
mod delivery;
mod device;
mod events;
mod fanout;
mod jds_events;
mod job_declaration;
// Public (with `share`) so `benches/hot_paths.rs` times job construction and share validation
// through the core's own code; the node itself only needs the re-exports below.
pub mod jobs;
pub mod lines;
mod route;
mod route_table;
mod routing;
pub mod scheduler;
pub mod share;
mod snapshot;
mod solo;
mod sv1_session;
mod sv2_messages;
mod sv2_session;
mod template_events;
mod template_feed;
mod upstream;
mod upstream_events;
mod vardiff;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_jd;
#[cfg(test)]
mod tests_operator;
#[cfg(test)]
mod tests_sv2;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tracing::debug;
use work::Target;

pub use declarator::DeclaratorState;
pub use delivery::{AllocationTotals, DeliveryWindow, HISTORY_MINUTES};
pub use device::{
    ConnectionId, DeviceCounters, DeviceId, DeviceKind, DeviceRequest, RequestId, Submit,
};
pub use events::{EventKind, EventSnapshot, EVENT_LOG_CAPACITY};
pub use jds_events::{CustomJob, JdsCommand, JdsEvent};
pub use jobs::{DeviceJob, PrevHash, UpstreamJob};
pub use lines::Line;
pub use route_table::{RouteTableError, SLOT_REUSE_DELAY};
pub use scheduler::{RouteId, SchedulerConfig};
pub use share::ShareRejection;
pub use snapshot::{
    AllocationSnapshot, DeclarationSnapshot, DeviceSnapshot, NodeSnapshot, RouteSnapshot,
    TemplatesSnapshot, UpstreamSnapshot,
};
pub use sv2_messages::{setup_flags, Sv2Message, Sv2Request, Sv2Submit, SV2_VERSION};
pub use template_events::{Solution, Template, TemplateCommand, TemplateEvent, TemplateTip};
pub use upstream::{UpstreamCounters, UpstreamEvent, UpstreamShare};
pub use vardiff::VardiffConfig;

use accounting::Accounting;
use device::Device;
use jobs::{route_of_job, JobLookupError};
use route::Route;
use scheduler::Scheduler;
use share::{credited_target, hash_share, DeviceShare};
use sv2_session::Sv2Connection;

/// The BIP320 bits devices may roll.
pub const VERSION_ROLLING_MASK: u32 = 0x1fff_e000;
/// Bytes of a device id at the start of every device's extranonce.
pub const DEVICE_ID_BYTES: usize = 4;

/// Settings of the core, derived from the node's config.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Bytes of extranonce2 SV1 devices roll.
    pub sv1_extranonce2_size: usize,
    /// Most rollable extranonce bytes an SV2 extended channel may get; 0 without an SV2 server.
    pub sv2_max_extranonce_size: usize,
    /// Accepted SV2 shares per SubmitShares.Success (a tick flushes smaller batches).
    pub sv2_share_batch_size: u32,
    /// Whether every upstream job allows version rolling (the node asked its pool to require
    /// it), so SV2 devices that require version rolling can be promised it.
    pub version_rolling_guaranteed: bool,
    pub vardiff: VardiffConfig,
    /// Re-send the current job after this long without a new one.
    pub keepalive: Option<Duration>,
    /// Route names, `default` (the seller's pool) first; at most 255.
    pub routes: Vec<String>,
    pub scheduler: SchedulerConfig,
    /// How over-subscribed allocations are cut.
    pub policy: contracts::Policy,
    /// Templates from a template provider: declared jobs and solo mining.
    pub templates: TemplatesConfig,
}

/// What the node does with templates from its template provider.
#[derive(Debug, Clone, Default)]
pub struct TemplatesConfig {
    /// Routes (by name) that declare their own jobs to their pool's Job Declaration Server.
    pub job_declaration: Vec<String>,
    /// The scriptPubKey solo blocks pay to; `None`: no solo mining.
    pub solo_payout_script: Option<Vec<u8>>,
    /// Written into every coinbase the node builds (scriptSig), after the BIP34 height.
    pub coinbase_tag: String,
}

impl CoreConfig {
    /// Extranonce bytes after the device id, the same for every device: the SV1 extranonce2 or
    /// the SV2 rollable part, whichever is larger, the rest zero padding (DESIGN.md §3).
    pub fn device_extranonce_size(&self) -> usize {
        self.sv1_extranonce2_size.max(self.sv2_max_extranonce_size)
    }

    /// Rollable extranonce bytes to ask the upstream channel for.
    pub fn upstream_extranonce_size(&self) -> usize {
        DEVICE_ID_BYTES + self.device_extranonce_size()
    }
}

/// What the network layer must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a line to an SV1 device.
    ToSv1 { device: DeviceId, line: Line },
    /// Send a message on a downstream SV2 connection.
    ToSv2 {
        connection: ConnectionId,
        message: Sv2Message,
    },
    /// Close a downstream SV2 connection (it broke the protocol).
    CloseSv2 {
        connection: ConnectionId,
        reason: String,
    },
    /// Send a share on a route's upstream channel.
    SubmitUpstream {
        route: RouteId,
        share: UpstreamShare,
    },
    /// A route's upstream channel cannot be used (e.g. too little extranonce space); drop it.
    CloseUpstream { route: RouteId, reason: String },
    /// Send a message to the template provider.
    ToTemplateProvider(TemplateCommand),
    /// Send a message to a route's Job Declaration Server.
    ToJds { route: RouteId, command: JdsCommand },
    /// Send a declared job on a route's upstream channel.
    SetCustomJob { route: RouteId, job: CustomJob },
    /// A minute of accounting and the owed work to persist (DESIGN.md §7).
    Account {
        deltas: Vec<crate::store::AccountingDelta>,
        owed: Vec<crate::store::OwedState>,
    },
}

/// Node state behind every connection.
#[derive(Debug)]
pub struct Core {
    config: CoreConfig,
    devices: HashMap<DeviceId, Device>,
    next_device_id: u32,
    connections: HashMap<ConnectionId, Sv2Connection>,
    next_connection_id: u32,
    /// Indexed by [`RouteId`]; route 0 is the default route.
    routes: Vec<Route>,
    scheduler: Scheduler,
    allocations: crate::allocations::AllocationSet,
    accounting: Accounting,
    pending_restore: route_table::PendingRestore,
    /// What the template provider offered (declared jobs and solo mining).
    templates: template_feed::TemplateFeed,
    /// Solo mining, when a payout is configured.
    solo: Option<solo::Solo>,
    /// What changed in routing, for the operator.
    events: events::EventLog,
    /// The last tick: its instant and wall-clock second.
    clock: Option<(Instant, u64)>,
    /// The farm's hashrate estimate at the last tick (H/s).
    farm_hashrate: f64,
    actions: VecDeque<Action>,
}

/// A device's share in the core's terms, whatever protocol it came in.
#[derive(Debug, Clone, Copy)]
struct SubmittedShare<'a> {
    /// Node job id.
    job_id: u32,
    /// The extranonce bytes the device rolled (empty for a standard channel).
    rolled_extranonce: &'a [u8],
    ntime: u32,
    nonce: u32,
    /// SV1 version bits or the SV2 full version, if sent.
    version: Option<u32>,
}

/// A share that passed validation at the node.
#[derive(Debug, Clone, Copy)]
struct AcceptedShare {
    /// The difficulty it was credited at.
    difficulty: f64,
    /// The device's new difficulty, if vardiff changed it.
    new_difficulty: Option<f64>,
}

impl Core {
    /// A core for `config.routes` (the default route is added if the list is empty; names
    /// beyond the 255th are ignored: job ids carry the route in one byte).
    pub fn new(config: CoreConfig, now: Instant) -> Self {
        let mut names = config.routes.clone();
        if names.is_empty() {
            names.push(contracts::DEFAULT_ROUTE.to_string());
        }
        names.truncate(255);
        let routes: Vec<Route> = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| Route::new(i as u8, name))
            .collect();
        let mut scheduler = Scheduler::new(config.scheduler.clone(), routes.len(), now);
        // No route has work until its channel opens and brings a job.
        for i in 1..routes.len() {
            scheduler.set_available(RouteId(i as u16), false, now);
        }
        let accounting = Accounting::new(routes.len(), now);
        let solo = config
            .templates
            .solo_payout_script
            .clone()
            .map(solo::Solo::new);
        let mut core = Core {
            config,
            devices: HashMap::new(),
            next_device_id: 1,
            connections: HashMap::new(),
            next_connection_id: 1,
            routes,
            scheduler,
            allocations: Default::default(),
            accounting,
            pending_restore: Default::default(),
            templates: Default::default(),
            solo,
            events: Default::default(),
            clock: None,
            farm_hashrate: 0.0,
            actions: VecDeque::new(),
        };
        core.enable_job_declaration();
        core.routes[0].down_since = Some(now);
        core
    }

    /// The state of route `route` (route 0, the default, always exists).
    fn route(&self, route: RouteId) -> &Route {
        self.routes.get(route.0 as usize).unwrap_or(&self.routes[0])
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Next thing for the network layer to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// A free device id (never 0, never with the high bit set).
    fn allocate_device_id(&mut self) -> DeviceId {
        let mut id = self.next_device_id;
        while id == 0 || id >= DeviceId::LIMIT || self.devices.contains_key(&DeviceId(id)) {
            id = if id == 0 || id >= DeviceId::LIMIT {
                1
            } else {
                id + 1
            };
        }
        self.next_device_id = id + 1;
        DeviceId(id)
    }

    /// Registers a device rolling `rollable` extranonce bytes.
    fn add_device(&mut self, kind: DeviceKind, rollable: usize, now: Instant) -> DeviceId {
        let id = self.allocate_device_id();
        let device = Device::new(
            id,
            kind,
            self.config.device_extranonce_size(),
            rollable,
            &self.config.vardiff,
            now,
        );
        self.devices.insert(id, device);
        self.scheduler.add_device(id, now);
        id
    }

    /// The job `device` should be mining now: its route's current one.
    fn current_job_for(&self, device: DeviceId) -> Option<std::sync::Arc<DeviceJob>> {
        let route = self.devices.get(&device)?.route;
        self.route(route).jobs.current().cloned()
    }

    /// The id the next job of `device`'s route will get (difficulty changes apply from it).
    fn next_job_for(&self, device: DeviceId) -> u32 {
        let route = self
            .devices
            .get(&device)
            .map_or(RouteId::DEFAULT, |d| d.route);
        self.route(route).jobs.next_job_id()
    }

    /// Forgets a device everywhere.
    fn remove_device(&mut self, device: DeviceId) {
        self.devices.remove(&device);
        self.scheduler.remove_device(device);
    }

    /// Validates a share of `device`, credits it, runs vardiff and forwards it if it meets the
    /// upstream target.
    fn accept_share(
        &mut self,
        device: DeviceId,
        submitted: SubmittedShare<'_>,
        now: Instant,
    ) -> Result<AcceptedShare, ShareRejection> {
        let SubmittedShare {
            job_id,
            rolled_extranonce,
            ntime,
            nonce,
            version,
        } = submitted;
        let d = self
            .devices
            .get_mut(&device)
            .ok_or(ShareRejection::NotSubscribed)?;
        let route_index = route_of_job(job_id) as usize;
        let result = (|| {
            let route = self
                .routes
                .get_mut(route_index)
                .ok_or(ShareRejection::UnknownJob)?;
            let job = route.jobs.get(job_id).map_err(|e| match e {
                JobLookupError::Unknown => ShareRejection::UnknownJob,
                JobLookupError::Stale => ShareRejection::StaleJob,
            })?;
            let share = DeviceShare {
                extranonce_prefix: &d.extranonce_prefix,
                rolled_extranonce,
                ntime,
                nonce,
                version_bits: version,
                strict_version: d.kind != DeviceKind::Sv1,
            };
            let valid = hash_share(job, &share, d.version_mask, d.rollable_extranonce_size, now)?;
            let credited = credited_target(&valid.hash, job.id, d.target, d.previous_target)
                .ok_or(ShareRejection::LowDifficulty)?;
            if !route.seen.insert(&valid.hash) {
                return Err(ShareRejection::Duplicate);
            }
            Ok((job.clone(), valid, credited))
        })();
        let (job, valid, credited) = match result {
            Ok(ok) => ok,
            Err(rejection) => {
                d.counters.rejected += 1;
                if rejection == ShareRejection::StaleJob {
                    d.counters.stale += 1;
                    self.accounting.on_stale(RouteId(route_index as u16));
                }
                debug!(%device, reason = rejection.as_str(), "share rejected");
                return Err(rejection);
            }
        };
        let difficulty = credited.difficulty();
        d.counters.accepted += 1;
        d.counters.accepted_work += difficulty;
        d.last_share_at = Some(now);
        let device_route = d.route;
        let next_job = self.route(device_route).jobs.next_job_id();
        let d = self
            .devices
            .get_mut(&device)
            .ok_or(ShareRejection::NotSubscribed)?;
        let new_difficulty = d
            .vardiff
            .on_share(&self.config.vardiff, now)
            .map(|difficulty| d.set_difficulty(difficulty, next_job));
        let route = RouteId(route_index as u16);
        let work = work::work_of_difficulty(difficulty);
        self.scheduler.on_share(device, route, work, now);
        self.accounting.on_seen(route, work);
        self.forward_if_upstream_target_met(
            device,
            route,
            &job,
            &valid,
            rolled_extranonce,
            nonce,
            ntime,
            now,
        );
        Ok(AcceptedShare {
            difficulty,
            new_difficulty,
        })
    }

    /// Forwards a share to the route's pool if it meets the pool's target; a share meeting the
    /// network target is a block, which also goes wherever the job's template came from.
    #[allow(clippy::too_many_arguments)]
    fn forward_if_upstream_target_met(
        &mut self,
        device: DeviceId,
        route: RouteId,
        job: &DeviceJob,
        valid: &share::ValidShare,
        rolled_extranonce: &[u8],
        nonce: u32,
        ntime: u32,
        now: Instant,
    ) {
        let is_block = Target::from_compact(job.nbits).is_some_and(|t| t.is_met_by(&valid.hash));
        if is_block {
            let share = job_declaration::BlockShare {
                rolled_extranonce,
                version: valid.version,
                ntime,
                nonce,
                at: now,
            };
            self.on_block(route, device, job, &valid.hash, share);
        }
        let Some(r) = self.routes.get_mut(route.0 as usize) else {
            return;
        };
        if job.epoch != r.epoch || r.source == route::JobSource::Solo {
            return;
        }
        let Some(channel) = r.channel.as_mut() else {
            return;
        };
        // The target in force when the pool sent the job (V1 pools change it from the next
        // job; an SV2 SetTarget applies to every job and resets this to the current one).
        let target = channel.target_for_job(job.upstream_job_id);
        if !target.is_met_by(&valid.hash) && !is_block {
            return;
        }
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        let difficulty = target.difficulty();
        let sequence_number = channel.forward(device, difficulty);
        let mut extranonce = vec![0u8; job.padding];
        extranonce.extend_from_slice(&d.extranonce_prefix);
        extranonce.extend_from_slice(rolled_extranonce);
        let share = UpstreamShare {
            channel_id: channel.channel_id,
            sequence_number,
            job_id: job.upstream_job_id,
            nonce,
            ntime,
            version: valid.version,
            extranonce,
        };
        r.counters.forwarded_shares += 1;
        r.counters.forwarded_work += difficulty;
        d.counters.forwarded += 1;
        self.actions
            .push_back(Action::SubmitUpstream { route, share });
    }

    /// Periodic work: vardiff for silent devices, job keepalive, SV2 acknowledgements, the
    /// split between routes, and a minute's accounting. `unix` is the wall-clock time in
    /// seconds, for allocations' start and end and for accounting minutes.
    pub fn tick(&mut self, now: Instant, unix: u64) {
        if let Some((last, _)) = self.clock {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            let mut targets: Vec<f64> = self.scheduler.routes().iter().map(|a| a.target).collect();
            // The default route is allocated what the others leave of the farm.
            let others: f64 = targets.iter().skip(1).sum();
            if let Some(default) = targets.first_mut() {
                *default = (self.farm_hashrate - others).max(0.0);
            }
            self.accounting.on_elapsed(elapsed, targets.into_iter());
        }
        self.clock = Some((now, unix));
        let next_jobs: Vec<u32> = self.routes.iter().map(|r| r.jobs.next_job_id()).collect();
        let mut changes = Vec::new();
        for d in self.devices.values_mut() {
            if !d.is_ready() {
                continue;
            }
            if let Some(difficulty) = d.vardiff.on_tick(&self.config.vardiff, now) {
                let next_job = next_jobs.get(d.route.0 as usize).copied().unwrap_or(0);
                changes.push((d.id, d.set_difficulty(difficulty, next_job)));
            }
        }
        for (device, difficulty) in changes {
            self.send_difficulty(device, difficulty, now);
        }
        if let Some(idle) = self.config.keepalive {
            for r in 0..self.routes.len() {
                if let Some(job) = self.routes[r].jobs.keepalive(idle, now) {
                    self.broadcast_job(RouteId(r as u16), &job, false);
                }
            }
        }
        self.flush_all_sv2_acks();
        self.tick_templates(now);
        self.split(now, unix);
        self.account(unix);
    }

    fn layout(&self, route: RouteId) -> Option<jobs::ExtranonceLayout> {
        self.route(route)
            .channel
            .as_ref()?
            .layout(self.config.upstream_extranonce_size())
    }

    /// Everything the operator (and tests) may want to read.
    pub fn snapshot(&self, now: Instant) -> NodeSnapshot {
        let mut devices: Vec<DeviceSnapshot> = self
            .devices
            .values()
            .map(|d| DeviceSnapshot {
                id: d.id,
                kind: d.kind,
                worker: d.workers.first().cloned(),
                user_agent: d.user_agent.clone(),
                route: d.route,
                difficulty: d.vardiff.difficulty(),
                hashrate: d.hashrate(now),
                counters: d.counters.clone(),
                connected_for: now.saturating_duration_since(d.connected_at),
                last_share_ago: d.last_share_at.map(|at| now.saturating_duration_since(at)),
            })
            .collect();
        devices.sort_by_key(|d| d.id);
        let routes: Vec<RouteSnapshot> = self
            .routes
            .iter()
            .zip(self.scheduler.routes())
            .enumerate()
            .map(|(i, (r, account))| RouteSnapshot {
                name: r.name.clone(),
                upstream: UpstreamSnapshot {
                    connected: r.channel.is_some(),
                    endpoint: r.endpoint.as_ref().map(|(address, _)| address.clone()),
                    on_backup: r.endpoint.as_ref().is_some_and(|(_, backup)| *backup),
                    channel_id: r.channel.as_ref().map(|c| c.channel_id),
                    difficulty: r.channel.as_ref().map(|c| c.target.difficulty()),
                    counters: r.counters.clone(),
                    last_error: r.error.clone(),
                },
                target: account.target,
                owed: account.owed,
                delivered: account.delivered,
                shares: account.shares,
                devices: devices.iter().filter(|d| d.route.0 as usize == i).count(),
                retired: r.retired_at.is_some(),
                jobs_from: r.source.as_str(),
                job_declaration: r.declarator.as_ref().map(|j| DeclarationSnapshot {
                    state: j.state().clone(),
                    declared: j.declared,
                    fallbacks: j.fallbacks,
                }),
                last_10m: self.accounting.window(RouteId(i as u16), 10),
                last_1h: self.accounting.window(RouteId(i as u16), 60),
            })
            .collect();
        let unix = self.clock.map_or(0, |(at, unix)| {
            unix + now.saturating_duration_since(at).as_secs()
        });
        let allocations = self.allocation_snapshots(&routes, unix);
        NodeSnapshot {
            upstream: routes[0].upstream.clone(),
            devices,
            sv2_connections: self.connections.len(),
            routes,
            oversubscribed: self.accounting.oversubscribed().map(str::to_string),
            templates: TemplatesSnapshot {
                connected: self.templates.connected,
                template_id: self.templates.current().map(|(t, _)| t.template_id),
                error: self.templates.error.clone(),
            },
            chain: None,
            farm_hashrate: self.farm_hashrate,
            allocations,
            events: self.events.snapshot(now),
            unix,
        }
    }

    /// Every allocation with its grant now and its part of its route's delivery.
    fn allocation_snapshots(&self, routes: &[RouteSnapshot], unix: u64) -> Vec<AllocationSnapshot> {
        self.allocations
            .allocations()
            .iter()
            .map(|a| {
                let route = self.route_id(&a.route);
                let grants = route.map_or(&[][..], |r| self.accounting.grants(r));
                let total_granted: f64 = grants.iter().map(|(_, g)| g).sum();
                let granted_hs = grants
                    .iter()
                    .find(|(id, _)| *id == a.id)
                    .map_or(0.0, |(_, g)| *g);
                let share = if total_granted > 0.0 {
                    granted_hs / total_granted
                } else {
                    0.0
                };
                let route_snapshot = route.and_then(|r| routes.get(r.0 as usize));
                let window = |w: fn(&RouteSnapshot) -> DeliveryWindow| {
                    route_snapshot.map_or_else(DeliveryWindow::default, |r| w(r).scaled(share))
                };
                AllocationSnapshot {
                    id: a.id.clone(),
                    route: a.route.clone(),
                    amount: a.amount,
                    start: a.start,
                    end: a.end,
                    active: a.is_active(unix),
                    requested_hs: a.amount.requested_hs(self.farm_hashrate),
                    granted_hs,
                    last_10m: window(|r| r.last_10m),
                    last_1h: window(|r| r.last_1h),
                    total: route.map_or_else(AllocationTotals::default, |r| {
                        self.accounting.allocation_totals(r, &a.route, &a.id)
                    }),
                    owed: route_snapshot.map_or(0.0, |r| r.owed * share),
                }
            })
            .collect()
    }

    /// Delivery an allocation had before a restart, from the store.
    pub fn restore_allocation(&mut self, route: &str, id: &str, totals: AllocationTotals) {
        self.accounting.restore_allocation(route, id, totals);
    }
}

/// The difficulty whose target is `target` (shares per 2^32 hashes), for targets given as bytes.
fn difficulty_of(target: &[u8; 32]) -> f64 {
    Target::from_le_bytes(*target).difficulty()
}
