/* printf, snprintf, malloc and the string.h basics of hv_libc.h (included by hv_guest.h). */
#include "hv_guest.h"

int main(void)
{
    printf("Hello from C guest %d: %s, %u MiB\n", guest_id(), "printf",
           (unsigned)(hv_boot_info()->ram_size >> 20));
    printf("[%5d] [%-5d] [%05d] [%.3d] [%x] [%X] [%o] [%c] [%.2s] [%8s] [%-8s]\n", 42, 42, -42, 7,
           255, 255, 8, 'z', "hello", "right", "left");
    printf("%ld %lld %zu %lu %i %%\n", -1234567890123L, 9223372036854775807LL, (size_t)3,
           18446744073709551615UL, -5);

    char line[32];
    int n = snprintf(line, sizeof line, "%s has %d chars", "snprintf", (int)strlen("snprintf"));
    printf("%s (%d)\n", line, n);

    /* A partial line, completed by a second call: one exit for the whole line. */
    printf("squares:");
    int *squares = malloc(10 * sizeof *squares);
    if (!squares)
        return 1;
    for (int i = 0; i < 10; i++) {
        squares[i] = i * i;
        printf(" %d", squares[i]);
    }
    printf("\n");
    free(squares);

    char *word = malloc(16);
    strcpy(word, "hypervisor");
    printf("%s: strchr %s, strrchr %s, strstr %s, cmp %d\n", word, strchr(word, 'v'),
           strrchr(word, 'r'), strstr(word, "visor"), strcmp(word, "hyper") > 0);
    free(word);
    return 0;
}
