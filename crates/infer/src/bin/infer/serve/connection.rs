//! The header deadline of every connection, and why it lives here: hyper, as `axum::serve`
//! runs it, has no timer, so its header read timeout never fires, and a client sending its
//! headers one byte a second holds its connection (and a task) open forever and keeps a
//! graceful shutdown waiting. The server's listener ([`TimedListener`]) wraps every accepted
//! socket in a [`TimedStream`], whose reads fail once [`HEADER_READ_TIMEOUT`] has passed while
//! the connection waits for a request's headers; hyper then closes the connection. The time a
//! request is handled (its body read, its answer computed) does not count: the router's
//! [`track_requests`] layer, which sees a request only once its headers are in, lifts the
//! deadline until the answer is ready, and the API bounds the body by
//! [`BODY_READ_TIMEOUT`](super::BODY_READ_TIMEOUT).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

use super::HEADER_READ_TIMEOUT;

/// The server's listener: a TCP listener whose connections have a header deadline.
#[derive(Debug)]
pub struct TimedListener {
    listener: TcpListener,
}

impl TimedListener {
    pub fn new(listener: TcpListener) -> Self {
        Self { listener }
    }
}

impl Listener for TimedListener {
    type Io = TimedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TimedStream, SocketAddr) {
        // axum's accept retries (after a pause) on errors such as too many open files.
        let (socket, address) = Listener::accept(&mut self.listener).await;
        (TimedStream::new(socket), address)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Where a connection is, shared by its socket and the requests read from it.
#[derive(Debug)]
enum Phase {
    /// Waiting for a request's headers, which must be complete by `deadline`; `begun` once
    /// some of them arrived.
    Headers { deadline: Instant, begun: bool },
    /// A request's headers are in: it is being handled.
    Handling,
}

/// One connection's [`Phase`], given to every request read from it (as axum's `ConnectInfo`).
#[derive(Clone, Debug)]
pub struct Connection(Arc<Mutex<Phase>>);

impl Connection {
    fn waiting_for_headers() -> Self {
        Self(Arc::new(Mutex::new(Phase::Headers {
            deadline: Instant::now() + HEADER_READ_TIMEOUT,
            begun: false,
        })))
    }

    fn with_phase<T>(&self, f: impl FnOnce(&mut Phase) -> T) -> T {
        // A panic elsewhere while the lock was held leaves a phase that is still meaningful.
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The header deadline, if the connection is waiting for headers.
    fn deadline(&self) -> Option<Instant> {
        self.with_phase(|phase| match phase {
            Phase::Headers { deadline, .. } => Some(*deadline),
            Phase::Handling => None,
        })
    }

    /// Notes that bytes arrived (part of a request's headers, if it is waiting for them).
    fn received(&self) {
        self.with_phase(|phase| {
            if let Phase::Headers { begun, .. } = phase {
                *begun = true;
            }
        });
    }

    fn headers_begun(&self) -> bool {
        self.with_phase(|phase| matches!(phase, Phase::Headers { begun: true, .. }))
    }

    /// Lifts the deadline until the returned guard is dropped, when the next request's headers
    /// get [`HEADER_READ_TIMEOUT`] from then.
    fn handling(&self) -> Handling {
        self.with_phase(|phase| *phase = Phase::Handling);
        Handling(self.clone())
    }
}

impl Connected<IncomingStream<'_, TimedListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, TimedListener>) -> Self {
        stream.io().connection.clone()
    }
}

/// A request being handled; dropped when its answer is ready (or the request is abandoned).
struct Handling(Connection);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.with_phase(|phase| {
            *phase = Phase::Headers {
                deadline: Instant::now() + HEADER_READ_TIMEOUT,
                begun: false,
            }
        });
    }
}

/// The router's layer that lifts the header deadline of a request's connection while the
/// request is handled (requests without a [`Connection`], as in a router served otherwise, pass
/// through).
pub async fn track_requests(request: Request, next: Next) -> Response {
    let handling = request
        .extensions()
        .get::<ConnectInfo<Connection>>()
        .map(|ConnectInfo(connection)| connection.handling());
    let response = next.run(request).await;
    // The answer is handled until its body is sent: a stream of events may last for hours.
    match handling {
        Some(handling) => response.map(|body| {
            Body::new(SendingBody {
                body,
                _handling: handling,
            })
        }),
        None => response,
    }
}

/// A response's body, holding its request's [`Handling`] until it is sent (or dropped).
struct SendingBody {
    body: Body,
    _handling: Handling,
}

impl HttpBody for SendingBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// An accepted socket whose reads fail once its connection's header deadline has passed.
#[derive(Debug)]
pub struct TimedStream {
    socket: TcpStream,
    connection: Connection,
    /// The timer of the current deadline, made when a read first has to wait for it.
    timer: Option<Pin<Box<Sleep>>>,
}

impl TimedStream {
    fn new(socket: TcpStream) -> Self {
        Self {
            socket,
            connection: Connection::waiting_for_headers(),
            timer: None,
        }
    }
}

/// What a client that began a request but did not finish its headers in time gets.
fn header_timeout_answer() -> String {
    let body = format!(
        "{{\"error\":\"the request's headers did not arrive within {} s\"}}",
        HEADER_READ_TIMEOUT.as_secs()
    );
    format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n\
         x-content-type-options: nosniff\r\nreferrer-policy: no-referrer\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

impl AsyncRead for TimedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if let Poll::Ready(result) = Pin::new(&mut this.socket).poll_read(cx, buf) {
            if buf.filled().len() > before {
                this.connection.received();
            }
            return Poll::Ready(result);
        }
        let Some(deadline) = this.connection.deadline() else {
            this.timer = None;
            return Poll::Pending;
        };
        let timer = match &mut this.timer {
            Some(timer) if timer.deadline() == deadline => timer,
            _ => this
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if this.connection.headers_begun() {
            // Best effort: the client may not be reading, and the socket is closed anyway.
            this.socket
                .try_write(header_timeout_answer().as_bytes())
                .ok();
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no complete request headers in time",
        )))
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_shutdown(cx)
    }
}
