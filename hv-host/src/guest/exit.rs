//! KVM exit decoding: what `KVM_RUN` returned, turned into an owned [`Exit`], and the exits that
//! end a guest by themselves mapped to their [`Outcome`].
//!
//! Why owned: `kvm_ioctls` hands an exit out as a borrow of the vCPU's shared `kvm_run` page.
//! Copying the at most 8 bytes of port or MMIO data out ends that borrow at once, so the
//! handlers can use the vCPU (registers, the coalesced ring) while they handle the exit. Port
//! reads are the exception: their reply goes back into `kvm_run` ([`answer_in`]) before the
//! next `KVM_RUN`.
//!
//! Decoding ([`Exit::from_vcpu_exit`]) and the outcome of an ending exit ([`End::outcome`]) are
//! plain functions of their input, so synthetic exits unit-test them without KVM.

use kvm_ioctls::{VcpuExit, VcpuFd};

use crate::outcome::{GuestError, Outcome};
use crate::stats::ExitKind;

/// An exit, decoded and owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    /// A port write of `size` bytes (little-endian in `data`).
    Out { port: u16, data: [u8; 8], size: usize },
    /// A port read of `size` bytes, answered by [`answer_in`] once handled.
    In { port: u16, size: usize },
    /// An MMIO read of `size` bytes. Never answered: no device has a readable register, so it
    /// ends the guest.
    MmioRead { addr: u64, size: usize },
    /// An MMIO write of `size` bytes (little-endian in `data`).
    MmioWrite { addr: u64, data: [u8; 8], size: usize },
    /// `KVM_RUN` was interrupted by a signal (a kick, see `kick`), or returned `EINTR`/`EAGAIN`.
    Interrupted,
    /// `KVM_EXIT_DEBUG`: a breakpoint or a single step that gdb set (16- and 32-bit modes, see
    /// `gdb::hw`), with the debug status register saying which, and the linear address of the
    /// next instruction.
    Debug { dr6: u64, pc: u64 },
    /// An exit that ends the guest whatever it was doing.
    End(End),
}

/// The exits that end a guest by themselves: no service handles them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// `hlt` (in a mode where the guest may halt; in ring 3 it is a #GP, see `exception`).
    Hlt,
    /// A triple fault.
    Shutdown,
    /// KVM could not emulate an instruction; its suberror is in `kvm_run`.
    InternalError,
    /// The vCPU state was refused at entry, with the hardware's reason.
    FailEntry(u64),
    /// Anything else, described.
    Other(String),
}

impl End {
    /// How the guest ended. `suberror` is asked only for [`End::InternalError`].
    pub(crate) fn outcome(self, suberror: impl FnOnce() -> u32) -> Outcome {
        match self {
            End::Hlt => Outcome::Halted,
            End::Shutdown => Outcome::Error(GuestError::TripleFault),
            End::InternalError => {
                Outcome::Error(GuestError::InternalError { suberror: suberror() })
            }
            End::FailEntry(reason) => Outcome::Error(GuestError::FailedEntry { reason }),
            End::Other(what) => Outcome::Error(GuestError::UnexpectedExit(what)),
        }
    }
}

/// Up to 8 bytes of exit data, copied out of `kvm_run`.
fn owned(bytes: &[u8]) -> ([u8; 8], usize) {
    let mut data = [0; 8];
    let size = bytes.len().min(8);
    data[..size].copy_from_slice(&bytes[..size]);
    (data, size)
}

impl Exit {
    /// Decodes what `KVM_RUN` returned. The caller clears the kick flag on
    /// [`Exit::Interrupted`] (see the race analysis in `kick`).
    pub(crate) fn from_run(result: Result<VcpuExit<'_>, kvm_ioctls::Error>) -> Exit {
        match result {
            Ok(exit) => Exit::from_vcpu_exit(exit),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Exit::Interrupted,
            Err(e) => Exit::End(End::Other(format!("KVM_RUN: {e}"))),
        }
    }

    /// Decodes one exit KVM reported.
    pub(crate) fn from_vcpu_exit(exit: VcpuExit<'_>) -> Exit {
        match exit {
            VcpuExit::IoOut(port, bytes) => {
                let (data, size) = owned(bytes);
                Exit::Out { port, data, size }
            }
            VcpuExit::IoIn(port, data) => Exit::In { port, size: data.len().min(8) },
            VcpuExit::Hlt => Exit::End(End::Hlt),
            VcpuExit::Shutdown => Exit::End(End::Shutdown),
            VcpuExit::InternalError => Exit::End(End::InternalError),
            VcpuExit::FailEntry(reason, _cpu) => Exit::End(End::FailEntry(reason)),
            VcpuExit::MmioRead(addr, data) => Exit::MmioRead { addr, size: data.len() },
            VcpuExit::MmioWrite(addr, bytes) => {
                let (data, size) = owned(bytes);
                Exit::MmioWrite { addr, data, size }
            }
            VcpuExit::Intr => Exit::Interrupted,
            VcpuExit::Debug(arch) => Exit::Debug { dr6: arch.dr6, pc: arch.pc },
            other => Exit::End(End::Other(format!("{other:?}"))),
        }
    }

    /// How the exit is counted in the statistics.
    pub(crate) fn kind(&self) -> ExitKind {
        match self {
            Exit::Out { port, .. } => ExitKind::IoOut(*port),
            Exit::In { port, .. } => ExitKind::IoIn(*port),
            Exit::MmioRead { .. } | Exit::MmioWrite { .. } => ExitKind::Mmio,
            Exit::Interrupted => ExitKind::Interrupted,
            Exit::End(End::Hlt) => ExitKind::Hlt,
            Exit::End(_) | Exit::Debug { .. } => ExitKind::Other,
        }
    }
}

/// Writes the reply to a port read into `kvm_run`, where KVM takes it on the next entry. Only
/// right after an exit decoded as [`Exit::In`].
pub(crate) fn answer_in(vcpu: &mut VcpuFd, data: &[u8]) {
    let run = vcpu.get_kvm_run();
    // SAFETY: the last exit was KVM_EXIT_IO (the caller decoded it as `Exit::In`), so `io` is
    // the union member KVM filled in.
    let io = unsafe { run.__bindgen_anon_1.io };
    let len = data.len().min(usize::from(io.size) * io.count as usize);
    let base = (run as *mut kvm_bindings::kvm_run).cast::<u8>();
    // SAFETY: KVM places the data `data_offset` bytes into the kvm_run mapping, which
    // kvm-ioctls maps whole for the life of the vCPU; `len` is at most the size KVM gave.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), base.add(io.data_offset as usize), len) };
}

/// The suberror of the last exit, which must have been `KVM_EXIT_INTERNAL_ERROR`.
pub(crate) fn internal_suberror(vcpu: &mut VcpuFd) -> u32 {
    let run = vcpu.get_kvm_run();
    // SAFETY: KVM filled the `internal` member of the exit union: the exit reason was
    // KVM_EXIT_INTERNAL_ERROR, which is how the caller got here.
    unsafe { run.__bindgen_anon_1.internal.suberror }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_data_is_copied_out_and_bounded() {
        let exit = Exit::from_vcpu_exit(VcpuExit::IoOut(0xE9, b"A"));
        assert_eq!(exit, Exit::Out { port: 0xE9, data: *b"A\0\0\0\0\0\0\0", size: 1 });
        assert_eq!(exit.kind(), ExitKind::IoOut(0xE9));
        // KVM never gives more than 8 bytes of port data, but the copy does not rely on it.
        let long = [7u8; 12];
        let Exit::Out { size, .. } = Exit::from_vcpu_exit(VcpuExit::IoOut(0x10, &long)) else {
            panic!("not an out");
        };
        assert_eq!(size, 8);
        let mut four = [0u8; 4];
        assert_eq!(
            Exit::from_vcpu_exit(VcpuExit::IoIn(0xEC, &mut four)),
            Exit::In { port: 0xEC, size: 4 }
        );
        let exit = Exit::from_vcpu_exit(VcpuExit::MmioWrite(0x20_0080, &[1, 2]));
        assert_eq!(
            exit,
            Exit::MmioWrite { addr: 0x20_0080, data: [1, 2, 0, 0, 0, 0, 0, 0], size: 2 }
        );
        assert_eq!(exit.kind(), ExitKind::Mmio);
    }

    #[test]
    fn exits_that_end_a_guest_say_how() {
        let no_suberror = || -> u32 { panic!("asked for a suberror") };
        let end = |exit: VcpuExit<'_>| match Exit::from_vcpu_exit(exit) {
            Exit::End(end) => end,
            other => panic!("{other:?} does not end the guest"),
        };
        assert_eq!(end(VcpuExit::Hlt).outcome(no_suberror), Outcome::Halted);
        assert_eq!(Exit::End(End::Hlt).kind(), ExitKind::Hlt);
        assert_eq!(
            end(VcpuExit::Shutdown).outcome(no_suberror),
            Outcome::Error(GuestError::TripleFault)
        );
        assert_eq!(
            end(VcpuExit::InternalError).outcome(|| 1),
            Outcome::Error(GuestError::InternalError { suberror: 1 })
        );
        assert_eq!(
            end(VcpuExit::FailEntry(0x80, 0)).outcome(no_suberror),
            Outcome::Error(GuestError::FailedEntry { reason: 0x80 })
        );
        assert_eq!(
            end(VcpuExit::SystemEvent(1, &[])).outcome(no_suberror),
            Outcome::Error(GuestError::UnexpectedExit("SystemEvent(1, [])".into()))
        );
        let debug = kvm_bindings::kvm_debug_exit_arch { dr6: 0x4ff0, pc: 7, ..Default::default() };
        let exit = Exit::from_vcpu_exit(VcpuExit::Debug(debug));
        assert_eq!(exit, Exit::Debug { dr6: 0x4ff0, pc: 7 });
        assert_eq!(Exit::End(End::Shutdown).kind(), ExitKind::Other);
    }

    #[test]
    fn interruptions_are_not_errors() {
        let eintr = kvm_ioctls::Error::new(libc::EINTR);
        assert_eq!(Exit::from_run(Err(eintr)), Exit::Interrupted);
        assert_eq!(Exit::from_run(Err(kvm_ioctls::Error::new(libc::EAGAIN))), Exit::Interrupted);
        assert_eq!(Exit::from_run(Ok(VcpuExit::Intr)), Exit::Interrupted);
        let Exit::End(End::Other(what)) = Exit::from_run(Err(kvm_ioctls::Error::new(libc::EFAULT)))
        else {
            panic!("EFAULT is not an interruption");
        };
        assert!(what.starts_with("KVM_RUN: "), "{what}");
    }
}
