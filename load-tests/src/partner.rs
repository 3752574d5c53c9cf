//! `vigil-load partner`: a fake partner serving on a fixed address until Ctrl-C, driven
//! through its `/_admin/` endpoints.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use jiff::tz::TimeZone;
use vigil_peers::partner::config::{self, FakePartnerConfig, FieldNames, PartnerAuth};
use vigil_peers::partner::FakePartner;

use crate::report::{figure, note};

/// What `vigil-load partner` runs (its command-line options).
#[derive(Debug, Clone, clap::Args)]
pub struct PartnerOptions {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9400")]
    pub listen: SocketAddr,
    /// The partner's time zone (IANA name); days of records are local dates there.
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
    /// Path prefix of the API (e.g. `/api`).
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Require HMAC signatures with this key id (with `--hmac-secret`).
    #[arg(long, requires = "hmac_secret", conflicts_with_all = ["api_key", "oauth_client_id"])]
    pub hmac_key_id: Option<String>,
    /// The HMAC shared secret.
    #[arg(
        long,
        env = "PARTNER_HMAC_SECRET",
        hide_env_values = true,
        requires = "hmac_key_id"
    )]
    pub hmac_secret: Option<String>,
    /// Require this API key (in `--api-key-header`).
    #[arg(
        long,
        env = "PARTNER_API_KEY",
        hide_env_values = true,
        conflicts_with = "oauth_client_id"
    )]
    pub api_key: Option<String>,
    /// The API key header.
    #[arg(long, default_value = "X-Api-Key")]
    pub api_key_header: String,
    /// Require OAuth2 bearer tokens issued to this client (with `--oauth-client-secret`).
    #[arg(long, requires = "oauth_client_secret")]
    pub oauth_client_id: Option<String>,
    /// The OAuth2 client secret.
    #[arg(
        long,
        env = "PARTNER_OAUTH_SECRET",
        hide_env_values = true,
        requires = "oauth_client_id"
    )]
    pub oauth_client_secret: Option<String>,
    /// Lifetime of issued OAuth2 tokens (e.g. 1h, 30s).
    #[arg(long, default_value = "1h", value_parser = crate::ws::parse_span)]
    pub oauth_expires_in: Duration,
    /// Records per page when a request gives no `page_size`.
    #[arg(long, default_value_t = config::DEFAULT_PAGE_SIZE)]
    pub page_size: usize,
    /// The largest page served.
    #[arg(long, default_value_t = config::DEFAULT_MAX_PAGE_SIZE)]
    pub max_page_size: usize,
    /// The body field holding the record id (for seeding).
    #[arg(long, default_value = "record_id")]
    pub record_id_field: String,
    /// The body field holding the stop instant (for the date index).
    #[arg(long, default_value = "stopped_at")]
    pub stopped_at_field: String,
    /// Seed of fractional faults and latency ranges.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl PartnerOptions {
    /// The partner configuration these options describe.
    pub fn config(&self) -> anyhow::Result<FakePartnerConfig> {
        let timezone = TimeZone::get(&self.timezone)
            .with_context(|| format!("--timezone {:?} is not a known time zone", self.timezone))?;
        let auth = match (
            &self.hmac_key_id,
            &self.hmac_secret,
            &self.api_key,
            &self.oauth_client_id,
            &self.oauth_client_secret,
        ) {
            (Some(key_id), Some(secret), _, _, _) => PartnerAuth::hmac(key_id, secret),
            (_, _, Some(key), _, _) => PartnerAuth::api_key(&self.api_key_header, key),
            (_, _, _, Some(client_id), Some(client_secret)) => PartnerAuth::OAuth2 {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                expires_in: self.oauth_expires_in,
            },
            _ => PartnerAuth::None,
        };
        Ok(FakePartnerConfig {
            listen: self.listen,
            prefix: self.prefix.clone(),
            timezone,
            fields: FieldNames {
                record_id: self.record_id_field.clone(),
                stopped_at: self.stopped_at_field.clone(),
            },
            default_page_size: self.page_size,
            max_page_size: self.max_page_size,
            auth,
            seed: self.seed,
            ..FakePartnerConfig::default()
        })
    }
}

/// Runs a partner until Ctrl-C, printing `partner_url=…` and `partner_admin_url=…`.
pub fn run(options: PartnerOptions) -> anyhow::Result<()> {
    let config = options.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let partner = FakePartner::start(config)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        figure("partner_url", partner.url());
        figure("partner_admin_url", partner.admin_url());
        note(format_args!(
            "partner serving {} in {}; Ctrl-C stops it",
            partner.url(),
            options.timezone
        ));
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        note("partner stopping");
        partner.stop().await;
        Ok(())
    })
}
