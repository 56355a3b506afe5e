//! Dashboard downloads (a list's export, the event log as CSV) streamed while they are
//! written: the producer writes to a [`ChunkWriter`] on a blocking thread, and the
//! response sends each 64 KiB chunk as it comes, so no file is built in memory.
//!
//! - At most [`MAX_CONCURRENT`] downloads are prepared at once per process; another one
//!   gets `503` with a message, the dashboard's "try again".
//! - A client that goes away stops its producer at its next chunk (the write fails), and
//!   gives its slot back.
//! - An error before the first chunk is answered with its status; an error after it aborts
//!   the response, so the client sees a failed download, never a silently short file.

use crate::server::service::ServiceError;
use axum::body::Body;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::io::{self, Write};
use std::sync::mpsc;
use tokio::sync::Semaphore;

/// Downloads prepared at once (each holds a database connection and a blocking thread).
pub const MAX_CONCURRENT: usize = 2;
pub static SLOTS: Semaphore = Semaphore::const_new(MAX_CONCURRENT);
const CHUNK: usize = 64 * 1024;

/// A `Write` whose bytes go to the response in chunks; fails once the client is gone.
/// A plain (std) channel: the producer may write from inside `Handle::block_on`, where a
/// tokio channel's blocking send is not allowed.
pub struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::SyncSender<Bytes>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Runs `produce` on a blocking thread (async work inside it through the handle it is
/// given) and answers with what it writes, streamed, under `headers`. `refuse` turns an
/// error that comes before any byte into the response.
pub async fn stream<F>(
    headers: Vec<(HeaderName, String)>,
    refuse: fn(ServiceError) -> Response,
    produce: F,
) -> Response
where
    F: FnOnce(&mut ChunkWriter, &tokio::runtime::Handle) -> Result<(), ServiceError>
        + Send
        + 'static,
{
    let Ok(slot) = SLOTS.try_acquire() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Other downloads are being prepared; try again in a moment.",
        )
            .into_response();
    };
    let (tx, rx) = mpsc::sync_channel::<Bytes>(4);
    let handle = tokio::runtime::Handle::current();
    let task = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let mut w = ChunkWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
        };
        produce(&mut w, &handle)?;
        w.flush().map_err(ServiceError::unavailable)
    });
    let task = Box::pin(async move {
        task.await
            .unwrap_or_else(|e| Err(ServiceError::internal(e.to_string())))
    });
    let (rx, first) = next(rx).await;
    let (Some(rx), Some(first)) = (rx, first) else {
        // The writer is gone without a chunk: the producer ended, well or not.
        return match task.await {
            Ok(()) => respond(headers, Body::empty()),
            Err(e) => refuse(e),
        };
    };
    let rest = futures_util::stream::unfold(
        (Some(first), Some(rx), Some(task)),
        |(first, rx, task)| async move {
            if let Some(c) = first {
                return Some((Ok(c), (None, rx, task)));
            }
            if let (Some(rx), Some(c)) = next(rx?).await {
                return Some((Ok(c), (None, Some(rx), task)));
            }
            // The producer dropped its writer: fail the body if it failed.
            match task?.await {
                Ok(()) => None,
                Err(e) => {
                    tracing::error!(error = %e, "download failed after its first bytes");
                    Some((Err(io::Error::other(e.to_string())), (None, None, None)))
                }
            }
        },
    );
    respond(headers, Body::from_stream(rest))
}

/// The next chunk, waited for on a blocking thread; `None` once the producer is done.
async fn next(rx: mpsc::Receiver<Bytes>) -> (Option<mpsc::Receiver<Bytes>>, Option<Bytes>) {
    tokio::task::spawn_blocking(move || {
        let c = rx.recv().ok();
        (Some(rx), c)
    })
    .await
    .unwrap_or((None, None))
}

fn respond(headers: Vec<(HeaderName, String)>, body: Body) -> Response {
    let mut r = Response::new(body);
    for (k, v) in headers {
        if let Ok(v) = v.parse() {
            r.headers_mut().insert(k, v);
        }
    }
    r
}
