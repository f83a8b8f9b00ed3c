//! A bitcoind stand-in for Stratum V1 pools: an HTTP/1.1 JSON-RPC server (basic auth, batches)
//! that serves block templates from the synthetic chain and takes blocks through
//! `submitblock`, checking them (prev hash, nbits, proof of work, BIP34, merkle root) before
//! moving the tip. It answers the methods npm `stratum-pool-sha256` calls ([`METHODS`]).

mod cli;
mod config;
mod http;
mod methods;
mod stats;
mod submit;
mod template;

pub use cli::{run_cli, BitcoindRpcArgs};
pub use config::{BitcoindRpcConfig, RpcAuth};
pub use methods::METHODS;
pub use stats::BitcoindRpcStats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, info_span, Instrument};

use crate::chain::SyntheticChain;
use crate::server::{Periodic, ServerHandle};
use submit::{check_block, AcceptedBlock};

/// Why the shim could not start.
#[derive(Debug, thiserror::Error)]
pub enum BitcoindRpcError {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The chain and the blocks accepted on it.
pub(crate) struct ChainState {
    pub chain: SyntheticChain,
    pub blocks: HashMap<[u8; 32], AcceptedBlock>,
}

/// State shared by every connection.
pub(crate) struct Shared {
    pub config: BitcoindRpcConfig,
    pub stats: Arc<BitcoindRpcStats>,
    state: Mutex<ChainState>,
    /// The `Authorization` header value required, if any.
    expected_auth: Option<String>,
}

impl Shared {
    pub fn lock_state(&self) -> std::sync::MutexGuard<'_, ChainState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a submitted block and, if it extends the tip, moves the tip on top of it.
    pub fn submit_block(&self, block: &bitcoin::Block) -> Result<(), &'static str> {
        let mut state = self.lock_state();
        let ChainState { chain, blocks } = &mut *state;
        match check_block(block, chain.tip(), blocks) {
            Ok(accepted) => {
                let hash = accepted.hash;
                let tip = chain.advance(hash);
                info!(height = accepted.height, "block accepted; new tip");
                self.stats.set_tip_height(u64::from(tip.height));
                self.stats.block_accepted();
                blocks.insert(hash, accepted);
                Ok(())
            }
            Err(reason) => {
                info!(reason, "block rejected");
                self.stats.block_rejected(reason);
                Err(reason)
            }
        }
    }

    fn advance_synthetic(&self) {
        let mut state = self.lock_state();
        let tip = state.chain.advance_synthetic();
        info!(height = tip.height, "new tip");
        self.stats.set_tip_height(u64::from(tip.height));
    }

    fn authorized(&self, header: Option<&str>) -> bool {
        match &self.expected_auth {
            None => true,
            Some(expected) => header == Some(expected.as_str()),
        }
    }
}

/// Starts shims.
pub struct BitcoindRpc;

impl BitcoindRpc {
    /// Binds `config.listen` and serves until [`BitcoindRpcHandle::shutdown`].
    pub async fn start(config: BitcoindRpcConfig) -> Result<BitcoindRpcHandle, BitcoindRpcError> {
        if work::Target::from_compact(config.nbits).is_none() {
            return Err(BitcoindRpcError::Config(format!(
                "nbits {:#010x} is not a valid target",
                config.nbits
            )));
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| BitcoindRpcError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| BitcoindRpcError::Bind {
                addr: config.listen,
                source,
            })?;
        let chain = SyntheticChain::new(config.start_height, config.nbits);
        let stats = Arc::new(BitcoindRpcStats::default());
        stats.set_tip_height(u64::from(chain.tip().height));
        let shared = Arc::new(Shared {
            expected_auth: config
                .auth
                .as_ref()
                .map(|a| http::basic_auth(&a.user, &a.password)),
            stats: stats.clone(),
            state: Mutex::new(ChainState {
                chain,
                blocks: HashMap::new(),
            }),
            config,
        });
        let blocks = {
            let shared = shared.clone();
            Periodic::every(shared.config.block_interval, move || {
                shared.advance_synthetic()
            })
        };
        let serve = move |stream, peer: SocketAddr, shutdown| {
            serve(shared.clone(), stream, shutdown).instrument(info_span!("rpc-conn", %peer))
        };
        let handle = ServerHandle::spawn(
            listener,
            local_addr,
            stats,
            info_span!("bitcoind-rpc", addr = %local_addr),
            vec![blocks],
            serve,
        );
        info!(%local_addr, "bitcoind RPC shim listening");
        Ok(handle)
    }
}

/// A running shim, with [`BitcoindRpcStats`] as its counters (see [`ServerHandle`]).
pub type BitcoindRpcHandle = ServerHandle<BitcoindRpcStats>;

/// One HTTP connection: requests answered in turn until the client closes, asks to close, or
/// sends something unreadable.
async fn serve(shared: Arc<Shared>, stream: TcpStream, mut shutdown: watch::Receiver<bool>) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    loop {
        let request = tokio::select! {
            _ = shutdown.changed() => return,
            r = http::read_request(&mut reader, shared.config.max_body_bytes) => r,
        };
        let request = match request {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                debug!("bad HTTP request: {e}");
                if let Some(status) = e.status() {
                    let _ = http::write_response(&mut writer, status, "", b"", false).await;
                }
                return;
            }
        };
        let (status, headers, body) = if !shared.authorized(request.authorization.as_deref()) {
            shared.stats.refused_credentials();
            (
                (401, "Unauthorized"),
                "WWW-Authenticate: Basic realm=\"jsonrpc\"\r\n",
                Vec::new(),
            )
        } else if request.method != "POST" {
            ((405, "Method Not Allowed"), "Allow: POST\r\n", Vec::new())
        } else {
            (
                (200, "OK"),
                "",
                methods::handle_body(&shared, &request.body),
            )
        };
        // A client that stops reading must not hold up the shim's shutdown.
        let written = tokio::select! {
            _ = shutdown.changed() => return,
            w = http::write_response(&mut writer, status, headers, &body, request.keep_alive) => w,
        };
        if written.is_err() || !request.keep_alive {
            return;
        }
    }
}
