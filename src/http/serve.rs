//! Serving a router: a cap on open connections, `ConnectInfo<SocketAddr>` for handlers (rate
//! limits per client IP), and graceful shutdown with a drain deadline.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::{Listener, ListenerExt};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::config::HttpConfig;
use super::HttpError;

/// How [`serve_with`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// Most connections open at once; the next client waits in the accept queue.
    pub max_connections: usize,
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
            drain_timeout: c.drain_timeout.as_std(),
            send_buffer_bytes: c.send_buffer_bytes,
        }
    }
}

/// Binds the configured listen address.
pub async fn bind(config: &HttpConfig) -> Result<TcpListener, HttpError> {
    TcpListener::bind(config.listen)
        .await
        .map_err(|source| HttpError::Bind {
            addr: config.listen,
            source,
        })
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
    let listener = CappedListener {
        inner: listener,
        permits: Arc::new(Semaphore::new(options.max_connections.max(1))),
    }
    .tap_io(move |io| {
        // Small JSON answers and WebSocket frames should not wait for Nagle.
        let _ = io.stream.set_nodelay(true);
        if options.send_buffer_bytes > 0 {
            set_send_buffer(&io.stream, options.send_buffer_bytes);
        }
    });
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("HTTP server shutting down");
        let _ = signalled_tx.send(());
    };
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal);
    let deadline = async move {
        if signalled_rx.await.is_ok() {
            tokio::time::sleep(options.drain_timeout).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result.map_err(HttpError::Serve),
        () = deadline => {
            tracing::warn!(
                drain_timeout_ms = options.drain_timeout.as_millis() as u64,
                "HTTP connections still open after the drain timeout; no longer waiting for them"
            );
            Ok(())
        }
    }
}

/// A TCP listener that holds a semaphore permit per open connection.
struct CappedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

/// A connection and its permit; the permit returns when the connection is dropped.
struct CappedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl Listener for CappedListener {
    type Io = CappedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // The semaphore is never closed, so acquiring only waits.
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                std::future::pending::<()>().await;
                continue;
            };
            let (stream, addr) = Listener::accept(&mut self.inner).await;
            return (
                CappedStream {
                    stream,
                    _permit: permit,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
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

/// Sets `SO_SNDBUF` (the kernel doubles it for bookkeeping; best effort).
fn set_send_buffer(stream: &TcpStream, bytes: usize) {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: a plain integer socket option on a descriptor the stream owns for this call.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "cannot set the send buffer size");
    }
}
