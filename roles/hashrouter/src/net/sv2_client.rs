//! What the node's clients of a template provider and of a Job Declaration Server share: a TCP
//! connection with a deadline, the Noise handshake pinned to the server's authority key, and
//! `SetupConnection`, with errors that say what went wrong in the operator's terms.

use std::time::Duration;

use binary_sv2::Str0255Owned;
use common_messages_sv2::{Protocol, SetupConnectionOwned};
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned};
use sv2_conn::{ConnError, FrameReader, FrameWriter, Secp256k1PublicKey};
use tokio::net::TcpStream;

/// The SV2 protocol version we speak.
const SV2_VERSION: u16 = 2;

/// Why a session with a template provider or a JDS ended (or never started).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("connect to {0} timed out")]
    ConnectTimeout(String),
    #[error(
        "{address} is not signed by the configured authority key ({field}): wrong key, or not \
         the server you meant"
    )]
    WrongAuthority { address: String, field: String },
    #[error("{0}")]
    Conn(#[from] ConnError),
    #[error("server refused SetupConnection: {0}")]
    SetupRefused(String),
    #[error("no answer to SetupConnection within {0:?}")]
    SetupTimeout(Duration),
    /// The server sent something malformed or out of place.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A message the node built does not fit its SV2 field limits (not sent).
    #[error("message not sent: {0}")]
    Unencodable(String),
    /// The node asked for the session to end.
    #[error("closed by the node: {0}")]
    Closed(String),
    #[error("node shutting down")]
    Shutdown,
}

/// Where to connect and how to check the server: `field` names the config key of `authority`
/// in errors.
#[derive(Debug, Clone, Copy)]
pub struct Server<'a> {
    pub address: &'a str,
    pub authority: Secp256k1PublicKey,
    pub field: &'a str,
    pub timeout: Duration,
}

/// TCP then Noise, each within `server.timeout`.
pub async fn connect(server: Server<'_>) -> Result<(FrameReader, FrameWriter), SessionError> {
    let address = server.address.to_string();
    let stream = tokio::time::timeout(server.timeout, TcpStream::connect(server.address))
        .await
        .map_err(|_| SessionError::ConnectTimeout(address.clone()))?
        .map_err(|source| SessionError::Connect {
            address: address.clone(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    sv2_conn::connect(stream, Some(server.authority), server.timeout)
        .await
        .map_err(|e| match e {
            ConnError::AuthorityMismatch => SessionError::WrongAuthority {
                address,
                field: server.field.to_string(),
            },
            other => other.into(),
        })
}

/// Sends `SetupConnection` for `protocol` with `flags` and waits (within `server.timeout`) for
/// the answer; returns the flags of `SetupConnection.Success`.
pub async fn setup(
    server: Server<'_>,
    protocol: Protocol,
    flags: u32,
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
) -> Result<u32, SessionError> {
    let (host, port) = server
        .address
        .rsplit_once(':')
        .unwrap_or((server.address, "0"));
    let setup = SetupConnectionOwned {
        protocol,
        min_version: SV2_VERSION,
        max_version: SV2_VERSION,
        flags,
        endpoint_host: str0255(host)?,
        endpoint_port: port.parse().unwrap_or(0),
        vendor: str0255("hashrouter")?,
        hardware_version: str0255("")?,
        firmware: str0255(env!("CARGO_PKG_VERSION"))?,
        device_id: str0255("")?,
    };
    writer
        .write(CommonMessagesOwned::SetupConnection(setup))
        .await?;
    let answer = tokio::time::timeout(server.timeout, reader.read())
        .await
        .map_err(|_| SessionError::SetupTimeout(server.timeout))??;
    match answer {
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(ok)) => {
            if ok.used_version != SV2_VERSION {
                return Err(SessionError::Protocol(format!(
                    "SetupConnection.Success with version {} (we asked for {SV2_VERSION})",
                    ok.used_version
                )));
            }
            Ok(ok.flags)
        }
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionError(e)) => {
            Err(SessionError::SetupRefused(e.error_code.as_utf8_or_hex()))
        }
        other => Err(SessionError::Protocol(format!(
            "expected SetupConnection.Success, got {}",
            message_name(&other)
        ))),
    }
}

/// A string field of at most 255 bytes.
pub fn str0255(text: &str) -> Result<Str0255Owned, SessionError> {
    Str0255Owned::try_from(text.to_string())
        .map_err(|_| SessionError::Unencodable(format!("`{text}` is longer than 255 bytes")))
}

/// A short name for a message in errors (the full display of a large message would flood logs).
pub fn message_name(message: &AnyMessageOwned) -> String {
    let text = message.to_string();
    match text.find('(') {
        Some(end) => text[..end].to_string(),
        None => text.chars().take(80).collect(),
    }
}
