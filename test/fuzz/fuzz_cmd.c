/*
 * fuzz_cmd.c - libFuzzer: any bytes as one typed line. The parser must
 * never crash, must keep every pointer inside the line, and never accept
 * a key over 255 bytes; the terminal display of any bytes holds no
 * control character.
 */
#include <stdlib.h>
#include <string.h>

#include "../../kvmc.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void
check_inside(const char *line, size_t len, const char *p, size_t n)
{
	if (n > 0 && (p < line || p + n > line + len))
		abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static char shown[3 * 8192 + 1];
	const char *line = (const char *)data;
	struct cmd c;
	size_t i;

	if (size > 8192)
		return 0;
	if (cmd_parse(line, size, &c) == NULL) {
		check_inside(line, size, c.key, c.key_len);
		check_inside(line, size, c.value, c.value_len);
		if (c.key_len > KEY_MAX || memchr(line, '\0', size) != NULL)
			abort();
		if ((c.verb == CMD_SET || c.verb == CMD_GET) && c.key_len == 0)
			abort();
	}
	msg_display(shown, sizeof(shown), line, size);
	for (i = 0; shown[i] != '\0'; i++)
		if ((unsigned char)shown[i] < 0x20 || shown[i] == 0x7f)
			abort();
	return 0;
}
