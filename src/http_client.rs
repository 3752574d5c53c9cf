//! The outbound HTTP client that notification providers (SMS gateway, webhook) and partner
//! sync share, and how both read an answer: whether a failure is worth retrying, the peer's
//! `Retry-After`, a short excerpt of a refusal, a body read within a limit.
//!
//! Which failures are retryable ([`classify`], [`request_class`]): time-outs, connection
//! errors, 408, 429 and every 5xx. Every other status, 4xx and an unfollowed 3xx alike, and
//! a request that cannot be built, is permanent.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::Response;

/// Characters of a peer's answer kept in a [`CallError`].
pub const MESSAGE_CHARS: usize = 500;

/// Bytes of a refusal's body read for a [`CallError`]'s message.
pub const MESSAGE_READ_BYTES: usize = 4 * 1024;

/// Why the client could not be built (TLS set-up). Retrying does not help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct BuildError(pub String);

/// The HTTP client: HTTP/1.1 over rustls with the `ring` provider, the system's trusted
/// roots, `timeout` for the whole request, and no redirects followed (a signed request is
/// never replayed to another address; a 3xx answer is a permanent refusal). Cheap to clone;
/// share one.
pub fn build(timeout: Duration) -> Result<reqwest::Client, BuildError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(
            errors = found.errors.len(),
            "no trusted root certificates found; HTTPS to providers will fail"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| BuildError(error_chain(&e)))
}

/// Whether trying a failed call again may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Later, it may pass; `retry_after` is the peer's `Retry-After`, if it sent one.
    Retryable {
        /// How long the peer asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Sending the same request again will fail the same way.
    Permanent,
}

/// A call to a peer that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CallError {
    /// Whether a retry can help.
    pub class: ErrorClass,
    /// The peer's HTTP status, when it answered.
    pub status: Option<u16>,
    /// The peer's answer (its start, on one line, at most [`MESSAGE_CHARS`] characters)
    /// or what went wrong on the way.
    pub message: String,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.class {
            ErrorClass::Retryable { .. } => "retryable",
            ErrorClass::Permanent => "permanent",
        };
        match self.status {
            Some(status) => write!(f, "HTTP {status} ({kind}): {}", self.message),
            None => write!(f, "{kind}: {}", self.message),
        }
    }
}

impl CallError {
    /// Whether a retry can help.
    pub fn is_retryable(&self) -> bool {
        matches!(self.class, ErrorClass::Retryable { .. })
    }

    /// The peer's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.class {
            ErrorClass::Retryable { retry_after } => retry_after,
            ErrorClass::Permanent => None,
        }
    }

    /// A failure that retrying will not mend.
    pub fn permanent(status: Option<u16>, message: impl Into<String>) -> CallError {
        CallError {
            class: ErrorClass::Permanent,
            status,
            message: message.into(),
        }
    }

    /// A request that got no answer, classed by [`request_class`]. The URL is left out.
    pub fn from_reqwest(e: reqwest::Error) -> CallError {
        let what = if e.is_timeout() {
            "timed out: "
        } else if e.is_connect() {
            "cannot connect: "
        } else {
            ""
        };
        CallError {
            class: request_class(&e),
            status: None,
            message: format!("{what}{}", error_chain(&e.without_url())),
        }
    }
}

/// The class of a request that got no answer: one that cannot be built (an unusable URL) is
/// permanent; time-outs, connection and TLS errors and broken answers are retryable.
pub fn request_class(e: &reqwest::Error) -> ErrorClass {
    if e.is_builder() {
        ErrorClass::Permanent
    } else {
        ErrorClass::Retryable { retry_after: None }
    }
}

/// The class of an HTTP status: `None` for 2xx (success), retryable for 408, 429 and 5xx,
/// permanent for everything else. `Retry-After` is read by [`answer_class`].
pub fn classify(status: u16) -> Option<ErrorClass> {
    match status {
        200..=299 => None,
        408 | 429 | 500..=599 => Some(ErrorClass::Retryable { retry_after: None }),
        _ => Some(ErrorClass::Permanent),
    }
}

/// The class of an answer ([`classify`]), a retryable one carrying the peer's `Retry-After`.
/// `None` for success.
pub fn answer_class(response: &Response) -> Option<ErrorClass> {
    match classify(response.status().as_u16())? {
        ErrorClass::Retryable { .. } => Some(ErrorClass::Retryable {
            retry_after: retry_after(response.headers()),
        }),
        ErrorClass::Permanent => Some(ErrorClass::Permanent),
    }
}

/// `Retry-After` of an answer, as a delay from now.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// `Retry-After` as a delay from `now`: delay-seconds or an HTTP date (a date in the past is
/// no delay). `None` when it is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let at = SystemTime::from(at);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The start of an answer's body on one line: at most `read_bytes` read, `chars` kept.
pub async fn read_excerpt(mut response: Response, read_bytes: usize, chars: usize) -> String {
    let mut body = Vec::new();
    while body.len() < read_bytes {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(read_bytes);
    excerpt(&body, chars)
}

/// `body` on one line, cut after `chars` characters (marked `…`).
pub fn excerpt(body: &[u8], chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// The whole body of an answer, refused (permanent) past `limit` bytes; a body cut off on
/// the way is retryable.
pub async fn read_bounded(response: Response, limit: usize) -> Result<Vec<u8>, CallError> {
    read_bounded_into(response, limit, Vec::new()).await
}

/// [`read_bounded`] into `body` (emptied first): a buffer an earlier body was read into is
/// used again rather than allocated anew.
pub async fn read_bounded_into(
    mut response: Response,
    limit: usize,
    mut body: Vec<u8>,
) -> Result<Vec<u8>, CallError> {
    let status = Some(response.status().as_u16());
    body.clear();
    // Room for the announced length up front, so a large body is not copied as it grows.
    let announced = response.content_length().unwrap_or(0);
    body.reserve(usize::try_from(announced).unwrap_or(limit).min(limit));
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(CallError::permanent(
                        status,
                        format!("the answer is larger than {limit} bytes"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(CallError {
                    status,
                    ..CallError::from_reqwest(e)
                })
            }
        }
    }
}

/// An error and its sources, `: `-separated (reqwest and lettre keep the cause in sources).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let retry = Some(ErrorClass::Retryable { retry_after: None });
        let table = [
            (200, None),
            (201, None),
            (204, None),
            (301, Some(ErrorClass::Permanent)),
            (400, Some(ErrorClass::Permanent)),
            (401, Some(ErrorClass::Permanent)),
            (403, Some(ErrorClass::Permanent)),
            (404, Some(ErrorClass::Permanent)),
            (408, retry),
            (409, Some(ErrorClass::Permanent)),
            (422, Some(ErrorClass::Permanent)),
            (429, retry),
            (500, retry),
            (501, retry),
            (502, retry),
            (503, retry),
            (504, retry),
        ];
        for (status, want) in table {
            assert_eq!(classify(status), want, "{status}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let table = [
            ("7", Some(Duration::from_secs(7))),
            (" 0 ", Some(Duration::ZERO)),
            // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
            (
                "Sun, 06 Nov 1994 08:50:07 GMT",
                Some(Duration::from_secs(30)),
            ),
            ("Sun, 06 Nov 1994 08:49:00 GMT", Some(Duration::ZERO)),
            ("-1", None),
            ("soon", None),
            ("", None),
        ];
        for (value, want) in table {
            assert_eq!(parse_retry_after(value, now), want, "{value:?}");
        }
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt(b"  bad\n  number \r\n", 200), "bad number");
        let long = "x".repeat(500);
        let cut = excerpt(long.as_bytes(), 200);
        assert_eq!(cut.chars().count(), 200 + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(&[0xff, b'a'], 200), "\u{fffd}a");
    }
}
