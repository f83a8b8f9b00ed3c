//! Runs the SV2 CPU miner against the minesim pool (real Noise, real share validation on
//! channels_sv2) and against tiny in-test servers for the messages the pool never sends.

mod pool_client;
mod sv2_client;

use std::time::{Duration, Instant};

use binary_sv2::Str0255Owned;
use common_messages_sv2::{ReconnectOwned, SetupConnectionErrorOwned, SetupConnectionSuccess};
use minesim::pool::{PoolConfig, PoolHandle, TEST_AUTHORITY_PUBLIC, TEST_AUTHORITY_SECRET};
use minesim::sv2_miner::{spawn_sv2_miner, ChannelKind, Sv2MinerConfig, Sv2MinerHandle};
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned};
use pool_client::{start, test_config};
use sv2_conn::ResponderKeys;
use tokio::net::TcpListener;

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const WAIT: Duration = Duration::from_secs(10);

/// A miner for `pool`, checking the pool's authority key. At the pool's test difficulty
/// (2^-24, ~256 hashes a share) 20 kH/s gives dozens of shares a second.
fn miner_config(addr: impl ToString, user: &str) -> Sv2MinerConfig {
    let mut c = Sv2MinerConfig::new(addr, user);
    c.authority = Some(TEST_AUTHORITY_PUBLIC.parse().unwrap());
    c.hashrate_cap = 20_000.0;
    c.reconnect_backoff = Duration::from_millis(50);
    c
}

fn pool_accepted(pool: &PoolHandle, user: &str) -> u64 {
    pool.stats()
        .user(user)
        .map(|u| u.accepted_shares)
        .unwrap_or(0)
}

fn pool_rejected(pool: &PoolHandle, user: &str) -> u64 {
    pool.stats()
        .user(user)
        .map(|u| u.rejected_total())
        .unwrap_or(0)
}

/// Mines until the pool accepted `n` shares of `user` and the miner saw them acknowledged,
/// then stops the miner and checks nothing was rejected on either side.
async fn mine_until_accepted(pool: &PoolHandle, miner: Sv2MinerHandle, user: &str, n: u64) {
    let stats = miner.stats().clone();
    wait_until("shares accepted at the pool", WAIT, || {
        pool_accepted(pool, user) >= n && stats.shares_accepted() >= n
    })
    .await;
    miner.shutdown().await;
    assert!(stats.shares_submitted() >= stats.shares_accepted());
    assert!(stats.jobs_received() >= 1 && stats.prev_hashes_received() >= 1);
    assert_eq!(
        pool_rejected(pool, user),
        0,
        "{:?}",
        pool.stats().user(user)
    );
    assert_eq!(stats.shares_rejected(), 0, "{:?}", stats.rejections());
    assert!(stats.stopping());
    assert!(!stats.connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_channel_shares_are_accepted() {
    let pool = start(test_config()).await;
    let miner = spawn_sv2_miner(miner_config(pool.local_addr(), "sv2.standard"));
    let stats = miner.stats().clone();
    wait_until("channel open", WAIT, || stats.channel_ids().len() == 1).await;
    let ch = &stats.channels()[0];
    assert!(!ch.extended);
    assert!(
        (ch.target.difficulty() / pool_client::easy_difficulty() - 1.0).abs() < 1e-6,
        "the pool's fixed difficulty: {}",
        ch.target.difficulty()
    );
    assert!(stats.connected());
    mine_until_accepted(&pool, miner, "sv2.standard", 20).await;
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_channel_rolls_extranonce_and_shares_are_accepted() {
    let pool = start(test_config()).await;
    let mut config = miner_config(pool.local_addr(), "sv2.extended");
    config.channel_kind = ChannelKind::Extended {
        min_extranonce_size: 8,
    };
    // Roll version bits and extranonce every few hundred hashes, so the pool checks rolled
    // coinbases and versions, not just the first one.
    config.nonce_range = 300;
    let miner = spawn_sv2_miner(config);
    let stats = miner.stats().clone();
    wait_until("channel open", WAIT, || stats.channel_ids().len() == 1).await;
    let ch = &stats.channels()[0];
    assert!(ch.extended);
    assert!(ch.extranonce_size >= 8);
    assert!(!ch.extranonce_prefix.is_empty());
    mine_until_accepted(&pool, miner, "sv2.extended", 40).await;
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_channels_share_one_connection() {
    let pool = start(test_config()).await;
    let mut config = miner_config(pool.local_addr(), "sv2.multi");
    config.channels = 3;
    config.hashrate_cap = 30_000.0;
    let miner = spawn_sv2_miner(config);
    let stats = miner.stats().clone();
    wait_until("three channels open", WAIT, || {
        stats.channel_ids().len() == 3 && pool.stats().open_channels() == 3
    })
    .await;
    assert_eq!(pool.stats().open_connections(), 1);
    mine_until_accepted(&pool, miner, "sv2.multi", 30).await;
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miner_survives_a_pool_restart() {
    let pool = start(test_config()).await;
    let addr = pool.local_addr();
    let miner = spawn_sv2_miner(miner_config(addr, "sv2.restart"));
    let stats = miner.stats().clone();
    wait_until("first shares", WAIT, || {
        pool_accepted(&pool, "sv2.restart") >= 5
    })
    .await;
    pool.shutdown().await;
    wait_until("disconnect noticed", WAIT, || !stats.connected()).await;

    let mut config: PoolConfig = test_config();
    config.listen = addr;
    let pool2 = start(config).await;
    wait_until("shares at the restarted pool", WAIT, || {
        pool_accepted(&pool2, "sv2.restart") >= 5 && stats.connected()
    })
    .await;
    assert!(stats.reconnects() >= 1);
    assert_eq!(stats.reconnect_requests(), 0);
    assert!(!stats.stopping());
    miner.shutdown().await;
    assert_eq!(pool_rejected(&pool2, "sv2.restart"), 0);
    pool2.shutdown().await;
}

fn str0255(s: &str) -> Str0255Owned {
    s.to_string().try_into().unwrap()
}

/// A one-shot SV2 server: accepts one connection, answers `SetupConnection` with `reply`, then
/// sends `then` (if any) and keeps the connection open until the test ends.
async fn one_shot_server(
    reply: CommonMessagesOwned,
    then: Option<CommonMessagesOwned>,
) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let keys = ResponderKeys::from_strings(
        TEST_AUTHORITY_PUBLIC,
        TEST_AUTHORITY_SECRET,
        Duration::from_secs(3600),
    )
    .unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (mut rd, mut wr) = sv2_conn::accept(stream, &keys, WAIT).await.unwrap();
        let AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(setup)) =
            rd.read().await.unwrap()
        else {
            panic!("expected SetupConnection")
        };
        assert_eq!(setup.flags, 0b101, "both flags asked for");
        wr.write(reply).await.unwrap();
        if let Some(msg) = then {
            wr.write(msg).await.unwrap();
        }
        // Drain until the miner hangs up.
        while rd.read().await.is_ok() {}
    });
    addr
}

#[tokio::test]
async fn setup_connection_error_stops_the_miner() {
    let addr = one_shot_server(
        CommonMessagesOwned::SetupConnectionError(SetupConnectionErrorOwned {
            flags: 0b100,
            error_code: str0255("unsupported-feature-flags"),
        }),
        None,
    )
    .await;
    let mut config = miner_config(addr, "sv2.refused");
    config.requires_standard_jobs = true;
    config.requires_version_rolling = true;
    assert!(config.reconnect, "stops even though it would reconnect");
    let miner = spawn_sv2_miner(config);
    let stats = miner.stats().clone();
    wait_until("miner stops", WAIT, || stats.stopping()).await;
    let error = stats.last_error().expect("error recorded");
    assert!(error.contains("unsupported-feature-flags"), "{error}");
    assert!(!stats.connected());
    assert_eq!(stats.reconnects(), 0);
    miner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_message_moves_the_miner_to_another_port() {
    let pool = start(test_config()).await;
    let redirector = one_shot_server(
        CommonMessagesOwned::SetupConnectionSuccess(SetupConnectionSuccess {
            used_version: 2,
            flags: 0,
        }),
        Some(CommonMessagesOwned::Reconnect(ReconnectOwned {
            // Empty host: same host, new port.
            new_host: str0255(""),
            new_port: pool.local_addr().port(),
        })),
    )
    .await;
    let mut config = miner_config(redirector, "sv2.moved");
    config.requires_standard_jobs = true;
    config.requires_version_rolling = true;
    config.reconnect = false;
    let miner = spawn_sv2_miner(config);
    let stats = miner.stats().clone();
    wait_until("shares at the pool it was sent to", WAIT, || {
        pool_accepted(&pool, "sv2.moved") >= 3
    })
    .await;
    assert_eq!(stats.reconnect_requests(), 1);
    assert_eq!(stats.reconnects(), 1);
    mine_until_accepted(&pool, miner, "sv2.moved", 3).await;
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_mines_until_count() {
    let pool = start(test_config()).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_minesim"))
        .args([
            "sv2-miner",
            "--address",
            &pool.local_addr().to_string(),
            "--pubkey",
            TEST_AUTHORITY_PUBLIC,
            "--user",
            "sv2.cli",
            "--hashrate",
            "20000",
            "--extended",
            "--extranonce-size",
            "4",
            "--channels",
            "2",
            "--count",
            "5",
            "--no-reconnect",
        ])
        // Little output, so the pipes never fill while the child runs.
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("minesim sv2-miner did not exit in time");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let accepted: u64 = stdout
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("accepted="))
        .expect("summary line")
        .parse()
        .unwrap();
    assert!(accepted >= 5, "{stdout}");
    assert!(pool_accepted(&pool, "sv2.cli") >= 5);
    assert_eq!(pool_rejected(&pool, "sv2.cli"), 0);
    pool.shutdown().await;
}
