//! Tests of the store writer task and its pending buffer.

use std::time::Duration;

use tokio::sync::oneshot;

use super::pending::Pending;
use super::*;

fn seen(minute: i64, route: &str, allocation: Option<&str>, shares: u64) -> AccountingDelta {
    AccountingDelta {
        seen_shares: shares,
        seen_work: shares as f64 * 4_294_967_296.0,
        ..AccountingDelta::new(minute, route, allocation.map(str::to_owned))
    }
}

fn owed(route: &str, owed_work: f64, at_unix: i64) -> OwedState {
    OwedState {
        route: route.to_owned(),
        allocation: None,
        owed_work,
        at_unix,
        blob: None,
    }
}

async fn flush(tx: &async_channel::Sender<StoreCommand>) -> Result<(), StoreError> {
    let (reply, answer) = oneshot::channel();
    tx.send(StoreCommand::Flush(reply)).await.unwrap();
    answer.await.unwrap()
}

/// Polls `check` on a read-only handle until it holds, for at most 5 s.
async fn eventually(dir: &std::path::Path, check: impl Fn(&Store) -> bool) -> bool {
    let reader = Store::open_read_only(dir).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if check(&reader) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn flush_puts_everything_received_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (tx, rx) = async_channel::bounded(16);
    // An hour-long interval: only the explicit flush can write.
    let options = WriterOptions {
        flush_interval: Duration::from_secs(3600),
        max_pending: 1000,
    };
    let writer = spawn_store_writer_with(store, rx, options);
    for _ in 0..3 {
        tx.send(StoreCommand::Record(vec![
            seen(7, "a", None, 2),
            seen(7, "a", Some("c1"), 1),
        ]))
        .await
        .unwrap();
    }
    tx.send(StoreCommand::SaveState(vec![owed("a", 1.0, 10)]))
        .await
        .unwrap();
    tx.send(StoreCommand::SaveState(vec![owed("a", 2.0, 20)]))
        .await
        .unwrap();
    let reader = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.totals("a", None, 0, 10).unwrap().seen_shares, 0);

    flush(&tx).await.unwrap();
    assert_eq!(reader.totals("a", None, 0, 10).unwrap().seen_shares, 6);
    assert_eq!(
        reader.totals("a", Some("c1"), 0, 10).unwrap().seen_shares,
        3
    );
    assert_eq!(reader.load_state().unwrap(), vec![owed("a", 2.0, 20)]);

    // Dropping the last sender ends the task, which hands the store back.
    drop(tx);
    let store = writer.await.unwrap().unwrap();
    assert_eq!(store.totals("a", None, 0, 10).unwrap().seen_shares, 6);
}

#[tokio::test]
async fn the_interval_flushes_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (tx, rx) = async_channel::bounded(16);
    let options = WriterOptions {
        flush_interval: Duration::from_millis(20),
        max_pending: 1000,
    };
    let _writer = spawn_store_writer_with(store, rx, options);
    tx.send(StoreCommand::Record(vec![seen(1, "a", None, 5)]))
        .await
        .unwrap();
    assert!(
        eventually(dir.path(), |r| r
            .totals("a", None, 0, 5)
            .unwrap()
            .seen_shares
            == 5)
        .await,
        "written within 5 s without a flush command"
    );
    // Idle, then more: the timer re-arms.
    tx.send(StoreCommand::Record(vec![seen(1, "a", None, 1)]))
        .await
        .unwrap();
    assert!(
        eventually(dir.path(), |r| r
            .totals("a", None, 0, 5)
            .unwrap()
            .seen_shares
            == 6)
        .await
    );
}

#[tokio::test]
async fn enough_pending_rows_flush_before_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (tx, rx) = async_channel::bounded(16);
    let options = WriterOptions {
        flush_interval: Duration::from_secs(3600),
        max_pending: 3,
    };
    let _writer = spawn_store_writer_with(store, rx, options);
    // Two rows pending: below the limit, so nothing is written for an hour.
    tx.send(StoreCommand::Record(vec![
        seen(1, "a", None, 1),
        seen(2, "a", None, 1),
    ]))
    .await
    .unwrap();
    // Same key as before: merged, still two rows.
    tx.send(StoreCommand::Record(vec![seen(1, "a", None, 1)]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reader = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.totals("a", None, 0, 10).unwrap().seen_shares, 0);
    // The third distinct row reaches the limit.
    tx.send(StoreCommand::Record(vec![seen(3, "a", None, 1)]))
        .await
        .unwrap();
    assert!(
        eventually(dir.path(), |r| r
            .totals("a", None, 0, 10)
            .unwrap()
            .seen_shares
            == 4)
        .await
    );
}

#[tokio::test]
async fn closing_the_channel_writes_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (tx, rx) = async_channel::bounded(4);
    let writer = spawn_store_writer_with(
        store,
        rx,
        WriterOptions {
            flush_interval: Duration::from_secs(3600),
            max_pending: 1000,
        },
    );
    tx.send(StoreCommand::Record(vec![seen(1, "a", None, 9)]))
        .await
        .unwrap();
    tx.send(StoreCommand::SaveState(vec![owed("a", -3.0, 60)]))
        .await
        .unwrap();
    drop(tx);
    drop(writer.await.unwrap().unwrap());
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.totals("a", None, 0, 10).unwrap().seen_shares, 9);
    assert_eq!(reopened.load_state().unwrap(), vec![owed("a", -3.0, 60)]);
}

#[tokio::test]
async fn invalid_items_are_dropped_and_the_rest_written() {
    let store = Store::open_in_memory().unwrap();
    let (tx, rx) = async_channel::bounded(4);
    let writer = spawn_store_writer(store, rx);
    let mut bad = seen(1, "a", None, 1);
    bad.seen_work = f64::INFINITY;
    tx.send(StoreCommand::Record(vec![bad, seen(1, "a", None, 4)]))
        .await
        .unwrap();
    tx.send(StoreCommand::SaveState(vec![
        owed("a", f64::NAN, 0),
        owed("b", 1.0, 0),
    ]))
    .await
    .unwrap();
    flush(&tx).await.unwrap();
    drop(tx);
    let store = writer.await.unwrap().unwrap();
    assert_eq!(store.totals("a", None, 0, 10).unwrap().seen_shares, 4);
    assert_eq!(store.load_state().unwrap(), vec![owed("b", 1.0, 0)]);
}

#[test]
fn pending_merges_per_key_and_a_failed_batch_goes_back() {
    let mut pending = Pending::default();
    pending.add_delta(seen(1, "a", None, 1));
    pending.add_delta(seen(1, "a", Some(""), 2)); // the same route-level row
    pending.add_delta(seen(1, "a", Some("x"), 4));
    pending.add_state(owed("a", 1.0, 1));
    pending.add_state(owed("a", 2.0, 2));
    assert_eq!(pending.len(), 3);

    let (deltas, states) = pending.take();
    assert!(pending.is_empty());
    let route_level: u64 = deltas
        .iter()
        .filter(|d| d.allocation.as_deref().unwrap_or("").is_empty())
        .map(|d| d.seen_shares)
        .sum();
    assert_eq!(route_level, 3);
    assert_eq!(states, vec![owed("a", 2.0, 2)]);

    // While that batch was failing, more arrived: deltas add up, the newer state wins.
    pending.add_delta(seen(1, "a", None, 10));
    pending.add_state(owed("a", 3.0, 3));
    pending.restore(deltas, states);
    let (deltas, states) = pending.take();
    let route_level: u64 = deltas
        .iter()
        .filter(|d| d.allocation.is_none())
        .map(|d| d.seen_shares)
        .sum();
    assert_eq!(route_level, 13);
    assert_eq!(deltas.len(), 2);
    assert_eq!(states, vec![owed("a", 3.0, 3)]);
}
