//! The transactions a JDS has been given, by wtxid, so a declaration of transactions it already
//! knows asks for none. Bounded: the oldest are forgotten first.

use std::collections::{HashMap, VecDeque};

/// Known transactions (consensus serialization) by wtxid (internal byte order).
#[derive(Debug)]
pub(crate) struct Mempool {
    txs: HashMap<[u8; 32], Vec<u8>>,
    order: VecDeque<[u8; 32]>,
    capacity: usize,
}

impl Mempool {
    pub fn new(capacity: usize) -> Self {
        Self {
            txs: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn contains(&self, wtxid: &[u8; 32]) -> bool {
        self.txs.contains_key(wtxid)
    }

    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn insert(&mut self, wtxid: [u8; 32], raw: Vec<u8>) {
        if self.txs.contains_key(&wtxid) {
            return;
        }
        if self.order.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.txs.remove(&oldest);
            }
        }
        self.order.push_back(wtxid);
        self.txs.insert(wtxid, raw);
    }
}
