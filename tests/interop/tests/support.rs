//! The support module itself, on plain system tools: a peer process writes its config and logs
//! where expected and dies with its owner; free ports are bindable and waited for.

use interop::{free_addr, wait_for_port, PeerProcess};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_peer_process_gets_its_files_and_logs_and_is_killed_on_drop() {
    let mut peer = PeerProcess::start(
        "shell",
        Path::new("/bin/sh"),
        &[("peer.toml", "answer = 42\n")],
        &["-c", "cat {dir}/peer.toml; echo oops >&2; exec sleep 60"],
    );
    assert!(peer.wait_for_log("answer = 42", T).await, "{}", peer.log());
    assert!(peer.wait_for_log("oops", T).await, "{}", peer.log());
    assert_eq!(peer.count_log_lines("answer"), 1);
    assert!(peer.is_running());
    let dir = peer.dir().to_path_buf();
    assert!(dir.join("stdout.log").is_file());
    peer.kill();
    assert!(!peer.is_running());
    drop(peer);
    assert!(!dir.exists(), "the folder goes away with a passing test");
}

#[tokio::test]
async fn a_free_port_is_waited_for_until_something_listens() {
    let addr = free_addr();
    assert!(addr.ip().is_loopback());
    assert!(!wait_for_port(addr, Duration::from_millis(300)).await);
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    assert!(wait_for_port(addr, T).await);
    drop(listener);
}
