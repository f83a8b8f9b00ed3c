//! The handle both simulated miners (SV1 and SV2) return: their live counters and the way to
//! stop them.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Counters that carry the miner's "stopping" flag, so a stop shows in them at once
/// (implemented by [`MinerStats`](crate::v1_miner::MinerStats) and
/// [`Sv2MinerStats`](crate::sv2_miner::Sv2MinerStats)).
pub trait StopFlag {
    /// Marks the miner as stopping.
    fn set_stopping(&self);
}

/// A running miner with counters `S`: read them through [`MinerHandle::stats`], end it with
/// [`MinerHandle::stop`] or [`MinerHandle::shutdown`].
pub struct MinerHandle<S> {
    stats: Arc<S>,
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl<S: StopFlag + Default> MinerHandle<S> {
    /// Spawns the miner's connection task `run(stats, stop)`; it must end once `stop` is
    /// notified.
    pub(crate) fn spawn<F>(run: impl FnOnce(Arc<S>, Arc<Notify>) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stats = Arc::new(S::default());
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(run(stats.clone(), stop.clone()));
        MinerHandle { stats, stop, task }
    }
}

impl<S: StopFlag> MinerHandle<S> {
    /// Live counters, shared with the miner.
    pub fn stats(&self) -> &Arc<S> {
        &self.stats
    }

    /// Asks the miner to disconnect and stop hashing; returns at once.
    pub fn stop(&self) {
        self.stats.set_stopping();
        self.stop.notify_waiters();
        self.stop.notify_one();
    }

    /// Stops the miner and waits until its connection task and hashing threads are gone.
    pub async fn shutdown(self) {
        self.stop();
        let _ = self.task.await;
    }
}
