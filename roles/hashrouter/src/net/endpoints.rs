//! Which endpoint of a route to try next, and how long to wait first: the primary and its
//! backups in order, each tried at once after a failure until all have failed, then capped
//! exponential backoff. Shared by the SV2 and Stratum V1 upstream clients.

use std::time::Duration;

/// A connection that lived this long resets the backoff to its minimum.
pub const STABLE_CONNECTION: Duration = Duration::from_secs(30);

/// A route's endpoints and its reconnect backoff.
#[derive(Debug, Clone)]
pub struct Endpoints {
    list: Vec<String>,
    index: usize,
    /// The endpoint to try next: one of `list`, or where the pool redirected us.
    address: String,
    /// Failures in a row, across the endpoints: backoff starts once every endpoint failed.
    failures: usize,
    backoff: Duration,
    min: Duration,
    max: Duration,
}

impl Endpoints {
    /// `None` when the route has no endpoint.
    pub fn new(list: Vec<String>, min: Duration, max: Duration) -> Option<Self> {
        let address = list.first()?.clone();
        Some(Endpoints {
            list,
            index: 0,
            address,
            failures: 0,
            backoff: min,
            min,
            max: max.max(min),
        })
    }

    /// Where to connect next.
    pub fn current(&self) -> &str {
        &self.address
    }

    /// The pool told us to go elsewhere: try there next, without backoff.
    pub fn redirect(&mut self, to: String) {
        self.address = to;
        self.backoff = self.min;
        self.failures = 0;
    }

    /// A session that lasted `lived` ended: moves to the next endpoint and returns how long to
    /// wait before connecting (`None`: at once, some endpoint has not been tried since the
    /// last success).
    pub fn session_ended(&mut self, lived: Duration) -> Option<Duration> {
        if lived >= STABLE_CONNECTION {
            self.backoff = self.min;
            self.failures = 0;
        }
        self.failures += 1;
        self.index = (self.index + 1) % self.list.len();
        self.address = self.list[self.index].clone();
        if self.failures < self.list.len() {
            return None;
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(self.max);
        Some(wait)
    }

    /// The longest wait between attempts.
    pub fn max_backoff(&self) -> Duration {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backups_at_once_then_capped_exponential_backoff() {
        let mut e = Endpoints::new(vec!["a:1".into(), "b:2".into()], 100 * MS, 300 * MS).unwrap();
        assert_eq!(e.current(), "a:1");
        assert_eq!(e.session_ended(MS), None);
        assert_eq!(e.current(), "b:2");
        assert_eq!(e.session_ended(MS), Some(100 * MS));
        assert_eq!(e.current(), "a:1");
        assert_eq!(e.session_ended(MS), Some(200 * MS));
        assert_eq!(e.session_ended(MS), Some(300 * MS));
        assert_eq!(e.session_ended(MS), Some(300 * MS));
        // A long-lived connection starts over: the next endpoint at once.
        assert_eq!(e.session_ended(STABLE_CONNECTION), None);
        e.redirect("c:3".into());
        assert_eq!(e.current(), "c:3");
        assert!(Endpoints::new(vec![], MS, MS).is_none());
    }
}
