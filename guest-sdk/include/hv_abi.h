/*
 * hv_abi.h: the hv guest/host ABI for C guests (ports, opcodes, the hv page, error codes).
 *
 * GENERATED from the hv-core crate by tests/src/cheader.rs: do not edit. Regenerate with
 *     HV_BLESS=1 cargo test -p hv-tests --test c_header
 * The c_header test fails when this file and hv-core disagree.
 *
 * Self-contained C99: needs only the freestanding <stddef.h> and <stdint.h>. Most guests want
 * hv_guest.h, which includes this file.
 */
#ifndef HV_ABI_H
#define HV_ABI_H

#include <stddef.h>
#include <stdint.h>

/*
 * Pins the struct layouts below to hv-core's. _Static_assert is C11; __extension__ lets gcc and
 * clang accept it without a warning in C99 -pedantic too.
 */
#define HV_ABI_ASSERT(cond) __extension__ _Static_assert(cond, "differs from hv-core: " #cond)

/*
 * Version of this ABI. A guest announces it at start-up (HV_HC_ABI_VERSION); the host ends a guest
 * built for another version.
 */
#define HV_ABI_VERSION 4

/* I/O ports. */
#define HV_CONSOLE_PORT   0x00E9 /* 1-byte out: a byte of output; 1- or 4-byte in: a byte of input */
#define HV_FILE_PORT      0x0278 /* 1-byte out of an HV_FILE_* opcode */
#define HV_HYPERCALL_PORT 0x0500 /* 1-byte out of an HV_HC_* opcode */
#define HV_EXCEPTION_PORT 0x0501 /* ring 0 only: not for guests */

/* Console: what a 4-byte in and a 1-byte in return at end of input (getchar's result there). */
#define HV_EOF      (-1)
#define HV_EOF_BYTE 0xFF

/* Hypercall opcodes (out to HV_HYPERCALL_PORT; arguments and result in the mailbox). */
#define HV_HC_EXIT              0x01
#define HV_HC_ABI_VERSION       0x02
#define HV_HC_CONSOLE_WRITE     0x03
#define HV_HC_PANIC             0x04
#define HV_HC_CONSOLE_FLUSH     0x05
#define HV_HC_CONSOLE_READ      0x06
#define HV_HC_PRINT32           0x10
#define HV_HC_NUM_EXITS         0x11
#define HV_HC_PRINT_STR         0x12
#define HV_HC_NUM_EXITS_BY_TYPE 0x13
#define HV_HC_GVA_TO_HVA        0x14

/* Limits of the hypercalls. */
#define HV_MAX_PANIC_MESSAGE 4096 /* bytes of a panic message the host prints */
#define HV_MAX_STRING        4096 /* bytes HC_printStr prints at most */

/* File opcodes (out to HV_FILE_PORT; arguments and result in the mailbox). */
#define HV_FILE_OPEN  0x81
#define HV_FILE_CLOSE 0x82
#define HV_FILE_READ  0x83
#define HV_FILE_WRITE 0x84

/* Open modes: HV_FILE_OPEN's args[2]. */
#define HV_MODE_READ   0x00
#define HV_MODE_WRITE  0x01
#define HV_MODE_APPEND 0x02

/* Limits of the file service. */
#define HV_MAX_NAME           255 /* longest file name, in bytes */
#define HV_MAX_NAME_COMPONENT 239 /* longest component of a file name (between two '/'), in bytes */
#define HV_MAX_OPEN_FILES     32  /* most files one guest may hold open */

/*
 * Error codes. They are positive here; a failed call returns the NEGATED code (e.g. -HV_ENOENT), so
 * a result >= 0 is success.
 */
#define HV_EPERM        1   /* operation not permitted */
#define HV_ENOENT       2   /* no such file */
#define HV_EIO          5   /* host I/O error */
#define HV_EBADF        9   /* bad file descriptor */
#define HV_EACCES       13  /* permission denied */
#define HV_EFAULT       14  /* bad guest address */
#define HV_EBUSY        16  /* already set up */
#define HV_ENODEV       19  /* no such device */
#define HV_EINVAL       22  /* invalid argument */
#define HV_ENFILE       23  /* too many open files in the host */
#define HV_EMFILE       24  /* too many open files */
#define HV_EFBIG        27  /* write quota used up */
#define HV_ENOSPC       28  /* no space left on host */
#define HV_EROFS        30  /* read-only file system */
#define HV_ENAMETOOLONG 36  /* file name too long */
#define HV_ENOSYS       38  /* unknown operation */
#define HV_EDQUOT       122 /* host disk quota exceeded */

/* The hv page: one 4 KiB page whose address the guest receives in rdi at entry. */
#define HV_BOOT_INFO_OFFSET            0x000                 /* struct hv_boot_info */
#define HV_MAILBOX_OFFSET              0x100                 /* struct hv_mailbox */
#define HV_SCRATCH_OFFSET              0x200                 /* where the host writes string replies */
#define HV_SCRATCH_SIZE                0xE00
#define HV_CONSOLE_RING_CONTROL_OFFSET 0x140                 /* struct hv_console_ring_control */
#define HV_ABI_ANNOUNCE_OFFSET         0x150                 /* uint64_t: the ABI version the guest was built for, set by _start */
#define HV_INPUT_RING_CONTROL_OFFSET   0x160                 /* struct hv_input_ring_control */
#define HV_EXIT_COUNTS_OFFSET          0x180                 /* struct hv_exit_counts */
#define HV_CONSOLE_RING_DATA_OFFSET    0x1000                /* the console ring's bytes, from the hv page */
#define HV_CONSOLE_RING_SIZE           0x1000                /* bytes the console ring holds */
#define HV_INPUT_RING_DATA_OFFSET      0x2000                /* the input ring's bytes, from the hv page */
#define HV_INPUT_RING_SIZE             0x8000                /* bytes the input ring holds */
#define HV_BOOT_MAGIC                  0x00746F6F622D7668ULL /* hv_boot_info.magic: "hv-boot\0" little-endian */

/* Guest memory layout. */
#define HV_RESERVED_SIZE 0x18000    /* host-reserved top of RAM (hv pages, tables) */
#define HV_MIN_STACK     0x10000    /* stack an image must leave below the reserved region */
#define HV_ALIAS_BASE    0x3FE00000 /* the hv page (and the console and input rings after it), also mapped here */

/* At HV_BOOT_INFO_OFFSET: what the host tells the guest before it starts. Read-only. */
struct hv_boot_info {
    uint64_t magic;        /* HV_BOOT_MAGIC */
    uint32_t abi_version;  /* the host's HV_ABI_VERSION */
    uint32_t guest_id;     /* 0, 1, 2, ... in -g order */
    uint64_t ram_size;     /* guest RAM, bytes */
    uint64_t page_size;    /* page size RAM is mapped with, bytes */
    uint64_t stack_top;    /* initial stack pointer; the stack grows down */
    uint64_t user_end;     /* end of the memory the guest may use and pass to the host */
    uint64_t devices_mmio; /* 0: serial and disk on ports; else the address of the MMIO device window */
};
HV_ABI_ASSERT(sizeof(struct hv_boot_info) == 56);
HV_ABI_ASSERT(offsetof(struct hv_boot_info, magic) == 0);
HV_ABI_ASSERT(offsetof(struct hv_boot_info, abi_version) == 8);
HV_ABI_ASSERT(offsetof(struct hv_boot_info, guest_id) == 12);
HV_ABI_ASSERT(offsetof(struct hv_boot_info, ram_size) == 16);
HV_ABI_ASSERT(offsetof(struct hv_boot_info, page_size) == 24);
HV_ABI_ASSERT(offsetof(struct hv_boot_info, stack_top) == 32);
HV_ABI_ASSERT(offsetof(struct hv_boot_info, user_end) == 40);
HV_ABI_ASSERT(offsetof(struct hv_boot_info, devices_mmio) == 48);

/*
 * At HV_MAILBOX_OFFSET: one call's arguments (written by the guest) and results (written by the
 * host before the out returns). Access it through a volatile pointer.
 */
struct hv_mailbox {
    uint64_t args[6]; /* IN: the call's arguments */
    int64_t ret;      /* OUT: >= 0 on success, -HV_E* on failure */
    uint64_t ret2;    /* OUT: a second result, for calls that have one */
};
HV_ABI_ASSERT(sizeof(struct hv_mailbox) == 64);
HV_ABI_ASSERT(offsetof(struct hv_mailbox, args) == 0);
HV_ABI_ASSERT(offsetof(struct hv_mailbox, ret) == 48);
HV_ABI_ASSERT(offsetof(struct hv_mailbox, ret2) == 56);

/*
 * At HV_CONSOLE_RING_CONTROL_OFFSET: the console ring's indices, bytes since the start. The guest
 * writes the bytes, then head; the host drains and writes tail.
 */
struct hv_console_ring_control {
    uint64_t head; /* IN: bytes produced (byte i is at data[i % HV_CONSOLE_RING_SIZE]) */
    uint64_t tail; /* OUT: bytes consumed by the host */
};
HV_ABI_ASSERT(sizeof(struct hv_console_ring_control) == 16);
HV_ABI_ASSERT(offsetof(struct hv_console_ring_control, head) == 0);
HV_ABI_ASSERT(offsetof(struct hv_console_ring_control, tail) == 8);

/*
 * At HV_INPUT_RING_CONTROL_OFFSET: the input ring's indices, bytes since the start. The host writes
 * the bytes, then head (during an exit); the guest reads them and writes tail.
 */
struct hv_input_ring_control {
    uint64_t head; /* OUT: bytes the host put in (byte i is at data[i % HV_INPUT_RING_SIZE]) */
    uint64_t tail; /* IN: bytes taken by the guest */
};
HV_ABI_ASSERT(sizeof(struct hv_input_ring_control) == 16);
HV_ABI_ASSERT(offsetof(struct hv_input_ring_control, head) == 0);
HV_ABI_ASSERT(offsetof(struct hv_input_ring_control, tail) == 8);

/*
 * At HV_EXIT_COUNTS_OFFSET: this guest's exits so far, rewritten by the host after every exit.
 * Read-only.
 */
struct hv_exit_counts {
    uint64_t total;       /* every exit */
    uint64_t io_in;       /* in exits */
    uint64_t io_out;      /* out exits (exception reports included) */
    uint64_t hlt;         /* hlt exits */
    uint64_t mmio;        /* MMIO exits */
    uint64_t exceptions;  /* CPU exceptions reported by the ring-0 stubs */
    uint64_t interrupted; /* exits the host caused (time slices, console drains) */
    uint64_t other;       /* any other exit */
};
HV_ABI_ASSERT(sizeof(struct hv_exit_counts) == 64);
HV_ABI_ASSERT(offsetof(struct hv_exit_counts, total) == 0);
HV_ABI_ASSERT(offsetof(struct hv_exit_counts, io_in) == 8);
HV_ABI_ASSERT(offsetof(struct hv_exit_counts, io_out) == 16);
HV_ABI_ASSERT(offsetof(struct hv_exit_counts, hlt) == 24);
HV_ABI_ASSERT(offsetof(struct hv_exit_counts, mmio) == 32);
HV_ABI_ASSERT(offsetof(struct hv_exit_counts, exceptions) == 40);
HV_ABI_ASSERT(offsetof(struct hv_exit_counts, interrupted) == 48);
HV_ABI_ASSERT(offsetof(struct hv_exit_counts, other) == 56);

#undef HV_ABI_ASSERT

#endif /* HV_ABI_H */
