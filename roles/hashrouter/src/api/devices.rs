//! `GET /api/v1/devices`: filtering, sorting and paging the devices, so a page of a farm of
//! tens of thousands stays small.

use serde::Deserialize;

use super::model::{Device, DevicePage};

/// Largest page served.
pub const MAX_PAGE: usize = 500;
const DEFAULT_PAGE: usize = 50;

/// The query string: `?offset=0&limit=50&sort=hashrate_hs&order=desc&q=rig&route=default`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceQuery {
    #[serde(default)]
    pub offset: usize,
    pub limit: Option<usize>,
    /// A [`Device`] field: `id`, `worker`, `kind`, `route`, `hashrate_hs`, `difficulty`,
    /// `accepted`, `rejected`, `stale`, `forwarded`, `connected_s`, `last_share_s`.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// Case-insensitive substring of the worker name, user agent, id (hex or decimal) or route.
    pub q: Option<String>,
    /// Only devices on this route.
    pub route: Option<String>,
}

/// Why a query was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeviceQueryError {
    #[error("unknown sort field `{0}`")]
    UnknownSort(String),
    #[error("order must be `asc` or `desc`, not `{0}`")]
    UnknownOrder(String),
}

/// The page of `devices` the query asks for.
pub fn page(mut devices: Vec<Device>, query: &DeviceQuery) -> Result<DevicePage, DeviceQueryError> {
    let total = devices.len();
    let descending = match query.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(DeviceQueryError::UnknownOrder(other.to_string())),
    };
    let sort = query.sort.as_deref().unwrap_or("id");
    let compare = comparator(sort).ok_or_else(|| DeviceQueryError::UnknownSort(sort.into()))?;
    if let Some(route) = &query.route {
        devices.retain(|d| d.route == *route);
    }
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let q = q.to_lowercase();
        devices.retain(|d| matches(d, &q));
    }
    devices.sort_by(|a, b| {
        let order = compare(a, b).then(a.id.cmp(&b.id));
        if descending {
            order.reverse()
        } else {
            order
        }
    });
    let matched = devices.len();
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let offset = query.offset.min(matched);
    let devices = devices.into_iter().skip(offset).take(limit).collect();
    Ok(DevicePage {
        total,
        matched,
        offset,
        limit,
        devices,
    })
}

fn matches(d: &Device, q: &str) -> bool {
    let text = |s: &Option<String>| s.as_deref().is_some_and(|s| s.to_lowercase().contains(q));
    text(&d.worker)
        || text(&d.user_agent)
        || d.route.to_lowercase().contains(q)
        || format!("{:08x}", d.id).contains(q)
        || d.id.to_string() == q
}

type Compare = fn(&Device, &Device) -> std::cmp::Ordering;

fn comparator(field: &str) -> Option<Compare> {
    Some(match field {
        "id" => |a, b| a.id.cmp(&b.id),
        "worker" => |a, b| a.worker.cmp(&b.worker),
        "kind" => |a, b| a.kind.cmp(&b.kind),
        "route" => |a, b| a.route.cmp(&b.route),
        "hashrate_hs" => |a, b| a.hashrate_hs.total_cmp(&b.hashrate_hs),
        "difficulty" => |a, b| a.difficulty.total_cmp(&b.difficulty),
        "accepted" => |a, b| a.accepted.cmp(&b.accepted),
        "rejected" => |a, b| a.rejected.cmp(&b.rejected),
        "stale" => |a, b| a.stale.cmp(&b.stale),
        "forwarded" => |a, b| a.forwarded.cmp(&b.forwarded),
        "connected_s" => |a, b| a.connected_s.cmp(&b.connected_s),
        "last_share_s" => |a, b| a.last_share_s.cmp(&b.last_share_s),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: u32) -> Device {
        Device {
            id,
            kind: "sv1".into(),
            worker: Some(format!("rig{id}")),
            user_agent: Some("cgminer/4.11".into()),
            route: if id.is_multiple_of(3) {
                "buyer"
            } else {
                "default"
            }
            .into(),
            hashrate_hs: f64::from(id % 100) * 1e12,
            difficulty: 1024.0,
            accepted: u64::from(id),
            rejected: 0,
            stale: 0,
            forwarded: 0,
            connected_s: 10,
            last_share_s: Some(1),
        }
    }

    fn farm() -> Vec<Device> {
        (1..=10_000).map(device).collect()
    }

    #[test]
    fn ten_thousand_devices_come_a_page_at_a_time() {
        let query = DeviceQuery {
            offset: 9_990,
            limit: Some(50),
            ..DeviceQuery::default()
        };
        let page = page(farm(), &query).unwrap();
        assert_eq!((page.total, page.matched), (10_000, 10_000));
        assert_eq!(page.devices.len(), 10);
        assert_eq!(page.devices[0].id, 9_991);
        let huge = DeviceQuery {
            limit: Some(1_000_000),
            ..DeviceQuery::default()
        };
        assert_eq!(super::page(farm(), &huge).unwrap().devices.len(), MAX_PAGE);
    }

    #[test]
    fn sorted_descending_with_ties_broken_by_id() {
        let query = DeviceQuery {
            sort: Some("hashrate_hs".into()),
            order: Some("desc".into()),
            limit: Some(3),
            ..DeviceQuery::default()
        };
        let ids: Vec<u32> = page(farm(), &query)
            .unwrap()
            .devices
            .iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(ids, vec![9_999, 9_899, 9_799]);
    }

    #[test]
    fn filtered_by_text_and_route() {
        let query = DeviceQuery {
            q: Some("RIG12".into()),
            route: Some("buyer".into()),
            limit: Some(500),
            ..DeviceQuery::default()
        };
        let page = page(farm(), &query).unwrap();
        assert!(page.matched > 0);
        assert!(page
            .devices
            .iter()
            .all(|d| d.route == "buyer" && d.worker.as_deref().unwrap().starts_with("rig12")));
    }

    #[test]
    fn bad_sort_or_order_is_refused() {
        let sort = DeviceQuery {
            sort: Some("password".into()),
            ..DeviceQuery::default()
        };
        assert_eq!(
            page(farm(), &sort).unwrap_err(),
            DeviceQueryError::UnknownSort("password".into())
        );
        let order = DeviceQuery {
            order: Some("up".into()),
            ..DeviceQuery::default()
        };
        assert!(page(farm(), &order).is_err());
    }
}
