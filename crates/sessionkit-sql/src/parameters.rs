//! Query parameters of database URLs: sqlx ignores a PostgreSQL or MySQL one it does
//! not know, so a typo such as `sslmod=require` would connect without TLS and say
//! nothing. [`check`] refuses it instead, naming it only when it reads as a name.

use crate::Error;

/// The parameters sqlx 0.8 reads from a PostgreSQL URL (and `options[<name>]`).
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: Known = Known {
    database: "PostgreSQL",
    names: &[
        "sslmode",
        "ssl-mode",
        "sslrootcert",
        "ssl-root-cert",
        "ssl-ca",
        "sslcert",
        "ssl-cert",
        "sslkey",
        "ssl-key",
        "statement-cache-capacity",
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "application_name",
        "options",
    ],
    bracketed: Some("options["),
};

/// The parameters sqlx 0.8 reads from a MySQL or MariaDB URL.
#[cfg(feature = "mysql")]
pub(crate) const MYSQL: Known = Known {
    database: "MySQL",
    names: &[
        "sslmode",
        "ssl-mode",
        "sslca",
        "ssl-ca",
        "charset",
        "collation",
        "sslcert",
        "ssl-cert",
        "sslkey",
        "ssl-key",
        "statement-cache-capacity",
        "socket",
        "timezone",
        "time-zone",
    ],
    bracketed: None,
};

/// The parameters sqlx 0.8 reads from a SQLite URL (sqlx refuses others itself, but
/// its message repeats the text whatever it is).
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: Known = Known {
    database: "SQLite",
    names: &["mode", "cache", "immutable", "vfs"],
    bracketed: None,
};

/// The parameters one database's URLs take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    database: &'static str,
    names: &'static [&'static str],
    /// A prefix of parameters of the form `<prefix>name]`.
    bracketed: Option<&'static str>,
}

impl Known {
    fn knows(&self, name: &str) -> bool {
        self.names.contains(&name)
            || self
                .bracketed
                .is_some_and(|prefix| name.starts_with(prefix) && name.ends_with(']'))
    }
}

/// Parameters of libpq (PostgreSQL's C client, whose URLs many providers hand out)
/// that sqlx does not read: named as such rather than as unknown.
#[cfg(feature = "postgres")]
const LIBPQ_ONLY: &[&str] = &[
    "channel_binding",
    "client_encoding",
    "connect_timeout",
    "fallback_application_name",
    "gssencmode",
    "gsslib",
    "keepalives",
    "keepalives_count",
    "keepalives_idle",
    "keepalives_interval",
    "krbsrvname",
    "load_balance_hosts",
    "passfile",
    "replication",
    "require_auth",
    "requirepeer",
    "service",
    "ssl_max_protocol_version",
    "ssl_min_protocol_version",
    "sslcertmode",
    "sslcompression",
    "sslcrl",
    "sslcrldir",
    "sslnegotiation",
    "sslpassword",
    "sslsni",
    "target_session_attrs",
    "tcp_user_timeout",
];

/// Refuses the first query parameter of `url` that `known` does not list.
pub(crate) fn check(url: &str, known: Known) -> Result<(), Error> {
    use sessionkit_core::store::unknown_url_parameter;
    #[cfg(feature = "postgres")]
    let unsupported: &[&str] = if known.database == POSTGRES.database {
        LIBPQ_ONLY
    } else {
        &[]
    };
    #[cfg(not(feature = "postgres"))]
    let unsupported: &[&str] = &[];
    let knows = |name: &str| known.knows(name) || unsupported.contains(&name);
    if let Some(name) = unknown_url_parameter(url, knows) {
        return Err(Error::UnknownUrlParameter {
            name,
            database: known.database,
            known: known.names.join(", "),
        });
    }
    match unknown_url_parameter(url, |name| !unsupported.contains(&name)) {
        Some(name) => Err(Error::UnsupportedUrlParameter {
            name,
            database: known.database,
        }),
        None => Ok(()),
    }
}

/// The database a URL's path names (`mysql://user@host/<database>`), if any: what
/// follows the host (after the last `@`, which ends any user info) up to the query.
#[cfg(feature = "mysql")]
pub(crate) fn database_name(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let (_, path) = rest.split_once('/')?;
    let name = path.split(['?', '#']).next().unwrap_or_default();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str, known: Known) -> Option<String> {
        check(url, known).err().map(|e| e.to_string())
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_urls_refuse_a_misspelt_parameter_and_keep_every_sqlx_one() {
        assert_eq!(check("postgres://u@h/db", POSTGRES).ok(), Some(()));
        let url = "postgres://u@h/db?sslmode=disable&application_name=web&options[search_path]=x#f";
        assert_eq!(check(url, POSTGRES).ok(), Some(()));
        let message = refused("postgres://u:pw@h/db?sslmod=require", POSTGRES);
        assert!(message.as_deref().is_some_and(|m| m.contains("`sslmod`")
            && m.contains("PostgreSQL URLs take sslmode")
            && !m.contains("pw")));
        assert!(refused("postgres://u@h/db?tabel=web", POSTGRES).is_some());
        let libpq = refused(
            "postgres://u@h/db?sslmode=require&connect_timeout=5",
            POSTGRES,
        );
        assert!(
            libpq.is_some_and(|m| m.contains("`connect_timeout` is a libpq parameter")),
            "a well-known parameter sqlx ignores is named as such"
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_question_mark_in_an_unencoded_password_is_left_to_sqlx() {
        let url = "postgres://app:Sup3r?Secret=1@127.0.0.1:1/test";
        assert_eq!(check(url, POSTGRES).ok(), Some(()));
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_urls_name_an_unknown_parameter_but_never_echo_pasted_text() {
        assert_eq!(
            check("sqlite://s.db?mode=rwc&cache=shared", SQLITE).ok(),
            Some(())
        );
        let named = refused("sqlite://s.db?mdoe=rwc", SQLITE);
        assert!(named.is_some_and(|m| m.contains("`mdoe`")));
        let hidden = refused("sqlite://s.db?Tr0ub4dor3xK9", SQLITE);
        assert!(hidden.is_some_and(|m| !m.contains("Tr0ub4dor3xK9")));
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn mysql_urls_refuse_a_misspelt_parameter_and_keep_every_sqlx_one() {
        let url = "mysql://root@h/db?ssl-mode=disabled&charset=utf8mb4&timezone=%2B00:00";
        assert_eq!(check(url, MYSQL).ok(), Some(()));
        let message = refused("mysql://root@h/db?charst=utf8", MYSQL);
        assert!(message.is_some_and(|m| m.contains("`charst`") && m.contains("MySQL")));
        assert_eq!(database_name("mysql://r:p/w@h:3306/test?x=1"), Some("test"));
        for url in [
            "mysql://root@h:3306",
            "mysql://root@h:3306/",
            "mysql://h/?charset=x",
        ] {
            assert_eq!(database_name(url), None, "{url}");
        }
        // PostgreSQL's bracketed options are not MySQL's.
        assert!(refused("mysql://root@h/db?options[a]=b", MYSQL).is_some());
    }
}
