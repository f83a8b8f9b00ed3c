use std::time::Duration;

/// Everything that can end an SV2 connection. Any `Err` from a reader or writer means the
/// connection is unusable: drop both halves.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("handshake did not complete within {0:?}")]
    HandshakeTimeout(Duration),
    /// The responder's certificate does not verify against the authority key we expect (wrong
    /// authority, forged certificate, or a certificate outside its validity window).
    #[error("server certificate is not signed by the expected authority key (or has expired)")]
    AuthorityMismatch,
    #[error("noise handshake failed: {0}")]
    Handshake(String),
    #[error("frame could not be decrypted or decoded: {0}")]
    Codec(String),
    #[error("frame payload of more than {limit} bytes")]
    FrameTooLarge { limit: usize },
    #[error(
        "unparseable message (type {msg_type:#04x}, extension {extension_type:#06x}): {reason}"
    )]
    Parse {
        msg_type: u8,
        extension_type: u16,
        reason: String,
    },
    #[error("message could not be encoded: {0}")]
    Encode(String),
    #[error("peer closed the connection")]
    Closed,
    #[error("invalid key: {0}")]
    InvalidKey(String),
}

impl From<codec_sv2::Error> for ConnError {
    fn from(e: codec_sv2::Error) -> Self {
        match e {
            codec_sv2::Error::NoiseSv2Error(noise_sv2::Error::InvalidCertificate(_)) => {
                ConnError::AuthorityMismatch
            }
            other => ConnError::Codec(other.to_string()),
        }
    }
}
