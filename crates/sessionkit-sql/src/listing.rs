//! Enumerating live sessions for operator tools (`sessionkit list`, `stats`): the same
//! three statements for every backend, in each one's placeholder style.
//!
//! Statistics count rows: a rotated-away id (a short-lived pointer kept for the grace
//! window and 10 minutes after) is counted as live while it exists.

use crate::row::ROW_COLUMNS;

/// The statements, written once with numbered placeholders.
pub(crate) struct ListingSql {
    /// Live rows after a key, in key order: binds `now, after, limit`.
    pub(crate) list: String,
    /// Live, expiring within an hour, within a day, with a user: binds `hour, day, now`.
    pub(crate) stats: String,
    /// Users with the most live sessions: binds `now, limit`.
    pub(crate) top_users: String,
}

impl ListingSql {
    /// `table` already quoted; `placeholder(n)` gives the n-th (1-based) placeholder;
    /// `user` is how to select `user_key` as text (MySQL's binary collation reports it as
    /// bytes otherwise).
    pub(crate) fn new(table: &str, placeholder: impl Fn(usize) -> String, user: &str) -> Self {
        let p = placeholder;
        Self {
            list: format!(
                "SELECT {ROW_COLUMNS} FROM {table} WHERE expires_at > {} AND id_hash > {} \
                 ORDER BY id_hash LIMIT {}",
                p(1),
                p(2),
                p(3)
            ),
            stats: format!(
                "SELECT COUNT(*), COUNT(CASE WHEN expires_at <= {} THEN 1 END), \
                 COUNT(CASE WHEN expires_at <= {} THEN 1 END), COUNT(user_key) \
                 FROM {table} WHERE expires_at > {}",
                p(1),
                p(2),
                p(3)
            ),
            top_users: format!(
                "SELECT {user}, COUNT(*) FROM {table} WHERE expires_at > {} AND user_key IS NOT NULL \
                 GROUP BY user_key ORDER BY COUNT(*) DESC, user_key LIMIT {}",
                p(1),
                p(2)
            ),
        }
    }
}

/// Implements `SessionListing` for a backend store with `pool` and `sql.table` fields.
macro_rules! impl_listing {
    ($store:ty, $quote:path, $placeholder:expr, $user:expr) => {
        #[async_trait::async_trait]
        impl sessionkit_core::SessionListing for $store {
            async fn list(
                &self,
                after: Option<&sessionkit_core::IdHash>,
                limit: usize,
            ) -> Result<Vec<sessionkit_core::Record>, sessionkit_core::StoreError> {
                let sql = $crate::listing::ListingSql::new(
                    &$quote(self.sql.table.as_str()),
                    $placeholder,
                    $user,
                );
                let rows: Vec<$crate::row::StoredRow> = sqlx::query_as(&sql.list)
                    .bind($crate::row::now_millis())
                    .bind(after.map_or(&[][..], |id| &id.as_bytes()[..]))
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| sessionkit_core::StoreError::backend("listing sessions", e))?;
                Ok($crate::row::records_from(rows))
            }

            async fn stats(
                &self,
                now: time::OffsetDateTime,
                top: usize,
            ) -> Result<sessionkit_core::Stats, sessionkit_core::StoreError> {
                use $crate::row::millis;
                let sql = $crate::listing::ListingSql::new(
                    &$quote(self.sql.table.as_str()),
                    $placeholder,
                    $user,
                );
                let (live, hour, day, with_user): (i64, i64, i64, i64) = sqlx::query_as(&sql.stats)
                    .bind(millis(now + time::Duration::hours(1)))
                    .bind(millis(now + time::Duration::days(1)))
                    .bind(millis(now))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| sessionkit_core::StoreError::backend("counting sessions", e))?;
                let users: Vec<(String, i64)> = sqlx::query_as(&sql.top_users)
                    .bind(millis(now))
                    .bind(i64::try_from(top).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| {
                        sessionkit_core::StoreError::backend("counting sessions per user", e)
                    })?;
                let n = |v: i64| u64::try_from(v).unwrap_or(0);
                Ok(sessionkit_core::Stats {
                    live: n(live),
                    expiring_within_hour: n(hour),
                    expiring_within_day: n(day),
                    with_user: n(with_user),
                    top_users: users.into_iter().map(|(u, c)| (u, n(c))).collect(),
                })
            }
        }
    };
}

pub(crate) use impl_listing;
