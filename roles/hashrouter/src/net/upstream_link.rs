//! How an upstream task (SV2 or Stratum V1) reports to the core: every event tagged with its
//! route and with the generation of the task, so events of a task the node has replaced (a
//! contract's destination changed) are told apart from its successor's.

use crate::core::{RouteId, UpstreamEvent};
use crate::node::CoreInput;

/// The core's inbox, seen from one route's upstream task.
pub struct UpstreamLink {
    pub route: RouteId,
    /// Which of the route's upstream tasks this is; the core task drops events of earlier ones.
    pub generation: u64,
    pub inbox: async_channel::Sender<CoreInput>,
}

impl UpstreamLink {
    fn input(&self, event: UpstreamEvent) -> CoreInput {
        CoreInput::Upstream {
            route: self.route,
            generation: self.generation,
            event,
        }
    }

    /// Passes an event on; false once the core is gone.
    pub async fn send(&self, event: UpstreamEvent) -> bool {
        self.inbox.send(self.input(event)).await.is_ok()
    }

    /// Passes events on in order; false once the core is gone.
    pub async fn send_all(&self, events: Vec<UpstreamEvent>) -> bool {
        for event in events {
            if !self.send(event).await {
                return false;
            }
        }
        true
    }

    /// Why the last connection ended, for the operator; dropped if the core is busy.
    pub fn report_failure(&self, reason: String) {
        let _ = self
            .inbox
            .try_send(self.input(UpstreamEvent::Failed { reason }));
    }
}
