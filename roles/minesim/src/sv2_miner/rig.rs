//! The SV2 miner's side of the shared grinding threads ([`crate::grind`]): one thread per
//! channel, its target set by the channel (`SetTarget`), found headers queued for submission.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::mpsc::{error::TrySendError, Sender};
use work::Target;

use super::stats::Sv2MinerStats;
use crate::grind::{self, Found, Rig, WorkSlot};

/// Which job a grinding thread works on: echoed with every share it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShareTag {
    /// Connection number, so shares found for a previous connection are dropped.
    pub session: u64,
    pub channel_id: u32,
    pub job_id: u32,
}

/// A share found by a grinding thread.
pub(crate) type FoundShare = Found<ShareTag>;

/// A channel's share target, written by the connection and read by the grinding thread.
#[derive(Debug)]
pub(crate) struct SharedTarget(Mutex<Target>);

impl Default for SharedTarget {
    fn default() -> Self {
        // Nothing is mined before a channel sets its target; until then, accept nothing.
        Self(Mutex::new(Target::from_le_bytes([0; 32])))
    }
}

impl SharedTarget {
    pub fn get(&self) -> Target {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set(&self, target: Target) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = target;
    }
}

/// One grinding thread's handles: the work it mines and the target it checks.
#[derive(Debug, Default, Clone)]
pub(crate) struct Unit {
    pub slot: Arc<WorkSlot<ShareTag>>,
    pub target: Arc<SharedTarget>,
}

/// Starts the grinding thread of `unit`.
pub(crate) fn spawn(
    index: usize,
    unit: &Unit,
    stats: Arc<Sv2MinerStats>,
    shares: Sender<FoundShare>,
    hashrate_cap: f64,
    nonce_range: u64,
) -> std::io::Result<JoinHandle<()>> {
    grind::spawn(
        &format!("sv2-miner-hash-{index}"),
        unit.slot.clone(),
        Sv2Rig {
            target: unit.target.clone(),
            stats,
            shares,
        },
        hashrate_cap,
        nonce_range,
    )
}

struct Sv2Rig {
    target: Arc<SharedTarget>,
    stats: Arc<Sv2MinerStats>,
    shares: Sender<FoundShare>,
}

impl Rig for Sv2Rig {
    type Tag = ShareTag;

    fn target(&self) -> Target {
        self.target.get()
    }

    fn hashed(&self, hashes: u64) {
        self.stats.hashes.fetch_add(hashes, Ordering::Relaxed);
    }

    fn stopping(&self) -> bool {
        self.stats.stopping() || self.shares.is_closed()
    }

    fn found(&self, share: FoundShare) {
        if let Err(TrySendError::Full(_)) = self.shares.try_send(share) {
            tracing::debug!("share queue full, dropping a share");
        }
    }
}
