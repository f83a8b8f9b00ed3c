//! The bitcoind JSON-RPC shim over real HTTP: the calls a V1 pool makes, blocks built from its
//! templates (accepted, moving the tip) and broken ones (refused with bitcoind's reasons),
//! basic auth and keep-alive.

use std::net::SocketAddr;
use std::str::FromStr;

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};
use minesim::bitcoind_rpc::{BitcoindRpc, BitcoindRpcConfig, BitcoindRpcHandle, RpcAuth};
use minesim::chain::bip34_prefix;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use work::Target;

const AUTH: &str = "Basic dXNlcjpwYXNz"; // user:pass

async fn start(nbits: Option<u32>) -> BitcoindRpcHandle {
    let mut config = BitcoindRpcConfig::new("127.0.0.1:0".parse().unwrap());
    config.auth = Some(RpcAuth {
        user: "user".into(),
        password: "pass".into(),
    });
    if let Some(n) = nbits {
        config.nbits = n;
    }
    BitcoindRpc::start(config).await.expect("shim starts")
}

/// One POST on its own connection: the status code and the JSON body.
async fn post(addr: SocketAddr, auth: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap()
    };
    (status, json)
}

async fn call(addr: SocketAddr, method: &str, params: Value) -> Value {
    let (status, answer) = post(
        addr,
        AUTH,
        &json!({"id": 1, "method": method, "params": params}),
    )
    .await;
    assert_eq!(status, 200);
    answer
}

async fn result(addr: SocketAddr, method: &str, params: Value) -> Value {
    let answer = call(addr, method, params).await;
    assert!(answer["error"].is_null(), "{method}: {answer}");
    answer["result"].clone()
}

/// A block on `template`: a BIP34 coinbase at `height` plus the template's transactions,
/// with the right merkle root, ground until its hash meets (or fails) the template's target.
fn build_block(template: &Value, height: u64, meet: bool) -> Block {
    let coinbase = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes([bip34_prefix(height as u32), vec![7; 8]].concat()),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(template["coinbasevalue"].as_u64().unwrap()),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }],
    };
    let mut txdata = vec![coinbase];
    for tx in template["transactions"].as_array().unwrap() {
        let raw = sv1::hex::decode_vec(tx["data"].as_str().unwrap(), "tx").unwrap();
        txdata.push(bitcoin::consensus::encode::deserialize(&raw).unwrap());
    }
    let bits = u32::from_str_radix(template["bits"].as_str().unwrap(), 16).unwrap();
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(template["version"].as_i64().unwrap() as i32),
            prev_blockhash: BlockHash::from_str(template["previousblockhash"].as_str().unwrap())
                .unwrap(),
            merkle_root: TxMerkleNode::all_zeros(),
            time: template["curtime"].as_u64().unwrap() as u32,
            bits: CompactTarget::from_consensus(bits),
            nonce: 0,
        },
        txdata,
    };
    block.header.merkle_root = block.compute_merkle_root().unwrap();
    grind(&mut block, meet);
    block
}

fn grind(block: &mut Block, meet: bool) {
    let target = Target::from_compact(block.header.bits.to_consensus()).unwrap();
    while target.is_met_by(&block.header.block_hash().to_byte_array()) != meet {
        block.header.nonce += 1;
    }
}

fn block_hex(block: &Block) -> String {
    sv1::hex::to_hex(&bitcoin::consensus::encode::serialize(block))
}

#[tokio::test]
async fn answers_a_v1_pools_startup_batch_and_counts_every_call() {
    let rpc = start(None).await;
    let addr = rpc.local_addr();
    let script = ScriptBuf::from_bytes([&[0x00u8, 0x14][..], &[0x33u8; 20][..]].concat());
    let address = |network| {
        bitcoin::Address::from_script(&script, network)
            .unwrap()
            .to_string()
    };
    let regtest = address(bitcoin::Network::Regtest);
    let (status, batch) = post(
        addr,
        AUTH,
        &json!([
            {"id": 1, "method": "validateaddress", "params": [regtest]},
            {"id": 2, "method": "getdifficulty", "params": []},
            {"id": 3, "method": "getmininginfo", "params": []},
            {"id": 4, "method": "submitblock", "params": []},
            {"id": 5, "method": "getblockchaininfo", "params": []},
            {"id": 6, "method": "getnetworkinfo", "params": []},
        ]),
    )
    .await;
    assert_eq!(status, 200);
    let answers = batch.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 6);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a["id"], json!(i + 1), "answers in order");
    }
    assert_eq!(answers[0]["result"]["isvalid"], json!(true));
    assert_eq!(
        answers[0]["result"]["scriptPubKey"],
        json!(sv1::hex::to_hex(script.as_bytes()))
    );
    let difficulty = answers[1]["result"].as_f64().unwrap();
    let expected = Target::from_compact(0x1b04_04cb).unwrap().difficulty();
    assert!((difficulty / expected - 1.0).abs() < 1e-9, "{difficulty}");
    assert!(answers[2]["result"]["networkhashps"].as_f64().unwrap() > 0.0);
    // Without a block, submitblock answers bitcoind's misc error: how pools detect it.
    assert_eq!(answers[3]["error"]["code"], json!(-1));
    assert_eq!(answers[4]["result"]["chain"], json!("regtest"));
    assert_eq!(answers[4]["result"]["blocks"], json!(999));
    assert!(answers[5]["result"]["protocolversion"].as_u64().is_some());

    assert_eq!(result(addr, "getpeerinfo", json!([])).await, json!([]));
    let mainnet = result(
        addr,
        "validateaddress",
        json!([address(bitcoin::Network::Bitcoin)]),
    )
    .await;
    assert_eq!(mainnet["isvalid"], json!(false), "wrong network");
    let template = result(addr, "getblocktemplate", json!([{"rules": ["segwit"]}])).await;
    assert_eq!(template["height"], json!(1000));
    assert_eq!(template["bits"], json!("1b0404cb"));
    assert_eq!(template["transactions"].as_array().unwrap().len(), 3);
    assert_eq!(template["target"].as_str().unwrap().len(), 64);
    let unknown = call(addr, "getwork", json!([])).await;
    assert_eq!(unknown["error"]["code"], json!(-32601));

    let stats = rpc.stats();
    for method in [
        "validateaddress",
        "getdifficulty",
        "getmininginfo",
        "submitblock",
        "getblockchaininfo",
        "getnetworkinfo",
        "getpeerinfo",
        "getblocktemplate",
    ] {
        assert!(stats.calls_of(method) >= 1, "{method} counted");
    }
    assert_eq!(stats.calls_of("validateaddress"), 2);
    assert_eq!(stats.unknown_calls().get("getwork"), Some(&1));
    rpc.shutdown().await;
}

#[tokio::test]
async fn a_block_from_the_template_moves_the_tip_and_broken_ones_are_refused() {
    let rpc = start(Some(0x207f_ffff)).await;
    let addr = rpc.local_addr();
    let stats = rpc.stats();
    let template = result(addr, "getblocktemplate", json!([{}])).await;
    let height = template["height"].as_u64().unwrap();

    // Refusals first (they leave the tip alone).
    let high = build_block(&template, height, false);
    let mut wrong_bits = build_block(&template, height, true);
    let mut wrong_root = build_block(&template, height, true);
    wrong_root.header.merkle_root = TxMerkleNode::all_zeros();
    grind(&mut wrong_root, true);
    wrong_bits.header.bits = CompactTarget::from_consensus(0x207f_fffe);
    grind(&mut wrong_bits, true);
    for (block, reason) in [
        (&high, "high-hash"),
        (&wrong_root, "bad-txnmrklroot"),
        (&wrong_bits, "bad-diffbits"),
    ] {
        let answer = result(addr, "submitblock", json!([block_hex(block)])).await;
        assert_eq!(answer, json!(reason));
    }
    let bad_cb = build_block(&template, height + 1, true);
    let answer = result(addr, "submitblock", json!([block_hex(&bad_cb)])).await;
    assert_eq!(answer, json!("bad-cb-height"));
    let garbage = call(addr, "submitblock", json!(["00ff"])).await;
    assert_eq!(garbage["error"]["code"], json!(-22));
    assert_eq!(stats.accepted_blocks(), 0);
    assert_eq!(stats.tip_height(), height);

    let block = build_block(&template, height, true);
    let hash = block.block_hash().to_string();
    assert_eq!(
        result(addr, "submitblock", json!([block_hex(&block)])).await,
        Value::Null,
        "accepted"
    );
    assert_eq!(stats.accepted_blocks(), 1);
    assert_eq!(stats.tip_height(), height + 1);
    let info = result(addr, "getblockchaininfo", json!([])).await;
    assert_eq!(info["bestblockhash"], json!(hash));
    assert_eq!(info["blocks"], json!(height));
    let next = result(addr, "getblocktemplate", json!([{}])).await;
    assert_eq!(next["previousblockhash"], json!(hash));
    assert_eq!(next["height"], json!(height + 1));
    let got = result(addr, "getblock", json!([hash])).await;
    assert_eq!(got["hash"], json!(hash));
    assert_eq!(got["height"], json!(height));
    assert_eq!(
        got["tx"][0],
        json!(block.txdata[0].compute_txid().to_string())
    );
    assert_eq!(got["tx"].as_array().unwrap().len(), 4);
    let missing = call(addr, "getblock", json!([template["previousblockhash"]])).await;
    assert_eq!(missing["error"]["code"], json!(-5));

    // The same block again, and one more on the old tip.
    let again = result(addr, "submitblock", json!([block_hex(&block)])).await;
    assert_eq!(again, json!("duplicate"));
    let mut stale = build_block(&template, height, true);
    stale.txdata[0].input[0].script_sig =
        ScriptBuf::from_bytes([bip34_prefix(height as u32), vec![8; 8]].concat());
    stale.header.merkle_root = stale.compute_merkle_root().unwrap();
    grind(&mut stale, true);
    let answer = result(addr, "submitblock", json!([block_hex(&stale)])).await;
    assert_eq!(answer, json!("bad-prevblk"));
    let rejected = stats.rejected_blocks();
    for reason in [
        "high-hash",
        "bad-txnmrklroot",
        "bad-diffbits",
        "bad-cb-height",
        "duplicate",
        "bad-prevblk",
    ] {
        assert_eq!(rejected.get(reason), Some(&1), "{reason}");
    }
    rpc.shutdown().await;
}

#[tokio::test]
async fn credentials_are_required_and_connections_are_kept_alive() {
    let rpc = start(None).await;
    let addr = rpc.local_addr();
    let (status, _) = post(
        addr,
        "Basic d3Jvbmc6d3Jvbmc=",
        &json!({"id": 1, "method": "getdifficulty"}),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(rpc.stats().unauthorized(), 1);
    assert_eq!(rpc.stats().calls_of("getdifficulty"), 0);

    // Two requests on one connection, answered in turn.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    for id in 1..=2 {
        let body = json!({"id": id, "method": "getdifficulty", "params": []}).to_string();
        let request = format!(
            "POST / HTTP/1.1\r\nAuthorization: {AUTH}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        writer.write_all(request.as_bytes()).await.unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).await.unwrap();
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["id"], json!(id));
        assert!(answer["result"].as_f64().unwrap() > 1.0);
    }
    assert_eq!(rpc.stats().calls_of("getdifficulty"), 2);
    rpc.shutdown().await;
}
