//! Tests of the synchronous store: upserts, queries, state, persistence, WAL, migrations.

use super::*;

/// Hashes of one share of difficulty `d`: exact in f64 for the small `d` used here, so sums
/// compare exactly.
fn work(d: u32) -> f64 {
    f64::from(d) * 4_294_967_296.0
}

fn delta(
    minute: i64,
    route: &str,
    allocation: Option<&str>,
    shares: u64,
    d: u32,
) -> AccountingDelta {
    AccountingDelta {
        seen_shares: shares,
        seen_work: work(d) * shares as f64,
        acked_shares: shares / 2,
        acked_work: work(d) * (shares / 2) as f64,
        rejected_shares: 1,
        stale_shares: 2,
        ..AccountingDelta::new(minute, route, allocation.map(str::to_owned))
    }
}

fn state(route: &str, allocation: Option<&str>, owed: f64, at: i64) -> OwedState {
    OwedState {
        route: route.to_owned(),
        allocation: allocation.map(str::to_owned),
        owed_work: owed,
        at_unix: at,
        blob: Some(format!(r#"{{"route":"{route}","dwell":12}}"#)),
    }
}

#[test]
fn upserts_add_across_calls_and_keys_stay_apart() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .record(&[
            delta(100, "a", None, 4, 8),
            delta(100, "a", Some("buyer1"), 3, 8),
        ])
        .unwrap();
    store
        .record(&[delta(100, "a", None, 6, 8), delta(101, "a", None, 1, 16)])
        .unwrap();
    // The same key twice in one batch adds as well.
    store
        .record(&[delta(100, "b", None, 1, 1), delta(100, "b", None, 1, 1)])
        .unwrap();

    let minute_100 = store.totals("a", None, 100, 101).unwrap();
    assert_eq!(
        minute_100,
        Totals {
            seen_shares: 10,
            seen_work: work(8) * 10.0,
            acked_shares: 5,
            acked_work: work(8) * 5.0,
            rejected_shares: 2,
            stale_shares: 4,
        }
    );
    let both = store.totals("a", None, 100, 102).unwrap();
    assert_eq!(both.seen_shares, 11);
    assert_eq!(both.seen_work, work(8) * 10.0 + work(16));
    // Allocation rows are their own rows, not folded into the route-level row.
    let alloc = store.totals("a", Some("buyer1"), 0, 1000).unwrap();
    assert_eq!(alloc.seen_shares, 3);
    assert_eq!(store.totals("b", None, 0, 1000).unwrap().seen_shares, 2);
    assert_eq!(store.totals("b", None, 0, 1000).unwrap().rejected_shares, 2);
}

#[test]
fn ranges_are_half_open_and_minutes_come_in_order() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .record(&[
            delta(12, "a", None, 3, 1),
            delta(10, "a", None, 1, 1),
            delta(11, "a", None, 2, 1),
            delta(11, "other", None, 50, 1),
        ])
        .unwrap();
    assert_eq!(store.totals("a", None, 10, 12).unwrap().seen_shares, 3);
    assert_eq!(store.totals("a", None, 12, 10).unwrap(), Totals::default());
    assert_eq!(
        store.totals("nobody", None, 0, 100).unwrap(),
        Totals::default()
    );
    let rows = store.minutes("a", None, 0, 100).unwrap();
    let got: Vec<(i64, u64)> = rows
        .iter()
        .map(|r| (r.minute, r.totals.seen_shares))
        .collect();
    assert_eq!(got, vec![(10, 1), (11, 2), (12, 3)]);
    assert_eq!(store.minutes("a", None, 11, 12).unwrap().len(), 1);
    assert_eq!(store.last_minute().unwrap(), Some(12));
    assert_eq!(store.first_minute("a", None).unwrap(), Some(10));
    assert_eq!(store.first_minute("other", None).unwrap(), Some(11));
    assert_eq!(store.first_minute("a", Some("x")).unwrap(), None);
}

#[test]
fn minute_of_rounds_down() {
    assert_eq!(minute_of(0), 0);
    assert_eq!(minute_of(59), 0);
    assert_eq!(minute_of(60), 1);
    assert_eq!(minute_of(1_700_000_000), 28_333_333);
    assert_eq!(minute_of(-1), -1);
}

#[test]
fn routes_lists_accounting_and_state_keys() {
    let mut store = Store::open_in_memory().unwrap();
    assert!(store.routes().unwrap().is_empty());
    store
        .record(&[
            delta(1, "pool-b", Some("c-7"), 1, 1),
            delta(1, "pool-a", None, 1, 1),
            delta(2, "pool-a", None, 1, 1),
        ])
        .unwrap();
    store.save_state(&[state("pool-c", None, 1.0, 5)]).unwrap();
    let key = |route: &str, allocation: Option<&str>| RouteKey {
        route: route.to_owned(),
        allocation: allocation.map(str::to_owned),
    };
    assert_eq!(
        store.routes().unwrap(),
        vec![
            key("pool-a", None),
            key("pool-b", Some("c-7")),
            key("pool-c", None)
        ]
    );
}

#[test]
fn state_is_replaced_per_key_and_can_be_deleted() {
    let mut store = Store::open_in_memory().unwrap();
    assert!(store.load_state().unwrap().is_empty());
    store
        .save_state(&[
            state("a", None, 1e15, 100),
            state("a", Some("x"), -2.5e12, 100),
            state("b", None, 0.0, 100),
        ])
        .unwrap();
    let mut newer = state("a", None, 7e14, 160);
    newer.blob = None;
    store.save_state(&[newer.clone()]).unwrap();
    let loaded = store.load_state().unwrap();
    assert_eq!(
        loaded,
        vec![
            newer,
            state("a", Some("x"), -2.5e12, 100),
            state("b", None, 0.0, 100)
        ]
    );
    assert!(store.delete_state("a", Some("x")).unwrap());
    assert!(!store.delete_state("a", Some("x")).unwrap());
    assert_eq!(store.load_state().unwrap().len(), 2);
}

#[test]
fn prune_drops_old_minutes_only() {
    let mut store = Store::open_in_memory().unwrap();
    let batch: Vec<_> = (0..10).map(|m| delta(m, "a", None, 1, 1)).collect();
    store.record(&batch).unwrap();
    store.save_state(&[state("a", None, 5.0, 0)]).unwrap();
    assert_eq!(store.prune_before(7).unwrap(), 7);
    assert_eq!(store.totals("a", None, 0, 100).unwrap().seen_shares, 3);
    assert_eq!(store.minutes("a", None, 0, 100).unwrap()[0].minute, 7);
    assert_eq!(store.load_state().unwrap().len(), 1);
    assert_eq!(store.prune_before(7).unwrap(), 0);
}

#[test]
fn an_invalid_item_refuses_the_whole_batch() {
    let mut store = Store::open_in_memory().unwrap();
    let mut bad = delta(1, "a", None, 1, 1);
    bad.seen_work = f64::NAN;
    let err = store.record(&[delta(1, "a", None, 1, 1), bad]).unwrap_err();
    assert!(matches!(err, StoreError::InvalidDelta { .. }), "{err}");
    let mut negative = delta(1, "a", None, 1, 1);
    negative.acked_work = -1.0;
    assert!(store.record(&[negative]).is_err());
    let mut huge = delta(1, "a", None, 1, 1);
    huge.stale_shares = u64::MAX;
    assert!(store.record(&[huge]).is_err());
    assert!(store.record(&[delta(1, "", None, 1, 1)]).is_err());
    let err = store
        .write(
            &[delta(1, "a", None, 1, 1)],
            &[state("a", None, f64::INFINITY, 0)],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidState { .. }), "{err}");
    assert_eq!(store.totals("a", None, 0, 10).unwrap(), Totals::default());
    assert!(store.load_state().unwrap().is_empty());
}

#[test]
fn ten_thousand_deltas_are_one_transaction() {
    let mut store = Store::open_in_memory().unwrap();
    let batch: Vec<_> = (0..10_000)
        .map(|i| delta(i / 4, &format!("r{}", i % 4), None, 1, 1))
        .collect();
    let before = store.connection().total_changes();
    store.record(&batch).unwrap();
    // One row change per delta and nothing else: no per-delta bookkeeping statements.
    assert_eq!(store.connection().total_changes() - before, 10_000);
    assert_eq!(
        store.totals("r3", None, 0, 10_000).unwrap().seen_shares,
        2_500
    );

    // Atomicity shows it is one transaction: if the last delta fails inside SQLite, none of the
    // 9,999 before it remain. (Split into several transactions, the earlier ones would stay.)
    store
        .connection()
        .execute_batch(
            "CREATE TEMP TRIGGER poison BEFORE INSERT ON accounting_minute
             WHEN NEW.route = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned delta'); END;",
        )
        .unwrap();
    let mut batch: Vec<_> = (0..9_999)
        .map(|i| delta(20_000 + i, "fresh", None, 1, 1))
        .collect();
    batch.push(delta(0, "poison", None, 1, 1));
    let err = store.record(&batch).unwrap_err();
    assert!(err.to_string().contains("poisoned delta"), "{err}");
    assert_eq!(
        store.totals("fresh", None, 0, i64::MAX).unwrap(),
        Totals::default()
    );
    assert!(
        store.connection().is_autocommit(),
        "the failed transaction was rolled back"
    );
}

#[test]
fn survives_close_and_reopen_with_identical_totals_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let states = vec![
        state("a", None, 123_456_789.0, 1_700_000_000),
        state("a", Some("contract-1"), -9.5e13, 1_700_000_000),
    ];
    let (totals, minutes, routes) = {
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.path(),
            Some(dir.path().join(Store::FILE_NAME).as_path())
        );
        for m in 0..30 {
            store
                .record(&[
                    delta(m, "a", None, m as u64 + 1, 3),
                    delta(m, "a", Some("contract-1"), 2, 5),
                ])
                .unwrap();
        }
        store.save_state(&states).unwrap();
        (
            store.totals("a", None, 0, 30).unwrap(),
            store.minutes("a", Some("contract-1"), 0, 30).unwrap(),
            store.routes().unwrap(),
        )
    };
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.totals("a", None, 0, 30).unwrap(), totals);
    assert_eq!(totals.seen_shares, (1..=30).sum::<u64>());
    assert_eq!(
        store.minutes("a", Some("contract-1"), 0, 30).unwrap(),
        minutes
    );
    assert_eq!(store.routes().unwrap(), routes);
    assert_eq!(store.load_state().unwrap(), states);
    // And keeps adding from there rather than starting over.
    store.record(&[delta(0, "a", None, 1, 3)]).unwrap();
    assert_eq!(
        store.totals("a", None, 0, 30).unwrap().seen_shares,
        totals.seen_shares + 1
    );
}

#[test]
fn a_committed_batch_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.record(&[delta(5, "a", None, 7, 2)]).unwrap();
    store.save_state(&[state("a", None, 42.0, 300)]).unwrap();
    // The files as a killed process leaves them: the batch is only in the WAL (no checkpoint ran,
    // the connection was never closed), and there is no shared-memory index to trust.
    let db = dir.path().join(Store::FILE_NAME);
    let wal = dir.path().join(format!("{}-wal", Store::FILE_NAME));
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the batch is in the WAL"
    );
    std::fs::copy(&db, crashed.path().join(Store::FILE_NAME)).unwrap();
    std::fs::copy(
        &wal,
        crashed.path().join(format!("{}-wal", Store::FILE_NAME)),
    )
    .unwrap();
    std::mem::forget(store);

    let recovered = Store::open(crashed.path()).unwrap();
    assert_eq!(recovered.totals("a", None, 0, 10).unwrap().seen_shares, 7);
    assert_eq!(
        recovered.load_state().unwrap(),
        vec![state("a", None, 42.0, 300)]
    );
    // The leaked handle's own directory reopens too.
    let again = Store::open(dir.path()).unwrap();
    assert_eq!(again.totals("a", None, 0, 10).unwrap().seen_shares, 7);
}

#[test]
fn readers_and_the_writer_do_not_block_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.record(&[delta(1, "a", None, 1, 1)]).unwrap();

    // A reader in the middle of a read transaction holds a snapshot...
    let raw = rusqlite::Connection::open(dir.path().join(Store::FILE_NAME)).unwrap();
    raw.execute_batch("BEGIN").unwrap();
    let seen: i64 = raw
        .query_row("SELECT SUM(seen_shares) FROM accounting_minute", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(seen, 1);
    // ...and the writer commits anyway (with a rollback journal this would wait for the reader
    // and fail after the busy timeout).
    store.record(&[delta(1, "a", None, 2, 1)]).unwrap();
    let still: i64 = raw
        .query_row("SELECT SUM(seen_shares) FROM accounting_minute", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(still, 1, "the reader keeps its snapshot");
    raw.execute_batch("COMMIT").unwrap();

    // A read-only handle reads while the writer is in the middle of a write transaction.
    let reader = Store::open_read_only(dir.path()).unwrap();
    let writing = rusqlite::Connection::open(dir.path().join(Store::FILE_NAME)).unwrap();
    writing.execute_batch("BEGIN IMMEDIATE").unwrap();
    writing
        .execute(
            "UPDATE accounting_minute SET seen_shares = seen_shares + 100",
            [],
        )
        .unwrap();
    assert_eq!(reader.totals("a", None, 0, 10).unwrap().seen_shares, 3);
    writing.execute_batch("COMMIT").unwrap();
    assert_eq!(reader.totals("a", None, 0, 10).unwrap().seen_shares, 103);

    // The read-only handle cannot write.
    let mut reader = reader;
    assert!(reader.record(&[delta(1, "a", None, 1, 1)]).is_err());
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let path = dir.path().join(Store::FILE_NAME);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(raw);

    let err = Store::open(dir.path()).expect_err("a newer schema is refused");
    match &err {
        StoreError::NewerSchema {
            found, supported, ..
        } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("unexpected error {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("newer") && message.contains(Store::FILE_NAME),
        "{message}"
    );
    assert!(matches!(
        Store::open_read_only(dir.path()),
        Err(StoreError::NewerSchema { .. })
    ));
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION + 1);
}

#[test]
fn a_new_file_is_migrated_to_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    // A read-only handle cannot create or migrate.
    assert!(Store::open_read_only(dir.path()).is_err());
    drop(Store::open(dir.path()).unwrap());
    let raw = rusqlite::Connection::open(dir.path().join(Store::FILE_NAME)).unwrap();
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // A file never migrated (version 0): only the read-write handle migrates, a reader refuses.
    let old = tempfile::tempdir().unwrap();
    drop(rusqlite::Connection::open(old.path().join(Store::FILE_NAME)).unwrap());
    assert!(matches!(
        Store::open_read_only(old.path()),
        Err(StoreError::OlderSchema { found: 0, .. })
    ));
}

#[cfg(unix)]
#[test]
fn the_data_dir_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("state").join("node-1");
    drop(Store::open(&dir).unwrap());
    for d in [&dir, &parent.path().join("state")] {
        let mode = std::fs::metadata(d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
    assert!(dir.join(Store::FILE_NAME).is_file());
}

#[test]
fn an_uncreatable_data_dir_is_a_clear_error() {
    let parent = tempfile::tempdir().unwrap();
    let file = parent.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(file.join("data")).expect_err("cannot create");
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}
