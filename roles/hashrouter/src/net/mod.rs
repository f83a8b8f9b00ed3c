//! The tokio shell around the core: device listeners and the upstream client. Each connection
//! runs in its own task and talks to the core task through bounded queues.

pub mod listener;
pub mod sv1_device;
mod sv1_request;
pub mod sv2_downstream;
pub mod sv2_upstream;
mod sv2_wire;
