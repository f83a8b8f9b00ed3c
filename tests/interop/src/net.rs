//! Loopback ports for peers that need their listen address in a config file.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// A port on 127.0.0.1 that was free a moment ago: bound to port 0, read back, released. For
/// peers that take a fixed port in their config (our own servers bind port 0 directly).
///
/// # Panics
/// If the loopback interface cannot be bound at all.
pub fn free_port() -> u16 {
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => panic!("cannot bind 127.0.0.1:0: {e}"),
    };
    match listener.local_addr() {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot read back the bound port: {e}"),
    }
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Waits until something accepts TCP connections on `addr`; returns whether it did within
/// `timeout`. The probe connection is closed at once.
pub async fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    wait_until(timeout, || async move {
        tokio::net::TcpStream::connect(addr).await.is_ok()
    })
    .await
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes; returns whether it held.
pub async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
