//! The device connection cap: past `limits.max_device_connections` a new connection, SV1 or SV2,
//! is closed on arrival and counted, the devices already connected keep mining, `/metrics` and
//! `/api/v1/health` say the node is at its limit, and a freed slot admits the next device.

mod common;

use std::time::Duration;

use common::*;
use hashrouter::api::metrics::parse_sample;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const LIMIT: usize = 3;

/// A device that subscribes by hand and holds its connection; `None` if it was turned away
/// (closed before answering the subscribe).
async fn subscribe(addr: std::net::SocketAddr) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"raw/1.0\"]}\n")
        .await
        .ok()?;
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await;
    match read {
        Ok(Ok(n)) if n > 0 && line.contains("\"id\":1") => Some(stream),
        _ => None,
    }
}

/// True when the peer closes `stream` (EOF or reset) within 5 s without sending anything.
async fn closed_at_once(mut stream: TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

async fn metric(base: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| parse_sample(line).ok())
        .find(|s| s.name == name)
        .map(|s| s.value)
}

async fn health(base: &str) -> serde_json::Value {
    reqwest::get(format!("{base}/api/v1/health"))
        .await
        .expect("health answers")
        .json()
        .await
        .expect("health is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_past_the_limit_are_refused_and_the_rest_keep_mining() {
    let pool = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let keys = sv2_conn::keys::generate();
    let node = start_node_with(
        pool.local_addr(),
        &format!(
            r#"
[limits]
max_device_connections = {LIMIT}

[api]
listen = "127.0.0.1:0"

[sv2]
listen = "127.0.0.1:0"
authority_public_key = "{}"
authority_secret_key = "{}"
"#,
            keys.public_string(),
            keys.secret_string()
        ),
    )
    .await;
    let base = format!("http://{}", node.api_addr().expect("api configured"));
    let sv2_addr = node.sv2_addr().expect("sv2 configured");

    // Two miners and one hand-made device fill the three slots.
    let miners = start_miners(node.sv1_addr(), &[100_000.0, 100_000.0]);
    assert!(
        wait_for(Duration::from_secs(10), || async {
            accepted(&miners).iter().all(|a| *a > 0)
        })
        .await,
        "the miners never got a share accepted"
    );
    let held = subscribe(node.sv1_addr())
        .await
        .expect("the third device is admitted");
    assert_eq!(
        metric(&base, "hashrouter_listener_connections").await,
        Some(LIMIT as f64)
    );

    // A fourth device, on either protocol, is closed on arrival.
    assert!(subscribe(node.sv1_addr()).await.is_none());
    let sv2 = TcpStream::connect(sv2_addr).await.expect("tcp connect");
    assert!(
        closed_at_once(sv2).await,
        "an SV2 connection past the limit stayed open"
    );
    assert_eq!(
        metric(&base, "hashrouter_listener_connections_refused_total").await,
        Some(2.0)
    );
    assert_eq!(
        metric(&base, "hashrouter_listener_connection_limit").await,
        Some(LIMIT as f64)
    );
    let at_limit = health(&base).await;
    assert_eq!(at_limit["status"], "degraded", "{at_limit}");
    let component = at_limit["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "device_connections"))
        .cloned()
        .expect("a device_connections component");
    assert_eq!(component["status"], "degraded", "{component}");

    // The admitted devices kept mining through the refusals, without reconnecting.
    let before = accepted(&miners);
    assert!(
        wait_for(Duration::from_secs(10), || async {
            all_accepted_more(&miners, &before)
        })
        .await,
        "the admitted miners stopped mining"
    );
    assert!(miners.iter().all(|m| m.stats().reconnects() == 0));

    // A device leaving frees its slot for the next one.
    drop(held);
    assert!(
        wait_for(Duration::from_secs(5), || async {
            metric(&base, "hashrouter_listener_connections").await == Some((LIMIT - 1) as f64)
        })
        .await,
        "the closed device's slot was not freed"
    );
    let next = subscribe(node.sv1_addr()).await;
    assert!(next.is_some(), "a freed slot did not admit the next device");

    for miner in miners {
        miner.shutdown().await;
    }
    node.shutdown().await;
    pool.shutdown().await;
}
