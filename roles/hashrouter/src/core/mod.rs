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

mod device;
mod fanout;
mod jobs;
pub mod lines;
pub mod scheduler;
mod share;
mod snapshot;
mod sv1_session;
mod sv2_messages;
mod sv2_session;
mod upstream;
mod upstream_events;
mod vardiff;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_sv2;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tracing::debug;
use work::Target;

pub use device::{
    ConnectionId, DeviceCounters, DeviceId, DeviceKind, DeviceRequest, RequestId, Submit,
};
pub use jobs::{DeviceJob, PrevHash, UpstreamJob};
pub use lines::Line;
pub use share::ShareRejection;
pub use snapshot::{DeviceSnapshot, NodeSnapshot, UpstreamSnapshot};
pub use sv2_messages::{setup_flags, Sv2Message, Sv2Request, Sv2Submit, SV2_VERSION};
pub use upstream::{UpstreamCounters, UpstreamEvent, UpstreamShare};
pub use vardiff::VardiffConfig;

use device::Device;
use jobs::{JobBook, JobLookupError};
use share::{credited_target, hash_share, DeviceShare, SeenShares};
use sv2_session::Sv2Connection;
use upstream::UpstreamChannel;

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
    ToSv1 {
        device: DeviceId,
        line: Line,
    },
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
    SubmitUpstream(UpstreamShare),
    /// The upstream channel cannot be used (e.g. too little extranonce space); drop it.
    CloseUpstream {
        reason: String,
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
    jobs: JobBook,
    upstream: Option<UpstreamChannel>,
    /// Incremented per upstream channel; jobs of older epochs cannot be forwarded.
    epoch: u64,
    counters: UpstreamCounters,
    /// Why the upstream is down, if it is.
    upstream_error: Option<String>,
    seen: SeenShares,
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
    pub fn new(config: CoreConfig) -> Self {
        Core {
            config,
            devices: HashMap::new(),
            next_device_id: 1,
            connections: HashMap::new(),
            next_connection_id: 1,
            jobs: JobBook::new(),
            upstream: None,
            epoch: 0,
            counters: UpstreamCounters::default(),
            upstream_error: None,
            seen: SeenShares::default(),
            actions: VecDeque::new(),
        }
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
        id
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
        let result = (|| {
            let job = self.jobs.get(job_id).map_err(|e| match e {
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
            if !self.seen.insert(&valid.hash) {
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
                }
                debug!(%device, reason = rejection.as_str(), "share rejected");
                return Err(rejection);
            }
        };
        let difficulty = credited.difficulty();
        d.counters.accepted += 1;
        d.counters.accepted_work += difficulty;
        let next_job = self.jobs.next_job_id();
        let new_difficulty = d
            .vardiff
            .on_share(&self.config.vardiff, now)
            .map(|difficulty| d.set_difficulty(difficulty, next_job));
        self.forward_if_upstream_target_met(device, &job, &valid, rolled_extranonce, nonce, ntime);
        Ok(AcceptedShare {
            difficulty,
            new_difficulty,
        })
    }

    fn forward_if_upstream_target_met(
        &mut self,
        device: DeviceId,
        job: &DeviceJob,
        valid: &share::ValidShare,
        rolled_extranonce: &[u8],
        nonce: u32,
        ntime: u32,
    ) {
        if job.epoch != self.epoch {
            return;
        }
        let Some(channel) = self.upstream.as_mut() else {
            return;
        };
        if !channel.target.is_met_by(&valid.hash) {
            return;
        }
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        let difficulty = channel.target.difficulty();
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
        self.counters.forwarded_shares += 1;
        self.counters.forwarded_work += difficulty;
        d.counters.forwarded += 1;
        self.actions.push_back(Action::SubmitUpstream(share));
    }

    /// Periodic work: vardiff for silent devices, job keepalive, SV2 acknowledgements.
    pub fn tick(&mut self, now: Instant) {
        let next_job = self.jobs.next_job_id();
        let mut changes = Vec::new();
        for d in self.devices.values_mut() {
            if !d.is_ready() {
                continue;
            }
            if let Some(difficulty) = d.vardiff.on_tick(&self.config.vardiff, now) {
                changes.push((d.id, d.set_difficulty(difficulty, next_job)));
            }
        }
        for (device, difficulty) in changes {
            self.send_difficulty(device, difficulty, now);
        }
        if let Some(idle) = self.config.keepalive {
            if let Some(job) = self.jobs.keepalive(idle, now) {
                self.broadcast_job(&job, false);
            }
        }
        self.flush_all_sv2_acks();
    }

    fn layout(&self) -> Option<jobs::ExtranonceLayout> {
        self.upstream
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
                difficulty: d.vardiff.difficulty(),
                hashrate: d.hashrate(now),
                counters: d.counters.clone(),
            })
            .collect();
        devices.sort_by_key(|d| d.id);
        NodeSnapshot {
            devices,
            sv2_connections: self.connections.len(),
            upstream: UpstreamSnapshot {
                connected: self.upstream.is_some(),
                channel_id: self.upstream.as_ref().map(|c| c.channel_id),
                difficulty: self.upstream.as_ref().map(|c| c.target.difficulty()),
                counters: self.counters.clone(),
                last_error: self.upstream_error.clone(),
            },
        }
    }
}

/// The difficulty whose target is `target` (shares per 2^32 hashes), for targets given as bytes.
fn difficulty_of(target: &[u8; 32]) -> f64 {
    Target::from_le_bytes(*target).difficulty()
}
