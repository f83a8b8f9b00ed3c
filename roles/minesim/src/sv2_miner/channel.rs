//! One open channel's job state, sans-IO: future jobs waiting for their prev hash, the current
//! prev hash, the job being mined, and the work handed to the channel's grinding thread.

use std::collections::VecDeque;

use mining_sv2::{NewExtendedMiningJobOwned, NewMiningJobOwned, SetNewPrevHashOwned};
use work::{coinbase_txid, merkle_root, Target};

use super::rig::ShareTag;
use super::stats::ChannelSnapshot;
use crate::grind::{MerkleSource, Work};

/// BIP320 general-purpose version bits, the only ones a miner may roll.
pub(crate) const VERSION_ROLLING_MASK: u32 = 0x1fff_e000;
/// Future jobs kept while waiting for their prev hash (servers send one or two).
const MAX_FUTURE_JOBS: usize = 16;
/// Jobs on the current prev hash whose shares are still worth submitting.
const MAX_LIVE_JOBS: usize = 64;

/// The merkle root of a standard channel's header when its job came as an extended job to its
/// group: the coinbase is `coinbase_tx_prefix + extranonce_prefix + coinbase_tx_suffix` (the
/// channel's whole extranonce is its prefix), hashed up the job's merkle path.
pub(crate) fn group_job_merkle_root(
    coinbase_tx_prefix: &[u8],
    extranonce_prefix: &[u8],
    coinbase_tx_suffix: &[u8],
    merkle_path: &[[u8; 32]],
) -> [u8; 32] {
    merkle_root(
        coinbase_txid(&[coinbase_tx_prefix, extranonce_prefix, coinbase_tx_suffix]),
        merkle_path,
    )
}

/// A job as received, before it is bound to a prev hash.
#[derive(Debug, Clone)]
enum JobSpec {
    /// `NewMiningJob`: header-only.
    Standard { version: u32, merkle_root: [u8; 32] },
    /// `NewExtendedMiningJob`, to this extended channel or to this standard channel's group.
    Extended {
        version: u32,
        version_rolling_allowed: bool,
        coinbase_tx_prefix: Vec<u8>,
        coinbase_tx_suffix: Vec<u8>,
        merkle_path: Vec<[u8; 32]>,
    },
}

#[derive(Debug, Clone)]
struct Job {
    job_id: u32,
    /// `None`: a future job, mined once a `SetNewPrevHash` names it.
    min_ntime: Option<u32>,
    spec: JobSpec,
}

#[derive(Debug, Clone, Copy)]
struct PrevHash {
    prev_hash: [u8; 32],
    min_ntime: u32,
    nbits: u32,
}

/// What the grinding thread of a channel should do after a message.
#[derive(Debug)]
pub(crate) enum Mining {
    /// Keep mining what it mines.
    Unchanged,
    /// Switch to this work.
    Work(Work<ShareTag>),
    /// Stop: nothing valid to mine.
    Idle,
}

/// An open channel.
#[derive(Debug)]
pub(crate) struct MinerChannel {
    /// Index of the grinding thread that mines this channel.
    pub unit: usize,
    pub channel_id: u32,
    pub group_channel_id: u32,
    /// `Some(rollable extranonce bytes)` for an extended channel, `None` for a standard one.
    pub extranonce_size: Option<u16>,
    pub extranonce_prefix: Vec<u8>,
    pub target: Target,
    session: u64,
    version_rolling: bool,
    future: VecDeque<Job>,
    prev: Option<PrevHash>,
    /// The job mined now and the ntime it is mined at.
    active: Option<(Job, u32)>,
    live: VecDeque<u32>,
    next_sequence_number: u32,
}

/// Everything a channel is opened with.
#[derive(Debug, Clone)]
pub(crate) struct ChannelParams {
    pub unit: usize,
    pub session: u64,
    pub channel_id: u32,
    pub group_channel_id: u32,
    pub extranonce_size: Option<u16>,
    pub extranonce_prefix: Vec<u8>,
    pub target: Target,
    /// Whether the miner rolls version bits at all (the config).
    pub version_rolling: bool,
}

impl MinerChannel {
    pub fn new(p: ChannelParams) -> Self {
        Self {
            unit: p.unit,
            channel_id: p.channel_id,
            group_channel_id: p.group_channel_id,
            extranonce_size: p.extranonce_size,
            extranonce_prefix: p.extranonce_prefix,
            target: p.target,
            session: p.session,
            version_rolling: p.version_rolling,
            future: VecDeque::new(),
            prev: None,
            active: None,
            live: VecDeque::new(),
            next_sequence_number: 0,
        }
    }

    pub fn snapshot(&self) -> ChannelSnapshot {
        ChannelSnapshot {
            channel_id: self.channel_id,
            group_channel_id: self.group_channel_id,
            extended: self.extranonce_size.is_some(),
            extranonce_prefix: self.extranonce_prefix.clone(),
            extranonce_size: self.extranonce_size.unwrap_or(0),
            target: self.target,
        }
    }

    /// Whether a message addressed to `channel_id` concerns this channel (directly or through
    /// its group).
    pub fn addressed_by(&self, channel_id: u32) -> bool {
        self.channel_id == channel_id
            || (self.group_channel_id != 0 && self.group_channel_id == channel_id)
    }

    /// The sequence number of the next share.
    pub fn next_sequence_number(&mut self) -> u32 {
        let n = self.next_sequence_number;
        self.next_sequence_number = n.wrapping_add(1);
        n
    }

    /// Whether a share found for `tag` may still be submitted on this channel.
    pub fn is_live(&self, tag: &ShareTag) -> bool {
        tag.session == self.session
            && tag.channel_id == self.channel_id
            && self.live.contains(&tag.job_id)
    }

    /// A `NewMiningJob` for this channel (a standard one; an extended channel cannot mine it).
    pub fn on_standard_job(&mut self, job: NewMiningJobOwned) -> Result<Mining, String> {
        if self.extranonce_size.is_some() {
            return Err(format!(
                "NewMiningJob {} for extended channel {}",
                job.job_id, self.channel_id
            ));
        }
        let merkle_root = job.merkle_root.to_array();
        Ok(self.add(Job {
            job_id: job.job_id,
            min_ntime: job.min_ntime.into_inner(),
            spec: JobSpec::Standard {
                version: job.version,
                merkle_root,
            },
        }))
    }

    /// A `NewExtendedMiningJob` for this extended channel, or for this standard channel's group.
    pub fn on_extended_job(&mut self, job: &NewExtendedMiningJobOwned) -> Mining {
        let merkle_path = job.merkle_path.iter().map(|node| node.to_array()).collect();
        self.add(Job {
            job_id: job.job_id,
            min_ntime: job.min_ntime.as_ref().copied(),
            spec: JobSpec::Extended {
                version: job.version,
                version_rolling_allowed: job.version_rolling_allowed,
                coinbase_tx_prefix: job.coinbase_tx_prefix.to_owned_bytes(),
                coinbase_tx_suffix: job.coinbase_tx_suffix.to_owned_bytes(),
                merkle_path,
            },
        })
    }

    fn add(&mut self, job: Job) -> Mining {
        match (job.min_ntime, self.prev) {
            (Some(ntime), Some(_)) => self.activate(job, ntime),
            // A future job, or a job sent before any prev hash: wait for a prev hash naming it.
            _ => {
                if self.future.len() >= MAX_FUTURE_JOBS {
                    self.future.pop_front();
                }
                self.future.push_back(job);
                Mining::Unchanged
            }
        }
    }

    /// `SetNewPrevHash` for this channel or its group: mine the future job it names, forget
    /// every other job.
    pub fn on_prev_hash(&mut self, prev: &SetNewPrevHashOwned) -> Mining {
        self.prev = Some(PrevHash {
            prev_hash: prev.prev_hash.to_array(),
            min_ntime: prev.min_ntime,
            nbits: prev.nbits,
        });
        self.live.clear();
        self.active = None;
        let job = self
            .future
            .iter()
            .position(|j| j.job_id == prev.job_id)
            .and_then(|i| self.future.remove(i));
        self.future.clear();
        match job {
            Some(job) => {
                let ntime = job.min_ntime.unwrap_or(prev.min_ntime);
                self.activate(job, ntime)
            }
            None => {
                tracing::debug!(
                    channel = self.channel_id,
                    job = prev.job_id,
                    "prev hash names no future job of ours"
                );
                Mining::Idle
            }
        }
    }

    /// `SetExtranoncePrefix`: later shares use the new prefix, so rebuild the current work.
    pub fn on_extranonce_prefix(&mut self, prefix: Vec<u8>) -> Mining {
        self.extranonce_prefix = prefix;
        match self.active.clone() {
            Some((job, ntime)) => self.activate(job, ntime),
            None => Mining::Unchanged,
        }
    }

    fn activate(&mut self, job: Job, ntime: u32) -> Mining {
        let Some(prev) = self.prev else {
            return Mining::Unchanged;
        };
        if self.live.len() >= MAX_LIVE_JOBS {
            self.live.pop_front();
        }
        if !self.live.contains(&job.job_id) {
            self.live.push_back(job.job_id);
        }
        let work = self.work(&job, prev, ntime);
        self.active = Some((job, ntime));
        Mining::Work(work)
    }

    fn work(&self, job: &Job, prev: PrevHash, ntime: u32) -> Work<ShareTag> {
        let (version, rolling_allowed, merkle) = match &job.spec {
            JobSpec::Standard {
                version,
                merkle_root,
            } => (*version, true, MerkleSource::Fixed(*merkle_root)),
            JobSpec::Extended {
                version,
                version_rolling_allowed,
                coinbase_tx_prefix,
                coinbase_tx_suffix,
                merkle_path,
            } => {
                let merkle = match self.extranonce_size {
                    Some(size) => MerkleSource::Coinbase {
                        prefix: [&coinbase_tx_prefix[..], &self.extranonce_prefix].concat(),
                        extranonce_size: usize::from(size),
                        suffix: coinbase_tx_suffix.clone(),
                        path: merkle_path.clone(),
                    },
                    None => MerkleSource::Fixed(group_job_merkle_root(
                        coinbase_tx_prefix,
                        &self.extranonce_prefix,
                        coinbase_tx_suffix,
                        merkle_path,
                    )),
                };
                (*version, *version_rolling_allowed, merkle)
            }
        };
        Work {
            tag: ShareTag {
                session: self.session,
                channel_id: self.channel_id,
                job_id: job.job_id,
            },
            prev_hash: prev.prev_hash,
            version,
            version_mask: (self.version_rolling && rolling_allowed).then_some(VERSION_ROLLING_MASK),
            nbits: prev.nbits,
            ntime: ntime.max(prev.min_ntime),
            merkle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use work::sha256d;

    #[test]
    fn group_job_merkle_root_is_the_root_of_the_assembled_coinbase() {
        let prefix: Vec<u8> = (0..41u8).collect();
        let extranonce_prefix = vec![0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4];
        let suffix: Vec<u8> = (100..160u8).collect();
        let path = [[1u8; 32], [2u8; 32], [3u8; 32]];
        let coinbase = [&prefix[..], &extranonce_prefix, &suffix].concat();
        let expected = merkle_root(sha256d(&coinbase), &path);
        assert_eq!(
            group_job_merkle_root(&prefix, &extranonce_prefix, &suffix, &path),
            expected
        );
        // With no other transaction the root is the coinbase txid itself.
        assert_eq!(
            group_job_merkle_root(&prefix, &extranonce_prefix, &suffix, &[]),
            sha256d(&coinbase)
        );
        // Another prefix, another root: each channel of a group mines its own header.
        assert_ne!(
            group_job_merkle_root(
                &prefix,
                &[0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 5],
                &suffix,
                &path
            ),
            expected
        );
    }

    fn channel(extranonce_size: Option<u16>) -> MinerChannel {
        MinerChannel::new(ChannelParams {
            unit: 0,
            session: 1,
            channel_id: 5,
            group_channel_id: 9,
            extranonce_size,
            extranonce_prefix: vec![1, 2, 3, 4],
            target: Target::MAX,
            version_rolling: true,
        })
    }

    fn prev(job_id: u32, channel_id: u32) -> SetNewPrevHashOwned {
        SetNewPrevHashOwned {
            channel_id,
            job_id,
            prev_hash: [7u8; 32].into(),
            min_ntime: 1_700_000_000,
            nbits: 0x1d00_ffff,
        }
    }

    fn standard_job(job_id: u32, min_ntime: Option<u32>) -> NewMiningJobOwned {
        NewMiningJobOwned {
            channel_id: 5,
            job_id,
            min_ntime: binary_sv2::Sv2OptionOwned::new(min_ntime),
            version: 0x2000_0000,
            merkle_root: [job_id as u8; 32].into(),
        }
    }

    fn extended_job(job_id: u32, channel_id: u32, rolling: bool) -> NewExtendedMiningJobOwned {
        NewExtendedMiningJobOwned {
            channel_id,
            job_id,
            min_ntime: binary_sv2::Sv2OptionOwned::new(None),
            version: 0x2000_0000,
            version_rolling_allowed: rolling,
            merkle_path: vec![[3u8; 32].into()].try_into().unwrap(),
            coinbase_tx_prefix: vec![0x10, 0x11].try_into().unwrap(),
            coinbase_tx_suffix: vec![0x20].try_into().unwrap(),
        }
    }

    fn work(m: Mining) -> Work<ShareTag> {
        match m {
            Mining::Work(w) => w,
            other => panic!("expected work, got {other:?}"),
        }
    }

    #[test]
    fn future_jobs_wait_for_their_prev_hash() {
        let mut ch = channel(None);
        assert!(matches!(
            ch.on_standard_job(standard_job(1, None)).unwrap(),
            Mining::Unchanged
        ));
        assert!(matches!(
            ch.on_standard_job(standard_job(2, None)).unwrap(),
            Mining::Unchanged
        ));
        let w = work(ch.on_prev_hash(&prev(2, 5)));
        assert_eq!(w.tag.job_id, 2);
        assert_eq!(w.prev_hash, [7; 32]);
        assert_eq!(w.ntime, 1_700_000_000);
        assert_eq!(w.nbits, 0x1d00_ffff);
        assert_eq!(w.version_mask, Some(VERSION_ROLLING_MASK));
        assert!(matches!(w.merkle, MerkleSource::Fixed(r) if r == [2; 32]));
        let tag = |job_id| ShareTag {
            session: 1,
            channel_id: 5,
            job_id,
        };
        assert!(ch.is_live(&tag(2)));
        assert!(!ch.is_live(&tag(1)), "job 1 was dropped by the prev hash");
        assert!(!ch.is_live(&ShareTag {
            session: 2,
            ..tag(2)
        }));

        // A non-future job is mined at once on the current prev hash, from its min_ntime.
        let w = work(
            ch.on_standard_job(standard_job(3, Some(1_700_000_050)))
                .unwrap(),
        );
        assert_eq!((w.tag.job_id, w.ntime), (3, 1_700_000_050));
        assert!(ch.is_live(&tag(2)) && ch.is_live(&tag(3)));

        // A prev hash naming no job we have leaves nothing to mine.
        assert!(matches!(ch.on_prev_hash(&prev(99, 5)), Mining::Idle));
        assert!(!ch.is_live(&tag(3)));
    }

    #[test]
    fn extended_channel_completes_the_coinbase_with_its_prefix() {
        let mut ch = channel(Some(4));
        assert!(ch.on_standard_job(standard_job(1, None)).is_err());
        assert!(matches!(
            ch.on_extended_job(&extended_job(4, 5, false)),
            Mining::Unchanged
        ));
        let w = work(ch.on_prev_hash(&prev(4, 5)));
        assert_eq!(w.version_mask, None, "the job forbids version rolling");
        match &w.merkle {
            MerkleSource::Coinbase {
                prefix,
                extranonce_size,
                suffix,
                path,
            } => {
                assert_eq!(prefix, &[0x10, 0x11, 1, 2, 3, 4]);
                assert_eq!(*extranonce_size, 4);
                assert_eq!(suffix, &[0x20]);
                assert_eq!(path, &[[3u8; 32]]);
            }
            other => panic!("expected a coinbase, got {other:?}"),
        }
        // A new prefix rebuilds the work of the same job.
        let w = work(ch.on_extranonce_prefix(vec![9, 9, 9, 9]));
        assert!(
            matches!(&w.merkle, MerkleSource::Coinbase { prefix, .. } if prefix == &[0x10, 0x11, 9, 9, 9, 9])
        );
    }

    #[test]
    fn standard_channel_turns_a_group_job_into_a_fixed_root() {
        let mut ch = channel(None);
        assert!(ch.addressed_by(9) && ch.addressed_by(5) && !ch.addressed_by(6));
        ch.on_extended_job(&extended_job(4, 9, true));
        let w = work(ch.on_prev_hash(&prev(4, 9)));
        let expected = merkle_root(sha256d(&[0x10, 0x11, 1, 2, 3, 4, 0x20]), &[[3u8; 32]]);
        assert!(matches!(w.merkle, MerkleSource::Fixed(r) if r == expected));
        assert_eq!(w.version_mask, Some(VERSION_ROLLING_MASK));
    }
}
