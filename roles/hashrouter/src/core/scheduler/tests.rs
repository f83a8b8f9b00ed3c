//! The scheduler driven with steady (noise-free) shares: whole-device assignment, time slicing,
//! vetting, dwell, failover and catch-up, and restoring owed work.

use std::time::{Duration, Instant};

use super::*;

const TH: f64 = 1e12;

/// Devices hashing steadily: each second every device sends one share worth a second of its
/// work, credited to the route it mines for.
struct Farm {
    scheduler: Scheduler,
    devices: Vec<(DeviceId, f64)>,
    now: Instant,
    /// Work delivered per route, as the scheduler credited it.
    moves: Vec<Move>,
}

impl Farm {
    fn new(config: SchedulerConfig, routes: usize, rates: &[f64]) -> Farm {
        let now = Instant::now();
        let mut scheduler = Scheduler::new(config, routes, now);
        let devices: Vec<_> = rates
            .iter()
            .enumerate()
            .map(|(i, rate)| (DeviceId(i as u32 + 1), *rate))
            .collect();
        for (id, _) in &devices {
            scheduler.add_device(*id, now);
        }
        Farm {
            scheduler,
            devices,
            now,
            moves: Vec::new(),
        }
    }

    fn run(&mut self, secs: u64) {
        for _ in 0..secs {
            self.now += Duration::from_secs(1);
            for (id, rate) in &self.devices {
                let route = self.scheduler.route_of(*id).unwrap();
                self.scheduler.on_share(*id, route, *rate, self.now);
            }
            let moves = self.scheduler.tick(self.now);
            self.moves.extend(moves);
        }
    }

    fn on_route(&self, route: u16) -> Vec<DeviceId> {
        self.devices
            .iter()
            .filter(|(id, _)| self.scheduler.route_of(*id) == Some(RouteId(route)))
            .map(|(id, _)| *id)
            .collect()
    }

    fn delivered(&self, route: u16) -> f64 {
        self.scheduler.routes()[route as usize].delivered
    }
}

fn config() -> SchedulerConfig {
    SchedulerConfig {
        vetting_shares: 5,
        vetting_time: Duration::from_secs(10),
        ..SchedulerConfig::default()
    }
}

#[test]
fn whole_devices_go_where_the_target_is() {
    let mut farm = Farm::new(config(), 2, &[100.0 * TH; 4]);
    farm.scheduler.set_targets(&[0.0, 200.0 * TH], farm.now);
    farm.run(60);
    assert_eq!(farm.on_route(1).len(), 2, "{:?}", farm.moves);
    assert_eq!(farm.on_route(0).len(), 2);
    // Once balanced, nothing more moves.
    let moved = farm.scheduler.switches();
    farm.run(3600);
    assert!(
        farm.scheduler.switches() - moved <= 2,
        "{}",
        farm.scheduler.switches()
    );
}

#[test]
fn devices_are_vetted_on_the_default_route_first() {
    let mut farm = Farm::new(config(), 2, &[100.0 * TH; 2]);
    farm.scheduler.set_targets(&[0.0, 100.0 * TH], farm.now);
    farm.run(8);
    assert_eq!(farm.on_route(1).len(), 0, "moved before vetting");
    farm.run(20);
    assert_eq!(farm.on_route(1).len(), 1);
}

#[test]
fn a_fraction_of_a_device_is_served_by_time_slicing() {
    // One device, a route wanting 30% of it: over an hour the route gets 30% of the work,
    // and the device switches no more often than the dwell time allows.
    let mut farm = Farm::new(config(), 2, &[100.0 * TH]);
    farm.scheduler.set_targets(&[0.0, 30.0 * TH], farm.now);
    farm.run(600);
    let (d0, d1) = (farm.delivered(0), farm.delivered(1));
    let s0 = farm.scheduler.switches();
    farm.run(3600);
    let route1 = farm.delivered(1) - d1;
    let total = route1 + farm.delivered(0) - d0;
    let share = route1 / total;
    assert!((share - 0.30).abs() < 0.01, "route 1 got {share}");
    let switches = farm.scheduler.switches() - s0;
    assert!(switches >= 10, "no time slicing: {switches} switches");
    assert!(
        switches <= 60,
        "{switches} switches in an hour with a 60 s dwell"
    );
}

#[test]
fn failover_moves_devices_at_once_and_owed_work_is_caught_up_at_a_bounded_rate() {
    let mut farm = Farm::new(config(), 2, &[50.0 * TH; 10]);
    farm.scheduler.set_targets(&[0.0, 100.0 * TH], farm.now);
    farm.run(120);
    assert_eq!(farm.on_route(1).len(), 2);

    // The route fails: its devices leave within one tick, though they just arrived.
    farm.scheduler.set_available(RouteId(1), false, farm.now);
    farm.run(1);
    assert!(farm.on_route(1).is_empty());
    let owed_at_failure = farm.scheduler.routes()[1].owed;
    farm.run(600);
    let owed = farm.scheduler.routes()[1].owed;
    assert!(
        owed - owed_at_failure > 0.99 * 600.0 * 100.0 * TH,
        "owed work did not accrue during the outage: {owed}"
    );

    // Recovery: the route gets more than its target, but at most 1.5 times it.
    farm.scheduler.set_available(RouteId(1), true, farm.now);
    farm.run(120);
    let on_route = farm.on_route(1).len() as f64 * 50.0 * TH;
    assert!(on_route > 100.0 * TH, "not catching up: {on_route}");
    assert!(on_route <= 150.0 * TH, "catching up too fast: {on_route}");
    // Eventually the debt is paid back and the route returns to its target.
    farm.run(4 * 3600);
    let owed = farm.scheduler.routes()[1].owed;
    assert!(owed.abs() < 600.0 * 50.0 * TH, "debt not repaid: {owed}");
    assert_eq!(farm.on_route(1).len(), 2);
}

#[test]
fn targets_beyond_the_farm_are_scaled_and_the_default_route_keeps_nothing() {
    let mut farm = Farm::new(config(), 3, &[100.0 * TH; 4]);
    farm.scheduler
        .set_targets(&[0.0, 300.0 * TH, 300.0 * TH], farm.now);
    farm.run(120);
    assert!(farm.on_route(0).is_empty());
    assert_eq!(farm.on_route(1).len() + farm.on_route(2).len(), 4);
}

#[test]
fn restored_accounts_continue_where_they_were() {
    let mut farm = Farm::new(config(), 2, &[100.0 * TH; 2]);
    farm.scheduler
        .restore(&[(RouteId(1), 5e16, 1e18)], farm.now);
    assert_eq!(farm.scheduler.routes()[1].owed, 5e16);
    assert_eq!(farm.scheduler.routes()[1].delivered, 1e18);
    farm.scheduler.set_targets(&[0.0, 100.0 * TH], farm.now);
    farm.run(60);
    // A route owed work from before the restart gets more than its target.
    let before = farm.delivered(1);
    farm.run(600);
    let rate = (farm.delivered(1) - before) / 600.0;
    assert!(rate > 120.0 * TH, "{}", rate / TH);
}
