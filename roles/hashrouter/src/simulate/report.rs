//! How well a simulated split met its targets: per route and per window (10 minutes, 1 hour),
//! the work delivered (as the node measures it, from shares) against the integral of the target,
//! next to the Poisson floor of that window, 1/√(shares): the error an open-loop split, which
//! sends a fixed set of devices and never looks at their shares, would typically show.

use std::fmt::Write;
use std::time::Duration;

use crate::core::scheduler::RouteId;

/// Window lengths reported.
pub const WINDOWS: [Duration; 2] = [Duration::from_secs(600), Duration::from_secs(3600)];

/// One closed window of one route.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub route: RouteId,
    pub length: Duration,
    pub delivered: f64,
    pub target: f64,
    pub shares: u64,
}

impl Window {
    /// |delivered − target| / target, in percent.
    pub fn error_pct(&self) -> f64 {
        100.0 * (self.delivered - self.target).abs() / self.target
    }

    /// 1/√shares, in percent.
    pub fn floor_pct(&self) -> f64 {
        100.0 / (self.shares.max(1) as f64).sqrt()
    }
}

/// Open windows per route and length, and the closed ones.
#[derive(Debug)]
pub struct Ledger {
    /// `open[length][route]`: (delivered, target, shares) so far.
    open: Vec<Vec<(f64, f64, u64)>>,
    closed: Vec<Window>,
    /// Work delivered to each route over the whole run.
    totals: Vec<f64>,
}

impl Ledger {
    pub fn new(routes: usize) -> Ledger {
        Ledger {
            open: vec![vec![(0.0, 0.0, 0); routes]; WINDOWS.len()],
            closed: Vec::new(),
            totals: vec![0.0; routes],
        }
    }

    pub fn on_share(&mut self, route: RouteId, work: f64) {
        let r = route.0 as usize;
        for open in self.open.iter_mut() {
            open[r].0 += work;
            open[r].2 += 1;
        }
        self.totals[r] += work;
    }

    /// Adds `dt` seconds of each route's target, and closes the windows ending at `elapsed`.
    pub fn on_tick(&mut self, elapsed: Duration, dt: f64, targets: &[f64]) {
        for (w, length) in WINDOWS.iter().enumerate() {
            for (r, target) in targets.iter().enumerate() {
                self.open[w][r].1 += target * dt;
            }
            if elapsed.as_secs().is_multiple_of(length.as_secs()) && elapsed.subsec_nanos() == 0 {
                for (r, (delivered, target, shares)) in self.open[w].iter_mut().enumerate() {
                    // The default route has no target of its own; windows without one are not
                    // a measure of anything.
                    if r != 0 && *target > 0.0 {
                        self.closed.push(Window {
                            route: RouteId(r as u16),
                            length: *length,
                            delivered: *delivered,
                            target: *target,
                            shares: *shares,
                        });
                    }
                    *delivered = 0.0;
                    *target = 0.0;
                    *shares = 0;
                }
            }
        }
    }

    pub fn windows(&self, length: Duration) -> impl Iterator<Item = &Window> {
        self.closed.iter().filter(move |w| w.length == length)
    }

    pub fn total(&self, route: RouteId) -> f64 {
        self.totals[route.0 as usize]
    }
}

/// The figures of the summary line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub max_error_1h: f64,
    /// The largest Poisson floor among the 1-hour windows: what an open-loop split would show
    /// on its least-measured route.
    pub poisson_floor_1h: f64,
}

pub fn summary(ledger: &Ledger) -> Summary {
    let hour = WINDOWS[1];
    let max_error_1h = ledger
        .windows(hour)
        .map(Window::error_pct)
        .fold(0.0, f64::max);
    let poisson_floor_1h = ledger
        .windows(hour)
        .map(Window::floor_pct)
        .fold(0.0, f64::max);
    Summary {
        max_error_1h,
        poisson_floor_1h,
    }
}

/// A per-route table: windows, median and worst error, worst floor, for each window length.
pub fn table(ledger: &Ledger, names: &[String], elapsed: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>14} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "route",
        "delivered",
        "win",
        "10m p50 %",
        "10m max %",
        "10m floor%",
        "1h p50 %",
        "1h max %",
        "1h floor %"
    );
    for (r, name) in names.iter().enumerate() {
        let route = RouteId(r as u16);
        let rate = ledger.total(route) / elapsed.as_secs_f64().max(1.0);
        let mut cols = Vec::new();
        let mut count = 0;
        for length in WINDOWS {
            let mut errors: Vec<f64> = ledger
                .windows(length)
                .filter(|w| w.route == route)
                .map(Window::error_pct)
                .collect();
            let floor = ledger
                .windows(length)
                .filter(|w| w.route == route)
                .map(Window::floor_pct)
                .fold(0.0, f64::max);
            errors.sort_by(f64::total_cmp);
            count = count.max(errors.len());
            let median = errors.get(errors.len() / 2).copied();
            let max = errors.last().copied();
            for value in [median, max, (floor > 0.0).then_some(floor)] {
                cols.push(value.map_or("-".to_string(), |v| format!("{v:.3}")));
            }
        }
        let _ = writeln!(
            out,
            "{:<16} {:>9.2} PH/s {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            name,
            rate / 1e15,
            count,
            cols[0],
            cols[1],
            cols[2],
            cols[3],
            cols[4],
            cols[5]
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_close_on_their_boundaries_with_their_own_sums() {
        let mut ledger = Ledger::new(2);
        for s in 1..=3600u64 {
            // Route 1: target 10 H/s, delivered 11 H/s in the first 10 minutes, 10 after.
            let work = if s <= 600 { 11.0 } else { 10.0 };
            ledger.on_share(RouteId(1), work);
            ledger.on_tick(Duration::from_secs(s), 1.0, &[0.0, 10.0]);
        }
        let tens: Vec<_> = ledger.windows(WINDOWS[0]).collect();
        assert_eq!(tens.len(), 6);
        assert!((tens[0].error_pct() - 10.0).abs() < 1e-9);
        assert!(tens[1].error_pct() < 1e-9);
        let hours: Vec<_> = ledger.windows(WINDOWS[1]).collect();
        assert_eq!(hours.len(), 1);
        assert_eq!(hours[0].shares, 3600);
        assert!((hours[0].floor_pct() - 100.0 / 60.0).abs() < 1e-9);
        let s = summary(&ledger);
        assert!((s.max_error_1h - 100.0 * 600.0 / 36000.0).abs() < 1e-9);
    }
}
