//! Accounts and logging in: the users (argon2 password hashes, roles), `/login`,
//! `/logout`, `/profile` and `/dashboard`.

use std::collections::HashMap;
use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use sessionkit::{csrf, Session};

use crate::error::{AppError, StartupError};
use crate::{page, preferences, AppState};

/// What a user may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The admin dashboard.
    Admin,
    /// The user dashboard.
    User,
}

impl Role {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "user" => Some(Self::User),
            _ => None,
        }
    }
}

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name.
    pub name: String,
    /// What the user may see.
    pub role: Role,
    /// The argon2 PHC string (`$argon2id$v=19$…`); never the password.
    password_hash: String,
}

/// The accounts of the demo.
#[derive(Debug, Clone)]
pub struct Users {
    by_name: HashMap<String, User>,
    /// The tutorial's built-in accounts (the login page may show them).
    built_in: bool,
}

/// The tutorial's accounts, as argon2id hashes (m=19456 KiB, t=2, p=1) of
/// `password1`, `password2` and `adminpass`.
const DEFAULT_USERS: &str = "\
user1:user:$argon2id$v=19$m=19456,t=2,p=1$eotXH708swKbL+a+FGhuNg$7J6m2ld3wZShNMThtrk/Qz1tsZviFP8Id7zx1lSEMsU
user2:user:$argon2id$v=19$m=19456,t=2,p=1$KfVQqet1Ke7yiQIbNgeTJQ$i3HS42uAzsr+iPqHW1ZcJltNRCqAWceZgEMnTmE+FJw
admin:admin:$argon2id$v=19$m=19456,t=2,p=1$0lsSfuEMm1afabSjEP7YKA$3gR1xe+oyVASB9LXxPatuePlnLEiPqK9JSpfcvZ1bAI
";

/// Checked when the user name is unknown, so that a wrong name costs as much time as
/// a wrong password (no user enumeration by timing). Its password is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$PLFLYKqK6eBsaB8bMrzpjg$zeL726aIHYXUU3Ad89t5ZUneLrDDwopYF6bbjswm3oA";

impl Users {
    /// The tutorial's accounts: `user1`/`password1` and `user2`/`password2` (role
    /// user), `admin`/`adminpass` (role admin).
    pub fn defaults() -> Self {
        // The embedded list is checked by a test; an empty set is the safe fallback.
        let users = Self::parse(DEFAULT_USERS).unwrap_or_else(|_| Self {
            by_name: HashMap::new(),
            built_in: false,
        });
        Self {
            built_in: true,
            ..users
        }
    }

    /// Whether these are the tutorial's built-in accounts, whose passwords the login
    /// page shows; never for accounts from a users file.
    pub fn are_built_in(&self) -> bool {
        self.built_in
    }

    /// Accounts from text: one `username:role:phc` per line, where role is `admin` or
    /// `user` and phc is an argon2 PHC string (make one with
    /// `cargo run -p sessionkit-demo -- hash-password`). Blank lines and lines
    /// starting with `#` are ignored. User names are 1 to 64 characters without `:`,
    /// whitespace or control characters (bidi controls included).
    ///
    /// ```
    /// let users = sessionkit_demo::auth::Users::parse(
    ///     "# name:role:hash\n\
    ///      carol:admin:$argon2id$v=19$m=19456,t=2,p=1$cgAS1mXj8uk4mfzP5vZagg$gvfbP5Mi4Nzq0P2yDJ2Uzpc74/4ALDxnVWrbtnjuRzc\n",
    /// )?;
    /// assert!(users.get("carol").is_some());
    /// # Ok::<(), String>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A message naming the line that is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut by_name = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |reason: &str| format!("line {}: {reason}", number + 1);
            let mut parts = line.splitn(3, ':');
            let (Some(name), Some(role), Some(hash)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(at("expected username:role:$argon2id$…"));
            };
            if name.is_empty()
                || name.chars().count() > 64
                || name
                    .chars()
                    .any(|c| c.is_whitespace() || crate::page::is_unprintable(c))
            {
                return Err(at(
                    "user names are 1 to 64 characters without spaces or control characters",
                ));
            }
            let role = Role::parse(role).ok_or_else(|| at("the role must be admin or user"))?;
            match PasswordHash::new(hash) {
                Ok(phc) if phc.algorithm.as_str().starts_with("argon2") => {}
                _ => {
                    return Err(at(
                        "the password hash must be an argon2 PHC string ($argon2id$v=19$…)",
                    ))
                }
            }
            let user = User {
                name: name.to_owned(),
                role,
                password_hash: hash.to_owned(),
            };
            if by_name.insert(name.to_owned(), user).is_some() {
                return Err(at("this user name appears twice"));
            }
        }
        if by_name.is_empty() {
            return Err("no accounts in the file".to_owned());
        }
        Ok(Self {
            by_name,
            built_in: false,
        })
    }

    /// Accounts from a file (see [`Users::parse`]).
    ///
    /// # Errors
    ///
    /// [`StartupError::Users`] when the file cannot be read or a line is wrong.
    pub fn from_file(path: &Path) -> Result<Self, StartupError> {
        let fail = |reason: String| StartupError::Users {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        Self::parse(&text).map_err(fail)
    }

    /// The account named `name`.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.by_name.get(name)
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The account, if `password` is its password. Takes the same time for unknown
    /// names. CPU-heavy (argon2): call it off the async threads.
    pub fn authenticate(&self, name: &str, password: &str) -> Option<&User> {
        let user = self.by_name.get(name);
        let hash = user.map_or(DUMMY_HASH, |u| u.password_hash.as_str());
        let ok = PasswordHash::new(hash).is_ok_and(|phc| {
            Argon2::default()
                .verify_password(password.as_bytes(), &phc)
                .is_ok()
        });
        user.filter(|_| ok)
    }
}

/// Hashes a password into an argon2id PHC string (default parameters: 19 MiB, two
/// passes), with a fresh random salt.
///
/// # Errors
///
/// When no randomness is available or hashing fails.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// The logged-in user of this session, if any (and still an account).
///
/// # Errors
///
/// When the session cannot be loaded.
pub async fn current_user(session: &Session, users: &Users) -> Result<Option<User>, AppError> {
    Ok(session
        .user()
        .await?
        .and_then(|name| users.get(&name).cloned()))
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `GET /login`
pub(crate) async fn login_form(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, AppError> {
    let frame = page::frame(&session).await?;
    let token = csrf::token(&session).await?;
    Ok(page::login(
        &frame,
        &token,
        state.users().are_built_in(),
        None,
    ))
}

/// `POST /login`: on success the id is cycled and the user bound (`Session::login`).
pub(crate) async fn login(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form?;
    let users = state.users().clone();
    let LoginForm { username, password } = form;
    let user = tokio::task::spawn_blocking(move || {
        users
            .authenticate(&username, &password)
            .map(|u| u.name.clone())
    })
    .await
    .map_err(|_| AppError::PasswordCheck)?;
    match user {
        Some(name) => {
            session.login(&name).await?;
            tracing::info!(user = %name, "logged in");
            Ok(Redirect::to("/profile").into_response())
        }
        None => {
            let frame = page::frame(&session).await?;
            let token = csrf::token(&session).await?;
            let hint = state.users().are_built_in();
            let body = page::login(&frame, &token, hint, Some("Invalid credentials"));
            Ok((StatusCode::UNAUTHORIZED, body).into_response())
        }
    }
}

/// `GET /logout`: deletes the session and its cookie.
pub(crate) async fn logout(session: Session) -> Redirect {
    session.logout().await;
    Redirect::to("/login")
}

/// `GET /profile`
pub(crate) async fn profile(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, AppError> {
    let user = current_user(&session, state.users()).await?;
    let prefs = preferences::load(&session).await?;
    let frame = page::frame(&session).await?;
    Ok(page::profile(
        &frame,
        user.as_ref().map(|u| u.name.as_str()),
        &prefs,
    ))
}

/// `GET /dashboard`: by role; anonymous visitors go to the login page.
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, AppError> {
    let Some(user) = current_user(&session, state.users()).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let frame = page::frame(&session).await?;
    Ok(page::dashboard(&frame, &user.name, user.role).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tutorials_accounts_are_built_in_with_their_roles() {
        let users = Users::defaults();
        assert_eq!(users.len(), 3);
        assert_eq!(users.get("user1").map(|u| u.role), Some(Role::User));
        assert_eq!(users.get("user2").map(|u| u.role), Some(Role::User));
        assert_eq!(users.get("admin").map(|u| u.role), Some(Role::Admin));
        assert!(!DEFAULT_USERS.contains("password1"));
    }

    #[test]
    fn default_passwords_verify_and_wrong_ones_do_not() {
        let users = Users::defaults();
        for (name, password) in [
            ("user1", "password1"),
            ("user2", "password2"),
            ("admin", "adminpass"),
        ] {
            assert_eq!(
                users.authenticate(name, password).map(|u| u.name.as_str()),
                Some(name)
            );
        }
        assert!(users.authenticate("user1", "password2").is_none());
        assert!(users.authenticate("nobody", "password1").is_none());
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn users_files_are_checked_line_by_line() -> Result<(), String> {
        let hash = hash_password("s3cret")?;
        let users = Users::parse(&format!("# comment\n\ncarol:admin:{hash}\n"))?;
        assert_eq!(
            users.authenticate("carol", "s3cret").map(|u| u.role),
            Some(Role::Admin)
        );
        // 64 characters, whatever their UTF-8 length.
        let long = "é".repeat(64);
        assert!(Users::parse(&format!("{long}:user:{hash}"))?
            .get(&long)
            .is_some());
        for (text, expected) in [
            ("carol:admin\n", "line 1: expected"),
            (&*format!("carol:boss:{hash}"), "line 1: the role"),
            ("carol:user:password\n", "line 1: the password hash"),
            (&*format!("a b:user:{hash}"), "line 1: user names"),
            (
                &*format!("ev\u{1b}[31mil:user:{hash}"),
                "line 1: user names",
            ),
            (&*format!("eve\u{202e}:user:{hash}"), "line 1: user names"),
            (&*format!("user\u{200b}1:user:{hash}"), "line 1: user names"),
            (
                &*format!("x:user:{hash}\nx:user:{hash}"),
                "line 2: this user name appears twice",
            ),
            ("# nothing\n", "no accounts"),
            (
                &*format!("{}:user:{hash}", "é".repeat(65)),
                "line 1: user names",
            ),
        ] {
            let err = Users::parse(text).expect_err("invalid file");
            assert!(err.starts_with(expected), "{err}");
        }
        Ok(())
    }
}
