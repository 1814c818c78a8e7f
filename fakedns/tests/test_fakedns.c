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
#include "mxlab/clock.h"
#include "test_fakedns.h"

/* The zone of the tests; the MX pair at one preference as in the seeds. */
static const char minet_zone[] =
    "$TTL 300\n"
    "@        IN SOA ns1 hostmaster 2024010101 3600 600 86400 60\n"
    "minet.net. MX 10 mx1\n"
    "           MX 10 mx2\n"
    "@        TXT \"v=spf1 mx -all\"\n"
    "mx1      A 127.0.2.1\n"
    "mx2      A 127.0.2.2\n"
    "www      CNAME mx1\n"
    "ext      CNAME mail.example.com.\n"
    "a.b      A 127.0.2.9\n"
    "*.wild   A 127.0.2.99\n";

/* A zone without SOA: negative answers carry a synthesised one. */
static const char nosoa_zone[] = "@ A 127.0.2.50\n"
                                 "www A 127.0.2.51\n";

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
    {"mx1.minet.net.", LDNS_RR_TYPE_A, 0, 1, 1, "A\t127.0.2.1", NULL, NULL},
    {"minet.net.", LDNS_RR_TYPE_TXT, 0, 1, 1, "TXT\t\"v=spf1 mx -all\"", NULL,
     NULL},
    {"minet.net.", LDNS_RR_TYPE_SOA, 0, 1, 1,
     "SOA\tns1.minet.net. hostmaster.minet.net. 2024010101", NULL, NULL},
    {"MX2.Minet.NET.", LDNS_RR_TYPE_A, 0, 1, 1, "A\t127.0.2.2", NULL, NULL},
    /* RFC 1034 section 3.6.2: the CNAME, then what it points to. */
    {"www.minet.net.", LDNS_RR_TYPE_A, 0, 1, 2, "CNAME\tmx1.minet.net.",
     "mx1.minet.net.\t300\tIN\tA\t127.0.2.1", NULL},
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
     "host.wild.minet.net.\t300\tIN\tA\t127.0.2.99", NULL, NULL},
    {"host.wild.minet.net.", LDNS_RR_TYPE_MX, 0, 1, 0, NULL, NULL, "SOA"},
    /* Not ours: REFUSED, no AA. */
    {"example.com.", LDNS_RR_TYPE_A, 5, 0, 0, NULL, NULL, NULL},
    {"net.", LDNS_RR_TYPE_MX, 5, 0, 0, NULL, NULL, NULL},
    /* The zone without SOA. */
    {"example.org.", LDNS_RR_TYPE_A, 0, 1, 1, "A\t127.0.2.50", NULL, NULL},
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
    {"example.net.", "@ A 127.0.2.1\n\n\nbad A 127.0.2.300\n", 10,
     "zone.scn:13: "},
    {"example.net.", "@ A 127.0.2.1\nx BOGUS y", 1, "zone.scn:2: "},
    {"example.net.",
     "@ SOA ns hm (\n 1 2\n 3 4 5 )\nfoo A 127.0.2.1\nbar MX 10 x y z\n", 1,
     "zone.scn:5: "},
    {"example.net.", "$INCLUDE other.zone\n", 7, "zone.scn:7: "},
    /* Owner-less SOA lines: libldns crashed on the second (fuzzing). */
    {"example.net.", " SOA n h 1 3 0 6 8\n SOA n h 1 3 6 0 3\n", 1,
     "zone.scn:2: a second SOA record (the zone's is at line 1)"},
    {"example.net.", "www A 127.0.2.1\nmx.other.org. A 127.0.2.2\n", 1,
     "zone.scn:2: \"mx.other.org.\" is outside the zone \"example.net.\""},
    {NULL, "www A 127.0.2.1\n", 1,
     "zone.scn:1: relative name \"www\" but no origin"},
    {NULL, "example.net. A 127.0.2.1\n\nexample.net. MX 10 mx\n", 20,
     "zone.scn:22: relative name \"mx\" but no origin"},
    {NULL, "", 1, "zone.scn: no records and no origin"},
    {"bad..origin", "@ A 127.0.2.1\n", 4, "zone.scn:4: bad origin"},
    /* Accepted. */
    {NULL, "$ORIGIN example.net.\n@ MX 10 mx\nmx A 127.0.2.1\n", 1, NULL},
    {NULL, "mx.example.net. A 127.0.2.1\nexample.net. MX 10 mx.example.net.\n",
     1, NULL},
    {"example.net", "$TTL 60\n@ MX 10 mx\nmx A 127.0.2.1", 1, NULL},
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
                                         "@ MX 20 mx\nmx A 127.0.2.7\n",
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
                                            "@ A 127.0.2.8\n", err,
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

/* Records the issue names: the null MX (RFC 7505), a DKIM key longer
 * than 255 bytes as several strings, an SPF TXT. */
START_TEST(test_record_types)
{
    struct fakedns *fd = fakedns_new(NULL);
    char err[512], text[2048], key[301];
    ldns_pkt *r;
    const ldns_rr *rr;

    memset(key, 'K', 300);
    key[300] = '\0';
    snprintf(text, sizeof(text),
             "@ MX 0 .\n"
             "sel._domainkey TXT ( \"v=DKIM1; k=rsa; p=%.*s\"\n"
             "                     \"%s\" )\n"
             "@ TXT \"v=spf1 ip4:127.0.2.0/24 -all\"\n"
             "h AAAA 2001:db8::1\n"
             "1.2.0.127.in-addr PTR h\n",
             200, key, key + 200);
    ck_assert_msg(fakedns_load_zone_text(fd, "t", 1, "null.test.", text, err,
                                         sizeof(err)) == 0,
                  "%s", err);
    r = test_ask(fd, "null.test.", LDNS_RR_TYPE_MX, 0);
    ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 1);
    ck_assert(
        test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0), "MX\t0 ."));
    ldns_pkt_free(r);
    r = test_ask(fd, "sel._domainkey.null.test.", LDNS_RR_TYPE_TXT, 1232);
    rr = ldns_rr_list_rr(ldns_pkt_answer(r), 0);
    ck_assert_ptr_nonnull(rr);
    ck_assert_uint_eq(ldns_rr_rd_count(rr), 2);
    ck_assert_uint_eq(ldns_rdf_size(ldns_rr_rdf(rr, 0)), 1 + 18 + 200);
    ck_assert_uint_eq(ldns_rdf_size(ldns_rr_rdf(rr, 1)), 1 + 100);
    ldns_pkt_free(r);
    r = test_ask(fd, "h.null.test.", LDNS_RR_TYPE_AAAA, 0);
    ck_assert(test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0),
                               "2001:db8::1"));
    ldns_pkt_free(r);
    r = test_ask(fd, "1.2.0.127.in-addr.null.test.", LDNS_RR_TYPE_PTR, 0);
    ck_assert(test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0),
                               "PTR\th.null.test."));
    ldns_pkt_free(r);
    fakedns_free(fd);
}
END_TEST

/* The answer cache: a repeated question is answered the same, with this
 * query's ID and case; loading a zone invalidates it. */
START_TEST(test_cache)
{
    struct fakedns *fd = test_server();
    char err[512], *owner;
    ldns_pkt *r;

    for (int i = 0; i < 3; i++) {
        r = test_ask(fd, i == 2 ? "mX1.MINET.net." : "mx1.minet.net.",
                     LDNS_RR_TYPE_A, i == 1 ? 1232 : 0);
        ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 1);
        ck_assert(ldns_pkt_edns(r) == (i == 1));
        owner = ldns_rdf2str(
            ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(r), 0)));
        ck_assert_str_eq(owner, i == 2 ? "mX1.MINET.net." : "mx1.minet.net.");
        free(owner);
        ldns_pkt_free(r);
    }
    r = test_ask(fd, "new.example.com.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
    ldns_pkt_free(r);
    ck_assert_msg(fakedns_load_zone_text(fd, "t", 1, "example.com.",
                                         "new A 127.0.2.77\n", err,
                                         sizeof(err)) == 0,
                  "%s", err);
    r = test_ask(fd, "new.example.com.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), 0);
    ck_assert(
        test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0), "127.0.2.77"));
    ldns_pkt_free(r);
    ck_assert_uint_eq(fakedns_query_count(fd), 5);
    ck_assert_str_eq(fakedns_query_at(fd, 2)->name, "mx1.minet.net.");
    fakedns_query_log_clear(fd);
    ck_assert_uint_eq(fakedns_query_count(fd), 0);
    fakedns_free(fd);
}
END_TEST

/* Ask once; the raw answer (NULL for none). */
static uint8_t *test_raw_ask(struct fakedns *fd, const char *name,
                             ldns_rr_type type, size_t *rlen)
{
    size_t qlen;
    uint8_t *query = test_query(name, type, 0, &qlen), *resp = NULL;

    if (fakedns_answer(fd, query, qlen, &resp, rlen) < 0)
        resp = NULL;
    free(query);
    return resp;
}

/* Each fault kind through fakedns_answer: the spec, the query, and
 * what comes back (rcode, TC, answers; -1: no answer; -2: unparsable). */
static const struct {
    const char *spec;
    int rcode, tc;
    size_t nanswers, nauth;
    enum fakedns_fault_kind logged;
} fault_cases[] = {
    {"servfail", 2, 0, 0, 0, FAKEDNS_FAULT_SERVFAIL},
    {"refused", 5, 0, 0, 0, FAKEDNS_FAULT_REFUSED},
    {"nxdomain", 3, 0, 0, 1, FAKEDNS_FAULT_NXDOMAIN},
    {"truncate", 0, 1, 0, 0, FAKEDNS_FAULT_TRUNCATE},
    {"delay=50", 0, 0, 1, 0, FAKEDNS_FAULT_DELAY},
    {"servfail delay=20", 2, 0, 0, 0, FAKEDNS_FAULT_SERVFAIL},
    {"timeout", -1, 0, 0, 0, FAKEDNS_FAULT_TIMEOUT},
    {"malformed", -2, 0, 0, 0, FAKEDNS_FAULT_MALFORMED},
    {"truncate tcp", 0, 0, 1, 0, FAKEDNS_FAULT_NONE}, /* UDP untouched */
};

START_TEST(test_fault_kinds)
{
    struct fakedns *fd = test_server();
    char err[256];
    uint8_t *resp;
    size_t rlen;
    ldns_pkt *r = NULL;

    ck_assert_msg(fakedns_set_fault(fd, "mx1.minet.net", LDNS_RR_TYPE_A,
                                    fault_cases[_i].spec, err,
                                    sizeof(err)) == 0,
                  "%s", err);
    resp = test_raw_ask(fd, "mx1.minet.net.", LDNS_RR_TYPE_A, &rlen);
    ck_assert_uint_eq(fakedns_query_count(fd), 1);
    ck_assert_int_eq(fakedns_query_at(fd, 0)->fault, fault_cases[_i].logged);
    if (fault_cases[_i].rcode == -1) {
        ck_assert_ptr_null(resp);
        ck_assert_int_eq(fakedns_query_at(fd, 0)->rcode, -1);
    } else if (fault_cases[_i].rcode == -2) {
        ck_assert_ptr_nonnull(resp);
        ck_assert_int_ne(ldns_wire2pkt(&r, resp, rlen), LDNS_STATUS_OK);
    } else {
        ck_assert_ptr_nonnull(resp);
        ck_assert_int_eq(ldns_wire2pkt(&r, resp, rlen), LDNS_STATUS_OK);
        ck_assert_int_eq(ldns_pkt_get_rcode(r), fault_cases[_i].rcode);
        ck_assert_int_eq(ldns_pkt_tc(r), fault_cases[_i].tc);
        ck_assert_int_eq(ldns_pkt_qdcount(r), 1);
        ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)),
                          fault_cases[_i].nanswers);
        ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_authority(r)),
                          fault_cases[_i].nauth);
    }
    ldns_pkt_free(r);
    free(resp);
    /* Other types and names are untouched. */
    r = test_ask(fd, "mx1.minet.net.", LDNS_RR_TYPE_MX, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), 0);
    ldns_pkt_free(r);
    r = test_ask(fd, "mx2.minet.net.", LDNS_RR_TYPE_A, 0);
    ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 1);
    ldns_pkt_free(r);
    /* Cleared: the true answer again. */
    fakedns_clear_faults(fd, "mx1.minet.net.", 0);
    r = test_ask(fd, "mx1.minet.net.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), 0);
    ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 1);
    ldns_pkt_free(r);
    fakedns_free(fd);
}
END_TEST

/* Which of 8 successive queries a spec faults ('x') or not ('.'). */
static const struct {
    const char *spec;
    const char *want;
} which_cases[] = {
    {"servfail", "xxxxxxxx"},
    {"servfail nth=3", "..x....."},
    {"servfail count=2", "xx......"},
    {"servfail pattern=x.", "x.x.x.x."},
    {"servfail pattern=..x", "..x..x.."},
    {"servfail pattern=xx.......", "xx......"},
    {"servfail percent=0 seed=1", "........"},
    {"servfail percent=100 seed=1", "xxxxxxxx"},
};

static void test_which(struct fakedns *fd, const char *name, char *got,
                       size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ldns_pkt *r = test_ask(fd, name, LDNS_RR_TYPE_A, 0);

        got[i] = ldns_pkt_get_rcode(r) == LDNS_RCODE_SERVFAIL ? 'x' : '.';
        ldns_pkt_free(r);
    }
    got[n] = '\0';
}

START_TEST(test_fault_which)
{
    struct fakedns *fd = test_server();
    char err[256], got[9];

    ck_assert_msg(fakedns_set_fault(fd, "mx1.minet.net.", 0,
                                    which_cases[_i].spec, err,
                                    sizeof(err)) == 0,
                  "%s", err);
    test_which(fd, "mx1.minet.net.", got, 8);
    ck_assert_str_eq(got, which_cases[_i].want);
    fakedns_free(fd);
}
END_TEST

/* A seeded PRNG: the same seed, the same faults, in any run. */
START_TEST(test_fault_seed)
{
    char a[41], b[41], c[41], err[256];

    for (int k = 0; k < 3; k++) {
        struct fakedns *fd = test_server();
        ck_assert(fakedns_set_fault(fd, "mx1.minet.net.", 0,
                                    k == 2 ? "servfail percent=50 seed=8"
                                           : "servfail percent=50 seed=7",
                                    err, sizeof(err)) == 0);
        test_which(fd, "mx1.minet.net.", k == 0 ? a : k == 1 ? b : c, 40);
        fakedns_free(fd);
    }
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    ck_assert_ptr_nonnull(strchr(a, 'x'));
    ck_assert_ptr_nonnull(strchr(a, '.'));
}
END_TEST

/* Faults written in the zone, a wildcard fault, runtime ones first. */
START_TEST(test_fault_zone)
{
    struct fakedns *fd = fakedns_new(NULL);
    char err[512];
    ldns_pkt *r;

    ck_assert_msg(fakedns_load_zone_text(fd, "f", 1, "f.test.",
                                         "$TTL 60\n"
                                         "$FAULT www A servfail\n"
                                         "$FAULT *.deep nxdomain\n"
                                         "$FAULT @ MX refused nth=2\n"
                                         "@ MX 10 www\n"
                                         "www A 127.0.2.1\n"
                                         "a.deep A 127.0.2.2\n",
                                         err, sizeof(err)) == 0,
                  "%s", err);
    r = test_ask(fd, "WWW.f.test.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_SERVFAIL);
    ldns_pkt_free(r);
    r = test_ask(fd, "www.f.test.", LDNS_RR_TYPE_AAAA, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), 0);
    ldns_pkt_free(r);
    r = test_ask(fd, "a.deep.f.test.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN);
    ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_authority(r)), 1);
    ldns_pkt_free(r);
    r = test_ask(fd, "deep.f.test.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), 0); /* not below itself */
    ldns_pkt_free(r);
    for (int i = 1; i <= 3; i++) {
        r = test_ask(fd, "f.test.", LDNS_RR_TYPE_MX, 0);
        ck_assert_int_eq(ldns_pkt_get_rcode(r),
                         i == 2 ? LDNS_RCODE_REFUSED : 0);
        ldns_pkt_free(r);
    }
    /* A runtime fault wins over the zone's; clearing leaves the zone's. */
    ck_assert(fakedns_set_fault(fd, "www.f.test", 0, "refused", err,
                                sizeof(err)) == 0);
    r = test_ask(fd, "www.f.test.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
    ldns_pkt_free(r);
    fakedns_clear_faults(fd, NULL, 0);
    r = test_ask(fd, "www.f.test.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_SERVFAIL);
    ldns_pkt_free(r);
    fakedns_free(fd);
}
END_TEST

/* Bad specs and directives: refused with the reason (and file:line). */
static const struct {
    const char *text;
    const char *err;
} directive_errors[] = {
    {"$FAULT www A\n", "z:1: no fault kind"},
    {"$FAULT www\n", "z:1: $FAULT needs a name and a fault"},
    {"@ A 127.0.2.1\n$FAULT www A crash\n", "z:2: unknown fault \"crash\""},
    {"$FAULT www delay=x\n", "z:1: bad value in \"delay=x\""},
    {"$FAULT www servfail nth=2 count=3\n", "z:1: nth, count, pattern"},
    {"$FAULT www servfail percent=5\n", "z:1: percent= needs seed="},
    {"$FAULT www servfail pattern=xyz\n", "z:1: bad pattern \"xyz\""},
    {"$FAULT www servfail refused\n", "z:1: two fault kinds"},
    {"\n\n$LISTED 127.0.2.300\n", "z:3: bad address \"127.0.2.300\""},
    {"$LISTED 127.0.2.0/33\n", "z:1: bad prefix length"},
    {"$LISTED 127.10.0.0/4\n", "z:1: bad prefix length"},
    {"$LISTED 127.0.2.1 127.0.0.x\n", "z:1: bad return code"},
    {"$LISTED 127.0.2.1 \"a\" extra\n", "z:1: unexpected \"extra\""},
    {"$LISTED \"x\n", "z:1: unterminated quote"},
    {"$LISTED\n", "z:1: $LISTED needs an address"},
};

START_TEST(test_directive_errors)
{
    struct fakedns *fd = fakedns_new(NULL);
    char err[512] = "";

    ck_assert_int_eq(fakedns_load_zone_text(fd, "z", 1, "d.test.",
                                            directive_errors[_i].text, err,
                                            sizeof(err)),
                     -1);
    ck_assert_msg(strncmp(err, directive_errors[_i].err,
                          strlen(directive_errors[_i].err)) == 0,
                  "got \"%s\", want \"%s...\"", err, directive_errors[_i].err);
    ck_assert_int_eq(fakedns_set_fault(fd, "x.test", 0, "", err, sizeof(err)),
                     -1);
    ck_assert_int_eq(
        fakedns_set_fault(fd, "bad..name", 0, "servfail", err, sizeof(err)),
        -1);
    fakedns_free(fd);
}
END_TEST

/* DNSBL and RHSBL lists: each case asks a name of the list below and
 * wants an A record (or NULL: NXDOMAIN with an SOA) and a TXT text (or
 * NULL: none). */
static const char dnsbl_zone[] =
    "$ORIGIN bl.test.\n"
    "$TTL 120\n"
    "$LISTED 127.0.2.0/24 127.0.0.3 \"net \\\"127.0.2.0/24\\\"\"\n"
    "$LISTED 127.51.100.7\n"
    "$LISTED 127.0.113.0/25 127.0.0.4 \"half\"\n"
    "$LISTED 2001:db8::/32 127.0.0.5 \"v6\"\n"
    "$LISTED 2001:db9::1 127.0.0.6\n"
    "$LISTED spam.example 127.0.0.7 \"domain\"\n"
    "$LISTED *.wild.example. 127.0.0.8\n";

static const struct {
    const char *name;
    const char *a, *txt;
} dnsbl_cases[] = {
    {"7.2.0.127.bl.test.", "127.0.0.3", "net \\\"127.0.2.0/24\\\""},
    {"7.100.51.127.bl.test.", "127.0.0.2", NULL},
    {"8.100.51.127.bl.test.", NULL, NULL},
    {"127.113.0.127.bl.test.", "127.0.0.4", "half"},
    {"128.113.0.127.bl.test.", NULL, NULL},
    {"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl."
     "test.",
     "127.0.0.5", "v6"},
    {"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.b.d.0.1.0.0.2.bl."
     "test.",
     "127.0.0.6", NULL},
    {"2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.b.d.0.1.0.0.2.bl."
     "test.",
     NULL, NULL},
    {"spam.example.bl.test.", "127.0.0.7", "domain"},
    {"x.spam.example.bl.test.", NULL, NULL},
    {"a.b.wild.example.bl.test.", "127.0.0.8", NULL},
    /* RFC 5782 section 5 test points. */
    {"2.0.0.127.bl.test.", "127.0.0.2", "RFC 5782 test point"},
    {"1.0.0.127.bl.test.", NULL, NULL},
    {"2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl."
     "test.",
     "127.0.0.2", NULL},
    {"test.bl.test.", "127.0.0.2", NULL},
    {"invalid.bl.test.", NULL, NULL},
};

START_TEST(test_dnsbl)
{
    struct fakedns *fd = fakedns_new(NULL);
    char err[512];
    ldns_pkt *r;

    ck_assert_msg(fakedns_load_zone_text(fd, "bl", 1, NULL, dnsbl_zone, err,
                                         sizeof(err)) == 0,
                  "%s", err);
    r = test_ask(fd, dnsbl_cases[_i].name, LDNS_RR_TYPE_A, 0);
    if (dnsbl_cases[_i].a == NULL) {
        ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN);
        ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_authority(r)), 1);
        ck_assert(test_rr_contains(ldns_rr_list_rr(ldns_pkt_authority(r), 0),
                                   "bl.test.\t"));
    } else {
        ck_assert_int_eq(ldns_pkt_get_rcode(r), 0);
        ck_assert(ldns_pkt_aa(r));
        ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 1);
        ck_assert_msg(test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0),
                                       dnsbl_cases[_i].a),
                      "%s: no %s", dnsbl_cases[_i].name, dnsbl_cases[_i].a);
        ck_assert(test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0),
                                   "\t120\t"));
    }
    ldns_pkt_free(r);
    if (dnsbl_cases[_i].a != NULL) {
        r = test_ask(fd, dnsbl_cases[_i].name, LDNS_RR_TYPE_TXT, 0);
        ck_assert_uint_eq(
            ldns_rr_list_rr_count(ldns_pkt_answer(r)),
            dnsbl_cases[_i].txt != NULL ||
                    strncmp(dnsbl_cases[_i].name, "2.0.0.127.", 10) == 0 ||
                    strstr(dnsbl_cases[_i].name, "f.f.f.f") ||
                    strncmp(dnsbl_cases[_i].name, "test.", 5) == 0
                ? 1
                : 0);
        if (dnsbl_cases[_i].txt != NULL)
            ck_assert_msg(
                test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0),
                                 dnsbl_cases[_i].txt),
                "%s: TXT lacks %s", dnsbl_cases[_i].name, dnsbl_cases[_i].txt);
        ldns_pkt_free(r);
    }
    fakedns_free(fd);
}
END_TEST

/* A reason longer than a TXT string: cut into 255-byte strings. */
START_TEST(test_dnsbl_long_reason)
{
    struct fakedns *fd = fakedns_new(NULL);
    char text[1024], err[512];
    ldns_pkt *r;
    const ldns_rr *rr;

    snprintf(text, sizeof(text), "$LISTED 127.0.2.1 127.0.0.2 \"%0600d\"\n", 0);
    ck_assert_msg(fakedns_load_zone_text(fd, "bl", 1, "long.test", text, err,
                                         sizeof(err)) == 0,
                  "%s", err);
    r = test_ask(fd, "1.2.0.127.long.test.", LDNS_RR_TYPE_TXT, 4096);
    rr = ldns_rr_list_rr(ldns_pkt_answer(r), 0);
    ck_assert_ptr_nonnull(rr);
    ck_assert_uint_eq(ldns_rr_rd_count(rr), 3);
    ck_assert_uint_eq(ldns_rdf_size(ldns_rr_rdf(rr, 0)), 256);
    ck_assert_uint_eq(ldns_rdf_size(ldns_rr_rdf(rr, 2)), 1 + 600 - 510);
    ldns_pkt_free(r);
    fakedns_free(fd);
}
END_TEST

/* Hand-made hostile packets: never a crash, the RFC's rcode. */
static const struct {
    const char *what;
    const char *bytes;
    size_t len;
    int rcode; /* -1: no answer */
} hostile_cases[] = {
    {"compression loop in the question",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\xc0\x0c\x00\x01\x00\x01"),
     1},
    {"pointer past the end",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\xc0\xff\x00\x01\x00\x01"),
     1},
    {"label past the end",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\x3f\x61\x62"),
     1},
    {"class CHAOS",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\x05minet\x03net\x00\x00\x10\x00\x03"),
     5},
    {"unknown class",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\x05minet\x03net\x00\x00\x01\x12\x34"),
     5},
    {"AXFR over UDP",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\x05minet\x03net\x00\x00\xfc\x00\x01"),
     5},
    {"opcode 15", RAW("\x12\x34\x79\x00\x00\x01\x00\x00\x00\x00\x00\x00"), 4},
    {"QDCOUNT 65535",
     RAW("\x12\x34\x01\x00\xff\xff\x00\x00\x00\x00\x00\x00"
         "\x05minet\x03net\x00\x00\x01\x00\x01"),
     1},
    {"ARCOUNT without records",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x05"
         "\x05minet\x03net\x00\x00\x01\x00\x01"),
     1},
    {"OPT with a bad RDLEN",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01"
         "\x05minet\x03net\x00\x00\x01\x00\x01"
         "\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x09"),
     1},
    {"trailing garbage",
     RAW("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         "\x05minet\x03net\x00\x00\x01\x00\x01\xde\xad"),
     0},
};

START_TEST(test_hostile)
{
    struct fakedns *fd = test_server();
    uint8_t *resp = NULL;
    size_t rlen = 0;
    int ret = fakedns_answer(fd, (const uint8_t *)hostile_cases[_i].bytes,
                             hostile_cases[_i].len, &resp, &rlen);

    if (hostile_cases[_i].rcode < 0) {
        ck_assert_int_eq(ret, -1);
    } else {
        ck_assert_int_eq(ret, 0);
        ck_assert_uint_ge(rlen, 12);
        ck_assert_msg((resp[3] & 0x0f) == hostile_cases[_i].rcode,
                      "%s: rcode %d", hostile_cases[_i].what, resp[3] & 0x0f);
    }
    free(resp);
    fakedns_free(fd);
}
END_TEST

/* Random damage to good queries (a fixed seed): every outcome is an
 * answer with our ID and QR set, or none; never a crash (the sanitizer
 * build checks the memory side). */
START_TEST(test_mutations)
{
    struct fakedns *fd = test_server();
    uint64_t x = 88172645463325252ULL;
    char err[128];

    ck_assert(fakedns_set_fault(fd, "mx2.minet.net", 0, "malformed", err,
                                sizeof(err)) == 0);
    for (int i = 0; i < 20000; i++) {
        size_t qlen;
        uint8_t *q = test_query(i % 3 == 0   ? "mx2.minet.net."
                                : i % 3 == 1 ? "www.minet.net."
                                             : "x.wild.minet.net.",
                                (ldns_rr_type)(i % 2 ? 1 : 15),
                                i % 4 == 0 ? 1232 : 0, &qlen);
        uint8_t *resp = NULL;
        size_t rlen = 0;
        int flips;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        flips = (int)(x % 4);
        for (int k = 0; k < flips; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            q[x % qlen] = (uint8_t)(x >> 32);
        }
        if (x % 5 == 0)
            qlen = (size_t)(x >> 20) % qlen;
        if (fakedns_answer(fd, q, qlen, &resp, &rlen) == 0) {
            ck_assert_uint_ge(rlen, 12);
            ck_assert_int_eq(resp[0], q[0]);
            ck_assert_int_ne(resp[2] & 0x80, 0);
        }
        free(resp);
        free(q);
    }
    fakedns_free(fd);
}
END_TEST

/* Reload: zones and zone faults replaced, runtime faults kept. */
START_TEST(test_take_zones)
{
    struct fakedns *fd = test_server(), *next = fakedns_new(NULL);
    char err[256];
    ldns_pkt *r;

    ck_assert(fakedns_set_fault(fd, "x.minet.net.", 0, "refused", err,
                                sizeof(err)) == 0);
    ck_assert(fakedns_load_zone_text(next, "n", 1, "minet.net.",
                                     "mx1 A 127.0.2.111\n"
                                     "$FAULT mx2 servfail\n",
                                     err, sizeof(err)) == 0);
    r = test_ask(fd, "mx1.minet.net.", LDNS_RR_TYPE_A, 0);
    ck_assert(
        test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0), "127.0.2.1"));
    ldns_pkt_free(r);
    fakedns_take_zones(fd, next);
    fakedns_free(next);
    r = test_ask(fd, "mx1.minet.net.", LDNS_RR_TYPE_A, 0);
    ck_assert(test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0),
                               "127.0.2.111"));
    ldns_pkt_free(r);
    r = test_ask(fd, "mx2.minet.net.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_SERVFAIL);
    ldns_pkt_free(r);
    r = test_ask(fd, "x.minet.net.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
    ldns_pkt_free(r);
    r = test_ask(fd, "example.org.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
    ldns_pkt_free(r);
    fakedns_free(fd);
}
END_TEST

/* [change zone]: the RRset replaced, an added and a deleted record, the
 * serial bumped; an RRset a resolver had cached is answered as before
 * until its TTL runs out on the lab clock, one nobody asked for changes
 * at once. */
START_TEST(test_update_ttl)
{
    struct fakedns *fd = fakedns_new(NULL);
    char err[256];
    ldns_pkt *r;
    struct timeval tv = {200, 0};

    clock_simulate(1000000);
    ck_assert(fakedns_load_zone_text(fd, "z", 1, "example.",
                                     "@ 300 IN SOA ns hm 7 3600 600 86400 300\n"
                                     "@ 300 IN MX 10 old\n"
                                     "old 300 IN A 127.0.2.1\n"
                                     "new 300 IN A 127.0.2.2\n"
                                     "www 60 IN A 127.0.2.9\n",
                                     err, sizeof(err)) == 0);
    r = test_ask(fd, "example.", LDNS_RR_TYPE_MX, 0); /* now cached */
    ldns_pkt_free(r);
    ck_assert_msg(fakedns_update_zone(fd, "c", 10, "example.",
                                      "@ 300 IN MX 10 new\n"
                                      "add www 60 IN A 127.0.2.10\n"
                                      "delete old A\n",
                                      err, sizeof(err)) == 0,
                  "%s", err);
    /* within the TTL: the cached MX, its TTL counting down */
    clock_advance(&tv);
    r = test_ask(fd, "example.", LDNS_RR_TYPE_MX, 0);
    ck_assert_int_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 1);
    ck_assert(test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0),
                               "10 old.example."));
    ck_assert_int_eq(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)), 100);
    ldns_pkt_free(r);
    /* never asked before the change: the new state at once */
    r = test_ask(fd, "old.example.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN);
    ldns_pkt_free(r);
    r = test_ask(fd, "www.example.", LDNS_RR_TYPE_A, 0);
    ck_assert_int_eq(ldns_rr_list_rr_count(ldns_pkt_answer(r)), 2);
    ldns_pkt_free(r);
    r = test_ask(fd, "example.", LDNS_RR_TYPE_SOA, 0);
    ck_assert(test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0),
                               "hm.example. 8 3600"));
    ldns_pkt_free(r);
    /* after the TTL: the new MX */
    tv.tv_sec = 100;
    clock_advance(&tv);
    r = test_ask(fd, "example.", LDNS_RR_TYPE_MX, 0);
    ck_assert(test_rr_contains(ldns_rr_list_rr(ldns_pkt_answer(r), 0),
                               "10 new.example."));
    ldns_pkt_free(r);
    /* errors name the line */
    ck_assert(fakedns_update_zone(fd, "c", 10, "example.", "\nbad line here\n",
                                  err, sizeof(err)) < 0);
    ck_assert_msg(strncmp(err, "c:11: ", 6) == 0, "%s", err);
    ck_assert(fakedns_update_zone(fd, "c", 10, "example.", "delete nothere\n",
                                  err, sizeof(err)) < 0);
    ck_assert_msg(strstr(err, "no such record") != NULL, "%s", err);
    ck_assert(fakedns_update_zone(fd, "c", 10, "other.", "", err, sizeof(err)) <
              0);
    ck_assert_msg(strstr(err, "no zone other.") != NULL, "%s", err);
    fakedns_free(fd);
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
    tcase_add_test(tc, test_record_types);
    tcase_add_test(tc, test_cache);
    tcase_add_loop_test(tc, test_fault_kinds, 0,
                        sizeof(fault_cases) / sizeof(fault_cases[0]));
    tcase_add_loop_test(tc, test_fault_which, 0,
                        sizeof(which_cases) / sizeof(which_cases[0]));
    tcase_add_test(tc, test_fault_seed);
    tcase_add_test(tc, test_fault_zone);
    tcase_add_loop_test(tc, test_directive_errors, 0,
                        sizeof(directive_errors) / sizeof(directive_errors[0]));
    tcase_add_loop_test(tc, test_dnsbl, 0,
                        sizeof(dnsbl_cases) / sizeof(dnsbl_cases[0]));
    tcase_add_test(tc, test_dnsbl_long_reason);
    tcase_add_loop_test(tc, test_hostile, 0,
                        sizeof(hostile_cases) / sizeof(hostile_cases[0]));
    tcase_add_test(tc, test_mutations);
    tcase_add_test(tc, test_take_zones);
    tcase_add_test(tc, test_update_ttl);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, test_net_tcase());
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
