//! One load connection: a small Stratum V1 device. It subscribes and authorizes, keeps the
//! latest job and difficulty, and while the run is measuring submits real shares at its rate.
//! It records when it became ready, each submit's round trip, and when each new prev hash
//! reached it; the orchestrator ([`super::run`]) turns those into the report.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sv1::encode::client as encode;
use sv1::{parse_server, Id, LineFramer, ServerMessage, Submit};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use work::Target;

use super::notify_scan::notify_prev_hash;
use super::share::{grind, GrindError};
use super::stamped;
use super::{Phase, RunShared};

const SUBSCRIBE_ID: u64 = 1;
const AUTHORIZE_ID: u64 = 2;
const FIRST_SUBMIT_ID: u64 = 100;
/// Submits awaiting an answer beyond this are given up on (and counted unanswered).
const MAX_IN_FLIGHT: usize = 256;
/// Prev-hash changes kept per connection (a run triggers far fewer).
const MAX_PREVHASH_CHANGES: usize = 4096;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What one connection is asked to do.
#[derive(Debug, Clone)]
pub(super) struct ConnectionPlan {
    pub target: SocketAddr,
    /// Local address to connect from (spreads connections over loopback addresses).
    pub source_ip: Option<IpAddr>,
    pub user: String,
    /// Shares per second while measuring; 0 for an idle connection.
    pub share_rate: f64,
    /// Offset of the first submit into the measuring phase, so connections spread evenly.
    pub first_submit_delay: Duration,
    pub max_nonces: u32,
}

/// What one connection measured, handed back when it ends.
#[derive(Debug, Default)]
pub(super) struct ConnectionRecord {
    /// Since the run started: subscribed, authorized and holding a job.
    pub ready_after: Option<Duration>,
    pub submit_latencies: Vec<Duration>,
    /// When a `mining.notify` with a different prev hash than the one before arrived (the
    /// kernel's receive time).
    pub prevhash_changes: Vec<SystemTime>,
    /// Why the connection ended before the run told it to.
    pub failure: Option<String>,
}

/// Runs one connection until the run's phase is [`Phase::Stop`].
pub(super) async fn run(plan: ConnectionPlan, shared: Arc<RunShared>) -> ConnectionRecord {
    let mut record = ConnectionRecord::default();
    // Held from connecting until ready: bounds the handshakes in flight, as a farm's devices
    // coming back after a power cut would not all reach the proxy in the same millisecond.
    let permit = shared.handshakes.acquire().await.ok();
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect(&plan)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            shared
                .counters
                .connect_failed
                .fetch_add(1, Ordering::Relaxed);
            record.failure = Some(format!("connect: {e}"));
            return record;
        }
        Err(_) => {
            shared
                .counters
                .connect_failed
                .fetch_add(1, Ordering::Relaxed);
            record.failure = Some("connect: timed out".into());
            return record;
        }
    };
    shared.counters.connected.fetch_add(1, Ordering::Relaxed);
    let mut session = Session::new(&plan, &shared, permit);
    if let Err(e) = session.serve(stream, &mut record).await {
        shared.counters.disconnected.fetch_add(1, Ordering::Relaxed);
        record.failure = Some(e);
    }
    record
}

async fn connect(plan: &ConnectionPlan) -> std::io::Result<TcpStream> {
    let socket = match plan.target {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = plan.source_ip {
        if ip.is_ipv4() {
            // The port is chosen at connect time, per destination: without this, bind() would
            // reserve one of the ~28k ephemeral ports for any destination.
            let one: libc::c_int = 1;
            // SAFETY: a valid socket fd and a c_int option value that outlives the call.
            unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_BIND_ADDRESS_NO_PORT,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(plan.target).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The protocol state of one connection.
struct Session<'a> {
    plan: &'a ConnectionPlan,
    shared: &'a RunShared,
    handshake_permit: Option<tokio::sync::SemaphorePermit<'a>>,
    extranonce: Option<(Vec<u8>, usize)>,
    authorized: bool,
    target: Option<Target>,
    job: Option<sv1::Notify<'static>>,
    /// The newest `mining.notify` line, parsed into `job` only when a share needs it.
    unparsed_notify: Option<Vec<u8>>,
    prev_hash: Option<[u8; 32]>,
    ready: bool,
    next_id: u64,
    extranonce2_counter: u64,
    in_flight: VecDeque<(u64, SystemTime)>,
    out: Vec<u8>,
}

impl<'a> Session<'a> {
    fn new(
        plan: &'a ConnectionPlan,
        shared: &'a RunShared,
        handshake_permit: Option<tokio::sync::SemaphorePermit<'a>>,
    ) -> Self {
        Self {
            plan,
            shared,
            handshake_permit,
            extranonce: None,
            authorized: false,
            target: None,
            job: None,
            unparsed_notify: None,
            prev_hash: None,
            ready: false,
            next_id: FIRST_SUBMIT_ID,
            extranonce2_counter: 0,
            in_flight: VecDeque::new(),
            out: Vec::with_capacity(512),
        }
    }

    async fn serve(
        &mut self,
        mut stream: TcpStream,
        record: &mut ConnectionRecord,
    ) -> Result<(), String> {
        stamped::enable(&stream).map_err(|e| format!("SO_TIMESTAMPNS: {e}"))?;
        encode::subscribe(
            &mut self.out,
            &Id::from(SUBSCRIBE_ID),
            Some("minesim-load"),
            None,
        );
        encode::authorize(&mut self.out, &Id::from(AUTHORIZE_ID), &self.plan.user, "x");
        let mut phase = self.shared.phase.clone();
        let mut framer = LineFramer::default();
        let mut buf = vec![0u8; 4096];
        let mut submits: Option<Interval> = None;
        loop {
            if !self.out.is_empty() {
                stream
                    .write_all(&self.out)
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                self.out.clear();
            }
            let current = *phase.borrow_and_update();
            match current {
                Phase::Stop => {
                    let unanswered = self.in_flight.len() as u64;
                    self.shared
                        .counters
                        .unanswered
                        .fetch_add(unanswered, Ordering::Relaxed);
                    return Ok(());
                }
                Phase::Measure if submits.is_none() && self.plan.share_rate > 0.0 => {
                    let period = Duration::from_secs_f64(1.0 / self.plan.share_rate);
                    let mut interval = tokio::time::interval_at(
                        Instant::now() + self.plan.first_submit_delay,
                        period,
                    );
                    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
                    submits = Some(interval);
                }
                Phase::Drain => submits = None,
                _ => {}
            }
            tokio::select! {
                read = stamped::read(&stream, &mut buf) => {
                    let (n, stamp) = read.map_err(|e| format!("read: {e}"))?;
                    let received = stamp.unwrap_or_else(SystemTime::now);
                    if n == 0 {
                        return Err("closed by the proxy".into());
                    }
                    let mut rest = &buf[..n];
                    while !rest.is_empty() {
                        let taken = framer.push(rest);
                        rest = &rest[taken..];
                        while let Some(line) = framer.next_line() {
                            let line = line.map_err(|e| format!("framing: {e}"))?;
                            self.on_line(line, received, record);
                        }
                        if taken == 0 {
                            return Err("line too long".into());
                        }
                    }
                }
                _ = next_tick(&mut submits) => self.submit(),
                changed = phase.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn on_line(&mut self, line: &[u8], received: SystemTime, record: &mut ConnectionRecord) {
        let counters = &self.shared.counters;
        if let Some(prev_hash) = notify_prev_hash(line) {
            self.on_prev_hash(prev_hash, received, record);
            let kept = self.unparsed_notify.get_or_insert_with(Vec::new);
            kept.clear();
            kept.extend_from_slice(line);
            self.check_ready(record);
            return;
        }
        let message = match parse_server(line) {
            Ok(message) => message,
            Err(_) => {
                counters.bad_lines.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        match message {
            ServerMessage::Notify(n) => {
                self.on_prev_hash(n.prev_hash, received, record);
                self.unparsed_notify = None;
                self.job = Some(n.into_owned());
            }
            ServerMessage::SetDifficulty(d) if d.is_finite() && d > 0.0 => {
                self.target = Some(Target::from_difficulty(d));
            }
            ServerMessage::SetExtranonce {
                extranonce1,
                extranonce2_size,
            } => self.extranonce = Some((extranonce1, extranonce2_size)),
            ServerMessage::Response(r) => match r.id.as_u64() {
                Some(SUBSCRIBE_ID) => match r.subscribe() {
                    Ok(answer) => {
                        self.extranonce = Some((answer.extranonce1, answer.extranonce2_size))
                    }
                    Err(_) => {
                        counters.bad_lines.fetch_add(1, Ordering::Relaxed);
                    }
                },
                Some(AUTHORIZE_ID) => self.authorized = r.is_true(),
                Some(id) if id >= FIRST_SUBMIT_ID => {
                    let Some(at) = self.in_flight.iter().position(|(i, _)| *i == id) else {
                        return;
                    };
                    let Some((_, sent)) = self.in_flight.remove(at) else {
                        return;
                    };
                    record
                        .submit_latencies
                        .push(received.duration_since(sent).unwrap_or_default());
                    if r.is_true() {
                        counters.accepted.fetch_add(1, Ordering::Relaxed);
                    } else {
                        counters.rejected.fetch_add(1, Ordering::Relaxed);
                        let reason = match &r.error {
                            Some(e) => format!("{} {}", e.code, e.message),
                            None => "false".to_string(),
                        };
                        self.shared.note_problem(format!("rejected: {reason}"));
                    }
                }
                _ => {}
            },
            _ => {}
        }
        self.check_ready(record);
    }

    fn on_prev_hash(
        &mut self,
        prev_hash: [u8; 32],
        received: SystemTime,
        record: &mut ConnectionRecord,
    ) {
        if self.prev_hash.is_some_and(|p| p != prev_hash)
            && record.prevhash_changes.len() < MAX_PREVHASH_CHANGES
        {
            record.prevhash_changes.push(received);
        }
        self.prev_hash = Some(prev_hash);
    }

    fn check_ready(&mut self, record: &mut ConnectionRecord) {
        let has_job = self.job.is_some() || self.unparsed_notify.is_some();
        if !self.ready && self.authorized && self.extranonce.is_some() && has_job {
            self.ready = true;
            self.handshake_permit = None;
            record.ready_after = Some(self.shared.started.elapsed());
            self.shared.counters.ready.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn submit(&mut self) {
        let counters = &self.shared.counters;
        if let Some(line) = self.unparsed_notify.take() {
            match parse_server(&line) {
                Ok(ServerMessage::Notify(n)) => self.job = Some(n.into_owned()),
                _ => {
                    counters.bad_lines.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let (Some(job), Some((extranonce1, extranonce2_size))) = (&self.job, &self.extranonce)
        else {
            return;
        };
        // Stratum's difficulty before any set_difficulty is 1.
        let target = self.target.unwrap_or_else(|| Target::from_difficulty(1.0));
        self.extranonce2_counter += 1;
        let share = match grind(
            job,
            extranonce1,
            *extranonce2_size,
            self.extranonce2_counter,
            &target,
            self.plan.max_nonces,
        ) {
            Ok(share) => share,
            Err(e @ (GrindError::Exhausted(_) | GrindError::Extranonce2Size(_))) => {
                counters.grind_failed.fetch_add(1, Ordering::Relaxed);
                self.shared.note_problem(format!("not submitted: {e}"));
                return;
            }
        };
        counters.hashes.fetch_add(share.hashes, Ordering::Relaxed);
        let id = self.next_id;
        self.next_id += 1;
        encode::submit(
            &mut self.out,
            &Id::from(id),
            &Submit {
                worker: Cow::Borrowed(&self.plan.user),
                job_id: Cow::Borrowed(&job.job_id),
                extranonce2: share.extranonce2,
                ntime: share.ntime,
                nonce: share.nonce,
                version_bits: None,
            },
        );
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            self.in_flight.pop_front();
            counters.unanswered.fetch_add(1, Ordering::Relaxed);
        }
        self.in_flight.push_back((id, SystemTime::now()));
        counters.submitted.fetch_add(1, Ordering::Relaxed);
    }
}

/// The next submit tick, or never when not submitting.
async fn next_tick(submits: &mut Option<Interval>) {
    match submits {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
