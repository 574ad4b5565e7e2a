/*
 * A guest written the way the seed documents write them, without hv_guest.h: its own entry in
 * section .start (which linker/guest.ld places at address 0), byte-wise output on port 0xE9, and
 * hlt to end. It proves that guests written for the seed's hypervisor run unchanged.
 */

static void outb(unsigned short port, unsigned char value)
{
    __asm__ __volatile__("outb %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static void put_byte(char c)
{
    outb(0xE9, (unsigned char)c);
}

void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void)
{
    for (const char *p = "seed\n"; *p != '\0'; p++)
        put_byte(*p);
    for (;;)
        __asm__ __volatile__("hlt");
}
