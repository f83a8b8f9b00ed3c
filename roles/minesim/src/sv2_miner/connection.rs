//! The connection task: grinding threads, connect (Noise), `SetupConnection`, the message loop
//! of a [`Session`], reconnects and redirects.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use parsers_sv2::CommonMessagesOwned;
use sv2_conn::{FrameReader, FrameWriter};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{channel, Receiver};
use tokio::sync::Notify;

use crate::miner_handle::StopFlag;

use super::config::Sv2MinerConfig;
use super::endpoint::Endpoint;
use super::error::Sv2MinerError;
use super::rig::{self, FoundShare, Unit};
use super::session::{Flow, Session};
use super::stats::Sv2MinerStats;

/// Shares found but not yet submitted; more means the connection is far behind, and the
/// grinding threads drop shares rather than queue without bound.
const SHARE_QUEUE: usize = 1024;

/// Most channels (and hashing threads) one miner runs.
const MAX_CHANNELS: u32 = 64;

/// How one connection ended.
enum End {
    Stopped,
    Reconnect(Endpoint),
    Failed(Sv2MinerError),
}

/// Runs the miner until stopped, a fatal error, or (with reconnecting off) a disconnect.
pub(crate) async fn run(config: Sv2MinerConfig, stats: Arc<Sv2MinerStats>, stop: Arc<Notify>) {
    let mut endpoint = match Endpoint::parse(&config.address) {
        Ok(e) => e,
        Err(e) => return give_up(&stats, e),
    };
    let units: Vec<Unit> = (0..config.channels.clamp(1, MAX_CHANNELS))
        .map(|_| Unit::default())
        .collect();
    let (share_tx, mut share_rx) = channel(SHARE_QUEUE);
    let per_unit = config.hashrate_cap / units.len() as f64;
    let mut threads = Vec::with_capacity(units.len());
    for (i, unit) in units.iter().enumerate() {
        match rig::spawn(
            i,
            unit,
            stats.clone(),
            share_tx.clone(),
            per_unit,
            config.nonce_range,
        ) {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                give_up(&stats, Sv2MinerError::Thread(e));
                break;
            }
        }
    }
    drop(share_tx);
    let mut session_number = 0u64;
    let mut ever_connected = false;
    while !stats.stopping() {
        session_number += 1;
        let end = connect_and_mine(
            &config,
            &stats,
            &units,
            &endpoint,
            session_number,
            &mut share_rx,
            &stop,
            &mut ever_connected,
        )
        .await;
        stats.set_connected(false);
        stats.clear_channels();
        for unit in &units {
            unit.slot.publish(None);
        }
        match end {
            End::Stopped => break,
            End::Reconnect(to) => {
                stats.reconnect_requests.fetch_add(1, Ordering::Relaxed);
                endpoint = to;
                continue;
            }
            End::Failed(e) if e.is_fatal() => {
                give_up(&stats, e);
                break;
            }
            End::Failed(e) => {
                tracing::info!(server = %endpoint, "disconnected: {e}");
                stats.set_error(e.to_string());
                if !config.reconnect {
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(config.reconnect_backoff) => {}
            _ = stop.notified() => break,
        }
    }
    stats.set_stopping();
    for unit in &units {
        unit.slot.publish(None);
    }
    drop(share_rx);
    let _ = tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    })
    .await;
}

fn give_up(stats: &Sv2MinerStats, e: Sv2MinerError) {
    tracing::error!("sv2 miner stops: {e}");
    stats.set_error(e.to_string());
    stats.set_stopping();
}

#[allow(clippy::too_many_arguments)]
async fn connect_and_mine(
    config: &Sv2MinerConfig,
    stats: &Sv2MinerStats,
    units: &[Unit],
    endpoint: &Endpoint,
    number: u64,
    shares: &mut Receiver<FoundShare>,
    stop: &Notify,
    ever_connected: &mut bool,
) -> End {
    let (mut reader, mut writer) = tokio::select! {
        connected = connect(config, endpoint) => match connected {
            Ok(halves) => halves,
            Err(e) => return End::Failed(e),
        },
        _ = stop.notified() => return End::Stopped,
    };
    if *ever_connected {
        stats.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    *ever_connected = true;
    // Shares found for an earlier connection are worthless here.
    while shares.try_recv().is_ok() {}
    let mut session = Session::new(config, stats, units, endpoint.clone(), number);
    let end = tokio::select! {
        end = mine(config, stats, &mut session, &mut reader, &mut writer, shares) => end,
        _ = stop.notified() => End::Stopped,
    };
    if matches!(end, End::Stopped | End::Reconnect(_)) {
        let _ = writer.shutdown().await;
    }
    end
}

async fn connect(
    config: &Sv2MinerConfig,
    endpoint: &Endpoint,
) -> Result<(FrameReader, FrameWriter), Sv2MinerError> {
    let timeout = config.connect_timeout;
    let stream = tokio::time::timeout(
        timeout,
        TcpStream::connect((endpoint.host.as_str(), endpoint.port)),
    )
    .await
    .map_err(|_| Sv2MinerError::ConnectTimeout(endpoint.to_string()))?
    .map_err(|source| Sv2MinerError::Connect {
        address: endpoint.to_string(),
        source,
    })?;
    let _ = stream.set_nodelay(true);
    Ok(sv2_conn::connect(stream, config.authority, timeout).await?)
}

/// `SetupConnection`, channel opens, then messages and shares until the connection ends.
async fn mine(
    config: &Sv2MinerConfig,
    stats: &Sv2MinerStats,
    session: &mut Session<'_>,
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    shares: &mut Receiver<FoundShare>,
) -> End {
    match setup(config, stats, session, reader, writer).await {
        Ok(()) => {}
        Err(e) => return End::Failed(e),
    }
    loop {
        for msg in session.take_out() {
            if let Err(e) = writer.write(msg).await {
                return End::Failed(e.into());
            }
        }
        tokio::select! {
            msg = reader.read() => match msg.map_err(Sv2MinerError::from).and_then(|m| session.handle(m)) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Reconnect(to)) => return End::Reconnect(to),
                Err(e) => return End::Failed(e),
            },
            Some(share) = shares.recv() => session.submit(share),
        }
    }
}

async fn setup(
    config: &Sv2MinerConfig,
    stats: &Sv2MinerStats,
    session: &mut Session<'_>,
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
) -> Result<(), Sv2MinerError> {
    writer
        .write(CommonMessagesOwned::SetupConnection(
            session.setup_connection(),
        ))
        .await?;
    let reply = tokio::time::timeout(config.connect_timeout, reader.read())
        .await
        .map_err(|_| Sv2MinerError::SetupTimeout(config.connect_timeout))??;
    session.on_setup_reply(reply)?;
    stats.set_connected(true);
    session.open_channels();
    Ok(())
}
