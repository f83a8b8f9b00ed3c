//! Server→client messages (what a pool or the node sends a device) and their parser, used by
//! the CPU miner and by tests.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::hex::{decode_32, decode_vec, parse_stratum_prevhash, parse_u32_hex};
use crate::id::Id;
use crate::json::{self, cow_str, Envelope, Params};
use crate::Sv1Error;

/// One line from the server: a notification or a response to one of our requests.
#[derive(Debug, Clone)]
pub enum ServerMessage<'a> {
    Notify(Notify<'a>),
    SetDifficulty(f64),
    SetExtranonce {
        extranonce1: Vec<u8>,
        extranonce2_size: usize,
    },
    SetVersionMask(u32),
    Reconnect(Reconnect<'a>),
    /// A notification or server request we do not handle (e.g. `client.get_version`).
    Unknown {
        id: Id<'a>,
        method: Cow<'a, str>,
    },
    Response(Response<'a>),
}

/// A `mining.notify` job, converted to internal byte orders.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify<'a> {
    pub job_id: Cow<'a, str>,
    /// Previous block hash, internal byte order (converted from the stratum word-swapped form).
    pub prev_hash: [u8; 32],
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
    /// Merkle branch, internal byte order.
    pub merkle_branch: Vec<[u8; 32]>,
    pub version: u32,
    pub nbits: u32,
    pub ntime: u32,
    pub clean_jobs: bool,
}

impl Notify<'_> {
    /// The same job, no longer borrowing the line it was parsed from.
    pub fn into_owned(self) -> Notify<'static> {
        Notify {
            job_id: Cow::Owned(self.job_id.into_owned()),
            prev_hash: self.prev_hash,
            coinb1: self.coinb1,
            coinb2: self.coinb2,
            merkle_branch: self.merkle_branch,
            version: self.version,
            nbits: self.nbits,
            ntime: self.ntime,
            clean_jobs: self.clean_jobs,
        }
    }
}

/// `client.reconnect`: all params optional (no host means "same host").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reconnect<'a> {
    pub host: Option<Cow<'a, str>>,
    pub port: Option<u16>,
    pub wait_seconds: Option<u64>,
}

/// A response to one of our requests; interpret `result` with the helper matching the request.
#[derive(Debug, Clone)]
pub struct Response<'a> {
    pub id: Id<'a>,
    /// Raw `result`, `None` when absent or null.
    pub result: Option<&'a RawValue>,
    pub error: Option<RpcError<'a>>,
}

/// A JSON-RPC error, from `[code, "message", traceback]` or `{"code":..,"message":..}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError<'a> {
    pub code: i64,
    pub message: Cow<'a, str>,
}

/// The useful part of a `mining.subscribe` result.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeAnswer {
    pub extranonce1: Vec<u8>,
    pub extranonce2_size: usize,
}

/// The useful part of a `mining.configure` result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigureAnswer {
    /// The granted version-rolling mask, when version rolling was accepted.
    pub version_rolling_mask: Option<u32>,
    pub minimum_difficulty: Option<bool>,
    pub subscribe_extranonce: Option<bool>,
}

impl Response<'_> {
    /// Whether the request succeeded with `result: true` (authorize, submit).
    pub fn is_true(&self) -> bool {
        self.error.is_none() && self.result.map(|r| r.get()) == Some("true")
    }

    /// Reads a `mining.subscribe` result `[subscriptions, extranonce1, extranonce2_size]`.
    pub fn subscribe(&self) -> Result<SubscribeAnswer, Sv1Error> {
        let result = self
            .result
            .ok_or(Sv1Error::UnexpectedResult("subscribe result missing"))?;
        let items = json::array_items(result)?;
        let extranonce1 = items
            .get(1)
            .and_then(|raw| cow_str(raw))
            .ok_or(Sv1Error::UnexpectedResult("extranonce1 missing"))?;
        let extranonce2_size = items
            .get(2)
            .and_then(|raw| json::number(raw))
            .filter(|v| v.fract() == 0.0 && (0.0..=32.0).contains(v))
            .ok_or(Sv1Error::UnexpectedResult("extranonce2_size missing"))?;
        Ok(SubscribeAnswer {
            extranonce1: decode_vec(&extranonce1, "extranonce1")?,
            extranonce2_size: extranonce2_size as usize,
        })
    }

    /// Reads a `mining.configure` result object.
    pub fn configure(&self) -> Result<ConfigureAnswer, Sv1Error> {
        let result = self
            .result
            .ok_or(Sv1Error::UnexpectedResult("configure result missing"))?;
        let mut answer = ConfigureAnswer::default();
        let mut rolling = false;
        let mut mask = None;
        for (key, value) in json::object_entries(result)? {
            let flag = value.get() == "true";
            match key.as_ref() {
                "version-rolling" => rolling = flag,
                "version-rolling.mask" => {
                    let text = cow_str(value).ok_or(Sv1Error::UnexpectedResult("mask"))?;
                    mask = Some(parse_u32_hex(&text, "version-rolling.mask")?);
                }
                "minimum-difficulty" => answer.minimum_difficulty = Some(flag),
                "subscribe-extranonce" => answer.subscribe_extranonce = Some(flag),
                _ => {}
            }
        }
        if rolling {
            answer.version_rolling_mask = mask;
        }
        Ok(answer)
    }
}

/// Parses one line sent by a server (without its `\n`).
pub fn parse_server(line: &[u8]) -> Result<ServerMessage<'_>, Sv1Error> {
    let envelope = Envelope::parse(line)?;
    let id = Id::from_raw(envelope.id)?;
    let Some(method) = envelope.method()? else {
        if envelope.result.is_none() && envelope.error.is_none() && envelope.id.is_none() {
            return Err(Sv1Error::NotAMessage);
        }
        return Ok(ServerMessage::Response(Response {
            id,
            result: envelope.result,
            error: envelope.error.map(parse_rpc_error).transpose()?,
        }));
    };
    Ok(match method.as_ref() {
        "mining.notify" => ServerMessage::Notify(parse_notify(&Params::parse(
            envelope.params,
            "mining.notify",
        )?)?),
        "mining.set_difficulty" => {
            let p = Params::parse(envelope.params, "mining.set_difficulty")?;
            let difficulty = p.req_f64(0)?;
            if difficulty <= 0.0 {
                return Err(p.invalid(0, "must be positive"));
            }
            ServerMessage::SetDifficulty(difficulty)
        }
        "mining.set_extranonce" => {
            let p = Params::parse(envelope.params, "mining.set_extranonce")?;
            let size = p.req_f64(1)?;
            if size.fract() != 0.0 || !(0.0..=32.0).contains(&size) {
                return Err(p.invalid(1, "must be a size"));
            }
            ServerMessage::SetExtranonce {
                extranonce1: decode_vec(&p.req_str(0)?, "extranonce1")?,
                extranonce2_size: size as usize,
            }
        }
        "mining.set_version_mask" => {
            let p = Params::parse(envelope.params, "mining.set_version_mask")?;
            ServerMessage::SetVersionMask(parse_u32_hex(&p.req_str(0)?, "version mask")?)
        }
        "client.reconnect" => {
            let p = Params::parse(envelope.params, "client.reconnect")?;
            let port = match p.opt(1) {
                None => None,
                Some(raw) => Some(
                    json::number(raw)
                        .filter(|v| v.fract() == 0.0 && (0.0..=65535.0).contains(v))
                        .ok_or_else(|| p.invalid(1, "must be a port"))? as u16,
                ),
            };
            let wait_seconds = p
                .opt(2)
                .and_then(json::number)
                .filter(|v| *v >= 0.0)
                .map(|v| v as u64);
            ServerMessage::Reconnect(Reconnect {
                host: p.opt_str(0)?,
                port,
                wait_seconds,
            })
        }
        _ => ServerMessage::Unknown { id, method },
    })
}

fn parse_notify<'a>(p: &Params<'a>) -> Result<Notify<'a>, Sv1Error> {
    let branch = json::array_items(p.req(4)?).map_err(|_| p.invalid(4, "must be an array"))?;
    let merkle_branch = branch
        .into_iter()
        .map(|raw| {
            let text = cow_str(raw).ok_or_else(|| p.invalid(4, "must hold strings"))?;
            decode_32(&text, "merkle_branch")
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Notify {
        job_id: p.req_str(0)?,
        prev_hash: parse_stratum_prevhash(&p.req_str(1)?)?,
        coinb1: decode_vec(&p.req_str(2)?, "coinb1")?,
        coinb2: decode_vec(&p.req_str(3)?, "coinb2")?,
        merkle_branch,
        version: parse_u32_hex(&p.req_str(5)?, "version")?,
        nbits: parse_u32_hex(&p.req_str(6)?, "nbits")?,
        ntime: parse_u32_hex(&p.req_str(7)?, "ntime")?,
        clean_jobs: p.req_bool(8)?,
    })
}

fn parse_rpc_error(raw: &RawValue) -> Result<RpcError<'_>, Sv1Error> {
    let text = raw.get();
    let bad = || Sv1Error::UnexpectedResult("error must be [code, message, ..] or an object");
    let (code, message) = if text.starts_with('[') {
        let items = json::array_items(raw)?;
        (items.first().copied(), items.get(1).copied())
    } else if text.starts_with('{') {
        let entries = json::object_entries(raw)?;
        let find = |name: &str| entries.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        (find("code"), find("message"))
    } else if let Some(message) = cow_str(raw) {
        // A bare string error (seen from some proxies).
        return Ok(RpcError { code: -1, message });
    } else {
        return Err(bad());
    };
    let code = code
        .and_then(json::number)
        .filter(|v| v.fract() == 0.0)
        .ok_or_else(bad)? as i64;
    let message = message.and_then(cow_str).unwrap_or(Cow::Borrowed(""));
    Ok(RpcError { code, message })
}
