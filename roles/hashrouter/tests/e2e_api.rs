//! Issue 7's acceptance, end to end: the real binary runs `demo --api 127.0.0.1:0` (simulated
//! pools and miners, real Noise and sha256d), and the test reads what an operator would with
//! curl: `/metrics` shows per-route allocated and delivered hashrate, per-device share counters
//! and upstream state; `/api/v1/allocations` shows allocated vs delivered for each allocation;
//! a state change without the token gets 401; no answer carries a secret.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use hashrouter::api::metrics::{parse_sample, ParsedSample, CONTENT_TYPE};
use hashrouter::api::model::{Allocation, Allocations};

/// How long the demo may take to show shares flowing everywhere.
const FLOW_DEADLINE: Duration = Duration::from_secs(40);
/// How long the demo may take to print its dashboard line.
const START_DEADLINE: Duration = Duration::from_secs(20);
/// Lines of the demo's stderr kept to explain a failure.
const KEPT_LINES: usize = 60;
const ROUTES: [&str; 3] = ["default", "buyer-a", "buyer-b"];
const BUYERS: [&str; 2] = ["buyer-a", "buyer-b"];
/// Words that must appear in no answer.
const SECRET_WORDS: [&str; 3] = ["authority_secret_key", "password", "secret"];

/// The demo process; killed when the test ends, passed or not.
struct Demo {
    child: Child,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    /// Starts the demo and returns it with its API's base URL, read from its stderr.
    fn start() -> (Demo, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hashrouter"))
            .args(["demo", "--duration", "60", "--api", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the hashrouter binary starts");
        let stderr = child.stderr.take().unwrap();
        let kept = Arc::new(Mutex::new(VecDeque::new()));
        let (url_tx, url_rx) = mpsc::channel();
        let lines = Arc::clone(&kept);
        // Drains stderr to its end so the demo never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("dashboard: ") {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let _ = url_tx.send(url.trim_end_matches('/').to_string());
                }
                let mut lines = lines.lock().unwrap();
                if lines.len() == KEPT_LINES {
                    lines.pop_front();
                }
                lines.push_back(line);
            }
        });
        let mut demo = Demo {
            child,
            stderr: kept,
        };
        match url_rx.recv_timeout(START_DEADLINE) {
            Ok(url) => (demo, url),
            Err(_) => {
                let status = demo.child.try_wait();
                panic!(
                    "no dashboard line within {START_DEADLINE:?} (exit: {status:?}); stderr:\n{}",
                    demo.stderr_tail()
                )
            }
        }
    }

    fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap();
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the demo ended early ({status}); stderr:\n{}",
                self.stderr_tail()
            );
        }
    }
}

/// What `/metrics` says, read back line by line.
struct Metrics {
    samples: Vec<ParsedSample>,
}

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| parse_sample(l).unwrap_or_else(|e| panic!("bad sample line {l:?}: {e}")))
            .collect();
        Metrics { samples }
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
            .map(|s| s.value)
    }

    /// Accepted shares per device (`device` label).
    fn accepted_by_device(&self) -> BTreeMap<String, f64> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == "hashrouter_device_shares_total" && s.label("result") == Some("accepted")
            })
            .map(|s| (s.label("device").unwrap_or_default().to_string(), s.value))
            .collect()
    }
}

/// One look at the API: the figures the acceptance is about.
struct Look {
    metrics: Metrics,
    metrics_text: String,
    allocations: Allocations,
    allocations_json: serde_json::Value,
}

impl Look {
    async fn take(client: &reqwest::Client, base: &str) -> Option<Look> {
        let response = client.get(format!("{base}/metrics")).send().await.ok()?;
        if response.status() != 200 {
            return None;
        }
        let metrics_text = response.text().await.ok()?;
        let response = client
            .get(format!("{base}/api/v1/allocations"))
            .send()
            .await
            .ok()?;
        if response.status() != 200 {
            return None;
        }
        let allocations_json: serde_json::Value = response.json().await.ok()?;
        let allocations = serde_json::from_value(allocations_json.clone())
            .expect("/api/v1/allocations has the documented shape");
        Some(Look {
            metrics: Metrics::parse(&metrics_text),
            metrics_text,
            allocations,
            allocations_json,
        })
    }

    fn allocation(&self, id: &str) -> Option<&Allocation> {
        self.allocations.allocations.iter().find(|a| a.id == id)
    }

    /// What is still missing before the acceptance can be checked (empty: nothing).
    fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        let m = &self.metrics;
        for route in ROUTES {
            if m.find("hashrouter_route_allocated_hashrate", &[("route", route)])
                .is_none()
            {
                missing.push(format!("allocated hashrate of {route}"));
            }
        }
        let seen = |route| {
            m.find(
                "hashrouter_route_delivered_hashrate",
                &[("route", route), ("measure", "seen"), ("window", "10m")],
            )
        };
        if !seen("buyer-a").is_some_and(|v| v > 0.0) {
            missing.push("a positive seen rate for buyer-a".into());
        }
        let devices = m
            .accepted_by_device()
            .values()
            .filter(|v| **v > 0.0)
            .count();
        if devices < 4 {
            missing.push(format!("accepted shares from 4 devices (have {devices})"));
        }
        if !self
            .metrics_text
            .contains("\nhashrouter_upstream_connected{route=\"buyer-a\"} 1\n")
        {
            missing.push("buyer-a's upstream connected".into());
        }
        for buyer in BUYERS {
            match self.allocation(buyer) {
                None => missing.push(format!("allocation {buyer}")),
                Some(a) => {
                    if !(a.granted_hs > 0.0 && a.last_10m.seen_hs > 0.0 && a.contract.seen_hs > 0.0)
                    {
                        missing.push(format!(
                            "{buyer} granted and delivered (granted {} seen 10m {} contract {})",
                            a.granted_hs, a.last_10m.seen_hs, a.contract.seen_hs
                        ));
                    }
                }
            }
        }
        missing
    }
}

#[tokio::test]
async fn the_demo_serves_metrics_allocations_and_guards_state_changes() {
    let started = Instant::now();
    let (mut demo, base) = Demo::start();
    eprintln!("demo API at {base} after {:?}", started.elapsed());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let flowing_since = Instant::now();
    let look = loop {
        demo.assert_running();
        let look = Look::take(&client, &base).await;
        let missing = look
            .as_ref()
            .map_or_else(|| vec!["a snapshot".into()], Look::missing);
        if missing.is_empty() {
            break look.unwrap();
        }
        if flowing_since.elapsed() > FLOW_DEADLINE {
            panic!(
                "after {FLOW_DEADLINE:?} still missing: {missing:?}\nstderr:\n{}",
                demo.stderr_tail()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    eprintln!("shares flow everywhere after {:?}", flowing_since.elapsed());

    // /metrics: per-route allocated and delivered hashrate, device counters, upstream state.
    let m = &look.metrics;
    for route in ROUTES {
        let allocated = m
            .find("hashrouter_route_allocated_hashrate", &[("route", route)])
            .unwrap();
        let rate = |measure| {
            m.find(
                "hashrouter_route_delivered_hashrate",
                &[("route", route), ("measure", measure), ("window", "10m")],
            )
            .unwrap_or_else(|| panic!("{route} has no {measure} rate"))
        };
        let connected = m
            .find("hashrouter_upstream_connected", &[("route", route)])
            .unwrap();
        eprintln!(
            "route {route:<8} allocated {allocated:>10.0} H/s  seen(10m) {:>10.0} H/s  acked(10m) {:>10.0} H/s  upstream connected {connected}",
            rate("seen"),
            rate("acked")
        );
    }
    let accepted = m.accepted_by_device();
    eprintln!("accepted shares by device: {accepted:?}");
    assert!(accepted.values().filter(|v| **v > 0.0).count() >= 4);
    assert!(accepted
        .keys()
        .all(|id| id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit())));

    // /api/v1/allocations: allocated vs delivered, node-seen and pool-acked, per allocation.
    for buyer in BUYERS {
        let a = look.allocation(buyer).unwrap();
        eprintln!(
            "allocation {buyer}: granted {:.0} H/s; seen 10m {:.0}, contract {:.0} H/s over {} s; acked 10m {:.0}, contract {:.0} H/s",
            a.granted_hs, a.last_10m.seen_hs, a.contract.seen_hs, a.contract.seconds, a.last_10m.acked_hs, a.contract.acked_hs
        );
        let json = look.allocations_json["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == buyer)
            .unwrap();
        for window in ["last_10m", "last_1h", "contract"] {
            assert!(
                json[window]["acked_hs"].as_f64().is_some_and(|v| v >= 0.0),
                "{buyer} {window} has no acked rate: {json}"
            );
        }
    }

    // A state change without the token is refused.
    let reload = client
        .post(format!("{base}/api/v1/allocations/reload"))
        .send()
        .await
        .unwrap();
    eprintln!(
        "POST /api/v1/allocations/reload without a token: {}",
        reload.status()
    );
    assert_eq!(reload.status(), 401);

    // No answer carries a secret.
    let pages = [
        "/api/v1/health",
        "/api/v1/devices",
        "/api/v1/devices?limit=1000&sort=hashrate_hs&order=desc",
        "/api/v1/routes",
        "/api/v1/allocations",
        "/api/v1/events?limit=1000",
        "/api/v1/history",
        "/metrics",
    ];
    for page in pages {
        let response = client.get(format!("{base}{page}")).send().await.unwrap();
        let status = response.status();
        let content_type = response.headers().get("content-type").cloned();
        let body = response.text().await.unwrap().to_lowercase();
        assert!(status.is_success(), "{page}: {status}");
        if page == "/metrics" {
            assert_eq!(content_type.unwrap(), CONTENT_TYPE);
        }
        for word in SECRET_WORDS {
            assert!(!body.contains(word), "{page} contains {word:?}");
        }
        eprintln!("{page}: {status}, {} bytes, no secret", body.len());
    }
    eprintln!("checked in {:?} from the demo's start", started.elapsed());
}
