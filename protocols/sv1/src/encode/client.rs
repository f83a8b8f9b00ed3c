//! Client→server lines: the requests a miner sends.

use super::{close_request, open_request};
use crate::client::Submit;
use crate::hex::write_u32_hex;
use crate::id::Id;
use crate::json::{write_f64, write_hex_str, write_str, write_u32_str, write_u64};
use crate::Sv1Error;

/// What a miner asks for in `mining.configure`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigureRequest<'a> {
    /// `(mask, min_bit_count)` to request version rolling.
    pub version_rolling: Option<(u32, u32)>,
    pub minimum_difficulty: Option<f64>,
    pub subscribe_extranonce: bool,
    /// Lumerin's `lmr` extension: the hashrate contract this connection delivers, which a
    /// Lumerin validator expects as `lmr.contract-address`.
    pub lmr_contract_address: Option<&'a str>,
}

/// `mining.subscribe` with optional user agent and session id.
pub fn subscribe(
    out: &mut Vec<u8>,
    id: &Id<'_>,
    user_agent: Option<&str>,
    session_id: Option<&str>,
) {
    open_request(out, id, "mining.subscribe");
    if let Some(user_agent) = user_agent {
        write_str(out, user_agent);
        if let Some(session_id) = session_id {
            out.push(b',');
            write_str(out, session_id);
        }
    }
    close_request(out);
}

/// `mining.authorize`.
pub fn authorize(out: &mut Vec<u8>, id: &Id<'_>, user: &str, password: &str) {
    open_request(out, id, "mining.authorize");
    write_str(out, user);
    out.push(b',');
    write_str(out, password);
    close_request(out);
}

/// `mining.configure` (BIP 310).
pub fn configure(
    out: &mut Vec<u8>,
    id: &Id<'_>,
    request: &ConfigureRequest<'_>,
) -> Result<(), Sv1Error> {
    let mark = out.len();
    open_request(out, id, "mining.configure");
    out.push(b'[');
    let mut names = Vec::with_capacity(3);
    if request.version_rolling.is_some() {
        names.push("version-rolling");
    }
    if request.minimum_difficulty.is_some() {
        names.push("minimum-difficulty");
    }
    if request.subscribe_extranonce {
        names.push("subscribe-extranonce");
    }
    if request.lmr_contract_address.is_some() {
        names.push("lmr");
    }
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, name);
    }
    out.extend_from_slice(b"],{");
    let mut first = true;
    if let Some((mask, min_bits)) = request.version_rolling {
        out.extend_from_slice(b"\"version-rolling.mask\":");
        write_u32_str(out, mask);
        out.extend_from_slice(b",\"version-rolling.min-bit-count\":");
        write_u64(out, u64::from(min_bits));
        first = false;
    }
    if let Some(difficulty) = request.minimum_difficulty {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"minimum-difficulty.value\":");
        if let Err(e) = write_f64(out, difficulty) {
            out.truncate(mark);
            return Err(e);
        }
        first = false;
    }
    if let Some(address) = request.lmr_contract_address {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"lmr.contract-address\":");
        write_str(out, address);
    }
    out.push(b'}');
    close_request(out);
    Ok(())
}

/// `mining.extranonce.subscribe`.
pub fn extranonce_subscribe(out: &mut Vec<u8>, id: &Id<'_>) {
    open_request(out, id, "mining.extranonce.subscribe");
    close_request(out);
}

/// `mining.suggest_difficulty`.
pub fn suggest_difficulty(out: &mut Vec<u8>, id: &Id<'_>, difficulty: f64) -> Result<(), Sv1Error> {
    let mark = out.len();
    open_request(out, id, "mining.suggest_difficulty");
    if let Err(e) = write_f64(out, difficulty) {
        out.truncate(mark);
        return Err(e);
    }
    close_request(out);
    Ok(())
}

/// `mining.submit`, with the 6th version-bits param when present.
pub fn submit(out: &mut Vec<u8>, id: &Id<'_>, share: &Submit<'_>) {
    submit_raw(
        out,
        id,
        &RawSubmit {
            worker: &share.worker,
            job_id: &share.job_id,
            extranonce2: share.extranonce2.as_bytes(),
            ntime: share.ntime,
            nonce: share.nonce,
            version_bits: share.version_bits,
        },
    );
}

/// A share to submit whose extranonce2 is any length: a proxy forwards the pool's whole
/// extranonce2, which may be wider than the 8 bytes a device's [`Submit`] holds.
#[derive(Debug, Clone, Copy)]
pub struct RawSubmit<'a> {
    pub worker: &'a str,
    pub job_id: &'a str,
    pub extranonce2: &'a [u8],
    pub ntime: u32,
    pub nonce: u32,
    pub version_bits: Option<u32>,
}

/// `mining.submit` from a [`RawSubmit`].
pub fn submit_raw(out: &mut Vec<u8>, id: &Id<'_>, share: &RawSubmit<'_>) {
    open_request(out, id, "mining.submit");
    write_str(out, share.worker);
    out.push(b',');
    write_str(out, share.job_id);
    out.push(b',');
    write_hex_str(out, share.extranonce2);
    out.push(b',');
    write_u32_str(out, share.ntime);
    out.push(b',');
    write_u32_str(out, share.nonce);
    if let Some(bits) = share.version_bits {
        out.extend_from_slice(b",\"");
        write_u32_hex(out, bits);
        out.push(b'"');
    }
    close_request(out);
}
