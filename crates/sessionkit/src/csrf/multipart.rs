//! Finding the token in a `multipart/form-data` body (an HTML form with a file input)
//! without holding the whole body: the body is read only up to the token's field, and
//! what was read is replayed to the handler ahead of the rest.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

use super::FORM_FIELD;

/// Why no token came out of a multipart body.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unread {
    /// The body ended without the field.
    Missing,
    /// The field was not within the first `max` bytes.
    TooLate,
    /// The body could not be read (the client went away, or a body limit outside
    /// this layer tripped: `too_large`).
    Unreadable {
        /// Whether it was a body size limit.
        too_large: bool,
    },
    /// The body is not valid `multipart/form-data`.
    Malformed,
}

/// The boundary of a `multipart/form-data` content type; `None` for any other type.
pub(super) fn boundary(content_type: &str) -> Option<String> {
    multer::parse_boundary(content_type).ok()
}

/// Reads `body` up to the end of the `csrf_token` field, at most `max` bytes: the
/// token (or why there is none), and the whole body again for the handler.
pub(super) async fn token<B>(
    body: B,
    boundary: String,
    max: usize,
) -> (Result<String, Unread>, Replayed<Pin<Box<B>>>)
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut rest = Box::pin(body);
    let mut read = Read::default();
    let token = {
        let frames =
            futures_util::stream::unfold((&mut rest, &mut read), move |(body, read)| async move {
                // The multipart reader takes every chunk that is ready before it
                // looks at any: yielding first makes it read only as far as it needs.
                if read.bytes > 0 {
                    tokio::task::yield_now().await;
                }
                let data = read.next_data(body.as_mut(), max).await?;
                Some((data, (body, read)))
            });
        let mut form = multer::Multipart::new(frames, boundary);
        // `Err(true)`: the form ended without the field; `Err(false)`: reading failed.
        loop {
            match form.next_field().await {
                Ok(Some(field)) if field.name() == Some(FORM_FIELD) => {
                    break field.text().await.map_err(|_| false);
                }
                // The next call skips what is left of this field.
                Ok(Some(_)) => {}
                Ok(None) => break Err(true),
                Err(_) => break Err(false),
            }
        }
    };
    let token = token.map_err(|ended| {
        if ended && !read.over_limit {
            Unread::Missing
        } else {
            read.why_not()
        }
    });
    let replayed = Replayed {
        read: read.frames,
        ended: read.ended,
        rest,
    };
    (token, replayed)
}

/// The frames read so far, and how the reading stopped.
#[derive(Default)]
struct Read {
    frames: VecDeque<Frame<Bytes>>,
    bytes: usize,
    /// The reading stopped at the limit.
    over_limit: bool,
    /// The body ended: the replay must not poll it again.
    ended: bool,
    /// Reading the body failed; `Some(true)` for a size limit.
    failed: Option<bool>,
}

/// The error handed to the multipart reader when the body is cut short here.
#[derive(Debug, thiserror::Error)]
#[error("the body was not read further")]
struct Stopped;

impl Read {
    /// The next data of `body`, kept for the replay; other frames (trailers) are kept
    /// and skipped. `None` at the end of the body, and at the limit: the multipart
    /// reader then works through what it holds, which may include the whole field.
    async fn next_data<B>(
        &mut self,
        mut body: Pin<&mut B>,
        max: usize,
    ) -> Option<Result<Bytes, Stopped>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        loop {
            if self.bytes >= max {
                self.over_limit = true;
                return None;
            }
            let Some(frame) = body.as_mut().frame().await else {
                self.ended = true;
                return None;
            };
            match frame {
                Ok(frame) => {
                    let data = frame.data_ref().cloned();
                    self.frames.push_back(frame);
                    if let Some(data) = data {
                        self.bytes += data.len();
                        return Some(Ok(data));
                    }
                }
                Err(e) => {
                    let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                    self.failed = Some(super::over_limit(&*e));
                    return Some(Err(Stopped));
                }
            }
        }
    }

    /// Why the multipart reader failed: the limit, the body itself, or its format.
    fn why_not(&self) -> Unread {
        if let Some(too_large) = self.failed {
            Unread::Unreadable { too_large }
        } else if self.over_limit {
            Unread::TooLate
        } else {
            Unread::Malformed
        }
    }
}

pin_project! {
    /// A body whose first frames were already read: those frames, then the rest.
    pub(super) struct Replayed<B> {
        read: VecDeque<Frame<Bytes>>,
        // The body had ended when it was read: it is not polled again (some bodies
        // panic when polled after their end).
        ended: bool,
        #[pin]
        rest: B,
    }
}

impl<B> Body for Replayed<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        match this.read.pop_front() {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            None if *this.ended => Poll::Ready(None),
            None => this.rest.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_empty() && (self.ended || self.rest.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let read: u64 = self
            .read
            .iter()
            .filter_map(|f| f.data_ref().map(|d| d.len() as u64))
            .sum();
        let rest = if self.ended {
            SizeHint::with_exact(0)
        } else {
            self.rest.size_hint()
        };
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + read);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + read);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    const BOUNDARY: &str = "----skboundary";

    /// A multipart body of `(name, value)` fields, one chunk per `chunk` bytes.
    fn form(
        fields: &[(&str, &[u8])],
        chunk: usize,
    ) -> (
        Vec<u8>,
        impl Body<Data = Bytes, Error = std::convert::Infallible> + Send + 'static,
    ) {
        let mut raw = Vec::new();
        for (name, value) in fields {
            let disposition = if *name == "upload" {
                format!("form-data; name=\"{name}\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream")
            } else {
                format!("form-data; name=\"{name}\"")
            };
            raw.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n").as_bytes(),
            );
            raw.extend_from_slice(value);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = raw
            .chunks(chunk)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        (raw, StreamBody::new(futures_util::stream::iter(chunks)))
    }

    async fn all(body: impl Body<Data = Bytes>) -> Vec<u8> {
        match body.collect().await {
            Ok(collected) => collected.to_bytes().to_vec(),
            Err(_) => Vec::new(),
        }
    }

    #[tokio::test]
    async fn the_token_field_is_found_and_the_whole_body_reaches_the_handler() {
        let file = vec![7u8; 300_000];
        let (raw, body) = form(
            &[
                ("title", b"Holiday"),
                (FORM_FIELD, b"tok-123"),
                ("upload", &file),
            ],
            1000,
        );
        let (token, replayed) = token(body, BOUNDARY.into(), 64 * 1024).await;
        assert_eq!(token, Ok("tok-123".to_owned()));
        assert_eq!(all(replayed).await, raw, "nothing lost or doubled");
    }

    #[tokio::test]
    async fn a_token_after_a_large_file_is_too_late_and_the_body_still_arrives_whole() {
        let file = vec![1u8; 200_000];
        let (raw, body) = form(&[("upload", &file), (FORM_FIELD, b"tok")], 4096);
        let (token, replayed) = token(body, BOUNDARY.into(), 64 * 1024).await;
        assert_eq!(token, Err(Unread::TooLate));
        assert_eq!(all(replayed).await, raw);
    }

    #[tokio::test]
    async fn a_form_without_the_field_or_not_multipart_at_all_gives_no_token() {
        let (_, body) = form(&[("title", b"x"), ("csrf_tokenx", b"y")], 7);
        assert_eq!(
            token(body, BOUNDARY.into(), 1 << 20).await.0,
            Err(Unread::Missing)
        );
        let garbage = Full::new(Bytes::from_static(b"not a multipart body at all"));
        assert_eq!(
            token(garbage, BOUNDARY.into(), 1 << 20).await.0,
            Err(Unread::Malformed)
        );
    }

    #[tokio::test]
    async fn a_token_inside_the_limit_is_found_though_its_chunk_crosses_the_limit() {
        let file = vec![7u8; 20_000];
        let (raw, body) = form(&[(FORM_FIELD, b"tok"), ("upload", &file)], 8192);
        let (token, replayed) = token(body, BOUNDARY.into(), 4096).await;
        assert_eq!(token, Ok("tok".to_owned()));
        assert_eq!(all(replayed).await, raw);
    }

    #[tokio::test]
    async fn a_body_read_to_its_end_is_not_polled_again() {
        let (raw, _) = form(&[(FORM_FIELD, b"tok")], 1 << 20);
        let once = futures_util::stream::unfold(Some(raw.clone()), |left| async move {
            let chunk = left?;
            Some((
                Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(chunk))),
                None,
            ))
        });
        let (token, replayed) = token(StreamBody::new(once), BOUNDARY.into(), 1 << 20).await;
        assert_eq!(token, Ok("tok".to_owned()));
        assert_eq!(
            all(replayed).await,
            raw,
            "an unfold stream panics if polled after its end"
        );
    }

    #[tokio::test]
    async fn a_body_that_fails_or_trips_a_limit_outside_is_unreadable() {
        let (_, body) = form(&[("upload", &[1u8; 10_000]), (FORM_FIELD, b"tok")], 1000);
        let limited = http_body_util::Limited::new(body, 3000);
        assert_eq!(
            token(limited, BOUNDARY.into(), 1 << 20).await.0,
            Err(Unread::Unreadable { too_large: true })
        );
    }

    #[test]
    fn only_multipart_form_data_with_a_boundary_has_one() {
        assert_eq!(
            boundary("Multipart/Form-Data; boundary=\"abc def\""),
            Some("abc def".to_owned())
        );
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/mixed; boundary=x"), None);
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
    }
}
