# Seed 003's loader: runs the guest's main, then reads CR0 and the machine status word (as the
# seed's loader does before it stops), and halts.
	.text
	.globl _start
	.code64
_start:
	call main
	mov %cr0, %rdx
	smsw %eax
	hlt
