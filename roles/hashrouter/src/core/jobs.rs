//! Jobs as devices see them, built from the upstream channel's jobs (DESIGN.md §3).
//!
//! Every device rolls `extranonce1 (its device id) || extranonce2`. The upstream channel's own
//! extranonce prefix, and any zero padding when the pool granted more rollable bytes than we
//! asked for, are folded into `coinb1`, so one `mining.notify` line serves every device.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An extended job from the upstream channel, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamJob {
    pub job_id: u32,
    /// `None` for a future job that waits for its SetNewPrevHash.
    pub min_ntime: Option<u32>,
    pub version: u32,
    pub version_rolling_allowed: bool,
    pub merkle_path: Vec<[u8; 32]>,
    pub coinbase_prefix: Vec<u8>,
    pub coinbase_suffix: Vec<u8>,
}

/// The chain tip the upstream channel mines on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrevHash {
    pub job_id: u32,
    pub prev_hash: [u8; 32],
    pub min_ntime: u32,
    pub nbits: u32,
}

/// Where the device's extranonce sits inside the upstream channel's extranonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtranonceLayout {
    /// The upstream channel's prefix (not rollable by us).
    pub upstream_prefix: Vec<u8>,
    /// Zero bytes between the prefix and the device id, when the pool granted more than needed.
    pub padding: usize,
}

/// One job as sent to devices: immutable once built, shared by all devices of the channel.
#[derive(Debug, PartialEq)]
pub struct DeviceJob {
    /// The id devices see and echo in `mining.submit`.
    pub id: u32,
    pub upstream_job_id: u32,
    /// Upstream connection epoch the job belongs to; shares of older epochs cannot go upstream.
    pub epoch: u64,
    pub prev_hash: [u8; 32],
    pub nbits: u32,
    pub min_ntime: u32,
    /// ntime announced to devices (later than `min_ntime` for keepalive re-sends).
    pub ntime: u32,
    pub version: u32,
    pub version_rolling_allowed: bool,
    /// Coinbase up to the device id: upstream prefix, upstream extranonce prefix, padding.
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
    pub merkle_path: Vec<[u8; 32]>,
    /// Length of the pool's coinbase prefix at the start of `coinb1`.
    pub tx_prefix_len: usize,
    /// Zero bytes in front of the device id in the upstream extranonce.
    pub padding: usize,
    pub issued_at: Instant,
    /// Whether the job was announced with `clean_jobs`.
    pub clean: bool,
}

/// Bits of a job id below the route number: a job id says which route's book it is in, so a
/// share is checked against the right pool's job even right after its device moved.
const SEQUENCE_BITS: u32 = 24;
const SEQUENCE_MASK: u32 = (1 << SEQUENCE_BITS) - 1;

/// The route (index) whose job book issued `job_id`.
pub fn route_of_job(job_id: u32) -> u16 {
    (job_id >> SEQUENCE_BITS) as u16
}

/// Why a share's job could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobLookupError {
    Unknown,
    /// The job was replaced by a new chain tip or the upstream connection was lost.
    Stale,
}

/// Jobs kept; beyond them the oldest are forgotten (shares on them are answered as stale).
const MAX_JOBS: usize = 256;

/// All device jobs the node knows, and the upstream jobs waiting to become device jobs.
#[derive(Debug, Default)]
pub struct JobBook {
    /// The route number in the top bits of every id this book issues.
    prefix: u32,
    next_id: u32,
    jobs: HashMap<u32, Arc<DeviceJob>>,
    stale_before: u32,
    current: Option<Arc<DeviceJob>>,
    waiting: HashMap<u32, UpstreamJob>,
    prev_hash: Option<PrevHash>,
}

impl JobBook {
    /// The job book of route `route` (at most 255 routes).
    pub fn new(route: u8) -> Self {
        let prefix = (route as u32) << SEQUENCE_BITS;
        JobBook {
            prefix,
            next_id: prefix | 1,
            stale_before: prefix,
            ..Default::default()
        }
    }

    /// The job new work should be based on.
    pub fn current(&self) -> Option<&Arc<DeviceJob>> {
        self.current.as_ref()
    }

    pub fn get(&self, id: u32) -> Result<&Arc<DeviceJob>, JobLookupError> {
        match self.jobs.get(&id) {
            Some(job) if id >= self.stale_before => Ok(job),
            Some(_) => Err(JobLookupError::Stale),
            None if id & !SEQUENCE_MASK == self.prefix
                && id < self.next_id
                && id & SEQUENCE_MASK != 0 =>
            {
                Err(JobLookupError::Stale)
            }
            None => Err(JobLookupError::Unknown),
        }
    }

    /// A job from upstream. Returns the device job to broadcast if it applies now.
    pub fn on_upstream_job(
        &mut self,
        job: UpstreamJob,
        layout: &ExtranonceLayout,
        epoch: u64,
        now: Instant,
    ) -> Option<Arc<DeviceJob>> {
        match (job.min_ntime, self.prev_hash) {
            (Some(min_ntime), Some(prev)) => {
                let mut prev = prev;
                prev.min_ntime = prev.min_ntime.max(min_ntime);
                Some(self.issue(&job, &prev, layout, epoch, false, now))
            }
            _ => {
                self.waiting.insert(job.job_id, job);
                None
            }
        }
    }

    /// A new chain tip. Every earlier job turns stale; the matching waiting job is issued clean.
    pub fn on_prev_hash(
        &mut self,
        prev: PrevHash,
        layout: &ExtranonceLayout,
        epoch: u64,
        now: Instant,
    ) -> Option<Arc<DeviceJob>> {
        self.mark_all_stale();
        self.prev_hash = Some(prev);
        let job = self.waiting.remove(&prev.job_id);
        // Per the spec, other future jobs were built for tips that did not come.
        self.waiting.clear();
        let job = job?;
        Some(self.issue(&job, &prev, layout, epoch, true, now))
    }

    /// Starts over with `job` on `prev` (the route's work now comes from elsewhere: declared jobs,
    /// the pool's own, solo): every earlier job turns stale and `job` is issued clean.
    pub fn restart(
        &mut self,
        job: &UpstreamJob,
        prev: PrevHash,
        layout: &ExtranonceLayout,
        epoch: u64,
        now: Instant,
    ) -> Arc<DeviceJob> {
        self.mark_all_stale();
        self.waiting.clear();
        let prev = PrevHash {
            job_id: job.job_id,
            min_ntime: prev.min_ntime.max(job.min_ntime.unwrap_or(0)),
            ..prev
        };
        self.prev_hash = Some(prev);
        self.issue(job, &prev, layout, epoch, true, now)
    }

    /// Re-issues the current job under `layout` (after SetExtranoncePrefix): earlier jobs carry
    /// the old prefix, so their shares can no longer be forwarded and they turn stale.
    pub fn reissue_current(
        &mut self,
        layout: &ExtranonceLayout,
        epoch: u64,
        now: Instant,
    ) -> Option<Arc<DeviceJob>> {
        let current = self.current.clone()?;
        self.mark_all_stale();
        Some(self.rebuild(&current, Some(layout), epoch, current.ntime, true, now))
    }

    /// Re-sends the current job with ntime moved forward by the time it has been out, for
    /// firmware that gives up on work it considers old. Earlier jobs stay valid.
    pub fn keepalive(&mut self, idle: Duration, now: Instant) -> Option<Arc<DeviceJob>> {
        let current = self.current.clone()?;
        let out_for = now.saturating_duration_since(current.issued_at);
        if out_for < idle {
            return None;
        }
        let ntime = current.ntime.saturating_add(out_for.as_secs() as u32);
        Some(self.rebuild(&current, None, current.epoch, ntime, false, now))
    }

    /// The upstream connection is gone. Devices keep working on the current job, whose shares
    /// are still validated and counted (but not forwarded: its epoch is over) until the new
    /// connection brings a new tip.
    pub fn on_upstream_lost(&mut self) {
        self.waiting.clear();
        self.prev_hash = None;
    }

    /// The id the next issued job will get.
    pub fn next_job_id(&self) -> u32 {
        self.next_id
    }

    fn mark_all_stale(&mut self) {
        self.stale_before = self.next_id;
    }

    fn issue(
        &mut self,
        job: &UpstreamJob,
        prev: &PrevHash,
        layout: &ExtranonceLayout,
        epoch: u64,
        clean: bool,
        now: Instant,
    ) -> Arc<DeviceJob> {
        let min_ntime = job.min_ntime.unwrap_or(prev.min_ntime).max(prev.min_ntime);
        self.insert(DeviceJob {
            id: 0,
            upstream_job_id: job.job_id,
            epoch,
            prev_hash: prev.prev_hash,
            nbits: prev.nbits,
            min_ntime,
            ntime: min_ntime,
            version: job.version,
            version_rolling_allowed: job.version_rolling_allowed,
            coinb1: coinb1_for(&job.coinbase_prefix, layout),
            coinb2: job.coinbase_suffix.clone(),
            merkle_path: job.merkle_path.clone(),
            tx_prefix_len: job.coinbase_prefix.len(),
            padding: layout.padding,
            issued_at: now,
            clean,
        })
    }

    /// A copy of `base` with a new id, and with its extranonce layout replaced if given.
    fn rebuild(
        &mut self,
        base: &DeviceJob,
        layout: Option<&ExtranonceLayout>,
        epoch: u64,
        ntime: u32,
        clean: bool,
        now: Instant,
    ) -> Arc<DeviceJob> {
        let (coinb1, padding) = match layout {
            None => (base.coinb1.clone(), base.padding),
            Some(layout) => (
                coinb1_for(&base.coinb1[..base.tx_prefix_len], layout),
                layout.padding,
            ),
        };
        self.insert(DeviceJob {
            id: 0,
            upstream_job_id: base.upstream_job_id,
            epoch,
            prev_hash: base.prev_hash,
            nbits: base.nbits,
            min_ntime: base.min_ntime,
            ntime,
            version: base.version,
            version_rolling_allowed: base.version_rolling_allowed,
            coinb1,
            coinb2: base.coinb2.clone(),
            merkle_path: base.merkle_path.clone(),
            tx_prefix_len: base.tx_prefix_len,
            padding,
            issued_at: now,
            clean,
        })
    }

    fn insert(&mut self, mut job: DeviceJob) -> Arc<DeviceJob> {
        job.id = self.next_id;
        let sequence = (self.next_id.wrapping_add(1) & SEQUENCE_MASK).max(1);
        self.next_id = self.prefix | sequence;
        let job = Arc::new(job);
        self.jobs.insert(job.id, job.clone());
        if self.jobs.len() > MAX_JOBS {
            // Forgotten ids below `next_id` still read as stale in `get`.
            let keep_from = self
                .next_id
                .saturating_sub(MAX_JOBS as u32)
                .max(self.prefix);
            self.jobs.retain(|id, _| *id >= keep_from);
        }
        self.current = Some(job.clone());
        job
    }
}

/// `coinb1` for devices: the pool's coinbase prefix, its extranonce prefix, then zero padding.
fn coinb1_for(tx_prefix: &[u8], layout: &ExtranonceLayout) -> Vec<u8> {
    let mut coinb1 =
        Vec::with_capacity(tx_prefix.len() + layout.upstream_prefix.len() + layout.padding);
    coinb1.extend_from_slice(tx_prefix);
    coinb1.extend_from_slice(&layout.upstream_prefix);
    coinb1.resize(coinb1.len() + layout.padding, 0);
    coinb1
}
