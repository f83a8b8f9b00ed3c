//! The job declarator of one route (the JD client's logic, sans-IO): it turns the node's
//! templates into jobs the route's pool accepts. For each new template it spends a token from the
//! route's Job Declaration Server on `DeclareMiningJob` (answering `ProvideMissingTransactions`),
//! then sends the declared job to the pool as `SetCustomMiningJob`, and once the pool gives it a
//! job id the route mines it. Any failure — the JDS refuses or does not answer, the pool refuses
//! the job, either connection is lost — makes the route fall back to the pool's own jobs at once;
//! the declarator tries again later and takes the route back when a declaration goes through.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::TxOut;

use super::coinbase::{self, CoinbaseParts};
use super::jds_events::{CustomJob, JdsCommand, JdsEvent};
use super::jobs::{PrevHash, UpstreamJob};
use super::template_events::{Template, TemplateTip};
use super::template_feed::TemplateTransactions;

/// How long the JDS and then the pool may take to answer a declaration.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long after a failure the declarator tries again (on a live JDS connection).
pub const RETRY_AFTER: Duration = Duration::from_secs(10);
/// Declared jobs remembered, to push the solutions found on them.
const MAX_DECLARED_JOBS: usize = 16;

/// What the declarator needs of the route's channel and the node's templates to declare a job.
#[derive(Debug, Clone, Copy)]
pub struct DeclareContext<'a> {
    pub channel_id: u32,
    /// The pool channel's extranonce prefix length plus its rollable size.
    pub full_extranonce_size: usize,
    pub template: &'a Arc<Template>,
    pub tip: &'a TemplateTip,
    pub transactions: Option<&'a Arc<TemplateTransactions>>,
    pub coinbase_tag: &'a [u8],
    /// Whether the pool's own jobs on this channel let devices roll the version.
    pub version_rolling_allowed: bool,
}

/// What the declarator asks the core to do.
#[derive(Debug, Clone, PartialEq)]
pub enum DeclaratorOutput {
    ToJds(JdsCommand),
    SetCustomJob(CustomJob),
    /// Mine this declared job on the route from now on.
    Mine {
        job: UpstreamJob,
        prev: PrevHash,
    },
    /// Mine the pool's own jobs from now on.
    FallBack {
        reason: String,
    },
}

/// Where the declarator stands, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclaratorState {
    /// No JDS connection yet (or it was lost).
    WaitingForJds,
    /// Connected; a declaration is on its way or about to be.
    Declaring,
    /// The route mines the declared job of this template.
    Mining { template_id: u64 },
    /// The last declaration failed; the route mines the pool's jobs.
    FallenBack { reason: String },
}

/// One declared job the pool accepted.
#[derive(Debug, Clone)]
pub struct DeclaredJob {
    /// The pool's id for it.
    pub job_id: u32,
    pub template_id: u64,
}

/// A declaration in flight.
#[derive(Debug, Clone)]
struct Declaration {
    request_id: u32,
    template: Arc<Template>,
    tip: TemplateTip,
    parts: CoinbaseParts,
    transactions: Arc<TemplateTransactions>,
    channel_id: u32,
    version_rolling_allowed: bool,
    sent_at: Instant,
    /// The JDS accepted it and the job went to the pool.
    custom_job_sent: bool,
}

/// The job declarator of one route.
#[derive(Debug)]
pub struct Declarator {
    state: DeclaratorState,
    jds_connected: bool,
    work_selection: Option<bool>,
    /// The outputs the pool requires, from the last token.
    pool_outputs: Option<Vec<TxOut>>,
    token: Option<Vec<u8>>,
    token_requested: bool,
    next_request_id: u32,
    declaration: Option<Declaration>,
    /// Whether the route mines a declared job now.
    mining: Option<u64>,
    jobs: VecDeque<DeclaredJob>,
    failed_at: Option<Instant>,
    /// Declarations the pool accepted and failures, for the operator.
    pub declared: u64,
    pub fallbacks: u64,
}

impl Default for Declarator {
    fn default() -> Self {
        Declarator {
            state: DeclaratorState::WaitingForJds,
            jds_connected: false,
            work_selection: None,
            pool_outputs: None,
            token: None,
            token_requested: false,
            next_request_id: 1,
            declaration: None,
            mining: None,
            jobs: VecDeque::new(),
            failed_at: None,
            declared: 0,
            fallbacks: 0,
        }
    }
}

impl Declarator {
    pub fn state(&self) -> &DeclaratorState {
        &self.state
    }

    /// The outputs the pool requires in the coinbase, once a JDS said.
    pub fn pool_outputs(&self) -> Option<&[TxOut]> {
        self.pool_outputs.as_deref()
    }

    /// The declared job the pool knows as `job_id`, if it is one of ours.
    pub fn declared_job(&self, job_id: u32) -> Option<&DeclaredJob> {
        self.jobs.iter().rev().find(|j| j.job_id == job_id)
    }

    /// An event of the route's JDS connection.
    pub fn on_jds(&mut self, event: JdsEvent, now: Instant) -> Vec<DeclaratorOutput> {
        match event {
            JdsEvent::Connected => {
                self.jds_connected = true;
                self.token = None;
                self.token_requested = false;
                self.failed_at = None;
                if self.mining.is_none() {
                    self.state = DeclaratorState::Declaring;
                }
                Vec::new()
            }
            JdsEvent::TokenAllocated {
                token,
                coinbase_outputs,
                ..
            } => {
                self.token_requested = false;
                match coinbase::decode_outputs(&coinbase_outputs) {
                    Ok(outputs) if !outputs.is_empty() => {
                        self.pool_outputs = Some(outputs);
                        self.token = Some(token);
                        Vec::new()
                    }
                    Ok(_) => self.fail_and_close("the JDS requires no coinbase output", now),
                    Err(e) => self.fail_and_close(&format!("JDS coinbase outputs: {e}"), now),
                }
            }
            JdsEvent::DeclareSuccess {
                request_id,
                new_token,
            } => self.on_declared(request_id, new_token, now),
            JdsEvent::DeclareError {
                request_id,
                code,
                details,
            } => {
                if self.declaration.as_ref().map(|d| d.request_id) != Some(request_id) {
                    return Vec::new();
                }
                self.declaration = None;
                // The tip moved while the JDS looked at the job: declare the new one, no harm done.
                if code == job_declaration_sv2::ERROR_CODE_DECLARE_MINING_JOB_STALE_CHAIN_TIP {
                    return Vec::new();
                }
                let details = String::from_utf8_lossy(&details).into_owned();
                let reason = if details.is_empty() {
                    format!("JDS refused the declared job: {code}")
                } else {
                    format!("JDS refused the declared job: {code} ({details})")
                };
                self.fail(reason, now)
            }
            JdsEvent::ProvideMissingTransactions {
                request_id,
                positions,
            } => {
                let Some(declaration) = self
                    .declaration
                    .as_ref()
                    .filter(|d| d.request_id == request_id && !d.custom_job_sent)
                else {
                    return Vec::new();
                };
                let raw = &declaration.transactions.raw;
                let transactions: Option<Vec<Vec<u8>>> = positions
                    .iter()
                    .map(|p| raw.get(*p as usize).cloned())
                    .collect();
                match transactions {
                    Some(transactions) => {
                        vec![DeclaratorOutput::ToJds(
                            JdsCommand::ProvideMissingTransactionsSuccess {
                                request_id,
                                transactions,
                            },
                        )]
                    }
                    None => self.fail_and_close(
                        "JDS asked for transactions the declared job does not have",
                        now,
                    ),
                }
            }
            JdsEvent::Disconnected { reason } => {
                let was_connected = self.jds_connected;
                self.jds_connected = false;
                self.token = None;
                self.token_requested = false;
                self.declaration = None;
                if !was_connected && self.mining.is_none() {
                    // A failed reconnection attempt: nothing changes for the devices.
                    if !matches!(self.state, DeclaratorState::FallenBack { .. }) {
                        self.state = DeclaratorState::FallenBack {
                            reason: format!("JDS unreachable: {reason}"),
                        };
                    }
                    return Vec::new();
                }
                self.fail(format!("JDS connection lost: {reason}"), now)
            }
        }
    }

    /// Whether the pool accepted work selection on the route's channel.
    pub fn on_work_selection(&mut self, allowed: bool, now: Instant) -> Vec<DeclaratorOutput> {
        self.work_selection = Some(allowed);
        if allowed {
            Vec::new()
        } else {
            self.fail(
                "the pool does not accept declared jobs (work selection refused)".into(),
                now,
            )
        }
    }

    /// The pool accepted a declared job.
    pub fn on_custom_job_accepted(
        &mut self,
        request_id: u32,
        job_id: u32,
    ) -> Vec<DeclaratorOutput> {
        let Some(declaration) = self
            .declaration
            .take_if(|d| d.request_id == request_id && d.custom_job_sent)
        else {
            return Vec::new();
        };
        self.declared += 1;
        self.failed_at = None;
        let template = &declaration.template;
        let job = UpstreamJob {
            job_id,
            min_ntime: Some(declaration.tip.header_timestamp),
            version: template.version,
            version_rolling_allowed: declaration.version_rolling_allowed,
            merkle_path: template.merkle_path.clone(),
            coinbase_prefix: declaration.parts.stripped_prefix.clone(),
            coinbase_suffix: declaration.parts.stripped_suffix.clone(),
        };
        let prev = PrevHash {
            job_id,
            prev_hash: declaration.tip.prev_hash,
            min_ntime: declaration.tip.header_timestamp,
            nbits: declaration.tip.nbits,
        };
        if self.jobs.len() == MAX_DECLARED_JOBS {
            self.jobs.pop_front();
        }
        self.jobs.push_back(DeclaredJob {
            job_id,
            template_id: template.template_id,
        });
        self.mining = Some(template.template_id);
        self.state = DeclaratorState::Mining {
            template_id: template.template_id,
        };
        vec![DeclaratorOutput::Mine { job, prev }]
    }

    /// The pool refused a declared job.
    pub fn on_custom_job_refused(
        &mut self,
        request_id: u32,
        code: &str,
        now: Instant,
    ) -> Vec<DeclaratorOutput> {
        if self
            .declaration
            .take_if(|d| d.request_id == request_id)
            .is_none()
        {
            return Vec::new();
        }
        self.fail(format!("the pool refused the declared job: {code}"), now)
    }

    /// The route's channel is gone: its declared jobs with it.
    pub fn on_channel_lost(&mut self) {
        self.declaration = None;
        self.mining = None;
        self.work_selection = None;
        self.jobs.clear();
        if self.jds_connected {
            self.state = DeclaratorState::Declaring;
        }
    }

    /// The template provider is gone: no new work can be declared; the route mines the pool's.
    pub fn on_templates_lost(&mut self, reason: &str, now: Instant) -> Vec<DeclaratorOutput> {
        self.declaration = None;
        if self.mining.is_none() {
            return Vec::new();
        }
        self.fail(format!("template provider lost: {reason}"), now)
    }

    /// Moves on: asks for a token, declares the current template if the route does not mine it
    /// yet, and gives up on answers that do not come. Call after every change and on ticks.
    pub fn poll(
        &mut self,
        context: Option<DeclareContext<'_>>,
        now: Instant,
    ) -> Vec<DeclaratorOutput> {
        if let Some(declaration) = &self.declaration {
            if now.saturating_duration_since(declaration.sent_at) < ANSWER_TIMEOUT {
                return Vec::new();
            }
            let seconds = ANSWER_TIMEOUT.as_secs();
            return if declaration.custom_job_sent {
                self.fail(
                    format!("the pool did not answer SetCustomMiningJob within {seconds}s"),
                    now,
                )
            } else {
                self.fail_and_close(
                    &format!("the JDS did not answer DeclareMiningJob within {seconds}s"),
                    now,
                )
            };
        }
        if !self.jds_connected {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.token.is_none() && !self.token_requested {
            self.token_requested = true;
            let request_id = self.take_request_id();
            out.push(DeclaratorOutput::ToJds(JdsCommand::AllocateToken {
                request_id,
            }));
        }
        if self.work_selection != Some(true) {
            return out;
        }
        if self
            .failed_at
            .is_some_and(|at| now.saturating_duration_since(at) < RETRY_AFTER)
        {
            return out;
        }
        let Some(context) = context else {
            return out;
        };
        if self.mining == Some(context.template.template_id) {
            return out;
        }
        let (Some(transactions), Some(outputs)) = (context.transactions, &self.pool_outputs) else {
            return out;
        };
        let Some(token) = self.token.take() else {
            return out;
        };
        let parts = match coinbase::build(
            context.template,
            outputs,
            context.coinbase_tag,
            context.full_extranonce_size,
        ) {
            Ok(parts) => parts,
            Err(e) => {
                out.extend(self.fail(format!("cannot build the declared coinbase: {e}"), now));
                return out;
            }
        };
        let request_id = self.take_request_id();
        out.push(DeclaratorOutput::ToJds(JdsCommand::DeclareMiningJob {
            request_id,
            token,
            version: context.template.version,
            coinbase_tx_prefix: parts.full_prefix.clone(),
            coinbase_tx_suffix: parts.full_suffix.clone(),
            wtxids: transactions.wtxids.clone(),
            excess_data: transactions.excess_data.clone(),
        }));
        self.declaration = Some(Declaration {
            request_id,
            template: context.template.clone(),
            tip: *context.tip,
            parts,
            transactions: transactions.clone(),
            channel_id: context.channel_id,
            version_rolling_allowed: context.version_rolling_allowed,
            sent_at: now,
            custom_job_sent: false,
        });
        if self.mining.is_none() {
            self.state = DeclaratorState::Declaring;
        }
        out
    }

    fn on_declared(
        &mut self,
        request_id: u32,
        new_token: Vec<u8>,
        now: Instant,
    ) -> Vec<DeclaratorOutput> {
        let Some(declaration) = self
            .declaration
            .as_mut()
            .filter(|d| d.request_id == request_id && !d.custom_job_sent)
        else {
            return Vec::new();
        };
        declaration.custom_job_sent = true;
        // The pool's answer gets its own time.
        declaration.sent_at = now;
        let template = &declaration.template;
        let job = CustomJob {
            channel_id: declaration.channel_id,
            request_id,
            token: new_token,
            version: template.version,
            prev_hash: declaration.tip.prev_hash,
            min_ntime: declaration.tip.header_timestamp,
            nbits: declaration.tip.nbits,
            coinbase_tx_version: template.coinbase_tx_version,
            coinbase_prefix: declaration.parts.script_sig_prefix.clone(),
            coinbase_tx_input_n_sequence: template.coinbase_tx_input_sequence,
            coinbase_tx_outputs: declaration.parts.outputs.clone(),
            coinbase_tx_locktime: template.coinbase_tx_locktime,
            merkle_path: template.merkle_path.clone(),
        };
        vec![DeclaratorOutput::SetCustomJob(job)]
    }

    fn take_request_id(&mut self) -> u32 {
        let id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1).max(1);
        id
    }

    /// A failure: the route mines the pool's jobs until a later declaration goes through.
    fn fail(&mut self, reason: String, now: Instant) -> Vec<DeclaratorOutput> {
        self.failed_at = Some(now);
        self.declaration = None;
        self.state = DeclaratorState::FallenBack {
            reason: reason.clone(),
        };
        if self.mining.take().is_some() {
            self.fallbacks += 1;
        }
        vec![DeclaratorOutput::FallBack { reason }]
    }

    /// A failure of the JDS itself: fall back and drop its connection (the client reconnects).
    fn fail_and_close(&mut self, reason: &str, now: Instant) -> Vec<DeclaratorOutput> {
        let mut out = self.fail(reason.to_string(), now);
        out.push(DeclaratorOutput::ToJds(JdsCommand::Close {
            reason: reason.to_string(),
        }));
        out
    }
}
