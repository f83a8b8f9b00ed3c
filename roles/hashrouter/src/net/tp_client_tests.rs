//! The template provider client against minesim's template provider on 127.0.0.1 (real Noise,
//! real templates, solutions checked by sha256d): templates after our constraints, transaction
//! data, solutions valid and invalid, a restart, a wrong key; and the translation of hostile
//! messages.

use std::time::Duration;

use bitcoin::hashes::Hash;
use minesim::chain::bip34_prefix;
use minesim::template_provider::{
    TemplateProvider, TemplateProviderConfig, TemplateProviderHandle,
};
use parsers_sv2::{AnyMessageOwned, MiningOwned, TemplateDistributionOwned};
use tokio::sync::{mpsc, watch};

use super::sv2_client::SessionError;
use super::test_server::{next_input, test_authority, WAIT};
use super::tp_client::{run, template_event, TemplateProviderSettings};
use crate::core::{Solution, Template, TemplateCommand, TemplateEvent, TemplateTip};
use crate::node::CoreInput;

/// About one block per 65 536 hashes: solutions are found fast and most nonces fail.
const HARD_NBITS: u32 = 0x1f00_ffff;

async fn start_tp(
    listen: &str,
    keys: Option<&sv2_conn::keys::AuthorityKeypair>,
) -> TemplateProviderHandle {
    let mut config = TemplateProviderConfig::new(listen.parse().unwrap());
    config.nbits = HARD_NBITS;
    if let Some(keys) = keys {
        config.authority_public = keys.public_string();
        config.authority_secret = keys.secret_string();
    }
    TemplateProvider::start(config).await.unwrap()
}

/// The client under test, its command queue, what it tells the core, its shutdown switch.
struct Client {
    commands: mpsc::Sender<TemplateCommand>,
    inbox: async_channel::Receiver<CoreInput>,
    shutdown: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl Client {
    fn start(address: String) -> Client {
        let settings = TemplateProviderSettings {
            endpoints: vec![address],
            authority: test_authority(),
            connect_timeout: Duration::from_secs(2),
            reconnect_min: Duration::from_millis(20),
            reconnect_max: Duration::from_millis(100),
        };
        let (commands, commands_rx) = mpsc::channel(16);
        let (inbox_tx, inbox) = async_channel::bounded(64);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let handle = tokio::spawn(run(settings, inbox_tx, commands_rx, shutdown_rx));
        Client {
            commands,
            inbox,
            shutdown,
            handle,
        }
    }

    async fn event(&self) -> TemplateEvent {
        match next_input(&self.inbox).await {
            CoreInput::Template(event) => event,
            other => panic!("expected a template event, got {other:?}"),
        }
    }

    async fn send(&self, command: TemplateCommand) {
        self.commands.send(command).await.unwrap();
    }

    async fn constraints(&self) {
        self.send(TemplateCommand::CoinbaseOutputConstraints {
            max_additional_size: 100,
            max_additional_sigops: 4,
        })
        .await;
    }

    /// A future template and the prev hash that activates it.
    async fn work(&self) -> (Template, TemplateTip) {
        let TemplateEvent::NewTemplate(template) = self.event().await else {
            panic!("expected NewTemplate");
        };
        assert!(template.future, "a new tip starts with a future template");
        let TemplateEvent::SetNewPrevHash(tip) = self.event().await else {
            panic!("expected SetNewPrevHash");
        };
        assert_eq!(tip.template_id, template.template_id);
        (template, tip)
    }

    async fn stop(self) {
        self.shutdown.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.handle)
            .await
            .expect("the client stops")
            .unwrap();
    }
}

/// A coinbase for `template` paying everything to one output, with `extranonce` after the
/// height, and its txid.
fn coinbase(template: &Template, extranonce: &[u8]) -> (Vec<u8>, [u8; 32]) {
    use bitcoin::{absolute::LockTime, transaction::Version, Amount, OutPoint, ScriptBuf};
    let mut script_sig = template.coinbase_prefix.clone();
    script_sig.extend_from_slice(extranonce);
    let tx = bitcoin::Transaction {
        version: Version(template.coinbase_tx_version as i32),
        lock_time: LockTime::from_consensus(template.coinbase_tx_locktime),
        input: vec![bitcoin::TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(script_sig),
            sequence: bitcoin::Sequence(template.coinbase_tx_input_sequence),
            witness: bitcoin::Witness::new(),
        }],
        output: vec![bitcoin::TxOut {
            value: Amount::from_sat(template.coinbase_tx_value_remaining),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }],
    };
    let txid = tx.compute_txid().to_byte_array();
    (bitcoin::consensus::encode::serialize(&tx), txid)
}

/// The first nonce whose block header does (`meets`) or does not meet the network target,
/// and the header's hash.
fn grind(template: &Template, tip: &TemplateTip, txid: [u8; 32], meets: bool) -> (u32, [u8; 32]) {
    let target = work::Target::from_compact(tip.nbits).unwrap();
    let mut header = work::BlockHeader {
        version: template.version,
        prev_hash: tip.prev_hash,
        merkle_root: work::merkle_root(txid, &template.merkle_path),
        ntime: tip.header_timestamp,
        nbits: tip.nbits,
        nonce: 0,
    };
    loop {
        if target.is_met_by(&header.hash()) == meets {
            return (header.nonce, header.hash());
        }
        header.nonce += 1;
    }
}

fn solution(template: &Template, tip: &TemplateTip, coinbase_tx: Vec<u8>, nonce: u32) -> Solution {
    Solution {
        template_id: template.template_id,
        version: template.version,
        header_timestamp: tip.header_timestamp,
        header_nonce: nonce,
        coinbase_tx,
    }
}

/// Polls `condition` until it holds or [`WAIT`] passes.
async fn wait_for(condition: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

#[tokio::test]
async fn templates_follow_constraints_transaction_data_arrives_and_a_solution_makes_a_block() {
    let tp = start_tp("127.0.0.1:0", None).await;
    let stats = tp.stats();
    let client = Client::start(tp.local_addr().to_string());
    assert_eq!(client.event().await, TemplateEvent::Connected);
    client.constraints().await;
    let (template, tip) = client.work().await;
    let height = stats.tip_height() as u32;
    assert_eq!(template.coinbase_prefix, bip34_prefix(height));
    assert_eq!(tip.nbits, HARD_NBITS);
    assert!(template.coinbase_tx_value_remaining > 0);
    assert!(!template.merkle_path.is_empty());

    // The template's transactions, the first of which is the merkle path's first node.
    client
        .send(TemplateCommand::RequestTransactionData {
            template_id: template.template_id,
        })
        .await;
    let TemplateEvent::TransactionData {
        template_id,
        transactions,
        ..
    } = client.event().await
    else {
        panic!("expected transaction data");
    };
    assert_eq!(template_id, template.template_id);
    assert!(!transactions.is_empty());
    let first: bitcoin::Transaction =
        bitcoin::consensus::encode::deserialize(&transactions[0]).unwrap();
    assert_eq!(
        first.compute_txid().to_byte_array(),
        template.merkle_path[0]
    );
    let unknown = template.template_id + 1000;
    client
        .send(TemplateCommand::RequestTransactionData {
            template_id: unknown,
        })
        .await;
    assert!(matches!(
        client.event().await,
        TemplateEvent::TransactionDataError { template_id, code }
            if template_id == unknown && code == "template-id-not-found"
    ));

    // A hash above the network target is refused by the provider.
    let (coinbase_tx, txid) = coinbase(&template, &[1, 2, 3, 4]);
    let (bad_nonce, _) = grind(&template, &tip, txid, false);
    client
        .send(TemplateCommand::SubmitSolution(solution(
            &template,
            &tip,
            coinbase_tx.clone(),
            bad_nonce,
        )))
        .await;
    assert!(wait_for(|| stats.invalid_solutions() == 1).await);
    assert_eq!(stats.blocks_found_total(), 0);

    // A real block: the provider moves to the next height on top of it.
    let (nonce, hash) = grind(&template, &tip, txid, true);
    client
        .send(TemplateCommand::SubmitSolution(solution(
            &template,
            &tip,
            coinbase_tx.clone(),
            nonce,
        )))
        .await;
    let (next, next_tip) = client.work().await;
    assert_eq!(next_tip.prev_hash, hash);
    assert_eq!(next.coinbase_prefix, bip34_prefix(height + 1));
    let found = stats.blocks_found();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].hash, hash);
    assert_eq!(found[0].coinbase, coinbase_tx);
    client.stop().await;
    tp.shutdown().await;
}

#[tokio::test]
async fn the_client_reconnects_when_the_provider_restarts() {
    let tp = start_tp("127.0.0.1:0", None).await;
    let address = tp.local_addr().to_string();
    let client = Client::start(address.clone());
    assert_eq!(client.event().await, TemplateEvent::Connected);
    client.constraints().await;
    client.work().await;

    tp.shutdown().await;
    let TemplateEvent::Disconnected { reason } = client.event().await else {
        panic!("expected Disconnected");
    };
    assert!(!reason.is_empty());
    // Attempts while the provider is away are reported too; skip them.
    let tp = start_tp(&address, None).await;
    loop {
        match client.event().await {
            TemplateEvent::Connected => break,
            TemplateEvent::Disconnected { reason } => {
                assert!(reason.contains(&address), "{reason}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    client.constraints().await;
    client.work().await;
    assert!(wait_for(|| tp.stats().connected_clients() == 1).await);
    client.stop().await;
    tp.shutdown().await;
}

#[tokio::test]
async fn a_provider_with_another_key_is_refused_with_the_config_key_named() {
    let keys = sv2_conn::keys::generate();
    let tp = start_tp("127.0.0.1:0", Some(&keys)).await;
    let client = Client::start(tp.local_addr().to_string());
    let TemplateEvent::Disconnected { reason } = client.event().await else {
        panic!("expected Disconnected");
    };
    assert!(
        reason.contains("template_provider.authority_pubkey"),
        "{reason}"
    );
    assert_eq!(tp.stats().connected_clients(), 0);
    client.stop().await;
    tp.shutdown().await;
}

fn new_template(prefix: Vec<u8>, outputs: Vec<u8>, count: u32) -> AnyMessageOwned {
    AnyMessageOwned::TemplateDistribution(TemplateDistributionOwned::NewTemplate(
        template_distribution_sv2::NewTemplateOwned {
            template_id: 1,
            future_template: true,
            version: 0x2000_0000,
            coinbase_tx_version: 2,
            coinbase_prefix: prefix.try_into().unwrap(),
            coinbase_tx_input_sequence: u32::MAX,
            coinbase_tx_value_remaining: 5_000_000_000,
            coinbase_tx_outputs_count: count,
            coinbase_tx_outputs: outputs.try_into().unwrap(),
            coinbase_tx_locktime: 0,
            merkle_path: binary_sv2::Seq0255Owned::new(vec![[3u8; 32].into()]).unwrap(),
        },
    ))
}

/// A zero-value OP_RETURN output, consensus-serialized.
fn op_return_output() -> Vec<u8> {
    let mut out = vec![0u8; 8];
    out.extend_from_slice(&[2, 0x6a, 0x00]);
    out
}

#[test]
fn well_formed_templates_translate_field_for_field() {
    let event = template_event(new_template(vec![3, 1, 2, 3], op_return_output(), 1)).unwrap();
    let TemplateEvent::NewTemplate(t) = event else {
        panic!("expected NewTemplate");
    };
    assert_eq!(t.coinbase_prefix, vec![3, 1, 2, 3]);
    assert_eq!(t.coinbase_tx_outputs, op_return_output());
    assert_eq!(t.coinbase_tx_outputs_count, 1);
    assert_eq!(t.merkle_path, vec![[3u8; 32]]);
    assert!(t.future);
}

#[test]
fn hostile_template_provider_messages_end_the_session_with_a_reason() {
    let protocol = |message| match template_event(message) {
        Err(SessionError::Protocol(reason)) => reason,
        other => panic!("expected a protocol violation, got {other:?}"),
    };
    assert!(protocol(new_template(vec![1; 9], Vec::new(), 0)).contains("coinbase prefix"));
    // Outputs that do not match their count, or do not decode.
    assert!(protocol(new_template(vec![1], op_return_output(), 2)).contains("coinbase outputs"));
    assert!(protocol(new_template(vec![1], op_return_output(), 0)).contains("bytes after"));
    assert!(protocol(new_template(vec![1], vec![0xff; 5], 1)).contains("do not decode"));
    // A client's message, and another protocol's.
    let constraints = AnyMessageOwned::TemplateDistribution(
        TemplateDistributionOwned::CoinbaseOutputConstraints(
            template_distribution_sv2::CoinbaseOutputConstraintsOwned {
                coinbase_output_max_additional_size: 1,
                coinbase_output_max_additional_sigops: 1,
            },
        ),
    );
    assert!(protocol(constraints).contains("unexpected"));
    let mining = AnyMessageOwned::Mining(MiningOwned::SetTarget(mining_sv2::SetTargetOwned {
        channel_id: 1,
        maximum_target: [0u8; 32].into(),
    }));
    assert!(protocol(mining).contains("unexpected"));
}
