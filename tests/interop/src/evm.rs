//! A local EVM chain for the on-chain allocation tests: [`Anvil`] (npm `@foundry-rs/anvil`, the
//! real binary) on 127.0.0.1, and [`Marketplace`], which deploys our Solidity test contracts
//! (`protocols/contracts/artifacts/`) and drives them the way sellers and buyers drive the
//! Lumerin spot marketplace.
//!
//! Transactions are sent with `eth_sendTransaction` from anvil's unlocked dev accounts
//! ([`DEV_ACCOUNTS`]), so no signer is needed; their private keys are public, so a test can
//! hand one to the node as its wallet and use that account as the seller.
//!
//! Test support: failures panic with the reason (and the chain's log, through
//! [`PeerProcess`]), so a broken chain fails the test instead of hanging it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::network::TransactionBuilder;
use alloy::primitives::{address, Address, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolCall, SolEvent};
use contracts::abi::{CloneFactory, CloseReason, Implementation};
use serde_json::json;

use crate::{npm_package_dir, wait_for_port, PeerProcess};

/// Arbitrum One's chain id, which anvil is started with so the node sees the same id as on the
/// real marketplace.
pub const CHAIN_ID: u64 = 42161;

/// How long anvil gets to start, answer, or save its state and exit.
const STARTUP: Duration = Duration::from_secs(20);

/// One of anvil's dev accounts: unlocked on the chain, funded, and with a well-known key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevAccount {
    pub address: Address,
    /// The secp256k1 private key, `0x` and 64 hex digits.
    pub private_key: &'static str,
}

/// The first five accounts of anvil's default mnemonic (`test test ... junk`, path
/// `m/44'/60'/0'/0/i`), as anvil prints them at startup. Account 0 deploys by convention.
pub const DEV_ACCOUNTS: [DevAccount; 5] = [
    DevAccount {
        address: address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
        private_key: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    },
    DevAccount {
        address: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        private_key: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    },
    DevAccount {
        address: address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
        private_key: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    },
    DevAccount {
        address: address!("90F79bf6EB2c4f870365E785982E1f101E93b906"),
        private_key: "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    },
    DevAccount {
        address: address!("15d34AAf54267DB7D7c367839AAf71A00a2C6A65"),
        private_key: "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    },
];

/// The anvil binary from the npm package (installed by `scripts/install-npm-tools.sh`).
///
/// # Panics
/// If the tools cannot be installed or there is no build for this machine.
pub fn anvil_binary() -> PathBuf {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no anvil build for {other}"),
    };
    let dir = npm_package_dir(&format!("@foundry-rs/anvil-linux-{arch}"));
    let bin = dir.join("bin/anvil");
    assert!(bin.is_file(), "{} is missing", bin.display());
    bin
}

/// An anvil chain on 127.0.0.1 that can be stopped and started again on the same port with the
/// same blocks and contracts (`--state`, saved when anvil exits gracefully). Killed when
/// dropped.
pub struct Anvil {
    port: u16,
    block_time: Option<u64>,
    binary: PathBuf,
    /// Holds `state.json` across restarts.
    state_dir: tempfile::TempDir,
    process: Option<PeerProcess>,
    provider: DynProvider,
    /// Latest block number seen by [`Anvil::stop`], checked again after a restart.
    stopped_at_block: Option<u64>,
}

impl Anvil {
    /// Starts anvil on `127.0.0.1:port` (pick it with [`crate::free_port`]) with chain id
    /// [`CHAIN_ID`]: a block every `block_time` seconds, or one per transaction (automine) with
    /// `None`. Returns once it answers JSON-RPC.
    ///
    /// # Panics
    /// If anvil cannot be installed or started, or does not answer within 20 s.
    pub async fn start(port: u16, block_time: Option<u64>) -> Anvil {
        let state_dir = match tempfile::Builder::new()
            .prefix("interop-anvil-state-")
            .tempdir()
        {
            Ok(d) => d,
            Err(e) => panic!("anvil: cannot create its state folder: {e}"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let provider = match url.parse() {
            // No fillers: anvil fills nonce, gas and fees for its unlocked accounts itself, and a
            // client-side nonce cache would leave a gap after a refused transaction.
            Ok(url) => ProviderBuilder::new()
                .disable_recommended_fillers()
                .connect_http(url)
                .erased(),
            Err(e) => panic!("anvil: bad url {url}: {e}"),
        };
        let mut anvil = Anvil {
            port,
            block_time,
            binary: anvil_binary(),
            state_dir,
            process: None,
            provider,
            stopped_at_block: None,
        };
        anvil.launch().await;
        anvil
    }

    /// Starts the process and waits until it answers; then restores the clock and turns mining
    /// on (the process starts with mining off so no block is mined before the clock is right).
    async fn launch(&mut self) {
        let port = self.port.to_string();
        let chain_id = CHAIN_ID.to_string();
        let state = self.state_file();
        let state = state.to_string_lossy();
        let process = PeerProcess::start(
            "anvil",
            &self.binary,
            &[],
            &[
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--chain-id",
                &chain_id,
                "--state",
                &state,
                "--no-mining",
            ],
        );
        let addr = ([127, 0, 0, 1], self.port).into();
        if !wait_for_port(addr, STARTUP).await {
            panic!(
                "anvil did not listen on {addr} within {STARTUP:?}:\n{}",
                process.log_tail(40)
            );
        }
        self.process = Some(process);
        match self.provider.get_chain_id().await {
            Ok(CHAIN_ID) => {}
            Ok(other) => panic!("anvil answers with chain id {other}, not {CHAIN_ID}"),
            Err(e) => panic!("anvil does not answer eth_chainId: {e}"),
        }
        self.restore_clock().await;
        match self.block_time {
            Some(secs) => self.rpc("evm_setIntervalMining", json!([secs])).await,
            None => self.rpc("evm_setAutomine", json!([true])).await,
        };
    }

    /// anvil saves blocks but not the offset `evm_increaseTime` added to its clock, so after a
    /// restart the next block could be older than the last one. Move the clock just past the
    /// last block so time never goes backwards.
    async fn restore_clock(&self) {
        let latest = self.latest_timestamp().await;
        let now = unix_now();
        if latest >= now {
            self.increase_time(latest - now + 1).await;
        }
    }

    fn state_file(&self) -> PathBuf {
        self.state_dir.path().join("state.json")
    }

    /// Stops anvil gracefully (SIGTERM), so it saves the chain to its state file, and waits for
    /// it to exit. Nothing listens on the port until [`Anvil::restart`].
    ///
    /// # Panics
    /// If it does not exit within 20 s or leaves no state file.
    pub async fn stop(&mut self) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        self.stopped_at_block = self.provider.get_block_number().await.ok();
        process.terminate();
        let deadline = tokio::time::Instant::now() + STARTUP;
        while process.is_running() {
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "anvil did not exit within {STARTUP:?} of SIGTERM:\n{}",
                    process.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            self.state_file().is_file(),
            "anvil exited without saving its state:\n{}",
            process.log_tail(40)
        );
    }

    /// Starts a stopped anvil again on the same port with the saved chain (stopping it first if
    /// it is running), and checks no block was lost.
    ///
    /// # Panics
    /// As [`Anvil::start`], or if the chain came back shorter than it was.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
        if let Some(before) = self.stopped_at_block.take() {
            let after = self.block_number().await;
            assert!(
                after >= before,
                "anvil restarted at block {after}, it had reached {before}"
            );
        }
    }

    /// Whether the anvil process is running.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(PeerProcess::is_running)
    }

    /// The port anvil listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:<port>` (anvil serves WebSocket on the same port).
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// An HTTP provider for anything the helpers here do not cover.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// What anvil printed so far (empty while stopped).
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(PeerProcess::log)
            .unwrap_or_default()
    }

    /// Moves the chain's clock `secs` forward (`evm_increaseTime`); the next block carries it.
    pub async fn increase_time(&self, secs: u64) {
        self.rpc("evm_increaseTime", json!([secs])).await;
    }

    /// Mines one block now (`evm_mine`).
    pub async fn mine(&self) {
        self.rpc("evm_mine", json!([])).await;
    }

    /// The latest block number.
    pub async fn block_number(&self) -> u64 {
        match self.provider.get_block_number().await {
            Ok(n) => n,
            Err(e) => panic!("anvil: eth_blockNumber failed: {e}"),
        }
    }

    /// The latest block's timestamp, in seconds since the Unix epoch: the chain's "now".
    pub async fn latest_timestamp(&self) -> u64 {
        match self.provider.get_block_by_number(Default::default()).await {
            Ok(Some(block)) => block.header.timestamp,
            Ok(None) => panic!("anvil has no latest block"),
            Err(e) => panic!("anvil: eth_getBlockByNumber failed: {e}"),
        }
    }

    /// The timestamp of block `number`.
    pub async fn block_timestamp(&self, number: u64) -> u64 {
        match self.provider.get_block_by_number(number.into()).await {
            Ok(Some(block)) => block.header.timestamp,
            Ok(None) => panic!("anvil has no block {number}"),
            Err(e) => panic!("anvil: eth_getBlockByNumber({number}) failed: {e}"),
        }
    }

    /// A JSON-RPC call whose answer does not matter beyond success.
    async fn rpc(&self, method: &'static str, params: serde_json::Value) {
        let answer: Result<serde_json::Value, _> =
            self.provider.raw_request(method.into(), params).await;
        if let Err(e) = answer {
            panic!("anvil: {method} failed: {e}");
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Our test marketplace on an [`Anvil`] chain: a deployed `CloneFactory` and the calls sellers
/// and buyers make. Every transaction waits for its receipt and panics (with the revert reason
/// when there is one) unless it succeeded.
pub struct Marketplace {
    provider: DynProvider,
    factory: Address,
}

impl Marketplace {
    /// Deploys the factory from the committed artifact's bytecode, sent by `deployer` (one of
    /// [`DEV_ACCOUNTS`]).
    ///
    /// # Panics
    /// If the artifact cannot be read or the deployment fails.
    pub async fn deploy(anvil: &Anvil, deployer: Address) -> Marketplace {
        let code = artifact_bytecode("CloneFactory");
        let tx = TransactionRequest::default()
            .with_from(deployer)
            .with_deploy_code(code);
        let receipt = send(anvil.provider(), tx, "deploy CloneFactory").await;
        let Some(factory) = receipt.contract_address else {
            panic!("the CloneFactory deployment has no contract address: {receipt:?}");
        };
        Marketplace {
            provider: anvil.provider().clone(),
            factory,
        }
    }

    /// A marketplace already deployed at `factory` (after a restart, or from another test part).
    pub fn at(anvil: &Anvil, factory: Address) -> Marketplace {
        Marketplace {
            provider: anvil.provider().clone(),
            factory,
        }
    }

    /// The factory's address: what the node watches.
    pub fn factory(&self) -> Address {
        self.factory
    }

    /// `seller` offers `speed_hs` H/s for `length_s` seconds; `pub_key` is the key buyers
    /// encrypt to. Returns the new contract's address (from `contractCreated`).
    pub async fn create_contract(
        &self,
        seller: Address,
        speed_hs: u64,
        length_s: u64,
        pub_key: &str,
    ) -> Address {
        let call = CloneFactory::setCreateNewRentalContractV2Call {
            _0: U256::ZERO,
            _1: U256::ZERO,
            _speed: U256::from(speed_hs),
            _length: U256::from(length_s),
            _profitTarget: 0,
            _5: Address::ZERO,
            _pubKey: pub_key.to_string(),
        };
        let receipt = self.transact(seller, self.factory, &call).await;
        let created = receipt.inner.logs().iter().find_map(|log| {
            if log.address() != self.factory {
                return None;
            }
            CloneFactory::contractCreated::decode_log(&log.inner)
                .ok()
                .map(|event| event._address)
        });
        match created {
            Some(address) => address,
            None => panic!("create_contract: no contractCreated log in {receipt:?}"),
        }
    }

    /// `buyer` purchases `contract` at its current terms version, with `validator` (zero for
    /// none) and the two encrypted strings. Returns the receipt (its block's timestamp is the
    /// contract's `startingBlockTimestamp`).
    pub async fn purchase(
        &self,
        contract: Address,
        buyer: Address,
        encr_validator_url: &str,
        encr_dest_url: &str,
        validator: Address,
    ) -> TransactionReceipt {
        let call = CloneFactory::setPurchaseRentalContractV2Call {
            _contractAddress: contract,
            _validatorAddress: validator,
            _encrValidatorURL: encr_validator_url.to_string(),
            _encrDestURL: encr_dest_url.to_string(),
            termsVersion: self.purchasable_version(contract).await,
        };
        self.transact(buyer, self.factory, &call).await
    }

    /// The terms version a purchase must name: the future terms' if any, else the current.
    pub async fn purchasable_version(&self, contract: Address) -> u32 {
        let future = self
            .call(contract, &Implementation::futureTermsCall {})
            .await;
        if future._version != 0 {
            return future._version;
        }
        self.call(contract, &Implementation::termsCall {})
            .await
            ._version
    }

    /// The buyer moves a running contract (`destinationUpdated`).
    pub async fn set_destination(
        &self,
        contract: Address,
        buyer: Address,
        encr_validator_url: &str,
        encr_dest_url: &str,
    ) -> TransactionReceipt {
        let call = Implementation::setDestinationCall {
            _encrValidatorURL: encr_validator_url.to_string(),
            _encrDestURL: encr_dest_url.to_string(),
        };
        self.transact(buyer, contract, &call).await
    }

    /// The buyer (or validator) closes a running contract now (`closedEarly`).
    pub async fn close_early(
        &self,
        contract: Address,
        caller: Address,
        reason: CloseReason,
    ) -> TransactionReceipt {
        let call = Implementation::closeEarlyCall {
            reason: reason.as_u8(),
        };
        self.transact(caller, contract, &call).await
    }

    /// The seller deletes (or restores) contracts (`contractDeleteUpdated`).
    pub async fn set_deleted(
        &self,
        contracts: &[Address],
        seller: Address,
        deleted: bool,
    ) -> TransactionReceipt {
        let call = CloneFactory::setContractsDeletedCall {
            _contractAddresses: contracts.to_vec(),
            _isDeleted: deleted,
        };
        self.transact(seller, self.factory, &call).await
    }

    /// The seller sets new terms (`purchaseInfoUpdated`): at once if the contract is available,
    /// at its next purchase or early close if running.
    pub async fn update_terms(
        &self,
        contract: Address,
        seller: Address,
        speed_hs: u64,
        length_s: u64,
    ) -> TransactionReceipt {
        let call = CloneFactory::setUpdateContractInformationV2Call {
            _contractAddress: contract,
            _1: U256::ZERO,
            _2: U256::ZERO,
            _speed: U256::from(speed_hs),
            _length: U256::from(length_s),
            _profitTarget: 0,
        };
        self.transact(seller, self.factory, &call).await
    }

    /// `getPublicVariablesV2()` of `contract`, decoded.
    pub async fn read(&self, contract: Address) -> Implementation::getPublicVariablesV2Return {
        self.call(contract, &Implementation::getPublicVariablesV2Call {})
            .await
    }

    /// `getContractList()`.
    pub async fn contract_list(&self) -> Vec<Address> {
        self.call(self.factory, &CloneFactory::getContractListCall {})
            .await
    }

    /// Any view call (`eth_call` at the latest block), decoded.
    ///
    /// # Panics
    /// If the call fails or its answer does not decode.
    pub async fn call<C: SolCall>(&self, to: Address, call: &C) -> C::Return {
        let tx = TransactionRequest::default().with_to(to).with_call(call);
        let answer = match self.provider.call(tx).await {
            Ok(bytes) => bytes,
            Err(e) => panic!("eth_call {} on {to} failed: {e}", C::SIGNATURE),
        };
        match C::abi_decode_returns(&answer) {
            Ok(value) => value,
            Err(e) => panic!(
                "{} on {to} returned undecodable {answer}: {e}",
                C::SIGNATURE
            ),
        }
    }

    /// Sends `call` to `to` from `from` and waits for a successful receipt.
    ///
    /// # Panics
    /// If it is refused, reverts, or never mined.
    pub async fn transact<C: SolCall>(
        &self,
        from: Address,
        to: Address,
        call: &C,
    ) -> TransactionReceipt {
        match self.try_transact(from, to, call).await {
            Ok(receipt) => receipt,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Marketplace::transact`] returning the failure (with the revert reason when the node
    /// gives one) instead of panicking, for tests that expect a refusal.
    pub async fn try_transact<C: SolCall>(
        &self,
        from: Address,
        to: Address,
        call: &C,
    ) -> Result<TransactionReceipt, String> {
        let tx = TransactionRequest::default()
            .with_from(from)
            .with_to(to)
            .with_call(call);
        try_send(&self.provider, tx, C::SIGNATURE).await
    }
}

/// Sends a transaction from an unlocked account and waits for a successful receipt.
async fn try_send(
    provider: &DynProvider,
    tx: TransactionRequest,
    what: &str,
) -> Result<TransactionReceipt, String> {
    // anvil mines reverting transactions without saying why; a call first gets the reason.
    if let Err(e) = provider.call(tx.clone()).await {
        return Err(format!("{what}: refused: {e}"));
    }
    let pending = provider
        .send_transaction(tx)
        .await
        .map_err(|e| format!("{what}: refused: {e}"))?;
    let receipt = tokio::time::timeout(STARTUP, pending.get_receipt())
        .await
        .map_err(|_| format!("{what}: not mined within {STARTUP:?}"))?
        .map_err(|e| format!("{what}: no receipt: {e}"))?;
    if !receipt.status() {
        return Err(format!("{what}: reverted: {receipt:?}"));
    }
    Ok(receipt)
}

async fn send(provider: &DynProvider, tx: TransactionRequest, what: &str) -> TransactionReceipt {
    match try_send(provider, tx, what).await {
        Ok(receipt) => receipt,
        Err(e) => panic!("{e}"),
    }
}

/// The committed artifacts of our Solidity test contracts.
pub fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../protocols/contracts/artifacts")
}

/// The creation bytecode of `contract` (`CloneFactory`, `Implementation`) from its artifact.
///
/// # Panics
/// If the artifact is missing or malformed.
pub fn artifact_bytecode(contract: &str) -> Bytes {
    let path = artifacts_dir().join(format!("{contract}.json"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    };
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(j) => j,
        Err(e) => panic!("{} is not JSON: {e}", path.display()),
    };
    match json["bytecode"].as_str().map(str::parse::<Bytes>) {
        Some(Ok(code)) if !code.is_empty() => code,
        _ => panic!("{} has no bytecode", path.display()),
    }
}
