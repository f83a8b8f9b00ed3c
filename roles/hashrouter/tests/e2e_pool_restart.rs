//! The pool goes away and comes back on the same address: the node reconnects on its own,
//! devices stay connected throughout, get new jobs, and shares flow again.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_reconnects_to_a_restarted_pool_while_devices_stay() {
    let pool = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let pool_addr = pool.local_addr();
    let node = start_node(pool_addr).await;
    let miners = start_miners(node.sv1_addr(), &[150_000.0, 150_000.0]);

    assert!(
        wait_for(Duration::from_secs(15), || async {
            node.snapshot()
                .await
                .unwrap()
                .upstream
                .counters
                .acked_shares
                > 0
        })
        .await,
        "no share reached the first pool"
    );
    pool.shutdown().await;
    assert!(
        wait_for(Duration::from_secs(5), || async {
            !node.snapshot().await.unwrap().upstream.connected
        })
        .await,
        "node did not notice the pool leaving"
    );
    let clean_jobs_before: Vec<u64> = miners
        .iter()
        .map(|m| m.stats().clean_jobs_received())
        .collect();
    // Devices keep mining the last job meanwhile; the node keeps answering them.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let pool = start_pool(pool_addr).await;
    assert!(
        wait_for(Duration::from_secs(10), || async {
            pool.stats()
                .user(POOL_USER)
                .is_some_and(|u| u.accepted_shares > 0)
        })
        .await,
        "no share reached the restarted pool"
    );
    let snapshot = node.snapshot().await.unwrap();
    assert!(snapshot.upstream.connected);
    assert_eq!(snapshot.upstream.counters.connections, 2);
    assert_eq!(snapshot.devices.len(), 2);
    for (miner, before) in miners.iter().zip(clean_jobs_before) {
        assert_eq!(miner.stats().reconnects(), 0, "a device was disconnected");
        assert!(miner.stats().connected());
        assert!(
            miner.stats().clean_jobs_received() > before,
            "device got no job from the new pool"
        );
    }

    for miner in miners {
        miner.shutdown().await;
    }
    node.shutdown().await;
    pool.shutdown().await;
}
