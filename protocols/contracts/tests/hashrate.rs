//! Hashrate texts as operators write them, and their display.

use contracts::{Hashrate, HashrateError};

fn hs(text: &str) -> f64 {
    text.parse::<Hashrate>()
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .hs()
}

#[test]
fn units_and_spacing() {
    assert_eq!(hs("100 TH/s"), 100e12);
    assert_eq!(hs("1.5PH/s"), 1.5e15);
    assert_eq!(hs("750 GH/s"), 750e9);
    assert_eq!(hs("2EH/s"), 2e18);
    assert_eq!(hs("3 MH/s"), 3e6);
    assert_eq!(hs("4 kH/s"), 4e3);
    assert_eq!(hs("4 KH/s"), 4e3);
    assert_eq!(hs("5 H/s"), 5.0);
    assert_eq!(hs("  100TH  "), 100e12);
    assert_eq!(hs("1e3 GH/s"), 1e12);
}

#[test]
fn plain_numbers_are_hashes_per_second() {
    assert_eq!(hs("12e12"), 12e12);
    assert_eq!(hs("12E12"), 12e12);
    assert_eq!(hs("250"), 250.0);
    assert_eq!(hs("0"), 0.0);
    assert_eq!(hs("0.5"), 0.5);
}

#[test]
fn lower_case_prefixes_other_than_kilo_are_ambiguous() {
    for (text, prefix, suggestion) in [
        ("5 mH/s", 'm', "MH/s"),
        ("5 pH/s", 'p', "PH/s"),
        ("5 tH/s", 't', "TH/s"),
        ("1eH/s", 'e', "EH/s"),
    ] {
        match text.parse::<Hashrate>() {
            Err(HashrateError::AmbiguousUnit {
                prefix: p,
                suggestion: s,
                ..
            }) => {
                assert_eq!(p, prefix, "{text}");
                assert_eq!(s, suggestion, "{text}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn unknown_units_are_refused_with_the_unit_named() {
    for (text, unit) in [
        ("5 th/s", "th/s"),
        ("5 TH/sec", "TH/sec"),
        ("5 ZH/s", "ZH/s"),
        ("5 TB", "TB"),
        ("12e", "e"),
        ("5 T", "T"),
    ] {
        let error = text.parse::<Hashrate>().unwrap_err();
        assert_eq!(
            error,
            HashrateError::UnknownUnit(unit.to_string()),
            "{text}"
        );
        assert!(error.to_string().contains("TH/s"), "{error}");
    }
}

#[test]
fn bad_numbers_are_refused() {
    assert_eq!("".parse::<Hashrate>(), Err(HashrateError::Empty));
    assert_eq!("  ".parse::<Hashrate>(), Err(HashrateError::Empty));
    assert_eq!("-5 TH/s".parse::<Hashrate>(), Err(HashrateError::Negative));
    assert_eq!("-1".parse::<Hashrate>(), Err(HashrateError::Negative));
    assert_eq!("inf".parse::<Hashrate>(), Err(HashrateError::NotFinite));
    assert_eq!("NaN".parse::<Hashrate>(), Err(HashrateError::NotFinite));
    assert_eq!(
        "1e300 EH/s".parse::<Hashrate>(),
        Err(HashrateError::NotFinite)
    );
    assert!(matches!(
        "TH/s".parse::<Hashrate>(),
        Err(HashrateError::NotANumber(_))
    ));
    assert!(matches!(
        "1,5 TH/s".parse::<Hashrate>(),
        Err(HashrateError::NotANumber(_))
    ));
    assert!(matches!(
        "0x10".parse::<Hashrate>(),
        Err(HashrateError::NotANumber(_))
    ));
}

#[test]
fn from_hs_refuses_what_parsing_refuses() {
    assert_eq!(Hashrate::from_hs(-1.0), Err(HashrateError::Negative));
    assert_eq!(Hashrate::from_hs(f64::NAN), Err(HashrateError::NotFinite));
    assert_eq!(
        Hashrate::from_hs(f64::INFINITY),
        Err(HashrateError::NotFinite)
    );
    assert_eq!(Hashrate::from_hs(-0.0).unwrap().to_string(), "0 H/s");
}

#[test]
fn display_picks_the_largest_unit_keeping_the_number_at_least_one() {
    let show = |hs: f64| Hashrate::from_hs(hs).unwrap().to_string();
    assert_eq!(show(100e12), "100 TH/s");
    assert_eq!(show(1.5e15), "1.5 PH/s");
    assert_eq!(show(750e9), "750 GH/s");
    assert_eq!(show(999.0), "999 H/s");
    assert_eq!(show(1000.0), "1 kH/s");
    assert_eq!(show(0.0), "0 H/s");
    assert_eq!(show(0.25), "0.25 H/s");
    assert_eq!(show(123.456789e12), "123.457 TH/s");
    assert_eq!(show(3e21), "3000 EH/s");
    assert_eq!(
        format!("{:.1}", Hashrate::from_hs(2e18).unwrap()),
        "2.0 EH/s"
    );
}

#[test]
fn display_parses_back() {
    for hs in [0.0, 1.0, 42e3, 7.5e6, 100e12, 1.5e15, 2e18] {
        let shown = Hashrate::from_hs(hs).unwrap().to_string();
        assert_eq!(shown.parse::<Hashrate>().unwrap().hs(), hs, "{shown}");
    }
}
