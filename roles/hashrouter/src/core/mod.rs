//! The sans-IO core of the node (DESIGN.md §2): device sessions, job translation, share
//! validation and upstream reconciliation as a deterministic state machine.
//!
//! The network layer feeds it events (a device request, an upstream message, a tick) with the
//! current time and drains [`Action`]s from [`Core::poll_action`]. Nothing in here touches a
//! socket, a clock or a runtime, so tests drive it directly.

mod device;
mod jobs;
pub mod lines;
mod share;
mod snapshot;
mod upstream;
mod vardiff;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sv1::encode::server::ConfigureResult;
use tracing::{debug, info, warn};
use work::Target;

pub use device::{DeviceCounters, DeviceId, DeviceRequest, RequestId, Submit};
pub use jobs::{DeviceJob, PrevHash, UpstreamJob};
pub use lines::Line;
pub use share::ShareRejection;
pub use snapshot::{DeviceSnapshot, NodeSnapshot, UpstreamSnapshot};
pub use upstream::{UpstreamCounters, UpstreamEvent, UpstreamShare};
pub use vardiff::VardiffConfig;

use device::Device;
use jobs::{JobBook, JobLookupError};
use share::{credited_target, hash_share, DeviceShare, SeenShares};
use upstream::{UpstreamChannel, Verdict};

/// The BIP320 bits devices may roll.
pub const VERSION_ROLLING_MASK: u32 = 0x1fff_e000;
/// Bytes of a device id inside the extranonce (SV1 `extranonce1`).
pub const DEVICE_ID_BYTES: usize = 4;

/// Settings of the core, derived from the node's config.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub extranonce2_size: usize,
    pub vardiff: VardiffConfig,
    /// Re-send the current job after this long without a new one.
    pub keepalive: Option<Duration>,
}

impl CoreConfig {
    /// Rollable extranonce bytes to ask the upstream channel for.
    pub fn upstream_extranonce_size(&self) -> usize {
        DEVICE_ID_BYTES + self.extranonce2_size
    }
}

/// What the network layer must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    ToDevice {
        device: DeviceId,
        line: Line,
    },
    CloseDevice {
        device: DeviceId,
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
    jobs: JobBook,
    upstream: Option<UpstreamChannel>,
    /// Incremented per upstream channel; jobs of older epochs cannot be forwarded.
    epoch: u64,
    counters: UpstreamCounters,
    seen: SeenShares,
    actions: VecDeque<Action>,
}

impl Core {
    pub fn new(config: CoreConfig) -> Self {
        Core {
            config,
            devices: HashMap::new(),
            next_device_id: 1,
            jobs: JobBook::new(),
            upstream: None,
            epoch: 0,
            counters: UpstreamCounters::default(),
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

    /// A device connected; returns its node-unique id (its extranonce1).
    pub fn device_connected(&mut self, now: Instant) -> DeviceId {
        let mut id = self.next_device_id;
        while id == 0 || self.devices.contains_key(&DeviceId(id)) {
            id = id.wrapping_add(1);
        }
        self.next_device_id = id.wrapping_add(1);
        let id = DeviceId(id);
        self.devices
            .insert(id, Device::new(id, &self.config.vardiff, now));
        id
    }

    pub fn device_disconnected(&mut self, device: DeviceId) {
        self.devices.remove(&device);
    }

    pub fn handle_device_request(
        &mut self,
        device: DeviceId,
        request: DeviceRequest,
        now: Instant,
    ) {
        if !self.devices.contains_key(&device) {
            return;
        }
        match request {
            DeviceRequest::Configure {
                id,
                version_rolling_mask,
                minimum_difficulty,
                unsupported,
                subscribe_extranonce,
                info,
            } => self.on_configure(
                device,
                id,
                version_rolling_mask,
                minimum_difficulty,
                &unsupported,
                subscribe_extranonce,
                info,
                now,
            ),
            DeviceRequest::Subscribe { id, user_agent } => {
                let Some(d) = self.devices.get_mut(&device) else {
                    return;
                };
                d.subscribed = true;
                d.user_agent = user_agent;
                let line = lines::subscribe_result(
                    &id,
                    &device.extranonce1(),
                    self.config.extranonce2_size,
                );
                self.send(device, line);
                self.start_mining_if_ready(device);
            }
            DeviceRequest::Authorize { id, user } => {
                let Some(d) = self.devices.get_mut(&device) else {
                    return;
                };
                if !d.workers.contains(&user) {
                    d.workers.push(user);
                }
                self.send(device, lines::result_bool(&id, true));
                self.start_mining_if_ready(device);
            }
            DeviceRequest::ExtranonceSubscribe { id } => {
                // Our extranonce never changes (DESIGN.md §3), so there is nothing to subscribe to.
                self.send(device, lines::result_bool(&id, true));
            }
            DeviceRequest::SuggestDifficulty { id, difficulty } => {
                self.on_suggest_difficulty(device, difficulty, now);
                self.send(device, lines::result_bool(&id, true));
            }
            DeviceRequest::Submit { id, submit } => match self.on_submit(device, &submit, now) {
                Ok(new_difficulty) => {
                    self.send(device, lines::result_bool(&id, true));
                    if let Some(difficulty) = new_difficulty {
                        self.send_difficulty(device, difficulty);
                    }
                }
                Err(rejection) => {
                    let (code, message) = rejection.sv1_error();
                    self.send(device, lines::error(&id, code, message));
                }
            },
            DeviceRequest::Unknown { id, method } => {
                debug!(%device, %method, "unsupported method");
                self.send(device, lines::error(&id, 20, "Unsupported method"));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_configure(
        &mut self,
        device: DeviceId,
        id: RequestId,
        version_rolling_mask: Option<u32>,
        minimum_difficulty: Option<f64>,
        unsupported: &[String],
        subscribe_extranonce: bool,
        info: bool,
        now: Instant,
    ) {
        let vardiff = self.config.vardiff.clone();
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        let granted = version_rolling_mask.map(|asked| asked & VERSION_ROLLING_MASK);
        d.version_mask = granted.unwrap_or(0);
        let minimum_accepted = minimum_difficulty.map(|value| {
            let ok = value.is_finite() && value > 0.0 && value <= vardiff.maximum;
            if ok {
                d.minimum_difficulty = Some(value);
                if d.vardiff.difficulty() < value {
                    d.vardiff.reset_to(&vardiff, value, now);
                    d.target = Target::from_difficulty(d.vardiff.difficulty());
                }
            }
            ok
        });
        let refused: Vec<&str> = unsupported.iter().map(String::as_str).collect();
        // subscribe-extranonce: our extranonce never changes (DESIGN.md §3), nothing to send.
        let line = lines::configure_result(
            &id,
            &ConfigureResult {
                version_rolling_mask: granted,
                minimum_difficulty: minimum_accepted,
                subscribe_extranonce: subscribe_extranonce.then_some(false),
                info: info.then_some(true),
                refused: &refused,
            },
        );
        self.send(device, line);
    }

    fn on_suggest_difficulty(&mut self, device: DeviceId, difficulty: f64, now: Instant) {
        let vardiff = self.config.vardiff.clone();
        let next_job = self.jobs.next_job_id();
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        // A hint for where to start; once shares flow, measurement wins.
        if !(difficulty.is_finite() && difficulty > 0.0) || d.counters.accepted > 0 {
            return;
        }
        d.vardiff.reset_to(&vardiff, difficulty, now);
        let applied = d.set_difficulty(d.vardiff.difficulty(), next_job);
        if d.is_ready() {
            self.send_difficulty(device, applied);
        }
    }

    /// After subscribe and authorize: the device's difficulty, then the current job.
    fn start_mining_if_ready(&mut self, device: DeviceId) {
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        if !d.is_ready() || d.last_job_sent.is_some() {
            return;
        }
        let difficulty = d.vardiff.difficulty();
        self.send_difficulty(device, difficulty);
        if let Some(job) = self.jobs.current().cloned() {
            self.send_job(device, &job, true);
        }
    }

    /// Validates a share, forwards it if it meets the upstream target, and returns the device's
    /// new difficulty if vardiff changed it (sent after the share's answer).
    fn on_submit(
        &mut self,
        device: DeviceId,
        submit: &Submit,
        now: Instant,
    ) -> Result<Option<f64>, ShareRejection> {
        let extranonce2_size = self.config.extranonce2_size;
        let d = self
            .devices
            .get_mut(&device)
            .ok_or(ShareRejection::NotSubscribed)?;
        if !d.subscribed {
            return Err(ShareRejection::NotSubscribed);
        }
        if d.workers.is_empty() {
            return Err(ShareRejection::Unauthorized);
        }
        let result = (|| {
            let job_id =
                u32::from_str_radix(&submit.job_id, 16).map_err(|_| ShareRejection::UnknownJob)?;
            let job = self.jobs.get(job_id).map_err(|e| match e {
                JobLookupError::Unknown => ShareRejection::UnknownJob,
                JobLookupError::Stale => ShareRejection::StaleJob,
            })?;
            let share = DeviceShare {
                extranonce1: device.extranonce1(),
                extranonce2: submit.extranonce2.as_bytes(),
                ntime: submit.ntime,
                nonce: submit.nonce,
                version_bits: submit.version_bits,
            };
            let valid = hash_share(job, &share, d.version_mask, extranonce2_size, now)?;
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
        self.forward_if_upstream_target_met(device, &job, &valid, submit);
        Ok(new_difficulty)
    }

    fn forward_if_upstream_target_met(
        &mut self,
        device: DeviceId,
        job: &DeviceJob,
        valid: &share::ValidShare,
        submit: &Submit,
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
        let difficulty = channel.target.difficulty();
        let sequence_number = channel.forward(device, difficulty);
        let mut extranonce = vec![0u8; job.padding];
        extranonce.extend_from_slice(&device.extranonce1());
        extranonce.extend_from_slice(submit.extranonce2.as_bytes());
        let share = UpstreamShare {
            channel_id: channel.channel_id,
            sequence_number,
            job_id: job.upstream_job_id,
            nonce: submit.nonce,
            ntime: submit.ntime,
            version: valid.version,
            extranonce,
        };
        self.counters.forwarded_shares += 1;
        self.counters.forwarded_work += difficulty;
        if let Some(d) = self.devices.get_mut(&device) {
            d.counters.forwarded += 1;
        }
        self.actions.push_back(Action::SubmitUpstream(share));
    }

    /// A message of the upstream channel, or its loss.
    pub fn handle_upstream(&mut self, event: UpstreamEvent, now: Instant) {
        match event {
            UpstreamEvent::ChannelOpened {
                channel_id,
                target,
                extranonce_prefix,
                extranonce_size,
            } => {
                let channel = UpstreamChannel::new(
                    channel_id,
                    Target::from_le_bytes(target),
                    extranonce_prefix,
                    extranonce_size as usize,
                );
                let needed = self.config.upstream_extranonce_size();
                if channel.layout(needed).is_none() {
                    let reason = format!(
                        "pool granted {extranonce_size} rollable extranonce bytes, the node needs {needed}"
                    );
                    warn!(%reason, "upstream channel unusable");
                    self.actions.push_back(Action::CloseUpstream { reason });
                    return;
                }
                info!(
                    channel_id,
                    extranonce_size,
                    difficulty = channel.target.difficulty(),
                    "upstream channel open"
                );
                self.epoch += 1;
                self.counters.connections += 1;
                self.upstream = Some(channel);
            }
            UpstreamEvent::NewJob(job) => {
                let Some(layout) = self.layout() else {
                    return;
                };
                if let Some(job) = self.jobs.on_upstream_job(job, &layout, self.epoch, now) {
                    self.broadcast_job(&job, false);
                }
            }
            UpstreamEvent::SetNewPrevHash {
                job_id,
                prev_hash,
                min_ntime,
                nbits,
            } => {
                let Some(layout) = self.layout() else {
                    return;
                };
                let prev = PrevHash {
                    job_id,
                    prev_hash,
                    min_ntime,
                    nbits,
                };
                self.seen.clear();
                if let Some(job) = self.jobs.on_prev_hash(prev, &layout, self.epoch, now) {
                    self.broadcast_job(&job, true);
                }
            }
            UpstreamEvent::SetTarget { target } => {
                if let Some(channel) = self.upstream.as_mut() {
                    channel.target = Target::from_le_bytes(target);
                    debug!(difficulty = channel.target.difficulty(), "upstream target");
                }
            }
            UpstreamEvent::SetExtranoncePrefix { extranonce_prefix } => {
                let Some(channel) = self.upstream.as_mut() else {
                    return;
                };
                channel.extranonce_prefix = extranonce_prefix;
                let Some(layout) = self.layout() else {
                    return;
                };
                if let Some(job) = self.jobs.reissue_current(&layout, self.epoch, now) {
                    self.broadcast_job(&job, true);
                }
            }
            UpstreamEvent::SubmitSuccess {
                last_sequence_number,
                accepted_count,
                shares_sum,
            } => {
                let Some(channel) = self.upstream.as_mut() else {
                    return;
                };
                let verdicts = channel.on_success(last_sequence_number);
                if verdicts.len() != accepted_count as usize {
                    debug!(
                        ours = verdicts.len(),
                        pool = accepted_count,
                        "acknowledged share count differs from pending shares"
                    );
                }
                self.counters.pool_shares_sum += shares_sum;
                for verdict in verdicts {
                    self.apply_verdict(verdict);
                }
            }
            UpstreamEvent::SubmitError {
                sequence_number,
                code,
            } => {
                let Some(channel) = self.upstream.as_mut() else {
                    return;
                };
                if let Some(verdict) = channel.on_error(sequence_number) {
                    warn!(device = %verdict.device, %code, "pool rejected a forwarded share");
                    self.apply_verdict(verdict);
                }
            }
            UpstreamEvent::Disconnected => {
                if let Some(channel) = self.upstream.take() {
                    self.counters.unanswered_shares += channel.unanswered() as u64;
                }
                self.jobs.on_upstream_lost();
            }
        }
    }

    fn apply_verdict(&mut self, verdict: Verdict) {
        if verdict.accepted {
            self.counters.acked_shares += 1;
            self.counters.acked_work += verdict.difficulty;
        } else {
            self.counters.rejected_shares += 1;
        }
    }

    /// Periodic work: vardiff for silent devices, job keepalive.
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
            self.send_difficulty(device, difficulty);
        }
        if let Some(idle) = self.config.keepalive {
            if let Some(job) = self.jobs.keepalive(idle, now) {
                self.broadcast_job(&job, false);
            }
        }
    }

    fn layout(&self) -> Option<jobs::ExtranonceLayout> {
        self.upstream
            .as_ref()?
            .layout(self.config.upstream_extranonce_size())
    }

    fn broadcast_job(&mut self, job: &Arc<DeviceJob>, clean: bool) {
        let line = lines::notify(job, clean);
        let ready: Vec<DeviceId> = self
            .devices
            .values_mut()
            .filter(|d| d.is_ready())
            .map(|d| {
                d.last_job_sent = Some(job.id);
                d.id
            })
            .collect();
        for device in ready {
            self.actions.push_back(Action::ToDevice {
                device,
                line: line.clone(),
            });
        }
    }

    fn send_job(&mut self, device: DeviceId, job: &Arc<DeviceJob>, clean: bool) {
        if let Some(d) = self.devices.get_mut(&device) {
            d.last_job_sent = Some(job.id);
        }
        self.send(device, lines::notify(job, clean));
    }

    fn send_difficulty(&mut self, device: DeviceId, difficulty: f64) {
        if let Some(line) = lines::set_difficulty(difficulty) {
            self.send(device, line);
        }
    }

    fn send(&mut self, device: DeviceId, line: Line) {
        self.actions.push_back(Action::ToDevice { device, line });
    }

    /// Everything the operator (and tests) may want to read.
    pub fn snapshot(&self, now: Instant) -> NodeSnapshot {
        let mut devices: Vec<DeviceSnapshot> = self
            .devices
            .values()
            .map(|d| DeviceSnapshot {
                id: d.id,
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
            upstream: UpstreamSnapshot {
                connected: self.upstream.is_some(),
                channel_id: self.upstream.as_ref().map(|c| c.channel_id),
                difficulty: self.upstream.as_ref().map(|c| c.target.difficulty()),
                counters: self.counters.clone(),
            },
        }
    }
}
