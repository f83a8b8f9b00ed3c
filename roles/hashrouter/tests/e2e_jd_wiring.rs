//! A node configured for job declaration starts its template provider client and its route's
//! JDS client (each sets up its protocol with the pinned key), keeps its pool, and stops all of
//! them cleanly.

mod common;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use common_messages_sv2::{Protocol, SetupConnectionSuccess};
use minesim::pool::{TEST_AUTHORITY_PUBLIC, TEST_AUTHORITY_SECRET};
use minesim::template_provider::{TemplateProvider, TemplateProviderConfig};
use parsers_sv2::{AnyMessageOwned, CommonMessagesOwned};
use sv2_conn::ResponderKeys;
use tokio::net::TcpListener;

/// What the stub JDS saw: clients set up for job declaration, their flags, and how many of
/// them are still connected.
#[derive(Default)]
struct JdsSeen {
    set_up: AtomicUsize,
    flags: AtomicU32,
    connected: AtomicUsize,
}

/// A JDS that accepts job declaration setups and then only reads until the client leaves.
async fn stub_jds(listener: TcpListener, seen: Arc<JdsSeen>) {
    let keys = ResponderKeys::from_strings(
        TEST_AUTHORITY_PUBLIC,
        TEST_AUTHORITY_SECRET,
        Duration::from_secs(3600),
    )
    .unwrap();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let seen = seen.clone();
        tokio::spawn(async move {
            let Ok((mut rd, mut wr)) =
                sv2_conn::accept(stream, &keys, Duration::from_secs(5)).await
            else {
                return;
            };
            let Ok(AnyMessageOwned::Common(CommonMessagesOwned::SetupConnection(setup))) =
                rd.read().await
            else {
                return;
            };
            if setup.protocol != Protocol::JobDeclarationProtocol {
                return;
            }
            let success = SetupConnectionSuccess {
                used_version: 2,
                flags: 0,
            };
            if wr
                .write(CommonMessagesOwned::SetupConnectionSuccess(success))
                .await
                .is_err()
            {
                return;
            }
            seen.flags.store(setup.flags, Ordering::SeqCst);
            seen.set_up.fetch_add(1, Ordering::SeqCst);
            seen.connected.fetch_add(1, Ordering::SeqCst);
            while rd.read().await.is_ok() {}
            seen.connected.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_connects_its_template_provider_and_jds_clients_and_stops_them() {
    let pool = start_pool("127.0.0.1:0".parse().unwrap()).await;
    let tp = TemplateProvider::start(TemplateProviderConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let jds_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jds_addr = jds_listener.local_addr().unwrap();
    let seen = Arc::new(JdsSeen::default());
    let jds = tokio::spawn(stub_jds(jds_listener, seen.clone()));

    // `job_declaration` belongs to [upstream], the last section of the harness's config.
    let extra = format!(
        r#"job_declaration = {{ address = "{jds_addr}", authority_pubkey = "{TEST_AUTHORITY_PUBLIC}" }}

[template_provider]
address = "{}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
coinbase_tag = "e2e"
"#,
        tp.local_addr()
    );
    let node = start_node_with(pool.local_addr(), &extra).await;

    assert!(
        wait_for(Duration::from_secs(10), || async {
            tp.stats().connected_clients() == 1
        })
        .await,
        "the template provider client did not set up"
    );
    assert!(
        wait_for(Duration::from_secs(10), || async {
            seen.set_up.load(Ordering::SeqCst) >= 1
        })
        .await,
        "the JDS client did not set up"
    );
    assert_eq!(
        seen.flags.load(Ordering::SeqCst),
        1,
        "full-template mode (DECLARE_TX_DATA) only"
    );
    assert!(
        wait_for(Duration::from_secs(10), || async {
            node.snapshot().await.is_some_and(|s| s.upstream.connected)
        })
        .await,
        "the route's pool is not connected"
    );

    tokio::time::timeout(Duration::from_secs(10), node.shutdown())
        .await
        .expect("the node stops in time");
    assert!(
        wait_for(Duration::from_secs(5), || async {
            tp.stats().connected_clients() == 0 && seen.connected.load(Ordering::SeqCst) == 0
        })
        .await,
        "a job declaration connection outlived the node"
    );
    jds.abort();
    tp.shutdown().await;
    pool.shutdown().await;
}
