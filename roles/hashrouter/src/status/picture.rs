//! Everything `hashrouter status` shows, fetched from the API in one go: health, routes,
//! allocations, the lowest-hashrate devices and the latest events.

use serde_json::json;

use super::client::{ApiClient, Document, FetchError};
use crate::api::model::{Allocations, DevicePage, Events, Health, Routes};
use crate::api::MAX_PAGE;

/// Events shown.
pub const EVENTS_SHOWN: usize = 10;

/// One document, or the error the API gave instead (while the node has no snapshot yet).
pub type Part<T> = Result<Document<T>, String>;

/// The node as the API showed it.
#[derive(Debug, Clone)]
pub struct Picture {
    pub api: String,
    pub health: Document<Health>,
    pub routes: Part<Routes>,
    pub allocations: Part<Allocations>,
    /// The devices with the lowest hashrate, lowest first.
    pub devices: Part<DevicePage>,
    /// Newest first, as the API sends them.
    pub events: Part<Events>,
}

impl Picture {
    /// Fetches every document; `devices` is how many of the lowest-hashrate devices to list.
    /// An unreachable API or garbage fails the whole; an error the API reports for one
    /// document leaves the rest to show.
    pub async fn fetch(client: &ApiClient, devices: usize) -> Result<Picture, FetchError> {
        let health = client.get("/api/v1/health").await?;
        let limit = devices.clamp(1, MAX_PAGE);
        let devices_path = format!("/api/v1/devices?sort=hashrate_hs&order=asc&limit={limit}");
        let events_path = format!("/api/v1/events?limit={EVENTS_SHOWN}");
        let (routes, allocations, devices, events) = tokio::join!(
            client.get("/api/v1/routes"),
            client.get("/api/v1/allocations"),
            client.get(&devices_path),
            client.get(&events_path),
        );
        Ok(Picture {
            api: client.base().to_string(),
            health,
            routes: part(routes)?,
            allocations: part(allocations)?,
            devices: part(devices)?,
            events: part(events)?,
        })
    }

    /// The raw documents as one JSON object (an `{"error": ...}` for one the API refused).
    pub fn to_json(&self) -> serde_json::Value {
        fn raw<T>(part: &Part<T>) -> serde_json::Value {
            match part {
                Ok(document) => document.raw.clone(),
                Err(message) => json!({ "error": message }),
            }
        }
        json!({
            "api": self.api,
            "health": self.health.raw,
            "routes": raw(&self.routes),
            "allocations": raw(&self.allocations),
            "devices": raw(&self.devices),
            "events": raw(&self.events),
        })
    }
}

fn part<T>(fetched: Result<Document<T>, FetchError>) -> Result<Part<T>, FetchError> {
    match fetched {
        Ok(document) => Ok(Ok(document)),
        Err(FetchError::Refused { message, .. }) => Ok(Err(message)),
        Err(other) => Err(other),
    }
}
