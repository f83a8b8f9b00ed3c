//! The V1 pool's simple vardiff: count accepted shares over a window, scale the difficulty by
//! how far the rate is from the wanted one (at most 4x per step), ignore small deviations.

use std::time::Instant;

use super::config::V1Vardiff;

/// Deviations of the share rate smaller than this fraction do not change the difficulty.
const DEADBAND: f64 = 0.25;
/// Largest change per retarget, either way.
const MAX_STEP: f64 = 4.0;

/// One connection's share-rate window.
#[derive(Debug)]
pub(crate) struct Vardiff {
    config: V1Vardiff,
    since: Instant,
    accepted: u64,
}

impl Vardiff {
    pub fn new(config: V1Vardiff, now: Instant) -> Self {
        Self {
            config,
            since: now,
            accepted: 0,
        }
    }

    pub fn share_accepted(&mut self) {
        self.accepted += 1;
    }

    /// When a window is over: starts the next one and returns the new difficulty if it should
    /// change from `current`.
    pub fn retarget(&mut self, current: f64, now: Instant) -> Option<f64> {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < self.config.retarget {
            return None;
        }
        let rate = self.accepted as f64 / (elapsed.as_secs_f64() / 60.0);
        self.since = now;
        self.accepted = 0;
        let factor = if rate == 0.0 {
            // No share at all says little about how far off we are: halve and look again.
            0.5
        } else {
            (rate / self.config.shares_per_minute).clamp(1.0 / MAX_STEP, MAX_STEP)
        };
        if (factor - 1.0).abs() < DEADBAND {
            return None;
        }
        let next = (current * factor).clamp(self.config.min_difficulty, self.config.max_difficulty);
        (next != current).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> V1Vardiff {
        V1Vardiff {
            shares_per_minute: 60.0,
            retarget: Duration::from_secs(10),
            min_difficulty: 0.001,
            max_difficulty: 100.0,
        }
    }

    #[test]
    fn steers_towards_the_wanted_rate_within_bounds() {
        let t0 = Instant::now();
        let mut v = Vardiff::new(config(), t0);
        for _ in 0..20 {
            v.share_accepted();
        }
        assert_eq!(
            v.retarget(1.0, t0 + Duration::from_secs(5)),
            None,
            "not due"
        );
        // 20 shares in 10 s = 120/min: twice too many.
        assert_eq!(v.retarget(1.0, t0 + Duration::from_secs(10)), Some(2.0));
        // 100 shares in the next 10 s = 600/min: capped at 4x.
        for _ in 0..100 {
            v.share_accepted();
        }
        assert_eq!(v.retarget(2.0, t0 + Duration::from_secs(20)), Some(8.0));
        // 11 in 10 s is within the deadband.
        for _ in 0..11 {
            v.share_accepted();
        }
        assert_eq!(v.retarget(8.0, t0 + Duration::from_secs(30)), None);
        // Nothing at all: halve, but never below the minimum.
        assert_eq!(
            v.retarget(0.0015, t0 + Duration::from_secs(40)),
            Some(0.001)
        );
        assert_eq!(v.retarget(0.001, t0 + Duration::from_secs(50)), None);
    }
}
