//! A real SV2 pool at small scale: Noise, `SetupConnection`, extended and standard channels on
//! channels_sv2, jobs from a synthetic chain, share validation, batched acknowledgements,
//! vardiff, and counters tests can read.

mod channels;
mod config;
mod connection;
pub mod control;
mod custom_jobs;
mod stats;

pub use config::{
    default_coinbase_script_pubkey, CustomJobs, InitialTarget, PoolConfig, TEST_AUTHORITY_PUBLIC,
    TEST_AUTHORITY_SECRET,
};
pub use stats::{PoolStats, UserStats};

use crate::chain::{SyntheticChain, Tip};
use crate::server::{Periodic, ServerHandle};
use crate::template_provider::TemplateProviderChain;
use channels_sv2::extranonce_manager::ExtranonceAllocator;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use sv2_conn::ResponderKeys;
use template_distribution_sv2::SubmitSolutionOwned;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, info_span, warn, Instrument};

/// Why the pool could not start.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("invalid authority keys: {0}")]
    Keys(#[from] sv2_conn::ConnError),
    #[error("invalid config: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Where the pool's tips come from.
pub(crate) enum TipSource {
    /// Its own synthetic chain.
    Own {
        // Boxed: a whole tip lives inside the chain.
        chain: Box<Mutex<SyntheticChain>>,
        tip: watch::Sender<Arc<Tip>>,
    },
    /// A template provider's chain, followed.
    Followed(TemplateProviderChain),
}

/// A block a share found, with what it takes to submit it.
#[derive(Debug, Clone)]
pub(crate) struct ShareBlock {
    /// Block hash, internal byte order.
    pub hash: [u8; 32],
    /// The template the job came from; `None` for a custom job.
    pub template_id: Option<u64>,
    /// The block's coinbase transaction.
    pub coinbase: Vec<u8>,
    pub version: u32,
    pub ntime: u32,
    pub nonce: u32,
}

/// State shared by the listener and every connection.
pub(crate) struct Shared {
    pub config: PoolConfig,
    pub keys: ResponderKeys,
    pub stats: Arc<PoolStats>,
    pub tips: TipSource,
    pub allocator: Mutex<ExtranonceAllocator>,
    next_channel_id: AtomicU32,
}

impl Shared {
    pub fn next_channel_id(&self) -> u32 {
        self.next_channel_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The current tip, and every later one.
    pub fn subscribe_tips(&self) -> watch::Receiver<Arc<Tip>> {
        match &self.tips {
            TipSource::Own { tip, .. } => tip.subscribe(),
            TipSource::Followed(chain) => chain.tips(),
        }
    }

    pub fn current_tip(&self) -> Arc<Tip> {
        match &self.tips {
            TipSource::Own { tip, .. } => tip.borrow().clone(),
            TipSource::Followed(chain) => chain.current(),
        }
    }

    /// A share on a pool job found a block on the tip whose prev hash is `prev`. On its own
    /// chain the pool advances once (a second block on the same tip, found concurrently, does
    /// not advance again); following a template provider, it submits the block there.
    pub fn block_found(&self, prev: [u8; 32], block: &ShareBlock) {
        match &self.tips {
            TipSource::Own { chain, .. } => {
                let mut chain = chain.lock().unwrap_or_else(|p| p.into_inner());
                if chain.tip().prev_hash_bytes() != prev {
                    return;
                }
                let tip = chain.advance(block.hash).clone();
                self.publish(tip);
            }
            TipSource::Followed(chain) => {
                let Some(template_id) = block.template_id else {
                    return;
                };
                let Ok(coinbase_tx) = block.coinbase.clone().try_into() else {
                    warn!("block coinbase too large to submit");
                    return;
                };
                let solution = SubmitSolutionOwned {
                    template_id,
                    version: block.version,
                    header_timestamp: block.ntime,
                    header_nonce: block.nonce,
                    coinbase_tx,
                };
                match chain.submit_solution(&solution) {
                    Ok(found) => info!(
                        height = found.height,
                        hash = %found.hash_hex(),
                        "block submitted to the template provider"
                    ),
                    Err(e) => warn!("template provider did not take the block: {e}"),
                }
            }
        }
    }

    fn advance_synthetic(&self) {
        if let TipSource::Own { chain, .. } = &self.tips {
            let tip = chain
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .advance_synthetic()
                .clone();
            self.publish(tip);
        }
    }

    fn publish(&self, tip: Tip) {
        self.stats.set_tip_height(u64::from(tip.height));
        info!(height = tip.height, "new tip");
        if let TipSource::Own { tip: sender, .. } = &self.tips {
            sender.send_replace(Arc::new(tip));
        }
    }
}

/// Starts pools.
pub struct Pool;

impl Pool {
    /// Binds `config.listen` and serves until [`PoolHandle::shutdown`].
    pub async fn start(config: PoolConfig) -> Result<PoolHandle, PoolError> {
        let keys = ResponderKeys::from_strings(
            &config.authority_public,
            &config.authority_secret,
            config.cert_validity,
        )?;
        if config.share_batch_size == 0 {
            return Err(PoolError::Config(
                "share_batch_size must be at least 1".into(),
            ));
        }
        if !(config.shares_per_minute.is_finite() && config.shares_per_minute > 0.0) {
            return Err(PoolError::Config(
                "shares_per_minute must be positive".into(),
            ));
        }
        let allocator =
            ExtranonceAllocator::new(Vec::new(), config.extranonce_len, config.max_channels)
                .map_err(|e| PoolError::Config(format!("extranonce allocator: {e:?}")))?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| PoolError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| PoolError::Bind {
            addr: config.listen,
            source,
        })?;
        let stats = Arc::new(PoolStats::default());
        let tips = match &config.follow_chain {
            Some(chain) => {
                if config.block_interval.is_some() {
                    return Err(PoolError::Config(
                        "block_interval cannot be set when following a template provider".into(),
                    ));
                }
                stats.set_tip_height(u64::from(chain.current().height));
                TipSource::Followed(chain.clone())
            }
            None => {
                let chain = SyntheticChain::new(config.start_height, config.nbits);
                stats.set_tip_height(u64::from(chain.tip().height));
                let (tip, _) = watch::channel(Arc::new(chain.tip().clone()));
                TipSource::Own {
                    chain: Box::new(Mutex::new(chain)),
                    tip,
                }
            }
        };
        let shared = Arc::new(Shared {
            keys,
            stats: stats.clone(),
            tips,
            allocator: Mutex::new(allocator),
            next_channel_id: AtomicU32::new(1),
            config,
        });
        if let Some(trigger) = shared.config.block_trigger.clone() {
            // A weak reference: the task must not keep a shut-down pool's state alive.
            let weak = Arc::downgrade(&shared);
            tokio::spawn(async move {
                loop {
                    trigger.notified().await;
                    let Some(shared) = weak.upgrade() else { return };
                    shared.advance_synthetic();
                }
            });
        }
        let blocks = {
            let shared = shared.clone();
            Periodic::every(shared.config.block_interval, move || {
                shared.advance_synthetic()
            })
        };
        let serve = move |stream, peer: SocketAddr, shutdown| {
            connection::serve(shared.clone(), stream, shutdown)
                .instrument(info_span!("conn", %peer))
        };
        let handle = ServerHandle::spawn(
            listener,
            local_addr,
            stats,
            info_span!("pool", addr = %local_addr),
            vec![blocks],
            serve,
        );
        info!(%local_addr, "pool listening");
        Ok(handle)
    }
}

/// A running pool, with [`PoolStats`] as its counters (see [`ServerHandle`]).
pub type PoolHandle = ServerHandle<PoolStats>;
