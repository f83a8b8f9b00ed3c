//! SV2 devices of every kind mine through the node at once: header-only devices that require
//! standard jobs, a device whose standard channels share one group channel, and a proxy-like
//! extended channel. The node validates their shares, the pool accepts what the node forwards,
//! and on shutdown every SV2 connection is told to reconnect.

mod common;

use std::time::Duration;

use common::*;
use minesim::sv2_miner::{spawn_sv2_miner, ChannelKind, Sv2MinerConfig, Sv2MinerHandle};

fn sv2_miner(
    node: std::net::SocketAddr,
    key: &str,
    user: &str,
    configure: impl FnOnce(&mut Sv2MinerConfig),
) -> Sv2MinerHandle {
    let mut config = Sv2MinerConfig::new(node, user);
    config.authority = Some(key.parse().unwrap());
    config.hashrate_cap = 150_000.0;
    configure(&mut config);
    spawn_sv2_miner(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_group_and_extended_channels_mine_through_the_node() {
    let pool = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let (node, key) = start_sv2_node(pool.local_addr()).await;
    let sv2 = node.sv2_addr().unwrap();

    let miners = [
        sv2_miner(sv2, &key, "rig.standard", |c| {
            c.requires_standard_jobs = true
        }),
        sv2_miner(sv2, &key, "rig.group", |c| {
            c.channels = 3;
            c.hashrate_cap = 300_000.0;
        }),
        sv2_miner(sv2, &key, "proxy.extended", |c| {
            c.channel_kind = ChannelKind::Extended {
                min_extranonce_size: 6,
            }
        }),
    ];
    let all_accepted = || {
        miners.iter().all(|m| {
            let channels = m.stats().channels().len() as u64;
            channels > 0 && m.stats().shares_accepted() >= channels
        })
    };
    assert!(
        wait_for(Duration::from_secs(20), || async { all_accepted() }).await,
        "not every SV2 miner got shares accepted: {:?}",
        miners
            .iter()
            .map(|m| (m.stats().shares_accepted(), m.stats().last_error()))
            .collect::<Vec<_>>()
    );
    for miner in &miners {
        assert_eq!(
            miner.stats().shares_rejected(),
            0,
            "{:?}",
            miner.stats().rejections()
        );
    }

    // The node lists one device per channel, of the right kind.
    let snapshot = node.snapshot().await.unwrap();
    assert_eq!(snapshot.sv2_connections, 3);
    let kinds: Vec<&str> = snapshot.devices.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "sv2-standard").count(), 4);
    assert_eq!(kinds.iter().filter(|k| **k == "sv2-extended").count(), 1);
    // Each channel carries its connection's SetupConnection vendor and its user identity.
    assert!(snapshot.devices.iter().all(|d| d
        .user_agent
        .as_deref()
        .is_some_and(|ua| ua.starts_with("minesim"))));
    assert!(snapshot
        .devices
        .iter()
        .any(|d| d.worker.as_deref() == Some("proxy.extended")));
    // The group's channels are announced under one group id, distinct from their channel ids.
    let group = miners[1].stats().channels();
    assert!(group
        .iter()
        .all(|c| c.group_channel_id == group[0].group_channel_id
            && c.group_channel_id != c.channel_id));
    // The extended channel rolls exactly what it asked for.
    let extended = miners[2].stats().channels();
    assert_eq!(extended[0].extranonce_size, 6);

    // Every channel's work reaches the pool. (A channel's difficulty follows its announced
    // hashrate, so not every share of it meets the pool's target: wait for each to have one.)
    assert!(
        wait_for(Duration::from_secs(40), || async {
            let snapshot = node.snapshot().await.unwrap();
            snapshot.devices.iter().all(|d| d.counters.forwarded > 0)
        })
        .await,
        "some channel never had a share forwarded: {:?}",
        node.snapshot().await.map(|s| s.devices)
    );
    let snapshot = node.snapshot().await.unwrap();
    let forwarded: u64 = snapshot.devices.iter().map(|d| d.counters.forwarded).sum();
    assert!(
        wait_for(Duration::from_secs(5), || async {
            pool.stats()
                .user(POOL_USER)
                .is_some_and(|u| u.accepted_shares >= forwarded)
        })
        .await,
        "pool did not accept the forwarded shares"
    );
    assert_eq!(pool.stats().user(POOL_USER).unwrap().rejected_total(), 0);

    // Shutdown: every SV2 connection is told to reconnect before it closes.
    node.shutdown().await;
    assert!(
        wait_for(Duration::from_secs(5), || async {
            miners.iter().all(|m| m.stats().reconnect_requests() >= 1)
        })
        .await,
        "not every SV2 miner got Reconnect"
    );
    for miner in miners {
        miner.shutdown().await;
    }
    pool.shutdown().await;
}
