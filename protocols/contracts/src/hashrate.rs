//! Hashrate quantities as operators write them: `100 TH/s`, `1.5PH/s`, `12e12`.
//!
//! Unit prefixes are case-sensitive, as in SI: `M` is mega while `m` would be milli, `P` is peta
//! while `p` would be pico, so a lower-case prefix other than `k` is refused rather than guessed.
//! `K` is accepted for kilo because it is common on miner dashboards and means nothing else.

use std::fmt;
use std::str::FromStr;

/// A rate of hashing in hashes per second (H/s).
///
/// Parses from a plain number (H/s, e.g. `12e12`) or a number with a unit: `H/s`, `kH/s`
/// (or `KH/s`), `MH/s`, `GH/s`, `TH/s`, `PH/s`, `EH/s`, with or without the `/s` and with or
/// without a space before the unit. Displays with the largest unit that keeps the number at
/// least 1 (`1.5 PH/s`, `750 GH/s`); a precision (`{:.6}`) sets the decimals shown, otherwise
/// up to three are shown with trailing zeros dropped.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Hashrate(f64);

/// Why a hashrate text was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HashrateError {
    #[error("empty hashrate")]
    Empty,
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("unknown hashrate unit `{0}`: use H/s, kH/s, MH/s, GH/s, TH/s, PH/s or EH/s")]
    UnknownUnit(String),
    #[error(
        "ambiguous hashrate unit `{unit}`: prefixes are case-sensitive (`{prefix}` is not a \
         hashrate prefix; did you mean `{suggestion}`?)"
    )]
    AmbiguousUnit {
        unit: String,
        prefix: char,
        suggestion: String,
    },
    #[error("hashrate must not be negative")]
    Negative,
    #[error("hashrate is not a finite number")]
    NotFinite,
}

/// Unit prefixes and their scale, largest first (the order Display picks from).
const UNITS: [(&str, f64); 7] = [
    ("E", 1e18),
    ("P", 1e15),
    ("T", 1e12),
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("", 1.0),
];

impl Hashrate {
    pub const ZERO: Hashrate = Hashrate(0.0);

    /// A hashrate of `hs` H/s; refuses negative and non-finite values.
    pub fn from_hs(hs: f64) -> Result<Hashrate, HashrateError> {
        if !hs.is_finite() {
            return Err(HashrateError::NotFinite);
        }
        if hs < 0.0 {
            return Err(HashrateError::Negative);
        }
        // -0.0 compares equal to 0.0 but would display as "-0 H/s".
        Ok(Hashrate(hs.abs()))
    }

    /// Hashes per second.
    pub fn hs(self) -> f64 {
        self.0
    }
}

/// The scale of a unit without its `/s` (`TH` -> 1e12), or why it is refused.
fn unit_scale(unit: &str) -> Result<f64, HashrateError> {
    let bare = unit.strip_suffix("/s").unwrap_or(unit);
    let Some(prefix) = bare.strip_suffix('H') else {
        return Err(HashrateError::UnknownUnit(unit.to_string()));
    };
    if prefix == "K" {
        return Ok(1e3);
    }
    if let Some((_, scale)) = UNITS.iter().find(|(p, _)| *p == prefix) {
        return Ok(*scale);
    }
    let mut chars = prefix.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let upper = c.to_ascii_uppercase();
        if c.is_ascii_lowercase() && UNITS.iter().any(|(p, _)| p.starts_with(upper)) {
            return Err(HashrateError::AmbiguousUnit {
                unit: unit.to_string(),
                prefix: c,
                suggestion: format!("{upper}H/s"),
            });
        }
    }
    Err(HashrateError::UnknownUnit(unit.to_string()))
}

impl FromStr for Hashrate {
    type Err = HashrateError;

    fn from_str(text: &str) -> Result<Hashrate, HashrateError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(HashrateError::Empty);
        }
        // The unit is the trailing run of letters and '/'; scanning from the end keeps the
        // exponent of `12e12` (followed by a digit) inside the number.
        let unit_start = text
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphabetic() || *c == '/')
            .last()
            .map_or(text.len(), |(i, _)| i);
        let (number, unit) = text.split_at(unit_start);
        let (number, scale) = match (number.trim_end(), unit) {
            // A plain number is H/s.
            (n, "") => (n, 1.0),
            // All letters: not a number with a unit ("inf" and "NaN" end up as not finite).
            ("", _) => (text, 1.0),
            (n, unit) => (n, unit_scale(unit)?),
        };
        let value: f64 = number
            .parse()
            .map_err(|_| HashrateError::NotANumber(number.to_string()))?;
        Hashrate::from_hs(value * scale)
    }
}

impl fmt::Display for Hashrate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hs = self.0;
        let (prefix, scale) = UNITS
            .iter()
            .find(|(_, scale)| hs >= *scale)
            .copied()
            .unwrap_or(("", 1.0));
        let value = hs / scale;
        match f.precision() {
            Some(decimals) => write!(f, "{value:.decimals$} {prefix}H/s"),
            None => {
                let text = format!("{value:.3}");
                let text = text.trim_end_matches('0').trim_end_matches('.');
                write!(f, "{text} {prefix}H/s")
            }
        }
    }
}
