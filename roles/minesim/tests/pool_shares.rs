mod pool_client;
mod sv2_client;

use common_messages_sv2::Protocol;
use mining_sv2::*;
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, MiningOwned};
use pool_client::*;
use std::time::Duration;
use work::Target;

#[tokio::test]
async fn extended_channel_share_is_accepted_and_accounted() {
    let mut config = test_config();
    // Only the batch size triggers acknowledgements here (the timer is tested elsewhere).
    config.share_batch_flush = Duration::from_secs(3600);
    let pool = start(config).await;
    let stats = pool.stats();
    let mut c = Client::connect_and_setup(pool.local_addr()).await;
    let w = c.extended_channel("alice.rig1").await;
    let difficulty = w.target().difficulty();
    assert!(
        (difficulty / easy_difficulty() - 1.0).abs() < 1e-6,
        "fixed difficulty honoured: {difficulty}"
    );

    let en = vec![7u8; w.open.extranonce_size as usize];
    let n1 = w.grind(&en, 0, true);
    let n2 = w.grind(&en, n1 + 1, true);
    c.send(w.share(10, &en, n1)).await;
    c.send(w.share(11, &en, n2)).await;
    // share_batch_size = 2: one Success for both.
    match c.recv_mining().await {
        MiningOwned::SubmitSharesSuccess(s) => {
            assert_eq!(s.channel_id, w.open.channel_id);
            assert_eq!(s.last_sequence_number, 11);
            assert_eq!(s.new_submits_accepted_count, 2);
            assert_eq!(s.new_shares_sum, (2.0 * difficulty) as u64);
        }
        other => panic!("expected success, got {other}"),
    }
    let user = stats.user("alice.rig1").expect("user stats");
    assert_eq!(user.accepted_shares, 2);
    assert!((user.accepted_work - 2.0 * difficulty).abs() < 1e-12 * difficulty.max(1.0));
    assert_eq!(user.rejected_total(), 0);
    assert_eq!(stats.open_channels(), 1);
    assert_eq!(stats.open_connections(), 1);
    assert_eq!(stats.blocks_found(), 0);

    // Another extranonce, another batch.
    let en2 = vec![8u8; w.open.extranonce_size as usize];
    let n3 = w.grind(&en2, 0, true);
    let n4 = w.grind(&en2, n3 + 1, true);
    c.send(w.share(12, &en2, n3)).await;
    c.send(w.share(13, &en2, n4)).await;
    match c.recv_mining().await {
        MiningOwned::SubmitSharesSuccess(s) => {
            assert_eq!(
                (s.last_sequence_number, s.new_submits_accepted_count),
                (13, 2)
            )
        }
        other => panic!("expected success, got {other}"),
    }
    assert_eq!(stats.user("alice.rig1").unwrap().accepted_shares, 4);
    pool.shutdown().await;
}

#[tokio::test]
async fn bad_nonce_and_duplicate_are_rejected() {
    let pool = start(test_config()).await;
    let stats = pool.stats();
    let mut c = Client::connect_and_setup(pool.local_addr()).await;
    let w = c.extended_channel("bob").await;
    let en = vec![1u8; w.open.extranonce_size as usize];

    let bad = w.grind(&en, 0, false);
    c.send(w.share(1, &en, bad)).await;
    match c.recv_mining().await {
        MiningOwned::SubmitSharesError(e) => {
            assert_eq!(e.sequence_number, 1);
            assert_eq!(
                e.error_code.as_utf8_or_hex(),
                ERROR_CODE_SUBMIT_SHARES_DIFFICULTY_TOO_LOW
            );
        }
        other => panic!("expected error, got {other}"),
    }

    let good = w.grind(&en, 0, true);
    c.send(w.share(2, &en, good)).await;
    c.send(w.share(3, &en, good)).await;
    match c.recv_mining().await {
        MiningOwned::SubmitSharesError(e) => {
            assert_eq!(e.sequence_number, 3);
            assert_eq!(
                e.error_code.as_utf8_or_hex(),
                ERROR_CODE_SUBMIT_SHARES_DUPLICATE_SHARE
            );
        }
        other => panic!("expected duplicate error, got {other}"),
    }
    // Unknown job id.
    let mut wrong_job = w.share(4, &en, good);
    if let MiningOwned::SubmitSharesExtended(s) = &mut wrong_job {
        s.job_id += 1000;
    }
    c.send(wrong_job).await;
    match c.recv_mining().await {
        MiningOwned::SubmitSharesError(e) => assert_eq!(
            e.error_code.as_utf8_or_hex(),
            ERROR_CODE_SUBMIT_SHARES_INVALID_JOB_ID
        ),
        other => panic!("expected invalid-job-id, got {other}"),
    }
    // The good one is acknowledged by the flush timer.
    match c.recv_mining().await {
        MiningOwned::SubmitSharesSuccess(s) => assert_eq!(
            (s.last_sequence_number, s.new_submits_accepted_count),
            (2, 1)
        ),
        other => panic!("expected success, got {other}"),
    }
    let user = stats.user("bob").unwrap();
    assert_eq!(user.accepted_shares, 1);
    assert_eq!(
        user.rejected_with(ERROR_CODE_SUBMIT_SHARES_DIFFICULTY_TOO_LOW),
        1
    );
    assert_eq!(
        user.rejected_with(ERROR_CODE_SUBMIT_SHARES_DUPLICATE_SHARE),
        1
    );
    assert_eq!(
        user.rejected_with(ERROR_CODE_SUBMIT_SHARES_INVALID_JOB_ID),
        1
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn standard_channel_share_is_accepted() {
    let pool = start(test_config()).await;
    let stats = pool.stats();
    let mut c = Client::connect_and_setup(pool.local_addr()).await;
    c.send(MiningOwned::OpenStandardMiningChannel(
        OpenStandardMiningChannelOwned {
            request_id: 9,
            user_identity: s255("carol"),
            nominal_hash_rate: 1.0e6,
            max_target: binary_sv2::U256Owned::from([0xffu8; 32]),
        },
    ))
    .await;
    let MiningOwned::OpenStandardMiningChannelSuccess(ok) = c.recv_mining().await else {
        panic!("refused")
    };
    assert_eq!(ok.request_id, 9);
    let MiningOwned::NewMiningJob(job) = c.recv_mining().await else {
        panic!("expected job")
    };
    let MiningOwned::SetNewPrevHash(prev) = c.recv_mining().await else {
        panic!("expected prevhash")
    };
    let target = Target::from_le_bytes(arr(ok.target.as_bytes()));
    let header = |nonce| work::BlockHeader {
        version: job.version,
        prev_hash: arr(prev.prev_hash.as_bytes()),
        merkle_root: arr(job.merkle_root.as_bytes()),
        ntime: prev.min_ntime,
        nbits: prev.nbits,
        nonce,
    };
    let nonce = (0..u32::MAX)
        .find(|&n| target.is_met_by(&header(n).hash()))
        .unwrap();
    let share = |seq, nonce| {
        MiningOwned::SubmitSharesStandard(SubmitSharesStandardOwned {
            channel_id: ok.channel_id,
            sequence_number: seq,
            job_id: job.job_id,
            nonce,
            ntime: prev.min_ntime,
            version: job.version,
        })
    };
    c.send(share(1, nonce)).await;
    match c.recv_mining().await {
        MiningOwned::SubmitSharesSuccess(s) => assert_eq!(
            (s.last_sequence_number, s.new_submits_accepted_count),
            (1, 1)
        ),
        other => panic!("expected success, got {other}"),
    }
    let bad = (0..u32::MAX)
        .find(|&n| !target.is_met_by(&header(n).hash()))
        .unwrap();
    c.send(share(2, bad)).await;
    match c.recv_mining().await {
        MiningOwned::SubmitSharesError(e) => assert_eq!(
            e.error_code.as_utf8_or_hex(),
            ERROR_CODE_SUBMIT_SHARES_DIFFICULTY_TOO_LOW
        ),
        other => panic!("expected error, got {other}"),
    }
    let user = stats.user("carol").unwrap();
    assert_eq!(user.accepted_shares, 1);
    assert!((user.accepted_work - target.difficulty()).abs() <= 1e-9 * target.difficulty());
    pool.shutdown().await;
}

#[tokio::test]
async fn block_found_advances_the_chain() {
    let mut config = test_config();
    config.nbits = 0x207f_ffff; // regtest: about every other hash is a block
    let pool = start(config).await;
    let stats = pool.stats();
    let h0 = stats.tip_height();
    let mut c = Client::connect_and_setup(pool.local_addr()).await;
    let w = c.extended_channel("dave").await;
    let en = vec![3u8; w.open.extranonce_size as usize];
    let network = Target::from_compact(0x207f_ffff).unwrap();
    let nonce = (0..u32::MAX)
        .find(|&n| {
            let h = w.header(&en, n).hash();
            network.is_met_by(&h) && w.target().is_met_by(&h)
        })
        .unwrap();
    let block_hash = w.header(&en, nonce).hash();
    c.send(w.share(5, &en, nonce)).await;
    // Success at once (blocks flush the batch), then the new tip's job and prev hash.
    let MiningOwned::SubmitSharesSuccess(s) = c.recv_mining().await else {
        panic!("expected success")
    };
    assert_eq!(s.last_sequence_number, 5);
    let MiningOwned::NewExtendedMiningJob(job) = c.recv_mining().await else {
        panic!("expected job")
    };
    let MiningOwned::SetNewPrevHash(prev) = c.recv_mining().await else {
        panic!("expected prevhash")
    };
    assert_eq!(prev.job_id, job.job_id);
    assert_eq!(
        arr(prev.prev_hash.as_bytes()),
        block_hash,
        "new tip builds on the found block"
    );
    assert_eq!(stats.blocks_found(), 1);
    assert_eq!(stats.tip_height(), h0 + 1);
    assert_eq!(stats.user("dave").unwrap().blocks_found, 1);
    // The old job is stale now.
    let n2 = w.grind(&en, nonce + 1, true);
    c.send(w.share(6, &en, n2)).await;
    let MiningOwned::SubmitSharesError(e) = c.recv_mining().await else {
        panic!("expected error")
    };
    assert_eq!(
        e.error_code.as_utf8_or_hex(),
        ERROR_CODE_SUBMIT_SHARES_STALE_SHARE
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn block_interval_sends_new_prev_hash() {
    let mut config = test_config();
    config.block_interval = Some(Duration::from_millis(300));
    let pool = start(config).await;
    let mut c = Client::connect_and_setup(pool.local_addr()).await;
    let w = c.extended_channel("erin").await;
    let MiningOwned::NewExtendedMiningJob(job) = c.recv_mining().await else {
        panic!("expected job")
    };
    let MiningOwned::SetNewPrevHash(prev) = c.recv_mining().await else {
        panic!("expected prevhash")
    };
    assert_eq!(prev.job_id, job.job_id);
    assert_ne!(prev.prev_hash.as_bytes(), w.prev.prev_hash.as_bytes());
    assert!(pool.stats().tip_height() > 1000);
    pool.shutdown().await;
}

#[tokio::test]
async fn setup_and_open_errors() {
    let pool = start(test_config()).await;
    let mut c = Client::connect(pool.local_addr()).await;
    match c.setup(Protocol::TemplateDistributionProtocol).await {
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionError(e)) => {
            assert_eq!(e.error_code.as_utf8_or_hex(), "unsupported-protocol")
        }
        other => panic!("expected SetupConnectionError, got {other}"),
    }
    let mut c = Client::connect_and_setup(pool.local_addr()).await;
    match c.open_extended("frank", 31).await {
        MiningOwned::OpenMiningChannelError(e) => {
            assert_eq!(
                e.error_code.as_utf8_or_hex(),
                ERROR_CODE_OPEN_MINING_CHANNEL_MIN_EXTRANONCE_SIZE_TOO_LARGE
            )
        }
        other => panic!("expected OpenMiningChannelError, got {other}"),
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn update_and_close_channel() {
    let pool = start(test_config()).await;
    let stats = pool.stats();
    let mut c = Client::connect_and_setup(pool.local_addr()).await;
    let w = c.extended_channel("gina").await;
    // Ask for a harder target: the pool answers SetTarget and a fresh job at that target.
    let mut max = w.target().to_le_bytes();
    max[31] = 0x00;
    max[30] = 0x01;
    c.send(MiningOwned::UpdateChannel(UpdateChannelOwned {
        channel_id: w.open.channel_id,
        nominal_hash_rate: 1.0,
        maximum_target: binary_sv2::U256Owned::from(max),
    }))
    .await;
    let MiningOwned::SetTarget(t) = c.recv_mining().await else {
        panic!("expected SetTarget")
    };
    assert!(Target::from_le_bytes(arr(t.maximum_target.as_bytes())) <= Target::from_le_bytes(max));
    let MiningOwned::NewExtendedMiningJob(job) = c.recv_mining().await else {
        panic!("expected job")
    };
    assert!(
        job.min_ntime.clone().into_inner().is_some(),
        "refresh job is active at once"
    );
    assert_eq!(stats.open_channels(), 1);
    c.send(MiningOwned::CloseChannel(CloseChannelOwned {
        channel_id: w.open.channel_id,
        reason_code: s255("bye"),
    }))
    .await;
    let en = vec![0u8; w.open.extranonce_size as usize];
    c.send(w.share(1, &en, 0)).await;
    let MiningOwned::SubmitSharesError(e) = c.recv_mining().await else {
        panic!("expected error")
    };
    assert_eq!(
        e.error_code.as_utf8_or_hex(),
        ERROR_CODE_SUBMIT_SHARES_INVALID_CHANNEL_ID
    );
    assert_eq!(stats.open_channels(), 0);
    pool.shutdown().await;
}
