/*
 * test_lib.c — unit tests of lib/: strings, addresses and networks, SMTP
 * codecs, main.cf parsing and expansion, lookup tables.
 */
#include <check.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mxlab/clock.h"
#include "mxlab/config.h"
#include "mxlab/fsutil.h"
#include "mxlab/map.h"
#include "mxlab/netaddr.h"
#include "mxlab/smtp.h"
#include "mxlab/strutil.h"
#include "mxlab/tlsutil.h"
#include "mxlab/xmem.h"

static const struct {
    const char *pattern, *s;
    int match;
} glob_cases[] = {
    {"250 *", "250 2.0.0 Ok: queued as ABC", 1},
    {"250 *", "251 x", 0},
    {"*Relay access denied", "454 4.7.1 <a@b>: Relay access denied", 1},
    {"2?0 Ok", "250 Ok", 1},
    {"a\\*b", "a*b", 1},
    {"a\\*b", "axb", 0},
    {"", "", 1},
    {"*", "", 1},
    {"abc", "abcd", 0},
};

START_TEST(test_glob)
{
    ck_assert_int_eq(str_glob(glob_cases[_i].pattern, glob_cases[_i].s),
                     glob_cases[_i].match);
}
END_TEST

static const struct {
    const char *arg;
    int strict;
    enum smtp_path_status st;
    const char *addr, *params;
} path_cases[] = {
    {"<a@b.c>", 0, SMTP_PATH_OK, "a@b.c", ""},
    {" monadresse@mondomaine.tld", 0, SMTP_PATH_OK, "monadresse@mondomaine.tld",
     ""},
    {" monadresse@mondomaine.tld", 1, SMTP_PATH_SYNTAX, NULL, NULL},
    {"<>", 0, SMTP_PATH_OK, "", ""},
    {"<a@b> SIZE=100 BODY=8BITMIME", 0, SMTP_PATH_OK, "a@b",
     "SIZE=100 BODY=8BITMIME"},
    {"<@relay.example,@r2.example:u@d.example>", 0, SMTP_PATH_OK, "u@d.example",
     ""},
    {"<\"quoted >local\"@d>", 0, SMTP_PATH_OK, "\"quoted >local\"@d", ""},
    {"<a@b", 0, SMTP_PATH_SYNTAX, NULL, NULL},
    {"", 0, SMTP_PATH_MISSING, NULL, NULL},
    {"a<b@c", 0, SMTP_PATH_SYNTAX, NULL, NULL},
};

START_TEST(test_parse_path)
{
    char addr[SMTP_PATH_MAX];
    const char *params = NULL;
    enum smtp_path_status st = smtp_parse_path(
        path_cases[_i].arg, path_cases[_i].strict, addr, sizeof(addr), &params);

    ck_assert_int_eq(st, path_cases[_i].st);
    if (path_cases[_i].addr != NULL) {
        ck_assert_str_eq(addr, path_cases[_i].addr);
        ck_assert_str_eq(params, path_cases[_i].params);
    }
}
END_TEST

START_TEST(test_path_too_long)
{
    char arg[600], addr[SMTP_PATH_MAX];

    memset(arg, 'a', sizeof(arg) - 1);
    arg[0] = '<';
    arg[sizeof(arg) - 2] = '>';
    arg[sizeof(arg) - 1] = '\0';
    ck_assert_int_eq(smtp_parse_path(arg, 0, addr, sizeof(addr), NULL),
                     SMTP_PATH_TOO_LONG);
}
END_TEST

START_TEST(test_reply_code)
{
    int last = -1;

    ck_assert_int_eq(smtp_reply_code("250-PIPELINING", &last), 250);
    ck_assert_int_eq(last, 0);
    ck_assert_int_eq(smtp_reply_code("421 4.7.0 bye", &last), 421);
    ck_assert_int_eq(last, 1);
    ck_assert_int_eq(smtp_reply_code("220", &last), 220);
    ck_assert_int_eq(smtp_reply_code("2x0 no", &last), -1);
    ck_assert_int_eq(smtp_reply_code("250x", &last), -1);
    ck_assert_int_eq(smtp_reply_code("099 low", &last), -1);
}
END_TEST

static const struct {
    const char *net, *ip;
    int ok, match;
} cidr_cases[] = {
    {"127.0.0.0/8", "127.168.2.253", 1, 1},
    /* Just outside loopback: needs a non-loopback address by nature. */
    {"127.0.0.0/8", "128.0.0.1", 1, 0},
    {"127.195.130.0/25", "127.195.130.127", 1, 1},
    {"127.195.130.0/25", "127.195.130.128", 1, 0},
    {"127.191.250.2", "127.191.250.2", 1, 1},
    {"[::1]/128", "::1", 1, 1},
    {"[2002:8ac3:8000::]/35", "2002:8ac3:9fff::1", 1, 1},
    {"[2002:8ac3:8000::]/35", "2002:8ac3:a000::1", 1, 0},
    {"127.10.0.0/33", "127.10.0.1", 0, 0},
    {"bogus/8", "127.10.0.1", 0, 0},
    {"127.0.0.0/8", "::ffff:127.0.0.1", 1, 1},
};

START_TEST(test_cidr)
{
    struct cidr c;
    struct netaddr na;
    int rc = cidr_parse(cidr_cases[_i].net, &c);

    ck_assert_int_eq(rc == 0, cidr_cases[_i].ok);
    if (rc == 0) {
        ck_assert_int_eq(netaddr_parse(cidr_cases[_i].ip, 0, &na), 0);
        ck_assert_int_eq(cidr_match(&c, &na), cidr_cases[_i].match);
    }
}
END_TEST

START_TEST(test_netaddr)
{
    struct netaddr na;
    char buf[64];

    ck_assert_int_eq(netaddr_parse("127.0.0.53:5353", 53, &na), 0);
    ck_assert_str_eq(netaddr_str(&na, buf, sizeof(buf)), "127.0.0.53:5353");
    ck_assert_int_eq(netaddr_parse("127.0.0.1", 25, &na), 0);
    ck_assert_int_eq(netaddr_port(&na), 25);
    ck_assert_int_eq(netaddr_parse("[::1]:2525", 25, &na), 0);
    ck_assert_str_eq(netaddr_str(&na, buf, sizeof(buf)), "[::1]:2525");
    ck_assert_int_eq(netaddr_parse("::1", 25, &na), 0);
    ck_assert_int_eq(netaddr_parse("127.0.0.1:99999", 25, &na), -1);
    ck_assert_int_eq(netaddr_parse("host.example:25", 25, &na), -1);
    ck_assert_int_eq(netaddr_parse("[::1", 25, &na), -1);
}
END_TEST

START_TEST(test_config_parse)
{
    struct config *cf = config_new();
    char err[256] = "";
    const char *text = "# comment\n"
                       "myhostname = sulfura.via.ecp.fr\n"
                       "mydomain = via.ecp.fr\n"
                       "mydestination = $myhostname, sulfura,\n"
                       "  localhost.$mydomain, localhost\n"
                       "# a comment inside does not end the value\n"
                       "  localhost.localdomain\n"
                       "relay_domains = ${mydestination}, $(mydomain)\n"
                       "a = ${mydomain?yes}${nothing?no}${nothing:empty}\n"
                       "b = ${stress?{1}:{20}}/${mydomain?{x}:{y}}/"
                       "${nothing:{e}}/${mydomain:{f}}\n"
                       "relay_recipient_maps =\n";

    ck_assert_int_eq(config_load_text(cf, "main.cf", text, err, sizeof(err)),
                     0);
    ck_assert_str_eq(config_get(cf, "mydestination"),
                     "sulfura.via.ecp.fr, sulfura, localhost.via.ecp.fr, "
                     "localhost localhost.localdomain");
    ck_assert_str_eq(config_get(cf, "relay_domains"),
                     "sulfura.via.ecp.fr, sulfura, localhost.via.ecp.fr, "
                     "localhost localhost.localdomain, via.ecp.fr");
    ck_assert_str_eq(config_get(cf, "a"), "yesempty");
    /* Postfix 3.0's forms with braces. */
    ck_assert_str_eq(config_get(cf, "b"), "20/x/e/");
    ck_assert_str_eq(config_get(cf, "relay_recipient_maps"), "");
    ck_assert(config_is_set(cf, "relay_recipient_maps"));
    ck_assert_str_eq(config_where(cf, "mydestination"), "main.cf:4");
    config_set_default(cf, "queue_run_delay", "300s");
    ck_assert_int_eq(config_get_time(cf, "queue_run_delay", 's', NULL, 0), 300);
    config_set(cf, "queue_run_delay", "2m");
    ck_assert_int_eq(config_get_time(cf, "queue_run_delay", 's', NULL, 0), 120);
    config_set(cf, "queue_run_delay", "2x");
    ck_assert_int_eq(
        config_get_time(cf, "queue_run_delay", 's', err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "queue_run_delay"));
    config_free(cf);
}
END_TEST

/* A value borrowed from config_get() stays valid while it is stored. */
START_TEST(test_config_set_borrowed)
{
    struct config *cf = config_new();

    config_set(cf, "myhostname", "relais.hebergee.com");
    config_set_default(cf, "mydomain",
                       strchr(config_get(cf, "myhostname"), '.') + 1);
    ck_assert_str_eq(config_get(cf, "mydomain"), "hebergee.com");
    config_set(cf, "myorigin", config_get(cf, "mydomain"));
    ck_assert_str_eq(config_get(cf, "myorigin"), "hebergee.com");
    config_free(cf);
}
END_TEST

/* Expansion as Postfix bounds it: a recursion is an error named as
 * Postfix names it, a fan-out of names is expanded once per name (fast)
 * and cut at 1 MiB, and times are range-checked. */
START_TEST(test_config_expand_bounds)
{
    struct config *cf = config_new();
    char err[256] = "";
    struct strbuf text;

    ck_assert_int_eq(config_load_text(cf, "main.cf",
                                      "myhostname = $myhostname $myhostname\n",
                                      err, sizeof(err)),
                     0);
    ck_assert_int_eq(config_check(cf, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "main.cf:1: parameter myhostname: unreasonable "
                          "macro call nesting: \"myhostname\"");
    config_free(cf);

    cf = config_new();
    config_load_text(cf, "main.cf", "x = 1\na = $b\nb = ${a?{$x}}\n", err,
                     sizeof(err));
    ck_assert_int_eq(config_check(cf, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "main.cf:2: parameter a: unreasonable"));
    config_free(cf);

    /* 12 levels of fan-out 4: 4^12 references, 16 MiB if expanded. */
    strbuf_init(&text);
    strbuf_puts(&text, "p0 = xy\n");
    for (int i = 1; i <= 12; i++)
        strbuf_printf(&text, "p%d = $p%d $p%d $p%d $p%d\n", i, i - 1, i - 1,
                      i - 1, i - 1);
    cf = config_new();
    config_load_text(cf, "main.cf", text.buf, err, sizeof(err));
    ck_assert_str_eq(config_get(cf, "p2"), "xy xy xy xy xy xy xy xy xy xy xy "
                                           "xy xy xy xy xy");
    ck_assert_int_eq(config_check(cf, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "expansion longer than 1048576 bytes"));
    ck_assert_uint_le(strlen(config_get(cf, "p12")), 2 * 1024 * 1024);
    config_free(cf);
    strbuf_clear(&text);

    cf = config_new();
    config_load_text(cf, "main.cf",
                     "smtpd_timeout = 88888888888888888d\n"
                     "a_timeout = 1067519911673w\nb_time = 366d\n"
                     "c_time = 367d\n",
                     err, sizeof(err));
    ck_assert_int_eq(config_check(cf, err, sizeof(err)), 0);
    ck_assert_int_eq(
        config_get_time(cf, "smtpd_timeout", 's', err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "main.cf:1: bad time value"));
    ck_assert_int_eq(config_get_time(cf, "a_timeout", 's', err, sizeof(err)),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "more than a year"));
    ck_assert_int_eq(config_get_time(cf, "b_time", 's', NULL, 0), 366 * 86400);
    ck_assert_int_eq(config_get_time(cf, "c_time", 's', NULL, 0), -1);
    config_free(cf);
}
END_TEST

static const struct {
    const char *text, *err;
} config_errors[] = {
    {"  continued = x\n", "main.cf:1: continuation line without"},
    {"a = 1\nno equals sign here\n",
     "main.cf:2: missing '=' after attribute name: \"no equals sign here\""},
    /* Seed 000 as printed: the list lost its indentation. */
    {"smtpd_recipient_restrictions =\nreject_invalid_hostname,\n",
     "main.cf:2: missing '=' after attribute name: "
     "\"reject_invalid_hostname,\""},
    {"= 3\n", "main.cf:1: missing parameter name"},
    {"bad-name = 3\n", "main.cf:1: bad parameter name \"bad-name\""},
};

START_TEST(test_config_errors)
{
    struct config *cf = config_new();
    char err[256] = "";

    ck_assert_int_eq(config_load_text(cf, "main.cf", config_errors[_i].text,
                                      err, sizeof(err)),
                     -1);
    ck_assert_msg(
        strncmp(err, config_errors[_i].err, strlen(config_errors[_i].err)) == 0,
        "got \"%s\"", err);
    config_free(cf);
}
END_TEST

static char *write_temp(const char *text)
{
    char tmpl[] = "/tmp/mxlab-test-XXXXXX";
    int fd = mkstemp(tmpl);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return xstrdup(tmpl);
}

START_TEST(test_map_hash)
{
    char err[256] = "";
    char *path = write_temp("# the virtual file of seed 000\n"
                            "social@hebergee.com pomme@mail.xxx.dyndns.com, "
                            "poire@mail.xxx.dyndns.com\n"
                            "abuse@hebergee.com contact@ladministrateur.com\n"
                            "@hebergee.com @mail.xxx.dyndns.com\n"
                            "Long@Example.COM first,\n"
                            "   second\n"
                            "long@example.com duplicate\n");
    char *spec = xasprintf("hash:%s", path);
    struct map *m = map_open(spec, NULL, err, sizeof(err));

    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_str_eq(map_lookup(m, "social@hebergee.com"),
                     "pomme@mail.xxx.dyndns.com, poire@mail.xxx.dyndns.com");
    ck_assert_str_eq(map_lookup(m, "SOCIAL@Hebergee.com"),
                     "pomme@mail.xxx.dyndns.com, poire@mail.xxx.dyndns.com");
    ck_assert_str_eq(map_lookup(m, "@hebergee.com"), "@mail.xxx.dyndns.com");
    ck_assert_str_eq(map_lookup(m, "long@example.com"), "first, second");
    ck_assert_ptr_null(map_lookup(m, "nobody@hebergee.com"));
    map_free(m);
    unlink(path);
    free(path);
    free(spec);
}
END_TEST

START_TEST(test_map_errors)
{
    char err[256] = "";
    char *path = write_temp("ok value\nlonely\n");
    char *spec = xasprintf("texthash:%s", path);
    char *want = xasprintf("%s:2: expected format", path);

    ck_assert_ptr_null(map_open(spec, NULL, err, sizeof(err)));
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got \"%s\"", err);
    unlink(path);
    free(path);
    free(spec);
    free(want);
    path = write_temp("  indented first\nok value\n");
    spec = xasprintf("hash:%s", path);
    want = xasprintf("%s:1: continuation line without a key", path);
    ck_assert_ptr_null(map_open(spec, NULL, err, sizeof(err)));
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got \"%s\"", err);
    ck_assert_ptr_null(map_open("nosuchtype:/x", NULL, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "unsupported lookup table type"));
    ck_assert_ptr_null(map_open("hash:/nonexistent/x", NULL, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x"));
    unlink(path);
    free(path);
    free(spec);
    free(want);
}
END_TEST

START_TEST(test_map_inline_cidr)
{
    char err[256] = "";
    struct map *m = map_open("inline:{ a=1, { b = two words }, C=3 }", NULL,
                             err, sizeof(err));
    char *path = write_temp("127.1.0.0/16 OK\n127.10.0.0/16 REJECT go away\n");
    char *spec = xasprintf("cidr:%s", path);
    struct map *c;

    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_str_eq(map_lookup(m, "a"), "1");
    ck_assert_str_eq(map_lookup(m, "b"), "two words");
    ck_assert_str_eq(map_lookup(m, "c"), "3");
    map_free(m);
    c = map_open(spec, NULL, err, sizeof(err));
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(map_lookup(c, "127.1.2.3"), "OK");
    ck_assert_str_eq(map_lookup(c, "127.10.9.9"), "REJECT go away");
    ck_assert_ptr_null(map_lookup(c, "127.0.2.1"));
    map_free(c);
    unlink(path);
    free(path);
    free(spec);
}
END_TEST

static void dump_entry(void *arg, const char *key, const char *value)
{
    strbuf_printf(arg, "%s=%s;", key, value);
}

START_TEST(test_map_aliases_passwd)
{
    char err[256] = "";
    /* Seed 001's /etc/aliases entry, a list continued on the next line. */
    char *path = write_temp("# /etc/aliases\n"
                            "Valentin.Roussellet: louen\n"
                            "liste: louen,\n"
                            "  ext@remote.example\n"
                            "\"quoted name\": root\n");
    char *spec = xasprintf("hash:%s", path);
    struct map *m = map_open_flags(spec, NULL, MAP_ALIASES, err, sizeof(err));

    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_str_eq(map_lookup(m, "valentin.roussellet"), "louen");
    ck_assert_str_eq(map_lookup(m, "liste"), "louen, ext@remote.example");
    ck_assert_str_eq(map_lookup(m, "quoted name"), "root");
    map_free(m);
    unlink(path);
    free(path);
    free(spec);

    path = write_temp("louen value without colon\n");
    spec = xasprintf("texthash:%s", path);
    char *want = xasprintf("%s:1: need name:value pair", path);
    ck_assert_ptr_null(
        map_open_flags(spec, NULL, MAP_ALIASES, err, sizeof(err)));
    ck_assert_str_eq(err, want);
    unlink(path);
    free(path);
    free(spec);
    free(want);

    path = write_temp("root:x:0:0:root:/root:/bin/sh\n"
                      "louen:x:60001:60001::/home/louen:/bin/sh\n");
    map_set_passwd_file(path);
    m = map_open("proxy:unix:passwd.byname", NULL, err, sizeof(err));
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_str_eq(map_lookup(m, "LOUEN"),
                     "louen:x:60001:60001::/home/louen:/bin/sh");
    ck_assert_ptr_null(map_lookup(m, "valentin"));
    map_free(m);
    map_set_passwd_file(NULL);
    unlink(path);
    free(path);
    m = map_open("inline:{ b=2, a=1 }", NULL, err, sizeof(err));
    struct strbuf dump;
    strbuf_init(&dump);
    map_each(m, dump_entry, &dump);
    ck_assert_str_eq(dump.buf, "a=1;b=2;");
    strbuf_clear(&dump);
    map_free(m);
    m = map_open("nis:mail.aliases", NULL, err, sizeof(err));
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_ptr_null(map_lookup(m, "root"));
    map_free(m);
    ck_assert_ptr_null(map_open("unix:group.byname", NULL, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "only passwd.byname"));
}
END_TEST

/* A table of type holding text does not open, with want in the error. */
static void assert_map_refused(const char *type, const char *text,
                               const char *want)
{
    char err[256] = "", *path = write_temp(text);
    char *spec = xasprintf("%s:%s", type, path);

    ck_assert_ptr_null(map_open(spec, NULL, err, sizeof(err)));
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    unlink(path);
    free(path);
    free(spec);
}

START_TEST(test_map_regexp)
{
    char err[256] = "";
    char *path = write_temp("# regexp_table(5)\n"
                            "/^(.*)@spam\\.example$/ REJECT spam from $1\n"
                            "if /@example\\.org$/\n"
                            "/^postmaster@/ OK\n"
                            "!/^abuse@/ DUNNO\n"
                            "endif\n"
                            "/^casesensitive@/i FOUND\n"
                            "/^abuse@example\\.org$/ REJECT\n");
    char *spec = xasprintf("regexp:%s", path);
    struct map *m = map_open(spec, NULL, err, sizeof(err));

    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_str_eq(map_lookup(m, "Joe@SPAM.example"), "REJECT spam from joe");
    ck_assert_str_eq(map_lookup(m, "postmaster@example.org"), "OK");
    ck_assert_str_eq(map_lookup(m, "joe@example.org"), "DUNNO");
    ck_assert_str_eq(map_lookup(m, "abuse@example.org"), "REJECT");
    ck_assert_ptr_null(map_lookup(m, "postmaster@example.net"));
    /* Keys are folded: a case-sensitive lowercase pattern still matches. */
    ck_assert_str_eq(map_lookup(m, "CaseSensitive@x"), "FOUND");
    map_free(m);
    unlink(path);
    free(path);
    free(spec);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"/unclosed REJECT\n", ":1: missing closing /"},
        {"/a/ REJECT\n/b/\n", ":2: no result after the pattern"},
        {"endif\n", ":1: endif without if"},
        {"/(/ REJECT\n", ":1: bad regular expression"},
        {"/a/q REJECT\n", ":1: unknown regexp flag 'q'"},
    };
    /* regexp: patterns whose glibc automaton would take gigabytes. */
    static const struct {
        const char *text, *want;
    } huge[] = {
        {"/(.*++++++++)@x/ REJECT\n", ":1: regular expression refused: "
                                      "adjacent repetition operators"},
        {"/(((((((((((a+)+)+)+)+)+)+)+)+)+)+)/ REJECT\n",
         ":1: regular expression refused: too many repetitions"},
        {"/a{3000}/ REJECT\n", ":1: regular expression refused: too many"},
        {"/((((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))"
         ")/"
         " DEEP\n",
         ":1: regular expression refused: groups nested too deeply"},
        {"/a\\{3000\\}/x REJECT\n", ":1: regular expression refused"},
        {"/(a{40}){40}/ A\n/(b{40}){40}/ B\n/(c{40}){40}/ C\n"
         "/(d{40}){40}/ D\n/(e{40}){40}/ E\n/(f{40}){40}/ F\n"
         "/(g{40}){40}/ G\n/(h{40}){40}/ H\n/(i{40}){40}/ I\n"
         "/(j{40}){40}/ J\n/(k{40}){40}/ K\n/(l{40}){40}/ L\n"
         "/(m{40}){40}/ M\n",
         ":13: regular expression refused: the table's expressions"},
    };
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++)
        assert_map_refused("regexp", huge[i].text, huge[i].want);
    /* What real tables write still compiles. */
    path = write_temp("/^(.*?)@x$/ LAZY $1\n"
                      "/^[0-9]{1,3}(\\.[0-9]{1,3}){3}$/ IP\n"
                      "/^(a{40}){40}$/ BIG\n");
    spec = xasprintf("regexp:%s", path);
    struct map *ok = map_open(spec, NULL, err, sizeof(err));
    ck_assert_msg(ok != NULL, "%s", err);
    ck_assert_str_eq(map_lookup(ok, "127.0.0.1"), "IP");
    ck_assert_str_eq(map_lookup(ok, "joe@x"), "LAZY joe");
    map_free(ok);
    unlink(path);
    free(path);
    free(spec);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_map_refused("pcre", bad[i].text, bad[i].want);
    path = write_temp("if /a/\n/b/ X\n");
    spec = xasprintf("regexp:%s", path);
    ck_assert_ptr_null(map_open(spec, NULL, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "without endif"));
    unlink(path);
    free(path);
    free(spec);
}
END_TEST

/* pcre: through PCRE2 with pcre_table(5)'s flags, against regexp: (POSIX)
 * on the same line: what Postfix answers for each (postmap -q on Postfix
 * 3.7.11 with postfix-pcre, on keys already in lower case as access
 * lookups fold them). NULL: no match, or for regexp: a table that does
 * not compile (Postfix skips such a rule). */
static const struct {
    const char *rule, *key, *pcre, *regexp;
} pcre_cases[] = {
    {"/^\\d+@/ NUMERIC", "123@example.com", "NUMERIC", NULL},
    {"/(?i)^abc@/ CI", "abc@x", "CI", NULL},
    {"/^(\\w+)\\.(\\w+)@/ $2-$1", "john.doe@x", "doe-john", "doe-john"},
    {"/^ABC$/ FOLDED", "ABC", "FOLDED", "FOLDED"},
    {"/^ABC$/i EXACT", "ABC", NULL, NULL}, /* keys are folded */
    {"/^a.b$/ DOT", "a\nb", "DOT", "DOT"},
    {"/^a.b$/s NODOT", "a\nb", NULL, NULL},
    {"/^a$/m LINE", "x\na", "LINE", "LINE"},
    {"/^a b c$/x EXT", "abc", "EXT", NULL},
    {"/^(.*)@/U $1", "a@b@c", "a", NULL},
    {"/^(.*)@/ $1", "a@b@c", "a@b", "a@b"},
    {"/b/A ANCH", "ab", NULL, NULL},
    {"/b/A ANCH", "ba", "ANCH", NULL},
    {"/a$/E END", "a\n", NULL, NULL},
    {"/a$/ END", "a\n", "END", NULL},
    {"/a/X OBSOLETE", "a", "OBSOLETE", NULL},
    {"!/^\\d/ NOTDIGIT", "x1", "NOTDIGIT", "NOTDIGIT"},
    {"/^(a)|(b)$/ [$1$2]", "b", "[b]", "[b]"},
};

START_TEST(test_map_pcre)
{
    char err[256] = "";
    char *text = xasprintf("%s\n", pcre_cases[_i].rule);
    char *path = write_temp(text);
    const char *want[2] = {pcre_cases[_i].pcre, pcre_cases[_i].regexp};
    const char *types[2] = {"pcre", "regexp"};

    for (int t = 0; t < 2; t++) {
        char *spec = xasprintf("%s:%s", types[t], path);
        struct map *m = map_open(spec, NULL, err, sizeof(err));
        const char *v = m ? map_lookup(m, pcre_cases[_i].key) : NULL;
        if (t == 0)
            ck_assert_msg(m != NULL, "%s", err);
        if (want[t] == NULL)
            ck_assert_msg(v == NULL, "%s %s: %s", types[t], pcre_cases[_i].rule,
                          v);
        else
            ck_assert_msg(v != NULL && strcmp(v, want[t]) == 0, "%s %s: %s",
                          types[t], pcre_cases[_i].rule, v ? v : "(none)");
        map_free(m);
        free(spec);
    }
    unlink(path);
    free(path);
    free(text);
}
END_TEST

START_TEST(test_strbuf_put_json)
{
    struct strbuf sb;
    /* quote, backslash, CR LF TAB, a NUL, valid UTF-8 (é), a lone 0xff */
    const char in[] = "a\"b\\c\r\n\t\0\xc3\xa9\xff";

    strbuf_init(&sb);
    strbuf_put_json(&sb, in, sizeof(in) - 1);
    ck_assert_str_eq(sb.buf, "\"a\\\"b\\\\c\\r\\n\\t\\u0000\xc3\xa9\\u00ff\"");
    strbuf_clear(&sb);
}
END_TEST

START_TEST(test_strlist_split)
{
    struct strlist l;

    strlist_init(&l);
    strlist_split(&l, "permit_mynetworks,\n reject_rbl_client cbl.abuseat.org,"
                      " check_sender_access inline:{ a=OK, b=REJECT }");
    ck_assert_int_eq(l.n, 5);
    ck_assert_str_eq(l.v[1], "reject_rbl_client");
    ck_assert_str_eq(l.v[4], "inline:{ a=OK, b=REJECT }");
    strlist_clear(&l);
}
END_TEST

/* A generated certificate: PEM key then certificate, subject and
 * subjectAltName the CN asked for, the key of the type asked for. */
START_TEST(test_tls_selfsigned)
{
    EVP_PKEY *key = NULL;
    X509 *crt = NULL;
    struct strbuf pem;
    char err[256] = "", cn[64] = "";

    ck_assert_int_eq(tls_selfsigned("mx.example.org",
                                    _i ? TLS_KEY_RSA : TLS_KEY_EC, &key, &crt,
                                    err, sizeof(err)),
                     0);
    ck_assert_int_eq(X509_check_private_key(crt, key), 1);
    ck_assert_int_eq(EVP_PKEY_get_base_id(key),
                     _i ? EVP_PKEY_RSA : EVP_PKEY_EC);
    ck_assert_int_eq(EVP_PKEY_get_bits(key), _i ? 2048 : 256);
    X509_NAME_get_text_by_NID(X509_get_subject_name(crt), NID_commonName, cn,
                              sizeof(cn));
    ck_assert_str_eq(cn, "mx.example.org");
    ck_assert_int_eq(X509_check_host(crt, "mx.example.org", 0, 0, NULL), 1);
    strbuf_init(&pem);
    tls_pem(&pem, key, crt);
    ck_assert_ptr_nonnull(strstr(pem.buf, "-----BEGIN PRIVATE KEY-----"));
    ck_assert_ptr_nonnull(strstr(pem.buf, "-----BEGIN CERTIFICATE-----"));
    ck_assert(strstr(pem.buf, "PRIVATE KEY") < strstr(pem.buf, "CERTIFICATE"));
    strbuf_clear(&pem);
    EVP_PKEY_free(key);
    X509_free(crt);
}
END_TEST

/* Date: header dates as Postfix writes them (RFC 5322 section 3.3). */
START_TEST(test_clock_date)
{
    char buf[64], small[8];

    setenv("TZ", "UTC", 1);
    tzset();
    clock_date(1795424386, buf, sizeof(buf));
    ck_assert_str_eq(buf, "Mon, 23 Nov 2026 08:59:46 +0000 (UTC)");
    clock_date(1795424386 - 21 * 86400, buf, sizeof(buf));
    ck_assert_str_eq(buf, "Mon,  2 Nov 2026 08:59:46 +0000 (UTC)");
    clock_date(1795424386, small, sizeof(small));
    ck_assert_str_eq(small, "");
}
END_TEST

START_TEST(test_fs_write_atomic)
{
    char dir[] = "/tmp/mxlab-fs-XXXXXX";
    char *path, *data;
    size_t len;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    path = xasprintf("%s/a/b/c", dir);
    ck_assert_int_eq(fs_mkdir_p(path, 0700), 0);
    free(path);
    path = xasprintf("%s/a/file", dir);
    ck_assert_int_eq(fs_write_atomic(path, "hello", 5), 0);
    ck_assert_int_eq(fs_read_file(path, &data, &len), 0);
    ck_assert_int_eq(len, 5);
    ck_assert_str_eq(data, "hello");
    free(data);
    free(path);
    ck_assert_int_eq(fs_rm_rf(dir), 0);
    ck_assert_int_eq(access(dir, F_OK), -1);
}
END_TEST

static Suite *lib_suite(void)
{
    Suite *s = suite_create("lib");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_glob, 0,
                        sizeof(glob_cases) / sizeof(glob_cases[0]));
    tcase_add_loop_test(tc, test_parse_path, 0,
                        sizeof(path_cases) / sizeof(path_cases[0]));
    tcase_add_test(tc, test_path_too_long);
    tcase_add_test(tc, test_reply_code);
    tcase_add_loop_test(tc, test_cidr, 0,
                        sizeof(cidr_cases) / sizeof(cidr_cases[0]));
    tcase_add_test(tc, test_netaddr);
    tcase_add_test(tc, test_config_parse);
    tcase_add_test(tc, test_config_set_borrowed);
    tcase_add_test(tc, test_config_expand_bounds);
    tcase_add_loop_test(tc, test_config_errors, 0,
                        sizeof(config_errors) / sizeof(config_errors[0]));
    tcase_add_test(tc, test_map_hash);
    tcase_add_test(tc, test_map_errors);
    tcase_add_test(tc, test_map_inline_cidr);
    tcase_add_test(tc, test_map_aliases_passwd);
    tcase_add_test(tc, test_map_regexp);
    tcase_add_loop_test(tc, test_map_pcre, 0,
                        sizeof(pcre_cases) / sizeof(pcre_cases[0]));
    tcase_add_test(tc, test_strbuf_put_json);
    tcase_add_test(tc, test_strlist_split);
    tcase_add_test(tc, test_fs_write_atomic);
    tcase_add_test(tc, test_clock_date);
    tcase_add_loop_test(tc, test_tls_selfsigned, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lib_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
