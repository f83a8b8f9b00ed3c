//! The split simulation: simulated devices send Poisson shares to the core's scheduler in
//! simulated time, while allocations start and end, devices come and go and routes fail.
//!
//! A device of hashrate h at the node's vardiff equilibrium sends `shares_per_minute` shares a
//! minute, each worth h·60/shares_per_minute hashes; so each tick draws its share count from
//! Poisson(shares_per_minute·dt/60) and credits that work to the device's route — exactly what
//! the node would see, without hashing.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::core::scheduler::{RouteId, Scheduler, SchedulerConfig};
use crate::core::DeviceId;

use super::report::Ledger;

/// The devices of a simulation.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    pub count: usize,
    /// Hashrates are drawn uniformly in this range (H/s).
    pub min_hashrate: f64,
    pub max_hashrate: f64,
    /// Expected disconnections per device per hour.
    pub churn_per_hour: f64,
    /// A disconnected device comes back (as a new device) after a uniform delay in this range.
    pub reconnect_after: (Duration, Duration),
}

/// A route outage: its upstream is down from `start` for `duration`.
#[derive(Debug, Clone)]
pub struct Outage {
    pub route: RouteId,
    pub start: Duration,
    pub duration: Duration,
}

/// Everything the engine needs, already resolved to numbers.
pub struct Setup<'a> {
    pub duration: Duration,
    pub tick: Duration,
    pub seed: u64,
    pub shares_per_minute: f64,
    pub devices: DeviceSpec,
    /// Routes, the default first.
    pub routes: usize,
    pub outages: Vec<Outage>,
    pub scheduler: SchedulerConfig,
    /// Target rate of every route (index 0 ignored) at simulated time `t`, for a farm whose
    /// measured hashrate is `farm` H/s.
    pub targets: &'a dyn Fn(Duration, f64) -> Vec<f64>,
}

/// A simulated device.
struct SimDevice {
    id: DeviceId,
    hashrate: f64,
    /// `Some(t)`: disconnected, back at simulated time t.
    away_until: Option<Duration>,
}

/// What the run produced.
pub struct Outcome {
    pub ledger: Ledger,
    pub switches: u64,
    /// Device-hours connected, for switches per device-hour.
    pub device_hours: f64,
}

pub fn run(setup: &Setup<'_>) -> Outcome {
    let mut rng = StdRng::seed_from_u64(setup.seed);
    let start = Instant::now();
    let mut scheduler = Scheduler::new(setup.scheduler.clone(), setup.routes, start);
    let mut next_id = 1u32;
    let mut devices: Vec<SimDevice> = (0..setup.devices.count)
        .map(|_| {
            let id = DeviceId(next_id);
            next_id += 1;
            scheduler.add_device(id, start);
            SimDevice {
                id,
                hashrate: rng.gen_range(setup.devices.min_hashrate..=setup.devices.max_hashrate),
                away_until: None,
            }
        })
        .collect();

    let dt = setup.tick.as_secs_f64();
    let mean_shares = setup.shares_per_minute * dt / 60.0;
    let leave_probability = setup.devices.churn_per_hour * dt / 3600.0;
    let mut ledger = Ledger::new(setup.routes);
    let mut device_seconds = 0.0;
    let mut down = vec![false; setup.routes];
    let mut elapsed = Duration::ZERO;
    let mut last_targets = Duration::MAX;
    while elapsed < setup.duration {
        elapsed += setup.tick;
        let now = start + elapsed;

        for outage in &setup.outages {
            let out = elapsed > outage.start && elapsed <= outage.start + outage.duration;
            let route = outage.route.0 as usize;
            if out != down[route] {
                down[route] = out;
                scheduler.set_available(outage.route, !out, now);
            }
        }
        // Targets follow the allocations and the measured farm as often as the scheduler
        // rebalances.
        if last_targets == Duration::MAX
            || elapsed - last_targets >= setup.scheduler.rebalance_interval
        {
            last_targets = elapsed;
            let targets = (setup.targets)(elapsed, scheduler.farm_hashrate(now));
            scheduler.set_targets(&targets, now);
        }

        for device in devices.iter_mut() {
            if let Some(back) = device.away_until {
                if elapsed < back {
                    continue;
                }
                // Back as a new connection, vetted again like any new device.
                device.away_until = None;
                device.id = DeviceId(next_id);
                next_id += 1;
                scheduler.add_device(device.id, now);
            }
            if leave_probability > 0.0 && rng.gen::<f64>() < leave_probability {
                scheduler.remove_device(device.id);
                let (lo, hi) = setup.devices.reconnect_after;
                device.away_until = Some(elapsed + rng.gen_range(lo..=hi));
                continue;
            }
            device_seconds += dt;
            let shares = poisson(&mut rng, mean_shares);
            if shares == 0 {
                continue;
            }
            let Some(route) = scheduler.route_of(device.id) else {
                continue;
            };
            let work = device.hashrate * 60.0 / setup.shares_per_minute;
            for _ in 0..shares {
                scheduler.on_share(device.id, route, work, now);
                ledger.on_share(route, work);
            }
        }
        scheduler.tick(now);
        let targets: Vec<f64> = scheduler.routes().iter().map(|r| r.target).collect();
        ledger.on_tick(elapsed, dt, &targets);
    }
    Outcome {
        ledger,
        switches: scheduler.switches(),
        device_hours: device_seconds / 3600.0,
    }
}

/// A Poisson draw by inversion (Knuth): exact, and quick for the small means of one tick.
fn poisson(rng: &mut StdRng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    let limit = (-mean).exp();
    let mut k = 0;
    let mut p = rng.gen::<f64>();
    while p > limit {
        k += 1;
        p *= rng.gen::<f64>();
    }
    k
}
