//! A route to a Stratum V1 pool (minesim's): half the farm's work goes to it over one V1
//! connection, the pool accepts every share the node forwarded and credits exactly the work the
//! node counted; a V1 pool whose extranonce2 cannot hold the node's device ids is refused with
//! both sizes named, and the devices keep working for the default route; a V1 pool that changes
//! its difficulty (vardiff) never sees a share below the difficulty of the job it was mined on.

mod common;

use std::time::Duration;

use common::*;
use hashrouter::config::Config;
use hashrouter::core::RouteId;
use hashrouter::node::{self, NodeHandle};
use minesim::pool::{PoolHandle, TEST_AUTHORITY_PUBLIC};
use minesim::sv2_miner::{spawn_sv2_miner, Sv2MinerConfig};
use minesim::v1_pool::{V1Pool, V1PoolConfig, V1PoolHandle, V1Vardiff};

const V1_USER: &str = "buyer.v1farm";
const WAIT: Duration = Duration::from_secs(60);

async fn start_v1_pool(extranonce2_size: usize) -> V1PoolHandle {
    start_v1_pool_with(extranonce2_size, None).await
}

async fn start_v1_pool_with(extranonce2_size: usize, vardiff: Option<V1Vardiff>) -> V1PoolHandle {
    let mut config = V1PoolConfig::new("127.0.0.1:0".parse().unwrap());
    config.extranonce2_size = extranonce2_size;
    config.difficulty = 0.00005;
    config.vardiff = vardiff;
    V1Pool::start(config).await.expect("V1 pool starts")
}

/// A node whose default route is `default_pool` (SV2) and whose route `buyer-v1` is the V1
/// pool at `v1_pool`, allocated half the farm. `sv2` adds the SV2 server.
async fn start_routing_node(
    dir: &tempfile::TempDir,
    default_pool: &PoolHandle,
    v1_pool: &V1PoolHandle,
    sv2: &str,
) -> NodeHandle {
    std::fs::write(
        dir.path().join("allocations.toml"),
        r#"
[[allocation]]
id = "half"
route = "buyer-v1"
fraction = 0.5
"#,
    )
    .unwrap();
    let config_path = dir.path().join("node.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"
[sv1]
listen = "127.0.0.1:0"
{sv2}
[difficulty]
initial = 0.0001
minimum = 0.000001
shares_per_minute = 60
retarget_secs = 5

[upstream]
address = "{default_pool}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "seller"
reconnect_min_ms = 100
reconnect_max_secs = 1

[[routes]]
name = "buyer-v1"
url = "stratum+tcp://{v1_pool}"
user_identity = "{V1_USER}"
password = "buyer-secret"

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
            default_pool = default_pool.local_addr(),
            v1_pool = v1_pool.local_addr(),
        ),
    )
    .unwrap();
    let config = Config::load(&config_path).expect("valid config");
    node::start(&config).await.expect("node starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_pool_route_accepts_exactly_the_work_the_node_forwarded() {
    let default_pool = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let v1_pool = start_v1_pool(8).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = sv2_conn::keys::generate();
    // The V1 pool's 8-byte extranonce2 holds a 4-byte device id and 4 bytes for the devices:
    // SV2 extended channels may not ask for more than the SV1 devices' extranonce2.
    let sv2 = format!(
        r#"
[sv2]
listen = "127.0.0.1:0"
authority_public_key = "{}"
authority_secret_key = "{}"
max_extranonce_size = 4
"#,
        keys.public_string(),
        keys.secret_string()
    );
    let node = start_routing_node(&dir, &default_pool, &v1_pool, &sv2).await;
    let mut v1 = start_miners(node.sv1_addr(), &[150_000.0, 150_000.0, 120_000.0]);
    let mut sv2_config = Sv2MinerConfig::new(node.sv2_addr().unwrap(), "sv2.rig0");
    sv2_config.authority = Some(keys.public);
    sv2_config.hashrate_cap = 150_000.0;
    let sv2_miner = spawn_sv2_miner(sv2_config);

    let routed = wait_for(WAIT, || async {
        v1_pool
            .stats()
            .user(V1_USER)
            .is_some_and(|u| u.accepted_shares >= 20)
    })
    .await;
    let snapshot = node.snapshot().await.unwrap();
    assert!(
        routed,
        "the V1 pool gets the route's shares: {:?} / {:?}",
        v1_pool.stats().users(),
        snapshot.routes[1]
    );
    let route = &snapshot.routes[1];
    assert_eq!(route.name, "buyer-v1");
    assert!(route.upstream.connected, "{route:?}");
    assert_eq!(route.upstream.last_error, None);
    let difficulty = route.upstream.difficulty.unwrap_or(0.0);
    assert!((difficulty / 0.00005 - 1.0).abs() < 1e-9, "{difficulty}");
    assert!(route.devices >= 1, "{route:?}");
    assert_eq!(snapshot.devices.len(), 4);

    let v1_reconnects: Vec<u64> = v1.iter().map(|m| m.stats().reconnects()).collect();
    let sv2_reconnects = sv2_miner.stats().reconnects();
    for miner in v1.drain(..) {
        tokio::time::timeout(Duration::from_secs(10), miner.shutdown())
            .await
            .expect("V1 miner stops");
    }
    tokio::time::timeout(Duration::from_secs(10), sv2_miner.shutdown())
        .await
        .expect("SV2 miner stops");
    assert_eq!(v1_reconnects, [0, 0, 0], "no device was disconnected");
    assert_eq!(sv2_reconnects, 0);

    // Once every answer is in, the V1 pool credited exactly the work the node forwarded to it,
    // and refused nothing.
    let settled = wait_for(Duration::from_secs(10), || async {
        let snapshot = node.snapshot().await.unwrap();
        let c = &snapshot.routes[1].upstream.counters;
        let accepted = v1_pool
            .stats()
            .user(V1_USER)
            .map_or(0.0, |u| u.accepted_work);
        c.forwarded_shares == c.acked_shares + c.rejected_shares
            && (accepted - c.forwarded_work).abs() <= 1e-9 * c.forwarded_work.max(1e-12)
    })
    .await;
    let snapshot = node.snapshot().await.unwrap();
    let counters = &snapshot.routes[1].upstream.counters;
    let user = v1_pool.stats().user(V1_USER).unwrap_or_default();
    println!("route counters {counters:?}\nV1 pool user {user:?}");
    assert!(settled, "pool and node disagree: {counters:?} vs {user:?}");
    assert_eq!(counters.rejected_shares, 0);
    assert!(user.rejected.is_empty(), "{:?}", user.rejected);
    assert_eq!(counters.acked_shares, user.accepted_shares);
    assert_eq!(
        v1_pool.stats().users().len(),
        1,
        "one worker: the route's user"
    );
    // The default route kept the rest of the farm.
    assert!(snapshot.routes[0].upstream.counters.acked_shares > 0);
    node.shutdown().await;
    v1_pool.shutdown().await;
    default_pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_pool_with_too_small_an_extranonce2_is_refused_and_devices_stay_on_default() {
    let default_pool = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let v1_pool = start_v1_pool(4).await;
    let dir = tempfile::tempdir().unwrap();
    let node = start_routing_node(&dir, &default_pool, &v1_pool, "").await;
    let miners = start_miners(node.sv1_addr(), &[150_000.0, 150_000.0]);

    let refused = wait_for(WAIT, || async {
        node.snapshot().await.unwrap().routes[1]
            .upstream
            .last_error
            .is_some()
    })
    .await;
    assert!(refused, "the route reports why it is not used");
    // Long enough for vetting (3 shares, 3 s) and several rebalances: nothing moves.
    assert!(
        wait_for(WAIT, || async { accepted(&miners).iter().all(|n| *n >= 8) }).await,
        "the devices keep mining: {:?}",
        accepted(&miners)
    );
    let snapshot = node.snapshot().await.unwrap();
    let route = &snapshot.routes[1];
    let error = route.upstream.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("extranonce2_size is 4 bytes, the node needs 8"),
        "{error}"
    );
    assert!(!route.upstream.connected);
    assert_eq!(route.devices, 0);
    assert_eq!(snapshot.devices.len(), 2);
    assert!(snapshot.devices.iter().all(|d| d.route == RouteId::DEFAULT));
    assert!(miners.iter().all(|m| m.stats().reconnects() == 0));
    assert_eq!(v1_pool.stats().accepted_shares(), 0);
    assert!(snapshot.routes[0].upstream.counters.acked_shares > 0);
    for miner in miners {
        miner.shutdown().await;
    }
    node.shutdown().await;
    v1_pool.shutdown().await;
    default_pool.shutdown().await;
}

/// The pool's vardiff moves its difficulty while shares are in flight: `mining.set_difficulty`
/// applies from the pool's next job, so a share on an earlier job is checked (and counted) at
/// that job's difficulty, and the pool refuses none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_pool_changing_its_difficulty_refuses_no_forwarded_share() {
    let default_pool = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let v1_pool = start_v1_pool_with(
        8,
        Some(V1Vardiff {
            shares_per_minute: 30.0,
            retarget: Duration::from_secs(1),
            min_difficulty: 0.00001,
            max_difficulty: 0.001,
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let node = start_routing_node(&dir, &default_pool, &v1_pool, "").await;
    let mut miners = start_miners(node.sv1_addr(), &[200_000.0, 200_000.0, 200_000.0]);
    // The route's difficulty as the node saw it change, and how often it changed while the
    // pool was receiving shares.
    let mut difficulties = Vec::new();
    let mut changes_while_mining = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    let enough = loop {
        let snapshot = node.snapshot().await.unwrap();
        let accepted = v1_pool
            .stats()
            .user(V1_USER)
            .map_or(0, |u| u.accepted_shares);
        if let Some(d) = snapshot.routes[1].upstream.difficulty {
            if difficulties.last() != Some(&d) {
                difficulties.push(d);
                changes_while_mining += usize::from(accepted > 0);
            }
        }
        if changes_while_mining >= 2 && accepted >= 12 {
            break true;
        }
        if tokio::time::Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        enough,
        "the pool retargets and accepts shares: difficulties {difficulties:?}, {:?}",
        v1_pool.stats().users()
    );
    for miner in miners.drain(..) {
        tokio::time::timeout(Duration::from_secs(10), miner.shutdown())
            .await
            .expect("V1 miner stops");
    }
    let settled = wait_for(Duration::from_secs(10), || async {
        let c = node.snapshot().await.unwrap().routes[1]
            .upstream
            .counters
            .clone();
        c.forwarded_shares == c.acked_shares + c.rejected_shares
    })
    .await;
    let counters = node.snapshot().await.unwrap().routes[1]
        .upstream
        .counters
        .clone();
    let user = v1_pool.stats().user(V1_USER).unwrap_or_default();
    println!("difficulties {difficulties:?}\nroute counters {counters:?}\nV1 pool user {user:?}");
    assert!(settled, "{counters:?}");
    assert_eq!(counters.rejected_shares, 0);
    assert!(user.rejected.is_empty(), "{:?}", user.rejected);
    assert_eq!(counters.acked_shares, user.accepted_shares);
    // The pool credits a share on a job sent before a retarget at the lower of the two
    // difficulties; the node counts the job's own. Never more than the node forwarded.
    assert!(user.accepted_work <= counters.forwarded_work * (1.0 + 1e-9));
    node.shutdown().await;
    v1_pool.shutdown().await;
    default_pool.shutdown().await;
}
