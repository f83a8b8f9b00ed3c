//! What a pool says on a route's upstream channel — channel opened, jobs, tips, targets,
//! extranonce changes, share verdicts, loss — applied to the core.

use std::time::Instant;

use tracing::{debug, info, warn};
use work::Target;

use super::events::EventKind;
use super::route::JobSource;
use super::upstream::{UpstreamChannel, Verdict};
use super::{Action, Core, PrevHash, RouteId, UpstreamEvent};

impl Core {
    /// A message of route `route`'s upstream channel, or its loss.
    pub fn handle_upstream(&mut self, route: RouteId, event: UpstreamEvent, now: Instant) {
        let index = route.0 as usize;
        if !self.is_live(route) {
            return;
        }
        match event {
            UpstreamEvent::Endpoint { address, primary } => {
                self.routes[index].endpoint = Some((address, !primary));
            }
            UpstreamEvent::ChannelOpened {
                channel_id,
                target,
                extranonce_prefix,
                extranonce_size,
            } => {
                let channel = UpstreamChannel::new(
                    channel_id,
                    Target::from_le_bytes(target),
                    extranonce_prefix,
                    extranonce_size as usize,
                );
                let needed = self.config.upstream_extranonce_size();
                if channel.layout(needed).is_none() {
                    let reason = format!(
                        "pool granted {extranonce_size} rollable extranonce bytes, the node needs {needed}"
                    );
                    warn!(route = %self.routes[index].name, %reason, "upstream channel unusable");
                    self.routes[index].error = Some(reason.clone());
                    self.actions
                        .push_back(Action::CloseUpstream { route, reason });
                    return;
                }
                info!(
                    route = %self.routes[index].name,
                    channel_id,
                    extranonce_size,
                    difficulty = channel.target.difficulty(),
                    "upstream channel open"
                );
                let r = &mut self.routes[index];
                let (kind, message) = match &r.endpoint {
                    Some((address, true)) => (
                        EventKind::Failover,
                        format!("channel open on backup endpoint {address}"),
                    ),
                    Some((address, false)) => {
                        (EventKind::UpstreamUp, format!("channel open on {address}"))
                    }
                    None => (EventKind::UpstreamUp, "channel open".to_string()),
                };
                self.events.push(now, kind, Some(&r.name), message);
                if r.source == JobSource::Solo {
                    info!(route = %r.name, "pool back: leaving solo mining");
                    self.events.push(
                        now,
                        EventKind::Solo,
                        Some(&r.name),
                        "pool back: solo mining stopped",
                    );
                }
                r.epoch += 1;
                r.error = None;
                r.counters.connections += 1;
                r.channel = Some(channel);
                r.source = JobSource::Pool;
                r.down_since = None;
                r.pool_work.clear();
                if let Some(declarator) = r.declarator.as_mut() {
                    declarator.on_channel_lost();
                }
            }
            UpstreamEvent::NewJob(job) => {
                let Some(layout) = self.layout(route) else {
                    return;
                };
                let r = &mut self.routes[index];
                if r.source == JobSource::Solo {
                    return;
                }
                if let Some(channel) = r.channel.as_mut() {
                    channel.note_job(job.job_id);
                }
                r.pool_work.on_job(&job);
                if r.source != JobSource::Pool {
                    return;
                }
                if let Some(job) = r.jobs.on_upstream_job(job, &layout, r.epoch, now) {
                    self.broadcast_job(route, &job, false);
                }
            }
            UpstreamEvent::SetNewPrevHash {
                job_id,
                prev_hash,
                min_ntime,
                nbits,
            } => {
                let Some(layout) = self.layout(route) else {
                    return;
                };
                let prev = PrevHash {
                    job_id,
                    prev_hash,
                    min_ntime,
                    nbits,
                };
                let r = &mut self.routes[index];
                if r.source == JobSource::Solo {
                    return;
                }
                r.pool_work.on_prev_hash(prev);
                if r.source != JobSource::Pool {
                    return;
                }
                r.seen.clear();
                if let Some(job) = r.jobs.on_prev_hash(prev, &layout, r.epoch, now) {
                    self.broadcast_job(route, &job, true);
                    if route != RouteId::DEFAULT {
                        self.scheduler.set_available(route, true, now);
                    }
                }
            }
            UpstreamEvent::SetTarget { target } => {
                if let Some(channel) = self.routes[index].channel.as_mut() {
                    channel.set_target(Target::from_le_bytes(target));
                    debug!(difficulty = channel.target.difficulty(), "upstream target");
                }
            }
            UpstreamEvent::SetTargetForNewJobs { target } => {
                if let Some(channel) = self.routes[index].channel.as_mut() {
                    channel.set_target_for_new_jobs(Target::from_le_bytes(target));
                    debug!(
                        difficulty = channel.target.difficulty(),
                        "upstream target from the next job"
                    );
                }
            }
            UpstreamEvent::SetExtranoncePrefix { extranonce_prefix } => {
                let Some(channel) = self.routes[index].channel.as_mut() else {
                    return;
                };
                channel.extranonce_prefix = extranonce_prefix;
                let Some(layout) = self.layout(route) else {
                    return;
                };
                let r = &mut self.routes[index];
                if let Some(job) = r.jobs.reissue_current(&layout, r.epoch, now) {
                    self.broadcast_job(route, &job, true);
                }
            }
            UpstreamEvent::SubmitSuccess {
                last_sequence_number,
                accepted_count,
                shares_sum,
            } => {
                let r = &mut self.routes[index];
                let Some(channel) = r.channel.as_mut() else {
                    return;
                };
                let verdicts = channel.on_success(last_sequence_number);
                if verdicts.len() != accepted_count as usize {
                    debug!(
                        ours = verdicts.len(),
                        pool = accepted_count,
                        "acknowledged share count differs from pending shares"
                    );
                }
                r.counters.pool_shares_sum += shares_sum;
                for verdict in verdicts {
                    self.apply_verdict(route, verdict);
                }
            }
            UpstreamEvent::SubmitError {
                sequence_number,
                code,
            } => {
                let Some(channel) = self.routes[index].channel.as_mut() else {
                    return;
                };
                if let Some(verdict) = channel.on_error(sequence_number) {
                    warn!(device = %verdict.device, %code, "pool rejected a forwarded share");
                    self.apply_verdict(route, verdict);
                }
            }
            UpstreamEvent::WorkSelection { allowed } => {
                if let Some(declarator) = self.routes[index].declarator.as_mut() {
                    let outputs = declarator.on_work_selection(allowed, now);
                    self.apply_declarator(route, outputs, now);
                }
            }
            UpstreamEvent::CustomJobAccepted { request_id, job_id } => {
                if let Some(declarator) = self.routes[index].declarator.as_mut() {
                    let outputs = declarator.on_custom_job_accepted(request_id, job_id);
                    self.apply_declarator(route, outputs, now);
                }
            }
            UpstreamEvent::CustomJobRefused { request_id, code } => {
                if let Some(declarator) = self.routes[index].declarator.as_mut() {
                    let outputs = declarator.on_custom_job_refused(request_id, &code, now);
                    self.apply_declarator(route, outputs, now);
                }
            }
            UpstreamEvent::Failed { reason } => self.routes[index].error = Some(reason),
            UpstreamEvent::Disconnected => {
                let r = &mut self.routes[index];
                if r.channel.is_some() && r.source != JobSource::Solo {
                    let message = match &r.error {
                        Some(error) => format!("upstream lost: {error}"),
                        None => "upstream lost".to_string(),
                    };
                    self.events
                        .push(now, EventKind::UpstreamDown, Some(&r.name), message);
                }
                if r.source == JobSource::Solo {
                    return;
                }
                r.source = JobSource::Pool;
                r.down_since = Some(now);
                r.pool_work.clear();
                if let Some(declarator) = r.declarator.as_mut() {
                    declarator.on_channel_lost();
                }
                if let Some(channel) = r.channel.take() {
                    r.counters.unanswered_shares += channel.unanswered() as u64;
                }
                r.jobs.on_upstream_lost();
                // Its devices go where there is work until it is back; its debt keeps growing.
                if route != RouteId::DEFAULT {
                    self.scheduler.set_available(route, false, now);
                }
            }
        }
    }

    fn apply_verdict(&mut self, route: RouteId, verdict: Verdict) {
        let r = &mut self.routes[route.0 as usize];
        if verdict.accepted {
            r.counters.acked_shares += 1;
            r.counters.acked_work += verdict.difficulty;
            self.accounting
                .on_acked(route, work::work_of_difficulty(verdict.difficulty));
        } else {
            r.counters.rejected_shares += 1;
            self.accounting.on_rejected(route);
        }
    }
}
