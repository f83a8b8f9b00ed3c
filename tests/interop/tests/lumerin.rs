//! On-chain allocations end to end: our Lumerin-ABI test marketplace on a real anvil chain
//! (1 s blocks), the node following it as the seller with 2 confirmations (over WebSocket in
//! the first test, HTTP in the second), CPU miners on the
//! node, the seller's own pool as the default route and minesim V1 pools as the buyers'
//! destinations (ECIES-encrypted to the seller's wallet key, as Lumerin buyers do).
//!
//! - `a_purchased_contract_is_routed_moved_closed_and_expired`: purchase → the contract's route
//!   gets its speed and the destination pool shares under the contract's address (printing
//!   `purchase_to_first_share_s`); `destinationUpdated` moves it; `closedEarly` returns it to
//!   the default route; a garbage destination is reported invalid and mines nothing for the
//!   buyer; `evm_increaseTime` past the length ends it.
//! - `a_chain_outage_keeps_routing_and_recovers_without_duplicates`: anvil stopped for 30 s;
//!   routing goes on, the status says stale since when, and after restart the node reconciles
//!   with exactly one route for the contract and follows the chain again.

use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use contracts::abi::CloseReason;
use contracts::WalletKey;
use hashrouter::chain::{ChainSnapshot, ContractPhase};
use hashrouter::config::Config;
use hashrouter::core::{NodeSnapshot, RouteSnapshot};
use hashrouter::node::{self, NodeHandle};
use interop::evm::{Anvil, Marketplace, DEV_ACCOUNTS};
use interop::{free_port, wait_until};
use minesim::pool::{PoolHandle, TEST_AUTHORITY_PUBLIC};
use minesim::server::ServerHandle;
use minesim::v1_miner::{spawn_miner, MinerConfig, MinerHandle};
use minesim::v1_pool::{V1Pool, V1PoolConfig, V1PoolStats};

mod common;

const WAIT: Duration = Duration::from_secs(60);
const MINER_HASHRATE: f64 = 200_000.0;
const MINERS: usize = 4;
/// What a contract buys: about one and a half of the farm's four miners.
const CONTRACT_SPEED_HS: u64 = 300_000;

type V1PoolHandle = ServerHandle<V1PoolStats>;

struct Farm {
    anvil: Anvil,
    market: Marketplace,
    wallet: WalletKey,
    buyer: Address,
    node: NodeHandle,
    miners: Vec<MinerHandle>,
    _default_pool: PoolHandle,
    _dir: tempfile::TempDir,
}

/// How the node reaches anvil.
#[derive(Clone, Copy)]
enum Rpc {
    Http,
    WebSocket,
}

/// Anvil with the marketplace, two contracts of the seller (one more of another seller), the
/// node following them over `rpc` and miners on the node, vetted on the default route.
async fn start_farm(length_s: u64, rpc: Rpc) -> (Farm, [Address; 2]) {
    let anvil = Anvil::start(free_port(), Some(1)).await;
    let market = Marketplace::deploy(&anvil, DEV_ACCOUNTS[0].address).await;
    let wallet = WalletKey::from_hex(DEV_ACCOUNTS[1].private_key).unwrap();
    let seller = DEV_ACCOUNTS[1].address;
    assert_eq!(wallet.address(), seller);
    let pub_key = wallet.public_key_hex();
    let first = market
        .create_contract(seller, CONTRACT_SPEED_HS, length_s, &pub_key)
        .await;
    let second = market
        .create_contract(seller, CONTRACT_SPEED_HS, length_s, &pub_key)
        .await;
    // Another seller's contract: read once, then never again.
    market
        .create_contract(DEV_ACCOUNTS[3].address, 1_000, length_s, "04")
        .await;

    let default_pool = common::start_pool().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("wallet.key");
    write_private(&key_file, DEV_ACCOUNTS[1].private_key);
    let rpc_url = match rpc {
        Rpc::Http => anvil.rpc_url(),
        Rpc::WebSocket => anvil.ws_url(),
    };
    let config = node_config(
        dir.path(),
        default_pool.local_addr(),
        &rpc_url,
        market.factory(),
    );
    let node = node::start(&config).await.expect("node starts");
    let miners: Vec<MinerHandle> = (0..MINERS)
        .map(|i| {
            let mut config = MinerConfig::new(node.sv1_addr(), format!("farm.rig{i}"));
            config.hashrate_cap = MINER_HASHRATE;
            config.reconnect = false;
            spawn_miner(config)
        })
        .collect();
    let farm = Farm {
        anvil,
        market,
        wallet,
        buyer: DEV_ACCOUNTS[2].address,
        node,
        miners,
        _default_pool: default_pool,
        _dir: dir,
    };
    assert!(
        wait_until(WAIT, || async {
            let snap = farm.snapshot().await;
            let chain = snap.chain.clone().unwrap_or_default();
            chain.contracts.len() == 2
                && snap.devices.len() == MINERS
                && snap.devices.iter().all(|d| d.counters.accepted >= 3)
        })
        .await,
        "the node sees the seller's two contracts and its miners deliver: {:?}",
        farm.snapshot().await.chain
    );
    (farm, [first, second])
}

impl Farm {
    async fn snapshot(&self) -> NodeSnapshot {
        self.node.snapshot().await.expect("node running")
    }

    async fn chain(&self) -> ChainSnapshot {
        self.snapshot()
            .await
            .chain
            .expect("the chain source is configured")
    }

    /// The live route of `contract`, if any.
    async fn route(&self, contract: Address) -> Option<RouteSnapshot> {
        let name = route_name(contract);
        self.snapshot()
            .await
            .routes
            .into_iter()
            .find(|r| r.name == name && !r.retired)
    }

    /// `url` encrypted to the seller's key, in the on-chain form.
    fn encrypt(&self, url: &str) -> String {
        contracts::ecies::encrypt_hex(&self.wallet.public_key(), url, &mut rand::thread_rng())
    }

    async fn purchase(&self, contract: Address, url_ciphertext: &str) {
        self.market
            .purchase(contract, self.buyer, url_ciphertext, "", Address::ZERO)
            .await;
    }

    async fn shutdown(self) {
        for miner in self.miners {
            miner.shutdown().await;
        }
        self.node.shutdown().await;
        let mut anvil = self.anvil;
        anvil.stop().await;
    }
}

fn route_name(contract: Address) -> String {
    format!("{contract:#x}")
}

/// A buyer's V1 pool (or a Lumerin validator in front of one).
async fn start_buyer_pool() -> V1PoolHandle {
    let mut config = V1PoolConfig::new("127.0.0.1:0".parse().unwrap());
    config.difficulty = 0.00002;
    V1Pool::start(config).await.expect("V1 pool starts")
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

fn node_config(dir: &Path, default_pool: SocketAddr, rpc: &str, factory: Address) -> Config {
    let path = dir.join("node.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[sv1]
listen = "127.0.0.1:0"

[difficulty]
initial = 0.0001
minimum = 0.00002
shares_per_minute = 60
retarget_secs = 5

[upstream]
address = "{default_pool}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "seller"
reconnect_min_ms = 100
reconnect_max_secs = 1

[lumerin]
rpc_url = "{rpc}"
clone_factory = "{factory:#x}"
wallet_key_file = "wallet.key"
confirmations = 2
poll_ms = 500
reconcile_secs = 20
rpc_timeout_secs = 2

[split]
min_dwell_secs = 3
catch_up_horizon_secs = 10
vetting_shares = 3
vetting_secs = 3
estimate_half_life_secs = 30
rebalance_secs = 1
"#
        ),
    )
    .unwrap();
    Config::load(&path).expect("node config is valid")
}

/// Accepted shares a pool credited to `contract`'s worker name.
fn contract_shares(pool: &V1PoolHandle, contract: Address) -> u64 {
    pool.stats()
        .user(&route_name(contract))
        .map_or(0, |u| u.accepted_shares)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchased_contract_is_routed_moved_closed_and_expired() {
    let length_s = 3_600;
    let (farm, [first, second]) = start_farm(length_s, Rpc::WebSocket).await;
    let buyer_pool = start_buyer_pool().await;
    let destination = format!(
        "stratum+tcp://buyer.worker:s3cret@{}",
        buyer_pool.local_addr()
    );

    // Purchase → the destination gets the contract's hashrate under the contract's name.
    let purchased = Instant::now();
    farm.purchase(first, &farm.encrypt(&destination)).await;
    assert!(
        wait_until(WAIT, || async { contract_shares(&buyer_pool, first) >= 1 }).await,
        "the buyer's pool gets shares for the contract: {:?}",
        farm.chain().await
    );
    println!(
        "purchase_to_first_share_s={:.2}",
        purchased.elapsed().as_secs_f64()
    );
    let route = farm.route(first).await.expect("the contract has a route");
    assert_eq!(
        route.target, CONTRACT_SPEED_HS as f64,
        "the route asks for the contract's speed"
    );
    assert_eq!(
        buyer_pool.stats().announced_contracts(),
        [route_name(first)],
        "the connection announces the contract as lmr.contract-address"
    );
    let chain = farm.chain().await;
    let contract = chain
        .contracts
        .iter()
        .find(|c| c.address == route_name(first))
        .unwrap();
    assert_eq!(contract.phase, ContractPhase::Running);
    assert_eq!(contract.speed_hs, CONTRACT_SPEED_HS as f64);
    let shown = contract.destination.clone().unwrap();
    assert!(shown.contains(&buyer_pool.local_addr().to_string()) && !shown.contains("s3cret"));
    assert!(
        farm.route(second).await.is_none(),
        "an unsold contract gets no route"
    );
    // The contract's route keeps getting work while the rest stays on the default route.
    let before = contract_shares(&buyer_pool, first);
    assert!(
        wait_until(WAIT, || async {
            contract_shares(&buyer_pool, first) >= before + 5
        })
        .await
    );
    let snap = farm.snapshot().await;
    assert!(
        snap.routes[0].devices > 0,
        "the default route keeps the rest"
    );

    // destinationUpdated → the hashrate moves to the new pool.
    let moved_pool = start_buyer_pool().await;
    let moved_to = format!(
        "stratum+tcp://buyer.worker:s3cret@{}",
        moved_pool.local_addr()
    );
    farm.market
        .set_destination(first, farm.buyer, &farm.encrypt(&moved_to), "")
        .await;
    assert!(
        wait_until(WAIT, || async { contract_shares(&moved_pool, first) >= 3 }).await,
        "the new destination gets the contract's shares"
    );
    assert!(
        wait_until(WAIT, || async {
            buyer_pool.stats().open_connections() == 0
        })
        .await,
        "the old destination is left"
    );

    // closedEarly → back to the default route at once.
    let closed = Instant::now();
    farm.market
        .close_early(first, farm.buyer, CloseReason::Underdelivery)
        .await;
    assert!(
        wait_until(WAIT, || async {
            farm.route(first).await.is_none()
                && moved_pool.stats().open_connections() == 0
                && farm.snapshot().await.routes[0].devices == MINERS
        })
        .await,
        "a closed contract's hashrate returns to the default route"
    );
    println!(
        "close_to_default_route_s={:.2}",
        closed.elapsed().as_secs_f64()
    );

    // The seller deletes the closed contract: shown, and it is not routed again.
    let seller = DEV_ACCOUNTS[1].address;
    farm.market.set_deleted(&[first], seller, true).await;
    assert!(
        wait_until(WAIT, || async {
            farm.chain()
                .await
                .contracts
                .iter()
                .any(|c| c.address == route_name(first) && c.deleted)
        })
        .await,
        "a deleted contract is shown as deleted"
    );
    // New terms for the unsold contract apply to its next purchase.
    let new_speed = CONTRACT_SPEED_HS / 2;
    farm.market
        .update_terms(second, seller, new_speed, length_s)
        .await;

    // A destination the seller cannot decrypt: reported invalid, nothing routed for it.
    farm.purchase(second, "00c0ffee").await;
    assert!(
        wait_until(WAIT, || async {
            let chain = farm.chain().await;
            chain.contracts.iter().any(|c| {
                c.address == route_name(second)
                    && c.phase == ContractPhase::Running
                    && c.invalid.as_deref().is_some_and(|r| r.contains("decrypt"))
            })
        })
        .await,
        "an undecryptable destination is reported: {:?}",
        farm.chain().await
    );
    assert!(farm.route(second).await.is_none());
    // Fixed by the buyer → routed; then the chain's clock passes its end → back to default.
    farm.market
        .set_destination(second, farm.buyer, &farm.encrypt(&destination), "")
        .await;
    let before = contract_shares(&buyer_pool, second);
    assert!(
        wait_until(WAIT, || async {
            contract_shares(&buyer_pool, second) >= before + 3
        })
        .await,
        "a repaired destination is routed"
    );
    let route = farm.route(second).await.expect("the contract has a route");
    assert_eq!(
        route.target, new_speed as f64,
        "the updated terms are in force"
    );
    assert!(farm.route(first).await.is_none());
    farm.anvil.increase_time(length_s + 1).await;
    farm.anvil.mine().await;
    assert!(
        wait_until(WAIT, || async {
            farm.route(second).await.is_none() && buyer_pool.stats().open_connections() == 0
        })
        .await,
        "an expired contract's hashrate returns to the default route"
    );
    let chain = farm.chain().await;
    assert!(chain
        .contracts
        .iter()
        .all(|c| c.phase == ContractPhase::Available));
    assert_eq!(chain.stale_since_unix, None);
    farm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_outage_keeps_routing_and_recovers_without_duplicates() {
    let (mut farm, [first, _]) = start_farm(3_600, Rpc::Http).await;
    let buyer_pool = start_buyer_pool().await;
    let destination = format!("stratum+tcp://buyer:x@{}", buyer_pool.local_addr());
    farm.purchase(first, &farm.encrypt(&destination)).await;
    assert!(wait_until(WAIT, || async { contract_shares(&buyer_pool, first) >= 3 }).await);

    let stopped_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    farm.anvil.stop().await;
    assert!(
        wait_until(Duration::from_secs(15), || async {
            farm.chain().await.is_stale()
        })
        .await,
        "the status says the chain is stale"
    );
    let chain = farm.chain().await;
    let since = chain.stale_since_unix.unwrap();
    assert!(since + 1 >= stopped_at, "stale since the outage began");
    assert!(chain.last_error.is_some());
    let during = contract_shares(&buyer_pool, first);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        contract_shares(&buyer_pool, first) >= during + 5,
        "the contract keeps being delivered while the chain is unreachable"
    );
    assert!(farm.route(first).await.is_some());

    farm.anvil.restart().await;
    assert!(
        wait_until(WAIT, || async { !farm.chain().await.is_stale() }).await,
        "the node follows the chain again"
    );
    let snap = farm.snapshot().await;
    let routes: Vec<_> = snap
        .routes
        .iter()
        .filter(|r| r.name == route_name(first) && !r.retired)
        .collect();
    assert_eq!(routes.len(), 1, "one route for the contract after recovery");
    assert_eq!(buyer_pool.stats().open_connections(), 1);
    let contracts = &snap.chain.as_ref().unwrap().contracts;
    assert_eq!(
        contracts.len(),
        2,
        "no contract lost or duplicated: {contracts:?}"
    );

    // Changes after the outage are followed as before.
    farm.market
        .close_early(first, farm.buyer, CloseReason::Unspecified)
        .await;
    assert!(
        wait_until(WAIT, || async { farm.route(first).await.is_none() }).await,
        "a close after recovery takes effect"
    );
    farm.shutdown().await;
}
