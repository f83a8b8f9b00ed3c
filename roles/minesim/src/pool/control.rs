//! The pool's control port, for benchmarks: a line-based TCP service through which the load
//! generator decides when the pool's chain advances, so it knows when each new prev hash left.
//!
//! Requests and answers are one line each:
//! - `new-block` → `ok`: the synthetic chain advances (every channel gets a new prev hash);
//! - anything else → `error unknown command`.
//!
//! It listens where it is told (loopback in every script and test) and has no authentication:
//! it is a simulator's knob, not a production interface.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// The longest request line the control port reads.
const MAX_LINE: u64 = 256;
/// How long [`ControlClient`] waits for an answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What a control client can get wrong.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot reach the pool's control port {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("control port i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("the control port did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the control port answered {0:?}")]
    Refused(String),
}

/// Serves the control port on `listener`, notifying `trigger` for every `new-block`, until the
/// task is dropped.
pub async fn serve(listener: TcpListener, trigger: Arc<Notify>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let trigger = trigger.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_one(stream, &trigger).await {
                tracing::debug!("control connection ended: {e}");
            }
        });
    }
}

async fn serve_one(stream: TcpStream, trigger: &Notify) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader.take(u64::MAX));
    let mut line = String::new();
    loop {
        line.clear();
        lines.get_mut().set_limit(MAX_LINE);
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let answer: &[u8] = match line.trim() {
            "new-block" => {
                trigger.notify_one();
                b"ok\n"
            }
            _ => b"error unknown command\n",
        };
        writer.write_all(answer).await?;
    }
}

/// The load generator's side of the control port.
pub struct ControlClient {
    lines: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl ControlClient {
    pub async fn connect(addr: SocketAddr) -> Result<Self, ControlError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ControlError::Connect { addr, source })?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        Ok(Self {
            lines: BufReader::new(reader),
            writer,
        })
    }

    /// Asks for a new block and waits for the pool to take the request.
    pub async fn new_block(&mut self) -> Result<(), ControlError> {
        self.writer.write_all(b"new-block\n").await?;
        let mut answer = String::new();
        let read = tokio::time::timeout(ANSWER_TIMEOUT, self.lines.read_line(&mut answer))
            .await
            .map_err(|_| ControlError::Timeout(ANSWER_TIMEOUT))??;
        match answer.trim() {
            "ok" => Ok(()),
            _ if read == 0 => Err(ControlError::Refused("(connection closed)".into())),
            other => Err(ControlError::Refused(other.to_string())),
        }
    }
}
