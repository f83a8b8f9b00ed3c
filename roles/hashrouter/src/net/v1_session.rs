//! One connection to a Stratum V1 pool, sans-IO: the handshake (`mining.configure`,
//! `mining.subscribe`, `mining.authorize`, sent at once), the pool's lines translated into the
//! core's upstream events, and the core's shares written as `mining.submit` lines.
//!
//! How V1 maps onto the core's aggregated channel (DESIGN.md §3): the pool's extranonce1 is the
//! channel's extranonce prefix (the core folds it into each device job's coinb1) and its
//! extranonce2 the channel's rollable extranonce, which must hold the device id and the
//! devices' own extranonce2. A `mining.notify` on a new tip (or with `clean_jobs`) becomes a
//! future job plus SetNewPrevHash; any other one a job for the current tip.
//! `mining.set_difficulty` applies from the pool's next job, so it reaches the core as
//! [`UpstreamEvent::SetTargetForNewJobs`] and shares on earlier jobs keep their difficulty;
//! only the connection's first difficulty applies to jobs already received (pools send it
//! before the first job; one that sends it after means it for that job too).

use std::collections::VecDeque;
use std::time::Duration;

use sv1::encode::client::{self as encode, ConfigureRequest, RawSubmit};
use sv1::{parse_server, Id, Notify, Response, ServerMessage, DEFAULT_VERSION_MASK};
use tracing::{debug, info, warn};
use work::Target;

use super::v1_job_ids::JobIds;
use crate::core::{UpstreamEvent, UpstreamJob, UpstreamShare, DEVICE_ID_BYTES};

const CONFIGURE_ID: u64 = 1;
const SUBSCRIBE_ID: u64 = 2;
const AUTHORIZE_ID: u64 = 3;
/// Submit ids start here, clear of the handshake's.
const FIRST_SUBMIT_ID: u64 = 16;
/// Submits the pool may leave unanswered before the connection is considered broken.
pub const MAX_UNANSWERED: usize = 4096;
/// The stratum difficulty in force until the pool's first `mining.set_difficulty`.
pub const DEFAULT_DIFFICULTY: f64 = 1.0;
/// Version bits asked for: all of BIP310's recommended mask, which is what devices are granted.
const MIN_VERSION_BITS: u32 = 16;
/// Most bytes of a bad line quoted in an error.
const QUOTED_LINE: usize = 200;
const USER_AGENT: &str = concat!("hashrouter/", env!("CARGO_PKG_VERSION"));

/// Why a connection to a V1 pool ends, as far as the protocol is concerned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionEnd {
    #[error("malformed line from the pool ({error}): {line}")]
    Malformed { error: String, line: String },
    #[error("pool refused mining.subscribe: {0}")]
    SubscribeRefused(String),
    #[error("pool refused mining.authorize for `{user}`: {reason}")]
    AuthorizeRefused { user: String, reason: String },
    #[error(
        "pool's extranonce2_size is {granted} bytes, the node needs {needed} ({DEVICE_ID_BYTES}-byte \
         device id + the devices' extranonce2; see sv1.extranonce2_size and \
         sv2.max_extranonce_size): the pool must give a wider extranonce2"
    )]
    Extranonce2TooSmall { granted: usize, needed: usize },
    #[error("pool changed extranonce2_size from {from} to {to} bytes on an open connection")]
    Extranonce2SizeChanged { from: usize, to: usize },
    #[error("pool left {0} submits unanswered")]
    Unanswered(usize),
    #[error("pool asked us to reconnect (client.reconnect)")]
    Reconnect {
        host: Option<String>,
        port: Option<u16>,
        wait: Duration,
    },
}

/// A submit sent and not yet reported to the core.
#[derive(Debug, Clone, Copy)]
struct Submitted {
    id: u64,
    sequence_number: u32,
    /// Answered `true`, waiting for earlier submits' answers (the core acknowledges shares in
    /// sequence order).
    accepted: bool,
}

/// The protocol state of one connection.
#[derive(Debug)]
pub struct V1Session {
    user: String,
    /// Rollable extranonce bytes the node needs.
    needed: usize,
    /// Lines to write to the pool.
    out: Vec<u8>,
    /// Events for the core, in order.
    events: Vec<UpstreamEvent>,
    /// extranonce1 and extranonce2 size, from the subscribe answer or `mining.set_extranonce`.
    extranonce: Option<(Vec<u8>, usize)>,
    authorized: bool,
    open: bool,
    /// The granted version-rolling mask (within BIP310's); `None`: no version rolling.
    version_mask: Option<u32>,
    difficulty: Option<f64>,
    /// The last job announced before the channel opened.
    early_job: Option<Notify<'static>>,
    /// Prev hash and nbits of the last job passed on.
    tip: Option<([u8; 32], u32)>,
    jobs: JobIds,
    next_id: u64,
    submits: VecDeque<Submitted>,
}

impl V1Session {
    /// A session authorizing as `user`, for a node needing `needed` rollable extranonce bytes;
    /// `lmr_contract` names the Lumerin contract the connection delivers, for a validator.
    /// The handshake's three requests are in [`V1Session::take_output`] at once.
    pub fn new(user: &str, password: &str, needed: usize, lmr_contract: Option<&str>) -> Self {
        let mut out = Vec::with_capacity(1024);
        let request = ConfigureRequest {
            version_rolling: Some((DEFAULT_VERSION_MASK, MIN_VERSION_BITS)),
            lmr_contract_address: lmr_contract,
            ..Default::default()
        };
        // Only a non-finite minimum difficulty can fail to encode, and there is none.
        let _ = encode::configure(&mut out, &Id::from(CONFIGURE_ID), &request);
        encode::subscribe(&mut out, &Id::from(SUBSCRIBE_ID), Some(USER_AGENT), None);
        encode::authorize(&mut out, &Id::from(AUTHORIZE_ID), user, password);
        V1Session {
            user: user.to_string(),
            needed,
            out,
            events: Vec::new(),
            extranonce: None,
            authorized: false,
            open: false,
            version_mask: None,
            difficulty: None,
            early_job: None,
            tip: None,
            jobs: JobIds::default(),
            next_id: FIRST_SUBMIT_ID,
            submits: VecDeque::new(),
        }
    }

    /// Whether the channel was reported open (subscribed and authorized).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Bytes to write to the pool.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Events for the core, oldest first.
    pub fn take_events(&mut self) -> Vec<UpstreamEvent> {
        std::mem::take(&mut self.events)
    }

    /// One line from the pool (without its newline).
    pub fn on_line(&mut self, line: &[u8]) -> Result<(), SessionEnd> {
        let message = parse_server(line).map_err(|e| malformed(e, line))?;
        match message {
            ServerMessage::Notify(notify) => self.on_notify(notify),
            ServerMessage::SetDifficulty(difficulty) => self.on_difficulty(difficulty),
            ServerMessage::SetExtranonce {
                extranonce1,
                extranonce2_size,
            } => self.on_set_extranonce(extranonce1, extranonce2_size)?,
            ServerMessage::SetVersionMask(mask) => {
                if self.version_mask.is_some() {
                    self.version_mask = Some(mask & DEFAULT_VERSION_MASK);
                    info!(
                        mask = format_args!("{mask:08x}"),
                        "pool changed the version mask"
                    );
                }
            }
            ServerMessage::Reconnect(r) => {
                return Err(SessionEnd::Reconnect {
                    host: r.host.map(|h| h.into_owned()),
                    port: r.port,
                    wait: Duration::from_secs(r.wait_seconds.unwrap_or(0)),
                })
            }
            ServerMessage::Unknown { method, .. } => debug!(%method, "ignored pool method"),
            ServerMessage::Response(response) => self.on_response(&response, line)?,
        }
        Ok(())
    }

    /// A share the core forwards: a `mining.submit` line, or an error event at once when it
    /// cannot be sent on this connection.
    pub fn submit(&mut self, share: UpstreamShare) -> Result<(), SessionEnd> {
        let size = self.extranonce.as_ref().map_or(0, |(_, size)| *size);
        let refuse = |code: String| UpstreamEvent::SubmitError {
            sequence_number: share.sequence_number,
            code,
        };
        let Some(job_id) = self.jobs.get(share.job_id) else {
            self.events
                .push(refuse("job no longer known to the node".into()));
            return Ok(());
        };
        if share.extranonce.len() != size {
            self.events.push(refuse(format!(
                "extranonce2 of {} bytes, the pool expects {size}",
                share.extranonce.len()
            )));
            return Ok(());
        }
        if self.submits.len() >= MAX_UNANSWERED {
            return Err(SessionEnd::Unanswered(self.submits.len()));
        }
        let id = self.next_id;
        self.next_id += 1;
        encode::submit_raw(
            &mut self.out,
            &Id::from(id),
            &RawSubmit {
                worker: &self.user,
                job_id,
                extranonce2: &share.extranonce,
                ntime: share.ntime,
                nonce: share.nonce,
                version_bits: self.version_mask.map(|mask| share.version & mask),
            },
        );
        self.submits.push_back(Submitted {
            id,
            sequence_number: share.sequence_number,
            accepted: false,
        });
        Ok(())
    }

    fn on_notify(&mut self, notify: Notify<'_>) {
        let notify = Notify {
            job_id: notify.job_id.into_owned().into(),
            prev_hash: notify.prev_hash,
            coinb1: notify.coinb1,
            coinb2: notify.coinb2,
            merkle_branch: notify.merkle_branch,
            version: notify.version,
            nbits: notify.nbits,
            ntime: notify.ntime,
            clean_jobs: notify.clean_jobs,
        };
        if self.open {
            self.pass_on_job(notify);
        } else {
            // Only the latest matters: it becomes the first job once the channel is open.
            self.early_job = Some(notify);
        }
    }

    fn pass_on_job(&mut self, notify: Notify<'_>) {
        let job_id = self.jobs.insert(&notify.job_id);
        let new_tip = notify.clean_jobs || self.tip != Some((notify.prev_hash, notify.nbits));
        self.tip = Some((notify.prev_hash, notify.nbits));
        self.events.push(UpstreamEvent::NewJob(UpstreamJob {
            job_id,
            min_ntime: (!new_tip).then_some(notify.ntime),
            version: notify.version,
            version_rolling_allowed: self.version_mask == Some(DEFAULT_VERSION_MASK),
            merkle_path: notify.merkle_branch,
            coinbase_prefix: notify.coinb1,
            coinbase_suffix: notify.coinb2,
        }));
        if new_tip {
            self.events.push(UpstreamEvent::SetNewPrevHash {
                job_id,
                prev_hash: notify.prev_hash,
                min_ntime: notify.ntime,
                nbits: notify.nbits,
            });
        }
    }

    fn on_difficulty(&mut self, difficulty: f64) {
        let first = self.difficulty.is_none();
        self.difficulty = Some(difficulty);
        if !self.open {
            return;
        }
        let target = Target::from_difficulty(difficulty).to_le_bytes();
        self.events.push(if first {
            UpstreamEvent::SetTarget { target }
        } else {
            UpstreamEvent::SetTargetForNewJobs { target }
        });
    }

    fn on_set_extranonce(
        &mut self,
        extranonce1: Vec<u8>,
        extranonce2_size: usize,
    ) -> Result<(), SessionEnd> {
        if extranonce2_size < self.needed {
            return Err(SessionEnd::Extranonce2TooSmall {
                granted: extranonce2_size,
                needed: self.needed,
            });
        }
        if let (true, Some((_, size))) = (self.open, &self.extranonce) {
            // The core's channel has a fixed rollable size; a new one needs a new channel.
            if *size != extranonce2_size {
                return Err(SessionEnd::Extranonce2SizeChanged {
                    from: *size,
                    to: extranonce2_size,
                });
            }
        }
        if self.open {
            self.events.push(UpstreamEvent::SetExtranoncePrefix {
                extranonce_prefix: extranonce1.clone(),
            });
        }
        self.extranonce = Some((extranonce1, extranonce2_size));
        Ok(())
    }

    fn on_response(&mut self, response: &Response<'_>, line: &[u8]) -> Result<(), SessionEnd> {
        let Some(id) = response.id.as_u64() else {
            debug!(id = ?response.id, "answer to no request of ours");
            return Ok(());
        };
        match id {
            CONFIGURE_ID => {
                let granted = match (&response.error, response.configure()) {
                    (None, Ok(answer)) => answer.version_rolling_mask,
                    _ => None,
                };
                self.version_mask = granted
                    .map(|mask| mask & DEFAULT_VERSION_MASK)
                    .filter(|mask| *mask != 0);
                match self.version_mask {
                    Some(DEFAULT_VERSION_MASK) => info!("pool grants version rolling"),
                    Some(mask) => warn!(
                        mask = format_args!("{mask:08x}"),
                        "pool grants only part of the version-rolling mask: jobs without version rolling"
                    ),
                    None => info!("pool does not offer version rolling: jobs without it"),
                }
            }
            SUBSCRIBE_ID => {
                if let Some(error) = &response.error {
                    return Err(SessionEnd::SubscribeRefused(error.message.to_string()));
                }
                let answer = response.subscribe().map_err(|e| malformed(e, line))?;
                if answer.extranonce2_size < self.needed {
                    return Err(SessionEnd::Extranonce2TooSmall {
                        granted: answer.extranonce2_size,
                        needed: self.needed,
                    });
                }
                self.extranonce = Some((answer.extranonce1, answer.extranonce2_size));
                self.try_open();
            }
            AUTHORIZE_ID => {
                if !response.is_true() {
                    return Err(SessionEnd::AuthorizeRefused {
                        user: self.user.clone(),
                        reason: refusal(response),
                    });
                }
                self.authorized = true;
                self.try_open();
            }
            id if id >= FIRST_SUBMIT_ID => self.on_submit_answer(id, response),
            _ => debug!(id, "answer to no request of ours"),
        }
        Ok(())
    }

    /// Reports the channel once subscribed and authorized, then the job the pool sent first.
    fn try_open(&mut self) {
        if self.open || !self.authorized {
            return;
        }
        let Some((extranonce1, extranonce2_size)) = &self.extranonce else {
            return;
        };
        self.open = true;
        let difficulty = self.difficulty.unwrap_or(DEFAULT_DIFFICULTY);
        self.events.push(UpstreamEvent::ChannelOpened {
            channel_id: 0,
            target: Target::from_difficulty(difficulty).to_le_bytes(),
            extranonce_prefix: extranonce1.clone(),
            extranonce_size: *extranonce2_size as u16,
        });
        if let Some(job) = self.early_job.take() {
            self.pass_on_job(job);
        }
    }

    fn on_submit_answer(&mut self, id: u64, response: &Response<'_>) {
        let Some(position) = self.submits.iter().position(|s| s.id == id) else {
            debug!(id, "answer to a submit we do not know");
            return;
        };
        if response.is_true() {
            if let Some(submitted) = self.submits.get_mut(position) {
                submitted.accepted = true;
            }
        } else if let Some(submitted) = self.submits.remove(position) {
            self.events.push(UpstreamEvent::SubmitError {
                sequence_number: submitted.sequence_number,
                code: refusal(response),
            });
        }
        // The core acknowledges every share up to a sequence number: report the accepted
        // submits at the front, never past one still unanswered.
        let mut accepted_count = 0;
        let mut last = None;
        while let Some(front) = self.submits.front().filter(|s| s.accepted) {
            last = Some(front.sequence_number);
            accepted_count += 1;
            self.submits.pop_front();
        }
        if let Some(last_sequence_number) = last {
            self.events.push(UpstreamEvent::SubmitSuccess {
                last_sequence_number,
                accepted_count,
                shares_sum: 0,
            });
        }
    }
}

/// Why the pool said no, in its words.
fn refusal(response: &Response<'_>) -> String {
    match &response.error {
        Some(error) if !error.message.is_empty() => error.message.to_string(),
        Some(error) => format!("error {}", error.code),
        None => format!(
            "answered {}",
            response.result.map_or("null", |result| result.get())
        ),
    }
}

fn malformed(error: impl std::fmt::Display, line: &[u8]) -> SessionEnd {
    let quoted = line.get(..QUOTED_LINE).unwrap_or(line);
    let mut text = String::from_utf8_lossy(quoted).into_owned();
    if line.len() > QUOTED_LINE {
        text.push('…');
    }
    SessionEnd::Malformed {
        error: error.to_string(),
        line: text,
    }
}

/// Where `client.reconnect` sends us: its host and port, each defaulting to the current
/// endpoint's (`host:port`, IPv6 in brackets).
pub fn reconnect_address(current: &str, host: Option<&str>, port: Option<u16>) -> String {
    let (current_host, current_port) = current.rsplit_once(':').unwrap_or((current, "0"));
    let host = match host.filter(|h| !h.is_empty()) {
        Some(h) if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        Some(h) => h.to_string(),
        None => current_host.to_string(),
    };
    let port = port.map_or_else(|| current_port.to_string(), |p| p.to_string());
    format!("{host}:{port}")
}
