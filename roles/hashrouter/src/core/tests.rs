//! Drives the core with events and checks its actions, with real sha256d shares.

use std::time::{Duration, Instant};

use work::{coinbase_txid, merkle_root, BlockHeader, Target};

use super::*;

pub(super) const EN2_SIZE: usize = 4;
pub(super) const POOL_PREFIX: [u8; 4] = [0xaa, 0xbb, 0xcc, 0xdd];
/// The pool grants 10 rollable bytes where the node asks for 8: 2 bytes of padding.
pub(super) const POOL_EXTRANONCE_SIZE: u16 = 10;

pub(super) fn config() -> CoreConfig {
    CoreConfig {
        sv1_extranonce2_size: EN2_SIZE,
        sv2_max_extranonce_size: 0,
        sv2_share_batch_size: 4,
        version_rolling_guaranteed: true,
        routes: vec!["default".into()],
        scheduler: SchedulerConfig::default(),
        policy: contracts::Policy::default(),
        templates: Default::default(),
        vardiff: VardiffConfig {
            initial: 1e-7,
            minimum: 1e-9,
            maximum: 1e12,
            shares_per_minute: 1e9 / 60.0 * 60.0,
            retarget_interval: Duration::from_secs(3600),
        },
        keepalive: None,
    }
}

pub(super) fn upstream_job(job_id: u32, future: bool) -> UpstreamJob {
    UpstreamJob {
        job_id,
        min_ntime: if future { None } else { Some(1_700_000_000) },
        version: 0x2000_0000,
        version_rolling_allowed: true,
        merkle_path: vec![[7u8; 32], [9u8; 32]],
        coinbase_prefix: b"coinbase-prefix".to_vec(),
        coinbase_suffix: b"coinbase-suffix".to_vec(),
    }
}

pub(super) fn drain(core: &mut Core) -> Vec<Action> {
    std::iter::from_fn(|| core.poll_action()).collect()
}

pub(super) fn lines_to(actions: &[Action], device: DeviceId) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ToSv1 { device: d, line } if *d == device => {
                Some(String::from_utf8_lossy(line).trim_end().to_string())
            }
            _ => None,
        })
        .collect()
}

/// Opens the upstream channel at `pool_difficulty` with the given extranonce grant.
pub(super) fn open_channel(
    core: &mut Core,
    channel_id: u32,
    pool_difficulty: f64,
    prefix: &[u8],
    size: u16,
    now: Instant,
) {
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::ChannelOpened {
            channel_id,
            target: Target::from_difficulty(pool_difficulty).to_le_bytes(),
            extranonce_prefix: prefix.to_vec(),
            extranonce_size: size,
        },
        now,
    );
}

/// A future job `job_id` and the new tip that activates it.
pub(super) fn new_tip(
    core: &mut Core,
    job_id: u32,
    prev_hash: [u8; 32],
    min_ntime: u32,
    now: Instant,
) {
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::NewJob(upstream_job(job_id, true)),
        now,
    );
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::SetNewPrevHash {
            job_id,
            prev_hash,
            min_ntime,
            nbits: 0x1d00ffff,
        },
        now,
    );
}

/// A core with an open upstream channel (easy target) and one active job.
pub(super) fn mining_core(now: Instant) -> Core {
    let mut core = Core::new(config(), Instant::now());
    open_channel(&mut core, 7, 1e-8, &POOL_PREFIX, POOL_EXTRANONCE_SIZE, now);
    new_tip(&mut core, 3, [0x11; 32], 1_700_000_000, now);
    drain(&mut core);
    core
}

pub(super) fn ready_device(core: &mut Core, now: Instant) -> DeviceId {
    let device = core.device_connected(now);
    core.handle_device_request(
        device,
        DeviceRequest::Configure {
            id: RequestId::from(1),
            version_rolling_mask: Some(0xffff_ffff),
            minimum_difficulty: None,
            unsupported: vec![],
            subscribe_extranonce: false,
            info: false,
        },
        now,
    );
    core.handle_device_request(
        device,
        DeviceRequest::Subscribe {
            id: RequestId::from(2),
            user_agent: Some("test/1.0".into()),
        },
        now,
    );
    core.handle_device_request(
        device,
        DeviceRequest::Authorize {
            id: RequestId::String("3".into()),
            user: "worker.1".into(),
        },
        now,
    );
    device
}

/// The header a device builds from the current job (what a miner would hash).
pub(super) fn device_header(
    core: &Core,
    device: DeviceId,
    en2: &[u8],
    nonce: u32,
    bits: u32,
) -> BlockHeader {
    let job = core.routes[0].jobs.current().unwrap();
    let txid = coinbase_txid(&[&job.coinb1, &device.to_be_bytes(), en2, &job.coinb2]);
    BlockHeader {
        version: (job.version & !VERSION_ROLLING_MASK) | (bits & VERSION_ROLLING_MASK),
        prev_hash: job.prev_hash,
        merkle_root: merkle_root(txid, &job.merkle_path),
        ntime: job.ntime,
        nbits: job.nbits,
        nonce,
    }
}

/// Finds a nonce whose header meets (or, with `meet == false`, misses) `target`.
pub(super) fn grind(core: &Core, device: DeviceId, en2: &[u8], target: Target, meet: bool) -> u32 {
    (0u32..)
        .find(|nonce| target.is_met_by(&device_header(core, device, en2, *nonce, 0).hash()) == meet)
        .unwrap()
}

pub(super) fn submit(core: &Core, en2: &[u8], nonce: u32, job_id: Option<u32>) -> DeviceRequest {
    let job = core.routes[0].jobs.current().unwrap();
    DeviceRequest::Submit {
        id: RequestId::from(9),
        submit: Submit {
            job_id: format!("{:x}", job_id.unwrap_or(job.id)),
            extranonce2: sv1::Extranonce2::from_bytes(en2).unwrap(),
            ntime: job.ntime,
            nonce,
            version_bits: Some(0),
        },
    }
}

#[test]
fn handshake_answers_and_first_job() {
    let now = Instant::now();
    let mut core = mining_core(now);
    let device = core.device_connected(now);
    core.handle_device_request(
        device,
        DeviceRequest::Configure {
            id: RequestId::Null,
            version_rolling_mask: Some(0xffff_ffff),
            minimum_difficulty: None,
            unsupported: vec!["lmr.contract-address".into()],
            subscribe_extranonce: false,
            info: false,
        },
        now,
    );
    core.handle_device_request(
        device,
        DeviceRequest::Subscribe {
            id: RequestId::String("s".into()),
            user_agent: None,
        },
        now,
    );
    let lines = lines_to(&drain(&mut core), device);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("\"version-rolling.mask\":\"1fffe000\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("\"lmr.contract-address\":false"),
        "{}",
        lines[0]
    );
    assert!(lines[0].starts_with("{\"id\":null"));
    assert!(lines[1].starts_with("{\"id\":\"s\""));
    assert!(lines[1].contains(&format!("\"{}\",4]", hex::encode(device.to_be_bytes()))));

    core.handle_device_request(
        device,
        DeviceRequest::Authorize {
            id: RequestId::from(5),
            user: "bc1q.rig@farm".into(),
        },
        now,
    );
    let lines = lines_to(&drain(&mut core), device);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].contains("\"result\":true"));
    assert!(lines[1].contains("mining.set_difficulty"));
    assert!(
        lines[2].contains("mining.notify") && lines[2].ends_with("true]}"),
        "{}",
        lines[2]
    );
    // coinb1 = pool coinbase prefix || pool extranonce prefix || 2 bytes of padding
    let coinb1 = format!(
        "{}{}0000",
        hex::encode(b"coinbase-prefix"),
        hex::encode(POOL_PREFIX)
    );
    assert!(lines[2].contains(&coinb1), "{}", lines[2]);
}

#[test]
fn valid_share_is_answered_and_forwarded_with_the_pools_view_of_the_coinbase() {
    let now = Instant::now();
    let mut core = mining_core(now);
    let device = ready_device(&mut core, now);
    drain(&mut core);
    let en2 = [1, 2, 3, 4];
    let nonce = grind(&core, device, &en2, Target::from_difficulty(1e-7), true);
    core.handle_device_request(device, submit(&core, &en2, nonce, None), now);
    let actions = drain(&mut core);
    assert_eq!(
        lines_to(&actions, device),
        vec!["{\"id\":9,\"result\":true,\"error\":null}"]
    );
    let forwarded: Vec<&UpstreamShare> = actions
        .iter()
        .filter_map(|a| match a {
            Action::SubmitUpstream { share, .. } => Some(share),
            _ => None,
        })
        .collect();
    assert_eq!(forwarded.len(), 1);
    let share = forwarded[0];
    assert_eq!(share.channel_id, 7);
    assert_eq!(share.job_id, 3);
    assert_eq!(share.extranonce.len(), POOL_EXTRANONCE_SIZE as usize);
    // The pool rebuilds prefix || its extranonce prefix || extranonce || suffix: same hash.
    let txid = coinbase_txid(&[
        b"coinbase-prefix",
        &POOL_PREFIX,
        &share.extranonce,
        b"coinbase-suffix",
    ]);
    let pool_header = BlockHeader {
        version: share.version,
        prev_hash: [0x11; 32],
        merkle_root: merkle_root(txid, &[[7u8; 32], [9u8; 32]]),
        ntime: share.ntime,
        nbits: 0x1d00ffff,
        nonce: share.nonce,
    };
    assert_eq!(
        pool_header.hash(),
        device_header(&core, device, &en2, nonce, 0).hash()
    );

    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::SubmitSuccess {
            last_sequence_number: share.sequence_number,
            accepted_count: 1,
            shares_sum: 1,
        },
        now,
    );
    let snapshot = core.snapshot(now);
    assert_eq!(snapshot.upstream.counters.forwarded_shares, 1);
    assert_eq!(snapshot.upstream.counters.acked_shares, 1);
    assert_eq!(snapshot.devices[0].counters.accepted, 1);
}

#[test]
fn invalid_shares_get_their_error_codes() {
    let now = Instant::now();
    let mut core = mining_core(now);
    let device = ready_device(&mut core, now);
    drain(&mut core);
    let en2 = [0, 0, 0, 1];
    let device_target = Target::from_difficulty(1e-7);
    let good = grind(&core, device, &en2, device_target, true);
    let bad = grind(&core, device, &en2, device_target, false);

    let answer = |core: &mut Core, request: DeviceRequest| {
        core.handle_device_request(device, request, now);
        lines_to(&drain(core), device).join("\n")
    };
    let cases = [
        (submit(&core, &en2, bad, None), "[23,"),
        (submit(&core, &en2, good, None), "true"),
        (submit(&core, &en2, good, None), "[22,"),
        (submit(&core, &en2, good, Some(999)), "[21,"),
        (submit(&core, &[1, 2], good, None), "[20,"),
    ];
    for (request, expected) in cases {
        let got = answer(&mut core, request);
        assert!(got.contains(expected), "{got} should contain {expected}");
    }
    let old_job = core.routes[0].jobs.current().unwrap().id;
    new_tip(&mut core, 4, [0x22; 32], 1_700_000_100, now);
    drain(&mut core);
    let stale = DeviceRequest::Submit {
        id: RequestId::from(1),
        submit: Submit {
            job_id: format!("{old_job:x}"),
            extranonce2: sv1::Extranonce2::from_bytes(&en2).unwrap(),
            ntime: 1_700_000_000,
            nonce: good,
            version_bits: None,
        },
    };
    let stale_answer = answer(&mut core, stale);
    assert!(stale_answer.contains("Stale"), "{stale_answer}");
    let counters = &core.snapshot(now).devices[0].counters;
    assert_eq!(
        (counters.accepted, counters.rejected, counters.stale),
        (1, 5, 1)
    );
}

#[test]
fn shares_before_authorize_are_refused() {
    let now = Instant::now();
    let mut core = mining_core(now);
    let device = core.device_connected(now);
    core.handle_device_request(device, submit(&core, &[0; 4], 0, None), now);
    assert!(lines_to(&drain(&mut core), device)[0].contains("[25,"));
}

#[test]
fn upstream_loss_keeps_devices_mining_without_forwarding() {
    let now = Instant::now();
    let mut core = mining_core(now);
    let device = ready_device(&mut core, now);
    drain(&mut core);
    core.handle_upstream(RouteId::DEFAULT, UpstreamEvent::Disconnected, now);
    let en2 = [5, 5, 5, 5];
    let nonce = grind(&core, device, &en2, Target::from_difficulty(1e-7), true);
    core.handle_device_request(device, submit(&core, &en2, nonce, None), now);
    let actions = drain(&mut core);
    assert!(lines_to(&actions, device)[0].contains("true"));
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::SubmitUpstream { .. })));
    assert!(!core.snapshot(now).upstream.connected);

    // The new channel's first tip reaches the device as a clean job.
    open_channel(&mut core, 8, 1e-8, &[1; 8], 8, now);
    new_tip(&mut core, 1, [0x33; 32], 1_700_000_000, now);
    let lines = lines_to(&drain(&mut core), device);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("mining.notify") && lines[0].ends_with("true]}"));
    assert_eq!(core.snapshot(now).upstream.counters.connections, 2);
}

#[test]
fn too_small_upstream_extranonce_closes_the_channel() {
    let now = Instant::now();
    let mut core = Core::new(config(), Instant::now());
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::ChannelOpened {
            channel_id: 1,
            target: [0xff; 32],
            extranonce_prefix: vec![],
            extranonce_size: 6,
        },
        now,
    );
    assert!(matches!(
        drain(&mut core)[..],
        [Action::CloseUpstream { .. }]
    ));
}

#[test]
fn vardiff_change_credits_old_jobs_at_the_old_difficulty() {
    let now = Instant::now();
    let mut config = config();
    config.vardiff.shares_per_minute = 1.0;
    config.vardiff.retarget_interval = Duration::from_secs(1);
    let mut core = Core::new(config, Instant::now());
    let mut t = now;
    open_channel(&mut core, 7, 1.0, &POOL_PREFIX, POOL_EXTRANONCE_SIZE, t);
    new_tip(&mut core, 3, [0x11; 32], 1_700_000_000, t);
    let device = ready_device(&mut core, t);
    drain(&mut core);
    // Flood shares far faster than 1/min: the difficulty must rise.
    let mut en2 = [0u8; 4];
    let easy = Target::from_difficulty(1e-7);
    let mut raised = false;
    for i in 0..8u8 {
        en2[3] = i;
        t += Duration::from_millis(100);
        let nonce = grind(&core, device, &en2, easy, true);
        core.handle_device_request(device, submit(&core, &en2, nonce, None), t);
        let lines = lines_to(&drain(&mut core), device);
        assert_eq!(
            lines[0], "{\"id\":9,\"result\":true,\"error\":null}",
            "share {i}"
        );
        raised |= lines.iter().any(|l| l.contains("set_difficulty"));
    }
    assert!(raised);
    assert!(core.snapshot(t).devices[0].difficulty > 1e-7);
}

#[test]
fn a_v1_difficulty_change_leaves_earlier_jobs_at_their_difficulty() {
    let now = Instant::now();
    let mut core = Core::new(config(), Instant::now());
    // The pool's target equals the device's: every device share is forwarded.
    open_channel(&mut core, 0, 1e-7, &POOL_PREFIX, POOL_EXTRANONCE_SIZE, now);
    new_tip(&mut core, 1, [0x11; 32], 1_700_000_000, now);
    let device = ready_device(&mut core, now);
    drain(&mut core);
    let first_job = core.routes[0].jobs.current().unwrap().id;
    let forwarded = |actions: &[Action]| {
        actions
            .iter()
            .filter(|a| matches!(a, Action::SubmitUpstream { .. }))
            .count()
    };
    // mining.set_difficulty: from the pool's next job on, a target no test share meets.
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::SetTargetForNewJobs {
            target: Target::from_difficulty(1e6).to_le_bytes(),
        },
        now,
    );
    let device_target = Target::from_difficulty(1e-7);
    let en2 = [0, 0, 0, 1];
    let nonce = grind(&core, device, &en2, device_target, true);
    core.handle_device_request(device, submit(&core, &en2, nonce, None), now);
    assert_eq!(
        forwarded(&drain(&mut core)),
        1,
        "the job came before the change"
    );
    let work = core.snapshot(now).upstream.counters.forwarded_work;
    assert!(
        (work - 1e-7).abs() < 1e-15,
        "credited at the job's difficulty: {work}"
    );

    // The pool's next job carries the new difficulty; the earlier job keeps its own.
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::NewJob(upstream_job(2, false)),
        now,
    );
    drain(&mut core);
    let en2 = [0, 0, 0, 2];
    let nonce = grind(&core, device, &en2, device_target, true);
    core.handle_device_request(device, submit(&core, &en2, nonce, None), now);
    assert_eq!(forwarded(&drain(&mut core)), 0, "the new job's difficulty");
    let en2 = [0, 0, 0, 3];
    let nonce = grind(&core, device, &en2, device_target, true);
    core.handle_device_request(device, submit(&core, &en2, nonce, Some(first_job)), now);
    assert_eq!(forwarded(&drain(&mut core)), 1, "the old job's difficulty");

    // An SV2 SetTarget applies to every job at once.
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::SetTarget {
            target: Target::from_difficulty(1e6).to_le_bytes(),
        },
        now,
    );
    let en2 = [0, 0, 0, 4];
    let nonce = grind(&core, device, &en2, device_target, true);
    core.handle_device_request(device, submit(&core, &en2, nonce, Some(first_job)), now);
    assert_eq!(forwarded(&drain(&mut core)), 0);
    assert_eq!(core.snapshot(now).devices[0].counters.rejected, 0);
}
