//! A synthetic chain and its block templates: valid coinbase data (BIP34 height), a merkle path
//! from a few made-up transactions, a configurable nbits.

use binary_sv2::{B064KOwned, Seq0255Owned, U256Owned};
use bitcoin::{script::Builder, Amount, ScriptBuf, TxOut};
use template_distribution_sv2::{NewTemplateOwned, SetNewPrevHashOwned};

/// Block subsidy the coinbase pays out (no fees in a synthetic block).
pub const COINBASE_VALUE_SAT: u64 = 50 * 100_000_000;
/// Synthetic transactions next to the coinbase in every template.
pub const SYNTHETIC_TXS: usize = 3;

/// One tip of the synthetic chain: the template to mine on it and its prev hash.
#[derive(Debug, Clone)]
pub struct Tip {
    /// Height of the block being mined.
    pub height: u32,
    /// A future template; channels activate it with `prev_hash`.
    pub template: NewTemplateOwned,
    pub prev_hash: SetNewPrevHashOwned,
}

impl Tip {
    /// Previous block hash, internal (little-endian) byte order.
    pub fn prev_hash_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.prev_hash.prev_hash.as_bytes());
        out
    }
}

/// The synthetic chain: advances on a timer or when a block is found.
#[derive(Debug)]
pub struct SyntheticChain {
    nbits: u32,
    next_template_id: u64,
    tip: Tip,
}

impl SyntheticChain {
    pub fn new(start_height: u32, nbits: u32) -> Self {
        let genesis_prev = work::sha256d(format!("minesim synthetic chain {nbits:08x}").as_bytes());
        let tip = build_tip(start_height, genesis_prev, nbits, 1);
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
        let id = self.next_template_id;
        self.next_template_id += 1;
        self.tip = build_tip(self.tip.height + 1, block_hash, self.nbits, id);
        &self.tip
    }

    /// Moves on without a found block (the rest of the network found one).
    pub fn advance_synthetic(&mut self) -> &Tip {
        let mut seed = self.tip.prev_hash_bytes().to_vec();
        seed.extend_from_slice(b"someone else's block");
        self.advance(work::sha256d(&seed))
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

/// Synthetic txids of a template at `height` (internal byte order).
pub fn synthetic_txids(height: u32) -> Vec<[u8; 32]> {
    (0..SYNTHETIC_TXS)
        .map(|i| work::sha256d(format!("minesim tx {height} {i}").as_bytes()))
        .collect()
}

/// Merkle path of the coinbase (position 0) in a block whose other transactions are `txids`.
pub fn coinbase_merkle_path(txids: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut path = Vec::new();
    let mut level = txids.to_vec();
    while let Some(first) = level.first().copied() {
        path.push(first);
        level = level[1..]
            .chunks(2)
            .map(|pair| {
                let right = pair.get(1).copied().unwrap_or(pair[0]);
                work::sha256d(&[pair[0], right].concat())
            })
            .collect();
    }
    path
}

fn build_tip(height: u32, prev_hash: [u8; 32], nbits: u32, template_id: u64) -> Tip {
    let path: Vec<U256Owned> = coinbase_merkle_path(&synthetic_txids(height))
        .into_iter()
        .map(U256Owned::from)
        .collect();
    let template = NewTemplateOwned {
        template_id,
        future_template: true,
        version: 0x2000_0000,
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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1_700_000_000);
    let prev_hash = SetNewPrevHashOwned {
        template_id,
        prev_hash: U256Owned::from(prev_hash),
        header_timestamp: now,
        n_bits: nbits,
        target: U256Owned::from(target.to_le_bytes()),
    };
    Tip {
        height,
        template,
        prev_hash,
    }
}

// Values built here are a few bytes long, far below every SV2 length limit.
fn unreachable_small<T>() -> T {
    unreachable!("synthetic template field exceeds an SV2 length limit")
}
