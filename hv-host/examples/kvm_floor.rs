//! The ring-3 exit floor the benchmark measures hv's exits against, next to the C floor
//! (`benches/floor.c`, real mode, ring 0), which is the floor for launch.
//!
//! - `kvm_floor exits N`: one VM in 64-bit ring 3 (hv-core's tables, hv-host's vCPU setup: the
//!   same state hv's guests start in) runs a loop of N bare `out`s; the host re-enters on each
//!   without looking at it. The time per `out` is the floor for one exit round trip from ring 3.
//! - `kvm_floor hlt`: open /dev/kvm, create one VM with 2 MiB of RAM and one vCPU in real mode,
//!   run it to its first exit (a `hlt` at address 0), exit: what the C floor does, in Rust.
#![allow(clippy::unwrap_used)]

use hv_core::Gpa;
use hv_core::layout::{Layout, MemSize, PageSize};
use hv_core::paging::PhysMem;
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Kvm, VcpuExit};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

struct Ram(GuestMemoryMmap<()>);

impl PhysMem for Ram {
    fn read_u64(&self, gpa: Gpa) -> Option<u64> {
        self.0.read_obj(GuestAddress(gpa.as_u64())).ok()
    }
    fn write_u64(&mut self, gpa: Gpa, value: u64) -> bool {
        self.0.write_obj(value, GuestAddress(gpa.as_u64())).is_ok()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("hlt", String::as_str);
    let layout = Layout::new(MemSize::Mib2, PageSize::Kib4);
    let kvm = Kvm::new().expect("open /dev/kvm");
    let vm = kvm.create_vm().unwrap();
    let mut ram = Ram(GuestMemoryMmap::from_ranges(&[(
        GuestAddress(0),
        layout.ram_size() as usize,
    )])
    .unwrap());
    let region = kvm_userspace_memory_region {
        slot: 0,
        flags: 0,
        guest_phys_addr: 0,
        memory_size: layout.ram_size(),
        userspace_addr: ram.0.get_host_address(GuestAddress(0)).unwrap() as u64,
    };
    // SAFETY: the region is `ram`'s mapping, which outlives the VM (both live until exit).
    unsafe { vm.set_user_memory_region(region) }.unwrap();
    let mut vcpu = vm.create_vcpu(0).unwrap();
    match mode {
        "hlt" => {
            ram.0.write_obj(0xF4u8, GuestAddress(0)).unwrap(); // hlt
            let mut sregs = vcpu.get_sregs().unwrap();
            sregs.cs.base = 0;
            sregs.cs.selector = 0;
            vcpu.set_sregs(&sregs).unwrap();
            let mut regs = vcpu.get_regs().unwrap();
            regs.rip = 0;
            vcpu.set_regs(&regs).unwrap();
            match vcpu.run().unwrap() {
                VcpuExit::Hlt => {}
                other => panic!("unexpected exit {other:?}"),
            }
        }
        "exits" => {
            let n: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
            let [a, b, c, d] = n.to_le_bytes();
            // mov ecx, n; mov dx, 0x500; 1: out dx, al; dec ecx; jnz 1b; hlt
            let code =
                [0xB9, a, b, c, d, 0x66, 0xBA, 0x00, 0x05, 0xEE, 0xFF, 0xC9, 0x75, 0xFB, 0xF4];
            ram.0.write_slice(&code, GuestAddress(0)).unwrap();
            assert!(hv_core::boot::install(&mut ram, layout, 0));
            hv_host::vcpu::load_entry_state(&vcpu, layout).unwrap();
            let mut outs = 0u32;
            loop {
                match vcpu.run().unwrap() {
                    VcpuExit::IoOut(0x500, _) => outs += 1,
                    // The ring-3 hlt faults into the exception stub, which reports with an out.
                    VcpuExit::IoOut(_, _) => break,
                    other => panic!("unexpected exit {other:?}"),
                }
            }
            assert_eq!(outs, n);
        }
        other => panic!("unknown mode {other}: use hlt or exits N"),
    }
}
