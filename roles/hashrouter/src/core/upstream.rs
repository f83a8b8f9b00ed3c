//! The node's aggregated extended channel to the pool: its target and extranonce, the shares
//! forwarded on it, and their reconciliation with the pool's batched acknowledgements.

use std::collections::{BTreeMap, HashMap, VecDeque};

use work::Target;

use super::device::DeviceId;
use super::jobs::{ExtranonceLayout, UpstreamJob};

/// What the pool said, translated by the network layer from SV2 messages of our channel.
#[derive(Debug, Clone)]
pub enum UpstreamEvent {
    /// The connection is up, to `address`: a backup endpoint (or a redirect) when not
    /// `primary`. Comes before `ChannelOpened`.
    Endpoint {
        address: String,
        primary: bool,
    },
    ChannelOpened {
        channel_id: u32,
        target: [u8; 32],
        extranonce_prefix: Vec<u8>,
        extranonce_size: u16,
    },
    NewJob(UpstreamJob),
    SetNewPrevHash {
        job_id: u32,
        prev_hash: [u8; 32],
        min_ntime: u32,
        nbits: u32,
    },
    /// The channel's target, for every job (SV2 `SetTarget`).
    SetTarget {
        target: [u8; 32],
    },
    /// The target of jobs received from now on; jobs already received keep the target they
    /// came with (Stratum V1 `mining.set_difficulty`, which pools apply from the next job).
    SetTargetForNewJobs {
        target: [u8; 32],
    },
    SetExtranoncePrefix {
        extranonce_prefix: Vec<u8>,
    },
    SubmitSuccess {
        last_sequence_number: u32,
        accepted_count: u32,
        shares_sum: u64,
    },
    SubmitError {
        sequence_number: u32,
        code: String,
    },
    /// Whether the pool accepted `REQUIRES_WORK_SELECTION` in SetupConnection, so the route may
    /// send it declared jobs (sent after `ChannelOpened` by clients of routes with job
    /// declaration).
    WorkSelection {
        allowed: bool,
    },
    /// `SetCustomMiningJob.Success`: the pool's id for our declared job.
    CustomJobAccepted {
        request_id: u32,
        job_id: u32,
    },
    /// `SetCustomMiningJob.Error`.
    CustomJobRefused {
        request_id: u32,
        code: String,
    },
    /// The connection (and so the channel) is gone; the network layer is reconnecting.
    Disconnected,
    /// A connection attempt or session ended with this error (shown to the operator until the
    /// next channel opens).
    Failed {
        reason: String,
    },
}

/// A share to send to the pool as SubmitSharesExtended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamShare {
    pub channel_id: u32,
    pub sequence_number: u32,
    pub job_id: u32,
    pub nonce: u32,
    pub ntime: u32,
    pub version: u32,
    /// The rollable part of the channel's extranonce: padding, device id, extranonce2.
    pub extranonce: Vec<u8>,
}

/// Counters of the upstream side, kept across reconnects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamCounters {
    pub forwarded_shares: u64,
    /// Sum of upstream-target difficulties of forwarded shares.
    pub forwarded_work: f64,
    pub acked_shares: u64,
    pub acked_work: f64,
    pub rejected_shares: u64,
    /// Forwarded shares whose answer never came (connection lost first).
    pub unanswered_shares: u64,
    /// Sum of the pool's `new_shares_sum` fields, the pool's own measure.
    pub pool_shares_sum: u64,
    pub connections: u64,
    /// Shares that met the network target.
    pub blocks: u64,
}

/// A forwarded share waiting for the pool's verdict.
#[derive(Debug, Clone, Copy)]
struct PendingShare {
    device: DeviceId,
    difficulty: f64,
}

/// Most forwarded shares awaiting an answer; a pool that never answers cannot grow memory.
const MAX_PENDING: usize = 1 << 16;
/// Upstream jobs whose own target is remembered; a share on an older one is checked against
/// the channel's current target (the job book forgets its jobs sooner anyway).
const MAX_JOB_TARGETS: usize = 1024;

/// Open extended channel to the pool.
#[derive(Debug)]
pub struct UpstreamChannel {
    pub channel_id: u32,
    pub target: Target,
    pub extranonce_prefix: Vec<u8>,
    pub extranonce_size: usize,
    next_sequence_number: u32,
    pending: BTreeMap<u32, PendingShare>,
    /// The target each upstream job was received under, oldest first.
    job_targets: HashMap<u32, Target>,
    job_order: VecDeque<u32>,
}

/// The verdict on one forwarded share, for the device's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub device: DeviceId,
    pub difficulty: f64,
    pub accepted: bool,
}

impl UpstreamChannel {
    pub fn new(
        channel_id: u32,
        target: Target,
        extranonce_prefix: Vec<u8>,
        extranonce_size: usize,
    ) -> Self {
        UpstreamChannel {
            channel_id,
            target,
            extranonce_prefix,
            extranonce_size,
            next_sequence_number: 0,
            pending: BTreeMap::new(),
            job_targets: HashMap::new(),
            job_order: VecDeque::new(),
        }
    }

    /// A job arrived: it keeps the current target even if a later
    /// [`UpstreamEvent::SetTargetForNewJobs`] changes the channel's.
    pub fn note_job(&mut self, job_id: u32) {
        if self.job_targets.insert(job_id, self.target).is_none() {
            self.job_order.push_back(job_id);
        }
        while self.job_order.len() > MAX_JOB_TARGETS {
            if let Some(old) = self.job_order.pop_front() {
                self.job_targets.remove(&old);
            }
        }
    }

    /// A target for every job, those already received included.
    pub fn set_target(&mut self, target: Target) {
        self.target = target;
        self.job_targets.clear();
        self.job_order.clear();
    }

    /// A target for the jobs received from now on.
    pub fn set_target_for_new_jobs(&mut self, target: Target) {
        self.target = target;
    }

    /// The target a share on upstream job `job_id` must meet: the one in force when that job
    /// was received.
    pub fn target_for_job(&self, job_id: u32) -> Target {
        self.job_targets
            .get(&job_id)
            .copied()
            .unwrap_or(self.target)
    }

    /// Where device extranonces go for this channel, or `None` when the pool granted fewer
    /// rollable bytes than a device id plus extranonce2 need.
    pub fn layout(&self, device_bytes: usize) -> Option<ExtranonceLayout> {
        let padding = self.extranonce_size.checked_sub(device_bytes)?;
        Some(ExtranonceLayout {
            upstream_prefix: self.extranonce_prefix.clone(),
            padding,
        })
    }

    /// Assigns a sequence number to a share about to be forwarded and remembers it.
    pub fn forward(&mut self, device: DeviceId, difficulty: f64) -> u32 {
        let sequence_number = self.next_sequence_number;
        self.next_sequence_number = self.next_sequence_number.wrapping_add(1);
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_first();
        }
        self.pending
            .insert(sequence_number, PendingShare { device, difficulty });
        sequence_number
    }

    /// SubmitShares.Success: every pending share up to `last_sequence_number` was accepted
    /// (errors for the batch arrive before its success, and have removed their shares).
    pub fn on_success(&mut self, last_sequence_number: u32) -> Vec<Verdict> {
        let still_pending = self
            .pending
            .split_off(&last_sequence_number.wrapping_add(1));
        let acked = std::mem::replace(&mut self.pending, still_pending);
        acked
            .into_values()
            .map(|share| Verdict {
                device: share.device,
                difficulty: share.difficulty,
                accepted: true,
            })
            .collect()
    }

    /// SubmitShares.Error for one share.
    pub fn on_error(&mut self, sequence_number: u32) -> Option<Verdict> {
        self.pending.remove(&sequence_number).map(|share| Verdict {
            device: share.device,
            difficulty: share.difficulty,
            accepted: false,
        })
    }

    /// Shares that will never be answered because the channel is gone.
    pub fn unanswered(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_acks_up_to_its_sequence_number_and_errors_remove_one() {
        let mut channel = UpstreamChannel::new(1, Target::MAX, vec![1, 2], 8);
        for device in 0..5 {
            channel.forward(DeviceId(device), 1.0);
        }
        let error = channel.on_error(1).unwrap();
        assert!(!error.accepted);
        assert_eq!(error.device, DeviceId(1));
        let acked = channel.on_success(3);
        let devices: Vec<_> = acked.iter().map(|v| v.device.0).collect();
        assert_eq!(devices, vec![0, 2, 3]);
        assert_eq!(channel.unanswered(), 1);
        assert!(channel.on_error(1).is_none());
    }

    #[test]
    fn jobs_keep_their_target_until_a_target_for_every_job() {
        let easy = Target::from_difficulty(1.0);
        let hard = Target::from_difficulty(4.0);
        let mut channel = UpstreamChannel::new(1, easy, vec![], 8);
        channel.note_job(10);
        channel.set_target_for_new_jobs(hard);
        channel.note_job(11);
        assert_eq!(channel.target_for_job(10), easy, "sent before the change");
        assert_eq!(channel.target_for_job(11), hard);
        assert_eq!(
            channel.target_for_job(99),
            hard,
            "unknown: the current target"
        );
        channel.set_target(easy);
        assert_eq!(channel.target_for_job(11), easy, "SV2 SetTarget: every job");
        for job in 0..(MAX_JOB_TARGETS as u32 + 10) {
            channel.note_job(job);
        }
        assert_eq!(channel.job_targets.len(), MAX_JOB_TARGETS);
    }

    #[test]
    fn layout_refuses_too_small_extranonce() {
        let channel = UpstreamChannel::new(1, Target::MAX, vec![9; 4], 8);
        assert_eq!(channel.layout(8).unwrap().padding, 0);
        assert_eq!(channel.layout(6).unwrap().padding, 2);
        assert!(channel.layout(9).is_none());
    }
}
