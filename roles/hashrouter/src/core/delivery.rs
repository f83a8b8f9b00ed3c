//! Allocated versus delivered work over recent windows, for the operator: per route, the last
//! hour minute by minute (work the allocations asked for, work the node saw from devices, work
//! the pool acknowledged), and per allocation, its running totals.

use std::collections::VecDeque;

/// Completed minutes kept per route: the longest window shown is an hour.
pub const HISTORY_MINUTES: usize = 60;

/// Work over a span of time, in hashes (difficulty × 2^32), and how long the span was.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DeliveryWindow {
    /// Seconds the node was running in the span (less than the window after a start).
    pub seconds: f64,
    /// The integral of the route's (or allocation's) target rate over the span.
    pub allocated_work: f64,
    /// Work of the valid shares the node saw from devices.
    pub seen_work: f64,
    /// Work the pool acknowledged.
    pub acked_work: f64,
}

impl DeliveryWindow {
    fn add(&mut self, other: &DeliveryWindow) {
        self.seconds += other.seconds;
        self.allocated_work += other.allocated_work;
        self.seen_work += other.seen_work;
        self.acked_work += other.acked_work;
    }

    /// The same span with its work multiplied by `share` (an allocation's part of its route).
    pub fn scaled(self, share: f64) -> DeliveryWindow {
        DeliveryWindow {
            seconds: self.seconds,
            allocated_work: self.allocated_work * share,
            seen_work: self.seen_work * share,
            acked_work: self.acked_work * share,
        }
    }

    fn rate(&self, work: f64) -> f64 {
        if self.seconds > 0.0 {
            work / self.seconds
        } else {
            0.0
        }
    }

    /// Mean allocated rate over the span, H/s.
    pub fn allocated_hs(&self) -> f64 {
        self.rate(self.allocated_work)
    }

    /// Mean rate the node saw, H/s.
    pub fn seen_hs(&self) -> f64 {
        self.rate(self.seen_work)
    }

    /// Mean rate the pool acknowledged, H/s.
    pub fn acked_hs(&self) -> f64 {
        self.rate(self.acked_work)
    }
}

/// One route's last [`HISTORY_MINUTES`] completed minutes and the minute in progress.
#[derive(Debug, Clone, Default)]
pub struct RouteHistory {
    /// Oldest first.
    minutes: VecDeque<DeliveryWindow>,
    current: DeliveryWindow,
}

impl RouteHistory {
    pub fn on_seen(&mut self, work: f64) {
        self.current.seen_work += work;
    }

    pub fn on_acked(&mut self, work: f64) {
        self.current.acked_work += work;
    }

    /// `seconds` passed with the route's target at `target_hs`.
    pub fn on_elapsed(&mut self, seconds: f64, target_hs: f64) {
        self.current.seconds += seconds;
        self.current.allocated_work += target_hs * seconds;
    }

    /// The minute in progress is complete.
    pub fn roll(&mut self) {
        if self.minutes.len() == HISTORY_MINUTES {
            self.minutes.pop_front();
        }
        self.minutes.push_back(std::mem::take(&mut self.current));
    }

    /// The minute in progress and the `minutes - 1` completed before it.
    pub fn window(&self, minutes: usize) -> DeliveryWindow {
        let mut total = self.current;
        for minute in self.minutes.iter().rev().take(minutes.saturating_sub(1)) {
            total.add(minute);
        }
        total
    }

    /// The minute in progress so far.
    pub fn current(&self) -> DeliveryWindow {
        self.current
    }
}

/// An allocation's running totals: what it was delivered since the node (or its store) first
/// saw it, in completed minutes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AllocationTotals {
    pub seen_work: f64,
    pub acked_work: f64,
    /// Since when it has been delivered to (unix seconds): when this node first granted it
    /// hashrate, or the first minute the store has for it.
    pub since_unix: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_minute_in_progress_and_the_ones_before() {
        let mut history = RouteHistory::default();
        for minute in 0..70 {
            history.on_elapsed(60.0, 100.0);
            history.on_seen(minute as f64);
            history.on_acked(1.0);
            history.roll();
        }
        history.on_elapsed(30.0, 100.0);
        history.on_seen(1000.0);
        let ten = history.window(10);
        assert_eq!(ten.seconds, 9.0 * 60.0 + 30.0);
        assert_eq!(ten.allocated_work, 100.0 * ten.seconds);
        // Minutes 61..=69, and the current minute's 1000.
        assert_eq!(ten.seen_work, (61..70).sum::<i32>() as f64 + 1000.0);
        assert_eq!(ten.acked_work, 9.0);
        assert_eq!(ten.allocated_hs(), 100.0);
        // Only 60 completed minutes are kept.
        let hour = history.window(1000);
        assert_eq!(hour.seconds, 60.0 * 60.0 + 30.0);
        assert_eq!(hour.seen_work, (10..70).sum::<i32>() as f64 + 1000.0);
        let half = hour.scaled(0.5);
        assert_eq!(half.seconds, hour.seconds);
        assert_eq!(half.seen_work, hour.seen_work / 2.0);
    }

    #[test]
    fn an_empty_window_has_no_rate() {
        let history = RouteHistory::default();
        assert_eq!(history.window(10).seen_hs(), 0.0);
    }
}
