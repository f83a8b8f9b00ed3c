//! The cap on device connections both listeners share, and the open-file limit it is derived
//! from.
//!
//! Every device connection holds a file descriptor. A farm that outgrows the process's limit
//! would otherwise make `accept` fail with EMFILE, and the node would then have no descriptor
//! left for what it needs itself: reconnecting to a pool, writing accounting, answering the API.
//! Refusing devices past a cap set below that limit keeps the node working for the devices it
//! already has, and the refusals are counted and logged so the operator sees why.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

/// Descriptors kept for the node itself (pools, JDS, template provider, chain, store, API
/// clients) when the cap is derived from the open-file limit.
const RESERVED_FDS: u64 = 256;
/// At most one "refused" warning per this period; the rest are counted.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The device connection cap, shared by the SV1 and SV2 listeners.
#[derive(Debug)]
pub struct ConnectionLimit {
    limit: usize,
    slots: Arc<Semaphore>,
    refused: AtomicU64,
    /// When the last refusal was logged, and how many went unlogged since.
    warned: Mutex<(Option<Instant>, u64)>,
}

/// A device connection's place under the cap; the place frees when this drops.
#[derive(Debug)]
pub struct ConnectionSlot {
    _permit: OwnedSemaphorePermit,
}

impl ConnectionLimit {
    pub fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            limit,
            slots: Arc::new(Semaphore::new(limit)),
            refused: AtomicU64::new(0),
            warned: Mutex::new((None, 0)),
        }
    }

    /// A slot for a new connection, or `None` (counted and logged) when the cap is reached.
    pub fn admit(&self) -> Option<ConnectionSlot> {
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => Some(ConnectionSlot { _permit: permit }),
            Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                self.warn_refused();
                None
            }
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Device connections open now.
    pub fn open(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    /// Connections refused at the cap since the node started.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn warn_refused(&self) {
        let Ok(mut warned) = self.warned.lock() else {
            return;
        };
        let (last, unlogged) = &mut *warned;
        *unlogged += 1;
        if last.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        warn!(
            limit = self.limit,
            refused = *unlogged,
            "device connection refused: the node is at its connection limit \
             (limits.max_device_connections, or the open-file limit)"
        );
        *last = Some(Instant::now());
        *unlogged = 0;
    }
}

/// The process's open-file limits after [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit, which is the one enforced.
    pub soft: u64,
    pub hard: u64,
}

impl FdLimit {
    /// The device connection cap this limit allows: the soft limit minus what the node keeps
    /// for itself (a quarter of it when the limit is small).
    pub fn device_budget(&self) -> usize {
        let reserved = RESERVED_FDS.min(self.soft / 4);
        usize::try_from(self.soft.saturating_sub(reserved)).unwrap_or(usize::MAX)
    }
}

/// Raises the soft open-file limit to the hard one. Many systems start services with a soft
/// limit of 1,024, too few for a farm, while allowing far more; this is what the node can do
/// without privileges. Returns the limits in force afterwards.
pub fn raise_fd_limit() -> std::io::Result<FdLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit.rlim_cur = limit.rlim_max;
    }
    Ok(FdLimit {
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_past_the_cap_are_refused_and_counted_until_one_closes() {
        let limit = ConnectionLimit::new(2);
        let first = limit.admit().expect("first slot");
        let _second = limit.admit().expect("second slot");
        assert_eq!(limit.open(), 2);
        assert!(limit.admit().is_none());
        assert!(limit.admit().is_none());
        assert_eq!(limit.refused(), 2);
        drop(first);
        assert_eq!(limit.open(), 1);
        assert!(limit.admit().is_some());
        assert_eq!(limit.refused(), 2);
    }

    #[test]
    fn the_budget_keeps_descriptors_for_the_node() {
        let budget = |soft| FdLimit { soft, hard: soft }.device_budget();
        assert_eq!(budget(1_048_576), 1_048_576 - 256);
        assert_eq!(budget(1_024), 768);
        assert_eq!(budget(100), 75);
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let limit = raise_fd_limit().expect("getrlimit");
        assert_eq!(limit.soft, limit.hard);
    }
}
