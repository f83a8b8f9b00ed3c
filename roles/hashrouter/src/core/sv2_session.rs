//! Downstream SV2 connections and their channels (SV2 mining protocol, server side).
//!
//! A connection must start with SetupConnection; then it may open standard channels
//! (header-only devices) and extended channels (proxies such as SRI's translator). Every channel
//! is a [`Device`](super::device::Device) of its own, with the channel id equal to the device
//! id; its extranonce prefix is that id (DESIGN.md §3), so a proxy's channel stands for all the
//! machines behind it and is measured as one. Standard channels of a connection form one group
//! channel, which receives extended jobs once for all of them unless the connection requires
//! standard jobs.

use std::collections::BTreeSet;
use std::time::Instant;

use common_messages_sv2 as common;
use mining_sv2 as mining;
use tracing::{debug, info, warn};

use super::device::PendingAcks;
use super::sv2_messages::MINING_PROTOCOL;
use super::{
    difficulty_of, setup_flags, Action, ConnectionId, Core, DeviceId, DeviceKind, SubmittedShare,
    Sv2Message, Sv2Request, Sv2Submit, SV2_VERSION, VERSION_ROLLING_MASK,
};

/// Channels one connection may hold; a proxy in per-miner mode opens one per machine.
pub const MAX_CHANNELS_PER_CONNECTION: usize = 65_536;

/// One downstream SV2 connection.
#[derive(Debug)]
pub struct Sv2Connection {
    pub id: ConnectionId,
    /// SetupConnection flags, once the connection is set up.
    pub flags: Option<u32>,
    /// Vendor, hardware and firmware from SetupConnection; shown as its channels' user agent.
    pub device_info: String,
    /// Its open channels (channel id = device id).
    pub channels: BTreeSet<DeviceId>,
}

impl Sv2Connection {
    pub fn requires_standard_jobs(&self) -> bool {
        self.flags.unwrap_or(0) & setup_flags::REQUIRES_STANDARD_JOBS != 0
    }

    /// The id of the group channel of this connection's standard channels. The high bit keeps
    /// it apart from channel ids, which are device ids.
    pub fn group_channel_id(&self) -> u32 {
        DeviceId::LIMIT | self.id.0
    }
}

/// Why a connection is closed by the node.
fn protocol_violation(what: &str) -> String {
    format!("protocol violation: {what}")
}

impl Core {
    /// A downstream SV2 connection finished its Noise handshake.
    pub fn sv2_connected(&mut self) -> ConnectionId {
        let mut id = self.next_connection_id;
        while id == 0 || id >= DeviceId::LIMIT || self.connections.contains_key(&ConnectionId(id)) {
            id = if id == 0 || id >= DeviceId::LIMIT {
                1
            } else {
                id + 1
            };
        }
        self.next_connection_id = id + 1;
        let id = ConnectionId(id);
        self.connections.insert(
            id,
            Sv2Connection {
                id,
                flags: None,
                device_info: String::new(),
                channels: BTreeSet::new(),
            },
        );
        id
    }

    /// A downstream SV2 connection ended; all its channels go with it.
    pub fn sv2_disconnected(&mut self, connection: ConnectionId) {
        if let Some(conn) = self.connections.remove(&connection) {
            for device in conn.channels {
                self.remove_device(device);
            }
        }
    }

    pub fn handle_sv2(&mut self, connection: ConnectionId, request: Sv2Request, now: Instant) {
        let Some(conn) = self.connections.get(&connection) else {
            return;
        };
        let set_up = conn.flags.is_some();
        match request {
            Sv2Request::SetupConnection {
                protocol,
                min_version,
                max_version,
                flags,
                device_info,
            } => {
                if set_up {
                    self.close_sv2(connection, protocol_violation("second SetupConnection"));
                    return;
                }
                self.on_setup_connection(
                    connection,
                    protocol,
                    min_version,
                    max_version,
                    flags,
                    device_info,
                );
            }
            _ if !set_up => {
                self.close_sv2(
                    connection,
                    protocol_violation("a message before SetupConnection"),
                );
            }
            Sv2Request::OpenStandardChannel {
                request_id,
                user_identity,
                nominal_hash_rate,
                max_target,
            } => self.on_open_channel(
                connection,
                request_id,
                user_identity,
                nominal_hash_rate,
                max_target,
                None,
                now,
            ),
            Sv2Request::OpenExtendedChannel {
                request_id,
                user_identity,
                nominal_hash_rate,
                max_target,
                min_extranonce_size,
            } => self.on_open_channel(
                connection,
                request_id,
                user_identity,
                nominal_hash_rate,
                max_target,
                Some(min_extranonce_size),
                now,
            ),
            Sv2Request::UpdateChannel {
                channel_id,
                nominal_hash_rate,
                maximum_target,
            } => self.on_update_channel(
                connection,
                channel_id,
                nominal_hash_rate,
                maximum_target,
                now,
            ),
            Sv2Request::CloseChannel { channel_id, reason } => {
                if let Some(device) = self.channel_of(connection, channel_id) {
                    info!(%connection, channel_id, %reason, "downstream closed a channel");
                    self.remove_device(device);
                    if let Some(conn) = self.connections.get_mut(&connection) {
                        conn.channels.remove(&device);
                    }
                }
            }
            Sv2Request::SubmitShares(submit) => self.on_sv2_submit(connection, submit, now),
            Sv2Request::Unexpected { name } => {
                self.close_sv2(
                    connection,
                    protocol_violation(&format!("{name} is not for the node")),
                );
            }
        }
    }

    fn on_setup_connection(
        &mut self,
        connection: ConnectionId,
        protocol: u8,
        min_version: u16,
        max_version: u16,
        flags: u32,
        device_info: String,
    ) {
        let refusal = if protocol != MINING_PROTOCOL {
            Some((0, common::ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_PROTOCOL))
        } else if !(min_version..=max_version).contains(&SV2_VERSION) {
            Some((
                0,
                common::ERROR_CODE_SETUP_CONNECTION_PROTOCOL_VERSION_MISMATCH,
            ))
        } else if flags & setup_flags::REQUIRES_WORK_SELECTION != 0 {
            Some((
                setup_flags::REQUIRES_WORK_SELECTION,
                common::ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_FEATURE_FLAGS,
            ))
        } else if flags & setup_flags::REQUIRES_VERSION_ROLLING != 0
            && !self.config.version_rolling_guaranteed
        {
            Some((
                setup_flags::REQUIRES_VERSION_ROLLING,
                common::ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_FEATURE_FLAGS,
            ))
        } else {
            None
        };
        if let Some((flags, code)) = refusal {
            warn!(%connection, protocol, min_version, max_version, code, "SetupConnection refused");
            self.send_sv2(connection, Sv2Message::SetupConnectionError { flags, code });
            self.close_sv2(connection, format!("SetupConnection refused: {code}"));
            return;
        }
        info!(%connection, flags, device = %device_info, "SV2 connection set up");
        if let Some(conn) = self.connections.get_mut(&connection) {
            // Bits we do not know are ignored, as the spec asks of unknown flags.
            conn.flags = Some(flags & setup_flags::SUPPORTED);
            conn.device_info = device_info;
        }
        self.send_sv2(
            connection,
            Sv2Message::SetupConnectionSuccess {
                used_version: SV2_VERSION,
                flags: 0,
            },
        );
    }

    /// Opens a standard channel (`min_extranonce_size` None) or an extended one.
    #[allow(clippy::too_many_arguments)]
    fn on_open_channel(
        &mut self,
        connection: ConnectionId,
        request_id: u32,
        user_identity: String,
        nominal_hash_rate: f32,
        max_target: [u8; 32],
        min_extranonce_size: Option<u16>,
        now: Instant,
    ) {
        let Some(conn) = self.connections.get(&connection) else {
            return;
        };
        let refusal = if !(nominal_hash_rate.is_finite() && nominal_hash_rate >= 0.0) {
            Some(mining::ERROR_CODE_OPEN_MINING_CHANNEL_INVALID_NOMINAL_HASHRATE)
        } else if max_target == [0; 32] {
            Some(mining::ERROR_CODE_OPEN_MINING_CHANNEL_MAX_TARGET_OUT_OF_RANGE)
        } else if min_extranonce_size
            .is_some_and(|size| size as usize > self.config.sv2_max_extranonce_size)
        {
            Some(mining::ERROR_CODE_OPEN_MINING_CHANNEL_MIN_EXTRANONCE_SIZE_TOO_LARGE)
        } else if conn.channels.len() >= MAX_CHANNELS_PER_CONNECTION {
            Some(mining::ERROR_CODE_OPEN_MINING_CHANNEL_CHANNEL_CAPACITY_EXHAUSTED)
        } else {
            None
        };
        if let Some(code) = refusal {
            warn!(%connection, request_id, code, "channel refused");
            self.send_sv2(
                connection,
                Sv2Message::OpenChannelError { request_id, code },
            );
            return;
        }
        let group_channel_id = conn.group_channel_id();
        let device_info = (!conn.device_info.is_empty()).then(|| conn.device_info.clone());
        let (kind, rollable) = match min_extranonce_size {
            None => (DeviceKind::Sv2Standard { connection }, 0),
            Some(size) => (DeviceKind::Sv2Extended { connection }, size as usize),
        };
        let device = self.add_device(kind, rollable, now);
        let vardiff = self.config.vardiff.clone();
        let next_job = self.next_job_for(device);
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        d.subscribed = true;
        d.workers.push(user_identity);
        d.user_agent = device_info;
        d.version_mask = VERSION_ROLLING_MASK;
        // Our target may never be easier than the device's max_target.
        d.minimum_difficulty = Some(difficulty_of(&max_target));
        let start = initial_difficulty(nominal_hash_rate, vardiff.shares_per_minute)
            .unwrap_or(vardiff.initial);
        d.vardiff.reset_to(&vardiff, start, now);
        d.set_difficulty(d.vardiff.difficulty(), next_job);
        d.previous_target = None;
        let success = match kind {
            DeviceKind::Sv2Extended { .. } => Sv2Message::OpenExtendedChannelSuccess {
                request_id,
                channel_id: device.0,
                target: d.target,
                extranonce_size: rollable as u16,
                extranonce_prefix: d.extranonce_prefix.clone(),
                group_channel_id,
            },
            _ => Sv2Message::OpenStandardChannelSuccess {
                request_id,
                channel_id: device.0,
                target: d.target,
                extranonce_prefix: d.extranonce_prefix.clone(),
                group_channel_id,
            },
        };
        info!(
            %connection,
            channel_id = device.0,
            kind = kind.as_str(),
            difficulty = d.vardiff.difficulty(),
            "SV2 channel opened"
        );
        if let Some(conn) = self.connections.get_mut(&connection) {
            conn.channels.insert(device);
        }
        self.send_sv2(connection, success);
        if let Some(job) = self.current_job_for(device) {
            self.send_job(device, &job, true);
        }
    }

    fn on_update_channel(
        &mut self,
        connection: ConnectionId,
        channel_id: u32,
        nominal_hash_rate: f32,
        maximum_target: [u8; 32],
        now: Instant,
    ) {
        let refusal = match self.channel_of(connection, channel_id) {
            None => Some(mining::ERROR_CODE_UPDATE_CHANNEL_INVALID_CHANNEL_ID),
            Some(_) if !(nominal_hash_rate.is_finite() && nominal_hash_rate >= 0.0) => {
                Some(mining::ERROR_CODE_UPDATE_CHANNEL_INVALID_NOMINAL_HASHRATE)
            }
            Some(_) if maximum_target == [0; 32] => {
                Some(mining::ERROR_CODE_UPDATE_CHANNEL_MAX_TARGET_OUT_OF_RANGE)
            }
            Some(_) => None,
        };
        if let Some(code) = refusal {
            self.send_sv2(
                connection,
                Sv2Message::UpdateChannelError { channel_id, code },
            );
            return;
        }
        let device = DeviceId(channel_id);
        let vardiff = self.config.vardiff.clone();
        let next_job = self.next_job_for(device);
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        let floor = difficulty_of(&maximum_target);
        d.minimum_difficulty = Some(floor);
        let mut wanted = d.vardiff.difficulty();
        // The announced hashrate is only a hint until shares measure the real one.
        if d.counters.accepted == 0 {
            if let Some(start) = initial_difficulty(nominal_hash_rate, vardiff.shares_per_minute) {
                d.vardiff.reset_to(&vardiff, start, now);
                wanted = d.vardiff.difficulty();
            }
        }
        let wanted = wanted.max(floor);
        if (wanted - d.target.difficulty()).abs() > f64::EPSILON * wanted {
            let applied = d.set_difficulty(wanted, next_job);
            debug!(%connection, channel_id, difficulty = applied, "channel updated");
            self.send_difficulty(device, applied, now);
        }
    }

    fn on_sv2_submit(&mut self, connection: ConnectionId, submit: Sv2Submit, now: Instant) {
        let Some(device) = self.channel_of(connection, submit.channel_id) else {
            self.send_sv2(
                connection,
                Sv2Message::SubmitSharesError {
                    channel_id: submit.channel_id,
                    sequence_number: submit.sequence_number,
                    code: mining::ERROR_CODE_SUBMIT_SHARES_INVALID_CHANNEL_ID,
                },
            );
            return;
        };
        let share = SubmittedShare {
            job_id: submit.job_id,
            rolled_extranonce: submit.extranonce.as_deref().unwrap_or(&[]),
            ntime: submit.ntime,
            nonce: submit.nonce,
            version: Some(submit.version),
        };
        let result = self.accept_share(device, share, now);
        match result {
            Ok(accepted) => {
                let batch_size = self.config.sv2_share_batch_size.max(1);
                let Some(d) = self.devices.get_mut(&device) else {
                    return;
                };
                let acks = &mut d.pending_acks;
                acks.count += 1;
                acks.last_sequence_number = submit.sequence_number;
                acks.difficulty_sum += accepted.difficulty;
                if acks.count >= batch_size {
                    self.flush_sv2_acks(device);
                }
                if let Some(difficulty) = accepted.new_difficulty {
                    self.send_difficulty(device, difficulty, now);
                }
            }
            Err(rejection) => {
                // Acknowledge what came before, so the answers stay in sequence order.
                self.flush_sv2_acks(device);
                self.send_sv2(
                    connection,
                    Sv2Message::SubmitSharesError {
                        channel_id: submit.channel_id,
                        sequence_number: submit.sequence_number,
                        code: rejection.sv2_error_code(),
                    },
                );
            }
        }
    }

    /// Sends the batched SubmitShares.Success of one channel, if it has any.
    fn flush_sv2_acks(&mut self, device: DeviceId) {
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        let Some(connection) = d.kind.connection() else {
            return;
        };
        let acks = std::mem::take(&mut d.pending_acks);
        if acks.count == 0 {
            return;
        }
        self.send_sv2(connection, success_message(device, &acks));
    }

    /// Sends every channel's pending acknowledgements (on each tick).
    pub(super) fn flush_all_sv2_acks(&mut self) {
        let pending: Vec<DeviceId> = self
            .devices
            .values()
            .filter(|d| d.pending_acks.count > 0)
            .map(|d| d.id)
            .collect();
        for device in pending {
            self.flush_sv2_acks(device);
        }
    }

    /// The device behind `channel_id` if that channel belongs to `connection`.
    fn channel_of(&self, connection: ConnectionId, channel_id: u32) -> Option<DeviceId> {
        let device = DeviceId(channel_id);
        self.connections
            .get(&connection)?
            .channels
            .contains(&device)
            .then_some(device)
    }

    fn close_sv2(&mut self, connection: ConnectionId, reason: String) {
        warn!(%connection, %reason, "closing SV2 connection");
        self.sv2_disconnected(connection);
        self.actions
            .push_back(Action::CloseSv2 { connection, reason });
    }
}

fn success_message(device: DeviceId, acks: &PendingAcks) -> Sv2Message {
    Sv2Message::SubmitSharesSuccess {
        channel_id: device.0,
        last_sequence_number: acks.last_sequence_number,
        accepted_count: acks.count,
        // The spec's share sum is in difficulty units; sub-1 difficulties round to 0.
        shares_sum: acks.difficulty_sum.round() as u64,
    }
}

/// The difficulty that gives the configured share rate at `hashrate` H/s, if it is usable.
fn initial_difficulty(hashrate: f32, shares_per_minute: f64) -> Option<f64> {
    let hashrate = hashrate as f64;
    if !(hashrate.is_finite() && hashrate > 0.0 && shares_per_minute > 0.0) {
        return None;
    }
    let hashes_per_share = hashrate * 60.0 / shares_per_minute;
    let difficulty = hashes_per_share / work::work_of_difficulty(1.0);
    (difficulty.is_finite() && difficulty > 0.0).then_some(difficulty)
}
