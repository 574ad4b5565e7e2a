	# Seed 002, part 1b's real-mode guest, in the seed's style (kvm-hello-world's guest16.s):
	# 16-bit code entered at 0000:0000, hypercalls as port accesses (32-bit ones with the
	# operand-size prefix `as` adds to `outl`/`inl`), 42 stored at 0x400 and left in ax at hlt.
	.code16
	.global guest16, guest16_end
guest16:
	mov $hello, %si		# HC_print8bit, byte by byte: "Hello 695!\n"
1:	lodsb
	test %al, %al
	jz 2f
	out %al, $0xE9
	jmp 1b
2:	movl $2048, %eax	# HC_print32bit(2048)
	outl %eax, $0xEB
	inl $0xEC, %eax		# HC_numExits(): 11 bytes, one print32, this in
	outl %eax, $0xEB
	movl $mode, %eax	# HC_printStr("real mode\n"): a linear address (DS is 0)
	outl %eax, $0xEA
	movl $0x400, %eax	# HC_gvaToHva(0x400): no paging, so the address is its own
	outl %eax, $0xEE
	inl $0xEF, %eax
	outl %eax, $0xEB
	mov $'!', %al		# seed 003's serial port, then a newline on the console
	out %al, $0x10
	mov $'\n', %al
	out %al, $0xE9
	movl $42, %eax		# what simple-kvm -r checks: 42 in eax and at 0x400
	movw %ax, 0x400
	hlt
hello:	.asciz "Hello 695!\n"
mode:	.asciz "real mode\n"
guest16_end:
