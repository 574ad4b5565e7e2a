/* Copies its input to the console, byte for byte, until end of input: hv_read takes what the
 * input ring holds (an exit only when it is empty), hv_write hands it on (none while the console
 * ring has room). */
#include "hv_guest.h"

int main(void)
{
    static char buf[16384];
    long n;
    while ((n = hv_read(buf, sizeof buf)) > 0)
        hv_write(buf, (unsigned long)n);
    return 0;
}
