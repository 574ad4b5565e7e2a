/*
 * The seeds' raw-port workloads for hv's benchmark, in seed 000's template shape (its own
 * `_start` in `.start`, seed 000's wrappers from tests/seeds/000/wrappers.h, built with seed
 * 000's commands and linker script). One workload per build, chosen with -D:
 *
 *   -DSERIAL=N   N bytes to seed 003's serial port 0x10, one `outb` each (lines of 64);
 *   -DFILES=N    N bytes written to a file through seed 000's byte protocol, then read back
 *                and checked ("files: ok");
 *   -DLINES=N    N lines of 64 bytes printed with `out 0xE9`, a byte at a time.
 */
#include "wrappers.h"

static char pattern(int i) {
	return i % 64 == 63 ? '\n' : (char)('a' + i % 26);
}

void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void) {
	/* INSERT CODE BELOW THIS LINE */
#if defined(SERIAL)
	for (int i = 0; i < SERIAL; i++)
		outb(0x10, pattern(i));
#elif defined(FILES)
	int out = fopen("bench.dat", 'w');
	int ok = out >= 0;
	for (int i = 0; i < FILES; i++)
		ok &= fwrite(pattern(i), out) == pattern(i);
	ok &= fclose(out) == 0;
	int in = fopen("bench.dat", 'r');
	int n = 0;
	char c;
	while ((c = fread(in)) != EOF)
		ok &= c == pattern(n++);
	ok &= n == FILES && fclose(in) == 0;
	print(ok ? "files: ok\n" : "files: FAIL\n");
#elif defined(LINES)
	for (int i = 0; i < LINES * 64; i++)
		putchar(pattern(i));
#endif
	/* INSERT CODE ABOVE THIS LINE */
	for (;;)
		asm("hlt");
}
