//! The split scenarios of `test-vectors/split/` through `hashrouter simulate`'s engine: time
//! slicing of fractions, over-subscription reported, an outage repaid, and the same seed giving
//! the same run. (The 1000-device day runs in release from scripts/test.sh.)

use std::path::{Path, PathBuf};

use hashrouter::simulate::{run, run_file, Scenario};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-vectors/split")
        .join(name)
}

#[test]
fn fractions_of_ten_devices_are_met_by_time_slicing() {
    let report = run_file(&scenario("fractions-10.toml")).unwrap();
    println!("{}\n{}", report.table, report.summary_line());
    let s = report.summary;
    assert!(
        s.max_error_1h <= 1.5 * s.poisson_floor_1h,
        "{}",
        report.summary_line()
    );
    assert!(report.switches_per_device_hour <= 30.0);
    assert!(report.oversubscribed.is_empty());
}

#[test]
fn oversubscription_cuts_the_latest_purchase_and_says_so() {
    let report = run_file(&scenario("oversubscribed.toml")).unwrap();
    println!("{}\n{}", report.table, report.summary_line());
    assert_eq!(report.oversubscribed, vec!["late".to_string()]);
    assert!(report.table.contains("over-subscribed (purchase-order)"));
    assert!(
        report.summary.max_error_1h <= 1.0,
        "{}",
        report.summary_line()
    );
}

#[test]
fn an_outage_is_repaid_within_the_hour() {
    let report = run_file(&scenario("outage-10min.toml")).unwrap();
    println!("{}\n{}", report.table, report.summary_line());
    // The 10-minute windows show the outage; the hour around it is made whole by catch-up.
    assert!(report.table.contains("buyer-a"));
    assert!(
        report.summary.max_error_1h <= 1.0,
        "{}",
        report.summary_line()
    );
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let scenario = Scenario::load(&scenario("fractions-10.toml")).unwrap();
    let (a, b) = (run(&scenario), run(&scenario));
    assert_eq!(a.table, b.table);
    assert_eq!(a.summary, b.summary);
}

#[test]
fn every_scenario_file_parses() {
    let dir = scenario("");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            count += 1;
        }
    }
    assert!(count >= 4);
}
