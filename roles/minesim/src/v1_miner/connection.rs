//! The connection task: handshake, job and difficulty handling, share submission, reconnects.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use sv1::encode::client::{self as encode, ConfigureRequest};
use sv1::{
    parse_server, Extranonce2, Id, LineFramer, ServerMessage, Submit, Sv1Error,
    DEFAULT_VERSION_MASK,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{channel, Receiver};
use tokio::sync::Notify;

use super::config::MinerConfig;
use super::hasher;
use super::job::{JobTag, Share};
use super::stats::MinerStats;
use crate::grind::{MerkleSource, Work, WorkSlot};
use crate::miner_handle::StopFlag;

const CONFIGURE_ID: u64 = 1;
const SUBSCRIBE_ID: u64 = 2;
const AUTHORIZE_ID: u64 = 3;
/// Submit ids start here so they never collide with the handshake's.
const FIRST_SUBMIT_ID: u64 = 100;
/// Shares found but not yet submitted; more means the connection is far behind, and the
/// hashing thread drops shares rather than queue without bound.
const SHARE_QUEUE: usize = 1024;

/// Runs the miner until stopped (or until the first disconnect when reconnecting is off).
pub(crate) async fn run(config: MinerConfig, stats: Arc<MinerStats>, stop: Arc<Notify>) {
    let slot = Arc::new(WorkSlot::default());
    let (share_tx, mut share_rx) = channel(SHARE_QUEUE);
    let hasher = match hasher::spawn(
        slot.clone(),
        stats.clone(),
        share_tx,
        config.hashrate_cap,
        config.nonce_range,
    ) {
        Ok(handle) => handle,
        Err(e) => {
            tracing::error!("cannot start the hashing thread: {e}");
            return;
        }
    };
    let mut session_number = 0u64;
    let mut ever_connected = false;
    while !stats.stopping() {
        session_number += 1;
        match TcpStream::connect(config.server).await {
            Ok(stream) => {
                if ever_connected {
                    stats.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                ever_connected = true;
                let mut session = Session::new(&config, &stats, &slot, session_number);
                match session.run(stream, &mut share_rx, &stop).await {
                    Ok(()) => tracing::debug!(server = %config.server, "session ended"),
                    Err(e) => tracing::info!(server = %config.server, "disconnected: {e}"),
                }
            }
            Err(e) => tracing::debug!(server = %config.server, "connect failed: {e}"),
        }
        stats.set_connected(false);
        slot.publish(None);
        if stats.stopping() || !config.reconnect {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(config.reconnect_backoff) => {}
            _ = stop.notified() => break,
        }
    }
    stats.set_stopping();
    slot.publish(None);
    drop(share_rx);
    let _ = tokio::task::spawn_blocking(move || hasher.join()).await;
}

/// One connection's protocol state.
struct Session<'a> {
    config: &'a MinerConfig,
    stats: &'a MinerStats,
    slot: &'a WorkSlot<JobTag>,
    number: u64,
    next_submit_id: u64,
    extranonce: Option<(Vec<u8>, usize)>,
    version_mask: Option<u32>,
    /// The job as last notified, kept until the extranonce and mask are known.
    job: Option<sv1::Notify<'static>>,
    out: Vec<u8>,
}

/// Why a session ends without an I/O error.
enum Flow {
    Continue,
    Reconnect,
}

impl<'a> Session<'a> {
    fn new(
        config: &'a MinerConfig,
        stats: &'a MinerStats,
        slot: &'a WorkSlot<JobTag>,
        number: u64,
    ) -> Self {
        Self {
            config,
            stats,
            slot,
            number,
            next_submit_id: FIRST_SUBMIT_ID,
            extranonce: None,
            version_mask: None,
            job: None,
            out: Vec::with_capacity(1024),
        }
    }

    async fn run(
        &mut self,
        stream: TcpStream,
        shares: &mut Receiver<Share>,
        stop: &Notify,
    ) -> anyhow::Result<()> {
        let (mut reader, mut writer) = stream.into_split();
        // Shares found for an earlier connection are worthless here.
        while shares.try_recv().is_ok() {}
        self.handshake()?;
        writer.write_all(&self.out).await?;
        self.out.clear();
        let mut framer = LineFramer::default();
        let mut buf = vec![0u8; 8192];
        loop {
            tokio::select! {
                _ = stop.notified() => return Ok(()),
                read = reader.read(&mut buf) => {
                    let n = read?;
                    if n == 0 {
                        anyhow::bail!("server closed the connection");
                    }
                    let mut rest = buf.get(..n).unwrap_or_default();
                    loop {
                        let taken = framer.push(rest);
                        rest = rest.get(taken..).unwrap_or_default();
                        while let Some(line) = framer.next_line() {
                            if let Flow::Reconnect = self.handle_line(line?)? {
                                return Ok(());
                            }
                        }
                        if rest.is_empty() {
                            break;
                        }
                    }
                }
                Some(share) = shares.recv() => self.submit(share),
            }
            if !self.out.is_empty() {
                writer.write_all(&self.out).await?;
                self.out.clear();
            }
        }
    }

    fn handshake(&mut self) -> Result<(), Sv1Error> {
        if self.config.version_rolling {
            encode::configure(
                &mut self.out,
                &Id::from(CONFIGURE_ID),
                &ConfigureRequest {
                    version_rolling: Some((DEFAULT_VERSION_MASK, 2)),
                    ..Default::default()
                },
            )?;
        }
        encode::subscribe(
            &mut self.out,
            &Id::from(SUBSCRIBE_ID),
            Some(&self.config.user_agent),
            None,
        );
        encode::authorize(
            &mut self.out,
            &Id::from(AUTHORIZE_ID),
            &self.config.user,
            &self.config.password,
        );
        Ok(())
    }

    fn submit(&mut self, share: Share) {
        if share.session != self.number {
            return;
        }
        let id = Id::from(self.next_submit_id);
        self.next_submit_id += 1;
        encode::submit(
            &mut self.out,
            &id,
            &Submit {
                worker: Cow::Borrowed(&self.config.user),
                job_id: Cow::Borrowed(&share.job_id),
                extranonce2: share.extranonce2,
                ntime: share.ntime,
                nonce: share.nonce,
                version_bits: share.version_bits,
            },
        );
        self.stats.shares_submitted.fetch_add(1, Ordering::Relaxed);
    }

    fn handle_line(&mut self, line: &[u8]) -> anyhow::Result<Flow> {
        let message = match parse_server(line) {
            Ok(message) => message,
            Err(e) => {
                // One bad line is the server's problem, not a reason to drop the connection.
                tracing::warn!("ignoring unparsable line: {e}");
                return Ok(Flow::Continue);
            }
        };
        match message {
            ServerMessage::Notify(n) => {
                self.stats.jobs_received.fetch_add(1, Ordering::Relaxed);
                if n.clean_jobs {
                    self.stats
                        .clean_jobs_received
                        .fetch_add(1, Ordering::Relaxed);
                }
                self.stats.set_last_job_id(&n.job_id);
                self.job = Some(n.into_owned());
                // Every new job replaces the current one at once; a simulated device has no
                // queue worth keeping, and clean_jobs requires it anyway.
                self.publish();
            }
            ServerMessage::SetDifficulty(difficulty) => self.stats.set_difficulty(difficulty),
            ServerMessage::SetExtranonce {
                extranonce1,
                extranonce2_size,
            } => {
                self.extranonce = Some((extranonce1, extranonce2_size));
                self.publish();
            }
            ServerMessage::SetVersionMask(mask) => {
                if self.config.version_rolling {
                    self.version_mask = Some(mask);
                    self.publish();
                }
            }
            ServerMessage::Reconnect(r) => {
                tracing::info!(host = ?r.host, port = ?r.port, "server asked to reconnect");
                return Ok(Flow::Reconnect);
            }
            ServerMessage::Unknown { method, .. } => {
                tracing::debug!(%method, "ignoring unknown server method")
            }
            ServerMessage::Response(response) => match response.id.as_u64() {
                Some(CONFIGURE_ID) => {
                    self.version_mask = response
                        .configure()
                        .ok()
                        .and_then(|answer| answer.version_rolling_mask);
                    self.publish();
                }
                Some(SUBSCRIBE_ID) => {
                    let answer = response.subscribe()?;
                    self.extranonce = Some((answer.extranonce1, answer.extranonce2_size));
                    self.stats.set_connected(true);
                    self.publish();
                }
                Some(AUTHORIZE_ID) => {
                    if !response.is_true() {
                        tracing::warn!(user = %self.config.user, "authorization refused");
                    }
                }
                Some(id) if id >= FIRST_SUBMIT_ID => {
                    if response.is_true() {
                        self.stats.shares_accepted.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.stats.shares_rejected.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(error = ?response.error, "share rejected");
                    }
                }
                _ => tracing::debug!(id = ?response.id, "response to no request of ours"),
            },
        }
        Ok(Flow::Continue)
    }

    /// Hands the hashing thread the current job once everything it needs is known.
    fn publish(&self) {
        let (Some(job), Some((extranonce1, extranonce2_size))) = (&self.job, &self.extranonce)
        else {
            return;
        };
        if !(Extranonce2::MIN_LEN..=Extranonce2::MAX_LEN).contains(extranonce2_size) {
            tracing::warn!(
                size = extranonce2_size,
                "cannot mine this job: extranonce2 size out of range"
            );
            self.slot.publish(None);
            return;
        }
        self.slot.publish(Some(Work {
            tag: JobTag {
                session: self.number,
                job_id: job.job_id.to_string(),
            },
            prev_hash: job.prev_hash,
            version: job.version,
            version_mask: if self.config.version_rolling {
                self.version_mask
            } else {
                None
            },
            nbits: job.nbits,
            ntime: job.ntime,
            merkle: MerkleSource::Coinbase {
                prefix: [&job.coinb1[..], extranonce1].concat(),
                extranonce_size: *extranonce2_size,
                suffix: job.coinb2.clone(),
                path: job.merkle_branch.clone(),
            },
        }));
    }
}
