//! The tokio shell around the core: device listeners and the upstream clients (SV2 and
//! Stratum V1). Each connection runs in its own task and talks to the core task through
//! bounded queues.

mod endpoints;
pub mod listener;
pub mod sv1_device;
mod sv1_request;
pub mod sv2_downstream;
pub mod sv2_upstream;
mod sv2_wire;
pub mod upstream_link;
mod v1_job_ids;
mod v1_session;
#[cfg(test)]
mod v1_session_tests;
pub mod v1_upstream;
#[cfg(test)]
mod v1_upstream_tests;
