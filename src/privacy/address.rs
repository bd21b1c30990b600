//! Shortening stored client addresses to the network they came from.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address with its host part cleared: IPv4 to its /24 (`203.0.113.0`), IPv6 to its /48
/// (`2001:db8:1::`); an IPv4 address written as IPv6 (`::ffff:203.0.113.7`) counts as IPv4.
/// `None` for text that is not an address: it is cleared rather than kept.
pub fn truncate(stored: &str) -> Option<String> {
    let ip: IpAddr = stored.trim().parse().ok()?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    Some(match ip {
        IpAddr::V4(v4) => Ipv4Addr::from(u32::from(v4) & 0xffff_ff00).to_string(),
        IpAddr::V6(v6) => Ipv6Addr::from(u128::from(v6) & !0u128 << 80).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn addresses_keep_their_network_only() {
        let cases = [
            ("203.0.113.77", Some("203.0.113.0")),
            ("203.0.113.0", Some("203.0.113.0")),
            ("2001:db8:1:2:3:4:5:6", Some("2001:db8:1::")),
            ("2001:db8:abcd:ffff::1", Some("2001:db8:abcd::")),
            ("::ffff:198.51.100.9", Some("198.51.100.0")),
            ("::1", Some("::")),
            ("not an address", None),
            ("", None),
        ];
        for (stored, expected) in cases {
            assert_eq!(truncate(stored).as_deref(), expected, "{stored}");
        }
    }

    #[test]
    fn truncating_twice_changes_nothing() {
        for ip in ["192.0.2.200", "2001:db8:5:6::7"] {
            let once = truncate(ip).unwrap();
            assert_eq!(truncate(&once).unwrap(), once);
        }
    }
}
