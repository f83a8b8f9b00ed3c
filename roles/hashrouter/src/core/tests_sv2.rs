//! Drives the core's SV2 server side: connection setup, standard, group and extended channels,
//! batched acknowledgements and per-spec error codes, with real sha256d shares.

use std::time::{Duration, Instant};

use work::{coinbase_txid, merkle_root, BlockHeader, Target};

use super::tests::{drain, new_tip, open_channel, POOL_PREFIX};
use super::*;

/// Rollable bytes SV2 extended channels may get.
const SV2_MAX: usize = 8;
/// The node asks for 4 + 8; the pool grants 2 more (padding folded into coinb1).
const POOL_GRANT: u16 = 14;
const BATCH: u32 = 3;

fn sv2_config() -> CoreConfig {
    CoreConfig {
        sv2_max_extranonce_size: SV2_MAX,
        sv2_share_batch_size: BATCH,
        ..super::tests::config()
    }
}

fn sv2_core(now: Instant) -> Core {
    let mut core = Core::new(sv2_config(), Instant::now());
    open_channel(&mut core, 7, 1e-8, &POOL_PREFIX, POOL_GRANT, now);
    new_tip(&mut core, 3, [0x11; 32], 1_700_000_000, now);
    drain(&mut core);
    core
}

fn to_connection(actions: &[Action], connection: ConnectionId) -> Vec<Sv2Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ToSv2 {
                connection: c,
                message,
            } if *c == connection => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn setup(flags: u32) -> Sv2Request {
    Sv2Request::SetupConnection {
        protocol: 0,
        min_version: 2,
        max_version: 2,
        flags,
        device_info: "test".into(),
    }
}

fn connect(core: &mut Core, flags: u32, now: Instant) -> ConnectionId {
    let connection = core.sv2_connected();
    core.handle_sv2(connection, setup(flags), now);
    let answers = to_connection(&drain(core), connection);
    assert_eq!(
        answers,
        vec![Sv2Message::SetupConnectionSuccess {
            used_version: 2,
            flags: 0
        }]
    );
    connection
}

fn open_standard(core: &mut Core, connection: ConnectionId, now: Instant) -> Vec<Sv2Message> {
    core.handle_sv2(
        connection,
        Sv2Request::OpenStandardChannel {
            request_id: 5,
            user_identity: "farm.rig1".into(),
            nominal_hash_rate: 0.0,
            max_target: [0xff; 32],
        },
        now,
    );
    to_connection(&drain(core), connection)
}

fn open_extended(
    core: &mut Core,
    connection: ConnectionId,
    min_extranonce_size: u16,
    now: Instant,
) -> Vec<Sv2Message> {
    core.handle_sv2(
        connection,
        Sv2Request::OpenExtendedChannel {
            request_id: 6,
            user_identity: "proxy".into(),
            nominal_hash_rate: 0.0,
            max_target: [0xff; 32],
            min_extranonce_size,
        },
        now,
    );
    to_connection(&drain(core), connection)
}

/// What a header-only device needs from its channel: the job it mines and the tip.
#[derive(Debug, Clone)]
struct StandardWork {
    channel_id: u32,
    job_id: u32,
    version: u32,
    merkle_root: [u8; 32],
    prev_hash: [u8; 32],
    min_ntime: u32,
    nbits: u32,
    target: Target,
}

/// Reads a standard channel's Success, NewMiningJob and SetNewPrevHash.
fn standard_work(messages: &[Sv2Message]) -> StandardWork {
    let (channel_id, target) = messages
        .iter()
        .find_map(|m| match m {
            Sv2Message::OpenStandardChannelSuccess {
                channel_id, target, ..
            } => Some((*channel_id, *target)),
            _ => None,
        })
        .expect("OpenStandardChannel.Success");
    let (job_id, version, merkle_root) = messages
        .iter()
        .find_map(|m| match m {
            Sv2Message::NewMiningJob {
                channel_id: c,
                job_id,
                min_ntime: None,
                version,
                merkle_root,
            } if *c == channel_id => Some((*job_id, *version, *merkle_root)),
            _ => None,
        })
        .expect("a future NewMiningJob");
    let (prev_hash, min_ntime, nbits) = messages
        .iter()
        .find_map(|m| match m {
            Sv2Message::SetNewPrevHash {
                channel_id: c,
                job_id: j,
                prev_hash,
                min_ntime,
                nbits,
            } if *c == channel_id && *j == job_id => Some((*prev_hash, *min_ntime, *nbits)),
            _ => None,
        })
        .expect("SetNewPrevHash for the job");
    StandardWork {
        channel_id,
        job_id,
        version,
        merkle_root,
        prev_hash,
        min_ntime,
        nbits,
        target,
    }
}

impl StandardWork {
    fn header(&self, nonce: u32, version: u32) -> BlockHeader {
        BlockHeader {
            version,
            prev_hash: self.prev_hash,
            merkle_root: self.merkle_root,
            ntime: self.min_ntime,
            nbits: self.nbits,
            nonce,
        }
    }

    /// A nonce meeting (or missing) the channel target, skipping `skip` earlier ones.
    fn grind(&self, meet: bool, skip: usize) -> u32 {
        (0u32..)
            .filter(|n| self.target.is_met_by(&self.header(*n, self.version).hash()) == meet)
            .nth(skip)
            .unwrap()
    }

    fn submit(&self, sequence_number: u32, nonce: u32) -> Sv2Request {
        Sv2Request::SubmitShares(Sv2Submit {
            channel_id: self.channel_id,
            sequence_number,
            job_id: self.job_id,
            nonce,
            ntime: self.min_ntime,
            version: self.version,
            extranonce: None,
        })
    }
}

#[test]
fn setup_connection_refusals_use_the_spec_codes_and_close() {
    let now = Instant::now();
    let mut core = sv2_core(now);
    let cases = [
        (
            Sv2Request::SetupConnection {
                protocol: 2,
                min_version: 2,
                max_version: 2,
                flags: 0,
                device_info: String::new(),
            },
            0,
            "unsupported-protocol",
        ),
        (
            Sv2Request::SetupConnection {
                protocol: 0,
                min_version: 3,
                max_version: 4,
                flags: 0,
                device_info: String::new(),
            },
            0,
            "protocol-version-mismatch",
        ),
        (
            setup(setup_flags::REQUIRES_WORK_SELECTION | 1),
            setup_flags::REQUIRES_WORK_SELECTION,
            "unsupported-feature-flags",
        ),
    ];
    let mut fixed_version = sv2_config();
    fixed_version.version_rolling_guaranteed = false;
    let mut strict = Core::new(fixed_version, Instant::now());
    let connection = strict.sv2_connected();
    strict.handle_sv2(
        connection,
        setup(setup_flags::REQUIRES_VERSION_ROLLING),
        now,
    );
    assert_eq!(
        to_connection(&drain(&mut strict), connection),
        vec![Sv2Message::SetupConnectionError {
            flags: setup_flags::REQUIRES_VERSION_ROLLING,
            code: "unsupported-feature-flags"
        }]
    );
    for (request, flags, code) in cases {
        let connection = core.sv2_connected();
        core.handle_sv2(connection, request, now);
        let actions = drain(&mut core);
        assert_eq!(
            to_connection(&actions, connection),
            vec![Sv2Message::SetupConnectionError { flags, code }]
        );
        assert!(actions
            .iter()
            .any(|a| matches!(a, Action::CloseSv2 { connection: c, .. } if *c == connection)));
    }
    // Anything before SetupConnection closes the connection.
    let connection = core.sv2_connected();
    core.handle_sv2(
        connection,
        Sv2Request::CloseChannel {
            channel_id: 1,
            reason: String::new(),
        },
        now,
    );
    let actions = drain(&mut core);
    assert!(
        matches!(&actions[..], [Action::CloseSv2 { connection: c, reason }]
        if *c == connection && reason.contains("before SetupConnection"))
    );
    assert_eq!(core.snapshot(now).sv2_connections, 0);
}

#[test]
fn standard_channel_gets_its_own_merkle_root_and_batched_acks() {
    let now = Instant::now();
    let mut core = sv2_core(now);
    let connection = connect(&mut core, setup_flags::REQUIRES_STANDARD_JOBS, now);
    let messages = open_standard(&mut core, connection, now);
    let work = standard_work(&messages);

    // The node's merkle root is that of the coinbase with the channel's whole extranonce.
    let job = core.routes[0].jobs.current().unwrap().clone();
    let Some(Sv2Message::OpenStandardChannelSuccess {
        extranonce_prefix,
        group_channel_id,
        ..
    }) = messages.first()
    else {
        panic!("Success first: {messages:?}");
    };
    assert_eq!(extranonce_prefix.len(), DEVICE_ID_BYTES + SV2_MAX);
    assert_eq!(extranonce_prefix[..4], work.channel_id.to_be_bytes());
    assert_ne!(*group_channel_id, work.channel_id);
    let txid = coinbase_txid(&[&job.coinb1, extranonce_prefix, &job.coinb2]);
    assert_eq!(work.merkle_root, merkle_root(txid, &job.merkle_path));

    // BATCH valid shares: one Success for all of them, each forwarded upstream.
    for seq in 0..BATCH {
        let nonce = work.grind(true, seq as usize);
        core.handle_sv2(connection, work.submit(seq, nonce), now);
    }
    let actions = drain(&mut core);
    assert_eq!(
        to_connection(&actions, connection),
        vec![Sv2Message::SubmitSharesSuccess {
            channel_id: work.channel_id,
            last_sequence_number: BATCH - 1,
            accepted_count: BATCH,
            shares_sum: 0,
        }]
    );
    let forwarded: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::SubmitUpstream { share, .. } => Some(share.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(forwarded.len(), BATCH as usize);
    // Upstream extranonce: the pool's padding (2 bytes), then the channel's whole extranonce.
    let mut expected = vec![0u8; 2];
    expected.extend_from_slice(extranonce_prefix);
    assert_eq!(forwarded[0].extranonce, expected);

    // A smaller batch is flushed by the tick.
    let nonce = work.grind(true, BATCH as usize);
    core.handle_sv2(connection, work.submit(10, nonce), now);
    assert!(to_connection(&drain(&mut core), connection).is_empty());
    core.tick(now, 0);
    assert!(to_connection(&drain(&mut core), connection).contains(
        &Sv2Message::SubmitSharesSuccess {
            channel_id: work.channel_id,
            last_sequence_number: 10,
            accepted_count: 1,
            shares_sum: 0,
        }
    ));
}

#[test]
fn invalid_sv2_shares_get_spec_error_codes() {
    let now = Instant::now();
    let mut core = sv2_core(now);
    let connection = connect(&mut core, setup_flags::REQUIRES_STANDARD_JOBS, now);
    let work = standard_work(&open_standard(&mut core, connection, now));
    let good = work.grind(true, 0);
    let low = work.grind(false, 0);

    let mut bad_job = work.clone();
    bad_job.job_id = 999;
    let mut other_channel = work.clone();
    other_channel.channel_id += 100;
    let outside_mask = Sv2Request::SubmitShares(Sv2Submit {
        version: work.version | 0x0000_0001,
        ..match work.submit(4, good) {
            Sv2Request::SubmitShares(s) => s,
            _ => unreachable!(),
        }
    });
    let cases = [
        (work.submit(1, good), None),
        (work.submit(2, good), Some("duplicate-share")),
        (work.submit(3, low), Some("difficulty-too-low")),
        (outside_mask, Some("version-rolling-not-allowed")),
        (bad_job.submit(5, good), Some("invalid-job-id")),
        (other_channel.submit(6, good), Some("invalid-channel-id")),
    ];
    for (request, expected) in cases {
        let Sv2Request::SubmitShares(submit) = &request else {
            unreachable!()
        };
        let (channel_id, seq) = (submit.channel_id, submit.sequence_number);
        core.handle_sv2(connection, request, now);
        let answers = to_connection(&drain(&mut core), connection);
        let errors: Vec<_> = answers
            .iter()
            .filter_map(|m| match m {
                Sv2Message::SubmitSharesError {
                    channel_id: c,
                    sequence_number,
                    code,
                } => Some((*c, *sequence_number, *code)),
                _ => None,
            })
            .collect();
        match expected {
            None => assert!(errors.is_empty(), "{answers:?}"),
            Some(code) => assert_eq!(errors, vec![(channel_id, seq, code)]),
        }
    }
    // The accepted share's Success went out before the first error, in sequence order.
    let snapshot = core.snapshot(now);
    let device = &snapshot.devices[0];
    assert_eq!(device.counters.accepted, 1);
    assert_eq!(device.counters.rejected, 4);
    assert_eq!(device.kind.as_str(), "sv2-standard");
    assert_eq!(device.worker.as_deref(), Some("farm.rig1"));
}

#[test]
fn standard_channels_of_a_connection_share_one_group_job() {
    let now = Instant::now();
    let mut core = sv2_core(now);
    let connection = connect(&mut core, 0, now);
    let first = standard_work(&open_standard(&mut core, connection, now));
    let second = standard_work(&open_standard(&mut core, connection, now));
    assert_ne!(first.channel_id, second.channel_id);

    // A new tip: one extended job and one SetNewPrevHash, both for the group.
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::NewJob(super::tests::upstream_job(4, true)),
        now,
    );
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::SetNewPrevHash {
            job_id: 4,
            prev_hash: [0x22; 32],
            min_ntime: 1_700_000_100,
            nbits: 0x1d00ffff,
        },
        now,
    );
    let messages = to_connection(&drain(&mut core), connection);
    let group = DeviceId::LIMIT | connection.0;
    assert_eq!(messages.len(), 2, "{messages:?}");
    let Sv2Message::NewExtendedMiningJob {
        channel_id,
        job,
        min_ntime: None,
    } = &messages[0]
    else {
        panic!("{messages:?}")
    };
    assert_eq!(*channel_id, group);
    assert!(
        matches!(messages[1], Sv2Message::SetNewPrevHash { channel_id, job_id, .. }
        if channel_id == group && job_id == job.id)
    );

    // Each channel builds its coinbase with its own prefix; both get shares accepted.
    for work in [&first, &second] {
        let mut prefix = work.channel_id.to_be_bytes().to_vec();
        prefix.resize(DEVICE_ID_BYTES + SV2_MAX, 0);
        let txid = coinbase_txid(&[&job.coinb1, &prefix, &job.coinb2]);
        let mut mine = work.clone();
        mine.job_id = job.id;
        mine.merkle_root = merkle_root(txid, &job.merkle_path);
        mine.prev_hash = [0x22; 32];
        mine.min_ntime = 1_700_000_100;
        core.handle_sv2(connection, mine.submit(1, mine.grind(true, 0)), now);
    }
    let snapshot = core.snapshot(now);
    assert!(snapshot.devices.iter().all(|d| d.counters.accepted == 1
        && d.counters.rejected == 0
        && d.counters.forwarded == 1));
}

#[test]
fn extended_channel_rolls_what_it_asked_for() {
    let now = Instant::now();
    let mut core = sv2_core(now);
    let connection = connect(&mut core, 0, now);

    let refused = open_extended(&mut core, connection, SV2_MAX as u16 + 1, now);
    assert_eq!(
        refused,
        vec![Sv2Message::OpenChannelError {
            request_id: 6,
            code: "min-extranonce-size-too-large"
        }]
    );

    let messages = open_extended(&mut core, connection, 3, now);
    let Sv2Message::OpenExtendedChannelSuccess {
        channel_id,
        target,
        extranonce_size: 3,
        extranonce_prefix,
        ..
    } = &messages[0]
    else {
        panic!("{messages:?}")
    };
    assert_eq!(extranonce_prefix.len(), DEVICE_ID_BYTES + SV2_MAX - 3);
    let Sv2Message::NewExtendedMiningJob {
        job,
        min_ntime: None,
        ..
    } = &messages[1]
    else {
        panic!("{messages:?}")
    };
    assert!(
        matches!(messages[2], Sv2Message::SetNewPrevHash { channel_id: c, .. } if c == *channel_id)
    );

    let rolled = [1u8, 2, 3];
    let header = |nonce: u32| {
        let txid = coinbase_txid(&[&job.coinb1, extranonce_prefix, &rolled, &job.coinb2]);
        BlockHeader {
            version: job.version,
            prev_hash: job.prev_hash,
            merkle_root: merkle_root(txid, &job.merkle_path),
            ntime: job.min_ntime,
            nbits: job.nbits,
            nonce,
        }
    };
    let nonce = (0u32..)
        .find(|n| target.is_met_by(&header(*n).hash()))
        .unwrap();
    let share = |seq: u32, extranonce: &[u8]| {
        Sv2Request::SubmitShares(Sv2Submit {
            channel_id: *channel_id,
            sequence_number: seq,
            job_id: job.id,
            nonce,
            ntime: job.min_ntime,
            version: job.version,
            extranonce: Some(extranonce.to_vec()),
        })
    };
    core.handle_sv2(connection, share(1, &[1, 2]), now);
    core.handle_sv2(connection, share(2, &rolled), now);
    let actions = drain(&mut core);
    assert!(
        to_connection(&actions, connection).contains(&Sv2Message::SubmitSharesError {
            channel_id: *channel_id,
            sequence_number: 1,
            code: "bad-extranonce-size"
        })
    );
    let forwarded = actions
        .iter()
        .find_map(|a| match a {
            Action::SubmitUpstream { share, .. } => Some(share.clone()),
            _ => None,
        })
        .expect("forwarded");
    let mut expected = vec![0u8; 2];
    expected.extend_from_slice(extranonce_prefix);
    expected.extend_from_slice(&rolled);
    assert_eq!(forwarded.extranonce, expected);
    assert_eq!(forwarded.extranonce.len(), POOL_GRANT as usize);
}

#[test]
fn vardiff_and_update_channel_send_set_target() {
    let now = Instant::now();
    let mut core = Core::new(
        CoreConfig {
            vardiff: VardiffConfig {
                shares_per_minute: 6.0,
                retarget_interval: Duration::from_secs(1),
                ..sv2_config().vardiff
            },
            ..sv2_config()
        },
        now,
    );
    open_channel(&mut core, 7, 1e-8, &POOL_PREFIX, POOL_GRANT, now);
    new_tip(&mut core, 3, [0x11; 32], 1_700_000_000, now);
    let connection = connect(&mut core, setup_flags::REQUIRES_STANDARD_JOBS, now);
    let work = standard_work(&open_standard(&mut core, connection, now));

    // Far more shares than 6 a minute: vardiff raises the difficulty with a SetTarget.
    let later = now + Duration::from_secs(2);
    for seq in 0..8 {
        core.handle_sv2(
            connection,
            work.submit(seq, work.grind(true, seq as usize)),
            later,
        );
    }
    let after_flood = to_connection(&drain(&mut core), connection);
    // The SetTarget comes with the current job again at a later ntime, so a device that
    // restarts its search builds a new header rather than re-finding the shares it sent.
    let target_at = after_flood
        .iter()
        .position(|m| matches!(m, Sv2Message::SetTarget { .. }))
        .expect("SetTarget");
    assert!(matches!(
        after_flood.get(target_at + 1),
        Some(Sv2Message::NewMiningJob { job_id, min_ntime: Some(ntime), .. })
            if *job_id == work.job_id && *ntime > work.min_ntime
    ));
    let raised = after_flood
        .into_iter()
        .find_map(|m| match m {
            Sv2Message::SetTarget { channel_id, target } if channel_id == work.channel_id => {
                Some(target)
            }
            _ => None,
        })
        .expect("SetTarget after a flood of shares");
    assert!(raised.difficulty() > work.target.difficulty());

    // UpdateChannel with a harder maximum target forces the target down to it.
    let harder = Target::from_difficulty(raised.difficulty() * 10.0);
    core.handle_sv2(
        connection,
        Sv2Request::UpdateChannel {
            channel_id: work.channel_id,
            nominal_hash_rate: 1e6,
            maximum_target: harder.to_le_bytes(),
        },
        later,
    );
    let messages = to_connection(&drain(&mut core), connection);
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, Sv2Message::SetTarget { target, .. }
            if target.difficulty() >= harder.difficulty() * 0.999)),
        "{messages:?}"
    );
    core.handle_sv2(
        connection,
        Sv2Request::UpdateChannel {
            channel_id: 12345,
            nominal_hash_rate: 1e6,
            maximum_target: [0xff; 32],
        },
        later,
    );
    assert_eq!(
        to_connection(&drain(&mut core), connection),
        vec![Sv2Message::UpdateChannelError {
            channel_id: 12345,
            code: "invalid-channel-id"
        }]
    );
}

#[test]
fn closing_channels_and_connections_removes_their_devices() {
    let now = Instant::now();
    let mut core = sv2_core(now);
    let connection = connect(&mut core, 0, now);
    let first = standard_work(&open_standard(&mut core, connection, now));
    open_extended(&mut core, connection, 4, now);
    let sv1 = core.device_connected(now);
    assert_eq!(core.snapshot(now).devices.len(), 3);

    core.handle_sv2(
        connection,
        Sv2Request::CloseChannel {
            channel_id: first.channel_id,
            reason: "bye".into(),
        },
        now,
    );
    assert_eq!(core.snapshot(now).devices.len(), 2);
    core.sv2_disconnected(connection);
    let snapshot = core.snapshot(now);
    assert_eq!(snapshot.sv2_connections, 0);
    assert_eq!(
        snapshot.devices.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![sv1]
    );
}

#[test]
fn nominal_hashrate_sets_the_starting_difficulty() {
    let now = Instant::now();
    let mut core = sv2_core(now);
    let connection = connect(&mut core, setup_flags::REQUIRES_STANDARD_JOBS, now);
    core.handle_sv2(
        connection,
        Sv2Request::OpenStandardChannel {
            request_id: 1,
            user_identity: "rig".into(),
            // 1 TH/s at the test's share rate of 1e9 a minute.
            nominal_hash_rate: 1e12,
            max_target: [0xff; 32],
        },
        now,
    );
    let work = standard_work(&to_connection(&drain(&mut core), connection));
    let expected = 1e12 * 60.0 / 1e9 / 4_294_967_296.0;
    assert!((work.target.difficulty() / expected - 1.0).abs() < 1e-3);
}
