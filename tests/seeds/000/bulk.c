/*
 * A seed-000 guest that writes a file of 3000 bytes through the byte protocol and reads it back.
 * Its first 300 console bytes make hv queue its outs from then on: a write request then costs
 * the one exit of its `in`, a read likewise.
 */
#include "wrappers.h"

#define SIZE 3000

static char pattern(int i) {
	return (char)('a' + i % 26);
}

void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void) {
	/* INSERT CODE BELOW THIS LINE */
	for (int i = 0; i < 299; i++)
		putchar('.');
	putchar('\n');
	int out = fopen("bulk.txt", 'w');
	int written = 0;
	for (int i = 0; i < SIZE; i++)
		written += fwrite(pattern(i), out) == pattern(i);
	int closed = fclose(out) == 0;
	int in = fopen("bulk.txt", 'r');
	int same = 0, n = 0;
	char c;
	while ((c = fread(in)) != EOF) {
		same += c == pattern(n);
		n++;
	}
	closed += fclose(in) == 0;
	print(written == SIZE && same == SIZE && n == SIZE && closed == 2 ? "bulk: ok\n" : "bulk: FAIL\n");
	/* INSERT CODE ABOVE THIS LINE */
	for (;;)
		asm("hlt");
}
