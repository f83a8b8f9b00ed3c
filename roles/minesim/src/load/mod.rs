//! `minesim load`: a load generator for Stratum V1 proxies. It opens many small V1 devices
//! against the proxy under test, each grinding real shares at a very low difficulty, and
//! measures what a farm operator pays for in a proxy:
//!
//! - how long until every connection is subscribed, authorized and holding a job;
//! - accepted shares per second and each submit's round trip (p50/p99/max);
//! - new-prevhash fan-out: from asking the pool (through its control port,
//!   [`crate::pool::control`]) for a new block until each connection has the `mining.notify`
//!   with the new prev hash;
//! - the proxy's CPU seconds over the measuring window and its memory, from `/proc/PID`.
//!
//! A run goes through [`Phase`]s: connections come up (warm-up), submit while measuring, stop
//! submitting and collect the last answers (drain), then close.

mod cli;
mod connection;
mod measure;
mod notify_scan;
mod process;
mod report;
mod share;
mod stamped;

pub use cli::{run_cli, LoadArgs};
pub use measure::Percentiles;
pub use process::{raise_fd_limit, ProcessError, ProcessSample};
pub use report::{LoadReport, SutReport};
pub use share::{grind, FoundShare, GrindError, MAX_NONCES_PER_SHARE};

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::pool::control::{ControlClient, ControlError};
use connection::ConnectionPlan;

/// Distinct problem descriptions kept for the report (rejection reasons and the like).
const MAX_PROBLEM_KINDS: usize = 32;
/// File descriptors kept free beyond one per connection.
const SPARE_FDS: u64 = 256;

/// Everything a load run is told.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The proxy's Stratum V1 listener.
    pub target: SocketAddr,
    /// Connections submitting `share_rate` shares per second each while measuring.
    pub connections: usize,
    /// Further connections that subscribe, authorize and hold a job, but never submit.
    pub idle: usize,
    pub share_rate: f64,
    /// Length of the measuring phase.
    pub duration: Duration,
    /// Local addresses connections are spread over (round robin); empty: the system's choice.
    pub source_ips: Vec<IpAddr>,
    /// Worker names are `{user}.{index}`.
    pub user: String,
    /// The pool's control port, to trigger `new_blocks` new prev hashes while measuring.
    pub pool_control: Option<SocketAddr>,
    pub new_blocks: u32,
    /// Time between two triggered blocks; the first comes half a spacing into the window.
    pub block_spacing: Duration,
    /// The proxy's process id, for its CPU time and memory.
    pub sut_pid: Option<u32>,
    /// Connections between connect and ready at once.
    pub handshake_concurrency: usize,
    /// Longest wait for every connection to be ready before measuring anyway.
    pub ready_timeout: Duration,
    /// After measuring, how long answers to the last submits are awaited.
    pub drain: Duration,
    /// Nonces tried per share before giving up (the proxy's difficulty is too high).
    pub max_nonces: u32,
}

impl LoadConfig {
    /// `connections` devices at `share_rate` against `target`, for `duration`; nothing else.
    pub fn new(
        target: SocketAddr,
        connections: usize,
        share_rate: f64,
        duration: Duration,
    ) -> Self {
        Self {
            target,
            connections,
            idle: 0,
            share_rate,
            duration,
            source_ips: Vec::new(),
            user: "load".into(),
            pool_control: None,
            new_blocks: 0,
            block_spacing: Duration::from_secs(1),
            sut_pid: None,
            handshake_concurrency: 256,
            ready_timeout: Duration::from_secs(60),
            drain: Duration::from_secs(2),
            max_nonces: MAX_NONCES_PER_SHARE,
        }
    }

    fn validate(&self) -> Result<(), LoadError> {
        let bad = |field: &'static str, why: &'static str| Err(LoadError::Config { field, why });
        if self.connections + self.idle == 0 {
            return bad(
                "connections",
                "at least one connection (submitting or idle) is needed",
            );
        }
        if !(self.share_rate.is_finite() && self.share_rate >= 0.0) {
            return bad("share_rate", "must be a non-negative number");
        }
        if self.duration.is_zero() {
            return bad("duration", "must be positive");
        }
        if self.new_blocks > 0 && self.pool_control.is_none() {
            return bad("new_blocks", "needs the pool's control port (pool_control)");
        }
        if self.new_blocks > 0 && self.block_spacing * self.new_blocks > self.duration {
            return bad(
                "new_blocks",
                "new_blocks × block_spacing must fit in the duration",
            );
        }
        if self.handshake_concurrency == 0 {
            return bad("handshake_concurrency", "must be at least 1");
        }
        if self.max_nonces == 0 {
            return bad("max_nonces", "must be at least 1");
        }
        Ok(())
    }
}

/// Why a load run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid load config: {field} {why}")]
    Config {
        field: &'static str,
        why: &'static str,
    },
    #[error("cannot raise the open-file limit: {0}")]
    FdLimit(std::io::Error),
    #[error("the open-file limit is {limit}, too low for {connections} connections")]
    TooFewFds { limit: u64, connections: usize },
    #[error("the process under test: {0}")]
    Process(#[from] ProcessError),
    #[error("pool control: {0}")]
    Control(#[from] ControlError),
}

/// Where a run is; connections follow it through a watch channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Warmup,
    Measure,
    Drain,
    Stop,
}

/// Live counters every connection adds to.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connected: AtomicU64,
    pub connect_failed: AtomicU64,
    pub ready: AtomicU64,
    pub disconnected: AtomicU64,
    pub submitted: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub unanswered: AtomicU64,
    pub grind_failed: AtomicU64,
    pub hashes: AtomicU64,
    pub bad_lines: AtomicU64,
}

/// What the run shares with its connections.
pub(crate) struct RunShared {
    pub counters: Counters,
    pub phase: watch::Receiver<Phase>,
    pub handshakes: Semaphore,
    pub started: Instant,
    problems: Mutex<BTreeMap<String, u64>>,
}

impl RunShared {
    /// Starts the run's clock now.
    fn new(phase: watch::Receiver<Phase>, handshake_concurrency: usize) -> Self {
        Self {
            counters: Counters::default(),
            phase,
            handshakes: Semaphore::new(handshake_concurrency),
            started: Instant::now(),
            problems: Mutex::default(),
        }
    }

    /// Counts one occurrence of a problem, keeping at most [`MAX_PROBLEM_KINDS`] kinds.
    pub fn note_problem(&self, problem: String) {
        let mut problems = self.problems.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = problems.get_mut(&problem) {
            *count += 1;
        } else if problems.len() < MAX_PROBLEM_KINDS {
            problems.insert(problem, 1);
        }
    }
}

/// Brings one throwaway connection up to ready before the run: a proxy that opens its
/// upstream channel on its first device (translator_sv2 does) is then measured like one that
/// opened it at startup. Gives up quietly after the ready timeout; the run then reports the
/// connections that never got ready.
async fn probe(config: &LoadConfig) {
    let (phase_tx, phase) = watch::channel(Phase::Warmup);
    let shared = Arc::new(RunShared::new(phase, 1));
    let plan = ConnectionPlan {
        target: config.target,
        source_ip: config.source_ips.first().copied(),
        user: format!("{}.probe", config.user),
        share_rate: 0.0,
        first_submit_delay: Duration::ZERO,
        max_nonces: config.max_nonces,
    };
    let task = tokio::spawn(connection::run(plan, shared.clone()));
    let deadline = Instant::now() + config.ready_timeout;
    while shared.counters.ready.load(Ordering::Relaxed) == 0
        && !task.is_finished()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = phase_tx.send(Phase::Stop);
    let _ = task.await;
}

/// Runs the load described by `config` and reports what it measured.
pub async fn run(config: LoadConfig) -> Result<LoadReport, LoadError> {
    config.validate()?;
    let total = config.connections + config.idle;
    let limit = raise_fd_limit(total as u64 + SPARE_FDS).map_err(LoadError::FdLimit)?;
    if limit < total as u64 + 16 {
        return Err(LoadError::TooFewFds {
            limit,
            connections: total,
        });
    }
    let mut control = match config.pool_control {
        Some(addr) if config.new_blocks > 0 => Some(ControlClient::connect(addr).await?),
        _ => None,
    };
    probe(&config).await;
    let sut_before = config.sut_pid.map(ProcessSample::read).transpose()?;
    let generator_before = ProcessSample::read(std::process::id()).ok();

    let (phase_tx, phase) = watch::channel(Phase::Warmup);
    let shared = Arc::new(RunShared::new(phase, config.handshake_concurrency));
    let mut tasks = JoinSet::new();
    for index in 0..total {
        let submitting = index < config.connections;
        let period = match config.share_rate {
            r if r > 0.0 => Duration::from_secs_f64(1.0 / r),
            _ => Duration::ZERO,
        };
        let plan = ConnectionPlan {
            target: config.target,
            source_ip: match config.source_ips.len() {
                0 => None,
                n => config.source_ips.get(index % n).copied(),
            },
            user: format!("{}.{index}", config.user),
            share_rate: if submitting { config.share_rate } else { 0.0 },
            // Evenly spread over one period, so the proxy sees a steady stream.
            first_submit_delay: period.mul_f64(index as f64 / config.connections.max(1) as f64),
            max_nonces: config.max_nonces,
        };
        tasks.spawn(connection::run(plan, shared.clone()));
    }

    // Warm-up: until every connection is ready or has failed, or the timeout.
    let counters = &shared.counters;
    let warmup_deadline = shared.started + config.ready_timeout;
    loop {
        let settled = counters.ready.load(Ordering::Relaxed)
            + counters.connect_failed.load(Ordering::Relaxed)
            + counters.disconnected.load(Ordering::Relaxed);
        if settled >= total as u64 || Instant::now() >= warmup_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A moment for the proxy to finish what the last handshakes started.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Measure.
    let sut_start = config.sut_pid.map(ProcessSample::read).transpose()?;
    let _ = phase_tx.send(Phase::Measure);
    let window_start = Instant::now();
    let window_end = window_start + config.duration;
    let mut triggers = Vec::with_capacity(config.new_blocks as usize);
    let mut next_block = window_start + config.block_spacing / 2;
    let mut peak_rss_in_window = sut_start.map_or(0, |s| s.rss_kib);
    let mut next_rss_sample = window_start;
    loop {
        let now = Instant::now();
        if now >= window_end {
            break;
        }
        if let Some(control) = control.as_mut() {
            if triggers.len() < config.new_blocks as usize && now >= next_block {
                let sent = SystemTime::now();
                control.new_block().await?;
                triggers.push(sent);
                next_block += config.block_spacing;
            }
        }
        if let Some(pid) = config.sut_pid {
            if now >= next_rss_sample {
                if let Ok(sample) = ProcessSample::read(pid) {
                    peak_rss_in_window = peak_rss_in_window.max(sample.rss_kib);
                }
                next_rss_sample = now + Duration::from_millis(250);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = phase_tx.send(Phase::Drain);
    tokio::time::sleep(config.drain).await;
    let sut_end = config.sut_pid.map(ProcessSample::read).transpose()?;
    let _ = phase_tx.send(Phase::Stop);

    let mut records = Vec::with_capacity(total);
    while let Some(joined) = tasks.join_next().await {
        if let Ok(record) = joined {
            records.push(record);
        }
    }
    let generator_after = ProcessSample::read(std::process::id()).ok();
    let generator_cpu = match (generator_before, generator_after) {
        (Some(before), Some(after)) => after.cpu.saturating_sub(before.cpu),
        _ => Duration::ZERO,
    };
    let problems = shared
        .problems
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(report::build(report::Inputs {
        config: &config,
        counters: &shared.counters,
        records: &records,
        window: config.duration,
        triggers: &triggers,
        window_end: SystemTime::now(),
        sut: match (sut_before, sut_start, sut_end) {
            (Some(before), Some(start), Some(end)) => {
                Some((before, start, end, peak_rss_in_window))
            }
            _ => None,
        },
        generator_cpu,
        problems,
    }))
}
