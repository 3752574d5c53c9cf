//! Who the client is: trusted proxy networks (`[http] trusted_proxies`), the client address
//! taken from `X-Forwarded-For` right to left past those proxies, and the key an address is
//! limited under (an IPv6 /64 is one client: one host usually holds the whole prefix).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

/// An IP network in CIDR notation (`"10.0.0.0/8"`, `"::1/128"`); a bare address is a single
/// host (`/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a network could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a network: expected an address with a prefix length, e.g. \"10.0.0.0/8\" or \"fd00::/8\"")]
pub struct BadNet(pub String);

impl IpNet {
    /// The network of `addr` with its first `prefix` bits (host bits are cleared).
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then(|| IpNet {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` lies in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

impl FromStr for IpNet {
    type Err = BadNet;

    fn from_str(s: &str) -> Result<IpNet, BadNet> {
        let bad = || BadNet(s.to_string());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpNet::new(addr, prefix).ok_or_else(bad)
    }
}

impl TryFrom<String> for IpNet {
    type Error = BadNet;

    fn try_from(s: String) -> Result<IpNet, BadNet> {
        s.parse()
    }
}

impl From<IpNet> for String {
    fn from(net: IpNet) -> String {
        net.to_string()
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `ip` with only its first `prefix` bits.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::from((bits & m).to_be_bytes())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, from dual-stack sockets) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The key a client address is limited under: IPv4 as it is, IPv6 by its /64.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        v6 @ IpAddr::V6(_) => mask(v6, 64),
        v4 => v4,
    }
}

/// The trusted proxies, and the client address of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    trusted: Vec<IpNet>,
}

impl Proxies {
    /// Proxies in `trusted` networks.
    pub fn new(trusted: &[IpNet]) -> Proxies {
        Proxies {
            trusted: trusted.to_vec(),
        }
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(ip))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the right-most
    /// `X-Forwarded-For` address that is not a trusted proxy (each proxy appends the address
    /// it received from, so only the part right of the last untrusted hop is believable). An
    /// entry that is not an address ends the walk at the proxy that passed it on.
    pub fn client_ip(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        let mut client = canonical(peer.ip());
        if !self.is_trusted(client) {
            return client;
        }
        // Several X-Forwarded-For headers form one list, in order.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("").split(','))
            .collect();
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                return client;
            };
            client = canonical(ip);
            if !self.is_trusted(client) {
                return client;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_contain() {
        assert!(net("10.0.0.0/8").contains(ip("10.200.1.2")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(
            net("10.1.2.3/8").contains(ip("10.9.9.9")),
            "host bits ignored"
        );
        assert!(net("192.168.1.7").contains(ip("192.168.1.7")));
        assert!(!net("192.168.1.7").contains(ip("192.168.1.8")));
        assert!(net("::1/128").contains(ip("::1")));
        assert!(net("fd00::/8").contains(ip("fdab::1")));
        assert!(!net("fd00::/8").contains(ip("10.0.0.1")));
        assert!(net("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(
            net("10.0.0.0/8").contains(ip("::ffff:10.0.0.1")),
            "v4-mapped"
        );
        assert_eq!(net("10.1.2.3/8").to_string(), "10.0.0.0/8");
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/x",
            "a/8",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(limit_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let proxies = Proxies::new(&[net("10.0.0.0/8"), net("::1/128")]);
        let from_proxy: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        // A client that sends its own header cannot choose its address: the proxy appends
        // the real one, and that is the right-most untrusted hop.
        let h = xff(&["1.2.3.4, 203.0.113.9"]);
        assert_eq!(proxies.client_ip(&h, from_proxy), ip("203.0.113.9"));
        // Proxies in a chain are skipped.
        let h = xff(&["203.0.113.9, 10.0.0.7", "10.0.0.8"]);
        assert_eq!(proxies.client_ip(&h, from_proxy), ip("203.0.113.9"));
        // Garbage ends the walk at the proxy that passed it on.
        let h = xff(&["203.0.113.9, junk, 10.0.0.7"]);
        assert_eq!(proxies.client_ip(&h, from_proxy), ip("10.0.0.7"));
        // No header: the proxy itself.
        assert_eq!(
            proxies.client_ip(&HeaderMap::new(), from_proxy),
            ip("10.0.0.5")
        );
        // From an untrusted peer the header is ignored.
        let direct: SocketAddr = "198.51.100.1:4000".parse().unwrap();
        let h = xff(&["1.2.3.4"]);
        assert_eq!(proxies.client_ip(&h, direct), ip("198.51.100.1"));
        // No trusted proxies: never read.
        let none = Proxies::default();
        assert_eq!(none.client_ip(&h, from_proxy), ip("10.0.0.5"));
        let v6: SocketAddr = "[::1]:4000".parse().unwrap();
        assert_eq!(
            proxies.client_ip(&xff(&["2001:db8::7"]), v6),
            ip("2001:db8::7")
        );
    }
}
