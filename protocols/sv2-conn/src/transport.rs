//! Encrypted frames after the handshake: a reader half and a writer half.

use crate::ConnError;
use binary_sv2::{GetSize, Serialize};
use codec_sv2::{
    Decrypted, MessageFrame, NoiseDecoder, NoiseEncoder, Transport, TransportDecryptState,
    TransportEncryptState,
};
use parsers_sv2::{AnyMessage, AnyMessageOwned, IsSv2Message};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Largest frame payload accepted or sent (plaintext bytes). SV2 mining messages are far
/// smaller; the protocol's own limit (16 MiB) would let a peer make us buffer a lot.
pub const MAX_FRAME_PAYLOAD: usize = 256 * 1024;

// Encrypted size of a frame carrying `payload` bytes: header + MAC, payload + one MAC per chunk.
fn encrypted_frame_len(payload: usize) -> usize {
    codec_sv2::ENCRYPTED_SV2_FRAME_HEADER_SIZE
        + payload
        + payload.div_ceil(codec_sv2::SV2_FRAME_PLAINTEXT_CHUNK_SIZE) * noise_sv2::AEAD_MAC_LEN
}

pub(crate) fn split(stream: TcpStream, transport: Transport) -> (FrameReader, FrameWriter) {
    let peer = stream.peer_addr().ok();
    let (rd, wr) = stream.into_split();
    let (enc, dec) = transport.split();
    (
        FrameReader {
            rd,
            decoder: NoiseDecoder::new(),
            state: Some(dec),
            raw: Vec::new(),
            frame_bytes: 0,
            max_payload: MAX_FRAME_PAYLOAD,
            peer,
        },
        FrameWriter {
            wr,
            encoder: NoiseEncoder::new(),
            state: enc,
            max_payload: MAX_FRAME_PAYLOAD,
            peer,
        },
    )
}

/// The receiving half of an SV2 connection.
pub struct FrameReader {
    rd: OwnedReadHalf,
    decoder: NoiseDecoder,
    // `None` after a decryption failure: the connection is dead.
    state: Option<TransportDecryptState>,
    // Bytes read from the socket and not yet handed to the decoder.
    raw: Vec<u8>,
    // Encrypted bytes handed to the decoder for the frame in progress.
    frame_bytes: usize,
    max_payload: usize,
    peer: Option<SocketAddr>,
}

impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("peer", &self.peer)
            .finish()
    }
}

impl FrameReader {
    /// The peer's address, if the socket still knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Lowers (or raises) the largest payload this reader accepts; [`MAX_FRAME_PAYLOAD`] by
    /// default. A larger frame ends the connection with [`ConnError::FrameTooLarge`] before it
    /// is buffered whole.
    pub fn set_max_payload(&mut self, max_payload: usize) {
        self.max_payload = max_payload;
    }

    /// Reads, decrypts and parses the next message.
    ///
    /// Cancel-safe: the only await point is a socket read whose bytes are kept in `self`, so
    /// using it in `tokio::select!` loses nothing. After any `Err` the connection is unusable.
    pub async fn read(&mut self) -> Result<AnyMessageOwned, ConnError> {
        loop {
            let Some(state) = self.state.take() else {
                return Err(ConnError::Codec("connection already failed".into()));
            };
            let need = self.decoder.writable_len();
            if need > 0 && self.raw.len() < need {
                self.state = Some(state);
                let mut buf = [0u8; 16 * 1024];
                let n = self.rd.read(&mut buf).await?;
                if n == 0 {
                    return Err(ConnError::Closed);
                }
                self.raw.extend_from_slice(&buf[..n]);
                continue;
            }
            if need > 0 {
                self.frame_bytes += need;
                if self.frame_bytes > encrypted_frame_len(self.max_payload) {
                    return Err(ConnError::FrameTooLarge {
                        limit: self.max_payload,
                    });
                }
                self.decoder.writable().copy_from_slice(&self.raw[..need]);
                self.raw.drain(..need);
            }
            match self.decoder.next_transport_frame(state)? {
                Decrypted::Incomplete(_, state) => self.state = Some(state),
                Decrypted::Frame(mut frame, state) => {
                    self.state = Some(state);
                    self.frame_bytes = 0;
                    let header = frame.header();
                    return parse(header, frame.payload());
                }
            }
        }
    }
}

fn parse(
    header: framing_sv2::header::Header,
    payload: &mut [u8],
) -> Result<AnyMessageOwned, ConnError> {
    let msg_type = header.msg_type();
    let extension_type = header.ext_type_without_channel_msg();
    // parsers_sv2 has a `panic!()` arm it considers unreachable; keep a peer from ever hitting it.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        AnyMessage::try_from((header, payload)).map(AnyMessage::into_owned)
    }));
    match parsed {
        Ok(Ok(msg)) => Ok(msg),
        Ok(Err(e)) => Err(ConnError::Parse {
            msg_type,
            extension_type,
            reason: format!("{e:?}"),
        }),
        Err(_) => Err(ConnError::Parse {
            msg_type,
            extension_type,
            reason: "parser panicked".into(),
        }),
    }
}

/// The sending half of an SV2 connection.
pub struct FrameWriter {
    wr: OwnedWriteHalf,
    encoder: NoiseEncoder,
    state: TransportEncryptState,
    max_payload: usize,
    peer: Option<SocketAddr>,
}

impl std::fmt::Debug for FrameWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameWriter")
            .field("peer", &self.peer)
            .finish()
    }
}

impl FrameWriter {
    /// Raises (or lowers) the largest payload this writer sends; [`MAX_FRAME_PAYLOAD`] by
    /// default. Protocols that carry whole transactions (job declaration) need more.
    pub fn set_max_payload(&mut self, max_payload: usize) {
        self.max_payload = max_payload;
    }

    /// Encrypts and sends one message. Accepts any parsers_sv2 message enum, borrowed or owned
    /// (`AnyMessage`, `AnyMessageOwned`, `Mining`, `MiningOwned`, `CommonMessages`, ...).
    ///
    /// Not cancel-safe (a frame may be half written): drive it to completion.
    pub async fn write<M>(&mut self, msg: M) -> Result<(), ConnError>
    where
        M: IsSv2Message + Serialize + GetSize,
    {
        let size = msg.get_size();
        if size > self.max_payload {
            return Err(ConnError::FrameTooLarge {
                limit: self.max_payload,
            });
        }
        let (msg_type, ext, channel_bit) =
            (msg.message_type(), msg.extension_type(), msg.channel_bit());
        let frame = MessageFrame::from_message(msg, msg_type, ext, channel_bit)
            .map_err(|e| ConnError::Encode(format!("{e:?}")))?;
        let bytes = self
            .encoder
            .encode_transport(frame, &mut self.state)
            .map_err(|e| ConnError::Encode(e.to_string()))?;
        self.wr.write_all(bytes.as_ref()).await?;
        Ok(())
    }

    /// Sends raw bytes, bypassing encryption. Only for tests that need to misbehave.
    #[doc(hidden)]
    pub async fn write_raw_for_tests(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.wr.write_all(bytes).await?;
        Ok(())
    }

    /// Closes the sending direction (the peer sees end of stream).
    pub async fn shutdown(&mut self) -> Result<(), ConnError> {
        self.wr.shutdown().await?;
        Ok(())
    }
}
