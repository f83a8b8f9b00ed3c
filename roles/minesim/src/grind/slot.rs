use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::Work;

/// The work a grinding thread mines, swapped by the protocol side and polled by the thread
/// between batches (the generation number makes the poll a single atomic load).
#[derive(Debug)]
pub(crate) struct WorkSlot<T> {
    current: Mutex<Option<Arc<Work<T>>>>,
    generation: AtomicU64,
}

impl<T> Default for WorkSlot<T> {
    fn default() -> Self {
        Self {
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }
}

impl<T> WorkSlot<T> {
    /// Replaces the work (`None`: idle). The thread drops the old work within one batch.
    pub fn publish(&self, work: Option<Work<T>>) {
        if let Ok(mut slot) = self.current.lock() {
            *slot = work.map(Arc::new);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn current(&self) -> Option<Arc<Work<T>>> {
        self.current.lock().ok().and_then(|slot| slot.clone())
    }
}
