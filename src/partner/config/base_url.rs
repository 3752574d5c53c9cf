//! What a partner's base URL (and an OAuth2 token URL) must be.

/// `url` as an absolute `http` or `https` URL with a host and without query or fragment.
pub(crate) fn http_base_url(url: &str) -> Result<reqwest::Url, String> {
    let shown = crate::redact::url(url);
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{shown:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "{shown:?} is not an http:// or https:// URL with a host"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "{shown:?} has a query or fragment; paths are appended to it"
        ));
    }
    Ok(parsed)
}
