//! `getblocktemplate`'s answer for a synthetic-chain tip, in Bitcoin Core's shape (the fields
//! a V1 pool builds its jobs from: version, previousblockhash, transactions, coinbasevalue,
//! bits, target, curtime, height).

use serde_json::{json, Value};

use crate::chain::{Tip, COINBASE_VALUE_SAT};

/// A hash in the byte order RPC shows it (reversed from internal order), as hex.
pub(crate) fn display_hex(hash: &[u8; 32]) -> String {
    let mut reversed = *hash;
    reversed.reverse();
    sv1::hex::to_hex(&reversed)
}

/// The template for `tip`, with `now` (unix seconds) as `curtime` when it is later than the
/// tip's timestamp, as bitcoind does.
pub(crate) fn block_template(tip: &Tip, now: u32) -> Value {
    let target = work::Target::from_compact(tip.nbits()).unwrap_or(work::Target::MAX);
    let timestamp = tip.prev_hash.header_timestamp;
    let transactions: Vec<Value> = tip
        .transactions
        .iter()
        .map(|tx| {
            let txid = display_hex(&tx.txid);
            json!({
                "data": sv1::hex::to_hex(&tx.raw),
                "txid": txid,
                // No witness: the wtxid is the txid.
                "hash": txid,
                "depends": [],
                "fee": 0,
                "sigops": 4,
                "weight": tx.raw.len() * 4,
            })
        })
        .collect();
    json!({
        "capabilities": ["proposal"],
        "version": tip.template.version,
        "rules": ["csv"],
        "vbavailable": {},
        "vbrequired": 0,
        "previousblockhash": display_hex(&tip.prev_hash_bytes()),
        "transactions": transactions,
        "coinbaseaux": {},
        "coinbasevalue": COINBASE_VALUE_SAT,
        "longpollid": format!("{}{}", display_hex(&tip.prev_hash_bytes()), tip.template_id()),
        "target": target.to_string(),
        "mintime": timestamp,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": 80_000,
        "sizelimit": 4_000_000,
        "weightlimit": 4_000_000,
        "curtime": now.max(timestamp),
        "bits": format!("{:08x}", tip.nbits()),
        "height": tip.height,
    })
}
