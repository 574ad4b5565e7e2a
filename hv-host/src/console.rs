//! The console every guest shares: one output, one input.
//!
//! Output is assembled per guest into lines ([`LineBuffer`]); what one guest writes out goes
//! to the shared output with one `write_all` under its lock, so the lines of different guests
//! never interleave inside a line. Input is one byte stream (the host's stdin) that all guests
//! read from, first come, first served (see `input`).
//!
//! # Whole lines
//!
//! A guest's unfinished line is written out when the guest waits for input (so its prompt is
//! visible), when the line reaches [`MAX_LINE`] bytes (it goes out in pieces), and when the
//! guest ends. The console remembers whose unfinished line was written last ("the open
//! line"):
//! - if another guest's output must go out, a `\n` ends the open line first, so every line on
//!   the output belongs to one guest;
//! - if the same guest goes on, its text continues the line, without a new prefix;
//! - with `--prefix`, a guest that ends leaves no open line behind (a `\n` ends it).
//!
//! Without `--prefix` the only bytes the host ever adds are those `\n` between two guests'
//! output, so one guest's output is byte-exact. With `--prefix`, what `escape` names (control
//! characters other than `\n` and `\t`, bidirectional controls, line separators, invisible
//! format characters) is shown escaped, as `\xHH` or `\u{H...}`, so no guest can forge another's
//! prefix (`\r[1] `), reorder or hide its text, or drive the terminal (ANSI escapes). Bytes
//! that are not UTF-8 pass as they are.
//!
//! # Bounded memory
//!
//! A guest's line and its batch of completed lines are capped ([`MAX_LINE`], [`BATCH_CAP`]): a
//! large write is processed in pieces, so a guest's console buffers never grow with the size of
//! its calls.
//!
//! # Output errors
//!
//! The first failed write stops the run (see `stop`): a closed pipe (`EPIPE`, as in
//! `hv-host ... | head`) quietly, any other error with one message from the command line.
//! Nothing more is written after it; every guest is stopped at its next exit or kick.

use std::io::{self, Read, Write};
use std::sync::Mutex;

use hv_core::proto::console::MAX_LINE;

use crate::input::Input;
use crate::stop::{StopReason, Stopper};

/// Bytes of completed lines a guest's buffer holds at most before they are written out.
pub(crate) const BATCH_CAP: usize = 16 * 1024;

/// The console shared by all guests of one run.
pub struct Console {
    output: Mutex<Output>,
    pub(crate) input: Input,
    prefix_ids: bool,
    stopper: Stopper,
}

struct Output {
    writer: Box<dyn Write + Send>,
    /// The guest whose unfinished line was the last thing written, if any.
    open: Option<u32>,
    /// Set by the first write error: nothing more is written.
    failed: bool,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").field("prefix_ids", &self.prefix_ids).finish_non_exhaustive()
    }
}

impl Console {
    /// A console over the given streams; with `prefix_ids` every line starts with `[ID] `.
    pub fn new(
        output: Box<dyn Write + Send>,
        input: Box<dyn Read + Send>,
        prefix_ids: bool,
    ) -> Self {
        let stopper = Stopper::new();
        Console {
            output: Mutex::new(Output { writer: output, open: None, failed: false }),
            input: Input::new(input, stopper.clone()),
            prefix_ids,
            stopper,
        }
    }

    /// The stopper of the run this console belongs to; output errors stop it.
    pub(crate) fn stopper(&self) -> &Stopper {
        &self.stopper
    }

    /// Writes `text` of guest `who`: whole lines, then, if `ends_open`, an unfinished one.
    /// `text` starts with the guest's prefix (`prefix_len` bytes), left out when it continues
    /// the guest's own open line.
    fn emit(&self, who: u32, text: &[u8], prefix_len: usize, ends_open: bool) {
        let mut out = self.output.lock().unwrap_or_else(|p| p.into_inner());
        if out.failed {
            return;
        }
        let text = match out.open {
            Some(open) if open == who => &text[prefix_len..],
            Some(_) => {
                if let Err(e) = out.writer.write_all(b"\n") {
                    return self.fail(&mut out, e);
                }
                text
            }
            None => text,
        };
        out.open = ends_open.then_some(who);
        let result = out.writer.write_all(text).and_then(|()| out.writer.flush());
        if let Err(e) = result {
            self.fail(&mut out, e);
        }
    }

    /// Guest `who` has ended: with prefixes, or when a signal stopped the run (the output ends
    /// there, and what comes next, a shell prompt, must not continue its line), its open line
    /// (if any) is ended with `\n`.
    fn close(&self, who: u32) {
        let signalled = matches!(self.stopper.reason(), Some(StopReason::Signal(_)));
        if !self.prefix_ids && !signalled {
            return;
        }
        let mut out = self.output.lock().unwrap_or_else(|p| p.into_inner());
        if out.failed || out.open != Some(who) {
            return;
        }
        out.open = None;
        let result = out.writer.write_all(b"\n").and_then(|()| out.writer.flush());
        if let Err(e) = result {
            self.fail(&mut out, e);
        }
    }

    /// The output failed: no more writes, and the run stops.
    fn fail(&self, out: &mut Output, e: io::Error) {
        out.failed = true;
        let reason = match e.kind() {
            io::ErrorKind::BrokenPipe => StopReason::BrokenPipe,
            _ => StopReason::OutputFailed(e.to_string()),
        };
        self.stopper.stop(reason);
    }
}

/// One guest's output not yet written: the current partial line and completed lines.
#[derive(Debug)]
pub(crate) struct LineBuffer {
    id: u32,
    /// The `[ID] ` prefix (when lines are prefixed), then the partial line (at most
    /// [`MAX_LINE`] bytes). The prefix stays in place between lines, so a line is moved to the
    /// batch with one copy.
    line: Vec<u8>,
    prefix_len: usize,
    /// Completed lines, each with its prefix, written together: one write per push (or per
    /// [`BATCH_CAP`] bytes), not per line.
    batch: Vec<u8>,
    /// With `--prefix`: what `escape` names is escaped.
    escape: bool,
    /// The start of a UTF-8 sequence held back while escaping, until it is complete: the
    /// character it makes may need its escape.
    held: [u8; 4],
    /// Bytes in `held`.
    held_len: usize,
}

impl LineBuffer {
    pub(crate) fn new(id: u32, console: &Console) -> Self {
        let mut line = Vec::new();
        if console.prefix_ids {
            line.extend_from_slice(format!("[{id}] ").as_bytes());
        }
        let prefix_len = line.len();
        // Full size at once: neither buffer ever grows past these (see `end_line` and `put`).
        line.reserve_exact(MAX_LINE + 1);
        let batch = Vec::with_capacity(BATCH_CAP + line.capacity());
        LineBuffer {
            id,
            line,
            prefix_len,
            batch,
            escape: console.prefix_ids,
            held: [0; 4],
            held_len: 0,
        }
    }

    fn content_len(&self) -> usize {
        self.line.len() - self.prefix_len
    }

    /// Adds guest output; writes out the lines it completes (one write, or one per
    /// [`BATCH_CAP`] bytes), and pieces of an over-long line.
    ///
    /// The lines completed by one push go out in one write: they are whole lines of this guest
    /// only, so they still cannot interleave with another guest's, and a guest printing 4 KiB
    /// of short lines costs the host one system call instead of one per line.
    pub(crate) fn push(&mut self, console: &Console, bytes: &[u8]) {
        if self.escape {
            for &b in bytes {
                self.push_escaped(console, b);
            }
        } else {
            let mut rest = bytes;
            while !rest.is_empty() {
                let room = MAX_LINE - self.content_len();
                let window = &rest[..rest.len().min(room)];
                if let Some(nl) = window.iter().position(|&b| b == b'\n') {
                    self.line.extend_from_slice(&window[..=nl]);
                    self.end_line(console);
                    rest = &rest[nl + 1..];
                } else {
                    self.line.extend_from_slice(window);
                    rest = &rest[window.len()..];
                    if self.content_len() == MAX_LINE {
                        self.cut(console);
                    }
                }
            }
        }
        self.write_batch(console);
    }

    /// One byte with `--prefix`: shown as itself unless the character it ends needs its escape
    /// (see `escape`). A multi-byte UTF-8 character is held back until it is complete.
    fn push_escaped(&mut self, console: &Console, b: u8) {
        if self.held_len > 0 {
            if b & 0xC0 == 0x80 {
                self.held[self.held_len] = b;
                self.held_len += 1;
                if self.held_len == utf8_len(self.held[0]) {
                    self.put_held(console);
                }
                return;
            }
            // Not a continuation: what was held is no character; it goes out as it is.
            self.release_held(console);
        }
        match b {
            b'\n' => {
                self.line.push(b'\n');
                self.end_line(console);
            }
            0x00..=0x7F if crate::escape::needs_escape(char::from(b)) => {
                let mut text = Vec::with_capacity(4);
                crate::escape::escape_char_bytes(char::from(b), &mut text);
                self.put(console, &text);
            }
            0xC2..=0xF4 => {
                self.held[0] = b;
                self.held_len = 1;
            }
            _ => self.put(console, &[b]),
        }
    }

    /// A complete UTF-8 sequence is held: its character, escaped if need be, or its bytes as
    /// they are if they make no character.
    fn put_held(&mut self, console: &Console) {
        let held = self.held;
        let bytes = &held[..self.held_len];
        self.held_len = 0;
        match std::str::from_utf8(bytes).ok().and_then(|s| s.chars().next()) {
            Some(c) if crate::escape::needs_escape(c) => {
                let mut text = Vec::with_capacity(12);
                crate::escape::escape_char_bytes(c, &mut text);
                self.put(console, &text);
            }
            _ => self.put(console, bytes),
        }
    }

    /// Sends an incomplete held sequence on as it is.
    fn release_held(&mut self, console: &Console) {
        let held = self.held;
        let len = std::mem::take(&mut self.held_len);
        if len > 0 {
            self.put(console, &held[..len]);
        }
    }

    /// Appends text that must stay in one piece (one escaped character) to the line.
    fn put(&mut self, console: &Console, text: &[u8]) {
        if self.content_len() + text.len() > MAX_LINE {
            self.cut(console);
        }
        self.line.extend_from_slice(text);
    }

    /// The line (with its `\n`) is complete: into the batch.
    fn end_line(&mut self, console: &Console) {
        self.batch.extend_from_slice(&self.line);
        self.line.truncate(self.prefix_len);
        if self.batch.len() >= BATCH_CAP {
            self.write_batch(console);
        }
    }

    /// The line is as long as a line gets: the lines before it, then it, go out; the guest's
    /// next bytes continue it (or start a new line if another guest's output came between).
    fn cut(&mut self, console: &Console) {
        self.write_batch(console);
        console.emit(self.id, &self.line, self.prefix_len, true);
        self.line.truncate(self.prefix_len);
    }

    fn write_batch(&mut self, console: &Console) {
        if !self.batch.is_empty() {
            console.emit(self.id, &self.batch, self.prefix_len, false);
            self.batch.clear();
        }
    }

    /// Writes out everything, the unfinished line too (before the guest waits for input).
    pub(crate) fn flush(&mut self, console: &Console) {
        self.release_held(console);
        self.write_batch(console);
        if self.content_len() > 0 {
            self.cut(console);
        }
    }

    /// The guest has ended: writes out everything; its unfinished line becomes a line of its
    /// own.
    pub(crate) fn finish(&mut self, console: &Console) {
        self.flush(console);
        console.close(self.id);
    }
}

/// The length of the UTF-8 sequence `lead` starts (a lead byte 0xC2-0xF4).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<Vec<u8>>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn writes(&self) -> Vec<Vec<u8>> {
            self.0.lock().unwrap().clone()
        }
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.writes().concat()).into_owned()
        }
    }

    fn console(prefix: bool) -> (Sink, Console) {
        let sink = Sink::default();
        let console = Console::new(Box::new(sink.clone()), Box::new(io::empty()), prefix);
        (sink, console)
    }

    #[test]
    fn lines_are_written_whole_and_prefixed() {
        let (sink, console) = console(true);
        let mut lb = LineBuffer::new(3, &console);
        lb.push(&console, b"he");
        lb.push(&console, b"llo\nwor");
        lb.push(&console, b"ld\n\npartial");
        lb.finish(&console);
        let writes = sink.writes();
        let writes: Vec<&[u8]> = writes.iter().map(|w| w.as_slice()).collect();
        // The two lines one push completes go out in one write, each with its prefix.
        assert_eq!(writes, [&b"[3] hello\n"[..], b"[3] world\n[3] \n", b"[3] partial", b"\n"]);
    }

    #[test]
    fn an_unfinished_line_is_never_glued_to_another_guests() {
        let (sink, console) = console(true);
        let mut a = LineBuffer::new(0, &console);
        let mut b = LineBuffer::new(1, &console);
        a.push(&console, b"name? ");
        a.flush(&console); // waits for input: the prompt is visible
        a.push(&console, b"bob\n"); // the same guest goes on: the same line
        a.push(&console, b"no newline");
        a.flush(&console);
        b.push(&console, b"guest one line\n");
        a.push(&console, b" and more\n");
        a.push(&console, b"last");
        a.finish(&console);
        b.push(&console, b"after\n");
        assert_eq!(
            sink.text(),
            "[0] name? bob\n[0] no newline\n[1] guest one line\n[0]  and more\n[0] last\n[1] after\n"
        );
    }

    #[test]
    fn without_prefix_one_guest_is_byte_exact() {
        let (sink, console) = console(false);
        let mut a = LineBuffer::new(0, &console);
        let bytes: Vec<u8> = (0..=255u8).cycle().take(3 * MAX_LINE + 7).collect();
        a.push(&console, &bytes);
        a.flush(&console);
        a.push(&console, b"\r\x1b[2Jend");
        a.finish(&console);
        let mut want = bytes.clone();
        want.extend_from_slice(b"\r\x1b[2Jend");
        assert_eq!(sink.writes().concat(), want);
        // Another guest's output starts on a line of its own.
        let mut b = LineBuffer::new(1, &console);
        b.push(&console, b"x\n");
        assert!(sink.writes().concat().ends_with(b"end\nx\n"));
    }

    #[test]
    fn with_prefix_control_characters_are_escaped() {
        let (sink, console) = console(true);
        let mut a = LineBuffer::new(0, &console);
        a.push(&console, b"ok\tfine\r[1] forged\x1b[2J\x7f \xc2");
        a.push(&console, b"\x9b caf\xc3\xa9 \xc2\xa9\n");
        assert_eq!(
            sink.text(),
            "[0] ok\tfine\\x0d[1] forged\\x1b[2J\\x7f \\u{9b} caf\u{e9} \u{a9}\n"
        );
    }

    #[test]
    fn with_prefix_bidi_controls_and_line_separators_are_escaped() {
        let (sink, console) = console(true);
        let mut a = LineBuffer::new(0, &console);
        // U+202E split across two writes; U+2028, U+061C; a zero-width joiner is kept; bytes
        // that are no UTF-8 pass as they are, and a sequence cut by a newline too.
        a.push(&console, b"x\xe2\x80");
        a.push(&console, b"\xaey \xe2\x80\xa8z \xd8\x9c \xe2\x80\x8d \xff\xfe \xe2\x80\n");
        a.push(&console, b"end \xf0\x9f");
        a.finish(&console);
        assert_eq!(
            sink.writes().concat(),
            b"[0] x\\u{202e}y \\u{2028}z \\u{61c} \xe2\x80\x8d \xff\xfe \xe2\x80\n[0] end \xf0\x9f\n"
        );
    }

    #[test]
    fn long_lines_go_out_in_pieces_never_split_by_others() {
        let (sink, console) = console(true);
        let mut a = LineBuffer::new(0, &console);
        let mut b = LineBuffer::new(1, &console);
        a.push(&console, &vec![b'a'; MAX_LINE + 10]);
        b.push(&console, b"b\n");
        a.push(&console, b"\n");
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text:?}");
        assert_eq!(lines[0], format!("[0] {}", "a".repeat(MAX_LINE)));
        assert_eq!(lines[1], "[1] b");
        assert_eq!(lines[2], format!("[0] {}", "a".repeat(10)));
    }

    #[test]
    fn buffers_stay_bounded_whatever_one_call_writes() {
        for prefix in [false, true] {
            let (sink, console) = console(prefix);
            let mut a = LineBuffer::new(12, &console);
            // 8 MiB in one call: short lines, then one huge line.
            let mut big: Vec<u8> =
                b"a short line\n".iter().copied().cycle().take(4 << 20).collect();
            big.extend(std::iter::repeat_n(b'x', 4 << 20));
            a.push(&console, &big);
            a.finish(&console);
            let cap = BATCH_CAP + MAX_LINE + 32;
            assert!(a.line.capacity() <= MAX_LINE + 32, "{}", a.line.capacity());
            assert!(a.batch.capacity() <= cap, "{}", a.batch.capacity());
            assert!(sink.writes().iter().all(|w| w.len() <= cap));
            let want = if prefix { 8 << 20 } else { big.len() };
            assert!(sink.writes().concat().len() >= want);
        }
    }

    /// A writer that fails every write with `kind`, counting the attempts.
    struct Broken(io::ErrorKind, Arc<Mutex<usize>>);
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            *self.1.lock().unwrap() += 1;
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_first_output_error_stops_the_run_and_ends_all_writing() {
        for (kind, reason) in [
            (io::ErrorKind::BrokenPipe, StopReason::BrokenPipe),
            (
                io::ErrorKind::StorageFull,
                StopReason::OutputFailed(io::Error::from(io::ErrorKind::StorageFull).to_string()),
            ),
        ] {
            let attempts = Arc::new(Mutex::new(0));
            let console = Console::new(
                Box::new(Broken(kind, attempts.clone())),
                Box::new(io::empty()),
                false,
            );
            let mut a = LineBuffer::new(0, &console);
            for _ in 0..100 {
                a.push(&console, b"line\n");
            }
            assert_eq!(*attempts.lock().unwrap(), 1);
            assert_eq!(console.stopper().reason(), Some(reason));
        }
    }
}
