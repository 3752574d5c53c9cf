//! Where the clients connect, from which local addresses, and the file-descriptor limit that
//! many connections need.

use std::net::{IpAddr, Ipv4Addr};

/// Connections per local source address before another one is used: below the default Linux
/// ephemeral port range (32768–60999, 28,232 ports).
pub const CLIENTS_PER_SOURCE_IP: usize = 20_000;

/// The service's WebSocket endpoint, from its base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port` to connect to.
    pub authority: String,
    /// Host name or address (without brackets).
    pub host: String,
    /// `ws://host:port/ws`.
    pub ws_url: String,
}

impl Endpoint {
    /// Reads `http://host[:port][/prefix]` (or `ws://…`): the WebSocket is at `<prefix>/ws`.
    /// TLS (`https`, `wss`) is not supported: the load test targets the service directly.
    pub fn parse(url: &str) -> anyhow::Result<Endpoint> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| anyhow::anyhow!("--url {url:?}: expected http://host:port"))?;
        match scheme {
            "http" | "ws" => {}
            "https" | "wss" => anyhow::bail!(
                "--url {url:?}: TLS is not supported; point the load test at the service's own port"
            ),
            _ => anyhow::bail!("--url {url:?}: expected http://host:port"),
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        anyhow::ensure!(
            !authority.is_empty() && !authority.contains('@'),
            "--url {url:?}: expected http://host:port"
        );
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, p),
            _ => (authority, "80"),
        };
        let port: u16 = port
            .parse()
            .map_err(|_| anyhow::anyhow!("--url {url:?}: bad port {port:?}"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let path = if path.ends_with("/ws") {
            path.to_string()
        } else {
            format!("{path}/ws")
        };
        Ok(Endpoint {
            ws_url: format!("ws://{authority}{path}"),
            authority,
            host: host.to_string(),
        })
    }

    /// Whether the host is a loopback address (or `localhost`).
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// The local addresses clients bind to before connecting: `None` (let the kernel choose) for
/// one address, else `127.0.0.1`, `127.0.0.2`, … (loopback targets only). `wanted` 0 picks
/// enough for `clients` ([`CLIENTS_PER_SOURCE_IP`] each).
pub fn source_ips(
    endpoint: &Endpoint,
    wanted: usize,
    clients: usize,
) -> anyhow::Result<Option<Vec<IpAddr>>> {
    let n = match wanted {
        0 if endpoint.is_loopback() => clients.div_ceil(CLIENTS_PER_SOURCE_IP).max(1),
        0 => 1,
        n => n,
    };
    if n == 1 {
        return Ok(None);
    }
    anyhow::ensure!(
        endpoint.is_loopback(),
        "--source-ips {n}: several source addresses (127.0.0.x) work only against a loopback --url"
    );
    anyhow::ensure!(n <= 250, "--source-ips {n}: at most 250");
    Ok(Some(
        (1..=n as u8)
            .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_base_urls() {
        let e = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(e.authority, "127.0.0.1:8080");
        assert_eq!(e.ws_url, "ws://127.0.0.1:8080/ws");
        assert!(e.is_loopback());
        let e = Endpoint::parse("http://vigil.internal/").unwrap();
        assert_eq!(e.authority, "vigil.internal:80");
        assert_eq!(e.ws_url, "ws://vigil.internal:80/ws");
        assert!(!e.is_loopback());
        let e = Endpoint::parse("ws://localhost:9000/ws").unwrap();
        assert_eq!(e.ws_url, "ws://localhost:9000/ws");
        assert!(e.is_loopback());
        let e = Endpoint::parse("http://[::1]:8080/vigil").unwrap();
        assert_eq!(e.authority, "[::1]:8080");
        assert_eq!(e.ws_url, "ws://[::1]:8080/vigil/ws");
        assert!(e.is_loopback());
        for bad in [
            "127.0.0.1:8080",
            "https://x:443",
            "ftp://x",
            "http://",
            "http://x:port",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn source_addresses_only_when_needed_and_on_loopback() {
        let local = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        let remote = Endpoint::parse("http://10.0.0.5:8080").unwrap();
        assert_eq!(source_ips(&local, 0, 10_000).unwrap(), None);
        let three = source_ips(&local, 0, 50_000).unwrap().unwrap();
        assert_eq!(three.len(), 3);
        assert_eq!(three[2], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
        assert_eq!(source_ips(&local, 2, 10).unwrap().unwrap().len(), 2);
        assert_eq!(source_ips(&remote, 0, 50_000).unwrap(), None);
        assert!(source_ips(&remote, 2, 10).is_err());
        assert!(source_ips(&local, 300, 10).is_err());
    }
}
