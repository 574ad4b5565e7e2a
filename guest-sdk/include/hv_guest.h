/*
 * hv_guest.h: the C guest SDK for hv, in one header.
 *
 * Include it in a file that defines `int main(void)`, then build and link with
 *
 *     gcc -m64 -ffreestanding -fno-pic -nostdlib -fno-stack-protector -O2 \
 *         -I guest-sdk/include -c guest.c -o guest.o
 *     ld -T linker/guest.ld guest.o -o guest.img
 *
 * and run it with `hv-host -m 2 -p 4 -g guest.img`. The header provides `_start` (zeroes .bss,
 * announces the ABI version, calls main, exits with its return value; `#define HV_NO_START`
 * before the include for a guest that keeps its own _start), the console, exit, the
 * boot info, the file service and the mem* functions gcc emits calls to. It behaves like the
 * Rust guest SDK (guest-sdk/src).
 *
 * Costs are counted in exits (guest -> host round trips, about 20 us each): a call to the host
 * costs one exit whatever the size of its data. Console output (putchar, hv_write, puts, the
 * print hypercalls) goes into the console ring the host shares and costs no exit while the ring
 * has room; console input (getchar, hv_read) comes out of the input ring the host fills and
 * costs an exit only when it is empty; the exit counts are read from the hv page.
 *
 * Errors: functions that can fail return a negative error code, -HV_E* (see hv_abi.h), and a
 * value >= 0 on success. The file functions are named like stdio's but work on int fds.
 *
 * Functions a guest MAY call have plain names or start with `hv_`; names starting with `__hv_`
 * are internal. Everything is `static inline` except what gcc and ld must find by symbol
 * (`_start`, `__hv_start`, the mem* functions), which is defined weak, so any number of
 * translation units of one guest MAY include this header.
 */
#ifndef HV_GUEST_H
#define HV_GUEST_H

#include "hv_abi.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The hv page, found without rdi: the host maps it (and the console and input rings after it)
 * at the fixed address HV_ALIAS_BASE for every RAM size, so a guest that keeps its own _start
 * (define HV_NO_START before including this header) can use the whole SDK.
 */
#define __hv_page ((uint64_t)HV_ALIAS_BASE)

/* Sends what printf buffered (hv_libc.h, included at the end); called before exit and input. */
void __hv_stdout_flush(void);

/* Linker-script symbols: the bounds of .bss (linker/guest.ld defines them). Weak, so that a guest
 * linked with a script of its own that lacks them still links; its heap is then empty. */
extern char __bss_start[] __attribute__((weak)), __bss_end[] __attribute__((weak));

#ifndef HV_NO_START
/* The guest's entry point, defined by the program. Its return value is the exit status. */
int main(void);

/*
 * Entry: the host enters at address 0 in ring 3 with rsp = top of stack; linker/guest.ld puts
 * .text.start first. The section is a COMDAT group keyed on _start, so a guest of several
 * translation units keeps one copy (weak alone would keep them all, and only the first would ever
 * run). .bss is zeroed with rep stosb before any C code runs. A guest with its own _start (the
 * seeds' template shape) defines HV_NO_START before the include: then neither _start nor main is
 * the header's business, and nothing zeroes .bss (guest RAM starts zeroed anyway).
 */
__asm__(
    ".pushsection .text.start, \"axG\", @progbits, _start, comdat\n"
    ".weak _start\n"
    ".type _start, @function\n"
    "_start:\n"
    "    lea __bss_start(%rip), %rdi\n"
    "    lea __bss_end(%rip), %rcx\n"
    "    sub %rdi, %rcx\n"
    "    xor %eax, %eax\n"
    "    cld\n"
    "    rep stosb\n"
    "    and $-16, %rsp\n"
    "    call __hv_start\n"
    "1:  hlt\n"
    "    jmp 1b\n"
    ".size _start, . - _start\n"
    ".popsection\n");
#endif /* HV_NO_START */

/* ------------------------------------------------------------------------------------------ */
/* Calls to the host                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* The mailbox in the hv page; volatile because the host reads and writes it during the out. */
static inline volatile struct hv_mailbox *__hv_mailbox(void)
{
    return (volatile struct hv_mailbox *)(uintptr_t)(__hv_page + HV_MAILBOX_OFFSET);
}

/*
 * Performs one call: arguments into the mailbox, the opcode byte out to `port` (HV_HYPERCALL_PORT
 * or HV_FILE_PORT), the result back. Returns Mailbox.ret: >= 0 on success, -HV_E* on failure.
 * Costs one exit.
 *
 * Note (ordering): the host reads the arguments, and any buffer they point at, during the out and
 * writes the result before the guest resumes. The "memory" clobber makes the out a compiler
 * barrier: stores to the mailbox and to buffers cannot sink below it, and the result and data the
 * host wrote cannot be read before it.
 */
static inline long __hv_call(unsigned short port, unsigned char op, uint64_t a0, uint64_t a1,
                             uint64_t a2)
{
    volatile struct hv_mailbox *mb = __hv_mailbox();
    mb->args[0] = a0;
    mb->args[1] = a1;
    mb->args[2] = a2;
    __asm__ __volatile__("outb %0, %1" : : "a"(op), "Nd"(port) : "memory");
    return (long)mb->ret;
}

/* A hypercall (HV_HC_*). One exit. */
static inline long __hv_hypercall(unsigned char op, uint64_t a0, uint64_t a1)
{
    return __hv_call(HV_HYPERCALL_PORT, op, a0, a1, 0);
}

/* A file-service call (HV_FILE_*). One exit. */
static inline long __hv_file_call(unsigned char op, uint64_t a0, uint64_t a1, uint64_t a2)
{
    return __hv_call(HV_FILE_PORT, op, a0, a1, a2);
}

/* strnlen: the length of `s`, but at most `max`. No exit. */
static inline unsigned long __hv_strnlen(const char *s, unsigned long max)
{
    unsigned long n = 0;
    while (n < max && s[n] != '\0')
        n++;
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* The guest                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* What the host told this guest at start-up (never changes). No exit. */
static inline const struct hv_boot_info *hv_boot_info(void)
{
    return (const struct hv_boot_info *)(uintptr_t)(__hv_page + HV_BOOT_INFO_OFFSET);
}

/* This guest's ID: 0, 1, 2, ... in the order of `hv-host -g`. No exit. */
static inline int guest_id(void)
{
    return (int)hv_boot_info()->guest_id;
}

/*
 * Ends the guest with `status` (0 is success; the host reports any other value and exits with
 * 1). One exit; never returns.
 */
__attribute__((noreturn)) static inline void exit(int status)
{
    __hv_stdout_flush();
    __hv_hypercall(HV_HC_EXIT, (uint32_t)status, 0);
    /* The host never resumes a guest that exited; should it, hlt (a fault in ring 3) ends it. */
    for (;;)
        __asm__ __volatile__("hlt");
}

/*
 * Ends the guest as failed, with `msg` reported by the host (at most HV_MAX_PANIC_MESSAGE bytes
 * are printed). One exit; never returns.
 */
__attribute__((noreturn)) static inline void hv_panic(const char *msg)
{
    __hv_stdout_flush();
    __hv_hypercall(HV_HC_PANIC, (uint64_t)(uintptr_t)msg,
                   __hv_strnlen(msg, HV_MAX_PANIC_MESSAGE));
    for (;;)
        __asm__ __volatile__("hlt");
}

#ifndef HV_NO_START
/*
 * Called by _start with .bss zeroed: announces the ABI version, checks that
 * .bss leaves the stack its room, runs main and exits with its value. Weak and non-static
 * because _start calls it by symbol.
 */
__attribute__((weak, noreturn)) void __hv_start(void)
{
    /* The ABI announcement: a word in the hv page the host checks at the first exit (no exit). */
    *(volatile uint64_t *)(uintptr_t)(__hv_page + HV_ABI_ANNOUNCE_OFFSET) = HV_ABI_VERSION;
    /* .bss that reaches into the stack would be overwritten by it: refuse to start. */
    uint64_t stack_top = hv_boot_info()->stack_top;
    uint64_t stack_floor = stack_top > HV_MIN_STACK ? stack_top - HV_MIN_STACK : 0;
    if ((uint64_t)(uintptr_t)__bss_end > stack_floor)
        hv_panic("image too large: .bss reaches into the stack's HV_MIN_STACK bytes");
    exit(main());
}
#endif /* HV_NO_START */

/* ------------------------------------------------------------------------------------------ */
/* The console                                                                                */
/* ------------------------------------------------------------------------------------------ */

/*
 * The console ring (see hv_abi.h and hv-core's hv_page docs): the guest appends bytes at
 * data[head % HV_CONSOLE_RING_SIZE] and then moves head; the host drains it at every exit, when
 * the guest reads input or ends, and periodically while it computes, and moves tail.
 *
 * Note (ordering): the bytes are stored before head (the empty asm with a "memory" clobber is a
 * compiler barrier; x86 keeps stores in order); tail is read before the bytes it frees are
 * overwritten.
 */
static inline volatile struct hv_console_ring_control *__hv_ring_control(void)
{
    return (volatile struct hv_console_ring_control *)(uintptr_t)(__hv_page +
                                                                   HV_CONSOLE_RING_CONTROL_OFFSET);
}

static inline volatile unsigned char *__hv_ring_data(void)
{
    return (volatile unsigned char *)(uintptr_t)(__hv_page + HV_CONSOLE_RING_DATA_OFFSET);
}

/* Copies buf into the ring if it fits in the room left: 1, or 0 with nothing copied. No exit. */
static inline int __hv_ring_write(const void *buf, unsigned long len)
{
    volatile struct hv_console_ring_control *ctrl = __hv_ring_control();
    volatile unsigned char *data = __hv_ring_data();
    uint64_t head = ctrl->head;
    uint64_t used = head - ctrl->tail;
    if (used > HV_CONSOLE_RING_SIZE || len > HV_CONSOLE_RING_SIZE - used)
        return 0;
    const unsigned char *src = (const unsigned char *)buf;
    for (unsigned long i = 0; i < len; i++)
        data[(head + i) % HV_CONSOLE_RING_SIZE] = src[i];
    __asm__ __volatile__("" : : : "memory");
    ctrl->head = head + len;
    return 1;
}

/*
 * Writes the byte `c` to the console. Returns it, as (unsigned char)c. No exit unless the ring
 * is full: then one, for the host to drain it.
 */
static inline int putchar(int c)
{
    volatile struct hv_console_ring_control *ctrl = __hv_ring_control();
    uint64_t head = ctrl->head;
    if (head - ctrl->tail >= HV_CONSOLE_RING_SIZE)
        __hv_hypercall(HV_HC_CONSOLE_FLUSH, 0, 0);
    __hv_ring_data()[head % HV_CONSOLE_RING_SIZE] = (unsigned char)c;
    __asm__ __volatile__("" : : : "memory");
    ctrl->head = head + 1;
    return (unsigned char)c;
}

/*
 * The input ring (see hv_abi.h and hv-core's hv_page docs), the console ring's mirror: the host
 * puts input at data[head % HV_INPUT_RING_SIZE] and moves head; the guest takes bytes at tail and
 * moves tail. When it is empty, the guest makes one HV_HC_CONSOLE_READ call, in which the host
 * shows what was printed, waits until input (or its end) is there for this guest and fills the
 * ring.
 *
 * Note (ordering): head is read before the bytes (the "memory" clobbers below are compiler
 * barriers; the host writes only while this vCPU is stopped), and the bytes before the new tail
 * is written.
 */
static inline volatile struct hv_input_ring_control *__hv_input_control(void)
{
    return (volatile struct hv_input_ring_control *)(uintptr_t)(__hv_page +
                                                                 HV_INPUT_RING_CONTROL_OFFSET);
}

static inline const volatile unsigned char *__hv_input_data(void)
{
    return (const volatile unsigned char *)(uintptr_t)(__hv_page + HV_INPUT_RING_DATA_OFFSET);
}

/* Waits for input with the input ring empty: one exit. Returns 0 at end of input. */
static inline int __hv_input_wait(void)
{
    __hv_stdout_flush();
    return __hv_hypercall(HV_HC_CONSOLE_READ, 0, 0) > 0;
}

/*
 * Reads one byte of input. Returns it (0..255), or HV_EOF (-1) at end of input. No exit while
 * the input ring holds bytes; one, to wait for more (printf's buffer is sent first), when it is
 * empty.
 */
static inline int getchar(void)
{
    volatile struct hv_input_ring_control *ctrl = __hv_input_control();
    for (;;) {
        uint64_t tail = ctrl->tail;
        if (ctrl->head != tail) {
            __asm__ __volatile__("" : : : "memory");
            int c = __hv_input_data()[tail % HV_INPUT_RING_SIZE];
            __asm__ __volatile__("" : : : "memory");
            ctrl->tail = tail + 1;
            return c;
        }
        if (!__hv_input_wait())
            return HV_EOF;
    }
}

/*
 * Reads up to `len` bytes of input into `buf`, as read(2) on a pipe: whatever is there, at least
 * one byte (waiting for it if need be). Returns the count, or 0 at end of input (or for len 0).
 * No exit while the input ring holds bytes.
 */
static inline long hv_read(void *buf, unsigned long len)
{
    volatile struct hv_input_ring_control *ctrl = __hv_input_control();
    unsigned char *out = (unsigned char *)buf;
    if (len == 0)
        return 0;
    for (;;) {
        uint64_t tail = ctrl->tail;
        uint64_t unread = ctrl->head - tail;
        if (unread != 0) {
            if (unread > HV_INPUT_RING_SIZE)
                unread = HV_INPUT_RING_SIZE;
            if (unread > len)
                unread = len;
            __asm__ __volatile__("" : : : "memory");
            const volatile unsigned char *data = __hv_input_data();
            for (uint64_t i = 0; i < unread; i++)
                out[i] = data[(tail + i) % HV_INPUT_RING_SIZE];
            __asm__ __volatile__("" : : : "memory");
            ctrl->tail = tail + unread;
            return (long)unread;
        }
        if (!__hv_input_wait())
            return 0;
    }
}

/*
 * Writes `len` bytes from `buf` to the console. Returns `len`, or -HV_EFAULT if the buffer is not
 * wholly in the guest's user memory (checked before it is read). No exit when it fits in the
 * console ring's room; else one, which hands the buffer to the host (the host drains the ring
 * first, so order is kept).
 */
static inline long hv_write(const void *buf, unsigned long len)
{
    uint64_t at = (uint64_t)(uintptr_t)buf;
    if (len == 0)
        return 0;
    if (at >= hv_boot_info()->user_end || len > hv_boot_info()->user_end - at)
        return -HV_EFAULT;
    if (__hv_ring_write(buf, len))
        return (long)len;
    return __hv_hypercall(HV_HC_CONSOLE_WRITE, at, len);
}

/*
 * Writes the string `s` and a newline to the console. Returns the bytes written (strlen(s) + 1)
 * or -HV_E*. No exit while the ring has room (the host prints the line whole either way).
 */
static inline int puts(const char *s)
{
    unsigned long len = __hv_strnlen(s, (unsigned long)-1);
    long r = hv_write(s, len);
    if (r < 0)
        return (int)r;
    putchar('\n');
    return (int)(len + 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/*
 * Opens the file `name` with `mode`: "r" (read from the start), "w" (write, truncating the guest's
 * own copy) or "a" (append to it); a trailing 'b' is accepted and ignored. Returns an fd >= 0, or
 * -HV_ENOENT (no such file), -HV_ENAMETOOLONG (over HV_MAX_NAME bytes, or a component over
 * HV_MAX_NAME_COMPONENT), -HV_EMFILE, ... One exit;
 * none for an invalid mode or a NULL argument, which return -HV_EINVAL.
 */
static inline int fopen(const char *name, const char *mode)
{
    uint64_t open_mode;
    if (name == NULL || mode == NULL)
        return -HV_EINVAL;
    switch (mode[0]) {
    case 'r':
        open_mode = HV_MODE_READ;
        break;
    case 'w':
        open_mode = HV_MODE_WRITE;
        break;
    case 'a':
        open_mode = HV_MODE_APPEND;
        break;
    default:
        return -HV_EINVAL;
    }
    if (!(mode[1] == '\0' || (mode[1] == 'b' && mode[2] == '\0')))
        return -HV_EINVAL;
    /* Bounded: a longer name is sent with its length, HV_MAX_NAME + 1, for the host to refuse. */
    unsigned long len = __hv_strnlen(name, HV_MAX_NAME + 1);
    return (int)__hv_file_call(HV_FILE_OPEN, (uint64_t)(uintptr_t)name, len, open_mode);
}

/* Closes `fd`. Returns 0, or -HV_EBADF if it is not open. One exit. */
static inline int fclose(int fd)
{
    return (int)__hv_file_call(HV_FILE_CLOSE, (uint64_t)(int64_t)fd, 0, 0);
}

/*
 * Reads up to `len` bytes of `fd` into `buf`. Returns the bytes read (0 at end of file), or
 * -HV_EBADF, -HV_EFAULT, -HV_EIO. One exit whatever `len`.
 */
static inline long fread(int fd, void *buf, unsigned long len)
{
    return __hv_file_call(HV_FILE_READ, (uint64_t)(int64_t)fd, (uint64_t)(uintptr_t)buf, len);
}

/*
 * Writes `len` bytes from `buf` to `fd`. Returns the bytes written, or -HV_EBADF, -HV_EFAULT,
 * -HV_EFBIG (the write quota is used up), -HV_ENOSPC, -HV_EIO, ... One exit whatever `len`. As in
 * POSIX the count may be short (the quota, or a host error part-way); the next call then fails.
 */
static inline long fwrite(int fd, const void *buf, unsigned long len)
{
    return __hv_file_call(HV_FILE_WRITE, (uint64_t)(int64_t)fd, (uint64_t)(uintptr_t)buf, len);
}

/* ------------------------------------------------------------------------------------------ */
/* Memory functions                                                                           */
/* ------------------------------------------------------------------------------------------ */

/*
 * gcc emits calls to these even with -ffreestanding (struct copies, zeroed arrays, loops it
 * recognises), so a guest must define them; weak, so every translation unit may. memcpy, memmove
 * and memset are `rep movsb`/`rep stosb`, fast on every CPU since Ivy Bridge and, being asm,
 * impossible for gcc's loop-idiom pass to turn back into calls to themselves. No exits.
 */

__attribute__((weak)) void *memcpy(void *dst, const void *src, size_t n)
{
    void *d = dst;
    __asm__ __volatile__("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
    return dst;
}

__attribute__((weak)) void *memmove(void *dst, const void *src, size_t n)
{
    if ((uintptr_t)dst <= (uintptr_t)src || (uintptr_t)dst >= (uintptr_t)src + n)
        return memcpy(dst, src, n);
    /* Overlapping with dst above src: copy backwards from the last byte, with DF set only here. */
    void *d = (char *)dst + n - 1;
    const void *s = (const char *)src + n - 1;
    __asm__ __volatile__("std\n\trep movsb\n\tcld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return dst;
}

__attribute__((weak)) void *memset(void *dst, int c, size_t n)
{
    void *d = dst;
    __asm__ __volatile__("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return dst;
}

/* gcc calls strlen for __builtin_strlen on a string it cannot measure at compile time. A plain
 * loop with a volatile read, so gcc cannot turn it back into a call to strlen. */
__attribute__((weak)) size_t strlen(const char *s)
{
    size_t n = 0;
    while (((const volatile char *)s)[n])
        n++;
    return n;
}

/* A plain loop: gcc has no idiom that turns a comparison loop into a memcmp call. */
__attribute__((weak)) int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i])
            return x[i] - y[i];
    }
    return 0;
}

/* ---- Hypercalls (seed 002) ---------------------------------------------------------------- */
/*
 * The prints go into the console ring and the exit counts are read from the hv page, where the
 * host rewrites them after every exit: no exit (see the table in hv-core's proto::hypercall).
 * HC_gvaToHva is one exit.
 */

/* This guest's exits so far, by kind, as the host published them after its last exit. */
static inline const volatile struct hv_exit_counts *hv_exit_counts(void)
{
    return (const volatile struct hv_exit_counts *)(uintptr_t)(__hv_page + HV_EXIT_COUNTS_OFFSET);
}

/* Formats v in decimal at out (at least 21 bytes); returns the digits written. */
static inline unsigned long __hv_utoa(uint64_t v, char *out)
{
    char digits[20];
    unsigned long n = 0, i;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}

/* The host prints val in decimal and a newline on this guest's console. */
static inline void HC_print32bit(uint32_t val)
{
    char line[12];
    unsigned long n = __hv_utoa(val, line);
    line[n] = '\n';
    hv_write(line, n + 1);
}

/* The exits this guest has made so far. */
static inline uint32_t HC_numExits(void)
{
    return (uint32_t)hv_exit_counts()->total;
}

/* Prints the NUL-terminated str (at most HV_MAX_STRING bytes) as it is. Returns its length,
 * -HV_EFAULT if it runs past the guest's user memory, -HV_EINVAL if it has no NUL in time. The
 * string is checked before it is read, so a wild pointer is an error, not a fault. */
static inline long HC_printStr(const char *str)
{
    uint64_t at = (uint64_t)(uintptr_t)str, end = hv_boot_info()->user_end;
    unsigned long len = 0;
    for (;;) {
        if (at + len < at || at + len >= end)
            return -HV_EFAULT;
        if (((const volatile char *)str)[len] == '\0')
            break;
        if (++len > HV_MAX_STRING)
            return -HV_EINVAL;
    }
    hv_write(str, len);
    return (long)len;
}

/* Where HC_numExitsByType formats its text: two buffers, used alternately (as the seed's guest
 * does), so the result of one call stays valid across the next and two snapshots can be held and
 * compared. Weak, so every translation unit shares them. */
__attribute__((weak)) char __hv_exits_text[2][256];
__attribute__((weak)) int __hv_exits_next;

/* "IO in: <n>\nIO out: <m>\n" and a line for every other exit kind the host counts, formatted
 * from the counts the host keeps in the hv page: no exit. The text stays valid until the call
 * after next. */
static inline const char *HC_numExitsByType(void)
{
    /* No arrays on the stack: a guest with its own _start may run with a stack that is not
     * 16-byte aligned, where gcc's vector stores to such arrays would fault. */
    static const char *const labels[] = {"IO in: ", "IO out: ", "HLT: ", "MMIO: ",
                                         "exceptions: ", "interrupted: ", "other: "};
    const volatile struct hv_exit_counts *c = hv_exit_counts();
    char *text = __hv_exits_text[__hv_exits_next];
    unsigned long n = 0;
    __hv_exits_next ^= 1;
    for (unsigned long i = 0; i < sizeof labels / sizeof labels[0]; i++) {
        uint64_t value = i == 0   ? c->io_in
                         : i == 1 ? c->io_out
                         : i == 2 ? c->hlt
                         : i == 3 ? c->mmio
                         : i == 4 ? c->exceptions
                         : i == 5 ? c->interrupted
                                  : c->other;
        for (const char *l = labels[i]; *l; l++)
            text[n++] = *l;
        n += __hv_utoa(value, text + n);
        text[n++] = '\n';
    }
    text[n] = '\0';
    return text;
}

/* The host virtual address gva maps to, found by walking this guest's own page tables; 0 if
 * it is unmapped. */
static inline uint64_t HC_gvaToHva(uint64_t gva)
{
    return (uint64_t)__hv_call(HV_HYPERCALL_PORT, HV_HC_GVA_TO_HVA, gva, 0, 0);
}

/* As HC_gvaToHva, and also stores the guest-physical address in *gpa (when mapped). */
static inline uint64_t hv_gva_to_hva(uint64_t gva, uint64_t *gpa)
{
    uint64_t hva = HC_gvaToHva(gva);
    if (gpa)
        *gpa = __hv_mailbox()->ret2;
    return hva;
}

#include "hv_libc.h" /* printf, snprintf, malloc, free, the string.h basics */

#endif /* HV_GUEST_H */
