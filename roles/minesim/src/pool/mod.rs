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
use channels_sv2::extranonce_manager::ExtranonceAllocator;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use sv2_conn::ResponderKeys;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
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
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(
            run(shared, listener, shutdown_rx).instrument(info_span!("pool", addr = %local_addr)),
        );
        info!(%local_addr, "pool listening");
        Ok(PoolHandle {
            local_addr,
            stats,
            shutdown: shutdown_tx,
            task: Some(task),
        })
    }
}

async fn run(shared: Arc<Shared>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    let mut blocks = shared.config.block_interval.map(|d| {
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let span = info_span!("conn", %peer);
                    conns.spawn(connection::serve(shared.clone(), stream, shutdown.clone()).instrument(span));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = async { match blocks.as_mut() { Some(i) => { i.tick().await; } None => std::future::pending().await } } => {
                shared.advance_synthetic();
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    // Connections see the same shutdown signal; wait until every socket is closed.
    while conns.join_next().await.is_some() {}
}

/// A running pool.
pub struct PoolHandle {
    local_addr: SocketAddr,
    stats: Arc<PoolStats>,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl PoolHandle {
    /// The address the pool listens on (with the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<PoolStats> {
        self.stats.clone()
    }

    /// Closes the listener and every connection, and returns once all are closed: the port
    /// can be bound again right after.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PoolHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
