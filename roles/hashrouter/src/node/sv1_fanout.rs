//! Writing the lines the core has for SV1 devices. A new block sends one job line to every
//! device; on loopback-speed networks nearly all of that time is the kernel's, per socket, so
//! a large batch is split by device over the machine's cores (each device's lines stay in
//! order, on one thread) and the core waits for all parts before going on.

use std::sync::Arc;

use crate::core::{DeviceId, Line};
use crate::net::device_writer::{DeviceWriter, SendError};

/// Batches smaller than this are written on the core's own thread: a thread's start costs
/// about as much as a few dozen writes.
const PARALLEL_MIN: usize = 512;
/// At most this many threads write one batch.
const MAX_PARTS: usize = 4;

/// A line for a device, with the device's writer.
pub(super) type Sv1Write = (DeviceId, Arc<DeviceWriter>, Line);

/// Writes `batch`, emptying it; returns the devices whose writer refused a line.
pub(super) fn write(batch: &mut Vec<Sv1Write>) -> Vec<(DeviceId, SendError)> {
    let parts = match batch.len() {
        n if n < PARALLEL_MIN => 1,
        _ => std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_PARTS)),
    };
    if parts == 1 {
        return write_part(batch.drain(..));
    }
    let mut split: Vec<Vec<Sv1Write>> = (0..parts)
        .map(|_| Vec::with_capacity(batch.len() / parts + 1))
        .collect();
    for write in batch.drain(..) {
        let part = write.0 .0 as usize % parts;
        split[part].push(write);
    }
    let mut own = split.pop().unwrap_or_default();
    std::thread::scope(|scope| {
        let others: Vec<_> = split
            .into_iter()
            .map(|part| scope.spawn(move || write_part(part.into_iter())))
            .collect();
        let mut refused = write_part(own.drain(..));
        for other in others {
            // A panicking writer thread loses only its report of refused devices; those
            // devices' tasks see their broken sockets themselves.
            refused.extend(other.join().unwrap_or_default());
        }
        refused
    })
}

fn write_part(writes: impl Iterator<Item = Sv1Write>) -> Vec<(DeviceId, SendError)> {
    let mut refused: Vec<(DeviceId, SendError)> = Vec::new();
    for (device, writer, line) in writes {
        // After one refusal the device is being dropped: its later lines are moot.
        if refused.last().is_some_and(|(d, _)| *d == device) {
            continue;
        }
        if let Err(error) = writer.send(&line) {
            refused.push((device, error));
        }
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_batch_reaches_every_device_in_order_and_reports_refusals() {
        const DEVICES: u32 = 600;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut devices = Vec::new();
        let mut batch = Vec::new();
        let job: Line = Arc::from(&b"job\n"[..]);
        for id in 0..DEVICES {
            let device = TcpStream::connect(addr).await.unwrap();
            let (node_side, _) = listener.accept().await.unwrap();
            let writer = Arc::new(DeviceWriter::new(Arc::new(node_side)));
            let difficulty: Line = Arc::from(format!("difficulty {id}\n").as_bytes());
            batch.push((DeviceId(id), writer.clone(), difficulty));
            batch.push((DeviceId(id), writer.clone(), job.clone()));
            if id == 7 {
                writer.close("closed by the node".into());
            }
            devices.push(device);
        }
        assert!(batch.len() >= PARALLEL_MIN);
        let refused = write(&mut batch);
        assert!(batch.is_empty());
        assert_eq!(refused, vec![(DeviceId(7), SendError::Closed)]);
        for (id, mut device) in devices.into_iter().enumerate() {
            if id == 7 {
                continue;
            }
            let expected = format!("difficulty {id}\njob\n");
            let mut got = vec![0u8; expected.len()];
            device.read_exact(&mut got).await.unwrap();
            assert_eq!(got, expected.as_bytes());
        }
    }
}
