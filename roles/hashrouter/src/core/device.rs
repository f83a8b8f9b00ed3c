//! One device as the core sees it — a Stratum V1 connection or one SV2 channel — with its session
//! state, its extranonce, its difficulty and its counters. The wire formats are parsed by the
//! network layer into [`DeviceRequest`] (SV1) and [`super::Sv2Request`] (SV2).

use std::time::Instant;

use work::Target;

use super::share::PreviousTarget;
use super::vardiff::{Vardiff, VardiffConfig};

/// A node-unique device number. Its 4 big-endian bytes start the device's extranonce (the SV1
/// `extranonce1`, the SV2 channel's extranonce prefix), so the device's work stays distinct
/// whichever pool it goes to (DESIGN.md §3). For an SV2 channel it is also the channel id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub u32);

impl DeviceId {
    /// Ids stay below this so SV2 group channel ids (high bit set) never collide with them.
    pub const LIMIT: u32 = 0x8000_0000;

    pub fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
}

/// Id of one downstream SV2 connection (a Noise session, which may carry many channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u32);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// What kind of downstream a device is, and how to reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A Stratum V1 connection (through the node's translator).
    Sv1,
    /// A header-only SV2 standard channel; the node computes its merkle roots.
    Sv2Standard { connection: ConnectionId },
    /// An SV2 extended channel, typically a proxy standing for many machines.
    Sv2Extended { connection: ConnectionId },
}

impl DeviceKind {
    pub fn connection(self) -> Option<ConnectionId> {
        match self {
            DeviceKind::Sv1 => None,
            DeviceKind::Sv2Standard { connection } | DeviceKind::Sv2Extended { connection } => {
                Some(connection)
            }
        }
    }

    /// Short stable name for the operator.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Sv1 => "sv1",
            DeviceKind::Sv2Standard { .. } => "sv2-standard",
            DeviceKind::Sv2Extended { .. } => "sv2-extended",
        }
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// A JSON-RPC id exactly as the device sent it, echoed in the answer.
pub type RequestId = sv1::Id<'static>;

/// What a device asked for, in the core's own terms (owned; parsed by the network layer).
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceRequest {
    Configure {
        id: RequestId,
        /// Requested version-rolling mask, if the device asked for version rolling.
        version_rolling_mask: Option<u32>,
        minimum_difficulty: Option<f64>,
        /// Extensions we do not implement, answered `false`.
        unsupported: Vec<String>,
        /// Whether `subscribe-extranonce` and `info` were asked (answered, nothing to do).
        subscribe_extranonce: bool,
        info: bool,
    },
    Subscribe {
        id: RequestId,
        user_agent: Option<String>,
    },
    Authorize {
        id: RequestId,
        user: String,
    },
    ExtranonceSubscribe {
        id: RequestId,
    },
    SuggestDifficulty {
        id: RequestId,
        difficulty: f64,
    },
    Submit {
        id: RequestId,
        submit: Submit,
    },
    Unknown {
        id: RequestId,
        method: String,
    },
}

/// `mining.submit` parameters the core uses. The worker name is not among them: a connection
/// is one device whatever name it submits under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// The job id as the device sent it; node job ids are lower-case hex.
    pub job_id: String,
    pub extranonce2: sv1::Extranonce2,
    pub ntime: u32,
    pub nonce: u32,
    pub version_bits: Option<u32>,
}

/// Share counters of one device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceCounters {
    pub accepted: u64,
    /// Sum of the difficulties of accepted shares (×2^32 = hashes).
    pub accepted_work: f64,
    pub rejected: u64,
    pub stale: u64,
    /// Shares that met the upstream target and were sent to the pool.
    pub forwarded: u64,
}

/// Accepted shares of an SV2 channel not yet acknowledged (SubmitShares.Success is batched).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PendingAcks {
    pub count: u32,
    pub last_sequence_number: u32,
    pub difficulty_sum: f64,
}

/// Session of one device.
#[derive(Debug)]
pub struct Device {
    pub id: DeviceId,
    pub kind: DeviceKind,
    /// The route the device mines for now (the scheduler moves it).
    pub route: super::RouteId,
    pub connected_at: Instant,
    /// The fixed start of the device's extranonce: its id, then zero padding up to the
    /// node's per-device extranonce size minus what the device rolls.
    pub extranonce_prefix: Vec<u8>,
    /// Extranonce bytes the device rolls itself (SV1 extranonce2, SV2 extended rollable part).
    pub rollable_extranonce_size: usize,
    pub subscribed: bool,
    pub user_agent: Option<String>,
    /// Worker names the device authorized (usually one).
    pub workers: Vec<String>,
    /// Version-rolling mask granted at `mining.configure` (0 = none).
    pub version_mask: u32,
    /// Lowest difficulty the device asked to get (`minimum-difficulty`).
    pub minimum_difficulty: Option<f64>,
    pub vardiff: Vardiff,
    pub target: Target,
    /// Target before the last difficulty change, for shares on jobs sent before it.
    pub previous_target: Option<PreviousTarget>,
    /// Id of the last job sent, so a new device or upstream gets the current one exactly once.
    pub last_job_sent: Option<u32>,
    pub counters: DeviceCounters,
    /// When its last valid share came.
    pub last_share_at: Option<Instant>,
    /// SV2 only: accepted shares waiting for the next SubmitShares.Success.
    pub pending_acks: PendingAcks,
}

impl Device {
    /// A device rolling `rollable` of the node's `device_extranonce_size` bytes after its id.
    pub fn new(
        id: DeviceId,
        kind: DeviceKind,
        device_extranonce_size: usize,
        rollable: usize,
        vardiff: &VardiffConfig,
        now: Instant,
    ) -> Self {
        let vardiff = Vardiff::new(vardiff, now);
        let mut extranonce_prefix = id.to_be_bytes().to_vec();
        extranonce_prefix.resize(4 + device_extranonce_size.saturating_sub(rollable), 0);
        Device {
            id,
            kind,
            route: super::RouteId::DEFAULT,
            connected_at: now,
            last_share_at: None,
            extranonce_prefix,
            rollable_extranonce_size: rollable,
            subscribed: false,
            user_agent: None,
            workers: Vec::new(),
            version_mask: 0,
            minimum_difficulty: None,
            target: Target::from_difficulty(vardiff.difficulty()),
            vardiff,
            previous_target: None,
            last_job_sent: None,
            counters: DeviceCounters::default(),
            pending_acks: PendingAcks::default(),
        }
    }

    /// Whether the device may receive jobs and submit shares.
    pub fn is_ready(&self) -> bool {
        self.subscribed && !self.workers.is_empty()
    }

    /// Applies a new difficulty from the next job on (`next_job_id`), remembering the old
    /// target for shares on earlier jobs. Returns the difficulty actually set.
    pub fn set_difficulty(&mut self, difficulty: f64, next_job_id: u32) -> f64 {
        let difficulty = match self.minimum_difficulty {
            Some(floor) => difficulty.max(floor),
            None => difficulty,
        };
        self.previous_target = Some(PreviousTarget {
            target: self.target,
            before_job: next_job_id,
        });
        self.target = Target::from_difficulty(difficulty);
        difficulty
    }

    /// Hashrate estimate in H/s from accepted work since the device connected.
    pub fn hashrate(&self, now: Instant) -> f64 {
        let secs = now
            .saturating_duration_since(self.connected_at)
            .as_secs_f64();
        if secs < 1.0 {
            return 0.0;
        }
        work::work_of_difficulty(self.counters.accepted_work) / secs
    }
}
