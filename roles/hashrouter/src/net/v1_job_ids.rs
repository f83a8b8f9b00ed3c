//! A Stratum V1 pool's job ids (any string) as the u32 job ids the core's upstream jobs carry.

use std::collections::{HashMap, VecDeque};

/// Pool job ids remembered at once. The core keeps fewer device jobs than this, so a share
/// never refers to a forgotten job unless the pool floods us with jobs.
pub const MAX_JOB_IDS: usize = 1024;

/// The pool's job ids of one connection, each under a fresh u32 (a re-announced id gets a new
/// one: the core treats every `mining.notify` as a new job). Oldest forgotten first.
#[derive(Debug)]
pub struct JobIds {
    next: u32,
    ids: HashMap<u32, String>,
    order: VecDeque<u32>,
    capacity: usize,
}

impl Default for JobIds {
    fn default() -> Self {
        Self::with_capacity(MAX_JOB_IDS)
    }
}

impl JobIds {
    /// A map remembering at most `capacity` (at least 1) ids.
    pub fn with_capacity(capacity: usize) -> Self {
        JobIds {
            next: 1,
            ids: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Gives the pool's job id `pool_id` a new u32.
    pub fn insert(&mut self, pool_id: &str) -> u32 {
        let id = self.next;
        // 0 is never used, so a zeroed id can never alias a real job.
        self.next = self.next.checked_add(1).unwrap_or(1);
        if self.ids.insert(id, pool_id.to_string()).is_some() {
            // Wrapped around onto an id still held (only after 2^32 jobs): replace it.
            self.order.retain(|held| *held != id);
        }
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        id
    }

    /// The pool's id for our `id`, unless forgotten.
    pub fn get(&self, id: u32) -> Option<&str> {
        self.ids.get(&id).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_notify_gets_a_fresh_id_and_old_ones_are_forgotten() {
        let mut ids = JobIds::with_capacity(3);
        let a = ids.insert("6a1f");
        let b = ids.insert("6a20");
        let again = ids.insert("6a1f");
        assert_eq!((a, b, again), (1, 2, 3));
        assert_eq!(ids.get(a), Some("6a1f"));
        assert_eq!(ids.get(again), Some("6a1f"));
        assert_eq!(ids.get(0), None);
        let d = ids.insert("job with spaces and ünïcode");
        assert_eq!(ids.get(d), Some("job with spaces and ünïcode"));
        assert_eq!(ids.get(a), None, "the oldest is forgotten");
        assert_eq!(ids.ids.len(), 3);
    }

    #[test]
    fn wrapping_skips_zero_and_stays_bounded() {
        let mut ids = JobIds::with_capacity(2);
        ids.next = u32::MAX;
        assert_eq!(ids.insert("last"), u32::MAX);
        assert_eq!(ids.insert("first again"), 1);
        assert_eq!(ids.get(u32::MAX), Some("last"));
        assert_eq!(ids.get(1), Some("first again"));
        assert_eq!(ids.ids.len(), 2);
    }
}
