//! The node is stopped mid-run and started again on the same data directory: each route's
//! delivered work and owed work continue from where they were, and the accounting store holds
//! every share the node saw before the stop.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use hashrouter::config::Config;
use hashrouter::node::{self, NodeHandle};
use hashrouter::store::Store;
use minesim::pool::TEST_AUTHORITY_PUBLIC;

fn write_config(dir: &Path, seller: std::net::SocketAddr, buyer: std::net::SocketAddr) {
    std::fs::write(
        dir.join("allocations.toml"),
        "[[allocation]]\nid = \"half\"\nroute = \"buyer\"\nfraction = 0.5\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("node.toml"),
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
url = "sv2+tcp://{buyer}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "buyer"
[allocations]
file = "allocations.toml"
[store]
data_dir = "data"
[split]
min_dwell_secs = 3
catch_up_horizon_secs = 10
vetting_shares = 3
vetting_secs = 3
estimate_half_life_secs = 30
rebalance_secs = 1
"#
        ),
    )
    .unwrap();
}

async fn start(dir: &Path) -> NodeHandle {
    let config = Config::load(&dir.join("node.toml")).expect("valid config");
    node::start(&config).await.expect("node starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounting_and_owed_work_survive_a_restart() {
    let seller = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let buyer = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), seller.local_addr(), buyer.local_addr());

    let node = start(dir.path()).await;
    let miners = start_miners(node.sv1_addr(), &[150_000.0, 150_000.0, 150_000.0]);
    assert!(
        wait_for(Duration::from_secs(30), || async {
            node.snapshot().await.unwrap().routes[1].shares >= 20
        })
        .await,
        "the buyer's route got no work"
    );
    for miner in miners {
        miner.shutdown().await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = node.snapshot().await.unwrap().routes;
    node.shutdown().await;
    println!("before the stop: {before:?}");
    assert!(before[1].delivered > 0.0 && before[1].owed != 0.0);

    // Everything the node saw is on disk.
    let store = Store::open_read_only(dir.path().join("data")).unwrap();
    for route in &before {
        let totals = store.totals(&route.name, None, i64::MIN, i64::MAX).unwrap();
        let relative = (totals.seen_work - route.delivered).abs() / route.delivered.max(1.0);
        assert!(
            relative < 1e-9,
            "{}: store has {} of {} work",
            route.name,
            totals.seen_work,
            route.delivered
        );
    }
    drop(store);

    // A new node on the same data directory continues the accounts.
    let node = start(dir.path()).await;
    let after = node.snapshot().await.unwrap().routes;
    println!("after the restart: {after:?}");
    for (b, a) in before.iter().zip(&after) {
        assert!(
            (a.delivered - b.delivered).abs() <= 1e-9 * b.delivered.max(1.0),
            "{}: delivered {} before, {} after",
            b.name,
            b.delivered,
            a.delivered
        );
    }
    // Owed work went on accruing for the second between the snapshot and the stop, no more.
    let target = before[1].target;
    assert!(
        after[1].owed >= before[1].owed && after[1].owed <= before[1].owed + 5.0 * target,
        "owed {} before, {} after (target {target} H/s)",
        before[1].owed,
        after[1].owed
    );
    node.shutdown().await;
    buyer.shutdown().await;
    seller.shutdown().await;
}
