mod pool_client;
mod sv2_client;

use pool_client::*;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn restarts_on_the_same_address() {
    let pool = start(test_config()).await;
    let addr = pool.local_addr();
    let mut c = Client::connect_and_setup(addr).await;
    let _ = c.extended_channel("henry").await;
    assert_eq!(pool.stats().open_connections(), 1);
    pool.shutdown().await;
    // The client sees the connection end.
    let end = tokio::time::timeout(T, c.rd.read())
        .await
        .expect("closed in time");
    assert!(end.is_err());

    let mut config = test_config();
    config.listen = addr;
    let pool2 = start(config).await;
    assert_eq!(pool2.local_addr(), addr);
    let mut c2 = Client::connect_and_setup(addr).await;
    let _ = c2.extended_channel("henry").await;
    assert_eq!(pool2.stats().user("henry"), None, "fresh stats");
    pool2.shutdown().await;
}

#[tokio::test]
async fn malformed_peer_only_drops_its_connection() {
    let pool = start(test_config()).await;
    let stats = pool.stats();
    let mut good = Client::connect_and_setup(pool.local_addr()).await;
    let w = good.extended_channel("ivy").await;

    // Garbage after a successful handshake.
    let mut bad = Client::connect_and_setup(pool.local_addr()).await;
    bad.wr.write_raw_for_tests(&[0xAB; 300]).await.unwrap();
    let end = tokio::time::timeout(T, bad.rd.read())
        .await
        .expect("dropped in time");
    assert!(end.is_err());

    // A raw TCP peer that sends garbage instead of a handshake.
    let mut raw = tokio::net::TcpStream::connect(pool.local_addr())
        .await
        .unwrap();
    raw.write_all(&[0x55; 500]).await.unwrap();

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stats.open_connections(), 1);
    let en = vec![9u8; w.open.extranonce_size as usize];
    let n = w.grind(&en, 0, true);
    good.send(w.share(1, &en, n)).await;
    let parsers_sv2::MiningOwned::SubmitSharesSuccess(_) = good.recv_mining().await else {
        panic!("expected success")
    };
    pool.shutdown().await;
}
