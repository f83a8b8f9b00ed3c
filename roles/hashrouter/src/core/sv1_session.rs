//! Stratum V1 sessions: `mining.configure`, `subscribe`, `authorize`, `suggest_difficulty` and
//! `submit`, answered with lines from [`super::lines`].

use std::time::Instant;

use sv1::encode::server::ConfigureResult;
use tracing::debug;
use work::Target;

use super::{lines, Core, DeviceId, DeviceKind, DeviceRequest, RequestId, ShareRejection, Submit};
use super::{SubmittedShare, VERSION_ROLLING_MASK};

impl Core {
    /// An SV1 device connected; returns its node-unique id (the start of its extranonce1).
    pub fn device_connected(&mut self, now: Instant) -> DeviceId {
        let rollable = self.config.sv1_extranonce2_size;
        self.add_device(DeviceKind::Sv1, rollable, now)
    }

    /// An SV1 device's connection ended.
    pub fn device_disconnected(&mut self, device: DeviceId) {
        self.remove_device(device);
    }

    pub fn handle_device_request(
        &mut self,
        device: DeviceId,
        request: DeviceRequest,
        now: Instant,
    ) {
        if !self.devices.contains_key(&device) {
            return;
        }
        match request {
            DeviceRequest::Configure {
                id,
                version_rolling_mask,
                minimum_difficulty,
                unsupported,
                subscribe_extranonce,
                info,
            } => self.on_configure(
                device,
                id,
                version_rolling_mask,
                minimum_difficulty,
                &unsupported,
                subscribe_extranonce,
                info,
                now,
            ),
            DeviceRequest::Subscribe { id, user_agent } => {
                let Some(d) = self.devices.get_mut(&device) else {
                    return;
                };
                d.subscribed = true;
                d.user_agent = user_agent;
                let line =
                    lines::subscribe_result(&id, &d.extranonce_prefix, d.rollable_extranonce_size);
                self.send(device, line);
                self.start_mining_if_ready(device);
            }
            DeviceRequest::Authorize { id, user } => {
                let Some(d) = self.devices.get_mut(&device) else {
                    return;
                };
                if !d.workers.contains(&user) {
                    d.workers.push(user);
                }
                self.send(device, lines::result_bool(&id, true));
                self.start_mining_if_ready(device);
            }
            DeviceRequest::ExtranonceSubscribe { id } => {
                // Our extranonce never changes (DESIGN.md §3), so there is nothing to subscribe to.
                self.send(device, lines::result_bool(&id, true));
            }
            DeviceRequest::SuggestDifficulty { id, difficulty } => {
                self.on_suggest_difficulty(device, difficulty, now);
                self.send(device, lines::result_bool(&id, true));
            }
            DeviceRequest::Submit { id, submit } => match self.on_submit(device, &submit, now) {
                Ok(new_difficulty) => {
                    self.send(device, lines::result_bool(&id, true));
                    if let Some(difficulty) = new_difficulty {
                        self.send_sv1_difficulty(device, difficulty);
                    }
                }
                Err(rejection) => {
                    let (code, message) = rejection.sv1_error();
                    self.send(device, lines::error(&id, code, message));
                }
            },
            DeviceRequest::Unknown { id, method } => {
                debug!(%device, %method, "unsupported method");
                self.send(device, lines::error(&id, 20, "Unsupported method"));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_configure(
        &mut self,
        device: DeviceId,
        id: RequestId,
        version_rolling_mask: Option<u32>,
        minimum_difficulty: Option<f64>,
        unsupported: &[String],
        subscribe_extranonce: bool,
        info: bool,
        now: Instant,
    ) {
        let vardiff = self.config.vardiff.clone();
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        let granted = version_rolling_mask.map(|asked| asked & VERSION_ROLLING_MASK);
        d.version_mask = granted.unwrap_or(0);
        let minimum_accepted = minimum_difficulty.map(|value| {
            let ok = value.is_finite() && value > 0.0 && value <= vardiff.maximum;
            if ok {
                d.minimum_difficulty = Some(value);
                if d.vardiff.difficulty() < value {
                    d.vardiff.reset_to(&vardiff, value, now);
                    d.target = Target::from_difficulty(d.vardiff.difficulty());
                }
            }
            ok
        });
        let refused: Vec<&str> = unsupported.iter().map(String::as_str).collect();
        // subscribe-extranonce: our extranonce never changes (DESIGN.md §3), nothing to send.
        let line = lines::configure_result(
            &id,
            &ConfigureResult {
                version_rolling_mask: granted,
                minimum_difficulty: minimum_accepted,
                subscribe_extranonce: subscribe_extranonce.then_some(false),
                info: info.then_some(true),
                refused: &refused,
            },
        );
        self.send(device, line);
    }

    fn on_suggest_difficulty(&mut self, device: DeviceId, difficulty: f64, now: Instant) {
        let vardiff = self.config.vardiff.clone();
        let next_job = self.next_job_for(device);
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        // A hint for where to start; once shares flow, measurement wins.
        if !(difficulty.is_finite() && difficulty > 0.0) || d.counters.accepted > 0 {
            return;
        }
        d.vardiff.reset_to(&vardiff, difficulty, now);
        let applied = d.set_difficulty(d.vardiff.difficulty(), next_job);
        if d.is_ready() {
            self.send_sv1_difficulty(device, applied);
        }
    }

    /// After subscribe and authorize: the device's difficulty, then the current job.
    fn start_mining_if_ready(&mut self, device: DeviceId) {
        let Some(d) = self.devices.get_mut(&device) else {
            return;
        };
        if !d.is_ready() || d.last_job_sent.is_some() {
            return;
        }
        let difficulty = d.vardiff.difficulty();
        self.send_sv1_difficulty(device, difficulty);
        if let Some(job) = self.current_job_for(device) {
            self.send_job(device, &job, true);
        }
    }

    /// Checks the session, then validates and credits the share (see [`Core::accept_share`]);
    /// returns the device's new difficulty if vardiff changed it (sent after the answer).
    fn on_submit(
        &mut self,
        device: DeviceId,
        submit: &Submit,
        now: Instant,
    ) -> Result<Option<f64>, ShareRejection> {
        let d = self
            .devices
            .get_mut(&device)
            .ok_or(ShareRejection::NotSubscribed)?;
        let session_error = if !d.subscribed {
            Some(ShareRejection::NotSubscribed)
        } else if d.workers.is_empty() {
            Some(ShareRejection::Unauthorized)
        } else {
            None
        };
        if let Some(rejection) = session_error {
            d.counters.rejected += 1;
            return Err(rejection);
        }
        let Ok(job_id) = u32::from_str_radix(&submit.job_id, 16) else {
            d.counters.rejected += 1;
            return Err(ShareRejection::UnknownJob);
        };
        let share = SubmittedShare {
            job_id,
            rolled_extranonce: submit.extranonce2.as_bytes(),
            ntime: submit.ntime,
            nonce: submit.nonce,
            version: submit.version_bits,
        };
        let accepted = self.accept_share(device, share, now)?;
        Ok(accepted.new_difficulty)
    }
}
