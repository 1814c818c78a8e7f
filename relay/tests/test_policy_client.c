/*
 * test_policy_client.c — unit tests of the policy delegation codec
 * (policy_client.c, Postfix's SMTPD_POLICY_README): the request's
 * attributes in Postfix 3.7's order with the empty line that ends it, a
 * value cut at CR/LF, and the reply's action= (first one, CRLF ends,
 * missing action).
 */
#include <check.h>
#include <string.h>

#include "mxlab/xmem.h"
#include "policy_client.h"

START_TEST(test_request)
{
    struct policy_attrs a;
    struct strbuf sb;

    memset(&a, 0, sizeof(a));
    a.protocol_state = "RCPT";
    a.protocol_name = "ESMTP";
    a.helo_name = "mail.outside.example";
    a.sender = "a@outside.example";
    a.recipient = "membre@minet.net\r\nrecipient=evil@x";
    a.recipient_count = 2;
    a.client_address = "127.0.0.20";
    a.client_name = "unknown";
    a.instance = "1.2.3.0";
    a.sasl_username = "alice@minet.net";
    a.server_port = 25;
    strbuf_init(&sb);
    policy_client_request(&sb, &a, "submission");
    ck_assert_str_eq(sb.buf, "request=smtpd_access_policy\n"
                             "protocol_state=RCPT\n"
                             "protocol_name=ESMTP\n"
                             "helo_name=mail.outside.example\n"
                             "queue_id=\n"
                             "sender=a@outside.example\n"
                             "recipient=membre@minet.net\n"
                             "recipient_count=2\n"
                             "client_address=127.0.0.20\n"
                             "client_name=unknown\n"
                             "reverse_client_name=\n"
                             "instance=1.2.3.0\n"
                             "sasl_method=\n"
                             "sasl_username=alice@minet.net\n"
                             "sasl_sender=\n"
                             "size=0\n"
                             "ccert_subject=\n"
                             "ccert_issuer=\n"
                             "ccert_fingerprint=\n"
                             "ccert_pubkey_fingerprint=\n"
                             "encryption_protocol=\n"
                             "encryption_cipher=\n"
                             "encryption_keysize=0\n"
                             "etrn_domain=\n"
                             "stress=\n"
                             "server_address=\n"
                             "server_port=25\n"
                             "policy_context=submission\n"
                             "compatibility_level=3.6\n"
                             "mail_version=3.7.11\n"
                             "\n");
    strbuf_clear(&sb);
}
END_TEST

/* A reply, line by line: the action it ends with (NULL: not ended). */
static const struct {
    const char *lines[4];
    const char *action;
} reply_cases[] = {
    {{"action=DUNNO", "", NULL}, "DUNNO"},
    {{"action=DEFER_IF_PERMIT 4.2.0 Greylisted, see x", "", NULL},
     "DEFER_IF_PERMIT 4.2.0 Greylisted, see x"},
    {{"action=PREPEND X-Greylist: delayed 3 seconds\r", "\r", NULL},
     "PREPEND X-Greylist: delayed 3 seconds"},
    {{"foo=bar", "action=550 5.7.23 SPF fail", "action=OK", ""},
     "550 5.7.23 SPF fail"},
    {{"foo=bar", "", NULL}, ""},
    {{"action=DUNNO", NULL}, NULL},
    {{"actionx=OK", "", NULL}, ""},
};

START_TEST(test_reply)
{
    struct policy_reply r = {NULL};
    int end = 0;

    for (int k = 0; k < 4 && reply_cases[_i].lines[k] != NULL; k++) {
        ck_assert_int_eq(end, 0);
        end = policy_reply_line(&r, reply_cases[_i].lines[k],
                                strlen(reply_cases[_i].lines[k]));
    }
    if (reply_cases[_i].action == NULL) {
        ck_assert_int_eq(end, 0);
    } else {
        ck_assert_int_eq(end, 1);
        ck_assert_str_eq(r.action, reply_cases[_i].action);
    }
    policy_reply_clear(&r);
}
END_TEST

START_TEST(test_defaults)
{
    ck_assert_str_eq(policy_client_default("smtpd_policy_service_timeout"),
                     "100s");
    ck_assert_str_eq(
        policy_client_default("smtpd_policy_service_default_action"),
        "451 4.3.5 Server configuration problem");
    ck_assert_str_eq(policy_client_default("smtpd_policy_service_try_limit"),
                     "2");
    ck_assert_ptr_null(policy_client_default("smtpd_timeout"));
}
END_TEST

static Suite *policy_client_suite(void)
{
    Suite *s = suite_create("policy_client");
    TCase *tc = tcase_create("codec");

    tcase_add_test(tc, test_request);
    tcase_add_loop_test(tc, test_reply, 0,
                        sizeof(reply_cases) / sizeof(reply_cases[0]));
    tcase_add_test(tc, test_defaults);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(policy_client_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
