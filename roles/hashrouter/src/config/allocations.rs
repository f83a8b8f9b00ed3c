//! The `[allocations]` section: where the static allocations file is and how over-subscription
//! is resolved.

use std::path::PathBuf;
use std::time::Duration;

use contracts::Policy;
use serde::{Deserialize, Deserializer};

use super::{invalid, ConfigError};
use crate::allocations::StaticFileSource;

/// Where allocations come from and how conflicts between them are settled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationsConfig {
    /// The allocations file. [`super::Config::load`] makes a relative path relative to the
    /// config file's directory.
    pub file: PathBuf,
    /// Who is cut when allocations ask for more than the farm delivers.
    #[serde(default, deserialize_with = "policy")]
    pub policy: Policy,
    /// How often the file is checked for changes (SIGHUP reloads at once).
    #[serde(default = "default_reload_secs")]
    pub reload_secs: u64,
}

fn default_reload_secs() -> u64 {
    1
}

/// `purchase-order` / `pro-rata`; the error names the field because serde's would not.
fn policy<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Policy, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse()
        .map_err(|e| serde::de::Error::custom(format!("invalid `allocations.policy`: {e}")))
}

impl AllocationsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.file.as_os_str().is_empty() {
            return Err(invalid("allocations.file", "is empty"));
        }
        if !(1..=3600).contains(&self.reload_secs) {
            return Err(invalid(
                "allocations.reload_secs",
                "must be between 1 and 3600",
            ));
        }
        Ok(())
    }

    pub fn reload_period(&self) -> Duration {
        Duration::from_secs(self.reload_secs)
    }

    /// The file as an allocation source, checked against the configured route names; call
    /// [`StaticFileSource::load`] on it, then hand it to [`crate::allocations::spawn_watcher`].
    pub fn source(&self, route_names: Vec<String>) -> StaticFileSource {
        StaticFileSource::new(self.file.clone(), route_names)
    }
}
