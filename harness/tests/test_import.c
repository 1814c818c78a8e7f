/*
 * test_import.c — tcpreasm.c and import.c: one byte stream cut into
 * segments and sent in many orders (out of order, retransmitted,
 * overlapping, sequence numbers wrapping past 2^32, segments past the
 * hold bound) comes out whole or with a gap; the import of the hand-made
 * capture (tests/pcap/reordered.pcap) parses as a scenario.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scenario.h"
#include "import.h"
#include "mxlab/xmem.h"
#include "tcpreasm.h"

/* 63 bytes: 25, 17, 15 and 6 a line */
static const char stream[] = "EHLO client.example.net\r\nMAIL FROM:<a@b>\r\n"
                             "RCPT TO:<c@d>\r\nDATA\r\n";

struct got {
    struct strbuf bytes;
    int opened, closed, gap, ended;
};

static void on_event(void *arg, struct tcpreasm_flow *f, int dir,
                     enum tcpreasm_event ev, const unsigned char *data,
                     size_t len)
{
    struct got *g = arg;

    (void)f;
    if (ev == TCPREASM_OPEN)
        g->opened++;
    else if (ev == TCPREASM_DATA && dir == 0)
        strbuf_append(&g->bytes, data, len);
    else if (ev == TCPREASM_CLOSE && dir == 0)
        g->closed++;
    else if (ev == TCPREASM_GAP)
        g->gap++;
    else if (ev == TCPREASM_END)
        g->ended++;
}

/* Segment i of an order: [from, to) of the stream, or -1 for FIN. */
struct cut {
    int from, to;
};

static const struct {
    const char *what;
    uint32_t isn;
    struct cut segs[8];
    int whole; /* 1: the stream comes out whole, 0: a gap */
} orders[] = {
    {"in order", 1000, {{0, 25}, {25, 42}, {42, 63}, {-1, -1}}, 1},
    {"reversed", 1000, {{42, 63}, {25, 42}, {0, 25}, {-1, -1}}, 1},
    {"retransmitted",
     1000,
     {{0, 25}, {0, 25}, {25, 42}, {0, 10}, {42, 63}, {-1, -1}},
     1},
    {"overlapping", 1000, {{0, 30}, {20, 50}, {40, 63}, {-1, -1}}, 1},
    {"held overlaps", 1000, {{30, 63}, {10, 40}, {0, 12}, {-1, -1}}, 1},
    {"wrap past 2^32", 0xffffffe0u, {{25, 63}, {0, 25}, {-1, -1}}, 1},
    {"FIN before data", 1000, {{-1, -1}, {0, 25}, {25, 63}}, 1},
    {"a lost segment", 1000, {{0, 25}, {42, 63}, {-1, -1}}, 0},
};

static void put(struct tcpreasm *r, uint32_t seq, uint8_t flags,
                const void *data, size_t len, int reply)
{
    struct tcpreasm_segment s;

    memset(&s, 0, sizeof(s));
    s.src.family = s.dst.family = AF_INET;
    s.src.addr[0] = s.dst.addr[0] = 127;
    s.src.addr[3] = 2;
    s.dst.addr[3] = 1;
    s.src.port = 40000;
    s.dst.port = 25;
    if (reply) {
        struct tcpreasm_endpoint e = s.src;
        s.src = s.dst;
        s.dst = e;
    }
    s.seq = seq;
    s.flags = flags;
    s.data = data;
    s.len = len;
    tcpreasm_segment(r, &s);
}

START_TEST(test_reasm_orders)
{
    struct got g;
    struct tcpreasm *r;
    uint32_t isn = orders[_i].isn;

    memset(&g, 0, sizeof(g));
    strbuf_init(&g.bytes);
    r = tcpreasm_new(on_event, &g);
    put(r, isn, TCPREASM_SYN, NULL, 0, 0);
    put(r, 5000, TCPREASM_SYN | TCPREASM_ACK, NULL, 0, 1);
    for (int i = 0; i < 8 && orders[_i].segs[i].to != 0; i++) {
        const struct cut *c = &orders[_i].segs[i];
        if (c->from < 0)
            put(r, isn + 1 + (uint32_t)strlen(stream),
                TCPREASM_FIN | TCPREASM_ACK, NULL, 0, 0);
        else
            put(r, isn + 1 + (uint32_t)c->from, TCPREASM_ACK, stream + c->from,
                (size_t)(c->to - c->from), 0);
    }
    put(r, 5001, TCPREASM_FIN | TCPREASM_ACK, NULL, 0, 1);
    tcpreasm_finish(r);
    ck_assert_int_eq(g.opened, 1);
    ck_assert_int_eq(g.ended, 1);
    if (orders[_i].whole) {
        ck_assert_msg(g.bytes.len == strlen(stream) &&
                          memcmp(g.bytes.buf, stream, g.bytes.len) == 0,
                      "%s: got \"%.*s\"", orders[_i].what, (int)g.bytes.len,
                      g.bytes.buf ? g.bytes.buf : "");
        ck_assert_int_eq(g.closed, 1);
        ck_assert_int_eq(g.gap, 0);
    } else {
        ck_assert_uint_eq(g.bytes.len, 25);
        ck_assert_int_eq(g.gap, 1);
        ck_assert_int_eq(g.closed, 0);
    }
    strbuf_clear(&g.bytes);
    tcpreasm_free(r);
}
END_TEST

/* More held out of order than TCPREASM_MAX_PENDING: a gap, not memory. */
START_TEST(test_reasm_bound)
{
    struct got g;
    struct tcpreasm *r;
    static unsigned char chunk[65536];

    memset(&g, 0, sizeof(g));
    strbuf_init(&g.bytes);
    r = tcpreasm_new(on_event, &g);
    put(r, 1, TCPREASM_SYN, NULL, 0, 0);
    for (uint32_t i = 1; i < 2 * TCPREASM_MAX_PENDING / sizeof(chunk); i++)
        put(r, 2 + i * (uint32_t)sizeof(chunk), TCPREASM_ACK, chunk,
            sizeof(chunk), 0);
    ck_assert_int_eq(g.gap, 1);
    ck_assert_uint_eq(g.bytes.len, 0);
    tcpreasm_finish(r);
    ck_assert_int_eq(g.ended, 1);
    strbuf_clear(&g.bytes);
    tcpreasm_free(r);
}
END_TEST

/* The hand-made capture's import parses; a file that is no capture is
 * refused naming it. */
START_TEST(test_import_parses)
{
    char *path = xasprintf("%s/harness/tests/pcap/reordered.pcap",
                           getenv("MXLAB_SOURCE_DIR"));
    struct import_opts o = {"reordered", "reordered.pcap", 0, {{0}, 0}};
    char *text = NULL, err[1024];
    size_t len = 0;
    FILE *in = fopen(path, "rb"), *out = open_memstream(&text, &len);
    struct scenario *s;
    size_t sessions = 0;

    ck_assert_ptr_nonnull(in);
    ck_assert_int_eq(import_capture(in, out, &o, err, sizeof(err)), 0);
    fclose(out);
    s = scenario_parse("reordered.scn", text, err, sizeof(err));
    ck_assert_msg(s != NULL, "%s", err);
    for (size_t i = 0; i < s->nblocks; i++)
        sessions += s->blocks[i].kind == SCN_SESSION;
    ck_assert_uint_eq(sessions, 4);
    scenario_free(s);
    free(text);

    in = fmemopen((void *)"not a capture", 13, "rb");
    out = open_memstream(&text, &len);
    o.source = "junk";
    ck_assert_int_eq(import_capture(in, out, &o, err, sizeof(err)), -1);
    ck_assert_msg(strncmp(err, "junk: not a capture file", 24) == 0, "%s", err);
    fclose(out);
    free(text);
    free(path);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("import");
    TCase *tc = tcase_create("import");
    SRunner *sr;
    int failed;

    tcase_add_loop_test(tc, test_reasm_orders, 0,
                        (int)(sizeof(orders) / sizeof(orders[0])));
    tcase_add_test(tc, test_reasm_bound);
    tcase_add_test(tc, test_import_parses);
    suite_add_tcase(su, tc);
    sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
