/// Everything that can go wrong framing, parsing or encoding a Stratum V1 line.
///
/// Parse errors on a single line are recoverable (the server can answer with an error); only
/// [`Sv1Error::LineTooLong`] means the byte stream can no longer be trusted.
#[derive(Debug, thiserror::Error)]
pub enum Sv1Error {
    #[error("line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("line is not UTF-8")]
    NotUtf8,
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("message has no method")]
    MissingMethod,
    #[error("message is neither a request, a notification nor a response")]
    NotAMessage,
    #[error("id must be null, a number or a string")]
    InvalidId,
    #[error("params must be an array")]
    ParamsNotArray,
    #[error("{method}: missing param {index}")]
    MissingParam { method: &'static str, index: usize },
    #[error("{method}: param {index} {problem}")]
    InvalidParam {
        method: &'static str,
        index: usize,
        problem: &'static str,
    },
    #[error("invalid hex in {field}")]
    BadHex { field: &'static str },
    #[error("extranonce2 must be 2 to 8 bytes, got {len}")]
    Extranonce2Length { len: usize },
    #[error("response result has an unexpected shape: {0}")]
    UnexpectedResult(&'static str),
    #[error("difficulty must be finite and positive")]
    InvalidDifficulty,
}
