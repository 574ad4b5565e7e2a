/*
 * A hostile seed-002 guest: bad pointers and addresses on seed 002's hypercall ports, each
 * followed by a call that must work.
 */
#include <stddef.h>
#include <stdint.h>

static void outl(uint16_t port, uint32_t value) {
	asm("outl %0,%1" : /* empty */ : "a" (value), "Nd" (port) : "memory");
}

static uint32_t inl(uint16_t port) {
	uint32_t value;
	asm volatile("inl %1,%0" : "=a" (value) : "Nd" (port) : "memory");
	return value;
}

void HC_print32bit(uint32_t val) { outl(0xEB, val); }
void HC_printStr(char *str) { outl(0xEA, (uint32_t)(uintptr_t)str); }
uint32_t HC_gvaToHva(uint32_t gva) { outl(0xEE, gva); return inl(0xEF); }

/* 5000 bytes and no NUL among them: longer than any string the host prints. */
char unterminated[5000] = { [0 ... 4999] = 'A' };

void
__attribute__((noreturn))
__attribute__((section(".start")))
_start(void) {
	/* 0xEF before any 0xEE: nothing to translate. */
	HC_print32bit(inl(0xEF));
	HC_printStr("after an early 0xEF\n");
	/* A string past the end of RAM (2 MiB), and one that runs into the end of RAM. */
	HC_printStr((char *)0x7FFFFF00);
	HC_printStr((char *)0x1FFFFF);
	HC_printStr("after pointers past RAM\n");
	HC_printStr(unterminated);
	HC_printStr("after an unterminated string\n");
	/* Unmapped and top-of-range addresses, and the hv page's alias (mapped). */
	HC_print32bit(HC_gvaToHva(0xFFFFFFFF));
	HC_print32bit(HC_gvaToHva(0x80000000));
	HC_print32bit(HC_gvaToHva(0x200000));
	HC_print32bit(HC_gvaToHva(0x3FE00000) != 0);
	HC_print32bit(HC_gvaToHva(0x400) != 0);
	HC_printStr("done\n");
	for (;;)
		asm("hlt");
}
