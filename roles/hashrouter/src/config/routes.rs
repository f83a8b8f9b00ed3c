//! Routes: the destinations the farm's hashrate is split between. The seller's own pool is the
//! `[upstream]` section (route `default`); each `[[routes]]` entry is a buyer's pool.

use std::collections::HashSet;
use std::fmt;

use contracts::DEFAULT_ROUTE;
use key_utils::Secp256k1PublicKey;
use serde::Deserialize;

use super::{
    invalid, validate_host_port, ConfigError, JobDeclaration, JobDeclarationConfig, UpstreamConfig,
};

/// Longest route name; names appear in logs, metrics and the accounting store.
const MAX_NAME_LEN: usize = 64;

/// One `[[routes]]` entry as written in the config file.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Unique name that allocations refer to; not `default`.
    pub name: String,
    /// `sv2+tcp://host:port` or `stratum+tcp://host:port`.
    pub url: String,
    /// The pool's authority public key (base58check); required for SV2, refused for V1.
    #[serde(default)]
    pub authority_pubkey: Option<String>,
    /// SV2: the extended channel's user identity. V1: the worker / user name to authorize.
    pub user_identity: String,
    /// V1 only: the password sent in `mining.authorize`. Never logged.
    #[serde(default)]
    pub password: Option<String>,
    /// Endpoints tried in order when `url` fails, with the same scheme as `url`.
    #[serde(default)]
    pub backups: Vec<String>,
    /// SV2 only: declare the node's own jobs to the pool's Job Declaration Server.
    #[serde(default)]
    pub job_declaration: Option<JobDeclarationConfig>,
}

impl fmt::Debug for RouteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("authority_pubkey", &self.authority_pubkey)
            .field("user_identity", &self.user_identity)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("backups", &self.backups)
            .field("job_declaration", &self.job_declaration)
            .finish()
    }
}

/// The protocol a route's pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteProtocol {
    /// `sv2+tcp://`: Stratum V2 over Noise, one aggregated extended channel.
    Sv2,
    /// `stratum+tcp://`: Stratum V1 in the clear, one aggregated connection.
    Stratum,
}

impl RouteProtocol {
    pub fn scheme(self) -> &'static str {
        match self {
            RouteProtocol::Sv2 => "sv2+tcp",
            RouteProtocol::Stratum => "stratum+tcp",
        }
    }
}

/// A parsed route URL: protocol and `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUrl {
    pub protocol: RouteProtocol,
    /// `host:port` (IPv6 in brackets), ready for `TcpStream::connect`.
    pub address: String,
}

impl fmt::Display for RouteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.protocol.scheme(), self.address)
    }
}

impl RouteUrl {
    /// Parses `sv2+tcp://host:port` or `stratum+tcp://host:port`; `field` names it in errors.
    /// Credentials in the URL are refused without echoing them.
    pub fn parse(field: &str, text: &str) -> Result<RouteUrl, ConfigError> {
        let expected = "expected sv2+tcp://host:port or stratum+tcp://host:port";
        let (scheme, address) = text
            .split_once("://")
            .ok_or_else(|| invalid(field, expected))?;
        let protocol = match scheme {
            "sv2+tcp" => RouteProtocol::Sv2,
            "stratum+tcp" => RouteProtocol::Stratum,
            other => {
                return Err(invalid(
                    field,
                    format!("unknown scheme `{other}`: {expected}"),
                ))
            }
        };
        if address.contains('@') {
            return Err(invalid(
                field,
                "credentials do not belong in the URL: put the user in `user_identity` and \
                 the password in `password`",
            ));
        }
        if address.contains(['/', '?', '#']) {
            return Err(invalid(field, "nothing may follow host:port"));
        }
        validate_host_port(field, address)?;
        Ok(RouteUrl {
            protocol,
            address: address.to_string(),
        })
    }
}

/// A validated route, ready for the network layer: the default route (`[upstream]`) or a
/// `[[routes]]` entry.
#[derive(Clone)]
pub struct Route {
    pub name: String,
    pub protocol: RouteProtocol,
    /// `host:port`s to try in order: the primary, then the backups.
    pub endpoints: Vec<String>,
    /// The pool's authority key: `Some` exactly for SV2 routes.
    pub authority: Option<Secp256k1PublicKey>,
    pub user_identity: String,
    /// V1 only. Never logged.
    pub password: Option<String>,
    /// SV2 only: the route's Job Declaration Server, when it declares its own jobs.
    pub job_declaration: Option<JobDeclaration>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("name", &self.name)
            .field("protocol", &self.protocol)
            .field("endpoints", &self.endpoints)
            .field("authority", &self.authority.map(|key| key.to_string()))
            .field("user_identity", &self.user_identity)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("job_declaration", &self.job_declaration)
            .finish()
    }
}

impl Route {
    /// The seller's own route, from `[upstream]` (already validated).
    pub(super) fn from_upstream(upstream: &UpstreamConfig) -> Result<Route, ConfigError> {
        Ok(Route {
            name: DEFAULT_ROUTE.to_string(),
            protocol: RouteProtocol::Sv2,
            endpoints: vec![upstream.address.clone()],
            authority: Some(upstream.authority_key()?),
            user_identity: upstream.user_identity.clone(),
            password: None,
            job_declaration: upstream
                .job_declaration
                .as_ref()
                .map(|jd| jd.validate("upstream"))
                .transpose()?,
        })
    }
}

/// Validates every `[[routes]]` entry (names unique among them) into [`Route`]s.
pub(super) fn validate_routes(routes: &[RouteConfig]) -> Result<Vec<Route>, ConfigError> {
    let mut names = HashSet::new();
    let mut validated = Vec::with_capacity(routes.len());
    for (index, route) in routes.iter().enumerate() {
        let validated_route = route.validate(index)?;
        if !names.insert(route.name.as_str()) {
            return Err(invalid(
                format!("routes[{index}].name"),
                format!("`{}` is the name of an earlier route", route.name),
            ));
        }
        validated.push(validated_route);
    }
    Ok(validated)
}

impl RouteConfig {
    fn validate(&self, index: usize) -> Result<Route, ConfigError> {
        let field = |key: &str| format!("routes[{index}].{key}");
        validate_name(&field("name"), &self.name)?;
        // From here on errors also say which route, by name.
        let named = |error: ConfigError| match error {
            ConfigError::Invalid { field, reason } => ConfigError::Invalid {
                field,
                reason: format!("route `{}`: {reason}", self.name),
            },
            other => other,
        };
        let url = RouteUrl::parse(&field("url"), &self.url).map_err(named)?;
        let mut endpoints = vec![url.address.clone()];
        for (i, backup) in self.backups.iter().enumerate() {
            let backup_field = field(&format!("backups[{i}]"));
            let backup = RouteUrl::parse(&backup_field, backup).map_err(named)?;
            if backup.protocol != url.protocol {
                return Err(named(invalid(
                    backup_field,
                    format!(
                        "a backup must use the scheme of `url` ({}), not {}",
                        url.protocol.scheme(),
                        backup.protocol.scheme()
                    ),
                )));
            }
            if endpoints.contains(&backup.address) {
                return Err(named(invalid(
                    backup_field,
                    format!("{} is already an endpoint of this route", backup.address),
                )));
            }
            endpoints.push(backup.address);
        }
        let authority = match (url.protocol, &self.authority_pubkey) {
            (RouteProtocol::Sv2, None) => {
                return Err(named(invalid(
                    field("authority_pubkey"),
                    "required for an sv2+tcp route (the pool's authority public key)",
                )))
            }
            (RouteProtocol::Sv2, Some(key)) => {
                Some(key.parse::<Secp256k1PublicKey>().map_err(|e| {
                    named(invalid(
                        field("authority_pubkey"),
                        format!("not a base58check secp256k1 public key ({e:?})"),
                    ))
                })?)
            }
            (RouteProtocol::Stratum, Some(_)) => {
                return Err(named(invalid(
                    field("authority_pubkey"),
                    "a stratum+tcp route has no authority key (Stratum V1 is not encrypted); \
                     remove it or use sv2+tcp",
                )))
            }
            (RouteProtocol::Stratum, None) => None,
        };
        if self.user_identity.is_empty() || self.user_identity.len() > 255 {
            return Err(named(invalid(
                field("user_identity"),
                "must be 1 to 255 bytes long",
            )));
        }
        if let Some(password) = &self.password {
            if url.protocol == RouteProtocol::Sv2 {
                return Err(named(invalid(
                    field("password"),
                    "only stratum+tcp routes take a password (SV2 channels have none)",
                )));
            }
            if password.len() > 255 {
                return Err(named(invalid(
                    field("password"),
                    "must be at most 255 bytes long",
                )));
            }
        }
        let job_declaration = match (&self.job_declaration, url.protocol) {
            (None, _) => None,
            (Some(_), RouteProtocol::Stratum) => {
                return Err(named(invalid(
                    field("job_declaration"),
                    "only sv2+tcp routes can declare jobs (Stratum V1 has no custom jobs)",
                )))
            }
            (Some(jd), RouteProtocol::Sv2) => {
                Some(jd.validate(&format!("routes[{index}]")).map_err(named)?)
            }
        };
        Ok(Route {
            name: self.name.clone(),
            protocol: url.protocol,
            endpoints,
            authority,
            user_identity: self.user_identity.clone(),
            password: self.password.clone(),
            job_declaration,
        })
    }
}

/// Route names: short, plain (they key logs, metrics and stored accounting), never `default`.
fn validate_name(field: &str, name: &str) -> Result<(), ConfigError> {
    if name.eq_ignore_ascii_case(DEFAULT_ROUTE) {
        return Err(invalid(
            field,
            format!("`{DEFAULT_ROUTE}` is the [upstream] route's name; choose another"),
        ));
    }
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(invalid(
            field,
            format!("must be 1 to {MAX_NAME_LEN} characters long"),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(
            field,
            format!("`{name}` may use only letters, digits, `-`, `_` and `.`"),
        ));
    }
    Ok(())
}
