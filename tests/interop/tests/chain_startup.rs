//! The chain watcher's first read of a factory with many contracts, on a real anvil chain with
//! our Lumerin-ABI test marketplace: it reports how far it got while it reads, and the node
//! says `starting` with that progress through its API until the read is complete.
//!
//! - `the_first_read_reports_progress_before_the_full_update`: the watcher alone, every read
//!   reported (progress interval zero): progress updates with `done < total` come first, in
//!   order, then the full update with every contract and no progress.
//! - `health_says_starting_with_progress_while_the_contracts_are_read`: a node whose RPC is
//!   slowed by a proxy (so the read takes seconds): `GET /api/v1/health` answers 503
//!   `starting` with "reading contracts: N of 60", then `ok` with the contracts known.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use alloy::primitives::Address;
use contracts::WalletKey;
use hashrouter::api::model::{Health, Status};
use hashrouter::chain::{spawn_watcher, ChainUpdate, ReadProgress, WatcherSettings};
use hashrouter::config::Config;
use interop::evm::{Anvil, Marketplace, DEV_ACCOUNTS};
use interop::{free_port, wait_until};
use minesim::pool::TEST_AUTHORITY_PUBLIC;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Contracts of the seller on the factory.
const CONTRACTS: u64 = 60;
const WAIT: Duration = Duration::from_secs(60);

/// Anvil (a block per transaction) with the marketplace and [`CONTRACTS`] contracts of the
/// seller (`DEV_ACCOUNTS[1]`, whose key the node holds).
async fn chain_with_contracts() -> (Anvil, Marketplace, WalletKey) {
    let anvil = Anvil::start(free_port(), None).await;
    let market = Marketplace::deploy(&anvil, DEV_ACCOUNTS[0].address).await;
    let wallet = WalletKey::from_hex(DEV_ACCOUNTS[1].private_key).unwrap();
    let pub_key = wallet.public_key_hex();
    for _ in 0..CONTRACTS {
        market
            .create_contract(wallet.address(), 100_000, 3_600, &pub_key)
            .await;
    }
    (anvil, market, wallet)
}

fn settings(rpc_url: String, factory: Address, progress_interval: Duration) -> WatcherSettings {
    WatcherSettings {
        rpc_shown: rpc_url.clone(),
        rpc_url,
        factory,
        confirmations: 0,
        poll_interval: Duration::from_millis(200),
        reconcile_interval: Duration::from_secs(60),
        rpc_timeout: Duration::from_secs(5),
        progress_interval,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_read_reports_progress_before_the_full_update() {
    let (mut anvil, market, wallet) = chain_with_contracts().await;
    let (updates_tx, updates) = async_channel::bounded(1024);
    let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
    let watcher = spawn_watcher(
        settings(anvil.rpc_url(), market.factory(), Duration::ZERO),
        wallet,
        updates_tx,
        shutdown,
    );
    let next = || async {
        tokio::time::timeout(WAIT, updates.recv())
            .await
            .expect("the watcher sends updates")
            .expect("the watcher runs")
    };
    let mut progress: Vec<ReadProgress> = Vec::new();
    let full: ChainUpdate = loop {
        let update = next().await;
        match update.snapshot.startup {
            Some(p) => progress.push(p),
            None => break update,
        }
    };
    println!(
        "progress updates before the full update: {}",
        progress.len()
    );
    assert!(
        progress
            .iter()
            .any(|p| p.total == Some(CONTRACTS) && p.done < CONTRACTS),
        "a progress update with done < total comes before the full update: {progress:?}"
    );
    assert!(
        progress
            .iter()
            .all(|p| p.total == Some(CONTRACTS) && p.done <= CONTRACTS),
        "{progress:?}"
    );
    assert!(
        progress.windows(2).all(|w| w[0].done <= w[1].done),
        "progress only goes forward: {progress:?}"
    );
    assert_eq!(full.snapshot.contracts.len() as u64, CONTRACTS);
    assert!(full.snapshot.synced_at_unix.is_some());
    // Later polls are complete updates too.
    let later = next().await;
    assert_eq!(later.snapshot.startup, None);
    assert_eq!(later.snapshot.contracts.len() as u64, CONTRACTS);

    let _ = shutdown_tx.send(true);
    let _ = watcher.await;
    anvil.stop().await;
}

/// A TCP proxy to `to` that holds every chunk from the client for `delay`: an RPC that
/// answers each call that much later.
async fn slow_proxy(to: SocketAddr, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(to).await else {
                    return;
                };
                let (mut client_rx, mut client_tx) = client.into_split();
                let (mut server_rx, mut server_tx) = server.into_split();
                let requests = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_rx.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        tokio::time::sleep(delay).await;
                        if server_tx.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = server_tx.shutdown().await;
                };
                let answers = async {
                    let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
                    let _ = client_tx.shutdown().await;
                };
                tokio::join!(requests, answers);
            });
        }
    });
    addr
}

fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn node_config(dir: &Path, pool: SocketAddr, rpc: SocketAddr, factory: Address) -> Config {
    write_private(&dir.join("wallet.key"), DEV_ACCOUNTS[1].private_key);
    let path = dir.join("node.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[sv1]
listen = "127.0.0.1:0"

[upstream]
address = "{pool}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "seller"
reconnect_min_ms = 100
reconnect_max_secs = 1

[lumerin]
rpc_url = "http://{rpc}"
clone_factory = "{factory:#x}"
wallet_key_file = "wallet.key"
confirmations = 0
poll_ms = 500
reconcile_secs = 60
rpc_timeout_secs = 5

[api]
listen = "127.0.0.1:0"
"#
        ),
    )
    .unwrap();
    Config::load(&path).expect("node config is valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_starting_with_progress_while_the_contracts_are_read() {
    let (mut anvil, market, _) = chain_with_contracts().await;
    let anvil_addr = SocketAddr::from(([127, 0, 0, 1], anvil.port()));
    // 60 reads of at least 80 ms each: the first read takes five seconds or more, several of
    // the API's one-second samples.
    let rpc = slow_proxy(anvil_addr, Duration::from_millis(80)).await;
    let pool = common::start_pool().await;
    let dir = tempfile::tempdir().unwrap();
    let config = node_config(dir.path(), pool.local_addr(), rpc, market.factory());
    let node = hashrouter::node::start(&config).await.expect("node starts");
    let url = format!("http://{}/api/v1/health", node.api_addr().unwrap());

    let answers: Mutex<Vec<(u16, Health)>> = Mutex::default();
    let started = wait_until(WAIT, || async {
        let Ok(answer) = reqwest::get(&url).await else {
            return false;
        };
        let code = answer.status().as_u16();
        let Ok(health) = answer.json::<Health>().await else {
            return false;
        };
        let done = health.status == Status::Ok;
        answers.lock().unwrap().push((code, health));
        done
    })
    .await;
    let seen = answers.into_inner().unwrap();
    let progress: Vec<_> = seen
        .iter()
        .filter_map(|(code, h)| Some((*code, h.status, h.startup.clone()?)))
        .collect();
    println!(
        "health answers {}, with progress {}",
        seen.len(),
        progress.len()
    );
    assert!(
        started,
        "the node is ok once the contracts are read: {:?}",
        seen.last()
    );
    let reading = progress.iter().find(|(_, _, p)| {
        p.phase == "reading contracts" && p.total == Some(CONTRACTS) && p.done < CONTRACTS
    });
    let Some((code, status, _)) = reading else {
        panic!("health showed the read under way: {progress:?}");
    };
    assert_eq!((*code, *status), (503, Status::Starting));
    // Before the watcher's first report the chain is "not read yet"; then it counts.
    let details: Vec<_> = seen
        .iter()
        .flat_map(|(_, h)| &h.components)
        .filter(|c| c.name == "chain" && c.status == Status::Starting)
        .filter_map(|c| c.detail.as_deref())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("reading contracts: ") && d.ends_with(" of 60")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .all(|d| *d == "not read yet" || d.starts_with("reading contracts: ")),
        "{details:?}"
    );
    let snapshot = node.snapshot().await.unwrap();
    let chain = snapshot.chain.expect("the chain is configured");
    assert_eq!(chain.contracts.len() as u64, CONTRACTS);
    assert_eq!(chain.startup, None);

    node.shutdown().await;
    anvil.stop().await;
}
