//! `/metrics` rendered from snapshots made here: the exposition's shape, its escaping, every
//! line read back, its cost with 10,000 devices, and the endpoint over real HTTP.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::exposition::{parse_sample, ParsedSample};
use super::metrics::{render, Kind, CONTENT_TYPE, FAMILIES};
use super::tests::{empty_snapshot, route};
use super::{router, ApiSettings, NodeInfo, Sample, Shared};
use crate::chain::ChainSnapshot;
use crate::core::{
    AllocationSnapshot, AllocationTotals, DeliveryWindow, DeviceCounters, DeviceId, DeviceKind,
    DeviceSnapshot, NodeSnapshot, RouteId, UpstreamCounters,
};

const NOW: u64 = 1_700_000_000;
const WORKER: &str = "farm.\"rig\" \\7\nb";
const WORKER_ESCAPED: &str = "farm.\\\"rig\\\" \\\\7\\nb";

fn info() -> NodeInfo {
    NodeInfo {
        version: "1.2.3".into(),
        started_unix: NOW - 100,
        sv1_addr: "127.0.0.1:3333".parse().unwrap(),
        sv2_addr: None,
        template_provider: true,
        chain: false,
        device_limit: std::sync::Arc::new(crate::net::connection_limit::ConnectionLimit::new(100)),
    }
}

fn device(id: u32, route: u16, worker: &str) -> DeviceSnapshot {
    DeviceSnapshot {
        id: DeviceId(id),
        kind: DeviceKind::Sv1,
        route: RouteId(route),
        worker: Some(worker.to_string()),
        user_agent: None,
        difficulty: 0.5,
        hashrate: 2e12,
        counters: DeviceCounters {
            accepted: 5,
            accepted_work: 2.5,
            rejected: 1,
            stale: 2,
            forwarded: 3,
        },
        connected_for: Duration::from_secs(60),
        last_share_ago: Some(Duration::from_millis(1500)),
    }
}

/// Two routes (the buyer's on a backup, declaring its jobs), an allocation, a chain never read,
/// three devices: one with a worker name to escape, one before its first share.
fn full_snapshot() -> NodeSnapshot {
    let mut snapshot = empty_snapshot();
    snapshot.farm_hashrate = 10e12;
    let window = DeliveryWindow {
        seconds: 600.0,
        allocated_work: 600.0 * 4e12,
        seen_work: 600.0 * 3e12,
        acked_work: 600.0 * 2e12,
    };
    let mut buyer = route("buyer-a");
    buyer.target = 4e12;
    buyer.owed = -1.5e14;
    buyer.delivered = 7e15;
    buyer.devices = 2;
    buyer.jobs_from = "declared";
    buyer.last_10m = window;
    buyer.last_1h = window;
    buyer.upstream.on_backup = true;
    buyer.upstream.counters = UpstreamCounters {
        forwarded_shares: 11,
        acked_shares: 9,
        acked_work: 2.0,
        rejected_shares: 1,
        unanswered_shares: 1,
        connections: 2,
        blocks: 1,
        ..UpstreamCounters::default()
    };
    snapshot.routes.push(buyer);
    snapshot.routes[0].upstream.connected = false;
    snapshot.allocations = vec![AllocationSnapshot {
        id: "buyer-a".into(),
        route: "buyer-a".into(),
        amount: contracts::Amount::Hashrate(4e12),
        start: Some(NOW - 1000),
        end: None,
        active: true,
        requested_hs: 4e12,
        granted_hs: 4e12,
        last_10m: window,
        last_1h: window,
        total: AllocationTotals {
            seen_work: 1000.0 * 3e12,
            acked_work: 1000.0 * 2e12,
            since_unix: None,
        },
        owed: -1.5e14,
    }];
    snapshot.chain = Some(ChainSnapshot {
        head_block: Some(123_456),
        ..ChainSnapshot::default()
    });
    let mut fresh = device(9, 0, "farm.rig9");
    fresh.last_share_ago = None;
    fresh.hashrate = f64::NAN;
    snapshot.devices = vec![device(7, 1, WORKER), device(8, 1, "farm.rig8"), fresh];
    snapshot
}

fn sample(snapshot: NodeSnapshot) -> Sample {
    Sample {
        snapshot,
        taken_unix: NOW - 1,
    }
}

fn rendered() -> String {
    render(&info(), &sample(full_snapshot()), NOW)
}

/// Every sample line read back, with the family whose `# TYPE` it follows.
fn read_back(text: &str) -> Vec<(&'static str, ParsedSample)> {
    let mut family: Option<&'static str> = None;
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(typed) = line.strip_prefix("# TYPE ") {
            let name = typed.split(' ').next().unwrap();
            family = Some(FAMILIES.iter().find(|f| f.name == name).unwrap().name);
        } else if !line.starts_with('#') {
            let parsed = parse_sample(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            samples.push((family.expect("a sample before any # TYPE"), parsed));
        }
    }
    samples
}

fn value(samples: &[(&str, ParsedSample)], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = samples
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
        .map(|s| s.value)
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0]
}

#[test]
fn every_family_has_help_and_type_once_in_order() {
    let text = rendered();
    let helps: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let types: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split_once(' ').unwrap())
        .collect();
    let names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
    // This snapshot has every optional family: all are written, each once, in order.
    assert_eq!(helps, names);
    assert_eq!(types.iter().map(|(n, _)| *n).collect::<Vec<_>>(), names);
    for (family, (_, kind)) in FAMILIES.iter().zip(&types) {
        assert_eq!(*kind, family.kind.as_str());
        assert!(family.name.starts_with("hashrouter_"), "{}", family.name);
        assert_eq!(
            family.kind == Kind::Counter,
            family.name.ends_with("_total"),
            "{}: counters, and only counters, end in _total",
            family.name
        );
    }
    let unique: HashSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len());
}

#[test]
fn every_sample_reads_back_under_its_family_with_its_labels() {
    let text = rendered();
    let samples = read_back(&text);
    assert!(samples.len() > 60, "{}", samples.len());
    for (family, s) in &samples {
        assert_eq!(s.name, *family, "a sample outside its family's block");
        let f = FAMILIES.iter().find(|f| f.name == s.name).unwrap();
        let labels: Vec<&str> = s.labels.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(labels, f.labels, "{}", s.name);
        assert!(
            s.value.is_finite() || s.value.is_nan() || s.value == f64::INFINITY,
            "{s:?}"
        );
    }
}

#[test]
fn the_exposition_shows_the_snapshot() {
    let text = rendered();
    // The worker name's quote, backslash and line feed are escaped, and read back intact.
    let line = format!(
        "hashrouter_device_shares_total{{device=\"00000007\",worker=\"{WORKER_ESCAPED}\",route=\"buyer-a\",kind=\"sv1\",result=\"accepted\"}} 5\n"
    );
    assert!(text.contains(&line), "{line}");
    assert!(text.contains("hashrouter_build_info{version=\"1.2.3\"} 1\n"));
    assert!(text.contains("hashrouter_chain_seconds_since_sync +Inf\n"));
    let samples = read_back(&text);
    let v = |name: &str, labels: &[(&str, &str)]| value(&samples, name, labels);
    let worker = [("worker", WORKER)];
    assert_eq!(
        v(
            "hashrouter_device_shares_total",
            &[("worker", WORKER), ("result", "stale")]
        ),
        2.0
    );
    assert_eq!(v("hashrouter_device_difficulty", &worker), 0.5);
    assert_eq!(v("hashrouter_device_last_share_age_seconds", &worker), 1.5);
    assert!(v("hashrouter_device_hashrate", &[("device", "00000009")]).is_nan());
    // A device before its first share has no age.
    assert!(!samples.iter().any(
        |(_, s)| s.name == "hashrouter_device_last_share_age_seconds"
            && s.label("device") == Some("00000009")
    ));
    let default = [("route", "default")];
    let buyer = [("route", "buyer-a")];
    // The default route is allocated what the buyer leaves of the farm.
    assert_eq!(v("hashrouter_route_allocated_hashrate", &default), 6e12);
    assert_eq!(v("hashrouter_route_allocated_hashrate", &buyer), 4e12);
    let seen_10m = [("route", "buyer-a"), ("measure", "seen"), ("window", "10m")];
    assert_eq!(v("hashrouter_route_delivered_hashrate", &seen_10m), 3e12);
    let acked_1h = [("route", "buyer-a"), ("measure", "acked"), ("window", "1h")];
    assert_eq!(v("hashrouter_route_delivered_hashrate", &acked_1h), 2e12);
    assert_eq!(v("hashrouter_route_work_seen_hashes_total", &buyer), 7e15);
    assert_eq!(
        v("hashrouter_route_work_acked_hashes_total", &buyer),
        2.0 * 4_294_967_296.0
    );
    assert_eq!(v("hashrouter_route_owed_hashes", &buyer), -1.5e14);
    assert_eq!(v("hashrouter_route_devices", &buyer), 2.0);
    let result = |r| [("route", "buyer-a"), ("result", r)];
    assert_eq!(
        v("hashrouter_route_shares_total", &result("forwarded")),
        11.0
    );
    assert_eq!(v("hashrouter_route_shares_total", &result("acked")), 9.0);
    assert_eq!(
        v("hashrouter_route_shares_total", &result("unanswered")),
        1.0
    );
    assert_eq!(v("hashrouter_upstream_connected", &default), 0.0);
    assert_eq!(v("hashrouter_upstream_connected", &buyer), 1.0);
    assert_eq!(v("hashrouter_upstream_on_backup", &buyer), 1.0);
    assert_eq!(v("hashrouter_upstream_connections_total", &buyer), 2.0);
    assert_eq!(v("hashrouter_blocks_found_total", &buyer), 1.0);
    let source = |s| [("route", "buyer-a"), ("source", s)];
    assert_eq!(v("hashrouter_route_jobs_from", &source("declared")), 1.0);
    assert_eq!(v("hashrouter_route_jobs_from", &source("pool")), 0.0);
    assert_eq!(v("hashrouter_route_jobs_from", &source("solo")), 0.0);
    let allocation = [("allocation", "buyer-a"), ("source", "file")];
    assert_eq!(
        v("hashrouter_allocation_granted_hashrate", &allocation),
        4e12
    );
    assert_eq!(v("hashrouter_allocation_active", &allocation), 1.0);
    let contract = [
        ("allocation", "buyer-a"),
        ("measure", "seen"),
        ("window", "contract"),
    ];
    assert_eq!(
        v("hashrouter_allocation_delivered_hashrate", &contract),
        3e12
    );
    assert_eq!(v("hashrouter_devices_connected", &[]), 3.0);
    assert_eq!(v("hashrouter_farm_hashrate", &[]), 10e12);
    assert_eq!(v("hashrouter_snapshot_age_seconds", &[]), 1.0);
    assert_eq!(v("hashrouter_template_provider_connected", &[]), 0.0);
    assert_eq!(v("hashrouter_chain_head_block", &[]), 123_456.0);
    assert_eq!(v("hashrouter_chain_stale", &[]), 0.0);
    assert_eq!(v("hashrouter_listener_connection_limit", &[]), 100.0);
    assert_eq!(v("hashrouter_listener_connections", &[]), 0.0);
    assert_eq!(v("hashrouter_listener_connections_refused_total", &[]), 0.0);
}

#[test]
fn families_that_do_not_apply_are_left_out() {
    let mut without = info();
    without.template_provider = false;
    let text = render(&without, &sample(empty_snapshot()), NOW);
    for absent in [
        "hashrouter_template_provider_connected",
        "hashrouter_chain_head_block",
        "hashrouter_chain_stale",
    ] {
        assert!(!text.contains(absent), "{absent}");
    }
    // With no devices and no allocations their families are announced without samples.
    assert!(read_back(&text)
        .iter()
        .all(|(_, s)| !s.name.starts_with("hashrouter_device_")
            && !s.name.starts_with("hashrouter_allocation_")));
}

#[test]
fn ten_thousand_devices_render_in_one_pass() {
    let mut snapshot = full_snapshot();
    snapshot.devices = (0..10_000)
        .map(|id| {
            device(
                id,
                (id % 2) as u16,
                &format!("farm.rack{}.rig{id}", id / 100),
            )
        })
        .collect();
    let started = Instant::now();
    let text = render(&info(), &sample(snapshot), NOW);
    let elapsed = started.elapsed();
    let lines = text.lines().count();
    eprintln!(
        "10,000 devices: {lines} lines, {} KiB rendered in {elapsed:?}",
        text.len() / 1024
    );
    // Hashrate, difficulty, 4 share counters and the share age per device.
    assert!(lines > 70_000, "{lines}");
    // Generous: it takes milliseconds; a quadratic renderer would take minutes.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

/// A server answering from `sample` (or starting, with none).
async fn serve(sample: Option<Sample>) -> String {
    let (latest_tx, latest) = watch::channel(sample.map(Arc::new));
    // The sender must outlive the server for `borrow` to keep the value: leak it in tests.
    std::mem::forget(latest_tx);
    let shared = Arc::new(Shared {
        settings: ApiSettings {
            info: info(),
            token: None,
            reload: None,
        },
        latest,
        history: Mutex::new(Default::default()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(shared)).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_endpoint_serves_the_exposition_and_503_while_starting() {
    let base = serve(Some(sample(full_snapshot()))).await;
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
    let body = response.text().await.unwrap();
    assert!(body.starts_with("# HELP hashrouter_build_info "), "{body}");
    assert!(body.contains("hashrouter_upstream_connected{route=\"buyer-a\"} 1\n"));

    let starting = serve(None).await;
    let response = reqwest::get(format!("{starting}/metrics")).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
    let body = response.text().await.unwrap();
    assert_eq!(body.lines().count(), 1);
    assert!(body.starts_with("# "), "{body}");
}
