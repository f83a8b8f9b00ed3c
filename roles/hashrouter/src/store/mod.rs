//! The accounting store (DESIGN.md §7): per-minute work seen at the node and acknowledged by the
//! pool, per route and per allocation, plus the scheduler's owed-work state, in SQLite (WAL) under
//! the node's data directory so a restart continues where it stopped.
//!
//! - [`Store`]: the synchronous database handle (open, record, save/load state, queries, pruning);
//! - [`spawn_store_writer`]: the tokio task that batches the node's updates onto a blocking thread;
//! - [`AccountingDelta`], [`OwedState`]: what is written; [`Totals`], [`MinuteRow`], [`RouteKey`]:
//!   what queries return.

mod db;
mod delta;
mod error;
mod owed;
mod pending;
mod schema;
mod totals;
mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_writer;

pub use db::Store;
pub use delta::{minute_of, AccountingDelta};
pub use error::StoreError;
pub use owed::OwedState;
pub use schema::SCHEMA_VERSION;
pub use totals::{MinuteRow, RouteKey, Totals};
pub use writer::{spawn_store_writer, spawn_store_writer_with, StoreCommand, WriterOptions};
