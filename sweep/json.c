/*
 * json.c - reads the one JSON object a job's result line is (or
 * cmtreplay's report): its members at the top level, each value kept as
 * its JSON text, so that a line is passed on as it came and the figures
 * are read where they are needed.
 */
#define _GNU_SOURCE /* getdelim */
#include "sweep.h"
#include "cmt_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *text, *at;
    char *err;
    size_t errlen;
} parser;

static int fail(parser *p, const char *what)
{
    snprintf(p->err, p->errlen, "%s at byte %zu", what, (size_t)(p->at - p->text));
    return -1;
}

static void skip_space(parser *p)
{
    while (*p->at == ' ' || *p->at == '\t' || *p->at == '\n' || *p->at == '\r')
        p->at++;
}

/* Past a string, its opening quote at p->at. */
static int skip_string(parser *p)
{
    const char *start = p->at;
    for (p->at++; *p->at != '"'; p->at++) {
        if (!*p->at || (unsigned char)*p->at < 0x20 || (*p->at == '\\' && !*++p->at)) {
            p->at = start; /* the message points at where it began */
            return fail(p, "unterminated string");
        }
    }
    p->at++;
    return 0;
}

/* Past one value of any kind, nested ones whole. */
static int skip_value(parser *p, unsigned depth)
{
    skip_space(p);
    if (depth > 64)
        return fail(p, "nesting too deep");
    char c = *p->at;
    if (c == '"')
        return skip_string(p);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        p->at++;
        skip_space(p);
        if (*p->at == close) {
            p->at++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                skip_space(p);
                if (*p->at != '"')
                    return fail(p, "expected a member's name");
                if (skip_string(p) < 0)
                    return -1;
                skip_space(p);
                if (*p->at != ':')
                    return fail(p, "expected ':'");
                p->at++;
            }
            if (skip_value(p, depth + 1) < 0)
                return -1;
            skip_space(p);
            if (*p->at == close) {
                p->at++;
                return 0;
            }
            if (*p->at != ',')
                return fail(p, "expected ',' or the end of the object or array");
            p->at++;
        }
    }
    if (c == '-' || isdigit((unsigned char)c)) {
        char *end;
        strtod(p->at, &end);
        if (end == p->at)
            return fail(p, "bad number");
        p->at = end;
        return 0;
    }
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t len = strlen(words[i]);
        if (strncmp(p->at, words[i], len) == 0) {
            p->at += len;
            return 0;
        }
    }
    return fail(p, "expected a value");
}

static char *copy_span(const char *from, const char *to)
{
    char *s = cmti_malloc((size_t)(to - from) + 1);
    if (s) {
        memcpy(s, from, (size_t)(to - from));
        s[to - from] = '\0';
    }
    return s;
}

/* The string at S (quotes included) with its escapes undone into BUF;
 * \uXXXX past ASCII becomes '?' (names and messages here are ASCII). */
static void unescape(const char *s, char *buf, size_t len)
{
    size_t n = 0;
    for (s++; *s && *s != '"' && n + 1 < len; s++) {
        char c = *s;
        if (c == '\\') {
            c = *++s;
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned code = 0;
                if (sscanf(s + 1, "%4x", &code) == 1 && strlen(s + 1) >= 4)
                    s += 4;
                c = code < 0x80 ? (char)code : '?';
                break;
            }
            default: break; /* \" \\ \/ */
            }
        }
        buf[n++] = c;
    }
    buf[n] = '\0';
}

int sweep_json_parse(const char *text, sweep_object *o, char *err, size_t errlen)
{
    parser p = {text, text, err, errlen};
    *o = (sweep_object){0};
    size_t cap = 0;
    skip_space(&p);
    if (*p.at++ != '{')
        return p.at--, fail(&p, "expected '{'");
    skip_space(&p);
    if (*p.at == '}')
        p.at++;
    else
        for (;;) {
            skip_space(&p);
            if (*p.at != '"')
                goto bad_name;
            const char *key = p.at;
            if (skip_string(&p) < 0)
                goto failed;
            skip_space(&p);
            if (*p.at++ != ':') {
                p.at--;
                fail(&p, "expected ':'");
                goto failed;
            }
            skip_space(&p);
            const char *value = p.at;
            if (skip_value(&p, 0) < 0)
                goto failed;
            if (o->n == cap) {
                cap = cap ? 2 * cap : 64;
                sweep_member *grown = cmti_realloc(o->members, cap * sizeof *grown);
                if (!grown)
                    goto no_memory;
                o->members = grown;
            }
            char name[256];
            unescape(key, name, sizeof name);
            sweep_member *m = &o->members[o->n];
            m->key = copy_span(name, name + strlen(name));
            m->value = copy_span(value, p.at);
            if (!m->key || !m->value) {
                cmti_free(m->key);
                cmti_free(m->value);
                goto no_memory;
            }
            o->n++;
            skip_space(&p);
            if (*p.at == '}') {
                p.at++;
                break;
            }
            if (*p.at++ != ',') {
                p.at--;
                fail(&p, "expected ',' or '}'");
                goto failed;
            }
        }
    skip_space(&p);
    if (*p.at) {
        fail(&p, "text after the object");
        goto failed;
    }
    return 0;
bad_name:
    fail(&p, "expected a member's name");
    goto failed;
no_memory:
    snprintf(err, errlen, CMT_NO_MEMORY);
failed:
    sweep_json_free(o);
    return -1;
}

void sweep_json_free(sweep_object *o)
{
    for (size_t i = 0; i < o->n; i++) {
        cmti_free(o->members[i].key);
        cmti_free(o->members[i].value);
    }
    cmti_free(o->members);
    *o = (sweep_object){0};
}

const char *sweep_json_get(const sweep_object *o, const char *key)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->members[i].key, key) == 0)
            return o->members[i].value;
    return NULL;
}

double sweep_json_number(const sweep_object *o, const char *key)
{
    const char *v = sweep_json_get(o, key);
    char *end;
    double d = v ? strtod(v, &end) : NAN;
    return v && end != v && !*end ? d : NAN;
}

char *sweep_read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t cap = 0;
    ssize_t len = getdelim(&text, &cap, '\0', f); /* the whole file: it holds no NUL */
    fclose(f);
    if (len <= 0) {
        free(text);
        return NULL;
    }
    if (text[len - 1] == '\n')
        text[len - 1] = '\0';
    return text;
}

bool sweep_json_string(const sweep_object *o, const char *key, char *buf, size_t len)
{
    const char *v = sweep_json_get(o, key);
    if (!v || *v != '"')
        return false;
    unescape(v, buf, len);
    return true;
}
