//! Dividing the farm between allocations: exact numbers for both policies and the edge cases.
//! Rates are chosen so every expected value is exact in binary floating point.

use contracts::{resolve, Allocation, Amount, Cut, Policy, Resolution, DEFAULT_ROUTE};

const T: f64 = 1e12;

fn alloc(id: &str, route: &str, amount: Amount, order: u64) -> Allocation {
    Allocation {
        id: id.to_string(),
        route: route.to_string(),
        amount,
        start: None,
        end: None,
        order,
    }
}

fn hashrate(id: &str, route: &str, hs: f64, order: u64) -> Allocation {
    alloc(id, route, Amount::Hashrate(hs), order)
}

fn fraction(id: &str, route: &str, f: f64, order: u64) -> Allocation {
    alloc(id, route, Amount::Fraction(f), order)
}

fn granted(resolution: &Resolution) -> Vec<(&str, f64)> {
    resolution
        .per_allocation
        .iter()
        .map(|g| (g.id.as_str(), g.granted))
        .collect()
}

#[test]
fn under_subscribed_everyone_is_served_and_default_takes_the_rest() {
    let allocations = [
        hashrate("a", "pool-a", 30.0 * T, 0),
        fraction("b", "pool-b", 0.25, 1),
        hashrate("c", "pool-a", 10.0 * T, 2),
    ];
    let r = resolve(&allocations, 0, 100.0 * T, Policy::PurchaseOrder);
    assert_eq!(
        granted(&r),
        [("a", 30.0 * T), ("b", 25.0 * T), ("c", 10.0 * T)]
    );
    assert_eq!(r.per_route["pool-a"], 40.0 * T);
    assert_eq!(r.per_route["pool-b"], 25.0 * T);
    assert_eq!(r.per_route[DEFAULT_ROUTE], 35.0 * T);
    assert_eq!(r.default_remainder, 35.0 * T);
    assert_eq!(r.per_route.len(), 3);
    assert!(r.oversubscribed.is_none());
    // The same under pro-rata: nothing to cut.
    assert_eq!(resolve(&allocations, 0, 100.0 * T, Policy::ProRata), r);
}

#[test]
fn purchase_order_serves_earlier_purchases_in_full() {
    let allocations = [
        hashrate("late", "pool-b", 50.0 * T, 7),
        hashrate("early", "pool-a", 60.0 * T, 1),
        hashrate("middle", "pool-c", 30.0 * T, 3),
    ];
    let r = resolve(&allocations, 0, 80.0 * T, Policy::PurchaseOrder);
    // Listed in purchase order, whatever the input order.
    assert_eq!(
        granted(&r),
        [("early", 60.0 * T), ("middle", 20.0 * T), ("late", 0.0)]
    );
    assert_eq!(r.default_remainder, 0.0);
    assert_eq!(r.per_route[DEFAULT_ROUTE], 0.0);
    assert_eq!(r.per_route["pool-b"], 0.0);
    let over = r.oversubscribed.expect("over-subscription is reported");
    assert_eq!(over.requested, 140.0 * T);
    assert_eq!(over.available, 80.0 * T);
    assert_eq!(over.policy, Policy::PurchaseOrder);
    assert_eq!(
        over.cut,
        [
            Cut {
                id: "middle".into(),
                requested: 30.0 * T,
                granted: 20.0 * T
            },
            Cut {
                id: "late".into(),
                requested: 50.0 * T,
                granted: 0.0
            },
        ]
    );
    assert_eq!(
        over.to_string(),
        "allocations ask for 140 TH/s but the farm delivers 80 TH/s (purchase-order): \
         `middle` gets 20 TH/s of 30 TH/s, `late` gets 0 H/s of 50 TH/s"
    );
}

#[test]
fn pro_rata_scales_everyone_by_the_same_factor() {
    let allocations = [
        hashrate("a", "pool-a", 120.0 * T, 0),
        fraction("b", "pool-b", 0.5, 1),
        hashrate("c", "pool-a", 30.0 * T, 2),
    ];
    // Asked: 120 + 50 + 30 = 200 TH/s of 100: everyone gets half.
    let r = resolve(&allocations, 0, 100.0 * T, Policy::ProRata);
    assert_eq!(
        granted(&r),
        [("a", 60.0 * T), ("b", 25.0 * T), ("c", 15.0 * T)]
    );
    assert_eq!(r.per_route["pool-a"], 75.0 * T);
    assert_eq!(r.per_route["pool-b"], 25.0 * T);
    assert_eq!(r.default_remainder, 0.0);
    let over = r.oversubscribed.unwrap();
    assert_eq!(over.requested, 200.0 * T);
    assert_eq!(over.policy, Policy::ProRata);
    let cut: Vec<&str> = over.cut.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(cut, ["a", "b", "c"]);
}

#[test]
fn fractions_and_rates_compete_for_the_same_farm() {
    let allocations = [
        fraction("half", "pool-a", 0.5, 0),
        hashrate("fixed", "pool-b", 60.0 * T, 1),
    ];
    let r = resolve(&allocations, 0, 100.0 * T, Policy::PurchaseOrder);
    assert_eq!(granted(&r), [("half", 50.0 * T), ("fixed", 50.0 * T)]);
    let over = r.oversubscribed.unwrap();
    assert_eq!(over.requested, 110.0 * T);
    assert_eq!(over.cut.len(), 1);
    assert_eq!(over.cut[0].id, "fixed");
}

#[test]
fn exactly_full_is_not_oversubscribed() {
    let allocations = [
        hashrate("a", "pool-a", 75.0 * T, 0),
        fraction("b", "pool-b", 0.25, 1),
    ];
    for policy in [Policy::PurchaseOrder, Policy::ProRata] {
        let r = resolve(&allocations, 0, 100.0 * T, policy);
        assert!(r.oversubscribed.is_none(), "{policy}");
        assert_eq!(granted(&r), [("a", 75.0 * T), ("b", 25.0 * T)]);
        assert_eq!(r.default_remainder, 0.0);
        assert_eq!(r.per_route[DEFAULT_ROUTE], 0.0);
    }
}

#[test]
fn decimal_fractions_summing_to_one_are_not_oversubscribed_by_rounding() {
    // 0.3 × 7 + 0.6 × 7 + 0.1 × 7 is 7.000000000000001 in binary floating point.
    let allocations = [
        fraction("a", "pool-a", 0.3, 0),
        fraction("b", "pool-a", 0.6, 1),
        fraction("c", "pool-a", 0.1, 2),
    ];
    let r = resolve(&allocations, 0, 7.0, Policy::PurchaseOrder);
    assert!(r.oversubscribed.is_none(), "{:?}", r.oversubscribed);
    assert_eq!(r.default_remainder, 0.0);
    let tenths: Vec<Allocation> = (0..10)
        .map(|i| fraction(&format!("t{i}"), "pool-a", 0.1, i))
        .collect();
    let r = resolve(&tenths, 0, 7.0, Policy::ProRata);
    assert!(r.oversubscribed.is_none(), "{:?}", r.oversubscribed);
}

#[test]
fn a_whole_farm_fraction_takes_everything() {
    let allocations = [fraction("all", "pool-a", 1.0, 0)];
    let r = resolve(&allocations, 0, 100.0 * T, Policy::PurchaseOrder);
    assert_eq!(granted(&r), [("all", 100.0 * T)]);
    assert_eq!(r.default_remainder, 0.0);
    assert!(r.oversubscribed.is_none());
    // Anything more on top of the whole farm is over-subscription.
    let allocations = [
        fraction("all", "pool-a", 1.0, 0),
        hashrate("more", "pool-b", 1.0 * T, 1),
    ];
    let r = resolve(&allocations, 0, 100.0 * T, Policy::PurchaseOrder);
    assert_eq!(granted(&r), [("all", 100.0 * T), ("more", 0.0)]);
    assert_eq!(r.oversubscribed.unwrap().requested, 101.0 * T);
}

#[test]
fn a_farm_without_hashrate_grants_nothing() {
    let allocations = [
        fraction("f", "pool-a", 0.5, 0),
        hashrate("h", "pool-b", 10.0 * T, 1),
    ];
    for policy in [Policy::PurchaseOrder, Policy::ProRata] {
        let r = resolve(&allocations, 0, 0.0, policy);
        assert_eq!(granted(&r), [("f", 0.0), ("h", 0.0)], "{policy}");
        assert_eq!(r.default_remainder, 0.0);
        let over = r
            .oversubscribed
            .expect("a fixed rate of a dead farm is over-subscribed");
        assert_eq!(over.requested, 10.0 * T);
        assert_eq!(over.available, 0.0);
        let cut: Vec<&str> = over.cut.iter().map(|c| c.id.as_str()).collect();
        // The fraction asked for 0 of nothing and is not cut.
        assert_eq!(cut, ["h"], "{policy}");
    }
    // Only fractions: nothing asked, nothing over-subscribed.
    let r = resolve(&allocations[..1], 0, 0.0, Policy::ProRata);
    assert!(r.oversubscribed.is_none());
    assert_eq!(r.per_route["pool-a"], 0.0);
}

#[test]
fn a_bad_farm_measurement_counts_as_zero() {
    let allocations = [fraction("f", "pool-a", 0.5, 0)];
    for farm in [f64::NAN, -5.0, f64::INFINITY] {
        let r = resolve(&allocations, 0, farm, Policy::ProRata);
        assert_eq!(granted(&r), [("f", 0.0)], "{farm}");
        assert_eq!(r.default_remainder, 0.0, "{farm}");
    }
}

#[test]
fn no_allocations_everything_goes_to_the_default_route() {
    let r = resolve(&[], 0, 100.0 * T, Policy::PurchaseOrder);
    assert!(r.per_allocation.is_empty());
    assert_eq!(r.default_remainder, 100.0 * T);
    assert_eq!(r.per_route.len(), 1);
    assert_eq!(r.route_target(DEFAULT_ROUTE), 100.0 * T);
    assert_eq!(r.route_target("pool-a"), 0.0);
    assert!(r.oversubscribed.is_none());
    // No farm either.
    let r = resolve(&[], 0, 0.0, Policy::ProRata);
    assert_eq!(r.default_remainder, 0.0);
    assert!(r.oversubscribed.is_none());
}

#[test]
fn all_zero_requests_leave_the_farm_to_the_default_route() {
    let allocations = [
        hashrate("a", "pool-a", 0.0, 0),
        hashrate("b", "pool-b", 0.0, 1),
    ];
    let r = resolve(&allocations, 0, 100.0 * T, Policy::ProRata);
    assert_eq!(granted(&r), [("a", 0.0), ("b", 0.0)]);
    assert_eq!(r.per_route["pool-a"], 0.0);
    assert_eq!(r.default_remainder, 100.0 * T);
    assert!(r.oversubscribed.is_none());
    let r = resolve(&allocations, 0, 0.0, Policy::ProRata);
    assert!(r.oversubscribed.is_none());
    assert_eq!(r.default_remainder, 0.0);
}

#[test]
fn only_allocations_in_their_window_count() {
    let mut not_started = hashrate("not-started", "pool-a", 10.0 * T, 0);
    not_started.start = Some(1_000);
    let mut ended = hashrate("ended", "pool-a", 20.0 * T, 1);
    ended.end = Some(1_000);
    let mut running = hashrate("running", "pool-b", 30.0 * T, 2);
    running.start = Some(500);
    running.end = Some(2_000);
    let allocations = [not_started, ended, running];

    let at = |now| {
        let r = resolve(&allocations, now, 100.0 * T, Policy::PurchaseOrder);
        let ids: Vec<String> = r.per_allocation.iter().map(|g| g.id.clone()).collect();
        (ids, r.default_remainder)
    };
    assert_eq!(at(0), (vec!["ended".into()], 80.0 * T));
    assert_eq!(at(500), (vec!["ended".into(), "running".into()], 50.0 * T));
    // The end second is exclusive, the start second inclusive.
    assert_eq!(at(999), (vec!["ended".into(), "running".into()], 50.0 * T));
    assert_eq!(
        at(1_000),
        (vec!["not-started".into(), "running".into()], 60.0 * T)
    );
    assert_eq!(at(2_000), (vec!["not-started".into()], 90.0 * T));
}

#[test]
fn inactive_allocations_do_not_cause_over_subscription() {
    let mut ended = hashrate("ended", "pool-a", 500.0 * T, 0);
    ended.end = Some(10);
    let allocations = [ended, hashrate("live", "pool-b", 100.0 * T, 1)];
    let r = resolve(&allocations, 10, 100.0 * T, Policy::PurchaseOrder);
    assert!(r.oversubscribed.is_none());
    assert_eq!(granted(&r), [("live", 100.0 * T)]);
}

#[test]
fn equal_orders_are_served_by_id() {
    let allocations = [
        hashrate("b", "pool-b", 60.0 * T, 5),
        hashrate("a", "pool-a", 60.0 * T, 5),
    ];
    let r = resolve(&allocations, 0, 100.0 * T, Policy::PurchaseOrder);
    assert_eq!(granted(&r), [("a", 60.0 * T), ("b", 40.0 * T)]);
}

#[test]
fn grants_naming_the_default_route_add_to_its_remainder() {
    let allocations = [hashrate("own", DEFAULT_ROUTE, 10.0 * T, 0)];
    let r = resolve(&allocations, 0, 100.0 * T, Policy::PurchaseOrder);
    assert_eq!(r.default_remainder, 90.0 * T);
    assert_eq!(r.per_route[DEFAULT_ROUTE], 100.0 * T);
}

#[test]
fn amounts_a_source_should_have_refused_never_take_more_than_the_farm() {
    assert_eq!(Amount::Hashrate(-5.0).requested_hs(100.0), 0.0);
    assert_eq!(Amount::Hashrate(f64::NAN).requested_hs(100.0), 0.0);
    assert_eq!(Amount::Fraction(2.0).requested_hs(100.0), 100.0);
    assert_eq!(Amount::Fraction(-0.5).requested_hs(100.0), 0.0);
    assert_eq!(Amount::Fraction(0.5).requested_hs(-100.0), 0.0);
}

#[test]
fn policy_names_round_trip() {
    for policy in [Policy::PurchaseOrder, Policy::ProRata] {
        assert_eq!(policy.to_string().parse::<Policy>().unwrap(), policy);
    }
    assert_eq!(Policy::default(), Policy::PurchaseOrder);
    let error = "prorata".parse::<Policy>().unwrap_err().to_string();
    assert!(
        error.contains("`prorata`") && error.contains("pro-rata"),
        "{error}"
    );
}
