//! One miner's TCP connection: lines in through the `sv1` framer and parser, the sans-IO
//! [`Session`] in the middle, new jobs and vardiff ticks alongside, answers out.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sv1::{parse_client, Id, LineFramer, Sv1Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, info};

use super::session::{Session, SessionEvent, SessionParams};
use super::Shared;

/// Shortest pause between two vardiff looks (the window itself is the config's).
const MIN_RETARGET_TICK: Duration = Duration::from_millis(100);

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
enum ConnectionEnd {
    #[error("closed by the miner")]
    Closed,
    #[error("pool shutting down")]
    Shutdown,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    LineTooLong(Sv1Error),
    #[error("line is not JSON: {0}")]
    Garbage(String),
}

pub(crate) async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    mut shutdown: watch::Receiver<bool>,
) {
    shared.stats.connection_opened();
    let end = run(&shared, stream, &mut shutdown).await;
    shared.stats.connection_closed();
    match end {
        ConnectionEnd::Closed | ConnectionEnd::Shutdown => debug!("connection ended: {end}"),
        other => info!("dropping connection: {other}"),
    }
}

async fn run(
    shared: &Shared,
    stream: TcpStream,
    shutdown: &mut watch::Receiver<bool>,
) -> ConnectionEnd {
    let config = &shared.config;
    let (mut reader, mut writer) = stream.into_split();
    let mut session = Session::new(
        SessionParams {
            extranonce1: shared.next_extranonce1(),
            extranonce2_size: config.extranonce2_size,
            version_mask: config.version_mask,
            difficulty: config.difficulty,
            vardiff: config.vardiff.clone(),
            max_ntime_future_secs: config.max_ntime_future.as_secs().min(u64::from(u32::MAX))
                as u32,
        },
        Instant::now(),
    );
    let mut out = Vec::with_capacity(2048);
    let mut work = shared.work.subscribe();
    let current = work.borrow_and_update().clone();
    session.on_job(current.job.clone(), true, &mut out);
    let tick = config
        .vardiff
        .as_ref()
        .map(|v| (v.retarget / 4).max(MIN_RETARGET_TICK));
    let mut retarget = tokio::time::interval(tick.unwrap_or(Duration::from_secs(3600)));
    retarget.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut framer = LineFramer::new(config.max_line);
    let mut buf = vec![0u8; 4096];
    loop {
        let mut end = None;
        tokio::select! {
            _ = shutdown.changed() => return ConnectionEnd::Shutdown,
            read = reader.read(&mut buf) => match read {
                Ok(0) => return ConnectionEnd::Closed,
                Ok(n) => {
                    end = read_lines(shared, &mut session, &mut framer, buf.get(..n).unwrap_or_default(), &mut out).err();
                }
                Err(e) => return e.into(),
            },
            changed = work.changed() => {
                if changed.is_err() {
                    return ConnectionEnd::Shutdown;
                }
                let next = work.borrow_and_update().clone();
                session.on_job(next.job.clone(), next.clean, &mut out);
            }
            _ = retarget.tick(), if tick.is_some() => session.retarget(Instant::now(), &mut out),
        }
        // Answers to the lines before a bad one still go out. A miner that stops reading must
        // not hold up the pool's shutdown.
        tokio::select! {
            _ = shutdown.changed() => return ConnectionEnd::Shutdown,
            flushed = flush(&mut writer, &mut out) => {
                if let Err(e) = flushed {
                    return e.into();
                }
            }
        }
        if let Some(end) = end {
            return end;
        }
    }
}

async fn flush(writer: &mut OwnedWriteHalf, out: &mut Vec<u8>) -> std::io::Result<()> {
    if !out.is_empty() {
        writer.write_all(out).await?;
        out.clear();
    }
    Ok(())
}

/// Feeds received bytes through the framer and handles every complete line.
fn read_lines(
    shared: &Shared,
    session: &mut Session,
    framer: &mut LineFramer,
    mut bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ConnectionEnd> {
    loop {
        let taken = framer.push(bytes);
        bytes = bytes.get(taken..).unwrap_or_default();
        while let Some(line) = framer.next_line() {
            let line = line.map_err(ConnectionEnd::LineTooLong)?;
            handle_line(shared, session, line, out)?;
        }
        if bytes.is_empty() {
            return Ok(());
        }
    }
}

fn handle_line(
    shared: &Shared,
    session: &mut Session,
    line: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ConnectionEnd> {
    let request = match parse_client(line) {
        Ok(request) => request,
        Err(e @ (Sv1Error::Json(_) | Sv1Error::NotUtf8)) => {
            return Err(ConnectionEnd::Garbage(e.to_string()))
        }
        Err(e) => {
            // Well-formed JSON with a bad request in it: answer it, keep the connection.
            let id = request_id(line);
            sv1::encode::server::error(out, &id, 20, &e.to_string());
            return Ok(());
        }
    };
    match session.handle(request, unix_now(), out) {
        None => {}
        Some(SessionEvent::Authorized) => shared.stats.authorized(),
        Some(SessionEvent::ContractAnnounced(address)) => shared.stats.contract_announced(address),
        Some(SessionEvent::Accepted {
            worker,
            difficulty,
            block,
        }) => {
            shared
                .stats
                .share_accepted(&worker, difficulty, block.is_some());
            if let Some((hash, prev)) = block {
                info!(%worker, "share found a block");
                shared.block_found(prev, hash);
            }
        }
        Some(SessionEvent::Rejected { worker, reason }) => {
            debug!(%worker, reason = reason.name(), "share rejected");
            shared.stats.share_rejected(&worker, reason.name());
        }
    }
    Ok(())
}

/// The id of a JSON request the codec refused, so the error answer can echo it.
fn request_id(line: &[u8]) -> Id<'static> {
    let value: Option<serde_json::Value> = serde_json::from_slice(line).ok();
    match value.as_ref().and_then(|v| v.get("id")) {
        Some(serde_json::Value::Number(n)) => Id::Number(n.clone()),
        Some(serde_json::Value::String(s)) => Id::String(Cow::Owned(s.clone())),
        _ => Id::Null,
    }
}

fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().min(u64::from(u32::MAX)) as u32)
        .unwrap_or(0)
}
