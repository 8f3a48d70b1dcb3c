//! Request checks that need no database: Host/Origin policy and where the key is.

use http::HeaderMap;

/// Which `Host` and `Origin` values are accepted (MCP 2025-11-25 "Security Warning": servers
/// MUST validate `Origin`; DNS-rebinding protection also checks `Host`).
///
/// Loopback names (`localhost`, `127.0.0.1`, `[::1]`, any port) are always accepted, as is a
/// request without `Origin` (non-browser clients). Anything else must be listed.
#[derive(Clone, Debug, Default)]
pub struct HostPolicy {
    /// Extra accepted hostnames, with or without `:port` (e.g. `mcp.example.com`).
    pub hosts: Vec<String>,
    /// Extra accepted origins, `scheme://host[:port]` (e.g. `https://app.example.com`).
    pub origins: Vec<String>,
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

/// `host:port` or `[v6]:port` → host.
fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().map_or(authority, |h| if h == "::1" { "[::1]" } else { h });
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { authority })
}

impl HostPolicy {
    /// Checks the `Host` and `Origin` headers.
    ///
    /// # Errors
    /// A sentence naming the refused value.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        if let Some(host) = headers.get(http::header::HOST) {
            let host = host.to_str().map_err(|_| "unreadable Host header".to_owned())?;
            let name = strip_port(host).to_ascii_lowercase();
            let listed = self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(&name));
            if !is_loopback(&name) && !listed {
                return Err(format!("Host '{host}' is not allowed"));
            }
        }
        if let Some(origin) = headers.get(http::header::ORIGIN) {
            let origin = origin.to_str().map_err(|_| "unreadable Origin header".to_owned())?;
            let authority = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            let name = strip_port(authority).to_ascii_lowercase();
            let listed = self.origins.iter().any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
            let http_scheme = origin.starts_with("http://") || origin.starts_with("https://");
            if !(listed || (http_scheme && is_loopback(&name))) {
                return Err(format!("Origin '{origin}' is not allowed"));
            }
        }
        Ok(())
    }
}

/// The presented API key: `Authorization: Bearer <key>`, or `X-API-Key` (the original's header).
pub(crate) fn api_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then_some(token.trim());
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim)
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::{HostPolicy, api_key};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn loopback_passes_and_strangers_are_refused() {
        let policy = HostPolicy::default();
        assert!(policy.check(&headers(&[("host", "127.0.0.1:7410")])).is_ok());
        assert!(policy.check(&headers(&[("host", "localhost:1"), ("origin", "http://localhost:3000")])).is_ok());
        assert!(policy.check(&headers(&[("host", "[::1]:7410")])).is_ok());
        assert!(policy.check(&headers(&[("host", "evil.example")])).is_err());
        assert!(policy.check(&headers(&[("host", "127.0.0.1"), ("origin", "http://evil.example")])).is_err());
        assert!(policy.check(&headers(&[("host", "127.0.0.1"), ("origin", "null")])).is_err());
    }

    #[test]
    fn listed_names_pass() {
        let policy =
            HostPolicy { hosts: vec!["mcp.example.com".into()], origins: vec!["https://app.example.com".into()] };
        assert!(
            policy.check(&headers(&[("host", "mcp.example.com:443"), ("origin", "https://app.example.com")])).is_ok()
        );
        assert!(
            policy.check(&headers(&[("host", "mcp.example.com"), ("origin", "https://other.example.com")])).is_err()
        );
    }

    #[test]
    fn keys_come_from_bearer_or_x_api_key() {
        assert_eq!(api_key(&headers(&[("authorization", "Bearer wmk_abc")])), Some("wmk_abc"));
        assert_eq!(api_key(&headers(&[("authorization", "bearer  wmk_abc ")])), Some("wmk_abc"));
        assert_eq!(api_key(&headers(&[("x-api-key", "wmk_abc")])), Some("wmk_abc"));
        assert_eq!(api_key(&headers(&[("authorization", "Basic xyz")])), None);
        assert_eq!(api_key(&headers(&[])), None);
    }
}
