//! Sending jobs and difficulties to devices, phrased for each kind: one shared
//! `mining.notify` line for SV1 devices; for SV2, one extended job per extended channel, one
//! group-addressed extended job per connection for its standard channels, or a NewMiningJob with
//! a node-computed merkle root per standard channel when the connection requires standard jobs.

use std::sync::Arc;
use std::time::Instant;

use work::{coinbase_txid, merkle_root};

use super::{lines, Action, Core, DeviceId, DeviceJob, DeviceKind, Line, RouteId, Sv2Message};

impl Core {
    /// A new job of `route` for every ready device mining for it; `clean` when it starts a new
    /// chain tip.
    pub(super) fn broadcast_job(&mut self, route: RouteId, job: &Arc<DeviceJob>, clean: bool) {
        let line = lines::notify(job, clean);
        let mut sv1 = Vec::new();
        for d in self.devices.values_mut() {
            if d.kind == DeviceKind::Sv1 && d.route == route && d.is_ready() {
                d.last_job_sent = Some(job.id);
                sv1.push(d.id);
            }
        }
        for device in sv1 {
            self.actions.push_back(Action::ToSv1 {
                device,
                line: line.clone(),
            });
        }
        let connections: Vec<_> = self.connections.keys().copied().collect();
        for connection in connections {
            self.broadcast_job_on_connection(connection, route, job, clean);
        }
    }

    fn broadcast_job_on_connection(
        &mut self,
        connection: super::ConnectionId,
        route: RouteId,
        job: &Arc<DeviceJob>,
        clean: bool,
    ) {
        let Some(conn) = self.connections.get(&connection) else {
            return;
        };
        let channels: Vec<DeviceId> = conn.channels.iter().copied().collect();
        // One group-addressed job serves the connection's standard channels only while they
        // all mine for the same route.
        let one_route = channels.iter().all(|c| {
            self.devices.get(c).is_none_or(|d| {
                d.route == route || !matches!(d.kind, DeviceKind::Sv2Standard { .. })
            })
        });
        let group = (!conn.requires_standard_jobs() && one_route).then(|| conn.group_channel_id());
        let mut group_has_members = false;
        for device in channels {
            let Some(d) = self.devices.get_mut(&device) else {
                continue;
            };
            if d.route != route {
                continue;
            }
            d.last_job_sent = Some(job.id);
            match (d.kind, group) {
                (DeviceKind::Sv2Standard { .. }, Some(_)) => group_has_members = true,
                _ => self.send_job(device, job, clean),
            }
        }
        if let (Some(group_channel_id), true) = (group, group_has_members) {
            self.send_sv2(connection, extended_job(group_channel_id, job, clean));
            if clean {
                self.send_sv2(connection, prev_hash(group_channel_id, job));
            }
        }
    }

    /// The job for one device, addressed to it alone (a newly opened channel, or a device that
    /// just became ready).
    pub(super) fn send_job(&mut self, device: DeviceId, job: &Arc<DeviceJob>, clean: bool) {
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        d.last_job_sent = Some(job.id);
        let channel_id = device.0;
        match d.kind {
            DeviceKind::Sv1 => self.send(device, lines::notify(job, clean)),
            DeviceKind::Sv2Extended { connection } => {
                self.send_sv2(connection, extended_job(channel_id, job, clean));
                if clean {
                    self.send_sv2(connection, prev_hash(channel_id, job));
                }
            }
            DeviceKind::Sv2Standard { connection } => {
                let message = Sv2Message::NewMiningJob {
                    channel_id,
                    job_id: job.id,
                    min_ntime: (!clean).then_some(job.ntime),
                    version: job.version,
                    merkle_root: standard_merkle_root(job, &d.extranonce_prefix),
                };
                self.send_sv2(connection, message);
                if clean {
                    self.send_sv2(connection, prev_hash(channel_id, job));
                }
            }
        }
    }

    /// Tells a device its new difficulty (SV1 `mining.set_difficulty`, SV2 SetTarget).
    pub(super) fn send_difficulty(&mut self, device: DeviceId, difficulty: f64, now: Instant) {
        let Some(d) = self.devices.get(&device) else {
            return;
        };
        match d.kind.connection() {
            None => self.send_sv1_difficulty(device, difficulty),
            Some(connection) => {
                let message = Sv2Message::SetTarget {
                    channel_id: device.0,
                    target: d.target,
                };
                let mining_current = d.last_job_sent;
                let route = d.route;
                self.send_sv2(connection, message);
                if let Some(job) = self.route(route).jobs.current().cloned() {
                    if mining_current == Some(job.id) {
                        self.refresh_sv2_job(device, &job, now);
                    }
                }
            }
        }
    }

    /// Re-sends the job an SV2 channel mines with its minimum ntime moved to now (and at least a
    /// second past the job's): devices such as SRI's mining_device restart their nonce range
    /// on SetTarget and would find, and send, the same shares again; a new ntime gives them a
    /// new header. The job id stays, so the node's validation is unchanged.
    fn refresh_sv2_job(&mut self, device: DeviceId, job: &Arc<DeviceJob>, now: Instant) {
        let Some(d) = self.devices.get(&device) else {
            return;
        };
        let out_for = now.saturating_duration_since(job.issued_at).as_secs();
        let ntime = job.ntime.saturating_add(out_for.max(1) as u32);
        let channel_id = device.0;
        let (connection, message) = match d.kind {
            DeviceKind::Sv1 => return,
            DeviceKind::Sv2Extended { connection } => (
                connection,
                Sv2Message::NewExtendedMiningJob {
                    channel_id,
                    job: job.clone(),
                    min_ntime: Some(ntime),
                },
            ),
            DeviceKind::Sv2Standard { connection } => (
                connection,
                Sv2Message::NewMiningJob {
                    channel_id,
                    job_id: job.id,
                    min_ntime: Some(ntime),
                    version: job.version,
                    merkle_root: standard_merkle_root(job, &d.extranonce_prefix),
                },
            ),
        };
        self.send_sv2(connection, message);
    }

    pub(super) fn send_sv1_difficulty(&mut self, device: DeviceId, difficulty: f64) {
        if let Some(line) = lines::set_difficulty(difficulty) {
            self.send(device, line);
        }
    }

    pub(super) fn send(&mut self, device: DeviceId, line: Line) {
        self.actions.push_back(Action::ToSv1 { device, line });
    }

    pub(super) fn send_sv2(&mut self, connection: super::ConnectionId, message: Sv2Message) {
        self.actions.push_back(Action::ToSv2 {
            connection,
            message,
        });
    }
}

/// A job for extended channel (or group) `channel_id`: future when it starts a new tip, since
/// SV2 announces a tip as a future job followed by SetNewPrevHash.
fn extended_job(channel_id: u32, job: &Arc<DeviceJob>, clean: bool) -> Sv2Message {
    Sv2Message::NewExtendedMiningJob {
        channel_id,
        job: job.clone(),
        min_ntime: (!clean).then_some(job.ntime),
    }
}

/// The merkle root of `job` for a standard channel whose whole extranonce is `extranonce`.
fn standard_merkle_root(job: &DeviceJob, extranonce: &[u8]) -> [u8; 32] {
    let coinbase = coinbase_txid(&[&job.coinb1, extranonce, &job.coinb2]);
    merkle_root(coinbase, &job.merkle_path)
}

fn prev_hash(channel_id: u32, job: &DeviceJob) -> Sv2Message {
    Sv2Message::SetNewPrevHash {
        channel_id,
        job_id: job.id,
        prev_hash: job.prev_hash,
        min_ntime: job.min_ntime,
        nbits: job.nbits,
    }
}
