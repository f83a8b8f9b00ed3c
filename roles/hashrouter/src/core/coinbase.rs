//! Coinbase transactions the node builds itself from a template: for jobs it declares to a pool
//! (job declaration) and for solo mining. The layout is the one SV2 pools rebuild from
//! `SetCustomMiningJob`, so the pool, the JDS and the devices hash the same transaction:
//!
//! scriptSig = template prefix (BIP34 height) ‖ push(tag) ‖ push-opcode(extranonce) ‖ extranonce
//!
//! with one 32-byte zero witness item (the witness reserved value). Devices and merkle roots use
//! the witness-stripped serialization; the JDS and the template provider get the full one.

use bitcoin::absolute::LockTime;
use bitcoin::consensus::{deserialize, encode, serialize, Decodable};
use bitcoin::transaction::Version;
use bitcoin::{OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

use super::template_events::Template;

/// Consensus limit on the coinbase scriptSig.
pub const MAX_SCRIPT_SIG: usize = 100;

/// Why a coinbase could not be built from a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoinbaseError {
    #[error("template coinbase outputs do not decode: {0}")]
    TemplateOutputs(String),
    #[error("coinbase outputs do not decode: {0}")]
    Outputs(String),
    #[error("no output to pay the {0} sat the template leaves")]
    NoPayout(u64),
    #[error("scriptSig would be {0} bytes, more than the {MAX_SCRIPT_SIG} allowed")]
    ScriptSigTooLong(usize),
    #[error("coinbase tag of {0} bytes is too long")]
    TagTooLong(usize),
    #[error("coinbase does not decode: {0}")]
    Coinbase(String),
}

/// One coinbase for one template, split around the extranonce in every form the node needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinbaseParts {
    /// The scriptSig up to the extranonce, its push opcode included (`SetCustomMiningJob.
    /// coinbase_prefix`).
    pub script_sig_prefix: Vec<u8>,
    /// Every output, serialized with their count (`SetCustomMiningJob.coinbase_tx_outputs`).
    pub outputs: Vec<u8>,
    /// Full (segwit) serialization before and after the extranonce (`DeclareMiningJob`).
    pub full_prefix: Vec<u8>,
    pub full_suffix: Vec<u8>,
    /// Witness-stripped serialization before and after the extranonce (jobs for devices).
    pub stripped_prefix: Vec<u8>,
    pub stripped_suffix: Vec<u8>,
}

/// Builds the coinbase of `template` paying `payout` first (its first output gets whatever the
/// template leaves), then the template's own outputs, with `extranonce_size` bytes of extranonce.
pub fn build(
    template: &Template,
    payout: &[TxOut],
    tag: &[u8],
    extranonce_size: usize,
) -> Result<CoinbaseParts, CoinbaseError> {
    let mut outputs = payout.to_vec();
    let first = outputs.first_mut().ok_or(CoinbaseError::NoPayout(
        template.coinbase_tx_value_remaining,
    ))?;
    first.value = bitcoin::Amount::from_sat(template.coinbase_tx_value_remaining);
    outputs.extend(template_outputs(template)?);

    let mut script_sig_prefix = template.coinbase_prefix.clone();
    if !tag.is_empty() {
        let push = u8::try_from(tag.len())
            .ok()
            .filter(|len| *len <= 75)
            .ok_or(CoinbaseError::TagTooLong(tag.len()))?;
        script_sig_prefix.push(push);
        script_sig_prefix.extend_from_slice(tag);
    }
    let script_sig_len = script_sig_prefix.len() + 1 + extranonce_size;
    if script_sig_len > MAX_SCRIPT_SIG || extranonce_size > 75 {
        return Err(CoinbaseError::ScriptSigTooLong(script_sig_len));
    }
    script_sig_prefix.push(extranonce_size as u8);

    let mut script_sig = script_sig_prefix.clone();
    script_sig.resize(script_sig.len() + extranonce_size, 0);
    let tx = Transaction {
        version: Version::non_standard(template.coinbase_tx_version as i32),
        lock_time: LockTime::from_consensus(template.coinbase_tx_locktime),
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(script_sig),
            sequence: Sequence(template.coinbase_tx_input_sequence),
            witness: Witness::from_slice(&[[0u8; 32]]),
        }],
        output: outputs.clone(),
    };
    let full = serialize(&tx);
    let stripped = strip_witness(&tx);
    // version, input count, outpoint, scriptSig length (one byte: at most 100), scriptSig start.
    let stripped_at = 4 + 1 + 36 + 1 + script_sig_prefix.len();
    // The same plus the segwit marker and flag.
    let full_at = stripped_at + 2;
    Ok(CoinbaseParts {
        outputs: serialize(&outputs),
        full_prefix: full[..full_at].to_vec(),
        full_suffix: full[full_at + extranonce_size..].to_vec(),
        stripped_prefix: stripped[..stripped_at].to_vec(),
        stripped_suffix: stripped[stripped_at + extranonce_size..].to_vec(),
        script_sig_prefix,
    })
}

/// Outputs as the wire carries them (consensus `Vec<TxOut>`), e.g. a JDS's required outputs.
pub fn decode_outputs(bytes: &[u8]) -> Result<Vec<TxOut>, CoinbaseError> {
    deserialize(bytes).map_err(|e| CoinbaseError::Outputs(e.to_string()))
}

/// The full transaction for a block from its witness-stripped serialization (what devices
/// hashed): the coinbase gets its witness reserved value back.
pub fn with_witness(stripped: &[u8]) -> Result<Vec<u8>, CoinbaseError> {
    let mut tx: Transaction =
        deserialize(stripped).map_err(|e| CoinbaseError::Coinbase(e.to_string()))?;
    if let Some(input) = tx.input.first_mut() {
        input.witness = Witness::from_slice(&[[0u8; 32]]);
    }
    Ok(serialize(&tx))
}

/// The wtxid of a transaction as the template provider sent it (internal byte order).
pub fn wtxid(raw: &[u8]) -> Result<[u8; 32], CoinbaseError> {
    use bitcoin::hashes::Hash;
    let tx: Transaction = deserialize(raw).map_err(|e| CoinbaseError::Coinbase(e.to_string()))?;
    Ok(tx.compute_wtxid().to_byte_array())
}

fn template_outputs(template: &Template) -> Result<Vec<TxOut>, CoinbaseError> {
    let mut reader = template.coinbase_tx_outputs.as_slice();
    // Each output is at least 9 bytes: a count beyond what the bytes hold is a lie.
    let count = template.coinbase_tx_outputs_count as usize;
    if count > reader.len() / 9 {
        return Err(CoinbaseError::TemplateOutputs(format!(
            "{count} outputs in {} bytes",
            reader.len()
        )));
    }
    let mut outputs = Vec::with_capacity(count);
    for _ in 0..count {
        let output = TxOut::consensus_decode(&mut reader)
            .map_err(|e: encode::Error| CoinbaseError::TemplateOutputs(e.to_string()))?;
        outputs.push(output);
    }
    Ok(outputs)
}

fn strip_witness(tx: &Transaction) -> Vec<u8> {
    let mut bare = tx.clone();
    for input in &mut bare.input {
        input.witness = Witness::new();
    }
    serialize(&bare)
}

#[cfg(test)]
mod tests {
    use super::*;
    use binary_sv2::{B0255Owned, B064KOwned, Seq0255Owned, U256Owned};
    use bitcoin::Amount;
    use channels_sv2::server::jobs::factory::JobFactory;
    use mining_sv2::SetCustomMiningJobOwned;

    fn template() -> Template {
        let commitment = TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(
                [&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed][..], &[7u8; 32]].concat(),
            ),
        };
        Template {
            template_id: 9,
            future: true,
            version: 0x2000_0000,
            coinbase_tx_version: 2,
            coinbase_prefix: vec![0x03, 0xe8, 0x03, 0x00],
            coinbase_tx_input_sequence: 0xffff_fffe,
            coinbase_tx_value_remaining: 312_500_000,
            coinbase_tx_outputs_count: 1,
            coinbase_tx_outputs: serialize(&commitment),
            coinbase_tx_locktime: 999,
            merkle_path: vec![[1; 32], [2; 32]],
        }
    }

    fn payout() -> Vec<TxOut> {
        vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes([&[0x00, 0x14][..], &[0x11; 20][..]].concat()),
        }]
    }

    #[test]
    fn a_pool_rebuilds_the_same_coinbase_from_the_custom_job() {
        let parts = build(&template(), &payout(), b"hashrouter", 12).unwrap();
        let job = SetCustomMiningJobOwned {
            channel_id: 1,
            request_id: 1,
            token: B0255Owned::try_from(vec![1]).unwrap(),
            version: 0x2000_0000,
            prev_hash: U256Owned::from([3; 32]),
            min_ntime: 1,
            nbits: 0x207f_ffff,
            coinbase_tx_version: 2,
            coinbase_prefix: B0255Owned::try_from(parts.script_sig_prefix.clone()).unwrap(),
            coinbase_tx_input_n_sequence: 0xffff_fffe,
            coinbase_tx_outputs: B064KOwned::try_from(parts.outputs.clone()).unwrap(),
            coinbase_tx_locktime: 999,
            merkle_path: Seq0255Owned::new(vec![]).unwrap(),
        };
        // SRI's pool-side job factory, with a 4-byte channel prefix and 8 rollable bytes.
        let mut factory = JobFactory::new(true, None, None);
        let pool_job = factory
            .new_extended_job_from_custom_job(job, vec![9; 4], 12)
            .unwrap();
        let message = pool_job.get_job_message();
        assert_eq!(message.coinbase_tx_prefix.as_bytes(), parts.stripped_prefix);
        assert_eq!(message.coinbase_tx_suffix.as_bytes(), parts.stripped_suffix);
    }

    #[test]
    fn payout_gets_the_remaining_value_and_template_outputs_follow() {
        let parts = build(&template(), &payout(), b"", 8).unwrap();
        let outputs = decode_outputs(&parts.outputs).unwrap();
        assert_eq!(outputs.len(), 2);
        assert_eq!(outputs[0].value.to_sat(), 312_500_000);
        assert_eq!(outputs[1].value.to_sat(), 0);
        let mut stripped = parts.stripped_prefix.clone();
        stripped.extend_from_slice(&[5; 8]);
        stripped.extend_from_slice(&parts.stripped_suffix);
        let full = with_witness(&stripped).unwrap();
        let mut expected = parts.full_prefix.clone();
        expected.extend_from_slice(&[5; 8]);
        expected.extend_from_slice(&parts.full_suffix);
        assert_eq!(full, expected);
        let tx: Transaction = deserialize(&full).unwrap();
        assert!(tx.is_coinbase());
        assert!(tx.input[0]
            .script_sig
            .as_bytes()
            .starts_with(&[0x03, 0xe8, 0x03, 0x00]));
    }

    #[test]
    fn refuses_what_cannot_be_a_coinbase() {
        assert_eq!(
            build(&template(), &[], b"", 8),
            Err(CoinbaseError::NoPayout(312_500_000))
        );
        assert!(matches!(
            build(&template(), &payout(), &[b'x'; 76], 8),
            Err(CoinbaseError::TagTooLong(76))
        ));
        assert!(matches!(
            build(&template(), &payout(), &[b'x'; 70], 32),
            Err(CoinbaseError::ScriptSigTooLong(_))
        ));
        let mut lying = template();
        lying.coinbase_tx_outputs_count = 1000;
        assert!(matches!(
            build(&lying, &payout(), b"", 8),
            Err(CoinbaseError::TemplateOutputs(_))
        ));
        lying.coinbase_tx_outputs_count = 1;
        lying.coinbase_tx_outputs = vec![0xff; 12];
        assert!(build(&lying, &payout(), b"", 8).is_err());
        assert!(decode_outputs(&[0x05, 0x00]).is_err());
        assert!(with_witness(&[0x01, 0x02]).is_err());
    }
}
