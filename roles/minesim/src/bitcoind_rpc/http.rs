//! Just enough HTTP/1.1 for JSON-RPC clients: one request at a time per connection, bodies
//! with `Content-Length` only, keep-alive, basic auth. Head and body sizes are bounded.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest request head (request line and headers).
const MAX_HEAD: u64 = 16 * 1024;

/// Why a request could not be read; the connection is closed after answering 400/411/413.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("request head longer than {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("request body over {0} bytes")]
    BodyTooLarge(usize),
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("bodies without Content-Length are not supported")]
    LengthRequired,
}

impl HttpError {
    /// The status to answer with, if the connection can still take an answer.
    pub fn status(&self) -> Option<(u16, &'static str)> {
        match self {
            HttpError::Io(_) => None,
            HttpError::HeadTooLarge | HttpError::Malformed(_) => Some((400, "Bad Request")),
            HttpError::BodyTooLarge(_) => Some((413, "Payload Too Large")),
            HttpError::LengthRequired => Some((411, "Length Required")),
        }
    }
}

/// One request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub method: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    pub body: Vec<u8>,
    /// Whether the client wants the connection kept open after the answer.
    pub keep_alive: bool,
}

/// Reads the next request; `None` when the client closed the connection between requests.
pub(crate) async fn read_request<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max_body: usize,
) -> Result<Option<Request>, HttpError> {
    let mut head = Vec::new();
    // Line by line until the blank line, never past MAX_HEAD in total.
    loop {
        let room = MAX_HEAD.saturating_sub(head.len() as u64);
        if room == 0 {
            return Err(HttpError::HeadTooLarge);
        }
        let start = head.len();
        let n = (&mut *reader)
            .take(room)
            .read_until(b'\n', &mut head)
            .await?;
        if n == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(HttpError::Malformed("connection closed inside the head"));
        }
        let line = head.get(start..).unwrap_or_default();
        if line == b"\r\n" || line == b"\n" {
            if start == 0 {
                // Stray blank lines between requests are tolerated.
                head.clear();
                continue;
            }
            break;
        }
    }
    let text = std::str::from_utf8(&head).map_err(|_| HttpError::Malformed("head not UTF-8"))?;
    let mut lines = text.lines();
    let request_line = lines
        .next()
        .ok_or(HttpError::Malformed("no request line"))?;
    let mut parts = request_line.split_whitespace();
    let method = parts
        .next()
        .ok_or(HttpError::Malformed("no method"))?
        .to_string();
    let _target = parts.next().ok_or(HttpError::Malformed("no target"))?;
    let version = parts.next().ok_or(HttpError::Malformed("no version"))?;
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(HttpError::Malformed("unsupported HTTP version")),
    };
    let mut content_length = None;
    let mut authorization = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::Malformed("header without a colon"))?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                content_length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| HttpError::Malformed("bad Content-Length"))?,
                )
            }
            "transfer-encoding" => return Err(HttpError::LengthRequired),
            "authorization" => authorization = Some(value.to_string()),
            "connection" => {
                let value = value.to_ascii_lowercase();
                if value.contains("close") {
                    keep_alive = false;
                } else if value.contains("keep-alive") {
                    keep_alive = true;
                }
            }
            _ => {}
        }
    }
    let length = content_length.unwrap_or(0);
    if length > max_body {
        return Err(HttpError::BodyTooLarge(max_body));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    Ok(Some(Request {
        method,
        authorization,
        body,
        keep_alive,
    }))
}

/// Writes one response with a JSON (or empty) body.
pub(crate) async fn write_response<W: AsyncWrite + Unpin>(
    writer: &mut W,
    status: (u16, &str),
    extra_headers: &str,
    body: &[u8],
    keep_alive: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {}\r\n{extra_headers}\r\n",
        status.0,
        status.1,
        body.len(),
        if keep_alive { "keep-alive" } else { "close" },
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    writer.write_all(&out).await?;
    writer.flush().await
}

/// The `Authorization` header value a client with these credentials sends.
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding (RFC 4648), for the one header that needs it.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(basic_auth("user", "pass"), "Basic dXNlcjpwYXNz");
    }

    #[tokio::test]
    async fn reads_keep_alive_requests_and_bounds_the_head() {
        let raw: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic abc\r\nContent-Length: 2\r\n\r\n{}POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n";
        let mut reader = tokio::io::BufReader::new(raw);
        let first = read_request(&mut reader, 100).await.unwrap().unwrap();
        assert_eq!(first.method, "POST");
        assert_eq!(first.body, b"{}");
        assert_eq!(first.authorization.as_deref(), Some("Basic abc"));
        assert!(first.keep_alive);
        let second = read_request(&mut reader, 100).await.unwrap().unwrap();
        assert!(!second.keep_alive);
        assert!(read_request(&mut reader, 100).await.unwrap().is_none());

        let big = format!("POST / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        let mut reader = tokio::io::BufReader::new(big.as_bytes());
        assert!(matches!(
            read_request(&mut reader, 100).await,
            Err(HttpError::HeadTooLarge)
        ));
        let raw: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
        let mut reader = tokio::io::BufReader::new(raw);
        assert!(matches!(
            read_request(&mut reader, 100).await,
            Err(HttpError::BodyTooLarge(100))
        ));
    }
}
