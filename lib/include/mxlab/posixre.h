/*
 * posixre.h — POSIX regular expressions that glibc's regcomp() can
 * compile in bounded memory. regcomp() builds an automaton that grows
 * with each repetition (a{m,n} copies a, a+ is aa*) and, for adjacent
 * repetition operators, exponentially: "(.*++++++++++++)" takes
 * gigabytes. POSIX leaves adjacent operators undefined (one '*' or '?'
 * after another operator, as in ".*?", is let through).
 */
#ifndef MXLAB_POSIXRE_H
#define MXLAB_POSIXRE_H

/* The copies one pattern may make. */
#define POSIXRE_COST_MAX 2000UL

/* NULL if pattern p may be compiled, else why it is refused (a static
 * string: "adjacent repetition operators", "too many repetitions",
 * "groups nested too deeply"). *cost: the copies counted. ere: extended
 * syntax; else basic, where \\( \\) \\{ \\+ \\? are the operators. */
const char *posixre_refuse(const char *p, int ere, unsigned long *cost);

#endif
