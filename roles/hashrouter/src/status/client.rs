//! The HTTP side of `hashrouter status`: GET a document of the node's API and tell apart an
//! answer, an error the API itself reports (`{"error": ...}`), a node that cannot be reached
//! and something that is not the API at all.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::api::model::ErrorBody;

/// Bound on one request, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read: a page of devices is far smaller; anything bigger is not the API.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// How much of a garbage answer is quoted in the error.
const QUOTED_CHARS: usize = 80;

/// Why a document could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot reach the hashrouter API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} is not the hashrouter API: it answered {what}")]
    Garbage { url: String, what: String },
    /// The API answered, with an error of its own (the node has no snapshot yet, a bad query).
    #[error("{url}: HTTP {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
}

/// A document as the API sent it and as this program reads it.
#[derive(Debug, Clone)]
pub struct Document<T> {
    /// The JSON as received, with any field this version does not know.
    pub raw: serde_json::Value,
    pub parsed: T,
}

/// A client of one node's API.
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client of the API at `base` (`http://host:port`, without a trailing slash).
    pub fn new(base: &str) -> Result<ApiClient, FetchError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| FetchError::Unreachable {
                url: base.to_string(),
                reason: root_cause(&e),
            })?;
        Ok(ApiClient {
            base: base.to_string(),
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// GETs `path` (`/api/v1/...`) and reads it as a `T`. A `T` is taken from any status,
    /// since health answers 503 with its document while the node is starting or down.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Document<T>, FetchError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |e: reqwest::Error| FetchError::Unreachable {
            url: url.clone(),
            reason: root_cause(&e),
        };
        let mut response = self.http.get(&url).send().await.map_err(unreachable)?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type")
            .to_string();
        let garbage = |what: String| FetchError::Garbage {
            url: url.clone(),
            what,
        };
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(garbage(format!(
                            "HTTP {status} with more than {MAX_BODY_BYTES} bytes"
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(garbage(format!(
                        "HTTP {status}, then broke off: {}",
                        root_cause(&e)
                    )))
                }
            }
        }
        let quoted = || {
            let text = String::from_utf8_lossy(&body);
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            super::format::clean(&text, QUOTED_CHARS)
        };
        let raw: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            garbage(format!(
                "HTTP {status} ({content_type}), not JSON: \"{}\"",
                quoted()
            ))
        })?;
        let document_error = match serde_json::from_value::<T>(raw.clone()) {
            Ok(parsed) => return Ok(Document { raw, parsed }),
            Err(e) => e,
        };
        if let Ok(error) = serde_json::from_value::<ErrorBody>(raw.clone()) {
            return Err(FetchError::Refused {
                url,
                status: status.as_u16(),
                message: error.error,
            });
        }
        Err(garbage(format!(
            "HTTP {status} with JSON that is not the document expected ({document_error}): \"{}\"",
            quoted()
        )))
    }
}

/// What went wrong at the bottom of `error` (`Connection refused (os error 111)`): reqwest's
/// own message names the URL again and hides the cause.
fn root_cause(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {REQUEST_TIMEOUT:?}");
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
