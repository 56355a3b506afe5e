//! Where webhook requests may go. Unless the operator sets `webhook_allow_private`, a
//! webhook reaches public addresses only: the resolver the HTTP client uses drops every
//! address that is not globally routable (so a name that resolves, or re-resolves, to
//! `127.0.0.1` or `169.254.169.254` cannot be used to reach the server's own network), and
//! IP-literal URLs, which reqwest connects to without resolving, are checked here.

use crate::server::config::Mode;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The rules a webhook URL must satisfy, from the mode and `webhook_allow_private`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlRules {
    /// Production mode: `https://` only.
    pub require_https: bool,
    /// `webhook_allow_private`: loopback, private, link-local and other non-global
    /// addresses are allowed too.
    pub allow_private: bool,
}

impl UrlRules {
    /// What the settings allow: https in production mode; public addresses unless
    /// `webhook_allow_private`.
    pub fn new(s: &crate::server::config::Settings) -> Self {
        Self {
            require_https: s.mode == Mode::Production,
            allow_private: s.webhooks.webhook_allow_private,
        }
    }
}

/// Checks a webhook URL against `rules`: an http(s) URL with a host, https in production
/// mode, and no non-global IP literal unless private addresses are allowed. The message
/// is for the person who typed the URL.
pub fn check_url(url: &str, rules: UrlRules) -> Result<reqwest::Url, String> {
    let url = url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        return Err(format!(
            "the webhook URL must start with http:// or https://, got {url:?}"
        ));
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| format!("{url:?} is not a valid URL"))?;
    if rules.require_https && parsed.scheme() != "https" {
        return Err("webhook URLs must start with https:// in production mode".into());
    }
    let ip = match parsed.host() {
        Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(format!("{url:?} has no host")),
    };
    if let Some(ip) = ip
        && !rules.allow_private
        && !is_global(ip)
    {
        return Err(format!(
            "the webhook URL names {ip}, which is not a public address (the operator can allow private addresses with webhook_allow_private)"
        ));
    }
    Ok(parsed)
}

/// Whether `ip` is a globally routable unicast address: not unspecified, loopback,
/// private (RFC 1918, unique local), shared (CGNAT), link-local, documentation,
/// benchmarking, reserved, broadcast or multicast. IPv4 addresses embedded in IPv6
/// (mapped, compatible, NAT64, 6to4) are judged as the IPv4 address they carry.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_global_v4(a),
        IpAddr::V6(a) => is_global_v6(a),
    }
}

fn is_global_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    !(o0 == 0                                    // "this network" (0.0.0.0/8)
        || o0 == 10                              // private
        || (o0 == 100 && (64..128).contains(&o1)) // shared address space (CGNAT)
        || o0 == 127                             // loopback
        || (o0 == 169 && o1 == 254)              // link-local (cloud metadata)
        || (o0 == 172 && (16..32).contains(&o1)) // private
        || (o0 == 192 && o1 == 0 && o2 == 0)     // IETF protocol assignments
        || (o0 == 192 && o1 == 0 && o2 == 2)     // documentation
        || (o0 == 192 && o1 == 88 && o2 == 99)   // 6to4 relay anycast (deprecated)
        || (o0 == 192 && o1 == 168)              // private
        || (o0 == 198 && (18..20).contains(&o1)) // benchmarking
        || (o0 == 198 && o1 == 51 && o2 == 100)  // documentation
        || (o0 == 203 && o1 == 0 && o2 == 113)   // documentation
        || o0 >= 224) // multicast, reserved, broadcast
}

fn is_global_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    let embedded_v4 =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    match s {
        // Unspecified, loopback and the deprecated IPv4-compatible form (::a.b.c.d).
        [0, 0, 0, 0, 0, 0, hi, lo] => hi != 0 && is_global_v4(embedded_v4(hi, lo)),
        // NAT64 (64:ff9b::/96) reaches the IPv4 address it carries.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => is_global_v4(embedded_v4(hi, lo)),
        // 6to4 (2002::/16) carries an IPv4 address in its next 32 bits.
        [0x2002, hi, lo, ..] => is_global_v4(embedded_v4(hi, lo)),
        // Local-use NAT64 (64:ff9b:1::/48), discard-only (100::/64).
        [0x64, 0xff9b, 1, ..] | [0x100, 0, 0, 0, ..] => false,
        // IETF protocol assignments (2001::/23, Teredo among them), documentation.
        [0x2001, b, ..] if b < 0x200 => false,
        [0x2001, 0xdb8, ..] => false,
        [0x3fff, b, ..] if b < 0x1000 => false,
        // Unique local (fc00::/7), link-local (fe80::/10), site-local (fec0::/10),
        // multicast (ff00::/8).
        [first, ..] => {
            !((first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || (first & 0xff00) == 0xff00)
        }
    }
}

/// The DNS resolver of the webhook client when private addresses are not allowed: the
/// system resolver, with every non-global address dropped. Checked at every connection,
/// so a name that answered a public address when the webhook was saved and a private one
/// now (DNS rebinding) is refused.
pub struct PublicOnly;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(addrs) => addrs.collect(),
                Err(e) => return Err(BoxError::from(e)),
            };
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_global(a.ip())).collect();
            if public.is_empty() {
                return Err(BoxError::from(format!(
                    "{host} has no public address (private, loopback and link-local addresses are refused unless webhook_allow_private is set)"
                )));
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(s: &str) -> bool {
        is_global(s.parse().unwrap())
    }

    #[test]
    fn non_global_addresses_are_recognised() {
        for a in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
            "2001:db8::1",
            "2001::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
        ] {
            assert!(!global(a), "{a} is not global");
        }
    }

    #[test]
    fn public_addresses_are_global() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "169.253.1.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert!(global(a), "{a} is global");
        }
    }

    #[test]
    fn urls_are_checked_against_the_rules() {
        let dev = UrlRules {
            require_https: false,
            allow_private: false,
        };
        assert!(check_url("http://hooks.example.com/x", dev).is_ok());
        assert!(check_url("http://93.184.216.34/x", dev).is_ok());
        for bad in [
            "http://127.0.0.1:8080/x",
            "http://[::1]/x",
            "http://[::ffff:10.0.0.1]/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://2130706433/x",
            "http://0x7f.1/x",
        ] {
            let e = check_url(bad, dev).unwrap_err();
            assert!(e.contains("not a public address"), "{bad}: {e}");
        }
        let open = UrlRules {
            allow_private: true,
            ..dev
        };
        assert!(check_url("http://127.0.0.1:8080/x", open).is_ok());
        let prod = UrlRules {
            require_https: true,
            allow_private: false,
        };
        assert!(
            check_url("http://hooks.example.com/x", prod)
                .unwrap_err()
                .contains("https://")
        );
        assert!(check_url("https://hooks.example.com/x", prod).is_ok());
    }
}
