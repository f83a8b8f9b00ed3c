//! 4 simulated V1 miners → node → simulated SV2 pool: every share the pool accepted is one the
//! node forwarded, and the pool's credited work equals the node's acknowledged work.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_credits_exactly_what_the_node_forwarded() {
    let pool = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let node = start_node(pool.local_addr()).await;
    let miners = start_miners(
        node.sv1_addr(),
        &[50_000.0, 100_000.0, 150_000.0, 200_000.0],
    );

    tokio::time::sleep(Duration::from_secs(10)).await;
    // Every device mined and was validated at the node, and none of its shares was refused.
    let devices = node.snapshot().await.unwrap().devices;
    assert_eq!(devices.len(), 4);
    for device in &devices {
        assert!(device.counters.accepted > 0, "{device:?}");
        assert_eq!(device.counters.rejected, 0, "{device:?}");
    }
    for miner in &miners {
        miner.stop();
    }
    // Every forwarded share gets its verdict (the pool flushes acknowledgements every 200 ms).
    // A share still in flight when the miners stopped may reach the pool after a check that
    // looked settled, so the pool's count must agree too.
    let settled = wait_for(Duration::from_secs(5), || async {
        let c = node.snapshot().await.unwrap().upstream.counters;
        let pool_accepted = pool
            .stats()
            .user(POOL_USER)
            .map_or(0, |u| u.accepted_shares);
        c.forwarded_shares == c.acked_shares + c.rejected_shares
            && pool_accepted == c.forwarded_shares
    })
    .await;
    let snapshot = node.snapshot().await.unwrap();
    let node_counters = snapshot.upstream.counters;
    assert!(settled, "forwarded shares never settled: {node_counters:?}");
    let pool_user = pool
        .stats()
        .user(POOL_USER)
        .expect("pool saw the node's channel");

    assert!(
        pool_user.accepted_shares >= 5,
        "too few shares: {pool_user:?}"
    );
    assert_eq!(node_counters.rejected_shares, 0, "{pool_user:?}");
    assert_eq!(pool_user.rejected_total(), 0, "{pool_user:?}");
    assert_eq!(pool_user.accepted_shares, node_counters.forwarded_shares);
    assert_eq!(pool_user.accepted_shares, node_counters.acked_shares);
    let relative =
        (pool_user.accepted_work - node_counters.acked_work).abs() / node_counters.acked_work;
    assert!(
        relative < 1e-9,
        "pool credited {} but node counted {}",
        pool_user.accepted_work,
        node_counters.acked_work
    );

    for miner in &miners {
        assert_eq!(miner.stats().shares_rejected(), 0);
    }

    for miner in miners {
        miner.shutdown().await;
    }
    node.shutdown().await;
    pool.shutdown().await;
}
