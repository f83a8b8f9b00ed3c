//! The Stratum V1 upstream client: one TCP connection to a V1 pool for a whole route, carrying
//! every device's work as one worker (the route's `user_identity`), reconnecting with capped
//! exponential backoff while devices stay connected to the node. The protocol itself is in
//! [`super::v1_session`]; this is its tokio shell, with the same contract as the SV2 client.

use std::fmt;
use std::time::Duration;

use sv1::LineFramer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, info_span, warn, Instrument};

use super::endpoints::Endpoints;
use super::upstream_link::UpstreamLink;
use super::v1_session::{reconnect_address, SessionEnd, V1Session};
use crate::core::UpstreamEvent;
use crate::node::UpstreamCommand;

/// Longest line accepted from a pool: a `mining.notify` with a big coinbase and a full merkle
/// branch fits many times over, and a hostile pool cannot grow our memory past it.
pub const MAX_POOL_LINE: usize = 64 * 1024;
/// A pool that does not take our bytes for this long is given up on.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const READ_BUFFER: usize = 8 * 1024;

/// Everything the client needs, from the route's config.
#[derive(Clone)]
pub struct V1UpstreamSettings {
    /// The route's name, for logs.
    pub route: String,
    /// `host:port`s tried in order (the primary, then backups), round robin on failure.
    pub endpoints: Vec<String>,
    /// The worker name authorized and submitted under.
    pub user_identity: String,
    /// Sent in `mining.authorize` (`x` when the route has none). Never logged.
    pub password: Option<String>,
    /// Extranonce2 bytes the node needs (device id + device extranonce2).
    pub extranonce_size: u16,
    /// For a Lumerin contract's route: the contract, announced in `mining.configure` as
    /// `lmr.contract-address` (the validator convention).
    pub lmr_contract_address: Option<String>,
    /// Bound on the TCP connect and on the handshake until the channel is open.
    pub connect_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl fmt::Debug for V1UpstreamSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V1UpstreamSettings")
            .field("route", &self.route)
            .field("endpoints", &self.endpoints)
            .field("user_identity", &self.user_identity)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("extranonce_size", &self.extranonce_size)
            .field("lmr_contract_address", &self.lmr_contract_address)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .finish()
    }
}

/// Why a connection to a V1 pool ended.
#[derive(Debug, thiserror::Error)]
pub enum V1UpstreamError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("connect to {0} timed out")]
    ConnectTimeout(String),
    #[error("pool did not complete subscribe and authorize within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("pool closed the connection")]
    Closed,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("line from the pool longer than {0} bytes")]
    LineTooLong(usize),
    #[error("writing to the pool timed out (pool not reading)")]
    WriteTimeout,
    #[error("{0}")]
    Protocol(#[from] SessionEnd),
    #[error("channel unusable: {0}")]
    Unusable(String),
    #[error("node shutting down")]
    Shutdown,
}

/// Runs until shutdown: connect, handshake, relay, and on any failure tell the core and try
/// again after a backoff (or where the pool's `client.reconnect` says).
pub async fn run(
    link: UpstreamLink,
    settings: V1UpstreamSettings,
    mut commands: mpsc::Receiver<UpstreamCommand>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(mut endpoints) = Endpoints::new(
        settings.endpoints.clone(),
        settings.reconnect_min,
        settings.reconnect_max,
    ) else {
        error!(route = %settings.route, "route has no endpoint");
        return;
    };
    loop {
        let address = endpoints.current().to_string();
        let span = info_span!("v1-upstream", route = %settings.route, %address);
        let started = tokio::time::Instant::now();
        let result = session(&settings, &address, &mut commands, &link, &mut shutdown)
            .instrument(span.clone())
            .await;
        if !matches!(result, Err(V1UpstreamError::Shutdown)) {
            let reason = match &result {
                Err(e) => e.to_string(),
                Ok(()) => "connection ended".to_string(),
            };
            link.report_failure(reason);
        }
        // Shares queued for the dead connection cannot be sent on a new one.
        while commands.try_recv().is_ok() {}
        let wait = {
            let _entered = span.enter();
            match result {
                Err(V1UpstreamError::Shutdown) => return,
                Err(V1UpstreamError::Protocol(SessionEnd::Reconnect { host, port, wait })) => {
                    let to = reconnect_address(&address, host.as_deref(), port);
                    info!(%to, ?wait, "pool redirected us");
                    endpoints.redirect(to);
                    Some(wait.min(endpoints.max_backoff()))
                }
                Err(e) => {
                    warn!(error = %e, "upstream connection ended");
                    endpoints.session_ended(started.elapsed())
                }
                Ok(()) => endpoints.session_ended(started.elapsed()),
            }
        };
        if let Some(wait) = wait {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// One connection's life. Tells the core `Disconnected` if the channel had been opened.
async fn session(
    settings: &V1UpstreamSettings,
    address: &str,
    commands: &mut mpsc::Receiver<UpstreamCommand>,
    link: &UpstreamLink,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), V1UpstreamError> {
    let stream = tokio::select! {
        connected = connect(settings, address) => connected?,
        _ = shutdown.changed() => return Err(V1UpstreamError::Shutdown),
    };
    let endpoint = UpstreamEvent::Endpoint {
        address: address.to_string(),
        primary: settings
            .endpoints
            .first()
            .is_some_and(|first| first == address),
    };
    if !link.send(endpoint).await {
        return Err(V1UpstreamError::Shutdown);
    }
    let mut state = V1Session::new(
        &settings.user_identity,
        settings.password.as_deref().unwrap_or("x"),
        settings.extranonce_size as usize,
        settings.lmr_contract_address.as_deref(),
    );
    let mut opened = false;
    let result = relay(
        stream,
        settings,
        &mut state,
        &mut opened,
        commands,
        link,
        shutdown,
    )
    .await;
    if opened {
        let _ = link.send_all(vec![UpstreamEvent::Disconnected]).await;
    }
    result
}

async fn connect(
    settings: &V1UpstreamSettings,
    address: &str,
) -> Result<TcpStream, V1UpstreamError> {
    let stream = tokio::time::timeout(settings.connect_timeout, TcpStream::connect(address))
        .await
        .map_err(|_| V1UpstreamError::ConnectTimeout(address.to_string()))?
        .map_err(|source| V1UpstreamError::Connect {
            address: address.to_string(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Writes the handshake, then relays pool lines to the core and the core's shares to the pool
/// until the connection ends. Sets `opened` once the core has heard of the channel.
async fn relay(
    stream: TcpStream,
    settings: &V1UpstreamSettings,
    state: &mut V1Session,
    opened: &mut bool,
    commands: &mut mpsc::Receiver<UpstreamCommand>,
    link: &UpstreamLink,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), V1UpstreamError> {
    let (mut reader, mut writer) = stream.into_split();
    let mut framer = LineFramer::new(MAX_POOL_LINE);
    let mut buffer = vec![0u8; READ_BUFFER];
    let handshake_deadline = tokio::time::Instant::now() + settings.connect_timeout;
    write(&mut writer, &state.take_output()).await?;
    loop {
        let step: Result<(), V1UpstreamError> = tokio::select! {
            read = reader.read(&mut buffer) => match read {
                Ok(0) => Err(V1UpstreamError::Closed),
                Ok(n) => on_bytes(&mut framer, state, buffer.get(..n).unwrap_or_default()),
                Err(e) => Err(e.into()),
            },
            command = commands.recv(), if state.is_open() => match command {
                Some(UpstreamCommand::Submit(share)) => state.submit(share).map_err(Into::into),
                Some(UpstreamCommand::Close(reason)) => Err(V1UpstreamError::Unusable(reason)),
                // Stratum V1 has no declared jobs; the core never sends one to a V1 route.
                Some(UpstreamCommand::SetCustomMiningJob(_)) => Ok(()),
                None => Err(V1UpstreamError::Shutdown),
            },
            _ = tokio::time::sleep_until(handshake_deadline), if !state.is_open() => {
                Err(V1UpstreamError::HandshakeTimeout(settings.connect_timeout))
            }
            _ = shutdown.changed() => Err(V1UpstreamError::Shutdown),
        };
        // What the lines before a failure said still counts (verdicts on shares, above all).
        let events = state.take_events();
        *opened |= events
            .iter()
            .any(|e| matches!(e, UpstreamEvent::ChannelOpened { .. }));
        if !link.send_all(events).await {
            return Err(V1UpstreamError::Shutdown);
        }
        step?;
        let output = state.take_output();
        if !output.is_empty() {
            write(&mut writer, &output).await?;
        }
    }
}

/// Feeds received bytes through the framer into the session.
fn on_bytes(
    framer: &mut LineFramer,
    state: &mut V1Session,
    mut received: &[u8],
) -> Result<(), V1UpstreamError> {
    while !received.is_empty() {
        let taken = framer.push(received);
        received = received.get(taken..).unwrap_or_default();
        while let Some(line) = framer.next_line() {
            let line = line.map_err(|_| V1UpstreamError::LineTooLong(MAX_POOL_LINE))?;
            state.on_line(line)?;
        }
    }
    Ok(())
}

async fn write(writer: &mut OwnedWriteHalf, bytes: &[u8]) -> Result<(), V1UpstreamError> {
    tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(bytes))
        .await
        .map_err(|_| V1UpstreamError::WriteTimeout)??;
    Ok(())
}
