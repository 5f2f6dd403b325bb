//! Errors of setting up a SQL store (connecting, migrating, configuring).
//!
//! Errors of the store operations themselves are [`sessionkit_core::StoreError`]s.
//! No message here contains a database URL (it may hold a password) or a session id.

/// Why a SQL store could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The table name is not a plain SQL identifier.
    #[error(
        "invalid session table name {name:?}: use 1 to 63 ASCII letters, digits or \
         underscores, not starting with a digit"
    )]
    InvalidTableName {
        /// The rejected name (at most its first 80 characters).
        name: String,
    },
    /// The URL does not start with a scheme this crate knows.
    #[error(
        "unsupported database URL scheme {scheme:?}: expected sqlite:, postgres:, \
         postgresql:, mysql: or mariadb:"
    )]
    UnsupportedScheme {
        /// The URL's scheme (never the rest of the URL, which may hold a password).
        scheme: String,
    },
    /// The URL names a database whose support was not compiled in.
    #[error(
        "database URL scheme `{scheme}` needs the `{feature}` feature of sessionkit-sql \
         (sessionkit-sql = {{ features = [\"{feature}\"] }})"
    )]
    FeatureDisabled {
        /// The URL's scheme.
        scheme: &'static str,
        /// The cargo feature that adds support for it.
        feature: &'static str,
    },
    /// The URL has a query parameter the driver does not read. sqlx would ignore it, so
    /// a typo (`sslmod=require`) would change nothing and say nothing.
    #[error("unknown {database} URL parameter {name}; {database} URLs take {known}")]
    UnknownUrlParameter {
        /// The parameter's name, quoted, or a note that it is not shown (text that
        /// does not look like a name is never repeated: it may be a pasted secret).
        name: String,
        /// The database the URL names.
        database: &'static str,
        /// The parameters such URLs take, comma-separated.
        known: String,
    },
    /// The URL has a parameter of another client library (libpq) that sqlx does not
    /// read: it would be ignored, and it often matters (`target_session_attrs`,
    /// `channel_binding`).
    #[error(
        "{name} is a libpq parameter that sqlx, which {database} stores use, does not read: \
         remove it from the URL (it would be ignored)"
    )]
    UnsupportedUrlParameter {
        /// The parameter's name, quoted.
        name: String,
        /// The database the URL names.
        database: &'static str,
    },
    /// A MySQL URL names no database (`mysql://user@host/<database>`): every query
    /// would fail with "no database selected".
    #[error("the MySQL URL names no database: mysql://user@host:3306/<database>")]
    NoDatabase,
    /// The URL could not be parsed, or connecting failed.
    #[error("could not connect to the session database: {0}")]
    Connect(#[source] sqlx::Error),
    /// Creating or upgrading the session table failed.
    #[error("session table migration failed while {context}")]
    Migrate {
        /// The step that failed.
        context: &'static str,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// Another process held the session table's migration lock for too long.
    #[error("another process held the session table's migration lock for over {0:?}")]
    MigrationLockTimeout(std::time::Duration),
    /// The session table was migrated by a newer version of this crate.
    #[error(
        "the session table has schema version {found}, newer than the {known} this \
         version of sessionkit-sql knows; upgrade sessionkit-sql"
    )]
    SchemaTooNew {
        /// The version recorded in the database.
        found: i64,
        /// The newest version this crate knows.
        known: i64,
    },
}

impl Error {
    /// Whether the URL itself is at fault (malformed, an unknown scheme or option), as
    /// opposed to a database that could not be reached or set up.
    pub fn is_invalid_url(&self) -> bool {
        matches!(
            self,
            Self::UnsupportedScheme { .. }
                | Self::UnknownUrlParameter { .. }
                | Self::UnsupportedUrlParameter { .. }
                | Self::NoDatabase
                | Self::Connect(sqlx::Error::Configuration(_))
        )
    }

    pub(crate) fn migrate(context: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Migrate { context, source }
    }
}
