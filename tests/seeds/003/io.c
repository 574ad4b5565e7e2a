#include "io.h"

#ifdef USE_MMIO
/* Register `port` is at 0x200000 + port * 8: right after the guest's 2 MiB of RAM. */
#define MMIO_BASE 0x200000UL

void io_outb(u32 port, u8 value) {
	*(volatile u8 *)(MMIO_BASE + port * 8) = value;
}

void io_outl(u32 port, u32 value) {
	*(volatile u32 *)(MMIO_BASE + port * 8) = value;
}
#else
void io_outb(u32 port, u8 value) {
	asm volatile("outb %0, %w1" : : "a"(value), "Nd"(port) : "memory");
}

void io_outl(u32 port, u32 value) {
	asm volatile("outl %0, %w1" : : "a"(value), "Nd"(port) : "memory");
}
#endif

void serial_puts(const char *s) {
	while (*s)
		io_outb(SERIAL_PORT, *s++);
}

void serial_hex(u64 v) {
	int shift;
	int started = 0;
	serial_puts("0x");
	for (shift = 60; shift >= 0; shift -= 4) {
		int d = (v >> shift) & 0xF;
		if (d || started || shift == 0) {
			io_outb(SERIAL_PORT, "0123456789abcdef"[d]);
			started = 1;
		}
	}
}

void disk_setup(struct hdd_status *status) {
	io_outl(DISK_ADDR_PORT, (u32)(u64)status);
	io_outb(DISK_CMD_PORT, DISK_SETUP);
}

void disk_read(u32 sector, void *buf) {
	io_outl(DISK_SECTOR_PORT, sector);
	io_outl(DISK_ADDR_PORT, (u32)(u64)buf);
	io_outb(DISK_CMD_PORT, DISK_READ);
}

void disk_write(u32 sector, const void *buf) {
	io_outl(DISK_SECTOR_PORT, sector);
	io_outl(DISK_ADDR_PORT, (u32)(u64)buf);
	io_outb(DISK_CMD_PORT, DISK_WRITE);
}

/* The heap starts at 1 MiB. */
static u64 heap_next = 0x100000;

void *heap_alloc(u64 size) {
	void *p = (void *)heap_next;
	heap_next += (size + 15) & ~15UL;
	return p;
}
