//! Hiding credentials in URLs from configuration before they are printed or logged: the
//! password (or a token standing alone as the user) of the userinfo part, and every query
//! value. One helper, used wherever a configured URL reaches output (`check-config`, logs,
//! error messages).

/// `url` with its secrets replaced by `***`: `postgres://u:pw@h/db` → `postgres://u:***@h/db`,
/// `nats://token@h` → `nats://***@h`, `https://h/sms?key=abc` → `https://h/sms?key=***`.
/// A comma-separated list (a NATS cluster) is redacted element by element; text without
/// `://` is returned as it is.
pub fn url(url: &str) -> String {
    if url.contains(',') {
        return url.split(',').map(one).collect::<Vec<_>>().join(",");
    }
    one(url)
}

fn one(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The authority ends at the first '/', '?' or '#'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("***@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) => format!("{k}=***"),
                    None if pair.is_empty() => String::new(),
                    None => "***".to_string(),
                })
                .collect();
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            format!("{path}?{}{fragment}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn credentials_and_query_values_are_hidden() {
        for (given, shown) in [
            ("postgres://u:pw@h:5432/db", "postgres://u:***@h:5432/db"),
            ("sqlite://data/vigil.db", "sqlite://data/vigil.db"),
            ("nats://s3cret-token@h:4222", "nats://***@h:4222"),
            (
                "nats://a:b@h1:4222,nats://c:d@h2:4222",
                "nats://a:***@h1:4222,nats://c:***@h2:4222",
            ),
            (
                "https://sms.example.com/v1?api_key=abc&to=1#x",
                "https://sms.example.com/v1?api_key=***&to=***#x",
            ),
            ("https://h/p?token", "https://h/p?***"),
            ("https://u:p@h?k=v", "https://u:***@h?k=***"),
            ("https://h/a@b", "https://h/a@b"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(url(given), shown, "{given}");
        }
    }
}
