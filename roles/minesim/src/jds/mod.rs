//! A small but real SV2 Job Declaration Server (the role SRI's `jd_server` plays) over Noise:
//! full-template mode only. Clients get mining job tokens with the pool's required coinbase
//! outputs, declare jobs (coinbase checked, unknown transactions asked for and checked by
//! wtxid), get a token for `SetCustomMiningJob` that a pool can look up in the shared
//! [`DeclaredJobs`] registry, and push solutions, which are recorded. A switch makes it refuse
//! every declaration, for fallback tests.

mod cli;
mod coinbase;
mod config;
mod connection;
mod declaration;
mod mempool;
mod registry;
mod stats;
mod token;

pub use cli::{run_cli, JdsArgs};
pub use coinbase::{check_coinbase, CheckedCoinbase, CoinbaseError, MAX_EXTRANONCE_LEN};
pub use config::JdsConfig;
pub use registry::{DeclaredJob, DeclaredJobs};
pub use stats::{JdsStats, PushedSolution};
pub use token::TOKEN_LEN;

use crate::server::ServerHandle;
use binary_sv2::B064KOwned;
use declaration::Context;
use mempool::Mempool;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use sv2_conn::ResponderKeys;
use token::TokenMint;
use tokio::net::TcpListener;
use tracing::{info, info_span, Instrument};

/// Why the Job Declaration Server could not start.
#[derive(Debug, thiserror::Error)]
pub enum JdsError {
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

/// State shared by the listener and every client.
pub(crate) struct Shared {
    pub config: JdsConfig,
    pub keys: ResponderKeys,
    pub stats: Arc<JdsStats>,
    pub mint: TokenMint,
    /// `config.coinbase_outputs`, consensus-serialized with their count, as tokens carry them.
    pub coinbase_outputs: B064KOwned,
    mempool: Mutex<Mempool>,
    refuse: AtomicBool,
}

impl Shared {
    pub fn mempool(&self) -> std::sync::MutexGuard<'_, Mempool> {
        // Insertions leave the mempool consistent: keep using it after a panic.
        self.mempool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a declaration check needs, with the mempool locked by the caller.
    pub fn context<'a>(&'a self, mempool: &'a mut Mempool) -> Context<'a> {
        Context {
            required_outputs: &self.config.coinbase_outputs,
            refuse: self.refuse.load(Ordering::SeqCst),
            mempool,
            registry: &self.config.declared_jobs,
            mint: &self.mint,
        }
    }
}

/// Starts Job Declaration Servers.
pub struct Jds;

impl Jds {
    /// Binds `config.listen` and serves until [`JdsHandle::shutdown`].
    pub async fn start(config: JdsConfig) -> Result<JdsHandle, JdsError> {
        let keys = ResponderKeys::from_strings(
            &config.authority_public,
            &config.authority_secret,
            config.cert_validity,
        )?;
        if config.missing_txs_timeout.is_zero() {
            return Err(JdsError::Config(
                "missing_txs_timeout must be positive".into(),
            ));
        }
        let coinbase_outputs = B064KOwned::try_from(bitcoin::consensus::encode::serialize(
            &config.coinbase_outputs,
        ))
        .map_err(|_| JdsError::Config("coinbase_outputs exceed 64 KiB".into()))?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| JdsError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| JdsError::Bind {
            addr: config.listen,
            source,
        })?;
        let stats = Arc::new(JdsStats::default());
        let shared = Arc::new(Shared {
            keys,
            stats: stats.clone(),
            mint: TokenMint::default(),
            coinbase_outputs,
            mempool: Mutex::new(Mempool::new(config.mempool_capacity)),
            refuse: AtomicBool::new(false),
            config,
        });
        let serve = {
            let shared = shared.clone();
            move |stream, peer: SocketAddr, shutdown| {
                connection::serve(shared.clone(), stream, shutdown)
                    .instrument(info_span!("client", %peer))
            }
        };
        let server = ServerHandle::spawn(
            listener,
            local_addr,
            stats,
            info_span!("jds", addr = %local_addr),
            Vec::new(),
            serve,
        );
        info!(%local_addr, "job declaration server listening");
        Ok(JdsHandle { server, shared })
    }
}

/// A running Job Declaration Server: its address, counters, registry, the refusal switch, and
/// the way to stop it. Dropping it stops the server too, without waiting.
pub struct JdsHandle {
    server: ServerHandle<JdsStats>,
    shared: Arc<Shared>,
}

impl JdsHandle {
    /// The address it listens on (with the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<JdsStats> {
        self.server.stats()
    }

    /// The registry accepted declarations go to (the one in the config).
    pub fn declared_jobs(&self) -> DeclaredJobs {
        self.shared.config.declared_jobs.clone()
    }

    /// While `true`, every declaration (and every late transaction delivery) is refused with
    /// `DeclareMiningJob.Error` `invalid-job`; tokens are still allocated.
    pub fn refuse_declarations(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::SeqCst);
    }

    /// Transactions the server knows now.
    pub fn known_transactions(&self) -> usize {
        self.shared.mempool().len()
    }

    /// Closes the listener and every connection, and returns once all are closed: the port
    /// can be bound again right after.
    pub async fn shutdown(self) {
        self.server.shutdown().await
    }
}
