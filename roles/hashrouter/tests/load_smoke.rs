//! A small run of the load generator (`minesim load`) through a real node in front of a
//! minesim pool, so the benchmark harness (`scripts/bench.sh`) cannot rot unnoticed: 100
//! devices subscribe, submit real shares for a few seconds, and see two triggered blocks.
//! Figures are printed, never compared with a time budget.

use std::sync::Arc;
use std::time::Duration;

use hashrouter::config::Config;
use hashrouter::node;
use minesim::load::{run, LoadConfig};
use minesim::pool::{control, InitialTarget, Pool, PoolConfig, TEST_AUTHORITY_PUBLIC};
use tokio::net::TcpListener;
use tokio::sync::Notify;

const CONNECTIONS: usize = 100;
const BLOCKS: u32 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_load_connections_submit_and_see_every_new_block() {
    let trigger = Arc::new(Notify::new());
    let mut pool_config = PoolConfig::new("127.0.0.1:0".parse().unwrap());
    pool_config.initial_target = InitialTarget::FixedDifficulty(1e-6);
    pool_config.vardiff = false;
    pool_config.block_trigger = Some(trigger.clone());
    let pool = Pool::start(pool_config).await.expect("pool starts");
    let control_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_addr = control_listener.local_addr().unwrap();
    let control_task = tokio::spawn(control::serve(control_listener, trigger));

    let config = Config::parse(&format!(
        r#"
[sv1]
listen = "127.0.0.1:0"

[difficulty]
initial = 0.0000001
minimum = 0.000000001
shares_per_minute = 120

[upstream]
address = "{pool}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "load-smoke"
reconnect_min_ms = 100
reconnect_max_secs = 1
"#,
        pool = pool.local_addr()
    ))
    .expect("test config is valid");
    let node = node::start(&config).await.expect("node starts");

    let mut load = LoadConfig::new(node.sv1_addr(), CONNECTIONS, 2.0, Duration::from_secs(5));
    load.pool_control = Some(control_addr);
    load.new_blocks = BLOCKS;
    load.block_spacing = Duration::from_millis(2000);
    // The node runs in this process: its CPU and memory are ours, good enough for a smoke run.
    load.sut_pid = Some(std::process::id());
    let report = run(load).await.expect("the load run completes");
    println!("{report}");

    assert_eq!(report.ready, CONNECTIONS, "{report:#?}");
    assert!(report.all_ready_s.is_some());
    assert!(report.accepted > 0, "{report:#?}");
    assert_eq!(
        (report.grind_failed, report.bad_lines, report.disconnected),
        (0, 0, 0),
        "{report:#?}"
    );
    // A share in flight while a new block's job goes out is stale; nothing else is rejected.
    assert!(
        report.problems.keys().all(|p| p.contains("Stale")),
        "{:?}",
        report.problems
    );
    assert!(report.rejected <= (CONNECTIONS as u64) * u64::from(BLOCKS));
    assert_eq!(
        report.submit_latency.samples as u64,
        report.accepted + report.rejected
    );
    assert_eq!(report.blocks, BLOCKS as usize);
    assert_eq!(report.fanout_missing, 0, "{report:#?}");
    assert_eq!(report.fanout.samples, CONNECTIONS * BLOCKS as usize);
    assert!(report.fanout_all_ms.iter().all(Option::is_some));
    let sut = report.sut.expect("the process under test was read");
    assert!(
        sut.peak_rss_kib >= sut.rss_kib_before && sut.cpu_s > 0.0,
        "{sut:?}"
    );
    // The node forwarded the shares that met the pool's target, and the pool took them.
    let forwarded = node
        .snapshot()
        .await
        .expect("node running")
        .upstream
        .counters;
    assert!(forwarded.forwarded_shares > 0, "{forwarded:?}");
    assert!(pool
        .stats()
        .user("load-smoke")
        .is_some_and(|u| u.accepted_shares > 0));

    node.shutdown().await;
    control_task.abort();
    pool.shutdown().await;
}
