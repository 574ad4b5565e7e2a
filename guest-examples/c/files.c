/*
 * Copies the shared file input.txt to output.txt upper-cased, 4 KiB per call (one exit per chunk
 * each way), then prints "copied <n> bytes". Any failure prints a message and returns 1.
 */
#include "hv_guest.h"

#define CHUNK 4096

/* In .bss rather than on the stack, as a guest's big buffers should be. */
static char buf[CHUNK];

/* Appends `s` to `line` at `len`; returns the new length. */
static unsigned long append(char *line, unsigned long len, const char *s)
{
    while (*s != '\0')
        line[len++] = *s++;
    return len;
}

/* Appends `v` in decimal to `line` at `len`; returns the new length. */
static unsigned long append_uint(char *line, unsigned long len, unsigned long v)
{
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        line[len++] = digits[--n];
    return len;
}

/* Prints "<what> failed: -<code>" for a call that returned -code, and returns 1. */
static int fail(const char *what, long ret)
{
    char line[80];
    unsigned long len = append(line, 0, what);
    len = append(line, len, " failed: -");
    len = append_uint(line, len, (unsigned long)-ret);
    line[len] = '\0';
    puts(line);
    return 1;
}

int main(void)
{
    int in = fopen("input.txt", "r");
    if (in < 0)
        return fail("fopen input.txt", in);
    int out = fopen("output.txt", "w");
    if (out < 0)
        return fail("fopen output.txt", out);

    unsigned long total = 0;
    for (;;) {
        long got = fread(in, buf, CHUNK);
        if (got < 0)
            return fail("fread", got);
        if (got == 0)
            break;
        for (long i = 0; i < got; i++) {
            if (buf[i] >= 'a' && buf[i] <= 'z')
                buf[i] = (char)(buf[i] - 'a' + 'A');
        }
        long put = fwrite(out, buf, (unsigned long)got);
        if (put < 0)
            return fail("fwrite", put);
        total += (unsigned long)put;
    }

    int ret = fclose(in);
    if (ret < 0)
        return fail("fclose input.txt", ret);
    ret = fclose(out);
    if (ret < 0)
        return fail("fclose output.txt", ret);

    char line[48];
    unsigned long len = append(line, 0, "copied ");
    len = append_uint(line, len, total);
    len = append(line, len, " bytes");
    line[len] = '\0';
    puts(line);
    return 0;
}
