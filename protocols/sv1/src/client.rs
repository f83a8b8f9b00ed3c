//! Client→server messages (what a mining device sends) and their parser.

use std::borrow::Cow;

use crate::extranonce::Extranonce2;
use crate::hex::parse_u32_hex;
use crate::id::Id;
use crate::json::{self, cow_str, Envelope, Params};
use crate::Sv1Error;

/// One request from a device: the id to echo and what it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRequest<'a> {
    pub id: Id<'a>,
    pub message: ClientMessage<'a>,
}

/// The requests a device can make. Strings borrow from the received line unless JSON escapes
/// forced a copy.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage<'a> {
    /// `mining.subscribe`: both params are optional and often missing.
    Subscribe {
        user_agent: Option<Cow<'a, str>>,
        session_id: Option<Cow<'a, str>>,
    },
    /// `mining.authorize`: user is `account.worker`, a lightning address, etc.
    Authorize {
        user: Cow<'a, str>,
        password: Option<Cow<'a, str>>,
    },
    /// `mining.configure` (BIP 310).
    Configure(Configure<'a>),
    /// `mining.extranonce.subscribe` (NiceHash extension).
    ExtranonceSubscribe,
    /// `mining.suggest_difficulty`.
    SuggestDifficulty { difficulty: f64 },
    /// `mining.submit`.
    Submit(Submit<'a>),
    /// Any other method, so the server can answer with an error instead of hanging up.
    Unknown { method: Cow<'a, str> },
}

/// A share as submitted by a device.
#[derive(Debug, Clone, PartialEq)]
pub struct Submit<'a> {
    pub worker: Cow<'a, str>,
    pub job_id: Cow<'a, str>,
    pub extranonce2: Extranonce2,
    pub ntime: u32,
    pub nonce: u32,
    /// BIP 310 version bits (the 6th param), present when the device rolls the version.
    pub version_bits: Option<u32>,
}

/// A `mining.configure` request: which extensions the device wants and their parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Configure<'a> {
    /// Every extension name listed, known or not, in the device's order.
    pub extensions: Vec<Cow<'a, str>>,
    pub version_rolling: Option<VersionRollingRequest>,
    /// `minimum-difficulty.value`.
    pub minimum_difficulty: Option<f64>,
    pub subscribe_extranonce: bool,
    pub info: Option<Info<'a>>,
    /// Lumerin's `lmr.contract-address`: the hashrate contract a seller's connection delivers.
    /// The `lmr` extension itself stays among the unknown ones: this codec only reads it.
    pub lmr_contract_address: Option<Cow<'a, str>>,
}

impl Configure<'_> {
    /// Listed extensions this codec does not know (the server answers `false` for each).
    pub fn unknown_extensions(&self) -> impl Iterator<Item = &str> {
        self.extensions.iter().map(|e| e.as_ref()).filter(|e| {
            !matches!(
                *e,
                "version-rolling" | "minimum-difficulty" | "subscribe-extranonce" | "info"
            )
        })
    }
}

/// Version-rolling parameters a device asks for.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VersionRollingRequest {
    pub mask: Option<u32>,
    pub min_bit_count: Option<u32>,
}

/// The `info` extension: what the device says about itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Info<'a> {
    pub connection_url: Option<Cow<'a, str>>,
    pub hw_version: Option<Cow<'a, str>>,
    pub sw_version: Option<Cow<'a, str>>,
    pub hw_id: Option<Cow<'a, str>>,
}

/// Parses one line sent by a device (without its `\n`).
pub fn parse_client(line: &[u8]) -> Result<ClientRequest<'_>, Sv1Error> {
    let envelope = Envelope::parse(line)?;
    let id = Id::from_raw(envelope.id)?;
    let method = envelope.method()?.ok_or(Sv1Error::MissingMethod)?;
    let message = match method.as_ref() {
        "mining.subscribe" => {
            let p = Params::parse(envelope.params, "mining.subscribe")?;
            ClientMessage::Subscribe {
                user_agent: p.opt_str(0)?,
                // Only a string can be a session id; NiceHash-style `[ua, host, port]` is not one.
                session_id: p.opt(1).and_then(cow_str),
            }
        }
        "mining.authorize" => {
            let p = Params::parse(envelope.params, "mining.authorize")?;
            ClientMessage::Authorize {
                user: p.req_str(0)?,
                // Some firmware sends a numeric password; keep its text.
                password: p
                    .opt(1)
                    .map(|raw| cow_str(raw).unwrap_or(Cow::Borrowed(raw.get()))),
            }
        }
        "mining.configure" => ClientMessage::Configure(parse_configure(&Params::parse(
            envelope.params,
            "mining.configure",
        )?)?),
        "mining.extranonce.subscribe" => ClientMessage::ExtranonceSubscribe,
        "mining.suggest_difficulty" => {
            let p = Params::parse(envelope.params, "mining.suggest_difficulty")?;
            ClientMessage::SuggestDifficulty {
                difficulty: p.req_f64(0)?,
            }
        }
        "mining.submit" => ClientMessage::Submit(parse_submit(&Params::parse(
            envelope.params,
            "mining.submit",
        )?)?),
        _ => ClientMessage::Unknown { method },
    };
    Ok(ClientRequest { id, message })
}

fn parse_submit<'a>(p: &Params<'a>) -> Result<Submit<'a>, Sv1Error> {
    let hex_param = |index: usize| p.req_str(index);
    Ok(Submit {
        worker: p.req_str(0)?,
        job_id: p.req_str(1)?,
        extranonce2: Extranonce2::from_hex(&hex_param(2)?)?,
        ntime: parse_u32_hex(&hex_param(3)?, "ntime")?,
        nonce: parse_u32_hex(&hex_param(4)?, "nonce")?,
        version_bits: p
            .opt_str(5)?
            .map(|v| parse_u32_hex(&v, "version_bits"))
            .transpose()?,
    })
}

fn parse_configure<'a>(p: &Params<'a>) -> Result<Configure<'a>, Sv1Error> {
    let mut configure = Configure::default();
    if let Some(list) = p.opt(0) {
        for item in json::array_items(list).map_err(|_| p.invalid(0, "must be an array"))? {
            let name = cow_str(item).ok_or_else(|| p.invalid(0, "must hold strings"))?;
            match name.as_ref() {
                "version-rolling" => {
                    configure.version_rolling = Some(VersionRollingRequest::default())
                }
                "subscribe-extranonce" => configure.subscribe_extranonce = true,
                "info" => configure.info = Some(Info::default()),
                _ => {}
            }
            configure.extensions.push(name);
        }
    }
    let Some(object) = p.opt(1) else {
        return Ok(configure);
    };
    let entries = json::object_entries(object).map_err(|_| p.invalid(1, "must be an object"))?;
    for (key, value) in entries {
        let as_str = || cow_str(value).ok_or_else(|| p.invalid(1, "value must be a string"));
        // Unknown keys are tolerated and ignored.
        match key.as_ref() {
            "lmr.contract-address" => configure.lmr_contract_address = Some(as_str()?),
            "version-rolling.mask" => {
                configure
                    .version_rolling
                    .get_or_insert_with(Default::default)
                    .mask = Some(parse_u32_hex(&as_str()?, "version-rolling.mask")?);
            }
            "version-rolling.min-bit-count" => {
                let count = json::number(value)
                    .filter(|v| v.fract() == 0.0 && (0.0..=32.0).contains(v))
                    .ok_or_else(|| p.invalid(1, "min-bit-count must be 0..=32"))?;
                configure
                    .version_rolling
                    .get_or_insert_with(Default::default)
                    .min_bit_count = Some(count as u32);
            }
            "minimum-difficulty.value" => {
                configure.minimum_difficulty = Some(
                    json::number(value)
                        .ok_or_else(|| p.invalid(1, "minimum-difficulty must be a number"))?,
                );
            }
            "info.connection-url" | "info.hw-version" | "info.sw-version" | "info.hw-id" => {
                let info = configure.info.get_or_insert_with(Default::default);
                let text = Some(as_str()?);
                match key.as_ref() {
                    "info.connection-url" => info.connection_url = text,
                    "info.hw-version" => info.hw_version = text,
                    "info.sw-version" => info.sw_version = text,
                    _ => info.hw_id = text,
                }
            }
            _ => {}
        }
    }
    Ok(configure)
}
