//! The API's documents, made from a [`NodeSnapshot`]: pure functions, so tests feed them
//! snapshots directly.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::chain::ChainSnapshot;
use crate::core::{
    AllocationSnapshot, DeclaratorState, DeliveryWindow, DeviceKind, DeviceSnapshot, NodeSnapshot,
    RouteSnapshot,
};
use crate::net::connection_limit::ConnectionLimit;

use super::model::{
    Allocation, Allocations, Component, Delivery, Device, Event, Events, Health, JobDeclaration,
    Rates, Route, Routes, StartupProgress, Status, Upstream,
};

/// A chain not polled successfully for this long makes the node `degraded`.
pub const CHAIN_STALE_AFTER_S: u64 = 60;
/// A snapshot older than this means the core task is not answering.
pub const SNAPSHOT_STALE_AFTER_S: u64 = 10;

/// What the node is, beyond its snapshot: fixed at startup.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub version: String,
    pub started_unix: u64,
    pub sv1_addr: SocketAddr,
    pub sv2_addr: Option<SocketAddr>,
    /// A template provider is configured.
    pub template_provider: bool,
    /// A chain (Lumerin marketplace) is configured: until its watcher first reports, the
    /// node is `starting`, not `ok` without it.
    pub chain: bool,
    /// The device connection cap the listeners share (live counts).
    pub device_limit: Arc<ConnectionLimit>,
}

/// A snapshot and when it was taken.
#[derive(Debug, Clone)]
pub struct Sample {
    pub snapshot: NodeSnapshot,
    pub taken_unix: u64,
}

pub fn health(info: &NodeInfo, sample: Option<&Sample>, now_unix: u64) -> Health {
    let mut components = Vec::new();
    let fresh = sample.filter(|s| now_unix.saturating_sub(s.taken_unix) <= SNAPSHOT_STALE_AFTER_S);
    components.push(match fresh {
        Some(_) => component("core", Status::Ok, None),
        None => component(
            "core",
            Status::Down,
            Some("the core is not answering".into()),
        ),
    });
    components.push(component(
        "sv1_listener",
        Status::Ok,
        Some(info.sv1_addr.to_string()),
    ));
    if let Some(addr) = info.sv2_addr {
        components.push(component(
            "sv2_listener",
            Status::Ok,
            Some(addr.to_string()),
        ));
    }
    components.push(connections_component(&info.device_limit));
    let mut startup = None;
    if let Some(sample) = fresh {
        let snapshot = &sample.snapshot;
        for route in snapshot.routes.iter().filter(|r| !r.retired) {
            components.push(upstream_component(route));
            if let Some(jd) = &route.job_declaration {
                let (state, detail) = declarator_state(&jd.state);
                let status = match jd.state {
                    DeclaratorState::Mining { .. } | DeclaratorState::Declaring => Status::Ok,
                    _ => Status::Degraded,
                };
                let detail = detail.unwrap_or_else(|| state.to_string());
                components.push(component(
                    &format!("jds:{}", route.name),
                    status,
                    Some(detail),
                ));
            }
        }
        if info.template_provider {
            let t = &snapshot.templates;
            components.push(match t.connected {
                true => component("template_provider", Status::Ok, None),
                false => component(
                    "template_provider",
                    Status::Down,
                    Some(t.error.clone().unwrap_or_else(|| "not connected".into())),
                ),
            });
        }
        match &snapshot.chain {
            Some(chain) => {
                let (chain_component, progress) = chain_component(chain, now_unix);
                components.push(chain_component);
                startup = progress;
            }
            None if info.chain => components.push(component(
                "chain",
                Status::Starting,
                Some("not read yet".into()),
            )),
            None => {}
        }
    }
    let worst = |wanted: Status| components.iter().any(|c| c.status == wanted);
    let status = if worst(Status::Down) && fresh.is_none() {
        Status::Down
    } else if worst(Status::Starting) {
        Status::Starting
    } else if worst(Status::Down) || worst(Status::Degraded) {
        Status::Degraded
    } else {
        Status::Ok
    };
    Health {
        status,
        version: info.version.clone(),
        uptime_s: now_unix.saturating_sub(info.started_unix),
        components,
        startup,
    }
}

/// Degraded while the connection cap is reached: devices that connect now are turned away.
fn connections_component(limit: &ConnectionLimit) -> Component {
    let (open, cap) = (limit.open(), limit.limit());
    if open >= cap {
        component(
            "device_connections",
            Status::Degraded,
            Some(format!(
                "{open} of {cap} open: at the limit, new devices are refused"
            )),
        )
    } else {
        component(
            "device_connections",
            Status::Ok,
            Some(format!("{open} of {cap} open")),
        )
    }
}

fn component(name: &str, status: Status, detail: Option<String>) -> Component {
    Component {
        name: name.to_string(),
        status,
        detail,
        stale_s: None,
    }
}

fn upstream_component(route: &RouteSnapshot) -> Component {
    let name = format!("upstream:{}", route.name);
    let u = &route.upstream;
    if route.jobs_from == "solo" {
        let why = u
            .last_error
            .clone()
            .unwrap_or_else(|| "pool unreachable".into());
        return component(&name, Status::Degraded, Some(format!("solo mining: {why}")));
    }
    match (u.connected, u.on_backup) {
        (true, false) => component(&name, Status::Ok, u.endpoint.clone()),
        (true, true) => component(
            &name,
            Status::Degraded,
            Some(format!(
                "on backup endpoint {}",
                u.endpoint.as_deref().unwrap_or("?")
            )),
        ),
        (false, _) => component(
            &name,
            Status::Down,
            Some(u.last_error.clone().unwrap_or_else(|| "connecting".into())),
        ),
    }
}

fn chain_component(chain: &ChainSnapshot, now_unix: u64) -> (Component, Option<StartupProgress>) {
    let stale_s = chain
        .synced_at_unix
        .map(|synced| now_unix.saturating_sub(synced));
    let mut c = component(
        "chain",
        Status::Ok,
        Some(format!("{} via {}", chain.factory, chain.rpc)),
    );
    c.stale_s = stale_s;
    let progress = chain.startup.as_ref().map(|p| StartupProgress {
        phase: "reading contracts".to_string(),
        done: p.done,
        total: p.total,
    });
    if chain.synced_at_unix.is_none() {
        c.status = Status::Starting;
        c.detail = Some(match (&progress, &chain.last_error) {
            (_, Some(error)) => format!("not read yet: {error}"),
            (Some(p), None) => match p.total {
                Some(total) => format!("reading contracts: {} of {total}", p.done),
                None => format!("reading contracts: {}", p.done),
            },
            (None, None) => "not read yet".to_string(),
        });
    } else if chain.is_stale() || stale_s.is_some_and(|s| s > CHAIN_STALE_AFTER_S) {
        c.status = Status::Degraded;
        c.detail = Some(match &chain.last_error {
            Some(error) => format!("stale, keeping the last known allocations: {error}"),
            None => "stale, keeping the last known allocations".to_string(),
        });
    }
    (c, progress)
}

fn declarator_state(state: &DeclaratorState) -> (&'static str, Option<String>) {
    match state {
        DeclaratorState::WaitingForJds => ("waiting_for_jds", None),
        DeclaratorState::Declaring => ("declaring", None),
        DeclaratorState::Mining { template_id } => {
            ("mining", Some(format!("template {template_id}")))
        }
        DeclaratorState::FallenBack { reason } => ("fallen_back", Some(reason.clone())),
    }
}

pub fn device(d: &DeviceSnapshot, routes: &[RouteSnapshot]) -> Device {
    Device {
        id: d.id.0,
        kind: match d.kind {
            DeviceKind::Sv1 => "sv1",
            DeviceKind::Sv2Standard { .. } => "sv2_standard",
            DeviceKind::Sv2Extended { .. } => "sv2_extended",
        }
        .to_string(),
        worker: d.worker.clone(),
        user_agent: d.user_agent.clone(),
        route: routes
            .get(d.route.0 as usize)
            .map_or_else(String::new, |r| r.name.clone()),
        hashrate_hs: d.hashrate,
        difficulty: d.difficulty,
        accepted: d.counters.accepted,
        rejected: d.counters.rejected,
        stale: d.counters.stale,
        forwarded: d.counters.forwarded,
        connected_s: d.connected_for.as_secs(),
        last_share_s: d.last_share_ago.map(|a| a.as_secs()),
    }
}

fn rates(w: &DeliveryWindow) -> Rates {
    Rates {
        seconds: w.seconds.round() as u64,
        allocated_hs: w.allocated_hs(),
        seen_hs: w.seen_hs(),
        acked_hs: w.acked_hs(),
    }
}

/// Seconds of `rate_hs` that `owed` hashes are.
fn owed_seconds(owed: f64, rate_hs: f64) -> Option<f64> {
    (rate_hs > 0.0).then(|| owed / rate_hs)
}

/// What the default route is allocated: what the other routes leave of the farm.
pub fn default_route_target(snapshot: &NodeSnapshot) -> f64 {
    let others: f64 = snapshot.routes.iter().skip(1).map(|r| r.target).sum();
    (snapshot.farm_hashrate - others).max(0.0)
}

pub fn routes(snapshot: &NodeSnapshot) -> Routes {
    let routes = snapshot
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let u = &r.upstream;
            let target = match i {
                0 => default_route_target(snapshot),
                _ => r.target,
            };
            Route {
                name: r.name.clone(),
                is_default: i == 0,
                retired: r.retired,
                target_hs: target,
                owed_hashes: r.owed,
                owed_s: (i > 0).then(|| owed_seconds(r.owed, r.target)).flatten(),
                delivered_hashes: r.delivered,
                shares: r.shares,
                devices: r.devices,
                jobs_from: r.jobs_from.to_string(),
                last_10m: rates(&r.last_10m),
                last_1h: rates(&r.last_1h),
                upstream: Upstream {
                    connected: u.connected,
                    endpoint: u.endpoint.clone(),
                    on_backup: u.on_backup,
                    channel_id: u.channel_id,
                    difficulty: u.difficulty,
                    last_error: u.last_error.clone(),
                    connections: u.counters.connections,
                    forwarded_shares: u.counters.forwarded_shares,
                    acked_shares: u.counters.acked_shares,
                    rejected_shares: u.counters.rejected_shares,
                    unanswered_shares: u.counters.unanswered_shares,
                    blocks: u.counters.blocks,
                },
                job_declaration: r.job_declaration.as_ref().map(|jd| {
                    let (state, detail) = declarator_state(&jd.state);
                    JobDeclaration {
                        state: state.to_string(),
                        detail,
                        declared: jd.declared,
                        fallbacks: jd.fallbacks,
                    }
                }),
            }
        })
        .collect();
    Routes {
        routes,
        oversubscribed: snapshot.oversubscribed.clone(),
    }
}

pub fn allocations(snapshot: &NodeSnapshot) -> Allocations {
    let allocations = snapshot
        .allocations
        .iter()
        .map(|a| allocation(a, snapshot))
        .collect();
    Allocations {
        farm_hashrate_hs: snapshot.farm_hashrate,
        oversubscribed: snapshot.oversubscribed.clone(),
        allocations,
    }
}

fn allocation(a: &AllocationSnapshot, snapshot: &NodeSnapshot) -> Allocation {
    let contract = snapshot
        .chain
        .as_ref()
        .and_then(|chain| chain.contracts.iter().find(|c| c.address == a.id));
    let since = a.start.or(a.total.since_unix);
    let until = a.end.map_or(snapshot.unix, |end| end.min(snapshot.unix));
    let seconds = since.map_or(0, |since| until.saturating_sub(since));
    let per_second = |work: f64| {
        if seconds > 0 {
            work / seconds as f64
        } else {
            0.0
        }
    };
    let owed_s = owed_seconds(a.owed, a.granted_hs);
    let delivery = match (a.active, owed_s) {
        (false, _) => Delivery::Inactive,
        (true, Some(owed)) if owed > 60.0 => Delivery::Behind,
        (true, _) => Delivery::OnTarget,
    };
    Allocation {
        id: a.id.clone(),
        route: a.route.clone(),
        source: if contract.is_some() { "chain" } else { "file" }.to_string(),
        requested_hs: a.requested_hs,
        fraction: match a.amount {
            contracts::Amount::Fraction(f) => Some(f),
            contracts::Amount::Hashrate(_) => None,
        },
        granted_hs: a.granted_hs,
        start_unix: a.start,
        end_unix: a.end,
        active: a.active,
        delivery,
        last_10m: rates(&a.last_10m),
        last_1h: rates(&a.last_1h),
        contract: Rates {
            seconds,
            allocated_hs: a.requested_hs,
            seen_hs: per_second(a.total.seen_work),
            acked_hs: per_second(a.total.acked_work),
        },
        owed_hashes: a.owed,
        owed_s,
        buyer: contract.map(|c| c.buyer.clone()),
        destination: contract.and_then(|c| c.destination.clone()),
    }
}

/// The newest `limit` events (after `after_seq`, if given).
pub fn events(snapshot: &NodeSnapshot, limit: usize, after_seq: Option<u64>) -> Events {
    let events = snapshot
        .events
        .iter()
        .filter(|e| after_seq.is_none_or(|after| e.seq > after))
        .take(limit)
        .map(|e| Event {
            seq: e.seq,
            at_unix: snapshot.unix.saturating_sub(e.age.as_secs()),
            kind: e.kind.as_str().to_string(),
            route: e.route.clone(),
            message: e.message.clone(),
        })
        .collect();
    Events { events }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::AllocationTotals;

    fn allocation(start: Option<u64>, since_unix: Option<u64>) -> AllocationSnapshot {
        AllocationSnapshot {
            id: "buyer".into(),
            route: "buyer".into(),
            amount: contracts::Amount::Hashrate(1e12),
            start,
            end: None,
            active: true,
            requested_hs: 1e12,
            granted_hs: 1e12,
            last_10m: DeliveryWindow::default(),
            last_1h: DeliveryWindow::default(),
            total: AllocationTotals {
                seen_work: 20e12,
                acked_work: 10e12,
                since_unix,
            },
            owed: 0.0,
        }
    }

    #[test]
    fn contract_rates_run_from_the_start_or_from_the_first_grant() {
        let mut snapshot = super::super::tests::empty_snapshot();
        snapshot.unix = 1_700_000_100;
        // A contract that started 100 s ago, delivered to for 20 s of it: 100 s count.
        let contract = super::allocation(
            &allocation(Some(1_700_000_000), Some(1_700_000_080)),
            &snapshot,
        )
        .contract;
        assert_eq!((contract.seconds, contract.seen_hs), (100, 0.2e12));
        assert_eq!(contract.acked_hs, 0.1e12);
        assert_eq!(contract.allocated_hs, 1e12);
        // An open-ended file entry: from when the node first granted it hashrate.
        let entry = super::allocation(&allocation(None, Some(1_700_000_080)), &snapshot).contract;
        assert_eq!((entry.seconds, entry.seen_hs), (20, 1e12));
        // Never granted: no rate rather than a division by zero.
        let never = super::allocation(&allocation(None, None), &snapshot).contract;
        assert_eq!((never.seconds, never.seen_hs), (0, 0.0));
    }
}
