//! The node's one template provider client task, when `[template_provider]` is configured.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::warn;

use super::CoreInput;
use crate::core::TemplateCommand;
use crate::net::tp_client::{self, TemplateProviderSettings};

/// Constraints, transaction data requests and solutions waiting for the connection.
const TEMPLATE_QUEUE: usize = 1024;

/// The running template provider client.
pub struct TemplateClient {
    commands: mpsc::Sender<TemplateCommand>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl TemplateClient {
    pub fn start(
        settings: TemplateProviderSettings,
        inbox: async_channel::Sender<CoreInput>,
    ) -> TemplateClient {
        let (commands, commands_rx) = mpsc::channel(TEMPLATE_QUEUE);
        let (stop, stop_rx) = watch::channel(false);
        let handle = tokio::spawn(tp_client::run(settings, inbox, commands_rx, stop_rx));
        TemplateClient {
            commands,
            stop,
            handle,
        }
    }

    /// Queues a command; false if the queue is full or the task has ended.
    pub fn send(&self, command: TemplateCommand) -> bool {
        self.commands.try_send(command).is_ok()
    }

    /// Stops the task and waits at most `timeout` for it to close its connection.
    pub async fn stop(self, timeout: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(timeout, self.handle).await.is_err() {
            warn!("the template provider client did not stop in time");
        }
    }
}
