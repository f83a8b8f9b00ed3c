//! What the pool and template provider test clients share: a Noise connection to a server
//! holding the test authority key, `SetupConnection`, and reads with a deadline.
#![allow(dead_code)]

use binary_sv2::Str0255Owned;
use common_messages_sv2::{Protocol, SetupConnectionOwned};
use minesim::pool::TEST_AUTHORITY_PUBLIC;
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned};
use std::net::SocketAddr;
use std::time::Duration;
use sv2_conn::{FrameReader, FrameWriter};
use tokio::net::TcpStream;

pub const T: Duration = Duration::from_secs(10);

pub fn s255(s: &str) -> Str0255Owned {
    Str0255Owned::try_from(s.to_string()).unwrap()
}

pub fn arr(b: &[u8]) -> [u8; 32] {
    let mut a = [0u8; 32];
    a.copy_from_slice(b);
    a
}

/// Connects to `addr` over Noise, checking the server's certificate against the test authority.
pub async fn connect(addr: SocketAddr) -> (FrameReader, FrameWriter) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let key = TEST_AUTHORITY_PUBLIC.parse().unwrap();
    sv2_conn::connect(stream, Some(key), T).await.unwrap()
}

/// Sends `SetupConnection` for `protocol` and returns the reply.
pub async fn setup(
    rd: &mut FrameReader,
    wr: &mut FrameWriter,
    protocol: Protocol,
    vendor: &str,
    device_id: &str,
) -> AnyMessageOwned {
    setup_with_flags(rd, wr, protocol, 0, vendor, device_id).await
}

/// Sends `SetupConnection` for `protocol` with `flags` and returns the reply.
pub async fn setup_with_flags(
    rd: &mut FrameReader,
    wr: &mut FrameWriter,
    protocol: Protocol,
    flags: u32,
    vendor: &str,
    device_id: &str,
) -> AnyMessageOwned {
    wr.write(CommonMessagesOwned::SetupConnection(SetupConnectionOwned {
        protocol,
        min_version: 2,
        max_version: 2,
        flags,
        endpoint_host: s255("127.0.0.1"),
        endpoint_port: 0,
        vendor: s255(vendor),
        hardware_version: s255(""),
        firmware: s255(""),
        device_id: s255(device_id),
    }))
    .await
    .unwrap();
    recv(rd).await
}

/// Panics unless `reply` is `SetupConnection.Success` for version 2.
pub fn expect_setup_success(reply: AnyMessageOwned) {
    match reply {
        AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(s)) => {
            assert_eq!(s.used_version, 2)
        }
        other => panic!("expected SetupConnectionSuccess, got {other}"),
    }
}

/// The next message, within `T`.
pub async fn recv(rd: &mut FrameReader) -> AnyMessageOwned {
    tokio::time::timeout(T, rd.read())
        .await
        .expect("message in time")
        .expect("message")
}
