//! Node-side variable difficulty for one device (DESIGN.md §5).
//!
//! The node, not the pool, picks each device's difficulty so that every device sends shares at
//! about the configured rate: more shares give tighter hashrate estimates and tighter splits.

use std::time::{Duration, Instant};

/// Limits and goal of the vardiff controller, shared by all devices.
#[derive(Debug, Clone)]
pub struct VardiffConfig {
    pub initial: f64,
    pub minimum: f64,
    pub maximum: f64,
    pub shares_per_minute: f64,
    /// Shortest time between retargets when the rate is only mildly off.
    pub retarget_interval: Duration,
}

/// Largest factor one retarget may move the difficulty by: a device that was given a far too easy
/// difficulty floods shares, so the controller must climb quickly but not overshoot on noise.
const MAX_STEP: f64 = 64.0;
/// Shares needed before a fast (early) retarget, so that a single lucky share does not move it.
const FAST_RETARGET_SHARES: u32 = 4;

/// Vardiff state of one device: the difficulty in force and the share window measured against it.
#[derive(Debug, Clone)]
pub struct Vardiff {
    difficulty: f64,
    window_start: Instant,
    window_shares: u32,
}

impl Vardiff {
    pub fn new(config: &VardiffConfig, now: Instant) -> Self {
        Vardiff {
            difficulty: config.initial.clamp(config.minimum, config.maximum),
            window_start: now,
            window_shares: 0,
        }
    }

    pub fn difficulty(&self) -> f64 {
        self.difficulty
    }

    /// Sets the difficulty outright (e.g. a device's `mining.suggest_difficulty` before it has
    /// sent any share), restarting the measurement window.
    pub fn reset_to(&mut self, config: &VardiffConfig, difficulty: f64, now: Instant) {
        self.difficulty = difficulty.clamp(config.minimum, config.maximum);
        self.window_start = now;
        self.window_shares = 0;
    }

    /// Records one accepted share and returns the new difficulty if it should change now.
    pub fn on_share(&mut self, config: &VardiffConfig, now: Instant) -> Option<f64> {
        self.window_shares = self.window_shares.saturating_add(1);
        self.retarget(config, now)
    }

    /// Periodic check, so a device that stopped finding shares (difficulty far too high) gets
    /// an easier one instead of going silent.
    pub fn on_tick(&mut self, config: &VardiffConfig, now: Instant) -> Option<f64> {
        self.retarget(config, now)
    }

    fn retarget(&mut self, config: &VardiffConfig, now: Instant) -> Option<f64> {
        let elapsed = now
            .saturating_duration_since(self.window_start)
            .as_secs_f64();
        if elapsed <= 0.0 {
            return None;
        }
        let wanted_per_sec = config.shares_per_minute / 60.0;
        let expected = wanted_per_sec * elapsed;
        let observed = self.window_shares as f64;
        let interval = config.retarget_interval.as_secs_f64();

        // Fast path: far too many shares, early; or nothing for long (4 expected shares' time).
        let far_too_many = self.window_shares >= FAST_RETARGET_SHARES && observed > 4.0 * expected;
        let silent = self.window_shares == 0 && expected >= 4.0;
        let mild = elapsed >= interval && {
            let ratio = observed / expected;
            !(0.7..=1.4).contains(&ratio)
        };
        if !(far_too_many || silent || mild) {
            if elapsed >= interval {
                // On target: start a fresh window so the estimate tracks recent behaviour.
                self.window_start = now;
                self.window_shares = 0;
            }
            return None;
        }
        // With no shares, all we know is the rate is well under expectation; step down hard.
        let ratio = if silent { 0.25 } else { observed / expected };
        let factor = ratio.clamp(1.0 / MAX_STEP, MAX_STEP);
        let new_difficulty = (self.difficulty * factor).clamp(config.minimum, config.maximum);
        self.window_start = now;
        self.window_shares = 0;
        if (new_difficulty - self.difficulty).abs() <= f64::EPSILON * self.difficulty {
            return None;
        }
        self.difficulty = new_difficulty;
        Some(new_difficulty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> VardiffConfig {
        VardiffConfig {
            initial: 1.0,
            minimum: 1e-6,
            maximum: 1e9,
            shares_per_minute: 60.0,
            retarget_interval: Duration::from_secs(10),
        }
    }

    /// Drives the controller with a device of `hashrate` H/s, sending shares at the exact
    /// expected rate for the difficulty in force, and returns the difficulty after `secs`.
    fn converge(hashrate: f64, secs: u64) -> f64 {
        let config = config();
        let start = Instant::now();
        let mut vardiff = Vardiff::new(&config, start);
        let mut next_share = 0.0;
        let mut t = 0.0;
        while t < secs as f64 {
            t += 0.05;
            let now = start + Duration::from_secs_f64(t);
            let share_interval = vardiff.difficulty() * 4_294_967_296.0 / hashrate;
            if t >= next_share + share_interval {
                next_share = t;
                vardiff.on_share(&config, now);
            }
            vardiff.on_tick(&config, now);
        }
        vardiff.difficulty()
    }

    #[test]
    fn converges_up_and_down_to_the_share_rate() {
        // 1 share/s wanted: difficulty ≈ hashrate / 2^32.
        for hashrate in [4.0e5, 4.0e7, 4.0e9] {
            let ideal = hashrate / 4_294_967_296.0;
            let got = converge(hashrate, 300);
            assert!(
                (got / ideal) > 0.6 && (got / ideal) < 1.6,
                "hashrate {hashrate}: difficulty {got}, ideal {ideal}"
            );
        }
    }

    #[test]
    fn silence_lowers_difficulty_and_limits_hold() {
        let config = config();
        let start = Instant::now();
        let mut vardiff = Vardiff::new(&config, start);
        let lowered = vardiff.on_tick(&config, start + Duration::from_secs(5));
        assert_eq!(lowered, Some(0.25));
        let mut now = start + Duration::from_secs(5);
        for _ in 0..100 {
            now += Duration::from_secs(5);
            vardiff.on_tick(&config, now);
        }
        assert_eq!(vardiff.difficulty(), config.minimum);
    }

    #[test]
    fn steady_on_target_rate_does_not_retarget() {
        let config = config();
        let start = Instant::now();
        let mut vardiff = Vardiff::new(&config, start);
        for second in 1..=120u64 {
            let changed = vardiff.on_share(&config, start + Duration::from_secs(second));
            assert_eq!(changed, None, "second {second}");
        }
    }
}
