//! One Stratum V1 device connection: frames and parses what it sends for the core, and writes
//! what the core's answers left queued (the core writes straight into the socket when it can,
//! see [`DeviceWriter`]). Garbage or an oversized line closes this device only.

use std::sync::Arc;
use std::time::Duration;

use sv1::LineFramer;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tracing::{debug, info, warn, Instrument};

use super::device_writer::{DeviceWriter, Pending};
use super::sv1_request::{classify, to_device_request, BadLine};
use crate::core::DeviceId;
use crate::node::CoreInput;

/// A device that does not read its socket for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Malformed-but-JSON requests tolerated before the device is considered broken.
const MAX_BAD_REQUESTS: u32 = 20;

/// Why a device connection ended.
#[derive(Debug, thiserror::Error)]
enum DeviceEnd {
    #[error("device closed the connection")]
    Closed,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
    #[error("write timed out (device not reading)")]
    WriteTimeout,
    #[error("closed by the node: {0}")]
    ClosedByNode(String),
    #[error("node shutting down")]
    Shutdown,
}

pub async fn run(
    stream: TcpStream,
    max_line_bytes: usize,
    inbox: async_channel::Sender<CoreInput>,
    shutdown: watch::Receiver<bool>,
) {
    let stream = Arc::new(stream);
    let writer = Arc::new(DeviceWriter::new(stream.clone()));
    let (reply, device) = oneshot::channel();
    if inbox
        .send(CoreInput::DeviceConnected {
            writer: writer.clone(),
            reply,
        })
        .await
        .is_err()
    {
        return;
    }
    let Ok(device) = device.await else {
        return;
    };
    async {
        info!("device connected");
        let end = serve(&stream, &writer, device, max_line_bytes, &inbox, shutdown).await;
        match &end {
            DeviceEnd::Closed | DeviceEnd::Shutdown => info!(reason = %end, "device disconnected"),
            _ => warn!(reason = %end, "device disconnected"),
        }
        let _ = inbox.send(CoreInput::DeviceGone { device }).await;
    }
    .instrument(tracing::info_span!("device", %device))
    .await;
}

async fn serve(
    stream: &TcpStream,
    writer: &DeviceWriter,
    device: DeviceId,
    max_line_bytes: usize,
    inbox: &async_channel::Sender<CoreInput>,
    mut shutdown: watch::Receiver<bool>,
) -> DeviceEnd {
    let mut framer = LineFramer::new(max_line_bytes);
    let mut read_buf = vec![0u8; 4096];
    let mut bad_requests = 0u32;
    // Made once: a fresh `changed()` per loop would register and drop a waiter every time.
    let shutting_down = shutdown.changed();
    tokio::pin!(shutting_down);
    loop {
        tokio::select! {
            readable = stream.readable() => {
                if let Err(e) = readable {
                    return e.into();
                }
                let n = match stream.try_read(&mut read_buf) {
                    Ok(0) => return DeviceEnd::Closed,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return e.into(),
                };
                let mut received = &read_buf[..n];
                while !received.is_empty() {
                    let taken = framer.push(received);
                    received = &received[taken..];
                    while let Some(line) = framer.next_line() {
                        let line = match line {
                            Ok(line) => line,
                            Err(e) => return DeviceEnd::Protocol(e.to_string()),
                        };
                        match sv1::parse_client(line) {
                            Ok(request) => {
                                let request = to_device_request(request);
                                if inbox.send(CoreInput::DeviceRequest { device, request }).await.is_err() {
                                    return DeviceEnd::Shutdown;
                                }
                            }
                            Err(e) if classify(&e) == BadLine::Garbage => {
                                return DeviceEnd::Protocol(format!("unparseable line: {e}"));
                            }
                            Err(e) => {
                                bad_requests += 1;
                                debug!(error = %e, "malformed request");
                                if bad_requests > MAX_BAD_REQUESTS {
                                    return DeviceEnd::Protocol(format!("too many malformed requests, last: {e}"));
                                }
                                let mut answer = Vec::new();
                                sv1::encode::server::error(&mut answer, &sv1::Id::Null, 20, &e.to_string());
                                if let Err(e) = writer.send(&answer) {
                                    return DeviceEnd::Protocol(e.to_string());
                                }
                            }
                        }
                    }
                    if taken == 0 {
                        // The framer is full and failed; next_line reported it above.
                        return DeviceEnd::Protocol("line too long".into());
                    }
                }
            }
            pending = writer.pending() => {
                let mut next = pending;
                loop {
                    match next {
                        Pending::Write(bytes) => {
                            if let Err(end) = write_all(stream, &bytes).await {
                                return end;
                            }
                            next = writer.written();
                        }
                        Pending::Close(reason) => return DeviceEnd::ClosedByNode(reason),
                        Pending::Nothing => break,
                    }
                }
            }
            _ = &mut shutting_down => return DeviceEnd::Shutdown,
        }
    }
}

/// Writes what the socket did not take at once, giving up on a device that does not read.
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> Result<(), DeviceEnd> {
    let write = async {
        while !bytes.is_empty() {
            stream.writable().await?;
            match stream.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(DeviceEnd::WriteTimeout),
    }
}
