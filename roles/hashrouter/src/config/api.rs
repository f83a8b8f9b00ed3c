//! The `[api]` section: the operator's HTTP API, Prometheus `/metrics` and the dashboard.
//!
//! Everything it serves is read-only except the few requests that change state (reloading the
//! allocations file), which need the bearer token configured here. Without a token those
//! requests are refused; reading is always allowed, which is why the default address is
//! loopback.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{invalid, ConfigError};

/// Shortest token accepted: guessing 16 random characters over the network is hopeless.
pub const MIN_TOKEN_LEN: usize = 16;
/// A token file is a line of text; anything bigger is a mistake (the wrong file).
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// Where the API listens and how state changes are authorised.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// `IP:port` of the HTTP server. Port 0 picks a free port (the node logs it).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// File holding the bearer token for requests that change state (mode 0600 or
    /// stricter). At most one of `token_file` and `token_env`; with neither, state changes
    /// are refused.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Environment variable holding the bearer token.
    #[serde(default)]
    pub token_env: Option<String>,
}

fn default_listen() -> String {
    "127.0.0.1:9100".to_string()
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: default_listen(),
            token_file: None,
            token_env: None,
        }
    }
}

impl ApiConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| invalid("api.listen", format!("{e} (expected IP:port)")))?;
        match (&self.token_file, &self.token_env) {
            (Some(_), Some(_)) => Err(invalid(
                "api.token_file",
                "set either api.token_file or api.token_env, not both",
            )),
            (Some(file), None) if file.as_os_str().is_empty() => {
                Err(invalid("api.token_file", "is empty"))
            }
            (None, Some(name)) if name.is_empty() => Err(invalid("api.token_env", "is empty")),
            _ => Ok(()),
        }
    }

    /// Reads the token (at startup, so a bad one stops the node before it listens).
    pub fn load_token(&self) -> Result<Option<ApiToken>, ConfigError> {
        self.load_token_with(|name| std::env::var(name).ok())
    }

    fn load_token_with(
        &self,
        env: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Option<ApiToken>, ConfigError> {
        let (field, text) = match (&self.token_file, &self.token_env) {
            (Some(file), _) => ("api.token_file", read_token_file(file)?),
            (None, Some(name)) => {
                let text = env(name).ok_or_else(|| {
                    invalid(
                        "api.token_env",
                        format!("environment variable {name} is not set"),
                    )
                })?;
                ("api.token_env", text)
            }
            (None, None) => return Ok(None),
        };
        let token = text.trim();
        if token.len() < MIN_TOKEN_LEN {
            return Err(invalid(
                field,
                format!("the token must be at least {MIN_TOKEN_LEN} characters"),
            ));
        }
        if !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid(
                field,
                "the token must be printable ASCII without spaces",
            ));
        }
        Ok(Some(ApiToken(token.to_string())))
    }
}

fn read_token_file(path: &Path) -> Result<String, ConfigError> {
    let field = "api.token_file";
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| invalid(field, format!("cannot read {shown}: {e}")))?;
    let metadata = file
        .metadata()
        .map_err(|e| invalid(field, format!("cannot read {shown}: {e}")))?;
    if !metadata.is_file() {
        return Err(invalid(field, format!("{shown} is not a regular file")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            return Err(invalid(
                field,
                format!("{shown} is readable by group or others; chmod 600 it"),
            ));
        }
    }
    let mut text = String::new();
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| invalid(field, format!("cannot read {shown}: {e}")))?;
    if text.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(invalid(field, format!("{shown} is too large for a token")));
    }
    Ok(text)
}

/// The bearer token for state-changing requests. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// A token from its text, for tests of what it guards.
    #[cfg(test)]
    pub(crate) fn new(token: impl Into<String>) -> ApiToken {
        ApiToken(token.into())
    }

    /// Whether `presented` is the token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        let mut difference = a.len() ^ b.len();
        for (i, byte) in a.iter().enumerate() {
            difference |= usize::from(byte ^ b.get(i).copied().unwrap_or(!byte));
        }
        difference == 0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env(name: &str) -> ApiConfig {
        ApiConfig {
            token_env: Some(name.to_string()),
            ..ApiConfig::default()
        }
    }

    #[test]
    fn tokens_match_only_themselves() {
        let token = ApiToken("0123456789abcdef".into());
        assert!(token.matches("0123456789abcdef"));
        assert!(!token.matches("0123456789abcdeF"));
        assert!(!token.matches("0123456789abcde"));
        assert!(!token.matches("0123456789abcdef0"));
        assert!(!token.matches(""));
        assert_eq!(format!("{token:?}"), "ApiToken(<redacted>)");
    }

    #[test]
    fn env_tokens_are_trimmed_and_checked() {
        let token = with_env("T")
            .load_token_with(|_| Some(" 0123456789abcdef\n".into()))
            .unwrap();
        assert!(token.unwrap().matches("0123456789abcdef"));
        let short = with_env("T").load_token_with(|_| Some("short".into()));
        assert!(short.unwrap_err().to_string().contains("at least 16"));
        let missing = with_env("T").load_token_with(|_| None);
        assert!(missing.unwrap_err().to_string().contains("T is not set"));
        assert!(ApiConfig::default()
            .load_token_with(|_| unreachable!())
            .unwrap()
            .is_none());
    }

    #[test]
    fn token_files_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        let config = ApiConfig {
            token_file: Some(path.clone()),
            ..ApiConfig::default()
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let error = config.load_token().unwrap_err().to_string();
            assert!(error.contains("api.token_file") && error.contains("chmod 600"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(config
            .load_token()
            .unwrap()
            .unwrap()
            .matches("0123456789abcdef0123"));
    }
}
