//! `submitblock`'s checks: the block extends the tip, meets its nbits, has a BIP34 coinbase
//! and the merkle root of its transactions. Answers use Bitcoin Core's reason strings.

use std::collections::HashMap;

use bitcoin::hashes::Hash;
use bitcoin::Block;

use crate::chain::{bip34_prefix, Tip};

/// A block the shim accepted (what `getblock` shows later).
#[derive(Debug, Clone)]
pub(crate) struct AcceptedBlock {
    /// Internal byte order.
    pub hash: [u8; 32],
    pub height: u32,
    pub header: bitcoin::block::Header,
    /// Internal byte order, coinbase first.
    pub txids: Vec<[u8; 32]>,
}

/// Checks `block` against the current `tip`; `known` holds blocks accepted earlier. The error
/// is the reason string `submitblock` answers.
pub(crate) fn check_block(
    block: &Block,
    tip: &Tip,
    known: &HashMap<[u8; 32], AcceptedBlock>,
) -> Result<AcceptedBlock, &'static str> {
    let header = block.header;
    let hash = header.block_hash().to_byte_array();
    if known.contains_key(&hash) {
        return Err("duplicate");
    }
    if header.prev_blockhash.to_byte_array() != tip.prev_hash_bytes() {
        return Err("bad-prevblk");
    }
    if header.bits.to_consensus() != tip.nbits() {
        return Err("bad-diffbits");
    }
    let target = work::Target::from_compact(tip.nbits()).ok_or("bad-diffbits")?;
    if !target.is_met_by(&hash) {
        return Err("high-hash");
    }
    let coinbase = block
        .txdata
        .first()
        .filter(|tx| tx.is_coinbase())
        .ok_or("bad-cb-missing")?;
    let script_sig = coinbase
        .input
        .first()
        .map(|input| input.script_sig.as_bytes())
        .unwrap_or_default();
    if !script_sig.starts_with(&bip34_prefix(tip.height)) {
        return Err("bad-cb-height");
    }
    if block.compute_merkle_root() != Some(header.merkle_root) {
        return Err("bad-txnmrklroot");
    }
    Ok(AcceptedBlock {
        hash,
        height: tip.height,
        header,
        txids: block
            .txdata
            .iter()
            .map(|tx| tx.compute_txid().to_byte_array())
            .collect(),
    })
}
