use std::time::{Duration, Instant};

/// Holds the average hashrate at a cap by sleeping once a batch is ahead of schedule.
pub(crate) struct Throttle {
    cap: f64,
    batch: Duration,
    started: Instant,
    done: u64,
}

impl Throttle {
    /// A cap that is not a positive finite number means no cap.
    pub fn new(cap: f64, batch: Duration) -> Self {
        Self {
            cap: if cap.is_finite() && cap > 0.0 {
                cap
            } else {
                f64::MAX
            },
            batch,
            started: Instant::now(),
            done: 0,
        }
    }

    /// Hashes in one batch: about `batch` worth at the cap.
    pub fn batch(&self) -> u64 {
        ((self.cap * self.batch.as_secs_f64()) as u64).clamp(1, 1 << 22)
    }

    pub fn reset(&mut self) {
        self.started = Instant::now();
        self.done = 0;
    }

    pub fn account(&mut self, hashes: u64) {
        self.done += hashes;
        let due = Duration::from_secs_f64(self.done as f64 / self.cap);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        } else if elapsed - due > Duration::from_secs(1) {
            // The CPU cannot keep up; don't sprint to catch up later.
            self.reset();
        }
    }
}
