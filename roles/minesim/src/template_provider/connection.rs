//! One client of the template provider: Noise handshake, `SetupConnection` for the template
//! distribution protocol, then templates after `CoinbaseOutputConstraints`, transaction data on
//! request and solutions, until it closes, misbehaves or the provider shuts down.

use super::store::SolutionOutcome;
use super::Shared;
use crate::chain::Tip;
use binary_sv2::{B016MOwned, B064KOwned, Seq064KOwned, Str0255Owned};
use common_messages_sv2::{
    Protocol, SetupConnectionErrorOwned, SetupConnectionSuccess,
    ERROR_CODE_SETUP_CONNECTION_PROTOCOL_VERSION_MISMATCH,
    ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_PROTOCOL,
};
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, TemplateDistributionOwned};
use std::sync::Arc;
use sv2_conn::{ConnError, FrameReader, FrameWriter};
use template_distribution_sv2::{
    RequestTransactionDataErrorOwned, RequestTransactionDataSuccessOwned, SubmitSolutionOwned,
    ERROR_CODE_REQUEST_TRANSACTION_DATA_TEMPLATE_ID_NOT_FOUND,
};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, info, warn};

const SV2_VERSION: u16 = 2;

/// Why a client connection ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionEnd {
    #[error(transparent)]
    Conn(#[from] ConnError),
    #[error("no SetupConnection within the deadline")]
    SetupTimeout,
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("template provider shutting down")]
    Shutdown,
}

pub(crate) async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    mut shutdown: watch::Receiver<bool>,
) {
    let timeout = shared.config.handshake_timeout;
    let (reader, writer) = tokio::select! {
        r = sv2_conn::accept(stream, &shared.keys, timeout) => match r {
            Ok(halves) => halves,
            Err(e) => { debug!("handshake failed: {e}"); return; }
        },
        _ = shutdown.changed() => return,
    };
    let mut client = Client {
        shared: shared.clone(),
        reader,
        writer,
        constrained: false,
        sent: None,
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

/// The last template a client was sent and the prev hash it mines on.
#[derive(Clone, Copy)]
struct Sent {
    template_id: u64,
    prev_hash: [u8; 32],
}

struct Client {
    shared: Arc<Shared>,
    reader: FrameReader,
    writer: FrameWriter,
    // Templates are only sent after the client's first `CoinbaseOutputConstraints`.
    constrained: bool,
    sent: Option<Sent>,
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
        let error = if setup.protocol != Protocol::TemplateDistributionProtocol {
            Some(ERROR_CODE_SETUP_CONNECTION_UNSUPPORTED_PROTOCOL)
        } else if setup.min_version > SV2_VERSION || setup.max_version < SV2_VERSION {
            Some(ERROR_CODE_SETUP_CONNECTION_PROTOCOL_VERSION_MISMATCH)
        } else {
            None
        };
        if let Some(code) = error {
            self.writer
                .write(CommonMessagesOwned::SetupConnectionError(
                    SetupConnectionErrorOwned {
                        flags: 0,
                        error_code: str0255(code),
                    },
                ))
                .await?;
            return Err(ConnectionEnd::Protocol(format!("setup refused: {code}")));
        }
        info!(vendor = %setup.vendor.as_utf8_or_hex(), "client set up template distribution");
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
        let mut tips = self.shared.tip.subscribe();
        tips.borrow_and_update();
        loop {
            let result = tokio::select! {
                _ = shutdown.changed() => return ConnectionEnd::Shutdown,
                msg = self.reader.read() => match msg {
                    Ok(msg) => self.handle(msg).await,
                    Err(e) => return e.into(),
                },
                changed = tips.changed() => {
                    if changed.is_err() { return ConnectionEnd::Shutdown; }
                    let tip = tips.borrow_and_update().clone();
                    self.offer(&tip).await
                }
            };
            if let Err(e) = result {
                return e;
            }
        }
    }

    async fn handle(&mut self, msg: AnyMessageOwned) -> Result<(), ConnectionEnd> {
        let AnyMessageOwned::TemplateDistribution(m) = msg else {
            return Err(ConnectionEnd::Protocol(format!("unexpected message {msg}")));
        };
        match m {
            TemplateDistributionOwned::CoinbaseOutputConstraints(c) => {
                info!(
                    max_additional_size = c.coinbase_output_max_additional_size,
                    max_additional_sigops = c.coinbase_output_max_additional_sigops,
                    "coinbase output constraints"
                );
                // New constraints mean new templates: start over from the current tip.
                self.constrained = true;
                self.sent = None;
                let tip = self.shared.current_tip();
                self.offer(&tip).await
            }
            TemplateDistributionOwned::RequestTransactionData(r) => {
                self.transaction_data(r.template_id).await
            }
            TemplateDistributionOwned::SubmitSolution(s) => {
                self.solution(s);
                Ok(())
            }
            other => Err(ConnectionEnd::Protocol(format!(
                "unexpected message {other}"
            ))),
        }
    }

    /// Brings the client to `tip`: a new prev hash is a future template followed by the
    /// `SetNewPrevHash` that activates it; a new template on the same prev hash is sent as
    /// immediately active.
    async fn offer(&mut self, tip: &Tip) -> Result<(), ConnectionEnd> {
        if !self.constrained {
            return Ok(());
        }
        let Some(sent) = self.sent else {
            return self.send_new_tip(tip).await;
        };
        if sent.prev_hash != tip.prev_hash_bytes() {
            self.send_new_tip(tip).await
        } else if sent.template_id != tip.template_id() {
            let mut template = tip.template.clone();
            template.future_template = false;
            self.writer
                .write(TemplateDistributionOwned::NewTemplate(template))
                .await?;
            self.shared.stats.template_sent();
            self.sent = Some(Sent {
                template_id: tip.template_id(),
                prev_hash: sent.prev_hash,
            });
            Ok(())
        } else {
            Ok(())
        }
    }

    async fn send_new_tip(&mut self, tip: &Tip) -> Result<(), ConnectionEnd> {
        self.writer
            .write(TemplateDistributionOwned::NewTemplate(tip.template.clone()))
            .await?;
        self.writer
            .write(TemplateDistributionOwned::SetNewPrevHash(
                tip.prev_hash.clone(),
            ))
            .await?;
        self.shared.stats.template_sent();
        debug!(
            height = tip.height,
            template_id = tip.template_id(),
            "sent template and prev hash"
        );
        self.sent = Some(Sent {
            template_id: tip.template_id(),
            prev_hash: tip.prev_hash_bytes(),
        });
        Ok(())
    }

    async fn transaction_data(&mut self, template_id: u64) -> Result<(), ConnectionEnd> {
        let reply = match self.shared.template(template_id) {
            Some(tip) => {
                let list: Result<Vec<B016MOwned>, _> = tip
                    .transactions
                    .iter()
                    .map(|t| B016MOwned::try_from(t.raw.clone()))
                    .collect();
                let (Ok(transaction_list), Ok(excess_data)) = (
                    list.and_then(Seq064KOwned::new),
                    B064KOwned::try_from(Vec::<u8>::new()),
                ) else {
                    return Err(ConnectionEnd::Protocol(
                        "template transactions exceed SV2 limits".into(),
                    ));
                };
                TemplateDistributionOwned::RequestTransactionDataSuccess(
                    RequestTransactionDataSuccessOwned {
                        template_id,
                        excess_data,
                        transaction_list,
                    },
                )
            }
            None => TemplateDistributionOwned::RequestTransactionDataError(
                RequestTransactionDataErrorOwned {
                    template_id,
                    error_code: str0255(ERROR_CODE_REQUEST_TRANSACTION_DATA_TEMPLATE_ID_NOT_FOUND),
                },
            ),
        };
        self.writer.write(reply).await?;
        Ok(())
    }

    fn solution(&mut self, solution: SubmitSolutionOwned) {
        let template_id = solution.template_id;
        match self.shared.submit(&solution) {
            SolutionOutcome::Found { block, next } => {
                info!(
                    height = block.height,
                    hash = %block.hash_hex(),
                    template_id,
                    next_height = next.height,
                    "block found"
                );
            }
            SolutionOutcome::Stale { height } => {
                info!(height, template_id, "valid solution for a tip already left");
            }
            SolutionOutcome::UnknownTemplate => {
                warn!(template_id, "solution for an unknown template");
            }
            SolutionOutcome::Invalid(e) => {
                warn!(template_id, "invalid solution: {e}");
            }
        }
    }
}

/// An SV2 error code as a `STR0_255` (our own constants, all far below 255 bytes).
fn str0255(code: &'static str) -> Str0255Owned {
    Str0255Owned::try_from(code)
        .unwrap_or_else(|_| unreachable!("error code longer than 255 bytes"))
}
