//! Why a configuration or a run was refused: one enum each, every variant a one-line reason.

use std::path::PathBuf;

use crate::{CpuMode, ImageError, ModeImageError, RealEntry};

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
