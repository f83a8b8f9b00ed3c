//! The accounting store: one SQLite database in WAL mode under the node's data directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::delta::{
    allocation_from_key, allocation_key, count_from_sql, count_to_sql, AccountingDelta,
};
use super::error::StoreError;
use super::owed::OwedState;
use super::schema;
use super::totals::{MinuteRow, RouteKey, Totals};

/// How long a statement waits for another connection's lock before failing. Writers hold locks
/// for one batch (milliseconds), so this is only reached when something is badly stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const UPSERT_DELTA: &str = "
    INSERT INTO accounting_minute (route, allocation, minute, seen_shares, seen_work,
        acked_shares, acked_work, rejected_shares, stale_shares)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
    ON CONFLICT (route, allocation, minute) DO UPDATE SET
        seen_shares = seen_shares + excluded.seen_shares,
        seen_work = seen_work + excluded.seen_work,
        acked_shares = acked_shares + excluded.acked_shares,
        acked_work = acked_work + excluded.acked_work,
        rejected_shares = rejected_shares + excluded.rejected_shares,
        stale_shares = stale_shares + excluded.stale_shares";

const UPSERT_STATE: &str = "
    INSERT INTO owed_state (route, allocation, owed_work, at_unix, blob)
    VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (route, allocation) DO UPDATE SET
        owed_work = excluded.owed_work, at_unix = excluded.at_unix, blob = excluded.blob";

/// Sums in SQL; `TOTAL` is `SUM` that returns 0.0 instead of NULL over no rows.
const SUM_COLUMNS: &str = "COALESCE(SUM(seen_shares), 0), TOTAL(seen_work),
    COALESCE(SUM(acked_shares), 0), TOTAL(acked_work),
    COALESCE(SUM(rejected_shares), 0), COALESCE(SUM(stale_shares), 0)";

/// Per-minute accounting of every route and allocation, and the scheduler's owed-work state.
/// Synchronous: the node drives it from a blocking thread through
/// [`spawn_store_writer`](super::spawn_store_writer). Readers (API, status) can open their own
/// handle with [`Store::open_read_only`]; WAL lets them read while the writer writes.
pub struct Store {
    conn: Connection,
    /// The database file, or `None` in memory.
    path: Option<PathBuf>,
}

impl Store {
    /// The database's file name inside the data directory.
    pub const FILE_NAME: &'static str = "accounting.sqlite3";

    /// Opens (creating if needed) the store in `dir`, creating `dir` with mode 0700 if it is
    /// missing, and migrates it to the current schema. Refuses a database from a newer version.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        create_private_dir(dir)?;
        let path = dir.join(Self::FILE_NAME);
        let conn = Connection::open(&path)?;
        Self::init(conn, Some(path))
    }

    /// A store that lives only as long as the value (for tests and simulations).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, None)
    }

    /// A second handle on an existing store in `dir` that can only read: for queries from other
    /// threads while the writer owns the read-write handle. Writes through it fail.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = dir.as_ref().join(Self::FILE_NAME);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let database = path.display().to_string();
        let found = schema::refuse_newer(&conn, &database)?;
        if found < schema::SCHEMA_VERSION {
            return Err(StoreError::OlderSchema {
                database,
                found,
                supported: schema::SCHEMA_VERSION,
            });
        }
        Ok(Self {
            conn,
            path: Some(path),
        })
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, StoreError> {
        let database = path
            .as_ref()
            .map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Before anything writes to the file: a newer file is left exactly as it was.
        schema::refuse_newer(&conn, &database)?;
        if path.is_some() {
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::NotWal { database, mode });
            }
        }
        // FULL: a committed batch survives power loss too, at one fsync per batch; the writer
        // batches, so that is about one per flush interval.
        conn.pragma_update(None, "synchronous", "FULL")?;
        schema::migrate(&mut conn, &database)?;
        Ok(Self { conn, path })
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Adds every delta to its minute row, in one transaction: all of the batch or none of it.
    pub fn record(&mut self, batch: &[AccountingDelta]) -> Result<(), StoreError> {
        self.write(batch, &[])
    }

    /// Replaces the owed-work state of each (route, allocation) given, in one transaction; other
    /// keys keep theirs.
    pub fn save_state(&mut self, states: &[OwedState]) -> Result<(), StoreError> {
        self.write(&[], states)
    }

    /// Records deltas and saves states in one transaction, so accounting and owed work on disk
    /// always describe the same moment. Nothing is written if any item is invalid.
    pub fn write(
        &mut self,
        deltas: &[AccountingDelta],
        states: &[OwedState],
    ) -> Result<(), StoreError> {
        for delta in deltas {
            delta.validate()?;
        }
        for state in states {
            state.validate()?;
        }
        if deltas.is_empty() && states.is_empty() {
            return Ok(());
        }
        // Immediate: take the write lock up front; a deferred transaction that upgrades from a
        // read can fail with SQLITE_BUSY without waiting.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut upsert = tx.prepare_cached(UPSERT_DELTA)?;
            for d in deltas {
                upsert.execute(params![
                    d.route,
                    allocation_key(d.allocation.as_deref()),
                    d.minute,
                    count_to_sql(d.seen_shares),
                    d.seen_work,
                    count_to_sql(d.acked_shares),
                    d.acked_work,
                    count_to_sql(d.rejected_shares),
                    count_to_sql(d.stale_shares),
                ])?;
            }
            let mut upsert = tx.prepare_cached(UPSERT_STATE)?;
            for s in states {
                upsert.execute(params![
                    s.route,
                    allocation_key(s.allocation.as_deref()),
                    s.owed_work,
                    s.at_unix,
                    s.blob,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every saved owed-work state, ordered by route then allocation (route-level first).
    pub fn load_state(&self) -> Result<Vec<OwedState>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT route, allocation, owed_work, at_unix, blob FROM owed_state
             ORDER BY route, allocation",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(OwedState {
                route: row.get(0)?,
                allocation: allocation_from_key(row.get(1)?),
                owed_work: row.get(2)?,
                at_unix: row.get(3)?,
                blob: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets the owed-work state of one key (an allocation that ended); true if there was one.
    pub fn delete_state(
        &mut self,
        route: &str,
        allocation: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM owed_state WHERE route = ?1 AND allocation = ?2",
            params![route, allocation_key(allocation)],
        )?;
        Ok(n > 0)
    }

    /// Sums over minutes `from_minute <= m < to_minute` of one route (`allocation` `None`: its
    /// route-level rows) or one allocation of it. Zero when nothing was recorded.
    pub fn totals(
        &self,
        route: &str,
        allocation: Option<&str>,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<Totals, StoreError> {
        let sql = format!(
            "SELECT {SUM_COLUMNS} FROM accounting_minute
             WHERE route = ?1 AND allocation = ?2 AND minute >= ?3 AND minute < ?4"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let raw = stmt.query_row(
            params![route, allocation_key(allocation), from_minute, to_minute],
            RawTotals::from_row(0),
        )?;
        raw.into_totals()
    }

    /// The recorded minutes `from_minute <= m < to_minute` of one route or allocation, in order.
    /// Minutes with nothing recorded are absent.
    pub fn minutes(
        &self,
        route: &str,
        allocation: Option<&str>,
        from_minute: i64,
        to_minute: i64,
    ) -> Result<Vec<MinuteRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT minute, seen_shares, seen_work, acked_shares, acked_work, rejected_shares,
                stale_shares FROM accounting_minute
             WHERE route = ?1 AND allocation = ?2 AND minute >= ?3 AND minute < ?4
             ORDER BY minute",
        )?;
        let rows = stmt.query_map(
            params![route, allocation_key(allocation), from_minute, to_minute],
            |row| Ok((row.get::<_, i64>(0)?, RawTotals::from_row(1)(row)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (minute, raw) = row?;
            out.push(MinuteRow {
                minute,
                totals: raw.into_totals()?,
            });
        }
        Ok(out)
    }

    /// The first minute with an accounting row for one route or allocation.
    pub fn first_minute(
        &self,
        route: &str,
        allocation: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT MIN(minute) FROM accounting_minute WHERE route = ?1 AND allocation = ?2",
                params![route, allocation_key(allocation)],
                |row| row.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Every route and allocation with accounting rows or saved state, sorted.
    pub fn routes(&self) -> Result<Vec<RouteKey>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT route, allocation FROM accounting_minute
             UNION SELECT route, allocation FROM owed_state
             ORDER BY 1, 2",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(RouteKey {
                route: row.get(0)?,
                allocation: allocation_from_key(row.get(1)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes accounting rows of minutes before `minute` (retention); returns how many. Owed-work
    /// state is kept: it is current, not history.
    pub fn prune_before(&mut self, minute: i64) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM accounting_minute WHERE minute < ?1", [minute])?)
    }

    /// The most recent minute with any accounting row, if any (where a restarted node resumes).
    pub fn last_minute(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT MAX(minute) FROM accounting_minute", [], |row| {
                row.get::<_, Option<i64>>(0)
            })
            .optional()?
            .flatten())
    }

    /// The underlying connection, for tests that inspect SQLite directly.
    #[cfg(test)]
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Counter sums as SQLite returns them, before the range checks of [`Totals`].
struct RawTotals([i64; 4], [f64; 2]);

impl RawTotals {
    /// Reads the six counters starting at column `first`, in schema order.
    fn from_row(first: usize) -> impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        move |row| {
            Ok(Self(
                [
                    row.get(first)?,
                    row.get(first + 2)?,
                    row.get(first + 4)?,
                    row.get(first + 5)?,
                ],
                [row.get(first + 1)?, row.get(first + 3)?],
            ))
        }
    }

    fn into_totals(self) -> Result<Totals, StoreError> {
        let Self([seen, acked, rejected, stale], [seen_work, acked_work]) = self;
        Ok(Totals {
            seen_shares: count_from_sql(seen, "seen_shares")?,
            seen_work,
            acked_shares: count_from_sql(acked, "acked_shares")?,
            acked_work,
            rejected_shares: count_from_sql(rejected, "rejected_shares")?,
            stale_shares: count_from_sql(stale, "stale_shares")?,
        })
    }
}

/// Creates the data directory (and missing parents) readable by the node's user only; an
/// existing directory is left as the operator set it.
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| StoreError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}
