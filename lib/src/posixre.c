/*
 * posixre.c — a bound on what glibc's regcomp() builds for a POSIX
 * regular expression (regexp: tables, scenario S~ and S! lines): the
 * copies its repetitions make are counted before it is compiled.
 */
#include "mxlab/posixre.h"

#include <string.h>

#define POSIXRE_DEPTH_MAX 32

struct posixre_cost {
    unsigned long sum[POSIXRE_DEPTH_MAX], last[POSIXRE_DEPTH_MAX];
    int depth, after_dup;
};

static void posixre_atom(struct posixre_cost *c, unsigned long k)
{
    c->sum[c->depth] += k;
    c->last[c->depth] = k;
    c->after_dup = 0;
}

/* A repetition operator that makes f copies of the last atom (soft: '*'
 * or '?', which make none). */
static const char *posixre_dup(struct posixre_cost *c, unsigned long f,
                               int soft)
{
    if (c->after_dup > 1 || (c->after_dup == 1 && !soft))
        return "adjacent repetition operators";
    if (c->after_dup == 1) {
        c->after_dup = 2;
        return NULL;
    }
    c->sum[c->depth] += c->last[c->depth] * (f - 1);
    c->last[c->depth] *= f;
    c->after_dup = 1;
    return c->sum[c->depth] > POSIXRE_COST_MAX ? "too many repetitions" : NULL;
}

/* "{m}", "{m,}", "{m,n}" at p: the larger count (0: not a bound). */
static unsigned long posixre_bound(const char *p, const char **end)
{
    unsigned long v = 0, max = 0;
    const char *q = p + 1;

    for (int part = 0; part < 2; part++) {
        const char *digits = q;
        v = 0;
        while (*q >= '0' && *q <= '9' && v < 100000)
            v = v * 10 + (unsigned long)(*q++ - '0');
        if (part == 1 && q == digits)
            v = max + 1; /* {m,}: m copies and a star */
        max = v > max ? v : max;
        if (part == 0 && *q != ',')
            break;
        if (part == 0)
            q++;
    }
    if (*q == '\\' && q[1] == '}')
        q++; /* basic syntax: \\{m,n\\} */
    if (*q != '}')
        return 0;
    *end = q;
    return max > 0 ? max : 1;
}

const char *posixre_refuse(const char *p, int ere, unsigned long *cost)
{
    struct posixre_cost c;
    const char *why = NULL, *end;
    unsigned long n;

    memset(&c, 0, sizeof(c));
    for (; *p != '\0' && why == NULL; p++) {
        int esc = *p == '\\' && p[1] != '\0';
        char op = esc ? p[1] : *p;
        int is_op =
            ere ? !esc && strchr("(){*+?|", op) != NULL
                : (esc && strchr("(){+?|", op) != NULL) || (!esc && op == '*');
        if (!esc && *p == '[') {
            p += p[1] == '^' ? 2 : 1;
            p += *p == ']' ? 1 : 0;
            while (*p != '\0' && *p != ']')
                p++;
            if (*p == '\0')
                break;
            posixre_atom(&c, 1);
            continue;
        }
        p += esc;
        if (!is_op) {
            posixre_atom(&c, 1);
        } else if (op == '(') {
            if (c.depth + 1 >= POSIXRE_DEPTH_MAX) {
                why = "groups nested too deeply";
            } else {
                c.depth++;
                c.sum[c.depth] = c.last[c.depth] = 0;
            }
            c.after_dup = 0;
        } else if (op == ')') {
            n = c.depth > 0 ? c.sum[c.depth--] : 1;
            posixre_atom(&c, n > 0 ? n : 1);
        } else if (op == '*' || op == '?') {
            why = posixre_dup(&c, 1, 1);
        } else if (op == '+') {
            why = posixre_dup(&c, 2, 0);
        } else if (op == '{' && (n = posixre_bound(p, &end)) > 0) {
            why = posixre_dup(&c, n, 0);
            p = end;
        } else {
            posixre_atom(&c, op == '|' ? 0 : 1);
        }
    }
    while (c.depth > 0) {
        n = c.sum[c.depth--];
        c.sum[c.depth] += n;
    }
    *cost = c.sum[0];
    if (why == NULL && *cost > POSIXRE_COST_MAX)
        why = "too many repetitions";
    return why;
}
