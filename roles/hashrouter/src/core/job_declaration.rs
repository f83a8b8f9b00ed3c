//! Templates from the template provider, declared jobs and solo mining, applied to the core.

use std::time::Instant;

use super::{Core, JdsEvent, RouteId, TemplateEvent};

impl Core {
    /// Something the template provider said (or its loss).
    pub fn handle_template(&mut self, event: TemplateEvent, now: Instant) {
        let _ = (event, now);
    }

    /// Something route `route`'s Job Declaration Server said (or its loss).
    pub fn handle_jds(&mut self, route: RouteId, event: JdsEvent, now: Instant) {
        let _ = (route, event, now);
    }
}
