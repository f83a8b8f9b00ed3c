//! A scripted SV2 server for the client tests (JDS, pool): real Noise on 127.0.0.1 port 0 with
//! the SRI test authority keys; the test reads what the client sent and writes the answers.

use std::time::Duration;

use common_messages_sv2::{
    SetupConnectionErrorOwned, SetupConnectionOwned, SetupConnectionSuccess,
};
use minesim::pool::{TEST_AUTHORITY_PUBLIC, TEST_AUTHORITY_SECRET};
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned};
use sv2_conn::{FrameReader, FrameWriter, ResponderKeys, Secp256k1PublicKey};
use tokio::net::TcpListener;

use crate::node::CoreInput;

/// Generous wait for anything the tests expect.
pub const WAIT: Duration = Duration::from_secs(10);

/// The key clients pin to talk to a [`TestServer`].
pub fn test_authority() -> Secp256k1PublicKey {
    TEST_AUTHORITY_PUBLIC.parse().unwrap()
}

/// A listening server.
pub struct TestServer {
    listener: TcpListener,
    keys: ResponderKeys,
    pub address: String,
}

impl TestServer {
    pub async fn bind() -> TestServer {
        Self::bind_on("127.0.0.1:0").await
    }

    /// Binds `address` (a restarted server takes its predecessor's port).
    pub async fn bind_on(address: &str) -> TestServer {
        let listener = TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let keys = ResponderKeys::from_strings(
            TEST_AUTHORITY_PUBLIC,
            TEST_AUTHORITY_SECRET,
            Duration::from_secs(3600),
        )
        .unwrap();
        TestServer {
            listener,
            keys,
            address,
        }
    }

    /// The next client, past the Noise handshake.
    pub async fn accept(&self) -> Peer {
        let (stream, _) = tokio::time::timeout(WAIT, self.listener.accept())
            .await
            .expect("a client connects")
            .unwrap();
        let (rd, wr) = sv2_conn::accept(stream, &self.keys, WAIT).await.unwrap();
        Peer { rd, wr }
    }
}

/// One client's connection, server side.
pub struct Peer {
    pub rd: FrameReader,
    pub wr: FrameWriter,
}

impl Peer {
    pub async fn recv(&mut self) -> AnyMessageOwned {
        tokio::time::timeout(WAIT, self.rd.read())
            .await
            .expect("the client sends a message")
            .unwrap()
    }

    /// Reads `SetupConnection`; answers success.
    pub async fn setup(&mut self) -> SetupConnectionOwned {
        let setup = self.recv_setup().await;
        self.wr
            .write(CommonMessagesOwned::SetupConnectionSuccess(
                SetupConnectionSuccess {
                    used_version: 2,
                    flags: 0,
                },
            ))
            .await
            .unwrap();
        setup
    }

    /// Reads `SetupConnection`; refuses it with `code`.
    pub async fn refuse_setup(&mut self, code: &str) -> SetupConnectionOwned {
        let setup = self.recv_setup().await;
        self.wr
            .write(CommonMessagesOwned::SetupConnectionError(
                SetupConnectionErrorOwned {
                    flags: 0,
                    error_code: code.to_string().try_into().unwrap(),
                },
            ))
            .await
            .unwrap();
        setup
    }

    async fn recv_setup(&mut self) -> SetupConnectionOwned {
        match self.recv().await {
            AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(setup)) => setup,
            other => panic!("expected SetupConnection, got {other}"),
        }
    }
}

/// The next input for the core.
pub async fn next_input(inbox: &async_channel::Receiver<CoreInput>) -> CoreInput {
    tokio::time::timeout(WAIT, inbox.recv())
        .await
        .expect("an event for the core")
        .unwrap()
}
