//! A small but real SV2 Template Provider (the server side of the Template Distribution
//! Protocol, what Bitcoin Core's sv2-tp does) over Noise, on the synthetic chain: templates with
//! a BIP34 coinbase prefix and a few real transactions, transaction data on request, and
//! solutions checked by sha256d against the network target, advancing the tip when they make a
//! block. Pools (SRI's `pool_sv2` in its `Sv2Tp` mode) and job-declaration clients connect to it.

mod cli;
mod config;
mod connection;
mod solution;
mod stats;
mod store;

pub use cli::{run_cli, TemplateProviderArgs};
pub use config::{TemplateProviderConfig, REGTEST_NBITS};
pub use solution::{check_solution, HeaderFields, SolutionError, SolvedBlock};
pub use stats::{FoundBlock, TemplateProviderStats};

use crate::chain::Tip;
use crate::server::{Periodic, ServerHandle};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use store::{SolutionOutcome, TemplateStore};
use sv2_conn::ResponderKeys;
use template_distribution_sv2::SubmitSolutionOwned;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, info_span, Instrument};

/// Why the template provider could not start.
#[derive(Debug, thiserror::Error)]
pub enum TemplateProviderError {
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
    pub config: TemplateProviderConfig,
    pub keys: ResponderKeys,
    pub stats: Arc<TemplateProviderStats>,
    store: Mutex<TemplateStore>,
    /// The template currently offered; clients follow it.
    pub tip: watch::Sender<Arc<Tip>>,
}

impl Shared {
    fn store(&self) -> std::sync::MutexGuard<'_, TemplateStore> {
        // The store is left consistent between statements: keep using it after a panic.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn current_tip(&self) -> Arc<Tip> {
        self.store().current()
    }

    pub fn template(&self, template_id: u64) -> Option<Arc<Tip>> {
        self.store().get(template_id)
    }

    /// Checks a solution, counts it, and on a block publishes the next tip to every client.
    pub(crate) fn submit(&self, solution: &SubmitSolutionOwned) -> SolutionOutcome {
        let mut store = self.store();
        let outcome = store.submit(solution);
        match &outcome {
            SolutionOutcome::Found { block, next } => {
                self.stats.block_found(block.clone());
                // Published under the store lock so clients see tips in chain order.
                self.publish(next.clone());
            }
            SolutionOutcome::Stale { .. } => self.stats.solution_stale(),
            SolutionOutcome::UnknownTemplate | SolutionOutcome::Invalid(_) => {
                self.stats.solution_invalid()
            }
        }
        outcome
    }

    fn refresh(&self) {
        let mut store = self.store();
        let tip = store.refresh();
        self.publish(tip);
    }

    fn advance_synthetic(&self) {
        let mut store = self.store();
        let tip = store.advance_synthetic();
        self.publish(tip);
    }

    fn publish(&self, tip: Arc<Tip>) {
        self.stats.set_tip_height(u64::from(tip.height));
        info!(
            height = tip.height,
            template_id = tip.template_id(),
            "new template"
        );
        self.tip.send_replace(tip);
    }
}

/// Starts template providers.
pub struct TemplateProvider;

impl TemplateProvider {
    /// Binds `config.listen` and serves until [`TemplateProviderHandle::shutdown`].
    pub async fn start(
        config: TemplateProviderConfig,
    ) -> Result<TemplateProviderHandle, TemplateProviderError> {
        let keys = ResponderKeys::from_strings(
            &config.authority_public,
            &config.authority_secret,
            config.cert_validity,
        )?;
        if work::Target::from_compact(config.nbits).is_none() {
            return Err(TemplateProviderError::Config(format!(
                "nbits {:#010x} is not a valid compact target",
                config.nbits
            )));
        }
        for (name, interval) in [
            ("template_interval", config.template_interval),
            ("block_interval", config.block_interval),
        ] {
            if interval.is_some_and(|d| d.is_zero()) {
                return Err(TemplateProviderError::Config(format!(
                    "{name} must be positive"
                )));
            }
        }
        let listener = TcpListener::bind(config.listen).await.map_err(|source| {
            TemplateProviderError::Bind {
                addr: config.listen,
                source,
            }
        })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| TemplateProviderError::Bind {
                addr: config.listen,
                source,
            })?;
        let store =
            TemplateStore::new(config.start_height, config.nbits, config.retained_templates);
        let stats = Arc::new(TemplateProviderStats::default());
        let current = store.current();
        stats.set_tip_height(u64::from(current.height));
        let (tip, _) = watch::channel(current);
        let shared = Arc::new(Shared {
            keys,
            stats: stats.clone(),
            store: Mutex::new(store),
            tip,
            config,
        });
        let templates = {
            let shared = shared.clone();
            Periodic::every(shared.config.template_interval, move || shared.refresh())
        };
        let blocks = {
            let shared = shared.clone();
            Periodic::every(shared.config.block_interval, move || {
                shared.advance_synthetic()
            })
        };
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
            info_span!("template_provider", addr = %local_addr),
            vec![templates, blocks],
            serve,
        );
        info!(%local_addr, "template provider listening");
        Ok(TemplateProviderHandle {
            server,
            chain: TemplateProviderChain { shared },
        })
    }
}

/// A running template provider: its address, counters ([`TemplateProviderStats`]), its chain
/// for in-process followers, and the way to stop it. Dropping it stops the server too, without
/// waiting.
pub struct TemplateProviderHandle {
    server: ServerHandle<TemplateProviderStats>,
    chain: TemplateProviderChain,
}

impl TemplateProviderHandle {
    /// The address it listens on (with the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<TemplateProviderStats> {
        self.server.stats()
    }

    /// The provider's chain, for an in-process pool to follow
    /// ([`PoolConfig::follow_chain`](crate::pool::PoolConfig::follow_chain)).
    pub fn chain(&self) -> TemplateProviderChain {
        self.chain.clone()
    }

    /// The template currently offered, and every later one.
    pub fn tips(&self) -> watch::Receiver<Arc<Tip>> {
        self.chain.tips()
    }

    /// Closes the listener and every connection, and returns once all are closed: the port
    /// can be bound again right after.
    pub async fn shutdown(self) {
        self.server.shutdown().await
    }
}

/// A template provider's chain seen from inside the process: its tips, and a way to submit a
/// block as a `SubmitSolution` would. Cloneable; keeps working (frozen) after the provider
/// shuts down.
#[derive(Clone)]
pub struct TemplateProviderChain {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TemplateProviderChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateProviderChain")
            .field("height", &self.current().height)
            .finish()
    }
}

impl TemplateProviderChain {
    /// The template currently offered, and every later one.
    pub fn tips(&self) -> watch::Receiver<Arc<Tip>> {
        self.shared.tip.subscribe()
    }

    /// The template currently offered.
    pub fn current(&self) -> Arc<Tip> {
        self.shared.current_tip()
    }

    /// Checks and counts a solution exactly as one arriving over the wire; a block on the
    /// current tip advances the chain (every follower sees the new tip). Returns the block, or
    /// why it is none.
    pub fn submit_solution(&self, solution: &SubmitSolutionOwned) -> Result<FoundBlock, String> {
        match self.shared.submit(solution) {
            SolutionOutcome::Found { block, .. } => Ok(block),
            SolutionOutcome::Stale { height } => Err(format!("stale block at height {height}")),
            SolutionOutcome::UnknownTemplate => Err("unknown template".into()),
            SolutionOutcome::Invalid(e) => Err(e.to_string()),
        }
    }
}
