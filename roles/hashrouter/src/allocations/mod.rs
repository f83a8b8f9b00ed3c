//! Where allocations come from, and the validated set the node runs with.
//!
//! - [`static_file`]: `allocations.toml`, validated with errors naming each bad entry;
//! - [`watch`]: reloading that file when it changes or on SIGHUP, without touching the core;
//! - [`AllocationSet`]: one validated snapshot of a source, resolved with
//!   [`contracts::resolve`] into per-route targets.
//!
//! A refused reload never replaces the running set: the caller keeps what it has.

mod error;
mod set;
pub mod static_file;
mod utc_time;
pub mod watch;

pub use error::{AllocationError, Entry, EntryError};
pub use set::AllocationSet;
pub use static_file::{parse, reload};
pub use utc_time::parse_utc;
pub use watch::{spawn_watcher, ReloadOutcome, ReloadRequest, StaticFileSource};
