//! One client's job declarations, sans-IO: the tokens it holds, declarations waiting for
//! transactions, and the checks that turn a `DeclareMiningJob` (and the transactions it was
//! missing) into a success or an error. Time is passed in.

use super::coinbase::check_coinbase;
use super::mempool::Mempool;
use super::registry::{DeclaredJob, DeclaredJobs};
use super::token::TokenMint;
use bitcoin::hashes::Hash;
use bitcoin::{Transaction, TxOut};
use job_declaration_sv2::{
    ERROR_CODE_DECLARE_MINING_JOB_INTERNAL_ERROR, ERROR_CODE_DECLARE_MINING_JOB_INVALID_JOB,
    ERROR_CODE_DECLARE_MINING_JOB_INVALID_MINING_JOB_TOKEN,
    ERROR_CODE_DECLARE_MINING_JOB_MISSING_TXS,
};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// What to answer a declaration with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `DeclareMiningJob.Success`; the job is registered under `new_token`.
    Success { request_id: u32, new_token: Vec<u8> },
    /// `DeclareMiningJob.Error`.
    Error {
        request_id: u32,
        code: &'static str,
        details: String,
    },
    /// `ProvideMissingTransactions`: the wtxids at these positions are unknown.
    Missing {
        request_id: u32,
        positions: Vec<u16>,
    },
}

impl Reply {
    fn error(request_id: u32, code: &'static str, details: impl Into<String>) -> Self {
        Reply::Error {
            request_id,
            code,
            details: details.into(),
        }
    }
}

/// What the checks need from the server.
pub(crate) struct Context<'a> {
    /// Outputs every coinbase must pay (by scriptPubKey).
    pub required_outputs: &'a [TxOut],
    /// Refuse every declaration (the test switch).
    pub refuse: bool,
    pub mempool: &'a mut Mempool,
    pub registry: &'a DeclaredJobs,
    pub mint: &'a TokenMint,
}

/// The parts of a `DeclareMiningJob` the checks use.
#[derive(Debug, Clone)]
pub(crate) struct Declaration {
    pub request_id: u32,
    pub token: Vec<u8>,
    pub version: u32,
    pub coinbase_tx_prefix: Vec<u8>,
    pub coinbase_tx_suffix: Vec<u8>,
    pub wtxids: Vec<[u8; 32]>,
}

struct Pending {
    job: DeclaredJob,
    positions: Vec<u16>,
    deadline: Instant,
}

/// One client's tokens and pending declarations.
pub(crate) struct Declarations {
    // Allocated and not yet used, oldest first.
    tokens: VecDeque<Vec<u8>>,
    max_tokens: usize,
    pending: HashMap<u32, Pending>,
    max_pending: usize,
    timeout: Duration,
}

impl Declarations {
    pub fn new(max_tokens: usize, max_pending: usize, timeout: Duration) -> Self {
        Self {
            tokens: VecDeque::new(),
            max_tokens: max_tokens.max(1),
            pending: HashMap::new(),
            max_pending: max_pending.max(1),
            timeout,
        }
    }

    /// A fresh token for this client (forgetting its oldest unused one past the limit).
    pub fn allocate(&mut self, mint: &TokenMint) -> Vec<u8> {
        if self.tokens.len() >= self.max_tokens {
            self.tokens.pop_front();
        }
        let token = mint.mint();
        self.tokens.push_back(token.clone());
        token
    }

    /// Checks a declaration. The token is used up whatever the outcome.
    pub fn declare(&mut self, d: Declaration, ctx: Context<'_>, now: Instant) -> Reply {
        let id = d.request_id;
        let Some(at) = self.tokens.iter().position(|t| *t == d.token) else {
            return Reply::error(
                id,
                ERROR_CODE_DECLARE_MINING_JOB_INVALID_MINING_JOB_TOKEN,
                "token was not allocated on this connection, or was already used",
            );
        };
        self.tokens.remove(at);
        if ctx.refuse {
            return Reply::error(
                id,
                ERROR_CODE_DECLARE_MINING_JOB_INVALID_JOB,
                "this JDS refuses every declaration for now",
            );
        }
        if self.pending.contains_key(&id) {
            return Reply::error(
                id,
                ERROR_CODE_DECLARE_MINING_JOB_INVALID_JOB,
                "a declaration with this request id is already pending",
            );
        }
        let checked = match check_coinbase(
            &d.coinbase_tx_prefix,
            &d.coinbase_tx_suffix,
            ctx.required_outputs,
        ) {
            Ok(c) => c,
            Err(e) => return Reply::error(id, e.code(), e.to_string()),
        };
        let job = DeclaredJob {
            token: Vec::new(),
            version: d.version,
            coinbase_tx_prefix: d.coinbase_tx_prefix,
            coinbase_tx_suffix: d.coinbase_tx_suffix,
            coinbase_outputs: checked.tx.output,
            wtxids: d.wtxids,
        };
        let positions: Vec<u16> = job
            .wtxids
            .iter()
            .enumerate()
            .filter(|(_, w)| !ctx.mempool.contains(w))
            // A Seq064K holds at most 65 535 entries: every position fits.
            .filter_map(|(i, _)| u16::try_from(i).ok())
            .collect();
        if positions.is_empty() {
            return accept(id, job, ctx.registry, ctx.mint);
        }
        if self.pending.len() >= self.max_pending {
            return Reply::error(
                id,
                ERROR_CODE_DECLARE_MINING_JOB_INTERNAL_ERROR,
                "too many declarations waiting for transactions",
            );
        }
        self.pending.insert(
            id,
            Pending {
                job,
                positions: positions.clone(),
                deadline: now + self.timeout,
            },
        );
        Reply::Missing {
            request_id: id,
            positions,
        }
    }

    /// The transactions a pending declaration was missing, in the order asked for. `None` when
    /// no declaration waits under `request_id` (it may have timed out).
    pub fn provide(
        &mut self,
        request_id: u32,
        transactions: Vec<Vec<u8>>,
        ctx: Context<'_>,
    ) -> Option<Reply> {
        let pending = self.pending.remove(&request_id)?;
        if ctx.refuse {
            return Some(Reply::error(
                request_id,
                ERROR_CODE_DECLARE_MINING_JOB_INVALID_JOB,
                "this JDS refuses every declaration for now",
            ));
        }
        if transactions.len() != pending.positions.len() {
            return Some(Reply::error(
                request_id,
                ERROR_CODE_DECLARE_MINING_JOB_INVALID_JOB,
                format!(
                    "{} transactions provided, {} asked for",
                    transactions.len(),
                    pending.positions.len()
                ),
            ));
        }
        let mut verified = Vec::with_capacity(transactions.len());
        for (raw, &position) in transactions.into_iter().zip(&pending.positions) {
            let declared = pending.job.wtxids[usize::from(position)];
            let tx: Transaction = match bitcoin::consensus::encode::deserialize(&raw) {
                Ok(tx) => tx,
                Err(e) => {
                    return Some(Reply::error(
                        request_id,
                        ERROR_CODE_DECLARE_MINING_JOB_INVALID_JOB,
                        format!("transaction at position {position} does not decode: {e}"),
                    ))
                }
            };
            let wtxid = tx.compute_wtxid().to_byte_array();
            if wtxid != declared {
                return Some(Reply::error(
                    request_id,
                    ERROR_CODE_DECLARE_MINING_JOB_INVALID_JOB,
                    format!(
                        "transaction at position {position} has wtxid {}, declared {}",
                        hex::encode(wtxid),
                        hex::encode(declared)
                    ),
                ));
            }
            verified.push((wtxid, raw));
        }
        for (wtxid, raw) in verified {
            ctx.mempool.insert(wtxid, raw);
        }
        Some(accept(request_id, pending.job, ctx.registry, ctx.mint))
    }

    /// Declarations whose transactions did not come in time, refused with `missing-txs`.
    pub fn expire(&mut self, now: Instant) -> Vec<Reply> {
        let expired: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        expired
            .into_iter()
            .map(|id| {
                self.pending.remove(&id);
                Reply::error(
                    id,
                    ERROR_CODE_DECLARE_MINING_JOB_MISSING_TXS,
                    "the missing transactions were not provided in time",
                )
            })
            .collect()
    }
}

fn accept(
    request_id: u32,
    mut job: DeclaredJob,
    registry: &DeclaredJobs,
    mint: &TokenMint,
) -> Reply {
    let new_token = mint.mint();
    job.token = new_token.clone();
    registry.insert(job);
    Reply::Success {
        request_id,
        new_token,
    }
}
