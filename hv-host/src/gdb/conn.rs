//! The debugger's connection: one gdb, on a TCP port of 127.0.0.1 or on a Unix socket.
//!
//! The listening socket is opened when the configuration is checked (a port in use is refused
//! before any guest starts) and closed as soon as gdb has connected, so a second connection is
//! refused by the kernel (TCP: connection refused; the Unix socket's name is removed). TCP
//! listens on the loopback address only: a debugger can read and change everything in the
//! guest, so it is never offered to the network; the Unix socket is created with the process's
//! umask, so by default only its owner may connect.
//!
//! What gdb sends is read in bounded pieces and handed to `gdbstub`'s state machine byte by
//! byte; what goes back is collected and written once per reply (`gdbstub` writes a byte at a
//! time), with a write timeout, so a peer that stops reading cannot hold the guest's thread
//! for ever.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::stop::{StopReason, Stopper};

/// Where gdb connects to a debugged guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GdbEndpoint {
    /// A TCP port on 127.0.0.1 (0: any free port, named when the run starts).
    Tcp(u16),
    /// A Unix socket created at this path (an old socket there is replaced; any other file
    /// is left alone and refused).
    Unix(PathBuf),
}

impl GdbEndpoint {
    /// Parses the command line's `--gdb` value: `PORT`, `:PORT` or `PATH` for guest 0, or
    /// `ID:PORT` / `ID:PATH` for guest `ID`. A path that starts with digits and a colon can be
    /// written `./1:name`.
    pub fn parse_cli(value: &str) -> Result<(u32, GdbEndpoint), String> {
        let port = |p: &str| -> Result<GdbEndpoint, String> {
            p.parse::<u16>()
                .map(GdbEndpoint::Tcp)
                .map_err(|_| format!("invalid gdb port '{p}': use 0 to 65535"))
        };
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if value.is_empty() {
            return Err("empty --gdb value: give a port, a socket path, or ID:PORT".into());
        }
        if all_digits(value) {
            return Ok((0, port(value)?));
        }
        if let Some(p) = value.strip_prefix(':') {
            return Ok((0, port(p)?));
        }
        if let Some((id, rest)) = value.split_once(':')
            && all_digits(id)
        {
            let id = id.parse::<u32>().map_err(|_| format!("invalid guest ID '{id}' in --gdb"))?;
            if rest.is_empty() {
                return Err(format!("--gdb {value}: give a port or a socket path after the ID"));
            }
            let endpoint =
                if all_digits(rest) { port(rest)? } else { GdbEndpoint::Unix(rest.into()) };
            return Ok((id, endpoint));
        }
        Ok((0, GdbEndpoint::Unix(value.into())))
    }
}

impl std::fmt::Display for GdbEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GdbEndpoint::Tcp(port) => write!(f, "127.0.0.1:{port}"),
            GdbEndpoint::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// A listening socket for one gdb.
pub(crate) struct Listener {
    socket: Socket,
    /// What `target remote` takes: `127.0.0.1:PORT` (the port really bound) or the path.
    address: String,
    /// The Unix socket's name, removed once gdb has connected (or the guest ended first).
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Listener {
    /// Opens the socket gdb will connect to.
    pub(crate) fn bind(endpoint: &GdbEndpoint) -> io::Result<Listener> {
        match endpoint {
            GdbEndpoint::Tcp(port) => {
                let socket = TcpListener::bind((Ipv4Addr::LOCALHOST, *port))?;
                let address = socket.local_addr()?.to_string();
                Ok(Listener { socket: Socket::Tcp(socket), address, path: None })
            }
            GdbEndpoint::Unix(path) => {
                remove_stale_socket(path)?;
                let socket = UnixListener::bind(path)?;
                let address = path.display().to_string();
                Ok(Listener { socket: Socket::Unix(socket), address, path: Some(path.clone()) })
            }
        }
    }

    /// What to give gdb's `target remote`.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    fn fd(&self) -> RawFd {
        match &self.socket {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Waits for gdb to connect and closes the listening socket, so that no second debugger
    /// can; gives up with the reason if the run is stopped meanwhile.
    pub(crate) fn accept(self, stopper: &Stopper) -> Result<Conn, AcceptError> {
        loop {
            if stopper.requested() {
                let reason = stopper.reason().unwrap_or(StopReason::Signal(libc::SIGTERM));
                return Err(AcceptError::Stopped(reason));
            }
            if !readable(self.fd(), Duration::from_millis(100)).map_err(AcceptError::Io)? {
                continue;
            }
            let stream = match &self.socket {
                Socket::Tcp(s) => s.accept().map(|(c, _)| Stream::Tcp(c)),
                Socket::Unix(s) => s.accept().map(|(c, _)| Stream::Unix(c)),
            };
            match stream {
                Ok(stream) => return Conn::new(stream).map_err(AcceptError::Io),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(AcceptError::Io(e)),
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Why no gdb connected.
#[derive(Debug)]
pub(crate) enum AcceptError {
    /// The run was stopped first.
    Stopped(StopReason),
    /// The socket failed.
    Io(io::Error),
}

/// Removes a Unix socket left at `path` by an earlier run; anything else there is refused.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket; hv only replaces an old socket",
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// True once `fd` has something to read (or has hung up) within `timeout`; false on a timeout
/// or a signal (the caller re-checks why it waits).
pub(crate) fn readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd, which outlives the call.
    match unsafe { libc::poll(&mut pfd, 1, ms) } {
        -1 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(e) }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// How long a reply may take to leave: past it the peer is taken as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most bytes read from gdb at once.
const READ_CHUNK: usize = 4096;

/// The connection to gdb.
pub(crate) struct Conn {
    stream: Stream,
    /// Bytes of the reply being written, sent at `flush`.
    out: Vec<u8>,
    /// Bytes read and not handed on yet: `input[pos..]`.
    input: Vec<u8>,
    pos: usize,
}

impl Conn {
    fn new(stream: Stream) -> io::Result<Conn> {
        match &stream {
            Stream::Tcp(s) => {
                s.set_nonblocking(false)?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
            }
            Stream::Unix(s) => {
                s.set_nonblocking(false)?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
            }
        }
        Ok(Conn { stream, out: Vec::new(), input: Vec::new(), pos: 0 })
    }

    fn fd(&self) -> RawFd {
        match &self.stream {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    /// The next byte from gdb, waiting at most `timeout` for it: `None` if none came (or a
    /// signal interrupted the wait); an error when gdb has gone (end of file included).
    pub(crate) fn next_byte(&mut self, timeout: Duration) -> io::Result<Option<u8>> {
        if self.pos == self.input.len() {
            if !readable(self.fd(), timeout)? {
                return Ok(None);
            }
            self.input.resize(READ_CHUNK, 0);
            let n = match &mut self.stream {
                Stream::Tcp(s) => s.read(&mut self.input),
                Stream::Unix(s) => s.read(&mut self.input),
            };
            let n = match n {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(e),
            };
            self.input.truncate(n);
            self.pos = 0;
            if n == 0 {
                return Ok(None);
            }
        }
        let byte = self.input[self.pos];
        self.pos += 1;
        Ok(Some(byte))
    }
}

impl gdbstub::conn::Connection for Conn {
    type Error = io::Error;

    fn write(&mut self, byte: u8) -> io::Result<()> {
        self.out.push(byte);
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = match &mut self.stream {
            Stream::Tcp(s) => Write::write_all(s, &self.out),
            Stream::Unix(s) => Write::write_all(s, &self.out),
        };
        self.out.clear();
        result
    }

    fn on_session_start(&mut self) -> io::Result<()> {
        match &self.stream {
            // Replies are small and gdb waits for each: no Nagle delay.
            Stream::Tcp(s) => s.set_nodelay(true),
            Stream::Unix(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdb_values_parse() {
        let tcp = |id, port| Ok((id, GdbEndpoint::Tcp(port)));
        let unix = |id, path: &str| Ok((id, GdbEndpoint::Unix(path.into())));
        assert_eq!(GdbEndpoint::parse_cli("1234"), tcp(0, 1234));
        assert_eq!(GdbEndpoint::parse_cli(":1234"), tcp(0, 1234));
        assert_eq!(GdbEndpoint::parse_cli("0"), tcp(0, 0));
        assert_eq!(GdbEndpoint::parse_cli("2:1234"), tcp(2, 1234));
        assert_eq!(GdbEndpoint::parse_cli("2:gdb.sock"), unix(2, "gdb.sock"));
        assert_eq!(GdbEndpoint::parse_cli("gdb.sock"), unix(0, "gdb.sock"));
        assert_eq!(GdbEndpoint::parse_cli("/tmp/a:b"), unix(0, "/tmp/a:b"));
        assert_eq!(GdbEndpoint::parse_cli("./1:b"), unix(0, "./1:b"));
        for bad in ["", "65536", ":x", "1:", "99999999999:1"] {
            assert!(GdbEndpoint::parse_cli(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_second_connection_is_refused_and_bytes_come_in_order() {
        let listener = Listener::bind(&GdbEndpoint::Tcp(0)).expect("bind");
        assert!(listener.address().starts_with("127.0.0.1:"), "{}", listener.address());
        let address = listener.address().to_string();
        let mut client = TcpStream::connect(&address).expect("connect");
        let mut conn = listener.accept(&Stopper::new()).expect("accept");
        assert_eq!(
            TcpStream::connect(&address).map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::ConnectionRefused)
        );
        client.write_all(b"$?#3f").expect("send");
        let mut got = Vec::new();
        while let Some(b) = conn.next_byte(Duration::from_secs(5)).expect("read") {
            got.push(b);
            if got.len() == 5 {
                break;
            }
        }
        assert_eq!(got, b"$?#3f");
        assert_eq!(conn.next_byte(Duration::from_millis(10)).expect("read"), None);
        drop(client);
        assert!(conn.next_byte(Duration::from_secs(5)).is_err(), "end of file is an error");
    }

    #[test]
    fn a_unix_socket_replaces_only_an_old_socket() {
        let dir = std::env::temp_dir().join(format!("hv-gdb-conn-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("g.sock");
        let first = Listener::bind(&GdbEndpoint::Unix(path.clone())).expect("bind");
        std::mem::forget(first); // an old run's socket, left behind
        let second = Listener::bind(&GdbEndpoint::Unix(path.clone())).expect("rebind");
        drop(second);
        assert!(!path.exists(), "the socket's name goes with it");
        std::fs::write(&path, b"data").expect("write");
        assert!(Listener::bind(&GdbEndpoint::Unix(path.clone())).is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"data");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
