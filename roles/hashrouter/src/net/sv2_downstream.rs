//! One downstream SV2 connection (a device or a proxy): the Noise handshake as responder, then
//! messages relayed between the socket and the core. Garbage during the handshake, a malformed
//! frame or a protocol violation closes this connection only.

use std::time::Duration;

use sv2_conn::{ConnError, FrameReader, FrameWriter, ResponderKeys};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn, Instrument};

use super::sv2_wire::{message_to_wire, reconnect_here, request_from_wire};
use crate::core::{ConnectionId, Sv2Request};
use crate::node::{CoreInput, Sv2Output, SV2_CONNECTION_QUEUE};

/// A connection that does not read its socket for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings shared by every downstream connection.
#[derive(Debug, Clone)]
pub struct DownstreamSettings {
    pub keys: ResponderKeys,
    /// For the Noise handshake, and again for the first message (SetupConnection).
    pub handshake_timeout: Duration,
}

/// Why a downstream connection ended.
#[derive(Debug, thiserror::Error)]
enum ConnectionEnd {
    #[error("handshake failed: {0}")]
    Handshake(ConnError),
    #[error("no SetupConnection within {0:?}")]
    SetupTimeout(Duration),
    #[error("peer closed the connection")]
    Closed,
    #[error("{0}")]
    Conn(ConnError),
    #[error("write timed out (peer not reading)")]
    WriteTimeout,
    #[error("closed by the node: {0}")]
    ClosedByNode(String),
    #[error("node shutting down")]
    Shutdown,
}

impl From<ConnError> for ConnectionEnd {
    fn from(e: ConnError) -> Self {
        match e {
            ConnError::Closed => ConnectionEnd::Closed,
            other => ConnectionEnd::Conn(other),
        }
    }
}

pub async fn run(
    stream: TcpStream,
    settings: DownstreamSettings,
    inbox: async_channel::Sender<CoreInput>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut reader, mut writer) = tokio::select! {
        accepted = sv2_conn::accept(stream, &settings.keys, settings.handshake_timeout) => {
            match accepted {
                Ok(halves) => halves,
                Err(e) => {
                    warn!(reason = %ConnectionEnd::Handshake(e), "SV2 connection dropped");
                    return;
                }
            }
        }
        _ = shutdown.changed() => return,
    };
    // Noise NX accepts any 64 bytes as the initiator's key: only a first valid frame shows the
    // peer really speaks SV2, so nothing reaches the core before it.
    let first = match tokio::time::timeout(settings.handshake_timeout, reader.read()).await {
        Ok(Ok(message)) => request_from_wire(message),
        Ok(Err(e)) => {
            warn!(reason = %ConnectionEnd::from(e), "SV2 connection dropped before setup");
            return;
        }
        Err(_) => {
            let end = ConnectionEnd::SetupTimeout(settings.handshake_timeout);
            warn!(reason = %end, "SV2 connection dropped before setup");
            return;
        }
    };

    let (outbox, outputs) = mpsc::channel(SV2_CONNECTION_QUEUE);
    let (reply, connection) = oneshot::channel();
    if inbox
        .send(CoreInput::Sv2Connected { outbox, reply })
        .await
        .is_err()
    {
        return;
    }
    let Ok(connection) = connection.await else {
        return;
    };
    async {
        info!("SV2 connection open");
        let end = serve(
            connection,
            first,
            &mut reader,
            &mut writer,
            &inbox,
            outputs,
            &mut shutdown,
        )
        .await;
        match &end {
            ConnectionEnd::Closed | ConnectionEnd::Shutdown => {
                info!(reason = %end, "SV2 connection closed")
            }
            _ => warn!(reason = %end, "SV2 connection closed"),
        }
        if matches!(end, ConnectionEnd::Shutdown) {
            // Tell the peer to come back to this endpoint once the node is up again.
            if let Ok(reconnect) = reconnect_here() {
                let _ = tokio::time::timeout(WRITE_TIMEOUT, writer.write(reconnect)).await;
            }
        }
        let _ = writer.shutdown().await;
        let _ = inbox.send(CoreInput::Sv2Gone { connection }).await;
    }
    .instrument(tracing::info_span!("sv2", %connection))
    .await;
}

async fn serve(
    connection: ConnectionId,
    first: Sv2Request,
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    inbox: &async_channel::Sender<CoreInput>,
    mut outputs: mpsc::Receiver<Sv2Output>,
    shutdown: &mut watch::Receiver<bool>,
) -> ConnectionEnd {
    if inbox
        .send(CoreInput::Sv2Request {
            connection,
            request: first,
        })
        .await
        .is_err()
    {
        return ConnectionEnd::Shutdown;
    }
    loop {
        tokio::select! {
            message = reader.read() => {
                let request = match message {
                    Ok(message) => request_from_wire(message),
                    Err(e) => return e.into(),
                };
                debug!(?request, "from downstream");
                if inbox.send(CoreInput::Sv2Request { connection, request }).await.is_err() {
                    return ConnectionEnd::Shutdown;
                }
            }
            output = outputs.recv() => {
                let message = match output {
                    Some(Sv2Output::Message(message)) => message,
                    Some(Sv2Output::Close(reason)) => return ConnectionEnd::ClosedByNode(reason),
                    // The core task drops every outbox when the node stops; that may be seen
                    // before the shutdown signal itself.
                    None if *shutdown.borrow() => return ConnectionEnd::Shutdown,
                    None => return ConnectionEnd::ClosedByNode("dropped by the node".into()),
                };
                let wire = match message_to_wire(message) {
                    Ok(wire) => wire,
                    Err(e) => {
                        warn!(error = %e, "message not sent");
                        continue;
                    }
                };
                match tokio::time::timeout(WRITE_TIMEOUT, writer.write(wire)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return e.into(),
                    Err(_) => return ConnectionEnd::WriteTimeout,
                }
            }
            _ = shutdown.changed() => return ConnectionEnd::Shutdown,
        }
    }
}
