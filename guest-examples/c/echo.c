/* Copies its input to the console upper-cased, until end of input (one exit per byte each way). */
#include "hv_guest.h"

int main(void)
{
    int c;
    while ((c = getchar()) != HV_EOF)
        putchar(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    return 0;
}
