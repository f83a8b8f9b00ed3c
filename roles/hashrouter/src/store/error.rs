//! The store's error type.

use std::path::PathBuf;

/// Why a store operation failed. Every variant names the file, key or value at fault so a log
/// line is enough to act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database was written by a newer hashrouter; we refuse rather than misread it.
    #[error(
        "the accounting database {database} has schema version {found}, newer than version \
         {supported} that this hashrouter understands: run a newer hashrouter or move the file aside"
    )]
    NewerSchema {
        database: String,
        found: i64,
        supported: i64,
    },
    /// A read-only handle found a database that has not been migrated to this version yet (only the
    /// writing handle migrates).
    #[error(
        "the accounting database {database} has schema version {found}, older than version \
         {supported}: open it read-write once to migrate it"
    )]
    OlderSchema {
        database: String,
        found: i64,
        supported: i64,
    },
    /// SQLite would not switch the file to write-ahead logging, which concurrent readers and crash
    /// safety rely on.
    #[error("the accounting database {database} stays in journal mode {mode:?} instead of WAL")]
    NotWal { database: String, mode: String },
    /// A delta that can never be written (the whole batch is refused before anything is written).
    #[error("invalid accounting delta for route {route:?} minute {minute}: {reason}")]
    InvalidDelta {
        route: String,
        minute: i64,
        reason: &'static str,
    },
    /// An owed-work state that can never be written (the whole batch is refused).
    #[error("invalid owed-work state for route {route:?} allocation {allocation:?}: {reason}")]
    InvalidState {
        route: String,
        allocation: Option<String>,
        reason: &'static str,
    },
    /// A stored value that this code never writes (a hand-edited or damaged file).
    #[error("the accounting database holds an impossible value: {0}")]
    Corrupt(String),
    /// SQLite itself failed (I/O, disk full, locked for longer than the busy timeout, ...).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The writer task is gone (its channel closed or it panicked), so the command was not run.
    #[error("the store writer is gone: {0}")]
    WriterGone(String),
}
