//! One Stratum V1 device connection: frames and parses what it sends for the core, and writes
//! what the core answers. Garbage or an oversized line closes this device only.

use std::time::Duration;

use sv1::LineFramer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn, Instrument};

use super::sv1_request::{classify, to_device_request, BadLine};
use crate::core::DeviceId;
use crate::node::{CoreInput, DeviceOutput, DEVICE_QUEUE};

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
    mut stream: TcpStream,
    max_line_bytes: usize,
    inbox: async_channel::Sender<CoreInput>,
    shutdown: watch::Receiver<bool>,
) {
    let (outbox, outputs) = mpsc::channel(DEVICE_QUEUE);
    let (reply, device) = oneshot::channel();
    if inbox
        .send(CoreInput::DeviceConnected { outbox, reply })
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
        let end = serve(
            &mut stream,
            device,
            max_line_bytes,
            &inbox,
            outputs,
            shutdown,
        )
        .await;
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
    stream: &mut TcpStream,
    device: DeviceId,
    max_line_bytes: usize,
    inbox: &async_channel::Sender<CoreInput>,
    mut outputs: mpsc::Receiver<DeviceOutput>,
    mut shutdown: watch::Receiver<bool>,
) -> DeviceEnd {
    let (mut reader, mut writer) = stream.split();
    let mut framer = LineFramer::new(max_line_bytes);
    let mut read_buf = vec![0u8; 4096];
    let mut write_buf = Vec::with_capacity(4096);
    let mut bad_requests = 0u32;
    loop {
        tokio::select! {
            read = reader.read(&mut read_buf) => {
                let n = match read {
                    Ok(0) => return DeviceEnd::Closed,
                    Ok(n) => n,
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
                                if let Err(end) = write_all(&mut writer, &answer).await {
                                    return end;
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
            output = outputs.recv() => {
                let Some(output) = output else {
                    return DeviceEnd::ClosedByNode("device dropped by the node".into());
                };
                // Batch everything already queued into one write.
                let mut next = Some(output);
                write_buf.clear();
                while let Some(output) = next.take() {
                    match output {
                        DeviceOutput::Line(line) => write_buf.extend_from_slice(&line),
                        DeviceOutput::Close(reason) => {
                            let _ = write_all(&mut writer, &write_buf).await;
                            return DeviceEnd::ClosedByNode(reason);
                        }
                    }
                    if write_buf.len() < 64 * 1024 {
                        next = outputs.try_recv().ok();
                    }
                }
                if let Err(end) = write_all(&mut writer, &write_buf).await {
                    return end;
                }
            }
            _ = shutdown.changed() => return DeviceEnd::Shutdown,
        }
    }
}

async fn write_all(
    writer: &mut tokio::net::tcp::WriteHalf<'_>,
    bytes: &[u8],
) -> Result<(), DeviceEnd> {
    if bytes.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(DeviceEnd::WriteTimeout),
    }
}
