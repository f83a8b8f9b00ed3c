//! The JSON plumbing shared by both directions: a borrowed envelope, positional params kept as raw
//! slices, and small writers that append JSON without building a `serde_json::Value`.

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Sv1Error;

/// Any stratum line: request, notification or response. Fields stay raw until a message needs
/// them, so nothing is decoded twice and unknown fields cost nothing.
#[derive(Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub error: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    pub fn parse(line: &'a [u8]) -> Result<Self, Sv1Error> {
        let text = std::str::from_utf8(line).map_err(|_| Sv1Error::NotUtf8)?;
        Ok(serde_json::from_str(text)?)
    }

    pub fn method(&self) -> Result<Option<Cow<'a, str>>, Sv1Error> {
        match self.method {
            None => Ok(None),
            Some(raw) => cow_str(raw).map(Some).ok_or(Sv1Error::MissingMethod),
        }
    }
}

/// Most params we read: extra trailing ones are skipped without being stored.
const MAX_PARAMS: usize = 10;

/// Positional params as raw slices of the line. `params: null` or absent reads as empty (some
/// firmware sends `mining.extranonce.subscribe` that way).
pub(crate) struct Params<'a> {
    items: [Option<&'a RawValue>; MAX_PARAMS],
    method: &'static str,
}

impl<'a> Params<'a> {
    pub fn parse(raw: Option<&'a RawValue>, method: &'static str) -> Result<Self, Sv1Error> {
        let mut params = match raw {
            None => Params {
                items: [None; MAX_PARAMS],
                method,
            },
            Some(raw) => {
                if !raw.get().starts_with('[') {
                    return Err(Sv1Error::ParamsNotArray);
                }
                let list: ParamList<'a> = serde_json::from_str(raw.get())?;
                Params {
                    items: list.0,
                    method,
                }
            }
        };
        params.method = method;
        Ok(params)
    }

    /// Param `index`, treating JSON `null` as absent.
    pub fn opt(&self, index: usize) -> Option<&'a RawValue> {
        self.items
            .get(index)
            .copied()
            .flatten()
            .filter(|raw| raw.get() != "null")
    }

    pub fn req(&self, index: usize) -> Result<&'a RawValue, Sv1Error> {
        self.opt(index).ok_or(Sv1Error::MissingParam {
            method: self.method,
            index,
        })
    }

    pub fn invalid(&self, index: usize, problem: &'static str) -> Sv1Error {
        Sv1Error::InvalidParam {
            method: self.method,
            index,
            problem,
        }
    }

    pub fn req_str(&self, index: usize) -> Result<Cow<'a, str>, Sv1Error> {
        cow_str(self.req(index)?).ok_or_else(|| self.invalid(index, "must be a string"))
    }

    pub fn opt_str(&self, index: usize) -> Result<Option<Cow<'a, str>>, Sv1Error> {
        self.opt(index)
            .map(|raw| cow_str(raw).ok_or_else(|| self.invalid(index, "must be a string")))
            .transpose()
    }

    /// A number, also accepted as a numeric string (some proxies quote difficulties).
    pub fn req_f64(&self, index: usize) -> Result<f64, Sv1Error> {
        number(self.req(index)?).ok_or_else(|| self.invalid(index, "must be a number"))
    }

    pub fn req_bool(&self, index: usize) -> Result<bool, Sv1Error> {
        match self.req(index)?.get() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.invalid(index, "must be a boolean")),
        }
    }
}

struct ParamList<'a>([Option<&'a RawValue>; MAX_PARAMS]);

impl<'de> Deserialize<'de> for ParamList<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = ParamList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a params array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = [None; MAX_PARAMS];
                for slot in items.iter_mut() {
                    match seq.next_element::<&'de RawValue>()? {
                        Some(raw) => *slot = Some(raw),
                        None => return Ok(ParamList(items)),
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ParamList(items))
            }
        }
        deserializer.deserialize_seq(ListVisitor)
    }
}

/// A JSON string borrowed from the line when it has no escapes, decoded otherwise.
pub(crate) fn cow_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    if !text.contains('\\') {
        return text.get(1..text.len().saturating_sub(1)).map(Cow::Borrowed);
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// A JSON number (or a string holding one) as f64.
pub(crate) fn number(raw: &RawValue) -> Option<f64> {
    let text = raw.get();
    let inner = match cow_str(raw) {
        Some(s) => return s.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
        None => text,
    };
    serde_json::from_str::<f64>(inner).ok()
}

/// Splits a JSON object into raw key/value pairs without allocating a map.
pub(crate) fn object_entries<'a>(
    raw: &'a RawValue,
) -> Result<Vec<(Cow<'a, str>, &'a RawValue)>, Sv1Error> {
    struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);
    impl<'de> Deserialize<'de> for Entries<'de> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct MapVisitor;
            impl<'de> Visitor<'de> for MapVisitor {
                type Value = Entries<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    while let Some(key) = map.next_key::<&'de RawValue>()? {
                        let value = map.next_value::<&'de RawValue>()?;
                        let key = cow_str(key)
                            .ok_or_else(|| serde::de::Error::custom("object key not a string"))?;
                        out.push((key, value));
                    }
                    Ok(Entries(out))
                }
            }
            deserializer.deserialize_map(MapVisitor)
        }
    }
    let entries: Entries<'a> = serde_json::from_str(raw.get())?;
    Ok(entries.0)
}

/// Elements of a JSON array as raw values.
pub(crate) fn array_items(raw: &RawValue) -> Result<Vec<&RawValue>, Sv1Error> {
    if !raw.get().starts_with('[') {
        return Err(Sv1Error::ParamsNotArray);
    }
    Ok(serde_json::from_str(raw.get())?)
}

/// Appends `s` as a JSON string literal.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                crate::hex::write_hex(out, &[b]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Appends a quoted hex string.
pub(crate) fn write_hex_str(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    crate::hex::write_hex(out, bytes);
    out.push(b'"');
}

/// Appends a quoted 8-digit big-endian hex u32.
pub(crate) fn write_u32_str(out: &mut Vec<u8>, value: u32) {
    out.push(b'"');
    crate::hex::write_u32_hex(out, value);
    out.push(b'"');
}

/// Appends a difficulty: integers as integers (what firmware expects, `1024`), everything else
/// in Rust's shortest round-trip form, so the value read back is bit-identical.
pub(crate) fn write_f64(out: &mut Vec<u8>, value: f64) -> Result<(), Sv1Error> {
    if !value.is_finite() || value <= 0.0 {
        return Err(Sv1Error::InvalidDifficulty);
    }
    // Writing into a Vec cannot fail.
    if value.fract() == 0.0 && value < 9_007_199_254_740_992.0 {
        let _ = write!(out, "{}", value as u64);
    } else {
        let _ = write!(out, "{value}");
    }
    Ok(())
}

pub(crate) fn write_u64(out: &mut Vec<u8>, value: u64) {
    let _ = write!(out, "{value}");
}
