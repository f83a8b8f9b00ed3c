//! The Template Distribution client: one Noise connection to the template provider with its
//! pinned authority key, templates and prev hashes relayed to the core, the core's constraints,
//! transaction data requests and block solutions sent back; reconnecting with capped
//! exponential backoff.

use std::time::Duration;

use binary_sv2::B064KOwned;
use common_messages_sv2::Protocol;
use parsers_sv2::{AnyMessageOwned, TemplateDistributionOwned};
use sv2_conn::{FrameReader, FrameWriter, Secp256k1PublicKey};
use template_distribution_sv2::{
    CoinbaseOutputConstraintsOwned, NewTemplateOwned, RequestTransactionDataOwned,
    SubmitSolutionOwned,
};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, info_span, warn, Instrument};

use super::endpoints::Endpoints;
use super::sv2_client::{self, message_name, Server, SessionError};
use crate::core::{Template, TemplateCommand, TemplateEvent, TemplateTip};
use crate::node::CoreInput;

/// Largest message accepted from the template provider: transaction data of a full block
/// (4 MB of weight, at most 4 MB of bytes) with room for framing.
pub const MAX_TEMPLATE_MESSAGE: usize = 5 * 1024 * 1024;
/// Longest BIP34 height prefix a template may carry (the spec's limit).
const MAX_COINBASE_PREFIX: usize = 8;
/// Config key of the pinned key, for errors.
const AUTHORITY_FIELD: &str = "template_provider.authority_pubkey";

/// Everything the client needs, from the node's config.
#[derive(Debug, Clone)]
pub struct TemplateProviderSettings {
    /// `host:port`s tried in order (the primary, then backups), round robin on failure.
    pub endpoints: Vec<String>,
    pub authority: Secp256k1PublicKey,
    /// Deadline for TCP, for the Noise handshake and for the answer to `SetupConnection`.
    pub connect_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

/// Runs until shutdown: connect, set up, relay; after every session or failed attempt tell the
/// core `Disconnected` and try again after a backoff.
pub async fn run(
    settings: TemplateProviderSettings,
    inbox: async_channel::Sender<CoreInput>,
    mut commands: mpsc::Receiver<TemplateCommand>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(mut endpoints) = Endpoints::new(
        settings.endpoints.clone(),
        settings.reconnect_min,
        settings.reconnect_max,
    ) else {
        error!("template provider has no endpoint");
        return;
    };
    loop {
        let address = endpoints.current().to_string();
        let span = info_span!("template_provider", %address);
        let started = tokio::time::Instant::now();
        let result = session(&settings, &address, &inbox, &mut commands, &mut shutdown)
            .instrument(span.clone())
            .await;
        if matches!(result, SessionError::Shutdown) {
            return;
        }
        let reason = result.to_string();
        span.in_scope(|| match result {
            SessionError::WrongAuthority { .. } => error!(%reason, "template provider refused"),
            _ => warn!(%reason, "template provider session ended"),
        });
        let event = CoreInput::Template(TemplateEvent::Disconnected { reason });
        if inbox.send(event).await.is_err() {
            return;
        }
        // What the core asked of the dead session means nothing to the next one.
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
    settings: &TemplateProviderSettings,
    address: &str,
    inbox: &async_channel::Sender<CoreInput>,
    commands: &mut mpsc::Receiver<TemplateCommand>,
    shutdown: &mut watch::Receiver<bool>,
) -> SessionError {
    let server = Server {
        address,
        authority: settings.authority,
        field: AUTHORITY_FIELD,
        timeout: settings.connect_timeout,
    };
    let set_up = async {
        let (mut reader, mut writer) = sv2_client::connect(server).await?;
        reader.set_max_payload(MAX_TEMPLATE_MESSAGE);
        sv2_client::setup(
            server,
            Protocol::TemplateDistributionProtocol,
            0,
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
    info!("template provider connected");
    // Commands queued while disconnected were meant for an older session.
    while commands.try_recv().is_ok() {}
    if inbox
        .send(CoreInput::Template(TemplateEvent::Connected))
        .await
        .is_err()
    {
        return SessionError::Shutdown;
    }
    let end = relay(&mut reader, &mut writer, inbox, commands, shutdown).await;
    if matches!(end, SessionError::Shutdown) {
        let _ = writer.shutdown().await;
    }
    end
}

async fn relay(
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    inbox: &async_channel::Sender<CoreInput>,
    commands: &mut mpsc::Receiver<TemplateCommand>,
    shutdown: &mut watch::Receiver<bool>,
) -> SessionError {
    loop {
        tokio::select! {
            message = reader.read() => {
                let event = match message.map_err(SessionError::from).and_then(template_event) {
                    Ok(event) => event,
                    Err(e) => return e,
                };
                if inbox.send(CoreInput::Template(event)).await.is_err() {
                    return SessionError::Shutdown;
                }
            }
            command = commands.recv() => {
                let Some(command) = command else { return SessionError::Shutdown };
                let message = match command_message(command) {
                    Ok(message) => message,
                    // The core's mistake, not the session's: keep the connection.
                    Err(e) => {
                        error!(error = %e, "command for the template provider not sent");
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

/// What a template provider's message means to the core; anything a client must not receive,
/// or a template that breaks the spec's limits, ends the session.
pub(crate) fn template_event(message: AnyMessageOwned) -> Result<TemplateEvent, SessionError> {
    let AnyMessageOwned::TemplateDistribution(message) = message else {
        return Err(SessionError::Protocol(format!(
            "unexpected {} from the template provider",
            message_name(&message)
        )));
    };
    Ok(match message {
        TemplateDistributionOwned::NewTemplate(t) => TemplateEvent::NewTemplate(template(t)?),
        TemplateDistributionOwned::SetNewPrevHash(p) => {
            TemplateEvent::SetNewPrevHash(TemplateTip {
                template_id: p.template_id,
                prev_hash: p.prev_hash.into_array(),
                header_timestamp: p.header_timestamp,
                nbits: p.n_bits,
            })
        }
        TemplateDistributionOwned::RequestTransactionDataSuccess(ok) => {
            TemplateEvent::TransactionData {
                template_id: ok.template_id,
                transactions: ok
                    .transaction_list
                    .into_inner()
                    .into_iter()
                    .map(|tx| tx.as_bytes().to_vec())
                    .collect(),
                excess_data: ok.excess_data.as_bytes().to_vec(),
            }
        }
        TemplateDistributionOwned::RequestTransactionDataError(e) => {
            TemplateEvent::TransactionDataError {
                template_id: e.template_id,
                code: e.error_code.as_utf8_or_hex(),
            }
        }
        other => {
            return Err(SessionError::Protocol(format!(
                "unexpected {} from the template provider (a client's message)",
                message_name(&AnyMessageOwned::TemplateDistribution(other))
            )))
        }
    })
}

fn template(t: NewTemplateOwned) -> Result<Template, SessionError> {
    let coinbase_prefix = t.coinbase_prefix.as_bytes().to_vec();
    if coinbase_prefix.len() > MAX_COINBASE_PREFIX {
        return Err(SessionError::Protocol(format!(
            "template {} has a {}-byte coinbase prefix (at most {MAX_COINBASE_PREFIX})",
            t.template_id,
            coinbase_prefix.len()
        )));
    }
    let coinbase_tx_outputs = t.coinbase_tx_outputs.as_bytes().to_vec();
    check_outputs(&coinbase_tx_outputs, t.coinbase_tx_outputs_count).map_err(|reason| {
        SessionError::Protocol(format!(
            "template {}: coinbase outputs {reason}",
            t.template_id
        ))
    })?;
    Ok(Template {
        template_id: t.template_id,
        future: t.future_template,
        version: t.version,
        coinbase_tx_version: t.coinbase_tx_version,
        coinbase_prefix,
        coinbase_tx_input_sequence: t.coinbase_tx_input_sequence,
        coinbase_tx_value_remaining: t.coinbase_tx_value_remaining,
        coinbase_tx_outputs_count: t.coinbase_tx_outputs_count,
        coinbase_tx_outputs,
        coinbase_tx_locktime: t.coinbase_tx_locktime,
        merkle_path: t
            .merkle_path
            .into_inner()
            .into_iter()
            .map(|node| node.into_array())
            .collect(),
    })
}

/// The template's outputs must be exactly `count` consensus-serialized outputs: the core
/// splices them into coinbases, so a bad one would make every block we find invalid.
fn check_outputs(bytes: &[u8], count: u32) -> Result<(), String> {
    let mut rest = bytes;
    for index in 0..count {
        let (_, used) = bitcoin::consensus::encode::deserialize_partial::<bitcoin::TxOut>(rest)
            .map_err(|e| format!("do not decode (output {index}): {e}"))?;
        rest = &rest[used..];
    }
    if !rest.is_empty() {
        return Err(format!(
            "have {} bytes after the {count} announced outputs",
            rest.len()
        ));
    }
    Ok(())
}

/// The wire form of a core command.
pub(crate) fn command_message(
    command: TemplateCommand,
) -> Result<TemplateDistributionOwned, SessionError> {
    Ok(match command {
        TemplateCommand::CoinbaseOutputConstraints {
            max_additional_size,
            max_additional_sigops,
        } => TemplateDistributionOwned::CoinbaseOutputConstraints(CoinbaseOutputConstraintsOwned {
            coinbase_output_max_additional_size: max_additional_size,
            coinbase_output_max_additional_sigops: max_additional_sigops,
        }),
        TemplateCommand::RequestTransactionData { template_id } => {
            TemplateDistributionOwned::RequestTransactionData(RequestTransactionDataOwned {
                template_id,
            })
        }
        TemplateCommand::SubmitSolution(solution) => {
            let coinbase_tx = B064KOwned::try_from(solution.coinbase_tx).map_err(|_| {
                SessionError::Unencodable("solution coinbase longer than 65535 bytes".into())
            })?;
            TemplateDistributionOwned::SubmitSolution(SubmitSolutionOwned {
                template_id: solution.template_id,
                version: solution.version,
                header_timestamp: solution.header_timestamp,
                header_nonce: solution.header_nonce,
                coinbase_tx,
            })
        }
    })
}
