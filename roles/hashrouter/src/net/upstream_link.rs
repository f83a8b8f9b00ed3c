//! How an upstream task (SV2 or Stratum V1) reports to the core: every event tagged with its
//! route.

use crate::core::{RouteId, UpstreamEvent};
use crate::node::CoreInput;

/// The core's inbox, seen from one route's upstream task.
pub struct UpstreamLink {
    pub route: RouteId,
    pub inbox: async_channel::Sender<CoreInput>,
}

impl UpstreamLink {
    /// Passes an event on; false once the core is gone.
    pub async fn send(&self, event: UpstreamEvent) -> bool {
        self.inbox
            .send(CoreInput::Upstream(self.route, event))
            .await
            .is_ok()
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
        let _ = self.inbox.try_send(CoreInput::Upstream(
            self.route,
            UpstreamEvent::Failed { reason },
        ));
    }
}
