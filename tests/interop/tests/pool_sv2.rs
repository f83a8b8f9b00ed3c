//! Scenario (c): minesim V1 miners → hashrouter node → SRI `pool_sv2` (a real SV2 pool, run as a
//! subprocess) ← minesim template provider.
//!
//! Shows that SRI's pool accepts the node's shares (its monitoring API counts them on the node's
//! channel, and they match what the node saw acknowledged) and that a block found by a miner
//! travels through the node and the pool to the template provider, which checks it by sha256d
//! and moves the tip; the pool then mines on the new template and keeps accepting shares.

use std::net::SocketAddr;
use std::time::Duration;

use bitcoin::{Address, Network, ScriptBuf, Transaction};
use hashrouter::config::Config;
use hashrouter::node::{self, NodeHandle};
use interop::monitoring::{extended_channels, ExtendedChannelInfo};
use interop::{bin, free_addr, wait_for_port, wait_until, PeerProcess};
use minesim::pool::TEST_AUTHORITY_PUBLIC;
use minesim::template_provider::{TemplateProvider, TemplateProviderConfig};
use minesim::v1_miner::{spawn_miner, MinerConfig};

/// Network target: one block per ~2^20 hashes, a few seconds for the miners below, while the
/// pool's share target (from the node's nominal 1 MH/s at `SHARES_PER_MINUTE`) is ~20 times
/// easier, so most shares are not blocks.
const NETWORK_NBITS: u32 = 0x1e0f_ffff;
const SHARES_PER_MINUTE: f64 = 1200.0;
const MINERS: usize = 3;
const MINER_HASHRATE: f64 = 150_000.0;
const POOL_USER: &str = "interop-farm";
/// Generous: the expected time to a block is ~2-3 s.
const WAIT: Duration = Duration::from_secs(90);

/// pool_sv2's config: every address on loopback, our keys, our template provider, no JDS (it
/// would need Bitcoin Core's IPC), every share acknowledged on its own, monitoring refreshed
/// every second.
fn pool_config(
    listen: SocketAddr,
    monitoring: SocketAddr,
    keys: &sv2_conn::keys::AuthorityKeypair,
    tp: SocketAddr,
    reward_address: &str,
) -> String {
    format!(
        r#"authority_public_key = "{public}"
authority_secret_key = "{secret}"
cert_validity_sec = 3600
listen_address = "{listen}"
coinbase_reward_script = "addr({reward_address})"
server_id = 1
pool_signature = "hashrouter interop"
shares_per_minute = {SHARES_PER_MINUTE:.1}
share_batch_size = 1
monitoring_address = "{monitoring}"
monitoring_cache_refresh_secs = 1

[template_provider_type.Sv2Tp]
address = "{tp}"
public_key = "{TEST_AUTHORITY_PUBLIC}"
"#,
        public = keys.public_string(),
        secret = keys.secret_string(),
    )
}

async fn start_node(pool: SocketAddr, pool_key: &str) -> NodeHandle {
    let config = Config::parse(&format!(
        r#"
[sv1]
listen = "127.0.0.1:0"

[difficulty]
initial = 0.00002
minimum = 0.000001
shares_per_minute = 60
retarget_secs = 5

[upstream]
address = "{pool}"
authority_pubkey = "{pool_key}"
user_identity = "{POOL_USER}"
reconnect_min_ms = 100
reconnect_max_secs = 1
"#
    ))
    .expect("node config is valid");
    node::start(&config).await.expect("node starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_sv2_accepts_node_shares_and_blocks_reach_the_template_provider() {
    let pool_bin = bin("pool_sv2");

    let mut tp_config = TemplateProviderConfig::new("127.0.0.1:0".parse().unwrap());
    tp_config.nbits = NETWORK_NBITS;
    let tp = TemplateProvider::start(tp_config)
        .await
        .expect("template provider starts");
    let tp_stats = tp.stats();
    let start_height = tp_stats.tip_height();

    // The pool pays to a script we know, so the found block's coinbase can be traced to it.
    let reward_script = ScriptBuf::from_bytes([&[0x00u8, 0x14][..], &[0x5a; 20]].concat());
    let reward_address = Address::from_script(&reward_script, Network::Testnet)
        .unwrap()
        .to_string();
    let pool_keys = sv2_conn::keys::generate();
    let (pool_addr, monitoring) = (free_addr(), free_addr());
    let config = pool_config(
        pool_addr,
        monitoring,
        &pool_keys,
        tp.local_addr(),
        &reward_address,
    );
    let mut pool = PeerProcess::start(
        "pool_sv2",
        &pool_bin,
        &[("pool.toml", &config)],
        &["-c", "{dir}/pool.toml"],
    );
    assert!(
        wait_for_port(pool_addr, WAIT).await,
        "pool_sv2 never listened on {pool_addr}"
    );
    assert!(pool.is_running(), "pool_sv2 exited");
    assert!(
        wait_until(WAIT, || async { tp_stats.connected_clients() == 1 }).await,
        "pool_sv2 holds no template distribution connection"
    );

    let node = start_node(pool_addr, &pool_keys.public_string()).await;
    let miners: Vec<_> = (0..MINERS)
        .map(|i| {
            let mut config = MinerConfig::new(node.sv1_addr(), format!("{POOL_USER}.rig{i}"));
            config.hashrate_cap = MINER_HASHRATE;
            spawn_miner(config)
        })
        .collect();

    // The pool accepts the node's shares: its monitoring API counts them on the node's channel.
    let accepted = wait_until(WAIT, || async {
        node_channel(monitoring)
            .await
            .is_some_and(|c| c.shares_accepted >= 10)
    })
    .await;
    assert!(
        accepted,
        "pool_sv2 accepted too few shares: {:?}; node: {:?}",
        node_channel(monitoring).await,
        node.snapshot().await.map(|s| s.upstream.counters)
    );

    // A block reaches the template provider and moves its tip.
    assert!(
        wait_until(WAIT, || async { !tp_stats.blocks_found().is_empty() }).await,
        "no block reached the template provider (invalid: {}, stale: {})",
        tp_stats.invalid_solutions(),
        tp_stats.stale_solutions()
    );
    assert!(tp_stats.tip_height() > start_height);
    // The pool only submits what it validated; the template provider, rebuilding the block on
    // its own, must agree with every one.
    assert_eq!(tp_stats.invalid_solutions(), 0);
    let block = tp_stats.blocks_found()[0].clone();
    let coinbase: Transaction = bitcoin::consensus::encode::deserialize(&block.coinbase)
        .expect("the submitted coinbase decodes");
    assert!(
        coinbase
            .output
            .iter()
            .any(|o| o.script_pubkey == reward_script),
        "the block's coinbase does not pay pool_sv2's reward script: {coinbase:?}"
    );
    assert!(
        pool.wait_for_log("Block Found", WAIT).await,
        "pool_sv2 never logged the block"
    );

    // On the next template the pool keeps accepting the node's shares.
    let after_block = node
        .snapshot()
        .await
        .unwrap()
        .upstream
        .counters
        .acked_shares;
    assert!(
        wait_until(WAIT, || async {
            node.snapshot()
                .await
                .is_some_and(|s| s.upstream.counters.acked_shares >= after_block + 5)
        })
        .await,
        "no shares accepted after the block"
    );

    for miner in &miners {
        miner.stop();
    }
    // Every forwarded share gets its verdict, and the pool's monitoring catches up with it.
    let settled = wait_until(WAIT, || async {
        let Some(c) = node.snapshot().await.map(|s| s.upstream.counters) else {
            return false;
        };
        c.forwarded_shares == c.acked_shares + c.rejected_shares
            && node_channel(monitoring)
                .await
                .is_some_and(|p| p.shares_accepted == c.acked_shares)
    })
    .await;
    let counters = node.snapshot().await.unwrap().upstream.counters;
    let channel = node_channel(monitoring).await.expect("the node's channel");
    assert!(
        settled,
        "pool_sv2 counts {channel:?}, the node {counters:?}"
    );
    // Both sides weigh each share by the channel target of its job.
    let relative = (channel.share_work_sum - counters.acked_work).abs() / counters.acked_work;
    assert!(
        relative < 1e-6,
        "pool_sv2 credited {} work, the node {}",
        channel.share_work_sum,
        counters.acked_work
    );
    assert!(channel.blocks_found >= 1, "{channel:?}");
    // Stale shares at block changes may be refused; anything beyond a few is a real problem.
    assert!(
        counters.rejected_shares * 4 <= counters.acked_shares,
        "pool_sv2 refused too many shares: {channel:?}"
    );
    assert!(pool.is_running(), "pool_sv2 exited during the test");

    eprintln!(
        "pool_sv2 scenario: pool {channel:?}; node {counters:?}; template provider tip {} \
         (from {start_height}), {} block(s), {} stale solution(s); first block {} at height {}",
        tp_stats.tip_height(),
        tp_stats.blocks_found().len(),
        tp_stats.stale_solutions(),
        block.hash_hex(),
        block.height
    );

    for miner in miners {
        miner.shutdown().await;
    }
    node.shutdown().await;
    drop(pool);
    tp.shutdown().await;
}

/// The extended channel the node opened at the pool, as pool_sv2's monitoring reports it.
async fn node_channel(monitoring: SocketAddr) -> Option<ExtendedChannelInfo> {
    extended_channels(monitoring)
        .await
        .ok()?
        .into_iter()
        .find(|c| c.user_identity == POOL_USER)
}
