//! A real Stratum V1 pool at small scale: `mining.subscribe` with a unique extranonce1 per
//! connection, `mining.authorize` for any worker, BIP310 version rolling, fixed difficulty or
//! a simple vardiff, `mining.notify` jobs from the synthetic chain (clean on every new tip),
//! fully validated `mining.submit` with the de-facto error codes, block detection, and
//! per-worker counters tests can read.

mod cli;
mod config;
mod connection;
mod job;
mod reject;
mod session;
mod stats;
mod vardiff;

pub use cli::{run_cli, V1PoolArgs};
pub use config::{V1PoolConfig, V1Vardiff};
pub use reject::RejectReason;
pub use stats::V1PoolStats;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, info_span, Instrument};

use crate::chain::{SyntheticChain, Tip};
use crate::server::{Periodic, ServerHandle};
use job::V1Job;

/// Why the V1 pool could not start.
#[derive(Debug, thiserror::Error)]
pub enum V1PoolError {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The job every connection should be mining, and whether it replaces all earlier ones.
#[derive(Debug)]
pub(crate) struct PoolWork {
    pub job: Arc<V1Job>,
    pub clean: bool,
}

/// State shared by the listener and every connection.
pub(crate) struct Shared {
    pub config: V1PoolConfig,
    pub stats: Arc<V1PoolStats>,
    chain: Mutex<SyntheticChain>,
    pub work: watch::Sender<Arc<PoolWork>>,
    next_extranonce1: AtomicU64,
}

impl Shared {
    /// A connection's extranonce1: a counter, big-endian in `extranonce1_size` bytes (unique
    /// until it wraps, after 2^(8 × size) connections).
    pub fn next_extranonce1(&self) -> Vec<u8> {
        let n = self.next_extranonce1.fetch_add(1, Ordering::Relaxed);
        let bytes = n.to_be_bytes();
        bytes
            .get(8 - self.config.extranonce1_size.min(8)..)
            .unwrap_or_default()
            .to_vec()
    }

    /// A share found a block on the tip whose prev hash is `prev`: advance once (a second
    /// block on the same tip, found concurrently, does not advance again).
    pub fn block_found(&self, prev: [u8; 32], block_hash: [u8; 32]) {
        let mut chain = self.lock_chain();
        if chain.tip().prev_hash_bytes() != prev {
            return;
        }
        let tip = chain.advance(block_hash).clone();
        self.publish(&tip, true);
    }

    fn advance_synthetic(&self) {
        let mut chain = self.lock_chain();
        let tip = chain.advance_synthetic().clone();
        self.publish(&tip, true);
    }

    fn refresh(&self) {
        let mut chain = self.lock_chain();
        let tip = chain.refresh().clone();
        self.publish(&tip, false);
    }

    fn publish(&self, tip: &Tip, clean: bool) {
        self.stats.set_tip_height(u64::from(tip.height));
        info!(height = tip.height, clean, "new job");
        self.work.send_replace(Arc::new(PoolWork {
            job: Arc::new(self.job_of(tip)),
            clean,
        }));
    }

    fn job_of(&self, tip: &Tip) -> V1Job {
        V1Job::from_tip(
            tip,
            self.config.extranonce1_size + self.config.extranonce2_size,
            &self.config.coinbase_script_pubkey,
        )
    }

    fn lock_chain(&self) -> std::sync::MutexGuard<'_, SyntheticChain> {
        self.chain.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts V1 pools.
pub struct V1Pool;

impl V1Pool {
    /// Binds `config.listen` and serves until [`V1PoolHandle::shutdown`].
    pub async fn start(config: V1PoolConfig) -> Result<V1PoolHandle, V1PoolError> {
        config.validate().map_err(V1PoolError::Config)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| V1PoolError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| V1PoolError::Bind {
            addr: config.listen,
            source,
        })?;
        let chain = SyntheticChain::new(config.start_height, config.nbits);
        let stats = Arc::new(V1PoolStats::default());
        stats.set_tip_height(u64::from(chain.tip().height));
        let first = V1Job::from_tip(
            chain.tip(),
            config.extranonce1_size + config.extranonce2_size,
            &config.coinbase_script_pubkey,
        );
        let (work, _) = watch::channel(Arc::new(PoolWork {
            job: Arc::new(first),
            clean: true,
        }));
        let shared = Arc::new(Shared {
            stats: stats.clone(),
            chain: Mutex::new(chain),
            work,
            next_extranonce1: AtomicU64::new(1),
            config,
        });
        let blocks = {
            let shared = shared.clone();
            Periodic::every(shared.config.block_interval, move || {
                shared.advance_synthetic()
            })
        };
        let refreshes = {
            let shared = shared.clone();
            Periodic::every(shared.config.refresh_interval, move || shared.refresh())
        };
        let serve = move |stream, peer: SocketAddr, shutdown| {
            connection::serve(shared.clone(), stream, shutdown)
                .instrument(info_span!("v1-conn", %peer))
        };
        let handle = ServerHandle::spawn(
            listener,
            local_addr,
            stats,
            info_span!("v1-pool", addr = %local_addr),
            vec![blocks, refreshes],
            serve,
        );
        info!(%local_addr, "V1 pool listening");
        Ok(handle)
    }
}

/// A running V1 pool, with [`V1PoolStats`] as its counters (see [`ServerHandle`]).
pub type V1PoolHandle = ServerHandle<V1PoolStats>;
