//! `hashrouter status`: the dashboard's picture in a terminal, from the node's HTTP API only
//! (DESIGN.md §10), so it works against any node whose `[api]` it can reach.
//!
//! - [`client`]: GET one API document, telling apart an answer, an API error, an unreachable
//!   node and something that is not the API;
//! - [`picture`]: every document the picture needs, fetched together;
//! - [`render`]: the picture as text tables; [`format`]: numbers, times and tables.
//!
//! The exit code says how the node is, so scripts and monitoring can use it: see [`Verdict`].

pub mod client;
pub mod format;
pub mod picture;
pub mod render;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::api::model::{Health, Status};
use crate::config::Config;
use client::{ApiClient, FetchError};
use picture::Picture;

/// The API address when neither `--api` nor `--config` is given: `[api] listen`'s default.
pub const DEFAULT_API: &str = "http://127.0.0.1:9100";
/// While waiting, how often health is asked again.
const WAIT_POLL: Duration = Duration::from_secs(1);
/// A node this young whose core has not answered yet is starting, not down: its first
/// snapshot is on its way.
const YOUNG_NODE_S: u64 = 10;

/// What to show and where from.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// The API's base URL, `http://host:port`.
    pub api: String,
    /// How many of the lowest-hashrate devices to list.
    pub devices: usize,
    /// Wait (showing progress) while the node is starting, up to `timeout`.
    pub wait: bool,
    pub timeout: Duration,
    /// The raw documents as one JSON object instead of tables.
    pub json: bool,
    /// Redraw the progress line in place (stderr is a terminal) instead of printing each
    /// change on a line of its own.
    pub progress_in_place: bool,
}

/// The outcome, as the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 0: the node works as configured.
    Ok,
    /// 1: it works, but not as configured (a pool down or on backup, solo mining, a stale
    /// chain).
    Degraded,
    /// 2: still starting (reading the chain's contracts), or down.
    NotReady,
    /// 3: the API cannot be reached or did not answer as the API does.
    Unreachable,
}

impl Verdict {
    pub fn of(status: Status) -> Verdict {
        match status {
            Status::Ok => Verdict::Ok,
            Status::Degraded => Verdict::Degraded,
            Status::Starting | Status::Down => Verdict::NotReady,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Verdict::Ok => 0,
            Verdict::Degraded => 1,
            Verdict::NotReady => 2,
            Verdict::Unreachable => 3,
        }
    }
}

/// Why the API's address could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("invalid config {path}: {reason}")]
    Config { path: String, reason: String },
    #[error("{path} has no [api] section, so that node serves no API: add [api] with listen = \"127.0.0.1:9100\" and restart it")]
    NoApi { path: String },
    #[error("{path}: [api] listen = \"{listen}\" picks a free port at start; pass --api http://HOST:PORT with the port the node logged")]
    PortZero { path: String, listen: String },
    #[error("--api {given}: expected http://HOST:PORT")]
    BadUrl { given: String },
}

/// The API's base URL from `--api` (`http://host:port`, or just `host:port`).
pub fn api_from_url(given: &str) -> Result<String, TargetError> {
    let trimmed = given.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/api/v1").unwrap_or(trimmed);
    let url = match trimmed.split_once("://") {
        Some(("http", rest)) if !rest.is_empty() => trimmed.to_string(),
        Some(_) => {
            return Err(TargetError::BadUrl {
                given: given.to_string(),
            })
        }
        None if !trimmed.is_empty() => format!("http://{trimmed}"),
        None => {
            return Err(TargetError::BadUrl {
                given: given.to_string(),
            })
        }
    };
    Ok(url)
}

/// The API's base URL from a node's config: `[api] listen`, with an unspecified address
/// (`0.0.0.0`, `[::]`) taken as loopback, where a node listening on every address answers.
pub fn api_from_config(path: &Path) -> Result<String, TargetError> {
    let shown = path.display().to_string();
    let config = Config::load(path).map_err(|e| TargetError::Config {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let api = config.api.ok_or(TargetError::NoApi {
        path: shown.clone(),
    })?;
    // Validation has checked it is IP:port.
    let listen: SocketAddr = api.listen.parse().map_err(|_| TargetError::Config {
        path: shown.clone(),
        reason: format!("api.listen {:?} is not IP:port", api.listen),
    })?;
    if listen.port() == 0 {
        return Err(TargetError::PortZero {
            path: shown,
            listen: api.listen,
        });
    }
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(format!("http://{}", SocketAddr::new(ip, listen.port())))
}

/// What to tell the operator after an API failure.
fn advice(api: &str) -> String {
    format!(
        "is the node running, with an [api] section in its config (listen = \"IP:port\")? \
         `hashrouter status` reads {api}; point it elsewhere with --api http://HOST:PORT or \
         --config FILE"
    )
}

/// Shows the node's status: waits first if asked, then writes the picture (or the JSON) to
/// `out`; progress and errors go to `err`. Never fails: every failure is a [`Verdict`].
pub async fn run(options: &StatusOptions, out: &mut impl Write, err: &mut impl Write) -> Verdict {
    let client = match ApiClient::new(&options.api) {
        Ok(client) => client,
        Err(e) => {
            let _ = writeln!(err, "hashrouter status: {e}");
            return Verdict::Unreachable;
        }
    };
    if options.wait {
        wait_until_started(&client, options, err).await;
    }
    let picture = match Picture::fetch(&client, options.devices).await {
        Ok(picture) => picture,
        Err(e) => {
            let _ = writeln!(err, "hashrouter status: {e}");
            let _ = writeln!(err, "  {}", advice(&options.api));
            return Verdict::Unreachable;
        }
    };
    let written = if options.json {
        serde_json::to_string_pretty(&picture.to_json())
            .map_err(std::io::Error::other)
            .and_then(|text| writeln!(out, "{text}"))
    } else {
        write!(out, "{}", render::picture(&picture, options.devices))
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        let _ = writeln!(err, "hashrouter status: cannot write the output: {e}");
    }
    Verdict::of(picture.health.parsed.status)
}

/// Whether the node is still getting ready: reading the chain, or so young that its core
/// has not been heard from yet.
fn starting(h: &Health) -> bool {
    h.status == Status::Starting || (h.status == Status::Down && h.uptime_s <= YOUNG_NODE_S)
}

/// One line on how the start is going: the startup progress, or what is not ready yet.
fn progress_line(h: &Health) -> String {
    if let Some(p) = &h.startup {
        return render::progress_text(p);
    }
    let pending = h
        .components
        .iter()
        .find(|c| matches!(c.status, Status::Starting | Status::Down));
    match pending {
        Some(c) => format::clean(
            &format!(
                "{}: {}",
                c.name,
                c.detail.as_deref().unwrap_or(render::status_word(c.status))
            ),
            120,
        ),
        None => render::status_word(h.status).to_string(),
    }
}

/// Polls health every second while the node is starting (or not answering yet), showing a
/// progress line, until it has started or `timeout` passes.
async fn wait_until_started(client: &ApiClient, options: &StatusOptions, err: &mut impl Write) {
    let started = tokio::time::Instant::now();
    let deadline = started + options.timeout;
    let mut shown = String::new();
    let mut drawn = false;
    loop {
        let line = match client.get::<Health>("/api/v1/health").await {
            Ok(h) if !starting(&h.parsed) => break,
            Ok(h) => format!("starting: {}", progress_line(&h.parsed)),
            Err(FetchError::Refused { message, .. }) => format!("starting: {message}"),
            Err(e) => format!("waiting for the API: {e}"),
        };
        if options.progress_in_place {
            let elapsed = format::duration(started.elapsed().as_secs());
            // Kept short: a line the terminal wraps cannot be redrawn in place.
            let _ = write!(err, "\r\x1b[2K{} ({elapsed})", format::clean(&line, 100));
            drawn = true;
        } else if line != shown {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
        shown = line;
        let now = tokio::time::Instant::now();
        if now >= deadline {
            if drawn {
                let _ = writeln!(err);
                drawn = false;
            }
            let _ = writeln!(
                err,
                "hashrouter status: still not started after {}",
                format::duration(options.timeout.as_secs())
            );
            break;
        }
        tokio::time::sleep(WAIT_POLL.min(deadline - now)).await;
    }
    if drawn {
        let _ = writeln!(err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_are_normalised() {
        assert_eq!(
            api_from_url("127.0.0.1:9100").unwrap(),
            "http://127.0.0.1:9100"
        );
        assert_eq!(
            api_from_url("http://node:9100/api/v1/").unwrap(),
            "http://node:9100"
        );
        assert!(api_from_url("https://node:9100").is_err());
        assert!(api_from_url("").is_err());
    }

    #[test]
    fn the_config_gives_the_address_with_loopback_for_any() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, api: &str| {
            let path = dir.path().join(name);
            let text = format!(
                "[sv1]\nlisten = \"127.0.0.1:0\"\n[upstream]\naddress = \"127.0.0.1:1\"\n\
                 authority_pubkey = \"{}\"\nuser_identity = \"x\"\n{api}",
                minesim::pool::TEST_AUTHORITY_PUBLIC
            );
            std::fs::write(&path, text).unwrap();
            path
        };
        let any4 = write("a.toml", "[api]\nlisten = \"0.0.0.0:9200\"\n");
        assert_eq!(api_from_config(&any4).unwrap(), "http://127.0.0.1:9200");
        let any6 = write("b.toml", "[api]\nlisten = \"[::]:9201\"\n");
        assert_eq!(api_from_config(&any6).unwrap(), "http://[::1]:9201");
        let default = write("c.toml", "[api]\n");
        assert_eq!(api_from_config(&default).unwrap(), DEFAULT_API);
        let none = write("d.toml", "");
        let error = api_from_config(&none).unwrap_err().to_string();
        assert!(error.contains("no [api] section"), "{error}");
        let zero = write("e.toml", "[api]\nlisten = \"127.0.0.1:0\"\n");
        assert!(matches!(
            api_from_config(&zero),
            Err(TargetError::PortZero { .. })
        ));
        let missing = api_from_config(&dir.path().join("nope.toml")).unwrap_err();
        assert!(matches!(missing, TargetError::Config { .. }));
    }

    #[test]
    fn exit_codes_follow_health() {
        assert_eq!(Verdict::of(Status::Ok).code(), 0);
        assert_eq!(Verdict::of(Status::Degraded).code(), 1);
        assert_eq!(Verdict::of(Status::Starting).code(), 2);
        assert_eq!(Verdict::of(Status::Down).code(), 2);
        assert_eq!(Verdict::Unreachable.code(), 3);
    }
}
