//! One route as the core sees it: a destination's upstream channel, the jobs built from it, the
//! shares already seen on its chain tip, and its counters.

use std::time::Instant;

use super::jobs::JobBook;
use super::share::SeenShares;
use super::upstream::{UpstreamChannel, UpstreamCounters};

/// The upstream side of one route.
#[derive(Debug)]
pub struct Route {
    /// As configured (`default` for the seller's own pool), or a contract's address.
    pub name: String,
    pub channel: Option<UpstreamChannel>,
    pub jobs: JobBook,
    /// Incremented per upstream channel; jobs of older epochs cannot be forwarded.
    pub epoch: u64,
    pub counters: UpstreamCounters,
    /// Why the upstream is down, until a channel opens again.
    pub error: Option<String>,
    /// Hashes of shares accepted on the route's current tip, to refuse duplicates.
    pub seen: SeenShares,
    /// When a route added while running (a contract's destination) was retired; its slot can
    /// be reused later.
    pub retired_at: Option<Instant>,
}

impl Route {
    pub fn new(index: u8, name: String) -> Route {
        Route {
            name,
            channel: None,
            jobs: JobBook::new(index),
            epoch: 0,
            counters: UpstreamCounters::default(),
            error: None,
            seen: SeenShares::default(),
            retired_at: None,
        }
    }
}
