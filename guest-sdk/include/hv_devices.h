/*
 * hv_devices.h: the seed's serial port and DMA disk, for C guests of hv (ABI version 4).
 *
 * Self-contained C99: needs only <stdint.h>, and works with or without hv_guest.h. Every number
 * here is copied from hv-core (hv_core::proto::devices, ::errno, ::hv_page, ::layout) and a
 * test (tests/tests/devices.rs) checks each #define against it, so they cannot drift.
 *
 * The host serves the devices on ports, or memory-mapped in a device window when it runs with
 * --mmio. A guest MUST NOT assume either: hv_devices_init() reads which from the boot info in
 * the hv page (whose address the guest gets in rdi at entry, and which is also mapped at
 * HV_ALIAS_BASE, 0x3FE00000, for a guest with its own _start), and every function below uses
 * the right one.
 *
 *     struct hv_devices dev = hv_devices_init(hv_page);
 *     struct hv_disk_status status;              // the host writes it in place
 *     uint8_t sector[HV_DISK_SECTOR_SIZE];
 *     hv_serial_puts(dev, "hello\n");
 *     if (hv_disk_setup(dev, &status) == 0)       // HV_ENODEV without --disk
 *         hv_disk_read_sector(dev, &status, 0, sector);
 *
 * The disk: setup (command 2) MUST come first; it makes the status block the one the host
 * writes: size at setup, err after every command (0, or a positive HV_E* code: HV_EINVAL for a
 * sector past the end, HV_EFAULT for a buffer not wholly in the guest's user RAM, HV_ENODEV
 * without a disk, HV_EFBIG once the write quota is used up). A command before setup ends the
 * guest. Setup may be called only once: a second setup reports HV_EBUSY in the first block, which
 * stays. Writes go to the image (--disk), or with --disk-cow to the guest's own copy, IMAGE.cow<ID>.
 *
 * Costs, in exits (~20-25 us each at ring 3): a serial byte 1, a sector read or write 3, setup 2.
 */
#ifndef HV_DEVICES_H
#define HV_DEVICES_H

#include <stdint.h>

#define HV_DEVICES_ABI_VERSION 4

/* Ports (port mode). */
#define HV_SERIAL_PORT 0x0010
#define HV_DISK_SECTOR_PORT 0x0020
#define HV_DISK_ADDR_PORT 0x0021
#define HV_DISK_CMD_PORT 0x0022

/*
 * The device window (--mmio), seed 003's layout: it starts right after guest RAM (0x200000 with
 * -m 2; its address is in the boot info) and register `port` is at window + port * 8.
 */
#define HV_MMIO_SIZE 0x1000
#define HV_MMIO_STRIDE 8
#define HV_MMIO_SERIAL 0x80
#define HV_MMIO_DISK_SECTOR 0x100
#define HV_MMIO_DISK_ADDR 0x108
#define HV_MMIO_DISK_CMD 0x110

/* Offset in the hv page of BootInfo.devices_mmio: 0 for ports, else the window's address. */
#define HV_BOOT_INFO_DEVICES_MMIO 48

/* Disk commands, written to the command register. */
#define HV_DISK_CMD_READ 0
#define HV_DISK_CMD_WRITE 1
#define HV_DISK_CMD_SETUP 2

#define HV_DISK_SECTOR_SIZE 512
#define HV_DISK_STATUS_SIZE 16
#define HV_DISK_STATUS_ERR_OFFSET 8

/* Error codes (Linux's numbers). Guarded: hv_guest.h defines the same ones. */
#ifndef HV_EPERM
#define HV_EPERM 1
#endif
#ifndef HV_ENOENT
#define HV_ENOENT 2
#endif
#ifndef HV_EIO
#define HV_EIO 5
#endif
#ifndef HV_EBADF
#define HV_EBADF 9
#endif
#ifndef HV_EACCES
#define HV_EACCES 13
#endif
#ifndef HV_EFAULT
#define HV_EFAULT 14
#endif
#ifndef HV_EBUSY
#define HV_EBUSY 16
#endif
#ifndef HV_ENODEV
#define HV_ENODEV 19
#endif
#ifndef HV_EINVAL
#define HV_EINVAL 22
#endif
#ifndef HV_ENFILE
#define HV_ENFILE 23
#endif
#ifndef HV_EMFILE
#define HV_EMFILE 24
#endif
#ifndef HV_EFBIG
#define HV_EFBIG 27
#endif
#ifndef HV_ENOSPC
#define HV_ENOSPC 28
#endif
#ifndef HV_EROFS
#define HV_EROFS 30
#endif
#ifndef HV_ENAMETOOLONG
#define HV_ENAMETOOLONG 36
#endif
#ifndef HV_ENOSYS
#define HV_ENOSYS 38
#endif
#ifndef HV_EDQUOT
#define HV_EDQUOT 122
#endif

/* The disk's status block: where the guest asks for it, written by the host. */
struct hv_disk_status {
    uint64_t size; /* OUT: disk size in bytes, written at setup (0 without a disk) */
    int32_t err;   /* OUT: last command's result: 0, or a positive HV_E* code */
};

/* C99 static asserts: a negative array size fails the build. */
typedef char hv_disk_status_size_check[sizeof(struct hv_disk_status) == HV_DISK_STATUS_SIZE ? 1 : -1];
#ifdef __GNUC__
typedef char hv_disk_status_err_check[
    __builtin_offsetof(struct hv_disk_status, err) == HV_DISK_STATUS_ERR_OFFSET ? 1 : -1];
#endif

/* Where the devices are: the window's address, or 0 for ports. */
struct hv_devices {
    uint64_t mmio;
};

/* The device mode, read from the boot info in the hv page (rdi at entry). */
static inline struct hv_devices hv_devices_init(const void *hv_page) {
    struct hv_devices d;
    d.mmio = *(const volatile uint64_t *)((const char *)hv_page + HV_BOOT_INFO_DEVICES_MMIO);
    return d;
}

/*
 * The register writes. Each has a "memory" clobber, so the compiler finishes every store to a
 * buffer before the command and reloads the buffer and the status block after it.
 */
static inline void hv_devices_outb(uint16_t port, uint8_t value) {
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline void hv_devices_outl(uint16_t port, uint32_t value) {
    __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline void hv_devices_mmio8(uint64_t addr, uint8_t value) {
    __asm__ volatile("movb %0, (%1)" : : "q"(value), "r"(addr) : "memory");
}

static inline void hv_devices_mmio32(uint64_t addr, uint32_t value) {
    __asm__ volatile("movl %0, (%1)" : : "r"(value), "r"(addr) : "memory");
}

static inline void hv_devices_write8(struct hv_devices d, uint16_t port, uint64_t offset,
                                     uint8_t value) {
    if (d.mmio)
        hv_devices_mmio8(d.mmio + offset, value);
    else
        hv_devices_outb(port, value);
}

static inline void hv_devices_write32(struct hv_devices d, uint16_t port, uint64_t offset,
                                      uint32_t value) {
    if (d.mmio)
        hv_devices_mmio32(d.mmio + offset, value);
    else
        hv_devices_outl(port, value);
}

/* Serial: one byte, one exit. Lines are kept whole by the host, like port 0xE9 output. */
static inline void hv_serial_putc(struct hv_devices d, char c) {
    hv_devices_write8(d, HV_SERIAL_PORT, HV_MMIO_SERIAL, (uint8_t)c);
}

static inline void hv_serial_puts(struct hv_devices d, const char *s) {
    while (*s)
        hv_serial_putc(d, *s++);
}

/* Sets the disk up with its status block at `status`; returns its err (0 or HV_E*). */
static inline int hv_disk_setup(struct hv_devices d, volatile struct hv_disk_status *status) {
    hv_devices_write32(d, HV_DISK_ADDR_PORT, HV_MMIO_DISK_ADDR, (uint32_t)(uintptr_t)status);
    hv_devices_write8(d, HV_DISK_CMD_PORT, HV_MMIO_DISK_CMD, HV_DISK_CMD_SETUP);
    return status->err;
}

/* One command on `sector` with the HV_DISK_SECTOR_SIZE bytes at `buf`; 0 or -HV_E*. */
static inline int hv_disk_command(struct hv_devices d, volatile struct hv_disk_status *status,
                                  uint32_t sector, const volatile void *buf, uint8_t cmd) {
    hv_devices_write32(d, HV_DISK_SECTOR_PORT, HV_MMIO_DISK_SECTOR, sector);
    hv_devices_write32(d, HV_DISK_ADDR_PORT, HV_MMIO_DISK_ADDR, (uint32_t)(uintptr_t)buf);
    hv_devices_write8(d, HV_DISK_CMD_PORT, HV_MMIO_DISK_CMD, cmd);
    return -status->err;
}

/* Reads sector `sector` into `buf` (HV_DISK_SECTOR_SIZE bytes); 0 or -HV_E*. */
static inline int hv_disk_read_sector(struct hv_devices d, volatile struct hv_disk_status *status,
                                      uint32_t sector, void *buf) {
    return hv_disk_command(d, status, sector, buf, HV_DISK_CMD_READ);
}

/* Writes `buf` (HV_DISK_SECTOR_SIZE bytes) to sector `sector`; 0 or -HV_E*. */
static inline int hv_disk_write_sector(struct hv_devices d, volatile struct hv_disk_status *status,
                                       uint32_t sector, const void *buf) {
    return hv_disk_command(d, status, sector, buf, HV_DISK_CMD_WRITE);
}

#endif /* HV_DEVICES_H */
