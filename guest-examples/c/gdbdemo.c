/*
 * A guest to debug with gdb (README: "Debugging a guest"): adds the squares of 1 to 4 into a
 * global through a function of its own, prints the total and exits with it divided by
 * `divisor`. Set `divisor` to 0 from gdb and main divides by zero: a divide error, which gdb
 * shows as SIGFPE where it happened.
 */
#include "hv_guest.h"

long total;
volatile long divisor = 1;

static long add_square(long n)
{
    long square = n * n;
    total += square;
    return square;
}

int main(void)
{
    long last = 0;
    for (long n = 1; n <= 4; n++)
        last = add_square(n);
    printf("total %ld, last square %ld\n", total, last);
    return (int)(total / divisor);
}
