//! The SV2 mining-protocol messages exchanged with downstream SV2 devices and proxies, in the
//! core's own owned terms. The network layer converts them from and to the SRI wire types, so the
//! core stays free of codec lifetimes and buffers.

use std::sync::Arc;

use work::Target;

use super::jobs::DeviceJob;

/// SetupConnection flags a mining downstream may send (SV2 spec, mining protocol).
pub mod setup_flags {
    /// The downstream only understands NewMiningJob (header-only devices).
    pub const REQUIRES_STANDARD_JOBS: u32 = 1 << 0;
    /// The downstream wants to declare its own jobs; the node does not offer that downstream.
    pub const REQUIRES_WORK_SELECTION: u32 = 1 << 1;
    /// The downstream needs version rolling on every job.
    pub const REQUIRES_VERSION_ROLLING: u32 = 1 << 2;
    /// Flags the node can honour.
    pub const SUPPORTED: u32 = REQUIRES_STANDARD_JOBS | REQUIRES_VERSION_ROLLING;
}

/// The SV2 protocol version the node speaks.
pub const SV2_VERSION: u16 = 2;
/// SetupConnection `protocol` value of the mining protocol.
pub const MINING_PROTOCOL: u8 = 0;

/// What a downstream SV2 connection sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Sv2Request {
    SetupConnection {
        protocol: u8,
        min_version: u16,
        max_version: u16,
        flags: u32,
        /// Vendor and firmware, for the operator.
        device_info: String,
    },
    OpenStandardChannel {
        request_id: u32,
        user_identity: String,
        nominal_hash_rate: f32,
        max_target: [u8; 32],
    },
    OpenExtendedChannel {
        request_id: u32,
        user_identity: String,
        nominal_hash_rate: f32,
        max_target: [u8; 32],
        min_extranonce_size: u16,
    },
    UpdateChannel {
        channel_id: u32,
        nominal_hash_rate: f32,
        maximum_target: [u8; 32],
    },
    CloseChannel {
        channel_id: u32,
        reason: String,
    },
    SubmitShares(Sv2Submit),
    /// A valid SV2 message a downstream has no business sending to the node.
    Unexpected {
        name: &'static str,
    },
}

/// SubmitSharesStandard / SubmitSharesExtended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sv2Submit {
    pub channel_id: u32,
    pub sequence_number: u32,
    pub job_id: u32,
    pub nonce: u32,
    pub ntime: u32,
    pub version: u32,
    /// The rolled extranonce; `None` for SubmitSharesStandard.
    pub extranonce: Option<Vec<u8>>,
}

/// What the node sends on a downstream SV2 connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Sv2Message {
    SetupConnectionSuccess {
        used_version: u16,
        flags: u32,
    },
    SetupConnectionError {
        /// For `unsupported-feature-flags`: the flags the node cannot honour.
        flags: u32,
        code: &'static str,
    },
    OpenStandardChannelSuccess {
        request_id: u32,
        channel_id: u32,
        target: Target,
        /// The channel's whole extranonce (standard channels roll none of it).
        extranonce_prefix: Vec<u8>,
        group_channel_id: u32,
    },
    OpenExtendedChannelSuccess {
        request_id: u32,
        channel_id: u32,
        target: Target,
        extranonce_size: u16,
        extranonce_prefix: Vec<u8>,
        group_channel_id: u32,
    },
    OpenChannelError {
        request_id: u32,
        code: &'static str,
    },
    /// A job for one standard channel, its merkle root computed by the node.
    NewMiningJob {
        channel_id: u32,
        job_id: u32,
        /// `None` for a future job, activated by the SetNewPrevHash that follows.
        min_ntime: Option<u32>,
        version: u32,
        merkle_root: [u8; 32],
    },
    /// A job for an extended channel, or for every standard channel of a group.
    NewExtendedMiningJob {
        channel_id: u32,
        job: Arc<DeviceJob>,
        /// `None` for a future job, activated by the SetNewPrevHash that follows.
        min_ntime: Option<u32>,
    },
    SetNewPrevHash {
        channel_id: u32,
        job_id: u32,
        prev_hash: [u8; 32],
        min_ntime: u32,
        nbits: u32,
    },
    SetTarget {
        channel_id: u32,
        target: Target,
    },
    SubmitSharesSuccess {
        channel_id: u32,
        last_sequence_number: u32,
        accepted_count: u32,
        shares_sum: u64,
    },
    SubmitSharesError {
        channel_id: u32,
        sequence_number: u32,
        code: &'static str,
    },
    UpdateChannelError {
        channel_id: u32,
        code: &'static str,
    },
}
