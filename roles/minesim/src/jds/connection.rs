//! One client of the Job Declaration Server: Noise handshake, `SetupConnection` for the Job
//! Declaration protocol (full-template mode), then tokens, declarations, missing transactions and
//! solutions, until it closes, misbehaves or the server shuts down.

use super::declaration::{Declaration, Declarations, Reply};
use super::stats::PushedSolution;
use super::Shared;
use binary_sv2::{B0255Owned, B064KOwned, Seq064KOwned, Str0255Owned};
use common_messages_sv2::{
    has_declare_tx_data, Protocol, SetupConnectionErrorOwned, SetupConnectionSuccess,
    ERROR_CODE_SETUP_CONNECTION_MISSING_DECLARE_TX_DATA_FLAG,
    ERROR_CODE_SETUP_CONNECTION_PROTOCOL_VERSION_MISMATCH,
    ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_PROTOCOL,
};
use job_declaration_sv2::{
    AllocateMiningJobTokenSuccessOwned, DeclareMiningJobErrorOwned, DeclareMiningJobOwned,
    DeclareMiningJobSuccessOwned, ProvideMissingTransactionsOwned, PushSolutionOwned,
};
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, JobDeclarationOwned};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sv2_conn::{ConnError, FrameReader, FrameWriter};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, info, warn};

const SV2_VERSION: u16 = 2;
/// `DECLARE_TX_DATA`: the client declares full templates (the only mode served here).
const DECLARE_TX_DATA: u32 = 1;

/// Why a client connection ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionEnd {
    #[error(transparent)]
    Conn(#[from] ConnError),
    #[error("no SetupConnection within the deadline")]
    SetupTimeout,
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("job declaration server shutting down")]
    Shutdown,
}

/// Largest message a client may send (an SV2 frame's most).
const MAX_CLIENT_MESSAGE: usize = (1 << 24) - 1;

pub(crate) async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    mut shutdown: watch::Receiver<bool>,
) {
    let timeout = shared.config.handshake_timeout;
    let (mut reader, writer) = tokio::select! {
        r = sv2_conn::accept(stream, &shared.keys, timeout) => match r {
            Ok(halves) => halves,
            Err(e) => { debug!("handshake failed: {e}"); return; }
        },
        _ = shutdown.changed() => return,
    };
    // Declarations list every wtxid of a template and missing transactions come whole.
    reader.set_max_payload(MAX_CLIENT_MESSAGE);
    let cfg = &shared.config;
    let mut client = Client {
        declarations: Declarations::new(
            cfg.max_tokens_per_client,
            cfg.max_pending_per_client,
            cfg.missing_txs_timeout,
        ),
        shared: shared.clone(),
        reader,
        writer,
    };
    if let Err(end) = client.setup(&mut shutdown).await {
        log_end(end);
        return;
    }
    shared.stats.client_connected();
    let end = client.run(&mut shutdown).await;
    shared.stats.client_disconnected();
    log_end(end);
}

fn log_end(end: ConnectionEnd) {
    match end {
        ConnectionEnd::Conn(ConnError::Closed) | ConnectionEnd::Shutdown => {
            debug!("client closed: {end}")
        }
        other => warn!("dropping client: {other}"),
    }
}

struct Client {
    shared: Arc<Shared>,
    reader: FrameReader,
    writer: FrameWriter,
    declarations: Declarations,
}

impl Client {
    async fn setup(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), ConnectionEnd> {
        let deadline = self.shared.config.handshake_timeout;
        let first = tokio::select! {
            r = tokio::time::timeout(deadline, self.reader.read()) => match r {
                Ok(msg) => msg?,
                Err(_) => return Err(ConnectionEnd::SetupTimeout),
            },
            _ = shutdown.changed() => return Err(ConnectionEnd::Shutdown),
        };
        let AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(setup)) = first else {
            return Err(ConnectionEnd::Protocol(format!(
                "expected SetupConnection, got {first}"
            )));
        };
        let error = if setup.protocol != Protocol::JobDeclarationProtocol {
            Some((0, ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_PROTOCOL))
        } else if setup.min_version > SV2_VERSION || setup.max_version < SV2_VERSION {
            Some((0, ERROR_CODE_SETUP_CONNECTION_PROTOCOL_VERSION_MISMATCH))
        } else if !has_declare_tx_data(setup.flags) {
            // Coinbase-only mode is not served: the flag this server needs is the one missing.
            Some((
                DECLARE_TX_DATA,
                ERROR_CODE_SETUP_CONNECTION_MISSING_DECLARE_TX_DATA_FLAG,
            ))
        } else {
            None
        };
        if let Some((flags, code)) = error {
            self.writer
                .write(CommonMessagesOwned::SetupConnectionError(
                    SetupConnectionErrorOwned {
                        flags,
                        error_code: str0255(code),
                    },
                ))
                .await?;
            return Err(ConnectionEnd::Protocol(format!("setup refused: {code}")));
        }
        info!(vendor = %setup.vendor.as_utf8_or_hex(), "client set up job declaration");
        self.writer
            .write(CommonMessagesOwned::SetupConnectionSuccess(
                SetupConnectionSuccess {
                    used_version: SV2_VERSION,
                    flags: 0,
                },
            ))
            .await?;
        Ok(())
    }

    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> ConnectionEnd {
        // Pending declarations are checked for their deadline this often.
        let period = (self.shared.config.missing_txs_timeout / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut expiry = tokio::time::interval(period);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let result = tokio::select! {
                _ = shutdown.changed() => return ConnectionEnd::Shutdown,
                msg = self.reader.read() => match msg {
                    Ok(msg) => self.handle(msg).await,
                    Err(e) => return e.into(),
                },
                _ = expiry.tick() => {
                    let expired = self.declarations.expire(Instant::now());
                    self.reply_all(expired).await
                }
            };
            if let Err(e) = result {
                return e;
            }
        }
    }

    async fn handle(&mut self, msg: AnyMessageOwned) -> Result<(), ConnectionEnd> {
        let AnyMessageOwned::JobDeclaration(m) = msg else {
            return Err(ConnectionEnd::Protocol(format!("unexpected message {msg}")));
        };
        match m {
            JobDeclarationOwned::AllocateMiningJobToken(a) => {
                let token = self.declarations.allocate(&self.shared.mint);
                let reply = AllocateMiningJobTokenSuccessOwned {
                    request_id: a.request_id,
                    mining_job_token: b0255(token)?,
                    coinbase_outputs: self.shared.coinbase_outputs.clone(),
                };
                self.writer
                    .write(JobDeclarationOwned::AllocateMiningJobTokenSuccess(reply))
                    .await?;
                self.shared.stats.token_allocated();
                debug!(user = %a.user_identifier.as_utf8_or_hex(), "token allocated");
                Ok(())
            }
            JobDeclarationOwned::DeclareMiningJob(d) => {
                let declaration = declaration(d);
                let reply = {
                    let mut mempool = self.shared.mempool();
                    let ctx = self.shared.context(&mut mempool);
                    self.declarations.declare(declaration, ctx, Instant::now())
                };
                self.reply(reply).await
            }
            JobDeclarationOwned::ProvideMissingTransactionsSuccess(p) => {
                let txs: Vec<Vec<u8>> = p
                    .transaction_list
                    .into_inner()
                    .into_iter()
                    .map(|t| t.as_bytes().to_vec())
                    .collect();
                let reply = {
                    let mut mempool = self.shared.mempool();
                    let ctx = self.shared.context(&mut mempool);
                    self.declarations.provide(p.request_id, txs, ctx)
                };
                match reply {
                    Some(r) => self.reply(r).await,
                    None => {
                        debug!(
                            request_id = p.request_id,
                            "transactions for no pending declaration (timed out?)"
                        );
                        Ok(())
                    }
                }
            }
            JobDeclarationOwned::PushSolution(s) => {
                self.push_solution(s);
                Ok(())
            }
            other => Err(ConnectionEnd::Protocol(format!(
                "unexpected message {other}"
            ))),
        }
    }

    fn push_solution(&self, s: PushSolutionOwned) {
        let mut prev_hash = [0u8; 32];
        prev_hash.copy_from_slice(s.prev_hash.as_bytes());
        info!(
            nonce = s.nonce,
            ntime = s.ntime,
            version = s.version,
            "solution pushed"
        );
        self.shared.stats.solution_pushed(PushedSolution {
            extranonce: s.extranonce.as_bytes().to_vec(),
            prev_hash,
            nonce: s.nonce,
            ntime: s.ntime,
            nbits: s.nbits,
            version: s.version,
        });
    }

    async fn reply_all(&mut self, replies: Vec<Reply>) -> Result<(), ConnectionEnd> {
        for r in replies {
            self.reply(r).await?;
        }
        Ok(())
    }

    async fn reply(&mut self, reply: Reply) -> Result<(), ConnectionEnd> {
        let stats = &self.shared.stats;
        let msg = match reply {
            Reply::Success {
                request_id,
                new_token,
            } => {
                stats.job_declared();
                info!(request_id, "job declared");
                JobDeclarationOwned::DeclareMiningJobSuccess(DeclareMiningJobSuccessOwned {
                    request_id,
                    new_mining_job_token: b0255(new_token)?,
                })
            }
            Reply::Error {
                request_id,
                code,
                details,
            } => {
                stats.declaration_refused(code);
                info!(request_id, code, details, "declaration refused");
                let mut details = details.into_bytes();
                details.truncate(u16::MAX as usize);
                JobDeclarationOwned::DeclareMiningJobError(DeclareMiningJobErrorOwned {
                    request_id,
                    error_code: str0255(code),
                    error_details: B064KOwned::try_from(details)
                        .map_err(|_| internal("error details too long"))?,
                })
            }
            Reply::Missing {
                request_id,
                positions,
            } => {
                stats.missing_txs_requested();
                debug!(
                    request_id,
                    missing = positions.len(),
                    "asking for transactions"
                );
                JobDeclarationOwned::ProvideMissingTransactions(ProvideMissingTransactionsOwned {
                    request_id,
                    unknown_tx_position_list: Seq064KOwned::new(positions)
                        .map_err(|_| internal("too many missing positions"))?,
                })
            }
        };
        self.writer.write(msg).await?;
        Ok(())
    }
}

fn declaration(d: DeclareMiningJobOwned) -> Declaration {
    Declaration {
        request_id: d.request_id,
        token: d.mining_job_token.as_bytes().to_vec(),
        version: d.version,
        coinbase_tx_prefix: d.coinbase_tx_prefix.as_bytes().to_vec(),
        coinbase_tx_suffix: d.coinbase_tx_suffix.as_bytes().to_vec(),
        wtxids: d
            .wtxid_list
            .into_inner()
            .iter()
            .map(|w| {
                let mut a = [0u8; 32];
                a.copy_from_slice(w.as_bytes());
                a
            })
            .collect(),
    }
}

fn internal(what: &str) -> ConnectionEnd {
    ConnectionEnd::Protocol(format!("cannot encode reply: {what}"))
}

fn b0255(bytes: Vec<u8>) -> Result<B0255Owned, ConnectionEnd> {
    B0255Owned::try_from(bytes).map_err(|_| internal("token longer than 255 bytes"))
}

/// An SV2 error code (our constants, far below 255 bytes) as a `STR0_255`.
fn str0255(code: &'static str) -> Str0255Owned {
    Str0255Owned::try_from(code)
        .unwrap_or_else(|_| unreachable!("error code longer than 255 bytes"))
}
