//! Latency summaries: percentiles of a set of durations, in milliseconds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// p50, p99 and max of a set of durations (nearest-rank percentiles), all in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    /// Sorts `durations` in place and summarises them; all zero when there are none.
    pub fn of(durations: &mut [Duration]) -> Self {
        if durations.is_empty() {
            return Self::default();
        }
        durations.sort_unstable();
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        let rank = |p: f64| {
            let index = ((p * durations.len() as f64).ceil() as usize).saturating_sub(1);
            durations.get(index).map(ms).unwrap_or_default()
        };
        Self {
            samples: durations.len(),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: durations.last().map(ms).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut d: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let p = Percentiles::of(&mut d);
        assert_eq!(
            (p.samples, p.p50_ms, p.p99_ms, p.max_ms),
            (100, 50.0, 99.0, 100.0)
        );
        let mut one = vec![Duration::from_micros(1500)];
        let p = Percentiles::of(&mut one);
        assert_eq!((p.p50_ms, p.p99_ms, p.max_ms), (1.5, 1.5, 1.5));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }
}
