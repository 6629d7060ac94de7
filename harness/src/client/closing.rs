//! Connections that end with the scenario run that opened them.
//!
//! An RPC the harness abandons does not always end on the server: a stream
//! whose request body is blocked by the server's flow control keeps its
//! HTTP/2 stream (and the connection task under it) alive after every
//! handle of the channel is dropped, since no RST_STREAM can go out before
//! the queued data. Its handler then lives on in the server, and against a
//! server that runs one handler at a time it holds the next scenario's
//! RPCs back. So every connection of a client channel watches the
//! channel's [`Closer`]: once it is closed (the runner closes a run's
//! channels when the run ends), the connection's reads and writes fail,
//! the HTTP/2 connection ends and the socket is closed, which ends every
//! stream of it on the server too.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Closes every connection of the channels it was given to.
#[derive(Debug, Clone, Default)]
pub struct Closer {
    token: CancellationToken,
}

impl Closer {
    /// Closes the connections now (and any opened later).
    pub fn close(&self) {
        self.token.cancel();
    }

    /// A closer closed with this one (or on its own); closed already if
    /// this one is.
    pub fn child(&self) -> Closer {
        Closer {
            token: self.token.child_token(),
        }
    }

    /// `io`, failing from the moment this closer is closed.
    pub(crate) fn watch<T>(&self, io: T) -> Closing<T> {
        Closing {
            io,
            closed: Box::pin(self.token.clone().cancelled_owned()),
        }
    }
}

/// A connection's byte stream that fails once its [`Closer`] is closed.
pub struct Closing<T> {
    io: T,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<T> Closing<T> {
    /// Ready with the error to return once the closer is closed. Polled
    /// only when the connection would wait anyway, so that the wait also
    /// wakes on the close; a busy connection sees the close at its next
    /// wait.
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        self.closed.as_mut().poll(cx).map(|()| closed_error())
    }
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the scenario run that opened this connection has ended",
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for Closing<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending => this.poll_closed(cx).map(Err),
            ready => ready,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Closing<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Pending => this.poll_closed(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.poll_closed(cx).map(Err),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => this.poll_closed(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_read_waiting_for_data_fails_once_the_closer_is_closed() {
        let (near, mut far) = tokio::io::duplex(64);
        let closer = Closer::default();
        let mut io = closer.watch(near);
        far.write_all(b"ping").await.expect("the peer writes");
        let mut buf = [0u8; 4];
        io.read_exact(&mut buf)
            .await
            .expect("data before the close is read");
        assert_eq!(&buf, b"ping");

        let reader = tokio::spawn(async move {
            let mut byte = [0u8; 1];
            io.read(&mut byte).await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !reader.is_finished(),
            "the read waits while nothing arrives"
        );
        closer.close();
        let outcome = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("the close wakes the waiting read")
            .expect("the reader task ends");
        let err = outcome.expect_err("a read after the close fails");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        drop(far);
    }

    #[tokio::test]
    async fn a_write_blocked_by_a_full_pipe_fails_once_the_closer_is_closed() {
        let (near, _far) = tokio::io::duplex(8);
        let closer = Closer::default();
        let mut io = closer.watch(near);
        let writer = tokio::spawn(async move { io.write_all(&[0u8; 64]).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!writer.is_finished(), "the write waits for room");
        closer.close();
        let outcome = tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the close wakes the blocked write")
            .expect("the writer task ends");
        assert_eq!(
            outcome.expect_err("the blocked write fails").kind(),
            io::ErrorKind::ConnectionAborted
        );
    }
}
