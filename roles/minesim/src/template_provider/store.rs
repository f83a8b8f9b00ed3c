//! The provider's view of the chain: the synthetic chain, the templates recently offered (so
//! `RequestTransactionData` and late `SubmitSolution`s can name them) and what a solution does to
//! the tip. Sans-IO: callers publish the tips it returns.

use super::solution::{check_solution, HeaderFields, SolutionError};
use super::stats::FoundBlock;
use crate::chain::{SyntheticChain, Tip};
use std::collections::VecDeque;
use std::sync::Arc;
use template_distribution_sv2::SubmitSolutionOwned;

/// What a `SubmitSolution` led to.
#[derive(Debug)]
pub(crate) enum SolutionOutcome {
    /// A block on the current tip: the chain moved to `next`.
    Found {
        block: FoundBlock,
        next: Arc<Tip>,
    },
    /// A valid block on a tip the chain has already left (someone was faster).
    Stale {
        height: u32,
    },
    /// The template id is not one of the retained templates.
    UnknownTemplate,
    Invalid(SolutionError),
}

/// The synthetic chain and the last few templates it offered.
pub(crate) struct TemplateStore {
    chain: SyntheticChain,
    current: Arc<Tip>,
    // Oldest first; includes `current`.
    retained: VecDeque<Arc<Tip>>,
    capacity: usize,
}

impl TemplateStore {
    pub fn new(start_height: u32, nbits: u32, capacity: usize) -> Self {
        let chain = SyntheticChain::new(start_height, nbits);
        let current = Arc::new(chain.tip().clone());
        let mut store = Self {
            chain,
            current: current.clone(),
            retained: VecDeque::new(),
            capacity: capacity.max(1),
        };
        store.retain(current);
        store
    }

    /// The template currently offered.
    pub fn current(&self) -> Arc<Tip> {
        self.current.clone()
    }

    /// A retained template by id.
    pub fn get(&self, template_id: u64) -> Option<Arc<Tip>> {
        self.retained
            .iter()
            .rev()
            .find(|t| t.template_id() == template_id)
            .cloned()
    }

    /// A new template on the same tip.
    pub fn refresh(&mut self) -> Arc<Tip> {
        let tip = Arc::new(self.chain.refresh().clone());
        self.set_current(tip)
    }

    /// The tip moves without a block from our clients.
    pub fn advance_synthetic(&mut self) -> Arc<Tip> {
        let tip = Arc::new(self.chain.advance_synthetic().clone());
        self.set_current(tip)
    }

    /// Checks a solution; a valid one on the current tip advances the chain on top of it.
    pub fn submit(&mut self, solution: &SubmitSolutionOwned) -> SolutionOutcome {
        let Some(tip) = self.get(solution.template_id) else {
            return SolutionOutcome::UnknownTemplate;
        };
        let fields = HeaderFields {
            version: solution.version,
            ntime: solution.header_timestamp,
            nonce: solution.header_nonce,
        };
        let coinbase = solution.coinbase_tx.as_bytes();
        let solved = match check_solution(&tip, fields, coinbase) {
            Ok(solved) => solved,
            Err(e) => return SolutionOutcome::Invalid(e),
        };
        if tip.prev_hash_bytes() != self.current.prev_hash_bytes() {
            return SolutionOutcome::Stale { height: tip.height };
        }
        let block = FoundBlock {
            height: tip.height,
            hash: solved.hash,
            template_id: tip.template_id(),
            coinbase: coinbase.to_vec(),
        };
        let next = Arc::new(self.chain.advance(solved.hash).clone());
        let next = self.set_current(next);
        SolutionOutcome::Found { block, next }
    }

    fn set_current(&mut self, tip: Arc<Tip>) -> Arc<Tip> {
        self.current = tip.clone();
        self.retain(tip.clone());
        tip
    }

    fn retain(&mut self, tip: Arc<Tip>) {
        if self.retained.len() == self.capacity {
            self.retained.pop_front();
        }
        self.retained.push_back(tip);
    }
}
