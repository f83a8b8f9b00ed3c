//! Accepts Stratum V1 devices and gives each its own connection task.

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info_span, warn, Instrument};

use super::sv1_device;
use crate::node::CoreInput;

pub async fn run(
    listener: TcpListener,
    max_line_bytes: usize,
    inbox: async_channel::Sender<CoreInput>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let span = info_span!("sv1", %peer);
                    tokio::spawn(
                        sv1_device::run(stream, max_line_bytes, inbox.clone(), shutdown.clone())
                            .instrument(span),
                    );
                }
                Err(error) => {
                    // Typically EMFILE: keep serving the devices we have, retry shortly.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}
