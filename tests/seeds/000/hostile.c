/*
 * A hostile seed-000 guest: malformed byte sequences on port 0x0278, each followed by a clean
 * request that must work. Prints one line per case: "<case>: ok" or "<case>: FAIL". Built with
 * -DWARM it prints 300 bytes first, so that every byte after them is queued without an exit
 * (and must be dropped or answered exactly as when each exits).
 */
#include "wrappers.h"

char long_name[302];

static int first_byte_ok(void) {
	int fd = fopen("input.txt", 'r');
	char c = fread(fd);
	return fd >= 0 && c == 'h' && fclose(fd) == 0;
}

static void report(const char *what, int ok) {
	print(what);
	print(ok ? ": ok\n" : ": FAIL\n");
}

void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void) {
	/* INSERT CODE BELOW THIS LINE */
#ifdef WARM
	/* 300 console bytes first: hv queues the outs that follow without an exit. */
	for (int i = 0; i < 299; i++)
		putchar('.');
	putchar('\n');
#endif
	/* An unknown first byte. */
	outb(0x0278, 0x07);
	report("unknown first byte", first_byte_ok());

	/* An `in` before any request reads the error byte. */
	int in_before = inb(0x0278) == 0xFF;
	report("in before any request", in_before && first_byte_ok());

	/* Bytes out of sequence: a read with only two fd bytes, then its `in`. */
	outb(0x0278, 0x04);
	outb(0x0278, 0);
	outb(0x0278, 0);
	int short_fd = inb(0x0278) == 0xFF;
	report("in before the fd is complete", short_fd && first_byte_ok());

	/* An open's reply left half read, then a new request. */
	outb(0x0278, 0x01);
	for (const char *p = "input.txt"; *p; p++)
		outb(0x0278, *p);
	outb(0x0278, 0);
	inb(0x0278);
	inb(0x0278);
	report("reply left unread", first_byte_ok());

	/* A 300-byte name: the template sends it, the host refuses it with fd -1. */
	for (int i = 0; i < 300; i++)
		long_name[i] = 'a';
	report("300-byte name", fopen(long_name, 'w') == -1 && first_byte_ok());

	/* A name without its NUL: the `in`s come too early. */
	outb(0x0278, 0x01);
	for (const char *p = "input.txt"; *p; p++)
		outb(0x0278, *p);
	int fd = 0;
	for (int i = 0; i < 4; i++)
		fd = (fd << 8) | inb(0x0278);
	report("name without NUL", fd == -1 && first_byte_ok());

	/* Wild fds. */
	int wild = fread(0x7FFFFFFF) == EOF && fwrite('x', -5) == EOF && fclose(1234) == -1
		&& fclose(-1) == -1 && fread(31) == EOF;
	report("wild fds", wild && first_byte_ok());

	/* A flood of bad bytes: the host's diagnostics are rate-limited. */
	for (int i = 0; i < 100; i++)
		outb(0x0278, 0x7F);
	report("flood", first_byte_ok());
	/* INSERT CODE ABOVE THIS LINE */
	for (;;)
		asm("hlt");
}
