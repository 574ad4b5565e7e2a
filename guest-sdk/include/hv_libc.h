/*
 * hv_libc.h: the C basics for hv guests: printf, snprintf, vsnprintf, malloc and friends, and
 * the string.h functions. Included by hv_guest.h; do not include it on its own.
 *
 * printf writes into one buffer per guest and hands it to the host with hv_write (one exit) at a
 * newline, when the buffer is full, before getchar waits for input, and at exit (also after
 * main returns), so a line costs one exit however many calls made it. Like stdio's stdout, that
 * buffer is not shared with putchar, puts and hv_write: call hv_flush() before those to keep a
 * partial printf line in front of them.
 *
 * Formats (C99 subset): conversions d i u x X o c s p and %%; length modifiers hh h l ll z; a
 * width and a precision (digits or *); the flags - (left-justify) and 0 (pad with zeros). Other
 * conversions are printed as written.
 *
 * malloc, calloc, realloc and free manage the RAM between the end of .bss and the stack's
 * reserve (HV_MIN_STACK below boot info's stack_top), first fit with neighbours merged on free.
 * They return NULL when the request does not fit, as C's do; blocks are 16-byte aligned.
 *
 * Everything is defined weak and non-static (one printf buffer and one heap per guest, however
 * many translation units include the header); nothing here makes an exit except the flush.
 */
#ifndef HV_LIBC_H
#define HV_LIBC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- string.h ---------------------------------------------------------------------------- */

__attribute__((weak)) int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

__attribute__((weak)) int strncmp(const char *a, const char *b, size_t n)
{
    for (; n > 0; n--, a++, b++) {
        if (*a != *b || !*a)
            return (unsigned char)*a - (unsigned char)*b;
    }
    return 0;
}

__attribute__((weak)) char *strcpy(char *dst, const char *src)
{
    char *d = dst;
    while ((*d++ = *src++))
        ;
    return dst;
}

/* As C's: copies at most n bytes, pads with NULs to n, and leaves dst unterminated when src has
 * n or more bytes. */
__attribute__((weak)) char *strncpy(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; i < n && src[i]; i++)
        dst[i] = src[i];
    for (; i < n; i++)
        dst[i] = 0;
    return dst;
}

__attribute__((weak)) char *strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return NULL;
    }
}

__attribute__((weak)) char *strrchr(const char *s, int c)
{
    const char *last = NULL;
    for (;; s++) {
        if (*s == (char)c)
            last = s;
        if (!*s)
            return (char *)last;
    }
}

__attribute__((weak)) void *memchr(const void *s, int c, size_t n)
{
    const unsigned char *p = s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == (unsigned char)c)
            return (void *)(p + i);
    }
    return NULL;
}

__attribute__((weak)) char *strstr(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return (char *)haystack;
    for (; *haystack; haystack++) {
        if (*haystack == *needle && strncmp(haystack, needle, n) == 0)
            return (char *)haystack;
    }
    return NULL;
}

/* ---- Formatting ---------------------------------------------------------------------------- */

/* Where formatted bytes go: a caller's buffer (snprintf) or the console buffer (printf). */
struct __hv_sink {
    char *buf;
    size_t cap;   /* bytes buf holds (for snprintf: size - 1, the NUL's place kept) */
    size_t len;   /* bytes stored */
    size_t total; /* bytes produced, stored or not: vsnprintf's result */
    int console;  /* flush to the host when full instead of dropping */
    int newline;  /* a newline went into the console buffer */
};

/* printf's buffer: one per guest. */
#define HV_PRINTF_BUF 1024
__attribute__((weak)) char __hv_printf_buf[HV_PRINTF_BUF];
__attribute__((weak)) size_t __hv_printf_len;

/* Hands what printf buffered to the host: one exit, none when the buffer is empty. */
__attribute__((weak)) void hv_flush(void)
{
    if (__hv_printf_len > 0) {
        hv_write(__hv_printf_buf, __hv_printf_len);
        __hv_printf_len = 0;
    }
}

/* Called by exit, hv_panic and getchar (hv_guest.h). */
__attribute__((weak)) void __hv_stdout_flush(void)
{
    hv_flush();
}

static inline void __hv_put(struct __hv_sink *s, char c)
{
    s->total++;
    if (s->len == s->cap) {
        if (!s->console)
            return;
        __hv_printf_len = s->len;
        hv_flush();
        s->len = 0;
    }
    s->buf[s->len++] = c;
    if (c == '\n')
        s->newline = 1;
}

static inline void __hv_pad(struct __hv_sink *s, char c, long n)
{
    for (; n > 0; n--)
        __hv_put(s, c);
}

/* One integer conversion: sign or prefix, zero padding to the precision or the width, digits. */
static inline void __hv_int(struct __hv_sink *s, unsigned long long v, int negative, unsigned base,
                            int upper, const char *prefix, long width, long prec, int left,
                            int zero)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0;
    while (v) {
        tmp[n++] = digits[v % base];
        v /= base;
    }
    /* "%.0d" of 0 prints no digit; otherwise 0 is "0". */
    if (n == 0 && prec != 0)
        tmp[n++] = '0';
    long plen = (negative ? 1 : 0) + (long)strlen(prefix);
    long zeros = prec > n ? prec - n : 0;
    if (prec < 0 && zero && !left && width > plen + n)
        zeros = width - plen - n;
    long fill = width - plen - zeros - n;
    if (!left)
        __hv_pad(s, ' ', fill);
    if (negative)
        __hv_put(s, '-');
    for (; *prefix; prefix++)
        __hv_put(s, *prefix);
    __hv_pad(s, '0', zeros);
    while (n > 0)
        __hv_put(s, tmp[--n]);
    if (left)
        __hv_pad(s, ' ', fill);
}

static inline void __hv_format(struct __hv_sink *s, const char *fmt, va_list ap)
{
    while (*fmt) {
        if (*fmt != '%') {
            __hv_put(s, *fmt++);
            continue;
        }
        const char *start = fmt++;
        int left = 0, zero = 0;
        for (;; fmt++) {
            if (*fmt == '-')
                left = 1;
            else if (*fmt == '0')
                zero = 1;
            else
                break;
        }
        long width = 0, prec = -1;
        if (*fmt == '*') {
            width = va_arg(ap, int);
            if (width < 0) {
                left = 1;
                width = -width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                width = width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            fmt++;
            prec = 0;
            if (*fmt == '*') {
                prec = va_arg(ap, int);
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    prec = prec * 10 + (*fmt++ - '0');
            }
        }
        /* Length: 0 int, 1 long, 2 long long, 3 size_t, -1 short, -2 char. */
        int length = 0;
        if (*fmt == 'l') {
            length = 1;
            if (*++fmt == 'l') {
                length = 2;
                fmt++;
            }
        } else if (*fmt == 'z') {
            length = 3;
            fmt++;
        } else if (*fmt == 'h') {
            length = -1;
            if (*++fmt == 'h') {
                length = -2;
                fmt++;
            }
        }
        char conv = *fmt;
        if (conv)
            fmt++;
        switch (conv) {
        case 'd':
        case 'i': {
            long long v;
            if (length == 2)
                v = va_arg(ap, long long);
            else if (length == 1)
                v = va_arg(ap, long);
            else if (length == 3)
                v = (long long)va_arg(ap, size_t);
            else
                v = va_arg(ap, int);
            if (length == -1)
                v = (short)v;
            else if (length == -2)
                v = (signed char)v;
            unsigned long long mag = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
            __hv_int(s, mag, v < 0, 10, 0, "", width, prec, left, zero);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            unsigned long long v;
            if (length == 2)
                v = va_arg(ap, unsigned long long);
            else if (length == 1)
                v = va_arg(ap, unsigned long);
            else if (length == 3)
                v = va_arg(ap, size_t);
            else
                v = va_arg(ap, unsigned int);
            if (length == -1)
                v = (unsigned short)v;
            else if (length == -2)
                v = (unsigned char)v;
            unsigned base = conv == 'u' ? 10 : conv == 'o' ? 8 : 16;
            __hv_int(s, v, 0, base, conv == 'X', "", width, prec, left, zero);
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(ap, void *);
            __hv_int(s, v, 0, 16, 0, "0x", width, prec, left, zero);
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            if (!left)
                __hv_pad(s, ' ', width - 1);
            __hv_put(s, c);
            if (left)
                __hv_pad(s, ' ', width - 1);
            break;
        }
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            long n = 0;
            while ((prec < 0 || n < prec) && str[n])
                n++;
            if (!left)
                __hv_pad(s, ' ', width - n);
            for (long i = 0; i < n; i++)
                __hv_put(s, str[i]);
            if (left)
                __hv_pad(s, ' ', width - n);
            break;
        }
        case '%':
            __hv_put(s, '%');
            break;
        default:
            /* Not a conversion this printf knows: print it as written. */
            while (start < fmt)
                __hv_put(s, *start++);
            break;
        }
    }
}

/* As C's: writes at most size - 1 bytes and a NUL into buf (nothing when size is 0) and returns
 * the length the whole output has. */
__attribute__((weak)) int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct __hv_sink s = { buf, size ? size - 1 : 0, 0, 0, 0, 0 };
    __hv_format(&s, fmt, ap);
    if (size)
        buf[s.len] = 0;
    return (int)s.total;
}

__attribute__((weak, format(printf, 3, 4))) int snprintf(char *buf, size_t size,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/* As C's vprintf: formats into the console buffer; returns the bytes produced. */
__attribute__((weak)) int vprintf(const char *fmt, va_list ap)
{
    struct __hv_sink s = { __hv_printf_buf, HV_PRINTF_BUF, __hv_printf_len, 0, 1, 0 };
    __hv_format(&s, fmt, ap);
    __hv_printf_len = s.len;
    /* Line-buffered: a newline sends what is buffered. */
    if (s.newline)
        hv_flush();
    return (int)s.total;
}

__attribute__((weak, format(printf, 1, 2))) int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

/* ---- The heap ------------------------------------------------------------------------------ */

/* A block: this header, then `size` bytes (a multiple of 16). Blocks lie end to end from the
 * heap's start up to __hv_heap_top; the bottom bit of `size` says whether the block is in use. */
struct __hv_block {
    size_t size;
    size_t pad; /* keeps the payload 16-byte aligned */
};

__attribute__((weak)) char *__hv_heap_start;
__attribute__((weak)) char *__hv_heap_top;
__attribute__((weak)) char *__hv_heap_end;

static inline void __hv_heap_init(void)
{
    if (!__hv_heap_start) {
        uintptr_t start = ((uintptr_t)__bss_end + 15) & ~(uintptr_t)15;
        uint64_t top = hv_boot_info()->stack_top;
        uintptr_t end = top > HV_MIN_STACK ? (uintptr_t)(top - HV_MIN_STACK) : 0;
        /* No __bss_end (a linker script without it): where the image ends is unknown, so no
         * heap rather than one over the program. */
        if (end < start || __bss_end == 0)
            end = start;
        __hv_heap_start = __hv_heap_top = (char *)start;
        __hv_heap_end = (char *)(end & ~(uintptr_t)15);
    }
}

__attribute__((weak)) void *malloc(size_t n)
{
    __hv_heap_init();
    if (n == 0)
        n = 1;
    if (n > (size_t)(__hv_heap_end - __hv_heap_start))
        return NULL;
    size_t want = (n + 15) & ~(size_t)15;
    /* First fit, merging runs of free blocks on the way. */
    for (char *p = __hv_heap_start; p < __hv_heap_top;) {
        struct __hv_block *b = (struct __hv_block *)p;
        if (!(b->size & 1)) {
            char *next = p + sizeof *b + b->size;
            while (next < __hv_heap_top && !(((struct __hv_block *)next)->size & 1)) {
                b->size += sizeof *b + ((struct __hv_block *)next)->size;
                next = p + sizeof *b + b->size;
            }
            if (next == __hv_heap_top) {
                /* A free run at the top: give it back to the unused part. */
                __hv_heap_top = p;
                break;
            }
            if (b->size >= want) {
                if (b->size >= want + sizeof *b + 16) {
                    struct __hv_block *rest = (struct __hv_block *)(p + sizeof *b + want);
                    rest->size = b->size - want - sizeof *b;
                    b->size = want;
                }
                b->size |= 1;
                return p + sizeof *b;
            }
        }
        p += sizeof *b + (b->size & ~(size_t)1);
    }
    if ((size_t)(__hv_heap_end - __hv_heap_top) < sizeof(struct __hv_block) + want)
        return NULL;
    struct __hv_block *b = (struct __hv_block *)__hv_heap_top;
    b->size = want | 1;
    __hv_heap_top += sizeof *b + want;
    return b + 1;
}

__attribute__((weak)) void free(void *ptr)
{
    if (ptr)
        ((struct __hv_block *)ptr - 1)->size &= ~(size_t)1;
}

__attribute__((weak)) void *calloc(size_t count, size_t size)
{
    if (size && count > (size_t)-1 / size)
        return NULL;
    void *p = malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

__attribute__((weak)) void *realloc(void *ptr, size_t n)
{
    if (!ptr)
        return malloc(n);
    size_t have = ((struct __hv_block *)ptr - 1)->size & ~(size_t)1;
    if (n <= have)
        return ptr;
    void *p = malloc(n);
    if (p) {
        memcpy(p, ptr, have);
        free(ptr);
    }
    return p;
}

#endif /* HV_LIBC_H */
