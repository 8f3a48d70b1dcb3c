//! The stdio framing: newline-delimited JSON-RPC (MCP "stdio" transport), read and written
//! here rather than by rmcp, because rmcp drops a line that is not JSON without a word, and
//! JSON-RPC 2.0 owes the sender a `-32700` (see [`crate::jsonrpc`]).
//!
//! One writer task owns the output: rmcp's messages and the framing's own error replies go
//! through one channel, one line each, so they never interleave.

use std::io;

use bytes::{Buf, BytesMut};
use futures::{SinkExt, Stream, StreamExt};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, FramedRead};
use tokio_util::sync::PollSender;

use crate::jsonrpc;

/// The longest accepted line, in bytes (rmcp's limit too). A longer line is discarded as it
/// arrives and answered with `-32600`.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Lines queued for stdout before senders wait.
const QUEUE: usize = 64;

/// One line of input.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// A line, without its `\n` (or `\r\n`).
    Line(BytesMut),
    /// A line longer than the limit, already discarded.
    Oversized,
}

/// Splits input into lines of at most `max` bytes without ever buffering more than that;
/// never fails on content, so one bad line cannot end the stream.
#[derive(Debug)]
struct Lines {
    max: usize,
    /// Bytes already searched for `\n`.
    searched: usize,
    /// Inside a line that is too long: drop everything up to its `\n`.
    discarding: bool,
}

impl Lines {
    fn new(max: usize) -> Self {
        Self { max, searched: 0, discarding: false }
    }
}

impl Decoder for Lines {
    type Item = Frame;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, io::Error> {
        match buf[self.searched..].iter().position(|b| *b == b'\n') {
            Some(offset) => {
                let end = self.searched + offset;
                self.searched = 0;
                let mut line = buf.split_to(end + 1);
                if std::mem::take(&mut self.discarding) || end > self.max {
                    return Ok(Some(Frame::Oversized));
                }
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                Ok(Some(Frame::Line(line)))
            }
            None if self.discarding || buf.len() > self.max => {
                buf.advance(buf.len());
                self.searched = 0;
                self.discarding = true;
                Ok(None)
            }
            None => {
                self.searched = buf.len();
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, io::Error> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        self.searched = 0;
        if std::mem::take(&mut self.discarding) {
            buf.clear();
            return Ok(Some(Frame::Oversized));
        }
        // A last line without its newline is still a message.
        Ok((!buf.is_empty()).then(|| Frame::Line(buf.split())))
    }
}

/// The sink rmcp writes to failed: stdout is gone, or a message would not serialize.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The writer task has stopped (stdout closed).
    Closed,
    /// A message could not be serialized.
    Encode(serde_json::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => f.write_str("stdout is closed"),
            Self::Encode(e) => write!(f, "a message could not be serialized: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

impl<T> From<tokio_util::sync::PollSendError<T>> for SendError {
    fn from(_: tokio_util::sync::PollSendError<T>) -> Self {
        Self::Closed
    }
}

/// The transport rmcp serves over: a sink of server messages and a stream of client messages,
/// plus the writer task, which ends (flushed) once both are dropped.
pub(crate) fn transport<R, W>(
    reader: R,
    writer: W,
) -> (
    impl futures::Sink<ServerJsonRpcMessage, Error = SendError> + Send + Unpin + 'static,
    impl Stream<Item = ClientJsonRpcMessage> + Send + Unpin + 'static,
    tokio::task::JoinHandle<io::Result<()>>,
)
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let (lines, queue) = mpsc::channel::<String>(QUEUE);
    let writing = tokio::spawn(write_lines(queue, writer));
    let sink = PollSender::new(lines.clone()).with(|message: ServerJsonRpcMessage| {
        futures::future::ready(serde_json::to_string(&message).map_err(SendError::Encode))
    });
    let incoming = FramedRead::new(reader, Lines::new(MAX_LINE_BYTES))
        .take_while(|frame| {
            if let Err(e) = frame {
                tracing::error!(error = %e, "reading stdin failed");
            }
            futures::future::ready(frame.is_ok())
        })
        .filter_map(move |frame| {
            let lines = lines.clone();
            async move {
                let fault = match frame.ok()? {
                    Frame::Line(line) if line.iter().all(u8::is_ascii_whitespace) => return None,
                    Frame::Line(line) => match jsonrpc::parse(&line) {
                        Ok(message) => return Some(message),
                        Err(fault) => fault,
                    },
                    Frame::Oversized => jsonrpc::Fault {
                        code: jsonrpc::INVALID_REQUEST,
                        id: None,
                        message: format!("Invalid Request: a message must fit in {MAX_LINE_BYTES} bytes"),
                        notification: false,
                    },
                };
                tracing::debug!(code = fault.code, message = %fault.message, "refused a stdin line");
                if !fault.notification {
                    // A closed stdout ends the session through rmcp's own sends.
                    let _ = lines.send(fault.to_response().to_string()).await;
                }
                None
            }
        });
    (sink, Box::pin(incoming), writing)
}

/// Writes each queued line and a `\n`, flushing whenever the queue runs dry.
async fn write_lines<W: AsyncWrite + Unpin>(mut queue: mpsc::Receiver<String>, mut writer: W) -> io::Result<()> {
    while let Some(line) = queue.recv().await {
        writer.write_all(line.as_bytes()).await?;
        writer.write_all(b"\n").await?;
        while let Ok(line) = queue.try_recv() {
            writer.write_all(line.as_bytes()).await?;
            writer.write_all(b"\n").await?;
        }
        writer.flush().await?;
    }
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use tokio_util::codec::Decoder;

    use super::{Frame, Lines};

    fn frames(max: usize, input: &[&[u8]]) -> Vec<Frame> {
        let mut codec = Lines::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in input {
            buf.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                out.push(frame);
            }
        }
        while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
            out.push(frame);
        }
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(BytesMut::from(s))
    }

    #[test]
    fn lines_split_on_newlines_across_reads() {
        assert_eq!(frames(100, &[b"ab", b"c\r\nde\n", b"f"]), [line("abc"), line("de"), line("f")]);
    }

    #[test]
    fn a_long_line_is_dropped_and_the_next_one_read() {
        assert_eq!(frames(4, &[b"12345", b"678", b"9\nok\n"]), [Frame::Oversized, line("ok")]);
        assert_eq!(frames(4, &[b"123456\nok\n"]), [Frame::Oversized, line("ok")]);
        assert_eq!(frames(4, &[b"1234\n"]), [line("1234")]);
        assert_eq!(frames(4, &[b"123456789"]), [Frame::Oversized]);
    }
}
