/*
 * expect_dkim.h — "delivered dkim pass DOMAIN": a message that a fake MX
 * received carries a DKIM signature (RFC 6376) of DOMAIN that Debian's
 * python3-dkim verifies, with the key the lab's fakedns serves.
 */
#ifndef HARNESS_EXPECT_DKIM_H
#define HARNESS_EXPECT_DKIM_H

#include "expect.h"

int expect_parse_dkim(struct scn_expect *x, const struct strlist *w,
                      const char *text, char *err, size_t errlen);
int expect_check_dkim(const struct scn_expect *x, struct expect_env *env,
                      struct strbuf *why);

#endif
