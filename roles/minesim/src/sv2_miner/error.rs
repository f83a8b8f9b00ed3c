use std::time::Duration;

use sv2_conn::ConnError;

/// Why an SV2 miner's connection ended, or why the miner stopped.
#[derive(Debug, thiserror::Error)]
pub enum Sv2MinerError {
    #[error("invalid server address {0:?}: expected HOST:PORT")]
    InvalidAddress(String),
    #[error("invalid authority key: {0}")]
    InvalidKey(String),
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    #[error("{0}")]
    Conn(#[from] ConnError),
    #[error("server refused SetupConnection: {code} (flags {flags:#x})")]
    SetupRefused { code: String, flags: u32 },
    #[error("no SetupConnection reply within {0:?}")]
    SetupTimeout(Duration),
    #[error("unexpected reply to SetupConnection: {0}")]
    UnexpectedSetupReply(String),
    #[error("server opened none of our channels; last refusal: {0}")]
    ChannelsRefused(String),
    #[error("cannot start a hashing thread: {0}")]
    Thread(std::io::Error),
    #[error("miner stopped: {0}")]
    Stopped(String),
}

impl Sv2MinerError {
    /// Errors that another connection attempt would only repeat: the miner stops on them even
    /// when reconnecting is on.
    pub(crate) fn is_fatal(&self) -> bool {
        matches!(
            self,
            Sv2MinerError::InvalidAddress(_)
                | Sv2MinerError::InvalidKey(_)
                | Sv2MinerError::SetupRefused { .. }
                | Sv2MinerError::UnexpectedSetupReply(_)
                | Sv2MinerError::ChannelsRefused(_)
                | Sv2MinerError::Thread(_)
        )
    }
}
