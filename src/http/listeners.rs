//! The service's listeners: the main one (API, `/ws`, `/healthz`, `/readyz`, dashboard, and
//! `/metrics` unless it has its own), and with `[http] metrics_listen` a second one that serves
//! only `/metrics`, so scraping need not face clients.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::config::HttpConfig;
use super::router::{finish, health_routes, metrics_routes, OpsState};
use super::serve::{bind, bind_addr, serve_with, ServeOptions};
use super::HttpError;

/// The bound listeners of `[http]`.
#[derive(Debug)]
pub struct Listeners {
    /// `http.listen`.
    pub main: TcpListener,
    /// `http.metrics_listen`, when set.
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds `http.listen` and, when set, `http.metrics_listen`.
    pub async fn bind(config: &HttpConfig) -> Result<Listeners, HttpError> {
        let main = bind(config).await?;
        let metrics = match config.metrics_listen {
            Some(addr) => Some(bind_addr(addr).await?),
            None => None,
        };
        Ok(Listeners { main, metrics })
    }

    /// The main listener's address.
    pub fn main_addr(&self) -> std::io::Result<SocketAddr> {
        self.main.local_addr()
    }

    /// The metrics listener's address, when it has one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves `api` with the operational routes until `shutdown` completes and connections
    /// drain: `/metrics` on its own listener when there is one (and then not on the main one),
    /// else on the main listener with the rest.
    pub async fn serve<F>(
        self,
        config: &HttpConfig,
        ops: OpsState,
        api: Router,
        shutdown: F,
    ) -> Result<(), HttpError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let options = ServeOptions::from(config);
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let relay = tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let result = match self.metrics {
            Some(metrics_listener) => {
                let main = finish(health_routes(ops.readiness).merge(api));
                let metrics = finish(metrics_routes(ops.metrics));
                let (a, b) = tokio::join!(
                    serve_with(self.main, main, options.clone(), stopped(stop_rx.clone())),
                    serve_with(metrics_listener, metrics, options, stopped(stop_rx)),
                );
                a.and(b)
            }
            None => {
                let main = finish(
                    health_routes(ops.readiness)
                        .merge(metrics_routes(ops.metrics))
                        .merge(api),
                );
                serve_with(self.main, main, options, stopped(stop_rx)).await
            }
        };
        relay.abort();
        result
    }
}
