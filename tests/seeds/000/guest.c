/*
 * A seed-000 guest: copies the shared input.txt to its own copy.txt byte by byte, reads the copy
 * back, then shows the copy-on-write of a shared file and the read fd it invalidates. Every file
 * byte is one request of seed 000's byte protocol on port 0x0278.
 */
#include "wrappers.h"

void __attribute__((noreturn)) __attribute__((section(".start"))) _start(void) {
	/* INSERT CODE BELOW THIS LINE */
	int in = fopen("input.txt", 'r');
	int out = fopen("copy.txt", 'w');
	if (in < 0 || out < 0) {
		print("open failed\n");
		for (;;)
			asm("hlt");
	}
	char c;
	int n = 0;
	while ((c = fread(in)) != EOF) {
		if (fwrite(c, out) != c)
			print("write failed\n");
		n++;
	}
	print(fclose(in) == 0 && fclose(out) == 0 ? "copied, closed\n" : "close failed\n");
	int back = fopen("copy.txt", 'r');
	print("copy: ");
	while ((c = fread(back)) != EOF)
		putchar(c);
	fclose(back);

	int shared = fopen("shared.txt", 'r');
	putchar(fread(shared));
	putchar('\n');
	int mine = fopen("shared.txt", 'w');
	fwrite('0' + (char)mine, mine);
	fwrite('\n', mine);
	if (fread(shared) == EOF && fclose(shared) == -1)
		print("read fd on the original invalidated\n");
	fclose(mine);
	int again = fopen("shared.txt", 'r');
	print("shared.txt now: ");
	while ((c = fread(again)) != EOF)
		putchar(c);
	fclose(again);
	/* INSERT CODE ABOVE THIS LINE */
	for (;;)
		asm("hlt");
}
