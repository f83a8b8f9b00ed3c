//! The V1 upstream task against scripted pools on 127.0.0.1: what reaches the core, what the
//! pool receives, refusals, redirects and broken pools.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::upstream_link::UpstreamLink;
use super::v1_upstream::{run, V1UpstreamSettings};
use crate::core::{RouteId, UpstreamEvent, UpstreamShare};
use crate::node::{CoreInput, UpstreamCommand};

const WAIT: Duration = Duration::from_secs(10);
const STRATUM_PREV: &str = "fd33e5063986da1a346c3f1fd2b00432ecaad478aa200b1c0003ba2700000000";

/// The task under test, its command queue, what it tells the core, and its shutdown switch.
struct Task {
    commands: mpsc::Sender<UpstreamCommand>,
    inbox: async_channel::Receiver<CoreInput>,
    shutdown: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
    /// `Endpoint` events: (address, primary).
    endpoints: std::sync::Mutex<Vec<(String, bool)>>,
}

impl Task {
    fn start(endpoints: Vec<String>) -> Task {
        let settings = V1UpstreamSettings {
            route: "buyer-v1".into(),
            endpoints,
            user_identity: "buyer".into(),
            password: Some("pw".into()),
            extranonce_size: 8,
            lmr_contract_address: None,
            connect_timeout: Duration::from_secs(2),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(200),
        };
        let (commands, commands_rx) = mpsc::channel(16);
        let (inbox_tx, inbox) = async_channel::bounded(256);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let link = UpstreamLink {
            route: RouteId(1),
            generation: 7,
            inbox: inbox_tx,
        };
        let handle = tokio::spawn(run(link, settings, commands_rx, shutdown_rx));
        Task {
            commands,
            inbox,
            shutdown,
            handle,
            endpoints: Default::default(),
        }
    }

    /// The next event for the core.
    /// The next event for the core; the endpoints connected to are noted aside.
    async fn event(&self) -> UpstreamEvent {
        loop {
            let input = tokio::time::timeout(WAIT, self.inbox.recv())
                .await
                .expect("an event in time")
                .expect("task running");
            match input {
                CoreInput::Upstream {
                    route: RouteId(1),
                    generation: 7,
                    event: UpstreamEvent::Endpoint { address, primary },
                } => self.endpoints.lock().unwrap().push((address, primary)),
                CoreInput::Upstream {
                    route: RouteId(1),
                    generation: 7,
                    event,
                } => return event,
                other => panic!("unexpected input {other:?}"),
            }
        }
    }

    async fn stop(self) {
        let _ = self.shutdown.send(true);
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("task stops")
            .unwrap();
    }
}

/// One accepted connection, read line by line.
struct PoolSide {
    lines: Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
}

impl PoolSide {
    async fn accept(listener: &TcpListener) -> PoolSide {
        let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("a connection in time")
            .unwrap();
        let (reader, writer) = stream.into_split();
        PoolSide {
            lines: BufReader::new(reader).lines(),
            writer,
        }
    }

    async fn line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("connection open")
    }

    async fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).await.unwrap();
        self.writer.write_all(b"\n").await.unwrap();
    }

    /// Reads the three handshake requests and answers them: no version rolling, extranonce1
    /// `00000001` with an 8-byte extranonce2, and `authorize` as given.
    async fn handshake(&mut self, authorize: &str) -> Vec<String> {
        let requests = vec![self.line().await, self.line().await, self.line().await];
        self.send(r#"{"id":1,"result":{},"error":null}"#).await;
        self.send(r#"{"id":2,"result":[[],"00000001",8],"error":null}"#)
            .await;
        self.send(r#"{"id":null,"method":"mining.set_difficulty","params":[0.25]}"#)
            .await;
        self.send(&format!(
            r#"{{"id":null,"method":"mining.notify","params":["a1","{STRATUM_PREV}","01","02",[],"20000000","1d00ffff","65b2c0de",true]}}"#
        ))
        .await;
        self.send(authorize).await;
        requests
    }
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    (listener, address)
}

async fn expect_open(task: &Task) -> u32 {
    assert!(matches!(
        task.event().await,
        UpstreamEvent::ChannelOpened { extranonce_size: 8, ref extranonce_prefix, .. } if extranonce_prefix == &[0, 0, 0, 1]
    ));
    let UpstreamEvent::NewJob(job) = task.event().await else {
        panic!("a job")
    };
    assert!(!job.version_rolling_allowed);
    assert!(matches!(
        task.event().await,
        UpstreamEvent::SetNewPrevHash { job_id, .. } if job_id == job.job_id
    ));
    job.job_id
}

#[tokio::test]
async fn shares_go_to_the_pool_as_submits_and_verdicts_come_back() {
    let (listener, address) = listener().await;
    let task = Task::start(vec![address]);
    let mut pool = PoolSide::accept(&listener).await;
    let requests = pool
        .handshake(r#"{"id":3,"result":true,"error":null}"#)
        .await;
    assert_eq!(
        requests[2],
        r#"{"id":3,"method":"mining.authorize","params":["buyer","pw"]}"#
    );
    let job_id = expect_open(&task).await;
    task.commands
        .send(UpstreamCommand::Submit(UpstreamShare {
            channel_id: 0,
            sequence_number: 0,
            job_id,
            nonce: 0xdead_beef,
            ntime: 0x65b2_c0e0,
            version: 0x2000_0000,
            extranonce: vec![0, 0, 0, 9, 1, 2, 3, 4],
        }))
        .await
        .unwrap();
    let submit = pool.line().await;
    assert_eq!(
        submit,
        r#"{"id":16,"method":"mining.submit","params":["buyer","a1","0000000901020304","65b2c0e0","deadbeef"]}"#
    );
    pool.send(r#"{"id":16,"result":true,"error":null}"#).await;
    assert!(matches!(
        task.event().await,
        UpstreamEvent::SubmitSuccess {
            last_sequence_number: 0,
            accepted_count: 1,
            ..
        }
    ));
    task.stop().await;
}

#[tokio::test]
async fn a_refused_authorization_is_reported_and_retried() {
    let (listener, address) = listener().await;
    let task = Task::start(vec![address]);
    let mut pool = PoolSide::accept(&listener).await;
    pool.handshake(r#"{"id":3,"result":false,"error":[24,"unauthorized worker",null]}"#)
        .await;
    match task.event().await {
        UpstreamEvent::Failed { reason } => assert_eq!(
            reason,
            "pool refused mining.authorize for `buyer`: unauthorized worker"
        ),
        other => panic!("{other:?}"),
    }
    // Tried again after the backoff, never opened in between.
    let mut again = PoolSide::accept(&listener).await;
    assert!(again.line().await.contains("mining.configure"));
    while let Ok(input) = task.inbox.try_recv() {
        assert!(
            matches!(
                input,
                CoreInput::Upstream {
                    event: UpstreamEvent::Endpoint { .. },
                    ..
                }
            ),
            "{input:?}"
        );
    }
    task.stop().await;
}

#[tokio::test]
async fn client_reconnect_moves_the_route_to_the_given_endpoint() {
    let (first, address) = listener().await;
    let (second, second_address) = listener().await;
    let task = Task::start(vec![address.clone()]);
    let mut pool = PoolSide::accept(&first).await;
    pool.handshake(r#"{"id":3,"result":true,"error":null}"#)
        .await;
    expect_open(&task).await;
    let port = second_address.rsplit_once(':').unwrap().1;
    pool.send(&format!(
        r#"{{"id":null,"method":"client.reconnect","params":["127.0.0.1",{port},0]}}"#
    ))
    .await;
    assert!(matches!(task.event().await, UpstreamEvent::Disconnected));
    assert!(matches!(task.event().await, UpstreamEvent::Failed { .. }));
    let mut moved = PoolSide::accept(&second).await;
    moved
        .handshake(r#"{"id":3,"result":true,"error":null}"#)
        .await;
    expect_open(&task).await;
    let endpoints = task.endpoints.lock().unwrap().clone();
    assert_eq!(endpoints, [(address, true), (second_address, false)]);
    task.stop().await;
}

#[tokio::test]
async fn a_malformed_line_ends_the_connection_with_the_reason_and_it_reconnects() {
    let (listener, address) = listener().await;
    let task = Task::start(vec![address]);
    let mut pool = PoolSide::accept(&listener).await;
    pool.handshake(r#"{"id":3,"result":true,"error":null}"#)
        .await;
    expect_open(&task).await;
    pool.send(r#"{"id":null,"method":"mining.notify","params":["b2","not hex"]}"#)
        .await;
    assert!(matches!(task.event().await, UpstreamEvent::Disconnected));
    match task.event().await {
        UpstreamEvent::Failed { reason } => {
            assert!(
                reason.starts_with("malformed line from the pool"),
                "{reason}"
            );
            assert!(reason.contains("not hex"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let mut again = PoolSide::accept(&listener).await;
    again
        .handshake(r#"{"id":3,"result":true,"error":null}"#)
        .await;
    expect_open(&task).await;
    task.stop().await;
}

#[tokio::test]
async fn a_pool_that_never_answers_the_handshake_times_out() {
    let (listener, address) = listener().await;
    let task = Task::start(vec![address]);
    let mut pool = PoolSide::accept(&listener).await;
    assert!(pool.line().await.contains("mining.configure"));
    match task.event().await {
        UpstreamEvent::Failed { reason } => {
            assert!(
                reason.contains("did not complete subscribe and authorize"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    task.stop().await;
}
