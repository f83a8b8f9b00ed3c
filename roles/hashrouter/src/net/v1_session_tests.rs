//! The V1 pool session against scripted pool lines: handshake, job translation (prev hash byte
//! order, tips, job ids), difficulty, share submission and verdicts, and every way it ends.

use std::time::Duration;

use sv1::hex::{decode_32, write_stratum_prevhash};
use work::Target;

use super::v1_session::{reconnect_address, SessionEnd, V1Session, DEFAULT_DIFFICULTY};
use crate::core::{UpstreamEvent, UpstreamShare};

/// Block 100000's hash as explorers show it, and as stratum pools send it as prevhash.
const DISPLAY_PREV: &str = "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506";
const STRATUM_PREV: &str = "fd33e5063986da1a346c3f1fd2b00432ecaad478aa200b1c0003ba2700000000";
const OTHER_PREV: &str = "00000000000000000000000000000000000000000000000000000000000000ff";

fn internal_prev() -> [u8; 32] {
    let mut hash = decode_32(DISPLAY_PREV, "test").unwrap();
    hash.reverse();
    hash
}

fn notify(job: &str, prev: &str, ntime: &str, clean: bool) -> String {
    format!(
        r#"{{"id":null,"method":"mining.notify","params":["{job}","{prev}","01000000aa","bbccdd",["{branch}"],"20000000","1d00ffff","{ntime}",{clean}]}}"#,
        branch = "11".repeat(32)
    )
}

fn line(session: &mut V1Session, text: &str) -> Result<(), SessionEnd> {
    session.on_line(text.as_bytes())
}

fn ok(session: &mut V1Session, text: &str) {
    line(session, text).unwrap_or_else(|e| panic!("{text}: {e}"));
}

const CONFIGURE_OK: &str =
    r#"{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"error":null}"#;
const SUBSCRIBE_8: &str = r#"{"id":2,"result":[[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],"08000002",8],"error":null}"#;
const AUTHORIZE_OK: &str = r#"{"id":3,"result":true,"error":null}"#;

/// A session past the handshake (version rolling granted, difficulty 0.5, one clean job),
/// with its events so far.
fn open_session() -> (V1Session, Vec<UpstreamEvent>) {
    let mut s = V1Session::new("buyer.worker", "secret", 8, None);
    s.take_output();
    ok(&mut s, CONFIGURE_OK);
    ok(&mut s, SUBSCRIBE_8);
    ok(
        &mut s,
        r#"{"id":null,"method":"mining.set_difficulty","params":[0.5]}"#,
    );
    ok(&mut s, &notify("6a1f", STRATUM_PREV, "65b2c0de", true));
    assert!(s.take_events().is_empty(), "nothing before authorize");
    assert!(!s.is_open());
    ok(&mut s, AUTHORIZE_OK);
    assert!(s.is_open());
    let events = s.take_events();
    (s, events)
}

fn share(sequence_number: u32, job_id: u32) -> UpstreamShare {
    UpstreamShare {
        channel_id: 0,
        sequence_number,
        job_id,
        nonce: 0x1a2b_3c4d,
        ntime: 0x65b2_c0df,
        version: 0x2000_6000,
        extranonce: vec![0, 0, 0, 7, 0xaa, 0xbb, 0xcc, 0xdd],
    }
}

fn output(s: &mut V1Session) -> String {
    String::from_utf8(s.take_output()).unwrap()
}

#[test]
fn handshake_is_configure_subscribe_authorize() {
    let mut s = V1Session::new("buyer.worker", "secret", 8, None);
    let out = output(&mut s);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].contains(r#""method":"mining.configure""#)
            && lines[0].contains(r#"["version-rolling"]"#)
            && lines[0].contains(r#""version-rolling.mask":"1fffe000""#),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with(r#"{"id":2,"method":"mining.subscribe","params":["hashrouter/"#));
    assert_eq!(
        lines[2],
        r#"{"id":3,"method":"mining.authorize","params":["buyer.worker","secret"]}"#
    );
}

#[test]
fn the_channel_opens_with_the_pools_extranonce_and_difficulty_then_its_first_job() {
    let (_, events) = open_session();
    assert_eq!(events.len(), 3, "{events:?}");
    match &events[0] {
        UpstreamEvent::ChannelOpened {
            channel_id,
            target,
            extranonce_prefix,
            extranonce_size,
        } => {
            assert_eq!(*channel_id, 0);
            assert_eq!(Target::from_le_bytes(*target), Target::from_difficulty(0.5));
            assert_eq!(extranonce_prefix, &[8, 0, 0, 2]);
            assert_eq!(*extranonce_size, 8);
        }
        other => panic!("{other:?}"),
    }
    let UpstreamEvent::NewJob(job) = &events[1] else {
        panic!("{:?}", events[1])
    };
    assert_eq!(
        job.min_ntime, None,
        "a job for a new tip waits for its prev hash"
    );
    assert_eq!(job.version, 0x2000_0000);
    assert!(job.version_rolling_allowed);
    assert_eq!(job.coinbase_prefix, [1, 0, 0, 0, 0xaa]);
    assert_eq!(job.coinbase_suffix, [0xbb, 0xcc, 0xdd]);
    assert_eq!(job.merkle_path, vec![[0x11; 32]]);
    match &events[2] {
        UpstreamEvent::SetNewPrevHash {
            job_id,
            prev_hash,
            min_ntime,
            nbits,
        } => {
            assert_eq!(*job_id, job.job_id);
            assert_eq!(*min_ntime, 0x65b2_c0de);
            assert_eq!(*nbits, 0x1d00_ffff);
            assert_eq!(*prev_hash, internal_prev());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn prev_hash_goes_from_stratum_word_order_to_internal_and_back_unchanged() {
    let (_, events) = open_session();
    let Some(UpstreamEvent::SetNewPrevHash { prev_hash, .. }) = events.get(2) else {
        panic!("{events:?}")
    };
    // Internal order is the header's: the reverse of how explorers show the hash.
    assert_eq!(*prev_hash, internal_prev());
    assert_eq!(
        prev_hash[31], 0,
        "the leading zeros of the hash are at the end"
    );
    // What the node then writes to its own devices is what the pool sent.
    let mut device_line = Vec::new();
    write_stratum_prevhash(&mut device_line, prev_hash);
    assert_eq!(String::from_utf8(device_line).unwrap(), STRATUM_PREV);
}

#[test]
fn jobs_on_the_same_tip_are_current_jobs_and_a_new_tip_or_clean_jobs_is_a_new_tip() {
    let (mut s, events) = open_session();
    let UpstreamEvent::NewJob(first) = &events[1] else {
        panic!()
    };
    let mut ids = vec![first.job_id];
    ok(&mut s, &notify("6a20", STRATUM_PREV, "65b2c0e0", false));
    let events = s.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let UpstreamEvent::NewJob(job) = &events[0] else {
        panic!()
    };
    assert_eq!(job.min_ntime, Some(0x65b2_c0e0));
    ids.push(job.job_id);
    // New tip without clean_jobs (some pools), then clean_jobs on the same tip.
    for (prev, clean) in [(OTHER_PREV, false), (OTHER_PREV, true)] {
        ok(&mut s, &notify("6a21", prev, "65b2c0e1", clean));
        let events = s.take_events();
        assert_eq!(events.len(), 2, "{events:?}");
        let UpstreamEvent::NewJob(job) = &events[0] else {
            panic!()
        };
        assert_eq!(job.min_ntime, None);
        assert!(
            matches!(events[1], UpstreamEvent::SetNewPrevHash { job_id, .. } if job_id == job.job_id)
        );
        ids.push(job.job_id);
    }
    // Every notify gets its own id, even a re-announced pool id.
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique, ids);
    assert_eq!(ids.len(), 4);
}

#[test]
fn difficulty_applies_to_every_job_first_then_from_the_next_job() {
    // No difficulty before the channel opens: the stratum default, then the first one for all.
    let mut s = V1Session::new("u", "x", 8, None);
    ok(&mut s, SUBSCRIBE_8);
    ok(&mut s, AUTHORIZE_OK);
    let events = s.take_events();
    let Some(UpstreamEvent::ChannelOpened { target, .. }) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(
        Target::from_le_bytes(*target),
        Target::from_difficulty(DEFAULT_DIFFICULTY)
    );
    ok(
        &mut s,
        r#"{"id":null,"method":"mining.set_difficulty","params":[2]}"#,
    );
    ok(
        &mut s,
        r#"{"id":null,"method":"mining.set_difficulty","params":[4]}"#,
    );
    let events = s.take_events();
    let four = Target::from_difficulty(4.0).to_le_bytes();
    let two = Target::from_difficulty(2.0).to_le_bytes();
    assert!(matches!(events[0], UpstreamEvent::SetTarget { target } if target == two));
    assert!(matches!(events[1], UpstreamEvent::SetTargetForNewJobs { target } if target == four));
}

#[test]
fn shares_are_submitted_with_the_pools_job_id_and_verdicts_come_back_in_order() {
    let (mut s, events) = open_session();
    let UpstreamEvent::NewJob(job) = &events[1] else {
        panic!()
    };
    for sequence in 0..4 {
        s.submit(share(sequence, job.job_id)).unwrap();
    }
    let out = output(&mut s);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        r#"{"id":16,"method":"mining.submit","params":["buyer.worker","6a1f","00000007aabbccdd","65b2c0df","1a2b3c4d","00006000"]}"#
    );
    // Answers out of order: the second is held until the first is known.
    ok(&mut s, r#"{"id":17,"result":true,"error":null}"#);
    assert!(s.take_events().is_empty());
    ok(
        &mut s,
        r#"{"id":16,"result":null,"error":[23,"low difficulty share",null]}"#,
    );
    ok(&mut s, r#"{"id":18,"result":false,"error":null}"#);
    ok(&mut s, r#"{"id":19,"result":true,"error":null}"#);
    let events = s.take_events();
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(matches!(
        &events[0],
        UpstreamEvent::SubmitError { sequence_number: 0, code } if code == "low difficulty share"
    ));
    assert!(matches!(
        events[1],
        UpstreamEvent::SubmitSuccess {
            last_sequence_number: 1,
            accepted_count: 1,
            shares_sum: 0
        }
    ));
    assert!(matches!(
        &events[2],
        UpstreamEvent::SubmitError { sequence_number: 2, code } if code == "answered false"
    ));
    assert!(matches!(
        events[3],
        UpstreamEvent::SubmitSuccess {
            last_sequence_number: 3,
            ..
        }
    ));
    // A share on a job the node no longer maps, or of the wrong size, never reaches the pool.
    s.submit(share(4, 999)).unwrap();
    let mut short = share(5, job.job_id);
    short.extranonce.pop();
    s.submit(short).unwrap();
    assert!(s.take_output().is_empty());
    let events = s.take_events();
    assert!(matches!(
        &events[0],
        UpstreamEvent::SubmitError { sequence_number: 4, code } if code.contains("no longer known")
    ));
    assert!(matches!(
        &events[1],
        UpstreamEvent::SubmitError { sequence_number: 5, code } if code.contains("7 bytes, the pool expects 8")
    ));
}

#[test]
fn without_version_rolling_jobs_forbid_it_and_submits_have_no_version_bits() {
    for answer in [
        r#"{"id":1,"result":{},"error":null}"#,
        r#"{"id":1,"result":null,"error":[20,"unknown method mining.configure",null]}"#,
        r#"{"id":1,"result":{"version-rolling":false},"error":null}"#,
        r#"{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"0x1fffe000"},"error":null}"#,
        r#"{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"00ffe000"},"error":null}"#,
        "", // never answered
    ] {
        let mut s = V1Session::new("u", "x", 8, None);
        if !answer.is_empty() {
            ok(&mut s, answer);
        }
        ok(&mut s, SUBSCRIBE_8);
        ok(&mut s, AUTHORIZE_OK);
        ok(&mut s, &notify("1", STRATUM_PREV, "65b2c0de", true));
        let events = s.take_events();
        let Some(UpstreamEvent::NewJob(job)) = events.get(1) else {
            panic!("{events:?}")
        };
        assert!(!job.version_rolling_allowed, "{answer}");
        s.take_output();
        s.submit(share(0, job.job_id)).unwrap();
        let out = output(&mut s);
        let granted_part = answer.contains("00ffe000");
        assert_eq!(
            out.trim_end().ends_with(r#""1a2b3c4d"]}"#),
            !granted_part,
            "{answer}: {out}"
        );
    }
}

#[test]
fn a_too_small_extranonce2_is_refused_naming_both_sizes() {
    let mut s = V1Session::new("u", "x", 8, None);
    let end = line(
        &mut s,
        r#"{"id":2,"result":[[],"00000001",4],"error":null}"#,
    )
    .unwrap_err();
    assert_eq!(
        end,
        SessionEnd::Extranonce2TooSmall {
            granted: 4,
            needed: 8
        }
    );
    let text = end.to_string();
    assert!(
        text.contains("extranonce2_size is 4 bytes, the node needs 8"),
        "{text}"
    );
    // A wider one is fine: the extra bytes are zero padding in front of the device id.
    let mut s = V1Session::new("u", "x", 8, None);
    ok(
        &mut s,
        r#"{"id":2,"result":[[],"00000001",12],"error":null}"#,
    );
}

#[test]
fn refusals_and_malformed_lines_end_the_session_with_the_reason() {
    let mut s = V1Session::new("buyer.worker", "x", 8, None);
    ok(&mut s, SUBSCRIBE_8);
    let end = line(
        &mut s,
        r#"{"id":3,"result":null,"error":[24,"unauthorized worker",null]}"#,
    )
    .unwrap_err();
    assert_eq!(
        end.to_string(),
        "pool refused mining.authorize for `buyer.worker`: unauthorized worker"
    );
    let end = line(
        &mut V1Session::new("u", "x", 8, None),
        AUTHORIZE_OK.replace("true", "false").as_str(),
    )
    .unwrap_err();
    assert!(end.to_string().ends_with("answered false"), "{end}");
    let end = line(
        &mut V1Session::new("u", "x", 8, None),
        r#"{"id":2,"result":null,"error":[20,"busy",null]}"#,
    )
    .unwrap_err();
    assert_eq!(end, SessionEnd::SubscribeRefused("busy".into()));
    for garbage in [
        "not json",
        r#"{"id":null,"method":"mining.notify","params":["1","zz"]}"#,
        r#"{"id":null,"method":"mining.set_difficulty","params":[-1]}"#,
        r#"{"id":2,"result":[[],"0000000",8],"error":null}"#,
    ] {
        let end = line(&mut V1Session::new("u", "x", 8, None), garbage).unwrap_err();
        assert!(
            matches!(&end, SessionEnd::Malformed { line, .. } if line == garbage),
            "{garbage}: {end:?}"
        );
    }
    let long = format!("{{\"x\":\"{}\"}}", "a".repeat(1000));
    let end = line(&mut V1Session::new("u", "x", 8, None), &long).unwrap_err();
    let SessionEnd::Malformed { line, .. } = end else {
        panic!()
    };
    assert!(line.len() < 300 && line.ends_with('…'));
}

#[test]
fn set_extranonce_changes_the_prefix_but_not_the_size() {
    let (mut s, _) = open_session();
    ok(
        &mut s,
        r#"{"id":null,"method":"mining.set_extranonce","params":["0a0b0c0d",8]}"#,
    );
    let events = s.take_events();
    assert!(matches!(
        &events[..],
        [UpstreamEvent::SetExtranoncePrefix { extranonce_prefix }] if extranonce_prefix == &[10, 11, 12, 13]
    ));
    let end = line(
        &mut s,
        r#"{"id":null,"method":"mining.set_extranonce","params":["0a",12]}"#,
    )
    .unwrap_err();
    assert_eq!(end, SessionEnd::Extranonce2SizeChanged { from: 8, to: 12 });
    let end = line(
        &mut s,
        r#"{"id":null,"method":"mining.set_extranonce","params":["0a",4]}"#,
    )
    .unwrap_err();
    assert!(matches!(
        end,
        SessionEnd::Extranonce2TooSmall { granted: 4, .. }
    ));
}

#[test]
fn client_reconnect_is_followed() {
    let (mut s, _) = open_session();
    let end = line(
        &mut s,
        r#"{"id":null,"method":"client.reconnect","params":["pool2.example",3334,5]}"#,
    )
    .unwrap_err();
    assert_eq!(
        end,
        SessionEnd::Reconnect {
            host: Some("pool2.example".into()),
            port: Some(3334),
            wait: Duration::from_secs(5)
        }
    );
    assert_eq!(
        reconnect_address("pool.example:3333", Some("pool2.example"), Some(3334)),
        "pool2.example:3334"
    );
    assert_eq!(
        reconnect_address("pool.example:3333", None, Some(4000)),
        "pool.example:4000"
    );
    assert_eq!(
        reconnect_address("[::1]:3333", Some(""), None),
        "[::1]:3333"
    );
    assert_eq!(reconnect_address("a:1", Some("::2"), None), "[::2]:1");
}

#[test]
fn a_pool_that_never_answers_submits_ends_the_session() {
    let (mut s, events) = open_session();
    let UpstreamEvent::NewJob(job) = &events[1] else {
        panic!()
    };
    let mut sequence = 0;
    let end = loop {
        if let Err(end) = s.submit(share(sequence, job.job_id)) {
            break end;
        }
        sequence += 1;
    };
    assert_eq!(
        end,
        SessionEnd::Unanswered(super::v1_session::MAX_UNANSWERED)
    );
}
