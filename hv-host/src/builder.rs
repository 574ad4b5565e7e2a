//! The configuration of a run: [`Builder`] collects it, [`Builder::build`] checks all of it
//! (options, images, shared files, the disk, gdb's sockets) before any guest starts, so a bad
//! one is refused with one reason and no guest runs.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::devices::DiskImage;
use crate::files::SharedFiles;
use crate::image::Image;
use crate::sandbox::{self, GuestName};
use crate::{
    ConfigError, Console, CpuMode, DEFAULT_QUANTUM, DEFAULT_QUOTA, DeviceIo, GdbEndpoint,
    Hypervisor, Layout, MemSize, PageSize, RealEntry, Sched, gdb, image, modes, sched, stdout,
};

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
    /// An empty configuration: every option at its default (see [`Hypervisor::builder`]).
    pub(crate) fn new() -> Builder {
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
    /// its outcome is [`Outcome::TimedOut`](crate::Outcome::TimedOut) and the others go on.
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
