/*
 * Seed 003's test guest, written from shared/notes/seed-dialects.md: eight checks of the DMA
 * disk through its status structure, reported on the serial port. The loader calls main, then
 * reads CR0 and the machine status word before hlt. Built with -DUSE_MMIO it reaches the devices
 * memory-mapped at 0x200000 + port * 8.
 */
#include "io.h"

static struct hdd_status *status;
static int passed;

static void check(int n, const char *what, int ok) {
	serial_puts("check ");
	io_outb(SERIAL_PORT, '0' + n);
	serial_puts(": ");
	serial_puts(what);
	serial_puts(ok ? ": ok\n" : ": FAILED\n");
	passed += ok;
}

static void fill(u8 *buf, u8 seed) {
	int i;
	for (i = 0; i < SECTOR_SIZE; i++)
		buf[i] = (u8)(seed + i * 7);
}

static int same(const u8 *a, const u8 *b) {
	int i;
	for (i = 0; i < SECTOR_SIZE; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

int main(void) {
	u8 *out = heap_alloc(SECTOR_SIZE);
	u8 *in = heap_alloc(SECTOR_SIZE);
	u64 last;
	u64 cr0;
	u64 kept;

	status = heap_alloc(sizeof *status);
	status->size = 0;
	status->err = -1;
	disk_setup(status);
	check(1, "setup reports the size", status->size == 8192 && status->err == 0);
	last = status->size / SECTOR_SIZE - 1;

	fill(out, 1);
	disk_write(0, out);
	check(2, "write sector 0", status->err == 0);
	disk_read(0, in);
	check(3, "read sector 0 back", status->err == 0 && same(in, out));

	fill(out, 2);
	disk_write(last, out);
	check(4, "write the last sector", status->err == 0);
	disk_read(last, in);
	check(5, "read the last sector back", status->err == 0 && same(in, out));

	disk_read(last + 1, in);
	check(6, "read past the end is EINVAL", status->err == EINVAL);
	disk_write(last + 1, out);
	check(7, "write past the end is EINVAL", status->err == EINVAL);

	fill(in, 9);
	disk_read(1, in);
	fill(out, 0);
	for (cr0 = 0; cr0 < SECTOR_SIZE; cr0++)
		out[cr0] = 0;
	check(8, "an unwritten sector reads zeros", status->err == 0 && same(in, out));

	serial_puts(passed == 8 ? "all 8 checks passed\n" : "some checks FAILED\n");

#ifdef SECOND_SETUP
	/* "The setup operation ... may be called only once": a second one is refused, reported in
	 * the status block, which stays where it was; the new block is left alone. */
	{
		struct hdd_status *other = heap_alloc(sizeof *other);
		other->size = 77;
		other->err = -1;
		disk_setup(other);
		serial_puts(status->err != 0 && other->size == 77 && other->err == -1
				? "second setup refused: ok\n"
				: "second setup refused: FAILED\n");
	}
#endif

	/* What the loader does next, observed: CR0 as the guest's mode implies it, and every other
	 * register kept across the emulated read. */
	asm volatile("mov $0x1234, %%rdx\n\tmov %%cr0, %%rax\n\tmov %%rdx, %1"
		     : "=a"(cr0), "=r"(kept) : : "rdx");
	serial_puts("cr0 = ");
	serial_hex(cr0);
	serial_puts(kept == 0x1234 ? ", rdx kept\n" : ", rdx LOST\n");
	return 0;
}
