//! One route as the core sees it: a destination's upstream channel, the jobs built from it, the
//! shares already seen on its chain tip, and its counters.

use std::collections::VecDeque;
use std::time::Instant;

use super::declarator::Declarator;
use super::jobs::{JobBook, PrevHash, UpstreamJob};
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
    /// Where the jobs devices mine on this route come from now.
    pub source: JobSource,
    /// The pool's own latest work, kept while the route mines other jobs, to fall back to.
    pub pool_work: PoolWork,
    /// For routes with job declaration.
    pub declarator: Option<Declarator>,
    /// Since when the route has had no pool channel (`None` while it has one).
    pub down_since: Option<Instant>,
    /// The endpoint of the current (or last) connection, and whether it is a backup.
    pub endpoint: Option<(String, bool)>,
}

/// Where a route's jobs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSource {
    /// The pool's own jobs on the route's channel.
    Pool,
    /// Jobs the node declared to the pool (job declaration).
    Declared,
    /// The node's own templates paying the solo payout (default route, pool unreachable).
    Solo,
}

impl JobSource {
    pub fn as_str(self) -> &'static str {
        match self {
            JobSource::Pool => "pool",
            JobSource::Declared => "declared",
            JobSource::Solo => "solo",
        }
    }
}

/// Pool jobs kept aside.
const MAX_POOL_JOBS: usize = 4;

/// The pool's latest jobs and tip on a route's channel.
#[derive(Debug, Default)]
pub struct PoolWork {
    jobs: VecDeque<UpstreamJob>,
    prev: Option<PrevHash>,
}

impl PoolWork {
    pub fn on_job(&mut self, job: &UpstreamJob) {
        if self.jobs.len() == MAX_POOL_JOBS {
            self.jobs.pop_front();
        }
        self.jobs.push_back(job.clone());
    }

    pub fn on_prev_hash(&mut self, prev: PrevHash) {
        // Future jobs for other tips will not come into force.
        self.jobs
            .retain(|j| j.min_ntime.is_some() || j.job_id == prev.job_id);
        self.prev = Some(prev);
    }

    /// The job to mine the pool's work with now, and its tip.
    pub fn current(&self) -> Option<(UpstreamJob, PrevHash)> {
        let prev = self.prev?;
        let job = self
            .jobs
            .iter()
            .rev()
            .find(|j| j.min_ntime.is_some() || j.job_id == prev.job_id)?;
        Some((job.clone(), prev))
    }

    /// Whether the pool lets devices roll the version on its latest job.
    pub fn version_rolling_allowed(&self) -> bool {
        self.jobs.back().is_none_or(|j| j.version_rolling_allowed)
    }

    pub fn clear(&mut self) {
        self.jobs.clear();
        self.prev = None;
    }
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
            source: JobSource::Pool,
            pool_work: PoolWork::default(),
            declarator: None,
            down_since: None,
            endpoint: None,
        }
    }
}
