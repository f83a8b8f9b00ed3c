//! `allocations.toml`: the operator's own list of allocations (format documented in
//! `config-examples/allocations.toml`).
//!
//! The file is read as plain TOML first and each `[[allocation]]` entry checked on its own, so
//! every problem (an unknown key included) is reported against the entry it belongs to, and all
//! of them at once rather than one per attempt.

use std::collections::HashMap;
use std::path::Path;

use contracts::{Allocation, Amount, Hashrate, DEFAULT_ROUTE};
use serde::Deserialize;
use toml::Value;

use super::{parse_utc, AllocationError, AllocationSet, Entry, EntryError};

/// Longest accepted allocation id (a contract address is 42).
const MAX_ID_LEN: usize = 128;

/// One entry as written. Values stay raw so that a wrong type is reported with its key and
/// entry; only unknown keys are caught by serde.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: Option<Value>,
    route: Option<Value>,
    hashrate: Option<Value>,
    fraction: Option<Value>,
    start: Option<Value>,
    end: Option<Value>,
    order: Option<Value>,
}

/// Reads and validates the allocations file at `path` against the configured route names
/// (`[[routes]]` names; the default route cannot be allocated). On error the caller keeps
/// running the set it has.
pub fn reload(path: &Path, routes: &[String]) -> Result<AllocationSet, AllocationError> {
    let text = std::fs::read_to_string(path).map_err(|source| AllocationError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, routes)
}

/// Validates allocations file text; see [`reload`].
pub fn parse(text: &str, routes: &[String]) -> Result<AllocationSet, AllocationError> {
    let table: toml::Table = text.parse()?;
    let mut entries = Vec::new();
    for (key, value) in table {
        match (key.as_str(), value) {
            ("allocation", Value::Array(array)) => entries = array,
            ("allocation", _) => {
                return Err(AllocationError::Layout(
                    "`allocation` must be written as [[allocation]] entries".into(),
                ))
            }
            (other, _) => {
                return Err(AllocationError::Layout(format!(
                    "unknown top-level key `{other}`: the file holds only [[allocation]] entries"
                )))
            }
        }
    }

    let mut problems = Vec::new();
    let mut valid: Vec<(Entry, Allocation)> = Vec::new();
    let mut first_index_of_id: HashMap<String, usize> = HashMap::new();
    for (index, value) in entries.into_iter().enumerate() {
        let entry = Entry {
            index,
            id: value.get("id").and_then(Value::as_str).map(str::to_string),
        };
        let mut report = |problem: String| {
            problems.push(EntryError {
                entry: entry.clone(),
                problem,
            })
        };
        if let Some(id) = &entry.id {
            if let Some(first) = first_index_of_id.get(id) {
                report(format!(
                    "duplicate id: allocation[{first}] and allocation[{index}] both use it"
                ));
            } else {
                first_index_of_id.insert(id.clone(), index);
            }
        }
        match check_entry(index, value, routes) {
            Ok(allocation) => valid.push((entry, allocation)),
            Err(entry_problems) => entry_problems.into_iter().for_each(&mut report),
        }
    }

    // Purchase order must be unambiguous: an explicit `order` may not repeat another entry's
    // (explicit or positional) order.
    let mut first_with_order: HashMap<u64, &Entry> = HashMap::new();
    for (entry, allocation) in &valid {
        match first_with_order.get(&allocation.order) {
            Some(first) => problems.push(EntryError {
                entry: entry.clone(),
                problem: format!(
                    "order {} is also the order of {first}; purchase order must be unambiguous",
                    allocation.order
                ),
            }),
            None => {
                first_with_order.insert(allocation.order, entry);
            }
        }
    }

    if !problems.is_empty() {
        return Err(AllocationError::Invalid(problems));
    }
    Ok(AllocationSet::new(
        valid
            .into_iter()
            .map(|(_, allocation)| allocation)
            .collect(),
    ))
}

/// One entry into an allocation, or every problem it has.
fn check_entry(index: usize, value: Value, routes: &[String]) -> Result<Allocation, Vec<String>> {
    let Value::Table(_) = value else {
        return Err(vec!["must be a table ([[allocation]])".into()]);
    };
    let raw: RawEntry = value
        .try_into()
        .map_err(|e: toml::de::Error| vec![e.message().trim_end().to_string()])?;
    let mut problems = Vec::new();
    let id = keep(&mut problems, check_id(raw.id));
    let route = keep(&mut problems, check_route(raw.route, routes));
    let amount = keep(&mut problems, check_amount(raw.hashrate, raw.fraction));
    let start = keep(&mut problems, optional_time("start", raw.start));
    let end = keep(&mut problems, optional_time("end", raw.end));
    let order = keep(&mut problems, check_order(raw.order, index));
    if let (Some(Some(start)), Some(Some(end))) = (start, end) {
        if end <= start {
            problems.push(format!(
                "`end` ({end}) is not after `start` ({start}); an allocation needs a \
                 non-empty window"
            ));
        }
    }
    match (id, route, amount, start, end, order) {
        (Some(id), Some(route), Some(amount), Some(start), Some(end), Some(order))
            if problems.is_empty() =>
        {
            Ok(Allocation {
                id,
                route,
                amount,
                start,
                end,
                order,
            })
        }
        _ => Err(problems),
    }
}

/// The value, or `None` with its problem noted, so one entry reports all its problems.
fn keep<T>(problems: &mut Vec<String>, result: Result<T, String>) -> Option<T> {
    result.map_err(|problem| problems.push(problem)).ok()
}

fn check_id(id: Option<Value>) -> Result<String, String> {
    let id = match id {
        None => return Err("missing `id`".into()),
        Some(Value::String(id)) => id,
        Some(other) => return Err(format!("`id` must be a string, not {}", other.type_str())),
    };
    if id.trim().is_empty() {
        return Err("`id` is empty".into());
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!("`id` is longer than {MAX_ID_LEN} bytes"));
    }
    if id.chars().any(char::is_control) || id.trim() != id {
        return Err("`id` has control characters or surrounding spaces".into());
    }
    Ok(id)
}

fn check_route(route: Option<Value>, routes: &[String]) -> Result<String, String> {
    let route = match route {
        None => return Err("missing `route`".into()),
        Some(Value::String(route)) => route,
        Some(other) => {
            return Err(format!(
                "`route` must be a string, not {}",
                other.type_str()
            ))
        }
    };
    if route == DEFAULT_ROUTE {
        return Err(format!(
            "route `{DEFAULT_ROUTE}` is the seller's own route and already takes whatever \
             the allocations leave; name a [[routes]] entry"
        ));
    }
    if !routes.contains(&route) {
        let known = if routes.is_empty() {
            "no [[routes]] are configured".to_string()
        } else {
            format!("configured routes: {}", routes.join(", "))
        };
        return Err(format!("unknown route `{route}` ({known})"));
    }
    Ok(route)
}

fn check_amount(hashrate: Option<Value>, fraction: Option<Value>) -> Result<Amount, String> {
    match (hashrate, fraction) {
        (Some(_), Some(_)) => Err("has both `hashrate` and `fraction`; give one".into()),
        (None, None) => {
            Err("needs `hashrate` (e.g. \"100 TH/s\") or `fraction` (e.g. 0.25)".into())
        }
        (Some(hashrate), None) => {
            let hs = match hashrate {
                Value::String(text) => text
                    .parse::<Hashrate>()
                    .map_err(|e| format!("`hashrate`: {e}"))?
                    .hs(),
                Value::Integer(n) => n as f64,
                Value::Float(x) => x,
                other => {
                    return Err(format!(
                        "`hashrate` must be a string with a unit or a number of H/s, not {}",
                        other.type_str()
                    ))
                }
            };
            if !hs.is_finite() {
                return Err("`hashrate` is not a finite number".into());
            }
            if hs < 0.0 {
                return Err("`hashrate` must not be negative".into());
            }
            if hs == 0.0 {
                return Err("`hashrate` must be above 0".into());
            }
            Ok(Amount::Hashrate(hs))
        }
        (None, Some(fraction)) => {
            let f = match fraction {
                Value::Float(x) => x,
                Value::Integer(n) => n as f64,
                other => {
                    return Err(format!(
                        "`fraction` must be a number, not {}",
                        other.type_str()
                    ))
                }
            };
            if f < 0.0 {
                return Err(format!("`fraction` must not be negative (got {f})"));
            }
            if !(f > 0.0 && f <= 1.0) {
                return Err(format!(
                    "`fraction` must be above 0 and at most 1 (a share of the farm), got {f}"
                ));
            }
            Ok(Amount::Fraction(f))
        }
    }
}

/// `start` / `end`: RFC 3339 UTC text, a bare TOML datetime, or unix seconds.
fn optional_time(key: &str, value: Option<Value>) -> Result<Option<u64>, String> {
    let seconds = match value {
        None => return Ok(None),
        Some(Value::String(text)) => parse_utc(&text),
        Some(Value::Datetime(datetime)) => parse_utc(&datetime.to_string()),
        Some(Value::Integer(n)) => {
            u64::try_from(n).map_err(|_| format!("{n} is negative (unix seconds)"))
        }
        Some(other) => Err(format!(
            "must be a UTC time (\"2026-11-24T00:00:00Z\") or unix seconds, not {}",
            other.type_str()
        )),
    };
    seconds.map(Some).map_err(|e| format!("`{key}`: {e}"))
}

fn check_order(order: Option<Value>, index: usize) -> Result<u64, String> {
    match order {
        // Position in the file: earlier entries were bought earlier.
        None => Ok(index as u64),
        Some(Value::Integer(n)) => {
            u64::try_from(n).map_err(|_| format!("`order` must not be negative (got {n})"))
        }
        Some(other) => Err(format!(
            "`order` must be a whole number, not {}",
            other.type_str()
        )),
    }
}
