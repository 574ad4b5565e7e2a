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

mod builder;
mod console;
mod console_ring;
mod devices;
mod diag;
mod error;
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

use std::sync::Arc;

use devices::DiskImage;
use files::SharedFiles;
use image::Image;
use sandbox::Sandbox;

pub use builder::Builder;
pub use console::Console;
pub use error::{ConfigError, HostError};
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
        Builder::new()
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
