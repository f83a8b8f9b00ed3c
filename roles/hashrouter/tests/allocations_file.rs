//! The static allocations file: every accepted form, every refusal naming its entry, and
//! reloading on change and on SIGHUP while a refused file leaves the running set in force.

use std::time::Duration;

use contracts::{Amount, Policy};
use hashrouter::allocations::{
    self, spawn_watcher, AllocationError, AllocationSet, ReloadOutcome, StaticFileSource,
};

fn routes() -> Vec<String> {
    vec!["pool-a".to_string(), "pool-b".to_string()]
}

fn parse(text: &str) -> Result<AllocationSet, AllocationError> {
    allocations::parse(text, &routes())
}

/// `text` must be refused with a problem for `entry` (as the error names it) mentioning
/// `problem`.
fn assert_refused(text: &str, entry: &str, problem: &str) {
    let error = match parse(text) {
        Ok(set) => panic!("accepted {set:?}, expected `{entry}: ...{problem}...`:\n{text}"),
        Err(error) => error,
    };
    let message = error.to_string();
    assert!(
        error.entry_errors().iter().any(|e| {
            let line = e.to_string();
            line.starts_with(&format!("{entry}: ")) && line.contains(problem)
        }),
        "expected `{entry}: ...{problem}...` in: {message}"
    );
    assert!(message.contains(entry), "{message}");
}

/// One entry with id `a` to pool-a and `body` for the rest.
fn entry(body: &str) -> String {
    format!("[[allocation]]\nid = \"a\"\nroute = \"pool-a\"\n{body}\n")
}

#[test]
fn every_accepted_form() {
    let set = parse(
        r#"
[[allocation]]
id = "text-times"
route = "pool-a"
hashrate = "100 TH/s"
start = "2026-11-24T00:00:00Z"
end = "2026-11-25T00:00:00Z"

[[allocation]]
id = "bare-datetime"
route = "pool-b"
fraction = 0.25
start = 2026-11-24T00:00:00Z

[[allocation]]
id = "unix-seconds"
route = "pool-b"
hashrate = 12e12
start = 1795478400
end = 1795478401

[[allocation]]
id = "whole-farm"
route = "pool-a"
fraction = 1
order = 10

[[allocation]]
id = "integer-hs"
route = "pool-a"
hashrate = 5000
"#,
    )
    .unwrap();
    let get = |id: &str| set.get(id).unwrap().clone();
    let a = get("text-times");
    assert_eq!(a.amount, Amount::Hashrate(100e12));
    assert_eq!((a.start, a.end), (Some(1_795_478_400), Some(1_795_564_800)));
    assert_eq!(a.order, 0);
    let b = get("bare-datetime");
    assert_eq!(b.amount, Amount::Fraction(0.25));
    assert_eq!((b.start, b.end, b.order), (Some(1_795_478_400), None, 1));
    let c = get("unix-seconds");
    assert_eq!(c.amount, Amount::Hashrate(12e12));
    assert_eq!((c.start, c.end), (Some(1_795_478_400), Some(1_795_478_401)));
    assert_eq!(get("whole-farm").amount, Amount::Fraction(1.0));
    assert_eq!(get("whole-farm").order, 10);
    assert_eq!(get("integer-hs").amount, Amount::Hashrate(5000.0));
    // Kept in purchase order.
    let ids: Vec<&str> = set.allocations().iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "text-times",
            "bare-datetime",
            "unix-seconds",
            "integer-hs",
            "whole-farm"
        ]
    );
    assert_eq!(
        set.routes().into_iter().collect::<Vec<_>>(),
        ["pool-a", "pool-b"]
    );
}

#[test]
fn an_empty_file_is_an_empty_set() {
    assert!(parse("").unwrap().is_empty());
    assert!(parse("# nothing allocated yet\n").unwrap().is_empty());
}

#[test]
fn unknown_and_default_routes_are_refused() {
    assert_refused(
        &entry("hashrate = \"1 TH/s\"").replace("pool-a", "pool-x"),
        "allocation `a`",
        "unknown route `pool-x` (configured routes: pool-a, pool-b)",
    );
    assert_refused(
        &entry("hashrate = \"1 TH/s\"").replace("pool-a", "default"),
        "allocation `a`",
        "route `default` is the seller's own route",
    );
    let none = allocations::parse(&entry("hashrate = \"1 TH/s\""), &[]).unwrap_err();
    assert!(
        none.to_string().contains("no [[routes]] are configured"),
        "{none}"
    );
    assert_refused(
        "[[allocation]]\nid = \"a\"\nhashrate = \"1 TH/s\"\n",
        "allocation `a`",
        "missing `route`",
    );
}

#[test]
fn duplicate_ids_are_refused_naming_both_positions() {
    let text = format!(
        "{}{}",
        entry("hashrate = \"1 TH/s\""),
        entry("fraction = 0.5")
    );
    assert_refused(
        &text,
        "allocation `a`",
        "duplicate id: allocation[0] and allocation[1] both use it",
    );
}

#[test]
fn windows_must_not_be_empty_or_backwards() {
    for window in [
        "start = \"2026-11-25T00:00:00Z\"\nend = \"2026-11-24T00:00:00Z\"",
        "start = 1000\nend = 1000",
        "start = 1001\nend = 1000",
    ] {
        assert_refused(
            &entry(&format!("hashrate = \"1 TH/s\"\n{window}")),
            "allocation `a`",
            "is not after `start`",
        );
    }
    for (time, problem) in [
        (
            "start = \"2026-11-24\"",
            "`start`: `2026-11-24` is not a UTC time",
        ),
        ("start = \"2026-11-24T00:00:00+01:00\"", "`start`"),
        ("end = 2026-11-24T01:00:00+01:00", "`end`"),
        (
            "end = \"2026-02-30T00:00:00Z\"",
            "`end`: `2026-02-30T00:00:00Z` is not a calendar date",
        ),
        ("start = -1", "`start`: -1 is negative"),
        ("start = 1.5", "`start`: must be a UTC time"),
    ] {
        assert_refused(
            &entry(&format!("hashrate = \"1 TH/s\"\n{time}")),
            "allocation `a`",
            problem,
        );
    }
}

#[test]
fn an_amount_must_be_exactly_one_of_hashrate_and_fraction() {
    assert_refused(
        &entry("hashrate = \"1 TH/s\"\nfraction = 0.5"),
        "allocation `a`",
        "has both `hashrate` and `fraction`",
    );
    assert_refused(&entry(""), "allocation `a`", "needs `hashrate`");
}

#[test]
fn bad_hashrates_are_refused() {
    for (hashrate, problem) in [
        ("\"100 Th/s\"", "`hashrate`: unknown hashrate unit `Th/s`"),
        ("\"5 mH/s\"", "`hashrate`: ambiguous hashrate unit `mH/s`"),
        ("\"lots\"", "`hashrate`: `lots` is not a number"),
        ("\"-5 TH/s\"", "`hashrate`: hashrate must not be negative"),
        ("-5", "`hashrate` must not be negative"),
        ("-5.0", "`hashrate` must not be negative"),
        ("0", "`hashrate` must be above 0"),
        ("\"0 TH/s\"", "`hashrate` must be above 0"),
        ("nan", "`hashrate` is not a finite number"),
        (
            "true",
            "`hashrate` must be a string with a unit or a number",
        ),
    ] {
        assert_refused(
            &entry(&format!("hashrate = {hashrate}")),
            "allocation `a`",
            problem,
        );
    }
}

#[test]
fn fractions_must_lie_in_zero_to_one() {
    for (fraction, problem) in [
        ("1.5", "`fraction` must be above 0 and at most 1"),
        ("2", "`fraction` must be above 0 and at most 1"),
        ("0", "`fraction` must be above 0 and at most 1"),
        ("nan", "`fraction` must be above 0 and at most 1"),
        ("-0.1", "`fraction` must not be negative"),
        ("\"25%\"", "`fraction` must be a number"),
    ] {
        assert_refused(
            &entry(&format!("fraction = {fraction}")),
            "allocation `a`",
            problem,
        );
    }
}

#[test]
fn entries_without_a_usable_id_are_named_by_position() {
    let good = entry("hashrate = \"1 TH/s\"");
    assert_refused(
        &format!("{good}[[allocation]]\nroute = \"pool-a\"\nfraction = 0.1\n"),
        "allocation[1] (no id)",
        "missing `id`",
    );
    assert_refused(
        "[[allocation]]\nid = 7\nroute = \"pool-a\"\nfraction = 0.1\n",
        "allocation[0] (no id)",
        "`id` must be a string, not integer",
    );
    assert_refused(
        &entry("fraction = 0.1").replace("\"a\"", "\"\""),
        "allocation ``",
        "`id` is empty",
    );
    assert_refused(
        &entry("fraction = 0.1").replace("\"a\"", "\" a\""),
        "allocation ` a`",
        "surrounding spaces",
    );
}

#[test]
fn unknown_keys_are_refused_naming_entry_and_key() {
    assert_refused(
        &entry("hashrat = \"1 TH/s\""),
        "allocation `a`",
        "unknown field `hashrat`",
    );
}

#[test]
fn purchase_order_must_be_unambiguous() {
    // The second entry's explicit order 0 collides with the first's position.
    let text = format!(
        "{}[[allocation]]\nid = \"b\"\nroute = \"pool-b\"\nfraction = 0.1\norder = 0\n",
        entry("hashrate = \"1 TH/s\"")
    );
    assert_refused(
        &text,
        "allocation `b`",
        "order 0 is also the order of allocation `a`",
    );
    assert_refused(
        &entry("hashrate = \"1 TH/s\"\norder = -1"),
        "allocation `a`",
        "`order` must not be negative",
    );
    assert_refused(
        &entry("hashrate = \"1 TH/s\"\norder = \"first\""),
        "allocation `a`",
        "`order` must be a whole number",
    );
}

#[test]
fn every_problem_of_every_entry_is_reported_at_once() {
    let text = r#"
[[allocation]]
id = "ok"
route = "pool-a"
fraction = 0.1

[[allocation]]
id = "two-problems"
route = "nowhere"
hashrate = "5 XH/s"

[[allocation]]
route = "pool-b"
fraction = 3
"#;
    let error = parse(text).unwrap_err();
    let lines: Vec<String> = error.entry_errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines[0].starts_with("allocation `two-problems`: unknown route `nowhere`"));
    assert!(lines[1].starts_with("allocation `two-problems`: `hashrate`: unknown"));
    assert!(lines[2].starts_with("allocation[2] (no id): missing `id`"));
    assert!(lines[3].starts_with("allocation[2] (no id): `fraction`"));
}

#[test]
fn the_file_holds_only_allocation_entries() {
    let layout = |text: &str| match parse(text) {
        Err(AllocationError::Layout(message)) => message,
        other => panic!("{other:?}"),
    };
    assert!(layout("policy = \"pro-rata\"\n").contains("unknown top-level key `policy`"));
    assert!(layout("[allocations]\nid = \"a\"\n").contains("unknown top-level key `allocations`"));
    assert!(layout("[allocation]\nid = \"a\"\n").contains("[[allocation]]"));
    assert_refused(
        "allocation = [1]\n",
        "allocation[0] (no id)",
        "must be a table",
    );
    assert!(matches!(
        parse("[[allocation]\n"),
        Err(AllocationError::Syntax(_))
    ));
}

#[test]
fn a_missing_file_is_a_read_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let error = allocations::reload(&path, &routes()).unwrap_err();
    assert!(matches!(error, AllocationError::Read { .. }));
    assert!(error.to_string().contains("missing.toml"), "{error}");
}

#[test]
fn next_change_is_the_earliest_later_start_or_end() {
    let set = parse(
        r#"
[[allocation]]
id = "a"
route = "pool-a"
fraction = 0.1
start = 100
end = 300

[[allocation]]
id = "b"
route = "pool-b"
fraction = 0.1
start = 200
"#,
    )
    .unwrap();
    assert_eq!(set.next_change_after(0), Some(100));
    assert_eq!(set.next_change_after(100), Some(200));
    assert_eq!(set.next_change_after(250), Some(300));
    assert_eq!(set.next_change_after(300), None);
    let resolution = set.resolve(250, 1000.0, Policy::PurchaseOrder);
    assert_eq!(resolution.route_target("pool-a"), 100.0);
    assert_eq!(resolution.default_remainder, 800.0);
}

const ONE: &str = "[[allocation]]\nid = \"one\"\nroute = \"pool-a\"\nfraction = 0.1\n";
const TWO: &str = "[[allocation]]\nid = \"two\"\nroute = \"pool-b\"\nfraction = 0.25\n";
const BAD: &str = "[[allocation]]\nid = \"bad\"\nroute = \"pool-z\"\nfraction = 0.1\n";

fn ids(set: &AllocationSet) -> Vec<String> {
    set.allocations().iter().map(|a| a.id.clone()).collect()
}

#[test]
fn a_source_reports_changes_and_keeps_its_set_when_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("allocations.toml");
    std::fs::write(&path, ONE).unwrap();
    let mut source = StaticFileSource::new(&path, routes());
    assert_eq!(ids(&source.load().unwrap()), ["one"]);
    assert!(matches!(source.poll(), ReloadOutcome::Unchanged));

    std::fs::write(&path, TWO).unwrap();
    match source.poll() {
        ReloadOutcome::Loaded(set) => assert_eq!(ids(&set), ["two"]),
        other => panic!("{other:?}"),
    }

    std::fs::write(&path, format!("{TWO}{BAD}")).unwrap();
    match source.poll() {
        ReloadOutcome::Refused(error) => {
            assert!(error.to_string().contains("allocation `bad`"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ids(source.current().unwrap()), ["two"]);
    // The refusal is reported once per change, not once per poll.
    assert!(matches!(source.poll(), ReloadOutcome::Unchanged));

    // Rewritten to the set already in force: nothing to report.
    std::fs::write(&path, format!("# same again\n{TWO}")).unwrap();
    assert!(matches!(source.poll(), ReloadOutcome::Unchanged));

    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        source.poll(),
        ReloadOutcome::Refused(AllocationError::Read { .. })
    ));
    assert_eq!(ids(source.current().unwrap()), ["two"]);
    std::fs::write(&path, ONE).unwrap();
    assert!(matches!(source.poll(), ReloadOutcome::Loaded(_)));
}

/// Receives the next set within a generous wait.
async fn next_set(sets: &async_channel::Receiver<AllocationSet>) -> AllocationSet {
    tokio::time::timeout(Duration::from_secs(10), sets.recv())
        .await
        .expect("a reloaded set within 10 s")
        .expect("watcher running")
}

#[tokio::test]
async fn the_watcher_sends_new_sets_and_skips_refused_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("allocations.toml");
    std::fs::write(&path, ONE).unwrap();
    let mut source = StaticFileSource::new(&path, routes());
    source.load().unwrap();
    let (tx, rx) = async_channel::bounded(1);
    let (_requests, requests_rx) = async_channel::bounded(1);
    let watcher = spawn_watcher(source, Duration::from_millis(20), tx, requests_rx);

    std::fs::write(&path, TWO).unwrap();
    assert_eq!(ids(&next_set(&rx).await), ["two"]);

    // A refused file sends nothing: the next set received is the next valid one.
    std::fs::write(&path, format!("{ONE}{BAD}")).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::fs::write(&path, format!("{ONE}{TWO}")).unwrap();
    assert_eq!(ids(&next_set(&rx).await), ["one", "two"]);

    // The watcher ends once nobody listens.
    drop(rx);
    tokio::time::timeout(Duration::from_secs(10), watcher)
        .await
        .expect("watcher ends after its receiver is dropped")
        .unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_a_rewrite_that_polling_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("allocations.toml");
    std::fs::write(&path, ONE).unwrap();
    let mut source = StaticFileSource::new(&path, routes());
    source.load().unwrap();

    // Same length, same modification time: invisible to polling.
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let same_length = ONE.replace("0.1", "0.2");
    assert_eq!(same_length.len(), ONE.len());
    std::fs::write(&path, &same_length).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    assert!(matches!(source.poll(), ReloadOutcome::Unchanged));

    let (tx, rx) = async_channel::bounded(1);
    // Polling hourly: only the signal can bring the change.
    let (_requests, requests_rx) = async_channel::bounded(1);
    let _watcher = spawn_watcher(source, Duration::from_secs(3600), tx, requests_rx);
    let status = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(std::process::id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let set = next_set(&rx).await;
    assert_eq!(set.get("one").unwrap().amount, Amount::Fraction(0.2));
}

#[tokio::test]
async fn a_reload_request_rereads_the_file_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("allocations.toml");
    std::fs::write(&path, ONE).unwrap();
    let mut source = StaticFileSource::new(&path, routes());
    source.load().unwrap();
    let (tx, rx) = async_channel::bounded(1);
    let (requests, requests_rx) = async_channel::bounded(1);
    // Polling hourly: only the request can bring the change.
    let _watcher = spawn_watcher(source, Duration::from_secs(3600), tx, requests_rx);
    let ask = || async {
        let (reply, answer) = tokio::sync::oneshot::channel();
        requests.send(reply).await.unwrap();
        answer.await.unwrap()
    };
    assert_eq!(ask().await, Ok(1));
    std::fs::write(&path, format!("{ONE}{TWO}")).unwrap();
    assert_eq!(ask().await, Ok(2));
    assert_eq!(ids(&next_set(&rx).await), ["one", "two"]);
    std::fs::write(&path, format!("{ONE}{BAD}")).unwrap();
    let refused = ask().await.unwrap_err();
    assert!(refused.contains("pool-z"), "{refused}");
    assert!(rx.try_recv().is_err(), "a refused file sends nothing");
}
