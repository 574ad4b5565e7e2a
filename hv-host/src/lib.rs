//! # hv-host: run tiny 64-bit guests, each in its own KVM VM on its own thread
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
mod devices;
mod files;
mod guest;
mod hypercall;
mod memory;
mod outcome;
mod sandbox;
mod vcpu;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use devices::DiskImage;
use files::SharedFiles;
use sandbox::{GuestName, Sandbox};

pub use console::Console;
pub use hv_core::layout::{DeviceIo, Layout, MemSize, PageSize};
pub use memory::MemoryError;
pub use outcome::{Fault, GuestError, GuestReport, GuestStats, Outcome};

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
    /// The disk image is not a whole number of sectors.
    #[error("disk image {path} is {size} bytes; a disk must be a non-zero multiple of 512 bytes")]
    DiskSize {
        /// The image.
        path: PathBuf,
        /// Its size.
        size: u64,
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

/// An image, read and checked.
#[derive(Debug)]
struct Image {
    path: PathBuf,
    bytes: Vec<u8>,
}

/// Collects a configuration; see [`Hypervisor::builder`].
pub struct Builder {
    memory: Option<MemSize>,
    page: Option<PageSize>,
    images: Vec<PathBuf>,
    shared_files: Vec<PathBuf>,
    disk: Option<PathBuf>,
    devices: DeviceIo,
    prefix_ids: bool,
    output: Option<Box<dyn Write + Send>>,
    input: Option<Box<dyn Read + Send>>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("memory", &self.memory)
            .field("page", &self.page)
            .field("images", &self.images)
            .field("shared_files", &self.shared_files)
            .field("disk", &self.disk)
            .field("devices", &self.devices)
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

    /// Attaches the disk image `path` to every guest (the seed's DMA disk). Guests never
    /// modify it: each one's first write makes its own copy, `<path>.local<ID>`.
    pub fn disk(mut self, path: impl Into<PathBuf>) -> Self {
        self.disk = Some(path.into());
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

    /// Where console input comes from (default: stdin).
    pub fn input(mut self, input: impl Read + Send + 'static) -> Self {
        self.input = Some(Box::new(input));
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
        let layout = Layout::new(memory, page).with_devices(self.devices);
        let images = self
            .images
            .into_iter()
            .map(|path| read_image(path, layout))
            .collect::<Result<Vec<_>, _>>()?;
        let mut shared = SharedFiles::default();
        for path in self.shared_files {
            let name = GuestName::parse(path.as_os_str().as_encoded_bytes()).map_err(|reason| {
                ConfigError::SharedName {
                    name: path.display().to_string(),
                    reason,
                }
            })?;
            match std::fs::File::open(&path).and_then(|f| f.metadata()) {
                Ok(m) if m.is_file() => shared.insert(name, path),
                Ok(_) => {
                    let source = std::io::Error::other("not a regular file");
                    return Err(ConfigError::SharedUnreadable { path, source });
                }
                Err(source) => return Err(ConfigError::SharedUnreadable { path, source }),
            }
        }
        let disk = self.disk.map(DiskImage::open).transpose()?.map(Arc::new);
        let console = Console::new(
            self.output.unwrap_or_else(|| Box::new(std::io::stdout())),
            self.input.unwrap_or_else(|| Box::new(std::io::stdin())),
            self.prefix_ids,
        );
        Ok(Hypervisor {
            layout,
            images,
            shared: Arc::new(shared),
            disk,
            console,
        })
    }
}

fn read_image(path: PathBuf, layout: Layout) -> Result<Image, ConfigError> {
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(source) => return Err(ConfigError::ImageUnreadable { path, source }),
    };
    let size = bytes.len() as u64;
    if size == 0 {
        return Err(ConfigError::ImageEmpty { path });
    }
    let max = layout.max_image_size();
    if size > max {
        return Err(ConfigError::ImageTooLarge {
            path,
            size,
            max,
            mib: layout.mem().mib(),
        });
    }
    Ok(Image { path, bytes })
}

/// A checked configuration, ready to run.
#[derive(Debug)]
pub struct Hypervisor {
    layout: Layout,
    images: Vec<Image>,
    shared: Arc<SharedFiles>,
    disk: Option<Arc<DiskImage>>,
    console: Console,
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
            devices: DeviceIo::Ports,
            prefix_ids: false,
            output: None,
            input: None,
        }
    }

    /// The guest memory layout every guest gets.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Runs every guest, each in its own VM on its own thread, until all have ended. One
    /// guest's failure never stops the others; each report says how its guest ended.
    pub fn run(self) -> Result<Vec<GuestReport>, HostError> {
        let kvm = kvm_ioctls::Kvm::new().map_err(HostError::Kvm)?;
        let sandbox = Arc::new(Sandbox::cwd().map_err(HostError::Cwd)?);
        let Hypervisor {
            layout,
            images,
            console,
            shared,
            disk,
        } = self;
        let (kvm, console) = (&kvm, &console);
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(images.len());
            for (id, image) in images.iter().enumerate() {
                let id = id as u32;
                let files = files::FileTable::new(id, shared.clone(), sandbox.clone());
                let disk = devices::Disk::new(id, disk.clone(), sandbox.clone());
                let handle = std::thread::Builder::new()
                    .name(format!("guest-{id}"))
                    .spawn_scoped(scope, move || {
                        run_guest(kvm, id, layout, image, console, files, disk)
                    })
                    .map_err(HostError::Thread)?;
                handles.push(handle);
            }
            Ok(handles
                .into_iter()
                .zip(&images)
                .enumerate()
                .map(|(id, (h, image))| {
                    h.join().unwrap_or_else(|_| GuestReport {
                        id: id as u32,
                        image: image.path.clone(),
                        outcome: Outcome::Error(GuestError::Setup(
                            "the host thread panicked".into(),
                        )),
                        run_time: Default::default(),
                        stats: Default::default(),
                    })
                })
                .collect())
        })
    }
}

fn run_guest(
    kvm: &kvm_ioctls::Kvm,
    id: u32,
    layout: Layout,
    image: &Image,
    console: &Console,
    files: files::FileTable,
    disk: devices::Disk,
) -> GuestReport {
    let report = match guest::Vm::new(kvm, id, layout, &image.bytes, console, files, disk) {
        Ok(vm) => vm.run(&image.path),
        Err(e) => GuestReport {
            id,
            image: image.path.clone(),
            outcome: Outcome::Error(e),
            run_time: Default::default(),
            stats: Default::default(),
        },
    };
    log::info!(
        "{report} ({} exits in {:?})",
        report.stats.exits,
        report.run_time
    );
    report
}

/// True when `/dev/kvm` can be opened and speaks the stable API (version 12). Tests use it to
/// decide whether to skip; it does not look at CPU flags, which are absent under PVM.
pub fn kvm_available() -> bool {
    kvm_ioctls::Kvm::new().is_ok_and(|k| k.get_api_version() == 12)
}
