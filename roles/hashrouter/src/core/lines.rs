//! Stratum V1 lines the core sends to devices. Encoded once per message (a job's
//! `mining.notify` once for all devices) and shared as [`Line`].

use std::sync::Arc;

use super::device::RequestId;
use super::jobs::DeviceJob;

/// One complete line (with its `\n`), shared between the devices it goes to.
pub type Line = Arc<[u8]>;

fn id_json(id: &RequestId) -> String {
    match id {
        RequestId::Null => "null".to_string(),
        RequestId::Number(n) => n.to_string(),
        RequestId::Text(s) => json_string(s),
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn line(text: String) -> Line {
    let mut bytes = text.into_bytes();
    bytes.push(b'\n');
    bytes.into()
}

pub fn result_bool(id: &RequestId, value: bool) -> Line {
    line(format!(
        "{{\"id\":{},\"result\":{value},\"error\":null}}",
        id_json(id)
    ))
}

pub fn error(id: &RequestId, code: i32, message: &str) -> Line {
    line(format!(
        "{{\"id\":{},\"result\":null,\"error\":[{code},{},null]}}",
        id_json(id),
        json_string(message)
    ))
}

pub fn subscribe_result(id: &RequestId, extranonce1: &[u8], extranonce2_size: usize) -> Line {
    let session = hex::encode(extranonce1);
    line(format!(
        "{{\"id\":{},\"result\":[[[\"mining.set_difficulty\",\"{session}\"],[\"mining.notify\",\"{session}\"]],\"{session}\",{extranonce2_size}],\"error\":null}}",
        id_json(id)
    ))
}

/// Answer to `mining.configure`: `granted_mask` for version rolling if it was asked.
pub fn configure_result(
    id: &RequestId,
    granted_mask: Option<u32>,
    minimum_difficulty: Option<bool>,
    subscribe_extranonce: bool,
    info: bool,
    unsupported: &[String],
) -> Line {
    let mut fields = Vec::new();
    if let Some(mask) = granted_mask {
        fields.push(format!(
            "\"version-rolling\":{},\"version-rolling.mask\":\"{mask:08x}\"",
            mask != 0
        ));
    }
    if let Some(accepted) = minimum_difficulty {
        fields.push(format!("\"minimum-difficulty\":{accepted}"));
    }
    if subscribe_extranonce {
        fields.push("\"subscribe-extranonce\":false".to_string());
    }
    if info {
        fields.push("\"info\":false".to_string());
    }
    for name in unsupported {
        fields.push(format!("{}:false", json_string(name)));
    }
    line(format!(
        "{{\"id\":{},\"result\":{{{}}},\"error\":null}}",
        id_json(id),
        fields.join(",")
    ))
}

pub fn set_difficulty(difficulty: f64) -> Line {
    line(format!(
        "{{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[{difficulty}]}}"
    ))
}

pub fn notify(job: &DeviceJob, clean: bool) -> Line {
    let mut prev = String::with_capacity(64);
    for word in job.prev_hash.chunks(4) {
        let mut w = [0u8; 4];
        w.copy_from_slice(word);
        w.reverse();
        prev.push_str(&hex::encode(w));
    }
    let branch: Vec<String> = job
        .merkle_path
        .iter()
        .map(|h| format!("\"{}\"", hex::encode(h)))
        .collect();
    line(format!(
        "{{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"{:x}\",\"{prev}\",\"{}\",\"{}\",[{}],\"{:08x}\",\"{:08x}\",\"{:08x}\",{clean}]}}",
        job.id,
        hex::encode(&job.coinb1),
        hex::encode(&job.coinb2),
        branch.join(","),
        job.version,
        job.nbits,
        job.ntime,
    ))
}
