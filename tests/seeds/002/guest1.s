# Seed 002, part 2: user Neo (The One) VM. Counts up from 0 in ax and outs every value on
# port 0x10 (a 2-byte out: the host prints it in decimal).

.globl _start
    .code16
_start:
    xorw %ax, %ax

loop1:
    out %ax, $0x10
    inc %ax
    jmp loop1
