//! Why the V1 pool refuses a share, with the de-facto Stratum V1 error codes.

/// A refused `mining.submit`. Codes follow what V1 pools answer in practice: 20 other,
/// 21 job not found (or stale), 22 duplicate, 23 low difficulty, 24 unauthorized worker,
/// 25 not subscribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The job id was never sent on this connection (or is long gone).
    JobNotFound,
    /// The job belongs to a tip that a clean job replaced.
    StaleJob,
    Duplicate,
    LowDifficulty,
    /// The worker in the submit was not authorized on this connection.
    Unauthorized,
    NotSubscribed,
    /// The extranonce2 is not `extranonce2_size` bytes.
    Extranonce2Size,
    /// ntime before the job's or too far in the future.
    NtimeOutOfRange,
    /// Version bits outside the granted version-rolling mask.
    VersionBits,
}

impl RejectReason {
    /// The JSON-RPC error code sent to the miner.
    pub fn code(self) -> i64 {
        match self {
            RejectReason::JobNotFound | RejectReason::StaleJob => 21,
            RejectReason::Duplicate => 22,
            RejectReason::LowDifficulty => 23,
            RejectReason::Unauthorized => 24,
            RejectReason::NotSubscribed => 25,
            RejectReason::Extranonce2Size
            | RejectReason::NtimeOutOfRange
            | RejectReason::VersionBits => 20,
        }
    }

    /// The key under which [`V1PoolStats`](super::V1PoolStats) counts it.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::JobNotFound => "job-not-found",
            RejectReason::StaleJob => "stale-job",
            RejectReason::Duplicate => "duplicate",
            RejectReason::LowDifficulty => "low-difficulty",
            RejectReason::Unauthorized => "unauthorized",
            RejectReason::NotSubscribed => "not-subscribed",
            RejectReason::Extranonce2Size => "extranonce2-size",
            RejectReason::NtimeOutOfRange => "ntime-out-of-range",
            RejectReason::VersionBits => "version-bits",
        }
    }

    /// The error message sent to the miner.
    pub fn message(self) -> &'static str {
        match self {
            RejectReason::JobNotFound => "job not found",
            RejectReason::StaleJob => "stale job",
            RejectReason::Duplicate => "duplicate share",
            RejectReason::LowDifficulty => "low difficulty share",
            RejectReason::Unauthorized => "unauthorized worker",
            RejectReason::NotSubscribed => "not subscribed",
            RejectReason::Extranonce2Size => "incorrect size of extranonce2",
            RejectReason::NtimeOutOfRange => "ntime out of range",
            RejectReason::VersionBits => "version bits outside the mask",
        }
    }
}
