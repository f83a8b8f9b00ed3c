//! Server→client lines: notifications and responses.

use super::{close_request, close_response, open_request, open_response};
use crate::hex::write_stratum_prevhash;
use crate::id::Id;
use crate::json::{write_f64, write_hex_str, write_str, write_u32_str, write_u64};
use crate::Sv1Error;

/// A job to send as `mining.notify`, hashes in internal byte order.
#[derive(Debug, Clone, Copy)]
pub struct NotifyParams<'a> {
    pub job_id: &'a str,
    pub prev_hash: &'a [u8; 32],
    pub coinb1: &'a [u8],
    pub coinb2: &'a [u8],
    pub merkle_branch: &'a [[u8; 32]],
    pub version: u32,
    pub nbits: u32,
    pub ntime: u32,
    pub clean_jobs: bool,
}

/// What the server grants in a `mining.configure` answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigureResult<'a> {
    /// `Some(mask)` grants version rolling with that mask.
    pub version_rolling_mask: Option<u32>,
    pub minimum_difficulty: Option<bool>,
    pub subscribe_extranonce: Option<bool>,
    pub info: Option<bool>,
    /// Extensions answered `false` (refused or unknown, e.g. `version-rolling` when not granted).
    pub refused: &'a [&'a str],
}

/// `mining.notify` as one complete line.
pub fn notify(out: &mut Vec<u8>, job: &NotifyParams<'_>) {
    out.reserve(200 + job.coinb1.len() * 2 + job.coinb2.len() * 2 + job.merkle_branch.len() * 67);
    open_request(out, &Id::Null, "mining.notify");
    write_str(out, job.job_id);
    out.extend_from_slice(b",\"");
    write_stratum_prevhash(out, job.prev_hash);
    out.extend_from_slice(b"\",");
    write_hex_str(out, job.coinb1);
    out.push(b',');
    write_hex_str(out, job.coinb2);
    out.extend_from_slice(b",[");
    for (i, node) in job.merkle_branch.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_hex_str(out, node);
    }
    out.extend_from_slice(b"],");
    write_u32_str(out, job.version);
    out.push(b',');
    write_u32_str(out, job.nbits);
    out.push(b',');
    write_u32_str(out, job.ntime);
    out.extend_from_slice(if job.clean_jobs { b",true" } else { b",false" });
    close_request(out);
}

/// `mining.set_difficulty`; rejects non-finite or non-positive difficulties.
pub fn set_difficulty(out: &mut Vec<u8>, difficulty: f64) -> Result<(), Sv1Error> {
    let mark = out.len();
    open_request(out, &Id::Null, "mining.set_difficulty");
    if let Err(e) = write_f64(out, difficulty) {
        out.truncate(mark);
        return Err(e);
    }
    close_request(out);
    Ok(())
}

/// `mining.set_extranonce`.
pub fn set_extranonce(out: &mut Vec<u8>, extranonce1: &[u8], extranonce2_size: usize) {
    open_request(out, &Id::Null, "mining.set_extranonce");
    write_hex_str(out, extranonce1);
    out.push(b',');
    write_u64(out, extranonce2_size as u64);
    close_request(out);
}

/// `mining.set_version_mask`.
pub fn set_version_mask(out: &mut Vec<u8>, mask: u32) {
    open_request(out, &Id::Null, "mining.set_version_mask");
    write_u32_str(out, mask);
    close_request(out);
}

/// `client.reconnect` with optional host, port and wait (params stop at the first absent one).
pub fn reconnect(out: &mut Vec<u8>, host: Option<&str>, port: Option<u16>, wait: Option<u64>) {
    open_request(out, &Id::Null, "client.reconnect");
    if let Some(host) = host {
        write_str(out, host);
        if let Some(port) = port {
            out.push(b',');
            write_u64(out, u64::from(port));
            if let Some(wait) = wait {
                out.push(b',');
                write_u64(out, wait);
            }
        }
    }
    close_request(out);
}

/// `{"id":..,"result":true|false,"error":null}`.
pub fn result_bool(out: &mut Vec<u8>, id: &Id<'_>, result: bool) {
    open_response(out, id);
    out.extend_from_slice(if result { b"true" } else { b"false" });
    close_response(out);
}

/// `{"id":..,"result":null,"error":[code,"message",null]}`.
pub fn error(out: &mut Vec<u8>, id: &Id<'_>, code: i64, message: &str) {
    open_response(out, id);
    out.extend_from_slice(b"null,\"error\":[");
    let _ = std::io::Write::write_fmt(out, format_args!("{code}"));
    out.push(b',');
    write_str(out, message);
    out.extend_from_slice(b",null]}\n");
}

/// The `mining.subscribe` result:
/// `[[["mining.set_difficulty",sid],["mining.notify",sid]],extranonce1,extranonce2_size]`.
pub fn subscribe_result(
    out: &mut Vec<u8>,
    id: &Id<'_>,
    subscription_id: &str,
    extranonce1: &[u8],
    extranonce2_size: usize,
) {
    open_response(out, id);
    out.extend_from_slice(b"[[[\"mining.set_difficulty\",");
    write_str(out, subscription_id);
    out.extend_from_slice(b"],[\"mining.notify\",");
    write_str(out, subscription_id);
    out.extend_from_slice(b"]],");
    write_hex_str(out, extranonce1);
    out.push(b',');
    write_u64(out, extranonce2_size as u64);
    out.push(b']');
    close_response(out);
}

/// The `mining.configure` result object.
pub fn configure_result(out: &mut Vec<u8>, id: &Id<'_>, result: &ConfigureResult<'_>) {
    open_response(out, id);
    out.push(b'{');
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, name: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, name);
        out.push(b':');
    };
    if let Some(mask) = result.version_rolling_mask {
        key(out, "version-rolling");
        out.extend_from_slice(b"true");
        key(out, "version-rolling.mask");
        write_u32_str(out, mask);
    }
    for (name, flag) in [
        ("minimum-difficulty", result.minimum_difficulty),
        ("subscribe-extranonce", result.subscribe_extranonce),
        ("info", result.info),
    ] {
        if let Some(flag) = flag {
            key(out, name);
            out.extend_from_slice(if flag { b"true" } else { b"false" });
        }
    }
    for name in result.refused {
        key(out, name);
        out.extend_from_slice(b"false");
    }
    out.push(b'}');
    close_response(out);
}
