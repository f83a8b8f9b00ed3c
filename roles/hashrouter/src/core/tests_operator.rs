//! What the core tells the operator: the event log and the delivery windows, driven through the
//! same events the network layer gives it.

use std::time::{Duration, Instant};

use contracts::{Allocation, Amount};
use work::Target;

use super::tests::{drain, grind, mining_core, open_channel, ready_device, submit};
use super::*;
use crate::allocations::AllocationSet;

fn kinds(core: &Core, now: Instant) -> Vec<(EventKind, String)> {
    core.snapshot(now)
        .events
        .into_iter()
        .rev()
        .map(|e| (e.kind, e.message))
        .collect()
}

fn allocation(id: &str, fraction: f64) -> Allocation {
    Allocation {
        id: id.into(),
        route: "default".into(),
        amount: Amount::Fraction(fraction),
        start: None,
        end: None,
        order: 0,
    }
}

#[test]
fn failovers_losses_and_allocation_changes_are_logged() {
    let t0 = Instant::now();
    let mut core = mining_core(t0);
    let t1 = t0 + Duration::from_secs(5);
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::Failed {
            reason: "connection reset".into(),
        },
        t1,
    );
    core.handle_upstream(RouteId::DEFAULT, UpstreamEvent::Disconnected, t1);
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::Endpoint {
            address: "backup.pool:3333".into(),
            primary: false,
        },
        t1,
    );
    open_channel(&mut core, 9, 1e-8, &[1; 8], 8, t1);
    let snapshot = core.snapshot(t1);
    assert_eq!(
        snapshot.upstream.endpoint.as_deref(),
        Some("backup.pool:3333")
    );
    assert!(snapshot.upstream.on_backup);

    core.set_allocations(AllocationSet::new(vec![allocation("a", 0.1)]), t1);
    core.set_allocations(AllocationSet::new(vec![allocation("a", 0.2)]), t1);
    core.set_allocations(AllocationSet::new(vec![allocation("a", 0.2)]), t1);
    core.set_allocations(AllocationSet::new(vec![]), t1);

    let events = kinds(&core, t1 + Duration::from_secs(1));
    let got: Vec<EventKind> = events.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        got,
        [
            EventKind::UpstreamUp,
            EventKind::UpstreamDown,
            EventKind::Failover,
            EventKind::AllocationAdded,
            EventKind::AllocationChanged,
            EventKind::AllocationRemoved,
        ],
        "{events:?}"
    );
    assert!(events[1].1.contains("connection reset"), "{events:?}");
    assert!(events[2].1.contains("backup.pool:3333"), "{events:?}");
    assert!(events[4].1.contains("20.0%"), "{events:?}");
    let newest = &core.snapshot(t1 + Duration::from_secs(1)).events[0];
    assert_eq!(newest.age, Duration::from_secs(1));
}

#[test]
fn delivery_windows_count_the_shares_seen_and_the_time_they_took() {
    let t0 = Instant::now();
    // A minute boundary (1_800_000_000 is one).
    let unix0 = 1_800_000_000;
    let mut core = mining_core(t0);
    let device = ready_device(&mut core, t0);
    drain(&mut core);
    core.tick(t0, unix0);
    let difficulty = core.snapshot(t0).devices[0].difficulty;
    let mut credited = 0.0;
    // Three minutes of ticks, a valid share in each second of the first half of each minute.
    for second in 1..=180u64 {
        let now = t0 + Duration::from_secs(second);
        if second % 60 < 30 {
            let en2 = (second as u32).to_be_bytes();
            let nonce = grind(
                &core,
                device,
                &en2,
                Target::from_difficulty(difficulty),
                true,
            );
            core.handle_device_request(device, submit(&core, &en2, nonce, None), now);
            credited += work::work_of_difficulty(difficulty);
        }
        core.tick(now, unix0 + second);
        drain(&mut core);
    }
    let now = t0 + Duration::from_secs(180);
    let snapshot = core.snapshot(now);
    assert_eq!(snapshot.unix, unix0 + 180);
    let route = &snapshot.routes[0];
    // All three minutes fit in either window; the first tick started the clock.
    for window in [route.last_10m, route.last_1h] {
        assert!((window.seconds - 180.0).abs() < 1e-9, "{window:?}");
        assert!(
            (window.seen_work - credited).abs() < 1e-3 * credited,
            "{window:?}"
        );
        assert!((window.seen_hs() - credited / 180.0).abs() < 1e-3 * credited);
        // The pool never answered: nothing acknowledged.
        assert_eq!(window.acked_work, 0.0);
    }
    assert!(snapshot.devices[0].last_share_ago.is_some());
}
