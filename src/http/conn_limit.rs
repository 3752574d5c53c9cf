//! Open connections per client address: one address (an IPv6 /64) may hold at most
//! `[http] max_connections_per_ip` of them, so a single client cannot take every slot of the
//! global cap and lock everyone else (and `/healthz`, `/readyz`) out. Trusted proxies are
//! exempt: many clients arrive through them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use super::proxy::{limit_key, Proxies};
use crate::telemetry::metrics::security_events;

/// Open connections by limit key, shared by the table and its slots.
type OpenTable = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Open connections by client address.
#[derive(Debug)]
pub struct PerIpConnections {
    max: usize,
    proxies: Proxies,
    open: OpenTable,
}

/// One admitted connection's place in its address's count; dropping it frees the place.
#[derive(Debug)]
pub struct IpSlot {
    held: Option<(IpAddr, OpenTable)>,
}

impl PerIpConnections {
    /// At most `max` connections per address, except from `proxies`.
    pub fn new(max: usize, proxies: Proxies) -> PerIpConnections {
        PerIpConnections {
            max: max.max(1),
            proxies,
            open: Arc::default(),
        }
    }

    /// A slot for a new connection from `peer`, or `None` if its address is at the cap
    /// (counted as a `connection_limit` security event).
    pub fn admit(&self, peer: IpAddr) -> Option<IpSlot> {
        if self.proxies.is_trusted(peer) {
            return Some(IpSlot { held: None });
        }
        let key = limit_key(peer);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            drop(open);
            security_events("connection_limit").increment(1);
            tracing::debug!(target: "security", client_ip = %peer, max = self.max,
                "connection refused: too many open connections from this address");
            return None;
        }
        *count += 1;
        Some(IpSlot {
            held: Some((key, self.open.clone())),
        })
    }

    /// Connections open from `peer`'s address.
    pub fn open(&self, peer: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&limit_key(peer)).copied().unwrap_or(0)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Some((key, open)) = self.held.take() {
            let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = open.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_at_most_its_share_and_proxies_are_exempt() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let limits = PerIpConnections::new(2, Proxies::new(&["10.0.0.0/8".parse().unwrap()]));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let first = limits.admit(a).unwrap();
        let _second = limits.admit(a).unwrap();
        assert!(limits.admit(a).is_none());
        assert!(limits.admit("192.0.2.2".parse().unwrap()).is_some());
        drop(first);
        assert_eq!(limits.open(a), 1);
        assert!(limits.admit(a).is_some());
        let v6a = limits.admit("2001:db8::1".parse().unwrap()).unwrap();
        let v6b = limits.admit("2001:db8::2".parse().unwrap()).unwrap();
        assert!(
            limits.admit("2001:db8::3".parse().unwrap()).is_none(),
            "one /64"
        );
        drop((v6a, v6b));
        let through_proxy: Vec<IpSlot> = (0..10).filter_map(|_| limits.admit(proxy)).collect();
        assert_eq!(through_proxy.len(), 10);
    }
}
