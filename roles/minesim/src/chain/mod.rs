//! A synthetic chain and its block templates, shared by the simulated pool and the template
//! provider: valid coinbase data (BIP34 height), a few real transactions per template with the
//! coinbase's merkle path over their txids, a configurable nbits.

mod transactions;

pub use transactions::{coinbase_merkle_path, synthetic_transactions, SyntheticTx, SYNTHETIC_TXS};

use binary_sv2::{B064KOwned, Seq0255Owned, U256Owned};
use bitcoin::{script::Builder, Amount, ScriptBuf, TxOut};
use std::sync::Arc;
use template_distribution_sv2::{NewTemplateOwned, SetNewPrevHashOwned};

/// Block subsidy the coinbase pays out (no fees in a synthetic block).
pub const COINBASE_VALUE_SAT: u64 = 50 * 100_000_000;
/// Block version of every template.
pub const BLOCK_VERSION: u32 = 0x2000_0000;

/// One template on one tip of the synthetic chain: the template to mine, the prev hash that
/// activates it, and the transactions behind its merkle path.
#[derive(Debug, Clone)]
pub struct Tip {
    /// Height of the block being mined.
    pub height: u32,
    /// A future template; channels activate it with `prev_hash`.
    pub template: NewTemplateOwned,
    pub prev_hash: SetNewPrevHashOwned,
    /// The block's transactions after the coinbase, in block order.
    pub transactions: Arc<[SyntheticTx]>,
}

impl Tip {
    /// Previous block hash, internal (little-endian) byte order.
    pub fn prev_hash_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.prev_hash.prev_hash.as_bytes());
        out
    }

    pub fn template_id(&self) -> u64 {
        self.template.template_id
    }

    /// Compact network target of the block.
    pub fn nbits(&self) -> u32 {
        self.prev_hash.n_bits
    }

    /// Txids of [`Tip::transactions`], internal byte order.
    pub fn txids(&self) -> Vec<[u8; 32]> {
        self.transactions.iter().map(|t| t.txid).collect()
    }
}

/// The synthetic chain: advances on a timer or when a block is found, and can offer a fresh
/// template (new transactions) on the same tip.
#[derive(Debug)]
pub struct SyntheticChain {
    nbits: u32,
    next_template_id: u64,
    tip: Tip,
}

impl SyntheticChain {
    pub fn new(start_height: u32, nbits: u32) -> Self {
        let genesis_prev = work::sha256d(format!("minesim synthetic chain {nbits:08x}").as_bytes());
        let tip = build_tip(start_height, genesis_prev, nbits, 1, now());
        Self {
            nbits,
            next_template_id: 2,
            tip,
        }
    }

    pub fn tip(&self) -> &Tip {
        &self.tip
    }

    /// Moves to the next height on top of `block_hash` (internal byte order).
    pub fn advance(&mut self, block_hash: [u8; 32]) -> &Tip {
        let id = self.take_template_id();
        self.tip = build_tip(self.tip.height + 1, block_hash, self.nbits, id, now());
        &self.tip
    }

    /// Moves on without a found block (the rest of the network found one).
    pub fn advance_synthetic(&mut self) -> &Tip {
        let mut seed = self.tip.prev_hash_bytes().to_vec();
        seed.extend_from_slice(b"someone else's block");
        self.advance(work::sha256d(&seed))
    }

    /// A new template on the same tip (same height, prev hash and timestamp, new transactions):
    /// what a node offers when its mempool changes.
    pub fn refresh(&mut self) -> &Tip {
        let id = self.take_template_id();
        let tip = &self.tip;
        self.tip = build_tip(
            tip.height,
            tip.prev_hash_bytes(),
            self.nbits,
            id,
            tip.prev_hash.header_timestamp,
        );
        &self.tip
    }

    fn take_template_id(&mut self) -> u64 {
        let id = self.next_template_id;
        self.next_template_id += 1;
        id
    }
}

/// The coinbase output every job pays to.
pub fn reward_outputs(script_pubkey: &[u8]) -> Vec<TxOut> {
    vec![TxOut {
        value: Amount::from_sat(COINBASE_VALUE_SAT),
        script_pubkey: ScriptBuf::from_bytes(script_pubkey.to_vec()),
    }]
}

/// BIP34: the height as the first push of the coinbase scriptSig, encoded as Bitcoin Core does.
pub fn bip34_prefix(height: u32) -> Vec<u8> {
    Builder::new().push_int(i64::from(height)).into_bytes()
}

fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1_700_000_000)
}

fn build_tip(height: u32, prev_hash: [u8; 32], nbits: u32, template_id: u64, time: u32) -> Tip {
    let transactions: Arc<[SyntheticTx]> = synthetic_transactions(height, template_id).into();
    let txids: Vec<[u8; 32]> = transactions.iter().map(|t| t.txid).collect();
    let path: Vec<U256Owned> = coinbase_merkle_path(&txids)
        .into_iter()
        .map(U256Owned::from)
        .collect();
    let template = NewTemplateOwned {
        template_id,
        future_template: true,
        version: BLOCK_VERSION,
        coinbase_tx_version: 2,
        coinbase_prefix: bip34_prefix(height)
            .try_into()
            .unwrap_or_else(|_| unreachable_small()),
        coinbase_tx_input_sequence: 0xffff_ffff,
        coinbase_tx_value_remaining: COINBASE_VALUE_SAT,
        coinbase_tx_outputs_count: 0,
        coinbase_tx_outputs: B064KOwned::try_from(Vec::new())
            .unwrap_or_else(|_| unreachable_small()),
        coinbase_tx_locktime: 0,
        merkle_path: Seq0255Owned::new(path).unwrap_or_else(|_| unreachable_small()),
    };
    let target = work::Target::from_compact(nbits).unwrap_or(work::Target::MAX);
    let prev_hash = SetNewPrevHashOwned {
        template_id,
        prev_hash: U256Owned::from(prev_hash),
        header_timestamp: time,
        n_bits: nbits,
        target: U256Owned::from(target.to_le_bytes()),
    };
    Tip {
        height,
        template,
        prev_hash,
        transactions,
    }
}

// Values built here are a few bytes long, far below every SV2 length limit.
fn unreachable_small<T>() -> T {
    unreachable!("synthetic template field exceeds an SV2 length limit")
}
