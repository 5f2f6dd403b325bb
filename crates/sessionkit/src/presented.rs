//! What a request presented to the layer (its session cookie, its client), kept as the
//! raw header values until the handler first uses its session: a route that never
//! touches its session parses no cookie, decodes no id and formats no address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::header::{HeaderValue, COOKIE, USER_AGENT};
use http::Request;
use sessionkit_core::{ClientInfo, Presented, SessionId};

use crate::cookie_store::CookieSlot;
use crate::layer::Shared;

/// The longest user agent kept with a session, in bytes.
const MAX_USER_AGENT: usize = 256;

/// Where the session id comes from: searched on first use, where the first value of
/// the session cookie's name that reads as a session decides (a cookie of the same
/// name that another site of the domain set cannot hide the session's).
enum Cookie {
    /// The request's only `Cookie` header.
    Header(HeaderValue),
    /// Several `Cookie` headers (HTTP/2 clients may split cookies into one header
    /// each), at least one with the session cookie's name.
    Headers(Vec<HeaderValue>),
}

/// Where the client's address comes from.
enum Address {
    /// The configured client-address header (set by the application's proxy).
    Header(HeaderValue),
    /// The connection's peer (axum's `ConnectInfo`).
    Peer(IpAddr),
}

/// A request's session cookie and client, as presented.
pub(crate) struct RawRequest {
    shared: Arc<Shared>,
    cookie: Option<Cookie>,
    /// With the cookie store: where the cookie's session goes once opened.
    slot: Option<Arc<CookieSlot>>,
    user_agent: Option<HeaderValue>,
    address: Option<Address>,
}

impl RawRequest {
    /// Keeps what `req` presented (header values are shared, not copied); with the
    /// cookie store, `slot` receives the cookie's session when it is opened.
    pub(crate) fn of<B>(
        shared: &Arc<Shared>,
        req: &Request<B>,
        slot: Option<Arc<CookieSlot>>,
    ) -> Self {
        let headers = req.headers();
        let mut cookies = headers.get_all(COOKIE).iter();
        let cookie = match (cookies.next(), cookies.next()) {
            (None, _) => None,
            (Some(only), None) => Some(Cookie::Header(only.clone())),
            (Some(_), Some(_)) => shared
                .cookie
                .find(headers)
                .map(|_| Cookie::Headers(headers.get_all(COOKIE).iter().cloned().collect())),
        };
        let address = match &shared.client_ip_header {
            Some(name) => headers.get(name).cloned().map(Address::Header),
            None => req
                .extensions()
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| Address::Peer(c.0.ip())),
        };
        Self {
            shared: shared.clone(),
            cookie,
            slot,
            user_agent: headers.get(USER_AGENT).cloned(),
            address,
        }
    }

    fn address(&self) -> Option<String> {
        let ip = match self.address.as_ref()? {
            // For `x-forwarded-for`, the last entry: the one the application's proxy
            // appended.
            Address::Header(value) => value
                .to_str()
                .ok()?
                .rsplit(',')
                .next()?
                .trim()
                .parse::<IpAddr>()
                .ok()?,
            Address::Peer(ip) => *ip,
        };
        Some(ip.to_string())
    }
}

impl Presented for RawRequest {
    /// The request sent cookies (which of them is the session's, if any, is found on
    /// first use).
    fn may_carry_id(&self) -> bool {
        self.cookie.is_some()
    }

    fn id(&self) -> Option<SessionId> {
        let shared = &self.shared;
        let read = |value: &str| shared.read_id(value, self.slot.as_deref());
        match self.cookie.as_ref()? {
            Cookie::Header(header) => shared.cookie.values_in(header).find_map(read),
            Cookie::Headers(headers) => headers
                .iter()
                .flat_map(|header| shared.cookie.values_in(header))
                .find_map(read),
        }
    }

    fn client(&self) -> Option<ClientInfo> {
        let user_agent = self
            .user_agent
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(|ua| truncated(ua, MAX_USER_AGENT).to_owned());
        Some(ClientInfo {
            user_agent,
            address: self.address(),
        })
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let end = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::truncated;

    #[test]
    fn user_agents_are_cut_at_a_character_boundary_never_inside_one() {
        assert_eq!(truncated("curl/8", 256), "curl/8");
        assert_eq!(truncated(&"a".repeat(300), 256).len(), 256);
        // 'é' is two bytes: cutting at 3 would split the second one.
        assert_eq!(truncated("aéé", 4), "aé");
        assert_eq!(truncated("aéé", 3), "aé");
        assert_eq!(truncated("éé", 1), "");
    }
}
