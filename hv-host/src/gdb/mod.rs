//! Debugging a guest with gdb (`--gdb`): the GDB remote protocol (`gdbstub`) over a TCP port
//! of 127.0.0.1 or a Unix socket, one gdb per debugged guest.
//!
//! # How a long-mode (ring-3) guest is debugged here
//!
//! On our KVM (PVM) neither hardware breakpoints and watchpoints (DR0-DR7) nor
//! `KVM_SET_GUEST_DEBUG` ever report anything for ring-3 code (measured: see
//! shared/notes/kvm-on-these-machines.md). So the debugger works through what every guest has
//! anyway: the ring-0 exception stubs (`hv_core::idt`), which report each CPU exception to the
//! host with an `out`. This works alike on hardware KVM.
//! - **Breakpoints** are `int3` bytes written into the guest's code ([`breakpoints`]); one
//!   arrives as #BP with RIP past the 0xCC (VT-x/SVM raise #GP for it through hv's DPL-0 gate,
//!   which is taken too). The stop is reported at the breakpoint's address.
//! - **Single steps** set RFLAGS.TF: the CPU raises #DB after one instruction. After an `out`
//!   or an MMIO write PVM drops that trap, so a step whose instruction exited ends when the
//!   access is complete unless KVM holds the trap for the next entry (`Vm::debug_stop`).
//! - **Watchpoints**: hardware watchpoints do not fire for ring-3 code here, so write
//!   watchpoints are emulated by single-stepping the guest in the host and comparing the
//!   watched bytes after every instruction (`watch`); gdb's own software watchpoints
//!   (`set can-use-hw-watchpoints 0`) also work, stepping from gdb's side.
//! - At every stop the guest is put back in ring 3 with its own registers from the exception
//!   frame (as the emulation of a privileged instruction resumes it), so gdb reads and writes
//!   the guest's registers, never the stub's, and a resume is a plain `KVM_RUN`.
//! - Any exception that would end the guest stops it for gdb instead, with the signal a Linux
//!   process gets (SIGSEGV, SIGFPE, SIGILL, SIGTRAP); a panic stops with SIGABRT. Passing the
//!   signal on (gdb's default for those) ends the guest as it would have ended without gdb.
//!
//! # The 16- and 32-bit modes
//!
//! With `--mode real|protected|paged32` the guest runs in ring 0, where our KVM emulates every
//! instruction and its own debugging works (measured): single steps and the CPU's execute
//! breakpoints, set with `KVM_SET_GUEST_DEBUG`, stop the guest with `KVM_EXIT_DEBUG`. So there
//! gdb's steps are KVM's, its breakpoints are the four debug registers ([`hw`]: an `int3`
//! cannot be emulated in ring 0 here), watchpoints are emulated by steps as in long mode, and a
//! fault reported by hv's stubs is undone back to the faulting instruction. gdb is given
//! i386's registers and the mode's architecture (`i8086` in real mode), since gdb 13 cannot
//! debug 16- or 32-bit code with an x86-64 register set ([`arch`]); real mode's program counter
//! is linear ([`regs`]).
//!
//! # Cost
//!
//! With no breakpoint and no step the guest runs exactly as without a debugger: no trap flag,
//! no extra exit. The thread looks for gdb's Ctrl-C at the wake-ups the runner has anyway
//! (the periodic kick of a computing guest, and input waits), one `poll` each.

mod arch;
mod breakpoints;
mod conn;
mod hw;
mod regs;
mod session;
mod stop;
mod target;
mod watch;

pub use conn::GdbEndpoint;
pub(crate) use conn::Listener;
pub(crate) use session::{POLL, Session};
pub(crate) use stop::{DebugState, Stop, Trap};
