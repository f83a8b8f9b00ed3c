//! A tiny SV2 client for the pool tests: Noise via sv2-conn, SetupConnection, channels, and a
//! real sha256d grinder over the jobs it receives.
#![allow(dead_code)]

// For the tests' glob imports; not every test file uses each.
#[allow(unused_imports)]
pub use crate::sv2_client::{arr, s255, T};

use crate::sv2_client;
use binary_sv2::U256Owned;
use common_messages_sv2::Protocol;
use minesim::pool::{Pool, PoolConfig, PoolHandle};
use mining_sv2::*;
use parsers_sv2::{AnyMessageOwned, MiningOwned};
use std::time::Duration;
use sv2_conn::{FrameReader, FrameWriter};
use work::{BlockHeader, Target};

/// Target 2^248-ish: one share per ~256 hashes.
pub fn easy_difficulty() -> f64 {
    1.0 / (1u64 << 24) as f64
}

pub fn test_config() -> PoolConfig {
    let mut c = PoolConfig::new("127.0.0.1:0".parse().unwrap());
    c.initial_target = minesim::pool::InitialTarget::FixedDifficulty(easy_difficulty());
    c.vardiff = false;
    c.share_batch_size = 2;
    c.share_batch_flush = Duration::from_millis(200);
    c
}

pub async fn start(config: PoolConfig) -> PoolHandle {
    Pool::start(config).await.expect("pool starts")
}

pub struct Client {
    pub rd: FrameReader,
    pub wr: FrameWriter,
}

impl Client {
    pub async fn connect(addr: std::net::SocketAddr) -> Client {
        let (rd, wr) = sv2_client::connect(addr).await;
        Client { rd, wr }
    }

    pub async fn setup(&mut self, protocol: Protocol) -> AnyMessageOwned {
        sv2_client::setup(&mut self.rd, &mut self.wr, protocol, "pool-test", "t1").await
    }

    pub async fn connect_and_setup(addr: std::net::SocketAddr) -> Client {
        let mut c = Client::connect(addr).await;
        sv2_client::expect_setup_success(c.setup(Protocol::MiningProtocol).await);
        c
    }

    pub async fn recv(&mut self) -> AnyMessageOwned {
        sv2_client::recv(&mut self.rd).await
    }

    pub async fn recv_mining(&mut self) -> MiningOwned {
        match self.recv().await {
            AnyMessageOwned::Mining(m) => m,
            other => panic!("expected a mining message, got {other}"),
        }
    }

    pub async fn send(&mut self, m: MiningOwned) {
        self.wr.write(m).await.unwrap();
    }

    pub async fn open_extended(&mut self, user: &str, min_extranonce: u16) -> MiningOwned {
        self.send(MiningOwned::OpenExtendedMiningChannel(
            OpenExtendedMiningChannelOwned {
                request_id: 1,
                user_identity: s255(user),
                nominal_hash_rate: 1.0e6,
                max_target: U256Owned::from([0xffu8; 32]),
                min_extranonce_size: min_extranonce,
            },
        ))
        .await;
        self.recv_mining().await
    }

    /// Opens an extended channel and collects its first job and prev hash.
    pub async fn extended_channel(&mut self, user: &str) -> ExtendedWork {
        let MiningOwned::OpenExtendedMiningChannelSuccess(ok) = self.open_extended(user, 8).await
        else {
            panic!("channel refused")
        };
        assert!(ok.extranonce_size >= 8);
        let MiningOwned::NewExtendedMiningJob(job) = self.recv_mining().await else {
            panic!("expected job")
        };
        assert!(
            job.min_ntime.clone().into_inner().is_none(),
            "first job is a future job"
        );
        let MiningOwned::SetNewPrevHash(prev) = self.recv_mining().await else {
            panic!("expected prevhash")
        };
        assert_eq!(prev.job_id, job.job_id);
        ExtendedWork {
            open: ok,
            job,
            prev,
        }
    }
}

pub struct ExtendedWork {
    pub open: OpenExtendedMiningChannelSuccessOwned,
    pub job: NewExtendedMiningJobOwned,
    pub prev: SetNewPrevHashOwned,
}

impl ExtendedWork {
    pub fn target(&self) -> Target {
        Target::from_le_bytes(arr(self.open.target.as_bytes()))
    }

    pub fn header(&self, extranonce: &[u8], nonce: u32) -> BlockHeader {
        let txid = work::coinbase_txid(&[
            self.job.coinbase_tx_prefix.as_bytes(),
            self.open.extranonce_prefix.as_bytes(),
            extranonce,
            self.job.coinbase_tx_suffix.as_bytes(),
        ]);
        let path: Vec<[u8; 32]> = self
            .job
            .merkle_path
            .clone()
            .into_inner()
            .iter()
            .map(|h| arr(h.as_bytes()))
            .collect();
        BlockHeader {
            version: self.job.version,
            prev_hash: arr(self.prev.prev_hash.as_bytes()),
            merkle_root: work::merkle_root(txid, &path),
            ntime: self.prev.min_ntime,
            nbits: self.prev.nbits,
            nonce,
        }
    }

    /// First nonce from `start` whose header does (`meets`) or does not meet the channel target.
    pub fn grind(&self, extranonce: &[u8], start: u32, meets: bool) -> u32 {
        let target = self.target();
        (start..u32::MAX)
            .find(|&n| target.is_met_by(&self.header(extranonce, n).hash()) == meets)
            .expect("a nonce")
    }

    pub fn share(&self, seq: u32, extranonce: &[u8], nonce: u32) -> MiningOwned {
        MiningOwned::SubmitSharesExtended(SubmitSharesExtendedOwned {
            channel_id: self.open.channel_id,
            sequence_number: seq,
            job_id: self.job.job_id,
            nonce,
            ntime: self.prev.min_ntime,
            version: self.job.version,
            extranonce: extranonce.to_vec().try_into().unwrap(),
        })
    }
}
