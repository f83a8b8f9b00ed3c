//! The SV2 upstream client of a job-declaring route against a scripted pool on 127.0.0.1:
//! work selection asked for and reported, a declared job sent and its answers translated, and a
//! pool that refuses work selection served without it.

use std::time::Duration;

use binary_sv2::U256Owned;
use mining_sv2::{
    OpenExtendedMiningChannelSuccessOwned, SetCustomMiningJobErrorOwned, SetCustomMiningJobSuccess,
};
use parsers_sv2::{AnyMessageOwned, MiningOwned};
use tokio::sync::{mpsc, watch};

use super::sv2_upstream::{run, UpstreamSettings};
use super::test_server::{next_input, test_authority, Peer, TestServer};
use super::upstream_link::UpstreamLink;
use crate::core::{CustomJob, RouteId, UpstreamEvent};
use crate::node::{CoreInput, UpstreamCommand};

const CHANNEL: u32 = 5;
const WORK_SELECTION: u32 = 1 << 1;

struct Client {
    commands: mpsc::Sender<UpstreamCommand>,
    inbox: async_channel::Receiver<CoreInput>,
    shutdown: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl Client {
    fn start(address: &str, work_selection: bool) -> Client {
        let settings = UpstreamSettings {
            route: "buyer".into(),
            endpoints: vec![address.to_string()],
            authority: test_authority(),
            user_identity: "farm".into(),
            require_version_rolling: true,
            work_selection,
            extranonce_size: 8,
            connect_timeout: Duration::from_secs(2),
            reconnect_min: Duration::from_millis(20),
            reconnect_max: Duration::from_millis(100),
        };
        let (commands, commands_rx) = mpsc::channel(16);
        let (inbox_tx, inbox) = async_channel::bounded(64);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let link = UpstreamLink {
            route: RouteId(1),
            generation: 3,
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

    /// The next event for the core, past the `Endpoint` report (always the primary here).
    async fn event(&self) -> UpstreamEvent {
        loop {
            match next_input(&self.inbox).await {
                CoreInput::Upstream {
                    event: UpstreamEvent::Endpoint { primary, .. },
                    ..
                } => assert!(primary),
                CoreInput::Upstream { event, .. } => return event,
                other => panic!("expected an upstream event, got {other:?}"),
            }
        }
    }

    async fn stop(self) {
        self.shutdown.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.handle)
            .await
            .expect("the client stops")
            .unwrap();
    }
}

/// Answers the channel opening; returns the SetupConnection flags the client asked for.
async fn open_channel(peer: &mut Peer) {
    let AnyMessageOwned::Mining(MiningOwned::OpenExtendedMiningChannel(open)) = peer.recv().await
    else {
        panic!("expected OpenExtendedMiningChannel");
    };
    peer.wr
        .write(MiningOwned::OpenExtendedMiningChannelSuccess(
            OpenExtendedMiningChannelSuccessOwned {
                request_id: open.request_id,
                channel_id: CHANNEL,
                target: U256Owned::from([0xff; 32]),
                extranonce_size: open.min_extranonce_size,
                extranonce_prefix: vec![0xee; 4].try_into().unwrap(),
                group_channel_id: 1,
            },
        ))
        .await
        .unwrap();
}

fn job(request_id: u32) -> CustomJob {
    CustomJob {
        channel_id: CHANNEL,
        request_id,
        token: vec![9; 6],
        version: 0x2000_0000,
        prev_hash: [4; 32],
        min_ntime: 1_700_000_000,
        nbits: 0x207f_ffff,
        coinbase_tx_version: 2,
        coinbase_prefix: vec![3, 0xe8, 0x03, 0x00, 10],
        coinbase_tx_input_n_sequence: u32::MAX,
        coinbase_tx_outputs: vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x51],
        coinbase_tx_locktime: 0,
        merkle_path: vec![[6; 32], [7; 32]],
    }
}

#[tokio::test]
async fn declared_jobs_go_out_on_our_channel_and_their_answers_come_back() {
    let server = TestServer::bind().await;
    let client = Client::start(&server.address, true);
    let mut peer = server.accept().await;
    let setup = peer.setup().await;
    assert_eq!(setup.flags & WORK_SELECTION, WORK_SELECTION);
    open_channel(&mut peer).await;
    assert!(matches!(
        client.event().await,
        UpstreamEvent::ChannelOpened {
            channel_id: CHANNEL,
            ..
        }
    ));
    assert!(matches!(
        client.event().await,
        UpstreamEvent::WorkSelection { allowed: true }
    ));

    client
        .commands
        .send(UpstreamCommand::SetCustomMiningJob(job(21)))
        .await
        .unwrap();
    let AnyMessageOwned::Mining(MiningOwned::SetCustomMiningJob(sent)) = peer.recv().await else {
        panic!("expected SetCustomMiningJob");
    };
    let expected = job(21);
    assert_eq!((sent.channel_id, sent.request_id), (CHANNEL, 21));
    assert_eq!(sent.token.as_bytes(), expected.token.as_slice());
    assert_eq!(sent.prev_hash.into_array(), expected.prev_hash);
    assert_eq!(
        (sent.version, sent.min_ntime, sent.nbits),
        (expected.version, expected.min_ntime, expected.nbits)
    );
    assert_eq!(sent.coinbase_prefix.as_bytes(), expected.coinbase_prefix);
    assert_eq!(
        sent.coinbase_tx_outputs.as_bytes(),
        expected.coinbase_tx_outputs
    );
    let path: Vec<[u8; 32]> = sent
        .merkle_path
        .into_inner()
        .into_iter()
        .map(|n| n.into_array())
        .collect();
    assert_eq!(path, expected.merkle_path);

    // Another channel's answer is not ours; ours becomes the core's event.
    for channel_id in [CHANNEL + 1, CHANNEL] {
        peer.wr
            .write(MiningOwned::SetCustomMiningJobSuccess(
                SetCustomMiningJobSuccess {
                    channel_id,
                    request_id: 21,
                    job_id: 77,
                },
            ))
            .await
            .unwrap();
    }
    assert!(matches!(
        client.event().await,
        UpstreamEvent::CustomJobAccepted {
            request_id: 21,
            job_id: 77,
        }
    ));
    peer.wr
        .write(MiningOwned::SetCustomMiningJobError(
            SetCustomMiningJobErrorOwned {
                channel_id: CHANNEL,
                request_id: 22,
                error_code: "invalid-mining-job-token".to_string().try_into().unwrap(),
            },
        ))
        .await
        .unwrap();
    assert!(matches!(
        client.event().await,
        UpstreamEvent::CustomJobRefused { request_id: 22, code }
            if code == "invalid-mining-job-token"
    ));
    client.stop().await;
}

#[tokio::test]
async fn a_pool_refusing_work_selection_is_reported_and_served_without_it() {
    let server = TestServer::bind().await;
    let client = Client::start(&server.address, true);
    let mut peer = server.accept().await;
    let setup = peer.refuse_setup("unsupported-feature-flags").await;
    assert_eq!(setup.flags & WORK_SELECTION, WORK_SELECTION);
    let UpstreamEvent::Failed { reason } = client.event().await else {
        panic!("expected Failed");
    };
    assert!(reason.contains("REQUIRES_WORK_SELECTION"), "{reason}");
    assert!(reason.contains("unsupported-feature-flags"), "{reason}");

    let mut peer = server.accept().await;
    let setup = peer.setup().await;
    assert_eq!(setup.flags & WORK_SELECTION, 0);
    open_channel(&mut peer).await;
    assert!(matches!(
        client.event().await,
        UpstreamEvent::ChannelOpened { .. }
    ));
    assert!(matches!(
        client.event().await,
        UpstreamEvent::WorkSelection { allowed: false }
    ));
    client.stop().await;
}

#[tokio::test]
async fn routes_without_job_declaration_neither_ask_nor_report_work_selection() {
    let server = TestServer::bind().await;
    let client = Client::start(&server.address, false);
    let mut peer = server.accept().await;
    let setup = peer.setup().await;
    assert_eq!(setup.flags & WORK_SELECTION, 0);
    open_channel(&mut peer).await;
    assert!(matches!(
        client.event().await,
        UpstreamEvent::ChannelOpened { .. }
    ));
    // The next event is the pool's, not a WorkSelection report.
    peer.wr
        .write(MiningOwned::SetTarget(mining_sv2::SetTargetOwned {
            channel_id: CHANNEL,
            maximum_target: U256Owned::from([0x0f; 32]),
        }))
        .await
        .unwrap();
    assert!(matches!(
        client.event().await,
        UpstreamEvent::SetTarget { .. }
    ));
    client.stop().await;
}
