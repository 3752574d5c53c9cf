//! `vigil token`: mints a JWT with the configured signing key, for development and tests.

use std::io::Write as _;

use anyhow::Context;
use vigil::config::VigilConfig;

/// Prints a token for `tenant` and `role`, valid for `ttl` (a duration of at least 1 s);
/// `sub` defaults to `dev-<role>`. Warns when `vigil run` would refuse the configured secret.
pub fn run(
    config: &VigilConfig,
    tenant: u64,
    role: vigil::auth::Role,
    ttl: &str,
    sub: Option<String>,
) -> anyhow::Result<()> {
    if let Some(problem) = vigil::config::secrets::jwt_secret_problem(&config.auth) {
        eprintln!("warning: auth.jwt_secret {problem}; `vigil run` refuses it, so this token is for development only");
    }
    let ttl = vigil_schema::parse_duration(ttl)
        .ok()
        .and_then(|ms| u64::try_from(ms).ok())
        .filter(|ms| *ms >= 1000)
        .map(std::time::Duration::from_millis)
        .context("--ttl: expected a duration of at least 1s, e.g. 2h")?;
    let minter = vigil::auth::Minter::from_config(&config.auth, &config.base_dir)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let sub = sub.unwrap_or_else(|| format!("dev-{role}"));
    let token = minter
        .mint(&sub, tenant, role, now, ttl)
        .context("cannot sign the token")?;
    writeln!(std::io::stdout(), "{token}").context("cannot write the token")
}
