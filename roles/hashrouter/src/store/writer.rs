//! The node's store writer: a tokio task that batches accounting and owed-work updates and
//! writes them on a blocking thread, so the async runtime never waits on the disk.

use std::time::Duration;

use async_channel::Receiver;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::db::Store;
use super::delta::AccountingDelta;
use super::error::StoreError;
use super::owed::OwedState;
use super::pending::Pending;

/// A request to the store writer.
#[derive(Debug)]
pub enum StoreCommand {
    /// Deltas to add; merged with others of the same key until the next flush. An invalid delta
    /// is logged and dropped (it could never be written).
    Record(Vec<AccountingDelta>),
    /// Owed-work states to save; the last state of each key before a flush wins.
    SaveState(Vec<OwedState>),
    /// Write everything received before this command, then answer: `Ok` once it is committed.
    /// Shutdown sends this and waits for the answer.
    Flush(oneshot::Sender<Result<(), StoreError>>),
}

/// When the writer flushes without being asked.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// How long an update may wait in memory (its worst-case loss on a crash).
    pub flush_interval: Duration,
    /// Pending rows (distinct keys) that trigger a flush before the interval is up.
    pub max_pending: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_secs(1),
            max_pending: 10_000,
        }
    }
}

/// [`spawn_store_writer_with`] with the default [`WriterOptions`].
pub fn spawn_store_writer(
    store: Store,
    rx: Receiver<StoreCommand>,
) -> JoinHandle<Result<Store, StoreError>> {
    spawn_store_writer_with(store, rx, WriterOptions::default())
}

/// Runs `store` behind `rx` until every sender is dropped, then writes what is left and returns
/// the store. Must be called inside a tokio runtime. A failed write is logged, kept in memory
/// and retried at the next flush; the task ends with an error only if a blocking write panics.
pub fn spawn_store_writer_with(
    store: Store,
    rx: Receiver<StoreCommand>,
    options: WriterOptions,
) -> JoinHandle<Result<Store, StoreError>> {
    tokio::spawn(run(store, rx, options))
}

async fn run(
    mut store: Store,
    rx: Receiver<StoreCommand>,
    options: WriterOptions,
) -> Result<Store, StoreError> {
    let mut pending = Pending::default();
    // Armed when the first update after a flush arrives, so an idle writer never wakes.
    let mut flush_at: Option<Instant> = None;
    loop {
        let received = match flush_at {
            Some(at) => match tokio::time::timeout_at(at, rx.recv()).await {
                Ok(received) => received,
                Err(_elapsed) => {
                    let (back, result) = flush(store, &mut pending).await?;
                    store = back;
                    flush_at = rearm(&pending, result.is_err(), options);
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let Ok(command) = received else {
            break; // every sender is gone: the node is shutting down
        };
        match command {
            StoreCommand::Record(deltas) => {
                for delta in deltas {
                    match delta.validate() {
                        Ok(()) => pending.add_delta(delta),
                        Err(e) => tracing::error!("store writer drops a delta: {e}"),
                    }
                }
            }
            StoreCommand::SaveState(states) => {
                for state in states {
                    match state.validate() {
                        Ok(()) => pending.add_state(state),
                        Err(e) => tracing::error!("store writer drops a state: {e}"),
                    }
                }
            }
            StoreCommand::Flush(reply) => {
                let (back, result) = flush(store, &mut pending).await?;
                store = back;
                flush_at = rearm(&pending, result.is_err(), options);
                // The asker may have given up waiting; the data is written either way.
                let _ = reply.send(result);
                continue;
            }
        }
        if pending.len() >= options.max_pending {
            let (back, result) = flush(store, &mut pending).await?;
            store = back;
            flush_at = rearm(&pending, result.is_err(), options);
        } else if flush_at.is_none() && !pending.is_empty() {
            flush_at = Some(Instant::now() + options.flush_interval);
        }
    }
    let (store, result) = flush(store, &mut pending).await?;
    match result {
        Ok(()) => Ok(store),
        Err(e) => {
            tracing::error!(
                "store writer stops with {} unwritten rows: {e}",
                pending.len()
            );
            Err(e)
        }
    }
}

/// The next automatic flush: none while nothing is pending; after a failure, one interval later
/// (a retry, not a tight loop against a broken disk).
fn rearm(pending: &Pending, failed: bool, options: WriterOptions) -> Option<Instant> {
    (failed || !pending.is_empty()).then(|| Instant::now() + options.flush_interval)
}

/// Writes everything pending in one transaction on a blocking thread and hands the store back
/// with the write's result; on failure the items return to `pending`. The outer error means the
/// blocking task died and took the store with it.
async fn flush(
    mut store: Store,
    pending: &mut Pending,
) -> Result<(Store, Result<(), StoreError>), StoreError> {
    if pending.is_empty() {
        return Ok((store, Ok(())));
    }
    let (deltas, states) = pending.take();
    let joined = tokio::task::spawn_blocking(move || {
        let result = store.write(&deltas, &states);
        (store, deltas, states, result)
    })
    .await;
    match joined {
        Ok((store, _, _, Ok(()))) => Ok((store, Ok(()))),
        Ok((store, deltas, states, Err(e))) => {
            tracing::warn!("store write failed, keeping the batch to retry: {e}");
            pending.restore(deltas, states);
            Ok((store, Err(e)))
        }
        Err(join) => {
            tracing::error!("store writer's blocking write died: {join}");
            Err(StoreError::WriterGone(join.to_string()))
        }
    }
}
