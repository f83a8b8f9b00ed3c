//! Encrypted frames after the handshake: a reader half and a writer half.

use crate::frames::{FrameDecoder, FrameEncoder};
use crate::ConnError;
use binary_sv2::{GetSize, Serialize};
use codec_sv2::Transport;
use parsers_sv2::{AnyMessageOwned, IsSv2Message};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

pub(crate) fn split(stream: TcpStream, transport: Transport) -> (FrameReader, FrameWriter) {
    let peer = stream.peer_addr().ok();
    let (rd, wr) = stream.into_split();
    let (enc, dec) = transport.split();
    (
        FrameReader {
            rd,
            frames: FrameDecoder::new(dec),
            raw: Vec::new(),
            peer,
        },
        FrameWriter {
            wr,
            frames: FrameEncoder::new(enc),
            peer,
        },
    )
}

/// The receiving half of an SV2 connection.
pub struct FrameReader {
    rd: OwnedReadHalf,
    frames: FrameDecoder,
    // Bytes read from the socket and not yet handed to the decoder.
    raw: Vec<u8>,
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

    /// Lowers (or raises) the largest payload this reader accepts;
    /// [`crate::MAX_FRAME_PAYLOAD`] by default. A larger frame ends the connection with
    /// [`ConnError::FrameTooLarge`] before it is buffered whole.
    pub fn set_max_payload(&mut self, max_payload: usize) {
        self.frames.set_max_payload(max_payload);
    }

    /// Reads, decrypts and parses the next message.
    ///
    /// Cancel-safe: the only await point is a socket read whose bytes are kept in `self`, so
    /// using it in `tokio::select!` loses nothing. After any `Err` the connection is unusable.
    pub async fn read(&mut self) -> Result<AnyMessageOwned, ConnError> {
        loop {
            if let Some(msg) = self.frames.decode(&mut self.raw)? {
                return Ok(msg);
            }
            let mut buf = [0u8; 16 * 1024];
            let n = self.rd.read(&mut buf).await?;
            if n == 0 {
                return Err(ConnError::Closed);
            }
            self.raw.extend_from_slice(&buf[..n]);
        }
    }
}

/// The sending half of an SV2 connection.
pub struct FrameWriter {
    wr: OwnedWriteHalf,
    frames: FrameEncoder,
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
    /// Raises (or lowers) the largest payload this writer sends; [`crate::MAX_FRAME_PAYLOAD`]
    /// by default. Protocols that carry whole transactions (job declaration) need more.
    pub fn set_max_payload(&mut self, max_payload: usize) {
        self.frames.set_max_payload(max_payload);
    }

    /// Encrypts and sends one message. Accepts any parsers_sv2 message enum, borrowed or owned
    /// (`AnyMessage`, `AnyMessageOwned`, `Mining`, `MiningOwned`, `CommonMessages`, ...).
    ///
    /// Not cancel-safe (a frame may be half written): drive it to completion.
    pub async fn write<M>(&mut self, msg: M) -> Result<(), ConnError>
    where
        M: IsSv2Message + Serialize + GetSize,
    {
        let bytes = self.frames.encode(msg)?;
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
