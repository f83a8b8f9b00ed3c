//! One client connection: Noise handshake, `SetupConnection`, then its channels until it closes,
//! misbehaves or the pool shuts down.

use super::channels::{str0255, OpenParams, PoolChannel, ShareOutcome};
use super::config::{CustomJobs, InitialTarget};
use super::custom_jobs::check_custom_job;
use super::{Shared, TipSource};
use crate::chain::{reward_outputs, Tip};
use bitcoin::TxOut;
use channels_sv2::extranonce_manager::{AllocatedExtranoncePrefix, ExtranonceAllocatorError};
use common_messages_sv2::{
    has_work_selection, Protocol, SetupConnectionErrorOwned, SetupConnectionSuccess,
    ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_FEATURE_FLAGS,
    ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_PROTOCOL,
};
use mining_sv2::*;
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, MiningOwned};
use std::collections::HashMap;
use std::sync::Arc;
use sv2_conn::{ConnError, FrameReader, FrameWriter};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, info, warn};

const SV2_VERSION: u16 = 2;
/// `REQUIRES_WORK_SELECTION` (mining protocol `SetupConnection` flag): the client will send
/// `SetCustomMiningJob`.
const REQUIRES_WORK_SELECTION: u32 = 1 << 1;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionEnd {
    #[error(transparent)]
    Conn(#[from] ConnError),
    #[error("no SetupConnection within the deadline")]
    SetupTimeout,
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("pool shutting down")]
    Shutdown,
}

pub(crate) async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    mut shutdown: watch::Receiver<bool>,
) {
    let timeout = shared.config.handshake_timeout;
    let handshake = sv2_conn::accept(stream, &shared.keys, timeout);
    let (reader, writer) = tokio::select! {
        r = handshake => match r {
            Ok(halves) => halves,
            Err(e) => { debug!("handshake failed: {e}"); return; }
        },
        _ = shutdown.changed() => return,
    };
    shared.stats.connection_opened();
    let mut conn = Connection {
        outputs: reward_outputs(&shared.config.coinbase_script_pubkey),
        shared: shared.clone(),
        reader,
        writer,
        channels: HashMap::new(),
        work_selection: false,
    };
    let end = conn.run(&mut shutdown).await;
    let n = conn.channels.len();
    conn.channels.clear();
    shared.stats.channels_closed(n);
    shared.stats.connection_closed();
    match end {
        ConnectionEnd::Conn(ConnError::Closed) | ConnectionEnd::Shutdown => {
            debug!("connection closed: {end}")
        }
        other => warn!("dropping connection: {other}"),
    }
}

struct Connection {
    shared: Arc<Shared>,
    reader: FrameReader,
    writer: FrameWriter,
    channels: HashMap<u32, PoolChannel>,
    outputs: Vec<TxOut>,
    // The client set up with `REQUIRES_WORK_SELECTION` (and the pool took it).
    work_selection: bool,
}

impl Connection {
    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> ConnectionEnd {
        match self.setup(shutdown).await {
            Ok(()) => {}
            Err(e) => return e,
        }
        let mut tips = self.shared.subscribe_tips();
        tips.borrow_and_update();
        let mut flush = periodic(self.shared.config.share_batch_flush);
        let mut vardiff = periodic(self.shared.config.vardiff_period);
        loop {
            let result = tokio::select! {
                _ = shutdown.changed() => return ConnectionEnd::Shutdown,
                msg = self.reader.read() => match msg {
                    Ok(msg) => self.handle(msg).await,
                    Err(e) => return e.into(),
                },
                changed = tips.changed() => {
                    if changed.is_err() { return ConnectionEnd::Shutdown; }
                    let tip = tips.borrow_and_update().clone();
                    self.new_tip(&tip).await
                }
                _ = flush.tick() => self.flush_all().await,
                _ = vardiff.tick(), if self.shared.config.vardiff => self.vardiff_all().await,
            };
            if let Err(e) = result {
                return e;
            }
        }
    }

    async fn setup(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), ConnectionEnd> {
        let deadline = self.shared.config.handshake_timeout;
        let first = tokio::select! {
            r = tokio::time::timeout(deadline, self.reader.read()) => match r {
                Ok(msg) => msg?,
                Err(_) => return Err(ConnectionEnd::SetupTimeout),
            },
            _ = shutdown.changed() => return Err(ConnectionEnd::Shutdown),
        };
        let AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(setup)) = first else {
            return Err(ConnectionEnd::Protocol(format!(
                "expected SetupConnection, got {first}"
            )));
        };
        let work_selection = has_work_selection(setup.flags);
        let refuse_custom = matches!(self.shared.config.custom_jobs, CustomJobs::Refuse);
        let error = if setup.protocol != Protocol::MiningProtocol {
            Some((0, ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_PROTOCOL))
        } else if setup.min_version > SV2_VERSION || setup.max_version < SV2_VERSION {
            Some((0, "protocol-version-mismatch"))
        } else if work_selection && refuse_custom {
            // The flags echoed are the ones the pool does not support.
            Some((
                REQUIRES_WORK_SELECTION,
                ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_FEATURE_FLAGS,
            ))
        } else {
            None
        };
        if let Some((flags, code)) = error {
            self.writer
                .write(CommonMessagesOwned::SetupConnectionError(
                    SetupConnectionErrorOwned {
                        flags,
                        error_code: str0255(code),
                    },
                ))
                .await?;
            return Err(ConnectionEnd::Protocol(format!("setup refused: {code}")));
        }
        self.work_selection = work_selection;
        info!(vendor = %setup.vendor.as_utf8_or_hex(), work_selection, "client set up the mining protocol");
        self.writer
            .write(CommonMessagesOwned::SetupConnectionSuccess(
                SetupConnectionSuccess {
                    used_version: SV2_VERSION,
                    flags: 0,
                },
            ))
            .await?;
        Ok(())
    }

    async fn send_all(&mut self, msgs: Vec<MiningOwned>) -> Result<(), ConnectionEnd> {
        for m in msgs {
            self.writer.write(m).await?;
        }
        Ok(())
    }

    fn current_tip(&self) -> Arc<Tip> {
        self.shared.current_tip()
    }

    async fn handle(&mut self, msg: AnyMessageOwned) -> Result<(), ConnectionEnd> {
        let AnyMessageOwned::Mining(m) = msg else {
            return Err(ConnectionEnd::Protocol(format!("unexpected message {msg}")));
        };
        match m {
            MiningOwned::OpenExtendedMiningChannel(open) => self.open_extended(open).await,
            MiningOwned::OpenStandardMiningChannel(open) => self.open_standard(open).await,
            MiningOwned::SubmitSharesExtended(share) => {
                let channel_id = share.channel_id;
                let Some(ch) = self.channels.get_mut(&share.channel_id) else {
                    return self
                        .unknown_channel(share.channel_id, share.sequence_number)
                        .await;
                };
                let outcome = ch.submit_extended(share);
                self.after_share(channel_id, outcome).await
            }
            MiningOwned::SubmitSharesStandard(share) => {
                let channel_id = share.channel_id;
                let Some(ch) = self.channels.get_mut(&share.channel_id) else {
                    return self
                        .unknown_channel(share.channel_id, share.sequence_number)
                        .await;
                };
                let outcome = ch.submit_standard(share);
                self.after_share(channel_id, outcome).await
            }
            MiningOwned::UpdateChannel(u) => {
                let tip = self.current_tip();
                let mut max = [0u8; 32];
                max.copy_from_slice(u.maximum_target.as_bytes());
                let msgs = match self.channels.get_mut(&u.channel_id) {
                    Some(ch) => ch.update(u.nominal_hash_rate, max, &tip, &self.outputs),
                    None => vec![MiningOwned::UpdateChannelError(UpdateChannelErrorOwned {
                        channel_id: u.channel_id,
                        error_code: str0255(ERROR_CODE_UPDATE_CHANNEL_INVALID_CHANNEL_ID),
                    })],
                };
                self.send_all(msgs).await
            }
            MiningOwned::SetCustomMiningJob(job) => self.custom_job(job).await,
            MiningOwned::CloseChannel(c) => {
                if self.channels.remove(&c.channel_id).is_some() {
                    self.shared.stats.channels_closed(1);
                    info!(channel = c.channel_id, reason = %c.reason_code.as_utf8_or_hex(), "channel closed by client");
                }
                Ok(())
            }
            other => Err(ConnectionEnd::Protocol(format!(
                "unexpected message {other}"
            ))),
        }
    }

    async fn custom_job(&mut self, job: SetCustomMiningJobOwned) -> Result<(), ConnectionEnd> {
        let (channel_id, request_id) = (job.channel_id, job.request_id);
        let result = self.accept_custom_job(job);
        let reply = match result {
            Ok(job_id) => {
                self.shared.stats.custom_job_accepted();
                info!(channel = channel_id, job_id, "custom job accepted");
                MiningOwned::SetCustomMiningJobSuccess(SetCustomMiningJobSuccessOwned {
                    channel_id,
                    request_id,
                    job_id,
                })
            }
            Err(code) => {
                self.shared.stats.custom_job_refused(code);
                info!(channel = channel_id, code, "custom job refused");
                MiningOwned::SetCustomMiningJobError(SetCustomMiningJobErrorOwned {
                    channel_id,
                    request_id,
                    error_code: str0255(code),
                })
            }
        };
        self.writer.write(reply).await?;
        Ok(())
    }

    fn accept_custom_job(&mut self, job: SetCustomMiningJobOwned) -> Result<u32, &'static str> {
        if !self.work_selection {
            return Err(ERROR_CODE_SET_CUSTOM_MINING_JOB_JD_NOT_SUPPORTED);
        }
        let following = matches!(self.shared.tips, TipSource::Followed(_));
        let tip = following.then(|| self.current_tip());
        let ch = self
            .channels
            .get_mut(&job.channel_id)
            .filter(|c| c.is_extended())
            .ok_or(ERROR_CODE_SET_CUSTOM_MINING_JOB_INVALID_CHANNEL_ID)?;
        check_custom_job(&self.shared.config.custom_jobs, tip.as_deref(), &job)?;
        ch.set_custom_job(job)
    }

    async fn unknown_channel(&mut self, channel_id: u32, seq: u32) -> Result<(), ConnectionEnd> {
        self.writer
            .write(MiningOwned::SubmitSharesError(SubmitSharesErrorOwned {
                channel_id,
                sequence_number: seq,
                error_code: str0255(ERROR_CODE_SUBMIT_SHARES_INVALID_CHANNEL_ID),
            }))
            .await?;
        Ok(())
    }

    fn open_params(
        &self,
        user: String,
        nominal: f32,
        max_target: &[u8],
        prefix: AllocatedExtranoncePrefix,
    ) -> OpenParams {
        let mut max = [0u8; 32];
        max.copy_from_slice(max_target);
        let cfg = &self.shared.config;
        OpenParams {
            channel_id: self.shared.next_channel_id(),
            user,
            prefix,
            max_target: max,
            nominal_hashrate: nominal,
            shares_per_minute: cfg.shares_per_minute,
            fixed_difficulty: match cfg.initial_target {
                InitialTarget::FromHashrate => None,
                InitialTarget::FixedDifficulty(d) => Some(d),
            },
            vardiff: cfg.vardiff,
        }
    }

    async fn open_extended(
        &mut self,
        open: OpenExtendedMiningChannelOwned,
    ) -> Result<(), ConnectionEnd> {
        let user = open.user_identity.as_utf8_or_hex();
        let request_id = open.request_id;
        let result = (|| {
            let (prefix, rollable) = {
                let mut alloc = self
                    .shared
                    .allocator
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let prefix = alloc
                    .allocate_extended(open.min_extranonce_size as usize)
                    .map_err(|e| match e {
                        ExtranonceAllocatorError::InvalidRollableSize => {
                            ERROR_CODE_OPEN_MINING_CHANNEL_MIN_EXTRANONCE_SIZE_TOO_LARGE
                        }
                        _ => ERROR_CODE_OPEN_MINING_CHANNEL_CHANNEL_CAPACITY_EXHAUSTED,
                    })?;
                (prefix, u16::from(alloc.rollable_extranonce_size()))
            };
            let params = self.open_params(
                user.clone(),
                open.nominal_hash_rate,
                open.max_target.as_bytes(),
                prefix,
            );
            PoolChannel::open_extended(params, request_id, rollable)
        })();
        self.finish_open(request_id, &user, result).await
    }

    async fn open_standard(
        &mut self,
        open: OpenStandardMiningChannelOwned,
    ) -> Result<(), ConnectionEnd> {
        let user = open.user_identity.as_utf8_or_hex();
        let request_id = open.request_id;
        let result = (|| {
            let prefix = self
                .shared
                .allocator
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .allocate_standard()
                .map_err(|_| ERROR_CODE_OPEN_MINING_CHANNEL_CHANNEL_CAPACITY_EXHAUSTED)?;
            let params = self.open_params(
                user.clone(),
                open.nominal_hash_rate,
                open.max_target.as_bytes(),
                prefix,
            );
            PoolChannel::open_standard(params, request_id)
        })();
        self.finish_open(request_id, &user, result).await
    }

    async fn finish_open(
        &mut self,
        request_id: u32,
        user: &str,
        result: Result<(PoolChannel, MiningOwned), &'static str>,
    ) -> Result<(), ConnectionEnd> {
        let (mut ch, success) = match result {
            Ok(x) => x,
            Err(code) => {
                info!(user, code, "channel refused");
                self.writer
                    .write(MiningOwned::OpenMiningChannelError(
                        OpenMiningChannelErrorOwned {
                            request_id,
                            error_code: str0255(code),
                        },
                    ))
                    .await?;
                return Ok(());
            }
        };
        let channel_id = match &success {
            MiningOwned::OpenExtendedMiningChannelSuccess(s) => s.channel_id,
            MiningOwned::OpenStandardMiningChannelSuccess(s) => s.channel_id,
            _ => 0,
        };
        info!(user, channel = channel_id, "channel opened");
        self.writer.write(success).await?;
        let tip = self.current_tip();
        let msgs = ch
            .on_tip(&tip, &self.outputs)
            .map_err(|e| ConnectionEnd::Protocol(format!("cannot build job: {e}")))?;
        self.channels.insert(channel_id, ch);
        self.shared.stats.channel_opened();
        self.send_all(msgs).await
    }

    async fn after_share(
        &mut self,
        channel_id: u32,
        outcome: ShareOutcome,
    ) -> Result<(), ConnectionEnd> {
        let Some(ch) = self.channels.get_mut(&channel_id) else {
            return Ok(());
        };
        match outcome {
            ShareOutcome::Rejected(msg, code) => {
                self.shared.stats.share_rejected(ch.user(), code);
                debug!(channel = channel_id, code, "share rejected");
                self.writer.write(msg).await?;
            }
            ShareOutcome::Accepted {
                difficulty,
                block,
                custom,
            } => {
                self.shared
                    .stats
                    .share_accepted(ch.user(), difficulty, block.is_some());
                if custom {
                    self.shared.stats.custom_job_share();
                }
                let full = ch.pending() as usize >= self.shared.config.share_batch_size;
                let prev = ch.tip_prev_hash();
                let success = if full || block.is_some() {
                    ch.take_success()
                } else {
                    None
                };
                if let Some(msg) = success {
                    self.writer.write(msg).await?;
                }
                if let Some(block) = block {
                    info!(channel = channel_id, custom, "share found a block");
                    // A block on a declared job is the declaring client's to submit to its
                    // template provider; the pool's own chain only moves on its own jobs.
                    if !custom {
                        self.shared.block_found(prev, &block);
                    }
                }
            }
        }
        Ok(())
    }

    async fn new_tip(&mut self, tip: &Tip) -> Result<(), ConnectionEnd> {
        if matches!(self.shared.tips, TipSource::Followed(_)) {
            self.shared.stats.set_tip_height(u64::from(tip.height));
        }
        // Acknowledge what was accepted on the old tip first.
        self.flush_all().await?;
        let mut msgs = Vec::new();
        for ch in self.channels.values_mut() {
            // A new template on the same prev hash is a fresh active job: earlier jobs (custom
            // ones included) stay valid, as they do on a real chain.
            let job = if ch.tip_prev_hash() == tip.prev_hash_bytes() {
                ch.refresh_job(tip, &self.outputs).map(|m| vec![m])
            } else {
                ch.on_tip(tip, &self.outputs)
            };
            msgs.extend(
                job.map_err(|e| ConnectionEnd::Protocol(format!("cannot build job: {e}")))?,
            );
        }
        self.send_all(msgs).await
    }

    async fn flush_all(&mut self) -> Result<(), ConnectionEnd> {
        let msgs: Vec<_> = self
            .channels
            .values_mut()
            .filter_map(|c| c.take_success())
            .collect();
        self.send_all(msgs).await
    }

    async fn vardiff_all(&mut self) -> Result<(), ConnectionEnd> {
        let tip = self.current_tip();
        let spm = self.shared.config.shares_per_minute;
        let mut msgs = Vec::new();
        for ch in self.channels.values_mut() {
            msgs.extend(ch.vardiff_tick(&tip, &self.outputs, spm));
        }
        self.send_all(msgs).await
    }
}

// An interval whose first tick is one period from now (tokio's fires at once).
fn periodic(period: std::time::Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}
