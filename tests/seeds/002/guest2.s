# Seed 002, part 2: user Morpheus VM. Counts down from 65535 in ax and outs every value on
# port 0x11.

.globl _start
    .code16
_start:
    movw $0xFFFF, %ax

loop1:
    out %ax, $0x11
    dec %ax
    jmp loop1
