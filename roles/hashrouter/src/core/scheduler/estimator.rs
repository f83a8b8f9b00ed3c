//! A device's hashrate, estimated from the work of its accepted shares.
//!
//! Shares arrive as a Poisson process, so the estimate is noisy: it uses all work since the
//! device connected until that spans one half-life, then an exponentially weighted rate, which
//! follows a device whose speed changes (throttling, a board failing) within a few half-lives.

use std::time::{Duration, Instant};

/// Hashrate estimate of one device.
#[derive(Debug, Clone)]
pub struct HashrateEstimator {
    started: Instant,
    /// Work (hashes) and time (seconds) both decay with the same half-life; their ratio is the
    /// rate.
    work: f64,
    weight: f64,
    last: Instant,
    shares: u64,
}

impl HashrateEstimator {
    pub fn new(now: Instant) -> Self {
        HashrateEstimator {
            started: now,
            work: 0.0,
            weight: 0.0,
            last: now,
            shares: 0,
        }
    }

    /// Moves the window to `now`: elapsed time counts as observed, older observations decay.
    fn advance(&mut self, now: Instant, half_life: Duration) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        if dt <= 0.0 {
            return;
        }
        let decay = (-dt * std::f64::consts::LN_2 / half_life.as_secs_f64()).exp();
        // The weight gained over dt of continuous observation, decayed to now.
        let gained = (1.0 - decay) * half_life.as_secs_f64() / std::f64::consts::LN_2;
        self.work *= decay;
        self.weight = self.weight * decay + gained;
        self.last = now;
    }

    /// Credits one accepted share of `work` hashes.
    pub fn on_share(&mut self, work: f64, now: Instant, half_life: Duration) {
        self.advance(now, half_life);
        self.work += work;
        self.shares += 1;
    }

    /// H/s; 0 before any share.
    pub fn hashrate(&mut self, now: Instant, half_life: Duration) -> f64 {
        self.advance(now, half_life);
        if self.weight <= 0.0 {
            return 0.0;
        }
        self.work / self.weight
    }

    /// Accepted shares so far.
    pub fn shares(&self) -> u64 {
        self.shares
    }

    /// How long the device has been measured.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_shares_give_the_true_rate() {
        let half_life = Duration::from_secs(600);
        let t0 = Instant::now();
        let mut e = HashrateEstimator::new(t0);
        // 1e12 H/s with a share of 1e13 hashes every 10 s, for an hour.
        for i in 1..=360 {
            e.on_share(1e13, t0 + Duration::from_secs(10 * i), half_life);
        }
        let rate = e.hashrate(t0 + Duration::from_secs(3600), half_life);
        assert!((rate / 1e12 - 1.0).abs() < 0.02, "{rate}");
        assert_eq!(e.shares(), 360);
    }

    #[test]
    fn a_slower_device_is_followed_within_a_few_half_lives() {
        let half_life = Duration::from_secs(300);
        let t0 = Instant::now();
        let mut e = HashrateEstimator::new(t0);
        for i in 1..=360 {
            e.on_share(1e13, t0 + Duration::from_secs(10 * i), half_life);
        }
        // Now half the speed for 30 minutes.
        for i in 1..=90 {
            e.on_share(1e13, t0 + Duration::from_secs(3600 + 20 * i), half_life);
        }
        let rate = e.hashrate(t0 + Duration::from_secs(5400), half_life);
        assert!((rate / 0.5e12 - 1.0).abs() < 0.05, "{rate}");
    }

    #[test]
    fn no_share_means_no_rate() {
        let t0 = Instant::now();
        let mut e = HashrateEstimator::new(t0);
        assert_eq!(e.hashrate(t0, Duration::from_secs(60)), 0.0);
        assert_eq!(
            e.hashrate(t0 + Duration::from_secs(5), Duration::from_secs(60)),
            0.0
        );
    }
}
