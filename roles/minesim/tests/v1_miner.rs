//! Runs the SV1 CPU miner against a tiny in-test SV1 server that checks every share's sha256d
//! against the difficulty it set, so any header-building bug in the miner fails these tests.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minesim::v1_miner::{spawn_miner, MinerConfig, MinerHandle};
use sv1::encode::server::{self as encode, ConfigureResult, NotifyParams};
use sv1::{parse_client, ClientMessage, LineFramer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use work::{coinbase_txid, merkle_root, BlockHeader, Target};

const EXTRANONCE1: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];
const MASK: u32 = 0x1fff_e000;

#[derive(Clone)]
struct TestJob {
    id: String,
    prev_hash: [u8; 32],
    coinb1: Vec<u8>,
    coinb2: Vec<u8>,
    branch: Vec<[u8; 32]>,
    version: u32,
    nbits: u32,
    ntime: u32,
}

fn job(n: u8) -> TestJob {
    TestJob {
        id: format!("job{n}"),
        prev_hash: std::array::from_fn(|i| (i as u8).wrapping_mul(7).wrapping_add(n)),
        coinb1: vec![1, 0, 0, 0, 1, n, 0xff, 0xff],
        coinb2: vec![0xff, 0xff, 0xff, 0xff, 1, 0, 0xf2, 0x05, 0x2a, n],
        branch: vec![[0x11 ^ n; 32], std::array::from_fn(|i| i as u8)],
        version: 0x2000_0000,
        nbits: 0x1d00_ffff,
        ntime: 0x66a3_f000 + u32::from(n),
    }
}

/// What the server saw.
#[derive(Default)]
struct Seen {
    valid: u64,
    invalid: Vec<String>,
    version_bits: HashSet<u32>,
    extranonce2: HashSet<Vec<u8>>,
    jobs: HashMap<String, u64>,
    connections: u64,
    user_agent: Option<String>,
    configured_mask: Option<u32>,
}

struct ServerConfig {
    difficulty: f64,
    extranonce2_size: usize,
    /// Drop each connection after this many valid shares (to exercise reconnects).
    drop_after: Option<u64>,
    /// Send a clean job after this many valid shares on a connection.
    clean_job_after: Option<u64>,
}

async fn serve(listener: TcpListener, config: Arc<ServerConfig>, seen: Arc<Mutex<Seen>>) {
    while let Ok((stream, _)) = listener.accept().await {
        seen.lock().unwrap().connections += 1;
        let config = config.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            let _ = connection(stream, &config, &seen).await;
        });
    }
}

fn notify(out: &mut Vec<u8>, j: &TestJob, clean: bool) {
    encode::notify(
        out,
        &NotifyParams {
            job_id: &j.id,
            prev_hash: &j.prev_hash,
            coinb1: &j.coinb1,
            coinb2: &j.coinb2,
            merkle_branch: &j.branch,
            version: j.version,
            nbits: j.nbits,
            ntime: j.ntime,
            clean_jobs: clean,
        },
    );
}

async fn connection(
    mut stream: TcpStream,
    config: &ServerConfig,
    seen: &Mutex<Seen>,
) -> std::io::Result<()> {
    let mut framer = LineFramer::default();
    let mut buf = [0u8; 4096];
    let mut out = Vec::new();
    let mut jobs: HashMap<String, TestJob> = HashMap::new();
    let mut mask: Option<u32> = None;
    let mut valid_here = 0u64;
    let mut next_job = 1u8;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        assert_eq!(framer.push(&buf[..n]), n);
        while let Some(line) = framer.next_line() {
            let request =
                parse_client(line.expect("line within limit")).expect("miner sends valid lines");
            match request.message {
                ClientMessage::Configure(c) => {
                    let asked = c
                        .version_rolling
                        .and_then(|v| v.mask)
                        .expect("mask requested");
                    mask = Some(asked & MASK);
                    seen.lock().unwrap().configured_mask = mask;
                    encode::configure_result(
                        &mut out,
                        &request.id,
                        &ConfigureResult {
                            version_rolling_mask: mask,
                            ..Default::default()
                        },
                    );
                }
                ClientMessage::Subscribe { user_agent, .. } => {
                    seen.lock().unwrap().user_agent = user_agent.map(|u| u.into_owned());
                    encode::subscribe_result(
                        &mut out,
                        &request.id,
                        "sub1",
                        &EXTRANONCE1,
                        config.extranonce2_size,
                    );
                }
                ClientMessage::Authorize { .. } => {
                    encode::result_bool(&mut out, &request.id, true);
                    encode::set_difficulty(&mut out, config.difficulty).unwrap();
                    let j = job(next_job);
                    next_job += 1;
                    notify(&mut out, &j, true);
                    jobs.insert(j.id.clone(), j);
                }
                ClientMessage::Submit(s) => {
                    let j = jobs
                        .get(s.job_id.as_ref())
                        .expect("share for a job we sent")
                        .clone();
                    let version = match (mask, s.version_bits) {
                        (Some(m), Some(bits)) => {
                            assert_eq!(bits & !m, 0, "version bits outside the granted mask");
                            (j.version & !m) | bits
                        }
                        (None, Some(_)) => panic!("version bits without version rolling"),
                        (_, None) => j.version,
                    };
                    assert_eq!(s.extranonce2.len(), config.extranonce2_size);
                    let txid = coinbase_txid(&[
                        &j.coinb1,
                        &EXTRANONCE1,
                        s.extranonce2.as_bytes(),
                        &j.coinb2,
                    ]);
                    let header = BlockHeader {
                        version,
                        prev_hash: j.prev_hash,
                        merkle_root: merkle_root(txid, &j.branch),
                        ntime: s.ntime,
                        nbits: j.nbits,
                        nonce: s.nonce,
                    };
                    let ok = Target::from_difficulty(config.difficulty).is_met_by(&header.hash());
                    {
                        let mut seen = seen.lock().unwrap();
                        if ok {
                            seen.valid += 1;
                            *seen.jobs.entry(j.id.clone()).or_default() += 1;
                        } else {
                            seen.invalid.push(format!("{s:?}"));
                        }
                        if let Some(bits) = s.version_bits {
                            seen.version_bits.insert(bits);
                        }
                        seen.extranonce2.insert(s.extranonce2.as_bytes().to_vec());
                    }
                    encode::result_bool(&mut out, &request.id, ok);
                    if ok {
                        valid_here += 1;
                        if config.clean_job_after == Some(valid_here) {
                            let j = job(next_job);
                            next_job += 1;
                            notify(&mut out, &j, true);
                            jobs.insert(j.id.clone(), j);
                        }
                        if config.drop_after == Some(valid_here) {
                            stream.write_all(&out).await?;
                            return Ok(());
                        }
                    }
                }
                other => panic!("unexpected request {other:?}"),
            }
        }
        stream.write_all(&out).await?;
        out.clear();
    }
}

async fn start(config: ServerConfig) -> (std::net::SocketAddr, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    tokio::spawn(serve(listener, Arc::new(config), seen.clone()));
    (addr, seen)
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn accepted(miner: &MinerHandle) -> u64 {
    miner.stats().shares_accepted()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_are_valid_with_version_rolling() {
    // 2^32 * 2e-5 ≈ 86k hashes per share: several shares a second at 400 kH/s.
    let (addr, seen) = start(ServerConfig {
        difficulty: 2e-5,
        extranonce2_size: 4,
        drop_after: None,
        clean_job_after: Some(3),
    })
    .await;
    let mut config = MinerConfig::new(addr, "acct.worker@example.com");
    config.hashrate_cap = 400_000.0;
    config.version_rolling = true;
    config.nonce_range = 20_000; // roll version bits every 20k nonces
    let miner = spawn_miner(config);
    wait_until("8 accepted shares", Duration::from_secs(60), || {
        accepted(&miner) >= 8
    })
    .await;
    let stats = miner.stats().clone();
    miner.shutdown().await;

    let seen = seen.lock().unwrap();
    assert!(
        seen.invalid.is_empty(),
        "invalid shares: {:?}",
        seen.invalid
    );
    assert!(seen.valid >= 8);
    assert_eq!(stats.shares_rejected(), 0);
    assert_eq!(stats.shares_accepted(), seen.valid);
    assert_eq!(seen.configured_mask, Some(MASK));
    assert!(seen
        .user_agent
        .as_deref()
        .is_some_and(|ua| ua.starts_with("minesim/")));
    assert!(
        seen.version_bits.len() >= 2,
        "version bits never rolled: {:?}",
        seen.version_bits
    );
    assert!(seen.version_bits.iter().all(|b| b & !MASK == 0));
    // The clean job after 3 shares was taken at once.
    assert_eq!(stats.clean_jobs_received(), 2);
    assert_eq!(stats.last_job_id().as_deref(), Some("job2"));
    assert!(
        seen.jobs.get("job2").copied().unwrap_or(0) >= 1,
        "no share on the clean job"
    );
    assert_eq!(stats.difficulty(), 2e-5);
    assert_eq!(stats.reconnects(), 0);
    assert_eq!(seen.connections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extranonce2_rolls_without_version_rolling() {
    let (addr, seen) = start(ServerConfig {
        difficulty: 2e-5,
        extranonce2_size: 6,
        drop_after: None,
        clean_job_after: None,
    })
    .await;
    let mut config = MinerConfig::new(addr, "acct.cpu");
    config.hashrate_cap = 400_000.0;
    config.version_rolling = false;
    config.nonce_range = 20_000;
    let miner = spawn_miner(config);
    wait_until("6 accepted shares", Duration::from_secs(60), || {
        accepted(&miner) >= 6
    })
    .await;
    miner.shutdown().await;
    let seen = seen.lock().unwrap();
    assert!(
        seen.invalid.is_empty(),
        "invalid shares: {:?}",
        seen.invalid
    );
    assert!(seen.version_bits.is_empty());
    assert!(seen.extranonce2.len() >= 2, "extranonce2 never rolled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_server_drops_it() {
    let (addr, seen) = start(ServerConfig {
        difficulty: 2e-5,
        extranonce2_size: 4,
        drop_after: Some(2),
        clean_job_after: None,
    })
    .await;
    let mut config = MinerConfig::new(addr, "acct.flaky");
    config.hashrate_cap = 400_000.0;
    config.reconnect_backoff = Duration::from_millis(50);
    let miner = spawn_miner(config);
    wait_until("two reconnects", Duration::from_secs(60), || {
        miner.stats().reconnects() >= 2
    })
    .await;
    wait_until("connected again", Duration::from_secs(10), || {
        miner.stats().connected()
    })
    .await;
    let stats = miner.stats().clone();
    miner.shutdown().await;
    assert!(!stats.connected());
    let seen = seen.lock().unwrap();
    assert!(
        seen.invalid.is_empty(),
        "invalid shares: {:?}",
        seen.invalid
    );
    assert!(seen.connections >= 3);
    assert!(stats.shares_accepted() >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashrate_cap_is_held() {
    let (addr, _seen) = start(ServerConfig {
        difficulty: 1.0, // no shares expected: this test measures hashing only
        extranonce2_size: 4,
        drop_after: None,
        clean_job_after: None,
    })
    .await;
    let mut slow = MinerConfig::new(addr, "acct.slow");
    slow.hashrate_cap = 50_000.0;
    let mut fast = MinerConfig::new(addr, "acct.fast");
    fast.hashrate_cap = 200_000.0;
    let (slow, fast) = (spawn_miner(slow), spawn_miner(fast));
    wait_until("both mining", Duration::from_secs(10), || {
        slow.stats().hashes() > 0 && fast.stats().hashes() > 0
    })
    .await;
    let (s0, f0, t0) = (slow.stats().hashes(), fast.stats().hashes(), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let slow_rate = (slow.stats().hashes() - s0) as f64 / elapsed;
    let fast_rate = (fast.stats().hashes() - f0) as f64 / elapsed;
    slow.shutdown().await;
    fast.shutdown().await;
    // The cap is a ceiling: a loaded machine may hash slower, never faster.
    assert!(
        slow_rate > 0.0 && slow_rate < 50_000.0 * 1.3,
        "slow miner at {slow_rate} H/s"
    );
    assert!(
        fast_rate > 0.0 && fast_rate < 200_000.0 * 1.3,
        "fast miner at {fast_rate} H/s"
    );
}
