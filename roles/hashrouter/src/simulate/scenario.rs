//! Scenario files of `hashrouter simulate` (`test-vectors/split/*.toml`): the devices, routes,
//! allocations and outages of one simulated run. Times are offsets from the start of the run,
//! written like `90s`, `10m`, `2h` or `1d`.

use std::path::Path;
use std::time::Duration;

use contracts::{Allocation, Amount, Hashrate, Policy, DEFAULT_ROUTE};
use serde::Deserialize;

use super::engine::{DeviceSpec, Outage};
use crate::core::scheduler::{RouteId, SchedulerConfig};

/// Why a scenario could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Parse(#[from] toml::de::Error),
    #[error("invalid `{field}`: {reason}")]
    Invalid { field: String, reason: String },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    description: String,
    duration: String,
    #[serde(default = "default_tick")]
    tick: String,
    #[serde(default)]
    seed: u64,
    #[serde(default = "default_shares_per_minute")]
    shares_per_minute: f64,
    #[serde(default)]
    policy: Option<String>,
    devices: DevicesFile,
    #[serde(default)]
    scheduler: SchedulerFile,
    #[serde(default)]
    routes: Vec<RouteFile>,
    #[serde(default, rename = "allocation")]
    allocations: Vec<AllocationFile>,
    #[serde(default, rename = "outage")]
    outages: Vec<OutageFile>,
}

fn default_tick() -> String {
    "1s".into()
}
fn default_shares_per_minute() -> f64 {
    20.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevicesFile {
    count: usize,
    min_hashrate: String,
    max_hashrate: String,
    #[serde(default)]
    churn_per_hour: f64,
    #[serde(default)]
    reconnect_after: Option<[String; 2]>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedulerFile {
    min_dwell: Option<String>,
    catch_up_horizon: Option<String>,
    max_catch_up: Option<f64>,
    vetting_shares: Option<u64>,
    vetting_time: Option<String>,
    estimate_half_life: Option<String>,
    rebalance_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllocationFile {
    id: String,
    route: String,
    hashrate: Option<String>,
    fraction: Option<f64>,
    start: Option<String>,
    end: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutageFile {
    route: String,
    start: String,
    duration: String,
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub description: String,
    pub duration: Duration,
    pub tick: Duration,
    pub seed: u64,
    pub shares_per_minute: f64,
    pub policy: Policy,
    pub devices: DeviceSpec,
    pub scheduler: SchedulerConfig,
    /// Route names, the default route first.
    pub routes: Vec<String>,
    /// Allocations with times as seconds from the start of the run.
    pub allocations: Vec<Allocation>,
    pub outages: Vec<Outage>,
}

/// Parses `90s`, `10m`, `2h`, `1d` (a non-negative number and one unit).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.trim().parse().ok()?;
    let seconds = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return None,
    };
    let value = number * seconds;
    (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value))
}

fn duration(field: impl Into<String>, text: &str) -> Result<Duration, ScenarioError> {
    let field = field.into();
    parse_duration(text).ok_or_else(|| {
        invalid(
            field,
            format!("`{text}` is not a duration like 90s, 10m, 2h or 1d"),
        )
    })
}

fn hashrate(field: impl Into<String>, text: &str) -> Result<f64, ScenarioError> {
    let field = field.into();
    text.parse::<Hashrate>()
        .map(Hashrate::hs)
        .map_err(|e| invalid(field, e.to_string()))
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = toml::from_str(text)?;
        let duration_ = duration("duration", &file.duration)?;
        let tick = duration("tick", &file.tick)?;
        if tick.is_zero() || tick > Duration::from_secs(60) {
            return Err(invalid("tick", "must be above 0 and at most 60s"));
        }
        if duration_ < tick {
            return Err(invalid("duration", "is shorter than one tick"));
        }
        if !(file.shares_per_minute > 0.0 && file.shares_per_minute <= 600.0) {
            return Err(invalid("shares_per_minute", "must be above 0, at most 600"));
        }
        let policy = match &file.policy {
            None => Policy::default(),
            Some(text) => text
                .parse()
                .map_err(|e: contracts::PolicyError| invalid("policy", e.to_string()))?,
        };

        let d = &file.devices;
        let min_hashrate = hashrate("devices.min_hashrate", &d.min_hashrate)?;
        let max_hashrate = hashrate("devices.max_hashrate", &d.max_hashrate)?;
        if d.count == 0 || d.count > 1_000_000 {
            return Err(invalid("devices.count", "must be 1 to 1000000"));
        }
        if !(min_hashrate > 0.0 && min_hashrate <= max_hashrate) {
            return Err(invalid(
                "devices.min_hashrate",
                "must be above 0 and not above devices.max_hashrate",
            ));
        }
        if !(d.churn_per_hour >= 0.0 && d.churn_per_hour <= 60.0) {
            return Err(invalid("devices.churn_per_hour", "must be 0 to 60"));
        }
        let reconnect_after = match &d.reconnect_after {
            None => (Duration::from_secs(60), Duration::from_secs(600)),
            Some([lo, hi]) => {
                let lo = duration("devices.reconnect_after[0]", lo)?;
                let hi = duration("devices.reconnect_after[1]", hi)?;
                if lo > hi {
                    return Err(invalid("devices.reconnect_after", "first is after second"));
                }
                (lo, hi)
            }
        };

        let mut routes = vec![DEFAULT_ROUTE.to_string()];
        for (i, route) in file.routes.iter().enumerate() {
            if route.name.is_empty() || routes.contains(&route.name) {
                return Err(invalid(
                    format!("routes[{i}].name"),
                    format!("`{}` is empty or used twice", route.name),
                ));
            }
            routes.push(route.name.clone());
        }
        if routes.len() > u16::MAX as usize {
            return Err(invalid("routes", "too many"));
        }
        let route_id = |field: String, name: &str| {
            routes
                .iter()
                .position(|r| r == name)
                .map(|i| RouteId(i as u16))
                .ok_or_else(|| invalid(field, format!("no route named `{name}`")))
        };

        let mut allocations = Vec::new();
        for (i, a) in file.allocations.iter().enumerate() {
            let field = |name: &str| format!("allocation `{}` ({name})", a.id);
            if allocations.iter().any(|b: &Allocation| b.id == a.id) {
                return Err(invalid(field("id"), "used twice"));
            }
            route_id(field("route"), &a.route)?;
            let amount = match (&a.hashrate, a.fraction) {
                (Some(text), None) => Amount::Hashrate(hashrate(field("hashrate"), text)?),
                (None, Some(f)) if f > 0.0 && f <= 1.0 => Amount::Fraction(f),
                (None, Some(_)) => return Err(invalid(field("fraction"), "must be in (0, 1]")),
                _ => {
                    return Err(invalid(
                        field("hashrate"),
                        "give exactly one of hashrate and fraction",
                    ))
                }
            };
            let start = a
                .start
                .as_deref()
                .map(|t| duration(field("start"), t))
                .transpose()?;
            let end = a
                .end
                .as_deref()
                .map(|t| duration(field("end"), t))
                .transpose()?;
            if let (Some(s), Some(e)) = (start, end) {
                if e <= s {
                    return Err(invalid(field("end"), "is not after start"));
                }
            }
            allocations.push(Allocation {
                id: a.id.clone(),
                route: a.route.clone(),
                amount,
                start: start.map(|s| s.as_secs()),
                end: end.map(|e| e.as_secs()),
                order: i as u64,
            });
        }

        let mut outages = Vec::new();
        for (i, o) in file.outages.iter().enumerate() {
            let route = route_id(format!("outage[{i}].route"), &o.route)?;
            if route == RouteId::DEFAULT {
                return Err(invalid(
                    format!("outage[{i}].route"),
                    "the default route cannot fail in a simulation (it is where failed routes' devices go)",
                ));
            }
            outages.push(Outage {
                route,
                start: duration(format!("outage[{i}].start"), &o.start)?,
                duration: duration(format!("outage[{i}].duration"), &o.duration)?,
            });
        }

        let defaults = SchedulerConfig::default();
        let s = &file.scheduler;
        let pick = |field: &str, value: &Option<String>, default: Duration| match value {
            Some(text) => duration(format!("scheduler.{field}"), text),
            None => Ok(default),
        };
        let scheduler = SchedulerConfig {
            min_dwell: pick("min_dwell", &s.min_dwell, defaults.min_dwell)?,
            catch_up_horizon: pick(
                "catch_up_horizon",
                &s.catch_up_horizon,
                defaults.catch_up_horizon,
            )?,
            max_catch_up: s.max_catch_up.unwrap_or(defaults.max_catch_up),
            vetting_shares: s.vetting_shares.unwrap_or(defaults.vetting_shares),
            vetting_time: pick("vetting_time", &s.vetting_time, defaults.vetting_time)?,
            estimate_half_life: pick(
                "estimate_half_life",
                &s.estimate_half_life,
                defaults.estimate_half_life,
            )?,
            rebalance_interval: pick(
                "rebalance_interval",
                &s.rebalance_interval,
                defaults.rebalance_interval,
            )?,
        };
        if !(scheduler.max_catch_up >= 0.0 && scheduler.max_catch_up <= 10.0) {
            return Err(invalid("scheduler.max_catch_up", "must be 0 to 10"));
        }

        Ok(Scenario {
            description: file.description,
            duration: duration_,
            tick,
            seed: file.seed,
            shares_per_minute: file.shares_per_minute,
            policy,
            devices: DeviceSpec {
                count: d.count,
                min_hashrate,
                max_hashrate,
                churn_per_hour: d.churn_per_hour,
                reconnect_after,
            },
            scheduler,
            routes,
            allocations,
            outages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_have_one_unit() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("10x"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn bad_entries_are_named() {
        let base = r#"
duration = "1h"
[devices]
count = 10
min_hashrate = "10 TH/s"
max_hashrate = "20 TH/s"
[[routes]]
name = "a"
"#;
        for (extra, field) in [
            (
                "[[allocation]]\nid = \"x\"\nroute = \"b\"\nfraction = 0.5\n",
                "allocation `x` (route)",
            ),
            (
                "[[allocation]]\nid = \"x\"\nroute = \"a\"\nfraction = 1.5\n",
                "allocation `x` (fraction)",
            ),
            (
                "[[allocation]]\nid = \"x\"\nroute = \"a\"\nhashrate = \"5 XH/s\"\n",
                "allocation `x` (hashrate)",
            ),
            (
                "[[allocation]]\nid = \"x\"\nroute = \"a\"\nfraction = 0.1\nstart = \"2h\"\nend = \"1h\"\n",
                "allocation `x` (end)",
            ),
            (
                "[[outage]]\nroute = \"default\"\nstart = \"1m\"\nduration = \"1m\"\n",
                "outage[0].route",
            ),
        ] {
            let error = Scenario::parse(&format!("{base}{extra}")).unwrap_err();
            assert!(error.to_string().contains(field), "{error}");
        }
        Scenario::parse(base).unwrap();
    }
}
