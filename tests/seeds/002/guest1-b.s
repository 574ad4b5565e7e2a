# Seed 002, part 2b: Neo without I/O. It never exits, so only a timer takes the CPU back.

.globl _start
    .code16
_start:
    xorw %ax, %ax

loop1:
    inc %ax
    jmp loop1
