//! What scenarios (a) and (b) share: a minesim SV2 pool and a hashrouter node with its SV2
//! server, on 127.0.0.1 with ports chosen by the OS.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use hashrouter::config::Config;
use hashrouter::core::NodeSnapshot;
use hashrouter::node::{self, NodeHandle};
use minesim::pool::{InitialTarget, Pool, PoolConfig, PoolHandle, TEST_AUTHORITY_PUBLIC};

/// The node's account at the pool.
pub const POOL_USER: &str = "interop-farm";
/// Generous bound for anything that should take a few seconds.
pub const WAIT: Duration = Duration::from_secs(60);

/// A pool whose share difficulty stays fixed and low, so most of the node's shares go upstream.
pub async fn start_pool() -> PoolHandle {
    let mut config = PoolConfig::new("127.0.0.1:0".parse().unwrap());
    config.initial_target = InitialTarget::FixedDifficulty(0.00002);
    config.vardiff = false;
    config.share_batch_flush = Duration::from_millis(200);
    Pool::start(config).await.expect("pool starts")
}

/// A node with its SV2 server, pointed at `pool`. Returns it with its authority public key.
pub async fn start_node(pool: SocketAddr) -> (NodeHandle, String) {
    let keys = sv2_conn::keys::generate();
    let config = Config::parse(&format!(
        r#"
[sv1]
listen = "127.0.0.1:0"

[sv2]
listen = "127.0.0.1:0"
authority_public_key = "{public}"
authority_secret_key = "{secret}"
max_extranonce_size = 8

[difficulty]
initial = 0.0001
minimum = 0.00002
shares_per_minute = 60
retarget_secs = 5

[upstream]
address = "{pool}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "{POOL_USER}"
reconnect_min_ms = 100
reconnect_max_secs = 1
"#,
        public = keys.public_string(),
        secret = keys.secret_string(),
    ))
    .expect("node config is valid");
    let node = node::start(&config).await.expect("node starts");
    (node, keys.public_string())
}

/// The node's SV2 channels of `kind` (`sv2-standard` / `sv2-extended`).
pub fn channels<'a>(
    snapshot: &'a NodeSnapshot,
    kind: &'a str,
) -> impl Iterator<Item = &'a hashrouter::core::DeviceSnapshot> + 'a {
    snapshot
        .devices
        .iter()
        .filter(move |d| d.kind.as_str() == kind)
}

/// Waits until every share the node forwarded has its verdict and the pool's count of accepted
/// shares for the node's account equals the node's count of acknowledged ones; returns the
/// node's upstream counters then.
pub async fn settle(node: &NodeHandle, pool: &PoolHandle) -> hashrouter::core::UpstreamCounters {
    let settled = interop::wait_until(WAIT, || async {
        let Some(c) = node.snapshot().await.map(|s| s.upstream.counters) else {
            return false;
        };
        let pool_accepted = pool
            .stats()
            .user(POOL_USER)
            .map_or(0, |u| u.accepted_shares);
        c.forwarded_shares == c.acked_shares + c.rejected_shares + c.unanswered_shares
            && pool_accepted == c.acked_shares
    })
    .await;
    let counters = node
        .snapshot()
        .await
        .expect("node running")
        .upstream
        .counters;
    assert!(
        settled,
        "node and pool disagree: node {counters:?}, pool {:?}",
        pool.stats().user(POOL_USER)
    );
    counters
}
