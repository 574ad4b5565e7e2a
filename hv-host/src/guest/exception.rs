//! CPU exceptions: what a ring-0 stub's report means (see `hv_core::idt`), the harmless
//! privileged instructions emulated in the guest's place (see `privileged`), and the register
//! dump of a guest that failed. Long mode's guest runs in ring 3 under the stubs; the 16- and
//! 32-bit modes' guest owns ring 0 (`ring0_exception`).

use hv_core::Gpa;
use hv_core::idt::{Exception, ExceptionFrame, FRAME_WORDS};
use hv_core::mode::CpuMode;
use hv_core::paging::{self, PhysMem};
use kvm_bindings::{kvm_regs, kvm_sregs};

use super::Vm;

/// RFLAGS.TF: a #DB trap after every instruction.
const TRAP_FLAG: u64 = 1 << 8;
use crate::outcome::{Fault, GuestError, Outcome};
use crate::services::Flow;

impl Vm<'_> {
    /// A ring-0 stub reported an exception: read its frame and decide what it means.
    pub(super) fn exception(&mut self) -> Flow {
        let (regs, sregs) = match (self.vcpu.get_regs(), self.vcpu.get_sregs()) {
            (Ok(r), Ok(s)) => (r, s),
            (Err(e), _) | (_, Err(e)) => {
                return Flow::Stop(Outcome::Error(GuestError::Run(e.to_string())));
            }
        };
        if self.mode != CpuMode::Long {
            return self.ring0_exception(&regs, &sregs);
        }
        let cpl = sregs.cs.dpl;
        if cpl != 0 {
            return Flow::Stop(Outcome::Error(GuestError::ForgedException { cpl }));
        }
        let ram = &self.dev.ram;
        let word = |i: u64| ram.read_u64(Gpa::new(regs.rsp.wrapping_add(i * 8)));
        let mut words = [0u64; FRAME_WORDS as usize];
        let mut complete = true;
        for (i, w) in words.iter_mut().enumerate() {
            match word(i as u64) {
                Some(v) => *w = v,
                None => complete = false,
            }
        }
        if !complete {
            return Flow::Stop(Outcome::Error(GuestError::UnexpectedExit(
                "exception report with its frame outside guest RAM".into(),
            )));
        }
        // Logged once, in the register dump when the guest has failed (see `registers`).
        let frame = ExceptionFrame::from_words(words);
        self.fault_frame = Some(frame);
        let vector = u8::try_from(frame.vector).unwrap_or(u8::MAX);
        let from_ring3 = frame.cs & 3 == 3;
        // The seed's guests end with `hlt`, which faults with #GP in ring 3: that is a halt.
        if vector == Exception::GeneralProtection as u8 && from_ring3 {
            let at_rip = paging::translate(ram, sregs.cr3, frame.rip)
                .and_then(|t| ram.read_u8(t.gpa.as_u64()));
            if at_rip == Some(0xF4) {
                return Flow::Stop(Outcome::Halted);
            }
            if let Some(flow) = self.emulate_privileged(&frame, regs, &sregs) {
                return flow;
            }
        }
        // gdb: the debugger's breakpoints and steps (see `gdb::DebugState::on_trap`).
        if let Some(flow) = self.debug_trap(&frame, regs, &sregs) {
            return flow;
        }
        let fault = Fault {
            vector,
            error_code: frame.error_code,
            rip: frame.rip,
            address: sregs.cr2,
            cpl: (frame.cs & 3) as u8,
            symbol: self.symbols.describe(frame.rip),
        };
        // gdb: with a debugger attached, the fault stops the guest for it instead.
        if let Some(flow) = self.debug_fault(&frame, regs, &sregs, &fault) {
            return flow;
        }
        Flow::Stop(Outcome::Fault(fault))
    }

    /// A stub's report in a 16- or 32-bit mode (`hv_core::mode`): the guest runs in ring 0
    /// there, so every exception it takes is a fault to report (it executes `hlt` and control
    /// register reads itself), with its own frame layout ([`CpuMode::frame`]). The guest could
    /// write the port itself, so only a report made by a stub counts: the `out` must have
    /// come from the stubs' code, which the vCPU's CS:RIP, right past it, says.
    fn ring0_exception(&mut self, regs: &kvm_regs, sregs: &kvm_sregs) -> Flow {
        let layout = self.dev.ram.layout();
        if !self.mode.stubs(layout).contains(&sregs.cs.base.wrapping_add(regs.rip)) {
            return Flow::Stop(Outcome::Error(GuestError::ForgedException { cpl: 0 }));
        }
        let (size, count) = self.mode.frame_shape();
        // The stack pointer as wide as the mode uses it; a 16-bit stack wraps in its segment.
        let (sp, wrap) = match self.mode {
            CpuMode::Real => (regs.rsp & 0xFFFF, 0xFFFF),
            CpuMode::Protected => (regs.rsp & 0xFFFF_FFFF, 0xFFFF_FFFF),
            CpuMode::Long | CpuMode::Paged32 => (regs.rsp, u64::MAX),
        };
        let ram = &self.dev.ram;
        let byte =
            |offset: u64| ram.read_u8(sregs.ss.base.wrapping_add(sp.wrapping_add(offset) & wrap));
        let mut words = [0u64; FRAME_WORDS as usize];
        for (i, w) in words.iter_mut().take(count as usize).enumerate() {
            for b in (0..size).rev() {
                match byte(i as u64 * size + b) {
                    Some(v) => *w = (*w << 8) | u64::from(v),
                    None => {
                        return Flow::Stop(Outcome::Error(GuestError::UnexpectedExit(
                            "exception report with its frame outside guest RAM".into(),
                        )));
                    }
                }
            }
        }
        let Some(frame) = self.mode.frame(&words, sp, u64::from(sregs.ss.selector)) else {
            return Flow::Stop(Outcome::Error(GuestError::UnexpectedExit(
                "exception report too short for its mode".into(),
            )));
        };
        log::debug!("guest {}: {} exception frame {frame:x?}", self.dev.id, self.mode);
        self.fault_frame = Some(frame);
        let vector = u8::try_from(frame.vector).unwrap_or(u8::MAX);
        if let Some(e) = self.software_interrupt(&frame, vector, sregs.cr3) {
            return Flow::Stop(Outcome::Error(e));
        }
        let (rip, symbol) = match self.mode {
            // Where it happened as CS:IP, and as the linear address a person finds in the image.
            CpuMode::Real => {
                let linear = (frame.cs << 4).wrapping_add(frame.rip);
                (linear, Some(format!("{:04x}:{:04x}", frame.cs, frame.rip)))
            }
            _ => (frame.rip, self.symbols.describe(frame.rip)),
        };
        let fault = Fault {
            vector,
            error_code: frame.error_code,
            rip,
            address: if self.mode.paging() { sregs.cr2 } else { 0 },
            cpl: 0,
            symbol,
        };
        // gdb: with a debugger attached, the fault stops the guest for it instead.
        if let Some(flow) = self.ring0_debug_fault(&frame, *regs, sregs, &fault) {
            return flow;
        }
        Flow::Stop(Outcome::Fault(fault))
    }

    /// Says so if a ring-0 mode's stub was entered by a software `int n` rather than by an
    /// exception: then the two bytes before the return address are `int n` (0xCD n). In real
    /// mode every vector can be reached that way, BIOS calls (`int 0x10`) included, which must
    /// not read as the exception that shares their vector.
    fn software_interrupt(
        &self,
        frame: &ExceptionFrame,
        vector: u8,
        cr3: u64,
    ) -> Option<GuestError> {
        let ip = frame.rip.checked_sub(2)?;
        let linear = match self.mode {
            CpuMode::Real => (frame.cs << 4) + (ip & 0xFFFF),
            _ => ip,
        };
        let ram = &self.dev.ram;
        let byte = |at: u64| {
            let gpa = self.mode.translate(ram, cr3, at)?;
            ram.read_u8(gpa.as_u64())
        };
        if (byte(linear)?, byte(linear + 1)?) != (0xCD, vector) {
            return None;
        }
        let (at, hint) = match self.mode {
            CpuMode::Real => (
                format!("at {:04x}:{ip:04x} in real mode", frame.cs),
                "hv has no BIOS; a guest sets its own vectors with lidt",
            ),
            mode => (
                format!("at eip {ip:#x} in --mode {mode}"),
                "hv's IDT only reports exceptions; a guest sets its own with lidt",
            ),
        };
        Some(GuestError::UnhandledInterrupt { vector, at, hint })
    }

    /// A ring-3 #GP on a harmless privileged instruction (see `privileged`): emulates it and
    /// resumes the guest past it, with the registers the stub saved and the CPU pushed restored
    /// exactly. `None` if it is not one.
    ///
    /// With the trap flag set, the instruction completing raises the single-step #DB right
    /// after it, as the CPU would had it executed it: the guest ends with that debug exception
    /// at the next instruction (every #DB ends a guest; see `hv_core::idt`), instead of
    /// running one more instruction first.
    fn emulate_privileged(
        &mut self,
        frame: &ExceptionFrame,
        mut regs: kvm_bindings::kvm_regs,
        sregs: &kvm_bindings::kvm_sregs,
    ) -> Option<Flow> {
        use crate::privileged::{ControlRegs, apply, decode, fetch};
        let code = fetch(&self.dev.ram, sregs.cr3, frame.rip);
        let emulation = decode(&code, frame.rip, ControlRegs::of(sregs.cr2, sregs.cr3))?;
        regs.rip = frame.rip;
        regs.rsp = frame.rsp;
        regs.rflags = frame.rflags;
        regs.rdx = frame.rdx;
        apply(&mut regs, emulation);
        let mut sregs = *sregs;
        crate::vcpu::set_ring3_segments(&mut sregs, self.dev.ram.layout());
        if let Err(e) = self.vcpu.set_sregs(&sregs).and_then(|()| self.vcpu.set_regs(&regs)) {
            return Some(Flow::Stop(Outcome::Error(GuestError::Run(e.to_string()))));
        }
        log::debug!("guest {}: emulated {:?} at rip {:#x}", self.dev.id, emulation, frame.rip);
        if frame.rflags & TRAP_FLAG != 0 {
            let debug = Exception::Debug as u8;
            self.fault_frame = Some(ExceptionFrame {
                vector: debug.into(),
                error_code: 0,
                rip: regs.rip,
                ..*frame
            });
            return Some(Flow::Stop(Outcome::Fault(Fault {
                vector: debug,
                error_code: 0,
                rip: regs.rip,
                address: sregs.cr2,
                cpl: 3,
                symbol: self.symbols.describe(regs.rip),
            })));
        }
        Some(Flow::Continue)
    }

    /// Logs the guest's registers (`RUST_LOG=debug`): after an exception, its state at the
    /// fault, from the frame (see `registers`).
    pub(super) fn log_registers(&self) {
        if !log::log_enabled!(log::Level::Debug) {
            return;
        }
        if let (Ok(r), Ok(s)) = (self.vcpu.get_regs(), self.vcpu.get_sregs()) {
            log::debug!(
                "{}",
                crate::registers::dump(self.dev.id, &r, &s, self.fault_frame.as_ref())
            );
        }
    }
}

// ---- gdb (see `gdb`): with a debugger attached, its traps and the guest's faults stop the
// guest for it, back in ring 3 with its own registers from the frame; nothing here runs
// without one. ----
impl Vm<'_> {
    /// A #DB or #BP of the debugger's (see `gdb::DebugState::on_trap`): the flow that stops or
    /// resumes the guest; `None` if no debugger is attached or the exception is not its.
    fn debug_trap(
        &mut self,
        frame: &ExceptionFrame,
        regs: kvm_bindings::kvm_regs,
        sregs: &kvm_bindings::kvm_sregs,
    ) -> Option<Flow> {
        use crate::gdb::Trap;
        let debug = self.debug.as_deref()?;
        if frame.cs & 3 != 3 {
            return None;
        }
        let vector = u8::try_from(frame.vector).unwrap_or(u8::MAX);
        let (stop, rip) = match debug.on_trap(vector, frame.error_code, frame.rip)? {
            Trap::Stop { stop, rip } => (Some(stop), rip),
            Trap::Resume { rip } => (None, rip),
        };
        Some(self.debug_resume_at(frame, regs, sregs, rip, stop))
    }

    /// A ring-3 fault that would end the guest, with a debugger attached: it stops for gdb
    /// at the faulting instruction instead (see `gdb::DebugState::fault`).
    fn debug_fault(
        &mut self,
        frame: &ExceptionFrame,
        regs: kvm_bindings::kvm_regs,
        sregs: &kvm_bindings::kvm_sregs,
        fault: &Fault,
    ) -> Option<Flow> {
        self.debug.as_ref()?;
        if frame.cs & 3 != 3 {
            return None; // a fault in the ring-0 stubs themselves: not the guest's code
        }
        let stop = crate::gdb::DebugState::fault(fault.clone());
        Some(self.debug_resume_at(frame, regs, sregs, frame.rip, Some(stop)))
    }

    /// Puts the guest back in ring 3 at `rip` with the registers the stub saved and the CPU
    /// pushed (as `emulate_privileged` resumes it), and records `stop` for `Vm::step`, which
    /// returns it; with no stop the guest simply runs on.
    fn debug_resume_at(
        &mut self,
        frame: &ExceptionFrame,
        mut regs: kvm_bindings::kvm_regs,
        sregs: &kvm_bindings::kvm_sregs,
        rip: u64,
        stop: Option<crate::gdb::Stop>,
    ) -> Flow {
        regs.rip = rip;
        regs.rsp = frame.rsp;
        regs.rflags = frame.rflags;
        regs.rdx = frame.rdx;
        let mut sregs = *sregs;
        crate::vcpu::set_ring3_segments(&mut sregs, self.dev.ram.layout());
        if let Err(e) = self.vcpu.set_sregs(&sregs).and_then(|()| self.vcpu.set_regs(&regs)) {
            return Flow::Stop(Outcome::Error(GuestError::Run(e.to_string())));
        }
        self.fault_frame = None;
        if let Some(debug) = self.debug.as_deref_mut() {
            debug.event = stop;
        }
        Flow::Continue
    }
}

// ---- gdb in the 16- and 32-bit modes (see `gdb::hw`): the guest owns ring 0 there, so a fault
// is put back exactly as the guest was when it happened, out of the stub's frame. ----
impl Vm<'_> {
    /// A fault of a 16- or 32-bit guest, with a debugger attached: the guest is put back at the
    /// faulting instruction with the registers the CPU and the stub saved (the stub's pushes
    /// popped, the guest's code segment reloaded), and stops for gdb with the fault's signal.
    /// `None` without a debugger, or if the guest's code segment cannot be found (a selector
    /// outside its GDT): the fault then ends the guest as usual.
    fn ring0_debug_fault(
        &mut self,
        frame: &ExceptionFrame,
        mut regs: kvm_regs,
        sregs: &kvm_sregs,
        fault: &Fault,
    ) -> Option<Flow> {
        self.debug.as_ref()?;
        let selector = u16::try_from(frame.cs).ok()?;
        let mut sregs = *sregs;
        // The stack and `dx` as wide as the mode uses them: the stub changed only those bits.
        let (low, cs) = match self.mode {
            CpuMode::Long => return None,
            CpuMode::Real => {
                let cs = crate::vcpu::segment(hv_core::mode::SegmentReg::real(selector, true));
                (0xFFFF, cs)
            }
            CpuMode::Protected => (0xFFFF_FFFF, self.gdt_segment(&sregs, selector)?),
            CpuMode::Paged32 => (u64::MAX, self.gdt_segment(&sregs, selector)?),
        };
        let merge = |old: u64, new: u64| (old & !low) | (new & low);
        sregs.cs = cs;
        regs.rip = frame.rip;
        regs.rflags = frame.rflags;
        regs.rsp = merge(regs.rsp, frame.rsp);
        regs.rdx = merge(regs.rdx, frame.rdx);
        if let Err(e) = self.vcpu.set_sregs(&sregs).and_then(|()| self.vcpu.set_regs(&regs)) {
            return Some(Flow::Stop(Outcome::Error(GuestError::Run(e.to_string()))));
        }
        self.fault_frame = None;
        if let Some(debug) = self.debug.as_deref_mut() {
            debug.event = Some(crate::gdb::DebugState::fault(fault.clone()));
        }
        Some(Flow::Continue)
    }

    /// The code segment `selector` names in the guest's current GDT, as KVM loads it.
    fn gdt_segment(&self, sregs: &kvm_sregs, selector: u16) -> Option<kvm_bindings::kvm_segment> {
        use hv_core::gdt::{GDT_ENTRIES, decode};
        let offset = u64::from(selector & !7);
        if selector & 4 != 0 || offset + 7 > u64::from(sregs.gdt.limit) {
            return None; // an LDT selector, or past the table
        }
        let ram = &self.dev.ram;
        let gpa = self.mode.translate(ram, sregs.cr3, sregs.gdt.base.wrapping_add(offset))?;
        let mut entries = [0u64; GDT_ENTRIES];
        entries[0] = ram.read_u64(gpa)?;
        let fields = decode(&entries, 0);
        (fields.s == 1 && fields.present == 1)
            .then(|| crate::vcpu::segment(hv_core::mode::SegmentReg { selector, fields }))
    }
}
