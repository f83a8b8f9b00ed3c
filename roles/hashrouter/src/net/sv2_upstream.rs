//! The SV2 upstream client: one Noise connection to the pool with the pinned authority key, one
//! aggregated extended channel for all devices, reconnecting with capped exponential backoff
//! while devices stay connected to the node.

use std::collections::HashSet;
use std::time::Duration;

use binary_sv2::{Seq0255Owned, Str0255Owned, U256Owned};
use common_messages_sv2::{Protocol, SetupConnectionOwned};
use mining_sv2::{
    OpenExtendedMiningChannelOwned, SetCustomMiningJobOwned, SubmitSharesExtendedOwned,
};
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, MiningOwned};
use sv2_conn::{ConnError, FrameReader, FrameWriter, Secp256k1PublicKey};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, info_span, warn, Instrument};

use super::endpoints::Endpoints;
use super::upstream_link::UpstreamLink;
use crate::core::{CustomJob, RouteId, UpstreamEvent, UpstreamJob, UpstreamShare};
use crate::node::UpstreamCommand;

/// `SetupConnection` flag asking the pool to let us choose our own work (declared jobs).
const REQUIRES_WORK_SELECTION: u32 = 1 << 1;
/// `SetupConnection` flag asking the pool to allow version rolling on every job.
const REQUIRES_VERSION_ROLLING: u32 = 1 << 2;
const OPEN_CHANNEL_REQUEST_ID: u32 = 1;

/// Everything the client needs, from the node's config.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// The route's name, for logs.
    pub route: String,
    /// `host:port`s tried in order (the primary, then backups), round robin on failure.
    pub endpoints: Vec<String>,
    pub authority: Secp256k1PublicKey,
    pub user_identity: String,
    pub require_version_rolling: bool,
    /// Ask for `REQUIRES_WORK_SELECTION` (the route declares its own jobs); a pool that refuses
    /// it gets a connection without it, and the route mines the pool's jobs.
    pub work_selection: bool,
    /// Rollable extranonce bytes to ask for (device id + extranonce2).
    pub extranonce_size: u16,
    pub connect_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

/// Why an upstream connection ended.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("connect to {0} timed out")]
    ConnectTimeout(String),
    #[error(
        "{address} is not signed by the configured authority key (upstream.authority_pubkey): \
         wrong key, or not the pool you meant"
    )]
    WrongAuthority { address: String },
    #[error("{0}")]
    Conn(#[from] ConnError),
    #[error("pool refused SetupConnection: {0}")]
    SetupRefused(String),
    #[error(
        "pool refused SetupConnection with REQUIRES_WORK_SELECTION ({0}); mining the pool's \
         jobs on this endpoint, without job declaration"
    )]
    WorkSelectionRefused(String),
    #[error("pool refused to open the channel: {0}")]
    OpenRefused(String),
    #[error("unexpected message from pool during setup: {0}")]
    Unexpected(String),
    #[error("pool asked us to reconnect to {0}")]
    Reconnect(String),
    #[error("pool closed our channel: {0}")]
    ChannelClosed(String),
    #[error("channel unusable: {0}")]
    Unusable(String),
    #[error("node shutting down")]
    Shutdown,
}

/// Runs until shutdown: connect, set up, open the channel, relay, and on any failure tell the
/// core and try again after a backoff.
pub async fn run(
    link: UpstreamLink,
    settings: UpstreamSettings,
    mut commands: mpsc::Receiver<UpstreamCommand>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(mut endpoints) = Endpoints::new(
        settings.endpoints.clone(),
        settings.reconnect_min,
        settings.reconnect_max,
    ) else {
        error!(route = %settings.route, "route has no endpoint");
        return;
    };
    // Endpoints that refused work selection: connected to without asking for it.
    let mut no_work_selection = HashSet::new();
    loop {
        let address = endpoints.current().to_string();
        let span = info_span!("upstream", route = %settings.route, %address);
        let started = tokio::time::Instant::now();
        let work_selection = settings.work_selection && !no_work_selection.contains(&address);
        let result = session(
            &settings,
            &address,
            work_selection,
            &mut commands,
            &link,
            &mut shutdown,
        )
        .instrument(span.clone())
        .await;
        if let Err(e) = &result {
            if !matches!(e, UpstreamError::Shutdown) {
                let reason = match e {
                    UpstreamError::WrongAuthority { .. } if link.route != RouteId::DEFAULT => {
                        format!(
                            "{e} [the key is `authority_pubkey` of route `{}`]",
                            settings.route
                        )
                    }
                    _ => e.to_string(),
                };
                link.report_failure(reason);
            }
        }
        let _entered = span.enter();
        match result {
            Err(UpstreamError::Shutdown) => return,
            Err(e @ UpstreamError::WorkSelectionRefused(_)) => {
                warn!(error = %e, "connecting again without work selection");
                no_work_selection.insert(address);
                continue;
            }
            Err(UpstreamError::Reconnect(to)) => {
                info!(%to, "pool redirected us");
                endpoints.redirect(to);
                while commands.try_recv().is_ok() {}
                continue;
            }
            Err(e @ UpstreamError::WrongAuthority { .. }) => error!(error = %e, "upstream refused"),
            Err(e) => warn!(error = %e, "upstream connection ended"),
            Ok(()) => {}
        }
        drop(_entered);
        // Shares queued for the dead channel cannot be sent on a new one.
        while commands.try_recv().is_ok() {}
        // Next endpoint at once while some have not been tried; then back off.
        if let Some(wait) = endpoints.session_ended(started.elapsed()) {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// One connection's life. Tells the core `Disconnected` if the channel had been opened.
async fn session(
    settings: &UpstreamSettings,
    address: &str,
    work_selection: bool,
    commands: &mut mpsc::Receiver<UpstreamCommand>,
    link: &UpstreamLink,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), UpstreamError> {
    let (mut reader, mut writer) = tokio::select! {
        connected = connect(settings, address) => connected?,
        _ = shutdown.changed() => return Err(UpstreamError::Shutdown),
    };
    let (opened, group_channel_id) = tokio::select! {
        opened = open_channel(settings, address, work_selection, &mut reader, &mut writer) => opened?,
        _ = shutdown.changed() => return Err(UpstreamError::Shutdown),
    };
    let channel_id = match &opened {
        UpstreamEvent::ChannelOpened { channel_id, .. } => *channel_id,
        _ => 0,
    };
    info!(channel_id, group_channel_id, "channel open");
    let endpoint = UpstreamEvent::Endpoint {
        address: address.to_string(),
        primary: settings
            .endpoints
            .first()
            .is_some_and(|first| first == address),
    };
    if !link.send(endpoint).await {
        return Err(UpstreamError::Shutdown);
    }
    let ids = ChannelIds {
        channel: channel_id,
        group: group_channel_id,
    };
    if !link.send(opened).await {
        return Err(UpstreamError::Shutdown);
    }
    if settings.work_selection
        && !link
            .send(UpstreamEvent::WorkSelection {
                allowed: work_selection,
            })
            .await
    {
        return Err(UpstreamError::Shutdown);
    }
    let result = relay(ids, &mut reader, &mut writer, commands, link, shutdown).await;
    let _ = link.send(UpstreamEvent::Disconnected).await;
    if matches!(result, Err(UpstreamError::Shutdown)) {
        let _ = writer.shutdown().await;
    }
    result
}

async fn connect(
    settings: &UpstreamSettings,
    address: &str,
) -> Result<(FrameReader, FrameWriter), UpstreamError> {
    let stream = tokio::time::timeout(settings.connect_timeout, TcpStream::connect(address))
        .await
        .map_err(|_| UpstreamError::ConnectTimeout(address.to_string()))?
        .map_err(|source| UpstreamError::Connect {
            address: address.to_string(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    sv2_conn::connect(stream, Some(settings.authority), settings.connect_timeout)
        .await
        .map_err(|e| match e {
            ConnError::AuthorityMismatch => UpstreamError::WrongAuthority {
                address: address.to_string(),
            },
            other => other.into(),
        })
}

/// SetupConnection, then OpenExtendedMiningChannel; returns the channel as a core event, and the
/// group channel the pool put it in.
async fn open_channel(
    settings: &UpstreamSettings,
    address: &str,
    work_selection: bool,
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
) -> Result<(UpstreamEvent, u32), UpstreamError> {
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "0"));
    let setup = SetupConnectionOwned {
        protocol: Protocol::MiningProtocol,
        min_version: 2,
        max_version: 2,
        flags: setup_flags(settings.require_version_rolling, work_selection),
        endpoint_host: str0255(host)?,
        endpoint_port: port.parse().unwrap_or(0),
        vendor: str0255("hashrouter")?,
        hardware_version: str0255("")?,
        firmware: str0255(env!("CARGO_PKG_VERSION"))?,
        device_id: str0255("")?,
    };
    writer
        .write(CommonMessagesOwned::SetupConnection(setup))
        .await?;
    match reader.read().await? {
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(_)) => {}
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionError(e)) => {
            let code = e.error_code.as_utf8_or_hex();
            return Err(if work_selection {
                UpstreamError::WorkSelectionRefused(code)
            } else {
                UpstreamError::SetupRefused(code)
            });
        }
        other => return Err(UpstreamError::Unexpected(other.to_string())),
    }
    let open = OpenExtendedMiningChannelOwned {
        request_id: OPEN_CHANNEL_REQUEST_ID,
        user_identity: str0255(&settings.user_identity)?,
        // The pool starts its vardiff here; ours measures devices, so start low and let the
        // pool's SetTarget follow the real rate.
        nominal_hash_rate: 1.0e6,
        max_target: U256Owned::from([0xff; 32]),
        min_extranonce_size: settings.extranonce_size,
    };
    writer
        .write(MiningOwned::OpenExtendedMiningChannel(open))
        .await?;
    loop {
        match reader.read().await? {
            AnyMessageOwned::Mining(MiningOwned::OpenExtendedMiningChannelSuccess(ok)) => {
                let group_channel_id = ok.group_channel_id;
                let opened = UpstreamEvent::ChannelOpened {
                    channel_id: ok.channel_id,
                    target: ok.target.into_array(),
                    extranonce_prefix: ok.extranonce_prefix.as_bytes().to_vec(),
                    extranonce_size: ok.extranonce_size,
                };
                return Ok((opened, group_channel_id));
            }
            AnyMessageOwned::Mining(MiningOwned::OpenMiningChannelError(e)) => {
                return Err(UpstreamError::OpenRefused(e.error_code.as_utf8_or_hex()))
            }
            other => debug!(message = %other, "ignored before channel open"),
        }
    }
}

/// Relays pool messages to the core and the core's shares to the pool until the connection
/// ends.
async fn relay(
    ids: ChannelIds,
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    commands: &mut mpsc::Receiver<UpstreamCommand>,
    link: &UpstreamLink,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), UpstreamError> {
    loop {
        tokio::select! {
            message = reader.read() => {
                let event = match message? {
                    AnyMessageOwned::Mining(m) => mining_event(ids, m)?,
                    AnyMessageOwned::Common(CommonMessagesOwned::Reconnect(r)) => {
                        let host = r.new_host.as_utf8_or_hex();
                        return Err(UpstreamError::Reconnect(format!("{host}:{}", r.new_port)));
                    }
                    other => {
                        debug!(message = %other, "ignored");
                        None
                    }
                };
                if let Some(event) = event {
                    if !link.send(event).await {
                        return Err(UpstreamError::Shutdown);
                    }
                }
            }
            command = commands.recv() => match command {
                Some(UpstreamCommand::Submit(share)) => {
                    writer.write(MiningOwned::SubmitSharesExtended(submit_message(share)?)).await?;
                }
                Some(UpstreamCommand::Close(reason)) => return Err(UpstreamError::Unusable(reason)),
                Some(UpstreamCommand::SetCustomMiningJob(job)) => {
                    let request_id = job.request_id;
                    match custom_job_message(job) {
                        Ok(message) => {
                            writer.write(MiningOwned::SetCustomMiningJob(message)).await?;
                        }
                        // The core built a job the wire cannot carry: refuse it at once so
                        // the route falls back, and keep the channel.
                        Err(e) => {
                            error!(error = %e, request_id, "declared job not sent");
                            let refused = UpstreamEvent::CustomJobRefused {
                                request_id,
                                code: e.to_string(),
                            };
                            if !link.send(refused).await {
                                return Err(UpstreamError::Shutdown);
                            }
                        }
                    }
                }
                None => return Err(UpstreamError::Shutdown),
            },
            _ = shutdown.changed() => return Err(UpstreamError::Shutdown),
        }
    }
}

/// Our upstream channel and the group channel the pool put it in.
#[derive(Debug, Clone, Copy)]
struct ChannelIds {
    channel: u32,
    group: u32,
}

/// Translates a mining message of our channel into a core event (`None`: nothing for the core).
fn mining_event(
    ids: ChannelIds,
    message: MiningOwned,
) -> Result<Option<UpstreamEvent>, UpstreamError> {
    let ours = |id: u32| id == ids.channel;
    // Pools may send jobs and prev hashes once to a whole group channel (SRI's pool_sv2 does,
    // after the first job): those apply to our channel too.
    let ours_or_group = |id: u32| id == ids.channel || id == ids.group;
    Ok(match message {
        MiningOwned::NewExtendedMiningJob(job) if ours_or_group(job.channel_id) => {
            Some(UpstreamEvent::NewJob(UpstreamJob {
                job_id: job.job_id,
                min_ntime: job.min_ntime.into_inner(),
                version: job.version,
                version_rolling_allowed: job.version_rolling_allowed,
                merkle_path: job
                    .merkle_path
                    .into_inner()
                    .into_iter()
                    .map(|node| node.into_array())
                    .collect(),
                coinbase_prefix: job.coinbase_tx_prefix.as_bytes().to_vec(),
                coinbase_suffix: job.coinbase_tx_suffix.as_bytes().to_vec(),
            }))
        }
        MiningOwned::SetNewPrevHash(prev) if ours_or_group(prev.channel_id) => {
            Some(UpstreamEvent::SetNewPrevHash {
                job_id: prev.job_id,
                prev_hash: prev.prev_hash.into_array(),
                min_ntime: prev.min_ntime,
                nbits: prev.nbits,
            })
        }
        MiningOwned::SetTarget(target) if ours(target.channel_id) => {
            Some(UpstreamEvent::SetTarget {
                target: target.maximum_target.into_array(),
            })
        }
        MiningOwned::SetExtranoncePrefix(prefix) if ours(prefix.channel_id) => {
            Some(UpstreamEvent::SetExtranoncePrefix {
                extranonce_prefix: prefix.extranonce_prefix.as_bytes().to_vec(),
            })
        }
        MiningOwned::SubmitSharesSuccess(ok) if ours(ok.channel_id) => {
            Some(UpstreamEvent::SubmitSuccess {
                last_sequence_number: ok.last_sequence_number,
                accepted_count: ok.new_submits_accepted_count,
                shares_sum: ok.new_shares_sum,
            })
        }
        MiningOwned::SubmitSharesError(e) if ours(e.channel_id) => {
            Some(UpstreamEvent::SubmitError {
                sequence_number: e.sequence_number,
                code: e.error_code.as_utf8_or_hex(),
            })
        }
        MiningOwned::SetCustomMiningJobSuccess(ok) if ours(ok.channel_id) => {
            Some(UpstreamEvent::CustomJobAccepted {
                request_id: ok.request_id,
                job_id: ok.job_id,
            })
        }
        MiningOwned::SetCustomMiningJobError(e) if ours(e.channel_id) => {
            Some(UpstreamEvent::CustomJobRefused {
                request_id: e.request_id,
                code: e.error_code.as_utf8_or_hex(),
            })
        }
        MiningOwned::CloseChannel(close) if ours(close.channel_id) => {
            return Err(UpstreamError::ChannelClosed(
                close.reason_code.as_utf8_or_hex(),
            ))
        }
        other => {
            debug!(message = %other, "ignored mining message");
            None
        }
    })
}

/// The `SetupConnection` flags of the mining protocol we ask for.
fn setup_flags(require_version_rolling: bool, work_selection: bool) -> u32 {
    let mut flags = 0;
    if require_version_rolling {
        flags |= REQUIRES_VERSION_ROLLING;
    }
    if work_selection {
        flags |= REQUIRES_WORK_SELECTION;
    }
    flags
}

/// The wire form of a declared job.
fn custom_job_message(job: CustomJob) -> Result<SetCustomMiningJobOwned, UpstreamError> {
    let too_long = |what: &str| {
        UpstreamError::Unusable(format!("declared job's {what} exceeds its SV2 size limit"))
    };
    Ok(SetCustomMiningJobOwned {
        channel_id: job.channel_id,
        request_id: job.request_id,
        token: job.token.try_into().map_err(|_| too_long("token"))?,
        version: job.version,
        prev_hash: U256Owned::from(job.prev_hash),
        min_ntime: job.min_ntime,
        nbits: job.nbits,
        coinbase_tx_version: job.coinbase_tx_version,
        coinbase_prefix: job
            .coinbase_prefix
            .try_into()
            .map_err(|_| too_long("coinbase prefix"))?,
        coinbase_tx_input_n_sequence: job.coinbase_tx_input_n_sequence,
        coinbase_tx_outputs: job
            .coinbase_tx_outputs
            .try_into()
            .map_err(|_| too_long("coinbase outputs"))?,
        coinbase_tx_locktime: job.coinbase_tx_locktime,
        merkle_path: Seq0255Owned::new(job.merkle_path.into_iter().map(U256Owned::from).collect())
            .map_err(|_| too_long("merkle path"))?,
    })
}

fn submit_message(share: UpstreamShare) -> Result<SubmitSharesExtendedOwned, UpstreamError> {
    Ok(SubmitSharesExtendedOwned {
        channel_id: share.channel_id,
        sequence_number: share.sequence_number,
        job_id: share.job_id,
        nonce: share.nonce,
        ntime: share.ntime,
        version: share.version,
        extranonce: share
            .extranonce
            .try_into()
            .map_err(|_| UpstreamError::Unusable("extranonce longer than 32 bytes".into()))?,
    })
}

/// A string field of at most 255 bytes (the config validates the user identity's length).
fn str0255(text: &str) -> Result<Str0255Owned, UpstreamError> {
    Str0255Owned::try_from(text.to_string())
        .map_err(|_| UpstreamError::Unusable(format!("`{text}` is longer than 255 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use binary_sv2::{B064KOwned, Sv2OptionOwned};
    use mining_sv2::{NewExtendedMiningJobOwned, SetNewPrevHashOwned, SetTargetOwned};

    const IDS: ChannelIds = ChannelIds {
        channel: 2,
        group: 1,
    };

    fn job(channel_id: u32) -> MiningOwned {
        MiningOwned::NewExtendedMiningJob(NewExtendedMiningJobOwned {
            channel_id,
            job_id: 7,
            min_ntime: Sv2OptionOwned::new(None),
            version: 0x2000_0000,
            version_rolling_allowed: true,
            merkle_path: Seq0255Owned::new(Vec::new()).unwrap(),
            coinbase_tx_prefix: B064KOwned::try_from(vec![1, 2]).unwrap(),
            coinbase_tx_suffix: B064KOwned::try_from(vec![3]).unwrap(),
        })
    }

    fn prev_hash(channel_id: u32) -> MiningOwned {
        MiningOwned::SetNewPrevHash(SetNewPrevHashOwned {
            channel_id,
            job_id: 7,
            prev_hash: U256Owned::from([9u8; 32]),
            min_ntime: 1_700_000_000,
            nbits: 0x207f_ffff,
        })
    }

    #[test]
    fn jobs_and_prev_hashes_of_our_group_channel_are_ours() {
        for id in [IDS.channel, IDS.group] {
            assert!(matches!(
                mining_event(IDS, job(id)).unwrap(),
                Some(UpstreamEvent::NewJob(j)) if j.job_id == 7
            ));
            assert!(matches!(
                mining_event(IDS, prev_hash(id)).unwrap(),
                Some(UpstreamEvent::SetNewPrevHash { job_id: 7, .. })
            ));
        }
        // Another channel's (or another group's) work is not ours.
        assert!(mining_event(IDS, job(3)).unwrap().is_none());
        assert!(mining_event(IDS, prev_hash(3)).unwrap().is_none());
    }

    #[test]
    fn targets_addressed_to_the_group_are_not_ours() {
        let target = |channel_id| {
            MiningOwned::SetTarget(SetTargetOwned {
                channel_id,
                maximum_target: U256Owned::from([0xffu8; 32]),
            })
        };
        assert!(mining_event(IDS, target(IDS.channel)).unwrap().is_some());
        assert!(mining_event(IDS, target(IDS.group)).unwrap().is_none());
    }
}
