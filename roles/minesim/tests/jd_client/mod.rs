//! A tiny Job Declaration client for the JDS and custom-job tests: Noise via sv2-conn,
//! SetupConnection, tokens, declarations; and a custom job built from a template provider's
//! template the way SRI's job declarator client lays it out (the coinbase declared to the JDS
//! and the `SetCustomMiningJob` for the pool describe the same transaction).
#![allow(dead_code)]

use crate::sv2_client;
use crate::tp_client::Work;
use binary_sv2::{Seq064KOwned, U256Owned};
use bitcoin::absolute::LockTime;
use bitcoin::consensus::Decodable;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use common_messages_sv2::Protocol;
use job_declaration_sv2::*;
use mining_sv2::SetCustomMiningJobOwned;
use parsers_sv2::{AnyMessageOwned, JobDeclarationOwned, MiningOwned};
use sv2_conn::{FrameReader, FrameWriter};
use work::BlockHeader;

/// `DECLARE_TX_DATA`: full-template mode.
pub const DECLARE_TX_DATA: u32 = 1;
/// The tag the client puts in its coinbase scriptSig.
pub const TAG: &[u8] = b"/jd-test/";

pub struct JdClient {
    pub rd: FrameReader,
    pub wr: FrameWriter,
}

impl JdClient {
    pub async fn connect(addr: std::net::SocketAddr) -> JdClient {
        let (rd, wr) = sv2_client::connect(addr).await;
        JdClient { rd, wr }
    }

    pub async fn setup(&mut self, protocol: Protocol, flags: u32) -> AnyMessageOwned {
        sv2_client::setup_with_flags(&mut self.rd, &mut self.wr, protocol, flags, "jd-test", "")
            .await
    }

    /// Connects and sets up job declaration in full-template mode.
    pub async fn ready(addr: std::net::SocketAddr) -> JdClient {
        let mut c = JdClient::connect(addr).await;
        sv2_client::expect_setup_success(
            c.setup(Protocol::JobDeclarationProtocol, DECLARE_TX_DATA)
                .await,
        );
        c
    }

    pub async fn send(&mut self, m: JobDeclarationOwned) {
        self.wr.write(m).await.unwrap();
    }

    pub async fn recv(&mut self) -> JobDeclarationOwned {
        match sv2_client::recv(&mut self.rd).await {
            AnyMessageOwned::JobDeclaration(m) => m,
            other => panic!("expected a job declaration message, got {other}"),
        }
    }

    pub async fn allocate(&mut self, request_id: u32) -> AllocateMiningJobTokenSuccessOwned {
        self.send(JobDeclarationOwned::AllocateMiningJobToken(
            AllocateMiningJobTokenOwned {
                user_identifier: sv2_client::s255("jd-test"),
                request_id,
            },
        ))
        .await;
        match self.recv().await {
            JobDeclarationOwned::AllocateMiningJobTokenSuccess(ok) => {
                assert_eq!(ok.request_id, request_id);
                ok
            }
            other => panic!("expected AllocateMiningJobToken.Success, got {other}"),
        }
    }

    /// A fresh token.
    pub async fn token(&mut self, request_id: u32) -> Vec<u8> {
        self.allocate(request_id)
            .await
            .mining_job_token
            .as_bytes()
            .to_vec()
    }

    pub async fn declare_raw(
        &mut self,
        request_id: u32,
        token: Vec<u8>,
        version: u32,
        prefix: Vec<u8>,
        suffix: Vec<u8>,
        wtxids: Vec<[u8; 32]>,
    ) -> JobDeclarationOwned {
        let list: Vec<U256Owned> = wtxids.into_iter().map(U256Owned::from).collect();
        self.send(JobDeclarationOwned::DeclareMiningJob(
            DeclareMiningJobOwned {
                request_id,
                mining_job_token: token.try_into().unwrap(),
                version,
                coinbase_tx_prefix: prefix.try_into().unwrap(),
                coinbase_tx_suffix: suffix.try_into().unwrap(),
                wtxid_list: Seq064KOwned::new(list).unwrap(),
                excess_data: Vec::new().try_into().unwrap(),
            },
        ))
        .await;
        self.recv().await
    }

    pub async fn declare(
        &mut self,
        job: &CustomWork,
        request_id: u32,
        token: Vec<u8>,
    ) -> JobDeclarationOwned {
        let (prefix, suffix) = job.declared_coinbase();
        self.declare_raw(
            request_id,
            token,
            job.work.template.version,
            prefix,
            suffix,
            job.wtxids(),
        )
        .await
    }

    pub async fn provide(&mut self, request_id: u32, txs: Vec<Vec<u8>>) -> JobDeclarationOwned {
        let list = txs.into_iter().map(|t| t.try_into().unwrap()).collect();
        self.send(JobDeclarationOwned::ProvideMissingTransactionsSuccess(
            ProvideMissingTransactionsSuccessOwned {
                request_id,
                transaction_list: Seq064KOwned::new(list).unwrap(),
            },
        ))
        .await;
        self.recv().await
    }

    /// Allocates a token, declares `job`, answers any request for transactions, and returns
    /// the token for `SetCustomMiningJob`.
    pub async fn declare_fully(&mut self, job: &CustomWork, request_id: u32) -> Vec<u8> {
        let token = self.token(request_id).await;
        let mut reply = self.declare(job, request_id, token).await;
        if let JobDeclarationOwned::ProvideMissingTransactions(m) = &reply {
            let txs = m
                .unknown_tx_position_list
                .clone()
                .into_inner()
                .iter()
                .map(|&p| job.raw_transaction(p as usize))
                .collect();
            reply = self.provide(request_id, txs).await;
        }
        match reply {
            JobDeclarationOwned::DeclareMiningJobSuccess(ok) => {
                assert_eq!(ok.request_id, request_id);
                ok.new_mining_job_token.as_bytes().to_vec()
            }
            other => panic!("expected DeclareMiningJob.Success, got {other}"),
        }
    }
}

/// The error code of a `DeclareMiningJob.Error`, or a panic.
pub fn declare_error_code(reply: &JobDeclarationOwned) -> String {
    match reply {
        JobDeclarationOwned::DeclareMiningJobError(e) => e.error_code.as_utf8_or_hex(),
        other => panic!("expected DeclareMiningJob.Error, got {other}"),
    }
}

/// A job on a template provider's template, paying the pool's outputs.
#[derive(Clone)]
pub struct CustomWork {
    pub work: Work,
    pub transactions: Vec<Transaction>,
    /// The coinbase outputs: the pool's, the first one carrying the template's whole value.
    pub outputs: Vec<TxOut>,
    /// Pool channel prefix + rollable bytes.
    pub full_extranonce_size: usize,
}

impl CustomWork {
    /// `pool_outputs` as `AllocateMiningJobToken.Success.coinbase_outputs` carries them.
    pub fn new(
        work: Work,
        transactions: Vec<Transaction>,
        pool_outputs: &[u8],
        full_extranonce_size: usize,
    ) -> Self {
        let mut outputs = Vec::<TxOut>::consensus_decode(&mut &pool_outputs[..]).unwrap();
        outputs[0].value = Amount::from_sat(work.template.coinbase_tx_value_remaining);
        Self {
            work,
            transactions,
            outputs,
            full_extranonce_size,
        }
    }

    /// `SetCustomMiningJob.coinbase_prefix`: BIP34 height, tag push, extranonce push opcode.
    pub fn script_prefix(&self) -> Vec<u8> {
        let mut p = self.work.template.coinbase_prefix.as_bytes().to_vec();
        p.push(TAG.len() as u8);
        p.extend_from_slice(TAG);
        p.push(self.full_extranonce_size as u8);
        p
    }

    /// The coinbase with `extranonce` (the full extranonce) after the script prefix.
    pub fn coinbase(&self, extranonce: &[u8]) -> Transaction {
        assert_eq!(extranonce.len(), self.full_extranonce_size);
        let mut script = self.script_prefix();
        script.extend_from_slice(extranonce);
        let t = &self.work.template;
        Transaction {
            version: Version(t.coinbase_tx_version as i32),
            lock_time: LockTime::from_consensus(t.coinbase_tx_locktime),
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(script),
                sequence: Sequence(t.coinbase_tx_input_sequence),
                witness: Witness::from(vec![vec![0u8; 32]]),
            }],
            output: self.outputs.clone(),
        }
    }

    /// `DeclareMiningJob.coinbase_tx_prefix/suffix`: the segwit serialization around the
    /// extranonce.
    pub fn declared_coinbase(&self) -> (Vec<u8>, Vec<u8>) {
        let raw = bitcoin::consensus::encode::serialize(
            &self.coinbase(&vec![0; self.full_extranonce_size]),
        );
        let cut = 4 + 2 + 1 + 36 + 1 + self.script_prefix().len();
        (
            raw[..cut].to_vec(),
            raw[cut + self.full_extranonce_size..].to_vec(),
        )
    }

    pub fn wtxids(&self) -> Vec<[u8; 32]> {
        self.transactions
            .iter()
            .map(|t| t.compute_wtxid().to_byte_array())
            .collect()
    }

    pub fn raw_transaction(&self, position: usize) -> Vec<u8> {
        bitcoin::consensus::encode::serialize(&self.transactions[position])
    }

    pub fn set_custom_job(&self, channel_id: u32, request_id: u32, token: Vec<u8>) -> MiningOwned {
        let t = &self.work.template;
        let path: Vec<U256Owned> = self
            .work
            .merkle_path()
            .into_iter()
            .map(U256Owned::from)
            .collect();
        MiningOwned::SetCustomMiningJob(SetCustomMiningJobOwned {
            channel_id,
            request_id,
            token: token.try_into().unwrap(),
            version: t.version,
            prev_hash: self.work.prev.prev_hash.clone(),
            min_ntime: self.work.prev.header_timestamp,
            nbits: self.work.prev.n_bits,
            coinbase_tx_version: t.coinbase_tx_version,
            coinbase_prefix: self.script_prefix().try_into().unwrap(),
            coinbase_tx_input_n_sequence: t.coinbase_tx_input_sequence,
            coinbase_tx_outputs: bitcoin::consensus::encode::serialize(&self.outputs)
                .try_into()
                .unwrap(),
            coinbase_tx_locktime: t.coinbase_tx_locktime,
            merkle_path: binary_sv2::Seq0255Owned::new(path).unwrap(),
        })
    }

    /// The header of this job with the full `extranonce`.
    pub fn header(&self, extranonce: &[u8], nonce: u32) -> BlockHeader {
        let txid = self.coinbase(extranonce).compute_txid().to_byte_array();
        BlockHeader {
            version: self.work.template.version,
            prev_hash: sv2_client::arr(self.work.prev.prev_hash.as_bytes()),
            merkle_root: work::merkle_root(txid, &self.work.merkle_path()),
            ntime: self.work.prev.header_timestamp,
            nbits: self.work.prev.n_bits,
            nonce,
        }
    }
}
