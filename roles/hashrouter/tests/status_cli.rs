//! `hashrouter status`, the real binary, against a node started here (two minesim SV2 pools,
//! an allocations file, minesim V1 miners, the API on 127.0.0.1:0), against small fake APIs
//! (a node still reading its contracts), and against things that are not the API at all
//! (nothing listening, an HTML 500, truncated or foreign JSON): it shows what the node has,
//! `--json` parses, and every failure is exit code 3 with a message, never a panic.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use common::*;
use hashrouter::api::model::{
    Allocations, Component, DevicePage, Events, Health, Routes, StartupProgress, Status,
};
use hashrouter::config::Config;
use hashrouter::node::{self, NodeHandle};
use minesim::pool::TEST_AUTHORITY_PUBLIC;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(30);
/// Longest a run of the binary may take.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// What a run of `hashrouter status` did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn status(args: &[&str]) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hashrouter"))
            .arg("status")
            .args(&args)
            .output()
            .expect("the binary runs")
    });
    let output = tokio::time::timeout(RUN_LIMIT, run)
        .await
        .expect("hashrouter status ends")
        .unwrap();
    let run = Run {
        code: output
            .status
            .code()
            .expect("exited, not killed by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "hashrouter status panicked:\n{}",
        run.stderr
    );
    run
}

fn node_config(dir: &Path, pools: [SocketAddr; 2]) -> Config {
    std::fs::write(
        dir.join("allocations.toml"),
        "[[allocation]]\nid = \"half-for-buyer\"\nroute = \"buyer\"\nfraction = 0.5\n",
    )
    .unwrap();
    let path = dir.join("node.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[sv1]
listen = "127.0.0.1:0"

[difficulty]
initial = 0.0001
minimum = 0.000001
shares_per_minute = 60
retarget_secs = 5

[upstream]
address = "{default}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "{POOL_USER}"
reconnect_min_ms = 100
reconnect_max_secs = 1

[[routes]]
name = "buyer"
url = "sv2+tcp://{buyer}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "buyer"

[allocations]
file = "allocations.toml"

[api]
listen = "127.0.0.1:0"

[split]
min_dwell_secs = 2
vetting_shares = 2
vetting_secs = 2
rebalance_secs = 1
"#,
            default = pools[0],
            buyer = pools[1],
        ),
    )
    .unwrap();
    Config::load(&path).expect("valid config")
}

/// The node's health through its API, once it answers.
async fn health(api: SocketAddr) -> Option<Health> {
    let answer = reqwest::get(format!("http://{api}/api/v1/health"))
        .await
        .ok()?;
    answer.json().await.ok()
}

/// A node with two pools and three miners, running.
struct Farm {
    node: NodeHandle,
    miners: Vec<minesim::v1_miner::MinerHandle>,
    _pools: [minesim::pool::PoolHandle; 2],
}

async fn started_farm(dir: &Path) -> Farm {
    let pools = [
        start_pool("127.0.0.1:0".parse().unwrap()).await,
        start_pool("127.0.0.1:0".parse().unwrap()).await,
    ];
    let config = node_config(dir, [pools[0].local_addr(), pools[1].local_addr()]);
    let node = node::start(&config).await.expect("node starts");
    let miners = start_miners(node.sv1_addr(), &[80_000.0, 120_000.0, 160_000.0]);
    let api = node.api_addr().expect("the API is configured");
    assert!(
        wait_for(WAIT, || async {
            let shares = node.snapshot().await.is_some_and(|s| {
                s.devices.len() == 3 && s.devices.iter().all(|d| d.counters.accepted >= 2)
            });
            shares && health(api).await.is_some_and(|h| h.status == Status::Ok)
        })
        .await,
        "the miners deliver and the node is healthy: {:?}",
        health(api).await
    );
    Farm {
        node,
        miners,
        _pools: pools,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_running_nodes_routes_allocations_and_devices() {
    let dir = tempfile::tempdir().unwrap();
    let Farm {
        node,
        miners,
        _pools,
    } = started_farm(dir.path()).await;
    let api = node.api_addr().unwrap();
    let url = format!("http://{api}");

    let run = status(&["--api", &url, "--devices", "2"]).await;
    assert_eq!(run.code, 0, "ok node: exit 0\n{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(out.contains(&format!("at {url}: ok")), "{out}");
    for expected in [
        "ROUTES (2)",
        "default",
        "buyer",
        "ALLOCATIONS",
        "half-for-buyer",
        "10 min",
        "contract",
        "DEVICES: 3 connected; the 2 with the lowest hashrate",
        "e2e-farm.rig",
        "EVENTS",
        "upstream_up",
        "H/s",
    ] {
        assert!(out.contains(expected), "`{expected}` missing from:\n{out}");
    }
    let listed = out.lines().filter(|l| l.contains("e2e-farm.rig")).count();
    assert_eq!(listed, 2, "{out}");

    let run = status(&["--api", &url, "--json", "--devices", "2"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("--json is JSON");
    let health: Health = serde_json::from_value(json["health"].clone()).unwrap();
    assert_eq!(health.status, Status::Ok);
    let routes: Routes = serde_json::from_value(json["routes"].clone()).unwrap();
    let names: Vec<&str> = routes.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["default", "buyer"]);
    let allocations: Allocations = serde_json::from_value(json["allocations"].clone()).unwrap();
    assert_eq!(allocations.allocations[0].id, "half-for-buyer");
    let devices: DevicePage = serde_json::from_value(json["devices"].clone()).unwrap();
    assert_eq!(devices.total, 3);
    // The lowest-hashrate devices, slowest first (hashrates move between two runs, so this is
    // checked within one).
    let rates: Vec<f64> = devices.devices.iter().map(|d| d.hashrate_hs).collect();
    assert_eq!(rates.len(), 2, "{rates:?}");
    assert!(rates[0] <= rates[1], "{rates:?}");
    let events: Events = serde_json::from_value(json["events"].clone()).unwrap();
    assert!(!events.events.is_empty());

    // The address from a config whose [api] listens on every address.
    let config = dir.path().join("any.toml");
    let text = std::fs::read_to_string(dir.path().join("node.toml"))
        .unwrap()
        .replace(
            "[api]\nlisten = \"127.0.0.1:0\"",
            &format!("[api]\nlisten = \"0.0.0.0:{}\"", api.port()),
        );
    std::fs::write(&config, text).unwrap();
    let run = status(&["--config", config.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&url), "{}", run.stdout);

    for miner in miners {
        miner.shutdown().await;
    }
    node.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_api_exits_3_saying_where_it_looked() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}");
    let run = status(&["--api", &url]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains(&url), "{}", run.stderr);
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);
    assert!(run.stderr.contains("[api]"), "{}", run.stderr);

    // A config without [api]: the message says to add it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        format!(
            "[sv1]\nlisten = \"127.0.0.1:0\"\n[upstream]\naddress = \"127.0.0.1:1\"\n\
             authority_pubkey = \"{TEST_AUTHORITY_PUBLIC}\"\nuser_identity = \"x\"\n"
        ),
    )
    .unwrap();
    let run = status(&["--config", path.to_str().unwrap()]).await;
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("no [api] section"), "{}", run.stderr);
}

/// A server that answers every request with `answer`, then closes the connection.
async fn serve_raw(answer: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(answer).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn garbage_answers_exit_3_without_panic() {
    let answers: [&'static [u8]; 5] = [
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 45\r\n\r\n<html><body><h1>500 Oops</h1></body></html>\r\n",
        // Truncated JSON: fewer bytes than announced.
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"status\":\"ok\",\"version\":",
        // Complete JSON, but not the API's.
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"hello\":true}",
        // Not HTTP at all.
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        // The API's error shape with a status that is not the API's.
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found",
    ];
    for answer in answers {
        let url = serve_raw(answer).await;
        for args in [
            vec!["--api", url.as_str()],
            vec!["--api", url.as_str(), "--json"],
        ] {
            let run = status(&args).await;
            assert_eq!(
                run.code,
                3,
                "answer {:?}\nstdout {}\nstderr {}",
                String::from_utf8_lossy(answer),
                run.stdout,
                run.stderr
            );
            assert!(run.stdout.is_empty(), "{}", run.stdout);
            assert!(run.stderr.contains(&url), "{}", run.stderr);
        }
    }
    let url = serve_raw(answers[0]).await;
    let run = status(&["--api", &url]).await;
    assert!(
        run.stderr.contains("not the hashrouter API") && run.stderr.contains("500"),
        "{}",
        run.stderr
    );
}

/// A fake API: health says `starting` (reading contracts, 20 more each time) for the first
/// `starting_answers` requests, `ok` after; every other document is empty.
async fn serve_starting_node(starting_answers: usize) -> String {
    let asked = Arc::new(AtomicUsize::new(0));
    let health = move || {
        let asked = Arc::clone(&asked);
        async move {
            let n = asked.fetch_add(1, Ordering::SeqCst);
            let starting = n < starting_answers;
            let chain = Component {
                name: "chain".into(),
                status: if starting {
                    Status::Starting
                } else {
                    Status::Ok
                },
                detail: None,
                stale_s: None,
            };
            let health = Health {
                status: chain.status,
                version: "fake".into(),
                uptime_s: n as u64,
                components: vec![chain],
                startup: starting.then(|| StartupProgress {
                    phase: "reading contracts".into(),
                    done: (20 * n as u64).min(60),
                    total: Some(60),
                }),
            };
            let code = match starting {
                true => StatusCode::SERVICE_UNAVAILABLE,
                false => StatusCode::OK,
            };
            (code, Json(health)).into_response()
        }
    };
    let app = Router::new()
        .route("/api/v1/health", get(health))
        .route(
            "/api/v1/routes",
            get(|| async {
                Json(Routes {
                    routes: Vec::new(),
                    oversubscribed: None,
                })
            }),
        )
        .route(
            "/api/v1/allocations",
            get(|| async {
                Json(Allocations {
                    farm_hashrate_hs: 0.0,
                    oversubscribed: None,
                    allocations: Vec::new(),
                })
            }),
        )
        .route(
            "/api/v1/devices",
            get(|| async {
                Json(DevicePage {
                    total: 0,
                    matched: 0,
                    offset: 0,
                    limit: 10,
                    devices: Vec::new(),
                })
            }),
        )
        .route(
            "/api/v1/events",
            get(|| async { Json(Events { events: Vec::new() }) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_shows_the_contract_reading_progress_until_started() {
    let url = serve_starting_node(3).await;
    let run = status(&["--api", &url, "--wait"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for expected in [
        "starting: reading contracts: 0 of 60",
        "starting: reading contracts: 20 of 60",
        "starting: reading contracts: 40 of 60",
    ] {
        assert!(run.stderr.contains(expected), "{}", run.stderr);
    }
    assert!(run.stdout.contains(": ok"), "{}", run.stdout);
    assert!(run.stdout.contains("DEVICES: none connected"));

    // Without --wait: the picture of a starting node at once, exit 2.
    let url = serve_starting_node(usize::MAX).await;
    let run = status(&["--api", &url]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stdout.contains(": starting") && run.stdout.contains("reading contracts: 0 of 60"),
        "{}",
        run.stdout
    );
    // With --wait, bounded by --timeout.
    let run = status(&["--api", &url, "--wait", "--timeout", "1"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("still not started"), "{}", run.stderr);
}
