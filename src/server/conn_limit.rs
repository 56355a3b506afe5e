//! Open connections per client, for the HTTP and SMTP accept loops: a client (IPv4
//! address, IPv6 /64) may hold at most a set number at once, so a few hundred idle
//! sockets from one host cannot take every slot.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// How many connections each client has open.
#[derive(Default)]
pub struct PerClient(Mutex<HashMap<IpAddr, usize>>);

/// One client's share, given back when its connection ends.
pub struct Slot {
    table: Arc<PerClient>,
    key: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut t = self.table.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = t.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    t.remove(&key);
                }
            }
        }
    }
}

/// The key a client's connections are counted under: its IPv4 address, its IPv6 /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl PerClient {
    /// A slot for `key` when it has fewer than `max` connections open.
    pub fn take(self: &Arc<Self>, key: Option<IpAddr>, max: usize) -> Option<Slot> {
        if let Some(k) = key {
            let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let n = t.entry(k).or_insert(0);
            if *n >= max {
                return None;
            }
            *n += 1;
        }
        Some(Slot {
            table: self.clone(),
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(client_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_key(mapped), v4);
    }

    #[test]
    fn a_client_gets_at_most_its_share_and_gets_it_back() {
        let t = Arc::new(PerClient::default());
        let k = Some("192.0.2.1".parse().unwrap());
        let a = t.take(k, 2).unwrap();
        let _b = t.take(k, 2).unwrap();
        assert!(t.take(k, 2).is_none());
        assert!(t.take(Some("192.0.2.2".parse().unwrap()), 2).is_some());
        drop(a);
        assert!(t.take(k, 2).is_some());
        // Trusted proxies have no key and no per-client limit.
        assert!((0..10).all(|_| t.take(None, 2).is_some()));
    }
}
