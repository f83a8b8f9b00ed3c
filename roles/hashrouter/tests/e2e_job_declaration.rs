//! Job declaration end to end, all on 127.0.0.1 and all real (Noise, sha256d, coinbases): the
//! node takes templates from minesim's template provider, declares them to minesim's JDS, mines
//! them through SetCustomMiningJob on a minesim pool following the same chain, and pushes blocks
//! to the template provider; a JDS that dies or refuses sends the route back to the pool's jobs
//! without any device noticing; with every pool down the farm mines solo.

mod common;

use std::time::{Duration, Instant};

use bitcoin::consensus::deserialize;
use bitcoin::Transaction;
use common::*;
use hashrouter::config::Config;
use hashrouter::core::{DeclaratorState, NodeSnapshot};
use hashrouter::node::{self, NodeHandle};
use minesim::jds::{Jds, JdsConfig, JdsHandle};
use minesim::pool::{
    default_coinbase_script_pubkey, CustomJobs, InitialTarget, Pool, PoolConfig, PoolHandle,
    TEST_AUTHORITY_PUBLIC,
};
use minesim::template_provider::{
    TemplateProvider, TemplateProviderConfig, TemplateProviderHandle,
};
use minesim::v1_miner::MinerHandle;

/// A network target CPU miners meet every few seconds (difficulty 2^-12).
const EASY_NBITS: u32 = 0x1e0f_ffff;
/// Where solo blocks pay (P2WPKH to a made-up key hash).
const SOLO_SCRIPT: &str = "0014abababababababababababababababababababab";

/// Template provider, JDS and a pool that takes the JDS's declared jobs and follows the
/// provider's chain.
struct Peers {
    tp: TemplateProviderHandle,
    jds: Option<JdsHandle>,
    jds_config: JdsConfig,
    pool: PoolHandle,
}

async fn start_jds(config: &JdsConfig) -> JdsHandle {
    Jds::start(config.clone()).await.expect("JDS starts")
}

async fn start_peers() -> Peers {
    let mut tp_config = TemplateProviderConfig::new("127.0.0.1:0".parse().unwrap());
    tp_config.nbits = EASY_NBITS;
    let tp = TemplateProvider::start(tp_config).await.unwrap();
    let jds_config = JdsConfig::new("127.0.0.1:0".parse().unwrap());
    let jds = start_jds(&jds_config).await;
    // Restarts bind the same port.
    let jds_config = JdsConfig {
        listen: jds.local_addr(),
        ..jds_config
    };
    let mut pool_config = PoolConfig::new("127.0.0.1:0".parse().unwrap());
    pool_config.initial_target = InitialTarget::FixedDifficulty(0.00005);
    pool_config.vardiff = false;
    pool_config.share_batch_flush = Duration::from_millis(200);
    pool_config.custom_jobs = CustomJobs::Registry(jds.declared_jobs());
    pool_config.follow_chain = Some(tp.chain());
    let pool = Pool::start(pool_config).await.unwrap();
    Peers {
        tp,
        jds: Some(jds),
        jds_config,
        pool,
    }
}

/// A node whose default route declares its jobs to `peers`' JDS.
async fn start_jd_node(peers: &Peers) -> NodeHandle {
    let extra = format!(
        r#"job_declaration = {{ address = "{jds}", authority_pubkey = "{TEST_AUTHORITY_PUBLIC}" }}

[template_provider]
address = "{tp}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
"#,
        jds = peers.jds_config.listen,
        tp = peers.tp.local_addr(),
    );
    start_node_with(peers.pool.local_addr(), &extra).await
}

async fn snapshot(node: &NodeHandle) -> NodeSnapshot {
    node.snapshot().await.expect("node running")
}

/// Shares the pool accepted from the node's channel, on any job.
fn pool_accepted(pool: &PoolHandle) -> u64 {
    pool.stats()
        .user(POOL_USER)
        .map_or(0, |u| u.accepted_shares)
}

fn no_device_disconnected(miners: &[MinerHandle]) -> bool {
    miners
        .iter()
        .all(|m| m.stats().connected() && m.stats().reconnects() == 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_jobs_are_mined_and_a_block_reaches_the_template_provider_within_a_second() {
    let peers = start_peers().await;
    let node = start_jd_node(&peers).await;
    let miners = start_miners(node.sv1_addr(), &[150_000.0, 150_000.0]);

    assert!(
        wait_for(Duration::from_secs(20), || async {
            snapshot(&node).await.routes[0].jobs_from == "declared"
        })
        .await,
        "the route never mined a declared job: {:?}",
        snapshot(&node).await.routes[0].job_declaration
    );
    let jds = peers.jds.as_ref().unwrap();
    assert!(jds.stats().jobs_declared() >= 1);
    assert!(peers.pool.stats().custom_jobs_accepted() >= 1);
    assert!(
        wait_for(Duration::from_secs(20), || async {
            peers.pool.stats().custom_job_shares() >= 3
        })
        .await,
        "the pool accepted no share on a declared job"
    );

    // The next block: from the share the node saw to the template provider's new tip.
    let blocks_before = snapshot(&node).await.routes[0].upstream.counters.blocks;
    let start_height = peers.tp.stats().tip_height();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut found_at = None;
    let mut tip_at = None;
    while Instant::now() < deadline && tip_at.is_none() {
        let blocks = snapshot(&node).await.routes[0].upstream.counters.blocks;
        if found_at.is_none() && blocks > blocks_before {
            found_at = Some(Instant::now());
        }
        if peers.tp.stats().tip_height() > start_height {
            tip_at = Some(Instant::now());
            found_at.get_or_insert(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (Some(found_at), Some(tip_at)) = (found_at, tip_at) else {
        panic!("no block found within 60 s");
    };
    let delay = tip_at.saturating_duration_since(found_at);
    println!("share_to_tp_tip_ms={}", delay.as_millis());
    assert!(
        delay < Duration::from_secs(1),
        "block reached the TP after {delay:?}"
    );

    assert_eq!(peers.tp.stats().invalid_solutions(), 0);
    let block = peers.tp.stats().blocks_found().last().unwrap().clone();
    let coinbase: Transaction = deserialize(&block.coinbase).unwrap();
    assert_eq!(
        coinbase.output[0].script_pubkey.as_bytes(),
        default_coinbase_script_pubkey(),
        "a declared block pays the outputs the pool's JDS asked for"
    );
    assert!(
        wait_for(Duration::from_secs(5), || async {
            jds.stats().solutions_pushed() >= 1
        })
        .await,
        "the block was not pushed to the JDS"
    );
    // The route declares on the new tip and keeps going.
    let declared = jds.stats().jobs_declared();
    assert!(
        wait_for(Duration::from_secs(10), || async {
            jds.stats().jobs_declared() > declared
        })
        .await
    );
    assert!(no_device_disconnected(&miners));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_jds_means_pool_jobs_within_five_seconds_and_declared_jobs_when_it_is_back() {
    let mut peers = start_peers().await;
    let node = start_jd_node(&peers).await;
    let miners = start_miners(node.sv1_addr(), &[150_000.0, 150_000.0]);
    assert!(
        wait_for(Duration::from_secs(20), || async {
            snapshot(&node).await.routes[0].jobs_from == "declared"
        })
        .await,
        "never declared"
    );

    peers.jds.take().unwrap().shutdown().await;
    let killed = Instant::now();
    assert!(
        wait_for(Duration::from_secs(5), || async {
            snapshot(&node).await.routes[0].jobs_from == "pool"
        })
        .await,
        "still on declared jobs 5 s after the JDS died"
    );
    println!("jds_kill_to_pool_jobs_ms={}", killed.elapsed().as_millis());
    let state = snapshot(&node).await.routes[0]
        .job_declaration
        .clone()
        .unwrap()
        .state;
    assert!(
        matches!(state, DeclaratorState::FallenBack { .. }),
        "{state:?}"
    );
    // The pool's own jobs are mined and accepted.
    let accepted = pool_accepted(&peers.pool);
    let custom = peers.pool.stats().custom_job_shares();
    assert!(
        wait_for(Duration::from_secs(15), || async {
            pool_accepted(&peers.pool) >= accepted + 3
        })
        .await,
        "the pool accepted nothing after the fallback"
    );
    assert!(
        peers.pool.stats().custom_job_shares() <= custom + 2,
        "shares still on declared jobs"
    );
    assert!(no_device_disconnected(&miners));

    // The JDS is back on its address: the route declares again.
    let jds = start_jds(&peers.jds_config).await;
    let accepted_jobs = peers.pool.stats().custom_jobs_accepted();
    assert!(
        wait_for(Duration::from_secs(15), || async {
            snapshot(&node).await.routes[0].jobs_from == "declared"
                && peers.pool.stats().custom_jobs_accepted() > accepted_jobs
        })
        .await,
        "did not go back to declared jobs: {:?}",
        snapshot(&node).await.routes[0].job_declaration
    );
    assert!(no_device_disconnected(&miners));
    node.shutdown().await;
    jds.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_or_hostile_jds_leaves_the_route_on_pool_jobs_and_the_node_up() {
    let peers = start_peers().await;
    let jds = peers.jds.as_ref().unwrap();
    jds.refuse_declarations(true);
    let node = start_jd_node(&peers).await;
    let miners = start_miners(node.sv1_addr(), &[150_000.0]);
    assert!(
        wait_for(Duration::from_secs(15), || async {
            jds.stats().declarations_refused() >= 1
        })
        .await
    );
    let snap = snapshot(&node).await;
    assert_eq!(snap.routes[0].jobs_from, "pool");
    let state = snap.routes[0].job_declaration.clone().unwrap().state;
    assert!(
        matches!(state, DeclaratorState::FallenBack { ref reason } if reason.contains("JDS refused")),
        "{state:?}"
    );
    assert!(
        wait_for(Duration::from_secs(15), || async {
            pool_accepted(&peers.pool) >= 3
        })
        .await,
        "pool jobs are not mined while the JDS refuses"
    );
    // Once it accepts again the route declares again (after the retry pause).
    jds.refuse_declarations(false);
    assert!(
        wait_for(Duration::from_secs(20), || async {
            snapshot(&node).await.routes[0].jobs_from == "declared"
        })
        .await,
        "never declared after the JDS stopped refusing"
    );

    // A JDS requiring no coinbase output at all is broken: dropped, retried, never trusted.
    let mut hostile_config = JdsConfig::new("127.0.0.1:0".parse().unwrap());
    hostile_config.coinbase_outputs = Vec::new();
    let hostile = start_jds(&hostile_config).await;
    let extra = format!(
        r#"job_declaration = {{ address = "{jds}", authority_pubkey = "{TEST_AUTHORITY_PUBLIC}" }}

[template_provider]
address = "{tp}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
"#,
        jds = hostile.local_addr(),
        tp = peers.tp.local_addr(),
    );
    let second = start_node_with(peers.pool.local_addr(), &extra).await;
    let second_miners = start_miners(second.sv1_addr(), &[100_000.0]);
    assert!(
        wait_for(Duration::from_secs(15), || async {
            hostile.stats().tokens_allocated() >= 2
        })
        .await,
        "the node did not retry the broken JDS"
    );
    let snap = snapshot(&second).await;
    assert_eq!(snap.routes[0].jobs_from, "pool");
    assert!(snap.routes[0].upstream.connected);
    assert!(no_device_disconnected(&miners) && no_device_disconnected(&second_miners));
    second.shutdown().await;
    node.shutdown().await;
    hostile.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_pool_down_the_farm_mines_solo_and_routing_resumes_when_a_pool_returns() {
    let mut tp_config = TemplateProviderConfig::new("127.0.0.1:0".parse().unwrap());
    tp_config.nbits = EASY_NBITS;
    let tp = TemplateProvider::start(tp_config).await.unwrap();
    let seller = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let buyer = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let (seller_addr, buyer_addr) = (seller.local_addr(), buyer.local_addr());
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
address = "{seller_addr}"
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
vetting_shares = 3
vetting_secs = 3
rebalance_secs = 1
[template_provider]
address = "{tp}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
[solo]
payout_script = "{SOLO_SCRIPT}"
"#,
            tp = tp.local_addr(),
        ),
    )
    .unwrap();
    let node = node::start(&Config::load(&config_path).unwrap())
        .await
        .unwrap();
    let miners = start_miners(node.sv1_addr(), &[150_000.0, 150_000.0, 150_000.0]);
    assert!(
        wait_for(Duration::from_secs(30), || async {
            snapshot(&node).await.routes[1].devices >= 1
        })
        .await,
        "routing never started"
    );
    assert_eq!(snapshot(&node).await.routes[0].jobs_from, "pool");

    seller.shutdown().await;
    buyer.shutdown().await;
    let down = Instant::now();
    assert!(
        wait_for(Duration::from_secs(10), || async {
            let s = snapshot(&node).await;
            s.routes[0].jobs_from == "solo" && s.routes[0].devices == 3
        })
        .await,
        "the farm did not go solo: {:?}",
        snapshot(&node).await.routes
    );
    println!("all_down_to_solo_ms={}", down.elapsed().as_millis());

    let solo_script = hex::decode(SOLO_SCRIPT).unwrap();
    assert!(
        wait_for(Duration::from_secs(60), || async {
            tp.stats().blocks_found().iter().any(|b| {
                deserialize::<Transaction>(&b.coinbase)
                    .is_ok_and(|tx| tx.output[0].script_pubkey.as_bytes() == solo_script.as_slice())
            })
        })
        .await,
        "no solo block paying the configured output reached the template provider"
    );

    // The seller's pool returns: the default route mines its jobs again, and it gets shares.
    let seller = start_pool(seller_addr).await;
    assert!(
        wait_for(Duration::from_secs(15), || async {
            snapshot(&node).await.routes[0].jobs_from == "pool"
                && seller
                    .stats()
                    .user("seller")
                    .is_some_and(|u| u.accepted_shares >= 3)
        })
        .await,
        "routing did not resume: {:?}",
        snapshot(&node).await.routes
    );
    // And the buyer's: its route gets devices back.
    let _buyer = start_pool(buyer_addr).await;
    assert!(
        wait_for(Duration::from_secs(30), || async {
            snapshot(&node).await.routes[1].devices >= 1
        })
        .await,
        "the buyer's route got no device back"
    );
    assert!(no_device_disconnected(&miners));
    node.shutdown().await;
}
