//! Solo mining: while the default route's pool is unreachable, the default route mines the
//! node's own templates paying the configured output, and every block found goes straight to
//! the template provider. Devices on other routes come to the default route when theirs are down
//! too, so with every upstream down the whole farm mines solo.

use std::collections::VecDeque;
use std::time::Duration;

use bitcoin::{Amount, ScriptBuf, TxOut};

use super::coinbase::{self, CoinbaseError};
use super::jobs::{PrevHash, UpstreamJob};
use super::template_events::{Template, TemplateTip};

/// How long the default route's pool must be down before solo mining starts: a pool that only
/// reconnects should not flip the farm back and forth.
pub const SOLO_AFTER: Duration = Duration::from_secs(3);
/// Solo jobs remembered, to find the template of a solution.
const MAX_SOLO_JOBS: usize = 16;

/// Solo mining state.
#[derive(Debug)]
pub struct Solo {
    payout: Vec<TxOut>,
    next_job_id: u32,
    jobs: VecDeque<(u32, u64)>,
    /// The template mined now, while solo.
    pub mining: Option<u64>,
}

impl Solo {
    pub fn new(payout_script: Vec<u8>) -> Solo {
        Solo {
            payout: vec![TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::from_bytes(payout_script),
            }],
            next_job_id: 1,
            jobs: VecDeque::new(),
            mining: None,
        }
    }

    pub fn payout(&self) -> &[TxOut] {
        &self.payout
    }

    /// The solo job for `template` on `tip`, with `extranonce_size` bytes of extranonce.
    pub fn job(
        &mut self,
        template: &Template,
        tip: &TemplateTip,
        tag: &[u8],
        extranonce_size: usize,
    ) -> Result<(UpstreamJob, PrevHash), CoinbaseError> {
        let parts = coinbase::build(template, &self.payout, tag, extranonce_size)?;
        let job_id = self.next_job_id;
        self.next_job_id = self.next_job_id.wrapping_add(1).max(1);
        if self.jobs.len() == MAX_SOLO_JOBS {
            self.jobs.pop_front();
        }
        self.jobs.push_back((job_id, template.template_id));
        self.mining = Some(template.template_id);
        let job = UpstreamJob {
            job_id,
            min_ntime: Some(tip.header_timestamp),
            version: template.version,
            version_rolling_allowed: true,
            merkle_path: template.merkle_path.clone(),
            coinbase_prefix: parts.stripped_prefix,
            coinbase_suffix: parts.stripped_suffix,
        };
        let prev = PrevHash {
            job_id,
            prev_hash: tip.prev_hash,
            min_ntime: tip.header_timestamp,
            nbits: tip.nbits,
        };
        Ok((job, prev))
    }

    /// The template of solo job `job_id`, if it is one.
    pub fn template_of(&self, job_id: u32) -> Option<u64> {
        self.jobs
            .iter()
            .rev()
            .find(|(id, _)| *id == job_id)
            .map(|(_, template)| *template)
    }
}
