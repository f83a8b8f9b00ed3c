//! Encoders that append one complete line (`\n` included) to a caller's buffer.
//!
//! They write JSON directly rather than building a `serde_json::Value`: the node encodes each
//! `mining.notify` once and sends the same bytes to every device on the job.

pub mod client;
pub mod server;

use crate::id::Id;
use crate::json;

/// `{"id":<id>,"method":"<method>","params":` — the caller writes the params array and calls
/// [`close_request`].
fn open_request(out: &mut Vec<u8>, id: &Id<'_>, method: &str) {
    out.extend_from_slice(b"{\"id\":");
    id.write_json(out);
    out.extend_from_slice(b",\"method\":");
    json::write_str(out, method);
    out.extend_from_slice(b",\"params\":[");
}

fn close_request(out: &mut Vec<u8>) {
    out.extend_from_slice(b"]}\n");
}

/// `{"id":<id>,"result":` — the caller writes the result and calls [`close_response`].
fn open_response(out: &mut Vec<u8>, id: &Id<'_>) {
    out.extend_from_slice(b"{\"id\":");
    id.write_json(out);
    out.extend_from_slice(b",\"result\":");
}

fn close_response(out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"error\":null}\n");
}
