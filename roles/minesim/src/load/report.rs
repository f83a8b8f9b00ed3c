//! The load run's report: the figures, as JSON for scripts and as text for people.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::connection::ConnectionRecord;
use super::measure::Percentiles;
use super::process::ProcessSample;
use super::{Counters, LoadConfig};

/// What a load run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    pub target: String,
    pub connections: usize,
    pub idle: usize,
    /// Connections that were subscribed, authorized and holding a job.
    pub ready: usize,
    /// From the first connect until the last connection was ready; `None` unless all were.
    pub all_ready_s: Option<f64>,
    /// When each connection was ready, from the first connect.
    pub ready_after: Percentiles,
    /// The measuring window.
    pub window_s: f64,
    pub submitted: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Submits never answered (given up on or still pending at the end).
    pub unanswered: u64,
    /// Shares not submitted because no nonce met the proxy's target in time.
    pub grind_failed: u64,
    pub connect_failed: u64,
    /// Connections the proxy closed (or that broke) before the end.
    pub disconnected: u64,
    /// Lines from the proxy that did not parse.
    pub bad_lines: u64,
    pub accepted_per_s: f64,
    pub submit_latency: Percentiles,
    pub blocks: usize,
    /// Per connection and block: from the block's trigger until that connection had it.
    pub fanout: Percentiles,
    /// Per block: until every ready connection had it (`None` for a block some missed).
    pub fanout_all_ms: Vec<Option<f64>>,
    /// (connection, block) pairs where the new prev hash never arrived.
    pub fanout_missing: u64,
    pub sut: Option<SutReport>,
    /// The load generator's own CPU seconds, for judging how much it competed with the proxy.
    pub generator_cpu_s: f64,
    /// Rejection reasons and other problems, counted.
    pub problems: BTreeMap<String, u64>,
}

/// The process under test.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SutReport {
    pub pid: u32,
    /// CPU seconds from the start of measuring to the end of the drain.
    pub cpu_s: f64,
    /// Accepted shares per CPU second over that span; `None` without shares or CPU.
    pub shares_per_cpu_s: Option<f64>,
    /// Before the first connection.
    pub rss_kib_before: u64,
    /// Highest resident set sampled while measuring.
    pub rss_kib_loaded: u64,
    /// `(loaded - before) / ready connections`.
    pub rss_kib_per_conn: Option<f64>,
    /// Peak resident set over the process's life (`VmHWM`).
    pub peak_rss_kib: u64,
}

pub(super) struct Inputs<'a> {
    pub config: &'a LoadConfig,
    pub counters: &'a Counters,
    pub records: &'a [ConnectionRecord],
    pub window: Duration,
    /// When each block was asked for.
    pub triggers: &'a [SystemTime],
    /// Arrivals after this are not counted for the last block.
    pub window_end: SystemTime,
    /// Before connecting, at the window's start, at the drain's end, and the peak RSS sampled.
    pub sut: Option<(ProcessSample, ProcessSample, ProcessSample, u64)>,
    pub generator_cpu: Duration,
    pub problems: BTreeMap<String, u64>,
}

pub(super) fn build(inputs: Inputs<'_>) -> LoadReport {
    let Inputs {
        config,
        counters,
        records,
        window,
        triggers,
        window_end,
        sut,
        generator_cpu,
        problems,
    } = inputs;
    let total = config.connections + config.idle;
    let mut ready_after: Vec<Duration> = records.iter().filter_map(|r| r.ready_after).collect();
    let ready = ready_after.len();
    let ready_after = Percentiles::of(&mut ready_after);
    let mut latencies: Vec<Duration> = records
        .iter()
        .flat_map(|r| r.submit_latencies.iter().copied())
        .collect();
    let (fanout, fanout_all_ms, fanout_missing) = fanout(records, triggers, window_end);
    let accepted = counters.accepted.load(Ordering::Relaxed);
    let sut = config
        .sut_pid
        .zip(sut)
        .map(|(pid, (before, start, end, loaded))| {
            let cpu = end.cpu.saturating_sub(start.cpu).as_secs_f64();
            SutReport {
                pid,
                cpu_s: cpu,
                shares_per_cpu_s: (accepted > 0 && cpu > 0.0).then(|| accepted as f64 / cpu),
                rss_kib_before: before.rss_kib,
                rss_kib_loaded: loaded,
                rss_kib_per_conn: (ready > 0)
                    .then(|| loaded.saturating_sub(before.rss_kib) as f64 / ready as f64),
                peak_rss_kib: end.peak_rss_kib,
            }
        });
    LoadReport {
        target: config.target.to_string(),
        connections: config.connections,
        idle: config.idle,
        ready,
        all_ready_s: (ready == total).then_some(ready_after.max_ms / 1000.0),
        ready_after,
        window_s: window.as_secs_f64(),
        submitted: counters.submitted.load(Ordering::Relaxed),
        accepted,
        rejected: counters.rejected.load(Ordering::Relaxed),
        unanswered: counters.unanswered.load(Ordering::Relaxed),
        grind_failed: counters.grind_failed.load(Ordering::Relaxed),
        connect_failed: counters.connect_failed.load(Ordering::Relaxed),
        disconnected: counters.disconnected.load(Ordering::Relaxed),
        bad_lines: counters.bad_lines.load(Ordering::Relaxed),
        accepted_per_s: accepted as f64 / window.as_secs_f64(),
        submit_latency: Percentiles::of(&mut latencies),
        blocks: triggers.len(),
        fanout,
        fanout_all_ms,
        fanout_missing,
        sut,
        generator_cpu_s: generator_cpu.as_secs_f64(),
        problems,
    }
}

/// For each block, each ready connection's first prev-hash change after its trigger (and
/// before the next trigger): the latency distribution, per-block "everyone has it", and the
/// pairs that never saw it.
fn fanout(
    records: &[ConnectionRecord],
    triggers: &[SystemTime],
    window_end: SystemTime,
) -> (Percentiles, Vec<Option<f64>>, u64) {
    let mut all = Vec::new();
    let mut per_block = Vec::with_capacity(triggers.len());
    let mut missing = 0u64;
    for (k, &sent) in triggers.iter().enumerate() {
        let until = triggers.get(k + 1).copied().unwrap_or(window_end);
        let mut slowest = Duration::ZERO;
        let mut block_missing = false;
        for record in records.iter().filter(|r| r.ready_after.is_some()) {
            let arrival = record
                .prevhash_changes
                .iter()
                .find(|&&at| at >= sent && at < until);
            match arrival {
                Some(&at) => {
                    let latency = at.duration_since(sent).unwrap_or_default();
                    slowest = slowest.max(latency);
                    all.push(latency);
                }
                None => {
                    missing += 1;
                    block_missing = true;
                }
            }
        }
        per_block.push((!block_missing).then_some(slowest.as_secs_f64() * 1000.0));
    }
    (Percentiles::of(&mut all), per_block, missing)
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "load on {}: {} submitting + {} idle connections, {} ready",
            self.target, self.connections, self.idle, self.ready
        )?;
        match self.all_ready_s {
            Some(s) => writeln!(f, "  all ready after     {s:.2} s")?,
            None => writeln!(
                f,
                "  NOT all ready ({} of {})",
                self.ready,
                self.connections + self.idle
            )?,
        }
        writeln!(
            f,
            "  shares              {} submitted, {} accepted, {} rejected, {} unanswered over {:.1} s ({:.1} accepted/s)",
            self.submitted, self.accepted, self.rejected, self.unanswered, self.window_s, self.accepted_per_s
        )?;
        let p = &self.submit_latency;
        writeln!(
            f,
            "  submit latency      p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            p.p50_ms, p.p99_ms, p.max_ms, p.samples
        )?;
        if self.blocks > 0 {
            let p = &self.fanout;
            writeln!(
                f,
                "  new-prevhash fanout p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} blocks ({} missing)",
                p.p50_ms, p.p99_ms, p.max_ms, self.blocks, self.fanout_missing
            )?;
        }
        if let Some(sut) = &self.sut {
            writeln!(
                f,
                "  proxy pid {}       cpu {:.2} s, {} shares/cpu-s, rss {} → {} KiB ({} KiB/conn), peak {} KiB",
                sut.pid,
                sut.cpu_s,
                sut.shares_per_cpu_s.map_or("-".into(), |v| format!("{v:.0}")),
                sut.rss_kib_before,
                sut.rss_kib_loaded,
                sut.rss_kib_per_conn.map_or("-".into(), |v| format!("{v:.1}")),
                sut.peak_rss_kib
            )?;
        }
        writeln!(f, "  generator cpu       {:.2} s", self.generator_cpu_s)?;
        if self.connect_failed + self.disconnected + self.bad_lines + self.grind_failed > 0 {
            writeln!(
                f,
                "  problems            {} connect failures, {} disconnects, {} bad lines, {} shares not ground",
                self.connect_failed, self.disconnected, self.bad_lines, self.grind_failed
            )?;
        }
        for (problem, count) in &self.problems {
            writeln!(f, "    {count} × {problem}")?;
        }
        Ok(())
    }
}
