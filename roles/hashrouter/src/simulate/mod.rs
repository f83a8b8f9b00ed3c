//! `hashrouter simulate --scenario FILE`: the core's scheduler splitting a simulated farm between
//! routes in simulated time (a day of a thousand devices takes seconds), and how close each
//! route came to its allocations.

mod engine;
mod report;
mod scenario;

use std::fmt::Write;
use std::path::Path;
use std::time::{Duration, Instant};

pub use report::Summary;
pub use scenario::{parse_duration, Scenario, ScenarioError};

/// The result of a simulation: the printed table and the summary figures.
#[derive(Debug, Clone)]
pub struct SimulationReport {
    pub table: String,
    pub routes: usize,
    pub devices: usize,
    pub summary: Summary,
    pub switches_per_device_hour: f64,
    pub wall: Duration,
    /// Over-subscription reported while resolving allocations (allocation ids cut, once each).
    pub oversubscribed: Vec<String>,
}

impl SimulationReport {
    /// The one-line summary the issue asks for.
    pub fn summary_line(&self) -> String {
        format!(
            "routes={} devices={} max_error_1h={:.3} poisson_floor_1h={:.3} switches_per_device_hour={:.2} wall_s={:.1}",
            self.routes,
            self.devices,
            self.summary.max_error_1h,
            self.summary.poisson_floor_1h,
            self.switches_per_device_hour,
            self.wall.as_secs_f64()
        )
    }
}

pub fn run_file(path: &Path) -> Result<SimulationReport, ScenarioError> {
    Ok(run(&Scenario::load(path)?))
}

pub fn run(scenario: &Scenario) -> SimulationReport {
    let wall = Instant::now();
    let cut = std::cell::RefCell::new(Vec::<String>::new());
    let targets = |elapsed: Duration, farm: f64| -> Vec<f64> {
        let resolution = contracts::resolve(
            &scenario.allocations,
            elapsed.as_secs(),
            farm,
            scenario.policy,
        );
        // Until every device has been measured for a vetting period the farm's hashrate is
        // still being learnt; a shortfall then is not an over-subscription.
        let warm = elapsed >= scenario.scheduler.vetting_time * 2;
        if let (true, Some(over)) = (warm, &resolution.oversubscribed) {
            let mut cut = cut.borrow_mut();
            for c in &over.cut {
                if !cut.contains(&c.id) {
                    cut.push(c.id.clone());
                }
            }
        }
        scenario
            .routes
            .iter()
            .map(|name| resolution.route_target(name))
            .collect()
    };
    let setup = engine::Setup {
        duration: scenario.duration,
        tick: scenario.tick,
        seed: scenario.seed,
        shares_per_minute: scenario.shares_per_minute,
        devices: scenario.devices.clone(),
        routes: scenario.routes.len(),
        outages: scenario.outages.clone(),
        scheduler: scenario.scheduler.clone(),
        targets: &targets,
    };
    let outcome = engine::run(&setup);
    let mut table = String::new();
    if !scenario.description.is_empty() {
        let _ = writeln!(table, "{}\n", scenario.description.trim());
    }
    table.push_str(&report::table(
        &outcome.ledger,
        &scenario.routes,
        scenario.duration,
    ));
    let oversubscribed = cut.into_inner();
    if !oversubscribed.is_empty() {
        let _ = writeln!(
            table,
            "over-subscribed ({}): allocations cut at some point: {}",
            scenario.policy,
            oversubscribed.join(", ")
        );
    }
    SimulationReport {
        table,
        routes: scenario.routes.len(),
        devices: scenario.devices.count,
        summary: report::summary(&outcome.ledger),
        switches_per_device_hour: outcome.switches as f64 / outcome.device_hours.max(1e-9),
        wall: wall.elapsed(),
        oversubscribed,
    }
}
