//! One partner's REST API (DESIGN.md §7): `PUT {base}/records/{record_id}` and
//! `GET {base}/records?date=…&page=…&page_size=…`, authenticated, one attempt each. Retries,
//! back-off, rate limits and the circuit breaker are the caller's; every failure says
//! whether a retry can help ([`ErrorClass`]).
//!
//! Which failures are retryable ([`crate::http_client::classify`]): time-outs, connection
//! errors, 408, 429 and every 5xx. 502, 503 and 504 are the ones the partner contract names;
//! other 5xx (a flaky 500) are retried too rather than parking a record for good on a passing
//! server error. Every other status, 4xx and an unfollowed 3xx alike, is permanent. With OAuth2 a 401 is
//! answered once inside the client by fetching a new token and sending the request again.
//!
//! A record id goes into the path as one segment, percent-encoded except for the unreserved
//! characters `A-Z a-z 0-9 - . _ ~` (`12345:TKT-001:resolution` →
//! `12345%3ATKT-001%3Aresolution`); HMAC signatures cover the path exactly as sent.
//!
//! # Layout
//! - `tests`: unit tests against a scripted partner on `127.0.0.1:0`.

use std::ops::Range;
use std::time::SystemTime;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Response, Url};
use serde::Deserialize;
use serde_json::value::RawValue;
use vigil_engine::SlaRecord;

use super::auth::{AuthError, Authenticator};
use super::config::{http_base_url, AuthConfig, PartnerConfig};
use super::mapping::{Mapper, MappingError};
use crate::http_client::{
    answer_class, read_bounded_into, read_excerpt, CallError, ErrorClass, MESSAGE_CHARS,
    MESSAGE_READ_BYTES,
};
use crate::secrets::{Rebuilt, Secrets};

/// Largest reconciliation page read; a bigger one is refused (permanent) rather than held.
pub const MAX_PAGE_BYTES: usize = 64 * 1024 * 1024;

/// A failed authentication as a call failure: the token endpoint's class carries over, a
/// failed random source may pass, missing secrets and bad settings do not.
fn auth_failure(e: AuthError) -> CallError {
    match e {
        AuthError::Token {
            class,
            status: _,
            reason,
        } => CallError {
            class,
            status: None,
            message: format!("token endpoint: {reason}"),
        },
        AuthError::Random(_) => CallError {
            class: ErrorClass::Retryable { retry_after: None },
            status: None,
            message: e.to_string(),
        },
        AuthError::MissingEnv { .. } | AuthError::Invalid { .. } => {
            CallError::permanent(None, e.to_string())
        }
    }
}

/// Reads the rest of a successful answer (up to a few KiB) so its connection can be reused.
async fn drain(mut response: Response) {
    let mut read = 0;
    while read < MESSAGE_READ_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => break,
        }
    }
}

/// `text` as one path segment: unreserved characters as they are, every other byte `%XX`.
pub fn encode_segment(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// A page's answer as it arrived: [`PageBody::parse`] makes the [`Page`].
#[derive(Debug, Clone)]
pub struct PageBody {
    partner: String,
    page: u32,
    status: Option<u16>,
    body: Vec<u8>,
}

/// One page of a partner's records of a day, each record as its JSON text: the page as it
/// arrived, and where each record is in it (no copy of a record is made).
#[derive(Debug)]
pub struct Page {
    body: String,
    records: Vec<Range<usize>>,
    /// The next page to ask for; `None` on the last page.
    pub next_page: Option<u32>,
}

/// A page's JSON as parsed: each record borrowed from the body.
#[derive(Deserialize)]
struct PageJson<'a> {
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
    #[serde(default)]
    next_page: Option<u32>,
}

impl Page {
    /// Parses a page of records (checked to be JSON, not yet to be objects).
    pub fn from_json(body: Vec<u8>) -> Result<Page, serde_json::Error> {
        let body = String::from_utf8(body).map_err(serde::de::Error::custom)?;
        let parsed: PageJson<'_> = serde_json::from_str(&body)?;
        let base = body.as_ptr() as usize;
        let records = parsed
            .records
            .iter()
            .map(|raw| {
                // A borrowed raw value is a slice of the body: its place is its address's.
                let start = raw.get().as_ptr() as usize - base;
                start..start + raw.get().len()
            })
            .collect();
        let next_page = parsed.next_page;
        Ok(Page {
            body,
            records,
            next_page,
        })
    }

    /// How many records the page holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the page holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Record `i`'s JSON text, as the partner sent it.
    pub fn record(&self, i: usize) -> Option<&str> {
        // Each range is a whole value of the body, so it lies on character boundaries.
        self.body.get(self.records.get(i)?.clone())
    }

    /// The records' JSON texts in the page's order.
    pub fn records(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|i| self.record(i))
    }

    /// The memory the page was read into, for the next page
    /// ([`PartnerClient::get_page_body`]).
    pub fn into_buffer(self) -> Vec<u8> {
        self.body.into_bytes()
    }
}

impl PageBody {
    /// The page; a body that is not a page, or whose `next_page` does not come after it, is
    /// a permanent failure.
    pub fn parse(self) -> Result<Page, CallError> {
        let PageBody {
            partner,
            page,
            status,
            body,
        } = self;
        let parsed = Page::from_json(body)
            .map_err(|e| CallError::permanent(status, format!("not a page of records: {e}")))?;
        if parsed.next_page.is_some_and(|next| next <= page) {
            return Err(CallError::permanent(
                status,
                format!(
                    "next_page {:?} does not come after page {page}",
                    parsed.next_page
                ),
            ));
        }
        tracing::debug!(
            partner = %partner,
            page,
            records = parsed.len(),
            "page read"
        );
        Ok(parsed)
    }
}

/// Why a partner's client cannot be set up. None of these goes away by retrying.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `base_url` is not usable.
    #[error("base_url: {0}")]
    BaseUrl(String),
    /// A secret is missing or authentication is misconfigured.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// `mapping` or `masking` cannot be used.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The HTTP client could not be built.
    #[error("{0}")]
    Http(String),
}

/// A partner's API, ready to call. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PartnerClient {
    id: String,
    base: Url,
    http: reqwest::Client,
    auth: Rebuilt<Authenticator>,
    mapper: Mapper,
}

impl PartnerClient {
    /// The client of `config`, with secrets looked up in `secrets` (its credentials are built
    /// again when they change at run time) and requests bounded by `config.timeout`. Fails
    /// naming the field or variable at fault.
    pub fn new(config: &PartnerConfig, secrets: &Secrets) -> Result<PartnerClient, ClientError> {
        let base = http_base_url(&config.base_url).map_err(ClientError::BaseUrl)?;
        let http = crate::http_client::build(config.timeout.as_std())
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let authenticator = |auth: &AuthConfig, secrets: &Secrets, http: reqwest::Client| {
            Authenticator::new(auth, &|var| secrets.lookup(var), http)
        };
        let first = authenticator(&config.auth, secrets, http.clone())?;
        let (auth_config, auth_http) = (config.auth.clone(), http.clone());
        let auth = Rebuilt::new(
            format!("partner {} credentials", config.id),
            secrets,
            first,
            move |s| authenticator(&auth_config, s, auth_http.clone()).map_err(|e| e.to_string()),
        );
        let mapper = Mapper::new(&config.mapping, &config.masking)?;
        Ok(PartnerClient {
            id: config.id.clone(),
            base,
            http,
            auth,
            mapper,
        })
    }

    /// The partner's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How records are mapped for this partner.
    pub fn mapper(&self) -> &Mapper {
        &self.mapper
    }

    /// `{base}/{rest}`, keeping the base URL's own path.
    fn url(&self, rest: &str) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}/{rest}", self.base.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    /// `{base}/records/{record_id}`, the id percent-encoded ([`encode_segment`]).
    pub fn record_url(&self, record_id: &str) -> Url {
        self.url(&format!("records/{}", encode_segment(record_id)))
    }

    /// `{base}/records?date=…&page=…&page_size=…`.
    pub fn page_url(&self, date: &str, page: u32, page_size: u32) -> Url {
        let mut url = self.url("records");
        url.query_pairs_mut()
            .append_pair("date", date)
            .append_pair("page", &page.to_string())
            .append_pair("page_size", &page_size.to_string());
        url
    }

    /// Sends `record` (mapped and masked) with `PUT {base}/records/{record_id}`; any 2xx is
    /// success and its status is returned. Sending the same record again is harmless.
    pub async fn put_record(&self, record: &SlaRecord) -> Result<u16, CallError> {
        let body = serde_json::to_vec(&self.mapper.map(record))
            .map_err(|e| CallError::permanent(None, format!("cannot encode the record: {e}")))?;
        let url = self.record_url(&record.record_id);
        match self.send(Method::PUT, url, body).await {
            Ok(response) => {
                let status = response.status().as_u16();
                drain(response).await;
                tracing::debug!(
                    partner = %self.id,
                    record_id = %record.record_id,
                    status,
                    "record sent"
                );
                Ok(status)
            }
            Err(e) => {
                tracing::debug!(
                    partner = %self.id,
                    record_id = %record.record_id,
                    error = %e,
                    "record not sent"
                );
                Err(e)
            }
        }
    }

    /// Page `page` (from 1) of the partner's records whose `stopped_at` falls on `date`
    /// (`YYYY-MM-DD`, the partner's time zone). An answer that is not a page, or whose
    /// `next_page` does not come after `page`, is a permanent error.
    pub async fn get_page(&self, date: &str, page: u32, page_size: u32) -> Result<Page, CallError> {
        self.get_page_body(date, page, page_size, Vec::new())
            .await?
            .parse()
    }

    /// [`get_page`](Self::get_page) as it arrived, not parsed yet (parsing it can wait for
    /// the caller while the next page is asked for), read into `buffer`: pass the buffer of a
    /// page done with ([`Page::into_buffer`]) to use its memory again, or an empty one.
    pub async fn get_page_body(
        &self,
        date: &str,
        page: u32,
        page_size: u32,
        buffer: Vec<u8>,
    ) -> Result<PageBody, CallError> {
        let url = self.page_url(date, page, page_size);
        let response = self.send(Method::GET, url, Vec::new()).await?;
        let status = Some(response.status().as_u16());
        let body = read_bounded_into(response, MAX_PAGE_BYTES, buffer).await?;
        Ok(PageBody {
            partner: self.id.clone(),
            page,
            status,
            body,
        })
    }

    /// One request, authenticated; with OAuth2 a 401 is tried once more with a new token.
    /// `Ok` only for a 2xx answer.
    async fn send(&self, method: Method, url: Url, body: Vec<u8>) -> Result<Response, CallError> {
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let mut refreshed = false;
        let auth = self.auth.current();
        loop {
            let headers = auth
                .headers(&method, &path_and_query, &body, SystemTime::now())
                .await
                .map_err(auth_failure)?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .header(ACCEPT, "application/json");
            if method != Method::GET {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let response = request.send().await.map_err(CallError::from_reqwest)?;
            let status = response.status().as_u16();
            if status == 401 && !refreshed && auth.refreshes_tokens() {
                tracing::debug!(partner = %self.id, "401: fetching a new token");
                auth.invalidate(&headers).await;
                refreshed = true;
                continue;
            }
            let Some(class) = answer_class(&response) else {
                return Ok(response);
            };
            let mut message = read_excerpt(response, MESSAGE_READ_BYTES, MESSAGE_CHARS).await;
            if message.is_empty() {
                message = reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no answer body")
                    .to_string();
            }
            return Err(CallError {
                class,
                status: Some(status),
                message,
            });
        }
    }
}

#[cfg(test)]
mod tests;
