//! Connection timeouts: where each connection is in its request cycle, and a watchdog that
//! closes it when it stays too long where no request is being served.
//!
//! - **Head** (from accept, or from the first byte after an idle spell, until the request
//!   head is complete): at most `header_read_timeout`. This is what stops a client that sends
//!   half a request line or half the headers, before it is authenticated.
//! - **Busy** (a request is being served: its body is read under `body_read_timeout` by the
//!   MCP route, its tool call under the tool's deadline): no connection timeout.
//! - **Idle** (the last response has been handed to hyper, no byte of the next request yet):
//!   at most `idle_timeout`; this is the keep-alive limit, and it also ends a client that
//!   stops reading a response it asked for.
//!
//! hyper's own `header_read_timeout` starts when hyper waits for a head, idle or not, so it
//! cannot tell an idle keep-alive connection from a stalled request; hence this watchdog.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

/// Where a connection is in its request cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Reading a request head, since this instant.
    Head(Instant),
    /// Serving a request.
    Busy,
    /// Between requests, since this instant.
    Idle(Instant),
}

/// The limits, from [`crate::HttpConfig`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) header_read: Duration,
    pub(crate) idle: Duration,
}

/// One connection's phase, shared by its socket, its requests and its watchdog.
#[derive(Debug)]
pub(crate) struct Cycle(watch::Sender<Phase>);

impl Cycle {
    /// A connection just accepted: reading its first head.
    pub(crate) fn start() -> (Arc<Self>, watch::Receiver<Phase>) {
        let (tx, rx) = watch::channel(Phase::Head(Instant::now()));
        (Arc::new(Self(tx)), rx)
    }

    /// Bytes arrived: an idle connection starts reading a head.
    fn bytes_arrived(&self) {
        self.0.send_if_modified(|phase| match phase {
            Phase::Idle(_) => {
                *phase = Phase::Head(Instant::now());
                true
            }
            Phase::Head(_) | Phase::Busy => false,
        });
    }

    /// A request head is complete and the request is being served.
    pub(crate) fn busy(&self) {
        self.0.send_replace(Phase::Busy);
    }

    /// The response has been handed over: idle until the next request.
    fn idle(&self) {
        self.0.send_replace(Phase::Idle(Instant::now()));
    }
}

/// Completes when the connection has stayed in `Head` or `Idle` past its limit, with the
/// phase that expired; never while a request is being served.
pub(crate) async fn expiry(mut phase: watch::Receiver<Phase>, limits: Timeouts) -> Phase {
    loop {
        let current = *phase.borrow_and_update();
        let deadline = match current {
            Phase::Head(since) => since + limits.header_read,
            Phase::Idle(since) => since + limits.idle,
            Phase::Busy => {
                if phase.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                continue;
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return current,
            changed = phase.changed() => if changed.is_err() { std::future::pending::<()>().await },
        }
    }
}

/// A socket that reports arriving bytes to its connection's [`Cycle`].
#[derive(Debug)]
pub(crate) struct Tracked<T> {
    io: T,
    cycle: Arc<Cycle>,
}

impl<T> Tracked<T> {
    pub(crate) fn new(io: T, cycle: Arc<Cycle>) -> Self {
        Self { io, cycle }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.cycle.bytes_arrived();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A response body that marks its connection idle once hyper has taken all of it (or dropped
/// it), so a long streamed response is never cut by the idle limit.
pub(crate) struct Handover<B> {
    inner: B,
    cycle: Arc<Cycle>,
}

impl<B> Handover<B> {
    pub(crate) fn new(inner: B, cycle: Arc<Cycle>) -> Self {
        Self { inner, cycle }
    }
}

impl<B> Drop for Handover<B> {
    fn drop(&mut self) {
        self.cycle.idle();
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Handover<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Cycle, Phase, Timeouts, expiry};

    const LIMITS: Timeouts = Timeouts { header_read: Duration::from_secs(10), idle: Duration::from_secs(60) };

    #[tokio::test(start_paused = true)]
    async fn a_head_that_never_completes_expires_after_the_header_limit() {
        let (_cycle, rx) = Cycle::start();
        let started = tokio::time::Instant::now();
        assert!(matches!(expiry(rx, LIMITS).await, Phase::Head(_)));
        assert_eq!(started.elapsed(), LIMITS.header_read);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_never_expires_and_an_idle_one_does() {
        let (cycle, rx) = Cycle::start();
        cycle.busy();
        let watchdog = tokio::spawn(expiry(rx, LIMITS));
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(!watchdog.is_finished(), "an hour-long request is not cut");
        let idle_since = tokio::time::Instant::now();
        cycle.idle();
        assert!(matches!(watchdog.await.unwrap(), Phase::Idle(_)));
        assert_eq!(idle_since.elapsed(), LIMITS.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_after_an_idle_spell_start_a_head() {
        let (cycle, rx) = Cycle::start();
        cycle.busy();
        cycle.idle();
        tokio::time::advance(Duration::from_secs(59)).await;
        let head_since = tokio::time::Instant::now();
        cycle.bytes_arrived();
        assert!(matches!(expiry(rx, LIMITS).await, Phase::Head(_)));
        assert_eq!(head_since.elapsed(), LIMITS.header_read);
    }
}
