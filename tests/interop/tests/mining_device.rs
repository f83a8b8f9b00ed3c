//! Scenario (a): SRI's `mining_device` (a real SV2 standard-channel device, run as a subprocess)
//! → hashrouter's SV2 server → minesim SV2 pool.
//!
//! The device pins the node's authority key, sets up a connection requiring standard jobs and
//! mines the NewMiningJobs whose merkle roots the node computed for its channel. Every share it
//! sends is checked at the node; those meeting the pool's target are forwarded and accepted.

mod common;

use common::*;
use interop::{bin, wait_until, PeerProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sri_mining_device_mines_through_the_node() {
    let device_bin = bin("mining_device");
    let pool = start_pool().await;
    let (node, key) = start_node(pool.local_addr()).await;
    let sv2 = node.sv2_addr().expect("SV2 server configured").to_string();

    // One core, slowed down: the device measures its hashrate for 5 s at start and announces it.
    let device = PeerProcess::start(
        "mining_device",
        &device_bin,
        &[],
        &[
            "--address-pool",
            &sv2,
            "--pubkey-pool",
            &key,
            "--id-user",
            "interop.sri-device",
            "--cores",
            "1",
            "--handicap",
            "20",
        ],
    );

    // The node sees one standard channel whose shares it accepts; the pool accepts what it
    // forwards.
    let mined = wait_until(WAIT, || async {
        let Some(snapshot) = node.snapshot().await else {
            return false;
        };
        let standard: Vec<_> = channels(&snapshot, "sv2-standard").collect();
        standard.len() == 1
            && standard[0].counters.accepted >= 10
            && standard[0].counters.forwarded >= 5
    })
    .await;
    let snapshot = node.snapshot().await.expect("node running");
    assert!(
        mined,
        "mining_device did not mine through the node: {:?}",
        snapshot.devices
    );
    let channel = channels(&snapshot, "sv2-standard").next().unwrap();
    assert_eq!(channel.worker.as_deref(), Some("interop.sri-device"));
    // mining_device restarts its nonce range when SetTarget eases its target on the same job,
    // so it finds shares again that it already sent: the node must refuse exactly those, and
    // nothing else.
    let errors = device.count_log_lines("Received SubmitSharesError");
    let duplicates = device.count_log_lines("SubmitSharesError with error code duplicate-share");
    assert_eq!(
        errors,
        duplicates,
        "the node refused mining_device shares for other reasons:\n{}",
        device.log_tail(40)
    );
    assert!(
        channel.counters.rejected * 4 <= channel.counters.accepted,
        "too many duplicates: {:?}",
        channel.counters
    );
    // The device saw the node's batched acknowledgements.
    assert!(
        device.wait_for_log("SubmitSharesSuccess", WAIT).await,
        "mining_device never received SubmitShares.Success"
    );

    let mut device = device;
    device.kill();
    let counters = settle(&node, &pool).await;
    assert!(counters.acked_shares >= 5, "{counters:?}");
    assert_eq!(counters.rejected_shares, 0, "{counters:?}");
    eprintln!(
        "mining_device scenario: channel {:?}; upstream {counters:?}",
        channel.counters
    );

    node.shutdown().await;
    pool.shutdown().await;
}
