//! The Stratum V1 pool over real sockets: minesim's V1 miners mine on it, a raw client checks
//! the handshake, every refusal code, block detection and that bad lines close only their own
//! connection.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use minesim::v1_miner::{spawn_miner, MinerConfig};
use minesim::v1_pool::{RejectReason, V1Pool, V1PoolConfig, V1PoolHandle, V1Vardiff};
use sv1::{parse_server, ServerMessage};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use work::{coinbase_txid, merkle_root, BlockHeader, Target};

const WAIT: Duration = Duration::from_secs(20);

fn config() -> V1PoolConfig {
    V1PoolConfig::new("127.0.0.1:0".parse().unwrap())
}

async fn start(config: V1PoolConfig) -> V1PoolHandle {
    V1Pool::start(config).await.expect("pool starts")
}

async fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    condition()
}

/// A `mining.notify` job, owned.
#[derive(Debug, Clone)]
struct Job {
    id: String,
    prev_hash: [u8; 32],
    coinb1: Vec<u8>,
    coinb2: Vec<u8>,
    branch: Vec<[u8; 32]>,
    version: u32,
    nbits: u32,
    ntime: u32,
    clean: bool,
}

/// A hand-driven V1 client.
struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    extranonce1: Vec<u8>,
    extranonce2_size: usize,
    difficulty: f64,
    job: Option<Job>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        Client {
            reader: BufReader::new(r),
            writer: w,
            extranonce1: Vec::new(),
            extranonce2_size: 0,
            difficulty: 0.0,
            job: None,
        }
    }

    async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    async fn recv(&mut self) -> String {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut line))
            .await
            .expect("a line within the wait")
            .unwrap();
        assert!(n > 0, "connection closed");
        line
    }

    /// Reads until the response to `id`, taking in difficulty and job notifications on the way.
    async fn response(&mut self, id: u64) -> String {
        loop {
            let line = self.recv().await;
            if self.absorb(&line) == Some(id) {
                return line;
            }
        }
    }

    /// Reads until the next job notification.
    async fn next_job(&mut self) -> Job {
        loop {
            let line = self.recv().await;
            if let Ok(ServerMessage::Notify(_)) = parse_server(line.trim_end().as_bytes()) {
                self.absorb(&line);
                return self.job.clone().unwrap();
            }
            self.absorb(&line);
        }
    }

    /// Notes notifications; returns the id of a response.
    fn absorb(&mut self, line: &str) -> Option<u64> {
        match parse_server(line.trim_end().as_bytes()).expect("pool sends valid lines") {
            ServerMessage::SetDifficulty(d) => self.difficulty = d,
            ServerMessage::Notify(n) => {
                self.job = Some(Job {
                    id: n.job_id.into_owned(),
                    prev_hash: n.prev_hash,
                    coinb1: n.coinb1,
                    coinb2: n.coinb2,
                    branch: n.merkle_branch,
                    version: n.version,
                    nbits: n.nbits,
                    ntime: n.ntime,
                    clean: n.clean_jobs,
                })
            }
            ServerMessage::Response(r) => {
                if let Ok(s) = r.subscribe() {
                    self.extranonce1 = s.extranonce1;
                    self.extranonce2_size = s.extranonce2_size;
                }
                return r.id.as_u64();
            }
            other => panic!("unexpected {other:?}"),
        }
        None
    }

    /// Authorizes `worker`, subscribes, and waits for the first job.
    async fn handshake(&mut self, worker: &str) -> Job {
        self.send(&format!(
            r#"{{"id":1,"method":"mining.authorize","params":["{worker}","x"]}}"#
        ))
        .await;
        assert!(self.response(1).await.contains(r#""result":true"#));
        self.send(r#"{"id":2,"method":"mining.subscribe","params":["test/1"]}"#)
            .await;
        self.response(2).await;
        self.next_job().await
    }

    fn hash(&self, job: &Job, extranonce2: &[u8], ntime: u32, nonce: u32) -> [u8; 32] {
        let txid = coinbase_txid(&[&job.coinb1, &self.extranonce1, extranonce2, &job.coinb2]);
        BlockHeader {
            version: job.version,
            prev_hash: job.prev_hash,
            merkle_root: merkle_root(txid, &job.branch),
            ntime,
            nbits: job.nbits,
            nonce,
        }
        .hash()
    }

    /// A nonce whose hash meets `target` (or, with `meet` false, does not).
    fn grind(&self, job: &Job, extranonce2: &[u8], target: Target, meet: bool) -> u32 {
        (0..u32::MAX)
            .find(|n| target.is_met_by(&self.hash(job, extranonce2, job.ntime, *n)) == meet)
            .unwrap()
    }

    /// Submits and returns the raw response line.
    async fn submit(
        &mut self,
        id: u64,
        worker: &str,
        job_id: &str,
        extranonce2: &[u8],
        ntime: u32,
        nonce: u32,
    ) -> String {
        self.send(&format!(
            r#"{{"id":{id},"method":"mining.submit","params":["{worker}","{job_id}","{}","{ntime:08x}","{nonce:08x}"]}}"#,
            hex(extranonce2)
        ))
        .await;
        self.response(id).await
    }

    /// Whether the pool closes the connection (EOF) within the wait, skipping lines sent first.
    async fn closed(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(WAIT, self.reader.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn error_code(line: &str) -> Option<i64> {
    match parse_server(line.trim_end().as_bytes()).ok()? {
        ServerMessage::Response(r) => r.error.map(|e| e.code),
        _ => None,
    }
}

#[tokio::test]
async fn minesim_v1_miners_get_their_shares_accepted_and_counted_per_worker() {
    let mut c = config();
    c.difficulty = 0.00002;
    let pool = start(c).await;
    let stats = pool.stats();
    let miners: Vec<_> = ["alice.rig1", "bob.rig1"]
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let mut m = MinerConfig::new(pool.local_addr(), *user);
            m.hashrate_cap = 200_000.0;
            // One rolls versions, one does not.
            m.version_rolling = i == 0;
            m.reconnect = false;
            spawn_miner(m)
        })
        .collect();
    assert!(
        wait_until(|| miners.iter().all(|m| m.stats().shares_accepted() >= 3)).await,
        "each miner gets 3 shares accepted"
    );
    for (miner, user) in miners.iter().zip(["alice.rig1", "bob.rig1"]) {
        let s = miner.stats();
        assert_eq!(s.shares_rejected(), 0, "{user}: no share refused");
        assert_eq!(s.difficulty(), 0.00002);
        let u = stats.user(user).expect("worker counted");
        assert!(u.accepted_shares >= s.shares_accepted());
        assert!(u.accepted_shares <= s.shares_submitted());
        assert!((u.accepted_work - u.accepted_shares as f64 * 0.00002).abs() < 1e-12);
        assert_eq!(u.rejected_total(), 0);
    }
    assert_eq!(stats.open_connections(), 2);
    assert_eq!(stats.authorizations(), 2);
    assert_eq!(stats.blocks_found(), 0);
    for m in miners {
        m.shutdown().await;
    }
    assert!(wait_until(|| stats.open_connections() == 0).await);
    pool.shutdown().await;
}

#[tokio::test]
async fn each_connection_gets_its_own_extranonce1_with_the_configured_sizes() {
    let mut c = config();
    c.extranonce1_size = 3;
    c.extranonce2_size = 6;
    let pool = start(c).await;
    let mut seen = HashSet::new();
    for _ in 0..4 {
        let mut client = Client::connect(pool.local_addr()).await;
        client
            .send(r#"{"id":7,"method":"mining.configure","params":[["version-rolling","minimum-difficulty"],{"version-rolling.mask":"00ffe000","minimum-difficulty.value":2}]}"#)
            .await;
        let configure = client.response(7).await;
        assert!(
            configure.contains(r#""version-rolling":true"#)
                && configure.contains(r#""version-rolling.mask":"00ffe000""#)
                && configure.contains(r#""minimum-difficulty":false"#),
            "{configure}"
        );
        client.handshake("w").await;
        assert_eq!(client.extranonce1.len(), 3);
        assert_eq!(client.extranonce2_size, 6);
        assert!(
            seen.insert(client.extranonce1.clone()),
            "extranonce1 unique"
        );
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn bad_submits_get_the_de_facto_codes_and_are_counted_by_reason() {
    let mut c = config();
    c.difficulty = 1e-6;
    let pool = start(c).await;
    let stats = pool.stats();

    // Authorized but never subscribed: 25.
    let mut lonely = Client::connect(pool.local_addr()).await;
    lonely
        .send(r#"{"id":1,"method":"mining.authorize","params":["w","x"]}"#)
        .await;
    lonely.response(1).await;
    let line = lonely.submit(3, "w", "1", &[0; 8], 0, 0).await;
    assert_eq!(error_code(&line), Some(25), "{line}");

    let mut client = Client::connect(pool.local_addr()).await;
    let job = client.handshake("w").await;
    assert_eq!(client.difficulty, 1e-6);
    assert!(job.clean);
    let en2 = [5u8; 8];
    let easy = Target::from_difficulty(1e-6);
    let good = client.grind(&job, &en2, easy, true);
    let bad = client.grind(&job, &en2, easy, false);

    let id = job.id.as_str();
    let cases = [
        (10, "mallory", id, &en2[..], job.ntime, good, 24),
        (11, "w", "ffff", &en2[..], job.ntime, good, 21),
        (12, "w", id, &en2[..4], job.ntime, good, 20),
        (13, "w", id, &en2[..], job.ntime - 1, good, 20),
        (14, "w", id, &en2[..], job.ntime, bad, 23),
        (15, "w", id, &en2[..], job.ntime, good, 0),
    ];
    for (id, worker, job_id, en2, ntime, nonce, code) in cases {
        let line = client.submit(id, worker, job_id, en2, ntime, nonce).await;
        if code == 0 {
            assert!(line.contains(r#""result":true"#), "{line}");
        } else {
            assert_eq!(error_code(&line), Some(code), "submit {id}: {line}");
        }
    }
    let line = client.submit(16, "w", &job.id, &en2, job.ntime, good).await;
    assert_eq!(error_code(&line), Some(22), "duplicate: {line}");
    // Version bits without negotiated rolling.
    client
        .send(&format!(
            r#"{{"id":17,"method":"mining.submit","params":["w","{}","{}","{:08x}","{good:08x}","00002000"]}}"#,
            job.id,
            hex(&en2),
            job.ntime
        ))
        .await;
    assert_eq!(error_code(&client.response(17).await), Some(20));
    // A malformed submit is answered, not fatal.
    client
        .send(r#"{"id":18,"method":"mining.submit","params":["w","1","zz","0","0"]}"#)
        .await;
    assert_eq!(error_code(&client.response(18).await), Some(20));

    let w = stats.user("w").expect("worker w");
    assert_eq!(w.accepted_shares, 1);
    assert_eq!(w.accepted_work, 1e-6);
    for (reason, n) in [
        (RejectReason::NotSubscribed, 1),
        (RejectReason::JobNotFound, 1),
        (RejectReason::Extranonce2Size, 1),
        (RejectReason::NtimeOutOfRange, 1),
        (RejectReason::LowDifficulty, 1),
        (RejectReason::Duplicate, 1),
        (RejectReason::VersionBits, 1),
    ] {
        assert_eq!(w.rejected_with(reason.name()), n, "{reason:?}");
    }
    assert_eq!(
        stats
            .user("mallory")
            .map(|u| u.rejected_with(RejectReason::Unauthorized.name())),
        Some(1)
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn a_block_moves_the_tip_and_makes_the_old_job_stale() {
    let mut c = config();
    c.difficulty = 1e-6;
    c.nbits = 0x207f_ffff;
    let pool = start(c).await;
    let stats = pool.stats();
    let height = stats.tip_height();
    let mut client = Client::connect(pool.local_addr()).await;
    let job = client.handshake("w").await;
    let en2 = [1u8; 8];
    let network = Target::from_compact(job.nbits).unwrap();
    let nonce = client.grind(&job, &en2, network, true);
    let block_hash = client.hash(&job, &en2, job.ntime, nonce);
    let line = client.submit(5, "w", &job.id, &en2, job.ntime, nonce).await;
    assert!(line.contains(r#""result":true"#), "{line}");
    let next = client.next_job().await;
    assert!(next.clean);
    assert_eq!(
        next.prev_hash, block_hash,
        "the new tip builds on the block"
    );
    assert_eq!(stats.blocks_found(), 1);
    assert_eq!(stats.tip_height(), height + 1);
    assert_eq!(stats.user("w").unwrap().blocks_found, 1);
    let nonce = client.grind(&job, &[2u8; 8], network, true);
    let line = client
        .submit(6, "w", &job.id, &[2u8; 8], job.ntime, nonce)
        .await;
    assert_eq!(error_code(&line), Some(21), "{line}");
    assert_eq!(
        stats
            .user("w")
            .unwrap()
            .rejected_with(RejectReason::StaleJob.name()),
        1
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn periodic_blocks_send_clean_jobs_and_refreshes_do_not() {
    let mut c = config();
    c.block_interval = Some(Duration::from_millis(700));
    c.refresh_interval = Some(Duration::from_millis(200));
    let pool = start(c).await;
    let mut client = Client::connect(pool.local_addr()).await;
    let first = client.handshake("w").await;
    let (mut clean, mut refreshed) = (0, 0);
    while clean < 2 || refreshed < 2 {
        let job = client.next_job().await;
        if job.clean {
            assert_ne!(job.prev_hash, first.prev_hash);
            clean += 1;
        } else {
            refreshed += 1;
        }
    }
    assert!(pool.stats().tip_height() >= 1002);
    pool.shutdown().await;
}

#[tokio::test]
async fn garbage_and_oversized_lines_close_only_their_own_connection() {
    let pool = start(config()).await;
    let stats = pool.stats();
    let mut bystander = Client::connect(pool.local_addr()).await;
    bystander.handshake("w").await;

    let mut garbage = Client::connect(pool.local_addr()).await;
    garbage.send("this is not json").await;
    assert!(garbage.closed().await, "garbage closes the connection");

    let mut flood = Client::connect(pool.local_addr()).await;
    let chunk = vec![b'a'; 4096];
    for _ in 0..6 {
        // The pool may close before everything is written.
        if flood.writer.write_all(&chunk).await.is_err() {
            break;
        }
    }
    assert!(
        flood.closed().await,
        "a line over the limit closes the connection"
    );

    // A JSON line that is not a valid request is answered, and the connection stays.
    let mut odd = Client::connect(pool.local_addr()).await;
    odd.send(r#"{"id":4,"params":[]}"#).await;
    assert_eq!(error_code(&odd.response(4).await), Some(20));
    odd.send(r#"{"id":5,"method":"mining.frobnicate","params":[]}"#)
        .await;
    assert_eq!(error_code(&odd.response(5).await), Some(20));
    odd.handshake("w2").await;

    // The first connection is untouched.
    bystander
        .send(r#"{"id":9,"method":"mining.authorize","params":["again","x"]}"#)
        .await;
    assert!(bystander.response(9).await.contains(r#""result":true"#));
    assert!(wait_until(|| stats.open_connections() == 2).await);
    pool.shutdown().await;
}

#[tokio::test]
async fn vardiff_raises_the_difficulty_of_a_fast_miner() {
    let mut c = config();
    c.difficulty = 1e-6;
    c.vardiff = Some(V1Vardiff {
        shares_per_minute: 30.0,
        retarget: Duration::from_millis(500),
        min_difficulty: 1e-7,
        max_difficulty: 1.0,
    });
    let pool = start(c).await;
    let mut m = MinerConfig::new(pool.local_addr(), "fast");
    // ~20 shares/s at the start: far above 30 per minute.
    m.hashrate_cap = 100_000.0;
    let miner = spawn_miner(m);
    assert!(
        wait_until(|| miner.stats().difficulty() >= 1e-5).await,
        "difficulty rose to {}",
        miner.stats().difficulty()
    );
    let u = pool.stats().user("fast").expect("worker counted");
    assert_eq!(u.rejected_total(), 0, "{:?}", u.rejected);
    miner.shutdown().await;
    pool.shutdown().await;
}
