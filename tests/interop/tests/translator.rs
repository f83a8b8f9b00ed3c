//! Scenario (b): minesim Stratum V1 miners → SRI `translator_sv2` (run as a subprocess) →
//! hashrouter's SV2 server → minesim SV2 pool, with the translator aggregating its miners on one
//! extended channel and, separately, opening one extended channel per miner.
//!
//! The translator answers every SV1 submit with `true` whatever happens upstream (SRI
//! stratum#1562), so the miners' own counters prove nothing: acceptance is read at the node
//! (its channels' counters) and at the pool (the shares the node forwarded).

mod common;

use std::net::SocketAddr;

use common::*;
use interop::{bin, free_port, wait_for_port, wait_until, PeerProcess};
use minesim::v1_miner::{spawn_miner, MinerConfig};

const MINERS: usize = 3;
const MINER_HASHRATE: f64 = 120_000.0;

/// The translator's config: SV1 listener on loopback, one upstream (the node), no
/// `[miner_telemetry]` section (it scans LAN ranges), its own vardiff off so the node's vardiff
/// sets the difficulty.
fn translator_config(port: u16, node: SocketAddr, node_key: &str, aggregate: bool) -> String {
    format!(
        r#"downstream_address = "127.0.0.1"
downstream_port = {port}
max_supported_version = 2
min_supported_version = 2
downstream_extranonce2_size = 4
aggregate_channels = {aggregate}

[downstream_difficulty_config]
min_individual_miner_hashrate = {MINER_HASHRATE:.1}
shares_per_minute = 60.0
enable_vardiff = false
job_keepalive_interval_secs = 60

[[upstreams]]
address = "{ip}"
port = {node_port}
authority_pubkey = "{node_key}"
user_identity = "interop.translator"
"#,
        ip = node.ip(),
        node_port = node.port(),
    )
}

/// Runs the scenario; `expected_channels` is what the node should see (1 aggregated, one per
/// miner otherwise).
async fn translator_scenario(aggregate: bool, expected_channels: usize) {
    let translator_bin = bin("translator_sv2");
    let pool = start_pool().await;
    let (node, key) = start_node(pool.local_addr()).await;
    let sv2 = node.sv2_addr().expect("SV2 server configured");

    let port = free_port();
    let config = translator_config(port, sv2, &key, aggregate);
    let mut translator = PeerProcess::start(
        "translator_sv2",
        &translator_bin,
        &[("tproxy.toml", &config)],
        &["-c", "{dir}/tproxy.toml"],
    );
    let listen: SocketAddr = ([127, 0, 0, 1], port).into();
    assert!(
        wait_for_port(listen, WAIT).await,
        "translator_sv2 never listened on {listen}"
    );
    let miners: Vec<_> = (0..MINERS)
        .map(|i| {
            let mut config = MinerConfig::new(listen, format!("interop.rig{i}"));
            config.hashrate_cap = MINER_HASHRATE;
            spawn_miner(config)
        })
        .collect();

    // The node sees the translator's extended channel(s) and accepts shares on each.
    let mined = wait_until(WAIT, || async {
        let Some(snapshot) = node.snapshot().await else {
            return false;
        };
        let extended: Vec<_> = channels(&snapshot, "sv2-extended").collect();
        extended.len() == expected_channels
            && extended
                .iter()
                .all(|c| c.counters.accepted >= 5 && c.counters.forwarded >= 1)
    })
    .await;
    let snapshot = node.snapshot().await.expect("node running");
    assert!(
        mined,
        "translator_sv2 (aggregate_channels = {aggregate}) did not mine through the node: {:?}\n{}",
        snapshot.devices,
        translator.log_tail(30)
    );
    assert_eq!(
        snapshot.sv2_connections, 1,
        "one translator, one connection"
    );
    for channel in channels(&snapshot, "sv2-extended") {
        assert_eq!(
            channel.counters.rejected, 0,
            "the node rejected translator shares: {:?}",
            channel.counters
        );
    }
    assert!(
        translator.wait_for_log("SubmitSharesSuccess", WAIT).await,
        "translator_sv2 never received SubmitShares.Success"
    );

    for miner in &miners {
        miner.stop();
    }
    translator.kill();
    let counters = settle(&node, &pool).await;
    assert!(counters.acked_shares > 0, "{counters:?}");
    assert_eq!(counters.rejected_shares, 0, "{counters:?}");
    eprintln!(
        "translator scenario (aggregate_channels = {aggregate}): channels {:?}; upstream {counters:?}",
        channels(&snapshot, "sv2-extended")
            .map(|c| (c.id, c.counters.accepted, c.counters.forwarded))
            .collect::<Vec<_>>()
    );

    for miner in miners {
        miner.shutdown().await;
    }
    node.shutdown().await;
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_translator_is_one_extended_channel() {
    translator_scenario(true, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_aggregated_translator_opens_a_channel_per_miner() {
    translator_scenario(false, MINERS).await;
}
