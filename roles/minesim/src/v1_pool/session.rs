//! One V1 connection's protocol state, sans-IO: parsed requests and new jobs in, complete
//! response lines out, plus what the pool's counters and chain need to hear (authorizations,
//! share verdicts).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use sv1::encode::server::{self as encode, ConfigureResult, NotifyParams};
use sv1::{ClientMessage, ClientRequest, Configure, Id, Submit};
use work::Target;

use super::config::V1Vardiff;
use super::job::V1Job;
use super::reject::RejectReason;
use super::vardiff::Vardiff;

/// Jobs of the current tip kept valid at once (refreshes and retargets add jobs without
/// `clean_jobs`); older ones answer "stale".
const MAX_LIVE_JOBS: usize = 32;
/// Worker names one connection may authorize.
const MAX_WORKERS: usize = 1024;
/// Accepted share hashes remembered per tip for duplicate detection.
const MAX_SEEN: usize = 1 << 16;

/// What the connection is told when it is created.
#[derive(Debug, Clone)]
pub(crate) struct SessionParams {
    pub extranonce1: Vec<u8>,
    pub extranonce2_size: usize,
    /// The pool's version-rolling mask.
    pub version_mask: u32,
    pub difficulty: f64,
    pub vardiff: Option<V1Vardiff>,
    pub max_ntime_future_secs: u32,
}

/// A block found by a share: its hash and the prev hash of the tip it extends (both in
/// internal byte order).
pub(crate) type FoundBlock = ([u8; 32], [u8; 32]);

/// Something the pool as a whole must hear about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SessionEvent {
    Authorized,
    /// `mining.configure` named a Lumerin contract (`lmr.contract-address`).
    ContractAnnounced(String),
    Accepted {
        worker: String,
        /// Difficulty the share was credited with.
        difficulty: f64,
        /// Set when the share met the network target.
        block: Option<FoundBlock>,
    },
    Rejected {
        worker: String,
        reason: RejectReason,
    },
}

/// A job as sent on this connection: which template, at which difficulty.
#[derive(Debug)]
struct SentJob {
    job: Arc<V1Job>,
    difficulty: f64,
}

/// One connection's state: subscription, authorized workers, granted version mask, difficulty
/// and vardiff window, and the jobs sent on it (live, stale) with the shares already seen.
#[derive(Debug)]
pub(crate) struct Session {
    params: SessionParams,
    subscribed: bool,
    workers: HashSet<String>,
    /// Granted through `mining.configure`; `None` means no version rolling.
    version_mask: Option<u32>,
    difficulty: f64,
    vardiff: Option<Vardiff>,
    current: Option<Arc<V1Job>>,
    jobs: HashMap<String, SentJob>,
    job_order: VecDeque<String>,
    stale: HashSet<String>,
    seen: HashSet<[u8; 32]>,
    next_job: u64,
    /// ntime of the last job sent.
    last_ntime: u32,
}

impl Session {
    pub fn new(params: SessionParams, now: Instant) -> Self {
        Self {
            difficulty: params.difficulty,
            vardiff: params.vardiff.clone().map(|v| Vardiff::new(v, now)),
            params,
            subscribed: false,
            workers: HashSet::new(),
            version_mask: None,
            current: None,
            jobs: HashMap::new(),
            job_order: VecDeque::new(),
            stale: HashSet::new(),
            seen: HashSet::new(),
            next_job: 1,
            last_ntime: 0,
        }
    }

    /// Answers one request (every request gets an answer, whatever its id: some firmware sends
    /// real requests with `id: null`). `unix_now` (seconds) bounds share ntimes.
    pub fn handle(
        &mut self,
        request: ClientRequest<'_>,
        unix_now: u32,
        out: &mut Vec<u8>,
    ) -> Option<SessionEvent> {
        let id = request.id;
        match request.message {
            ClientMessage::Subscribe { .. } => {
                self.subscribe(&id, out);
                None
            }
            ClientMessage::Authorize { user, .. } => {
                let granted =
                    self.workers.contains(user.as_ref()) || self.workers.len() < MAX_WORKERS;
                if granted {
                    self.workers.insert(user.into_owned());
                }
                encode::result_bool(out, &id, granted);
                granted.then_some(SessionEvent::Authorized)
            }
            ClientMessage::Configure(configure) => {
                self.configure(&id, &configure, out);
                configure
                    .lmr_contract_address
                    .map(|address| SessionEvent::ContractAnnounced(address.into_owned()))
            }
            // Never changed, so the promise costs nothing.
            ClientMessage::ExtranonceSubscribe => {
                encode::result_bool(out, &id, true);
                None
            }
            // A hint only: the difficulty is the pool's.
            ClientMessage::SuggestDifficulty { .. } => {
                encode::result_bool(out, &id, true);
                None
            }
            ClientMessage::Submit(submit) => {
                let event = self.submit(&submit, unix_now);
                match &event {
                    SessionEvent::Rejected { reason, .. } => {
                        encode::error(out, &id, reason.code(), reason.message())
                    }
                    _ => encode::result_bool(out, &id, true),
                }
                Some(event)
            }
            ClientMessage::Unknown { method } => {
                encode::error(out, &id, 20, &format!("unknown method {method}"));
                None
            }
        }
    }

    /// A new job from the pool; `clean` when it replaces every earlier one (a new tip).
    pub fn on_job(&mut self, job: Arc<V1Job>, clean: bool, out: &mut Vec<u8>) {
        if clean {
            self.stale = self.job_order.drain(..).collect();
            self.jobs.clear();
            self.seen.clear();
        }
        self.current = Some(job);
        if self.subscribed {
            self.send_job(clean, out);
        }
    }

    /// Vardiff's periodic look at the share rate: a new difficulty and a job carrying it.
    pub fn retarget(&mut self, now: Instant, out: &mut Vec<u8>) {
        let Some(next) = self
            .vardiff
            .as_mut()
            .and_then(|v| v.retarget(self.difficulty, now))
        else {
            return;
        };
        self.difficulty = next;
        if !self.subscribed {
            return;
        }
        self.send_difficulty(out);
        // Same template, one second later: a miner restarting on the new job would otherwise
        // find exactly the headers it already submitted, all duplicates.
        if let Some(current) = &self.current {
            let mut job = V1Job::clone(current);
            job.ntime = self.last_ntime.saturating_add(1);
            self.current = Some(Arc::new(job));
        }
        self.send_job(false, out);
    }

    /// The difficulty new jobs are sent at.
    #[cfg(test)]
    pub fn difficulty(&self) -> f64 {
        self.difficulty
    }

    fn subscribe(&mut self, id: &Id<'_>, out: &mut Vec<u8>) {
        let extranonce1 = &self.params.extranonce1;
        encode::subscribe_result(
            out,
            id,
            &sv1::hex::to_hex(extranonce1),
            extranonce1,
            self.params.extranonce2_size,
        );
        if self.subscribed {
            return;
        }
        self.subscribed = true;
        self.send_difficulty(out);
        if self.current.is_some() {
            self.send_job(true, out);
        }
    }

    fn configure(&mut self, id: &Id<'_>, configure: &Configure<'_>, out: &mut Vec<u8>) {
        if let Some(rolling) = configure.version_rolling {
            let asked = rolling.mask.unwrap_or(u32::MAX);
            self.version_mask = Some(asked & self.params.version_mask);
        }
        // Everything else (minimum-difficulty, subscribe-extranonce, info, unknown ones) is
        // answered `false`.
        let refused: Vec<&str> = configure
            .extensions
            .iter()
            .map(|e| e.as_ref())
            .filter(|e| *e != "version-rolling")
            .collect();
        encode::configure_result(
            out,
            id,
            &ConfigureResult {
                version_rolling_mask: self.version_mask,
                refused: &refused,
                ..Default::default()
            },
        );
    }

    fn send_difficulty(&self, out: &mut Vec<u8>) {
        // The difficulty is positive and finite by construction (config and vardiff bounds).
        let _ = encode::set_difficulty(out, self.difficulty);
    }

    fn send_job(&mut self, clean: bool, out: &mut Vec<u8>) {
        let Some(job) = self.current.clone() else {
            return;
        };
        let job_id = format!("{:x}", self.next_job);
        self.next_job += 1;
        self.last_ntime = job.ntime;
        encode::notify(
            out,
            &NotifyParams {
                job_id: &job_id,
                prev_hash: &job.prev_hash,
                coinb1: &job.coinb1,
                coinb2: &job.coinb2,
                merkle_branch: &job.merkle_branch,
                version: job.version,
                nbits: job.nbits,
                ntime: job.ntime,
                clean_jobs: clean,
            },
        );
        self.jobs.insert(
            job_id.clone(),
            SentJob {
                job,
                difficulty: self.difficulty,
            },
        );
        self.job_order.push_back(job_id);
        while self.job_order.len() > MAX_LIVE_JOBS {
            if let Some(old) = self.job_order.pop_front() {
                self.jobs.remove(&old);
                self.stale.insert(old);
            }
        }
    }

    fn submit(&mut self, submit: &Submit<'_>, unix_now: u32) -> SessionEvent {
        let worker = submit.worker.as_ref();
        match self.check(submit, unix_now) {
            Ok((difficulty, block)) => {
                if let Some(v) = self.vardiff.as_mut() {
                    v.share_accepted();
                }
                SessionEvent::Accepted {
                    worker: worker.to_string(),
                    difficulty,
                    block,
                }
            }
            Err(reason) => SessionEvent::Rejected {
                worker: worker.to_string(),
                reason,
            },
        }
    }

    /// Validates a share: the difficulty it is credited with, and the block it found if any.
    fn check(
        &mut self,
        submit: &Submit<'_>,
        unix_now: u32,
    ) -> Result<(f64, Option<FoundBlock>), RejectReason> {
        if !self.workers.contains(submit.worker.as_ref()) {
            return Err(RejectReason::Unauthorized);
        }
        if !self.subscribed {
            return Err(RejectReason::NotSubscribed);
        }
        let Some(sent) = self.jobs.get(submit.job_id.as_ref()) else {
            return Err(if self.stale.contains(submit.job_id.as_ref()) {
                RejectReason::StaleJob
            } else {
                RejectReason::JobNotFound
            });
        };
        if submit.extranonce2.len() != self.params.extranonce2_size {
            return Err(RejectReason::Extranonce2Size);
        }
        let job = &sent.job;
        let latest = job
            .ntime
            .max(unix_now)
            .saturating_add(self.params.max_ntime_future_secs);
        if submit.ntime < job.ntime || submit.ntime > latest {
            return Err(RejectReason::NtimeOutOfRange);
        }
        let mask = self.version_mask.unwrap_or(0);
        let version = match submit.version_bits {
            // BIP310 sends the rolled bits only; some firmware sends the full version. Either
            // way nothing outside the mask may differ from the job's version.
            Some(bits) if bits & !mask != 0 && (bits ^ job.version) & !mask != 0 => {
                return Err(RejectReason::VersionBits)
            }
            Some(bits) => (job.version & !mask) | (bits & mask),
            None => job.version,
        };
        let hash = job
            .header(
                &self.params.extranonce1,
                submit.extranonce2.as_bytes(),
                version,
                submit.ntime,
                submit.nonce,
            )
            .hash();
        // A share on a job sent before a retarget counts at the easier of the two difficulties:
        // the miner may have switched targets before it got the new job.
        let difficulty = sent.difficulty.min(self.difficulty);
        let block = Target::from_compact(job.nbits)
            .filter(|target| target.is_met_by(&hash))
            .map(|_| (hash, job.prev_hash));
        if block.is_none() && !Target::from_difficulty(difficulty).is_met_by(&hash) {
            return Err(RejectReason::LowDifficulty);
        }
        if self.seen.len() >= MAX_SEEN {
            self.seen.clear();
        }
        if !self.seen.insert(hash) {
            return Err(RejectReason::Duplicate);
        }
        Ok((difficulty, block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::SyntheticChain;
    use std::borrow::Cow;
    use sv1::{parse_server, Extranonce2, ServerMessage};

    const EN1: [u8; 4] = [0, 0, 0, 9];

    fn params(difficulty: f64) -> SessionParams {
        SessionParams {
            extranonce1: EN1.to_vec(),
            extranonce2_size: 8,
            version_mask: 0x1fff_e000,
            difficulty,
            vardiff: None,
            max_ntime_future_secs: 7200,
        }
    }

    fn job(nbits: u32) -> Arc<V1Job> {
        let chain = SyntheticChain::new(500, nbits);
        Arc::new(V1Job::from_tip(chain.tip(), 12, &[0x51]))
    }

    /// The pool's clock at the job's own time.
    fn clock(job: &V1Job) -> u32 {
        job.ntime
    }

    fn request(line: &str) -> ClientRequest<'_> {
        sv1::parse_client(line.as_bytes()).unwrap()
    }

    fn lines(out: &[u8]) -> Vec<String> {
        String::from_utf8(out.to_vec())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// A nonce whose header meets `target` (or fails it, with `meet = false`).
    fn grind(job: &V1Job, en2: &[u8], version: u32, target: Target, meet: bool) -> u32 {
        (0..u32::MAX)
            .find(|n| {
                let hash = job.header(&EN1, en2, version, job.ntime, *n).hash();
                target.is_met_by(&hash) == meet
            })
            .unwrap()
    }

    fn submit<'a>(
        job_id: &'a str,
        en2: &[u8],
        ntime: u32,
        nonce: u32,
        bits: Option<u32>,
    ) -> ClientRequest<'a> {
        ClientRequest {
            id: Id::from(9),
            message: ClientMessage::Submit(Submit {
                worker: Cow::Borrowed("w"),
                job_id: Cow::Borrowed(job_id),
                extranonce2: Extranonce2::from_bytes(en2).unwrap(),
                ntime,
                nonce,
                version_bits: bits,
            }),
        }
    }

    fn rejected(event: Option<SessionEvent>) -> RejectReason {
        match event {
            Some(SessionEvent::Rejected { reason, .. }) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn handshake_then_every_submit_check() {
        let j = job(0x1d00_ffff);
        let c = clock(&j);
        let mut s = Session::new(params(1e-6), Instant::now());
        let mut out = Vec::new();
        s.on_job(j.clone(), true, &mut out);
        assert!(out.is_empty(), "no job before subscribe");
        let en2 = [1u8; 8];
        // Before authorize and subscribe.
        assert_eq!(
            rejected(s.handle(submit("1", &en2, j.ntime, 0, None), c, &mut out)),
            RejectReason::Unauthorized
        );
        s.handle(
            request(r#"{"id":1,"method":"mining.authorize","params":["w","x"]}"#),
            c,
            &mut out,
        );
        assert_eq!(
            rejected(s.handle(submit("1", &en2, j.ntime, 0, None), c, &mut out)),
            RejectReason::NotSubscribed
        );
        out.clear();
        s.handle(request(r#"{"id":2,"method":"mining.configure","params":[["version-rolling","info"],{"version-rolling.mask":"ffffffff"}]}"#), c, &mut out);
        s.handle(
            request(r#"{"id":3,"method":"mining.subscribe","params":[]}"#),
            c,
            &mut out,
        );
        let l = lines(&out);
        assert_eq!(l.len(), 4, "{l:?}");
        assert!(
            l[0].contains(r#""version-rolling.mask":"1fffe000""#)
                && l[0].contains(r#""info":false"#),
            "{}",
            l[0]
        );
        assert!(l[1].contains(r#""00000009",8]"#), "{}", l[1]);
        assert!(
            matches!(parse_server(l[2].as_bytes()).unwrap(), ServerMessage::SetDifficulty(d) if d == 1e-6)
        );
        let ServerMessage::Notify(n) = parse_server(l[3].as_bytes()).unwrap() else {
            panic!()
        };
        assert!(n.clean_jobs);
        assert_eq!(n.job_id, "1");

        let easy = Target::from_difficulty(1e-6);
        let good = grind(&j, &en2, j.version, easy, true);
        assert_eq!(
            rejected(s.handle(submit("77", &en2, j.ntime, good, None), c, &mut out)),
            RejectReason::JobNotFound
        );
        assert_eq!(
            rejected(s.handle(submit("1", &en2[..4], j.ntime, good, None), c, &mut out)),
            RejectReason::Extranonce2Size
        );
        assert_eq!(
            rejected(s.handle(submit("1", &en2, j.ntime - 1, good, None), c, &mut out)),
            RejectReason::NtimeOutOfRange
        );
        assert_eq!(
            rejected(s.handle(submit("1", &en2, j.ntime + 7201, good, None), c, &mut out)),
            RejectReason::NtimeOutOfRange
        );
        assert_eq!(
            rejected(s.handle(
                submit("1", &en2, j.ntime, good, Some(0x0000_1000)),
                c,
                &mut out
            )),
            RejectReason::VersionBits
        );
        let bad = grind(&j, &en2, j.version, easy, false);
        assert_eq!(
            rejected(s.handle(submit("1", &en2, j.ntime, bad, None), c, &mut out)),
            RejectReason::LowDifficulty
        );
        out.clear();
        let accepted = s.handle(submit("1", &en2, j.ntime, good, None), c, &mut out);
        assert_eq!(
            accepted,
            Some(SessionEvent::Accepted {
                worker: "w".into(),
                difficulty: 1e-6,
                block: None
            })
        );
        assert_eq!(lines(&out), vec![r#"{"id":9,"result":true,"error":null}"#]);
        out.clear();
        assert_eq!(
            rejected(s.handle(submit("1", &en2, j.ntime, good, None), c, &mut out)),
            RejectReason::Duplicate
        );
        assert_eq!(
            lines(&out),
            vec![r#"{"id":9,"result":null,"error":[22,"duplicate share",null]}"#]
        );

        // Rolled version bits inside the mask, sent bare or as a full version.
        let rolled = (j.version & !0x1fff_e000) | 0x0000_6000;
        let nonce = grind(&j, &en2, rolled, easy, true);
        assert!(matches!(
            s.handle(submit("1", &en2, j.ntime, nonce, Some(0x6000)), c, &mut out),
            Some(SessionEvent::Accepted { .. })
        ));
        let rolled2 = (j.version & !0x1fff_e000) | 0x0000_a000;
        let nonce = grind(&j, &en2, rolled2, easy, true);
        assert!(matches!(
            s.handle(
                submit("1", &en2, j.ntime, nonce, Some(rolled2)),
                c,
                &mut out
            ),
            Some(SessionEvent::Accepted { .. })
        ));

        // A clean job makes job 1 stale.
        out.clear();
        s.on_job(job(0x1d00_fffe), true, &mut out);
        assert_eq!(
            rejected(s.handle(submit("1", &en2, j.ntime, good, None), c, &mut out)),
            RejectReason::StaleJob
        );
    }

    #[test]
    fn a_share_meeting_the_network_target_is_a_block() {
        let j = job(0x207f_ffff);
        let c = clock(&j);
        let mut s = Session::new(params(1e-9), Instant::now());
        let mut out = Vec::new();
        s.on_job(j.clone(), true, &mut out);
        s.handle(
            request(r#"{"id":1,"method":"mining.subscribe","params":[]}"#),
            c,
            &mut out,
        );
        s.handle(
            request(r#"{"id":2,"method":"mining.authorize","params":["w","x"]}"#),
            c,
            &mut out,
        );
        let en2 = [2u8; 8];
        let network = Target::from_compact(j.nbits).unwrap();
        let nonce = grind(&j, &en2, j.version, network, true);
        let hash = j.header(&EN1, &en2, j.version, j.ntime, nonce).hash();
        match s.handle(submit("1", &en2, j.ntime, nonce, None), c, &mut out) {
            Some(SessionEvent::Accepted {
                block: Some((h, prev)),
                ..
            }) => {
                assert_eq!(h, hash);
                assert_eq!(prev, j.prev_hash);
            }
            other => panic!("expected a block, got {other:?}"),
        }
    }

    #[test]
    fn retarget_sends_difficulty_and_a_job_and_old_jobs_count_at_the_easier_difficulty() {
        let j = job(0x1d00_ffff);
        let c = clock(&j);
        let mut p = params(1e-6);
        p.vardiff = Some(V1Vardiff {
            shares_per_minute: 60.0,
            retarget: std::time::Duration::from_secs(1),
            min_difficulty: 1e-9,
            max_difficulty: 1.0,
        });
        let t0 = Instant::now();
        let mut s = Session::new(p, t0);
        let mut out = Vec::new();
        s.on_job(j.clone(), true, &mut out);
        s.handle(
            request(r#"{"id":1,"method":"mining.subscribe","params":[]}"#),
            c,
            &mut out,
        );
        s.handle(
            request(r#"{"id":2,"method":"mining.authorize","params":["w","x"]}"#),
            c,
            &mut out,
        );
        out.clear();
        // No share in the window: the difficulty halves, and a non-clean job carries it.
        s.retarget(t0 + std::time::Duration::from_secs(2), &mut out);
        assert_eq!(s.difficulty(), 5e-7);
        let l = lines(&out);
        assert_eq!(l.len(), 2);
        assert!(
            matches!(parse_server(l[0].as_bytes()).unwrap(), ServerMessage::SetDifficulty(d) if d == 5e-7)
        );
        let ServerMessage::Notify(n) = parse_server(l[1].as_bytes()).unwrap() else {
            panic!()
        };
        assert!(!n.clean_jobs);
        assert_eq!(n.job_id, "2");
        assert_eq!(n.prev_hash, j.prev_hash);
        assert_eq!(
            n.ntime,
            j.ntime + 1,
            "a later ntime, so no share is found twice"
        );
        // A share on job 1 (sent at 1e-6) now counts at 5e-7.
        let en2 = [3u8; 8];
        let nonce = grind(&j, &en2, j.version, Target::from_difficulty(5e-7), true);
        match s.handle(submit("1", &en2, j.ntime, nonce, None), c, &mut out) {
            Some(SessionEvent::Accepted { difficulty, .. }) => assert_eq!(difficulty, 5e-7),
            other => panic!("expected acceptance, got {other:?}"),
        }
    }
}
