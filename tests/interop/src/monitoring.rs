//! The monitoring HTTP API of SRI's applications (stratum-apps' `monitoring` feature, served by
//! `pool_sv2` at its `monitoring_address`): per-channel share counters of its clients.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a monitoring request failed.
#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("HTTP answer without a body or status line")]
    Malformed,
    #[error("HTTP status {0}")]
    Status(String),
    #[error("unexpected JSON: {0}")]
    Json(#[from] serde_json::Error),
}

const TIMEOUT: Duration = Duration::from_secs(5);

/// One extended channel a downstream client opened, as the server counts it.
#[derive(Debug, Clone, Deserialize)]
pub struct ExtendedChannelInfo {
    pub channel_id: u32,
    pub user_identity: String,
    pub shares_accepted: u64,
    pub shares_rejected: u64,
    #[serde(default)]
    pub shares_rejected_by_reason: BTreeMap<String, u64>,
    pub share_work_sum: f64,
    pub blocks_found: u64,
}

#[derive(Deserialize)]
struct ClientsPage {
    items: Vec<ClientMetadata>,
}

#[derive(Deserialize)]
struct ClientMetadata {
    client_id: usize,
}

#[derive(Deserialize)]
struct ChannelsPage {
    extended_channels: Vec<ExtendedChannelInfo>,
}

/// `GET path` on `addr` (HTTP/1.0, so the body is neither chunked nor kept alive), parsed as JSON.
pub async fn get_json<T: for<'de> Deserialize<'de>>(
    addr: SocketAddr,
    path: &str,
) -> Result<T, MonitoringError> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| MonitoringError::Timeout(TIMEOUT))??;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(MonitoringError::Malformed)?;
    let status = head.lines().next().ok_or(MonitoringError::Malformed)?;
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(MonitoringError::Status(status.to_string()));
    }
    Ok(serde_json::from_str(body)?)
}

/// Every extended channel of every SV2 client of the server.
pub async fn extended_channels(
    addr: SocketAddr,
) -> Result<Vec<ExtendedChannelInfo>, MonitoringError> {
    let clients: ClientsPage = get_json(addr, "/api/v1/clients").await?;
    let mut channels = Vec::new();
    for client in clients.items {
        let page: ChannelsPage = get_json(
            addr,
            &format!("/api/v1/clients/{}/channels", client.client_id),
        )
        .await?;
        channels.extend(page.extended_channels);
    }
    Ok(channels)
}
