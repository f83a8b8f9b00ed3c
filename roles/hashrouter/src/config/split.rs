//! `[split]`: how the scheduler divides devices between routes (DESIGN.md §6).

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};
use crate::core::SchedulerConfig;

/// Scheduler tuning; the defaults suit farms of any size.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// A device stays at least this long on a route before it may move again.
    #[serde(default = "default_min_dwell_secs")]
    pub min_dwell_secs: u64,
    /// Owed work is paid back over about this long.
    #[serde(default = "default_catch_up_horizon_secs")]
    pub catch_up_horizon_secs: u64,
    /// While catching up, a route gets at most this fraction above its target.
    #[serde(default = "default_max_catch_up")]
    pub max_catch_up: f64,
    /// Accepted shares before a new device is scheduled (until then: default route).
    #[serde(default = "default_vetting_shares")]
    pub vetting_shares: u64,
    /// And seconds connected.
    #[serde(default = "default_vetting_secs")]
    pub vetting_secs: u64,
    /// Half-life of each device's hashrate estimate.
    #[serde(default = "default_estimate_half_life_secs")]
    pub estimate_half_life_secs: u64,
    /// How often devices are reassigned.
    #[serde(default = "default_rebalance_secs")]
    pub rebalance_secs: u64,
}

fn default_min_dwell_secs() -> u64 {
    60
}
fn default_catch_up_horizon_secs() -> u64 {
    120
}
fn default_max_catch_up() -> f64 {
    0.5
}
fn default_vetting_shares() -> u64 {
    8
}
fn default_vetting_secs() -> u64 {
    60
}
fn default_estimate_half_life_secs() -> u64 {
    600
}
fn default_rebalance_secs() -> u64 {
    5
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            min_dwell_secs: default_min_dwell_secs(),
            catch_up_horizon_secs: default_catch_up_horizon_secs(),
            max_catch_up: default_max_catch_up(),
            vetting_shares: default_vetting_shares(),
            vetting_secs: default_vetting_secs(),
            estimate_half_life_secs: default_estimate_half_life_secs(),
            rebalance_secs: default_rebalance_secs(),
        }
    }
}

impl SplitConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let day = 24 * 3600;
        for (field, value, min) in [
            ("split.min_dwell_secs", self.min_dwell_secs, 0),
            ("split.catch_up_horizon_secs", self.catch_up_horizon_secs, 1),
            ("split.vetting_secs", self.vetting_secs, 0),
            (
                "split.estimate_half_life_secs",
                self.estimate_half_life_secs,
                1,
            ),
            ("split.rebalance_secs", self.rebalance_secs, 1),
        ] {
            if value < min || value > day {
                return Err(invalid(field, format!("must be {min} to {day} seconds")));
            }
        }
        if !(self.max_catch_up >= 0.0 && self.max_catch_up <= 10.0) {
            return Err(invalid("split.max_catch_up", "must be 0 to 10"));
        }
        if self.vetting_shares > 10_000 {
            return Err(invalid("split.vetting_shares", "must be at most 10000"));
        }
        Ok(())
    }

    pub fn scheduler(&self) -> SchedulerConfig {
        SchedulerConfig {
            min_dwell: Duration::from_secs(self.min_dwell_secs),
            catch_up_horizon: Duration::from_secs(self.catch_up_horizon_secs),
            max_catch_up: self.max_catch_up,
            vetting_shares: self.vetting_shares,
            vetting_time: Duration::from_secs(self.vetting_secs),
            estimate_half_life: Duration::from_secs(self.estimate_half_life_secs),
            rebalance_interval: Duration::from_secs(self.rebalance_secs),
        }
    }
}
