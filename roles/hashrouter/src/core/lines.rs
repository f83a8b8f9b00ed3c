//! Stratum V1 lines the core sends to devices, encoded with the `sv1` codec. A job's
//! `mining.notify` is encoded once and the same bytes go to every device.

use std::sync::Arc;

use sv1::encode::server::{self as encode, ConfigureResult, NotifyParams};

use super::device::RequestId;
use super::jobs::DeviceJob;

/// One complete line (with its `\n`), shared between the devices it goes to.
pub type Line = Arc<[u8]>;

fn build(write: impl FnOnce(&mut Vec<u8>)) -> Line {
    let mut out = Vec::with_capacity(128);
    write(&mut out);
    out.into()
}

pub fn result_bool(id: &RequestId, value: bool) -> Line {
    build(|out| encode::result_bool(out, id, value))
}

pub fn error(id: &RequestId, code: i64, message: &str) -> Line {
    build(|out| encode::error(out, id, code, message))
}

/// The session id is the device's extranonce1 in hex: unique per device, and it says which
/// device a log line is about.
pub fn subscribe_result(id: &RequestId, extranonce1: &[u8], extranonce2_size: usize) -> Line {
    let session = hex::encode(extranonce1);
    build(|out| encode::subscribe_result(out, id, &session, extranonce1, extranonce2_size))
}

pub fn configure_result(id: &RequestId, result: &ConfigureResult<'_>) -> Line {
    build(|out| encode::configure_result(out, id, result))
}

/// `None` only for a non-finite or non-positive difficulty, which vardiff's clamping excludes.
pub fn set_difficulty(difficulty: f64) -> Option<Line> {
    let mut out = Vec::with_capacity(80);
    encode::set_difficulty(&mut out, difficulty).ok()?;
    Some(out.into())
}

pub fn notify(job: &DeviceJob, clean: bool) -> Line {
    let job_id = format!("{:x}", job.id);
    build(|out| {
        encode::notify(
            out,
            &NotifyParams {
                job_id: &job_id,
                prev_hash: &job.prev_hash,
                coinb1: &job.coinb1,
                coinb2: &job.coinb2,
                merkle_branch: &job.merkle_path,
                version: job.version,
                nbits: job.nbits,
                ntime: job.ntime,
                clean_jobs: clean,
            },
        )
    })
}
