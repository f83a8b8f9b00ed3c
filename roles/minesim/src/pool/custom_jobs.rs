//! Whether a `SetCustomMiningJob` may be mined, before channels_sv2 builds it: the token under
//! the pool's policy, the declaration it names, and (following a template provider) the tip.
//! Pure.

use super::config::CustomJobs;
use crate::chain::Tip;
use bitcoin::consensus::Decodable;
use bitcoin::TxOut;
use mining_sv2::*;

/// Checks `job` against `policy` and, when the pool follows a template provider, against its
/// current `tip`. Returns the `SetCustomMiningJob.Error` code on refusal.
pub(crate) fn check_custom_job(
    policy: &CustomJobs,
    tip: Option<&Tip>,
    job: &SetCustomMiningJobOwned,
) -> Result<(), &'static str> {
    match policy {
        CustomJobs::Refuse => return Err(ERROR_CODE_SET_CUSTOM_MINING_JOB_JD_NOT_SUPPORTED),
        CustomJobs::AcceptAnyToken => {}
        CustomJobs::Registry(registry) => {
            let declared = registry
                .get(job.token.as_bytes())
                .ok_or(ERROR_CODE_SET_CUSTOM_MINING_JOB_INVALID_MINING_JOB_TOKEN)?;
            if declared.version != job.version {
                return Err(ERROR_CODE_SET_CUSTOM_MINING_JOB_INVALID_VERSION);
            }
            let outputs =
                Vec::<TxOut>::consensus_decode(&mut job.coinbase_tx_outputs.as_bytes())
                    .map_err(|_| ERROR_CODE_SET_CUSTOM_MINING_JOB_INVALID_COINBASE_TX_OUTPUTS)?;
            if outputs != declared.coinbase_outputs {
                return Err(ERROR_CODE_SET_CUSTOM_MINING_JOB_INVALID_COINBASE_TX_OUTPUTS);
            }
        }
    }
    if let Some(tip) = tip {
        if job.prev_hash.as_bytes() != tip.prev_hash_bytes().as_slice() {
            return Err(ERROR_CODE_SET_CUSTOM_MINING_JOB_STALE_CHAIN_TIP);
        }
        if job.nbits != tip.nbits() {
            return Err(ERROR_CODE_SET_CUSTOM_MINING_JOB_INVALID_NBITS);
        }
        if job.min_ntime < tip.prev_hash.header_timestamp {
            return Err(ERROR_CODE_SET_CUSTOM_MINING_JOB_INVALID_MIN_NTIME);
        }
    }
    Ok(())
}
