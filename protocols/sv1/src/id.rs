use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::json;
use crate::Sv1Error;

/// A JSON-RPC request id, kept as the peer sent it so the response echoes it exactly
/// (LuxOS sends `null`, most firmware numbers, a few strings).
#[derive(Debug, Clone, PartialEq)]
pub enum Id<'a> {
    Null,
    Number(serde_json::Number),
    String(Cow<'a, str>),
}

impl<'a> Id<'a> {
    pub(crate) fn from_raw(raw: Option<&'a RawValue>) -> Result<Self, Sv1Error> {
        let Some(raw) = raw else {
            return Ok(Id::Null);
        };
        let text = raw.get();
        if text.starts_with('"') {
            return json::cow_str(raw)
                .map(Id::String)
                .ok_or(Sv1Error::InvalidId);
        }
        serde_json::from_str::<serde_json::Number>(text)
            .map(Id::Number)
            .map_err(|_| Sv1Error::InvalidId)
    }

    /// Detaches the id from the line it was parsed from (to answer later).
    pub fn into_owned(self) -> Id<'static> {
        match self {
            Id::Null => Id::Null,
            Id::Number(n) => Id::Number(n),
            Id::String(s) => Id::String(Cow::Owned(s.into_owned())),
        }
    }

    /// The id as an integer when it is one (clients match responses by it).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Id::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// Appends the id as JSON.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Id::Null => out.extend_from_slice(b"null"),
            Id::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Id::String(s) => json::write_str(out, s),
        }
    }
}

impl From<u64> for Id<'static> {
    fn from(value: u64) -> Self {
        Id::Number(value.into())
    }
}
