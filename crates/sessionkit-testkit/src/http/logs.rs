//! Captures what sessionkit logs, to check that no session id, cookie value or secret
//! ever reaches a log line (DESIGN, "Request lifecycle" step 4).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
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
    _scoped: Option<tracing::subscriber::DefaultGuard>,
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        ACTIVE.with(|active| active.borrow_mut().take());
    }
}

thread_local! {
    /// The capture of this thread, if one is running.
    static ACTIVE: RefCell<Option<LogCapture>> = const { RefCell::new(None) };
}

/// The process-wide subscriber that hands each event to the capture of the thread it
/// happens on. A thread-local default subscriber alone is not enough when tests run in
/// parallel: a log statement first reached on another thread, while no subscriber
/// wanted anything, can be remembered as never wanted, and a capture installed later on
/// this thread then sees nothing of it. This subscriber is always there and answers
/// "sometimes" for every log statement, so each one asks, every time, whether its
/// thread is capturing.
struct PerThread;

fn with_active(f: impl FnOnce(&LogCapture)) {
    ACTIVE.with(|active| {
        if let Some(capture) = active.borrow().as_ref() {
            f(capture);
        }
    });
}

impl Subscriber for PerThread {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        ACTIVE.with(|active| active.borrow().is_some())
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        with_active(|c| {
            c.new_span(span);
        });
        Id::from_u64(1)
    }

    fn record(&self, id: &Id, values: &Record<'_>) {
        with_active(|c| c.record(id, values));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        with_active(|c| c.event(event));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

impl LogCapture {
    /// Starts capturing what this thread logs. Use it in a current-thread runtime
    /// (plain `#[tokio::test]`) so that every log of the request lands here. The first
    /// capture of a test binary installs the process-wide subscriber that routes each
    /// thread's logs to its capture; if the binary already has a global subscriber, the
    /// capture becomes this thread's default subscriber instead.
    pub fn start() -> (Self, CaptureGuard) {
        static GLOBAL: OnceLock<bool> = OnceLock::new();
        let capture = Self::default();
        let global =
            *GLOBAL.get_or_init(|| tracing::subscriber::set_global_default(PerThread).is_ok());
        let scoped = if global {
            ACTIVE.with(|active| *active.borrow_mut() = Some(capture.clone()));
            None
        } else {
            Some(tracing::subscriber::set_default(capture.clone()))
        };
        (capture, CaptureGuard { _scoped: scoped })
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
