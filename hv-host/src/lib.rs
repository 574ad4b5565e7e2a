//! # hv-host: run tiny guests, each in its own KVM VM
//!
//! Guests are 64-bit (the SDKs') by default, or 16- and 32-bit seed guests in the mode
//! [`Builder::mode`] names (see `hv_core::mode`).
//!
//! By default each guest runs on its own host thread; with [`Sched::Single`] all run on one
//! thread, preempted by a timer and sharing it by weight (see `docs/scheduling.md`).
//!
//! The `hv-host` binary is a thin command line over this library; tests, benchmarks and other
//! programs embed the same API:
//!
//! ```no_run
//! use hv_host::{Hypervisor, MemSize, PageSize};
//!
//! let reports = Hypervisor::builder()
//!     .memory(MemSize::Mib4)
//!     .page_size(PageSize::Kib4)
//!     .guest("hello.img")
//!     .guest("hello.img")
//!     .build()? // checks every image before any guest starts
//!     .run()?; // one thread per guest; returns when all have ended
//! for report in &reports {
//!     println!("{report}"); // "guest 0 (hello.img): exited with status 0"
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod console;
mod console_ring;
mod devices;
mod diag;
mod escape;
mod files;
mod gdb;
mod guest;
mod image;
mod input;
mod input_ring;
mod kick;
mod memory;
mod modes;
mod outcome;
mod privileged;
mod quota;
mod registers;
mod sandbox;
mod sched;
mod seed;
mod services;
pub mod signals;
mod stats;
mod stats_table;
mod stdout;
mod stop;
pub mod vcpu;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use devices::DiskImage;
use files::SharedFiles;
use image::Image;
use sandbox::{GuestName, Sandbox};

pub use console::Console;
pub use files::MAX_CREATED_NAMES;
pub use gdb::GdbEndpoint;
pub use hv_core::layout::{DeviceIo, Layout, MemSize, PageSize};
pub use hv_core::mode::{CpuMode, RealEntry};
pub use image::{ImageError, MAX_ELF_FILE, MAX_SYMBOL_BYTES, MAX_SYMBOLS};
pub use memory::MemoryError;
pub use modes::ModeImageError;
pub use outcome::{Fault, GuestError, GuestReport, GuestStats, Outcome};
pub use quota::{DEFAULT_QUOTA, parse_size};
pub use sched::{DEFAULT_QUANTUM, Sched};
pub use stats::ExitStats;
pub use stats_table::stats_table;
pub use stdout::dropped_output;
pub use stop::{StopReason, Stopper};

/// Why a configuration was refused before any guest started.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `-g` image.
    #[error("no guest image given")]
    NoGuests,
    /// The RAM size was not set.
    #[error("the guest memory size (-m) is missing")]
    NoMemory,
    /// The page size was not set.
    #[error("the page size (-p) is missing")]
    NoPageSize,
    /// An image could not be read.
    #[error("cannot read guest image {path}: {source}")]
    ImageUnreadable {
        /// The image.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An image is no file hv can run (not a regular file, a bad or unfitting ELF file).
    #[error("guest image {path}: {reason}")]
    BadImage {
        /// The image.
        path: PathBuf,
        /// Why.
        reason: ImageError,
    },
    /// An image is empty.
    #[error("guest image {path} is empty")]
    ImageEmpty {
        /// The image.
        path: PathBuf,
    },
    /// An image does not fit guest RAM with the minimum stack.
    #[error("guest image {path} is {size} bytes; at most {max} fit in {mib} MiB of guest RAM")]
    ImageTooLarge {
        /// The image.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The largest that fits.
        max: u64,
        /// The RAM size in MiB.
        mib: u64,
    },
    /// A shared file's name cannot be a guest file name.
    #[error(
        "shared file {name:?}: {reason}; guests open shared files by the relative path given here, inside the working directory"
    )]
    SharedName {
        /// The name as given.
        name: String,
        /// Why.
        reason: hv_core::proto::errno::Errno,
    },
    /// A shared file cannot be read.
    #[error("cannot read shared file {path}: {source}")]
    SharedUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// More guests than IDs.
    #[error("too many guests: {0}")]
    TooManyGuests(usize),
    /// The weights do not match the guests one to one.
    #[error("{weights} weight(s) for {guests} guest(s): give one weight per guest, in -g order")]
    WeightCount {
        /// Weights given.
        weights: usize,
        /// Guests given.
        guests: usize,
    },
    /// A weight is zero.
    #[error("guest {guest} has weight 0: weights are positive integers")]
    ZeroWeight {
        /// The guest (its ID).
        guest: usize,
    },
    /// The scheduling quantum is zero.
    #[error("the scheduling quantum must be longer than zero")]
    ZeroQuantum,
    /// The timeout is zero.
    #[error("the timeout must be longer than zero")]
    ZeroTimeout,
    /// The disk image's name cannot be a guest file name.
    #[error(
        "disk image {name:?}: {reason}; give it as a relative path inside the working directory, where the guests' copies go"
    )]
    DiskName {
        /// The name as given.
        name: String,
        /// Why.
        reason: hv_core::proto::errno::Errno,
    },
    /// The disk image cannot be read.
    #[error("cannot read disk image {path}: {source}")]
    DiskUnreadable {
        /// The image.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A shared file or disk image has a name the host gives files it creates for guests
    /// (itself, or the file a symlink there leads to).
    #[error(
        "{role} {name:?} is or leads to a name hv gives files it creates for guests (.local<ID> or .cow<ID>), so a guest could replace it; rename it"
    )]
    HostReservedName {
        /// "shared file" or "disk image".
        role: &'static str,
        /// The name as given.
        name: String,
    },
    /// The disk image is also a shared file.
    #[error(
        "disk image {disk} is the same file as shared file {shared}: guests would write the shared original through the disk"
    )]
    DiskIsShared {
        /// The disk image.
        disk: String,
        /// The shared file.
        shared: PathBuf,
    },
    /// Several guests would write one disk image in place.
    #[error(
        "disk image {disk} is written in place, so only one guest may have it, not {guests}; give --disk-cow for a copy per guest"
    )]
    DiskForSeveral {
        /// The disk image.
        disk: String,
        /// Guests given.
        guests: usize,
    },
    /// A copy-on-write disk was asked for without a disk.
    #[error("--disk-cow needs a disk: give --disk FILE too")]
    DiskCowWithoutDisk,
    /// The guest given all input is not one of the guests.
    #[error("--stdin {id}: there is no guest {id} ({guests} guest(s), IDs from 0)")]
    NoSuchStdinGuest {
        /// The ID given.
        id: u32,
        /// Guests given.
        guests: usize,
    },
    /// An image cannot start in the mode asked for (`--mode`).
    #[error("guest image {path}: {reason}")]
    ModeImage {
        /// The image.
        path: PathBuf,
        /// Why.
        reason: ModeImageError,
    },
    /// A real-mode entry was given for another mode.
    #[error(
        "--entry {entry} is for --mode real; --mode {mode} loads a flat image at 0 and starts it there"
    )]
    EntryOutsideRealMode {
        /// The entry given.
        entry: RealEntry,
        /// The mode asked for.
        mode: CpuMode,
    },
    /// Turns at every exit were asked for with weights, which they have no use for.
    #[error(
        "--alternate gives the guests one turn each in -g order, at every exit, and takes no --weights; give one or the other"
    )]
    AlternateWithWeights,
    /// The disk image is not a whole number of sectors.
    #[error("disk image {path} is {size} bytes; a disk must be a non-zero multiple of 512 bytes")]
    DiskSize {
        /// The image.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// `--gdb` names a guest that is not there.
    #[error("--gdb for guest {guest}, but there are only {guests} guest(s) (IDs from 0)")]
    GdbNoSuchGuest {
        /// The guest named.
        guest: u32,
        /// Guests given.
        guests: usize,
    },
    /// `--gdb` names one guest twice.
    #[error("--gdb given twice for guest {guest}: one debugger per guest")]
    GdbTwice {
        /// The guest.
        guest: u32,
    },
    /// `--gdb` with every guest on one thread, where a guest stopped in gdb would stop them all.
    #[error(
        "--gdb needs a thread per guest (--sched threads): a guest stopped in gdb would hold up every guest on one thread"
    )]
    GdbSingleThread,
    /// The socket for gdb cannot be opened.
    #[error("cannot listen for gdb on {endpoint}: {source}")]
    GdbListen {
        /// The port or path.
        endpoint: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Why a run could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// `/dev/kvm` is missing or unusable.
    #[error("cannot use /dev/kvm: {0}")]
    Kvm(kvm_ioctls::Error),
    /// The working directory (where local files go) cannot be opened.
    #[error("cannot open the working directory: {0}")]
    Cwd(std::io::Error),
    /// A guest thread could not be spawned.
    #[error("cannot start a guest thread: {0}")]
    Thread(std::io::Error),
}

/// Collects a configuration; see [`Hypervisor::builder`].
pub struct Builder {
    memory: Option<MemSize>,
    page: Option<PageSize>,
    images: Vec<PathBuf>,
    shared_files: Vec<PathBuf>,
    disk: Option<PathBuf>,
    disk_cow: bool,
    quota: u64,
    devices: DeviceIo,
    prefix_ids: bool,
    output: Option<Box<dyn Write + Send>>,
    input: Option<Box<dyn Read + Send>>,
    sched: Sched,
    quantum: Option<Duration>,
    weights: Option<Vec<u32>>,
    timeout: Option<Duration>,
    teardown_at_exit: bool,
    stdin_for: Option<u32>,
    mode: CpuMode,
    entry: Option<RealEntry>,
    alternate: bool,
    gdb: Vec<(u32, GdbEndpoint)>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("memory", &self.memory)
            .field("page", &self.page)
            .field("images", &self.images)
            .field("shared_files", &self.shared_files)
            .field("sched", &self.sched)
            .field("quantum", &self.quantum)
            .field("weights", &self.weights)
            .field("timeout", &self.timeout)
            .field("disk", &self.disk)
            .field("disk_cow", &self.disk_cow)
            .field("quota", &self.quota)
            .field("devices", &self.devices)
            .field("teardown_at_exit", &self.teardown_at_exit)
            .field("stdin_for", &self.stdin_for)
            .field("mode", &self.mode)
            .field("entry", &self.entry)
            .field("alternate", &self.alternate)
            .field("gdb", &self.gdb)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Guest RAM size (mandatory).
    pub fn memory(mut self, size: MemSize) -> Self {
        self.memory = Some(size);
        self
    }

    /// Page size guest RAM is mapped with (mandatory).
    pub fn page_size(mut self, size: PageSize) -> Self {
        self.page = Some(size);
        self
    }

    /// Adds a guest running `image`; IDs are given in the order guests are added.
    pub fn guest(mut self, image: impl Into<PathBuf>) -> Self {
        self.images.push(image.into());
        self
    }

    /// Adds a file shared with every guest.
    pub fn shared_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.shared_files.push(path.into());
        self
    }

    /// Attaches the disk image `path` to every guest (the seed's DMA disk). Guests write it
    /// in place, so only one guest may have it, unless [`Builder::disk_cow`] is on.
    pub fn disk(mut self, path: impl Into<PathBuf>) -> Self {
        self.disk = Some(path.into());
        self
    }

    /// With `on`, the disk image is never written: each guest's writes go to its own copy,
    /// `<path>.cow<ID>`, made lazily, sector by sector (default: off).
    pub fn disk_cow(mut self, on: bool) -> Self {
        self.disk_cow = on;
        self
    }

    /// The most bytes each guest may make the host write, to files and the disk together
    /// (default: [`DEFAULT_QUOTA`]). A write past it fails with `EFBIG` in the guest.
    pub fn quota(mut self, bytes: u64) -> Self {
        self.quota = bytes;
        self
    }

    /// Leaves each ended guest's vCPU and VM (two file descriptors, and the kernel's state
    /// for them) for the kernel to tear down when the process exits, instead of closing them
    /// when the guest ends; the guest's RAM is freed at its end either way. Only for a program
    /// that exits soon after [`Hypervisor::run`] returns, as `hv-host` does.
    ///
    /// Why: closing a VM while the process lives waits for KVM's per-VM worker thread to stop
    /// and for a grace period of its memory notifier, about 0.5 ms here, while the other
    /// guests' launches contend with it; at exit the kernel has stopped those threads already.
    /// Eight guests launch about 7 % faster.
    pub fn teardown_at_exit(mut self, on: bool) -> Self {
        self.teardown_at_exit = on;
        self
    }

    /// Serves the seed's devices on ports (the default) or in the MMIO window (`--mmio`).
    pub fn devices(mut self, devices: DeviceIo) -> Self {
        self.devices = devices;
        self
    }

    /// Prefix every console line with `[ID] `.
    pub fn prefix_ids(mut self, on: bool) -> Self {
        self.prefix_ids = on;
        self
    }

    /// Where console output goes (default: stdout).
    pub fn output(mut self, out: impl Write + Send + 'static) -> Self {
        self.output = Some(Box::new(out));
        self
    }

    /// Where console input comes from (default: stdin). It is read by a thread of its own,
    /// started when a guest first asks for input; that thread may outlive the run while it
    /// waits in `read`.
    pub fn input(mut self, input: impl Read + Send + 'static) -> Self {
        self.input = Some(Box::new(input));
        self
    }

    /// Gives all console input to guest `id` (`--stdin ID`); the others find end of input at
    /// once. By default every guest reads the one input, first come, first served, a line
    /// whole to one guest.
    pub fn input_for(mut self, id: u32) -> Self {
        self.stdin_for = Some(id);
        self
    }

    /// How guests are mapped to host threads (default: [`Sched::Threads`]).
    pub fn sched(mut self, sched: Sched) -> Self {
        self.sched = sched;
        self
    }

    /// With [`Sched::Single`], the longest a guest runs before the others get a turn (default:
    /// [`DEFAULT_QUANTUM`]). Ignored with [`Sched::Threads`], with a warning in
    /// [`Hypervisor::warnings`].
    pub fn quantum(mut self, quantum: Duration) -> Self {
        self.quantum = Some(quantum);
        self
    }

    /// With [`Sched::Single`], each guest's share of the CPU: one positive weight per guest, in
    /// the order guests are added (default: all equal). Checked, then ignored with
    /// [`Sched::Threads`], where the host kernel shares the CPU, with a warning in
    /// [`Hypervisor::warnings`].
    pub fn weights(mut self, weights: impl IntoIterator<Item = u32>) -> Self {
        self.weights = Some(weights.into_iter().collect());
        self
    }

    /// Stops any guest still running this long (wall time) after the host started running it;
    /// its outcome is [`Outcome::TimedOut`] and the others go on.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The CPU mode every guest starts in (default: [`CpuMode::Long`], the SDKs' 64-bit mode).
    /// Outside long mode an image must be a flat binary; see `hv_core::mode`.
    pub fn mode(mut self, mode: CpuMode) -> Self {
        self.mode = mode;
        self
    }

    /// With [`CpuMode::Real`], where every guest starts (default `0000:0000`): its image is
    /// loaded at the entry's linear address. Refused in the other modes.
    pub fn entry(mut self, entry: RealEntry) -> Self {
        self.entry = Some(entry);
        self
    }

    /// With [`Sched::Single`] and `on`, the guests take turns in the order they were added,
    /// one exit each (seed 002's matrix-a), instead of sharing the CPU by weight; a guest that
    /// makes no exit for a whole quantum still loses its turn then. Ignored, with a warning,
    /// with [`Sched::Threads`].
    pub fn alternate(mut self, on: bool) -> Self {
        self.alternate = on;
        self
    }

    /// Debugs guest `guest` with gdb, which connects to `endpoint`: the guest waits for it
    /// before its first instruction, while the others run (see the README's "Debugging a
    /// guest"). Needs [`Sched::Threads`]; the socket is opened by [`Builder::build`].
    pub fn gdb(mut self, guest: u32, endpoint: GdbEndpoint) -> Self {
        self.gdb.push((guest, endpoint));
        self
    }

    /// Checks the configuration and reads every image.
    pub fn build(self) -> Result<Hypervisor, ConfigError> {
        let memory = self.memory.ok_or(ConfigError::NoMemory)?;
        let page = self.page.ok_or(ConfigError::NoPageSize)?;
        if self.images.is_empty() {
            return Err(ConfigError::NoGuests);
        }
        if u32::try_from(self.images.len()).is_err() {
            return Err(ConfigError::TooManyGuests(self.images.len()));
        }
        if let Some(entry) = self.entry.filter(|_| self.mode != CpuMode::Real) {
            return Err(ConfigError::EntryOutsideRealMode { entry, mode: self.mode });
        }
        let start = modes::Start { mode: self.mode, real: self.entry.unwrap_or_default() };
        if self.alternate && self.weights.is_some() {
            return Err(ConfigError::AlternateWithWeights);
        }
        let (mut plan, mut warnings) =
            plan(self.sched, self.quantum, self.weights, self.timeout, self.images.len())?;
        plan.alternate = self.alternate;
        if self.alternate && self.sched == Sched::Threads {
            warnings.push(
                "--alternate only applies to single-thread scheduling; with a thread per guest \
                 the host kernel shares the CPU, so it is ignored"
                    .to_string(),
            );
        }
        if self.disk_cow && self.disk.is_none() {
            return Err(ConfigError::DiskCowWithoutDisk);
        }
        if let Some(id) = self.stdin_for.filter(|&id| id as usize >= self.images.len()) {
            return Err(ConfigError::NoSuchStdinGuest { id, guests: self.images.len() });
        }
        let layout = Layout::new(memory, page).with_devices(self.devices);
        // An image named several times (`-g a.img a.img ...`) is read once.
        let mut images: Vec<Image> = Vec::with_capacity(self.images.len());
        for path in self.images {
            let image = match images.iter().find(|i| i.path == path) {
                Some(read) => read.clone(),
                None => read_image(path, layout)?,
            };
            if let Err(reason) = start.check(&image) {
                return Err(ConfigError::ModeImage { path: image.path, reason });
            }
            images.push(image);
        }
        let mut shared = SharedFiles::default();
        for path in self.shared_files {
            let name = GuestName::parse(path.as_os_str().as_encoded_bytes()).map_err(|reason| {
                ConfigError::SharedName { name: path.display().to_string(), reason }
            })?;
            if name.is_host_reserved() || sandbox::resolves_to_reserved(&path) {
                return Err(ConfigError::HostReservedName {
                    role: "shared file",
                    name: name.to_string(),
                });
            }
            if let Err(source) = shared.open(name, path.clone()) {
                return Err(ConfigError::SharedUnreadable { path, source });
            }
        }
        let disk = self.disk.map(|d| DiskImage::open(d, self.disk_cow)).transpose()?;
        if let Some(disk) = &disk {
            if let Some(path) = shared.path_of(disk.identity()) {
                let disk = disk.name().to_string();
                return Err(ConfigError::DiskIsShared { disk, shared: path.to_path_buf() });
            }
            if !disk.is_cow() && images.len() > 1 {
                let disk = disk.name().to_string();
                return Err(ConfigError::DiskForSeveral { disk, guests: images.len() });
            }
        }
        let disk = disk.map(Arc::new);
        let console = Console::new(
            self.output.unwrap_or_else(|| Box::new(stdout::Stdout::new())),
            self.input.unwrap_or_else(|| Box::new(std::io::stdin())),
            self.prefix_ids,
        );
        if let Some(id) = self.stdin_for {
            console.input.only_for(id);
        }
        let (quota, teardown_at_exit) = (self.quota, self.teardown_at_exit);
        let shared = Arc::new(shared);
        let gdb = gdb_listeners(&self.gdb, images.len(), plan.mode)?;
        Ok(Hypervisor {
            layout,
            start,
            images,
            shared,
            disk,
            console,
            plan,
            quota,
            teardown_at_exit,
            warnings,
            gdb,
        })
    }
}

/// Checks the `--gdb` requests and opens their sockets: one slot per guest.
fn gdb_listeners(
    requests: &[(u32, GdbEndpoint)],
    guests: usize,
    mode: Sched,
) -> Result<Vec<Option<gdb::Listener>>, ConfigError> {
    let mut slots: Vec<Option<gdb::Listener>> = Vec::new();
    if requests.is_empty() {
        return Ok(slots);
    }
    if mode == Sched::Single {
        return Err(ConfigError::GdbSingleThread);
    }
    slots.resize_with(guests, || None);
    for (guest, endpoint) in requests {
        let slot = slots
            .get_mut(*guest as usize)
            .ok_or(ConfigError::GdbNoSuchGuest { guest: *guest, guests })?;
        if slot.is_some() {
            return Err(ConfigError::GdbTwice { guest: *guest });
        }
        let listener = gdb::Listener::bind(endpoint)
            .map_err(|source| ConfigError::GdbListen { endpoint: endpoint.to_string(), source })?;
        *slot = Some(listener);
    }
    Ok(slots)
}

/// Checks the scheduling options against the number of guests; also returns the warnings
/// about options that will be ignored.
fn plan(
    mode: Sched,
    quantum: Option<Duration>,
    weights: Option<Vec<u32>>,
    timeout: Option<Duration>,
    guests: usize,
) -> Result<(sched::Plan, Vec<String>), ConfigError> {
    if quantum == Some(Duration::ZERO) {
        return Err(ConfigError::ZeroQuantum);
    }
    if timeout == Some(Duration::ZERO) {
        return Err(ConfigError::ZeroTimeout);
    }
    if let Some(w) = &weights {
        if w.len() != guests {
            return Err(ConfigError::WeightCount { weights: w.len(), guests });
        }
        if let Some(guest) = w.iter().position(|&w| w == 0) {
            return Err(ConfigError::ZeroWeight { guest });
        }
    }
    let mut warnings = Vec::new();
    if mode == Sched::Threads && (quantum.is_some() || weights.is_some()) {
        warnings.push(
            "the quantum and weights only apply to single-thread scheduling (--sched single); \
             with a thread per guest the host kernel shares the CPU, so they are ignored"
                .to_string(),
        );
    }
    let plan = sched::Plan {
        mode,
        quantum: quantum.unwrap_or(DEFAULT_QUANTUM),
        weights: weights.unwrap_or_else(|| vec![1; guests]),
        timeout,
        alternate: false,
    };
    Ok((plan, warnings))
}

fn read_image(path: PathBuf, layout: Layout) -> Result<Image, ConfigError> {
    image::read(&path, layout).map_err(|e| match e {
        image::ReadError::Io(source) => ConfigError::ImageUnreadable { path, source },
        image::ReadError::Empty => ConfigError::ImageEmpty { path },
        image::ReadError::TooLarge { size, max } => {
            ConfigError::ImageTooLarge { path, size, max, mib: layout.mem().mib() }
        }
        image::ReadError::Invalid(reason) => ConfigError::BadImage { path, reason },
    })
}

/// The `RUST_LOG=info` line of a guest that ended well (one that failed has its report line
/// on stderr already: the failure is not printed twice).
fn log_ended(report: &GuestReport) {
    if report.outcome.is_success() {
        let ms = report.run_time.as_secs_f64() * 1e3;
        log::info!("{report} ({} exits in {ms:.3} ms)", report.stats.exits.total());
    }
}

/// A checked configuration, ready to run.
#[derive(Debug)]
pub struct Hypervisor {
    layout: Layout,
    start: modes::Start,
    images: Vec<Image>,
    shared: Arc<SharedFiles>,
    disk: Option<Arc<DiskImage>>,
    console: Console,
    plan: sched::Plan,
    quota: u64,
    teardown_at_exit: bool,
    warnings: Vec<String>,
    /// The gdb sockets, by guest ID (empty without `--gdb`).
    gdb: Vec<Option<gdb::Listener>>,
}

impl Hypervisor {
    /// Starts a configuration.
    pub fn builder() -> Builder {
        Builder {
            memory: None,
            page: None,
            images: Vec::new(),
            shared_files: Vec::new(),
            disk: None,
            disk_cow: false,
            quota: DEFAULT_QUOTA,
            devices: DeviceIo::Ports,
            prefix_ids: false,
            output: None,
            input: None,
            sched: Sched::Threads,
            quantum: None,
            weights: None,
            timeout: None,
            teardown_at_exit: false,
            stdin_for: None,
            mode: CpuMode::Long,
            entry: None,
            alternate: false,
            gdb: Vec::new(),
        }
    }

    /// What the configuration has that will be ignored, one sentence each (the options of
    /// single-thread scheduling given with a thread per guest), for the caller to show.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The guests that wait for gdb, and what gdb's `target remote` takes for each
    /// (`127.0.0.1:PORT`, the port really opened, or the socket's path).
    pub fn gdb_addresses(&self) -> Vec<(u32, String)> {
        (0u32..)
            .zip(&self.gdb)
            .filter_map(|(id, l)| l.as_ref().map(|l| (id, l.address().to_string())))
            .collect()
    }

    /// A handle that stops this run's guests from any thread (signals, an embedding program);
    /// the run also stops by itself when its console output fails. After [`Hypervisor::run`],
    /// [`Stopper::reason`] says whether and why it was stopped.
    pub fn stopper(&self) -> Stopper {
        self.console.stopper().clone()
    }

    /// The guest memory layout every guest gets.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Runs every guest, each in its own VM, until all have ended: each on its own thread, or
    /// all on one (see [`Builder::sched`]). One guest's failure never stops the others; each
    /// report says how its guest ended. Reports come in guest ID order.
    pub fn run(self) -> Result<Vec<GuestReport>, HostError> {
        let kvm = kvm_ioctls::Kvm::new().map_err(HostError::Kvm)?;
        let sandbox = Arc::new(Sandbox::cwd().map_err(HostError::Cwd)?);
        let Hypervisor {
            layout,
            start,
            images,
            console,
            shared,
            plan,
            disk,
            quota,
            teardown_at_exit,
            gdb,
            ..
        } = self;
        let run = Run {
            kvm: &kvm,
            layout,
            start,
            console: &console,
            shared,
            disk,
            sandbox,
            quota,
            teardown_at_exit,
        };
        if plan.mode == Sched::Single {
            return run.on_one_thread(&images, &plan);
        }
        let (run, timeout) = (&run, plan.timeout);
        // One guest alone: a thread per guest, each making its own VM, so VMs are created in
        // parallel. Guest 0 runs on the calling thread, after the others are started: one
        // thread fewer to create (the whole cost of a single guest's launch is ~1 ms here).
        let alone = move |id: u32, image: &Image, gdb: Option<gdb::Listener>| {
            let report = match run.vm(id, image) {
                Ok(vm) => sched::run_alone(vm, &image.path, timeout, gdb),
                Err(e) => not_started(id, image, e),
            };
            log_ended(&report);
            report
        };
        let Some((first, rest)) = images.split_first() else {
            return Ok(Vec::new());
        };
        let mut gdb = gdb.into_iter();
        let first_gdb = gdb.next().flatten();
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(rest.len());
            // build() checked that every ID fits a u32.
            for (id, image) in (1u32..).zip(rest) {
                let listener = gdb.next().flatten();
                let handle = std::thread::Builder::new()
                    .name(format!("guest-{id}"))
                    .spawn_scoped(scope, move || alone(id, image, listener))
                    .map_err(HostError::Thread)?;
                handles.push(handle);
            }
            let mut reports = Vec::with_capacity(images.len());
            reports.push(alone(0, first, first_gdb));
            // Only waiting now, this thread has no vCPU to kick: a stop signal is better taken
            // by a guest thread, which has one (see `signals`).
            let join = || {
                reports.extend((1u32..).zip(handles.into_iter().zip(rest)).map(
                    |(id, (h, image))| {
                        h.join().unwrap_or_else(|_| not_started(id, image, thread_panicked()))
                    },
                ));
            };
            if !rest.is_empty() {
                signals::blocked_while(join);
            }
            Ok(reports)
        })
    }
}

/// What every guest of one run shares, and how one guest's VM is made from it.
struct Run<'a> {
    kvm: &'a kvm_ioctls::Kvm,
    layout: Layout,
    /// The mode every guest starts in.
    start: modes::Start,
    console: &'a Console,
    shared: Arc<SharedFiles>,
    disk: Option<Arc<DiskImage>>,
    sandbox: Arc<Sandbox>,
    /// Each guest's write quota, in bytes.
    quota: u64,
    /// See [`Builder::teardown_at_exit`].
    teardown_at_exit: bool,
}

impl Run<'_> {
    /// Guest `id`'s VM, with its own file table and disk, ready to run.
    fn vm(&self, id: u32, image: &Image) -> Result<guest::Vm<'_>, GuestError> {
        let quota = Arc::new(quota::Quota::new(self.quota));
        let diag = Arc::new(diag::Diag::new(id));
        let files = files::FileTable::new(
            id,
            self.shared.clone(),
            self.sandbox.clone(),
            quota.clone(),
            diag.clone(),
        );
        let disk = devices::Disk::new(id, self.disk.clone(), self.sandbox.clone(), quota, diag);
        let mut vm = guest::Vm::new(
            self.kvm,
            id,
            self.layout,
            self.start,
            image,
            self.console,
            files,
            disk,
        )?;
        if self.teardown_at_exit {
            vm.leave_teardown_to_exit();
        }
        Ok(vm)
    }

    /// `--sched single`: sets up every guest's VM on one new thread and schedules them there.
    fn on_one_thread(
        &self,
        images: &[Image],
        plan: &sched::Plan,
    ) -> Result<Vec<GuestReport>, HostError> {
        std::thread::scope(|scope| {
            let handle = std::thread::Builder::new()
                .name("guests".into())
                .spawn_scoped(scope, || {
                    let seats = (0u32..)
                        .zip(images)
                        .map(|(id, image)| (id, image.path.as_path(), self.vm(id, image)))
                        .collect();
                    sched::run_single(seats, plan, self.console.stopper())
                })
                .map_err(HostError::Thread)?;
            Ok(handle.join().unwrap_or_else(|_| {
                (0u32..)
                    .zip(images)
                    .map(|(id, image)| not_started(id, image, thread_panicked()))
                    .collect()
            }))
        })
    }
}

fn thread_panicked() -> GuestError {
    GuestError::Setup("the host thread panicked".into())
}

/// The report of a guest that never ran.
fn not_started(id: u32, image: &Image, error: GuestError) -> GuestReport {
    GuestReport {
        id,
        image: image.path.clone(),
        outcome: Outcome::Error(error),
        run_time: Default::default(),
        stats: Default::default(),
        location: None,
    }
}

/// True when `/dev/kvm` can be opened and speaks the stable API (version 12). Tests use it to
/// decide whether to skip; it does not look at CPU flags, which are absent under PVM.
pub fn kvm_available() -> bool {
    kvm_ioctls::Kvm::new().is_ok_and(|k| k.get_api_version() == 12)
}
