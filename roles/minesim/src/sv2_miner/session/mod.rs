//! One connection's protocol state, sans-IO: the `SetupConnection` exchange, channel opening,
//! and every mining message afterwards. Messages to send collect in an outbox the connection
//! task drains; work goes straight to the channels' grinding threads.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use binary_sv2::{Str0255Owned, U256Owned};
use common_messages_sv2::{Protocol, SetupConnectionOwned};
use mining_sv2::{
    OpenExtendedMiningChannelOwned, OpenStandardMiningChannelOwned, SubmitSharesExtendedOwned,
    SubmitSharesStandardOwned,
};
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, MiningOwned};
use work::Target;

use super::channel::{ChannelParams, MinerChannel, Mining};
use super::config::{ChannelKind, Sv2MinerConfig};
use super::endpoint::Endpoint;
use super::error::Sv2MinerError;
use super::rig::{FoundShare, Unit};
use super::stats::Sv2MinerStats;

/// `SetupConnection` flag (mining protocol): no group-addressed extended jobs, please.
pub(crate) const REQUIRES_STANDARD_JOBS: u32 = 1 << 0;
/// `SetupConnection` flag (mining protocol): every job must allow version rolling.
pub(crate) const REQUIRES_VERSION_ROLLING: u32 = 1 << 2;
/// The only protocol version there is.
const SV2_VERSION: u16 = 2;

/// What the connection should do after a message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// The server sent `Reconnect`: go there.
    Reconnect(Endpoint),
}

/// The protocol state of one connection.
pub(crate) struct Session<'a> {
    config: &'a Sv2MinerConfig,
    stats: &'a Sv2MinerStats,
    units: &'a [Unit],
    endpoint: Endpoint,
    number: u64,
    channels: BTreeMap<u32, MinerChannel>,
    /// Channel opens not answered yet: request id to unit index.
    pending_opens: BTreeMap<u32, usize>,
    out: Vec<MiningOwned>,
}

fn str0255(s: &str) -> Str0255Owned {
    // Longer strings are cut at a character boundary: these are labels, not protocol values.
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Str0255Owned::try_from(s[..end].to_string())
        .unwrap_or_else(|_| unreachable!("at most 255 bytes fit a STR0_255"))
}

impl<'a> Session<'a> {
    pub fn new(
        config: &'a Sv2MinerConfig,
        stats: &'a Sv2MinerStats,
        units: &'a [Unit],
        endpoint: Endpoint,
        number: u64,
    ) -> Self {
        Self {
            config,
            stats,
            units,
            endpoint,
            number,
            channels: BTreeMap::new(),
            pending_opens: BTreeMap::new(),
            out: Vec::new(),
        }
    }

    /// The `SetupConnection` to send first.
    pub fn setup_connection(&self) -> SetupConnectionOwned {
        let mut flags = 0;
        if self.config.requires_standard_jobs {
            flags |= REQUIRES_STANDARD_JOBS;
        }
        if self.config.requires_version_rolling {
            flags |= REQUIRES_VERSION_ROLLING;
        }
        SetupConnectionOwned {
            protocol: Protocol::MiningProtocol,
            min_version: SV2_VERSION,
            max_version: SV2_VERSION,
            flags,
            endpoint_host: str0255(&self.endpoint.host),
            endpoint_port: self.endpoint.port,
            vendor: str0255(&self.config.vendor),
            hardware_version: str0255("cpu"),
            firmware: str0255(env!("CARGO_PKG_VERSION")),
            device_id: str0255(&self.config.device_id),
        }
    }

    /// Checks the server's answer to `SetupConnection`.
    pub fn on_setup_reply(&mut self, reply: AnyMessageOwned) -> Result<(), Sv2MinerError> {
        match reply {
            AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(s)) => {
                if s.used_version != SV2_VERSION {
                    return Err(Sv2MinerError::UnexpectedSetupReply(format!(
                        "version {} (we speak {SV2_VERSION})",
                        s.used_version
                    )));
                }
                tracing::debug!(flags = s.flags, "connection set up");
                Ok(())
            }
            AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionError(e)) => {
                Err(Sv2MinerError::SetupRefused {
                    code: e.error_code.as_utf8_or_hex(),
                    flags: e.flags,
                })
            }
            other => Err(Sv2MinerError::UnexpectedSetupReply(other.to_string())),
        }
    }

    /// Queues one channel open per grinding thread.
    pub fn open_channels(&mut self) {
        let n = self.units.len().max(1);
        let nominal = if self.config.hashrate_cap.is_finite() && self.config.hashrate_cap > 0.0 {
            (self.config.hashrate_cap / n as f64) as f32
        } else {
            1.0e9
        };
        for unit in 0..self.units.len() {
            let request_id = unit as u32 + 1;
            self.pending_opens.insert(request_id, unit);
            let user_identity = str0255(&self.config.user_identity);
            let max_target = U256Owned::from(self.config.max_target);
            self.out.push(match self.config.channel_kind {
                ChannelKind::Standard => {
                    MiningOwned::OpenStandardMiningChannel(OpenStandardMiningChannelOwned {
                        request_id,
                        user_identity,
                        nominal_hash_rate: nominal,
                        max_target,
                    })
                }
                ChannelKind::Extended {
                    min_extranonce_size,
                } => MiningOwned::OpenExtendedMiningChannel(OpenExtendedMiningChannelOwned {
                    request_id,
                    user_identity,
                    nominal_hash_rate: nominal,
                    max_target,
                    min_extranonce_size,
                }),
            });
        }
    }

    /// Messages to send, oldest first.
    pub fn take_out(&mut self) -> Vec<MiningOwned> {
        std::mem::take(&mut self.out)
    }

    /// Queues a share found by a grinding thread, unless it belongs to a job, channel or
    /// connection that is gone, or no longer meets its channel's target.
    pub fn submit(&mut self, share: FoundShare) {
        let Some(ch) = self.channels.get_mut(&share.tag.channel_id) else {
            return;
        };
        if !ch.is_live(&share.tag) || !ch.target.is_met_by(&share.hash) {
            return;
        }
        let sequence_number = ch.next_sequence_number();
        let msg = match ch.extranonce_size {
            None => MiningOwned::SubmitSharesStandard(SubmitSharesStandardOwned {
                channel_id: ch.channel_id,
                sequence_number,
                job_id: share.tag.job_id,
                nonce: share.nonce,
                ntime: share.ntime,
                version: share.version,
            }),
            Some(_) => {
                // At most 32 bytes: channels granting more are refused at open.
                let Ok(extranonce) = share.extranonce.try_into() else {
                    return;
                };
                MiningOwned::SubmitSharesExtended(SubmitSharesExtendedOwned {
                    channel_id: ch.channel_id,
                    sequence_number,
                    job_id: share.tag.job_id,
                    nonce: share.nonce,
                    ntime: share.ntime,
                    version: share.version,
                    extranonce,
                })
            }
        };
        self.stats.shares_submitted.fetch_add(1, Ordering::Relaxed);
        self.out.push(msg);
    }

    /// Handles one message from the server.
    pub fn handle(&mut self, msg: AnyMessageOwned) -> Result<Flow, Sv2MinerError> {
        match msg {
            AnyMessageOwned::Common(CommonMessagesOwned::Reconnect(r)) => {
                let to = self
                    .endpoint
                    .redirect(&r.new_host.as_utf8_or_hex(), r.new_port);
                tracing::info!(%to, "server asked us to reconnect");
                Ok(Flow::Reconnect(to))
            }
            AnyMessageOwned::Mining(m) => self.handle_mining(m).map(|()| Flow::Continue),
            other => {
                tracing::debug!(%other, "ignoring message");
                Ok(Flow::Continue)
            }
        }
    }

    fn handle_mining(&mut self, msg: MiningOwned) -> Result<(), Sv2MinerError> {
        match msg {
            MiningOwned::OpenStandardMiningChannelSuccess(s) => self.opened(
                s.request_id,
                s.channel_id,
                s.group_channel_id,
                None,
                s.extranonce_prefix.to_owned_bytes(),
                s.target.to_array(),
            ),
            MiningOwned::OpenExtendedMiningChannelSuccess(s) => self.opened(
                s.request_id,
                s.channel_id,
                s.group_channel_id,
                Some(s.extranonce_size),
                s.extranonce_prefix.to_owned_bytes(),
                s.target.to_array(),
            ),
            MiningOwned::OpenMiningChannelError(e) => {
                let code = e.error_code.as_utf8_or_hex();
                self.refused(e.request_id, code)
            }
            MiningOwned::NewMiningJob(job) => {
                self.stats.jobs_received.fetch_add(1, Ordering::Relaxed);
                let units = self.units;
                match self.channels.get_mut(&job.channel_id) {
                    Some(ch) => match ch.on_standard_job(job) {
                        Ok(mining) => apply(units, ch.unit, mining),
                        Err(e) => tracing::warn!("ignoring job: {e}"),
                    },
                    None => tracing::debug!(channel = job.channel_id, "job for no channel"),
                }
                Ok(())
            }
            MiningOwned::NewExtendedMiningJob(job) => {
                self.stats.jobs_received.fetch_add(1, Ordering::Relaxed);
                self.for_addressed(job.channel_id, |ch| ch.on_extended_job(&job));
                Ok(())
            }
            MiningOwned::SetNewPrevHash(prev) => {
                self.stats
                    .prev_hashes_received
                    .fetch_add(1, Ordering::Relaxed);
                self.for_addressed(prev.channel_id, |ch| ch.on_prev_hash(&prev));
                Ok(())
            }
            MiningOwned::SetTarget(t) => {
                let target = Target::from_le_bytes(t.maximum_target.to_array());
                self.for_addressed(t.channel_id, |ch| {
                    ch.target = target;
                    Mining::Unchanged
                });
                Ok(())
            }
            MiningOwned::SetExtranoncePrefix(p) => {
                let prefix = p.extranonce_prefix.to_owned_bytes();
                let units = self.units;
                if let Some(ch) = self.channels.get_mut(&p.channel_id) {
                    let mining = ch.on_extranonce_prefix(prefix);
                    self.stats.channel_changed(ch.snapshot());
                    apply(units, ch.unit, mining);
                }
                Ok(())
            }
            MiningOwned::SetGroupChannel(g) => {
                for id in g.channel_ids.iter() {
                    if let Some(ch) = self.channels.get_mut(id) {
                        ch.group_channel_id = g.group_channel_id;
                        self.stats.channel_changed(ch.snapshot());
                    }
                }
                Ok(())
            }
            MiningOwned::CloseChannel(c) => {
                let closed: Vec<u32> = self
                    .channels
                    .values()
                    .filter(|ch| ch.addressed_by(c.channel_id))
                    .map(|ch| ch.channel_id)
                    .collect();
                for id in closed {
                    if let Some(ch) = self.channels.remove(&id) {
                        tracing::info!(channel = id, reason = %c.reason_code.as_utf8_or_hex(), "server closed the channel");
                        apply(self.units, ch.unit, Mining::Idle);
                        self.stats.channel_gone(id);
                        self.stats.channels_closed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(())
            }
            MiningOwned::SubmitSharesSuccess(s) => {
                self.stats
                    .shares_accepted
                    .fetch_add(u64::from(s.new_submits_accepted_count), Ordering::Relaxed);
                self.stats
                    .shares_sum_acknowledged
                    .fetch_add(s.new_shares_sum, Ordering::Relaxed);
                Ok(())
            }
            MiningOwned::SubmitSharesError(e) => {
                let code = e.error_code.as_utf8_or_hex();
                tracing::debug!(channel = e.channel_id, sequence = e.sequence_number, %code, "share rejected");
                self.stats.rejected(&code);
                Ok(())
            }
            MiningOwned::UpdateChannelError(e) => {
                tracing::warn!(channel = e.channel_id, code = %e.error_code.as_utf8_or_hex(), "UpdateChannel refused");
                Ok(())
            }
            other => {
                tracing::debug!(%other, "ignoring mining message");
                Ok(())
            }
        }
    }

    /// Runs `f` on every channel a message to `channel_id` concerns (the channel itself, or
    /// every member when it is a group id), updating stats and grinding threads.
    fn for_addressed(&mut self, channel_id: u32, mut f: impl FnMut(&mut MinerChannel) -> Mining) {
        let mut any = false;
        for ch in self.channels.values_mut() {
            if ch.addressed_by(channel_id) {
                any = true;
                let mining = f(ch);
                if let Some(u) = self.units.get(ch.unit) {
                    u.target.set(ch.target);
                }
                self.stats.channel_changed(ch.snapshot());
                apply(self.units, ch.unit, mining);
            }
        }
        if !any {
            tracing::debug!(channel = channel_id, "message for no channel of ours");
        }
    }

    fn opened(
        &mut self,
        request_id: u32,
        channel_id: u32,
        group_channel_id: u32,
        extranonce_size: Option<u16>,
        extranonce_prefix: Vec<u8>,
        target: [u8; 32],
    ) -> Result<(), Sv2MinerError> {
        let Some(unit) = self.pending_opens.remove(&request_id) else {
            tracing::warn!(request_id, "channel opened for no request of ours");
            return Ok(());
        };
        if let Some(size) = extranonce_size {
            // SubmitSharesExtended carries at most 32 extranonce bytes.
            if size > 32 {
                return self.refused(
                    request_id,
                    format!("server granted {size} extranonce bytes (most is 32)"),
                );
            }
        }
        let ch = MinerChannel::new(ChannelParams {
            unit,
            session: self.number,
            channel_id,
            group_channel_id,
            extranonce_size,
            extranonce_prefix,
            target: Target::from_le_bytes(target),
            version_rolling: self.config.version_rolling,
        });
        tracing::info!(
            channel = channel_id,
            group = group_channel_id,
            extended = extranonce_size.is_some(),
            "channel open"
        );
        if let Some(u) = self.units.get(unit) {
            u.target.set(ch.target);
        }
        self.stats.channel_changed(ch.snapshot());
        if let Some(old) = self.channels.insert(channel_id, ch) {
            // A server reusing a live id: the old channel's work is void.
            apply(self.units, old.unit, Mining::Idle);
        }
        Ok(())
    }

    fn refused(&mut self, request_id: u32, code: String) -> Result<(), Sv2MinerError> {
        self.pending_opens.remove(&request_id);
        tracing::warn!(request_id, %code, "channel refused");
        self.stats
            .set_error(format!("OpenMiningChannel refused: {code}"));
        if self.pending_opens.is_empty() && self.channels.is_empty() {
            return Err(Sv2MinerError::ChannelsRefused(code));
        }
        Ok(())
    }
}

/// Hands a channel's grinding thread its new work.
fn apply(units: &[Unit], unit: usize, mining: Mining) {
    let Some(u) = units.get(unit) else {
        return;
    };
    match mining {
        Mining::Unchanged => {}
        Mining::Work(work) => u.slot.publish(Some(work)),
        Mining::Idle => u.slot.publish(None),
    }
}

#[cfg(test)]
mod tests;
