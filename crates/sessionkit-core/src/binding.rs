//! Optional binding of a session to the client that created it.

use std::net::IpAddr;

use crate::ClientInfo;

/// How strictly a session is tied to its client. Off by default: user agents change on
/// browser updates and addresses change on mobile networks, so binding trades
/// convenience for protection against a stolen cookie used elsewhere. On mismatch the
/// session is flushed and the event logged as suspicious.
///
/// # Examples
///
/// ```
/// use sessionkit_core::Binding;
///
/// // Same browser, same /24 (IPv4) or /64 (IPv6) network.
/// let binding = Binding { user_agent: true, address_prefix: Some((24, 64)) };
/// assert!(binding.is_on());
/// assert!(!Binding::default().is_on());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Binding {
    /// The `User-Agent` must be the one that created the session.
    pub user_agent: bool,
    /// The address must share this many leading bits (IPv4, IPv6) with the one that
    /// created the session; `(32, 128)` means the exact address.
    pub address_prefix: Option<(u8, u8)>,
}

impl Binding {
    /// Whether any check is on.
    pub fn is_on(&self) -> bool {
        self.user_agent || self.address_prefix.is_some()
    }

    /// Whether a request from `now` may use a session created by `origin`. Missing
    /// information on either side never matches a check that is on.
    pub fn allows(&self, origin: &ClientInfo, now: &ClientInfo) -> bool {
        if self.user_agent && (origin.user_agent.is_none() || origin.user_agent != now.user_agent) {
            return false;
        }
        if let Some((v4, v6)) = self.address_prefix {
            let parse = |a: &Option<String>| a.as_deref().and_then(|a| a.parse::<IpAddr>().ok());
            return match (parse(&origin.address), parse(&now.address)) {
                (Some(a), Some(b)) => same_prefix(a, b, v4, v6),
                _ => false,
            };
        }
        true
    }
}

fn same_prefix(a: IpAddr, b: IpAddr, v4: u8, v6: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            masked(u128::from(u32::from(a)), u128::from(u32::from(b)), 32, v4)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => masked(u128::from(a), u128::from(b), 128, v6),
        _ => false,
    }
}

fn masked(a: u128, b: u128, width: u32, bits: u8) -> bool {
    let bits = u32::from(bits).min(width);
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ua: &str, addr: &str) -> ClientInfo {
        ClientInfo {
            user_agent: Some(ua.into()),
            address: Some(addr.into()),
        }
    }

    #[test]
    fn user_agent_binding_refuses_another_browser() {
        let b = Binding {
            user_agent: true,
            address_prefix: None,
        };
        assert!(b.allows(&client("Firefox", "1.2.3.4"), &client("Firefox", "9.9.9.9")));
        assert!(!b.allows(&client("Firefox", "1.2.3.4"), &client("curl", "1.2.3.4")));
        assert!(!b.allows(&ClientInfo::default(), &client("Firefox", "1.2.3.4")));
    }

    #[test]
    fn address_prefix_binding_compares_leading_bits() {
        let b = Binding {
            user_agent: false,
            address_prefix: Some((24, 64)),
        };
        assert!(b.allows(&client("a", "10.1.2.3"), &client("b", "10.1.2.200")));
        assert!(!b.allows(&client("a", "10.1.2.3"), &client("a", "10.1.3.3")));
        assert!(b.allows(&client("a", "2001:db8::1"), &client("a", "2001:db8::ffff")));
        assert!(!b.allows(
            &client("a", "2001:db8:0:1::1"),
            &client("a", "2001:db8:0:2::1")
        ));
        assert!(!b.allows(&client("a", "10.1.2.3"), &client("a", "::1")));
        let exact = Binding {
            user_agent: false,
            address_prefix: Some((32, 128)),
        };
        assert!(!exact.allows(&client("a", "10.1.2.3"), &client("a", "10.1.2.4")));
        assert!(!exact.allows(&client("a", "garbage"), &client("a", "10.1.2.4")));
    }
}
