//! The register dump logged (`RUST_LOG=debug`) when a guest fails: the guest's own state.
//!
//! After a CPU exception the vCPU is inside the ring-0 stub that reported it (see
//! `hv_core::idt`), so its RIP, RSP, RFLAGS, CS and SS are the stub's. The guest's values at the
//! fault are in the exception frame the CPU pushed, and RDX (which the stub needs for its `out`)
//! in the word the stub pushed first; every other general register is the guest's, untouched.
//! Without an exception (a timeout, a stop, a bad port access) the vCPU state is the
//! guest's as it is. Every value is in `0x` hex, and the frame is not logged apart from this
//! dump: one line says it all.

use std::fmt::Write;

use hv_core::idt::ExceptionFrame;
use kvm_bindings::{kvm_regs, kvm_sregs};

/// One line: guest `id`'s registers, from `frame` where the guest faulted.
pub(crate) fn dump(id: u32, r: &kvm_regs, s: &kvm_sregs, frame: Option<&ExceptionFrame>) -> String {
    let mut line = format!("guest {id} registers:");
    let (rip, rsp, rflags, cs, ss, rdx) = match frame {
        Some(f) => (f.rip, f.rsp, f.rflags, f.cs, f.ss, f.rdx),
        None => (r.rip, r.rsp, r.rflags, u64::from(s.cs.selector), u64::from(s.ss.selector), r.rdx),
    };
    let _ = write!(line, " rip={rip:#x} rsp={rsp:#x} rflags={rflags:#x} rax={:#x}", r.rax);
    let _ = write!(line, " rbx={:#x} rcx={:#x} rdx={rdx:#x}", r.rbx, r.rcx);
    for (name, v) in [
        ("rsi", r.rsi),
        ("rdi", r.rdi),
        ("rbp", r.rbp),
        ("r8", r.r8),
        ("r9", r.r9),
        ("r10", r.r10),
        ("r11", r.r11),
        ("r12", r.r12),
        ("r13", r.r13),
        ("r14", r.r14),
        ("r15", r.r15),
    ] {
        let _ = write!(line, " {name}={v:#x}");
    }
    let _ = write!(line, " cr2={:#x} cr3={:#x} cs={cs:#x} ss={ss:#x}", s.cr2, s.cr3);
    if let Some(f) = frame {
        let _ = write!(
            line,
            " (at exception {}, error code {:#x}, from its frame)",
            f.vector, f.error_code
        );
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_shows_the_guests_state_not_the_stubs() {
        let regs = kvm_regs {
            rip: 0x1f_c0e7,
            rsp: 0x1f_f000,
            rax: 7,
            rdx: 0x501,
            r15: 9,
            ..Default::default()
        };
        let mut sregs = kvm_sregs::default();
        sregs.cs.selector = 0x8;
        sregs.cr2 = 0x4000_0000;
        let frame = ExceptionFrame {
            vector: 14,
            rdx: 0x1234,
            error_code: 6,
            rip: 0x1a2f,
            cs: 0x2b,
            rflags: 0x202,
            rsp: 0x7f_f000,
            ss: 0x23,
        };
        let line = dump(3, &regs, &sregs, Some(&frame));
        assert!(
            line.starts_with("guest 3 registers: rip=0x1a2f rsp=0x7ff000 rflags=0x202 rax=0x7 "),
            "{line}"
        );
        assert!(line.contains(" rdx=0x1234 ") && line.contains(" r15=0x9 "), "{line}");
        assert!(
            line.ends_with(
                "cr2=0x40000000 cr3=0x0 cs=0x2b ss=0x23 (at exception 14, error code 0x6, from its frame)"
            ),
            "{line}"
        );
        assert!(!line.contains("0x1fc0e7") && !line.contains("cs=0x8"), "{line}");
        // Without a fault: the vCPU's state as it is.
        let line = dump(3, &regs, &sregs, None);
        assert!(line.contains("rip=0x1fc0e7") && line.contains("rdx=0x501"), "{line}");
    }
}
