//! The `[lumerin]` section: on-chain allocations from the Lumerin spot marketplace (DESIGN.md
//! §8). The node reads the chain only; the wallet key decrypts destinations and names the
//! seller whose contracts are watched.

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::Address;
use serde::Deserialize;

use super::{invalid, ConfigError};
use crate::chain::wallet_key::WalletKeySource;
use crate::chain::watcher::STARTUP_PROGRESS_INTERVAL;
use crate::chain::WatcherSettings;

/// Where the chain is and how closely it is followed.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LumerinConfig {
    /// JSON-RPC endpoint: `http(s)://…` or `ws(s)://…`. Its path and credentials (API keys) are
    /// never logged.
    pub rpc_url: String,
    /// The marketplace's CloneFactory contract (`0x…`).
    pub clone_factory: String,
    /// File holding the seller wallet's private key (hex); must not be readable by group or
    /// others. Exactly one of `wallet_key_file` and `wallet_key_env`.
    #[serde(default)]
    pub wallet_key_file: Option<PathBuf>,
    /// Environment variable holding the wallet's private key (hex).
    #[serde(default)]
    pub wallet_key_env: Option<String>,
    /// Blocks a change must be buried under before the node acts on it.
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    /// How often the chain is polled.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// How often every contract is read again (catches missed logs and reorgs).
    #[serde(default = "default_reconcile_secs")]
    pub reconcile_secs: u64,
    /// Bound on each RPC call.
    #[serde(default = "default_rpc_timeout_secs")]
    pub rpc_timeout_secs: u64,
}

fn default_confirmations() -> u64 {
    2
}
fn default_poll_ms() -> u64 {
    2000
}
fn default_reconcile_secs() -> u64 {
    300
}
fn default_rpc_timeout_secs() -> u64 {
    10
}

impl std::fmt::Debug for LumerinConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LumerinConfig")
            .field("rpc_url", &shown_rpc_url(&self.rpc_url))
            .field("clone_factory", &self.clone_factory)
            .field("wallet_key_file", &self.wallet_key_file)
            .field("wallet_key_env", &self.wallet_key_env)
            .field("confirmations", &self.confirmations)
            .field("poll_ms", &self.poll_ms)
            .field("reconcile_secs", &self.reconcile_secs)
            .field("rpc_timeout_secs", &self.rpc_timeout_secs)
            .finish()
    }
}

/// `scheme://host:port` of an RPC URL, without user info, path or query, where providers put
/// API keys.
pub fn shown_rpc_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparseable URL>".to_string();
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    format!("{scheme}://{host}")
}

impl LumerinConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let scheme = self.rpc_url.split_once("://").map(|(s, _)| s);
        if !matches!(scheme, Some("http" | "https" | "ws" | "wss")) {
            return Err(invalid(
                "lumerin.rpc_url",
                "expected an http://, https://, ws:// or wss:// URL",
            ));
        }
        self.factory()?;
        match (&self.wallet_key_file, &self.wallet_key_env) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "lumerin.wallet_key_file",
                    "give either wallet_key_file or wallet_key_env, not both",
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "lumerin.wallet_key_file",
                    "the seller's wallet key is needed: set wallet_key_file or wallet_key_env",
                ))
            }
            (Some(file), None) if file.as_os_str().is_empty() => {
                return Err(invalid("lumerin.wallet_key_file", "is empty"))
            }
            (None, Some(var)) if var.is_empty() => {
                return Err(invalid("lumerin.wallet_key_env", "is empty"))
            }
            _ => {}
        }
        if self.confirmations > 1000 {
            return Err(invalid("lumerin.confirmations", "must be at most 1000"));
        }
        if !(100..=600_000).contains(&self.poll_ms) {
            return Err(invalid("lumerin.poll_ms", "must be between 100 and 600000"));
        }
        if !(10..=86_400).contains(&self.reconcile_secs) {
            return Err(invalid(
                "lumerin.reconcile_secs",
                "must be between 10 and 86400",
            ));
        }
        if !(1..=300).contains(&self.rpc_timeout_secs) {
            return Err(invalid(
                "lumerin.rpc_timeout_secs",
                "must be between 1 and 300",
            ));
        }
        Ok(())
    }

    fn factory(&self) -> Result<Address, ConfigError> {
        self.clone_factory
            .parse::<Address>()
            .map_err(|_| invalid("lumerin.clone_factory", "expected a 0x-prefixed address"))
    }

    /// Where the wallet key comes from.
    pub fn wallet_key(&self) -> WalletKeySource {
        match (&self.wallet_key_file, &self.wallet_key_env) {
            (Some(file), _) => WalletKeySource::File(file.clone()),
            (None, Some(var)) => WalletKeySource::Env(var.clone()),
            // Validation refuses a config with neither.
            (None, None) => WalletKeySource::Env(String::new()),
        }
    }

    pub fn watcher_settings(&self) -> Result<WatcherSettings, ConfigError> {
        Ok(WatcherSettings {
            rpc_url: self.rpc_url.clone(),
            rpc_shown: shown_rpc_url(&self.rpc_url),
            factory: self.factory()?,
            confirmations: self.confirmations,
            poll_interval: Duration::from_millis(self.poll_ms),
            reconcile_interval: Duration::from_secs(self.reconcile_secs),
            rpc_timeout: Duration::from_secs(self.rpc_timeout_secs),
            progress_interval: STARTUP_PROGRESS_INTERVAL,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_urls_are_shown_without_keys() {
        assert_eq!(
            shown_rpc_url("https://arb-mainnet.g.alchemy.com/v2/SECRETKEY"),
            "https://arb-mainnet.g.alchemy.com"
        );
        assert_eq!(
            shown_rpc_url("wss://user:pw@rpc.example:443/ws?key=SECRET"),
            "wss://rpc.example:443"
        );
        assert_eq!(
            shown_rpc_url("http://127.0.0.1:8545"),
            "http://127.0.0.1:8545"
        );
    }
}
