//! A cell's stdout and stderr, each capped, shared by the `write-output`
//! import and the WASI file descriptors 1 and 2.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Text kept up to a byte cap; what does not fit is counted, not kept.
#[derive(Debug)]
pub(crate) struct CappedText {
    cap: usize,
    text: String,
    dropped: usize,
}

impl CappedText {
    pub(crate) fn new(cap: usize) -> Self {
        CappedText { cap, text: String::new(), dropped: 0 }
    }

    /// Room left, in bytes.
    pub(crate) fn room(&self) -> usize {
        if self.dropped > 0 { 0 } else { self.cap - self.text.len() }
    }

    /// Appends as much of `bytes` (UTF-8, decoded leniently) as fits, and
    /// counts the rest; `false` once the cap is reached. Reads no more of
    /// `bytes` than fits.
    pub(crate) fn push_bytes(&mut self, bytes: &[u8], total_len: usize) -> bool {
        let kept = String::from_utf8_lossy(bytes);
        let mut cut = self.room().min(kept.len());
        while !kept.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&kept[..cut]);
        let dropped = total_len.saturating_sub(bytes.len()) + (kept.len() - cut);
        self.dropped += dropped;
        dropped == 0
    }

    /// Bytes that did not fit.
    pub(crate) fn dropped(&self) -> usize {
        self.dropped
    }

    pub(crate) fn into_text(self) -> String {
        self.text
    }
}

/// Caps `text` at `cap` bytes (on a character boundary), with a visible note
/// of how much was cut.
pub(crate) fn cap_text(mut text: String, cap: usize) -> String {
    if text.len() <= cap {
        return text;
    }
    let total = text.len();
    let mut cut = cap;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!("\n[... {} more bytes cut ...]\n", total - cut));
    text
}

/// What a cell wrote, each stream capped.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) stdout: CappedText,
    pub(crate) stderr: CappedText,
}

impl Output {
    fn new(cap: usize) -> Self {
        Output { stdout: CappedText::new(cap), stderr: CappedText::new(cap) }
    }

    fn stream(&mut self, stderr: bool) -> &mut CappedText {
        if stderr { &mut self.stderr } else { &mut self.stdout }
    }
}

/// The current cell's output, shared by the `write-output` import and the
/// WASI stdout/stderr streams.
#[derive(Clone, Debug)]
pub(crate) struct SharedOutput {
    inner: Arc<Mutex<Output>>,
    cap: usize,
}

impl SharedOutput {
    pub(crate) fn new(cap: usize) -> Self {
        SharedOutput { inner: Arc::new(Mutex::new(Output::new(cap))), cap }
    }

    /// Room left in one stream, in bytes.
    pub(crate) fn room(&self, stderr: bool) -> usize {
        self.inner.lock().unwrap().stream(stderr).room()
    }

    /// Appends `bytes` (the first part of a write of `total_len` bytes).
    pub(crate) fn push(&self, stderr: bool, bytes: &[u8], total_len: usize) -> bool {
        self.inner.lock().unwrap().stream(stderr).push_bytes(bytes, total_len)
    }

    pub(crate) fn take(&self) -> Output {
        std::mem::replace(&mut *self.inner.lock().unwrap(), Output::new(self.cap))
    }
}

/// A WASI stdout or stderr: raw writes to fd 1 or 2 (`os.write`,
/// `sys.__stdout__`, CPython's fatal-error messages) join the cell's output.
/// Past the cap a write fails, so the guest sees an `OSError`.
#[derive(Clone)]
pub(crate) struct FdSink {
    pub(crate) output: SharedOutput,
    pub(crate) stderr: bool,
}

impl IsTerminal for FdSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for FdSink {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for FdSink {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let room = self.output.room(self.stderr);
        if self.output.push(self.stderr, &buf[..buf.len().min(room)], buf.len()) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(std::io::Error::other("the cell's output cap is reached")))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_fits_and_counts_the_rest() {
        let mut text = CappedText::new(5);
        assert!(text.push_bytes(b"abc", 3));
        assert!(!text.push_bytes("dé€".as_bytes(), 6));
        // Two bytes of room: "d" fits, "é" would be split, so it is cut before it.
        assert_eq!(text.text, "abcd");
        assert_eq!(text.dropped(), 5);
        assert_eq!(text.room(), 0);
        assert!(!text.push_bytes(b"", 100));
        assert_eq!(text.dropped(), 105);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_trusted() {
        let mut text = CappedText::new(100);
        assert!(text.push_bytes(b"a\xed\xb3\xbfb", 5));
        assert_eq!(text.into_text(), "a\u{fffd}\u{fffd}\u{fffd}b");
        assert_eq!(cap_text("x".repeat(10), 4), "xxxx\n[... 6 more bytes cut ...]\n");
    }
}
