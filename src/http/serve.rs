//! Serving a router over HTTP/1.1 (with upgrades, for `/ws`): a cap on open connections in
//! total and per client address ([`super::conn_limit`]), a header-read time-out that also ends
//! idle keep-alive connections, a bound on requests per connection, the request time-out
//! handed to the router's middleware, `ConnectInfo<SocketAddr>` for handlers (rate limits per
//! client IP), and graceful shutdown with a drain deadline.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::config::HttpConfig;
use super::conn_limit::{IpSlot, PerIpConnections};
use super::proxy::{IpNet, Proxies};
use super::router::RequestTimeout;
use super::HttpError;

/// How [`serve_with`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Most connections open at once; the next client waits in the accept queue.
    pub max_connections: usize,
    /// Most connections open at once from one client address; more are closed at once.
    pub max_connections_per_ip: usize,
    /// Peers exempt from the per-address cap (proxies carry many clients).
    pub trusted_proxies: Vec<IpNet>,
    /// How long a client may take to send request headers (and an idle keep-alive
    /// connection may wait for the next request).
    pub header_read_timeout: Duration,
    /// How long a request (not a WebSocket upgrade) may take before it is answered with 503.
    pub request_timeout: Duration,
    /// Requests on one connection before it is closed (`Connection: close`).
    pub max_requests_per_connection: u32,
    /// After the shutdown signal, how long open connections (WebSockets included) may take to
    /// finish before the server stops anyway.
    pub drain_timeout: Duration,
    /// Kernel send buffer per connection (0: the OS default).
    pub send_buffer_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions::from(&HttpConfig::default())
    }
}

impl From<&HttpConfig> for ServeOptions {
    fn from(c: &HttpConfig) -> Self {
        ServeOptions {
            max_connections: c.max_connections.max(1),
            max_connections_per_ip: c.max_connections_per_ip.max(1),
            trusted_proxies: c.trusted_proxies.clone(),
            header_read_timeout: c.header_read_timeout.as_std(),
            request_timeout: c.request_timeout.as_std(),
            max_requests_per_connection: c.max_requests_per_connection.max(1),
            drain_timeout: c.drain_timeout.as_std(),
            send_buffer_bytes: c.send_buffer_bytes,
        }
    }
}

/// Binds the configured listen address.
pub async fn bind(config: &HttpConfig) -> Result<TcpListener, HttpError> {
    bind_addr(config.listen).await
}

/// Binds `addr`.
pub async fn bind_addr(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })
}

/// Serves `router` on `listener` with [`ServeOptions::default`] until `shutdown` completes and
/// open connections drain.
pub async fn serve<F>(listener: TcpListener, router: Router, shutdown: F) -> Result<(), HttpError>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with(listener, router, ServeOptions::default(), shutdown).await
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets open
/// connections finish for at most `drain_timeout`, and returns. Connections still open then
/// (upgraded WebSockets, which their hub must close on shutdown) end with the runtime.
pub async fn serve_with<F>(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: F,
) -> Result<(), HttpError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let per_ip = Arc::new(PerIpConnections::new(
        options.max_connections_per_ip,
        Proxies::new(&options.trusted_proxies),
    ));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    let connection = Arc::new(ConnectionSettings {
        builder,
        router,
        request_timeout: options.request_timeout,
        max_requests: options.max_requests_per_connection.max(1),
    });
    // Every connection task holds a receiver: `closed()` completes when all have ended.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => continue,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = per_ip.admit(peer.ip()) else {
            // Over the per-address cap: closed at once, before a byte is read.
            drop(stream);
            continue;
        };
        // Small JSON answers and WebSocket frames should not wait for Nagle.
        let _ = stream.set_nodelay(true);
        if options.send_buffer_bytes > 0 {
            set_send_buffer(&stream, options.send_buffer_bytes);
        }
        let io = CappedStream {
            stream,
            _permit: permit,
            _slot: slot,
        };
        tokio::spawn(connection.clone().serve(io, peer, stop_rx.clone()));
    }
    tracing::info!("HTTP server shutting down");
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    if tokio::time::timeout(options.drain_timeout, stop_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            drain_timeout_ms = options.drain_timeout.as_millis() as u64,
            "HTTP connections still open after the drain timeout; no longer waiting for them"
        );
    }
    Ok(())
}

/// An accept that failed: a connection the client already gave up is skipped; anything else
/// (out of descriptors) waits a moment, so the loop does not spin.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What every connection of one server shares.
struct ConnectionSettings {
    builder: http1::Builder,
    router: Router,
    request_timeout: Duration,
    max_requests: u32,
}

impl ConnectionSettings {
    /// Serves one connection until it ends; on the stop signal, finishes the request in flight
    /// and closes.
    async fn serve(
        self: Arc<Self>,
        io: CappedStream,
        peer: SocketAddr,
        mut stop: watch::Receiver<bool>,
    ) {
        let router = TowerToHyperService::new(self.router.clone());
        let served = Arc::new(AtomicU32::new(0));
        let (timeout, max_requests) = (RequestTimeout(self.request_timeout), self.max_requests);
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(timeout);
            let last = served.fetch_add(1, Ordering::Relaxed) + 1 >= max_requests;
            let answer = router.call(request);
            async move {
                let mut response = answer.await?;
                if last {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        });
        let conn = self
            .builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            () = async { let _ = stop.wait_for(|stop| *stop).await; } => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(client_ip = %peer.ip(), error = %e, "HTTP connection ended with an error");
        }
    }
}

/// A connection, its permit of the total cap and its slot of its address's cap; both return
/// when the connection (or the WebSocket it was upgraded to) is dropped.
struct CappedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    _slot: IpSlot,
}

impl AsyncRead for CappedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Sets `SO_SNDBUF` (the kernel doubles it for bookkeeping; best effort). The size is held
/// to what the option's C `int` can carry.
fn set_send_buffer(stream: &TcpStream, bytes: usize) {
    let bytes = bytes.min(i32::MAX.unsigned_abs() as usize);
    if let Err(e) = socket2::SockRef::from(stream).set_send_buffer_size(bytes) {
        tracing::debug!(error = %e, "cannot set the send buffer size");
    }
}
