//! Sans-IO framing after the handshake: messages to encrypted frames and back, no socket.
//!
//! [`crate::FrameWriter`] and [`crate::FrameReader`] are these two plus a tokio socket half;
//! they are public on their own so benchmarks (and any other transport) run the very same path.

use crate::ConnError;
use binary_sv2::{GetSize, Serialize};
use codec_sv2::{
    Decrypted, MessageFrame, NoiseDecoder, NoiseEncoder, TransportDecryptState,
    TransportEncryptState,
};
use parsers_sv2::{AnyMessage, AnyMessageOwned, IsSv2Message};

/// Largest frame payload accepted or sent (plaintext bytes). SV2 mining messages are far
/// smaller; the protocol's own limit (16 MiB) would let a peer make us buffer a lot.
pub const MAX_FRAME_PAYLOAD: usize = 256 * 1024;

// Encrypted size of a frame carrying `payload` bytes: header + MAC, payload + one MAC per chunk.
fn encrypted_frame_len(payload: usize) -> usize {
    codec_sv2::ENCRYPTED_SV2_FRAME_HEADER_SIZE
        + payload
        + payload.div_ceil(codec_sv2::SV2_FRAME_PLAINTEXT_CHUNK_SIZE) * noise_sv2::AEAD_MAC_LEN
}

/// Turns messages into encrypted SV2 frames with the sending half of a finished handshake.
pub struct FrameEncoder {
    encoder: NoiseEncoder,
    state: TransportEncryptState,
    max_payload: usize,
}

impl std::fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("max_payload", &self.max_payload)
            .finish()
    }
}

impl FrameEncoder {
    /// An encoder for the sending half of a `codec_sv2::Transport`, limited to
    /// [`MAX_FRAME_PAYLOAD`].
    pub fn new(state: TransportEncryptState) -> Self {
        Self {
            encoder: NoiseEncoder::new(),
            state,
            max_payload: MAX_FRAME_PAYLOAD,
        }
    }

    /// Changes the largest payload [`FrameEncoder::encode`] accepts.
    pub fn set_max_payload(&mut self, max_payload: usize) {
        self.max_payload = max_payload;
    }

    /// Frames and encrypts one message; the bytes go on the wire as they are. Accepts any
    /// parsers_sv2 message enum, borrowed or owned.
    pub fn encode<M>(&mut self, msg: M) -> Result<Vec<u8>, ConnError>
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
        self.encoder
            .encode_transport(frame, &mut self.state)
            .map_err(|e| ConnError::Encode(e.to_string()))
    }
}

/// Turns received bytes into messages with the receiving half of a finished handshake.
pub struct FrameDecoder {
    decoder: NoiseDecoder,
    // `None` after a decryption failure: the connection is dead.
    state: Option<TransportDecryptState>,
    // Encrypted bytes handed to the decoder for the frame in progress.
    frame_bytes: usize,
    max_payload: usize,
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("failed", &self.state.is_none())
            .field("max_payload", &self.max_payload)
            .finish()
    }
}

impl FrameDecoder {
    /// A decoder for the receiving half of a `codec_sv2::Transport`, limited to
    /// [`MAX_FRAME_PAYLOAD`].
    pub fn new(state: TransportDecryptState) -> Self {
        Self {
            decoder: NoiseDecoder::new(),
            state: Some(state),
            frame_bytes: 0,
            max_payload: MAX_FRAME_PAYLOAD,
        }
    }

    /// Changes the largest payload accepted. A larger frame fails with
    /// [`ConnError::FrameTooLarge`] before it is buffered whole.
    pub fn set_max_payload(&mut self, max_payload: usize) {
        self.max_payload = max_payload;
    }

    /// Takes what it needs from the front of `received` and returns the next message, or
    /// `Ok(None)` when `received` holds too few bytes (append more and call again). Bytes it
    /// does not need stay in `received`. After any `Err` the decoder is unusable.
    pub fn decode(&mut self, received: &mut Vec<u8>) -> Result<Option<AnyMessageOwned>, ConnError> {
        loop {
            let Some(state) = self.state.take() else {
                return Err(ConnError::Codec("connection already failed".into()));
            };
            let need = self.decoder.writable_len();
            if need > 0 && received.len() < need {
                self.state = Some(state);
                return Ok(None);
            }
            if need > 0 {
                self.frame_bytes += need;
                if self.frame_bytes > encrypted_frame_len(self.max_payload) {
                    return Err(ConnError::FrameTooLarge {
                        limit: self.max_payload,
                    });
                }
                self.decoder.writable().copy_from_slice(&received[..need]);
                received.drain(..need);
            }
            match self.decoder.next_transport_frame(state)? {
                Decrypted::Incomplete(_, state) => self.state = Some(state),
                Decrypted::Frame(mut frame, state) => {
                    self.state = Some(state);
                    self.frame_bytes = 0;
                    let header = frame.header();
                    return parse(header, frame.payload()).map(Some);
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
