//! Templates from the template provider, declared jobs and solo mining, applied to the core:
//! the glue between the [`TemplateFeed`], each route's [`Declarator`], [`Solo`] and the routes'
//! job books.

use std::time::Instant;

use tracing::{info, warn};
use work::Target;

use super::declarator::{Declarator, DeclaratorOutput, DeclareContext};
use super::events::EventKind;
use super::jobs::{DeviceJob, PrevHash, UpstreamJob};
use super::route::JobSource;
use super::solo::SOLO_AFTER;
use super::upstream::UpstreamChannel;
use super::{
    coinbase, Action, Core, DeviceId, JdsCommand, JdsEvent, RouteId, Solution, TemplateCommand,
    TemplateEvent,
};

/// Room the template provider keeps for our coinbase outputs when none is known yet (one
/// P2TR / P2WSH output).
const MIN_OUTPUT_ROOM: u32 = 43;

impl Core {
    /// Something the template provider said (or its loss).
    pub fn handle_template(&mut self, event: TemplateEvent, now: Instant) {
        match event {
            TemplateEvent::Connected => {
                info!("template provider connected");
                self.templates.connected = true;
                self.templates.error = None;
                self.send_coinbase_constraints();
            }
            TemplateEvent::NewTemplate(template) => {
                let template_id = template.template_id;
                let active = self.templates.on_template(template);
                if self.routes.iter().any(|r| r.declarator.is_some()) {
                    self.actions.push_back(Action::ToTemplateProvider(
                        TemplateCommand::RequestTransactionData { template_id },
                    ));
                }
                if active {
                    self.on_new_work(now);
                }
            }
            TemplateEvent::SetNewPrevHash(tip) => {
                if self.templates.on_tip(tip) {
                    self.on_new_work(now);
                } else {
                    warn!(
                        template_id = tip.template_id,
                        "template provider's new tip names no template it sent"
                    );
                }
            }
            TemplateEvent::TransactionData {
                template_id,
                transactions,
                excess_data,
            } => match self
                .templates
                .on_transactions(template_id, transactions, excess_data)
            {
                Ok(()) => self.poll_declarators(now),
                Err(e) => warn!(template_id, error = %e, "template transactions refused"),
            },
            TemplateEvent::TransactionDataError { template_id, code } => {
                warn!(template_id, %code, "template provider has no transactions for a template");
            }
            TemplateEvent::Disconnected { reason } => {
                if self.templates.connected {
                    warn!(%reason, "template provider lost");
                }
                self.templates.on_disconnected(reason.clone());
                for index in 0..self.routes.len() {
                    if let Some(declarator) = self.routes[index].declarator.as_mut() {
                        let outputs = declarator.on_templates_lost(&reason, now);
                        self.apply_declarator(RouteId(index as u16), outputs, now);
                    }
                }
            }
        }
    }

    /// Something route `route`'s Job Declaration Server said (or its loss).
    pub fn handle_jds(&mut self, route: RouteId, event: JdsEvent, now: Instant) {
        let Some(r) = self.routes.get_mut(route.0 as usize) else {
            return;
        };
        let Some(declarator) = r.declarator.as_mut() else {
            return;
        };
        match &event {
            JdsEvent::Connected => info!(route = %r.name, "JDS connected"),
            JdsEvent::Disconnected { reason } => {
                warn!(route = %r.name, %reason, "JDS connection ended")
            }
            _ => {}
        }
        let room_before = coinbase_room(declarator.pool_outputs());
        let outputs = declarator.on_jds(event, now);
        let room_after = coinbase_room(declarator.pool_outputs());
        self.apply_declarator(route, outputs, now);
        if room_after.0 > room_before.0 || room_after.1 > room_before.1 {
            self.send_coinbase_constraints();
        }
        self.poll_declarator(route, now);
    }

    /// Turns routes configured with job declaration into declaring routes.
    pub(super) fn enable_job_declaration(&mut self) {
        let names = self.config.templates.job_declaration.clone();
        for route in &mut self.routes {
            if names.contains(&route.name) {
                route.declarator = Some(Declarator::default());
            }
        }
    }

    /// Periodic work of declarators (timeouts, retries) and solo mining (start once the default
    /// pool has been down long enough).
    pub(super) fn tick_templates(&mut self, now: Instant) {
        self.poll_declarators(now);
        let default = &self.routes[0];
        let pool_down_long = default
            .down_since
            .is_some_and(|since| now.saturating_duration_since(since) >= SOLO_AFTER);
        if self.solo.is_some() && default.source != JobSource::Solo && pool_down_long {
            self.mine_solo(now);
        }
    }

    /// A new template or tip: solo mining and declared routes move to it.
    fn on_new_work(&mut self, now: Instant) {
        if self.routes[0].source == JobSource::Solo {
            self.mine_solo(now);
        }
        self.poll_declarators(now);
    }

    fn poll_declarators(&mut self, now: Instant) {
        for index in 0..self.routes.len() {
            self.poll_declarator(RouteId(index as u16), now);
        }
    }

    fn poll_declarator(&mut self, route: RouteId, now: Instant) {
        let index = route.0 as usize;
        let Some(r) = self.routes.get_mut(index) else {
            return;
        };
        let Some(declarator) = r.declarator.as_mut() else {
            return;
        };
        let channel = r.channel.as_ref().filter(|_| r.source != JobSource::Solo);
        let context = match (channel, self.templates.current()) {
            (Some(channel), Some((template, tip))) => Some(DeclareContext {
                channel_id: channel.channel_id,
                full_extranonce_size: channel.extranonce_prefix.len() + channel.extranonce_size,
                template,
                tip,
                transactions: self.templates.transactions(template.template_id),
                coinbase_tag: self.config.templates.coinbase_tag.as_bytes(),
                version_rolling_allowed: r.pool_work.version_rolling_allowed(),
            }),
            _ => None,
        };
        let outputs = declarator.poll(context, now);
        self.apply_declarator(route, outputs, now);
    }

    /// Carries out what a route's declarator decided.
    pub(super) fn apply_declarator(
        &mut self,
        route: RouteId,
        outputs: Vec<DeclaratorOutput>,
        now: Instant,
    ) {
        for output in outputs {
            match output {
                DeclaratorOutput::ToJds(command) => {
                    self.actions.push_back(Action::ToJds { route, command })
                }
                DeclaratorOutput::SetCustomJob(job) => {
                    self.actions.push_back(Action::SetCustomJob { route, job })
                }
                DeclaratorOutput::Mine { job, prev } => {
                    let r = &mut self.routes[route.0 as usize];
                    if r.source != JobSource::Declared {
                        info!(route = %r.name, "mining declared jobs");
                        self.events.push(
                            now,
                            EventKind::JobDeclaration,
                            Some(&r.name),
                            "mining declared jobs",
                        );
                    }
                    r.source = JobSource::Declared;
                    self.restart_route(route, job, prev, now);
                }
                DeclaratorOutput::FallBack { reason } => {
                    let r = &mut self.routes[route.0 as usize];
                    if r.source == JobSource::Declared {
                        warn!(route = %r.name, %reason, "job declaration failed: mining the pool's jobs");
                        let message = format!("job declaration failed ({reason}): pool's jobs");
                        self.events
                            .push(now, EventKind::JobDeclaration, Some(&r.name), message);
                        r.source = JobSource::Pool;
                        if let Some((job, prev)) = r.pool_work.current() {
                            self.restart_route(route, job, prev, now);
                        }
                    } else {
                        info!(route = %r.name, %reason, "job declaration unavailable: mining the pool's jobs");
                    }
                }
            }
        }
    }

    /// Mines `job` on `route` from now on, in place of whatever it mined.
    fn restart_route(&mut self, route: RouteId, job: UpstreamJob, prev: PrevHash, now: Instant) {
        let Some(layout) = self.layout(route) else {
            return;
        };
        let r = &mut self.routes[route.0 as usize];
        if let Some(channel) = r.channel.as_mut() {
            channel.note_job(job.job_id);
        }
        r.seen.clear();
        let job = r.jobs.restart(&job, prev, &layout, r.epoch, now);
        self.broadcast_job(route, &job, true);
        if route != RouteId::DEFAULT {
            self.scheduler.set_available(route, true, now);
        }
    }

    /// Solo mining on the default route (its pool is unreachable): a job on the current template
    /// paying the solo output. Without a template, devices keep what they have.
    fn mine_solo(&mut self, now: Instant) {
        let Some((template, tip)) = self.templates.current() else {
            return;
        };
        let (template, tip) = (template.clone(), *tip);
        let Some(solo) = self.solo.as_mut() else {
            return;
        };
        let extranonce_size = self.config.upstream_extranonce_size();
        let tag = self.config.templates.coinbase_tag.as_bytes();
        let (job, prev) = match solo.job(&template, &tip, tag, extranonce_size) {
            Ok(work) => work,
            Err(e) => {
                warn!(error = %e, "cannot build a solo job from the template");
                return;
            }
        };
        let r = &mut self.routes[0];
        if r.source != JobSource::Solo {
            let reason = r.error.as_deref().unwrap_or("no pool channel");
            warn!(
                reason,
                "default pool unreachable: solo mining on the node's templates"
            );
            let message = format!("default pool unreachable ({reason}): solo mining");
            self.events
                .push(now, EventKind::Solo, Some(&r.name), message);
            let target = Target::from_compact(tip.nbits).unwrap_or(Target::MAX);
            // A channel of our own: its target is the network's, so the only shares that "go
            // upstream" are blocks, which go to the template provider.
            r.channel = Some(UpstreamChannel::new(0, target, Vec::new(), extranonce_size));
            r.epoch += 1;
            r.source = JobSource::Solo;
        } else if let Some(channel) = r.channel.as_mut() {
            channel.set_target(Target::from_compact(tip.nbits).unwrap_or(Target::MAX));
        }
        self.restart_route(RouteId::DEFAULT, job, prev, now);
    }

    /// A share meeting the network target: a block. Goes to the template provider (and the JDS)
    /// when the job is the node's own; pool jobs' blocks are the pool's to publish.
    pub(super) fn on_block(
        &mut self,
        route: RouteId,
        device: DeviceId,
        job: &DeviceJob,
        hash: &[u8; 32],
        share: BlockShare<'_>,
    ) {
        let Some(r) = self.routes.get_mut(route.0 as usize) else {
            return;
        };
        let Some(d) = self.devices.get(&device) else {
            return;
        };
        r.counters.blocks += 1;
        let mut block_hash = *hash;
        block_hash.reverse();
        let template_id = match r.source {
            JobSource::Solo => self
                .solo
                .as_ref()
                .and_then(|s| s.template_of(job.upstream_job_id)),
            _ => r
                .declarator
                .as_ref()
                .and_then(|j| j.declared_job(job.upstream_job_id))
                .map(|j| j.template_id),
        };
        info!(
            route = %r.name,
            source = r.source.as_str(),
            hash = %hex::encode(block_hash),
            %device,
            "block found"
        );
        let message = format!(
            "block {} found by device {device} on {} jobs",
            hex::encode(block_hash),
            r.source.as_str()
        );
        self.events
            .push(share.at, EventKind::Block, Some(&r.name), message);
        let Some(template_id) = template_id else {
            return;
        };
        let mut stripped = job.coinb1.clone();
        stripped.extend_from_slice(&d.extranonce_prefix);
        stripped.extend_from_slice(share.rolled_extranonce);
        stripped.extend_from_slice(&job.coinb2);
        let coinbase_tx = match coinbase::with_witness(&stripped) {
            Ok(tx) => tx,
            Err(e) => {
                warn!(error = %e, "block found but its coinbase does not decode");
                return;
            }
        };
        self.actions
            .push_back(Action::ToTemplateProvider(TemplateCommand::SubmitSolution(
                Solution {
                    template_id,
                    version: share.version,
                    header_timestamp: share.ntime,
                    header_nonce: share.nonce,
                    coinbase_tx,
                },
            )));
        if r.source == JobSource::Declared {
            let mut extranonce = job.coinb1[job.tx_prefix_len..].to_vec();
            extranonce.extend_from_slice(&d.extranonce_prefix);
            extranonce.extend_from_slice(share.rolled_extranonce);
            self.actions.push_back(Action::ToJds {
                route,
                command: JdsCommand::PushSolution {
                    extranonce,
                    prev_hash: job.prev_hash,
                    nonce: share.nonce,
                    ntime: share.ntime,
                    nbits: job.nbits,
                    version: share.version,
                },
            });
        }
    }

    /// Asks the template provider to keep room for the largest coinbase outputs any route may
    /// need: the solo payout, or a pool's required outputs.
    fn send_coinbase_constraints(&mut self) {
        if !self.templates.connected {
            return;
        }
        let mut room = coinbase_room(self.solo.as_ref().map(|s| s.payout()));
        for r in &self.routes {
            if let Some(declarator) = &r.declarator {
                let (size, sigops) = coinbase_room(declarator.pool_outputs());
                room = (room.0.max(size), room.1.max(sigops));
            }
        }
        self.actions.push_back(Action::ToTemplateProvider(
            TemplateCommand::CoinbaseOutputConstraints {
                max_additional_size: room.0.max(MIN_OUTPUT_ROOM),
                max_additional_sigops: room.1,
            },
        ));
    }
}

/// The header fields of a block share.
#[derive(Debug, Clone, Copy)]
pub(super) struct BlockShare<'a> {
    pub rolled_extranonce: &'a [u8],
    pub version: u32,
    pub ntime: u32,
    pub nonce: u32,
    /// When it was submitted.
    pub at: Instant,
}

/// Serialized size and sigop cost of coinbase outputs.
fn coinbase_room(outputs: Option<&[bitcoin::TxOut]>) -> (u32, u16) {
    let outputs = outputs.unwrap_or_default();
    let size: usize = outputs.iter().map(|o| o.size()).sum();
    let sigops: usize = outputs
        .iter()
        .map(|o| o.script_pubkey.count_sigops_legacy() * 4)
        .sum();
    (
        u32::try_from(size).unwrap_or(u32::MAX),
        u16::try_from(sigops).unwrap_or(u16::MAX),
    )
}
