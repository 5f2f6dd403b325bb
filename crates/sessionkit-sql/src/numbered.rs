//! The store operations that read the same for every backend whose statements have
//! numbered placeholders (SQLite, PostgreSQL): written once, instantiated per backend.
//! MySQL differs in create, delete and revocation and keeps its own.

/// Implements `SessionStore`, `UserIndex`, `ExpiredDeletion` and `SessionListing` for
/// a store with `pool` and `sql: Queries` fields.
macro_rules! impl_numbered_store {
    ($store:ident, $quote:path, $placeholder:expr) => {
        #[async_trait::async_trait]
        impl sessionkit_core::SessionStore for $store {
            async fn load(
                &self,
                id: &sessionkit_core::IdHash,
            ) -> Result<Option<sessionkit_core::Record>, sessionkit_core::StoreError> {
                let row: Option<$crate::row::StoredRow> = sqlx::query_as(&self.sql.load)
                    .bind(&id.as_bytes()[..])
                    .bind($crate::row::now_millis())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| sessionkit_core::StoreError::backend("loading a session", e))?;
                row.map($crate::row::record_from).transpose()
            }

            async fn create(
                &self,
                record: &sessionkit_core::Record,
            ) -> Result<(), sessionkit_core::StoreError> {
                let c = $crate::row::Columns::of(record)?;
                let done = sqlx::query(&self.sql.create)
                    .bind(&record.id.as_bytes()[..])
                    .bind(c.data)
                    .bind(c.expires_at)
                    .bind(c.version)
                    .bind(c.user_key)
                    .bind(c.created_at)
                    .bind(c.last_seen)
                    .bind(c.purge_after)
                    .bind($crate::row::now_millis())
                    .execute(&self.pool)
                    .await
                    .map_err(|e| sessionkit_core::StoreError::backend("creating a session", e))?;
                if done.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err(sessionkit_core::StoreError::Exists)
                }
            }

            async fn compare_and_swap(
                &self,
                record: &sessionkit_core::Record,
                expected_version: u64,
            ) -> Result<bool, sessionkit_core::StoreError> {
                let c = $crate::row::Columns::of(record)?;
                let now = $crate::row::now_millis();
                // The statement that keeps the index column first; the one that moves
                // it only when the first matched nothing (see `row`).
                for statement in [
                    &self.sql.compare_and_swap,
                    &self.sql.compare_and_swap_moving,
                ] {
                    let done = sqlx::query(statement)
                        .bind(&c.data)
                        .bind(c.expires_at)
                        .bind(c.version)
                        .bind(c.user_key.as_deref())
                        .bind(c.created_at)
                        .bind(c.last_seen)
                        .bind(&record.id.as_bytes()[..])
                        .bind($crate::row::version_to_db(expected_version))
                        .bind(now)
                        .bind(c.purge_after)
                        .execute(&self.pool)
                        .await
                        .map_err(|e| sessionkit_core::StoreError::backend("saving a session", e))?;
                    if done.rows_affected() == 1 {
                        return Ok(true);
                    }
                }
                Ok(false)
            }

            async fn touch(
                &self,
                id: &sessionkit_core::IdHash,
                expires_at: time::OffsetDateTime,
                now: time::OffsetDateTime,
            ) -> Result<bool, sessionkit_core::StoreError> {
                let expires_at = $crate::row::millis(expires_at);
                let now = $crate::row::millis(now);
                for statement in [&self.sql.touch, &self.sql.touch_moving] {
                    let done = sqlx::query(statement)
                        .bind(expires_at)
                        .bind(now)
                        .bind(&id.as_bytes()[..])
                        .bind(now)
                        .bind($crate::row::purge_after(expires_at))
                        .execute(&self.pool)
                        .await
                        .map_err(|e| {
                            sessionkit_core::StoreError::backend("extending a session", e)
                        })?;
                    if done.rows_affected() == 1 {
                        return Ok(true);
                    }
                }
                Ok(false)
            }

            async fn delete(
                &self,
                id: &sessionkit_core::IdHash,
            ) -> Result<bool, sessionkit_core::StoreError> {
                let expires_at: Option<i64> = sqlx::query_scalar(&self.sql.delete)
                    .bind(&id.as_bytes()[..])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| sessionkit_core::StoreError::backend("deleting a session", e))?;
                Ok(expires_at.is_some_and(|e| e > $crate::row::now_millis()))
            }

            fn user_index(&self) -> Option<&dyn sessionkit_core::UserIndex> {
                Some(self)
            }

            fn expired_deletion(&self) -> Option<&dyn sessionkit_core::ExpiredDeletion> {
                Some(self)
            }

            fn listing(&self) -> Option<&dyn sessionkit_core::SessionListing> {
                Some(self)
            }
        }

        #[async_trait::async_trait]
        impl sessionkit_core::UserIndex for $store {
            async fn sessions_of(
                &self,
                user: &str,
            ) -> Result<Vec<sessionkit_core::Record>, sessionkit_core::StoreError> {
                let rows: Vec<$crate::row::StoredRow> = sqlx::query_as(&self.sql.sessions_of)
                    .bind(user)
                    .bind($crate::row::now_millis())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| {
                        sessionkit_core::StoreError::backend("listing the sessions of a user", e)
                    })?;
                Ok($crate::row::records_from(rows))
            }

            async fn delete_sessions_of(
                &self,
                user: &str,
                except: Option<&sessionkit_core::IdHash>,
            ) -> Result<u64, sessionkit_core::StoreError> {
                let done = sqlx::query(&self.sql.delete_sessions_of)
                    .bind(user)
                    .bind($crate::row::now_millis())
                    .bind(except.map_or(&[][..], |id| &id.as_bytes()[..]))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| {
                        sessionkit_core::StoreError::backend("deleting the sessions of a user", e)
                    })?;
                Ok(done.rows_affected())
            }

            async fn count(&self) -> Result<u64, sessionkit_core::StoreError> {
                let n: i64 = sqlx::query_scalar(&self.sql.count)
                    .bind($crate::row::now_millis())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| sessionkit_core::StoreError::backend("counting sessions", e))?;
                Ok(u64::try_from(n).unwrap_or(0))
            }
        }

        #[async_trait::async_trait]
        impl sessionkit_core::ExpiredDeletion for $store {
            async fn delete_expired(&self, max: u64) -> Result<u64, sessionkit_core::StoreError> {
                if max == 0 {
                    return Ok(0);
                }
                let now = $crate::row::now_millis();
                let done = sqlx::query(&self.sql.delete_expired)
                    .bind(now)
                    .bind($crate::row::limit(max))
                    .bind($crate::row::purge_after(now))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| {
                        sessionkit_core::StoreError::backend("deleting expired sessions", e)
                    })?;
                Ok(done.rows_affected())
            }
        }

        $crate::listing::impl_listing!($store, $quote, $placeholder, "user_key");
    };
}

pub(crate) use impl_numbered_store;
