//! What the pool says on the node's upstream channel — channel opened, jobs, tips, targets,
//! extranonce changes, share verdicts, loss — applied to the core.

use std::time::Instant;

use tracing::{debug, info, warn};
use work::Target;

use super::upstream::{UpstreamChannel, Verdict};
use super::{Action, Core, PrevHash, UpstreamEvent};

impl Core {
    /// A message of the upstream channel, or its loss.
    pub fn handle_upstream(&mut self, event: UpstreamEvent, now: Instant) {
        match event {
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
                    warn!(%reason, "upstream channel unusable");
                    self.actions.push_back(Action::CloseUpstream { reason });
                    return;
                }
                info!(
                    channel_id,
                    extranonce_size,
                    difficulty = channel.target.difficulty(),
                    "upstream channel open"
                );
                self.epoch += 1;
                self.upstream_error = None;
                self.counters.connections += 1;
                self.upstream = Some(channel);
            }
            UpstreamEvent::NewJob(job) => {
                let Some(layout) = self.layout() else {
                    return;
                };
                if let Some(job) = self.jobs.on_upstream_job(job, &layout, self.epoch, now) {
                    self.broadcast_job(&job, false);
                }
            }
            UpstreamEvent::SetNewPrevHash {
                job_id,
                prev_hash,
                min_ntime,
                nbits,
            } => {
                let Some(layout) = self.layout() else {
                    return;
                };
                let prev = PrevHash {
                    job_id,
                    prev_hash,
                    min_ntime,
                    nbits,
                };
                self.seen.clear();
                if let Some(job) = self.jobs.on_prev_hash(prev, &layout, self.epoch, now) {
                    self.broadcast_job(&job, true);
                }
            }
            UpstreamEvent::SetTarget { target } => {
                if let Some(channel) = self.upstream.as_mut() {
                    channel.target = Target::from_le_bytes(target);
                    debug!(difficulty = channel.target.difficulty(), "upstream target");
                }
            }
            UpstreamEvent::SetExtranoncePrefix { extranonce_prefix } => {
                let Some(channel) = self.upstream.as_mut() else {
                    return;
                };
                channel.extranonce_prefix = extranonce_prefix;
                let Some(layout) = self.layout() else {
                    return;
                };
                if let Some(job) = self.jobs.reissue_current(&layout, self.epoch, now) {
                    self.broadcast_job(&job, true);
                }
            }
            UpstreamEvent::SubmitSuccess {
                last_sequence_number,
                accepted_count,
                shares_sum,
            } => {
                let Some(channel) = self.upstream.as_mut() else {
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
                self.counters.pool_shares_sum += shares_sum;
                for verdict in verdicts {
                    self.apply_verdict(verdict);
                }
            }
            UpstreamEvent::SubmitError {
                sequence_number,
                code,
            } => {
                let Some(channel) = self.upstream.as_mut() else {
                    return;
                };
                if let Some(verdict) = channel.on_error(sequence_number) {
                    warn!(device = %verdict.device, %code, "pool rejected a forwarded share");
                    self.apply_verdict(verdict);
                }
            }
            UpstreamEvent::Failed { reason } => self.upstream_error = Some(reason),
            UpstreamEvent::Disconnected => {
                if let Some(channel) = self.upstream.take() {
                    self.counters.unanswered_shares += channel.unanswered() as u64;
                }
                self.jobs.on_upstream_lost();
            }
        }
    }

    fn apply_verdict(&mut self, verdict: Verdict) {
        if verdict.accepted {
            self.counters.acked_shares += 1;
            self.counters.acked_work += verdict.difficulty;
        } else {
            self.counters.rejected_shares += 1;
        }
    }
}
