//! The Job Declaration Server against a client written here, with templates and transactions
//! from the minesim template provider: tokens, declarations (with and without missing
//! transactions), refusals with the spec's codes, pushed solutions, and misbehaving clients.

mod jd_client;
mod sv2_client;
mod tp_client;

use bitcoin::consensus::Decodable;
use bitcoin::TxOut;
use common_messages_sv2::Protocol;
use jd_client::*;
use job_declaration_sv2::PushSolutionOwned;
use minesim::jds::{Jds, JdsConfig, JdsHandle, TOKEN_LEN};
use minesim::template_provider::TemplateProviderHandle;
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, JobDeclarationOwned};
use std::time::Duration;
use tp_client::*;

async fn start_jds(config: JdsConfig) -> JdsHandle {
    Jds::start(config).await.expect("jds starts")
}

fn jds_config() -> JdsConfig {
    JdsConfig::new("127.0.0.1:0".parse().unwrap())
}

/// A template provider, a JDS, and a custom job on the provider's current template.
struct Setup {
    tp: TemplateProviderHandle,
    jds: JdsHandle,
    job: CustomWork,
    client: JdClient,
}

async fn setup_with(config: JdsConfig) -> Setup {
    let tp = start(test_config()).await;
    let jds = start_jds(config).await;
    let mut tpc = TpClient::ready(tp.local_addr()).await;
    let work = tpc.recv_work().await;
    let transactions = tpc.transactions(work.template.template_id).await;
    let mut client = JdClient::ready(jds.local_addr()).await;
    let outputs = client
        .allocate(0)
        .await
        .coinbase_outputs
        .as_bytes()
        .to_vec();
    let job = CustomWork::new(work, transactions, &outputs, 16);
    Setup {
        tp,
        jds,
        job,
        client,
    }
}

#[tokio::test]
async fn tokens_are_unique_and_carry_the_pool_outputs() {
    let jds = start_jds(jds_config()).await;
    let stats = jds.stats();
    let mut c = JdClient::ready(jds.local_addr()).await;
    let a = c.allocate(7).await;
    let b = c.allocate(8).await;
    assert_eq!(a.mining_job_token.as_bytes().len(), TOKEN_LEN);
    assert_ne!(a.mining_job_token, b.mining_job_token);
    let outputs =
        Vec::<TxOut>::consensus_decode(&mut a.coinbase_outputs.as_bytes()).expect("outputs");
    assert_eq!(outputs, jds_config().coinbase_outputs);
    assert_eq!(
        outputs[0].script_pubkey.as_bytes(),
        minesim::pool::default_coinbase_script_pubkey()
    );
    assert_eq!(stats.tokens_allocated(), 2);
    assert!(tp_client::wait_for(|| stats.connected_clients() == 1).await);
    jds.shutdown().await;
}

#[tokio::test]
async fn unknown_transactions_are_asked_for_then_the_job_is_declared() {
    let Setup {
        tp,
        jds,
        job,
        mut client,
    } = setup_with(jds_config()).await;
    let stats = jds.stats();

    // First declaration: every transaction is unknown.
    let token = client.token(1).await;
    let reply = client.declare(&job, 1, token).await;
    let JobDeclarationOwned::ProvideMissingTransactions(missing) = reply else {
        panic!("expected ProvideMissingTransactions, got {reply}")
    };
    assert_eq!(missing.request_id, 1);
    let positions = missing.unknown_tx_position_list.into_inner();
    assert_eq!(
        positions,
        (0..job.transactions.len() as u16).collect::<Vec<_>>()
    );
    let txs = positions
        .iter()
        .map(|&p| job.raw_transaction(p as usize))
        .collect();
    let JobDeclarationOwned::DeclareMiningJobSuccess(ok) = client.provide(1, txs).await else {
        panic!("expected DeclareMiningJob.Success")
    };
    let new_token = ok.new_mining_job_token.as_bytes().to_vec();
    assert_eq!(stats.missing_tx_requests(), 1);
    assert_eq!(jds.known_transactions(), job.transactions.len());

    // The registry holds the job under the new token.
    let declared = jds.declared_jobs().get(&new_token).expect("registered");
    assert_eq!(declared.version, job.work.template.version);
    assert_eq!(declared.coinbase_outputs, job.outputs);
    assert_eq!(declared.wtxids, job.wtxids());
    assert_eq!(
        (declared.coinbase_tx_prefix, declared.coinbase_tx_suffix),
        job.declared_coinbase()
    );

    // The same transactions again: nothing is asked for.
    let token = client.token(2).await;
    let reply = client.declare(&job, 2, token).await;
    let JobDeclarationOwned::DeclareMiningJobSuccess(again) = reply else {
        panic!("expected an immediate DeclareMiningJob.Success, got {reply}")
    };
    assert_ne!(again.new_mining_job_token.as_bytes(), new_token.as_slice());
    assert_eq!(stats.missing_tx_requests(), 1);
    assert_eq!(stats.jobs_declared(), 2);
    assert_eq!(stats.declarations_refused(), 0);
    jds.shutdown().await;
    tp.shutdown().await;
}

#[tokio::test]
async fn bad_declarations_are_refused_with_the_spec_codes() {
    let Setup {
        tp,
        jds,
        job,
        mut client,
    } = setup_with(jds_config()).await;
    let stats = jds.stats();

    // A token never allocated, and one allocated on another connection.
    let reply = client.declare(&job, 1, vec![9; TOKEN_LEN]).await;
    assert_eq!(declare_error_code(&reply), "invalid-mining-job-token");
    let mut other = JdClient::ready(jds.local_addr()).await;
    let foreign = other.token(1).await;
    let reply = client.declare(&job, 2, foreign).await;
    assert_eq!(declare_error_code(&reply), "invalid-mining-job-token");

    // A token used twice.
    let token = client.declare_fully(&job, 3).await;
    assert!(!token.is_empty());
    let used = client.token(4).await;
    let _ = client.declare(&job, 4, used.clone()).await;
    let reply = client.declare(&job, 5, used).await;
    assert_eq!(declare_error_code(&reply), "invalid-mining-job-token");

    // A coinbase that does not pay the pool.
    let mut unpaid = job.clone();
    unpaid.outputs[0].script_pubkey = bitcoin::ScriptBuf::from_bytes(vec![0x51]);
    let token = client.token(6).await;
    let reply = client.declare(&unpaid, 6, token).await;
    assert_eq!(declare_error_code(&reply), "invalid-coinbase-tx");
    let JobDeclarationOwned::DeclareMiningJobError(e) = reply else {
        unreachable!()
    };
    let details = String::from_utf8(e.error_details.as_bytes().to_vec()).unwrap();
    assert!(details.contains("does not pay"), "details: {details}");

    // Bytes that are no coinbase at all.
    let token = client.token(7).await;
    let reply = client
        .declare_raw(7, token, 0x2000_0000, vec![1, 2, 3], vec![4, 5], Vec::new())
        .await;
    assert_eq!(declare_error_code(&reply), "invalid-coinbase-tx");

    // Transactions that do not hash to the declared wtxids.
    let mut unknown = job.clone();
    let mut tx = unknown.transactions[0].clone();
    tx.lock_time = bitcoin::absolute::LockTime::from_consensus(77);
    unknown.transactions = vec![tx];
    let token = client.token(8).await;
    let JobDeclarationOwned::ProvideMissingTransactions(m) =
        client.declare(&unknown, 8, token).await
    else {
        panic!("expected ProvideMissingTransactions")
    };
    assert_eq!(m.unknown_tx_position_list.into_inner(), vec![0]);
    let reply = client.provide(8, vec![job.raw_transaction(1)]).await;
    assert_eq!(declare_error_code(&reply), "invalid-job");

    assert_eq!(stats.refused_with("invalid-mining-job-token"), 3);
    assert_eq!(stats.refused_with("invalid-coinbase-tx"), 2);
    assert_eq!(stats.refused_with("invalid-job"), 1);
    assert_eq!(stats.declarations_refused(), 6);
    // The client is still served.
    assert_eq!(client.token(9).await.len(), TOKEN_LEN);
    jds.shutdown().await;
    tp.shutdown().await;
}

#[tokio::test]
async fn the_refusal_switch_refuses_every_declaration_until_turned_off() {
    let Setup {
        tp,
        jds,
        job,
        mut client,
    } = setup_with(jds_config()).await;
    jds.refuse_declarations(true);
    let token = client.token(1).await;
    let reply = client.declare(&job, 1, token).await;
    assert_eq!(declare_error_code(&reply), "invalid-job");
    jds.refuse_declarations(false);
    let token = client.declare_fully(&job, 2).await;
    assert!(jds.declared_jobs().contains(&token));
    assert_eq!(jds.stats().jobs_declared(), 1);
    jds.shutdown().await;
    tp.shutdown().await;
}

#[tokio::test]
async fn missing_transactions_not_provided_in_time_refuse_the_job() {
    let mut config = jds_config();
    config.missing_txs_timeout = Duration::from_millis(200);
    let Setup {
        tp,
        jds,
        job,
        mut client,
    } = setup_with(config).await;
    let token = client.token(1).await;
    let JobDeclarationOwned::ProvideMissingTransactions(_) = client.declare(&job, 1, token).await
    else {
        panic!("expected ProvideMissingTransactions")
    };
    let reply = client.recv().await;
    assert_eq!(declare_error_code(&reply), "missing-txs");
    // Late transactions for it are ignored; the connection goes on.
    client
        .send(JobDeclarationOwned::ProvideMissingTransactionsSuccess(
            job_declaration_sv2::ProvideMissingTransactionsSuccessOwned {
                request_id: 1,
                transaction_list: binary_sv2::Seq064KOwned::new(Vec::new()).unwrap(),
            },
        ))
        .await;
    assert_eq!(client.token(2).await.len(), TOKEN_LEN);
    assert!(jds.declared_jobs().is_empty());
    jds.shutdown().await;
    tp.shutdown().await;
}

#[tokio::test]
async fn pushed_solutions_are_recorded() {
    let jds = start_jds(jds_config()).await;
    let stats = jds.stats();
    let mut c = JdClient::ready(jds.local_addr()).await;
    c.send(JobDeclarationOwned::PushSolution(PushSolutionOwned {
        extranonce: vec![1, 2, 3, 4].try_into().unwrap(),
        prev_hash: binary_sv2::U256Owned::from([5u8; 32]),
        nonce: 42,
        ntime: 1_700_000_000,
        nbits: 0x207f_ffff,
        version: 0x2000_0000,
    }))
    .await;
    assert!(tp_client::wait_for(|| stats.solutions_pushed() == 1).await);
    let pushed = &stats.pushed_solutions()[0];
    assert_eq!(pushed.extranonce, vec![1, 2, 3, 4]);
    assert_eq!(pushed.prev_hash, [5u8; 32]);
    assert_eq!(
        (pushed.nonce, pushed.ntime, pushed.nbits, pushed.version),
        (42, 1_700_000_000, 0x207f_ffff, 0x2000_0000)
    );
    jds.shutdown().await;
}

#[tokio::test]
async fn setup_is_refused_for_other_protocols_and_coinbase_only_mode() {
    let jds = start_jds(jds_config()).await;
    for (protocol, flags, code) in [
        (Protocol::MiningProtocol, 0, "unsupported-protocol"),
        (
            Protocol::JobDeclarationProtocol,
            0,
            "missing-declare-tx-data-flag",
        ),
    ] {
        let mut c = JdClient::connect(jds.local_addr()).await;
        match c.setup(protocol, flags).await {
            AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionError(e)) => {
                assert_eq!(e.error_code.as_utf8_or_hex(), code)
            }
            other => panic!("expected SetupConnection.Error, got {other}"),
        }
        let end = tokio::time::timeout(T, c.rd.read()).await.expect("closed");
        assert!(end.is_err(), "connection closed after refusal");
    }
    assert_eq!(jds.stats().connected_clients(), 0);
    jds.shutdown().await;
}

#[tokio::test]
async fn a_malformed_or_unexpected_message_only_drops_its_client() {
    let jds = start_jds(jds_config()).await;
    let stats = jds.stats();
    let mut good = JdClient::ready(jds.local_addr()).await;
    let mut bad = JdClient::ready(jds.local_addr()).await;
    let mut wrong = JdClient::ready(jds.local_addr()).await;
    assert!(tp_client::wait_for(|| stats.connected_clients() == 3).await);

    bad.wr.write_raw_for_tests(&[0xab; 300]).await.unwrap();
    let end = tokio::time::timeout(T, bad.rd.read())
        .await
        .expect("closed");
    assert!(end.is_err());

    // A message only a server sends.
    wrong
        .send(JobDeclarationOwned::DeclareMiningJobSuccess(
            job_declaration_sv2::DeclareMiningJobSuccessOwned {
                request_id: 1,
                new_mining_job_token: vec![1].try_into().unwrap(),
            },
        ))
        .await;
    let end = tokio::time::timeout(T, wrong.rd.read())
        .await
        .expect("closed");
    assert!(end.is_err());

    assert!(tp_client::wait_for(|| stats.connected_clients() == 1).await);
    assert_eq!(good.token(1).await.len(), TOKEN_LEN);
    jds.shutdown().await;
}

#[tokio::test]
async fn a_restarted_jds_on_the_same_port_keeps_its_registry() {
    let config = jds_config();
    let registry = config.declared_jobs.clone();
    let Setup {
        tp,
        jds,
        job,
        mut client,
    } = setup_with(config.clone()).await;
    let token = client.declare_fully(&job, 1).await;
    let addr = jds.local_addr();
    jds.shutdown().await;
    let mut again = config;
    again.listen = addr;
    let jds = start_jds(again).await;
    assert_eq!(jds.local_addr(), addr);
    assert!(registry.contains(&token));
    let mut client = JdClient::ready(addr).await;
    assert_eq!(client.token(1).await.len(), TOKEN_LEN);
    jds.shutdown().await;
    tp.shutdown().await;
}
