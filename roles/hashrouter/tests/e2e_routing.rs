//! Three routes, each an SV2 pool, split 50/30/20 by an allocations file between 8 devices
//! (Stratum V1 and SV2): the node moves whole devices and time-slices the rest, the work it
//! measures per route tracks each route's target within three standard deviations of share
//! noise, and every pool accepts exactly the work the node forwarded to it.

mod common;

use std::time::Duration;

use common::*;
use hashrouter::config::Config;
use hashrouter::node;
use minesim::pool::TEST_AUTHORITY_PUBLIC;
use minesim::sv2_miner::{spawn_sv2_miner, Sv2MinerConfig};

const RUN: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocations_split_devices_between_three_pools() {
    let pools = [
        start_pool("127.0.0.1:0".parse().unwrap()).await,
        start_pool("127.0.0.1:0".parse().unwrap()).await,
        start_pool("127.0.0.1:0".parse().unwrap()).await,
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("allocations.toml"),
        r#"
[[allocation]]
id = "half"
route = "buyer-a"
fraction = 0.5

[[allocation]]
id = "thirty"
route = "buyer-b"
fraction = 0.3
"#,
    )
    .unwrap();
    let keys = sv2_conn::keys::generate();
    let config_path = dir.path().join("node.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"
[sv1]
listen = "127.0.0.1:0"

[sv2]
listen = "127.0.0.1:0"
authority_public_key = "{public}"
authority_secret_key = "{secret}"

[difficulty]
initial = 0.0001
minimum = 0.000001
shares_per_minute = 60
retarget_secs = 5

[upstream]
address = "{p0}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "seller"
reconnect_min_ms = 100
reconnect_max_secs = 1

[[routes]]
name = "buyer-a"
url = "sv2+tcp://{p1}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "buyer-a"

[[routes]]
name = "buyer-b"
url = "sv2+tcp://{p2}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "buyer-b"

[allocations]
file = "allocations.toml"

[split]
min_dwell_secs = 3
catch_up_horizon_secs = 10
vetting_shares = 3
vetting_secs = 3
estimate_half_life_secs = 30
rebalance_secs = 1
"#,
            public = keys.public_string(),
            secret = keys.secret_string(),
            p0 = pools[0].local_addr(),
            p1 = pools[1].local_addr(),
            p2 = pools[2].local_addr(),
        ),
    )
    .unwrap();
    let config = Config::load(&config_path).expect("valid config");
    let node = node::start(&config).await.expect("node starts");

    let mut v1 = start_miners(
        node.sv1_addr(),
        &[100_000.0, 150_000.0, 200_000.0, 120_000.0, 180_000.0],
    );
    let mut sv2 = Vec::new();
    for (i, rate) in [160_000.0, 140_000.0, 110_000.0].into_iter().enumerate() {
        let mut c = Sv2MinerConfig::new(node.sv2_addr().unwrap(), format!("sv2.rig{i}"));
        c.authority = Some(keys.public);
        c.hashrate_cap = rate;
        sv2.push(spawn_sv2_miner(c));
    }
    tokio::time::sleep(RUN).await;

    let snapshot = node.snapshot().await.unwrap();
    for route in &snapshot.routes {
        println!(
            "{:<8} target {:>9.0} H/s delivered {:.3e} owed {:.3e} shares {} devices {} upstream {:?}",
            route.name,
            route.target,
            route.delivered,
            route.owed,
            route.shares,
            route.devices,
            route.upstream.counters
        );
    }
    assert_eq!(snapshot.devices.len(), 8);
    // Each buyer's route: the work it was owed (target integral) against what it got, within
    // three standard deviations of the Poisson noise of its shares.
    for route in &snapshot.routes[1..] {
        let target_work = route.delivered + route.owed;
        assert!(target_work > 0.0, "{} had no target", route.name);
        let relative = route.owed.abs() / target_work;
        let sigma = 1.0 / (route.shares.max(1) as f64).sqrt();
        assert!(
            relative <= 3.0 * sigma,
            "route {} off by {:.1}% (3σ = {:.1}%): delivered {:.3e} of {:.3e}",
            route.name,
            100.0 * relative,
            300.0 * sigma,
            route.delivered,
            target_work
        );
    }
    // The split follows the allocations: the buyers got about 50% and 30% of the farm's work.
    let total: f64 = snapshot.routes.iter().map(|r| r.delivered).sum();
    let a = snapshot.routes[1].delivered / total;
    let b = snapshot.routes[2].delivered / total;
    assert!((a - 0.5).abs() < 0.12, "buyer-a got {a:.3}");
    assert!((b - 0.3).abs() < 0.12, "buyer-b got {b:.3}");

    // Every pool accepts exactly what the node forwarded to its route.
    for miner in v1.drain(..) {
        tokio::time::timeout(Duration::from_secs(10), miner.shutdown())
            .await
            .expect("V1 miner stops");
    }
    for miner in sv2.drain(..) {
        tokio::time::timeout(Duration::from_secs(10), miner.shutdown())
            .await
            .expect("SV2 miner stops");
    }
    let users = ["seller", "buyer-a", "buyer-b"];
    let settled = wait_for(Duration::from_secs(10), || async {
        let snapshot = node.snapshot().await.unwrap();
        snapshot
            .routes
            .iter()
            .zip(&pools)
            .zip(users)
            .all(|((route, pool), user)| {
                let c = &route.upstream.counters;
                let accepted = pool.stats().user(user).map_or(0.0, |u| u.accepted_work);
                c.forwarded_shares == c.acked_shares + c.rejected_shares
                    && (accepted - c.forwarded_work).abs() <= 1e-9 * c.forwarded_work.max(1.0)
            })
    })
    .await;
    let snapshot = node.snapshot().await.unwrap();
    assert!(
        settled,
        "pools and node disagree: {:?} vs {:?}",
        snapshot
            .routes
            .iter()
            .map(|r| r.upstream.counters.clone())
            .collect::<Vec<_>>(),
        pools
            .iter()
            .zip(users)
            .map(|(p, u)| p.stats().user(u))
            .collect::<Vec<_>>()
    );
    assert!(snapshot
        .routes
        .iter()
        .all(|r| r.upstream.counters.forwarded_shares > 0));
    node.shutdown().await;
    for pool in pools {
        pool.shutdown().await;
    }
}
