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
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{SolutionOutcome, TemplateStore};
use sv2_conn::ResponderKeys;
use template_distribution_sv2::SubmitSolutionOwned;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
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
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(
            run(shared, listener, shutdown_rx)
                .instrument(info_span!("template_provider", addr = %local_addr)),
        );
        info!(%local_addr, "template provider listening");
        Ok(TemplateProviderHandle {
            local_addr,
            stats,
            shutdown: shutdown_tx,
            task: Some(task),
        })
    }
}

// An interval whose first tick is one period from now (tokio's fires at once).
fn periodic(period: Option<Duration>) -> Option<tokio::time::Interval> {
    period.map(|d| {
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    })
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn run(shared: Arc<Shared>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let mut clients = JoinSet::new();
    let mut templates = periodic(shared.config.template_interval);
    let mut blocks = periodic(shared.config.block_interval);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let span = info_span!("client", %peer);
                    clients.spawn(connection::serve(shared.clone(), stream, shutdown.clone()).instrument(span));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = tick(&mut templates) => shared.refresh(),
            _ = tick(&mut blocks) => shared.advance_synthetic(),
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
        }
    }
    drop(listener);
    // Clients see the same shutdown signal; wait until every socket is closed.
    while clients.join_next().await.is_some() {}
}

/// A running template provider.
pub struct TemplateProviderHandle {
    local_addr: SocketAddr,
    stats: Arc<TemplateProviderStats>,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TemplateProviderHandle {
    /// The address it listens on (with the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<TemplateProviderStats> {
        self.stats.clone()
    }

    /// Closes the listener and every client, and returns once all are closed.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TemplateProviderHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
