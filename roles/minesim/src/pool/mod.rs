//! A real SV2 pool at small scale: Noise, `SetupConnection`, extended and standard channels on
//! channels_sv2, jobs from a synthetic chain, share validation, batched acknowledgements,
//! vardiff, and counters tests can read.

mod channels;
mod config;
mod connection;
mod stats;

pub use config::{InitialTarget, PoolConfig, TEST_AUTHORITY_PUBLIC, TEST_AUTHORITY_SECRET};
pub use stats::{PoolStats, UserStats};

use crate::chain::{SyntheticChain, Tip};
use crate::server::{Periodic, ServerHandle};
use channels_sv2::extranonce_manager::ExtranonceAllocator;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use sv2_conn::ResponderKeys;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, info_span, Instrument};

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

/// State shared by the listener and every connection.
pub(crate) struct Shared {
    pub config: PoolConfig,
    pub keys: ResponderKeys,
    pub stats: Arc<PoolStats>,
    pub chain: Mutex<SyntheticChain>,
    pub tip: watch::Sender<Arc<Tip>>,
    pub allocator: Mutex<ExtranonceAllocator>,
    next_channel_id: AtomicU32,
}

impl Shared {
    pub fn next_channel_id(&self) -> u32 {
        self.next_channel_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A share found a block on the tip whose prev hash is `prev`: advance once (a second
    /// block on the same tip, found concurrently, does not advance again).
    pub fn block_found(&self, prev: [u8; 32], block_hash: [u8; 32]) {
        let mut chain = self.chain.lock().unwrap_or_else(|p| p.into_inner());
        if chain.tip().prev_hash_bytes() != prev {
            return;
        }
        let tip = chain.advance(block_hash).clone();
        self.publish(tip);
    }

    fn advance_synthetic(&self) {
        let mut chain = self.chain.lock().unwrap_or_else(|p| p.into_inner());
        let tip = chain.advance_synthetic().clone();
        self.publish(tip);
    }

    fn publish(&self, tip: Tip) {
        self.stats.set_tip_height(u64::from(tip.height));
        info!(height = tip.height, "new tip");
        self.tip.send_replace(Arc::new(tip));
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
        let chain = SyntheticChain::new(config.start_height, config.nbits);
        let stats = Arc::new(PoolStats::default());
        stats.set_tip_height(u64::from(chain.tip().height));
        let (tip, _) = watch::channel(Arc::new(chain.tip().clone()));
        let shared = Arc::new(Shared {
            keys,
            stats: stats.clone(),
            chain: Mutex::new(chain),
            tip,
            allocator: Mutex::new(allocator),
            next_channel_id: AtomicU32::new(1),
            config,
        });
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
