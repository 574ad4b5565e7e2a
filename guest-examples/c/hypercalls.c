/* The seed's hypercall demo in C: values and strings printed by the host, exit counts before
 * and after some I/O, and translations of a code, a data, a stack and an unmapped address. */
#include "hv_guest.h"

static const char data[] = "some static data";

static void print_u64(uint64_t v, int hex)
{
    char buf[32];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % (hex ? 16 : 10));
        buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= hex ? 16 : 10;
    } while (v);
    if (hex)
        hv_write("0x", 2);
    while (n)
        putchar(buf[--n]);
}

static void show(const char *what, uint64_t gva)
{
    uint64_t gpa = 0;
    uint64_t hva = hv_gva_to_hva(gva, &gpa);
    hv_write("gvaToHva ", 9);
    hv_write(what, __builtin_strlen(what));
    hv_write(": gva ", 6);
    print_u64(gva, 1);
    if (hva) {
        hv_write(" -> gpa ", 8);
        print_u64(gpa, 1);
        hv_write(", hva ", 6);
        print_u64(hva, 1);
        hv_write("\n", 1);
    } else {
        puts(" -> unmapped");
    }
}

int main(void)
{
    HC_print32bit(42);
    HC_print32bit(0xFFFFFFFFu);
    HC_printStr("a string printed by the host with one exit\n");
    uint32_t before = HC_numExits();
    putchar('i');
    putchar('o');
    putchar('\n');
    uint32_t after = HC_numExits();
    hv_write("numExits grew by ", 17);
    print_u64(after - before, 0);
    puts(" over 3 putchar and 1 numExits");
    HC_printStr(HC_numExitsByType());
    int local = 7;
    show("code", (uint64_t)(uintptr_t)&main);
    show("data", (uint64_t)(uintptr_t)data);
    show("stack", (uint64_t)(uintptr_t)&local);
    show("unmapped", 0x40000000u);
    return 0;
}
