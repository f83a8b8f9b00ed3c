//! Read-only pictures of the core's state, for the demo table, tests and (later) the API.

use super::device::{DeviceCounters, DeviceId, DeviceKind};
use super::upstream::UpstreamCounters;

/// One device as the operator sees it.
#[derive(Debug, Clone)]
pub struct DeviceSnapshot {
    pub id: DeviceId,
    /// SV1 connection, or SV2 standard / extended channel (whose channel id is `id`).
    pub kind: DeviceKind,
    /// The SV1 worker name, or the SV2 channel's user identity.
    pub worker: Option<String>,
    pub user_agent: Option<String>,
    pub difficulty: f64,
    /// H/s estimated from accepted work since it connected.
    pub hashrate: f64,
    pub counters: DeviceCounters,
}

/// The upstream channel as the operator sees it.
#[derive(Debug, Clone)]
pub struct UpstreamSnapshot {
    pub connected: bool,
    pub channel_id: Option<u32>,
    pub difficulty: Option<f64>,
    pub counters: UpstreamCounters,
    /// The last connection error, until a channel opens again.
    pub last_error: Option<String>,
}

/// The whole node at one instant.
#[derive(Debug, Clone)]
pub struct NodeSnapshot {
    pub devices: Vec<DeviceSnapshot>,
    /// Downstream SV2 connections (each may carry several channels, listed in `devices`).
    pub sv2_connections: usize,
    pub upstream: UpstreamSnapshot,
}
