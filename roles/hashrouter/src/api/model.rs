//! The JSON documents of the API (`/api/v1/...`), shared by the server and `hashrouter status`.
//!
//! Rates are in H/s (`*_hs`), work in hashes (difficulty × 2^32), times in unix seconds
//! (`*_unix`) or seconds ago (`*_s`). Nothing here ever carries a secret: destinations are shown
//! without their password, RPC URLs without path or credentials.

use serde::{Deserialize, Serialize};

/// How a component, or the node as a whole, is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Working as configured.
    Ok,
    /// Working, but not as configured: a pool down, solo mining, a stale chain.
    Degraded,
    /// Not working.
    Down,
    /// Still doing its startup work (reading the chain's contracts).
    Starting,
}

/// `GET /api/v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// The worst of the components' statuses (`starting` before `degraded`).
    pub status: Status,
    pub version: String,
    pub uptime_s: u64,
    pub components: Vec<Component>,
    /// Startup work still in progress, if any.
    pub startup: Option<StartupProgress>,
}

/// One part of the node: a listener, a route's upstream, the template provider, a JDS, the
/// chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    pub status: Status,
    /// What is wrong, or what it is connected to.
    pub detail: Option<String>,
    /// For the chain: seconds since the last successful poll.
    pub stale_s: Option<u64>,
}

/// Long startup work: how far it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartupProgress {
    pub phase: String,
    pub done: u64,
    pub total: Option<u64>,
}

/// `GET /api/v1/devices`: one page of the devices.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevicePage {
    /// Devices connected.
    pub total: usize,
    /// Devices matching the filter.
    pub matched: usize,
    pub offset: usize,
    pub limit: usize,
    pub devices: Vec<Device>,
}

/// One device: an SV1 connection or an SV2 channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    pub id: u32,
    /// `sv1`, `sv2_standard` or `sv2_extended`.
    pub kind: String,
    pub worker: Option<String>,
    pub user_agent: Option<String>,
    pub route: String,
    pub hashrate_hs: f64,
    pub difficulty: f64,
    pub accepted: u64,
    pub rejected: u64,
    pub stale: u64,
    /// Shares that met the pool's target and went upstream.
    pub forwarded: u64,
    pub connected_s: u64,
    /// Seconds since its last valid share; `None` before the first.
    pub last_share_s: Option<u64>,
}

/// Mean rates over a window.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Rates {
    /// Seconds the window covers (less than its length while the node is younger).
    pub seconds: u64,
    pub allocated_hs: f64,
    /// Seen at the node: valid device shares.
    pub seen_hs: f64,
    /// Acknowledged by the pool.
    pub acked_hs: f64,
}

/// `GET /api/v1/routes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Routes {
    pub routes: Vec<Route>,
    /// The allocations ask for more than the farm has: how it was resolved.
    pub oversubscribed: Option<String>,
}

/// A route: the default (the seller's pool) or a buyer's pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Route {
    pub name: String,
    pub is_default: bool,
    /// A contract's route whose contract is over.
    pub retired: bool,
    /// Target rate from the allocations; for the default route, what they leave of the farm.
    pub target_hs: f64,
    /// Work owed (hashes), negative when ahead; and how many seconds of its target that is
    /// (`None` for the default route, which is owed nothing).
    pub owed_hashes: f64,
    pub owed_s: Option<f64>,
    /// Work delivered since it started (seen at the node), and its shares.
    pub delivered_hashes: f64,
    pub shares: u64,
    pub devices: usize,
    /// Where its jobs come from: `pool`, `declared` or `solo`.
    pub jobs_from: String,
    pub last_10m: Rates,
    pub last_1h: Rates,
    pub upstream: Upstream,
    pub job_declaration: Option<JobDeclaration>,
}

/// A route's upstream channel and its endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upstream {
    pub connected: bool,
    /// `host:port` of the open (or last) connection.
    pub endpoint: Option<String>,
    /// The endpoint is a backup (or a redirect), not the primary.
    pub on_backup: bool,
    pub channel_id: Option<u32>,
    pub difficulty: Option<f64>,
    pub last_error: Option<String>,
    pub connections: u64,
    pub forwarded_shares: u64,
    pub acked_shares: u64,
    pub rejected_shares: u64,
    pub unanswered_shares: u64,
    pub blocks: u64,
}

/// A route's job declaration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobDeclaration {
    /// `waiting_for_jds`, `declaring`, `mining` or `fallen_back`.
    pub state: String,
    pub detail: Option<String>,
    pub declared: u64,
    pub fallbacks: u64,
}

/// `GET /api/v1/allocations`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Allocations {
    pub farm_hashrate_hs: f64,
    pub oversubscribed: Option<String>,
    pub allocations: Vec<Allocation>,
}

/// Whether an allocation gets what it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Owed less than a minute of its rate.
    OnTarget,
    /// Owed more than a minute of its rate.
    Behind,
    /// Not in force now (not started or ended).
    Inactive,
}

/// One allocation: a Lumerin contract or an entry of the allocations file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Allocation {
    pub id: String,
    pub route: String,
    /// `chain` or `file`.
    pub source: String,
    /// The rate bought (for an amount that is a fraction, what it asks of the farm now).
    pub requested_hs: f64,
    /// A fraction of the farm instead of a fixed rate, if so.
    pub fraction: Option<f64>,
    /// What the farm gives it now, after over-subscription.
    pub granted_hs: f64,
    pub start_unix: Option<u64>,
    pub end_unix: Option<u64>,
    pub active: bool,
    pub delivery: Delivery,
    pub last_10m: Rates,
    pub last_1h: Rates,
    /// Since the start (or since the node first delivered to it); `allocated_hs` is the rate
    /// bought.
    pub contract: Rates,
    pub owed_hashes: f64,
    pub owed_s: Option<f64>,
    /// For a contract: its buyer and destination (without password).
    pub buyer: Option<String>,
    pub destination: Option<String>,
}

/// `GET /api/v1/events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Events {
    pub events: Vec<Event>,
}

/// An entry of the event log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at_unix: u64,
    /// `upstream_up`, `failover`, `upstream_down`, `allocation_added`, `allocation_changed`,
    /// `allocation_removed`, `oversubscribed`, `job_declaration`, `solo`, `block`.
    pub kind: String,
    pub route: Option<String>,
    pub message: String,
}

/// `GET /api/v1/history`: each route's rates, sampled, for the live chart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct History {
    pub interval_s: u64,
    pub routes: Vec<RouteHistory>,
}

/// One route's samples, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteHistory {
    pub name: String,
    pub points: Vec<HistoryPoint>,
}

/// Rates at one instant, each a mean over the minute before it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub at_unix: u64,
    pub allocated_hs: f64,
    pub seen_hs: f64,
    pub acked_hs: f64,
}

/// `POST /api/v1/allocations/reload`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reloaded {
    /// Allocations in the file now.
    pub allocations: usize,
}

/// Every error answer: `{"error": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}
