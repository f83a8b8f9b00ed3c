//! The database layout and its migrations, versioned with `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use super::error::StoreError;

/// The schema version this code reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

/// Migration `i` takes a database from version `i` to `i + 1`. Append only: a released step is
/// never edited, because files in the field have already run it.
const MIGRATIONS: &[&str] = &[
    // 1: per-minute accounting and owed-work state. The key puts the minute last so range queries
    // for one route read one contiguous stretch of the table; route-level rows use allocation ''.
    "CREATE TABLE accounting_minute (
        route TEXT NOT NULL,
        allocation TEXT NOT NULL,
        minute INTEGER NOT NULL,
        seen_shares INTEGER NOT NULL DEFAULT 0,
        seen_work REAL NOT NULL DEFAULT 0,
        acked_shares INTEGER NOT NULL DEFAULT 0,
        acked_work REAL NOT NULL DEFAULT 0,
        rejected_shares INTEGER NOT NULL DEFAULT 0,
        stale_shares INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (route, allocation, minute)
    ) WITHOUT ROWID;
    CREATE INDEX accounting_minute_by_minute ON accounting_minute (minute);
    CREATE TABLE owed_state (
        route TEXT NOT NULL,
        allocation TEXT NOT NULL,
        owed_work REAL NOT NULL,
        at_unix INTEGER NOT NULL,
        blob TEXT,
        PRIMARY KEY (route, allocation)
    ) WITHOUT ROWID;",
];

const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// The version a database file is at (0 for a new, empty file).
pub(crate) fn version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Refuses a database from a newer hashrouter; called before anything touches the file.
pub(crate) fn refuse_newer(conn: &Connection, database: &str) -> Result<i64, StoreError> {
    let found = version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            database: database.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Brings the database to [`SCHEMA_VERSION`] in one transaction, so a crash mid-migration leaves
/// the old version intact.
pub(crate) fn migrate(conn: &mut Connection, database: &str) -> Result<(), StoreError> {
    if refuse_newer(conn, database)? == SCHEMA_VERSION {
        return Ok(());
    }
    // Immediate: take the write lock first, then re-read the version, so two processes opening
    // the same new file cannot both run the same step.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from = refuse_newer(&tx, database)?;
    let Ok(from) = usize::try_from(from) else {
        return Err(StoreError::Corrupt(format!(
            "{database} has negative schema version {from}"
        )));
    };
    for step in &MIGRATIONS[from..] {
        tx.execute_batch(step)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}
