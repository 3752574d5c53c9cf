//! The `nats-server` child process: start, crash, restart on the same port, clear errors.

use std::path::PathBuf;
use std::time::Duration;

use vigil_peers::NatsServer;
use vigil_streams::server::{ChildOptions, NatsChild, ServerError};

#[tokio::test]
async fn a_killed_server_comes_back_on_the_same_port() {
    let mut server = NatsServer::start();
    let url = server.url();
    let client = server.connect().await;
    client.flush().await.unwrap();

    server.kill();
    assert_eq!(server.child().pid(), None);
    server.restart();
    assert_eq!(server.url(), url);
    let again = server.connect().await;
    tokio::time::timeout(Duration::from_secs(10), again.flush())
        .await
        .expect("flush timed out")
        .unwrap();
}

#[test]
fn a_missing_binary_is_a_clear_error() {
    let options = ChildOptions {
        bin: Some(PathBuf::from("/nonexistent/nats-server")),
        ..ChildOptions::default()
    };
    match NatsChild::start_with(options) {
        Err(err @ ServerError::Spawn { .. }) => {
            assert!(
                err.to_string().contains("/nonexistent/nats-server"),
                "{err}"
            )
        }
        other => panic!("expected a spawn error, got {other:?}"),
    }
}

#[test]
fn a_server_that_exits_at_once_reports_its_log() {
    // `false` exits immediately with status 1, like a server refusing its flags.
    let options = ChildOptions {
        bin: Some(PathBuf::from("false")),
        ..ChildOptions::default()
    };
    match NatsChild::start_with(options) {
        Err(ServerError::Exited { status, .. }) => assert!(!status.success()),
        other => panic!("expected an early exit, got {other:?}"),
    }
}

#[test]
fn the_port_is_taken_by_no_one_after_drop() {
    let server = NatsChild::start().unwrap();
    let port = server.port();
    drop(server);
    // The process is gone, so its port is free again.
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}
