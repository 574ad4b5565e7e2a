/* Seed 003's I/O library: the serial port and the DMA disk, on ports or (USE_MMIO) in memory. */
#ifndef IO_H
#define IO_H

typedef unsigned char u8;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long u64;

#define SERIAL_PORT 0x10
#define DISK_SECTOR_PORT 0x20
#define DISK_ADDR_PORT 0x21
#define DISK_CMD_PORT 0x22

#define DISK_READ 0
#define DISK_WRITE 1
#define DISK_SETUP 2

#define SECTOR_SIZE 512
#define EINVAL 22

struct hdd_status {
	u64 size;
	i32 err;
};

void io_outb(u32 port, u8 value);
void io_outl(u32 port, u32 value);
void serial_puts(const char *s);
void serial_hex(u64 v);
void disk_setup(struct hdd_status *status);
void disk_read(u32 sector, void *buf);
void disk_write(u32 sector, const void *buf);
void *heap_alloc(u64 size);

#endif
