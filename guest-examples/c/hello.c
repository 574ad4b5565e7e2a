/* Greets with its ID: "Hello from C guest <ID>!", written with one exit. */
#include "hv_guest.h"

int main(void)
{
    /* Digits of the ID, least significant first. */
    char digits[10];
    int n = 0;
    unsigned id = (unsigned)guest_id();
    do {
        digits[n++] = (char)('0' + id % 10);
        id /= 10;
    } while (id != 0);

    char line[40] = "Hello from C guest ";
    unsigned long len = sizeof "Hello from C guest " - 1;
    while (n > 0)
        line[len++] = digits[--n];
    line[len++] = '!';
    line[len] = '\0';
    return puts(line) < 0;
}
