/*
 * test_sasl.c — unit tests of the Dovecot authentication protocol codec
 * (sasl.c): the server's lines as Dovecot 2.3 writes them (handshake, OK,
 * CONT, FAIL), malformed ones, the AUTH request, and the mechanism filter
 * of smtpd_sasl_security_options.
 */
#include <check.h>
#include <string.h>

#include "mxlab/xmem.h"
#include "sasl.h"

#define L(s) s, sizeof(s) - 1

static const struct {
    const char *in;
    size_t len;
    enum sasl_dc_kind kind;
    unsigned long num; /* VERSION major, or the request id */
    const char *mech;  /* MECH name */
    int props;
    const char *user, *reason, *data;
    int temp;
} dc_cases[] = {
    {L("VERSION\t1\t2"), SASL_DC_VERSION, 1, NULL, 0, NULL, NULL, NULL, 0},
    {L("VERSION\t2"), SASL_DC_BAD, 0, NULL, 0, NULL, NULL, NULL, 0},
    {L("VERSION\tx\t1"), SASL_DC_BAD, 0, NULL, 0, NULL, NULL, NULL, 0},
    {L("MECH\tPLAIN\tplaintext"), SASL_DC_MECH, 0, "PLAIN",
     SASL_SEC_NOPLAINTEXT, NULL, NULL, NULL, 0},
    {L("MECH\tANONYMOUS\tanonymous\tplaintext"), SASL_DC_MECH, 0, "ANONYMOUS",
     SASL_SEC_NOANONYMOUS | SASL_SEC_NOPLAINTEXT, NULL, NULL, NULL, 0},
    {L("MECH\tSCRAM-SHA-256\tmutual-auth\tdictionary"), SASL_DC_MECH, 0,
     "SCRAM-SHA-256", SASL_SEC_MUTUAL_AUTH | SASL_SEC_NODICTIONARY, NULL, NULL,
     NULL, 0},
    {L("MECH\tEXTERNAL\tprivate"), SASL_DC_MECH, 0, "EXTERNAL",
     SASL_SEC_PRIVATE, NULL, NULL, NULL, 0},
    {L("MECH\tCRAM-MD5"), SASL_DC_MECH, 0, "CRAM-MD5", 0, NULL, NULL, NULL, 0},
    {L("MECH"), SASL_DC_BAD, 0, NULL, 0, NULL, NULL, NULL, 0},
    {L("SPID\t18573"), SASL_DC_SPID, 0, NULL, 0, NULL, NULL, NULL, 0},
    {L("CUID\t1"), SASL_DC_OTHER, 0, NULL, 0, NULL, NULL, NULL, 0},
    {L("COOKIE\te60136a0b6ef8f759de1871663903f1b"), SASL_DC_OTHER, 0, NULL, 0,
     NULL, NULL, NULL, 0},
    {L("DONE"), SASL_DC_DONE, 0, NULL, 0, NULL, NULL, NULL, 0},
    {L("OK\t1\tuser=alice@minet.net"), SASL_DC_OK, 1, NULL, 0,
     "alice@minet.net", NULL, NULL, 0},
    {L("OK\t7"), SASL_DC_OK, 7, NULL, 0, NULL, NULL, NULL, 0},
    {L("CONT\t3\tVXNlcm5hbWU6"), SASL_DC_CONT, 3, NULL, 0, NULL, NULL,
     "VXNlcm5hbWU6", 0},
    {L("CONT\t3\t"), SASL_DC_CONT, 3, NULL, 0, NULL, NULL, "", 0},
    {L("CONT\t3"), SASL_DC_BAD, 3, NULL, 0, NULL, NULL, NULL, 0},
    {L("FAIL\t2\tuser=alice@minet.net"), SASL_DC_FAIL, 2, NULL, 0,
     "alice@minet.net", NULL, NULL, 0},
    {L("FAIL\t5\tuser=\toriginal_user="), SASL_DC_FAIL, 5, NULL, 0, "", NULL,
     NULL, 0},
    {L("FAIL\t4\treason=Password expired\ttemp"), SASL_DC_FAIL, 4, NULL, 0,
     NULL, "Password expired", NULL, 1},
    {L("FAIL\tx"), SASL_DC_BAD, 0, NULL, 0, NULL, NULL, NULL, 0},
    {L("FAIL"), SASL_DC_BAD, 0, NULL, 0, NULL, NULL, NULL, 0},
    /* Unprintable bytes become '?', as Postfix's printable(). */
    {L("OK\t9\tuser=a\x01\xe9z"), SASL_DC_OK, 9, NULL, 0, "a??z", NULL, NULL,
     0},
    {L("OK\t9\tuser=a\0b"), SASL_DC_OK, 9, NULL, 0, "a?b", NULL, NULL, 0},
    {L(""), SASL_DC_OTHER, 0, NULL, 0, NULL, NULL, NULL, 0},
    {L("ok\t1\tuser=x"), SASL_DC_OTHER, 0, NULL, 0, NULL, NULL, NULL, 0},
};

static void check_opt_str(const char *got, const char *want)
{
    if (want == NULL)
        ck_assert_ptr_null(got);
    else
        ck_assert_str_eq(got, want);
}

START_TEST(test_dc_parse)
{
    struct sasl_dc_line l;

    sasl_dc_parse(dc_cases[_i].in, dc_cases[_i].len, &l);
    ck_assert_int_eq(l.kind, dc_cases[_i].kind);
    if (l.kind == SASL_DC_VERSION)
        ck_assert_uint_eq(l.major, dc_cases[_i].num);
    if (l.kind == SASL_DC_OK || l.kind == SASL_DC_FAIL ||
        l.kind == SASL_DC_CONT)
        ck_assert_uint_eq(l.id, dc_cases[_i].num);
    if (l.kind == SASL_DC_MECH) {
        ck_assert_str_eq(l.mech, dc_cases[_i].mech);
        ck_assert_int_eq(l.props, dc_cases[_i].props);
    }
    check_opt_str(l.user, dc_cases[_i].user);
    check_opt_str(l.reason, dc_cases[_i].reason);
    check_opt_str(l.data, dc_cases[_i].data);
    ck_assert_int_eq(l.temp, dc_cases[_i].temp);
    sasl_dc_line_clear(&l);
}
END_TEST

START_TEST(test_dc_request)
{
    struct strbuf sb;

    strbuf_init(&sb);
    sasl_dc_auth_request(&sb, 1, "PLAIN", "smtp", "127.0.0.1", "127.0.0.10", 0,
                         "AGFsaWNlAHNlY3JldA==");
    ck_assert_str_eq(sb.buf,
                     "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0."
                     "0.1\trip=127.0.0.10\tresp=AGFsaWNlAHNlY3JldA==\n");
    strbuf_reset(&sb);
    sasl_dc_auth_request(&sb, 42, "LOGIN", "submission", "::1", "::1", 1, NULL);
    ck_assert_str_eq(sb.buf,
                     "AUTH\t42\tLOGIN\tservice=submission\tnologin\tlip=::1"
                     "\trip=::1\tsecured\n");
    strbuf_clear(&sb);
    ck_assert_int_eq(sasl_base64_valid("AGFsaWNlAHNlY3JldA=="), 1);
    ck_assert_int_eq(sasl_base64_valid(""), 1);
    ck_assert_int_eq(sasl_base64_valid("!!!"), 0);
    ck_assert_int_eq(sasl_base64_valid("YQ==\tuser=x"), 0);
}
END_TEST

/* smtpd_sasl_security_options against the mechanisms' properties. */
static const struct {
    const char *opts;
    int mech_props;
    int allowed; /* -1: the options do not parse */
} filter_cases[] = {
    {"noanonymous", SASL_SEC_NOPLAINTEXT, 1},
    {"noanonymous", SASL_SEC_NOANONYMOUS | SASL_SEC_NOPLAINTEXT, 0},
    {"noanonymous, noplaintext", SASL_SEC_NOPLAINTEXT, 0},
    {"noanonymous noplaintext", SASL_SEC_MUTUAL_AUTH, 1},
    {"", SASL_SEC_NOANONYMOUS, 1},
    {"mutual_auth", SASL_SEC_NODICTIONARY, 0},
    {"mutual_auth", SASL_SEC_MUTUAL_AUTH | SASL_SEC_NODICTIONARY, 1},
    {"NoDictionary", SASL_SEC_NODICTIONARY, 0},
    {"forward_secrecy,noactive", SASL_SEC_FWD_SECRECY, 1},
    {"noanonymous, nosuchthing", 0, -1},
    {"private", 0, -1}, /* Dovecot's word, not an option */
};

START_TEST(test_mech_filter)
{
    const char *bad = NULL;
    size_t badlen = 0;
    int opts = sasl_sec_opts_parse(filter_cases[_i].opts, &bad, &badlen);

    if (filter_cases[_i].allowed < 0) {
        ck_assert_int_lt(opts, 0);
        ck_assert_ptr_nonnull(bad);
        ck_assert_uint_gt(badlen, 0);
        return;
    }
    ck_assert_int_ge(opts, 0);
    ck_assert_int_eq(sasl_mech_allowed(filter_cases[_i].mech_props, opts),
                     filter_cases[_i].allowed);
}
END_TEST

START_TEST(test_defaults)
{
    ck_assert_str_eq(sasl_default("smtpd_sasl_security_options"),
                     "noanonymous");
    ck_assert_str_eq(sasl_default("smtpd_sasl_tls_security_options"),
                     "$smtpd_sasl_security_options");
    ck_assert_str_eq(sasl_default("smtpd_sasl_path"), "smtpd");
    ck_assert_ptr_null(sasl_default("myhostname"));
}
END_TEST

static Suite *sasl_suite(void)
{
    Suite *s = suite_create("sasl");
    TCase *tc = tcase_create("dovecot");

    tcase_add_loop_test(tc, test_dc_parse, 0,
                        sizeof(dc_cases) / sizeof(dc_cases[0]));
    tcase_add_test(tc, test_dc_request);
    tcase_add_loop_test(tc, test_mech_filter, 0,
                        sizeof(filter_cases) / sizeof(filter_cases[0]));
    tcase_add_test(tc, test_defaults);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sasl_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
