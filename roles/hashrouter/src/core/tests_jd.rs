//! Drives job declaration, solo mining and block submission through the core, with real
//! coinbases and sha256d shares.

use std::time::{Duration, Instant};

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{Amount, ScriptBuf, Transaction, TxOut};
use work::{merkle_root, BlockHeader, Target};

use super::tests::{
    config, drain, grind, lines_to, new_tip, open_channel, ready_device, submit,
    POOL_EXTRANONCE_SIZE, POOL_PREFIX,
};
use super::*;

const EASY_NBITS: u32 = 0x207f_ffff;
const TEMPLATE_ID: u64 = 5;
const TIP_HASH: [u8; 32] = [0x44; 32];
const TIP_TIME: u32 = 1_700_000_100;

fn device_target() -> Target {
    Target::from_difficulty(config().vardiff.initial)
}

fn pool_script() -> Vec<u8> {
    [&[0x00, 0x14][..], &[0x22; 20][..]].concat()
}

fn solo_script() -> Vec<u8> {
    [&[0x00, 0x14][..], &[0x33; 20][..]].concat()
}

fn jd_config() -> CoreConfig {
    let mut config = config();
    config.templates = TemplatesConfig {
        job_declaration: vec!["default".into()],
        solo_payout_script: None,
        coinbase_tag: "hashrouter".into(),
    };
    config
}

fn transaction() -> Vec<u8> {
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: bitcoin::OutPoint {
                txid: bitcoin::Txid::from_byte_array([9; 32]),
                vout: 0,
            },
            ..Default::default()
        }],
        output: vec![TxOut {
            value: Amount::from_sat(1000),
            script_pubkey: ScriptBuf::from_bytes(pool_script()),
        }],
    };
    serialize(&tx)
}

fn template() -> Template {
    let tx: Transaction = deserialize(&transaction()).unwrap();
    Template {
        template_id: TEMPLATE_ID,
        future: true,
        version: 0x2000_0000,
        coinbase_tx_version: 2,
        coinbase_prefix: vec![0x02, 0xe8, 0x03],
        coinbase_tx_input_sequence: 0xffff_ffff,
        coinbase_tx_value_remaining: 5_000_000_000,
        coinbase_tx_outputs_count: 0,
        coinbase_tx_outputs: Vec::new(),
        coinbase_tx_locktime: 0,
        merkle_path: vec![tx.compute_txid().to_byte_array()],
    }
}

fn tip() -> TemplateTip {
    TemplateTip {
        template_id: TEMPLATE_ID,
        prev_hash: TIP_HASH,
        header_timestamp: TIP_TIME,
        nbits: EASY_NBITS,
    }
}

/// A core whose default route has its pool channel (with work selection), one pool job, a
/// ready device and the template provider's template with its transactions.
fn core_with_templates(config: CoreConfig, now: Instant) -> (Core, DeviceId) {
    let mut core = Core::new(config, now);
    open_channel(&mut core, 7, 1e-8, &POOL_PREFIX, POOL_EXTRANONCE_SIZE, now);
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::WorkSelection { allowed: true },
        now,
    );
    new_tip(&mut core, 3, [0x11; 32], 1_700_000_000, now);
    let device = ready_device(&mut core, now);
    drain(&mut core);
    core.handle_template(TemplateEvent::Connected, now);
    core.handle_template(TemplateEvent::NewTemplate(template()), now);
    core.handle_template(TemplateEvent::SetNewPrevHash(tip()), now);
    core.handle_template(
        TemplateEvent::TransactionData {
            template_id: TEMPLATE_ID,
            transactions: vec![transaction()],
            excess_data: Vec::new(),
        },
        now,
    );
    (core, device)
}

fn jds_commands(actions: &[Action]) -> Vec<JdsCommand> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ToJds { command, .. } => Some(command.clone()),
            _ => None,
        })
        .collect()
}

/// Takes a connected JDS through token, declaration, missing transactions and the pool's
/// acceptance; returns the custom job the pool got.
fn declare(core: &mut Core, now: Instant, pool_job_id: u32) -> CustomJob {
    core.handle_jds(RouteId::DEFAULT, JdsEvent::Connected, now);
    let commands = jds_commands(&drain(core));
    let Some(JdsCommand::AllocateToken { request_id }) = commands.first().cloned() else {
        panic!("no token asked for: {commands:?}");
    };
    let outputs = vec![TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(pool_script()),
    }];
    core.handle_jds(
        RouteId::DEFAULT,
        JdsEvent::TokenAllocated {
            request_id,
            token: vec![1, 2, 3],
            coinbase_outputs: serialize(&outputs),
        },
        now,
    );
    let actions = drain(core);
    let declare = jds_commands(&actions)
        .into_iter()
        .find_map(|c| match c {
            JdsCommand::DeclareMiningJob {
                request_id,
                token,
                coinbase_tx_prefix,
                wtxids,
                ..
            } => Some((request_id, token, coinbase_tx_prefix, wtxids)),
            _ => None,
        })
        .expect("a declaration");
    let (request_id, token, prefix, wtxids) = declare;
    assert_eq!(token, vec![1, 2, 3]);
    assert_eq!(
        &prefix[4..6],
        &[0x00, 0x01],
        "the JDS gets the segwit serialization"
    );
    let tx: Transaction = deserialize(&transaction()).unwrap();
    assert_eq!(wtxids, vec![tx.compute_wtxid().to_byte_array()]);
    core.handle_jds(
        RouteId::DEFAULT,
        JdsEvent::ProvideMissingTransactions {
            request_id,
            positions: vec![0],
        },
        now,
    );
    assert_eq!(
        jds_commands(&drain(core)),
        vec![JdsCommand::ProvideMissingTransactionsSuccess {
            request_id,
            transactions: vec![transaction()],
        }]
    );
    core.handle_jds(
        RouteId::DEFAULT,
        JdsEvent::DeclareSuccess {
            request_id,
            new_token: vec![4, 5],
        },
        now,
    );
    let custom = drain(core)
        .into_iter()
        .find_map(|a| match a {
            Action::SetCustomJob { job, .. } => Some(job),
            _ => None,
        })
        .expect("a custom job for the pool");
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::CustomJobAccepted {
            request_id: custom.request_id,
            job_id: pool_job_id,
        },
        now,
    );
    custom
}

#[test]
fn declared_jobs_are_mined_and_their_blocks_go_to_the_tp_the_jds_and_the_pool() {
    let now = Instant::now();
    let (mut core, device) = core_with_templates(jd_config(), now);
    let custom = declare(&mut core, now, 77);
    assert_eq!(custom.channel_id, 7);
    assert_eq!(custom.token, vec![4, 5]);
    assert_eq!(custom.prev_hash, TIP_HASH);
    assert_eq!(custom.nbits, EASY_NBITS);
    assert_eq!(
        *custom.coinbase_prefix.last().unwrap(),
        4 + POOL_EXTRANONCE_SIZE as u8
    );
    let outputs = coinbase::decode_outputs(&custom.coinbase_tx_outputs).unwrap();
    assert_eq!(outputs[0].value.to_sat(), 5_000_000_000);
    assert_eq!(outputs[0].script_pubkey.as_bytes(), pool_script());

    let lines = lines_to(&drain(&mut core), device);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("mining.notify") && l.ends_with("true]}")),
        "{lines:?}"
    );
    let snapshot = core.snapshot(now);
    assert_eq!(snapshot.routes[0].jobs_from, "declared");

    // The pool's own work keeps arriving; devices stay on the declared job.
    new_tip(&mut core, 4, [0x12; 32], 1_700_000_200, now);
    assert!(lines_to(&drain(&mut core), device).is_empty());

    let en2 = [1, 2, 3, 4];
    let job = core.routes[0].jobs.current().unwrap().clone();
    assert_eq!(job.upstream_job_id, 77);
    let network = Target::from_compact(EASY_NBITS).unwrap();
    // Every share at the device's difficulty meets this network target.
    let nonce = grind(&core, device, &en2, device_target(), true);
    core.handle_device_request(device, submit(&core, &en2, nonce, None), now);
    let actions = drain(&mut core);
    let upstream = actions.iter().find_map(|a| match a {
        Action::SubmitUpstream { share, .. } => Some(share.clone()),
        _ => None,
    });
    assert_eq!(
        upstream.expect("the block is a share for the pool").job_id,
        77
    );
    let solution = actions
        .iter()
        .find_map(|a| match a {
            Action::ToTemplateProvider(TemplateCommand::SubmitSolution(s)) => Some(s.clone()),
            _ => None,
        })
        .expect("the block goes to the template provider");
    assert_eq!(solution.template_id, TEMPLATE_ID);
    // The template provider can rebuild the very header the device hashed.
    let coinbase: Transaction = deserialize(&solution.coinbase_tx).unwrap();
    assert!(
        coinbase.input[0].witness.len() == 1,
        "full coinbase, with its witness"
    );
    assert_eq!(coinbase.output[0].script_pubkey.as_bytes(), pool_script());
    let header = BlockHeader {
        version: solution.version,
        prev_hash: TIP_HASH,
        merkle_root: merkle_root(
            coinbase.compute_txid().to_byte_array(),
            &template().merkle_path,
        ),
        ntime: solution.header_timestamp,
        nbits: EASY_NBITS,
        nonce: solution.header_nonce,
    };
    assert!(network.is_met_by(&header.hash()));
    let pushed = jds_commands(&actions)
        .into_iter()
        .find_map(|c| match c {
            JdsCommand::PushSolution { extranonce, .. } => Some(extranonce),
            _ => None,
        })
        .expect("the block goes to the JDS");
    let expected = [&POOL_PREFIX[..], &[0, 0], &device.to_be_bytes(), &en2].concat();
    assert_eq!(pushed, expected);
    assert_eq!(core.snapshot(now).routes[0].upstream.counters.blocks, 1);
}

#[test]
fn losing_the_jds_falls_back_to_the_pools_job_at_once_and_declaring_resumes_later() {
    let now = Instant::now();
    let (mut core, device) = core_with_templates(jd_config(), now);
    declare(&mut core, now, 77);
    drain(&mut core);
    core.handle_jds(
        RouteId::DEFAULT,
        JdsEvent::Disconnected {
            reason: "connection reset".into(),
        },
        now,
    );
    let lines = lines_to(&drain(&mut core), device);
    let pool_coinb1 = hex::encode(b"coinbase-prefix");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&pool_coinb1) && l.ends_with("true]}")),
        "the pool's job, clean: {lines:?}"
    );
    let snapshot = core.snapshot(now);
    assert_eq!(snapshot.routes[0].jobs_from, "pool");
    let declaration = snapshot.routes[0].job_declaration.clone().unwrap();
    assert!(
        matches!(declaration.state, DeclaratorState::FallenBack { ref reason } if reason.contains("connection reset"))
    );
    assert_eq!(declaration.fallbacks, 1);

    // The JDS is back: the route declares again and mines declared jobs.
    let later = now + Duration::from_secs(1);
    declare(&mut core, later, 78);
    assert_eq!(core.routes[0].jobs.current().unwrap().upstream_job_id, 78);
    assert_eq!(core.snapshot(later).routes[0].jobs_from, "declared");
}

#[test]
fn a_refusing_or_silent_jds_and_a_refusing_pool_mean_pool_jobs() {
    let now = Instant::now();
    // The JDS refuses the declaration.
    let (mut core, _) = core_with_templates(jd_config(), now);
    core.handle_jds(RouteId::DEFAULT, JdsEvent::Connected, now);
    let token = |core: &mut Core| {
        core.handle_jds(
            RouteId::DEFAULT,
            JdsEvent::TokenAllocated {
                request_id: 1,
                token: vec![1],
                coinbase_outputs: serialize(&vec![TxOut {
                    value: Amount::ZERO,
                    script_pubkey: ScriptBuf::from_bytes(pool_script()),
                }]),
            },
            now,
        );
        jds_commands(&drain(core))
            .into_iter()
            .find_map(|c| match c {
                JdsCommand::DeclareMiningJob { request_id, .. } => Some(request_id),
                _ => None,
            })
            .unwrap()
    };
    let request_id = token(&mut core);
    core.handle_jds(
        RouteId::DEFAULT,
        JdsEvent::DeclareError {
            request_id,
            code: "invalid-job".into(),
            details: Vec::new(),
        },
        now,
    );
    let state = core.snapshot(now).routes[0]
        .job_declaration
        .clone()
        .unwrap()
        .state;
    assert!(
        matches!(state, DeclaratorState::FallenBack { ref reason } if reason.contains("invalid-job"))
    );
    // It tries again only after a while.
    core.tick(now + Duration::from_secs(1), 0);
    assert!(jds_commands(&drain(&mut core))
        .iter()
        .all(|c| !matches!(c, JdsCommand::DeclareMiningJob { .. })));

    // A JDS that never answers is dropped.
    let (mut core, _) = core_with_templates(jd_config(), now);
    core.handle_jds(RouteId::DEFAULT, JdsEvent::Connected, now);
    drain(&mut core);
    token(&mut core);
    core.tick(now + declarator::ANSWER_TIMEOUT, 0);
    let commands = jds_commands(&drain(&mut core));
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, JdsCommand::Close { .. })),
        "{commands:?}"
    );

    // The pool refuses the declared job.
    let (mut core, _) = core_with_templates(jd_config(), now);
    core.handle_jds(RouteId::DEFAULT, JdsEvent::Connected, now);
    drain(&mut core);
    let request_id = token(&mut core);
    core.handle_jds(
        RouteId::DEFAULT,
        JdsEvent::DeclareSuccess {
            request_id,
            new_token: vec![2],
        },
        now,
    );
    drain(&mut core);
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::CustomJobRefused {
            request_id,
            code: "invalid-mining-job-token".into(),
        },
        now,
    );
    let state = core.snapshot(now).routes[0]
        .job_declaration
        .clone()
        .unwrap()
        .state;
    assert!(
        matches!(state, DeclaratorState::FallenBack { ref reason } if reason.contains("pool refused"))
    );
    assert_eq!(core.snapshot(now).routes[0].jobs_from, "pool");
}

#[test]
fn hostile_jds_answers_close_the_jds_not_the_node() {
    let now = Instant::now();
    let (mut core, _) = core_with_templates(jd_config(), now);
    core.handle_jds(RouteId::DEFAULT, JdsEvent::Connected, now);
    drain(&mut core);
    core.handle_jds(
        RouteId::DEFAULT,
        JdsEvent::TokenAllocated {
            request_id: 1,
            token: vec![1],
            coinbase_outputs: vec![0xff, 0xff, 0xff],
        },
        now,
    );
    let commands = jds_commands(&drain(&mut core));
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, JdsCommand::Close { reason } if reason.contains("outputs"))),
        "{commands:?}"
    );

    // Asking for a transaction the job does not have.
    let (mut core, _) = core_with_templates(jd_config(), now);
    core.handle_jds(RouteId::DEFAULT, JdsEvent::Connected, now);
    drain(&mut core);
    core.handle_jds(
        RouteId::DEFAULT,
        JdsEvent::TokenAllocated {
            request_id: 1,
            token: vec![1],
            coinbase_outputs: serialize(&vec![TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::from_bytes(pool_script()),
            }]),
        },
        now,
    );
    let request_id = jds_commands(&drain(&mut core))
        .into_iter()
        .find_map(|c| match c {
            JdsCommand::DeclareMiningJob { request_id, .. } => Some(request_id),
            _ => None,
        })
        .unwrap();
    core.handle_jds(
        RouteId::DEFAULT,
        JdsEvent::ProvideMissingTransactions {
            request_id,
            positions: vec![9],
        },
        now,
    );
    let commands = jds_commands(&drain(&mut core));
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, JdsCommand::Close { .. })),
        "{commands:?}"
    );
    // Answers to requests never made are ignored.
    core.handle_jds(
        RouteId::DEFAULT,
        JdsEvent::DeclareSuccess {
            request_id: 999,
            new_token: vec![],
        },
        now,
    );
    core.handle_upstream(
        RouteId::DEFAULT,
        UpstreamEvent::CustomJobAccepted {
            request_id: 999,
            job_id: 1,
        },
        now,
    );
    assert!(drain(&mut core).is_empty());
}

#[test]
fn hostile_templates_are_refused_without_harm() {
    let now = Instant::now();
    let mut config = jd_config();
    config.templates.solo_payout_script = Some(solo_script());
    let mut core = Core::new(config, now);
    core.handle_template(TemplateEvent::Connected, now);
    let mut lying = template();
    lying.coinbase_tx_outputs_count = 50_000;
    core.handle_template(TemplateEvent::NewTemplate(lying), now);
    core.handle_template(TemplateEvent::SetNewPrevHash(tip()), now);
    core.handle_template(
        TemplateEvent::TransactionData {
            template_id: TEMPLATE_ID,
            transactions: vec![vec![0xde, 0xad]],
            excess_data: Vec::new(),
        },
        now,
    );
    core.handle_template(
        TemplateEvent::SetNewPrevHash(TemplateTip {
            template_id: 12345,
            ..tip()
        }),
        now,
    );
    core.tick(now + Duration::from_secs(5), 0);
    let snapshot = core.snapshot(now);
    assert_eq!(
        snapshot.routes[0].jobs_from, "pool",
        "no solo job from a broken template"
    );
}

#[test]
fn solo_mining_while_the_default_pool_is_down_pays_the_solo_output() {
    let now = Instant::now();
    let mut config = config();
    config.templates.solo_payout_script = Some(solo_script());
    let mut core = Core::new(config, now);
    let device = ready_device(&mut core, now);
    core.handle_template(TemplateEvent::Connected, now);
    let constraints = drain(&mut core);
    assert!(constraints.iter().any(|a| matches!(
        a,
        Action::ToTemplateProvider(TemplateCommand::CoinbaseOutputConstraints { max_additional_size, .. }) if *max_additional_size >= 31
    )));
    core.handle_template(TemplateEvent::NewTemplate(template()), now);
    core.handle_template(TemplateEvent::SetNewPrevHash(tip()), now);
    assert_eq!(
        core.snapshot(now).routes[0].jobs_from,
        "pool",
        "not before the grace time"
    );
    let later = now + solo::SOLO_AFTER;
    core.tick(later, 0);
    let lines = lines_to(&drain(&mut core), device);
    assert!(
        lines.iter().any(|l| l.contains("mining.notify")),
        "{lines:?}"
    );
    assert_eq!(core.snapshot(later).routes[0].jobs_from, "solo");

    let en2 = [9, 9, 9, 9];
    let nonce = grind(&core, device, &en2, device_target(), true);
    core.handle_device_request(device, submit(&core, &en2, nonce, None), later);
    let actions = drain(&mut core);
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::SubmitUpstream { .. })));
    let solution = actions
        .iter()
        .find_map(|a| match a {
            Action::ToTemplateProvider(TemplateCommand::SubmitSolution(s)) => Some(s.clone()),
            _ => None,
        })
        .expect("a solo block goes to the template provider");
    let coinbase: Transaction = deserialize(&solution.coinbase_tx).unwrap();
    assert_eq!(coinbase.output[0].script_pubkey.as_bytes(), solo_script());
    assert_eq!(coinbase.output[0].value.to_sat(), 5_000_000_000);

    // The pool comes back: its jobs again.
    open_channel(
        &mut core,
        7,
        1e-8,
        &POOL_PREFIX,
        POOL_EXTRANONCE_SIZE,
        later,
    );
    new_tip(&mut core, 3, [0x11; 32], 1_700_000_000, later);
    let lines = lines_to(&drain(&mut core), device);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&hex::encode(b"coinbase-prefix"))),
        "{lines:?}"
    );
    assert_eq!(core.snapshot(later).routes[0].jobs_from, "pool");
}
