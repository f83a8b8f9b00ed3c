//! Validation of a device's share at the node (DESIGN.md §4): rebuild the header the device
//! hashed, check it against the device's target, and decide whether it also meets the upstream's.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use work::{coinbase_txid, merkle_root, BlockHeader, Target};

use super::jobs::DeviceJob;

/// How far past the job's ntime (plus the time the job has been out) a device may roll ntime.
pub const MAX_NTIME_ROLL: Duration = Duration::from_secs(600);

/// A share as a device submitted it, with the job already looked up.
#[derive(Debug, Clone, Copy)]
pub struct DeviceShare<'a> {
    /// The device's fixed extranonce start (id and padding).
    pub extranonce_prefix: &'a [u8],
    /// The bytes the device rolled (SV1 extranonce2; empty for an SV2 standard channel).
    pub rolled_extranonce: &'a [u8],
    pub ntime: u32,
    pub nonce: u32,
    pub version_bits: Option<u32>,
    /// SV2 devices send the whole version, which must equal the job's outside the rolling
    /// mask; SV1 firmware varies, so there bits outside the mask are ignored instead.
    pub strict_version: bool,
}

/// Why a share was refused. Each maps to a Stratum V1 error code and an SV2 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareRejection {
    UnknownJob,
    StaleJob,
    Duplicate,
    LowDifficulty,
    Unauthorized,
    NotSubscribed,
    BadExtranonce2Size,
    NtimeOutOfRange,
    /// An SV2 share whose version differs from the job's outside what it may roll.
    VersionNotAllowed,
}

impl ShareRejection {
    /// The de-facto Stratum V1 error code and message.
    pub fn sv1_error(self) -> (i64, &'static str) {
        match self {
            ShareRejection::UnknownJob => (21, "Job not found"),
            ShareRejection::StaleJob => (21, "Stale job"),
            ShareRejection::Duplicate => (22, "Duplicate share"),
            ShareRejection::LowDifficulty => (23, "Low difficulty share"),
            ShareRejection::Unauthorized => (24, "Unauthorized worker"),
            ShareRejection::NotSubscribed => (25, "Not subscribed"),
            ShareRejection::BadExtranonce2Size => (20, "Wrong extranonce2 size"),
            ShareRejection::NtimeOutOfRange => (20, "ntime out of range"),
            ShareRejection::VersionNotAllowed => (20, "Version rolling not allowed"),
        }
    }

    /// The SV2 `SubmitShares.Error` code (mining protocol spec).
    pub fn sv2_error_code(self) -> &'static str {
        use mining_sv2 as m;
        match self {
            ShareRejection::UnknownJob => m::ERROR_CODE_SUBMIT_SHARES_INVALID_JOB_ID,
            ShareRejection::StaleJob => m::ERROR_CODE_SUBMIT_SHARES_STALE_SHARE,
            ShareRejection::Duplicate => m::ERROR_CODE_SUBMIT_SHARES_DUPLICATE_SHARE,
            ShareRejection::LowDifficulty => m::ERROR_CODE_SUBMIT_SHARES_DIFFICULTY_TOO_LOW,
            ShareRejection::Unauthorized | ShareRejection::NotSubscribed => {
                m::ERROR_CODE_SUBMIT_SHARES_INVALID_CHANNEL_ID
            }
            ShareRejection::BadExtranonce2Size => m::ERROR_CODE_SUBMIT_SHARES_BAD_EXTRANONCE_SIZE,
            ShareRejection::NtimeOutOfRange => m::ERROR_CODE_SUBMIT_SHARES_INVALID_SHARE,
            ShareRejection::VersionNotAllowed => m::ERROR_CODE_VERSION_ROLLING_NOT_ALLOWED,
        }
    }

    /// Short stable name for counters and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareRejection::UnknownJob => "unknown-job",
            ShareRejection::StaleJob => "stale",
            ShareRejection::Duplicate => "duplicate",
            ShareRejection::LowDifficulty => "low-difficulty",
            ShareRejection::Unauthorized => "unauthorized",
            ShareRejection::NotSubscribed => "not-subscribed",
            ShareRejection::BadExtranonce2Size => "bad-extranonce2-size",
            ShareRejection::NtimeOutOfRange => "ntime-out-of-range",
            ShareRejection::VersionNotAllowed => "version-not-allowed",
        }
    }
}

/// A share that passed validation.
#[derive(Debug, Clone, Copy)]
pub struct ValidShare {
    pub hash: [u8; 32],
    /// The full header version the device hashed.
    pub version: u32,
}

/// Rebuilds the header of `share` on `job` and checks ntime and the rolled extranonce size.
/// Target checks are the caller's, since it knows which targets apply.
pub fn hash_share(
    job: &DeviceJob,
    share: &DeviceShare<'_>,
    version_mask: u32,
    rollable_extranonce_size: usize,
    now: Instant,
) -> Result<ValidShare, ShareRejection> {
    if share.rolled_extranonce.len() != rollable_extranonce_size {
        return Err(ShareRejection::BadExtranonce2Size);
    }
    let out_for = now.saturating_duration_since(job.issued_at);
    let latest = (job.ntime as u64)
        .saturating_add(out_for.as_secs())
        .saturating_add(MAX_NTIME_ROLL.as_secs());
    if share.ntime < job.min_ntime || share.ntime as u64 > latest {
        return Err(ShareRejection::NtimeOutOfRange);
    }
    // BIP310: only bits inside the granted mask come from the device; some firmware send the
    // full version, so bits outside the mask are ignored rather than refused.
    let mask = if job.version_rolling_allowed {
        version_mask
    } else {
        0
    };
    if let (true, Some(version)) = (share.strict_version, share.version_bits) {
        if (version ^ job.version) & !mask != 0 {
            return Err(ShareRejection::VersionNotAllowed);
        }
    }
    let version = match share.version_bits {
        Some(bits) => (job.version & !mask) | (bits & mask),
        None => job.version,
    };
    let txid = coinbase_txid(&[
        &job.coinb1,
        share.extranonce_prefix,
        share.rolled_extranonce,
        &job.coinb2,
    ]);
    let header = BlockHeader {
        version,
        prev_hash: job.prev_hash,
        merkle_root: merkle_root(txid, &job.merkle_path),
        ntime: share.ntime,
        nbits: job.nbits,
        nonce: share.nonce,
    };
    Ok(ValidShare {
        hash: header.hash(),
        version,
    })
}

/// Most share hashes remembered per chain tip; beyond it the set restarts (the pool still
/// catches duplicates of forwarded shares, and memory stays bounded).
const MAX_SEEN: usize = 1 << 20;

/// Hashes of shares accepted on the current chain tip, to refuse duplicates.
#[derive(Debug, Default)]
pub struct SeenShares {
    seen: HashSet<u128>,
}

impl SeenShares {
    /// Records a share's hash; false if it was already seen.
    pub fn insert(&mut self, hash: &[u8; 32]) -> bool {
        if self.seen.len() >= MAX_SEEN {
            self.seen.clear();
        }
        // The low-order half of a share hash is uniformly random (the high half is mostly the
        // zeros that made it a share), so it identifies the header.
        let mut key = [0u8; 16];
        key.copy_from_slice(&hash[..16]);
        self.seen.insert(u128::from_le_bytes(key))
    }

    pub fn clear(&mut self) {
        self.seen.clear();
    }
}

/// The target a share is credited at: the device's current one, or, for a job sent before its
/// last difficulty change, the previous one (firmware may apply a new difficulty only from the
/// next job on, and its work on older jobs is still real work at the old difficulty).
pub fn credited_target(
    hash: &[u8; 32],
    job_id: u32,
    current: Target,
    previous: Option<PreviousTarget>,
) -> Option<Target> {
    if current.is_met_by(hash) {
        return Some(current);
    }
    match previous {
        Some(previous) if job_id < previous.before_job && previous.target.is_met_by(hash) => {
            Some(previous.target)
        }
        _ => None,
    }
}

/// The target in force before a device's last difficulty change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousTarget {
    pub target: Target,
    /// Jobs with a smaller id were sent while this target was in force.
    pub before_job: u32,
}
