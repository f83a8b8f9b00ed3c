//! `GET /metrics`: the node's figures as Prometheus series, rendered from the latest snapshot
//! (the same one the JSON API answers from, so a scrape and a dashboard agree).
//!
//! Rates are in H/s (`*_hashrate`), work in hashes (difficulty × 2^32), times in seconds. Every
//! family is listed in [`FAMILIES`], in the order rendered; the Grafana dashboard's test checks
//! its queries against that list.

pub use super::exposition::{parse_sample, Family, Kind, ParseError, ParsedSample, CONTENT_TYPE};
use super::exposition::{Exposition, Labels, Value};
use super::view::{self, NodeInfo, Sample, CHAIN_STALE_AFTER_S};
use crate::core::{DeviceKind, DeviceSnapshot, NodeSnapshot, RouteSnapshot};

/// Work of one share of difficulty 1, in hashes.
const HASHES_PER_DIFFICULTY: f64 = 4_294_967_296.0;

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Family {
    Family {
        name,
        help,
        kind: Kind::Gauge,
        labels,
    }
}

const fn counter(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        help,
        kind: Kind::Counter,
        labels,
    }
}

const ROUTE: &[&str] = &["route"];
const ROUTE_RATE: &[&str] = &["route", "measure", "window"];
const ROUTE_RESULT: &[&str] = &["route", "result"];
const ROUTE_SOURCE: &[&str] = &["route", "source"];
const ALLOCATION: &[&str] = &["allocation", "route", "source"];
const ALLOCATION_RATE: &[&str] = &["allocation", "route", "source", "measure", "window"];
const DEVICE: &[&str] = &["device", "worker", "route", "kind"];
const DEVICE_RESULT: &[&str] = &["device", "worker", "route", "kind", "result"];

pub const BUILD_INFO: Family = gauge(
    "hashrouter_build_info",
    &["version"],
    "Always 1; the version label says which hashrouter is running.",
);
pub const SNAPSHOT_AGE: Family = gauge(
    "hashrouter_snapshot_age_seconds",
    &[],
    "Seconds since the core last answered a snapshot request (these figures are that old).",
);
pub const DEVICES_CONNECTED: Family = gauge(
    "hashrouter_devices_connected",
    &[],
    "Devices connected: SV1 connections and SV2 channels.",
);
pub const FARM_HASHRATE: Family = gauge(
    "hashrouter_farm_hashrate",
    &[],
    "The farm's measured hashrate, H/s.",
);
pub const SV2_CONNECTIONS: Family = gauge(
    "hashrouter_sv2_connections",
    &[],
    "Downstream SV2 connections (each may carry several channels).",
);
pub const LISTENER_CONNECTIONS: Family = gauge(
    "hashrouter_listener_connections",
    &[],
    "Device connections (SV1 and SV2) open now, counted against the limit.",
);
pub const LISTENER_CONNECTION_LIMIT: Family = gauge(
    "hashrouter_listener_connection_limit",
    &[],
    "Device connections the node accepts (limits.max_device_connections, or what the open-file limit allows).",
);
pub const LISTENER_CONNECTIONS_REFUSED: Family = counter(
    "hashrouter_listener_connections_refused_total",
    &[],
    "Device connections closed on arrival because the node was at its connection limit.",
);
pub const TEMPLATE_PROVIDER_CONNECTED: Family = gauge(
    "hashrouter_template_provider_connected",
    &[],
    "1 while the template provider is connected (only when one is configured).",
);
pub const CHAIN_HEAD_BLOCK: Family = gauge(
    "hashrouter_chain_head_block",
    &[],
    "The newest block of the allocations chain the node has read.",
);
pub const CHAIN_SECONDS_SINCE_SYNC: Family = gauge(
    "hashrouter_chain_seconds_since_sync",
    &[],
    "Seconds since the allocations chain was last read successfully (+Inf before the first read).",
);
pub const CHAIN_STALE: Family = gauge(
    "hashrouter_chain_stale",
    &[],
    "1 while the allocations chain cannot be read and the last known allocations stay in force.",
);
pub const ROUTE_ALLOCATED: Family = gauge(
    "hashrouter_route_allocated_hashrate",
    ROUTE,
    "Hashrate the allocations give the route, H/s; for the default route, what they leave of the farm.",
);
pub const ROUTE_DELIVERED: Family = gauge(
    "hashrouter_route_delivered_hashrate",
    ROUTE_RATE,
    "Mean hashrate delivered to the route over the window, H/s: seen at the node (valid device shares) or acked by the pool.",
);
pub const ROUTE_WORK_SEEN: Family = counter(
    "hashrouter_route_work_seen_hashes_total",
    ROUTE,
    "Work delivered to the route as the node measured it (valid device shares), hashes.",
);
pub const ROUTE_WORK_ACKED: Family = counter(
    "hashrouter_route_work_acked_hashes_total",
    ROUTE,
    "Work the route's pool acknowledged, hashes.",
);
pub const ROUTE_OWED: Family = gauge(
    "hashrouter_route_owed_hashes",
    ROUTE,
    "Work owed to the route (allocated minus delivered), hashes; negative when ahead.",
);
pub const ROUTE_DEVICES: Family = gauge(
    "hashrouter_route_devices",
    ROUTE,
    "Devices mining for the route now.",
);
pub const ROUTE_SHARES: Family = counter(
    "hashrouter_route_shares_total",
    ROUTE_RESULT,
    "Shares sent to the route's pool (forwarded) and the pool's answers: acked, rejected, or unanswered when the connection was lost first.",
);
pub const UPSTREAM_CONNECTED: Family = gauge(
    "hashrouter_upstream_connected",
    ROUTE,
    "1 while the route's upstream channel is open.",
);
pub const UPSTREAM_ON_BACKUP: Family = gauge(
    "hashrouter_upstream_on_backup",
    ROUTE,
    "1 while the route's upstream is a backup endpoint (or a redirect), not the primary.",
);
pub const UPSTREAM_CONNECTIONS: Family = counter(
    "hashrouter_upstream_connections_total",
    ROUTE,
    "Upstream channels the route opened.",
);
pub const ROUTE_JOBS_FROM: Family = gauge(
    "hashrouter_route_jobs_from",
    ROUTE_SOURCE,
    "1 for where the route's jobs come from now (pool, declared or solo), 0 for the others.",
);
pub const BLOCKS_FOUND: Family = counter(
    "hashrouter_blocks_found_total",
    ROUTE,
    "Shares on the route that met the network target.",
);
pub const ALLOCATION_REQUESTED: Family = gauge(
    "hashrouter_allocation_requested_hashrate",
    ALLOCATION,
    "Hashrate the allocation asks for now, H/s.",
);
pub const ALLOCATION_GRANTED: Family = gauge(
    "hashrouter_allocation_granted_hashrate",
    ALLOCATION,
    "Hashrate the farm gives the allocation now, after over-subscription, H/s.",
);
pub const ALLOCATION_DELIVERED: Family = gauge(
    "hashrouter_allocation_delivered_hashrate",
    ALLOCATION_RATE,
    "Mean hashrate delivered to the allocation over the window (contract: since its start), H/s: seen at the node or acked by the pool.",
);
pub const ALLOCATION_OWED: Family = gauge(
    "hashrouter_allocation_owed_hashes",
    ALLOCATION,
    "The allocation's part of its route's owed work, hashes; negative when ahead.",
);
pub const ALLOCATION_ACTIVE: Family = gauge(
    "hashrouter_allocation_active",
    ALLOCATION,
    "1 while the allocation is in force.",
);
pub const DEVICE_HASHRATE: Family = gauge(
    "hashrouter_device_hashrate",
    DEVICE,
    "The device's hashrate estimated from its accepted work, H/s.",
);
pub const DEVICE_DIFFICULTY: Family = gauge(
    "hashrouter_device_difficulty",
    DEVICE,
    "The difficulty the node gives the device's shares.",
);
pub const DEVICE_SHARES: Family = counter(
    "hashrouter_device_shares_total",
    DEVICE_RESULT,
    "The device's shares: accepted, rejected, stale, and forwarded (met the pool's target and went upstream).",
);
pub const DEVICE_LAST_SHARE_AGE: Family = gauge(
    "hashrouter_device_last_share_age_seconds",
    DEVICE,
    "Seconds since the device's last valid share (absent before its first).",
);

/// Every family `/metrics` renders, in order. Some are left out when they do not apply (no
/// chain configured, no template provider, no devices yet).
pub const FAMILIES: &[Family] = &[
    BUILD_INFO,
    SNAPSHOT_AGE,
    DEVICES_CONNECTED,
    FARM_HASHRATE,
    SV2_CONNECTIONS,
    LISTENER_CONNECTIONS,
    LISTENER_CONNECTION_LIMIT,
    LISTENER_CONNECTIONS_REFUSED,
    TEMPLATE_PROVIDER_CONNECTED,
    CHAIN_HEAD_BLOCK,
    CHAIN_SECONDS_SINCE_SYNC,
    CHAIN_STALE,
    ROUTE_ALLOCATED,
    ROUTE_DELIVERED,
    ROUTE_WORK_SEEN,
    ROUTE_WORK_ACKED,
    ROUTE_OWED,
    ROUTE_DEVICES,
    ROUTE_SHARES,
    UPSTREAM_CONNECTED,
    UPSTREAM_ON_BACKUP,
    UPSTREAM_CONNECTIONS,
    ROUTE_JOBS_FROM,
    BLOCKS_FOUND,
    ALLOCATION_REQUESTED,
    ALLOCATION_GRANTED,
    ALLOCATION_DELIVERED,
    ALLOCATION_OWED,
    ALLOCATION_ACTIVE,
    DEVICE_HASHRATE,
    DEVICE_DIFFICULTY,
    DEVICE_SHARES,
    DEVICE_LAST_SHARE_AGE,
];

/// Where a route's jobs may come from (`RouteSnapshot::jobs_from`).
const JOB_SOURCES: [&str; 3] = ["pool", "declared", "solo"];
/// Bytes an exposition takes per device, to size the buffer once.
const BYTES_PER_DEVICE: usize = 1000;

/// The exposition of `sample`, at wall-clock `now_unix`.
pub fn render(info: &NodeInfo, sample: &Sample, now_unix: u64) -> String {
    let snapshot = &sample.snapshot;
    let mut e = Exposition::with_capacity(8192 + BYTES_PER_DEVICE * snapshot.devices.len());
    e.family(&BUILD_INFO);
    let version = [("version", info.version.as_str())];
    e.sample(&BUILD_INFO, &Labels::new(), &version, 1u64);
    single(
        &mut e,
        &SNAPSHOT_AGE,
        now_unix.saturating_sub(sample.taken_unix),
    );
    node(&mut e, info, snapshot, now_unix);
    routes(&mut e, snapshot);
    allocations(&mut e, snapshot);
    devices(&mut e, snapshot);
    e.finish()
}

/// One sample of `family` per item, each with its item's labels.
fn series<T, V: Into<Value>>(
    e: &mut Exposition,
    family: &Family,
    items: &[T],
    labels: &[Labels],
    value: impl Fn(&T) -> V,
) {
    e.family(family);
    for (item, l) in items.iter().zip(labels) {
        e.sample(family, l, &[], value(item));
    }
}

/// A family with one unlabelled sample.
fn single(e: &mut Exposition, family: &Family, value: impl Into<Value>) {
    e.family(family);
    e.sample(family, &Labels::new(), &[], value);
}

fn node(e: &mut Exposition, info: &NodeInfo, snapshot: &NodeSnapshot, now_unix: u64) {
    single(e, &DEVICES_CONNECTED, snapshot.devices.len());
    single(e, &FARM_HASHRATE, snapshot.farm_hashrate);
    single(e, &SV2_CONNECTIONS, snapshot.sv2_connections);
    single(e, &LISTENER_CONNECTIONS, info.device_limit.open());
    single(e, &LISTENER_CONNECTION_LIMIT, info.device_limit.limit());
    single(
        e,
        &LISTENER_CONNECTIONS_REFUSED,
        info.device_limit.refused(),
    );
    if info.template_provider {
        single(
            e,
            &TEMPLATE_PROVIDER_CONNECTED,
            snapshot.templates.connected,
        );
    }
    if let Some(chain) = &snapshot.chain {
        if let Some(head) = chain.head_block {
            single(e, &CHAIN_HEAD_BLOCK, head);
        }
        let since_sync = chain
            .synced_at_unix
            .map(|synced| now_unix.saturating_sub(synced));
        single(
            e,
            &CHAIN_SECONDS_SINCE_SYNC,
            since_sync.map_or(f64::INFINITY, |s| s as f64),
        );
        // As health sees it: the RPC failing now, or no successful read for too long.
        let stale = chain.is_stale() || since_sync.is_some_and(|s| s > CHAIN_STALE_AFTER_S);
        single(e, &CHAIN_STALE, stale);
    }
}

fn routes(e: &mut Exposition, snapshot: &NodeSnapshot) {
    let routes = snapshot.routes.as_slice();
    let labels: Vec<Labels> = routes
        .iter()
        .map(|r| Labels::new().with("route", &r.name))
        .collect();
    // The default route (listed first) is allocated what the others leave of the farm.
    let default_target = view::default_route_target(snapshot);
    e.family(&ROUTE_ALLOCATED);
    for (i, (r, l)) in routes.iter().zip(&labels).enumerate() {
        let target = if i == 0 { default_target } else { r.target };
        e.sample(&ROUTE_ALLOCATED, l, &[], target);
    }
    e.family(&ROUTE_DELIVERED);
    for (r, l) in routes.iter().zip(&labels) {
        for (window, w) in [("10m", &r.last_10m), ("1h", &r.last_1h)] {
            let f = &ROUTE_DELIVERED;
            e.sample(
                f,
                l,
                &[("measure", "seen"), ("window", window)],
                w.seen_hs(),
            );
            e.sample(
                f,
                l,
                &[("measure", "acked"), ("window", window)],
                w.acked_hs(),
            );
        }
    }
    series(e, &ROUTE_WORK_SEEN, routes, &labels, |r| r.delivered);
    series(e, &ROUTE_WORK_ACKED, routes, &labels, |r| {
        r.upstream.counters.acked_work * HASHES_PER_DIFFICULTY
    });
    series(e, &ROUTE_OWED, routes, &labels, |r| r.owed);
    series(e, &ROUTE_DEVICES, routes, &labels, |r| r.devices);
    e.family(&ROUTE_SHARES);
    for (r, l) in routes.iter().zip(&labels) {
        let c = &r.upstream.counters;
        for (result, n) in [
            ("forwarded", c.forwarded_shares),
            ("acked", c.acked_shares),
            ("rejected", c.rejected_shares),
            ("unanswered", c.unanswered_shares),
        ] {
            e.sample(&ROUTE_SHARES, l, &[("result", result)], n);
        }
    }
    series(e, &UPSTREAM_CONNECTED, routes, &labels, |r| {
        r.upstream.connected
    });
    series(e, &UPSTREAM_ON_BACKUP, routes, &labels, |r| {
        r.upstream.on_backup
    });
    series(e, &UPSTREAM_CONNECTIONS, routes, &labels, |r| {
        r.upstream.counters.connections
    });
    e.family(&ROUTE_JOBS_FROM);
    for (r, l) in routes.iter().zip(&labels) {
        for source in JOB_SOURCES {
            let current = r.jobs_from == source;
            e.sample(&ROUTE_JOBS_FROM, l, &[("source", source)], current);
        }
    }
    series(e, &BLOCKS_FOUND, routes, &labels, |r| {
        r.upstream.counters.blocks
    });
}

fn allocations(e: &mut Exposition, snapshot: &NodeSnapshot) {
    // The JSON document's figures, so the contract window is computed one way only.
    let allocations = view::allocations(snapshot).allocations;
    let labels: Vec<Labels> = allocations
        .iter()
        .map(|a| {
            Labels::new()
                .with("allocation", &a.id)
                .with("route", &a.route)
                .with("source", &a.source)
        })
        .collect();
    series(e, &ALLOCATION_REQUESTED, &allocations, &labels, |a| {
        a.requested_hs
    });
    series(e, &ALLOCATION_GRANTED, &allocations, &labels, |a| {
        a.granted_hs
    });
    e.family(&ALLOCATION_DELIVERED);
    for (a, l) in allocations.iter().zip(&labels) {
        for (window, rates) in [
            ("10m", &a.last_10m),
            ("1h", &a.last_1h),
            ("contract", &a.contract),
        ] {
            let f = &ALLOCATION_DELIVERED;
            e.sample(
                f,
                l,
                &[("measure", "seen"), ("window", window)],
                rates.seen_hs,
            );
            e.sample(
                f,
                l,
                &[("measure", "acked"), ("window", window)],
                rates.acked_hs,
            );
        }
    }
    series(e, &ALLOCATION_OWED, &allocations, &labels, |a| {
        a.owed_hashes
    });
    series(e, &ALLOCATION_ACTIVE, &allocations, &labels, |a| a.active);
}

/// `device`, `worker`, `route`, `kind` of one device, escaped once for all its samples.
fn device_labels(d: &DeviceSnapshot, routes: &[RouteSnapshot]) -> Labels {
    let id = format!("{:08x}", d.id.0);
    let route = routes
        .get(d.route.0 as usize)
        .map_or("", |r| r.name.as_str());
    let kind = match d.kind {
        DeviceKind::Sv1 => "sv1",
        DeviceKind::Sv2Standard { .. } => "sv2_standard",
        DeviceKind::Sv2Extended { .. } => "sv2_extended",
    };
    Labels::new()
        .with("device", &id)
        .with("worker", d.worker.as_deref().unwrap_or(""))
        .with("route", route)
        .with("kind", kind)
}

fn devices(e: &mut Exposition, snapshot: &NodeSnapshot) {
    let devices = snapshot.devices.as_slice();
    let labels: Vec<Labels> = devices
        .iter()
        .map(|d| device_labels(d, &snapshot.routes))
        .collect();
    series(e, &DEVICE_HASHRATE, devices, &labels, |d| d.hashrate);
    series(e, &DEVICE_DIFFICULTY, devices, &labels, |d| d.difficulty);
    e.family(&DEVICE_SHARES);
    for (d, l) in devices.iter().zip(&labels) {
        let c = &d.counters;
        for (result, n) in [
            ("accepted", c.accepted),
            ("rejected", c.rejected),
            ("stale", c.stale),
            ("forwarded", c.forwarded),
        ] {
            e.sample(&DEVICE_SHARES, l, &[("result", result)], n);
        }
    }
    // Before its first share a device has no age to show.
    e.family(&DEVICE_LAST_SHARE_AGE);
    for (d, l) in devices.iter().zip(&labels) {
        if let Some(age) = d.last_share_ago {
            e.sample(&DEVICE_LAST_SHARE_AGE, l, &[], age.as_secs_f64());
        }
    }
}
