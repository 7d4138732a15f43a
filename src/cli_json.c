/* cli_json.c: JSON output for the command-line front ends (--json):
 * strings escaped as RFC 8259 requires (quote, backslash, control bytes;
 * \n and \t short forms), bytes >= 0x80 copied (the text is UTF-8).
 * Failure: none (stdout errors are the caller's to see at exit). */
#include <stdio.h>

#include "cmds.h"

void cli_json_str(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            printf("\\n");
        else if (c == '\t')
            printf("\\t");
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}
