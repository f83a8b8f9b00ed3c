//! The API's handlers over real HTTP on 127.0.0.1, fed snapshots made here.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::{model, router, ApiSettings, NodeInfo, Sample, Shared};
use crate::config::ApiToken;
use crate::core::{
    DeliveryWindow, DeviceCounters, DeviceId, DeviceKind, DeviceSnapshot, EventKind, EventSnapshot,
    NodeSnapshot, RouteId, RouteSnapshot, TemplatesSnapshot, UpstreamCounters, UpstreamSnapshot,
};

const TOKEN: &str = "0123456789abcdef-token";

pub(crate) fn route(name: &str) -> RouteSnapshot {
    RouteSnapshot {
        name: name.to_string(),
        upstream: UpstreamSnapshot {
            connected: true,
            endpoint: Some("127.0.0.1:3333".into()),
            on_backup: false,
            channel_id: Some(1),
            difficulty: Some(1.0),
            counters: UpstreamCounters::default(),
            last_error: None,
        },
        target: 0.0,
        owed: 0.0,
        delivered: 0.0,
        shares: 0,
        devices: 0,
        retired: false,
        jobs_from: "pool",
        job_declaration: None,
        last_10m: DeliveryWindow::default(),
        last_1h: DeliveryWindow::default(),
    }
}

pub(crate) fn empty_snapshot() -> NodeSnapshot {
    let default = route("default");
    NodeSnapshot {
        devices: Vec::new(),
        sv2_connections: 0,
        upstream: default.upstream.clone(),
        routes: vec![default],
        oversubscribed: None,
        templates: TemplatesSnapshot::default(),
        chain: None,
        farm_hashrate: 0.0,
        allocations: Vec::new(),
        events: Vec::new(),
        unix: 1_700_000_000,
    }
}

fn device(id: u32, route: u16) -> DeviceSnapshot {
    DeviceSnapshot {
        id: DeviceId(id),
        kind: DeviceKind::Sv1,
        route: RouteId(route),
        worker: Some(format!("farm.rig{id}")),
        user_agent: Some("bmminer/2.0".into()),
        difficulty: 512.0,
        hashrate: f64::from(id) * 1e9,
        counters: DeviceCounters {
            accepted: u64::from(id),
            ..DeviceCounters::default()
        },
        connected_for: Duration::from_secs(60),
        last_share_ago: Some(Duration::from_secs(2)),
    }
}

/// A server on 127.0.0.1 answering from `snapshot`; returns its base URL.
pub(super) async fn serve(snapshot: NodeSnapshot, token: Option<&str>) -> String {
    let info = NodeInfo {
        version: "test".into(),
        started_unix: snapshot.unix - 100,
        sv1_addr: "127.0.0.1:3333".parse().unwrap(),
        sv2_addr: None,
        template_provider: false,
        chain: false,
        device_limit: std::sync::Arc::new(crate::net::connection_limit::ConnectionLimit::new(100)),
    };
    let taken_unix = crate::wall_clock::unix_now();
    let (_latest_tx, latest) = watch::channel(Some(Arc::new(Sample {
        snapshot,
        taken_unix,
    })));
    // The sender must outlive the server for `borrow` to keep the value: leak it in tests.
    std::mem::forget(_latest_tx);
    let shared = Arc::new(Shared {
        settings: ApiSettings {
            info,
            token: token.map(ApiToken::new),
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

fn farm(devices: u32) -> NodeSnapshot {
    let mut snapshot = empty_snapshot();
    let mut buyer = route("buyer");
    buyer.target = 5e12;
    buyer.owed = 3e14;
    snapshot.routes.push(buyer);
    snapshot.devices = (1..=devices)
        .map(|id| device(id, (id % 2) as u16))
        .collect();
    snapshot.events = vec![EventSnapshot {
        seq: 7,
        age: Duration::from_secs(30),
        kind: EventKind::Failover,
        route: Some("buyer".into()),
        message: "channel open on backup endpoint 127.0.0.1:4444".into(),
    }];
    snapshot
}

#[tokio::test]
async fn devices_are_paged_sorted_and_filtered() {
    let base = serve(farm(10_000), None).await;
    let url = format!("{base}/api/v1/devices?offset=0&limit=25&sort=hashrate_hs&order=desc");
    let page: model::DevicePage = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(
        (page.total, page.matched, page.devices.len()),
        (10_000, 10_000, 25)
    );
    assert_eq!(page.devices[0].id, 10_000);
    assert_eq!(page.devices[0].route, "default");
    assert_eq!(page.devices[1].route, "buyer");
    let url = format!("{base}/api/v1/devices?q=rig999&route=buyer");
    let page: model::DevicePage = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let ids: Vec<u32> = page.devices.iter().map(|d| d.id).collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|id| id % 2 == 1),
        "{ids:?}"
    );

    let bad = reqwest::get(format!("{base}/api/v1/devices?sort=nope"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: model::ErrorBody = bad.json().await.unwrap();
    assert!(body.error.contains("nope"));
    let unknown = reqwest::get(format!("{base}/api/v1/devices?offset=x"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn routes_events_and_health_come_from_the_snapshot() {
    let base = serve(farm(4), None).await;
    let routes: model::Routes = reqwest::get(format!("{base}/api/v1/routes"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(routes.routes.len(), 2);
    assert!(routes.routes[0].is_default);
    assert_eq!(routes.routes[1].owed_s, Some(60.0));
    assert_eq!(
        routes.routes[1].upstream.endpoint.as_deref(),
        Some("127.0.0.1:3333")
    );
    let events: model::Events = reqwest::get(format!("{base}/api/v1/events?limit=10"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events.events.len(), 1);
    assert_eq!(events.events[0].kind, "failover");
    assert_eq!(events.events[0].at_unix, 1_700_000_000 - 30);
    let newer: model::Events = reqwest::get(format!("{base}/api/v1/events?after=7"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(newer.events.is_empty());
    let health = reqwest::get(format!("{base}/api/v1/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    let health: model::Health = health.json().await.unwrap();
    assert_eq!(health.status, model::Status::Ok);
    assert!(health.components.iter().any(|c| c.name == "upstream:buyer"));
}

#[tokio::test]
async fn a_down_upstream_degrades_health() {
    let mut snapshot = farm(1);
    snapshot.routes[1].upstream.connected = false;
    snapshot.routes[1].upstream.last_error = Some("connection refused".into());
    let base = serve(snapshot, None).await;
    let health: model::Health = reqwest::get(format!("{base}/api/v1/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health.status, model::Status::Degraded);
    let buyer = health
        .components
        .iter()
        .find(|c| c.name == "upstream:buyer")
        .unwrap();
    assert_eq!(buyer.status, model::Status::Down);
    assert_eq!(buyer.detail.as_deref(), Some("connection refused"));
}

#[tokio::test]
async fn state_changes_need_the_token() {
    let base = serve(farm(1), Some(TOKEN)).await;
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/allocations/reload");
    let without = client.post(&url).send().await.unwrap();
    assert_eq!(without.status(), 401);
    assert_eq!(without.headers()["www-authenticate"], "Bearer");
    let wrong = client
        .post(&url)
        .bearer_auth("0123456789abcdef-other")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // The right token gets through authorisation: this node has no allocations file.
    let right = client.post(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(right.status(), 409);
    // Reading needs no token; writing to a read-only page is not allowed.
    let get = client.get(&url).send().await.unwrap();
    assert_eq!(get.status(), 405);
    let post_routes = client
        .post(format!("{base}/api/v1/routes"))
        .send()
        .await
        .unwrap();
    assert_eq!(post_routes.status(), 405);
    let missing = client
        .get(format!("{base}/api/v1/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn without_a_configured_token_state_changes_are_refused() {
    let base = serve(farm(1), None).await;
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/allocations/reload");
    assert_eq!(client.post(&url).send().await.unwrap().status(), 401);
    let any = client.post(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(any.status(), 403);
}

#[tokio::test]
async fn a_first_read_of_the_chain_under_way_is_starting_with_progress() {
    let mut snapshot = farm(1);
    snapshot.chain = Some(crate::chain::ChainSnapshot {
        rpc: "http://127.0.0.1:8545".into(),
        factory: "0x5fbdb2315678afecb367f032d93f642f64180aa3".into(),
        startup: Some(crate::chain::ReadProgress {
            done: 120,
            total: Some(1000),
        }),
        ..crate::chain::ChainSnapshot::default()
    });
    let base = serve(snapshot, None).await;
    let health = reqwest::get(format!("{base}/api/v1/health")).await.unwrap();
    assert_eq!(health.status(), 503);
    let health: model::Health = health.json().await.unwrap();
    assert_eq!(health.status, model::Status::Starting);
    let progress = health.startup.expect("startup progress");
    assert_eq!(
        (progress.phase.as_str(), progress.done, progress.total),
        ("reading contracts", 120, Some(1000))
    );
    let chain = health
        .components
        .iter()
        .find(|c| c.name == "chain")
        .unwrap();
    assert_eq!(chain.status, model::Status::Starting);
    assert_eq!(
        chain.detail.as_deref(),
        Some("reading contracts: 120 of 1000")
    );
}

#[test]
fn a_configured_chain_not_heard_from_yet_is_starting() {
    let mut info = NodeInfo {
        version: "test".into(),
        started_unix: 1_700_000_000,
        sv1_addr: "127.0.0.1:3333".parse().unwrap(),
        sv2_addr: None,
        template_provider: false,
        chain: true,
        device_limit: std::sync::Arc::new(crate::net::connection_limit::ConnectionLimit::new(100)),
    };
    let sample = Sample {
        snapshot: empty_snapshot(),
        taken_unix: 1_700_000_100,
    };
    let health = super::view::health(&info, Some(&sample), 1_700_000_100);
    assert_eq!(health.status, model::Status::Starting);
    let chain = health.components.iter().find(|c| c.name == "chain");
    assert_eq!(
        chain.map(|c| (c.status, c.detail.as_deref())),
        Some((model::Status::Starting, Some("not read yet")))
    );
    info.chain = false;
    let health = super::view::health(&info, Some(&sample), 1_700_000_100);
    assert_eq!(health.status, model::Status::Ok, "{health:?}");
}

#[test]
fn a_node_at_its_connection_limit_is_degraded() {
    let limit = std::sync::Arc::new(crate::net::connection_limit::ConnectionLimit::new(2));
    let info = NodeInfo {
        version: "test".into(),
        started_unix: 1_700_000_000,
        sv1_addr: "127.0.0.1:3333".parse().unwrap(),
        sv2_addr: None,
        template_provider: false,
        chain: false,
        device_limit: limit.clone(),
    };
    let sample = Sample {
        snapshot: empty_snapshot(),
        taken_unix: 1_700_000_100,
    };
    let connections = |info: &NodeInfo| {
        let health = super::view::health(info, Some(&sample), 1_700_000_100);
        let c = health
            .components
            .into_iter()
            .find(|c| c.name == "device_connections")
            .expect("a device_connections component");
        (health.status, c.status, c.detail.unwrap_or_default())
    };
    let _first = limit.admit();
    let (node, status, detail) = connections(&info);
    assert_eq!((node, status), (model::Status::Ok, model::Status::Ok));
    assert_eq!(detail, "1 of 2 open");
    let _second = limit.admit();
    let (node, status, detail) = connections(&info);
    assert_eq!(
        (node, status),
        (model::Status::Degraded, model::Status::Degraded)
    );
    assert!(detail.contains("new devices are refused"), "{detail}");
}
