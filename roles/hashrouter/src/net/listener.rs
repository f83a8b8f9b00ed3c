//! The accept loop both device listeners share: each accepted connection gets its own task until
//! the node shuts down, within the device connection cap the listeners share.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::warn;

use super::connection_limit::ConnectionLimit;

/// Pause after a failed accept (typically EMFILE) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Accepts connections on `listener` and spawns `serve(stream, peer)` for each until `shutdown`
/// changes. `serve` is where the caller puts the connection's span. A connection past `limit`
/// is closed as soon as it is accepted.
pub async fn run<F, Fut>(
    listener: TcpListener,
    limit: Arc<ConnectionLimit>,
    mut shutdown: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Past the cap the stream drops here, which closes it.
                    let Some(slot) = limit.admit() else { continue };
                    let _ = stream.set_nodelay(true);
                    let connection = serve(stream, peer);
                    tokio::spawn(async move {
                        connection.await;
                        drop(slot);
                    });
                }
                Err(error) => {
                    // Keep serving the connections we have; retry shortly.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}
