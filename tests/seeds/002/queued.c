/*
 * Seed 002's graded part-1 guest (guest.c) with a warm-up line of 300 bytes first, so that its
 * outs are queued without an exit (hv queues a guest's outs once it has made 256 of them), and
 * the numbers it prints must be the graded guest's own, 300 more `out`s each.
 */
#include <stddef.h>
#include <stdint.h>

static void outb(uint16_t port, uint8_t value) {
	asm("outb %0,%1" : /* empty */ : "a" (value), "Nd" (port) : "memory");
}

static void outl(uint16_t port, uint32_t value) {
	asm("outl %0,%1" : /* empty */ : "a" (value), "Nd" (port) : "memory");
}

static uint32_t inl(uint16_t port) {
	uint32_t value;
	asm volatile("inl %1,%0" : "=a" (value) : "Nd" (port) : "memory");
	return value;
}

void HC_print8bit(uint8_t val)
{
	outb(0xE9, val);
}

void HC_print32bit(uint32_t val)
{
	outl(0xEB, val);
}

uint32_t HC_numExits()
{
	return inl(0xEC);
}

void HC_printStr(char *str)
{
	outl(0xEA, (uint32_t)(uintptr_t)str);
}

char *HC_numExitsByType()
{
	static char bufs[2][64];
	static int which;
	char *text = (char *)(uintptr_t)inl(0xED);
	char *buf = bufs[which];
	which = !which;
	int i = 0;
	while (text[i] && i < 63) {
		buf[i] = text[i];
		i++;
	}
	buf[i] = 0;
	return buf;
}

uint32_t HC_gvaToHva(uint32_t gva)
{
	outl(0xEE, gva);
	return inl(0xEF);
}

void
__attribute__((noreturn))
__attribute__((section(".start")))
_start(void) {
	const char *p;

	for (int i = 0; i < 299; i++)
		HC_print8bit('.');
	HC_print8bit('\n');
	for (p = "Hello 695!\n"; *p; ++p)
		HC_print8bit(*p);

	/*----------Don't modify this section. We will use grading script---------*/
	/*---Your submission will fail the testcases if you modify this section---*/

	HC_print32bit(2048);
	HC_print32bit(4294967295);

	uint32_t num_exits_a, num_exits_b;
	num_exits_a = HC_numExits();

	char *str = "CS695 Assignment 2\n";
	HC_printStr(str);
	num_exits_b = HC_numExits();

	HC_print32bit(num_exits_a);
	HC_print32bit(num_exits_b);

	char *firststr = HC_numExitsByType();
	uint32_t hva;
	hva = HC_gvaToHva(1024);
	HC_print32bit(hva);
	hva = HC_gvaToHva(4294967295);
	HC_print32bit(hva);
	char *secondstr = HC_numExitsByType();

	HC_printStr(firststr);
	HC_printStr(secondstr);
	/*------------------------------------------------------------------------*/

	*(long *) 0x400 = 42;

	for (;;)
		asm("hlt" : /* empty */ : "a" (42) : "memory");
}
