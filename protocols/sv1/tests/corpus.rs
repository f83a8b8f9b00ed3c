//! Replays `test-vectors/sv1/*.jsonl`: real-world line shapes from device firmware and pools.
//! Every field in a vector's `expect` must match what the codec parsed; `"error": true` vectors
//! must be rejected. Unknown `expect` keys fail the test so a typo cannot pass silently.

use std::path::PathBuf;

use serde_json::{json, Map, Value};
use sv1::hex::to_hex;
use sv1::{parse_client, parse_server, ClientMessage, Id, ServerMessage};

fn id_value(id: &Id<'_>) -> Value {
    match id {
        Id::Null => Value::Null,
        Id::Number(n) => Value::Number(n.clone()),
        Id::String(s) => Value::String(s.to_string()),
    }
}

fn hex32(v: u32) -> Value {
    Value::String(format!("{v:08x}"))
}

/// What the codec understood of a device line, in the corpus vocabulary.
fn client_facts(line: &str) -> Result<Map<String, Value>, String> {
    let req = parse_client(line.as_bytes()).map_err(|e| e.to_string())?;
    let mut f = Map::new();
    f.insert("id".into(), id_value(&req.id));
    let method = match &req.message {
        ClientMessage::Subscribe {
            user_agent,
            session_id,
        } => {
            f.insert("user_agent".into(), json!(user_agent));
            f.insert("session_id".into(), json!(session_id));
            "mining.subscribe".to_string()
        }
        ClientMessage::Authorize { user, password } => {
            f.insert("user".into(), json!(user));
            f.insert("password".into(), json!(password));
            "mining.authorize".to_string()
        }
        ClientMessage::Configure(c) => {
            f.insert("extensions".into(), json!(c.extensions));
            let vr = c.version_rolling.unwrap_or_default();
            f.insert(
                "version_rolling_mask".into(),
                json!(vr.mask.map(|m| format!("{m:08x}"))),
            );
            f.insert("min_bit_count".into(), json!(vr.min_bit_count));
            f.insert("minimum_difficulty".into(), json!(c.minimum_difficulty));
            f.insert("subscribe_extranonce".into(), json!(c.subscribe_extranonce));
            "mining.configure".to_string()
        }
        ClientMessage::ExtranonceSubscribe => "mining.extranonce.subscribe".to_string(),
        ClientMessage::SuggestDifficulty { difficulty } => {
            f.insert("difficulty".into(), json!(difficulty));
            "mining.suggest_difficulty".to_string()
        }
        ClientMessage::Submit(s) => {
            f.insert("worker".into(), json!(s.worker));
            f.insert("job_id".into(), json!(s.job_id));
            f.insert(
                "extranonce2".into(),
                json!(to_hex(s.extranonce2.as_bytes())),
            );
            f.insert("ntime".into(), hex32(s.ntime));
            f.insert("nonce".into(), hex32(s.nonce));
            f.insert(
                "version_bits".into(),
                s.version_bits.map(hex32).unwrap_or(Value::Null),
            );
            "mining.submit".to_string()
        }
        ClientMessage::Unknown { method } => {
            f.insert("unknown".into(), json!(true));
            method.to_string()
        }
    };
    f.insert("method".into(), json!(method));
    Ok(f)
}

/// What the codec understood of a server line.
fn server_facts(line: &str) -> Result<Map<String, Value>, String> {
    let msg = parse_server(line.as_bytes()).map_err(|e| e.to_string())?;
    let mut f = Map::new();
    let kind = match msg {
        ServerMessage::Notify(n) => {
            let mut display = n.prev_hash;
            display.reverse();
            f.insert("job_id".into(), json!(n.job_id));
            f.insert("prev_hash_display".into(), json!(to_hex(&display)));
            f.insert("version".into(), hex32(n.version));
            f.insert("nbits".into(), hex32(n.nbits));
            f.insert("ntime".into(), hex32(n.ntime));
            f.insert("clean_jobs".into(), json!(n.clean_jobs));
            f.insert("merkle_branch_len".into(), json!(n.merkle_branch.len()));
            "mining.notify"
        }
        ServerMessage::SetDifficulty(d) => {
            f.insert("difficulty".into(), json!(d));
            "mining.set_difficulty"
        }
        ServerMessage::SetExtranonce {
            extranonce1,
            extranonce2_size,
        } => {
            f.insert("extranonce1".into(), json!(to_hex(&extranonce1)));
            f.insert("extranonce2_size".into(), json!(extranonce2_size));
            "mining.set_extranonce"
        }
        ServerMessage::SetVersionMask(mask) => {
            f.insert("version_mask".into(), hex32(mask));
            "mining.set_version_mask"
        }
        ServerMessage::Reconnect(r) => {
            f.insert("host".into(), json!(r.host));
            f.insert("port".into(), json!(r.port));
            "client.reconnect"
        }
        ServerMessage::Unknown { .. } => "unknown",
        ServerMessage::Response(r) => {
            f.insert("id".into(), id_value(&r.id));
            f.insert("result".into(), json!(r.is_true()));
            f.insert("error_code".into(), json!(r.error.as_ref().map(|e| e.code)));
            if let Ok(sub) = r.subscribe() {
                f.insert("extranonce1".into(), json!(to_hex(&sub.extranonce1)));
                f.insert("extranonce2_size".into(), json!(sub.extranonce2_size));
            }
            if let Ok(conf) = r.configure() {
                let mask = conf.version_rolling_mask.map(|m| format!("{m:08x}"));
                f.insert("version_rolling_mask".into(), json!(mask));
            }
            "response"
        }
    };
    f.insert("kind".into(), json!(kind));
    Ok(f)
}

fn same(expected: &Value, got: &Value) -> bool {
    match (expected, got) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => expected == got,
    }
}

#[test]
fn corpus_lines_parse_as_expected() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors/sv1");
    let mut files = 0;
    let mut lines = 0;
    let mut rejected = 0;
    let mut failures = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("test-vectors/sv1 exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    paths.sort();
    for path in paths {
        files += 1;
        let text = std::fs::read_to_string(&path).expect("readable vector file");
        for (n, raw) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            lines += 1;
            let where_ = format!("{}:{}", path.file_name().unwrap().to_string_lossy(), n + 1);
            let vector: Value = serde_json::from_str(raw).expect("vector is JSON");
            assert!(
                vector["source"].as_str().is_some_and(|s| !s.is_empty()),
                "{where_}: source"
            );
            let line = vector["line"].as_str().expect("line is a string");
            let expect = vector["expect"].as_object().expect("expect is an object");
            let parsed = match vector["direction"].as_str() {
                Some("client") => client_facts(line),
                Some("server") => server_facts(line),
                other => panic!("{where_}: bad direction {other:?}"),
            };
            if expect.get("error") == Some(&Value::Bool(true)) {
                rejected += 1;
                if let Ok(facts) = parsed {
                    failures.push(format!("{where_}: expected rejection, parsed {facts:?}"));
                }
                continue;
            }
            let facts = match parsed {
                Ok(facts) => facts,
                Err(e) => {
                    failures.push(format!("{where_}: rejected: {e}"));
                    continue;
                }
            };
            for (key, want) in expect {
                match facts.get(key) {
                    None => failures.push(format!("{where_}: no fact named {key:?}")),
                    Some(got) if !same(want, got) => {
                        failures.push(format!("{where_}: {key}: expected {want}, got {got}"))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "corpus mismatches:\n{}",
        failures.join("\n")
    );
    assert!(files >= 8, "only {files} firmware files");
    assert!(lines >= 40, "only {lines} lines");
    assert!(rejected >= 3, "only {rejected} must-reject lines");
    println!("{files} files, {lines} lines ({rejected} must-reject) checked");
}
