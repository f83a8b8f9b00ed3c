//! Counters tests and demos read while the V1 pool runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::pool::UserStats;

/// Pool-wide counters, per worker name (the `mining.submit` user); safe to read from any
/// thread at any time. Rejections are keyed by [`RejectReason::name`](super::RejectReason).
#[derive(Debug, Default)]
pub struct V1PoolStats {
    users: Mutex<HashMap<String, UserStats>>,
    blocks_found: AtomicU64,
    tip_height: AtomicU64,
    open_connections: AtomicUsize,
    authorizations: AtomicU64,
    /// Lumerin contracts announced in `mining.configure`, in order (bounded).
    contracts: Mutex<Vec<String>>,
}

/// Most announced contracts remembered.
const MAX_CONTRACTS: usize = 1024;

impl V1PoolStats {
    /// A copy of one worker's counters.
    pub fn user(&self, user: &str) -> Option<UserStats> {
        self.lock().get(user).cloned()
    }

    /// A copy of every worker's counters.
    pub fn users(&self) -> HashMap<String, UserStats> {
        self.lock().clone()
    }

    /// Accepted shares over all workers.
    pub fn accepted_shares(&self) -> u64 {
        self.lock().values().map(|u| u.accepted_shares).sum()
    }

    /// Blocks found by shares since the pool started.
    pub fn blocks_found(&self) -> u64 {
        self.blocks_found.load(Ordering::SeqCst)
    }

    /// Height of the block currently being mined.
    pub fn tip_height(&self) -> u64 {
        self.tip_height.load(Ordering::SeqCst)
    }

    /// TCP connections not yet closed.
    pub fn open_connections(&self) -> usize {
        self.open_connections.load(Ordering::SeqCst)
    }

    /// Lumerin contract addresses announced as `lmr.contract-address`, oldest first.
    pub fn announced_contracts(&self) -> Vec<String> {
        self.contracts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `mining.authorize` requests answered (all are granted).
    pub fn authorizations(&self) -> u64 {
        self.authorizations.load(Ordering::SeqCst)
    }

    pub(crate) fn share_accepted(&self, user: &str, difficulty: f64, block: bool) {
        let mut users = self.lock();
        let u = users.entry(user.to_string()).or_default();
        u.accepted_shares += 1;
        u.accepted_work += difficulty;
        if block {
            u.blocks_found += 1;
            self.blocks_found.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn share_rejected(&self, user: &str, reason: &str) {
        let mut users = self.lock();
        let u = users.entry(user.to_string()).or_default();
        *u.rejected.entry(reason.to_string()).or_default() += 1;
    }

    pub(crate) fn contract_announced(&self, address: String) {
        let mut contracts = self.contracts.lock().unwrap_or_else(|p| p.into_inner());
        if contracts.len() < MAX_CONTRACTS {
            contracts.push(address);
        }
    }

    pub(crate) fn authorized(&self) {
        self.authorizations.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn set_tip_height(&self, height: u64) {
        self.tip_height.store(height, Ordering::SeqCst);
    }

    pub(crate) fn connection_opened(&self) {
        self.open_connections.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, UserStats>> {
        // A panic while holding the lock leaves plain counters behind: keep using them.
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }
}
