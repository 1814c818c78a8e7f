/*
 * fuzz_address.c — the address forms outside bytes carry: the argument of
 * MAIL FROM / RCPT TO (strict and lenient), host names as HELO gives them,
 * "host:port" addresses and CIDR networks as main.cf and maps give them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/netaddr.h"
#include "mxlab/smtp.h"
#include "mxlab/xmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char addr[1024], buf[128];
    const char *params;
    struct netaddr na;
    struct cidr c;
    char *text;

    if (size > 4096 || memchr(data, '\0', size) != NULL)
        return 0;
    text = xstrndup((const char *)data, size);
    for (int strict = 0; strict <= 1; strict++)
        if (smtp_parse_path(text, strict, addr, sizeof(addr), &params) ==
            SMTP_PATH_OK)
            smtp_addr_domain(addr);
    smtp_valid_hostname(text);
    if (netaddr_parse(text, 25, &na) == 0)
        netaddr_str(&na, buf, sizeof(buf));
    if (cidr_parse(text, &c) == 0) {
        cidr_str(&c, buf, sizeof(buf));
        if (netaddr_parse("127.0.0.1", 0, &na) == 0)
            cidr_match(&c, &na);
    }
    free(text);
    return 0;
}
