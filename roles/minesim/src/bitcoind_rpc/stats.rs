//! Counters of the bitcoind shim: which RPC methods its client called, which blocks it took.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Distinct method names remembered; a client inventing more is counted under `"(other)"`.
const MAX_METHOD_NAMES: usize = 256;

/// Live counters; safe to read from any thread at any time.
#[derive(Debug, Default)]
pub struct BitcoindRpcStats {
    calls: Mutex<BTreeMap<String, u64>>,
    unknown: Mutex<BTreeMap<String, u64>>,
    rejected_blocks: Mutex<BTreeMap<String, u64>>,
    accepted_blocks: AtomicU64,
    tip_height: AtomicU64,
    unauthorized: AtomicU64,
}

impl BitcoindRpcStats {
    /// Calls of every method served, by name (batched calls count one each).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.calls).clone()
    }

    /// Calls of one method.
    pub fn calls_of(&self, method: &str) -> u64 {
        lock(&self.calls).get(method).copied().unwrap_or(0)
    }

    /// Calls of methods the shim does not serve (answered "Method not found").
    pub fn unknown_calls(&self) -> BTreeMap<String, u64> {
        lock(&self.unknown).clone()
    }

    /// Blocks `submitblock` accepted (each moved the tip).
    pub fn accepted_blocks(&self) -> u64 {
        self.accepted_blocks.load(Ordering::SeqCst)
    }

    /// Blocks `submitblock` refused, by the reason string it answered.
    pub fn rejected_blocks(&self) -> BTreeMap<String, u64> {
        lock(&self.rejected_blocks).clone()
    }

    /// Height of the block the current template is for.
    pub fn tip_height(&self) -> u64 {
        self.tip_height.load(Ordering::SeqCst)
    }

    /// HTTP requests refused for missing or wrong credentials.
    pub fn unauthorized(&self) -> u64 {
        self.unauthorized.load(Ordering::SeqCst)
    }

    pub(crate) fn called(&self, method: &str, known: bool) {
        let map = if known { &self.calls } else { &self.unknown };
        bump(&mut lock(map), method);
    }

    pub(crate) fn block_accepted(&self) {
        self.accepted_blocks.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn block_rejected(&self, reason: &str) {
        bump(&mut lock(&self.rejected_blocks), reason);
    }

    pub(crate) fn set_tip_height(&self, height: u64) {
        self.tip_height.store(height, Ordering::SeqCst);
    }

    pub(crate) fn refused_credentials(&self) {
        self.unauthorized.fetch_add(1, Ordering::SeqCst);
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    let key = if map.contains_key(key) || map.len() < MAX_METHOD_NAMES {
        key
    } else {
        "(other)"
    };
    *map.entry(key.to_string()).or_default() += 1;
}

fn lock(map: &Mutex<BTreeMap<String, u64>>) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
    // A panic while holding the lock leaves plain counters behind: keep using them.
    map.lock().unwrap_or_else(|p| p.into_inner())
}
