//! The write side of one SV1 device connection, shared by the core's dispatcher and the
//! device's task.
//!
//! The dispatcher writes a line straight into the socket when nothing is queued before it and
//! the kernel takes it whole: the common case (a share's answer, a new block's job to ten
//! thousand devices) then costs one `write` and no task wake-up. Whatever the socket does not
//! take at once is queued, in order, for the device's task to write; while it does, new lines
//! queue behind. A device that lets [`MAX_QUEUED_BYTES`] pile up is not reading and is dropped.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Bytes a device may leave unread before the node gives up on it: a few hundred jobs.
pub const MAX_QUEUED_BYTES: usize = 256 * 1024;

/// Why a line was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the device is not reading ({MAX_QUEUED_BYTES} bytes queued)")]
    Full,
    #[error("the connection is closed")]
    Closed,
}

/// See the module documentation.
#[derive(Debug)]
pub struct DeviceWriter {
    stream: Arc<TcpStream>,
    queue: Mutex<Queue>,
    /// Wakes the device's task when there is something queued or a close.
    pending: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    bytes: Vec<u8>,
    /// The device's task is writing bytes it took from the queue: new lines must wait behind.
    flushing: bool,
    /// The node closed the device; the task ends after writing what is queued.
    close: Option<String>,
}

/// What the device's task is to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Pending {
    /// Write these bytes, then call [`DeviceWriter::written`].
    Write(Vec<u8>),
    /// Everything queued is written; the node closed the device for this reason.
    Close(String),
    /// Nothing (a stale wake-up).
    Nothing,
}

impl DeviceWriter {
    pub fn new(stream: Arc<TcpStream>) -> Self {
        Self {
            stream,
            queue: Mutex::default(),
            pending: Notify::new(),
        }
    }

    /// Sends `line`: written now when possible, otherwise queued for the device's task.
    pub fn send(&self, line: &[u8]) -> Result<(), SendError> {
        let mut queue = self.lock();
        if queue.close.is_some() {
            return Err(SendError::Closed);
        }
        let mut rest = line;
        if !queue.flushing && queue.bytes.is_empty() {
            match self.stream.try_write(line) {
                Ok(n) if n == line.len() => return Ok(()),
                Ok(n) => rest = &line[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The device's task sees the broken socket on its side and reports it gone.
                Err(_) => return Err(SendError::Closed),
            }
        }
        if queue.bytes.len() + rest.len() > MAX_QUEUED_BYTES {
            return Err(SendError::Full);
        }
        queue.bytes.extend_from_slice(rest);
        drop(queue);
        self.pending.notify_one();
        Ok(())
    }

    /// Closes the device once what is queued is written.
    pub fn close(&self, reason: String) {
        self.lock().close.get_or_insert(reason);
        self.pending.notify_one();
    }

    /// Drops what is queued and closes the device: it stopped reading, so there is no point
    /// in trying to write it.
    pub fn abandon(&self, reason: String) {
        let mut queue = self.lock();
        queue.bytes = Vec::new();
        queue.close.get_or_insert(reason);
        drop(queue);
        self.pending.notify_one();
    }

    /// Device task: waits until there is something to do.
    pub async fn pending(&self) -> Pending {
        self.pending.notified().await;
        self.take()
    }

    /// Device task: the bytes from [`Pending::Write`] are written; returns what is next.
    pub fn written(&self) -> Pending {
        self.take()
    }

    fn take(&self) -> Pending {
        let mut queue = self.lock();
        if !queue.bytes.is_empty() {
            queue.flushing = true;
            return Pending::Write(std::mem::take(&mut queue.bytes));
        }
        queue.flushing = false;
        match &queue.close {
            Some(reason) => Pending::Close(reason.clone()),
            None => Pending::Nothing,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock leaves plain bytes behind, still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn pair() -> (Arc<TcpStream>, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let device = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (node_side, _) = listener.accept().await.unwrap();
        (Arc::new(node_side), device)
    }

    #[tokio::test]
    async fn a_line_the_socket_takes_is_written_at_once() {
        let (stream, mut device) = pair().await;
        let writer = DeviceWriter::new(stream);
        writer.send(b"one\n").unwrap();
        assert_eq!(writer.written(), Pending::Nothing);
        let mut buf = [0u8; 16];
        let n = device.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one\n");
    }

    #[tokio::test]
    async fn lines_queue_in_order_behind_a_flush_and_a_stuck_device_is_full() {
        let (stream, mut device) = pair().await;
        let writer = DeviceWriter::new(stream);
        // The task took queued bytes and is writing them: later lines wait behind.
        writer.lock().flushing = true;
        writer.send(b"two\n").unwrap();
        writer.send(b"three\n").unwrap();
        assert_eq!(
            writer.pending().await,
            Pending::Write(b"two\nthree\n".to_vec())
        );
        assert_eq!(writer.written(), Pending::Nothing);
        // Nothing queued and not flushing: straight to the socket again.
        writer.send(b"four\n").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while !got.ends_with(b"four\n") {
            let n = device.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"four\n");
        // A device that never reads: the kernel's buffers fill, then the queue.
        let line = vec![b'x'; 64 * 1024];
        let mut sent = 0usize;
        let full = loop {
            match writer.send(&line) {
                Ok(()) => sent += line.len(),
                Err(e) => break e,
            }
            assert!(sent < 64 * 1024 * 1024, "never full");
        };
        assert_eq!(full, SendError::Full);
    }

    #[tokio::test]
    async fn a_close_comes_after_what_is_queued() {
        let (stream, _device) = pair().await;
        let writer = DeviceWriter::new(stream);
        writer.lock().flushing = true;
        writer.send(b"last\n").unwrap();
        writer.close("bye".into());
        assert_eq!(writer.send(b"late\n"), Err(SendError::Closed));
        assert_eq!(writer.pending().await, Pending::Write(b"last\n".to_vec()));
        assert_eq!(writer.written(), Pending::Close("bye".into()));
    }
}
