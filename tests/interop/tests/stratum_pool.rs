//! Scenario (d): minesim V1 miners → npm `stratum-pool-sha256@2.1.3` (a real Stratum V1 pool in
//! JavaScript, run with node through `tests/interop/js/stratum_pool.js`) ← minesim's bitcoind
//! JSON-RPC shim, in process.
//!
//! The runner prints one JSON line per share the pool judged (`{"event":"share",...}`); the
//! tests read those next to the miners' own counters and the shim's record of RPC calls.
//!
//! Scenario (e): the same pool as a Stratum V1 route of the node (minesim V1 miners → node →
//! half the farm to the JS pool, the rest to a minesim SV2 pool): with its extranonce2 widened
//! to 8 bytes it accepts every share the node forwards; with its own 4 bytes the route is
//! refused, naming both sizes, and the devices stay on the default route.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bitcoin::{Address, Network, ScriptBuf};
use hashrouter::config::Config;
use hashrouter::core::RouteId;
use hashrouter::node::{self, NodeHandle};
use interop::{free_port, npm_package_dir, wait_until, PeerProcess};
use minesim::bitcoind_rpc::{BitcoindRpc, BitcoindRpcConfig, BitcoindRpcHandle, RpcAuth};
use minesim::pool::{PoolHandle, TEST_AUTHORITY_PUBLIC};
use minesim::v1_miner::{spawn_miner, MinerConfig, MinerHandle};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const RPC_USER: &str = "interop";
const RPC_PASSWORD: &str = "interop-secret";
/// The pool's fixed share difficulty: a share per ~0.4 s at the miners' 200 kH/s.
const DIFFICULTY: f64 = 0.00002;
const MINER_HASHRATE: f64 = 200_000.0;
/// Generous bound for anything that takes a few seconds.
const WAIT: Duration = Duration::from_secs(60);
/// Every method the pool is expected to call on a run without blocks.
const STARTUP_METHODS: [&str; 8] = [
    "getpeerinfo",
    "validateaddress",
    "getdifficulty",
    "getmininginfo",
    "submitblock",
    "getblockchaininfo",
    "getnetworkinfo",
    "getblocktemplate",
];

/// The shim and the JS pool in front of it.
struct Setup {
    rpc: BitcoindRpcHandle,
    pool: PeerProcess,
    addr: SocketAddr,
}

fn runner_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js/stratum_pool.js")
}

/// Starts the shim (network target `nbits`, the shim's hard default if `None`) and the pool
/// (the package's own 4-byte extranonce2 unless `extranonce2_size` widens it).
async fn start(nbits: Option<u32>, extranonce2_size: Option<usize>) -> Setup {
    let mut config = BitcoindRpcConfig::new("127.0.0.1:0".parse().unwrap());
    config.auth = Some(RpcAuth {
        user: RPC_USER.into(),
        password: RPC_PASSWORD.into(),
    });
    if let Some(n) = nbits {
        config.nbits = n;
    }
    let rpc = BitcoindRpc::start(config).await.expect("shim starts");
    let port = free_port();
    let payout = ScriptBuf::from_bytes([&[0x00u8, 0x14][..], &[0x44u8; 20][..]].concat());
    let address = Address::from_script(&payout, Network::Regtest)
        .expect("P2WPKH has an address")
        .to_string();
    let mut pool_config = json!({
        "package_dir": npm_package_dir("stratum-pool-sha256"),
        "stratum_port": port,
        "difficulty": DIFFICULTY,
        "rpc": {"port": rpc.local_addr().port(), "user": RPC_USER, "password": RPC_PASSWORD},
        "address": address,
        "block_refresh_ms": 500,
    });
    if let Some(size) = extranonce2_size {
        pool_config["extranonce2_size"] = json!(size);
    }
    let runner = runner_script();
    let pool = PeerProcess::start(
        "stratum-pool-sha256",
        Path::new("node"),
        &[("pool.json", &pool_config.to_string())],
        &[&runner.to_string_lossy(), "{dir}/pool.json"],
    );
    assert!(
        pool.wait_for_log(r#""event":"started""#, WAIT).await,
        "the pool starts:\n{}",
        pool.log_tail(40)
    );
    Setup {
        rpc,
        pool,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

fn miner(addr: SocketAddr, user: &str) -> MinerHandle {
    let mut config = MinerConfig::new(addr, user);
    config.hashrate_cap = MINER_HASHRATE;
    config.reconnect = false;
    spawn_miner(config)
}

/// The share events the runner printed so far.
fn share_events(pool: &PeerProcess) -> Vec<Value> {
    pool.log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"] == "share")
        .collect()
}

fn valid_shares_of(events: &[Value], worker: &str) -> u64 {
    events
        .iter()
        .filter(|e| e["valid"] == json!(true) && e["worker"] == json!(worker))
        .count() as u64
}

/// Every share event is a valid share at the port's difficulty and not a block.
fn assert_all_valid(events: &[Value]) {
    for e in events {
        assert_eq!(e["valid"], json!(true), "refused share: {e}");
        assert_eq!(e["block"], json!(false), "{e}");
        assert_eq!(e["difficulty"].as_f64(), Some(DIFFICULTY), "{e}");
        let share_diff = e["share_diff"].as_f64().unwrap_or(0.0);
        assert!(share_diff >= 0.99 * DIFFICULTY, "{e}");
    }
}

#[tokio::test]
async fn minesim_v1_miners_get_shares_accepted_by_stratum_pool_sha256() {
    let mut s = start(None, None).await;
    let workers = ["alice.rig1", "bob.rig1"];
    let miners: Vec<_> = workers.iter().map(|w| miner(s.addr, w)).collect();
    assert!(
        wait_until(WAIT, || async {
            miners.iter().all(|m| m.stats().shares_accepted() >= 3)
        })
        .await,
        "each miner gets 3 shares accepted:\n{}",
        s.pool.log_tail(40)
    );
    let counts: Vec<_> = miners
        .iter()
        .map(|m| {
            let st = m.stats();
            (
                st.shares_accepted(),
                st.shares_submitted(),
                st.shares_rejected(),
            )
        })
        .collect();
    for m in miners {
        m.shutdown().await;
    }
    // Every share a miner saw accepted was judged (and printed) before the answer went out.
    let events = share_events(&s.pool);
    assert_all_valid(&events);
    for (worker, (accepted, submitted, rejected)) in workers.iter().zip(counts) {
        assert_eq!(rejected, 0, "{worker}: the pool refused none");
        let valid = valid_shares_of(&events, worker);
        assert!(
            valid >= accepted && valid <= submitted.max(accepted),
            "{worker}: pool counted {valid}, miner saw {accepted} accepted of {submitted}"
        );
    }
    let stats = s.rpc.stats();
    for method in STARTUP_METHODS {
        assert!(stats.calls_of(method) >= 1, "the pool calls {method}");
    }
    assert!(
        stats.unknown_calls().is_empty(),
        "every call is served: {:?}",
        stats.unknown_calls()
    );
    assert_eq!(stats.accepted_blocks(), 0, "test shares never make blocks");
    assert!(stats.rejected_blocks().is_empty());
    assert_eq!(stats.unauthorized(), 0, "the pool uses its credentials");
    assert!(s.pool.is_running());
    s.rpc.shutdown().await;
}

#[tokio::test]
async fn a_widened_extranonce2_leaves_room_for_a_routing_node() {
    let mut s = start(None, Some(8)).await;
    // What a routing node would see when subscribing upstream.
    let stream = TcpStream::connect(s.addr).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    writer
        .write_all(b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"probe/1\"]}\n")
        .await
        .unwrap();
    let mut lines = BufReader::new(reader).lines();
    let answer = loop {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("an answer")
            .unwrap()
            .expect("a line");
        let value: Value = serde_json::from_str(&line).unwrap();
        if value["id"] == json!(1) {
            break value;
        }
    };
    assert_eq!(
        answer["result"][1].as_str().map(str::len),
        Some(8),
        "4-byte extranonce1"
    );
    assert_eq!(answer["result"][2], json!(8), "8-byte extranonce2");
    drop(writer);

    let m = miner(s.addr, "carol.rig1");
    assert!(
        wait_until(WAIT, || async { m.stats().shares_accepted() >= 3 }).await,
        "shares accepted with the wide extranonce2:\n{}",
        s.pool.log_tail(40)
    );
    let accepted = m.stats().shares_accepted();
    m.shutdown().await;
    let events = share_events(&s.pool);
    assert_all_valid(&events);
    assert!(valid_shares_of(&events, "carol.rig1") >= accepted);
    assert!(s.pool.is_running());
    s.rpc.shutdown().await;
}

/// With a network target every share meets, each share is a block candidate: the pool must
/// survive that (it needs the runner's global `extraNoncePlaceholder`). Its block path rebuilds
/// the coinbase with the worker's name and writes the merkle root byte-reversed, so the block
/// it submits never holds; the shim must refuse it with bitcoind's reasons and keep its tip.
#[tokio::test]
async fn block_level_shares_leave_the_pool_running_and_its_broken_blocks_are_refused() {
    let mut s = start(Some(0x207f_ffff), None).await;
    let m = miner(s.addr, "dave.rig1");
    assert!(
        wait_until(WAIT, || async {
            m.stats().shares_accepted() >= 3 && s.rpc.stats().calls_of("getblock") >= 3
        })
        .await,
        "block candidates go through submitblock and getblock:\n{}",
        s.pool.log_tail(40)
    );
    assert_eq!(m.stats().shares_rejected(), 0);
    m.shutdown().await;
    let stats = s.rpc.stats();
    assert_eq!(stats.accepted_blocks(), 0);
    assert_eq!(stats.tip_height(), 1000, "the tip stays");
    let rejected = stats.rejected_blocks();
    assert!(rejected.values().sum::<u64>() >= 3, "{rejected:?}");
    assert!(
        rejected
            .keys()
            .all(|reason| reason == "high-hash" || reason == "bad-txnmrklroot"),
        "{rejected:?}"
    );
    let events = share_events(&s.pool);
    assert!(events
        .iter()
        .all(|e| e["valid"] == json!(true) && e["block"] == json!(false)));
    assert!(
        events.iter().any(|e| e["block_hash"].is_string()),
        "block candidates are reported with their hash"
    );
    assert!(s.pool.is_running(), "the pool survives block-level shares");
    s.rpc.shutdown().await;
}

/// The worker the node authorizes with on the JS pool.
const ROUTE_USER: &str = "buyer.node";

/// A node whose default route is the minesim SV2 `pool` and whose route `js-pool` is the JS
/// pool at `v1`, allocated half the farm (the allocations file lives in `dir`).
async fn start_routing_node(dir: &Path, pool: &PoolHandle, v1: SocketAddr) -> NodeHandle {
    std::fs::write(
        dir.join("allocations.toml"),
        "[[allocation]]\nid = \"half\"\nroute = \"js-pool\"\nfraction = 0.5\n",
    )
    .unwrap();
    let config_path = dir.join("node.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"
[sv1]
listen = "127.0.0.1:0"

[difficulty]
initial = 0.0001
minimum = 0.00002
shares_per_minute = 60
retarget_secs = 5

[upstream]
address = "{pool}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "seller"
reconnect_min_ms = 100
reconnect_max_secs = 1

[[routes]]
name = "js-pool"
url = "stratum+tcp://{v1}"
user_identity = "{ROUTE_USER}"

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
            pool = pool.local_addr(),
        ),
    )
    .unwrap();
    let config = Config::load(&config_path).expect("node config is valid");
    node::start(&config).await.expect("node starts")
}

/// Miners on the node (which answers every share itself, so reconnecting is not needed).
fn node_miners(node: &NodeHandle, count: usize) -> Vec<MinerHandle> {
    (0..count)
        .map(|i| miner(node.sv1_addr(), &format!("farm.rig{i}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stratum_pool_sha256_as_a_route_accepts_every_share_the_node_forwards() {
    let mut s = start(None, Some(8)).await;
    let pool = common::start_pool().await;
    let dir = tempfile::tempdir().unwrap();
    let node = start_routing_node(dir.path(), &pool, s.addr).await;
    let miners = node_miners(&node, 3);
    assert!(
        wait_until(WAIT, || async {
            valid_shares_of(&share_events(&s.pool), ROUTE_USER) >= 10
        })
        .await,
        "the JS pool gets the route's shares: {:?}\n{}",
        node.snapshot().await.map(|snap| snap.routes[1].clone()),
        s.pool.log_tail(40)
    );
    let snapshot = node.snapshot().await.unwrap();
    assert!(snapshot.routes[1].upstream.connected);
    assert_eq!(snapshot.routes[1].upstream.last_error, None);
    let reconnects: Vec<u64> = miners.iter().map(|m| m.stats().reconnects()).collect();
    for m in miners {
        m.shutdown().await;
    }
    assert_eq!(reconnects, [0, 0, 0], "no device was disconnected");
    let settled = wait_until(Duration::from_secs(10), || async {
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
    let events = share_events(&s.pool);
    println!(
        "route counters {counters:?}; JS pool share events {}",
        events.len()
    );
    assert!(
        settled,
        "every forwarded share has its answer: {counters:?}"
    );
    // Every share the JS pool judged came from the node's route, was valid, and is one the
    // node counted as acknowledged, at the pool's difficulty.
    assert_all_valid(&events);
    assert!(events.iter().all(|e| e["worker"] == json!(ROUTE_USER)));
    assert_eq!(counters.rejected_shares, 0);
    assert_eq!(events.len() as u64, counters.acked_shares);
    let pool_work: f64 = events.iter().filter_map(|e| e["difficulty"].as_f64()).sum();
    assert!(
        (pool_work - counters.forwarded_work).abs() <= 1e-9 * counters.forwarded_work,
        "JS pool credited {pool_work}, the node forwarded {}",
        counters.forwarded_work
    );
    assert!(s.pool.is_running());
    node.shutdown().await;
    pool.shutdown().await;
    s.rpc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stratum_pool_sha256_with_its_own_4_byte_extranonce2_is_refused_as_a_route() {
    let mut s = start(None, None).await;
    let pool = common::start_pool().await;
    let dir = tempfile::tempdir().unwrap();
    let node = start_routing_node(dir.path(), &pool, s.addr).await;
    let miners = node_miners(&node, 2);
    let expected = "extranonce2_size is 4 bytes, the node needs 8";
    assert!(
        wait_until(WAIT, || async {
            node.snapshot().await.unwrap().routes[1]
                .upstream
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains(expected))
        })
        .await,
        "the route is refused: {:?}",
        node.snapshot().await.map(|snap| snap.routes[1].clone())
    );
    // Vetting over and several rebalances later, every device still works for the default
    // route, none was disconnected, and the JS pool saw no share.
    assert!(
        wait_until(WAIT, || async {
            miners.iter().all(|m| m.stats().shares_accepted() >= 8)
        })
        .await
    );
    let snapshot = node.snapshot().await.unwrap();
    assert!(!snapshot.routes[1].upstream.connected);
    assert!(snapshot.devices.iter().all(|d| d.route == RouteId::DEFAULT));
    assert!(miners.iter().all(|m| m.stats().reconnects() == 0));
    for m in miners {
        m.shutdown().await;
    }
    assert!(share_events(&s.pool).is_empty());
    assert!(s.pool.is_running());
    node.shutdown().await;
    pool.shutdown().await;
    s.rpc.shutdown().await;
}
