//! `[nats] url`: one server, or a comma-separated list of the members of a cluster
//! (`nats://a:4222,nats://b:4222`). The client connects to one of them and fails over to the
//! others (and to those the cluster announces).

use std::str::FromStr as _;

use async_nats::ServerAddr;

/// The servers of a `[nats] url` list, in order.
///
/// # Errors
/// A message naming (by position, since a URL may carry credentials) the entry that is empty
/// or not a server URL.
pub fn server_addrs(urls: &str) -> Result<Vec<ServerAddr>, String> {
    urls.split(',')
        .map(str::trim)
        .enumerate()
        .map(|(i, url)| {
            let n = i + 1;
            if url.is_empty() {
                return Err(format!("server {n} of the comma-separated list is empty"));
            }
            // The URL itself is not quoted: it may carry credentials.
            ServerAddr::from_str(url)
                .map_err(|e| format!("server {n} is not a NATS server URL ({e})"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_names_every_server() {
        let addrs = server_addrs("nats://127.0.0.1:4222, nats://127.0.0.1:4223").unwrap();
        assert_eq!(addrs.len(), 2);
        assert_eq!(addrs[1].port(), 4223);
    }

    #[test]
    fn an_empty_or_bad_entry_is_named() {
        assert!(server_addrs("nats://a:1,,nats://b:2")
            .unwrap_err()
            .contains("server 2 of the comma-separated list is empty"));
        let bad = server_addrs("nats://a:1,nats://u:secret@a:notaport").unwrap_err();
        assert!(bad.contains("server 2 is not a NATS server URL"), "{bad}");
        assert!(!bad.contains("secret"), "{bad}");
    }
}
