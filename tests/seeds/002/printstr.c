/*
 * Seed 002's HC_printStr passes the ADDRESS of its string. A guest that formats into one buffer
 * and prints it again and again, with queued outs around each print, must see each text as it
 * was at its own HC_printStr: the host reads the string during that `out`'s exit, never later.
 */
#include <stddef.h>
#include <stdint.h>

static void outb(uint16_t port, uint8_t value) {
	asm("outb %0,%1" : /* empty */ : "a" (value), "Nd" (port) : "memory");
}

static void outl(uint16_t port, uint32_t value) {
	asm("outl %0,%1" : /* empty */ : "a" (value), "Nd" (port) : "memory");
}

void HC_print8bit(uint8_t val) { outb(0xE9, val); }
void HC_print32bit(uint32_t val) { outl(0xEB, val); }
void HC_printStr(char *str) { outl(0xEA, (uint32_t)(uintptr_t)str); }

/* sprintf(buf, "text %d\n", k) for a one-digit k, written byte by byte. */
static void format(char *buf, int k) {
	const char *t = "text ";
	int i = 0;
	while (t[i]) {
		buf[i] = t[i];
		i++;
	}
	buf[i++] = (char)('0' + k);
	buf[i++] = '\n';
	buf[i] = 0;
}

char buf[16];

void
__attribute__((noreturn))
__attribute__((section(".start")))
_start(void) {
	/* 300 outs first: from the 256th on, hv queues them without an exit. */
	for (int i = 0; i < 299; i++)
		HC_print8bit('.');
	HC_print8bit('\n');
	for (int k = 0; k < 5; k++) {
		HC_print8bit('<');
		format(buf, k);
		HC_printStr(buf);
		HC_print32bit(k);
	}
	for (;;)
		asm("hlt" : /* empty */ : "a" (42) : "memory");
}
