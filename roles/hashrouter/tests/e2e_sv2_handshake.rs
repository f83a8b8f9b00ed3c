//! The SV2 server refuses bad peers one by one: a client pinning another authority key, garbage
//! instead of a Noise handshake, a malformed frame after it, a wrong SetupConnection. A good SV2
//! connection on the same node keeps working throughout. And a node pinned to the wrong upstream
//! authority refuses that pool with an error naming the key.

mod common;

use std::time::Duration;

use binary_sv2::{Str0255Owned, U256Owned};
use common::*;
use common_messages_sv2::{Protocol, SetupConnectionOwned};
use mining_sv2::OpenStandardMiningChannelOwned;
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned, MiningOwned};
use sv2_conn::{ConnError, FrameReader, FrameWriter, Secp256k1PublicKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(5);

fn text(s: &str) -> Str0255Owned {
    Str0255Owned::try_from(s.to_string()).unwrap()
}

fn setup(protocol: Protocol) -> CommonMessagesOwned {
    CommonMessagesOwned::SetupConnection(SetupConnectionOwned {
        protocol,
        min_version: 2,
        max_version: 2,
        flags: 1,
        endpoint_host: text("127.0.0.1"),
        endpoint_port: 0,
        vendor: text("e2e"),
        hardware_version: text(""),
        firmware: text(""),
        device_id: text(""),
    })
}

async fn connect(
    node: std::net::SocketAddr,
    key: &str,
) -> Result<(FrameReader, FrameWriter), ConnError> {
    let stream = TcpStream::connect(node).await.unwrap();
    let key: Secp256k1PublicKey = key.parse().unwrap();
    sv2_conn::connect(stream, Some(key), TIMEOUT).await
}

async fn read(reader: &mut FrameReader) -> Result<AnyMessageOwned, ConnError> {
    tokio::time::timeout(TIMEOUT, reader.read())
        .await
        .unwrap_or(Err(ConnError::HandshakeTimeout(TIMEOUT)))
}

/// True when the node ends the connection within the timeout.
async fn closed(reader: &mut FrameReader) -> bool {
    loop {
        match read(reader).await {
            Ok(_) => continue,
            Err(ConnError::HandshakeTimeout(_)) => return false,
            Err(_) => return true,
        }
    }
}

/// A set-up connection with one standard channel; returns after its first job.
async fn good_device(node: std::net::SocketAddr, key: &str) -> (FrameReader, FrameWriter, u32) {
    let (mut reader, mut writer) = connect(node, key).await.expect("handshake");
    writer.write(setup(Protocol::MiningProtocol)).await.unwrap();
    assert!(matches!(
        read(&mut reader).await.unwrap(),
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(_))
    ));
    writer
        .write(MiningOwned::OpenStandardMiningChannel(
            OpenStandardMiningChannelOwned {
                request_id: 1,
                user_identity: text("e2e.rig"),
                nominal_hash_rate: 1e6,
                max_target: U256Owned::from([0xff; 32]),
            },
        ))
        .await
        .unwrap();
    let channel_id = match read(&mut reader).await.unwrap() {
        AnyMessageOwned::Mining(MiningOwned::OpenStandardMiningChannelSuccess(ok)) => ok.channel_id,
        other => panic!("expected the channel to open, got {other}"),
    };
    loop {
        if let AnyMessageOwned::Mining(MiningOwned::SetNewPrevHash(_)) =
            read(&mut reader).await.unwrap()
        {
            return (reader, writer, channel_id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sv2_peers_are_dropped_alone() {
    let pool = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let (node, key) = start_sv2_node(pool.local_addr()).await;
    let sv2 = node.sv2_addr().expect("SV2 server configured");
    let (mut good_reader, mut good_writer, channel_id) = good_device(sv2, &key).await;

    // 1. A client pinning another authority refuses the node.
    let other = sv2_conn::keys::generate().public_string();
    assert!(matches!(
        connect(sv2, &other).await,
        Err(ConnError::AuthorityMismatch)
    ));

    // 2. Garbage instead of a handshake: the node hangs up.
    let mut garbage = TcpStream::connect(sv2).await.unwrap();
    garbage
        .write_all(&[0x47; 64])
        .await
        .expect("write handshake garbage");
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok();
    let mut sink = Vec::new();
    let ended = tokio::time::timeout(TIMEOUT, garbage.read_to_end(&mut sink)).await;
    assert!(ended.is_ok(), "garbage connection was not closed");

    // 3. A silent peer that never sends SetupConnection is dropped after the handshake timeout.
    let (mut silent, _silent_writer) = connect(sv2, &key).await.expect("handshake");
    assert!(closed(&mut silent).await, "silent peer was not dropped");

    // 4. A malformed frame after a proper setup.
    let (mut reader, mut writer) = connect(sv2, &key).await.expect("handshake");
    writer.write(setup(Protocol::MiningProtocol)).await.unwrap();
    read(&mut reader).await.unwrap();
    writer
        .write_raw_for_tests(&[0xde, 0xad, 0xbe, 0xef].repeat(40))
        .await
        .unwrap();
    assert!(closed(&mut reader).await, "malformed frame did not close");

    // 5. SetupConnection for another protocol: refused with the spec code, then closed.
    let (mut reader, mut writer) = connect(sv2, &key).await.expect("handshake");
    writer
        .write(setup(Protocol::TemplateDistributionProtocol))
        .await
        .unwrap();
    match read(&mut reader).await.unwrap() {
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionError(e)) => {
            assert_eq!(e.error_code.as_utf8_or_hex(), "unsupported-protocol")
        }
        other => panic!("expected SetupConnection.Error, got {other}"),
    }
    assert!(closed(&mut reader).await);

    // The good device is still served: its channel answers an UpdateChannel for a wrong id
    // with an error, and the node still lists exactly its channel.
    good_writer
        .write(MiningOwned::UpdateChannel(mining_sv2::UpdateChannelOwned {
            channel_id: channel_id + 1000,
            nominal_hash_rate: 1e6,
            maximum_target: U256Owned::from([0xff; 32]),
        }))
        .await
        .unwrap();
    loop {
        match read(&mut good_reader)
            .await
            .expect("good device still connected")
        {
            AnyMessageOwned::Mining(MiningOwned::UpdateChannelError(e)) => {
                assert_eq!(e.error_code.as_utf8_or_hex(), "invalid-channel-id");
                break;
            }
            _ => continue,
        }
    }
    let snapshot = node.snapshot().await.unwrap();
    assert_eq!(snapshot.sv2_connections, 1);
    assert_eq!(snapshot.devices.len(), 1);
    assert_eq!(snapshot.devices[0].id.0, channel_id);
    assert_eq!(snapshot.devices[0].kind.as_str(), "sv2-standard");
    node.shutdown().await;
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_upstream_authority_is_refused_with_a_clear_error() {
    let pool = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let wrong = sv2_conn::keys::generate().public_string();
    let config = hashrouter::config::Config::parse(&format!(
        r#"
[sv1]
listen = "127.0.0.1:0"
[upstream]
address = "{}"
authority_pubkey = "{wrong}"
user_identity = "e2e"
reconnect_min_ms = 100
reconnect_max_secs = 1
"#,
        pool.local_addr()
    ))
    .unwrap();
    let node = hashrouter::node::start(&config).await.unwrap();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let error = loop {
        let snapshot = node.snapshot().await.unwrap();
        if let Some(error) = snapshot.upstream.last_error {
            break error;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no upstream error reported"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        error.contains("upstream.authority_pubkey"),
        "error does not name the key: {error}"
    );
    let snapshot = node.snapshot().await.unwrap();
    assert!(!snapshot.upstream.connected);
    assert_eq!(pool.stats().open_channels(), 0);
    node.shutdown().await;
    pool.shutdown().await;
}
