//! The template provider against a Template Distribution client written here: setup, templates,
//! transaction data checked against the merkle path, solutions valid, invalid and stale, and
//! misbehaving clients.

mod sv2_client;
mod tp_client;

use bitcoin::hashes::Hash;
use common_messages_sv2::Protocol;
use minesim::chain::bip34_prefix;
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, TemplateDistributionOwned};
use std::time::Duration;
use tp_client::*;

#[tokio::test]
async fn template_data_matches_the_merkle_path_and_a_block_advances_the_tip() {
    let tp = start(test_config()).await;
    let stats = tp.stats();
    let mut c = TpClient::ready(tp.local_addr()).await;
    let work = c.recv_work().await;
    assert!(wait_for(|| stats.connected_clients() == 1).await);

    // The template: BIP34 height, reward to distribute, a real merkle path, the chosen nbits.
    let height = stats.tip_height() as u32;
    assert_eq!(
        work.template.coinbase_prefix.as_bytes(),
        bip34_prefix(height)
    );
    assert!(work.template.coinbase_tx_value_remaining > 0);
    assert_eq!(work.prev.n_bits, HARD_NBITS);
    let path = work.merkle_path();
    assert!(!path.is_empty());

    // The transactions behind it hash to the advertised path: the block's merkle root computed
    // by the bitcoin crate over every txid equals the one folded from the path.
    let txs = c.transactions(work.template.template_id).await;
    assert!(!txs.is_empty());
    let coinbase = work.coinbase(b"\x01\x02\x03\x04");
    let coinbase_tx: bitcoin::Transaction =
        bitcoin::consensus::encode::deserialize(&coinbase).unwrap();
    let all_txids = std::iter::once(coinbase_tx.compute_txid())
        .chain(txs.iter().map(|t| t.compute_txid()))
        .map(|t| t.to_raw_hash());
    let root = bitcoin::merkle_tree::calculate_root(all_txids).unwrap();
    assert_eq!(
        root.to_byte_array(),
        work.header(&coinbase, 0).merkle_root,
        "transaction data does not match the merkle path"
    );
    assert_eq!(txs[0].compute_txid().to_byte_array(), path[0]);

    // A valid solution: the tip moves on top of it and a new template follows at once.
    let (solution, hash) = work.solve(b"\x01\x02\x03\x04");
    c.send(solution).await;
    let next = c.recv_work().await;
    assert_ne!(next.template.template_id, work.template.template_id);
    assert_eq!(arr(next.prev.prev_hash.as_bytes()), hash);
    assert_eq!(
        next.template.coinbase_prefix.as_bytes(),
        bip34_prefix(height + 1)
    );
    assert_eq!(stats.tip_height(), u64::from(height) + 1);
    let found = stats.blocks_found();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].height, height);
    assert_eq!(found[0].hash, hash);
    assert_eq!(found[0].template_id, work.template.template_id);
    assert_eq!(found[0].coinbase, coinbase);
    assert_eq!(stats.invalid_solutions(), 0);

    // The new template has its own transactions.
    let next_txs = c.transactions(next.template.template_id).await;
    assert_eq!(
        next_txs[0].compute_txid().to_byte_array(),
        next.merkle_path()[0]
    );
    assert_ne!(next_txs, txs);
    tp.shutdown().await;
}

#[tokio::test]
async fn invalid_solutions_are_counted_and_do_not_move_the_tip() {
    let tp = start(test_config()).await;
    let stats = tp.stats();
    let mut c = TpClient::ready(tp.local_addr()).await;
    let work = c.recv_work().await;
    let height = stats.tip_height();

    // Hash above the network target.
    let coinbase = work.coinbase(b"xx");
    let bad_nonce = work.grind(&coinbase, false);
    c.send(work.solution(coinbase.clone(), bad_nonce)).await;
    // A hash that meets the target, but with a coinbase lacking the BIP34 height.
    let no_height = work.coinbase_with_script_sig(b"\x04no height here".to_vec());
    let nonce = work.grind(&no_height, true);
    c.send(work.solution(no_height, nonce)).await;
    // Bytes that are no transaction.
    c.send(work.solution(vec![0xde, 0xad, 0xbe, 0xef], 0)).await;
    // A template that was never offered.
    let good_nonce = work.grind(&coinbase, true);
    let TemplateDistributionOwned::SubmitSolution(mut unknown) =
        work.solution(coinbase.clone(), good_nonce)
    else {
        unreachable!()
    };
    unknown.template_id += 1000;
    c.send(TemplateDistributionOwned::SubmitSolution(unknown))
        .await;

    assert!(
        wait_for(|| stats.invalid_solutions() == 4).await,
        "invalid solutions counted: {}",
        stats.invalid_solutions()
    );
    assert_eq!(stats.tip_height(), height);
    assert!(stats.blocks_found().is_empty());

    // The client is still served, and the same template still takes a valid solution.
    c.send(work.solution(coinbase, good_nonce)).await;
    let next = c.recv_work().await;
    assert_eq!(stats.tip_height(), height + 1);
    assert_ne!(next.template.template_id, work.template.template_id);
    tp.shutdown().await;
}

#[tokio::test]
async fn unknown_template_data_is_refused() {
    let tp = start(test_config()).await;
    let mut c = TpClient::ready(tp.local_addr()).await;
    let work = c.recv_work().await;
    let missing = work.template.template_id + 77;
    match c.request_tx_data(missing).await {
        TemplateDistributionOwned::RequestTransactionDataError(e) => {
            assert_eq!(e.template_id, missing);
            assert_eq!(e.error_code.as_utf8_or_hex(), "template-id-not-found");
        }
        other => panic!("expected RequestTransactionData.Error, got {other}"),
    }
    tp.shutdown().await;
}

#[tokio::test]
async fn other_protocols_are_refused() {
    let tp = start(test_config()).await;
    let mut c = TpClient::connect(tp.local_addr()).await;
    match c.setup(Protocol::MiningProtocol).await {
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionError(e)) => {
            assert_eq!(e.error_code.as_utf8_or_hex(), "unsupported-protocol")
        }
        other => panic!("expected SetupConnection.Error, got {other}"),
    }
    let end = tokio::time::timeout(T, c.rd.read()).await.expect("closed");
    assert!(end.is_err(), "connection closed after refusal");
    assert_eq!(tp.stats().connected_clients(), 0);
    tp.shutdown().await;
}

#[tokio::test]
async fn every_client_follows_the_tip_and_a_late_solution_is_stale() {
    let tp = start(test_config()).await;
    let stats = tp.stats();
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(TpClient::ready(tp.local_addr()).await);
    }
    let mut works = Vec::new();
    for c in clients.iter_mut() {
        works.push(c.recv_work().await);
    }
    assert!(works
        .iter()
        .all(|w| w.template.template_id == works[0].template.template_id));

    // Client 0 finds the block; everyone moves to the next tip.
    let (solution, hash) = works[0].solve(b"zero");
    clients[0].send(solution).await;
    for c in clients.iter_mut() {
        let next = c.recv_work().await;
        assert_eq!(arr(next.prev.prev_hash.as_bytes()), hash);
    }
    // Client 1's block on the old tip comes too late: valid, stale, not invalid.
    let (late, _) = works[1].solve(b"one");
    clients[1].send(late).await;
    assert!(wait_for(|| stats.stale_solutions() == 1).await);
    assert_eq!(stats.invalid_solutions(), 0);
    assert_eq!(stats.blocks_found().len(), 1);
    assert_eq!(stats.connected_clients(), 3);

    // A client that leaves is no longer counted.
    drop(clients.pop());
    assert!(wait_for(|| stats.connected_clients() == 2).await);
    tp.shutdown().await;
}

#[tokio::test]
async fn templates_wait_for_coinbase_output_constraints() {
    let tp = start(test_config()).await;
    let mut c = TpClient::connect(tp.local_addr()).await;
    let AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(_)) =
        c.setup(Protocol::TemplateDistributionProtocol).await
    else {
        panic!("setup refused")
    };
    // Before constraints, the only answer is the one asked for.
    match c.request_tx_data(1).await {
        TemplateDistributionOwned::RequestTransactionDataSuccess(ok) => {
            assert_eq!(ok.template_id, 1)
        }
        other => panic!("expected transaction data, got {other}"),
    }
    assert_eq!(tp.stats().templates_sent(), 0);
    tp.shutdown().await;
}

#[tokio::test]
async fn periodic_templates_keep_the_tip_and_periodic_blocks_move_it() {
    let mut config = test_config();
    config.template_interval = Some(Duration::from_millis(150));
    let tp = start(config).await;
    let mut c = TpClient::ready(tp.local_addr()).await;
    let first = c.recv_work().await;
    let refreshed = c.recv_template().await;
    assert!(!refreshed.future_template, "same tip: active at once");
    assert!(refreshed.template_id > first.template.template_id);
    assert_eq!(refreshed.coinbase_prefix, first.template.coinbase_prefix);
    assert_ne!(refreshed.merkle_path, first.template.merkle_path);
    // A solution for the refreshed template builds on the same prev hash.
    let work = Work {
        template: refreshed,
        prev: first.prev.clone(),
    };
    let (solution, hash) = work.solve(b"r");
    c.send(solution).await;
    // Refreshes may be in flight; skip them until the new tip arrives.
    let next = loop {
        let t = c.recv_template().await;
        if t.future_template {
            let TemplateDistributionOwned::SetNewPrevHash(prev) = c.recv_tdp().await else {
                panic!("expected SetNewPrevHash")
            };
            break prev;
        }
    };
    assert_eq!(arr(next.prev_hash.as_bytes()), hash);
    tp.shutdown().await;

    let mut config = test_config();
    config.block_interval = Some(Duration::from_millis(150));
    let tp = start(config).await;
    let stats = tp.stats();
    let mut c = TpClient::ready(tp.local_addr()).await;
    let first = c.recv_work().await;
    let second = c.recv_work().await;
    assert_ne!(second.prev.prev_hash, first.prev.prev_hash);
    assert!(stats.tip_height() > 1000);
    assert!(stats.blocks_found().is_empty());
    tp.shutdown().await;
}

#[tokio::test]
async fn a_malformed_client_only_drops_itself() {
    let tp = start(test_config()).await;
    let stats = tp.stats();
    let mut good = TpClient::ready(tp.local_addr()).await;
    let work = good.recv_work().await;
    let mut bad = TpClient::ready(tp.local_addr()).await;
    let _ = bad.recv_work().await;
    assert!(wait_for(|| stats.connected_clients() == 2).await);

    bad.wr.write_raw_for_tests(&[0xab; 300]).await.unwrap();
    let end = tokio::time::timeout(T, bad.rd.read())
        .await
        .expect("closed");
    assert!(end.is_err());
    assert!(wait_for(|| stats.connected_clients() == 1).await);

    // A mining message on a template distribution connection is a protocol violation too.
    let mut wrong = TpClient::ready(tp.local_addr()).await;
    let _ = wrong.recv_work().await;
    wrong
        .wr
        .write(parsers_sv2::MiningOwned::CloseChannel(
            mining_sv2::CloseChannelOwned {
                channel_id: 1,
                reason_code: s255("bye"),
            },
        ))
        .await
        .unwrap();
    let end = tokio::time::timeout(T, wrong.rd.read())
        .await
        .expect("closed");
    assert!(end.is_err());

    let txs = good.transactions(work.template.template_id).await;
    assert!(!txs.is_empty());
    assert!(wait_for(|| stats.connected_clients() == 1).await);
    tp.shutdown().await;
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_setup_deadline() {
    let mut config = test_config();
    config.handshake_timeout = Duration::from_millis(300);
    let tp = start(config).await;
    let mut c = TpClient::connect(tp.local_addr()).await;
    let end = tokio::time::timeout(T, c.rd.read()).await.expect("closed");
    assert!(end.is_err());
    tp.shutdown().await;
}
