/* Copies its input to the console upper-cased, until end of input: getchar takes the bytes from
 * the input ring and putchar puts them in the console ring, an exit only when one is empty or
 * the other full. */
#include "hv_guest.h"

int main(void)
{
    int c;
    while ((c = getchar()) != HV_EOF)
        putchar(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    return 0;
}
