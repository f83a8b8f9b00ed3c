//! The listening side the simulated servers (SV2 and V1 pools, template provider, bitcoind
//! shim) share: an accept loop that runs each connection as a task next to periodic chain
//! events, and the handle that stops it all.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::{Instrument, Span};

/// Something a server does every period next to accepting connections (a new template, a
/// synthetic block).
pub(crate) struct Periodic {
    interval: Option<Interval>,
    action: Box<dyn FnMut() + Send>,
}

impl Periodic {
    /// Runs `action` every `period`, first one period from now (tokio's first tick is at once);
    /// never when `period` is `None`.
    pub(crate) fn every(period: Option<Duration>, action: impl FnMut() + Send + 'static) -> Self {
        let interval = period.map(|d| {
            let mut i = tokio::time::interval_at(Instant::now() + d, d);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        });
        Periodic {
            interval,
            action: Box::new(action),
        }
    }
}

/// A running server: its address, its live counters `S`, and the way to stop it. Dropping it
/// stops the server too, without waiting.
pub struct ServerHandle<S> {
    local_addr: SocketAddr,
    stats: Arc<S>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl<S> ServerHandle<S> {
    /// Accepts on `listener` (bound to `local_addr`) in a task instrumented with `span`. Each
    /// connection runs as the future `serve(stream, peer, shutdown)`, which must end soon after
    /// `shutdown` turns true.
    pub(crate) fn spawn<F, Fut>(
        listener: TcpListener,
        local_addr: SocketAddr,
        stats: Arc<S>,
        span: Span,
        periodic: Vec<Periodic>,
        serve: F,
    ) -> Self
    where
        F: FnMut(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task =
            tokio::spawn(accept_loop(listener, shutdown_rx, periodic, serve).instrument(span));
        ServerHandle {
            local_addr,
            stats,
            shutdown,
            task: Some(task),
        }
    }

    /// The address it listens on (with the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<S> {
        self.stats.clone()
    }

    /// Closes the listener and every connection, and returns once all are closed: the port
    /// can be bound again right after.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl<S> Drop for ServerHandle<S> {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop<F, Fut>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    mut periodic: Vec<Periodic>,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve(stream, peer, shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            due = next_due(&mut periodic) => (periodic[due].action)(),
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    // Connections see the same shutdown signal; wait until every socket is closed.
    while conns.join_next().await.is_some() {}
}

/// The index of the next periodic action that is due (pending forever when there are none).
async fn next_due(periodic: &mut [Periodic]) -> usize {
    std::future::poll_fn(|cx| {
        for (index, p) in periodic.iter_mut().enumerate() {
            if let Some(interval) = p.interval.as_mut() {
                if interval.poll_tick(cx).is_ready() {
                    return Poll::Ready(index);
                }
            }
        }
        Poll::Pending
    })
    .await
}
