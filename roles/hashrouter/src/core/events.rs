//! The operator's event log: what changed in the node's routing and when — upstreams lost and
//! back, failovers to backup endpoints, allocations added, changed or ended, over-subscription,
//! job declaration fallbacks, solo mining, blocks. Bounded: the oldest entries go first.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many events are kept; at a few events an hour in a healthy farm that is days.
pub const EVENT_LOG_CAPACITY: usize = 1000;

/// What kind of change an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A route's upstream channel opened on its primary endpoint.
    UpstreamUp,
    /// A route's upstream channel opened on a backup endpoint (or where the pool redirected).
    Failover,
    /// A route's upstream channel was lost.
    UpstreamDown,
    AllocationAdded,
    AllocationChanged,
    AllocationRemoved,
    /// The allocations ask for more than the farm has, or no longer do.
    Oversubscribed,
    /// A route went back to its pool's jobs after mining declared ones, or declares again.
    JobDeclaration,
    /// The farm started or stopped mining solo.
    Solo,
    /// A share met the network target.
    Block,
}

impl EventKind {
    /// The name used in the API and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::UpstreamUp => "upstream_up",
            EventKind::Failover => "failover",
            EventKind::UpstreamDown => "upstream_down",
            EventKind::AllocationAdded => "allocation_added",
            EventKind::AllocationChanged => "allocation_changed",
            EventKind::AllocationRemoved => "allocation_removed",
            EventKind::Oversubscribed => "oversubscribed",
            EventKind::JobDeclaration => "job_declaration",
            EventKind::Solo => "solo",
            EventKind::Block => "block",
        }
    }
}

/// One entry of the log.
#[derive(Debug, Clone)]
struct Event {
    at: Instant,
    kind: EventKind,
    route: Option<String>,
    message: String,
}

/// One entry as the snapshot gives it: its age rather than an instant, so the shell can put a
/// wall-clock time on it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSnapshot {
    /// Sequence number, increasing; lets a reader ask only for what is new.
    pub seq: u64,
    pub age: Duration,
    pub kind: EventKind,
    pub route: Option<String>,
    pub message: String,
}

/// The last [`EVENT_LOG_CAPACITY`] events, oldest first.
#[derive(Debug, Default)]
pub struct EventLog {
    events: VecDeque<Event>,
    /// Sequence number of `events[0]`.
    first_seq: u64,
}

impl EventLog {
    pub fn push(
        &mut self,
        at: Instant,
        kind: EventKind,
        route: Option<&str>,
        message: impl Into<String>,
    ) {
        if self.events.len() == EVENT_LOG_CAPACITY {
            self.events.pop_front();
            self.first_seq += 1;
        }
        self.events.push_back(Event {
            at,
            kind,
            route: route.map(str::to_string),
            message: message.into(),
        });
    }

    /// Every kept event, newest first.
    pub fn snapshot(&self, now: Instant) -> Vec<EventSnapshot> {
        self.events
            .iter()
            .enumerate()
            .rev()
            .map(|(i, e)| EventSnapshot {
                seq: self.first_seq + i as u64,
                age: now.saturating_duration_since(e.at),
                kind: e.kind,
                route: e.route.clone(),
                message: e.message.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_and_bounded() {
        let start = Instant::now();
        let mut log = EventLog::default();
        for i in 0..EVENT_LOG_CAPACITY + 5 {
            let at = start + Duration::from_secs(i as u64);
            log.push(at, EventKind::Block, Some("r"), format!("event {i}"));
        }
        let now = start + Duration::from_secs(2000);
        let events = log.snapshot(now);
        assert_eq!(events.len(), EVENT_LOG_CAPACITY);
        let newest = EVENT_LOG_CAPACITY + 4;
        assert_eq!(events[0].message, format!("event {newest}"));
        assert_eq!(events[0].seq, newest as u64);
        assert_eq!(events[0].age, Duration::from_secs(2000 - newest as u64));
        assert_eq!(events.last().unwrap().message, "event 5");
        assert_eq!(events.last().unwrap().seq, 5);
    }
}
