//! The Job Declaration client of one route: a Noise connection to the route's Job Declaration
//! Server with its pinned authority key, in full-template mode (`DECLARE_TX_DATA`); the JDS's
//! answers relayed to the core, the core's token requests, declarations, transactions and
//! solutions sent; reconnecting with capped exponential backoff.

use std::time::Duration;

use binary_sv2::{B016MOwned, B064KOwned, Seq064KOwned, U256Owned};
use common_messages_sv2::Protocol;
use job_declaration_sv2::{
    AllocateMiningJobTokenOwned, DeclareMiningJobOwned, ProvideMissingTransactionsSuccessOwned,
    PushSolutionOwned,
};
use parsers_sv2::{AnyMessageOwned, JobDeclarationOwned};
use sv2_conn::{FrameReader, FrameWriter, Secp256k1PublicKey};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, info_span, warn, Instrument};

use super::endpoints::Endpoints;
use super::jds_link::JdsLink;
use super::sv2_client::{self, message_name, str0255, Server, SessionError};
use crate::core::{JdsCommand, JdsEvent};

/// `SetupConnection` flag of the job declaration protocol: we send the template's transactions
/// when the JDS asks for them (full-template mode).
pub const DECLARE_TX_DATA: u32 = 1;
/// Largest message accepted from a JDS: its messages to a client are small (tokens, positions
/// of missing transactions, at most 64 Ki of them).
const MAX_JDS_MESSAGE: usize = 256 * 1024;
/// Largest message sent to a JDS: a declaration lists every wtxid of a template and the answer
/// to `ProvideMissingTransactions` carries whole transactions, megabytes for a full block (an
/// SV2 frame holds up to 2^24 - 1 bytes).
const MAX_DECLARATION_MESSAGE: usize = (1 << 24) - 1;

/// Everything a route's JDS client needs, from the node's config.
#[derive(Debug, Clone)]
pub struct JdsSettings {
    /// The route's name, for logs and errors.
    pub route: String,
    /// `host:port`s tried in order, round robin on failure.
    pub endpoints: Vec<String>,
    pub authority: Secp256k1PublicKey,
    /// Config key of `authority`, named when the JDS's certificate does not match.
    pub authority_field: String,
    /// `AllocateMiningJobToken.user_identifier` (the route's user identity).
    pub user_identifier: String,
    /// Deadline for TCP, for the Noise handshake and for the answer to `SetupConnection`.
    pub connect_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

/// Runs until shutdown: connect, set up, relay; after every session or failed attempt tell the
/// core `Disconnected` and try again after a backoff.
pub async fn run(
    link: JdsLink,
    settings: JdsSettings,
    mut commands: mpsc::Receiver<JdsCommand>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(mut endpoints) = Endpoints::new(
        settings.endpoints.clone(),
        settings.reconnect_min,
        settings.reconnect_max,
    ) else {
        error!(route = %settings.route, "route's job declaration has no endpoint");
        return;
    };
    loop {
        let address = endpoints.current().to_string();
        let span = info_span!("jds", route = %settings.route, %address);
        let started = tokio::time::Instant::now();
        let result = session(&settings, &address, &link, &mut commands, &mut shutdown)
            .instrument(span.clone())
            .await;
        let reason = match result {
            SessionError::Shutdown => return,
            e => e.to_string(),
        };
        span.in_scope(|| warn!(%reason, "job declaration session ended"));
        if !link.send(JdsEvent::Disconnected { reason }).await {
            return;
        }
        while commands.try_recv().is_ok() {}
        if let Some(wait) = endpoints.session_ended(started.elapsed()) {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// One connection's life; always ends with why.
async fn session(
    settings: &JdsSettings,
    address: &str,
    link: &JdsLink,
    commands: &mut mpsc::Receiver<JdsCommand>,
    shutdown: &mut watch::Receiver<bool>,
) -> SessionError {
    let server = Server {
        address,
        authority: settings.authority,
        field: &settings.authority_field,
        timeout: settings.connect_timeout,
    };
    let set_up = async {
        let (mut reader, mut writer) = sv2_client::connect(server).await?;
        reader.set_max_payload(MAX_JDS_MESSAGE);
        writer.set_max_payload(MAX_DECLARATION_MESSAGE);
        sv2_client::setup(
            server,
            Protocol::JobDeclarationProtocol,
            DECLARE_TX_DATA,
            &mut reader,
            &mut writer,
        )
        .await?;
        Ok::<_, SessionError>((reader, writer))
    };
    let (mut reader, mut writer) = tokio::select! {
        set_up = set_up => match set_up {
            Ok(halves) => halves,
            Err(e) => return e,
        },
        _ = shutdown.changed() => return SessionError::Shutdown,
    };
    info!("job declaration server connected");
    // Commands queued while disconnected were meant for an older session.
    while commands.try_recv().is_ok() {}
    if !link.send(JdsEvent::Connected).await {
        return SessionError::Shutdown;
    }
    let end = relay(settings, &mut reader, &mut writer, link, commands, shutdown).await;
    let _ = writer.shutdown().await;
    end
}

async fn relay(
    settings: &JdsSettings,
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    link: &JdsLink,
    commands: &mut mpsc::Receiver<JdsCommand>,
    shutdown: &mut watch::Receiver<bool>,
) -> SessionError {
    loop {
        tokio::select! {
            message = reader.read() => {
                let event = match message.map_err(SessionError::from).and_then(jds_event) {
                    Ok(event) => event,
                    Err(e) => return e,
                };
                if !link.send(event).await {
                    return SessionError::Shutdown;
                }
            }
            command = commands.recv() => {
                let message = match command {
                    None => return SessionError::Shutdown,
                    Some(JdsCommand::Close { reason }) => return SessionError::Closed(reason),
                    Some(command) => command_message(command, &settings.user_identifier),
                };
                let message = match message {
                    Ok(message) => message,
                    // The core's mistake, not the session's: keep the connection.
                    Err(e) => {
                        error!(error = %e, "message for the JDS not sent");
                        continue;
                    }
                };
                if let Err(e) = writer.write(message).await {
                    return e.into();
                }
            }
            _ = shutdown.changed() => return SessionError::Shutdown,
        }
    }
}

/// What a JDS's message means to the core; a message only a client sends, or another
/// sub-protocol's, ends the session.
pub(crate) fn jds_event(message: AnyMessageOwned) -> Result<JdsEvent, SessionError> {
    let AnyMessageOwned::JobDeclaration(message) = message else {
        return Err(SessionError::Protocol(format!(
            "unexpected {} from the JDS",
            message_name(&message)
        )));
    };
    Ok(match message {
        JobDeclarationOwned::AllocateMiningJobTokenSuccess(ok) => JdsEvent::TokenAllocated {
            request_id: ok.request_id,
            token: ok.mining_job_token.as_bytes().to_vec(),
            coinbase_outputs: ok.coinbase_outputs.as_bytes().to_vec(),
        },
        JobDeclarationOwned::DeclareMiningJobSuccess(ok) => JdsEvent::DeclareSuccess {
            request_id: ok.request_id,
            new_token: ok.new_mining_job_token.as_bytes().to_vec(),
        },
        JobDeclarationOwned::DeclareMiningJobError(e) => JdsEvent::DeclareError {
            request_id: e.request_id,
            code: e.error_code.as_utf8_or_hex(),
            details: e.error_details.as_bytes().to_vec(),
        },
        JobDeclarationOwned::ProvideMissingTransactions(m) => {
            JdsEvent::ProvideMissingTransactions {
                request_id: m.request_id,
                positions: m.unknown_tx_position_list.into_inner(),
            }
        }
        other => {
            return Err(SessionError::Protocol(format!(
                "unexpected {} from the JDS (a client's message)",
                message_name(&AnyMessageOwned::JobDeclaration(other))
            )))
        }
    })
}

/// The wire form of a core command (`Close` is handled by the session).
pub(crate) fn command_message(
    command: JdsCommand,
    user_identifier: &str,
) -> Result<JobDeclarationOwned, SessionError> {
    let too_long =
        |what: &str| SessionError::Unencodable(format!("{what} exceeds its SV2 size limit"));
    Ok(match command {
        JdsCommand::AllocateToken { request_id } => {
            JobDeclarationOwned::AllocateMiningJobToken(AllocateMiningJobTokenOwned {
                user_identifier: str0255(user_identifier)?,
                request_id,
            })
        }
        JdsCommand::DeclareMiningJob {
            request_id,
            token,
            version,
            coinbase_tx_prefix,
            coinbase_tx_suffix,
            wtxids,
            excess_data,
        } => JobDeclarationOwned::DeclareMiningJob(DeclareMiningJobOwned {
            request_id,
            mining_job_token: token.try_into().map_err(|_| too_long("token"))?,
            version,
            coinbase_tx_prefix: coinbase_tx_prefix
                .try_into()
                .map_err(|_| too_long("coinbase_tx_prefix"))?,
            coinbase_tx_suffix: coinbase_tx_suffix
                .try_into()
                .map_err(|_| too_long("coinbase_tx_suffix"))?,
            wtxid_list: Seq064KOwned::new(wtxids.into_iter().map(U256Owned::from).collect())
                .map_err(|_| too_long("wtxid list"))?,
            excess_data: B064KOwned::try_from(excess_data).map_err(|_| too_long("excess_data"))?,
        }),
        JdsCommand::ProvideMissingTransactionsSuccess {
            request_id,
            transactions,
        } => {
            let list: Result<Vec<B016MOwned>, _> =
                transactions.into_iter().map(B016MOwned::try_from).collect();
            JobDeclarationOwned::ProvideMissingTransactionsSuccess(
                ProvideMissingTransactionsSuccessOwned {
                    request_id,
                    transaction_list: list
                        .ok()
                        .and_then(|list| Seq064KOwned::new(list).ok())
                        .ok_or_else(|| too_long("transaction list"))?,
                },
            )
        }
        JdsCommand::PushSolution {
            extranonce,
            prev_hash,
            nonce,
            ntime,
            nbits,
            version,
        } => JobDeclarationOwned::PushSolution(PushSolutionOwned {
            extranonce: extranonce.try_into().map_err(|_| too_long("extranonce"))?,
            prev_hash: U256Owned::from(prev_hash),
            nonce,
            ntime,
            nbits,
            version,
        }),
        JdsCommand::Close { reason } => return Err(SessionError::Closed(reason)),
    })
}
