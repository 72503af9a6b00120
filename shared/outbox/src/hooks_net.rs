//! Where a database webhook may go: an endpoint's URL (`http(s)://…` or `fn:<function>`) and
//! the addresses an external host may resolve to.
//!
//! External URLs are refused when their host is, or resolves to, a loopback, private,
//! link-local, unspecified, multicast, broadcast, shared (CGNAT), documentation or otherwise
//! reserved address, unless `WEBHOOK_ALLOW_PRIVATE=true`. A function of this project
//! (`fn:<name>`) is always allowed: it is `{SUPABASE_URL}/functions/v1/<name>`, which the
//! operator configured, not the endpoint's owner.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where an endpoint's URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `fn:<name>`: a function of this project.
    Function(String),
    /// `http(s)://host…`: `host` without brackets, `ip` when the host is an address literal.
    External {
        url: String,
        host: String,
        ip: Option<IpAddr>,
    },
}

/// Whether `name` is a function name (`fn:` endpoints; no path or query tricks in the URL).
pub fn valid_function_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parse an endpoint's URL (the SQL checks the same shapes when the endpoint is created).
pub fn parse_target(url: &str) -> Result<Target, String> {
    if let Some(name) = url.strip_prefix("fn:") {
        return if valid_function_name(name) {
            Ok(Target::Function(name.to_owned()))
        } else {
            Err(format!("invalid function name {name:?}"))
        };
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid url: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("only http and https urls are delivered to".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("credentials in the url are refused".into());
    }
    let (host, ip) = match parsed.host() {
        Some(url::Host::Domain(d)) => (d.to_owned(), None),
        Some(url::Host::Ipv4(a)) => (a.to_string(), Some(IpAddr::V4(a))),
        Some(url::Host::Ipv6(a)) => (a.to_string(), Some(IpAddr::V6(a))),
        None => return Err("the url has no host".into()),
    };
    Ok(Target::External {
        url: parsed.to_string(),
        host,
        ip,
    })
}

/// Whether a webhook must not be sent to `ip` (unless private addresses are allowed).
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => forbidden_v4(a),
        IpAddr::V6(a) => forbidden_v6(a),
    }
}

fn forbidden_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || o0 == 0 // "this network"
        || (o0 == 100 && (64..128).contains(&o1)) // shared address space (CGNAT)
        || (o0 == 192 && o1 == 0 && o2 == 0) // IETF protocol assignments
        || (o0 == 198 && (18..20).contains(&o1)) // benchmarking
        || o0 >= 240 // reserved
}

fn forbidden_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = a.segments();
    a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: may embed any IPv4 address
        || (s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

/// The first forbidden address among `addrs`, if any.
pub fn first_forbidden(addrs: &[IpAddr]) -> Option<IpAddr> {
    addrs.iter().copied().find(|a| is_forbidden(*a))
}

/// `localhost` and its subdomains resolve to loopback by definition (RFC 6761), whatever DNS says.
pub fn is_localhost_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(is_forbidden(a.parse().unwrap()), "{a}");
        }
        for a in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_forbidden(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("fn:order-events"),
            Ok(Target::Function("order-events".into()))
        );
        assert!(parse_target("fn:../x").is_err());
        assert!(parse_target("ftp://x.example/").is_err());
        assert!(parse_target("https://u:p@x.example/").is_err());
        assert!(parse_target("not a url").is_err());
        match parse_target("http://[::1]:8080/x").unwrap() {
            Target::External { host, ip, .. } => {
                assert_eq!(host, "::1");
                assert_eq!(ip, Some("::1".parse().unwrap()));
            }
            t => panic!("{t:?}"),
        }
        match parse_target("https://Hooks.Example.com/a?b=1").unwrap() {
            Target::External { url, host, ip } => {
                assert_eq!(host, "hooks.example.com");
                assert_eq!(ip, None);
                assert_eq!(url, "https://hooks.example.com/a?b=1");
            }
            t => panic!("{t:?}"),
        }
        // Decimal and hex forms of an address are addresses (WHATWG parsing).
        match parse_target("http://2130706433/").unwrap() {
            Target::External { ip, .. } => assert_eq!(ip, Some("127.0.0.1".parse().unwrap())),
            t => panic!("{t:?}"),
        }
        assert!(is_localhost_name("LOCALHOST."));
        assert!(is_localhost_name("api.localhost"));
        assert!(!is_localhost_name("localhost.example.com"));
    }
}
