//! The V1 miner's side of the shared grinding thread ([`crate::grind`]): the target comes from
//! `mining.set_difficulty`, found headers become `mining.submit` shares.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use sv1::Extranonce2;
use tokio::sync::mpsc::{error::TrySendError, Sender};
use work::Target;

use super::job::{JobTag, Share};
use super::stats::MinerStats;
use crate::grind::{self, Found, Rig, WorkSlot};

/// Starts the hashing thread for one miner.
pub(crate) fn spawn(
    slot: Arc<WorkSlot<JobTag>>,
    stats: Arc<MinerStats>,
    shares: Sender<Share>,
    hashrate_cap: f64,
    nonce_range: u64,
) -> std::io::Result<JoinHandle<()>> {
    grind::spawn(
        "v1-miner-hash",
        slot,
        V1Rig { stats, shares },
        hashrate_cap,
        nonce_range,
    )
}

struct V1Rig {
    stats: Arc<MinerStats>,
    shares: Sender<Share>,
}

impl Rig for V1Rig {
    type Tag = JobTag;

    fn target(&self) -> Target {
        // Unset difficulty means 1, as in stratum.
        match self.stats.difficulty() {
            d if d > 0.0 => Target::from_difficulty(d),
            _ => Target::from_difficulty(1.0),
        }
    }

    fn hashed(&self, hashes: u64) {
        self.stats.hashes.fetch_add(hashes, Ordering::Relaxed);
    }

    fn stopping(&self) -> bool {
        self.stats.stopping() || self.shares.is_closed()
    }

    fn found(&self, share: Found<JobTag>) {
        // The connection only publishes jobs whose extranonce2 size SV1 can carry.
        let Ok(extranonce2) = Extranonce2::from_bytes(&share.extranonce) else {
            return;
        };
        let share = Share {
            session: share.tag.session,
            job_id: share.tag.job_id,
            extranonce2,
            ntime: share.ntime,
            nonce: share.nonce,
            version_bits: share.version_bits,
        };
        if let Err(TrySendError::Full(_)) = self.shares.try_send(share) {
            tracing::debug!("share queue full, dropping a share");
        }
    }
}
