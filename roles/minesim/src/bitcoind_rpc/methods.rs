//! JSON-RPC over the synthetic chain: single and batched requests, and the methods a V1 pool
//! (npm `stratum-pool-sha256`) calls, answered in Bitcoin Core's shapes and error codes.

use std::str::FromStr;

use serde_json::{json, Value};

use super::template::{block_template, display_hex};
use super::Shared;

/// Every method served.
pub const METHODS: &[&str] = &[
    "getblocktemplate",
    "submitblock",
    "getblock",
    "getblockchaininfo",
    "getmininginfo",
    "getnetworkinfo",
    "getdifficulty",
    "getpeerinfo",
    "validateaddress",
];

// Bitcoin Core's error codes.
const RPC_MISC_ERROR: i64 = -1;
const RPC_INVALID_ADDRESS_OR_KEY: i64 = -5;
const RPC_INVALID_PARAMETER: i64 = -8;
const RPC_DESERIALIZATION_ERROR: i64 = -22;
const RPC_INVALID_REQUEST: i64 = -32600;
const RPC_METHOD_NOT_FOUND: i64 = -32601;
const RPC_PARSE_ERROR: i64 = -32700;

/// A JSON-RPC error.
#[derive(Debug, Clone, PartialEq)]
struct RpcError {
    code: i64,
    message: String,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Answers a request body: one request or a batch (answered in order).
pub(crate) fn handle_body(shared: &Shared, body: &[u8]) -> Vec<u8> {
    let answer = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(batch)) if !batch.is_empty() => {
            Value::Array(batch.iter().map(|r| handle_one(shared, r)).collect())
        }
        Ok(Value::Array(_)) => response(
            Value::Null,
            Err(RpcError::new(RPC_INVALID_REQUEST, "empty batch")),
        ),
        Ok(request) => handle_one(shared, &request),
        Err(e) => response(
            Value::Null,
            Err(RpcError::new(RPC_PARSE_ERROR, format!("Parse error: {e}"))),
        ),
    };
    let mut out = serde_json::to_vec(&answer).unwrap_or_default();
    out.push(b'\n');
    out
}

fn handle_one(shared: &Shared, request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return response(
            id,
            Err(RpcError::new(
                RPC_INVALID_REQUEST,
                "Method must be a string",
            )),
        );
    };
    let params = match request.get("params") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(p)) => p.as_slice(),
        Some(_) => {
            return response(
                id,
                Err(RpcError::new(
                    RPC_INVALID_REQUEST,
                    "Params must be an array",
                )),
            )
        }
    };
    let known = METHODS.contains(&method);
    shared.stats.called(method, known);
    let result = if known {
        dispatch(shared, method, params)
    } else {
        Err(RpcError::new(RPC_METHOD_NOT_FOUND, "Method not found"))
    };
    response(id, result)
}

/// Bitcoin Core's JSON-RPC 1.0 shape: both `result` and `error`, always.
fn response(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(result) => json!({"result": result, "error": null, "id": id}),
        Err(e) => json!({
            "result": null,
            "error": {"code": e.code, "message": e.message},
            "id": id,
        }),
    }
}

fn dispatch(shared: &Shared, method: &str, params: &[Value]) -> Result<Value, RpcError> {
    let network = shared.config.network;
    let chain_name = network.to_core_arg();
    match method {
        "getblocktemplate" => {
            let mode = params
                .first()
                .and_then(|p| p.get("mode"))
                .and_then(Value::as_str)
                .unwrap_or("template");
            if mode != "template" {
                return Err(RpcError::new(RPC_INVALID_PARAMETER, "Invalid mode"));
            }
            let state = shared.lock_state();
            Ok(block_template(state.chain.tip(), unix_now()))
        }
        "submitblock" => {
            let Some(hex) = params.first().and_then(Value::as_str) else {
                // What bitcoind answers without the block: its help text as a misc error.
                return Err(RpcError::new(
                    RPC_MISC_ERROR,
                    "submitblock \"hexdata\" ( \"dummy\" )\n\nAttempts to submit new block to network.",
                ));
            };
            let block: bitcoin::Block = sv1::hex::decode_vec(hex, "block")
                .ok()
                .and_then(|raw| bitcoin::consensus::encode::deserialize(&raw).ok())
                .ok_or_else(|| RpcError::new(RPC_DESERIALIZATION_ERROR, "Block decode failed"))?;
            Ok(match shared.submit_block(&block) {
                Ok(()) => Value::Null,
                Err(reason) => Value::String(reason.to_string()),
            })
        }
        "getblock" => {
            let hash = params
                .first()
                .and_then(Value::as_str)
                .and_then(|h| sv1::hex::decode_32(h, "blockhash").ok())
                .map(|mut h| {
                    h.reverse();
                    h
                })
                .ok_or_else(|| RpcError::new(RPC_INVALID_PARAMETER, "blockhash must be hex"))?;
            let state = shared.lock_state();
            let block = state
                .blocks
                .get(&hash)
                .ok_or_else(|| RpcError::new(RPC_INVALID_ADDRESS_OR_KEY, "Block not found"))?;
            let tip_height = state.chain.tip().height;
            Ok(json!({
                "hash": display_hex(&block.hash),
                "confirmations": tip_height.saturating_sub(block.height),
                "height": block.height,
                "version": block.header.version.to_consensus(),
                "merkleroot": block.header.merkle_root.to_string(),
                "time": block.header.time,
                "bits": format!("{:08x}", block.header.bits.to_consensus()),
                "previousblockhash": block.header.prev_blockhash.to_string(),
                "nTx": block.txids.len(),
                "tx": block.txids.iter().map(display_hex).collect::<Vec<_>>(),
            }))
        }
        "getblockchaininfo" => {
            let state = shared.lock_state();
            let tip = state.chain.tip();
            let blocks = tip.height.saturating_sub(1);
            Ok(json!({
                "chain": chain_name,
                "blocks": blocks,
                "headers": blocks,
                "bestblockhash": display_hex(&tip.prev_hash_bytes()),
                "difficulty": difficulty(tip.nbits()),
                "time": tip.prev_hash.header_timestamp,
                "mediantime": tip.prev_hash.header_timestamp,
                "verificationprogress": 1.0,
                "initialblockdownload": false,
                "pruned": false,
                "warnings": "",
            }))
        }
        "getmininginfo" => {
            let state = shared.lock_state();
            let tip = state.chain.tip();
            let d = difficulty(tip.nbits());
            Ok(json!({
                "blocks": tip.height.saturating_sub(1),
                "difficulty": d,
                // One block per 600 s at this difficulty.
                "networkhashps": work::work_of_difficulty(d) / 600.0,
                "pooledtx": tip.transactions.len(),
                "chain": chain_name,
                "warnings": "",
            }))
        }
        "getnetworkinfo" => Ok(json!({
            "version": 280_000,
            "subversion": concat!("/minesim:", env!("CARGO_PKG_VERSION"), "/"),
            "protocolversion": 70_016,
            "localservices": "0000000000000409",
            "localrelay": true,
            "timeoffset": 0,
            "networkactive": true,
            // A synthetic chain has no peers.
            "connections": 0,
            "networks": [],
            "relayfee": 0.00001,
            "incrementalfee": 0.00001,
            "localaddresses": [],
            "warnings": "",
        })),
        "getdifficulty" => {
            let state = shared.lock_state();
            Ok(json!(difficulty(state.chain.tip().nbits())))
        }
        "getpeerinfo" => Ok(json!([])),
        "validateaddress" => {
            let text = params.first().and_then(Value::as_str).unwrap_or_default();
            let address = bitcoin::Address::from_str(text)
                .ok()
                .and_then(|a| a.require_network(network).ok());
            Ok(match address {
                Some(a) => {
                    let script = a.script_pubkey();
                    json!({
                        "isvalid": true,
                        "address": text,
                        "scriptPubKey": sv1::hex::to_hex(script.as_bytes()),
                        "isscript": script.is_p2sh() || script.is_p2wsh(),
                        "iswitness": script.is_witness_program(),
                    })
                }
                None => json!({"isvalid": false}),
            })
        }
        _ => Err(RpcError::new(RPC_METHOD_NOT_FOUND, "Method not found")),
    }
}

/// Network difficulty of a compact target.
fn difficulty(nbits: u32) -> f64 {
    work::Target::from_compact(nbits)
        .map(|t| t.difficulty())
        .unwrap_or(0.0)
}

fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().min(u64::from(u32::MAX)) as u32)
        .unwrap_or(0)
}
