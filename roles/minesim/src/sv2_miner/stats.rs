use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use work::Target;

use crate::miner_handle::StopFlag;

/// One open channel as the miner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSnapshot {
    pub channel_id: u32,
    /// The group the server put the channel in (0: none announced).
    pub group_channel_id: u32,
    /// Whether it is an extended channel (else standard).
    pub extended: bool,
    pub extranonce_prefix: Vec<u8>,
    /// Rollable extranonce bytes (extended channels; 0 for standard ones).
    pub extranonce_size: u16,
    /// The share target set at open or by the last `SetTarget`.
    pub target: Target,
}

/// Counters an SV2 miner updates as it runs; tests read them at any time.
#[derive(Debug, Default)]
pub struct Sv2MinerStats {
    pub shares_submitted: AtomicU64,
    /// Sum of `new_submits_accepted_count` over `SubmitShares.Success` messages.
    pub shares_accepted: AtomicU64,
    /// `SubmitShares.Error` messages received.
    pub shares_rejected: AtomicU64,
    /// Sum of `new_shares_sum` over `SubmitShares.Success` messages.
    pub shares_sum_acknowledged: AtomicU64,
    /// `NewMiningJob` and `NewExtendedMiningJob` messages received.
    pub jobs_received: AtomicU64,
    pub prev_hashes_received: AtomicU64,
    /// Successful connections after the first one.
    pub reconnects: AtomicU64,
    /// `Reconnect` messages obeyed.
    pub reconnect_requests: AtomicU64,
    /// Channels the server closed with `CloseChannel`.
    pub channels_closed: AtomicU64,
    /// Hashes computed since start.
    pub hashes: AtomicU64,
    connected: AtomicBool,
    stopping: AtomicBool,
    rejections: Mutex<HashMap<String, u64>>,
    channels: Mutex<BTreeMap<u32, ChannelSnapshot>>,
    last_error: Mutex<Option<String>>,
}

impl Sv2MinerStats {
    pub fn shares_submitted(&self) -> u64 {
        self.shares_submitted.load(Ordering::Relaxed)
    }
    pub fn shares_accepted(&self) -> u64 {
        self.shares_accepted.load(Ordering::Relaxed)
    }
    pub fn shares_rejected(&self) -> u64 {
        self.shares_rejected.load(Ordering::Relaxed)
    }
    pub fn shares_sum_acknowledged(&self) -> u64 {
        self.shares_sum_acknowledged.load(Ordering::Relaxed)
    }
    pub fn jobs_received(&self) -> u64 {
        self.jobs_received.load(Ordering::Relaxed)
    }
    pub fn prev_hashes_received(&self) -> u64 {
        self.prev_hashes_received.load(Ordering::Relaxed)
    }
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
    pub fn reconnect_requests(&self) -> u64 {
        self.reconnect_requests.load(Ordering::Relaxed)
    }
    pub fn channels_closed(&self) -> u64 {
        self.channels_closed.load(Ordering::Relaxed)
    }
    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    /// Rejected shares by SV2 error code (`stale-share`, `difficulty-too-low`, ...).
    pub fn rejections(&self) -> HashMap<String, u64> {
        lock(&self.rejections).clone()
    }

    /// Rejected shares with one error code.
    pub fn rejected_with(&self, code: &str) -> u64 {
        lock(&self.rejections).get(code).copied().unwrap_or(0)
    }

    /// Whether the miner is connected and past `SetupConnection`.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Open channels, by channel id.
    pub fn channels(&self) -> Vec<ChannelSnapshot> {
        lock(&self.channels).values().cloned().collect()
    }

    /// Ids of the open channels, ascending.
    pub fn channel_ids(&self) -> Vec<u32> {
        lock(&self.channels).keys().copied().collect()
    }

    /// Target of the open channel with the lowest id.
    pub fn target(&self) -> Option<Target> {
        lock(&self.channels).values().next().map(|c| c.target)
    }

    /// Difficulty of [`Sv2MinerStats::target`] (0 with no open channel).
    pub fn difficulty(&self) -> f64 {
        self.target().map(|t| t.difficulty()).unwrap_or(0.0)
    }

    /// The last connection, setup or channel-opening error, as text.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    /// Whether the miner has stopped or is stopping.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }
    pub(crate) fn set_error(&self, error: String) {
        *lock(&self.last_error) = Some(error);
    }
    pub(crate) fn rejected(&self, code: &str) {
        self.shares_rejected.fetch_add(1, Ordering::Relaxed);
        *lock(&self.rejections).entry(code.to_string()).or_default() += 1;
    }
    pub(crate) fn channel_changed(&self, snapshot: ChannelSnapshot) {
        lock(&self.channels).insert(snapshot.channel_id, snapshot);
    }
    pub(crate) fn channel_gone(&self, channel_id: u32) {
        lock(&self.channels).remove(&channel_id);
    }
    pub(crate) fn clear_channels(&self) {
        lock(&self.channels).clear();
    }
}

impl StopFlag for Sv2MinerStats {
    fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
}

// A panic while holding a lock leaves plain data behind: keep using it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
