//! Accepts SV2 devices and proxies and gives each connection its own task.

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info_span, warn, Instrument};

use super::sv2_downstream::{self, DownstreamSettings};
use crate::node::CoreInput;

pub async fn run(
    listener: TcpListener,
    settings: DownstreamSettings,
    inbox: async_channel::Sender<CoreInput>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let span = info_span!("sv2", %peer);
                    tokio::spawn(
                        sv2_downstream::run(stream, settings.clone(), inbox.clone(), shutdown.clone())
                            .instrument(span),
                    );
                }
                Err(error) => {
                    // Typically EMFILE: keep serving the connections we have, retry shortly.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}
