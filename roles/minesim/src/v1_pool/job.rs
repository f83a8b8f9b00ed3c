//! A `mining.notify` job built from a synthetic-chain tip: the coinbase split around
//! `extranonce1 + extranonce2`, the merkle branch, and the header a share rebuilds.

use crate::chain::{coinbase_merkle_path, reward_outputs, Tip};
use work::{coinbase_txid, merkle_root, BlockHeader};

/// One job, shared by every connection on the same template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct V1Job {
    pub height: u32,
    /// Previous block hash, internal byte order.
    pub prev_hash: [u8; 32],
    /// Coinbase bytes before `extranonce1`.
    pub coinb1: Vec<u8>,
    /// Coinbase bytes after `extranonce2`.
    pub coinb2: Vec<u8>,
    /// Sibling hashes of the coinbase up to the root, internal byte order.
    pub merkle_branch: Vec<[u8; 32]>,
    pub version: u32,
    pub nbits: u32,
    /// The template's timestamp, also the earliest ntime a share may carry.
    pub ntime: u32,
}

impl V1Job {
    /// The job of `tip`, whose coinbase pays `script_pubkey` and leaves `extranonce_len`
    /// (extranonce1 + extranonce2) bytes in its scriptSig right after the BIP34 height.
    pub fn from_tip(tip: &Tip, extranonce_len: usize, script_pubkey: &[u8]) -> Self {
        let template = &tip.template;
        let height_push = template.coinbase_prefix.as_bytes();
        // Legacy (non-witness) serialization: the synthetic transactions carry no witness, so
        // the block needs no witness commitment and the txid covers the whole coinbase.
        let mut coinb1 = Vec::with_capacity(48);
        coinb1.extend_from_slice(&template.coinbase_tx_version.to_le_bytes());
        coinb1.push(1); // one input
        coinb1.extend_from_slice(&[0u8; 32]);
        coinb1.extend_from_slice(&u32::MAX.to_le_bytes());
        // A scriptSig is at most 100 bytes: a height push (≤ 5) and ≤ 16 extranonce bytes fit
        // in a one-byte length.
        coinb1.push((height_push.len() + extranonce_len) as u8);
        coinb1.extend_from_slice(height_push);
        let mut coinb2 = Vec::with_capacity(64);
        coinb2.extend_from_slice(&template.coinbase_tx_input_sequence.to_le_bytes());
        coinb2.extend_from_slice(&bitcoin::consensus::encode::serialize(&reward_outputs(
            script_pubkey,
        )));
        coinb2.extend_from_slice(&template.coinbase_tx_locktime.to_le_bytes());
        Self {
            height: tip.height,
            prev_hash: tip.prev_hash_bytes(),
            coinb1,
            coinb2,
            merkle_branch: coinbase_merkle_path(&tip.txids()),
            version: template.version,
            nbits: tip.nbits(),
            ntime: tip.prev_hash.header_timestamp,
        }
    }

    /// The full coinbase with the given extranonces.
    #[cfg(test)]
    pub fn coinbase(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Vec<u8> {
        [&self.coinb1[..], extranonce1, extranonce2, &self.coinb2[..]].concat()
    }

    /// The header a share on this job stands for.
    pub fn header(
        &self,
        extranonce1: &[u8],
        extranonce2: &[u8],
        version: u32,
        ntime: u32,
        nonce: u32,
    ) -> BlockHeader {
        let txid = coinbase_txid(&[&self.coinb1, extranonce1, extranonce2, &self.coinb2]);
        BlockHeader {
            version,
            prev_hash: self.prev_hash,
            merkle_root: merkle_root(txid, &self.merkle_branch),
            ntime,
            nbits: self.nbits,
            nonce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::SyntheticChain;
    use bitcoin::consensus::encode::deserialize;
    use bitcoin::hashes::Hash;
    use bitcoin::Transaction;

    #[test]
    fn coinbase_is_a_valid_transaction_with_bip34_height_and_the_tips_merkle_root() {
        let chain = SyntheticChain::new(1234, 0x207f_ffff);
        let tip = chain.tip();
        let script = [0x51u8];
        let job = V1Job::from_tip(tip, 12, &script);
        let (en1, en2) = ([1u8, 2, 3, 4], [9u8; 8]);
        let coinbase = job.coinbase(&en1, &en2);
        let tx: Transaction = deserialize(&coinbase).expect("coinbase parses");
        assert!(tx.is_coinbase());
        let script_sig = tx.input[0].script_sig.as_bytes();
        assert!(script_sig.starts_with(&crate::chain::bip34_prefix(1234)));
        assert!(script_sig.ends_with(&[&en1[..], &en2[..]].concat()));
        assert_eq!(tx.output.len(), 1);
        assert_eq!(tx.output[0].script_pubkey.as_bytes(), &script);

        // The header's merkle root is the real root over coinbase + the tip's transactions.
        let mut txids = vec![tx.compute_txid().to_byte_array()];
        txids.extend(tip.txids());
        let mut level = txids;
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|p| work::sha256d(&[p[0], *p.get(1).unwrap_or(&p[0])].concat()))
                .collect();
        }
        let header = job.header(&en1, &en2, job.version, job.ntime, 7);
        assert_eq!(header.merkle_root, level[0]);
        assert_eq!(header.prev_hash, tip.prev_hash_bytes());
        assert_eq!(header.nbits, 0x207f_ffff);
    }
}
