/*
 * test_fakedns.c — unit tests of fakedns: zone loading and its error
 * messages, authoritative answers (NOERROR, NODATA, NXDOMAIN with the SOA,
 * REFUSED, CNAME, wildcard), malformed packets, EDNS and truncation, the
 * question's case and the query log. Queries are built with ldns and fed
 * to fakedns_answer(); no network.
 */
#include <check.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakedns/fakedns.h"

/* The zone of the tests; the MX pair at one preference as in the seeds. */
static const char minet_zone[] =
    "$TTL 300\n"
    "@        IN SOA ns1 hostmaster 2024010101 3600 600 86400 60\n"
    "minet.net. MX 10 mx1\n"
    "           MX 10 mx2\n"
    "@        TXT \"v=spf1 mx -all\"\n"
    "mx1      A 192.0.2.1\n"
    "mx2      A 192.0.2.2\n"
    "www      CNAME mx1\n"
    "ext      CNAME mail.example.com.\n"
    "a.b      A 192.0.2.9\n"
    "*.wild   A 192.0.2.99\n";

/* A zone without SOA: negative answers carry a synthesised one. */
static const char nosoa_zone[] = "@ A 192.0.2.50\n"
                                 "www A 192.0.2.51\n";

static struct fakedns *test_server(void)
{
    struct fakedns *fd = fakedns_new(NULL);
    char err[512];

    ck_assert_msg(fakedns_load_zone_text(fd, "minet", 1, "minet.net.",
                                         minet_zone, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_msg(fakedns_load_zone_text(fd, "nosoa", 1, "example.org",
                                         nosoa_zone, err, sizeof(err)) == 0,
                  "%s", err);
    return fd;
}

/* Wire form of a query; edns 0: none, else the advertised payload size. */
static uint8_t *test_query(const char *name, ldns_rr_type type, int edns,
                           size_t *len)
{
    ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str(name), type,
                                     LDNS_RR_CLASS_IN, LDNS_RD);
    uint8_t *wire = NULL;

    ck_assert_ptr_nonnull(q);
    ldns_pkt_set_id(q, 0x4242);
    if (edns > 0)
        ldns_pkt_set_edns_udp_size(q, (uint16_t)edns);
    ck_assert_int_eq(ldns_pkt2wire(&wire, q, len), LDNS_STATUS_OK);
    ldns_pkt_free(q);
    return wire;
}

/* Ask fd and parse the response (which must exist). */
static ldns_pkt *test_ask(struct fakedns *fd, const char *name,
                          ldns_rr_type type, int edns)
{
    size_t qlen, rlen;
    uint8_t *query = test_query(name, type, edns, &qlen), *resp = NULL;
    ldns_pkt *r = NULL;

    ck_assert_int_eq(fakedns_answer(fd, query, qlen, &resp, &rlen), 0);
    ck_assert_int_eq(ldns_wire2pkt(&r, resp, rlen), LDNS_STATUS_OK);
    ck_assert_int_eq(ldns_pkt_id(r), 0x4242);
    ck_assert(ldns_pkt_qr(r));
    ck_assert(ldns_pkt_rd(r));
    free(query);
    free(resp);
    return r;
}

static int test_rr_contains(const ldns_rr *rr, const char *want)
{
    char *s = ldns_rr2str(rr);
    int found = s != NULL && strstr(s, want) != NULL;

    free(s);
    return found;
}

/* Each case: the question, the rcode and AA expected, how many answers,
 * text the first two answers must contain, and text the authority
 * section's SOA must contain (NULL: the section must be empty). */
static const struct {
    const char *name;
    ldns_rr_type type;
    int rcode, aa;
    size_t nanswers;
    const char *an1, *an2, *soa;
} answer_cases[] = {
    {"minet.net.", LDNS_RR_TYPE_MX, 0, 1, 2,
     "minet.net.\t300\tIN\tMX\t10 mx1.minet.net.",
     "minet.net.\t300\tIN\tMX\t10 mx2.minet.net.", NULL},
    {"mx1.minet.net.", LDNS_RR_TYPE_A, 0, 1, 1, "A\t192.0.2.1", NULL, NULL},
    {"minet.net.", LDNS_RR_TYPE_TXT, 0, 1, 1, "TXT\t\"v=spf1 mx -all\"", NULL,
     NULL},
    {"minet.net.", LDNS_RR_TYPE_SOA, 0, 1, 1,
     "SOA\tns1.minet.net. hostmaster.minet.net. 2024010101", NULL, NULL},
    {"MX2.Minet.NET.", LDNS_RR_TYPE_A, 0, 1, 1, "A\t192.0.2.2", NULL, NULL},
    /* RFC 1034 section 3.6.2: the CNAME, then what it points to. */
    {"www.minet.net.", LDNS_RR_TYPE_A, 0, 1, 2, "CNAME\tmx1.minet.net.",
     "mx1.minet.net.\t300\tIN\tA\t192.0.2.1", NULL},
    {"www.minet.net.", LDNS_RR_TYPE_CNAME, 0, 1, 1, "CNAME\tmx1.minet.net.",
     NULL, NULL},
    /* A CNAME out of our zones: the client's resolver goes on. */
    {"ext.minet.net.", LDNS_RR_TYPE_MX, 0, 1, 1, "CNAME\tmail.example.com.",
     NULL, NULL},
    /* NODATA: the name exists, the type does not (RFC 2308 2.2). The SOA
     * TTL is capped by its MINIMUM field (RFC 2308 section 3). */
    {"mx1.minet.net.", LDNS_RR_TYPE_MX, 0, 1, 0, NULL, NULL,
     "minet.net.\t60\tIN\tSOA\tns1.minet.net."},
    /* An empty non-terminal exists too (RFC 4592 section 2.2.2). */
    {"b.minet.net.", LDNS_RR_TYPE_A, 0, 1, 0, NULL, NULL, "SOA\tns1.minet"},
    /* NXDOMAIN (RFC 2308 2.1). */
    {"nope.minet.net.", LDNS_RR_TYPE_A, 3, 1, 0, NULL, NULL,
     "SOA\tns1.minet.net. hostmaster.minet.net."},
    {"x.a.b.minet.net.", LDNS_RR_TYPE_MX, 3, 1, 0, NULL, NULL, "SOA"},
    /* Wildcards (RFC 4592): synthesised under the name asked. */
    {"host.wild.minet.net.", LDNS_RR_TYPE_A, 0, 1, 1,
     "host.wild.minet.net.\t300\tIN\tA\t192.0.2.99", NULL, NULL},
    {"host.wild.minet.net.", LDNS_RR_TYPE_MX, 0, 1, 0, NULL, NULL, "SOA"},
    /* Not ours: REFUSED, no AA. */
    {"example.com.", LDNS_RR_TYPE_A, 5, 0, 0, NULL, NULL, NULL},
    {"net.", LDNS_RR_TYPE_MX, 5, 0, 0, NULL, NULL, NULL},
    /* The zone without SOA. */
    {"example.org.", LDNS_RR_TYPE_A, 0, 1, 1, "A\t192.0.2.50", NULL, NULL},
    {"example.org.", LDNS_RR_TYPE_MX, 0, 1, 0, NULL, NULL,
     "SOA\tns.example.org. hostmaster.example.org."},
    {"nope.example.org.", LDNS_RR_TYPE_A, 3, 1, 0, NULL, NULL,
     "SOA\tns.example.org. hostmaster.example.org."},
};

START_TEST(test_answer)
{
    struct fakedns *fd = test_server();
    ldns_pkt *r = test_ask(fd, answer_cases[_i].name, answer_cases[_i].type, 0);
    const ldns_rr_list *an = ldns_pkt_answer(r), *ns = ldns_pkt_authority(r);

    ck_assert_int_eq(ldns_pkt_get_rcode(r), answer_cases[_i].rcode);
    ck_assert_int_eq(ldns_pkt_aa(r), answer_cases[_i].aa);
    ck_assert(!ldns_pkt_tc(r));
    ck_assert_int_eq(ldns_pkt_qdcount(r), 1);
    ck_assert_uint_eq(ldns_rr_list_rr_count(an), answer_cases[_i].nanswers);
    if (answer_cases[_i].an1 != NULL)
        ck_assert_msg(
            test_rr_contains(ldns_rr_list_rr(an, 0), answer_cases[_i].an1),
            "answer 1 lacks \"%s\"", answer_cases[_i].an1);
    if (answer_cases[_i].an2 != NULL)
        ck_assert_msg(
            test_rr_contains(ldns_rr_list_rr(an, 1), answer_cases[_i].an2),
            "answer 2 lacks \"%s\"", answer_cases[_i].an2);
    if (answer_cases[_i].soa != NULL) {
        ck_assert_uint_eq(ldns_rr_list_rr_count(ns), 1);
        ck_assert_int_eq(ldns_rr_get_type(ldns_rr_list_rr(ns, 0)),
                         LDNS_RR_TYPE_SOA);
        ck_assert_msg(
            test_rr_contains(ldns_rr_list_rr(ns, 0), answer_cases[_i].soa),
            "authority lacks \"%s\"", answer_cases[_i].soa);
    } else {
        ck_assert_uint_eq(ldns_rr_list_rr_count(ns), 0);
    }
    ldns_pkt_free(r);
    fakedns_free(fd);
}
END_TEST

/* The question comes back as asked (RFC 4343 section 4.1); the log keeps
 * it lower-cased. */
START_TEST(test_case_echo_and_log)
{
    struct fakedns *fd = test_server();
    ldns_pkt *r = test_ask(fd, "MiNeT.NeT.", LDNS_RR_TYPE_MX, 0);
    const ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(r), 0);
    char *owner = ldns_rdf2str(ldns_rr_owner(q));
    const struct fakedns_query *e;

    ck_assert_str_eq(owner, "MiNeT.NeT.");
    ck_assert_int_eq(ldns_rr_get_type(q), LDNS_RR_TYPE_MX);
    ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 2);
    free(owner);
    ldns_pkt_free(r);

    r = test_ask(fd, "nope.minet.net.", LDNS_RR_TYPE_A, 0);
    ldns_pkt_free(r);
    ck_assert_uint_eq(fakedns_query_count(fd), 2);
    e = fakedns_query_at(fd, 0);
    ck_assert_str_eq(e->name, "minet.net.");
    ck_assert_str_eq(e->client, "");
    ck_assert_int_eq(e->type, 15);
    ck_assert_int_eq(e->rcode, 0);
    e = fakedns_query_at(fd, 1);
    ck_assert_str_eq(e->name, "nope.minet.net.");
    ck_assert_int_eq(e->type, 1);
    ck_assert_int_eq(e->rcode, 3);
    ck_assert_ptr_null(fakedns_query_at(fd, 2));
    fakedns_free(fd);
}
END_TEST

/* Raw packets: a header is ID 0x1234, then flags, then the four counts. */
#define RAW(s) s, sizeof(s) - 1
static const struct {
    const char *what;
    const char *bytes;
    size_t len;
    int ret;   /* fakedns_answer's return */
    int rcode; /* when answered */
} raw_cases[] = {
    {"empty", RAW(""), -1, 0},
    {"shorter than a header",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00"), -1, 0},
    {"a response (QR set)",
     RAW("\x12\x34\x81\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\x05minet\x03net\x00\x00\x01\x00\x01"),
     -1, 0},
    {"garbage after a valid header",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\xff\xfe\xfd\xfc\xfb"),
     0, 1},
    {"no question", RAW("\x12\x34\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"), 0,
     1},
    {"two questions announced, one present",
     RAW("\x12\x34\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00"
         "\x05minet\x03net\x00\x00\x01\x00\x01"),
     0, 1},
    {"a truncated question",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\x05minet\x03net\x00\x00"),
     0, 1},
    {"opcode NOTIFY",
     RAW("\x12\x34\x21\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\x05minet\x03net\x00\x00\x06\x00\x01"),
     0, 4},
    {"opcode UPDATE", RAW("\x12\x34\x28\x00\x00\x01\x00\x00\x00\x00\x00\x00"),
     0, 4},
    {"a well-formed query",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\x05minet\x03net\x00\x00\x0f\x00\x01"),
     0, 0},
};

START_TEST(test_raw)
{
    struct fakedns *fd = test_server();
    uint8_t *resp = NULL;
    size_t rlen = 0;
    int ret = fakedns_answer(fd, (const uint8_t *)raw_cases[_i].bytes,
                             raw_cases[_i].len, &resp, &rlen);

    ck_assert_msg(ret == raw_cases[_i].ret, "%s: returned %d",
                  raw_cases[_i].what, ret);
    if (ret == 0) {
        ck_assert_uint_ge(rlen, 12);
        ck_assert_int_eq(resp[0], 0x12); /* ID echoed */
        ck_assert_int_eq(resp[1], 0x34);
        ck_assert_int_ne(resp[2] & 0x80, 0); /* QR */
        ck_assert_int_eq(resp[2] & 0x01, raw_cases[_i].bytes[2] & 0x01);
        ck_assert_msg((resp[3] & 0x0f) == raw_cases[_i].rcode, "%s: rcode %d",
                      raw_cases[_i].what, resp[3] & 0x0f);
        ck_assert_uint_eq(fakedns_query_count(fd), 1);
        ck_assert_int_eq(fakedns_query_at(fd, 0)->rcode, raw_cases[_i].rcode);
    } else {
        ck_assert_ptr_null(resp);
        ck_assert_uint_eq(fakedns_query_count(fd), 0);
    }
    free(resp);
    fakedns_free(fd);
}
END_TEST

/* More than 512 bytes of TXT: without EDNS the client gets TC and no
 * records (RFC 1035 section 4.2.1); with EDNS 4096, everything. */
START_TEST(test_truncation)
{
    struct fakedns *fd = fakedns_new(NULL);
    char err[512], text[4096];
    size_t off = 0;
    ldns_pkt *r;

    for (int i = 0; i < 12; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off,
                                "big TXT \"record %02d "
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n",
                                i);
    ck_assert_msg(fakedns_load_zone_text(fd, "big", 1, "big.test.", text, err,
                                         sizeof(err)) == 0,
                  "%s", err);

    r = test_ask(fd, "big.big.test.", LDNS_RR_TYPE_TXT, 0);
    ck_assert(ldns_pkt_tc(r));
    ck_assert(ldns_pkt_aa(r));
    ck_assert_int_eq(ldns_pkt_get_rcode(r), 0);
    ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 0);
    ck_assert_int_eq(ldns_pkt_qdcount(r), 1);
    ck_assert(!ldns_pkt_edns(r));
    ldns_pkt_free(r);

    r = test_ask(fd, "big.big.test.", LDNS_RR_TYPE_TXT, 4096);
    ck_assert(!ldns_pkt_tc(r));
    ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 12);
    ck_assert(ldns_pkt_edns(r));
    ck_assert_uint_eq(ldns_pkt_edns_udp_size(r), 1232);
    ldns_pkt_free(r);

    /* An EDNS size under 512 counts as 512 (RFC 6891 section 6.2.5). */
    r = test_ask(fd, "big.big.test.", LDNS_RR_TYPE_TXT, 100);
    ck_assert(ldns_pkt_tc(r));
    ldns_pkt_free(r);
    fakedns_free(fd);
}
END_TEST

/* An EDNS version we do not speak: BADVERS (RFC 6891 section 6.1.3). */
START_TEST(test_badvers)
{
    struct fakedns *fd = test_server();
    ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str("minet.net."),
                                     LDNS_RR_TYPE_MX, LDNS_RR_CLASS_IN, 0);
    ldns_pkt *r = NULL;
    uint8_t *wire = NULL, *resp = NULL;
    size_t qlen, rlen;

    ldns_pkt_set_edns_udp_size(q, 1232);
    ldns_pkt_set_edns_version(q, 1);
    ck_assert_int_eq(ldns_pkt2wire(&wire, q, &qlen), LDNS_STATUS_OK);
    ck_assert_int_eq(fakedns_answer(fd, wire, qlen, &resp, &rlen), 0);
    ck_assert_int_eq(ldns_wire2pkt(&r, resp, rlen), LDNS_STATUS_OK);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), 0);
    ck_assert_int_eq(ldns_pkt_edns_extended_rcode(r), 1);
    ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 0);
    ck_assert_int_eq(fakedns_query_at(fd, 0)->rcode, 16);
    ldns_pkt_free(q);
    ldns_pkt_free(r);
    free(wire);
    free(resp);
    fakedns_free(fd);
}
END_TEST

/* Loading: what is accepted, and errors that name the line. */
static const struct {
    const char *origin;
    const char *text;
    int first_line;
    const char *err; /* NULL: loads; else the message's start */
} load_cases[] = {
    {"example.net.", "@ A 192.0.2.1\n\n\nbad A 192.0.2.300\n", 10,
     "zone.scn:13: "},
    {"example.net.", "@ A 192.0.2.1\nx BOGUS y", 1, "zone.scn:2: "},
    {"example.net.",
     "@ SOA ns hm (\n 1 2\n 3 4 5 )\nfoo A 192.0.2.1\nbar MX 10 x y z\n", 1,
     "zone.scn:5: "},
    {"example.net.", "$INCLUDE other.zone\n", 7, "zone.scn:7: "},
    {"example.net.", "www A 192.0.2.1\nmx.other.org. A 192.0.2.2\n", 1,
     "zone.scn:2: \"mx.other.org.\" is outside the zone \"example.net.\""},
    {NULL, "www A 192.0.2.1\n", 1,
     "zone.scn:1: relative name \"www\" but no origin"},
    {NULL, "example.net. A 192.0.2.1\n\nexample.net. MX 10 mx\n", 20,
     "zone.scn:22: relative name \"mx\" but no origin"},
    {NULL, "", 1, "zone.scn: no records and no origin"},
    {"bad..origin", "@ A 192.0.2.1\n", 4, "zone.scn:4: bad origin"},
    /* Accepted. */
    {NULL, "$ORIGIN example.net.\n@ MX 10 mx\nmx A 192.0.2.1\n", 1, NULL},
    {NULL, "mx.example.net. A 192.0.2.1\nexample.net. MX 10 mx.example.net.\n",
     1, NULL},
    {"example.net", "$TTL 60\n@ MX 10 mx\nmx A 192.0.2.1", 1, NULL},
    {"example.net.", "", 1, NULL},
};

START_TEST(test_load)
{
    struct fakedns *fd = fakedns_new(NULL);
    char err[512] = "";
    int ret = fakedns_load_zone_text(fd, "zone.scn", load_cases[_i].first_line,
                                     load_cases[_i].origin, load_cases[_i].text,
                                     err, sizeof(err));

    if (load_cases[_i].err == NULL) {
        ck_assert_msg(ret == 0, "%s", err);
    } else {
        ck_assert_int_eq(ret, -1);
        ck_assert_msg(
            strncmp(err, load_cases[_i].err, strlen(load_cases[_i].err)) == 0,
            "got \"%s\", want \"%s...\"", err, load_cases[_i].err);
    }
    fakedns_free(fd);
}
END_TEST

/* A zone loaded from its origin given in the text answers for it. */
START_TEST(test_origin_from_text)
{
    struct fakedns *fd = fakedns_new(NULL);
    char err[512];
    ldns_pkt *r;

    ck_assert_msg(fakedns_load_zone_text(fd, "t", 1, NULL,
                                         "$ORIGIN Example.NET.\n"
                                         "@ MX 20 mx\nmx A 192.0.2.7\n",
                                         err, sizeof(err)) == 0,
                  "%s", err);
    r = test_ask(fd, "example.net.", LDNS_RR_TYPE_MX, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), 0);
    ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 1);
    ldns_pkt_free(r);
    /* No SOA: the apex is the common ancestor, so its NXDOMAIN has one. */
    r = test_ask(fd, "nope.example.net.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), 3);
    ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_authority(r)), 1);
    ldns_pkt_free(r);
    ck_assert_int_eq(fakedns_load_zone_text(fd, "again", 1, "example.net.",
                                            "@ A 192.0.2.8\n", err,
                                            sizeof(err)),
                     -1);
    ck_assert_str_eq(err, "again: zone \"example.net.\" is already loaded");
    fakedns_free(fd);
}
END_TEST

START_TEST(test_load_file)
{
    struct fakedns *fd = fakedns_new(NULL);
    char path[] = "/tmp/test_fakedns_XXXXXX", err[512], want[600];
    static const char text[] = "$TTL 300\n@ MX 10 mx\nmx A not-an-address\n";
    int tmp = mkstemp(path);

    ck_assert_int_ge(tmp, 0);
    ck_assert_int_eq(write(tmp, text, sizeof(text) - 1),
                     (ssize_t)(sizeof(text) - 1));
    close(tmp);
    ck_assert_int_eq(
        fakedns_load_zone_file(fd, path, "example.net.", err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:3: ", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got \"%s\"", err);
    unlink(path);

    ck_assert_int_eq(
        fakedns_load_zone_file(fd, path, "example.net.", err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: No such file or directory", path);
    ck_assert_str_eq(err, want);

    /* No event loop: listening is refused with a message. */
    ck_assert_int_eq(fakedns_listen(fd, "127.0.0.1:0", err, sizeof(err)), -1);
    ck_assert_str_ne(err, "");
    fakedns_free(fd);
    fakedns_free(NULL);
}
END_TEST

static Suite *fakedns_suite(void)
{
    Suite *s = suite_create("fakedns");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_answer, 0,
                        sizeof(answer_cases) / sizeof(answer_cases[0]));
    tcase_add_test(tc, test_case_echo_and_log);
    tcase_add_loop_test(tc, test_raw, 0,
                        sizeof(raw_cases) / sizeof(raw_cases[0]));
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_badvers);
    tcase_add_loop_test(tc, test_load, 0,
                        sizeof(load_cases) / sizeof(load_cases[0]));
    tcase_add_test(tc, test_origin_from_text);
    tcase_add_test(tc, test_load_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fakedns_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
