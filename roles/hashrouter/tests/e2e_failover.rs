//! A buyer's pool fails: its devices move to the default route within 2 s without any device
//! disconnecting, its owed work keeps growing while it is down, and once the pool is back the
//! route gets more than its share until the debt is paid.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hashrouter::config::Config;
use hashrouter::node::{self, NodeHandle};
use minesim::pool::TEST_AUTHORITY_PUBLIC;

async fn route(node: &NodeHandle, index: usize) -> hashrouter::core::RouteSnapshot {
    node.snapshot().await.unwrap().routes[index].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_route_moves_its_devices_and_is_repaid_after_recovery() {
    let seller = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let buyer = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let buyer_addr = buyer.local_addr();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("allocations.toml"),
        "[[allocation]]\nid = \"half\"\nroute = \"buyer\"\nfraction = 0.5\n",
    )
    .unwrap();
    let config_path = dir.path().join("node.toml");
    std::fs::write(
        &config_path,
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
address = "{seller}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "seller"
reconnect_min_ms = 100
reconnect_max_secs = 1
[[routes]]
name = "buyer"
url = "sv2+tcp://{buyer_addr}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "buyer"
[allocations]
file = "allocations.toml"
[split]
min_dwell_secs = 3
catch_up_horizon_secs = 10
max_catch_up = 0.5
vetting_shares = 3
vetting_secs = 3
estimate_half_life_secs = 30
rebalance_secs = 1
"#,
            seller = seller.local_addr(),
        ),
    )
    .unwrap();
    let node = node::start(&Config::load(&config_path).unwrap())
        .await
        .unwrap();
    let miners = start_miners(
        node.sv1_addr(),
        &[150_000.0, 150_000.0, 150_000.0, 150_000.0],
    );

    // Devices reach the buyer's route.
    assert!(
        wait_for(Duration::from_secs(30), || async {
            route(&node, 1).await.devices >= 2
        })
        .await,
        "no device moved to the buyer: {:?}",
        node.snapshot().await.map(|s| s.routes)
    );
    tokio::time::sleep(Duration::from_secs(5)).await;

    // The buyer's pool dies: its devices are on the default route within 2 s.
    buyer.shutdown().await;
    let failed_at = Instant::now();
    assert!(
        wait_for(Duration::from_secs(2), || async {
            route(&node, 1).await.devices == 0
        })
        .await,
        "devices still on the failed route after 2 s"
    );
    println!("devices moved off in {:?}", failed_at.elapsed());
    assert!(miners
        .iter()
        .all(|m| m.stats().connected() && m.stats().reconnects() == 0));

    // Debt grows during the outage.
    let owed_at_failure = route(&node, 1).await.owed;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let owed_before_recovery = route(&node, 1).await.owed;
    assert!(
        owed_before_recovery > owed_at_failure,
        "owed work did not accrue: {owed_at_failure} -> {owed_before_recovery}"
    );

    // The pool returns on the same address: the route gets devices back and repays its debt.
    let mut config = minesim::pool::PoolConfig::new(buyer_addr);
    config.initial_target = minesim::pool::InitialTarget::FixedDifficulty(0.00005);
    config.vardiff = false;
    let buyer = minesim::pool::Pool::start(config).await.unwrap();
    let recovered_at = Instant::now();
    let mut last_print = Instant::now();
    assert!(
        wait_for(Duration::from_secs(40), || {
            let print = last_print.elapsed() >= Duration::from_secs(2);
            if print {
                last_print = Instant::now();
            }
            let node = &node;
            async move {
                let r = route(node, 1).await;
                if print {
                    println!(
                        "{:>5.1}s owed {:.0} of {owed_before_recovery:.0}, target {:.0}, devices {}, connected {}",
                        recovered_at.elapsed().as_secs_f64(), r.owed, r.target, r.devices, r.upstream.connected
                    );
                }
                r.upstream.connected && r.owed < owed_before_recovery * 0.25
            }
        })
        .await,
        "debt not repaid after recovery: {:?}",
        route(&node, 1).await
    );
    assert!(buyer
        .stats()
        .user("buyer")
        .is_some_and(|u| u.accepted_shares > 0));
    assert!(miners.iter().all(|m| m.stats().reconnects() == 0));

    for miner in miners {
        miner.shutdown().await;
    }
    node.shutdown().await;
    buyer.shutdown().await;
    seller.shutdown().await;
}
