//! How a route's JDS client reports to the core: every event tagged with its route and with the
//! generation of the task, like [`super::upstream_link::UpstreamLink`], so events of a task the
//! node has replaced are dropped instead of reaching its successor's route.

use crate::core::{JdsEvent, RouteId};
use crate::node::CoreInput;

/// The core's inbox, seen from one route's JDS client task.
#[derive(Debug, Clone)]
pub struct JdsLink {
    pub route: RouteId,
    /// Which of the route's JDS client tasks this is; the core task drops events of earlier ones.
    pub generation: u64,
    pub inbox: async_channel::Sender<CoreInput>,
}

impl JdsLink {
    /// Passes an event on; false once the core is gone.
    pub async fn send(&self, event: JdsEvent) -> bool {
        let input = CoreInput::Jds {
            route: self.route,
            generation: self.generation,
            event,
        };
        self.inbox.send(input).await.is_ok()
    }
}
