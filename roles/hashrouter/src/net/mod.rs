//! The tokio shell around the core: device listeners, the upstream clients (SV2 and Stratum
//! V1), and the job declaration side: the template provider client and each route's JDS
//! client. Each connection runs in its own task and talks to the core task through
//! bounded queues.

pub mod connection_limit;
pub mod device_writer;
mod endpoints;
pub mod jds_client;
#[cfg(test)]
mod jds_client_tests;
pub mod jds_link;
pub mod listener;
pub mod sv1_device;
mod sv1_request;
mod sv2_client;
pub mod sv2_downstream;
pub mod sv2_upstream;
#[cfg(test)]
mod sv2_upstream_tests;
mod sv2_wire;
#[cfg(test)]
mod test_server;
pub mod tp_client;
#[cfg(test)]
mod tp_client_tests;
pub mod upstream_link;
mod v1_job_ids;
mod v1_session;
#[cfg(test)]
mod v1_session_tests;
pub mod v1_upstream;
#[cfg(test)]
mod v1_upstream_tests;
