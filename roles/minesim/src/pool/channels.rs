//! One mining channel (extended or standard) on top of channels_sv2's server state machines:
//! jobs per tip, share validation, batched acknowledgements, vardiff. Sans-IO: every method
//! returns the messages to send.

use super::ShareBlock;
use crate::chain::Tip;
use binary_sv2::{Str0255Owned, U256Owned};
use bitcoin::{Target, TxOut};
use channels_sv2::extranonce_manager::AllocatedExtranoncePrefix;
use channels_sv2::server::error::{ExtendedChannelError, StandardChannelError};
use channels_sv2::server::extended::ExtendedChannel;
use channels_sv2::server::jobs::error::JobFactoryError;
use channels_sv2::server::share_accounting::{ShareValidationError, ShareValidationResult};
use channels_sv2::server::standard::StandardChannel;
use channels_sv2::{Vardiff, VardiffState};
use mining_sv2::*;
use parsers_sv2::MiningOwned;
use std::collections::{HashMap, VecDeque};

/// Custom job ids remembered per channel (to tell shares on them apart); channels_sv2 keeps
/// far fewer past jobs than this.
const KEPT_CUSTOM_JOBS: usize = 64;

/// What the pool made of one share.
#[derive(Debug)]
pub(crate) enum ShareOutcome {
    /// Valid; `difficulty` of the target it was validated against; `block` when it also met
    /// the network target; `custom` when its job was a custom (declared) one.
    Accepted {
        difficulty: f64,
        block: Option<ShareBlock>,
        custom: bool,
    },
    Rejected(MiningOwned, &'static str),
}

enum Kind {
    Extended(Box<ExtendedChannel>),
    Standard(Box<StandardChannel>),
}

#[derive(Default)]
struct Batch {
    count: u32,
    work: f64,
    last_sequence_number: u32,
}

pub(crate) struct PoolChannel {
    id: u32,
    user: String,
    kind: Kind,
    // Target (little-endian) each live job's shares are checked against: the channel target
    // when the job was sent, as channels_sv2 records it.
    job_targets: HashMap<u32, [u8; 32]>,
    batch: Batch,
    vardiff: Option<VardiffState>,
    // Prev hash of the tip the channel mines on (internal byte order).
    tip_prev_hash: [u8; 32],
    // Ids of recent custom jobs, oldest first.
    custom_jobs: VecDeque<u32>,
}

/// Channel parameters common to both kinds.
pub(crate) struct OpenParams {
    pub channel_id: u32,
    pub user: String,
    pub prefix: AllocatedExtranoncePrefix,
    pub max_target: [u8; 32],
    pub nominal_hashrate: f32,
    pub shares_per_minute: f32,
    pub fixed_difficulty: Option<f64>,
    pub vardiff: bool,
}

const POOL_TAG: &str = "minesim";

/// An SV2 error code as a `STR0_255` (our own constants, all far below 255 bytes).
pub(crate) fn str0255(code: &'static str) -> Str0255Owned {
    Str0255Owned::try_from(code)
        .unwrap_or_else(|_| unreachable!("error code longer than 255 bytes"))
}

fn fixed_target(difficulty: f64, max: Target) -> Target {
    Target::from_le_bytes(work::Target::from_difficulty(difficulty).to_le_bytes()).min(max)
}

fn ext_err_code(e: &ExtendedChannelError) -> &'static str {
    match e {
        ExtendedChannelError::OpenChannelInvalidNominalHashrate(c)
        | ExtendedChannelError::UpdateChannelInvalidNominalHashrate(c)
        | ExtendedChannelError::OpenChannelInvalidMaxTarget(c)
        | ExtendedChannelError::UpdateChannelInvalidMaxTarget(c)
        | ExtendedChannelError::RequestedMinExtranonceSizeTooLarge(c) => c,
        _ => "internal-error",
    }
}

fn std_err_code(e: &StandardChannelError) -> &'static str {
    match e {
        StandardChannelError::OpenChannelInvalidNominalHashrate(c)
        | StandardChannelError::UpdateChannelInvalidNominalHashrate(c)
        | StandardChannelError::OpenChannelInvalidMaxTarget(c)
        | StandardChannelError::UpdateChannelInvalidMaxTarget(c) => c,
        _ => "internal-error",
    }
}

fn share_err_code(e: &ShareValidationError) -> &'static str {
    match e {
        ShareValidationError::Invalid(c)
        | ShareValidationError::Stale(c)
        | ShareValidationError::InvalidJobId(c)
        | ShareValidationError::DoesNotMeetTarget(c)
        | ShareValidationError::VersionRollingNotAllowed(c)
        | ShareValidationError::DuplicateShare(c)
        | ShareValidationError::BadExtranonceSize(c) => c,
        ShareValidationError::NoChainTip => ERROR_CODE_SUBMIT_SHARES_STALE_SHARE,
        ShareValidationError::InvalidCoinbase | ShareValidationError::SeenSharesBudgetExhausted => {
            ERROR_CODE_SUBMIT_SHARES_INVALID_SHARE
        }
    }
}

fn custom_job_err_code(e: &ExtendedChannelError) -> &'static str {
    match e {
        ExtendedChannelError::JobFactoryError(JobFactoryError::ScriptSigSizeTooLarge)
        | ExtendedChannelError::JobFactoryError(JobFactoryError::FailedToSerializeCoinbasePrefix)
        | ExtendedChannelError::JobFactoryError(JobFactoryError::CoinbaseTxPrefixError) => {
            ERROR_CODE_SET_CUSTOM_MINING_JOB_INVALID_COINBASE_PREFIX
        }
        ExtendedChannelError::JobFactoryError(JobFactoryError::DeserializeCoinbaseOutputsError)
        | ExtendedChannelError::JobFactoryError(
            JobFactoryError::FailedToSerializeCoinbaseOutputs,
        ) => ERROR_CODE_SET_CUSTOM_MINING_JOB_INVALID_COINBASE_TX_OUTPUTS,
        _ => ERROR_CODE_SET_CUSTOM_MINING_JOB_INVALID_COINBASE_TX,
    }
}

impl PoolChannel {
    /// An extended channel granting `rollable` extranonce bytes. Returns the channel and its
    /// `OpenExtendedMiningChannelSuccess`, or the SV2 error code.
    pub fn open_extended(
        p: OpenParams,
        request_id: u32,
        rollable: u16,
    ) -> Result<(Self, MiningOwned), &'static str> {
        let max = Target::from_le_bytes(p.max_target);
        let prefix_bytes = p.prefix.as_bytes().to_vec();
        let mut ch = ExtendedChannel::new_for_pool(
            p.channel_id,
            p.user.clone(),
            p.prefix,
            max,
            p.nominal_hashrate,
            true,
            rollable,
            usize::MAX,
            p.shares_per_minute,
            POOL_TAG.to_string(),
            None,
        )
        .map_err(|e| ext_err_code(&e))?;
        if let Some(d) = p.fixed_difficulty {
            ch.set_target(fixed_target(d, max))
                .map_err(|e| ext_err_code(&e))?;
        }
        let success =
            MiningOwned::OpenExtendedMiningChannelSuccess(OpenExtendedMiningChannelSuccessOwned {
                request_id,
                channel_id: p.channel_id,
                target: U256Owned::from(ch.get_target().to_le_bytes()),
                extranonce_size: rollable,
                extranonce_prefix: prefix_bytes.try_into().map_err(|_| "internal-error")?,
                group_channel_id: 0,
            });
        Ok((
            Self::new(
                p.channel_id,
                p.user,
                Kind::Extended(Box::new(ch)),
                p.vardiff,
            ),
            success,
        ))
    }

    /// A standard channel (header-only mining). Returns the channel and its
    /// `OpenStandardMiningChannelSuccess`, or the SV2 error code.
    pub fn open_standard(
        p: OpenParams,
        request_id: u32,
    ) -> Result<(Self, MiningOwned), &'static str> {
        let max = Target::from_le_bytes(p.max_target);
        let prefix_bytes = p.prefix.as_bytes().to_vec();
        let mut ch = StandardChannel::new_for_pool(
            p.channel_id,
            p.user.clone(),
            p.prefix,
            max,
            p.nominal_hashrate,
            usize::MAX,
            p.shares_per_minute,
            POOL_TAG.to_string(),
            None,
        )
        .map_err(|e| std_err_code(&e))?;
        if let Some(d) = p.fixed_difficulty {
            ch.set_target(fixed_target(d, max))
                .map_err(|e| std_err_code(&e))?;
        }
        let success =
            MiningOwned::OpenStandardMiningChannelSuccess(OpenStandardMiningChannelSuccessOwned {
                request_id,
                channel_id: p.channel_id,
                target: U256Owned::from(ch.get_target().to_le_bytes()),
                extranonce_prefix: prefix_bytes.try_into().map_err(|_| "internal-error")?,
                group_channel_id: 0,
            });
        Ok((
            Self::new(
                p.channel_id,
                p.user,
                Kind::Standard(Box::new(ch)),
                p.vardiff,
            ),
            success,
        ))
    }

    fn new(id: u32, user: String, kind: Kind, vardiff: bool) -> Self {
        Self {
            id,
            user,
            kind,
            job_targets: HashMap::new(),
            batch: Batch::default(),
            vardiff: if vardiff {
                VardiffState::new().ok()
            } else {
                None
            },
            tip_prev_hash: [0; 32],
            custom_jobs: VecDeque::new(),
        }
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// Prev hash of the tip this channel's jobs build on.
    pub fn tip_prev_hash(&self) -> [u8; 32] {
        self.tip_prev_hash
    }

    fn target(&self) -> Target {
        match &self.kind {
            Kind::Extended(c) => *c.get_target(),
            Kind::Standard(c) => *c.get_target(),
        }
    }

    fn nominal_hashrate(&self) -> f32 {
        match &self.kind {
            Kind::Extended(c) => c.get_nominal_hashrate(),
            Kind::Standard(c) => c.get_nominal_hashrate(),
        }
    }

    /// Moves the channel to `tip`: a future job for its template, then `SetNewPrevHash`.
    pub fn on_tip(&mut self, tip: &Tip, outputs: &[TxOut]) -> Result<Vec<MiningOwned>, String> {
        let template_id = tip.template.template_id;
        let mut msgs = Vec::with_capacity(2);
        let job_id = match &mut self.kind {
            Kind::Extended(c) => {
                c.on_new_template(tip.template.clone(), outputs.to_vec())
                    .map_err(|e| format!("{e:?}"))?;
                let id = c
                    .get_future_job_id_from_template_id(template_id)
                    .ok_or("future job missing")?;
                let job = c.get_future_job(id).ok_or("future job missing")?;
                msgs.push(MiningOwned::NewExtendedMiningJob(
                    job.get_job_message().clone(),
                ));
                c.on_set_new_prev_hash(tip.prev_hash.clone())
                    .map_err(|e| format!("{e:?}"))?;
                id
            }
            Kind::Standard(c) => {
                c.on_new_template(tip.template.clone(), outputs.to_vec())
                    .map_err(|e| format!("{e:?}"))?;
                let id = c
                    .get_future_job_id_from_template_id(template_id)
                    .ok_or("future job missing")?;
                let job = c.get_future_job(id).ok_or("future job missing")?;
                msgs.push(MiningOwned::NewMiningJob(job.get_job_message().clone()));
                c.on_set_new_prev_hash(tip.prev_hash.clone())
                    .map_err(|e| format!("{e:?}"))?;
                id
            }
        };
        self.job_targets.clear();
        self.job_targets.insert(job_id, self.target().to_le_bytes());
        self.tip_prev_hash = tip.prev_hash_bytes();
        msgs.push(MiningOwned::SetNewPrevHash(SetNewPrevHashOwned {
            channel_id: self.id,
            job_id,
            prev_hash: tip.prev_hash.prev_hash.clone(),
            min_ntime: tip.prev_hash.header_timestamp,
            nbits: tip.prev_hash.n_bits,
        }));
        Ok(msgs)
    }

    /// A fresh active job on the current tip, at the channel's current target.
    pub fn refresh_job(&mut self, tip: &Tip, outputs: &[TxOut]) -> Result<MiningOwned, String> {
        let mut template = tip.template.clone();
        template.future_template = false;
        let (job_id, msg) = match &mut self.kind {
            Kind::Extended(c) => {
                c.on_new_template(template, outputs.to_vec())
                    .map_err(|e| format!("{e:?}"))?;
                let job = c.get_active_job().ok_or("no active job")?;
                (
                    job.get_job_id(),
                    MiningOwned::NewExtendedMiningJob(job.get_job_message().clone()),
                )
            }
            Kind::Standard(c) => {
                c.on_new_template(template, outputs.to_vec())
                    .map_err(|e| format!("{e:?}"))?;
                let job = c.get_active_job().ok_or("no active job")?;
                (
                    job.get_job_id(),
                    MiningOwned::NewMiningJob(job.get_job_message().clone()),
                )
            }
        };
        self.job_targets.insert(job_id, self.target().to_le_bytes());
        Ok(msg)
    }

    /// Whether this is an extended channel (the only kind custom jobs go to).
    pub fn is_extended(&self) -> bool {
        matches!(self.kind, Kind::Extended(_))
    }

    /// Installs a custom job (already checked against the pool's policy) as the active job.
    /// Returns its job id, or the `SetCustomMiningJob.Error` code.
    pub fn set_custom_job(&mut self, job: SetCustomMiningJobOwned) -> Result<u32, &'static str> {
        let Kind::Extended(c) = &mut self.kind else {
            return Err(ERROR_CODE_SET_CUSTOM_MINING_JOB_INVALID_CHANNEL_ID);
        };
        let job_id = c
            .on_set_custom_mining_job(job)
            .map_err(|e| custom_job_err_code(&e))?;
        self.job_targets.insert(job_id, self.target().to_le_bytes());
        if self.custom_jobs.len() >= KEPT_CUSTOM_JOBS {
            self.custom_jobs.pop_front();
        }
        self.custom_jobs.push_back(job_id);
        Ok(job_id)
    }

    pub fn submit_extended(&mut self, share: SubmitSharesExtendedOwned) -> ShareOutcome {
        let (seq, job_id) = (share.sequence_number, share.job_id);
        let header = (share.version, share.ntime, share.nonce);
        let result = match &mut self.kind {
            Kind::Extended(c) => c.validate_share(share),
            Kind::Standard(_) => Err(ShareValidationError::Invalid(
                ERROR_CODE_SUBMIT_SHARES_INVALID_CHANNEL_ID,
            )),
        };
        self.account(seq, job_id, header, result)
    }

    pub fn submit_standard(&mut self, share: SubmitSharesStandardOwned) -> ShareOutcome {
        let (seq, job_id) = (share.sequence_number, share.job_id);
        let header = (share.version, share.ntime, share.nonce);
        let result = match &mut self.kind {
            Kind::Standard(c) => c.validate_share(share),
            Kind::Extended(_) => Err(ShareValidationError::Invalid(
                ERROR_CODE_SUBMIT_SHARES_INVALID_CHANNEL_ID,
            )),
        };
        self.account(seq, job_id, header, result)
    }

    /// `header` is the share's (version, ntime, nonce).
    fn account(
        &mut self,
        seq: u32,
        job_id: u32,
        header: (u32, u32, u32),
        result: Result<ShareValidationResult, ShareValidationError>,
    ) -> ShareOutcome {
        let (version, ntime, nonce) = header;
        let block = match result {
            Ok(ShareValidationResult::Valid(_)) => None,
            Ok(ShareValidationResult::BlockFound(hash, template_id, coinbase)) => {
                Some(ShareBlock {
                    hash: bitcoin::hashes::Hash::to_byte_array(hash),
                    template_id,
                    coinbase,
                    version,
                    ntime,
                    nonce,
                })
            }
            Err(e) => {
                let code = share_err_code(&e);
                return ShareOutcome::Rejected(
                    MiningOwned::SubmitSharesError(SubmitSharesErrorOwned {
                        channel_id: self.id,
                        sequence_number: seq,
                        error_code: str0255(code),
                    }),
                    code,
                );
            }
        };
        let target = self
            .job_targets
            .get(&job_id)
            .copied()
            .unwrap_or_else(|| self.target().to_le_bytes());
        let difficulty = work::Target::from_le_bytes(target).difficulty();
        self.batch.count += 1;
        self.batch.work += difficulty;
        self.batch.last_sequence_number = seq;
        if let Some(v) = &mut self.vardiff {
            v.increment_shares_since_last_update();
        }
        ShareOutcome::Accepted {
            difficulty,
            block,
            custom: self.custom_jobs.contains(&job_id),
        }
    }

    /// Shares accepted since the last acknowledgement.
    pub fn pending(&self) -> u32 {
        self.batch.count
    }

    /// The `SubmitShares.Success` for the shares accepted since the last one, if any.
    /// `new_shares_sum` is the sum of their difficulties, rounded down (as SRI does).
    pub fn take_success(&mut self) -> Option<MiningOwned> {
        if self.batch.count == 0 {
            return None;
        }
        let b = std::mem::take(&mut self.batch);
        Some(MiningOwned::SubmitSharesSuccess(SubmitSharesSuccess {
            channel_id: self.id,
            last_sequence_number: b.last_sequence_number,
            new_submits_accepted_count: b.count,
            new_shares_sum: b.work as u64,
        }))
    }

    /// Runs vardiff; on a change returns `SetTarget` and a fresh job at the new target.
    pub fn vardiff_tick(
        &mut self,
        tip: &Tip,
        outputs: &[TxOut],
        shares_per_minute: f32,
    ) -> Vec<MiningOwned> {
        let (hashrate, target) = (self.nominal_hashrate(), self.target());
        let Some(v) = &mut self.vardiff else {
            return Vec::new();
        };
        let new_hashrate = match v.try_vardiff(hashrate, &target, shares_per_minute) {
            Ok(Some(h)) => h,
            _ => return Vec::new(),
        };
        let _ = v.reset_counter();
        let ok = match &mut self.kind {
            Kind::Extended(c) => c.update_channel(new_hashrate, None).is_ok(),
            Kind::Standard(c) => c.update_channel(new_hashrate, None).is_ok(),
        };
        if !ok {
            return Vec::new();
        }
        self.set_target_and_refresh(tip, outputs)
    }

    /// Handles `UpdateChannel`: `SetTarget` (+ fresh job) or `UpdateChannelError`.
    pub fn update(
        &mut self,
        nominal: f32,
        max_target: [u8; 32],
        tip: &Tip,
        outputs: &[TxOut],
    ) -> Vec<MiningOwned> {
        let max = Some(Target::from_le_bytes(max_target));
        let result = match &mut self.kind {
            Kind::Extended(c) => c.update_channel(nominal, max).map_err(|e| ext_err_code(&e)),
            Kind::Standard(c) => c.update_channel(nominal, max).map_err(|e| std_err_code(&e)),
        };
        match result {
            Ok(()) => self.set_target_and_refresh(tip, outputs),
            Err(code) => vec![MiningOwned::UpdateChannelError(UpdateChannelErrorOwned {
                channel_id: self.id,
                error_code: str0255(code),
            })],
        }
    }

    fn set_target_and_refresh(&mut self, tip: &Tip, outputs: &[TxOut]) -> Vec<MiningOwned> {
        let mut msgs = vec![MiningOwned::SetTarget(SetTargetOwned {
            channel_id: self.id,
            maximum_target: U256Owned::from(self.target().to_le_bytes()),
        })];
        match self.refresh_job(tip, outputs) {
            Ok(job) => msgs.push(job),
            Err(e) => tracing::warn!(channel = self.id, "job refresh failed: {e}"),
        }
        msgs
    }
}
