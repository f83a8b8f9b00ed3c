//! The terminal picture of `hashrouter status`: the dashboard's content as text tables.

use std::fmt::Write;

use super::format::{self, clean, hashrate, percent, Align, Table};
use super::picture::{Part, Picture};
use crate::api::model::{
    Allocation, Allocations, Delivery, DevicePage, Events, Health, Rates, Route, Routes, Status,
};

/// Longest free text (errors, messages) put in a table cell.
const CELL_TEXT: usize = 48;
/// Longest name (worker, route, allocation id) shown.
const NAME_TEXT: usize = 44;

/// The whole picture; `devices` is how many of the lowest-hashrate devices to list.
pub fn picture(p: &Picture, devices: usize) -> String {
    let mut out = health(&p.health.parsed, &p.api);
    out.push('\n');
    section(&mut out, "ROUTES", &p.routes, routes);
    section(&mut out, "ALLOCATIONS", &p.allocations, allocations);
    section(&mut out, "DEVICES", &p.devices, |page| {
        device_summary(page, devices)
    });
    section(&mut out, "EVENTS", &p.events, events);
    out
}

fn section<T>(out: &mut String, title: &str, part: &Part<T>, render: impl Fn(&T) -> String) {
    match part {
        Ok(document) => out.push_str(&render(&document.parsed)),
        Err(message) => {
            let _ = writeln!(out, "{title}: unavailable ({})", clean(message, CELL_TEXT));
        }
    }
    out.push('\n');
}

pub fn status_word(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Degraded => "degraded",
        Status::Down => "down",
        Status::Starting => "starting",
    }
}

/// The health line and one line per component that is not ok.
pub fn health(h: &Health, api: &str) -> String {
    let mut out = format!(
        "hashrouter {} at {}: {}, up {}\n",
        clean(&h.version, NAME_TEXT),
        api,
        status_word(h.status),
        format::duration(h.uptime_s)
    );
    if let Some(p) = &h.startup {
        let _ = writeln!(out, "  {}", progress_text(p));
    }
    for c in h.components.iter().filter(|c| c.status != Status::Ok) {
        let mut line = format!(
            "  {:<24} {:<9}",
            clean(&c.name, NAME_TEXT),
            status_word(c.status)
        );
        if let Some(detail) = &c.detail {
            line.push(' ');
            line.push_str(&clean(detail, 2 * CELL_TEXT));
        }
        if let Some(stale) = c.stale_s {
            let _ = write!(line, " (last read {} ago)", format::duration(stale));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `reading contracts: 120 of 1000`.
pub fn progress_text(p: &crate::api::model::StartupProgress) -> String {
    let phase = clean(&p.phase, NAME_TEXT);
    match p.total {
        Some(total) => format!("{phase}: {} of {total}", p.done),
        None => format!("{phase}: {}", p.done),
    }
}

fn upstream_state(r: &Route) -> String {
    let u = &r.upstream;
    let endpoint = u.endpoint.as_deref().map(|e| clean(e, NAME_TEXT));
    let mut text = match (u.connected, endpoint) {
        (true, Some(endpoint)) => format!("up {endpoint}"),
        (true, None) => "up".to_string(),
        (false, _) => format!(
            "down: {}",
            clean(u.last_error.as_deref().unwrap_or("connecting"), CELL_TEXT)
        ),
    };
    if u.connected && u.on_backup {
        text.push_str(" (backup)");
    }
    text
}

pub fn routes(r: &Routes) -> String {
    let mut table = Table::new(&[
        ("ROUTE", Align::Left),
        ("UPSTREAM", Align::Left),
        ("JOBS", Align::Left),
        ("TARGET", Align::Right),
        ("SEEN 10M", Align::Right),
        ("ACKED 10M", Align::Right),
        ("OWED", Align::Right),
        ("DEVICES", Align::Right),
    ]);
    let live: Vec<&Route> = r.routes.iter().filter(|r| !r.retired).collect();
    for route in &live {
        let name = match route.is_default && route.name != "default" {
            true => format!("{} (default)", clean(&route.name, NAME_TEXT)),
            false => clean(&route.name, NAME_TEXT),
        };
        table.row(vec![
            name,
            upstream_state(route),
            clean(&route.jobs_from, 12),
            hashrate(route.target_hs),
            hashrate(route.last_10m.seen_hs),
            hashrate(route.last_10m.acked_hs),
            route
                .owed_s
                .map_or_else(|| "-".to_string(), format::signed_duration),
            route.devices.to_string(),
        ]);
    }
    let mut out = format!("ROUTES ({})\n", live.len());
    out.push_str(&table.render());
    let retired = r.routes.len() - live.len();
    if retired > 0 {
        let _ = writeln!(out, "({retired} retired contract routes not shown)");
    }
    if let Some(why) = &r.oversubscribed {
        let _ = writeln!(out, "oversubscribed: {}", clean(why, 2 * CELL_TEXT));
    }
    out
}

fn delivery_word(a: &Allocation) -> &'static str {
    match a.delivery {
        Delivery::OnTarget => "on target",
        Delivery::Behind => "behind",
        Delivery::Inactive => "inactive",
    }
}

/// `587.4 kH/s  98%`: a rate and its share of what was allocated over the same window; `-`
/// for a window that covers no time yet.
fn rate_of(rate: f64, w: &Rates) -> String {
    if w.seconds == 0 {
        return "-".to_string();
    }
    format!("{}  {:>4}", hashrate(rate), percent(rate, w.allocated_hs))
}

pub fn allocations(a: &Allocations) -> String {
    if a.allocations.is_empty() {
        return format!(
            "ALLOCATIONS: none (farm {}, all on the default route)\n",
            hashrate(a.farm_hashrate_hs)
        );
    }
    let mut table = Table::new(&[
        ("ALLOCATION", Align::Left),
        ("ROUTE", Align::Left),
        ("REQUESTED", Align::Right),
        ("GRANTED", Align::Right),
        ("WINDOW", Align::Left),
        ("SEEN", Align::Right),
        ("ACKED", Align::Right),
        ("DELIVERY", Align::Left),
    ]);
    for alloc in &a.allocations {
        let requested = match alloc.fraction {
            Some(f) => format!("{} ({:.0}%)", hashrate(alloc.requested_hs), f * 100.0),
            None => hashrate(alloc.requested_hs),
        };
        let mut delivery = delivery_word(alloc).to_string();
        if let (Delivery::Behind, Some(owed)) = (alloc.delivery, alloc.owed_s) {
            let _ = write!(delivery, ", owed {}", format::signed_duration(owed));
        }
        let windows = [
            ("10 min", &alloc.last_10m),
            ("1 h", &alloc.last_1h),
            ("contract", &alloc.contract),
        ];
        for (i, (label, w)) in windows.into_iter().enumerate() {
            let lead = match i {
                0 => vec![
                    clean(&alloc.id, NAME_TEXT),
                    clean(&alloc.route, NAME_TEXT),
                    requested.clone(),
                    hashrate(alloc.granted_hs),
                ],
                _ => vec![String::new(); 4],
            };
            let mut row = lead;
            row.extend([
                label.to_string(),
                rate_of(w.seen_hs, w),
                rate_of(w.acked_hs, w),
                if i == 0 {
                    delivery.clone()
                } else {
                    String::new()
                },
            ]);
            table.row(row);
        }
    }
    let mut out = format!(
        "ALLOCATIONS (farm {}; % of what was allocated over each window)\n",
        hashrate(a.farm_hashrate_hs)
    );
    out.push_str(&table.render());
    if let Some(why) = &a.oversubscribed {
        let _ = writeln!(out, "oversubscribed: {}", clean(why, 2 * CELL_TEXT));
    }
    out
}

pub fn device_summary(page: &DevicePage, shown: usize) -> String {
    if page.total == 0 {
        return "DEVICES: none connected\n".to_string();
    }
    let listed = page.devices.iter().take(shown).count();
    if listed == 0 {
        return format!("DEVICES: {} connected\n", page.total);
    }
    let mut out = format!(
        "DEVICES: {} connected; the {listed} with the lowest hashrate:\n",
        page.total
    );
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("WORKER", Align::Left),
        ("KIND", Align::Left),
        ("ROUTE", Align::Left),
        ("HASHRATE", Align::Right),
        ("DIFFICULTY", Align::Right),
        ("ACCEPTED", Align::Right),
        ("REJECTED", Align::Right),
        ("STALE", Align::Right),
        ("LAST SHARE", Align::Right),
    ]);
    for d in page.devices.iter().take(shown) {
        table.row(vec![
            format!("{:08x}", d.id),
            clean(d.worker.as_deref().unwrap_or("-"), NAME_TEXT),
            clean(&d.kind, 16),
            clean(&d.route, NAME_TEXT),
            hashrate(d.hashrate_hs),
            format::difficulty(d.difficulty),
            d.accepted.to_string(),
            d.rejected.to_string(),
            d.stale.to_string(),
            d.last_share_s.map_or_else(
                || "never".into(),
                |s| format!("{} ago", format::duration(s)),
            ),
        ]);
    }
    out.push_str(&table.render());
    out
}

pub fn events(e: &Events) -> String {
    if e.events.is_empty() {
        return "EVENTS: none\n".to_string();
    }
    let mut out = format!("EVENTS (last {}, oldest first)\n", e.events.len());
    let mut table = Table::new(&[
        ("TIME", Align::Left),
        ("EVENT", Align::Left),
        ("ROUTE", Align::Left),
        ("MESSAGE", Align::Left),
    ]);
    for event in e.events.iter().rev() {
        table.row(vec![
            format::local_time(event.at_unix),
            clean(&event.kind, 24),
            clean(event.route.as_deref().unwrap_or("-"), NAME_TEXT),
            clean(&event.message, 2 * CELL_TEXT),
        ]);
    }
    out.push_str(&table.render());
    out
}
