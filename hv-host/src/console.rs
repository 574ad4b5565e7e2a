//! The console every guest shares: one output, one input.
//!
//! Output is assembled per guest into lines ([`LineBuffer`]) and each line is written to the
//! shared output with a single `write_all` under its lock, so lines of different guests never
//! interleave inside a line. Input is one byte stream (the host's stdin) that all guests read
//! from; who gets which byte is first come, first served.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::Mutex;

use hv_core::proto::console::MAX_LINE;

/// The console shared by all guests of one run.
pub struct Console {
    output: Mutex<Box<dyn Write + Send>>,
    input: Mutex<Input>,
    prefix_ids: bool,
}

struct Input {
    reader: BufReader<Box<dyn Read + Send>>,
    eof: bool,
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
        Console {
            output: Mutex::new(output),
            input: Mutex::new(Input { reader: BufReader::new(input), eof: false }),
            prefix_ids,
        }
    }

    /// Writes whole lines (or one partial line) of one guest, with one call.
    fn write_line(&self, line: &[u8]) -> io::Result<()> {
        let mut out = self.output.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(line)?;
        out.flush()
    }

    /// Reads the next input byte, or `None` at end of input (or on a read error, which is
    /// logged: to the guest both mean there is nothing more to read).
    pub(crate) fn read_byte(&self) -> Option<u8> {
        let mut input = self.input.lock().unwrap_or_else(|p| p.into_inner());
        if input.eof {
            return None;
        }
        let byte = match input.reader.fill_buf() {
            Ok([]) => None,
            Ok(buf) => Some(buf[0]),
            Err(e) => {
                log::warn!("reading stdin: {e}; treating it as end of input");
                None
            }
        };
        match byte {
            Some(_) => input.reader.consume(1),
            None => input.eof = true,
        }
        byte
    }
}

/// One guest's output not yet written: the current partial line.
#[derive(Debug)]
pub(crate) struct LineBuffer {
    id: u32,
    /// The `[ID] ` prefix (when lines are prefixed), then the partial line. The prefix stays in
    /// place between lines, so a line is written with one call and no allocation.
    line: Vec<u8>,
    prefix_len: usize,
    /// The lines one push completes, written together: one write per push, not per line.
    batch: Vec<u8>,
}

impl LineBuffer {
    pub(crate) fn new(id: u32, console: &Console) -> Self {
        let mut line = Vec::with_capacity(256);
        if console.prefix_ids {
            line.extend_from_slice(format!("[{id}] ").as_bytes());
        }
        let prefix_len = line.len();
        LineBuffer { id, line, prefix_len, batch: Vec::new() }
    }

    fn is_empty(&self) -> bool {
        self.line.len() == self.prefix_len
    }

    /// Adds guest output; writes out every completed line, and pieces of an over-long one.
    ///
    /// The lines completed by one push go out in one write: they are whole lines of this guest
    /// only, so they still cannot interleave with another guest's, and a guest printing 4 KiB
    /// of short lines costs the host one system call instead of one per line.
    pub(crate) fn push(&mut self, console: &Console, mut bytes: &[u8]) {
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let (head, rest) = bytes.split_at(nl + 1);
            self.line.extend_from_slice(head);
            self.batch.extend_from_slice(&self.line);
            self.line.truncate(self.prefix_len);
            bytes = rest;
        }
        if !self.batch.is_empty() {
            if let Err(e) = console.write_line(&self.batch) {
                log::warn!("guest {}: writing console output: {e}", self.id);
            }
            self.batch.clear();
        }
        self.line.extend_from_slice(bytes);
        if self.line.len() - self.prefix_len >= MAX_LINE {
            self.flush(console);
        }
    }

    fn write_out(&mut self, console: &Console) {
        if let Err(e) = console.write_line(&self.line) {
            log::warn!("guest {}: writing console output: {e}", self.id);
        }
        self.line.truncate(self.prefix_len);
    }

    /// Writes the partial line, if any (before the guest reads input, and when it ends).
    pub(crate) fn flush(&mut self, console: &Console) {
        if !self.is_empty() {
            self.write_out(console);
        }
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

    #[test]
    fn lines_are_written_whole_and_prefixed() {
        let sink = Sink::default();
        let console = Console::new(Box::new(sink.clone()), Box::new(io::empty()), true);
        let mut lb = LineBuffer::new(3, &console);
        lb.push(&console, b"he");
        lb.push(&console, b"llo\nwor");
        lb.push(&console, b"ld\n\npartial");
        lb.flush(&console);
        let writes = sink.0.lock().unwrap().clone();
        let writes: Vec<&[u8]> = writes.iter().map(|w| w.as_slice()).collect();
        // The two lines one push completes go out in one write, each with its prefix.
        assert_eq!(writes, [&b"[3] hello\n"[..], b"[3] world\n[3] \n", b"[3] partial"]);
    }

    #[test]
    fn input_reports_eof_and_stays_there() {
        let console = Console::new(Box::new(io::sink()), Box::new(&b"ab"[..]), false);
        assert_eq!(console.read_byte(), Some(b'a'));
        assert_eq!(console.read_byte(), Some(b'b'));
        assert_eq!(console.read_byte(), None);
        assert_eq!(console.read_byte(), None);
    }
}
