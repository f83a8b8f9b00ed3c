//! Checking a declared coinbase: `coinbase_tx_prefix || extranonce || coinbase_tx_suffix` must
//! decode as a coinbase transaction paying every output the pool requires. The extranonce is
//! taken as zeros; its length follows from the scriptSig length byte in the prefix. Pure.

use bitcoin::{Transaction, TxOut};
use job_declaration_sv2::{
    ERROR_CODE_DECLARE_MINING_JOB_INVALID_COINBASE_TX,
    ERROR_CODE_DECLARE_MINING_JOB_INVALID_COINBASE_TX_INPUT,
};

/// Longest extranonce a declared coinbase may leave room for (SV2's `B032`).
pub const MAX_EXTRANONCE_LEN: usize = 32;

// version (4) .. input count (1), outpoint (36) precede the scriptSig length byte.
const VERSION_LEN: usize = 4;
const OUTPOINT_LEN: usize = 36;

/// Why a declared coinbase is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoinbaseError {
    #[error("coinbase prefix ends before the scriptSig: {0}")]
    Prefix(&'static str),
    #[error("coinbase prefix leaves {0} extranonce bytes (at most {MAX_EXTRANONCE_LEN})")]
    ExtranonceLength(usize),
    #[error("coinbase does not decode as a transaction: {0}")]
    Decode(String),
    #[error("coinbase has {inputs} inputs, or its input is not the null outpoint")]
    NotCoinbase { inputs: usize },
    #[error("coinbase does not pay the pool's output {script_pubkey}")]
    MissingOutput { script_pubkey: String },
}

impl CoinbaseError {
    /// The `DeclareMiningJob.Error` code for it.
    pub fn code(&self) -> &'static str {
        match self {
            CoinbaseError::NotCoinbase { .. } => {
                ERROR_CODE_DECLARE_MINING_JOB_INVALID_COINBASE_TX_INPUT
            }
            _ => ERROR_CODE_DECLARE_MINING_JOB_INVALID_COINBASE_TX,
        }
    }
}

/// A declared coinbase that passed.
#[derive(Debug, Clone)]
pub struct CheckedCoinbase {
    pub tx: Transaction,
    /// Bytes of extranonce between prefix and suffix.
    pub extranonce_len: usize,
}

/// Rebuilds the coinbase from `prefix` and `suffix` and checks it pays every `required`
/// output's scriptPubKey (whatever the value).
pub fn check_coinbase(
    prefix: &[u8],
    suffix: &[u8],
    required: &[TxOut],
) -> Result<CheckedCoinbase, CoinbaseError> {
    let extranonce_len = extranonce_len(prefix)?;
    let mut raw = Vec::with_capacity(prefix.len() + extranonce_len + suffix.len());
    raw.extend_from_slice(prefix);
    raw.resize(prefix.len() + extranonce_len, 0);
    raw.extend_from_slice(suffix);
    let tx: Transaction = bitcoin::consensus::encode::deserialize(&raw)
        .map_err(|e| CoinbaseError::Decode(e.to_string()))?;
    if !tx.is_coinbase() || tx.input.len() != 1 {
        return Err(CoinbaseError::NotCoinbase {
            inputs: tx.input.len(),
        });
    }
    for out in required {
        if !tx
            .output
            .iter()
            .any(|o| o.script_pubkey == out.script_pubkey)
        {
            return Err(CoinbaseError::MissingOutput {
                script_pubkey: hex::encode(out.script_pubkey.as_bytes()),
            });
        }
    }
    Ok(CheckedCoinbase { tx, extranonce_len })
}

/// The scriptSig bytes the prefix announces but does not hold: the extranonce.
fn extranonce_len(prefix: &[u8]) -> Result<usize, CoinbaseError> {
    let mut at = VERSION_LEN;
    // A segwit serialization has marker 0x00 and flag 0x01 where the input count would be; a
    // transaction without inputs is no coinbase, so the two cannot be confused.
    if prefix.get(at..at + 2) == Some(&[0x00, 0x01]) {
        at += 2;
    }
    let inputs = *prefix
        .get(at)
        .ok_or(CoinbaseError::Prefix("no input count"))?;
    if inputs != 1 {
        return Err(CoinbaseError::NotCoinbase {
            inputs: usize::from(inputs),
        });
    }
    at += 1 + OUTPOINT_LEN;
    let script_len = *prefix
        .get(at)
        .ok_or(CoinbaseError::Prefix("no scriptSig length"))?;
    // Consensus caps a coinbase scriptSig at 100 bytes: always a one-byte length.
    if script_len >= 0xfd {
        return Err(CoinbaseError::Prefix("scriptSig length is not one byte"));
    }
    let present = prefix.len() - (at + 1);
    let script_len = usize::from(script_len);
    if present > script_len {
        return Err(CoinbaseError::Prefix(
            "prefix runs past the scriptSig into the rest of the transaction",
        ));
    }
    let len = script_len - present;
    if len > MAX_EXTRANONCE_LEN {
        return Err(CoinbaseError::ExtranonceLength(len));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, TxIn, Witness};

    fn pool_out() -> TxOut {
        TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(vec![0x00, 0x14, 7, 7, 7]),
        }
    }

    // A coinbase with a 3-byte script prefix and `extranonce` zero bytes after it, split.
    fn split(segwit: bool, extranonce: usize, outputs: Vec<TxOut>) -> (Vec<u8>, Vec<u8>) {
        let script_prefix = vec![0x02, 0xe8, 0x03];
        let mut script = script_prefix.clone();
        script.resize(script_prefix.len() + extranonce, 0);
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(script),
                sequence: Sequence::MAX,
                witness: if segwit {
                    Witness::from(vec![vec![0u8; 32]])
                } else {
                    Witness::new()
                },
            }],
            output: outputs,
        };
        let raw = bitcoin::consensus::encode::serialize(&tx);
        let cut = 4 + if segwit { 2 } else { 0 } + 1 + 36 + 1 + script_prefix.len();
        (raw[..cut].to_vec(), raw[cut + extranonce..].to_vec())
    }

    #[test]
    fn segwit_and_legacy_coinbases_pass_and_report_the_extranonce_length() {
        for segwit in [true, false] {
            let (p, s) = split(segwit, 12, vec![pool_out()]);
            let checked = check_coinbase(&p, &s, &[pool_out()]).unwrap();
            assert_eq!(checked.extranonce_len, 12);
            assert!(checked.tx.is_coinbase());
        }
    }

    #[test]
    fn a_coinbase_without_the_pool_output_is_refused() {
        let other = TxOut {
            value: Amount::from_sat(5),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        };
        let (p, s) = split(true, 8, vec![other]);
        let e = check_coinbase(&p, &s, &[pool_out()]).unwrap_err();
        assert!(matches!(e, CoinbaseError::MissingOutput { .. }));
        assert_eq!(e.code(), "invalid-coinbase-tx");
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for prefix in [&[][..], &[1, 0, 0, 0][..], &[2, 0, 0, 0, 0, 1, 1][..]] {
            assert!(check_coinbase(prefix, &[1, 2, 3], &[]).is_err());
        }
        let (mut p, s) = split(true, 8, vec![pool_out()]);
        // Two inputs.
        p[6] = 2;
        assert_eq!(
            check_coinbase(&p, &s, &[]).unwrap_err().code(),
            "invalid-coinbase-tx-input"
        );
        // A scriptSig length that leaves too much extranonce.
        let (mut p, s) = split(true, 8, vec![pool_out()]);
        p[4 + 2 + 1 + 36] = 90;
        assert!(matches!(
            check_coinbase(&p, &s, &[]).unwrap_err(),
            CoinbaseError::ExtranonceLength(_)
        ));
        // The suffix cut short.
        let (p, s) = split(false, 8, vec![pool_out()]);
        assert!(matches!(
            check_coinbase(&p, &s[..s.len() - 2], &[]).unwrap_err(),
            CoinbaseError::Decode(_)
        ));
    }
}
