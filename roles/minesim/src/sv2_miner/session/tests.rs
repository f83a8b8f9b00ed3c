//! Session tests: messages in, messages out, against SRI's server-side channels where it
//! matters.

use super::*;
use crate::chain::{reward_outputs, SyntheticChain};
use crate::grind::{MerkleSource, Work};
use crate::sv2_miner::rig::ShareTag;
use channels_sv2::extranonce_manager::ExtranonceAllocator;
use channels_sv2::server::group::GroupChannel;
use channels_sv2::server::share_accounting::ShareValidationResult;
use channels_sv2::server::standard::StandardChannel;
use common_messages_sv2::{ReconnectOwned, SetupConnectionErrorOwned, SetupConnectionSuccess};
use mining_sv2::*;
use work::BlockHeader;

const GROUP: u32 = 100;

/// About one hash in 16 meets it.
fn easy_target() -> [u8; 32] {
    let mut t = [0xff; 32];
    t[31] = 0x0f;
    t
}

fn config(channels: u32) -> Sv2MinerConfig {
    let mut c = Sv2MinerConfig::new("127.0.0.1:3336", "alice");
    c.channels = channels;
    c
}

fn units(n: usize) -> Vec<Unit> {
    (0..n).map(|_| Unit::default()).collect()
}

fn endpoint() -> Endpoint {
    Endpoint::parse("127.0.0.1:3336").unwrap()
}

fn mining(m: MiningOwned) -> AnyMessageOwned {
    AnyMessageOwned::Mining(m)
}

/// A prev hash activating `job_id` on `channel_id` (a channel or its group).
fn prev_hash(channel_id: u32, job_id: u32) -> AnyMessageOwned {
    mining(MiningOwned::SetNewPrevHash(SetNewPrevHashOwned {
        channel_id,
        job_id,
        prev_hash: [5u8; 32].into(),
        min_ntime: 1_700_000_000,
        nbits: 0x1d00_ffff,
    }))
}

fn standard_success(request_id: u32, channel_id: u32, prefix: &[u8]) -> AnyMessageOwned {
    mining(MiningOwned::OpenStandardMiningChannelSuccess(
        OpenStandardMiningChannelSuccessOwned {
            request_id,
            channel_id,
            target: easy_target().into(),
            extranonce_prefix: prefix.to_vec().try_into().unwrap(),
            group_channel_id: GROUP,
        },
    ))
}

/// The first nonce whose header meets `target`, as the grinding thread would report it,
/// with one version bit rolled.
fn find_share(work: &Work<ShareTag>, target: Target) -> FoundShare {
    let MerkleSource::Fixed(root) = work.merkle else {
        panic!("header-only work expected")
    };
    let version = work.version | 0x0000_2000;
    (0..u32::MAX)
        .map(|nonce| {
            let header = BlockHeader {
                version,
                prev_hash: work.prev_hash,
                merkle_root: root,
                ntime: work.ntime,
                nbits: work.nbits,
                nonce,
            };
            (nonce, header.hash())
        })
        .find(|(_, hash)| target.is_met_by(hash))
        .map(|(nonce, hash)| FoundShare {
            tag: work.tag,
            extranonce: Vec::new(),
            version,
            version_bits: Some(0x2000),
            ntime: work.ntime,
            nonce,
            hash,
        })
        .unwrap()
}

/// The group path end to end against SRI's server-side channels: a group job sent to two
/// standard channels' group is mined by each with its own extranonce prefix, and the
/// shares validate at channels_sv2's `StandardChannel`s that imported the same job.
#[test]
fn group_job_shares_validate_at_the_server() {
    let mut allocator = ExtranonceAllocator::new(Vec::new(), 16, 16).unwrap();
    let chain = SyntheticChain::new(1000, 0x1d00_ffff);
    let tip = chain.tip().clone();
    let outputs = reward_outputs(&[0x51]);
    let mut group = GroupChannel::new_for_pool(GROUP, 16, true, "minesim".into()).unwrap();
    group
        .on_new_template(tip.template.clone(), outputs.clone())
        .unwrap();
    let job_id = group
        .get_future_job_id_from_template_id(tip.template.template_id)
        .unwrap();
    let group_job = group.get_future_job(job_id).unwrap().clone();
    assert_eq!(group_job.get_job_message().channel_id, GROUP);

    let mut servers: Vec<StandardChannel> = (1..=2)
        .map(|id| {
            let mut s = StandardChannel::new_for_pool(
                id,
                "alice".into(),
                allocator.allocate_standard().unwrap(),
                bitcoin::Target::from_le_bytes([0xff; 32]),
                1.0e6,
                1,
                6.0,
                "minesim".into(),
                None,
            )
            .unwrap();
            s.set_target(bitcoin::Target::from_le_bytes(easy_target()))
                .unwrap();
            s.on_group_channel_job(group_job.clone()).unwrap();
            s.on_set_new_prev_hash(tip.prev_hash.clone()).unwrap();
            s
        })
        .collect();

    let (config, stats, units) = (config(2), Sv2MinerStats::default(), units(2));
    let mut session = Session::new(&config, &stats, &units, endpoint(), 1);
    session.open_channels();
    let opens = session.take_out();
    assert_eq!(opens.len(), 2);
    assert!(opens.iter().all(|m| matches!(m,
        MiningOwned::OpenStandardMiningChannel(o) if o.user_identity.as_utf8_or_hex() == "alice")));
    for (i, s) in servers.iter().enumerate() {
        let flow = session
            .handle(standard_success(
                i as u32 + 1,
                s.get_channel_id(),
                s.get_extranonce_prefix(),
            ))
            .unwrap();
        assert_eq!(flow, Flow::Continue);
    }
    assert_eq!(stats.channel_ids(), vec![1, 2]);
    assert!(stats.channels().iter().all(|c| c.group_channel_id == GROUP));

    session
        .handle(mining(MiningOwned::NewExtendedMiningJob(
            group_job.get_job_message().clone(),
        )))
        .unwrap();
    assert!(
        units.iter().all(|u| u.slot.current().is_none()),
        "future job waits"
    );
    session
        .handle(mining(MiningOwned::SetNewPrevHash(SetNewPrevHashOwned {
            channel_id: GROUP,
            job_id,
            prev_hash: tip.prev_hash.prev_hash.clone(),
            min_ntime: tip.prev_hash.header_timestamp,
            nbits: tip.prev_hash.n_bits,
        })))
        .unwrap();
    assert_eq!(
        (stats.jobs_received(), stats.prev_hashes_received()),
        (1, 1)
    );

    let mut roots = Vec::new();
    for (unit, server) in units.iter().zip(servers.iter_mut()) {
        let work = unit.slot.current().expect("work published");
        let MerkleSource::Fixed(root) = work.merkle else {
            panic!("header-only work expected")
        };
        assert_eq!(
            root,
            server
                .get_active_job()
                .unwrap()
                .get_merkle_root()
                .to_array(),
            "same merkle root as SRI's standard job for this channel"
        );
        roots.push(root);
        session.submit(find_share(&work, unit.target.get()));
        let Some(MiningOwned::SubmitSharesStandard(share)) = session.take_out().pop() else {
            panic!("share submitted")
        };
        assert_eq!(share.channel_id, server.get_channel_id());
        assert_eq!(share.job_id, job_id);
        assert!(matches!(
            server.validate_share(share),
            Ok(ShareValidationResult::Valid(_))
        ));
    }
    assert_ne!(roots[0], roots[1], "each channel mines its own coinbase");
    assert_eq!(stats.shares_submitted(), 2);
}

#[test]
fn targets_acknowledgements_closes_and_reconnects() {
    let (config, stats, units) = (config(2), Sv2MinerStats::default(), units(2));
    let mut session = Session::new(&config, &stats, &units, endpoint(), 7);
    session.open_channels();
    session.take_out();
    session.handle(standard_success(1, 11, &[1; 8])).unwrap();
    session.handle(standard_success(2, 12, &[2; 8])).unwrap();
    for ch in [11, 12] {
        session
            .handle(mining(MiningOwned::NewMiningJob(NewMiningJobOwned {
                channel_id: ch,
                job_id: 1,
                min_ntime: binary_sv2::Sv2OptionOwned::new(None),
                version: 0x2000_0000,
                merkle_root: [ch as u8; 32].into(),
            })))
            .unwrap();
    }
    session.handle(prev_hash(GROUP, 1)).unwrap();
    let work0 = units[0].slot.current().unwrap();
    let work1 = units[1].slot.current().unwrap();
    assert_eq!(work0.tag.session, 7);
    assert!(matches!(work1.merkle, MerkleSource::Fixed(r) if r == [12; 32]));

    // SetTarget to one channel: its thread and stats see it, the other keeps its own.
    let mut harder = [0xff; 32];
    harder[31] = 0x00;
    session
        .handle(mining(MiningOwned::SetTarget(SetTargetOwned {
            channel_id: 12,
            maximum_target: harder.into(),
        })))
        .unwrap();
    assert_eq!(units[1].target.get(), Target::from_le_bytes(harder));
    assert_eq!(units[0].target.get(), Target::from_le_bytes(easy_target()));
    assert_eq!(stats.channels()[1].target, Target::from_le_bytes(harder));

    // A share that met the old target but not the new one is not submitted.
    let stale_target = {
        let mut s = find_share(&work1, Target::from_le_bytes(easy_target()));
        while Target::from_le_bytes(harder).is_met_by(&s.hash) {
            s = find_share(
                &Work {
                    ntime: s.ntime + 1,
                    ..(*work1).clone()
                },
                Target::from_le_bytes(easy_target()),
            );
        }
        s
    };
    session.submit(stale_target);
    assert!(session.take_out().is_empty());
    // A share from an earlier connection is not submitted either.
    let mut old = find_share(&work0, Target::from_le_bytes(easy_target()));
    old.tag.session = 6;
    session.submit(old);
    assert!(session.take_out().is_empty());
    session.submit(find_share(&work0, Target::from_le_bytes(easy_target())));
    assert!(matches!(
        session.take_out().as_slice(),
        [MiningOwned::SubmitSharesStandard(s)] if s.channel_id == 11 && s.sequence_number == 0
    ));

    // Acknowledgements.
    session
        .handle(mining(MiningOwned::SubmitSharesSuccess(
            SubmitSharesSuccess {
                channel_id: 11,
                last_sequence_number: 3,
                new_submits_accepted_count: 3,
                new_shares_sum: 300,
            },
        )))
        .unwrap();
    for code in ["stale-share", "stale-share", "difficulty-too-low"] {
        session
            .handle(mining(MiningOwned::SubmitSharesError(
                SubmitSharesErrorOwned {
                    channel_id: 11,
                    sequence_number: 4,
                    error_code: str0255(code),
                },
            )))
            .unwrap();
    }
    assert_eq!(stats.shares_accepted(), 3);
    assert_eq!(stats.shares_sum_acknowledged(), 300);
    assert_eq!(stats.shares_rejected(), 3);
    assert_eq!(stats.rejected_with("stale-share"), 2);
    assert_eq!(stats.rejected_with("difficulty-too-low"), 1);

    // CloseChannel stops that channel only.
    session
        .handle(mining(MiningOwned::CloseChannel(CloseChannelOwned {
            channel_id: 11,
            reason_code: str0255("bye"),
        })))
        .unwrap();
    assert!(units[0].slot.current().is_none());
    assert!(units[1].slot.current().is_some());
    assert_eq!(stats.channel_ids(), vec![12]);
    assert_eq!(stats.channels_closed(), 1);
    session.submit(find_share(&work0, Target::from_le_bytes(easy_target())));
    assert!(
        session.take_out().is_empty(),
        "no shares on a closed channel"
    );

    // Reconnect: empty host and port 0 keep ours.
    let flow = session
        .handle(AnyMessageOwned::Common(CommonMessagesOwned::Reconnect(
            ReconnectOwned {
                new_host: str0255(""),
                new_port: 4000,
            },
        )))
        .unwrap();
    assert_eq!(
        flow,
        Flow::Reconnect(Endpoint::parse("127.0.0.1:4000").unwrap())
    );
}

#[test]
fn setup_flags_and_replies() {
    let mut c = config(1);
    c.requires_standard_jobs = true;
    c.requires_version_rolling = true;
    let (stats, units) = (Sv2MinerStats::default(), units(1));
    let mut session = Session::new(&c, &stats, &units, endpoint(), 1);
    let setup = session.setup_connection();
    assert_eq!(setup.protocol, Protocol::MiningProtocol);
    assert_eq!((setup.min_version, setup.max_version), (2, 2));
    assert_eq!(setup.flags, 0b101);
    assert_eq!(setup.endpoint_port, 3336);
    assert_eq!(setup.endpoint_host.as_utf8_or_hex(), "127.0.0.1");
    assert_eq!(
        Session::new(&config(1), &stats, &units, endpoint(), 1)
            .setup_connection()
            .flags,
        0
    );

    session
        .on_setup_reply(AnyMessageOwned::Common(
            CommonMessagesOwned::SetupConnectionSuccess(SetupConnectionSuccess {
                used_version: 2,
                flags: 0,
            }),
        ))
        .unwrap();
    let refused = session
        .on_setup_reply(AnyMessageOwned::Common(
            CommonMessagesOwned::SetupConnectionError(SetupConnectionErrorOwned {
                flags: 0b100,
                error_code: str0255("unsupported-feature-flags"),
            }),
        ))
        .unwrap_err();
    assert!(refused.is_fatal());
    assert!(refused.to_string().contains("unsupported-feature-flags"));

    // Every channel refused ends the connection for good.
    session.open_channels();
    let err = session
        .handle(mining(MiningOwned::OpenMiningChannelError(
            OpenMiningChannelErrorOwned {
                request_id: 1,
                error_code: str0255("unknown-user"),
            },
        )))
        .unwrap_err();
    assert!(err.is_fatal());
    assert!(stats.last_error().unwrap().contains("unknown-user"));
}

#[test]
fn extended_shares_carry_the_rolled_extranonce() {
    let mut c = config(2);
    c.channel_kind = ChannelKind::Extended {
        min_extranonce_size: 4,
    };
    let (stats, units) = (Sv2MinerStats::default(), units(2));
    let mut session = Session::new(&c, &stats, &units, endpoint(), 1);
    session.open_channels();
    assert!(matches!(
        session.take_out().as_slice(),
        [MiningOwned::OpenExtendedMiningChannel(a), MiningOwned::OpenExtendedMiningChannel(b)]
            if a.min_extranonce_size == 4 && (a.request_id, b.request_id) == (1, 2)
    ));
    let success = |request_id, channel_id, extranonce_size| {
        mining(MiningOwned::OpenExtendedMiningChannelSuccess(
            OpenExtendedMiningChannelSuccessOwned {
                request_id,
                channel_id,
                target: easy_target().into(),
                extranonce_size,
                extranonce_prefix: vec![0xee; 4].try_into().unwrap(),
                group_channel_id: 0,
            },
        ))
    };
    // A job on channel 3 with a rollable coinbase around the extranonce.
    let extended_job = |job_id, min_ntime| {
        mining(MiningOwned::NewExtendedMiningJob(
            NewExtendedMiningJobOwned {
                channel_id: 3,
                job_id,
                min_ntime: binary_sv2::Sv2OptionOwned::new(Some(min_ntime)),
                version: 0x2000_0000,
                version_rolling_allowed: true,
                merkle_path: Vec::new().try_into().unwrap(),
                coinbase_tx_prefix: vec![1].try_into().unwrap(),
                coinbase_tx_suffix: vec![2].try_into().unwrap(),
            },
        ))
    };
    // Granting more than SubmitSharesExtended can carry is refused.
    session.handle(success(1, 2, 33)).unwrap();
    assert!(stats.last_error().unwrap().contains("33 extranonce bytes"));
    session.handle(success(2, 3, 4)).unwrap();
    assert_eq!(stats.channel_ids(), vec![3]);
    assert_eq!(stats.channels()[0].extranonce_size, 4);
    session.handle(extended_job(8, 1_700_000_000)).unwrap();
    assert!(
        units[1].slot.current().is_none(),
        "a job before any prev hash waits for one"
    );
    session.handle(prev_hash(3, 8)).unwrap();
    assert_eq!(
        units[1].slot.current().unwrap().tag.job_id,
        8,
        "the prev hash naming it starts it"
    );
    session.handle(extended_job(9, 1_700_000_001)).unwrap();
    let work = units[1]
        .slot
        .current()
        .expect("non-future job mined at once");
    assert!(
        matches!(&work.merkle, MerkleSource::Coinbase { prefix, extranonce_size: 4, .. } if prefix == &[1, 0xee, 0xee, 0xee, 0xee])
    );
    session.submit(FoundShare {
        tag: work.tag,
        extranonce: vec![0, 0, 1, 2],
        version: 0x2000_6000,
        version_bits: Some(0x6000),
        ntime: work.ntime,
        nonce: 42,
        hash: [0; 32],
    });
    match session.take_out().as_slice() {
        [MiningOwned::SubmitSharesExtended(s)] => {
            assert_eq!(s.extranonce.as_bytes(), &[0, 0, 1, 2]);
            assert_eq!((s.channel_id, s.job_id, s.nonce), (3, 9, 42));
            assert_eq!((s.version, s.ntime), (0x2000_6000, 1_700_000_001));
        }
        other => panic!("expected one extended share, got {other:?}"),
    }
}
