//! Checking a `SubmitSolution` against the template it names: the block header is rebuilt from
//! the submitted coinbase, the template's transactions and the submitted header fields, and its
//! sha256d must meet the network target. Pure: no I/O, no clock.

use crate::chain::{coinbase_merkle_path, Tip};
use bitcoin::hashes::Hash;
use bitcoin::Transaction;
use work::{BlockHeader, Target};

/// A solution whose block meets the network target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolvedBlock {
    pub header: BlockHeader,
    /// Block hash, internal byte order.
    pub hash: [u8; 32],
}

/// Why a solution does not make a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolutionError {
    #[error("coinbase does not decode as a transaction: {0}")]
    CoinbaseDecode(String),
    #[error("coinbase has no single input spending the null outpoint")]
    NotCoinbase,
    #[error("coinbase scriptSig does not start with the template's BIP34 height")]
    MissingHeight,
    #[error("coinbase pays {paid} sat, more than the {available} sat the template allows")]
    Overpays { paid: u64, available: u64 },
    #[error("block hash {hash} does not meet the network target {nbits:#010x}")]
    AboveTarget { hash: String, nbits: u32 },
}

/// The header fields a client submits with its coinbase.
#[derive(Debug, Clone, Copy)]
pub struct HeaderFields {
    pub version: u32,
    pub ntime: u32,
    pub nonce: u32,
}

/// Rebuilds the block of `tip`'s template with `coinbase_tx` (consensus serialization, with or
/// without witness) and `fields`, and checks it.
pub fn check_solution(
    tip: &Tip,
    fields: HeaderFields,
    coinbase_tx: &[u8],
) -> Result<SolvedBlock, SolutionError> {
    let coinbase: Transaction = bitcoin::consensus::encode::deserialize(coinbase_tx)
        .map_err(|e| SolutionError::CoinbaseDecode(e.to_string()))?;
    if !coinbase.is_coinbase() {
        return Err(SolutionError::NotCoinbase);
    }
    let script_sig = coinbase.input[0].script_sig.as_bytes();
    if !script_sig.starts_with(tip.template.coinbase_prefix.as_bytes()) {
        return Err(SolutionError::MissingHeight);
    }
    let paid = coinbase
        .output
        .iter()
        .fold(0u64, |sum, o| sum.saturating_add(o.value.to_sat()));
    let available = tip.template.coinbase_tx_value_remaining;
    if paid > available {
        return Err(SolutionError::Overpays { paid, available });
    }
    let txid = coinbase.compute_txid().to_byte_array();
    let header = BlockHeader {
        version: fields.version,
        prev_hash: tip.prev_hash_bytes(),
        merkle_root: work::merkle_root(txid, &coinbase_merkle_path(&tip.txids())),
        ntime: fields.ntime,
        nbits: tip.nbits(),
        nonce: fields.nonce,
    };
    let hash = header.hash();
    // An nbits that decodes to no target (the provider refuses to start with one) meets nothing.
    let met = Target::from_compact(tip.nbits()).is_some_and(|t| t.is_met_by(&hash));
    if !met {
        let mut be = hash;
        be.reverse();
        return Err(SolutionError::AboveTarget {
            hash: be.iter().map(|b| format!("{b:02x}")).collect(),
            nbits: tip.nbits(),
        });
    }
    Ok(SolvedBlock { header, hash })
}
