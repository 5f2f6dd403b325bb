//! Captures what sessionkit logs, to check that no session id, cookie value or secret
//! ever reaches a log line (DESIGN, "Request lifecycle" step 4).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every event and span field logged on this thread while the guard of
/// [`LogCapture::start`] lives, at every level.
#[derive(Debug, Clone, Default)]
pub struct LogCapture {
    lines: Arc<Mutex<Vec<String>>>,
}

/// Keeps the capture installed for the current thread; dropping it uninstalls it.
#[derive(Debug)]
pub struct CaptureGuard {
    _default: tracing::subscriber::DefaultGuard,
}

impl LogCapture {
    /// Installs a capture as this thread's subscriber. Use it in a current-thread
    /// runtime (plain `#[tokio::test]`) so that every log of the request lands here.
    pub fn start() -> (Self, CaptureGuard) {
        let capture = Self::default();
        let guard = tracing::subscriber::set_default(capture.clone());
        (capture, CaptureGuard { _default: guard })
    }

    /// The captured lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Asserts that no captured line contains any of `secrets` (ignoring those shorter
    /// than 8 characters, which would match by chance).
    ///
    /// # Panics
    ///
    /// When a line contains one.
    pub fn assert_never_logged(&self, secrets: &[String]) {
        for line in self.lines() {
            for secret in secrets.iter().filter(|s| s.len() >= 8) {
                assert!(
                    !line.contains(secret.as_str()),
                    "a session id, cookie value or secret was logged: {line}"
                );
            }
        }
    }

    fn push(&self, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl Subscriber for LogCapture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut fields);
        self.push(fields.0);
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut fields = Fields("span record".to_owned());
        values.record(&mut fields);
        self.push(fields.0);
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(format!(
            "{} {}",
            event.metadata().level(),
            event.metadata().target()
        ));
        event.record(&mut fields);
        self.push(fields.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
