//! Reading a Redis URL into a topology: one server, Sentinel, or Cluster.
//!
//! Single servers use redis-rs's own URL forms unchanged. Sentinel and Cluster list
//! several hosts, which the `url` crate cannot parse, so their URLs are split here and
//! each host becomes a single-server URL for redis-rs.

use crate::Error;

/// What a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    /// One server: the URL as redis-rs reads it.
    Single { url: String },
    /// A master found through Sentinel.
    Sentinel {
        /// `redis://host:port` (or `rediss://`) of each sentinel, without credentials.
        sentinels: Vec<String>,
        /// The monitored master's name.
        master: String,
        /// `redis://[credentials@]host:port/db` of the first sentinel, read for the
        /// credentials and database that apply to the master.
        master_settings: String,
        /// Whether the master (and the sentinels) speak TLS.
        tls: bool,
    },
    /// A cluster: a URL per seed node, each with the credentials.
    Cluster { nodes: Vec<String> },
}

/// Splits `url` into its topology.
pub(crate) fn parse(url: &str) -> Result<Topology, Error> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(Error::InvalidUrl {
            reason: "no scheme (expected e.g. redis://host:6379)",
        });
    };
    let scheme = scheme.to_ascii_lowercase();
    let tls = match scheme.as_str() {
        "rediss" | "valkeys" | "rediss+sentinel" | "rediss+cluster" => true,
        "redis" | "valkey" | "redis+unix" | "unix" | "redis+sentinel" | "redis+cluster" => false,
        _ => return Err(Error::UnsupportedScheme { scheme }),
    };
    if tls && !cfg!(feature = "tls") {
        return Err(Error::TlsDisabled { scheme });
    }
    let single = if tls { "rediss" } else { "redis" };
    match scheme.as_str() {
        "redis+sentinel" | "rediss+sentinel" => {
            let parts = split(rest)?;
            let mut path = parts.path.split('/').filter(|s| !s.is_empty());
            let master = path.next().ok_or(Error::InvalidUrl {
                reason: "a Sentinel URL names the master: redis+sentinel://host:port/mastername",
            })?;
            let db = path.next().unwrap_or("0");
            if path.next().is_some() || db.parse::<i64>().is_err() {
                return Err(Error::InvalidUrl {
                    reason: "a Sentinel URL's path is /mastername or /mastername/db",
                });
            }
            let sentinels = parts
                .hosts
                .iter()
                .map(|h| format!("{single}://{h}"))
                .collect();
            let master_settings = format!("{single}://{}{}/{db}", parts.userinfo, parts.hosts[0]);
            Ok(Topology::Sentinel {
                sentinels,
                master: master.to_owned(),
                master_settings,
                tls,
            })
        }
        "redis+cluster" | "rediss+cluster" => {
            let parts = split(rest)?;
            if !parts.path.trim_matches('/').is_empty() {
                return Err(Error::InvalidUrl {
                    reason:
                        "a Cluster URL has no database or path: redis+cluster://host:port,host:port",
                });
            }
            let nodes = parts
                .hosts
                .iter()
                .map(|h| format!("{single}://{}{h}", parts.userinfo))
                .collect();
            Ok(Topology::Cluster { nodes })
        }
        _ => {
            let parsed = redis::parse_redis_url(url).ok_or(Error::InvalidUrl {
                reason: "not a URL redis can read: check the host, and that the port is a \
                         number up to 65535",
            })?;
            // redis-rs reads `protocol`, and on a socket `db`, `user` and `pass`; it
            // ignores anything else, a typo included.
            let socket = matches!(parsed.scheme(), "unix" | "redis+unix" | "valkey+unix");
            let knows =
                |name: &str| name == "protocol" || socket && matches!(name, "db" | "user" | "pass");
            if let Some(name) = sessionkit_core::store::unknown_url_parameter(url, knows) {
                return Err(Error::UnknownUrlParameter { name });
            }
            Ok(Topology::Single {
                url: url.to_owned(),
            })
        }
    }
}

struct Parts<'a> {
    /// `user:pass@`, or empty.
    userinfo: &'a str,
    /// At least one `host:port`.
    hosts: Vec<&'a str>,
    path: &'a str,
}

fn split(rest: &str) -> Result<Parts<'_>, Error> {
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
    if hosts.iter().any(|h| h.is_empty()) {
        return Err(Error::InvalidUrl {
            reason: "expected host:port[,host:port...] after the scheme",
        });
    }
    // Before the path or in it: `redis+cluster://a:7000,b:7001?x=1` has no `/`.
    if rest.contains(['?', '#']) {
        if let Some(name) = sessionkit_core::store::unknown_url_parameter(rest, |_| false) {
            return Err(Error::UnknownUrlParameter { name });
        }
        return Err(Error::InvalidUrl {
            reason: "Sentinel and Cluster URLs take no query string or fragment",
        });
    }
    Ok(Parts {
        userinfo,
        hosts,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_server_urls_pass_through() -> Result<(), Error> {
        for url in [
            "redis://127.0.0.1:6379",
            "redis://:secret@127.0.0.1/2",
            "unix:///run/redis.sock",
        ] {
            assert_eq!(parse(url)?, Topology::Single { url: url.into() });
        }
        Ok(())
    }

    #[test]
    fn single_server_urls_refuse_unknown_parameters_and_ports_out_of_range() {
        for url in [
            "redis://127.0.0.1:6379/0?protocl=3",
            "redis://127.0.0.1:6379/0?prefix=app:",
            "redis://127.0.0.1:6379/?db=2",
        ] {
            assert!(
                matches!(parse(url), Err(Error::UnknownUrlParameter { .. })),
                "{url}"
            );
        }
        assert!(parse("redis://127.0.0.1:6379/0?protocol=resp3").is_ok());
        for url in [
            "redis+sentinel://127.0.0.1:26379/mymaster?prefx=1",
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001?prefx=1",
        ] {
            assert!(
                matches!(parse(url), Err(Error::UnknownUrlParameter { ref name }) if name == "`prefx`"),
                "{url}"
            );
        }
        assert!(parse("redis+unix:///run/redis.sock?db=2&pass=pw&protocol=2").is_ok());
        assert!(matches!(
            parse("redis://127.0.0.1:99999"),
            Err(Error::InvalidUrl { .. })
        ));
        let shown = parse("redis://h/0?protocl=3").err().map(|e| e.to_string());
        assert!(shown.is_some_and(|m| m.contains("`protocl`") && m.contains("protocol")));
    }

    #[test]
    fn sentinel_urls_list_sentinels_and_name_the_master() -> Result<(), Error> {
        let t = parse("redis+sentinel://:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster/3")?;
        assert_eq!(
            t,
            Topology::Sentinel {
                sentinels: vec![
                    "redis://127.0.0.1:26379".into(),
                    "redis://127.0.0.1:26380".into()
                ],
                master: "mymaster".into(),
                master_settings: "redis://:pw@127.0.0.1:26379/3".into(),
                tls: false,
            }
        );
        assert!(matches!(
            parse("redis+sentinel://127.0.0.1:26379"),
            Err(Error::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse("redis+sentinel://127.0.0.1:26379/m/x"),
            Err(Error::InvalidUrl { .. })
        ));
        Ok(())
    }

    #[test]
    fn cluster_urls_give_one_url_per_seed_with_credentials() -> Result<(), Error> {
        let t = parse("redis+cluster://u:p@127.0.0.1:7000, 127.0.0.1:7001")?;
        assert_eq!(
            t,
            Topology::Cluster {
                nodes: vec![
                    "redis://u:p@127.0.0.1:7000".into(),
                    "redis://u:p@127.0.0.1:7001".into()
                ]
            }
        );
        assert!(matches!(
            parse("redis+cluster://127.0.0.1:7000,,"),
            Err(Error::InvalidUrl { .. })
        ));
        Ok(())
    }

    #[test]
    fn unknown_schemes_and_missing_tls_are_clear_errors() {
        assert!(matches!(
            parse("memcache://127.0.0.1:11211"),
            Err(Error::UnsupportedScheme { scheme }) if scheme == "memcache"
        ));
        assert!(matches!(
            parse("127.0.0.1:6379"),
            Err(Error::InvalidUrl { .. })
        ));
        #[cfg(not(feature = "tls"))]
        for url in [
            "rediss://127.0.0.1",
            "rediss+cluster://127.0.0.1:7000",
            "rediss+sentinel://127.0.0.1:26379/m",
        ] {
            assert!(
                matches!(parse(url), Err(Error::TlsDisabled { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn errors_never_repeat_the_url() {
        let secret = "hunter2-secret";
        for url in [
            format!("redis+sentinel://:{secret}@h:1"),
            format!("redis+cluster://:{secret}@h:1/x"),
            format!("bogus://:{secret}@h:1"),
        ] {
            let message = parse(&url).map(|_| ()).err().map(|e| e.to_string());
            assert!(message.is_some(), "{url} should be refused");
            assert!(!message.unwrap_or_default().contains(secret));
        }
    }
}
