//! One guest: its VM, its vCPU, and the step that runs it to its next handled exit.
//!
//! [`Vm::step`] is the only place exits are dispatched; both ways of running guests (a thread
//! per guest, or all on one thread: see `sched`) call it in a loop and differ only in what
//! they do between steps.
//!
//! A step follows one rule: **run, decode, handle**. `KVM_RUN` returns an exit; `exit` turns it
//! into an owned [`Exit`], which ends the borrow of the vCPU's shared `kvm_run` page; then one
//! handler per port or exit kind runs and answers with a [`Flow`]. Port reads are the
//! exception: their reply must be written into `kvm_run` before the next `KVM_RUN`, so they are
//! answered before the step returns.
//!
//! The parts, one module each: `exit` (decoding, and the exits that end a guest by
//! themselves), `ports` (which service answers a port), `exception` (the ring-0 stubs'
//! reports), `coalesce` (writes KVM queues without exits, drained at every exit and counted as
//! the exits they would have been), `mode` (what differs in the 16- and 32-bit modes).

mod coalesce;
mod debug;
mod exception;
mod exit;
mod mode;
mod ports;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hv_core::idt::ExceptionFrame;
use hv_core::layout::Layout;
use hv_core::mode::CpuMode;
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Kvm, VcpuFd, VmFd};

use crate::console::{Console, LineBuffer};
use crate::console_ring::ConsoleRing;
use crate::devices::Disk;
use crate::files::FileTable;
use crate::image::{Image, Symbols};
use crate::input_ring::InputRing;
use crate::kick::KickFlag;
use crate::memory::GuestRam;
use crate::modes::Start;
use crate::outcome::{GuestError, GuestReport, GuestStats, Outcome};
use crate::services::{Flow, InputWait, Services};
use coalesce::Coalescer;
pub(crate) use debug::Debuggee;
use exit::Exit;

/// What one [`Vm::step`] came to.
#[derive(Debug)]
pub(crate) enum Step {
    /// An exit was handled; the guest can be resumed.
    Continue,
    /// `KVM_RUN` returned `EINTR`: a kick (see `kick`), or another signal, interrupted it before
    /// the guest exited by itself. The caller decides from the clock what that means. The
    /// guest's state is untouched: resumed, it goes on exactly where it was.
    Preempted,
    /// The guest has ended; [`Vm::finish`] makes its report.
    Ended(Outcome),
    /// The guest waits for console input and was not run; step it again once
    /// [`Vm::input_ready`] says so (or to find that out).
    Waiting,
    /// The guest stopped for the debugger attached to it (see `gdb`); its registers are its
    /// own, in ring 3, and it resumes from them.
    Debug(crate::gdb::Stop),
}

/// A guest's VM, ready to run.
pub(crate) struct Vm<'c> {
    // Field order is drop order: the vCPU goes before the VM it belongs to.
    vcpu: VcpuFd,
    /// The vCPU's `immediate_exit` byte; valid as long as `vcpu`.
    kick: KickFlag,
    vm: VmFd,
    /// The CPU mode the guest runs in.
    mode: CpuMode,
    dev: Services<'c>,
    /// KVM's coalesced zones (the seeds' output ports and registers) and their ring.
    coalescer: Coalescer,
    /// The console read the guest is parked in, not answered yet.
    waiting: Option<InputWait>,
    /// The frame of the exception that ended the guest, for the register dump.
    fault_frame: Option<ExceptionFrame>,
    /// The image's function symbols, to name the code a fault happened in.
    symbols: Arc<Symbols>,
    /// The console ring and exit counts in the hv page (see `console_ring`).
    ring: ConsoleRing,
    /// Whether the guest's ABI announcement was found (and matched).
    abi_checked: bool,
    /// Whether [`Vm::finish`] leaves the VM for the process exit to tear down.
    teardown_at_exit: bool,
    /// The debugger's state while gdb is attached (see `gdb`); `None` costs the guest nothing.
    debug: Option<Box<crate::gdb::DebugState>>,
}

impl<'c> Vm<'c> {
    /// Creates the VM, loads `image`'s segments, writes the reserved region and the entry state
    /// of the mode `start` says.
    #[allow(clippy::too_many_arguments)] // one per part of a guest; a struct would only rename them
    pub(crate) fn new(
        kvm: &Kvm,
        id: u32,
        layout: Layout,
        start: Start,
        image: &Image,
        console: &'c Console,
        files: FileTable,
        disk: Disk,
    ) -> Result<Self, GuestError> {
        let setup =
            |what: &str, e: &dyn std::fmt::Display| GuestError::Setup(format!("{what}: {e}"));
        let vm = kvm.create_vm().map_err(|e| setup("KVM_CREATE_VM", &e))?;
        let mut ram = GuestRam::new(layout).map_err(|e| setup("guest RAM", &e))?;
        // A flat image goes to its real-mode entry (0 in the other modes).
        let base = start.load_base();
        for segment in &image.segments {
            ram.load_image(base + segment.addr, &segment.bytes)
                .map_err(|e| setup("loading the image", &e))?;
        }
        if !start.mode.install(&mut ram, layout, id) {
            return Err(GuestError::Setup("the reserved region does not fit guest RAM".into()));
        }
        ram.seal();
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: layout.ram_size(),
            userspace_addr: ram.host_base(),
        };
        // SAFETY: the region is exactly the mapping `ram` owns, which lives as long as the VM:
        // both are fields of this `Vm`, and `ram` (in `dev`) is dropped after the VM fd.
        unsafe { vm.set_user_memory_region(region) }
            .map_err(|e| setup("KVM_SET_USER_MEMORY_REGION", &e))?;
        let mut vcpu = vm.create_vcpu(0).map_err(|e| setup("KVM_CREATE_VCPU", &e))?;
        crate::vcpu::load_mode(&vcpu, start.mode, layout, start.entry(image))
            .map_err(|e| setup("vCPU state", &e))?;
        // Writes that need no answer without an exit each, where KVM offers it
        // (KVM_CAP_COALESCED_PIO/MMIO): zones are registered once the guest shows it needs them.
        let coalescer = Coalescer::new(kvm, layout.devices());
        let ring = ConsoleRing::new(&ram, layout);
        let input_ring = InputRing::new(&ram, layout);
        let dev = Services {
            id,
            ram,
            console,
            line: LineBuffer::new(id, console),
            input_ring,
            stats: GuestStats::default(),
            scratch: Vec::new(),
            files,
            disk,
            seed: Default::default(),
        };
        let kick = KickFlag::of(&mut vcpu);
        let symbols = image.symbols.clone();
        Ok(Vm {
            vcpu,
            kick,
            vm,
            mode: start.mode,
            dev,
            coalescer,
            waiting: None,
            fault_frame: None,
            symbols,
            ring,
            abi_checked: false,
            teardown_at_exit: false,
            debug: None,
        })
    }

    /// From now on, [`Vm::finish`] leaves the vCPU and the VM for the process's exit to tear
    /// down (see `Builder::teardown_at_exit`).
    pub(crate) fn leave_teardown_to_exit(&mut self) {
        self.teardown_at_exit = true;
    }

    /// The flag a kick sets to stop this guest's `KVM_RUN`; valid as long as this `Vm`.
    pub(crate) fn kick_flag(&self) -> KickFlag {
        self.kick
    }

    /// True: console output may always be queued without exits (in the console ring of the hv
    /// pages, and in the coalesced-PIO ring once that is active), so the runner must make sure
    /// exits happen (see `sched::run_alone`'s periodic drain) from the start.
    ///
    /// Why from the start: a guest prints into the ring without exiting (`println!` included),
    /// so one that prints a line and then computes, without ever having exited, would otherwise
    /// show nothing until its ring fills or it ends. The price is the drain's signal: its frame
    /// costs the guest's host thread a few KiB of stack the first time it fires, which only a
    /// guest that computes for longer than the drain period pays (64 `spin` guests: about
    /// 4 KiB more each).
    pub(crate) fn console_coalesced(&self) -> bool {
        true
    }

    /// Counters so far.
    pub(crate) fn stats(&self) -> &GuestStats {
        &self.dev.stats
    }

    /// Counters so far, for the scheduler to add to.
    pub(crate) fn stats_mut(&mut self) -> &mut GuestStats {
        &mut self.dev.stats
    }

    /// True if a guest parked in a console read can go on (input or end of input is there for
    /// it), or is not parked at all.
    pub(crate) fn input_ready(&self) -> bool {
        self.waiting.is_none() || self.dev.console.input.ready_for(self.dev.id)
    }

    /// The stopper of this guest's run.
    pub(crate) fn stopper(&self) -> &crate::stop::Stopper {
        self.dev.console.stopper()
    }

    /// Runs the guest to its next exit and handles it: one `KVM_RUN`, decoded and dispatched.
    /// A guest parked in a console read is first given its input, or stays parked
    /// ([`Step::Waiting`]) without running.
    pub(crate) fn step(&mut self) -> Step {
        if let Some(wait) = self.waiting {
            let mut data = [0u8; 8];
            match self.dev.resume_input(wait, &mut data) {
                Flow::Wait => return Step::Waiting,
                Flow::Continue => {
                    self.waiting = None;
                    // A `ConsoleRead`'s answer is in the mailbox already.
                    if let InputWait::Port(size) = wait {
                        exit::answer_in(&mut self.vcpu, &data[..size]);
                    }
                    if let Some(stop) = self.debug_step_after_input() {
                        return Step::Debug(stop);
                    }
                }
                Flow::Stop(outcome) => return Step::Ended(outcome),
            }
        }
        let exit = self.next_exit();
        self.dev.stats.exits.count(exit.kind());
        // A guest built for another ABI (or another mode) must not have its ring or its calls
        // read our way.
        if !self.abi_checked
            && let Err(outcome) = self.check_abi()
        {
            return Step::Ended(outcome);
        }
        // The writes the guest made without exiting come before whatever this exit does, and
        // count as the exits they would have been: drained before the counts are published (or
        // answered, by seed 002's ports), so the guest reads them included.
        if let Flow::Stop(outcome) = self.coalescer.drain(&mut self.vcpu, &mut self.dev) {
            return Step::Ended(outcome);
        }
        if let Err(e) = self.drain_memory_ring() {
            return Step::Ended(Outcome::Error(GuestError::from(e)));
        }
        self.ring.publish(&self.dev.stats.exits.counts());
        self.coalescer.give_up_unsound(&self.vm, &self.dev, &self.ring);
        let window = self.dev.ram.layout().mmio_window().map(|w| w.as_u64());
        let write = match exit {
            Exit::Out { port, size, .. } => Some(coalesce::Write::port(port, size)),
            Exit::MmioWrite { addr, size, .. } => coalesce::Write::mmio(window, addr, size),
            _ => None,
        };
        let flow = match exit {
            Exit::Out { port, data, size } => {
                let flow = self.io_out(port, &data[..size]);
                if let Flow::Wait = flow {
                    // The only write that waits is `ConsoleRead`: RIP is past the `out`
                    // already, and the mailbox gets the answer when input comes.
                    self.waiting = Some(InputWait::Ring);
                }
                flow
            }
            Exit::In { port, size } => {
                let mut data = [0u8; 8];
                let flow = self.io_in(port, &mut data[..size]);
                if let Flow::Wait = flow {
                    // Answered when input comes (the `kvm_run` page keeps this exit until the
                    // next KVM_RUN, which only happens after the answer).
                    self.waiting = Some(InputWait::Port(size));
                    return Step::Waiting;
                }
                exit::answer_in(&mut self.vcpu, &data[..size]);
                flow
            }
            Exit::MmioRead { addr, size } => self.dev.mmio_read(addr, size),
            Exit::MmioWrite { addr, data, size } => self.dev.mmio_write(addr, &data[..size]),
            Exit::Interrupted => return Step::Preempted,
            Exit::Debug { dr6, pc } => return self.debug_exit(dr6, pc),
            Exit::End(end) => Flow::Stop(end.outcome(|| exit::internal_suberror(&mut self.vcpu))),
        };
        if let Flow::Continue = flow {
            self.coalescer.after_exit(&self.vm, &mut self.vcpu, &self.dev, &self.ring, write);
        }
        if self.debug.is_some()
            && let Some(stop) = self.debug_stop(&flow)
        {
            return Step::Debug(stop);
        }
        match flow {
            Flow::Continue => Step::Continue,
            Flow::Stop(outcome) => Step::Ended(outcome),
            // Only console reads wait (`waiting` says which).
            Flow::Wait => Step::Waiting,
        }
    }

    /// Ends the guest with `outcome` (from [`Step::Ended`], or the caller's own, such as a
    /// timeout): writes out its last console output and reports. `run_time` is the wall time
    /// since the host started running it.
    pub(crate) fn finish(
        mut self,
        outcome: Outcome,
        image: &Path,
        run_time: Duration,
    ) -> GuestReport {
        let outcome = match (self.coalescer.drain(&mut self.vcpu, &mut self.dev), outcome) {
            (Flow::Stop(failed), ended) if ended.is_success() => failed,
            (_, ended) => ended,
        };
        let outcome = match self.drain_memory_ring() {
            Err(e) if outcome.is_success() => Outcome::Error(GuestError::from(e)),
            _ => outcome,
        };
        self.dev.line.finish(self.dev.console);
        // Out of the waiting line, and a line it had part of goes on to the next guest.
        self.dev.console.input.leave(self.dev.id);
        if !outcome.is_success() {
            self.log_registers();
        }
        let location = self.stop_location(&outcome);
        let Services { id, mut stats, files, mut disk, ram, .. } = self.dev;
        disk.finish();
        files.report(&mut stats);
        if self.teardown_at_exit {
            // The vCPU and the VM are left for the process's exit, with no handle left to
            // either, so neither runs or is asked anything again; the RAM their memory slot
            // maps is freed now all the same (KVM touches a slot's memory only for a vCPU or
            // an ioctl), which keeps many guests' peak memory where it was.
            std::mem::forget((self.vcpu, self.vm));
            drop(ram);
        } else {
            // A tuple drops its fields in order: the vCPU, then its VM, then the RAM the VM's
            // memory slot maps.
            drop((self.vcpu, self.vm, ram));
        }
        GuestReport { id, image: image.to_path_buf(), outcome, run_time, stats, location }
    }

    /// `KVM_RUN` once, decoded.
    fn next_exit(&mut self) -> Exit {
        let entered = Instant::now();
        let result = self.vcpu.run();
        self.dev.stats.cpu_time += entered.elapsed();
        let exit = Exit::from_run(result);
        if exit == Exit::Interrupted {
            // Note: the kick flag is cleared here, after an interrupted KVM_RUN, and nowhere
            // else; the caller then reads the clock. See the race analysis in `kick`.
            self.kick.clear();
        }
        exit
    }

    /// Hands the bytes the guest put in its console ring (hv page) to its line buffer; see
    /// `console_ring` and the ordering Note above, which applies alike.
    fn drain_memory_ring(&mut self) -> Result<(), crate::console_ring::BadHead> {
        let Vm { ring, dev, .. } = self;
        ring.drain(|bytes| dev.write_console(bytes))
    }
}
