//! One device sends garbage, invalid shares and an oversized line: it is answered with errors
//! or disconnected, and the other devices keep mining without interruption.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Reads lines until one satisfies `pred` (or 5 s pass).
async fn read_until(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    pred: impl Fn(&str) -> bool,
) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut line = String::new();
        let read = tokio::time::timeout_at(deadline, reader.read_line(&mut line)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(_)) if pred(&line) => return Some(line),
            Ok(Ok(_)) => {}
        }
    }
}

/// True when the node closed the connection (EOF or reset) within 5 s.
async fn closed_by_node(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> bool {
    read_until(reader, |_| false).await.is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_device_is_refused_alone() {
    let pool = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let node = start_node(pool.local_addr()).await;
    let miners = start_miners(node.sv1_addr(), &[100_000.0, 100_000.0, 100_000.0]);
    assert!(
        wait_for(Duration::from_secs(10), || async {
            accepted(&miners).iter().all(|a| *a > 0)
        })
        .await,
        "good miners never got a share accepted"
    );
    let before = accepted(&miners);

    // 1. Garbage that is not JSON-RPC: disconnected.
    let (rd, mut wr) = TcpStream::connect(node.sv1_addr())
        .await
        .unwrap()
        .into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(b"\x16\x03\x01 hello, this is not stratum\n")
        .await
        .unwrap();
    assert!(
        closed_by_node(&mut rd).await,
        "garbage did not close the device"
    );

    // 2. A well-behaved handshake, then invalid shares: each refused, the device stays.
    let (rd, mut wr) = TcpStream::connect(node.sv1_addr())
        .await
        .unwrap()
        .into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(
        b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"evil/1.0\"]}\n\
          {\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"evil.rig\",\"x\"]}\n",
    )
    .await
    .unwrap();
    let notify = read_until(&mut rd, |l| l.contains("\"method\":\"mining.notify\""))
        .await
        .expect("a job");
    let job: serde_json::Value = serde_json::from_str(&notify).unwrap();
    let job_id = job["params"][0].as_str().unwrap().to_string();
    let ntime = job["params"][7].as_str().unwrap().to_string();
    let submits = [
        // Nonce that (almost surely) misses the target: low difficulty.
        (format!("{{\"id\":10,\"method\":\"mining.submit\",\"params\":[\"evil.rig\",\"{job_id}\",\"00000000\",\"{ntime}\",\"00000000\"]}}\n"), "\"id\":10"),
        // Unknown job.
        (format!("{{\"id\":11,\"method\":\"mining.submit\",\"params\":[\"evil.rig\",\"ffffff\",\"00000000\",\"{ntime}\",\"00000000\"]}}\n"), "\"id\":11"),
        // Wrong extranonce2 size.
        (format!("{{\"id\":12,\"method\":\"mining.submit\",\"params\":[\"evil.rig\",\"{job_id}\",\"0000\",\"{ntime}\",\"00000000\"]}}\n"), "\"id\":12"),
        // Bad hex in a param: answered with an error, not a disconnect.
        (format!("{{\"id\":13,\"method\":\"mining.submit\",\"params\":[\"evil.rig\",\"{job_id}\",\"zz\",\"{ntime}\",\"00000000\"]}}\n"), "\"error\":[20"),
    ];
    for (line, answer_marker) in &submits {
        wr.write_all(line.as_bytes()).await.unwrap();
        let answer = read_until(&mut rd, |l| l.contains(answer_marker)).await;
        let answer = answer.unwrap_or_else(|| panic!("no answer to {line}"));
        assert!(answer.contains("\"error\":["), "{answer}");
        assert!(answer.contains("\"result\":null"), "{answer}");
    }

    // 3. A line over the 16 KiB limit: disconnected.
    let huge = vec![b'a'; 20 * 1024];
    let _ = wr.write_all(&huge).await;
    assert!(
        closed_by_node(&mut rd).await,
        "oversized line did not close the device"
    );

    // The good miners never noticed: connected throughout, and still getting shares accepted.
    assert!(
        wait_for(Duration::from_secs(10), || async {
            all_accepted_more(&miners, &before)
        })
        .await,
        "good miners stopped mining: before {before:?}, now {:?}",
        accepted(&miners)
    );
    for miner in &miners {
        assert_eq!(miner.stats().reconnects(), 0);
        assert!(miner.stats().connected());
        assert_eq!(miner.stats().shares_rejected(), 0);
    }
    let snapshot = node.snapshot().await.unwrap();
    assert_eq!(snapshot.devices.len(), 3, "only the good miners remain");

    for miner in miners {
        miner.shutdown().await;
    }
    node.shutdown().await;
    pool.shutdown().await;
}
