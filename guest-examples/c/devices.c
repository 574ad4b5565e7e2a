/*
 * A C guest of hv_devices.h alone (no other SDK): serial output, disk setup, a sector written
 * and read back, a read past the end; in whichever mode the host serves the devices.
 *
 * Build (what tests/tests/devices.rs runs):
 *   gcc -std=c99 -O2 -ffreestanding -fno-pic -fno-stack-protector \
 *       -fno-asynchronous-unwind-tables -nostdlib -static -no-pie -Wl,--build-id=none \
 *       -Wl,-T,linker/guest.ld -I guest-sdk/include -o devices guest-examples/c/devices.c
 * Run: truncate -s 8K disk.img && hv-host -m 2 -p 4 -g devices --disk disk.img [--mmio]
 */
#include "hv_devices.h"

static void put_num(struct hv_devices d, uint64_t n) {
    char digits[20];
    int i = 0;
    do {
        digits[i++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (i)
        hv_serial_putc(d, digits[--i]);
}

void c_main(const void *hv_page) {
    struct hv_devices d = hv_devices_init(hv_page);
    struct hv_disk_status status;
    volatile uint8_t sector[HV_DISK_SECTOR_SIZE];
    int i, err, bad = 0;
    hv_serial_puts(d, d.mmio ? "c: devices memory-mapped\n" : "c: devices on ports\n");
    err = hv_disk_setup(d, &status);
    if (err) {
        hv_serial_puts(d, "c: setup failed: ");
        put_num(d, (uint64_t)err);
        hv_serial_puts(d, "\n");
        return;
    }
    hv_serial_puts(d, "c: disk of ");
    put_num(d, status.size);
    hv_serial_puts(d, " bytes\n");
    for (i = 0; i < HV_DISK_SECTOR_SIZE; i++)
        sector[i] = (uint8_t)('A' + i % 26);
    err = hv_disk_write_sector(d, &status, 3, (const void *)sector);
    for (i = 0; i < HV_DISK_SECTOR_SIZE; i++)
        sector[i] = 0;
    err |= hv_disk_read_sector(d, &status, 3, (void *)sector);
    for (i = 0; i < HV_DISK_SECTOR_SIZE; i++)
        bad |= sector[i] != (uint8_t)('A' + i % 26);
    hv_serial_puts(d, err || bad ? "c: sector 3 round trip: FAILED\n" : "c: sector 3 round trip: ok\n");
    err = hv_disk_read_sector(d, &status, (uint32_t)(status.size / HV_DISK_SECTOR_SIZE),
                              (void *)sector);
    hv_serial_puts(d, err == -HV_EINVAL ? "c: past the end: EINVAL\n" : "c: past the end: FAILED\n");
}

/* Entered at 0 in ring 3 with rdi = the hv page: c_main's first argument. hlt ends the guest. */
__asm__(".pushsection .start, \"ax\"\n"
        ".global _start\n"
        "_start:\n"
        "    call c_main\n"
        "1:  hlt\n"
        "    jmp 1b\n"
        ".popsection\n");
