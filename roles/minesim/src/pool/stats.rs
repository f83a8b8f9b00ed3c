//! Counters tests and demos read while the pool runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// What a pool has seen from one user: the SV2 pool's `user_identity` (the string in the
/// channel open message) or the V1 pool's worker name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserStats {
    pub accepted_shares: u64,
    /// Sum over accepted shares of the difficulty (`work::Target::difficulty`) of the target
    /// each share was validated against: the channel target when its job was sent.
    pub accepted_work: f64,
    /// Rejected shares by SV2 error code (`difficulty-too-low`, `duplicate-share`, ...) or, in
    /// the V1 pool, by [`RejectReason::name`](crate::v1_pool::RejectReason::name).
    pub rejected: HashMap<String, u64>,
    pub blocks_found: u64,
}

impl UserStats {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    pub fn rejected_with(&self, code: &str) -> u64 {
        self.rejected.get(code).copied().unwrap_or(0)
    }
}

/// Pool-wide counters; safe to read from any thread at any time.
#[derive(Debug, Default)]
pub struct PoolStats {
    users: Mutex<HashMap<String, UserStats>>,
    blocks_found: AtomicU64,
    tip_height: AtomicU64,
    open_connections: AtomicUsize,
    open_channels: AtomicUsize,
    custom_jobs_accepted: AtomicU64,
    custom_jobs_refused: Mutex<HashMap<String, u64>>,
    custom_job_shares: AtomicU64,
}

impl PoolStats {
    /// A copy of one user's counters.
    pub fn user(&self, user_identity: &str) -> Option<UserStats> {
        self.lock().get(user_identity).cloned()
    }

    /// A copy of every user's counters.
    pub fn users(&self) -> HashMap<String, UserStats> {
        self.lock().clone()
    }

    /// Blocks found by shares since the pool started.
    pub fn blocks_found(&self) -> u64 {
        self.blocks_found.load(Ordering::SeqCst)
    }

    /// Height of the block currently being mined.
    pub fn tip_height(&self) -> u64 {
        self.tip_height.load(Ordering::SeqCst)
    }

    /// Connections past the handshake, not yet closed.
    pub fn open_connections(&self) -> usize {
        self.open_connections.load(Ordering::SeqCst)
    }

    /// Channels open across all connections.
    pub fn open_channels(&self) -> usize {
        self.open_channels.load(Ordering::SeqCst)
    }

    /// `SetCustomMiningJob.Success` sent.
    pub fn custom_jobs_accepted(&self) -> u64 {
        self.custom_jobs_accepted.load(Ordering::SeqCst)
    }

    /// `SetCustomMiningJob.Error` sent, whatever the code.
    pub fn custom_jobs_refused(&self) -> u64 {
        self.refused_lock().values().sum()
    }

    /// `SetCustomMiningJob.Error` sent with `code` (`invalid-mining-job-token`, ...).
    pub fn custom_jobs_refused_with(&self, code: &str) -> u64 {
        self.refused_lock().get(code).copied().unwrap_or(0)
    }

    /// Shares accepted on custom jobs (also counted in their user's [`UserStats`]).
    pub fn custom_job_shares(&self) -> u64 {
        self.custom_job_shares.load(Ordering::SeqCst)
    }

    pub(crate) fn custom_job_accepted(&self) {
        self.custom_jobs_accepted.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn custom_job_refused(&self, code: &str) {
        *self.refused_lock().entry(code.to_string()).or_default() += 1;
    }

    pub(crate) fn custom_job_share(&self) {
        self.custom_job_shares.fetch_add(1, Ordering::SeqCst);
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

    pub(crate) fn share_rejected(&self, user: &str, code: &str) {
        let mut users = self.lock();
        let u = users.entry(user.to_string()).or_default();
        *u.rejected.entry(code.to_string()).or_default() += 1;
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

    pub(crate) fn channel_opened(&self) {
        self.open_channels.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn channels_closed(&self, n: usize) {
        self.open_channels.fetch_sub(n, Ordering::SeqCst);
    }

    fn refused_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.custom_jobs_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, UserStats>> {
        // A panic while holding the lock leaves plain counters behind: keep using them.
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }
}
