//! Follows the seller's contracts on the chain and tells the node which are running and where
//! their hashrate goes.
//!
//! Each poll reads the head, acts only on blocks `confirmations` deep, and fetches the logs of
//! the factory and every watched contract with one filter since the last confirmed block; the
//! contracts those logs name are read again. A full reconciliation (the factory's contract
//! list, every unknown or watched contract read again) runs at start, periodically, after a
//! removed log (a reorg), when the chain went backwards, and after a gap too long for one log
//! query — so a missed log costs at most one reconciliation period.
//!
//! Contract times are chain times. They are mapped to the node's clock with the head block's
//! timestamp, so a chain whose clock runs ahead (a test chain after `evm_increaseTime`) ends
//! contracts when the chain says, and an allocation keeps its end time while the RPC is down.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use contracts::abi::CloneFactory;
use contracts::wallet::WalletKey;
use contracts::{Allocation, Amount};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, info_span, warn, Instrument};

use super::destination::Destination;
use super::rpc::{ContractRead, Rpc, RpcError};
use super::status::{ChainSnapshot, ContractPhase, ContractSnapshot, ReadProgress};
use crate::wall_clock::unix_now;

/// Longest block range asked of `eth_getLogs` at once; a longer gap (a long outage) is closed
/// by a full reconciliation instead, which public RPCs' range limits do not hit.
const MAX_LOG_RANGE: u64 = 5_000;

/// Differences between chain and node clocks up to this many seconds are rounding, not news.
const CLOCK_JITTER_S: i64 = 2;

/// How often the first full read of the contracts reports how far it got.
pub const STARTUP_PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// How the watcher runs, from the `[lumerin]` config section.
#[derive(Clone)]
pub struct WatcherSettings {
    /// The RPC URL as configured; may hold an API key, so it is never logged.
    pub rpc_url: String,
    /// The RPC URL as logs and status show it.
    pub rpc_shown: String,
    pub factory: Address,
    pub confirmations: u64,
    pub poll_interval: Duration,
    pub reconcile_interval: Duration,
    pub rpc_timeout: Duration,
    /// Least time between two progress updates while the first full read runs
    /// ([`STARTUP_PROGRESS_INTERVAL`]; shorter in tests).
    pub progress_interval: Duration,
}

/// A running contract with a usable destination: a route and its allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractRoute {
    /// The contract's address (`0x…` lowercase): the route's name and the allocation's id.
    pub name: String,
    pub destination: Destination,
    pub allocation: Allocation,
}

/// What the watcher knows after a poll, or, while the first full read of the contracts runs,
/// how far it got: then `snapshot.startup` is set and `routes` is incomplete, so the update is
/// status only and must not change routes or allocations.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainUpdate {
    pub snapshot: ChainSnapshot,
    pub routes: Vec<ContractRoute>,
}

/// A contract of the seller and what its destination decrypted to.
struct Watched {
    read: ContractRead,
    /// The ciphertext `destination` came from (decrypted again only when it changes).
    ciphertext: String,
    destination: Result<Destination, String>,
}

struct Watcher {
    settings: WatcherSettings,
    wallet: WalletKey,
    updates: async_channel::Sender<ChainUpdate>,
    rpc: Option<Rpc>,
    /// Contracts of other sellers (a contract's seller never changes): not read again.
    foreign: HashSet<Address>,
    ours: BTreeMap<Address, Watched>,
    confirmed: Option<u64>,
    head: Option<u64>,
    /// Chain time minus wall-clock time at the last poll (seconds).
    clock_offset: i64,
    last_reconcile: Option<Instant>,
    synced_at: Option<u64>,
    stale_since: Option<u64>,
    last_error: Option<String>,
    reconciled_at: Option<u64>,
    /// Until the first full read of the contracts is complete: how far it got.
    startup: Option<ReadProgress>,
    /// When the last progress update was sent.
    progress_sent: Option<Instant>,
}

/// Starts the watcher; it sends a [`ChainUpdate`] after every poll until shutdown or until the
/// receiver is gone, and progress updates at most every `progress_interval` during the first
/// full read of the contracts (dropped, not waited for, when the receiver is busy).
pub fn spawn_watcher(
    settings: WatcherSettings,
    wallet: WalletKey,
    updates: async_channel::Sender<ChainUpdate>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let span = info_span!("chain", rpc = %settings.rpc_shown);
    let mut watcher = Watcher {
        settings,
        wallet,
        updates,
        rpc: None,
        foreign: HashSet::new(),
        ours: BTreeMap::new(),
        confirmed: None,
        head: None,
        clock_offset: 0,
        last_reconcile: None,
        synced_at: None,
        stale_since: None,
        last_error: None,
        reconciled_at: None,
        startup: Some(ReadProgress::default()),
        progress_sent: None,
    };
    tokio::spawn(
        async move {
            info!(seller = %watcher.wallet.address(), factory = %watcher.settings.factory, "watching the seller's contracts");
            loop {
                let outcome = tokio::select! {
                    outcome = watcher.poll() => outcome,
                    _ = shutdown.changed() => return,
                };
                watcher.record(outcome);
                tokio::select! {
                    sent = watcher.updates.send(watcher.update()) => if sent.is_err() { return },
                    _ = shutdown.changed() => return,
                }
                tokio::select! {
                    _ = tokio::time::sleep(watcher.settings.poll_interval) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
        .instrument(span),
    )
}

/// A U256 count as u64, saturating (a contract may say anything).
fn saturating_u64(value: U256) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

impl Watcher {
    fn record(&mut self, outcome: Result<(), RpcError>) {
        let now = unix_now();
        match outcome {
            Ok(()) => {
                if let Some(since) = self.stale_since.take() {
                    info!(
                        stale_for_s = now.saturating_sub(since),
                        "chain RPC answers again"
                    );
                }
                self.synced_at = Some(now);
                self.last_error = None;
            }
            Err(error) => {
                if self.stale_since.is_none() {
                    warn!(%error, "chain RPC failed; the last known allocations keep running until their end times");
                    self.stale_since = Some(now);
                }
                self.last_error = Some(error.to_string());
                // Reconnect next time: a WebSocket may be dead, an HTTP endpoint moved.
                self.rpc = None;
                // Logs may have been missed meanwhile.
                self.last_reconcile = None;
            }
        }
    }

    async fn poll(&mut self) -> Result<(), RpcError> {
        if self.rpc.is_none() {
            let s = &self.settings;
            self.rpc = Some(Rpc::connect(&s.rpc_url, &s.rpc_shown, s.rpc_timeout).await?);
        }
        let Some(rpc) = self.rpc.take() else {
            return Ok(());
        };
        let result = self.poll_with(&rpc).await;
        self.rpc = Some(rpc);
        result
    }

    async fn poll_with(&mut self, rpc: &Rpc) -> Result<(), RpcError> {
        let head = rpc.block_number().await?;
        let head_time = rpc.block_time(head).await?;
        // Whole seconds on both sides jitter by one; only a real jump moves the allocations'
        // times (and so makes a new allocation set).
        let offset = head_time as i64 - unix_now() as i64;
        if (offset - self.clock_offset).abs() > CLOCK_JITTER_S {
            self.clock_offset = offset;
        }
        let confirmed = head.saturating_sub(self.settings.confirmations);
        let due = self
            .last_reconcile
            .is_none_or(|at| at.elapsed() >= self.settings.reconcile_interval);
        match self.confirmed {
            Some(last) if !due && confirmed >= last && confirmed - last <= MAX_LOG_RANGE => {
                if confirmed > last && !self.follow_logs(rpc, last + 1, confirmed).await? {
                    self.reconcile(rpc, confirmed).await?;
                }
            }
            _ => self.reconcile(rpc, confirmed).await?,
        }
        self.head = Some(head);
        self.confirmed = Some(confirmed);
        Ok(())
    }

    /// Reads every contract the logs of `from..=to` name; false if a log was removed (a reorg),
    /// which calls for a full reconciliation.
    async fn follow_logs(&mut self, rpc: &Rpc, from: u64, to: u64) -> Result<bool, RpcError> {
        let mut addresses = vec![self.settings.factory];
        addresses.extend(self.ours.keys().copied());
        let logs = rpc.logs(addresses, from, to).await?;
        if logs.iter().any(|log| log.removed) {
            info!(from, to, "a log was removed (reorg): reconciling");
            return Ok(false);
        }
        let mut touched = BTreeMap::new();
        for log in &logs {
            if let Some(contract) = self.contract_named_by(log) {
                touched.insert(contract, ());
            }
        }
        for contract in touched.into_keys() {
            let read = rpc.read_contract(contract, to).await?;
            self.classify(contract, read);
        }
        Ok(true)
    }

    /// The contract a log is about: the emitting contract for our implementations' events (any
    /// of them calls for a fresh read, so they need no decoding), the event's address argument
    /// for the factory's; `None` for other sellers' contracts.
    fn contract_named_by(&self, log: &Log) -> Option<Address> {
        let emitter = log.address();
        if emitter != self.settings.factory {
            return self.ours.contains_key(&emitter).then_some(emitter);
        }
        let topics = log.topics();
        let topic0 = *topics.first()?;
        let contract = if topic0 == CloneFactory::contractDeleteUpdated::SIGNATURE_HASH {
            CloneFactory::contractDeleteUpdated::decode_log_data(log.data())
                .ok()?
                ._address
        } else if [
            CloneFactory::contractCreated::SIGNATURE_HASH,
            CloneFactory::clonefactoryContractPurchased::SIGNATURE_HASH,
            CloneFactory::purchaseInfoUpdated::SIGNATURE_HASH,
        ]
        .contains(&topic0)
        {
            Address::from_word(*topics.get(1)?)
        } else {
            return None;
        };
        (!self.foreign.contains(&contract)).then_some(contract)
    }

    /// Reads the factory's list and every contract not known to be another seller's.
    async fn reconcile(&mut self, rpc: &Rpc, block: u64) -> Result<(), RpcError> {
        let list = rpc.contract_list(self.settings.factory, block).await?;
        let to_read: Vec<Address> = list
            .iter()
            .copied()
            .filter(|c| !self.foreign.contains(c))
            .collect();
        let started = Instant::now();
        let total = to_read.len() as u64;
        self.progress(0, total);
        for (i, &contract) in to_read.iter().enumerate() {
            let read = rpc.read_contract(contract, block).await?;
            self.classify(contract, read);
            if (i + 1) % 100 == 0 {
                info!(read = i + 1, of = to_read.len(), "reconciling contracts");
            }
            self.progress(i as u64 + 1, total);
        }
        // A contract gone from the list was hard-deleted.
        let listed: HashSet<Address> = list.into_iter().collect();
        self.ours.retain(|contract, _| listed.contains(contract));
        if self.last_reconcile.is_none() || to_read.len() >= 100 {
            info!(
                block,
                ours = self.ours.len(),
                read = to_read.len(),
                took_ms = started.elapsed().as_millis() as u64,
                "contracts reconciled"
            );
        }
        self.last_reconcile = Some(Instant::now());
        self.reconciled_at = Some(unix_now());
        // Every contract has been read once: from now on updates are complete.
        self.startup = None;
        Ok(())
    }

    /// During the first full read, records how far it got and tells the node, at most every
    /// `progress_interval`: until then nothing else reaches it, and a large factory takes
    /// minutes. A full queue drops the update; the next one says more anyway.
    fn progress(&mut self, done: u64, total: u64) {
        let Some(startup) = self.startup.as_mut() else {
            return;
        };
        *startup = ReadProgress {
            done,
            total: Some(total),
        };
        let due = self
            .progress_sent
            .is_none_or(|at| at.elapsed() >= self.settings.progress_interval);
        if due {
            self.progress_sent = Some(Instant::now());
            let _ = self.updates.try_send(self.update());
        }
    }

    /// Files a freshly read contract as ours or another seller's, decrypting its destination
    /// when it changed.
    fn classify(&mut self, contract: Address, read: ContractRead) {
        if read.seller != self.wallet.address() {
            self.ours.remove(&contract);
            self.foreign.insert(contract);
            return;
        }
        let ciphertext = read.encrypted_destination.clone();
        let unchanged = self
            .ours
            .get(&contract)
            .is_some_and(|known| known.ciphertext == ciphertext);
        if unchanged {
            if let Some(known) = self.ours.get_mut(&contract) {
                known.read = read;
            }
            return;
        }
        let destination = self.decrypt(contract, &ciphertext);
        self.ours.insert(
            contract,
            Watched {
                read,
                ciphertext,
                destination,
            },
        );
    }

    fn decrypt(&self, contract: Address, ciphertext: &str) -> Result<Destination, String> {
        if ciphertext.trim().is_empty() {
            return Err("no destination set".to_string());
        }
        let result = self
            .wallet
            .decrypt_destination(ciphertext)
            .map_err(|e| format!("cannot decrypt the destination: {e}"))
            .and_then(|url| {
                Destination::parse(&url).map_err(|e| format!("unusable destination: {e}"))
            });
        match &result {
            Ok(destination) => {
                info!(contract = %contract, destination = %destination.redacted(), "contract destination")
            }
            Err(reason) => {
                warn!(contract = %contract, %reason, "contract destination invalid; its hashrate stays on the default route")
            }
        }
        result
    }

    /// Chain time `t` on the node's clock.
    fn wall_time(&self, t: u64) -> u64 {
        (t as i64).saturating_sub(self.clock_offset).max(0) as u64
    }

    fn update(&self) -> ChainUpdate {
        let mut contracts = Vec::with_capacity(self.ours.len());
        let mut routes = Vec::new();
        for (address, watched) in &self.ours {
            let read = &watched.read;
            let name = format!("{address:#x}");
            let started_at = saturating_u64(read.started_at);
            let length_s = saturating_u64(read.length_s);
            let speed_hs = f64::from(read.speed_hs);
            let (destination, invalid) = match (&watched.destination, read.running) {
                (Ok(d), true) => (Some(d.redacted()), None),
                (Err(reason), true) => (None, Some(reason.clone())),
                _ => (None, None),
            };
            contracts.push(ContractSnapshot {
                address: name.clone(),
                phase: if read.running {
                    ContractPhase::Running
                } else {
                    ContractPhase::Available
                },
                deleted: read.deleted,
                speed_hs,
                length_s,
                started_at,
                buyer: format!("{:#x}", read.buyer),
                destination,
                invalid,
            });
            let (true, Ok(destination)) = (read.running, &watched.destination) else {
                continue;
            };
            routes.push(ContractRoute {
                name: name.clone(),
                destination: destination.clone(),
                allocation: Allocation {
                    id: name.clone(),
                    route: name,
                    amount: Amount::Hashrate(speed_hs),
                    start: Some(self.wall_time(started_at)),
                    end: Some(self.wall_time(started_at.saturating_add(length_s))),
                    order: started_at,
                },
            });
        }
        ChainUpdate {
            snapshot: ChainSnapshot {
                rpc: self.settings.rpc_shown.clone(),
                factory: format!("{:#x}", self.settings.factory),
                seller: format!("{:#x}", self.wallet.address()),
                head_block: self.head,
                confirmed_block: self.confirmed,
                synced_at_unix: self.synced_at,
                stale_since_unix: self.stale_since,
                last_error: self.last_error.clone(),
                reconciled_at_unix: self.reconciled_at,
                startup: self.startup,
                contracts,
            },
            routes,
        }
    }
}
