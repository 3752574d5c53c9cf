//! Plain-HTTP `reqwest` clients for what talks to the peers and to Vigil on loopback: the
//! tests, the demo's test and the benchmarks.
//!
//! The workspace builds reqwest with `rustls-no-provider`: a client wants a TLS set-up even
//! when it only speaks `http://`, so it gets rustls on `ring` with no trusted roots (an
//! `https://` URL fails to verify). Redirects are not followed: a test sees the status the
//! server answered.

use std::sync::Arc;
use std::time::Duration;

/// A client builder for plain HTTP: TLS set up with no trusted roots, no redirects followed.
/// Add time-outs and pool settings, then build.
pub fn builder() -> reqwest::ClientBuilder {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(config) => config
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        Err(err) => unreachable!("ring supports rustls' default protocol versions: {err}"),
    };
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(tls)
}

/// A plain-HTTP client whose requests (connecting included) give up after `timeout`.
///
/// # Panics
/// When reqwest cannot build it (it needs nothing from the system, so only on a bug).
pub fn client(timeout: Duration) -> reqwest::Client {
    match builder().timeout(timeout).build() {
        Ok(client) => client,
        Err(err) => panic!("cannot build a plain-HTTP client: {err}"),
    }
}

/// A request's JSON body, without reqwest's `json` feature (which the service does not need).
pub trait JsonBody {
    /// Sends `body` as `application/json`.
    fn json_body(self, body: &serde_json::Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &serde_json::Value) -> Self {
        self.header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn builds_and_refuses_nothing_it_cannot_reach() {
        let client = client(Duration::from_millis(500));
        // Nothing listens on port 9 of loopback (discard is not served): a connection error,
        // not a panic about a missing TLS provider.
        let err = client.get("http://127.0.0.1:9/").send().await.unwrap_err();
        assert!(err.is_connect() || err.is_timeout(), "{err}");
    }
}
