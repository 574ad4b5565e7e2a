/*
 * floor.c: the least a KVM launcher can do, the floor hv's benchmark measures against.
 *
 * Built by the benchmark with `cc -O2` at bench time (benches/hv.rs), so the floor is what a
 * minimal C peer pays, not what a Rust launcher with its crates pays.
 *
 *   floor start      exits at once, before opening /dev/kvm: process start-up and teardown,
 *                    which the benchmark takes off every launch figure;
 *   floor hlt        opens /dev/kvm, makes one VM with 2 MiB of RAM and one vCPU in real mode,
 *                    runs it to a `hlt` at address 0, exits;
 *   floor exits N [T] the same VM runs a loop of N `out`s (ring 0, real mode) and then `hlt`;
 *                    the host re-enters on each without looking at it; with T, T threads at
 *                    once, each with its own VM doing that (the floor for T guests that each
 *                    make N port accesses, one exit each, as the seeds' ring-0 peers make them);
 *   floor hlt N      N threads at once, each doing what `floor hlt` does with its own VM (the
 *                    floor for launching N guests).
 *
 * Exit status: 0 when the guest did what was expected, 1 otherwise (with a line on stderr).
 */
#include <fcntl.h>
#include <pthread.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM_SIZE (2u << 20)
#define PORT 0x500

static int fail(const char *what)
{
    perror(what);
    return 1;
}

/* One VM run to its `hlt`, after `n` outs if `exits`: 0 on success. */
static int one_vm(int kvm, int exits, unsigned long n)
{
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        return fail("KVM_CREATE_VM");
    uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED)
        return fail("mmap");
    if (exits) {
        /* 16-bit code at 0: mov ecx, n; mov dx, PORT; 1: out dx, al; dec ecx; jnz 1b; hlt */
        const uint8_t code[] = {
            0x66, 0xB9, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24),
            0xBA, PORT & 0xFF, PORT >> 8, /* mov dx, PORT */
            0xEE,                         /* out dx, al (offset 9) */
            0x66, 0x49,                   /* dec ecx */
            0x75, 0xFB,                   /* jnz -5: back to the out */
            0xF4,                         /* hlt */
        };
        memcpy(ram, code, sizeof code);
    } else {
        ram[0] = 0xF4; /* hlt */
    }
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = RAM_SIZE,
        .userspace_addr = (uint64_t)(uintptr_t)ram,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return fail("KVM_SET_USER_MEMORY_REGION");
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        return fail("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < 0)
        return fail("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        return fail("mmap kvm_run");
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        return fail("KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        return fail("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = 0, .rflags = 2};
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        return fail("KVM_SET_REGS");

    unsigned long outs = 0;
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0)
            return fail("KVM_RUN");
        if (run->exit_reason == KVM_EXIT_HLT)
            break;
        if (run->exit_reason == KVM_EXIT_IO && run->io.port == PORT) {
            outs++;
            continue;
        }
        fprintf(stderr, "floor: unexpected exit %u\n", run->exit_reason);
        return 1;
    }
    if (outs != (exits ? n : 0)) {
        fprintf(stderr, "floor: %lu outs, expected %lu\n", outs, exits ? n : 0);
        return 1;
    }
    return 0;
}

static int kvm_fd;
/* What each thread's VM does: `floor hlt` (0) or `floor exits` (1) with `thread_n` outs. */
static int thread_exits;
static unsigned long thread_n;

static void *vm_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)one_vm(kvm_fd, thread_exits, thread_n);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "hlt";
    if (strcmp(mode, "start") == 0)
        return 0;
    unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : (strcmp(mode, "hlt") == 0 ? 1 : 10000);
    int exits = strcmp(mode, "exits") == 0;
    /* Threads: `hlt N` runs N; `exits N T` runs T, each with N outs. */
    unsigned long threads_n = exits ? (argc > 3 ? strtoul(argv[3], NULL, 10) : 1) : n;
    if ((!exits && strcmp(mode, "hlt") != 0) || n == 0 || threads_n == 0 || threads_n > 1024) {
        fprintf(stderr, "usage: floor start | hlt [THREADS] | exits N [THREADS]\n");
        return 2;
    }
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0)
        return fail("/dev/kvm");
    if (threads_n == 1)
        return one_vm(kvm_fd, exits, n);
    thread_exits = exits;
    thread_n = exits ? n : 0;
    pthread_t threads[1024];
    int failed = 0;
    for (unsigned long i = 0; i < threads_n; i++) {
        if (pthread_create(&threads[i], NULL, vm_thread, NULL) != 0)
            return fail("pthread_create");
    }
    for (unsigned long i = 0; i < threads_n; i++) {
        void *result;
        pthread_join(threads[i], &result);
        failed |= (int)(intptr_t)result;
    }
    return failed;
}
