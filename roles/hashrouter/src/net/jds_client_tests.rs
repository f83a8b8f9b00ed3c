//! The JDS client against a scripted Job Declaration Server on 127.0.0.1: setup in full-template
//! mode, every message both ways, and the ways a session ends (malformed frame, a message only
//! a client sends, the core's `Close`, a wrong key, a refused setup), each followed by a retry.

use std::time::Duration;

use binary_sv2::{B064KOwned, Seq064KOwned};
use common_messages_sv2::Protocol;
use job_declaration_sv2::{
    AllocateMiningJobTokenSuccessOwned, DeclareMiningJobErrorOwned, DeclareMiningJobSuccessOwned,
    ProvideMissingTransactionsOwned,
};
use parsers_sv2::{AnyMessageOwned, JobDeclarationOwned, MiningOwned};
use tokio::sync::{mpsc, watch};

use super::jds_client::{run, JdsSettings, DECLARE_TX_DATA};
use super::jds_link::JdsLink;
use super::test_server::{next_input, test_authority, Peer, TestServer};
use crate::core::{JdsCommand, JdsEvent, RouteId};
use crate::node::CoreInput;

const ROUTE: RouteId = RouteId(2);
const GENERATION: u64 = 9;

/// The client under test, its command queue, what it tells the core, its shutdown switch.
struct Client {
    commands: mpsc::Sender<JdsCommand>,
    inbox: async_channel::Receiver<CoreInput>,
    shutdown: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl Client {
    fn start(address: &str, authority: sv2_conn::Secp256k1PublicKey) -> Client {
        let settings = JdsSettings {
            route: "buyer".into(),
            endpoints: vec![address.to_string()],
            authority,
            authority_field: "routes[0].job_declaration.authority_pubkey".into(),
            user_identifier: "farm.jd".into(),
            connect_timeout: Duration::from_secs(2),
            reconnect_min: Duration::from_millis(20),
            reconnect_max: Duration::from_millis(100),
        };
        let (commands, commands_rx) = mpsc::channel(16);
        let (inbox_tx, inbox) = async_channel::bounded(64);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let link = JdsLink {
            route: ROUTE,
            generation: GENERATION,
            inbox: inbox_tx,
        };
        let handle = tokio::spawn(run(link, settings, commands_rx, shutdown_rx));
        Client {
            commands,
            inbox,
            shutdown,
            handle,
        }
    }

    async fn event(&self) -> JdsEvent {
        match next_input(&self.inbox).await {
            CoreInput::Jds {
                route,
                generation,
                event,
            } => {
                assert_eq!((route, generation), (ROUTE, GENERATION));
                event
            }
            other => panic!("expected a JDS event, got {other:?}"),
        }
    }

    async fn disconnected(&self) -> String {
        match self.event().await {
            JdsEvent::Disconnected { reason } => reason,
            other => panic!("expected Disconnected, got {other:?}"),
        }
    }

    async fn send(&self, command: JdsCommand) {
        self.commands.send(command).await.unwrap();
    }

    async fn stop(self) {
        self.shutdown.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.handle)
            .await
            .expect("the client stops")
            .unwrap();
    }
}

/// Accepts the client and sets it up; checks it asked for full-template job declaration.
async fn connected(server: &TestServer, client: &Client) -> Peer {
    let mut peer = server.accept().await;
    let setup = peer.setup().await;
    assert_eq!(setup.protocol, Protocol::JobDeclarationProtocol);
    assert_eq!((setup.min_version, setup.max_version), (2, 2));
    assert_eq!(setup.flags, DECLARE_TX_DATA);
    assert_eq!(client.event().await, JdsEvent::Connected);
    peer
}

async fn recv_jd(peer: &mut Peer) -> JobDeclarationOwned {
    match peer.recv().await {
        AnyMessageOwned::JobDeclaration(m) => m,
        other => panic!("expected a job declaration message, got {other}"),
    }
}

async fn send_jd(peer: &mut Peer, message: JobDeclarationOwned) {
    peer.wr.write(message).await.unwrap();
}

fn declare(request_id: u32) -> JdsCommand {
    JdsCommand::DeclareMiningJob {
        request_id,
        token: vec![7; 8],
        version: 0x2000_0000,
        coinbase_tx_prefix: vec![1, 2, 3],
        coinbase_tx_suffix: vec![4, 5],
        wtxids: vec![[0xaa; 32], [0xbb; 32]],
        excess_data: Vec::new(),
    }
}

#[tokio::test]
async fn token_declaration_missing_transactions_and_solution_round_trip() {
    let server = TestServer::bind().await;
    let client = Client::start(&server.address, test_authority());
    let mut peer = connected(&server, &client).await;

    client
        .send(JdsCommand::AllocateToken { request_id: 11 })
        .await;
    let JobDeclarationOwned::AllocateMiningJobToken(request) = recv_jd(&mut peer).await else {
        panic!("expected AllocateMiningJobToken");
    };
    assert_eq!(request.request_id, 11);
    assert_eq!(request.user_identifier.as_utf8_or_hex(), "farm.jd");
    let outputs = vec![0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x51];
    send_jd(
        &mut peer,
        JobDeclarationOwned::AllocateMiningJobTokenSuccess(AllocateMiningJobTokenSuccessOwned {
            request_id: 11,
            mining_job_token: vec![7; 8].try_into().unwrap(),
            coinbase_outputs: outputs.clone().try_into().unwrap(),
        }),
    )
    .await;
    assert_eq!(
        client.event().await,
        JdsEvent::TokenAllocated {
            request_id: 11,
            token: vec![7; 8],
            coinbase_outputs: outputs,
        }
    );

    client.send(declare(12)).await;
    let JobDeclarationOwned::DeclareMiningJob(declared) = recv_jd(&mut peer).await else {
        panic!("expected DeclareMiningJob");
    };
    assert_eq!(declared.request_id, 12);
    assert_eq!(declared.mining_job_token.as_bytes(), &[7; 8]);
    assert_eq!(declared.coinbase_tx_prefix.as_bytes(), &[1, 2, 3]);
    assert_eq!(declared.coinbase_tx_suffix.as_bytes(), &[4, 5]);
    let wtxids: Vec<[u8; 32]> = declared
        .wtxid_list
        .into_inner()
        .into_iter()
        .map(|w| w.into_array())
        .collect();
    assert_eq!(wtxids, vec![[0xaa; 32], [0xbb; 32]]);

    send_jd(
        &mut peer,
        JobDeclarationOwned::ProvideMissingTransactions(ProvideMissingTransactionsOwned {
            request_id: 12,
            unknown_tx_position_list: Seq064KOwned::new(vec![1]).unwrap(),
        }),
    )
    .await;
    assert_eq!(
        client.event().await,
        JdsEvent::ProvideMissingTransactions {
            request_id: 12,
            positions: vec![1],
        }
    );
    client
        .send(JdsCommand::ProvideMissingTransactionsSuccess {
            request_id: 12,
            transactions: vec![vec![0xde, 0xad]],
        })
        .await;
    let JobDeclarationOwned::ProvideMissingTransactionsSuccess(provided) = recv_jd(&mut peer).await
    else {
        panic!("expected ProvideMissingTransactions.Success");
    };
    assert_eq!(provided.request_id, 12);
    let transactions = provided.transaction_list.into_inner();
    assert_eq!(transactions.len(), 1);
    assert_eq!(transactions[0].as_bytes(), &[0xde, 0xad]);

    send_jd(
        &mut peer,
        JobDeclarationOwned::DeclareMiningJobSuccess(DeclareMiningJobSuccessOwned {
            request_id: 12,
            new_mining_job_token: vec![8; 4].try_into().unwrap(),
        }),
    )
    .await;
    assert_eq!(
        client.event().await,
        JdsEvent::DeclareSuccess {
            request_id: 12,
            new_token: vec![8; 4],
        }
    );

    client.send(declare(13)).await;
    assert!(matches!(
        recv_jd(&mut peer).await,
        JobDeclarationOwned::DeclareMiningJob(d) if d.request_id == 13
    ));
    send_jd(
        &mut peer,
        JobDeclarationOwned::DeclareMiningJobError(DeclareMiningJobErrorOwned {
            request_id: 13,
            error_code: "invalid-mining-job-token".to_string().try_into().unwrap(),
            error_details: B064KOwned::try_from(vec![1u8]).unwrap(),
        }),
    )
    .await;
    assert_eq!(
        client.event().await,
        JdsEvent::DeclareError {
            request_id: 13,
            code: "invalid-mining-job-token".into(),
            details: vec![1],
        }
    );

    client
        .send(JdsCommand::PushSolution {
            extranonce: vec![1, 2, 3, 4],
            prev_hash: [5; 32],
            nonce: 6,
            ntime: 7,
            nbits: 0x207f_ffff,
            version: 0x2000_0000,
        })
        .await;
    let JobDeclarationOwned::PushSolution(solution) = recv_jd(&mut peer).await else {
        panic!("expected PushSolution");
    };
    assert_eq!(solution.extranonce.as_bytes(), &[1, 2, 3, 4]);
    assert_eq!(solution.prev_hash.into_array(), [5; 32]);
    assert_eq!(
        (
            solution.nonce,
            solution.ntime,
            solution.nbits,
            solution.version
        ),
        (6, 7, 0x207f_ffff, 0x2000_0000)
    );
    client.stop().await;
}

#[tokio::test]
async fn a_malformed_frame_ends_the_session_with_a_reason_and_the_client_comes_back() {
    let server = TestServer::bind().await;
    let client = Client::start(&server.address, test_authority());
    let mut peer = connected(&server, &client).await;
    // Bytes no Noise session produced: the frame does not decrypt.
    peer.wr.write_raw_for_tests(&[0x55; 64]).await.unwrap();
    let reason = client.disconnected().await;
    assert!(
        reason.contains("decrypt") || reason.contains("frame"),
        "{reason}"
    );
    drop(peer);

    // Back after the backoff, and fully usable.
    let mut peer = connected(&server, &client).await;
    client
        .send(JdsCommand::AllocateToken { request_id: 1 })
        .await;
    assert!(matches!(
        recv_jd(&mut peer).await,
        JobDeclarationOwned::AllocateMiningJobToken(_)
    ));
    client.stop().await;
}

#[tokio::test]
async fn a_message_only_a_client_sends_or_of_another_protocol_ends_the_session() {
    let server = TestServer::bind().await;
    let client = Client::start(&server.address, test_authority());
    let mut peer = connected(&server, &client).await;
    // A JDS never sends PushSolution.
    let push = job_declaration_sv2::PushSolutionOwned {
        extranonce: vec![0u8; 4].try_into().unwrap(),
        prev_hash: [0u8; 32].into(),
        nonce: 0,
        ntime: 0,
        nbits: 0,
        version: 0,
    };
    send_jd(&mut peer, JobDeclarationOwned::PushSolution(push)).await;
    let reason = client.disconnected().await;
    assert!(reason.contains("unexpected"), "{reason}");
    assert!(reason.contains("PushSolution"), "{reason}");

    // Nor mining messages.
    let mut peer = connected(&server, &client).await;
    peer.wr
        .write(MiningOwned::SetTarget(mining_sv2::SetTargetOwned {
            channel_id: 1,
            maximum_target: [0xffu8; 32].into(),
        }))
        .await
        .unwrap();
    let reason = client.disconnected().await;
    assert!(reason.contains("unexpected"), "{reason}");
    client.stop().await;
}

#[tokio::test]
async fn close_from_the_core_ends_the_session_and_the_client_retries() {
    let server = TestServer::bind().await;
    let client = Client::start(&server.address, test_authority());
    let mut peer = connected(&server, &client).await;
    client
        .send(JdsCommand::Close {
            reason: "declared job refused twice".into(),
        })
        .await;
    let reason = client.disconnected().await;
    assert!(reason.contains("declared job refused twice"), "{reason}");
    // The JDS sees the connection close.
    assert!(tokio::time::timeout(Duration::from_secs(5), peer.rd.read())
        .await
        .expect("the connection closes")
        .is_err());
    let _peer = connected(&server, &client).await;
    client.stop().await;
}

#[tokio::test]
async fn a_jds_with_another_key_or_refusing_setup_is_reported_and_retried() {
    let server = TestServer::bind().await;
    let other = sv2_conn::keys::generate().public_string();
    let client = Client::start(&server.address, other.parse().unwrap());
    // The handshake completes on the server's side; the client refuses the certificate.
    let _peer = server.accept().await;
    let reason = client.disconnected().await;
    assert!(
        reason.contains("routes[0].job_declaration.authority_pubkey"),
        "{reason}"
    );
    client.stop().await;

    let client = Client::start(&server.address, test_authority());
    let mut peer = server.accept().await;
    peer.refuse_setup("unsupported-feature-flags").await;
    let reason = client.disconnected().await;
    assert!(reason.contains("unsupported-feature-flags"), "{reason}");
    // And tried again.
    let _peer = connected(&server, &client).await;
    client.stop().await;
}
