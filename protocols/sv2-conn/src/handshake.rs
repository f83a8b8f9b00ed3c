//! The Noise NX handshake (`Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256`) over a TCP stream.

use crate::{ConnError, FrameReader, FrameWriter};
use codec_sv2::{Handshake, NoiseEncoder};
use key_utils::{Secp256k1PublicKey, Secp256k1SecretKey};
use noise_sv2::{
    Initiator, Responder, ELLSWIFT_ENCODING_SIZE, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE,
};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The responder's authority keypair and how long the certificates it signs stay valid.
#[derive(Debug, Clone, Copy)]
pub struct ResponderKeys {
    pub public: Secp256k1PublicKey,
    pub secret: Secp256k1SecretKey,
    pub cert_validity: Duration,
}

impl ResponderKeys {
    /// Parses the base58check strings SRI uses for authority keys.
    pub fn from_strings(
        public: &str,
        secret: &str,
        cert_validity: Duration,
    ) -> Result<Self, ConnError> {
        let public: Secp256k1PublicKey = public
            .parse()
            .map_err(|e| ConnError::InvalidKey(format!("public key: {e}")))?;
        let secret: Secp256k1SecretKey = secret
            .parse()
            .map_err(|e| ConnError::InvalidKey(format!("secret key: {e}")))?;
        if Secp256k1PublicKey::from(secret).into_bytes() != public.into_bytes() {
            return Err(ConnError::InvalidKey(
                "public key does not belong to the secret key".into(),
            ));
        }
        Ok(Self {
            public,
            secret,
            cert_validity,
        })
    }
}

/// Runs the handshake as the initiator. With `Some(authority)`, the responder's certificate must
/// be signed by that key ([`ConnError::AuthorityMismatch`] otherwise); `None` accepts any server.
pub async fn connect(
    stream: TcpStream,
    authority: Option<Secp256k1PublicKey>,
    timeout: Duration,
) -> Result<(FrameReader, FrameWriter), ConnError> {
    tokio::time::timeout(timeout, connect_inner(stream, authority))
        .await
        .map_err(|_| ConnError::HandshakeTimeout(timeout))?
}

async fn connect_inner(
    mut stream: TcpStream,
    authority: Option<Secp256k1PublicKey>,
) -> Result<(FrameReader, FrameWriter), ConnError> {
    let initiator = match authority {
        Some(key) => Initiator::from_raw_k(key.into_bytes()),
        None => Initiator::without_pk(),
    }
    .map_err(|e| ConnError::Handshake(format!("{e:?}")))?;
    let (first, sent) = Handshake::initiator(initiator).step_0()?;
    let mut encoder = NoiseEncoder::new();
    let bytes = encoder.encode_handshake(first);
    stream.write_all(bytes.as_ref()).await?;

    let mut reply = [0u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE];
    read_exact_or_closed(&mut stream, &mut reply).await?;
    let transport = sent.step_2(reply)?;
    Ok(crate::transport::split(stream, transport))
}

/// Runs the handshake as the responder with `keys`.
///
/// Note that Noise NX lets any 64 bytes pass as the initiator's ephemeral key, so a peer sending
/// garbage is only detected at its first frame: read one message with a deadline before trusting
/// the peer.
pub async fn accept(
    stream: TcpStream,
    keys: &ResponderKeys,
    timeout: Duration,
) -> Result<(FrameReader, FrameWriter), ConnError> {
    tokio::time::timeout(timeout, accept_inner(stream, keys))
        .await
        .map_err(|_| ConnError::HandshakeTimeout(timeout))?
}

async fn accept_inner(
    mut stream: TcpStream,
    keys: &ResponderKeys,
) -> Result<(FrameReader, FrameWriter), ConnError> {
    let responder = Responder::from_authority_kp(
        &keys.public.into_bytes(),
        &keys.secret.into_bytes(),
        keys.cert_validity,
    )
    .map_err(|e| ConnError::Handshake(format!("{e:?}")))?;
    let mut first = [0u8; ELLSWIFT_ENCODING_SIZE];
    read_exact_or_closed(&mut stream, &mut first).await?;
    let (reply, transport) = Handshake::responder(responder).step_1(first)?;
    let mut encoder = NoiseEncoder::new();
    let bytes = encoder.encode_handshake(reply);
    stream.write_all(bytes.as_ref()).await?;
    Ok(crate::transport::split(stream, transport))
}

async fn read_exact_or_closed(stream: &mut TcpStream, buf: &mut [u8]) -> Result<(), ConnError> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ConnError::Closed),
        Err(e) => Err(e.into()),
    }
}
