//! `/set_preferences`: theme (which really restyles every page) and notifications,
//! kept in one session map and changed with `merge`.

use axum::extract::Form;
use axum::response::Html;
use serde::Deserialize;
use sessionkit::{csrf, Session};

use crate::error::AppError;
use crate::page;

/// Session key of the preferences map.
const KEY: &str = "preferences";

/// The page's colour scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Dark text on light background.
    #[default]
    Light,
    /// Light text on dark background.
    Dark,
}

impl Theme {
    /// `light` or `dark`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "light" => Some(Self::Light),
            "dark" => Some(Self::Dark),
            _ => None,
        }
    }
}

/// What the user chose (defaults: light, notifications enabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preferences {
    /// The colour scheme.
    pub theme: Theme,
    /// Whether notifications are on.
    pub notifications: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            theme: Theme::Light,
            notifications: true,
        }
    }
}

impl Preferences {
    /// `enabled` or `disabled`.
    pub fn notifications_str(&self) -> &'static str {
        if self.notifications {
            "enabled"
        } else {
            "disabled"
        }
    }
}

/// The session's preferences (defaults for anything unset or unreadable).
///
/// # Errors
///
/// When the session cannot be loaded.
pub async fn load(session: &Session) -> Result<Preferences, AppError> {
    let stored = session.get_value(KEY).await?;
    let field = |name: &str| {
        stored
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let defaults = Preferences::default();
    Ok(Preferences {
        theme: field("theme")
            .and_then(|t| Theme::parse(&t))
            .unwrap_or(defaults.theme),
        notifications: field("notifications").map_or(defaults.notifications, |n| n == "enabled"),
    })
}

/// The form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct PreferencesForm {
    #[serde(default)]
    theme: String,
    #[serde(default)]
    notifications: String,
}

/// `GET /set_preferences`
pub(crate) async fn form(session: Session) -> Result<Html<String>, AppError> {
    let prefs = load(&session).await?;
    let frame = page::frame(&session).await?;
    let token = csrf::token(&session).await?;
    Ok(page::preferences_form(&frame, &prefs, &token))
}

/// `POST /set_preferences`
pub(crate) async fn save(
    session: Session,
    form: Result<Form<PreferencesForm>, axum::extract::rejection::FormRejection>,
) -> Result<Html<String>, AppError> {
    let Form(form) = form?;
    let theme = Theme::parse(&form.theme).ok_or_else(|| {
        AppError::BadRequest("Invalid preferences: theme must be light or dark".to_owned())
    })?;
    let notifications = match form.notifications.as_str() {
        "enabled" | "disabled" => form.notifications,
        _ => {
            return Err(AppError::BadRequest(
                "Invalid preferences: notifications must be enabled or disabled".to_owned(),
            ))
        }
    };
    let mut entries = serde_json::Map::new();
    entries.insert("theme".to_owned(), theme.as_str().into());
    entries.insert("notifications".to_owned(), notifications.into());
    session.merge(KEY, entries).await?;
    let frame = page::frame(&session).await?;
    Ok(page::preferences_saved(&frame))
}
