//! The node's TOML configuration: typed, documented in `config-examples/`, validated at load.
//!
//! Every struct denies unknown fields so a typo is an error rather than a silently ignored
//! setting, and [`Config::validate`] names the offending field in each error.

mod allocations;
mod api;
mod job_declaration;
mod lumerin;
mod routes;
mod split;

pub use allocations::AllocationsConfig;
pub use api::{ApiConfig, ApiToken, MIN_TOKEN_LEN};
pub use job_declaration::{
    BitcoinNetwork, JobDeclaration, JobDeclarationConfig, SoloConfig, TemplateProviderConfig,
    MAX_COINBASE_TAG,
};
pub use lumerin::{shown_rpc_url, LumerinConfig};
pub use routes::{Route, RouteConfig, RouteProtocol, RouteUrl};
pub use split::SplitConfig;

use std::path::Path;
use std::time::Duration;

use key_utils::Secp256k1PublicKey;
use serde::Deserialize;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
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

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The whole node configuration (`hashrouter run --config FILE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub sv1: Sv1Config,
    /// The SV2 server for SV2 devices and proxies; absent = no SV2 listener.
    #[serde(default)]
    pub sv2: Option<Sv2Config>,
    #[serde(default)]
    pub difficulty: DifficultyConfig,
    #[serde(default)]
    pub jobs: JobsConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The seller's own pool: the `default` route, which takes whatever allocations leave.
    pub upstream: UpstreamConfig,
    /// Buyers' pools that allocations send hashrate to (`[[routes]]`).
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// The static allocations file; absent = all hashrate goes to the default route.
    #[serde(default)]
    pub allocations: Option<AllocationsConfig>,
    /// On-chain allocations from the Lumerin marketplace; absent = no chain is read.
    #[serde(default)]
    pub lumerin: Option<LumerinConfig>,
    /// How the scheduler divides devices between routes.
    #[serde(default)]
    pub split: SplitConfig,
    /// Where accounting and owed work are kept across restarts.
    #[serde(default)]
    pub store: Option<StoreConfig>,
    /// The template provider for job declaration and solo mining; absent = neither.
    #[serde(default)]
    pub template_provider: Option<TemplateProviderConfig>,
    /// Solo mining when every pool is down; absent = devices wait for a pool.
    #[serde(default)]
    pub solo: Option<SoloConfig>,
    /// The HTTP API, `/metrics` and the dashboard; absent = not served.
    #[serde(default)]
    pub api: Option<ApiConfig>,
}

/// `[store]`: the node's data directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of `accounting.sqlite3` (created 0700 if missing); a relative path is relative
    /// to the config file's directory.
    pub data_dir: std::path::PathBuf,
}

/// The Stratum V1 listener for legacy devices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sv1Config {
    /// `IP:port` to accept devices on.
    pub listen: String,
    /// Bytes of extranonce2 each device rolls (2..=8).
    #[serde(default = "default_extranonce2_size")]
    pub extranonce2_size: u8,
    /// Longest accepted line from a device; a longer one disconnects that device.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

/// The SV2 server (Noise NX responder) for SV2 devices and proxies such as SRI's translator.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sv2Config {
    /// `IP:port` to accept SV2 connections on.
    pub listen: String,
    /// The node's authority public key (base58check), given to devices to pin.
    pub authority_public_key: String,
    /// The matching secret key (base58check). Never logged.
    pub authority_secret_key: String,
    /// Validity of the certificates the node signs for each handshake.
    #[serde(default = "default_cert_validity_secs")]
    pub cert_validity_secs: u64,
    /// Most rollable extranonce bytes an extended channel (a proxy) may ask for.
    #[serde(default = "default_sv2_max_extranonce_size")]
    pub max_extranonce_size: u8,
    /// Accepted shares acknowledged per SubmitShares.Success (smaller batches go out each second).
    #[serde(default = "default_share_batch_size")]
    pub share_batch_size: u32,
    /// Time allowed for the Noise handshake and then for SetupConnection.
    #[serde(default = "default_handshake_timeout_secs")]
    pub handshake_timeout_secs: u64,
}

impl std::fmt::Debug for Sv2Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sv2Config")
            .field("listen", &self.listen)
            .field("authority_public_key", &self.authority_public_key)
            .field("authority_secret_key", &"<redacted>")
            .field("cert_validity_secs", &self.cert_validity_secs)
            .field("max_extranonce_size", &self.max_extranonce_size)
            .field("share_batch_size", &self.share_batch_size)
            .field("handshake_timeout_secs", &self.handshake_timeout_secs)
            .finish()
    }
}

impl Sv2Config {
    /// The node's authority keypair, checked to belong together.
    pub fn responder_keys(&self) -> Result<sv2_conn::ResponderKeys, ConfigError> {
        sv2_conn::ResponderKeys::from_strings(
            &self.authority_public_key,
            &self.authority_secret_key,
            Duration::from_secs(self.cert_validity_secs),
        )
        .map_err(|e| {
            // Fixed wording: the parser's own message could quote part of the secret.
            let reason = if e.to_string().contains("does not belong") {
                "does not belong to sv2.authority_public_key"
            } else {
                "not a base58check secp256k1 secret key"
            };
            invalid("sv2.authority_secret_key", reason)
        })
    }

    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }
}

/// Node-side vardiff: every device's difficulty is chosen by the node, not by the pools.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DifficultyConfig {
    /// Difficulty a new device starts at (before its hashrate is measured).
    #[serde(default = "default_initial_difficulty")]
    pub initial: f64,
    #[serde(default = "default_min_difficulty")]
    pub minimum: f64,
    #[serde(default = "default_max_difficulty")]
    pub maximum: f64,
    /// Share rate per device the node steers towards; more shares give tighter estimates.
    #[serde(default = "default_shares_per_minute")]
    pub shares_per_minute: f64,
    /// Shortest time between two difficulty changes of one device, unless far off target.
    #[serde(default = "default_retarget_secs")]
    pub retarget_secs: u64,
}

/// How jobs reach devices.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// Re-send the current job with a fresh ntime after this many seconds without a new job, for
    /// firmware that reconnects when work looks stuck. 0 disables.
    #[serde(default)]
    pub keepalive_secs: u64,
}

/// `[limits]`: caps that keep a misbehaving or oversized farm from exhausting the node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Device connections (SV1 and SV2 together) the node accepts; past it, a new connection is
    /// closed at once and counted. Absent = the open-file limit (raised to its hard limit at
    /// start) minus 256 descriptors kept for the node; a value above that is lowered to it.
    #[serde(default)]
    pub max_device_connections: Option<usize>,
}

/// The seller's own SV2 pool: the route named `default`, which gets every device's work that
/// no allocation claims. Its connection settings also apply to every `[[routes]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `host:port` of the pool's SV2 endpoint.
    pub address: String,
    /// The pool's authority public key (base58check, as SRI prints it); the Noise handshake
    /// fails unless the pool's certificate is signed by it.
    pub authority_pubkey: String,
    /// User identity for the aggregated extended channel (the pool account / worker).
    pub user_identity: String,
    /// Ask the pool to allow version rolling on every job (needed by AsicBoost hardware).
    #[serde(default = "default_true")]
    pub require_version_rolling: bool,
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// First reconnect delay; doubles per failure up to `reconnect_max_secs`.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max_secs")]
    pub reconnect_max_secs: u64,
    /// Declare the node's own jobs to this pool's Job Declaration Server (needs
    /// `[template_provider]`); absent = mine the pool's jobs.
    #[serde(default)]
    pub job_declaration: Option<JobDeclarationConfig>,
}

fn default_extranonce2_size() -> u8 {
    4
}
fn default_cert_validity_secs() -> u64 {
    3600
}
fn default_sv2_max_extranonce_size() -> u8 {
    8
}
fn default_share_batch_size() -> u32 {
    10
}
fn default_handshake_timeout_secs() -> u64 {
    10
}
fn default_max_line_bytes() -> usize {
    16 * 1024
}
fn default_initial_difficulty() -> f64 {
    16384.0
}
fn default_min_difficulty() -> f64 {
    1e-6
}
fn default_max_difficulty() -> f64 {
    1e15
}
fn default_shares_per_minute() -> f64 {
    20.0
}
fn default_retarget_secs() -> u64 {
    30
}
fn default_true() -> bool {
    true
}
fn default_connect_timeout_secs() -> u64 {
    10
}
fn default_reconnect_min_ms() -> u64 {
    500
}
fn default_reconnect_max_secs() -> u64 {
    30
}

impl Default for DifficultyConfig {
    fn default() -> Self {
        DifficultyConfig {
            initial: default_initial_difficulty(),
            minimum: default_min_difficulty(),
            maximum: default_max_difficulty(),
            shares_per_minute: default_shares_per_minute(),
            retarget_secs: default_retarget_secs(),
        }
    }
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Config::parse(&text)?;
        if let Some(store) = &mut config.store {
            if store.data_dir.is_relative() {
                let dir = path.parent().unwrap_or(Path::new(""));
                store.data_dir = dir.join(&store.data_dir);
            }
        }
        if let Some(file) = config
            .lumerin
            .as_mut()
            .and_then(|l| l.wallet_key_file.as_mut())
        {
            if file.is_relative() {
                *file = path.parent().unwrap_or(Path::new("")).join(&*file);
            }
        }
        if let Some(file) = config.api.as_mut().and_then(|a| a.token_file.as_mut()) {
            if file.is_relative() {
                *file = path.parent().unwrap_or(Path::new("")).join(&*file);
            }
        }
        if let Some(allocations) = &mut config.allocations {
            if allocations.file.is_relative() {
                let dir = path.parent().unwrap_or(Path::new(""));
                allocations.file = dir.join(&allocations.file);
            }
        }
        Ok(config)
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value a parse cannot: ranges, addresses, keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.split.validate()?;
        if let Some(store) = &self.store {
            if store.data_dir.as_os_str().is_empty() {
                return Err(invalid("store.data_dir", "is empty"));
            }
        }
        self.sv1
            .listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| invalid("sv1.listen", format!("{e} (expected IP:port)")))?;
        if !(2..=8).contains(&self.sv1.extranonce2_size) {
            return Err(invalid("sv1.extranonce2_size", "must be between 2 and 8"));
        }
        if !(512..=1024 * 1024).contains(&self.sv1.max_line_bytes) {
            return Err(invalid(
                "sv1.max_line_bytes",
                "must be between 512 and 1048576",
            ));
        }
        if let Some(sv2) = &self.sv2 {
            sv2.validate()?;
        }
        if self.limits.max_device_connections == Some(0) {
            return Err(invalid(
                "limits.max_device_connections",
                "must be at least 1 (leave it out for the open-file limit)",
            ));
        }
        let d = &self.difficulty;
        for (field, value) in [
            ("difficulty.initial", d.initial),
            ("difficulty.minimum", d.minimum),
            ("difficulty.maximum", d.maximum),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(invalid(field, "must be a positive number"));
            }
        }
        if d.minimum > d.maximum {
            return Err(invalid("difficulty.minimum", "is above difficulty.maximum"));
        }
        if d.initial < d.minimum || d.initial > d.maximum {
            return Err(invalid(
                "difficulty.initial",
                "must lie between difficulty.minimum and difficulty.maximum",
            ));
        }
        if !(d.shares_per_minute > 0.0 && d.shares_per_minute <= 600.0) {
            return Err(invalid(
                "difficulty.shares_per_minute",
                "must be above 0 and at most 600",
            ));
        }
        if d.retarget_secs == 0 {
            return Err(invalid("difficulty.retarget_secs", "must be at least 1"));
        }
        validate_host_port("upstream.address", &self.upstream.address)?;
        self.upstream.authority_key()?;
        if self.upstream.user_identity.is_empty() || self.upstream.user_identity.len() > 255 {
            return Err(invalid(
                "upstream.user_identity",
                "must be 1 to 255 bytes long",
            ));
        }
        if self.upstream.connect_timeout_secs == 0 {
            return Err(invalid(
                "upstream.connect_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.upstream.reconnect_min_ms == 0 {
            return Err(invalid("upstream.reconnect_min_ms", "must be at least 1"));
        }
        if self.upstream.reconnect_max_secs.saturating_mul(1000) < self.upstream.reconnect_min_ms {
            return Err(invalid(
                "upstream.reconnect_max_secs",
                "is shorter than upstream.reconnect_min_ms",
            ));
        }
        let routes = self.routes()?;
        if let Some(template_provider) = &self.template_provider {
            template_provider.validate()?;
        }
        if let Some(solo) = &self.solo {
            solo.payout_script()?;
            if self.template_provider.is_none() {
                return Err(invalid(
                    "solo",
                    "solo mining needs templates: add a [template_provider] section",
                ));
            }
        }
        if self.template_provider.is_none() {
            if let Some(index) = routes.iter().position(|r| r.job_declaration.is_some()) {
                let field = match index {
                    0 => "upstream.job_declaration".to_string(),
                    i => format!("routes[{}].job_declaration", i - 1),
                };
                return Err(invalid(
                    field,
                    "job declaration needs templates: add a [template_provider] section",
                ));
            }
        }
        if let Some(allocations) = &self.allocations {
            allocations.validate()?;
        }
        if let Some(lumerin) = &self.lumerin {
            lumerin.validate()?;
        }
        if let Some(api) = &self.api {
            api.validate()?;
        }
        Ok(())
    }

    /// Every route, validated: the default route (`[upstream]`) first, then the `[[routes]]`
    /// entries in file order.
    pub fn routes(&self) -> Result<Vec<Route>, ConfigError> {
        let mut routes = vec![Route::from_upstream(&self.upstream)?];
        routes.extend(routes::validate_routes(&self.routes)?);
        Ok(routes)
    }

    /// The names allocations may send hashrate to: the `[[routes]]` names (not `default`,
    /// which takes the remainder by itself).
    pub fn route_names(&self) -> Vec<String> {
        self.routes.iter().map(|r| r.name.clone()).collect()
    }
}

impl Sv2Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| invalid("sv2.listen", format!("{e} (expected IP:port)")))?;
        self.authority_public_key
            .parse::<Secp256k1PublicKey>()
            .map_err(|e| {
                invalid(
                    "sv2.authority_public_key",
                    format!("not a base58check secp256k1 public key ({e:?})"),
                )
            })?;
        self.responder_keys()?;
        if !(60..=365 * 24 * 3600).contains(&self.cert_validity_secs) {
            return Err(invalid(
                "sv2.cert_validity_secs",
                "must be between 60 and 31536000",
            ));
        }
        if !(1..=16).contains(&self.max_extranonce_size) {
            return Err(invalid(
                "sv2.max_extranonce_size",
                "must be between 1 and 16",
            ));
        }
        if !(1..=1000).contains(&self.share_batch_size) {
            return Err(invalid(
                "sv2.share_batch_size",
                "must be between 1 and 1000",
            ));
        }
        if !(1..=300).contains(&self.handshake_timeout_secs) {
            return Err(invalid(
                "sv2.handshake_timeout_secs",
                "must be between 1 and 300",
            ));
        }
        Ok(())
    }
}

impl UpstreamConfig {
    /// The pinned pool authority key.
    pub fn authority_key(&self) -> Result<Secp256k1PublicKey, ConfigError> {
        self.authority_pubkey
            .parse::<Secp256k1PublicKey>()
            .map_err(|e| {
                invalid(
                    "upstream.authority_pubkey",
                    format!("not a base58check secp256k1 public key ({e:?})"),
                )
            })
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
}

pub(crate) fn validate_host_port(field: &str, value: &str) -> Result<(), ConfigError> {
    let Some((host, port)) = value.rsplit_once(':') else {
        return Err(invalid(field, "expected host:port"));
    };
    // An IPv6 literal needs brackets: `[::1]:34254`.
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => {
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| invalid(field, format!("`{v6}` is not an IPv6 address")))?;
            v6
        }
        None => host,
    };
    if host.is_empty() {
        return Err(invalid(field, "host is empty"));
    }
    if host.contains(':') && !value.starts_with('[') {
        return Err(invalid(
            field,
            "an IPv6 address must be written as [address]:port",
        ));
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(invalid(
            field,
            format!("`{host}` is not a host name or IP address"),
        ));
    }
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| invalid(field, format!("`{port}` is not a port number")))?;
    Ok(())
}
