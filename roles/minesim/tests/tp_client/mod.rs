//! A tiny Template Distribution Protocol client for the template provider tests: Noise via
//! sv2-conn, SetupConnection, templates, transaction data, and a real sha256d grinder that builds
//! a coinbase from a template and solves its block.
#![allow(dead_code)]

// For the tests' glob imports; not every test file uses each.
#[allow(unused_imports)]
pub use crate::sv2_client::{arr, s255, T};

use crate::sv2_client;
use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use common_messages_sv2::Protocol;
use minesim::template_provider::{
    TemplateProvider, TemplateProviderConfig, TemplateProviderHandle,
};
use parsers_sv2::{AnyMessageOwned, TemplateDistributionOwned};
use std::time::Duration;
use sv2_conn::{FrameReader, FrameWriter};
use template_distribution_sv2::*;
use work::{BlockHeader, Target};

/// About one block per 65 536 hashes: a nonce is found in well under a second, and most
/// nonces fail (so invalid solutions are easy to make).
pub const HARD_NBITS: u32 = 0x1f00_ffff;

pub fn test_config() -> TemplateProviderConfig {
    let mut c = TemplateProviderConfig::new("127.0.0.1:0".parse().unwrap());
    c.nbits = HARD_NBITS;
    c
}

pub async fn start(config: TemplateProviderConfig) -> TemplateProviderHandle {
    TemplateProvider::start(config)
        .await
        .expect("template provider starts")
}

pub struct TpClient {
    pub rd: FrameReader,
    pub wr: FrameWriter,
}

impl TpClient {
    pub async fn connect(addr: std::net::SocketAddr) -> TpClient {
        let (rd, wr) = sv2_client::connect(addr).await;
        TpClient { rd, wr }
    }

    pub async fn setup(&mut self, protocol: Protocol) -> AnyMessageOwned {
        sv2_client::setup(&mut self.rd, &mut self.wr, protocol, "tp-test", "").await
    }

    /// Connects, sets up template distribution and sends coinbase output constraints.
    pub async fn ready(addr: std::net::SocketAddr) -> TpClient {
        let mut c = TpClient::connect(addr).await;
        sv2_client::expect_setup_success(c.setup(Protocol::TemplateDistributionProtocol).await);
        c.send(TemplateDistributionOwned::CoinbaseOutputConstraints(
            CoinbaseOutputConstraintsOwned {
                coinbase_output_max_additional_size: 100,
                coinbase_output_max_additional_sigops: 4,
            },
        ))
        .await;
        c
    }

    pub async fn recv(&mut self) -> AnyMessageOwned {
        sv2_client::recv(&mut self.rd).await
    }

    pub async fn recv_tdp(&mut self) -> TemplateDistributionOwned {
        match self.recv().await {
            AnyMessageOwned::TemplateDistribution(m) => m,
            other => panic!("expected a template distribution message, got {other}"),
        }
    }

    pub async fn send(&mut self, m: TemplateDistributionOwned) {
        self.wr.write(m).await.unwrap();
    }

    /// The next `NewTemplate`, whatever its kind.
    pub async fn recv_template(&mut self) -> NewTemplateOwned {
        match self.recv_tdp().await {
            TemplateDistributionOwned::NewTemplate(t) => t,
            other => panic!("expected NewTemplate, got {other}"),
        }
    }

    /// A future template followed by the prev hash that activates it.
    pub async fn recv_work(&mut self) -> Work {
        let template = self.recv_template().await;
        assert!(
            template.future_template,
            "a new tip starts with a future template"
        );
        let TemplateDistributionOwned::SetNewPrevHash(prev) = self.recv_tdp().await else {
            panic!("expected SetNewPrevHash")
        };
        assert_eq!(prev.template_id, template.template_id);
        Work { template, prev }
    }

    pub async fn request_tx_data(&mut self, template_id: u64) -> TemplateDistributionOwned {
        self.send(TemplateDistributionOwned::RequestTransactionData(
            RequestTransactionDataOwned { template_id },
        ))
        .await;
        self.recv_tdp().await
    }

    /// The template's transactions, decoded.
    pub async fn transactions(&mut self, template_id: u64) -> Vec<Transaction> {
        match self.request_tx_data(template_id).await {
            TemplateDistributionOwned::RequestTransactionDataSuccess(ok) => {
                assert_eq!(ok.template_id, template_id);
                ok.transaction_list
                    .into_inner()
                    .iter()
                    .map(|raw| bitcoin::consensus::encode::deserialize(raw.as_bytes()).unwrap())
                    .collect()
            }
            other => panic!("expected transaction data, got {other}"),
        }
    }
}

/// A template and its prev hash: enough to build and solve a block.
#[derive(Clone)]
pub struct Work {
    pub template: NewTemplateOwned,
    pub prev: SetNewPrevHashOwned,
}

impl Work {
    pub fn merkle_path(&self) -> Vec<[u8; 32]> {
        self.template
            .merkle_path
            .clone()
            .into_inner()
            .iter()
            .map(|h| arr(h.as_bytes()))
            .collect()
    }

    /// A coinbase paying the whole value to one output, with `script_sig` after nothing else.
    pub fn coinbase_with_script_sig(&self, script_sig: Vec<u8>) -> Vec<u8> {
        let tx = Transaction {
            version: Version(self.template.coinbase_tx_version as i32),
            lock_time: LockTime::from_consensus(self.template.coinbase_tx_locktime),
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(script_sig),
                sequence: Sequence(self.template.coinbase_tx_input_sequence),
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(self.template.coinbase_tx_value_remaining),
                script_pubkey: ScriptBuf::from_bytes([&[0x00u8, 0x14][..], &[0x22; 20]].concat()),
            }],
        };
        bitcoin::consensus::encode::serialize(&tx)
    }

    /// A coinbase whose scriptSig is the template's prefix then `extranonce`.
    pub fn coinbase(&self, extranonce: &[u8]) -> Vec<u8> {
        let mut script_sig = self.template.coinbase_prefix.as_bytes().to_vec();
        script_sig.extend_from_slice(extranonce);
        self.coinbase_with_script_sig(script_sig)
    }

    pub fn header(&self, coinbase: &[u8], nonce: u32) -> BlockHeader {
        let tx: Transaction = bitcoin::consensus::encode::deserialize(coinbase).unwrap();
        let txid = tx.compute_txid().to_byte_array();
        BlockHeader {
            version: self.template.version,
            prev_hash: arr(self.prev.prev_hash.as_bytes()),
            merkle_root: work::merkle_root(txid, &self.merkle_path()),
            ntime: self.prev.header_timestamp,
            nbits: self.prev.n_bits,
            nonce,
        }
    }

    /// First nonce whose header does (`meets`) or does not meet the network target.
    pub fn grind(&self, coinbase: &[u8], meets: bool) -> u32 {
        let target = Target::from_compact(self.prev.n_bits).unwrap();
        let mut header = self.header(coinbase, 0);
        (0..u32::MAX)
            .find(|&n| {
                header.nonce = n;
                target.is_met_by(&header.hash()) == meets
            })
            .expect("a nonce")
    }

    pub fn solution(&self, coinbase: Vec<u8>, nonce: u32) -> TemplateDistributionOwned {
        TemplateDistributionOwned::SubmitSolution(SubmitSolutionOwned {
            template_id: self.template.template_id,
            version: self.template.version,
            header_timestamp: self.prev.header_timestamp,
            header_nonce: nonce,
            coinbase_tx: coinbase.try_into().unwrap(),
        })
    }

    /// A valid solution (coinbase with `extranonce`) and its block hash.
    pub fn solve(&self, extranonce: &[u8]) -> (TemplateDistributionOwned, [u8; 32]) {
        let coinbase = self.coinbase(extranonce);
        let nonce = self.grind(&coinbase, true);
        let hash = self.header(&coinbase, nonce).hash();
        (self.solution(coinbase, nonce), hash)
    }
}

/// Polls `condition` every 20 ms until it holds or `T` passes.
pub async fn wait_for(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + T;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}
