//! The Stratum V1 codec's hot paths, next to SRI's `sv1_api` where both do the same job.
//!
//! - `v1_parse/<request>`: one line a device sends, parsed by [`sv1::parse_client`] (`ours`) and
//!   the way translator_sv2 0.6.0 does it (`sv1_api`: serde_json into `json_rpc::Message`, then
//!   into the typed `Client2Server` request).
//! - `v1_frame/submit_burst`: [`sv1::LineFramer`] splitting 64 submits that arrive in TCP-sized
//!   segments.
//! - `v1_encode/<line>`: lines the node sends, by [`sv1::encode`] (`ours`) and, for `notify` and
//!   the submit answer, by sv1_api's types serialized with serde_json (`sv1_api`);
//!   `v1_encode/set_difficulty` has `ours` only.
//!
//! Every input is checked once, before timing, to parse to the same values on both sides.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use sv1::encode::server::{self as senc, NotifyParams};
use sv1::{parse_client, parse_server, ClientMessage, Id, LineFramer, Notify, ServerMessage};
use sv1_api::json_rpc::Message;
use sv1_api::methods::{Client2Server, Server2Client};
use sv1_api::Method;

const SUBSCRIBE: &str = r#"{"id":1,"method":"mining.subscribe","params":["bmminer/2.0.0"]}"#;
const AUTHORIZE: &str = r#"{"id":2,"method":"mining.authorize","params":["seller.rig01","x"]}"#;
const CONFIGURE: &str = r#"{"id":3,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}"#;
const SUBMIT: &str = r#"{"id":4,"method":"mining.submit","params":["seller.rig01","1000002","0000a3f1","6740b6a4","1a2b3c4d"]}"#;
const SUBMIT_VERSION_ROLLING: &str = r#"{"id":5,"method":"mining.submit","params":["seller.rig01","1000002","0000a3f1","6740b6a4","1a2b3c4d","00a4c000"]}"#;

/// SRI's parse of one line, as translator_sv2 runs it on each line its framer yields.
fn sv1_api_parse(line: &str) -> Client2Server {
    let message: Message = serde_json::from_str(line).unwrap();
    Client2Server::try_from(message).unwrap()
}

/// Checks that both parsers read `line` as the same request.
fn assert_same_request(line: &str) {
    let ours = parse_client(line.as_bytes()).unwrap();
    let theirs = sv1_api_parse(line);
    let same = match (&ours.message, &theirs) {
        (
            ClientMessage::Subscribe {
                user_agent,
                session_id,
            },
            Client2Server::Subscribe(s),
        ) => {
            ours.id == Id::from(s.id)
                && user_agent.as_deref() == Some(s.agent_signature.as_str())
                && session_id.is_none()
                && s.extranonce1.is_none()
        }
        (ClientMessage::Authorize { user, password }, Client2Server::Authorize(a)) => {
            ours.id == Id::from(a.id)
                && user.as_ref() == a.name
                && password.as_deref() == Some(a.password.as_str())
        }
        (ClientMessage::Configure(c), Client2Server::Configure(t)) => {
            let ours_rolling = c.version_rolling.unwrap();
            ours.id == Id::from(t.id)
                && ours_rolling.mask == t.version_rolling_mask().map(|m| m.0)
                && ours_rolling.min_bit_count == t.version_rolling_min_bit_count().map(|m| m.0)
        }
        (ClientMessage::Submit(s), Client2Server::Submit(t)) => {
            ours.id == Id::from(t.id)
                && s.worker == t.user_name
                && s.job_id == t.job_id
                && s.extranonce2.as_bytes() == t.extra_nonce2.as_ref()
                && (s.ntime, s.nonce) == (t.time.0, t.nonce.0)
                && s.version_bits == t.version_bits.as_ref().map(|v| v.0)
        }
        _ => false,
    };
    assert!(same, "parsers disagree on {line}: {ours:?} / {theirs:?}");
}

fn parse(c: &mut Criterion) {
    for (name, line) in [
        ("subscribe", SUBSCRIBE),
        ("authorize", AUTHORIZE),
        ("configure", CONFIGURE),
        ("submit", SUBMIT),
        ("submit_version_rolling", SUBMIT_VERSION_ROLLING),
    ] {
        assert_same_request(line);
        let mut group = c.benchmark_group(format!("v1_parse/{name}"));
        group.bench_function("ours", |b| {
            b.iter(|| parse_client(black_box(line.as_bytes())).unwrap())
        });
        group.bench_function("sv1_api", |b| b.iter(|| sv1_api_parse(black_box(line))));
        group.finish();
    }
}

fn frame(c: &mut Criterion) {
    const LINES: usize = 64;
    let mut stream = Vec::new();
    for _ in 0..LINES {
        stream.extend_from_slice(SUBMIT_VERSION_ROLLING.as_bytes());
        stream.push(b'\n');
    }
    let mut framer = LineFramer::default();
    // Feeds the stream in segments of one Ethernet MSS, popping lines as they complete.
    let run = |framer: &mut LineFramer| {
        let mut lines = 0;
        for segment in stream.chunks(1448) {
            let mut rest = segment;
            while !rest.is_empty() {
                let taken = framer.push(rest);
                rest = &rest[taken..];
                while let Some(line) = framer.next_line() {
                    black_box(line.unwrap());
                    lines += 1;
                }
            }
        }
        lines
    };
    assert_eq!(run(&mut framer), LINES);
    assert_eq!(framer.pending(), 0);
    c.benchmark_group("v1_frame")
        .bench_function("submit_burst", |b| b.iter(|| run(&mut framer)));
}

/// A job as a pool would send it: 12 merkle branches, ~200 bytes of coinbase around the
/// extranonce.
struct Job {
    prev_hash: [u8; 32],
    coinb1: Vec<u8>,
    coinb2: Vec<u8>,
    merkle_branch: Vec<[u8; 32]>,
}

impl Job {
    fn new() -> Self {
        Job {
            prev_hash: std::array::from_fn(|i| (i as u8).wrapping_mul(7)),
            coinb1: (0..80u8).collect(),
            coinb2: (0..110u8).rev().collect(),
            merkle_branch: (0..12u8)
                .map(|i| [i.wrapping_mul(37).wrapping_add(1); 32])
                .collect(),
        }
    }

    fn params(&self) -> NotifyParams<'_> {
        NotifyParams {
            job_id: "1000002",
            prev_hash: &self.prev_hash,
            coinb1: &self.coinb1,
            coinb2: &self.coinb2,
            merkle_branch: &self.merkle_branch,
            version: 0x2000_0000,
            nbits: 0x1702_8c61,
            ntime: 0x6740_b6a4,
            clean_jobs: true,
        }
    }
}

/// Serializes an sv1_api message the way its writers do: JSON text plus the line's `\n`.
fn sv1_api_write(out: &mut Vec<u8>, message: &Message) {
    out.clear();
    serde_json::to_writer(&mut *out, message).unwrap();
    out.push(b'\n');
}

fn encode(c: &mut Criterion) {
    let job = Job::new();
    let mut ours = Vec::with_capacity(2048);
    senc::notify(&mut ours, &job.params());
    // sv1_api's Notify is built by parsing our line with sv1_api, and its output must parse
    // back (with our parser) to the same job.
    let their_notify = {
        let text = std::str::from_utf8(&ours[..ours.len() - 1]).unwrap();
        let message: Message = serde_json::from_str(text).unwrap();
        match Method::try_from(message).unwrap() {
            Method::Server2Client(Server2Client::Notify(n)) => n,
            other => panic!("not a notify: {other:?}"),
        }
    };
    let mut theirs = Vec::with_capacity(2048);
    sv1_api_write(&mut theirs, &Message::from(their_notify.clone()));
    assert_eq!(read_notify(&ours), read_notify(&theirs));

    let mut group = c.benchmark_group("v1_encode/notify");
    group.bench_function("ours", |b| {
        b.iter(|| {
            ours.clear();
            senc::notify(&mut ours, black_box(&job.params()));
        })
    });
    group.bench_function("sv1_api", |b| {
        // Its messages are consumed by serialization's conversion; the copy is not timed.
        b.iter_batched(
            || their_notify.clone(),
            |notify| sv1_api_write(&mut theirs, &Message::from(notify)),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // The answer to an accepted share.
    let submit = match sv1_api_parse(SUBMIT) {
        Client2Server::Submit(s) => s,
        other => panic!("not a submit: {other:?}"),
    };
    let accepted = |submit: sv1_api::client_to_server::Submit| {
        Message::OkResponse(submit.respond(sv1_api::client_to_server::SubmitOutcome::Accepted))
    };
    ours.clear();
    senc::result_bool(&mut ours, &Id::from(4), true);
    sv1_api_write(&mut theirs, &accepted(submit.clone()));
    for line in [&ours, &theirs] {
        match parse_server(&line[..line.len() - 1]).unwrap() {
            ServerMessage::Response(r) => assert!(r.id == Id::from(4) && r.is_true()),
            other => panic!("not a response: {other:?}"),
        }
    }
    let mut group = c.benchmark_group("v1_encode/submit_accepted");
    group.bench_function("ours", |b| {
        b.iter(|| {
            ours.clear();
            senc::result_bool(&mut ours, black_box(&Id::from(4)), true);
        })
    });
    group.bench_function("sv1_api", |b| {
        b.iter_batched(
            || submit.clone(),
            |submit| sv1_api_write(&mut theirs, &accepted(submit)),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    ours.clear();
    senc::set_difficulty(&mut ours, 2048.0).unwrap();
    assert!(matches!(
        parse_server(&ours[..ours.len() - 1]).unwrap(),
        ServerMessage::SetDifficulty(d) if d == 2048.0
    ));
    c.benchmark_group("v1_encode/set_difficulty")
        .bench_function("ours", |b| {
            b.iter(|| {
                ours.clear();
                senc::set_difficulty(&mut ours, black_box(2048.0)).unwrap();
            })
        });
}

/// Parses a complete `mining.notify` line (with its `\n`) with our parser.
fn read_notify(line: &[u8]) -> Notify<'_> {
    match parse_server(&line[..line.len() - 1]).unwrap() {
        ServerMessage::Notify(n) => n,
        other => panic!("not a notify: {other:?}"),
    }
}

criterion_group!(sv1_codec, parse, frame, encode);
criterion_main!(sv1_codec);
