//! Made-up but well-formed transactions that fill synthetic block templates, so merkle paths are
//! non-empty and a template provider can hand out real serialized transactions whose txids match
//! the path it advertised.

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};

/// Synthetic transactions next to the coinbase in every template.
pub const SYNTHETIC_TXS: usize = 3;

/// One transaction of a template: the decoded form, its consensus serialization and its txid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticTx {
    pub tx: Transaction,
    /// Consensus serialization (what `RequestTransactionData.Success` carries).
    pub raw: Vec<u8>,
    /// Txid in internal byte order (what merkle paths are built from).
    pub txid: [u8; 32],
}

impl SyntheticTx {
    fn new(tx: Transaction) -> Self {
        let raw = bitcoin::consensus::encode::serialize(&tx);
        let txid = tx.compute_txid().to_byte_array();
        Self { tx, raw, txid }
    }
}

/// The transactions of template `template_id` at `height`: one input spending a made-up outpoint,
/// one output, distinct for every (height, template) so a refreshed template has new txids.
pub fn synthetic_transactions(height: u32, template_id: u64) -> Vec<SyntheticTx> {
    (0..SYNTHETIC_TXS)
        .map(|i| {
            let seed = format!("minesim funding {height} {template_id} {i}");
            let funding = Txid::from_byte_array(work::sha256d(seed.as_bytes()));
            let key_hash = work::sha256d(format!("minesim payee {i}").as_bytes());
            let tx = Transaction {
                version: Version::TWO,
                lock_time: LockTime::ZERO,
                input: vec![TxIn {
                    previous_output: OutPoint {
                        txid: funding,
                        vout: i as u32,
                    },
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                }],
                output: vec![TxOut {
                    value: Amount::from_sat(10_000 + i as u64),
                    // P2WPKH to a made-up key hash.
                    script_pubkey: ScriptBuf::from_bytes(
                        [&[0x00u8, 0x14][..], &key_hash[..20]].concat(),
                    ),
                }],
            };
            SyntheticTx::new(tx)
        })
        .collect()
}

/// Merkle path of the coinbase (position 0) in a block whose other transactions are `txids`
/// (internal byte order, bottom sibling first).
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
