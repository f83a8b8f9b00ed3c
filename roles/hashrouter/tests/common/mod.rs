//! Shared harness of the end-to-end tests: a minesim pool, a node and minesim miners, all on
//! 127.0.0.1 with ports chosen by the OS.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hashrouter::config::Config;
use hashrouter::node::{self, NodeHandle};
use minesim::pool::{InitialTarget, Pool, PoolConfig, PoolHandle, TEST_AUTHORITY_PUBLIC};
use minesim::v1_miner::{spawn_miner, MinerConfig, MinerHandle};

pub const POOL_USER: &str = "e2e-farm";

/// A pool whose difficulty stays fixed (no vardiff), so its credited work is comparable share
/// by share with the node's.
pub async fn start_pool(listen: SocketAddr) -> PoolHandle {
    let mut config = PoolConfig::new(listen);
    config.initial_target = InitialTarget::FixedDifficulty(0.00005);
    config.vardiff = false;
    config.share_batch_flush = Duration::from_millis(200);
    Pool::start(config).await.expect("pool starts")
}

pub async fn start_node(pool: SocketAddr) -> NodeHandle {
    start_node_with(pool, "").await
}

/// A node with an SV2 server on 127.0.0.1; returns it with the authority public key devices pin.
pub async fn start_sv2_node(pool: SocketAddr) -> (NodeHandle, String) {
    let keys = sv2_conn::keys::generate();
    let public = keys.public_string();
    let section = format!(
        r#"
[sv2]
listen = "127.0.0.1:0"
authority_public_key = "{public}"
authority_secret_key = "{}"
share_batch_size = 4
handshake_timeout_secs = 2
"#,
        keys.secret_string()
    );
    (start_node_with(pool, &section).await, public)
}

/// A node with `extra` sections appended to the test config.
pub async fn start_node_with(pool: SocketAddr, extra: &str) -> NodeHandle {
    let config = Config::parse(&format!(
        r#"
[sv1]
listen = "127.0.0.1:0"

[difficulty]
initial = 0.0001
minimum = 0.000001
shares_per_minute = 60
retarget_secs = 5

[upstream]
address = "{pool}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "{POOL_USER}"
reconnect_min_ms = 100
reconnect_max_secs = 1
{extra}
"#
    ))
    .expect("test config is valid");
    node::start(&config).await.expect("node starts")
}

pub fn start_miners(node: SocketAddr, hashrates: &[f64]) -> Vec<MinerHandle> {
    hashrates
        .iter()
        .enumerate()
        .map(|(i, hashrate)| {
            let mut config = MinerConfig::new(node, format!("{POOL_USER}.rig{i}"));
            config.hashrate_cap = *hashrate;
            spawn_miner(config)
        })
        .collect()
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub async fn wait_for<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn accepted(miners: &[MinerHandle]) -> Vec<u64> {
    miners.iter().map(|m| m.stats().shares_accepted()).collect()
}

/// Whether every miner has had a share accepted since `before` (an earlier [`accepted`]).
pub fn all_accepted_more(miners: &[MinerHandle], before: &[u64]) -> bool {
    accepted(miners)
        .iter()
        .zip(before)
        .all(|(now, then)| now > then)
}
