//! Counters tests and demos read while the template provider runs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Found blocks kept for [`TemplateProviderStats::blocks_found`]; older ones are only counted.
const KEPT_BLOCKS: usize = 4096;

/// A block a client's `SubmitSolution` completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundBlock {
    pub height: u32,
    /// Block hash, internal (little-endian) byte order.
    pub hash: [u8; 32],
    pub template_id: u64,
    /// The submitted coinbase transaction, as received.
    pub coinbase: Vec<u8>,
}

impl FoundBlock {
    /// The hash as block explorers print it (big-endian hex).
    pub fn hash_hex(&self) -> String {
        let mut be = self.hash;
        be.reverse();
        be.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Template-provider-wide counters; safe to read from any thread at any time.
#[derive(Debug, Default)]
pub struct TemplateProviderStats {
    tip_height: AtomicU64,
    blocks_found: Mutex<VecDeque<FoundBlock>>,
    blocks_found_total: AtomicU64,
    invalid_solutions: AtomicU64,
    stale_solutions: AtomicU64,
    connected_clients: AtomicUsize,
    templates_sent: AtomicU64,
}

impl TemplateProviderStats {
    /// Height of the block currently offered for mining.
    pub fn tip_height(&self) -> u64 {
        self.tip_height.load(Ordering::SeqCst)
    }

    /// Blocks found through `SubmitSolution`, oldest first (the most recent few thousand).
    pub fn blocks_found(&self) -> Vec<FoundBlock> {
        self.lock().iter().cloned().collect()
    }

    /// How many blocks were found since the start.
    pub fn blocks_found_total(&self) -> u64 {
        self.blocks_found_total.load(Ordering::SeqCst)
    }

    /// Solutions refused: unknown template, bad coinbase, or a hash above the network target.
    pub fn invalid_solutions(&self) -> u64 {
        self.invalid_solutions.load(Ordering::SeqCst)
    }

    /// Valid solutions for a tip that had already moved on (not counted as invalid).
    pub fn stale_solutions(&self) -> u64 {
        self.stale_solutions.load(Ordering::SeqCst)
    }

    /// Clients past `SetupConnection`, not yet disconnected.
    pub fn connected_clients(&self) -> usize {
        self.connected_clients.load(Ordering::SeqCst)
    }

    /// `NewTemplate` messages sent across all clients.
    pub fn templates_sent(&self) -> u64 {
        self.templates_sent.load(Ordering::SeqCst)
    }

    pub(crate) fn set_tip_height(&self, height: u64) {
        self.tip_height.store(height, Ordering::SeqCst);
    }

    pub(crate) fn block_found(&self, block: FoundBlock) {
        let mut kept = self.lock();
        if kept.len() == KEPT_BLOCKS {
            kept.pop_front();
        }
        kept.push_back(block);
        self.blocks_found_total.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn solution_invalid(&self) {
        self.invalid_solutions.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn solution_stale(&self) {
        self.stale_solutions.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn client_connected(&self) {
        self.connected_clients.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn client_disconnected(&self) {
        self.connected_clients.fetch_sub(1, Ordering::SeqCst);
    }

    pub(crate) fn template_sent(&self) {
        self.templates_sent.fetch_add(1, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<FoundBlock>> {
        // A panic while holding the lock leaves a plain list behind: keep using it.
        self.blocks_found.lock().unwrap_or_else(|p| p.into_inner())
    }
}
