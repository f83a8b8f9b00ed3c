//! Read-only pictures of the core's state, for the demo table, tests and the API.

use std::time::Duration;

use contracts::Amount;

use super::delivery::{AllocationTotals, DeliveryWindow};
use super::device::{DeviceCounters, DeviceId, DeviceKind};
use super::events::EventSnapshot;
use super::upstream::UpstreamCounters;

/// One device as the operator sees it.
#[derive(Debug, Clone)]
pub struct DeviceSnapshot {
    pub id: DeviceId,
    /// SV1 connection, or SV2 standard / extended channel (whose channel id is `id`).
    pub kind: DeviceKind,
    /// The route it mines for.
    pub route: super::RouteId,
    /// The SV1 worker name, or the SV2 channel's user identity.
    pub worker: Option<String>,
    pub user_agent: Option<String>,
    pub difficulty: f64,
    /// H/s estimated from accepted work since it connected.
    pub hashrate: f64,
    pub counters: DeviceCounters,
    pub connected_for: Duration,
    /// Since its last valid share; `None` before the first.
    pub last_share_ago: Option<Duration>,
}

/// The upstream channel as the operator sees it.
#[derive(Debug, Clone)]
pub struct UpstreamSnapshot {
    pub connected: bool,
    /// The endpoint of the open channel, or of the last one.
    pub endpoint: Option<String>,
    /// Whether that endpoint is a backup (or where the pool redirected us), not the primary.
    pub on_backup: bool,
    pub channel_id: Option<u32>,
    pub difficulty: Option<f64>,
    pub counters: UpstreamCounters,
    /// The last connection error, until a channel opens again.
    pub last_error: Option<String>,
}

/// One route: its upstream and its account.
#[derive(Debug, Clone)]
pub struct RouteSnapshot {
    pub name: String,
    pub upstream: UpstreamSnapshot,
    /// Target rate (H/s) from the allocations; 0 for the default route, which takes the rest.
    pub target: f64,
    /// Work owed (hashes); negative when ahead.
    pub owed: f64,
    /// Work delivered (hashes), as the node measured it, and the shares that delivered it.
    pub delivered: f64,
    pub shares: u64,
    /// Devices mining for it now.
    pub devices: usize,
    /// A contract's route whose contract is over (its slot awaits reuse).
    pub retired: bool,
    /// Where its jobs come from now: `pool`, `declared` or `solo`.
    pub jobs_from: &'static str,
    /// For routes with job declaration.
    pub job_declaration: Option<DeclarationSnapshot>,
    /// Allocated, seen and acknowledged work over the last 10 minutes and the last hour.
    pub last_10m: DeliveryWindow,
    pub last_1h: DeliveryWindow,
}

/// One allocation (a contract, an entry of the allocations file) and what it was delivered.
#[derive(Debug, Clone)]
pub struct AllocationSnapshot {
    pub id: String,
    pub route: String,
    pub amount: Amount,
    /// Unix seconds; `None`: from before the node knew it / open-ended.
    pub start: Option<u64>,
    pub end: Option<u64>,
    /// In force now.
    pub active: bool,
    /// H/s it asks for now, and what the farm gives it after over-subscription.
    pub requested_hs: f64,
    pub granted_hs: f64,
    /// Its part (by grant) of its route's windows.
    pub last_10m: DeliveryWindow,
    pub last_1h: DeliveryWindow,
    /// Delivered since its start (restored from the store after a restart).
    pub total: AllocationTotals,
    /// Its part of its route's owed work (hashes).
    pub owed: f64,
}

/// A route's job declaration as the operator sees it.
#[derive(Debug, Clone)]
pub struct DeclarationSnapshot {
    pub state: super::DeclaratorState,
    /// Declared jobs the pool accepted.
    pub declared: u64,
    /// Times the route went back to the pool's jobs after mining declared ones.
    pub fallbacks: u64,
}

/// The template provider connection.
#[derive(Debug, Clone, Default)]
pub struct TemplatesSnapshot {
    pub connected: bool,
    /// The template mined now.
    pub template_id: Option<u64>,
    /// Why the connection is down.
    pub error: Option<String>,
}

/// The whole node at one instant.
#[derive(Debug, Clone)]
pub struct NodeSnapshot {
    pub devices: Vec<DeviceSnapshot>,
    /// Downstream SV2 connections (each may carry several channels, listed in `devices`).
    pub sv2_connections: usize,
    /// Every route, the default first.
    pub routes: Vec<RouteSnapshot>,
    /// The last over-subscription, if the allocations are over-subscribed now.
    pub oversubscribed: Option<String>,
    /// The default route's upstream (`routes[0].upstream`).
    pub upstream: UpstreamSnapshot,
    /// The template provider (declared jobs and solo mining).
    pub templates: TemplatesSnapshot,
    /// The on-chain allocation source, when configured (filled in by the node, not the core).
    pub chain: Option<crate::chain::ChainSnapshot>,
    /// The farm's measured hashrate, H/s.
    pub farm_hashrate: f64,
    /// Every allocation the node knows, in force or not, in purchase order.
    pub allocations: Vec<AllocationSnapshot>,
    /// The event log, newest first.
    pub events: Vec<EventSnapshot>,
    /// Wall-clock seconds of this snapshot (from the last tick), 0 before the first tick.
    pub unix: u64,
}
