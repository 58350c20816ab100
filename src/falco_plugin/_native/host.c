/*
 * fp-host: the falco-plugin SDK's own plugin host.
 *
 * A small C11 program that loads Falco plugins (plugin API 3.x) the way
 * libsinsp and Falco do: dlopen with RTLD_LOCAL|RTLD_NOW, symbol and
 * capability checks, the required-API-version check, init config validation
 * against the plugin's JSON schema, init/open on the main thread and the
 * next_batch loop on one event thread per plugin. It prints what it sees as
 * text or as JSON lines so that tests and benchmarks can read it.
 *
 *   fp-host info [--json] PATH.so
 *   fp-host run [run options] PATH.so [--config S] [--open-params S]
 *               [--set-config S] [PATH2.so ...]
 *
 * Build: cc -std=c11 -O2 -Wall -Wextra host.c -o fp-host -ldl -lpthread
 * It never links libpython: Python plugins bring their own interpreter.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fp_abi.h"

#define FP_HOST_API_MAJOR 3
#define FP_HOST_API_MINOR 12
#define FP_HOST_API_PATCH 0

#define FP_STR2(x) #x
#define FP_STR(x) FP_STR2(x)
#define FP_HOST_API_STR \
    FP_STR(FP_HOST_API_MAJOR) "." FP_STR(FP_HOST_API_MINOR) "." FP_STR(FP_HOST_API_PATCH)

#define ERRBUF 2048

/* ------------------------------------------------------------------------ */
/* Small utilities                                                          */
/* ------------------------------------------------------------------------ */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("fp-host: out of memory\n", stderr);
        abort();
    }
    return p;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fputs("fp-host: out of memory\n", stderr);
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("fp-host: out of memory\n", stderr);
        abort();
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n;
    char *d;
    if (!s)
        s = "";
    n = strlen(s) + 1;
    d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long read_rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* A growable byte buffer, always NUL terminated. */
typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_grow(sbuf *b, size_t extra)
{
    size_t cap;
    if (b->n + extra + 1 <= b->cap)
        return;
    cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void sb_add(sbuf *b, const char *s, size_t n)
{
    sb_grow(b, n);
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_adds(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_addc(sbuf *b, char c) { sb_add(b, &c, 1); }

static void sb_truncate(sbuf *b, size_t n)
{
    if (b->p && n <= b->n) {
        b->n = n;
        b->p[n] = 0;
    }
}

static void sb_reset(sbuf *b) { sb_truncate(b, 0); }

static const char *sb_str(const sbuf *b) { return b->p ? b->p : ""; }

static void sb_free(sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap, ap2;
    int k;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k > 0 && (size_t)k < sizeof small) {
        sb_add(b, small, (size_t)k);
    } else if (k > 0) {
        sb_grow(b, (size_t)k);
        vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap2);
        b->n += (size_t)k;
    }
    va_end(ap2);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len, i;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Appends a JSON string literal; invalid UTF-8 bytes become U+FFFD. */
static void sb_json_strn(sbuf *b, const char *s, size_t n)
{
    size_t i = 0;
    sb_grow(b, n + 2);
    sb_addc(b, '"');
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            sb_add(b, "\\\"", 2);
        } else if (c == '\\') {
            sb_add(b, "\\\\", 2);
        } else if (c == '\n') {
            sb_add(b, "\\n", 2);
        } else if (c == '\r') {
            sb_add(b, "\\r", 2);
        } else if (c == '\t') {
            sb_add(b, "\\t", 2);
        } else if (c < 0x20 || c == 0x7F) {
            sb_printf(b, "\\u%04x", c);
        } else if (c < 0x80) {
            sb_addc(b, (char)c);
        } else {
            size_t l = utf8_len((const unsigned char *)s + i, n - i);
            if (l == 0) {
                sb_adds(b, "\\ufffd");
                i++;
            } else {
                sb_add(b, s + i, l);
                i += l;
            }
            continue;
        }
        i++;
    }
    sb_addc(b, '"');
}

static void sb_json_str(sbuf *b, const char *s)
{
    if (!s)
        sb_adds(b, "null");
    else
        sb_json_strn(b, s, strlen(s));
}

static void sb_hex(sbuf *b, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    sb_grow(b, 2 * n);
    for (i = 0; i < n; i++) {
        b->p[b->n++] = digits[p[i] >> 4];
        b->p[b->n++] = digits[p[i] & 15];
    }
    b->p[b->n] = 0;
}

/* Adds a double as a JSON number (null when not finite). */
static void sb_json_double(sbuf *b, double d, const char *fmt)
{
    if (d != d || d - d != 0)
        sb_adds(b, "null");
    else
        sb_printf(b, fmt, d);
}

/* ------------------------------------------------------------------------ */
/* Output: one line at a time, under one lock, flushed                       */
/* ------------------------------------------------------------------------ */

static pthread_mutex_t g_out_mu = PTHREAD_MUTEX_INITIALIZER;

static void out_line(FILE *f, const sbuf *b)
{
    pthread_mutex_lock(&g_out_mu);
    fwrite(sb_str(b), 1, b->n, f);
    fputc('\n', f);
    fflush(f);
    pthread_mutex_unlock(&g_out_mu);
}

typedef struct {
    uint64_t max_events;
    bool json;
    bool quiet;
    uint64_t cycles;
    bool reload;
    uint64_t inits;
    bool deepbind;
    bool no_e2s;
} host_opts;

static host_opts g_opt = {0, false, false, 1, false, 1, false, false};

/* Reports an error: JSON on stdout in JSON mode, "error: ..." on stderr otherwise. */
__attribute__((format(printf, 3, 4))) static void report_error(const char *plugin,
                                                                const char *stage,
                                                                const char *fmt, ...)
{
    char msg[4 * ERRBUF];
    sbuf b = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_opt.json) {
        sb_adds(&b, "{\"error\": {\"plugin\": ");
        sb_json_str(&b, plugin);
        sb_adds(&b, ", \"stage\": ");
        sb_json_str(&b, stage);
        sb_adds(&b, ", \"message\": ");
        sb_json_str(&b, msg);
        sb_adds(&b, "}}");
        out_line(stdout, &b);
    } else {
        sb_adds(&b, "error: ");
        if (plugin)
            sb_printf(&b, "%s: ", plugin);
        sb_printf(&b, "%s (stage: %s)", msg, stage);
        out_line(stderr, &b);
    }
    sb_free(&b);
}

__attribute__((format(printf, 2, 3))) static void report_warning(const char *plugin,
                                                                  const char *fmt, ...)
{
    char msg[4 * ERRBUF];
    sbuf b = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sb_adds(&b, "warning: ");
    if (plugin)
        sb_printf(&b, "%s: ", plugin);
    sb_adds(&b, msg);
    out_line(stderr, &b);
    sb_free(&b);
}

/* ------------------------------------------------------------------------ */
/* A small JSON parser                                                      */
/* ------------------------------------------------------------------------ */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jkind;

typedef struct jnode jnode;
struct jnode {
    jkind k;
    bool b;
    double num;
    char *raw; /* numbers: the text as written */
    char *s;   /* strings: decoded bytes, NUL terminated */
    size_t slen;
    size_t n, cap; /* arrays and objects */
    jnode **v;
    char **key;
    size_t *klen;
};

typedef struct {
    const char *s;
    size_t i, n;
    int depth;
    char err[256];
} jparser;

#define J_MAX_DEPTH 256

static void jfree(jnode *j)
{
    size_t i;
    if (!j)
        return;
    for (i = 0; i < j->n; i++) {
        jfree(j->v[i]);
        if (j->key)
            free(j->key[i]);
    }
    free(j->v);
    free(j->key);
    free(j->klen);
    free(j->raw);
    free(j->s);
    free(j);
}

static jnode *jnew(jkind k)
{
    jnode *j = xcalloc(1, sizeof *j);
    j->k = k;
    return j;
}

static void jpush(jnode *c, char *key, size_t klen, jnode *v)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
        if (c->k == J_OBJ) {
            c->key = xrealloc(c->key, c->cap * sizeof *c->key);
            c->klen = xrealloc(c->klen, c->cap * sizeof *c->klen);
        }
    }
    if (c->k == J_OBJ) {
        c->key[c->n] = key;
        c->klen[c->n] = klen;
    }
    c->v[c->n++] = v;
}

static bool jp_fail(jparser *p, const char *what)
{
    if (!p->err[0])
        snprintf(p->err, sizeof p->err, "%s at offset %zu", what, p->i);
    return false;
}

static void jp_ws(jparser *p)
{
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->i++;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool jp_hex4(jparser *p, uint32_t *out)
{
    uint32_t v = 0;
    int k;
    if (p->i + 4 > p->n)
        return jp_fail(p, "truncated \\u escape");
    for (k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + (size_t)k]);
        if (h < 0)
            return jp_fail(p, "invalid \\u escape");
        v = (v << 4) | (uint32_t)h;
    }
    p->i += 4;
    *out = v;
    return true;
}

static void put_utf8(sbuf *b, uint32_t cp)
{
    char t[4];
    if (cp < 0x80) {
        t[0] = (char)cp;
        sb_add(b, t, 1);
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        sb_add(b, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        sb_add(b, t, 3);
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        sb_add(b, t, 4);
    }
}

/* Parses a string literal (p->i at the opening quote) into out. */
static bool jp_string(jparser *p, sbuf *out)
{
    p->i++;
    for (;;) {
        unsigned char c;
        if (p->i >= p->n)
            return jp_fail(p, "unterminated string");
        c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            return true;
        }
        if (c < 0x20)
            return jp_fail(p, "control character in string");
        if (c != '\\') {
            sb_addc(out, (char)c);
            p->i++;
            continue;
        }
        p->i++;
        if (p->i >= p->n)
            return jp_fail(p, "unterminated string");
        c = (unsigned char)p->s[p->i++];
        switch (c) {
        case '"': sb_addc(out, '"'); break;
        case '\\': sb_addc(out, '\\'); break;
        case '/': sb_addc(out, '/'); break;
        case 'b': sb_addc(out, '\b'); break;
        case 'f': sb_addc(out, '\f'); break;
        case 'n': sb_addc(out, '\n'); break;
        case 'r': sb_addc(out, '\r'); break;
        case 't': sb_addc(out, '\t'); break;
        case 'u': {
            uint32_t cp, lo;
            if (!jp_hex4(p, &cp))
                return false;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->i + 2 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
                    return jp_fail(p, "unpaired UTF-16 surrogate in \\u escape");
                p->i += 2;
                if (!jp_hex4(p, &lo))
                    return false;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return jp_fail(p, "unpaired UTF-16 surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return jp_fail(p, "unpaired UTF-16 surrogate in \\u escape");
            }
            put_utf8(out, cp);
            break;
        }
        default:
            p->i--;
            return jp_fail(p, "invalid escape in string");
        }
    }
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static jnode *jp_value(jparser *p);

static jnode *jp_number(jparser *p)
{
    size_t start = p->i;
    jnode *j;
    char *end = NULL;
    if (p->i < p->n && p->s[p->i] == '-')
        p->i++;
    if (p->i >= p->n || !is_digit(p->s[p->i])) {
        jp_fail(p, "invalid number");
        return NULL;
    }
    if (p->s[p->i] == '0') {
        p->i++;
    } else {
        while (p->i < p->n && is_digit(p->s[p->i]))
            p->i++;
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (p->i >= p->n || !is_digit(p->s[p->i])) {
            jp_fail(p, "invalid number");
            return NULL;
        }
        while (p->i < p->n && is_digit(p->s[p->i]))
            p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (p->i >= p->n || !is_digit(p->s[p->i])) {
            jp_fail(p, "invalid number");
            return NULL;
        }
        while (p->i < p->n && is_digit(p->s[p->i]))
            p->i++;
    }
    j = jnew(J_NUM);
    j->raw = xmalloc(p->i - start + 1);
    memcpy(j->raw, p->s + start, p->i - start);
    j->raw[p->i - start] = 0;
    j->num = strtod(j->raw, &end);
    return j;
}

static bool jp_literal(jparser *p, const char *lit)
{
    size_t l = strlen(lit);
    if (p->i + l <= p->n && memcmp(p->s + p->i, lit, l) == 0) {
        p->i += l;
        return true;
    }
    return false;
}

static jnode *jp_container(jparser *p, bool obj)
{
    jnode *c = jnew(obj ? J_OBJ : J_ARR);
    char close = obj ? '}' : ']';
    if (++p->depth > J_MAX_DEPTH) {
        jp_fail(p, "nesting too deep");
        goto bad;
    }
    p->i++;
    jp_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        p->depth--;
        return c;
    }
    for (;;) {
        char *key = NULL;
        size_t klen = 0;
        jnode *v;
        jp_ws(p);
        if (obj) {
            sbuf kb = {0};
            if (p->i >= p->n || p->s[p->i] != '"') {
                jp_fail(p, "expected a string key");
                goto bad;
            }
            if (!jp_string(p, &kb)) {
                sb_free(&kb);
                goto bad;
            }
            klen = kb.n;
            key = kb.p ? kb.p : xstrdup("");
            jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') {
                free(key);
                jp_fail(p, "expected ':'");
                goto bad;
            }
            p->i++;
        }
        v = jp_value(p);
        if (!v) {
            free(key);
            goto bad;
        }
        jpush(c, key, klen, v);
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            break;
        }
        jp_fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        goto bad;
    }
    p->depth--;
    return c;
bad:
    jfree(c);
    return NULL;
}

static jnode *jp_value(jparser *p)
{
    jp_ws(p);
    if (p->i >= p->n) {
        jp_fail(p, "unexpected end of input");
        return NULL;
    }
    switch (p->s[p->i]) {
    case '{':
        return jp_container(p, true);
    case '[':
        return jp_container(p, false);
    case '"': {
        sbuf b = {0};
        jnode *j;
        if (!jp_string(p, &b)) {
            sb_free(&b);
            return NULL;
        }
        j = jnew(J_STR);
        j->slen = b.n;
        j->s = b.p ? b.p : xstrdup("");
        return j;
    }
    case 't':
    case 'f':
    case 'n': {
        jnode *j;
        if (jp_literal(p, "true")) {
            j = jnew(J_BOOL);
            j->b = true;
            return j;
        }
        if (jp_literal(p, "false"))
            return jnew(J_BOOL);
        if (jp_literal(p, "null"))
            return jnew(J_NULL);
        jp_fail(p, "invalid literal");
        return NULL;
    }
    default:
        if (p->s[p->i] == '-' || is_digit(p->s[p->i]))
            return jp_number(p);
        jp_fail(p, "unexpected character");
        return NULL;
    }
}

/* Parses a whole JSON document; on error returns NULL and fills err. */
static jnode *json_parse(const char *s, char *err, size_t errlen)
{
    jparser p;
    jnode *j;
    memset(&p, 0, sizeof p);
    p.s = s ? s : "";
    p.n = strlen(p.s);
    jp_ws(&p);
    if (p.i >= p.n) {
        snprintf(err, errlen, "empty document");
        return NULL;
    }
    j = jp_value(&p);
    if (j) {
        jp_ws(&p);
        if (p.i < p.n) {
            jp_fail(&p, "unexpected trailing characters");
            jfree(j);
            j = NULL;
        }
    }
    if (!j)
        snprintf(err, errlen, "%s", p.err);
    return j;
}

static const jnode *jget(const jnode *o, const char *key)
{
    size_t i, kl;
    if (!o || o->k != J_OBJ)
        return NULL;
    kl = strlen(key);
    for (i = o->n; i-- > 0;)
        if (o->klen[i] == kl && memcmp(o->key[i], key, kl) == 0)
            return o->v[i];
    return NULL;
}

static const char *jget_str(const jnode *o, const char *key)
{
    const jnode *v = jget(o, key);
    return (v && v->k == J_STR) ? v->s : NULL;
}

static void jdump(sbuf *b, const jnode *j, int indent, int level)
{
    size_t i;
    int k;
    switch (j->k) {
    case J_NULL: sb_adds(b, "null"); return;
    case J_BOOL: sb_adds(b, j->b ? "true" : "false"); return;
    case J_NUM: sb_adds(b, j->raw); return;
    case J_STR: sb_json_strn(b, j->s, j->slen); return;
    case J_ARR:
    case J_OBJ:
        break;
    }
    sb_addc(b, j->k == J_OBJ ? '{' : '[');
    for (i = 0; i < j->n; i++) {
        if (i)
            sb_addc(b, ',');
        if (indent > 0) {
            sb_addc(b, '\n');
            for (k = 0; k < indent * (level + 1); k++)
                sb_addc(b, ' ');
        } else if (i) {
            sb_addc(b, ' ');
        }
        if (j->k == J_OBJ) {
            sb_json_strn(b, j->key[i], j->klen[i]);
            sb_adds(b, ": ");
        }
        jdump(b, j->v[i], indent, level + 1);
    }
    if (indent > 0 && j->n) {
        sb_addc(b, '\n');
        for (k = 0; k < indent * level; k++)
            sb_addc(b, ' ');
    }
    sb_addc(b, j->k == J_OBJ ? '}' : ']');
}

static bool j_integral(const jnode *j)
{
    double d = j->num;
    if (d != d || d - d != 0)
        return false;
    if (d >= 9.0e18 || d <= -9.0e18)
        return true; /* doubles this large have no fraction */
    return (double)(long long)d == d;
}

static bool jequal(const jnode *a, const jnode *b)
{
    size_t i, m;
    if (a->k != b->k)
        return false;
    switch (a->k) {
    case J_NULL: return true;
    case J_BOOL: return a->b == b->b;
    case J_NUM: return a->num == b->num;
    case J_STR: return a->slen == b->slen && memcmp(a->s, b->s, a->slen) == 0;
    case J_ARR:
        if (a->n != b->n)
            return false;
        for (i = 0; i < a->n; i++)
            if (!jequal(a->v[i], b->v[i]))
                return false;
        return true;
    case J_OBJ:
        if (a->n != b->n)
            return false;
        for (i = 0; i < a->n; i++) {
            bool found = false;
            for (m = 0; m < b->n; m++) {
                if (a->klen[i] == b->klen[m] && memcmp(a->key[i], b->key[m], a->klen[i]) == 0) {
                    found = jequal(a->v[i], b->v[m]);
                    break;
                }
            }
            if (!found)
                return false;
        }
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* A JSON-Schema validator for the subset Falco's plugins use                */
/* ------------------------------------------------------------------------ */

typedef struct {
    const jnode *root;
    sbuf path;
    char err[ERRBUF];
    int depth;
} vctx;

#define V_MAX_DEPTH 128

static const char *jkind_name(const jnode *j)
{
    switch (j->k) {
    case J_NULL: return "null";
    case J_BOOL: return "boolean";
    case J_NUM: return j_integral(j) ? "integer" : "number";
    case J_STR: return "string";
    case J_ARR: return "array";
    case J_OBJ: return "object";
    }
    return "?";
}

/* Copies src into dst, truncating to fit. */
static void copy_trunc(char *dst, size_t dstlen, const char *src)
{
    size_t n = strlen(src);
    if (!dstlen)
        return;
    if (n >= dstlen)
        n = dstlen - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

__attribute__((format(printf, 2, 3))) static bool verr(vctx *c, const char *fmt, ...)
{
    char msg[ERRBUF];
    sbuf b = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sb_adds(&b, sb_str(&c->path));
    sb_adds(&b, ": ");
    sb_adds(&b, msg);
    copy_trunc(c->err, sizeof c->err, sb_str(&b));
    sb_free(&b);
    return false;
}

static void path_key(sbuf *p, const char *k, size_t n)
{
    size_t i;
    bool plain = n > 0;
    for (i = 0; i < n; i++) {
        char ch = k[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
              (i > 0 && ch >= '0' && ch <= '9')))
            plain = false;
    }
    if (plain) {
        sb_addc(p, '.');
        sb_add(p, k, n);
    } else {
        sb_addc(p, '[');
        sb_json_strn(p, k, n);
        sb_addc(p, ']');
    }
}

static bool type_matches(const char *t, const jnode *x)
{
    if (!strcmp(t, "any"))
        return true;
    if (!strcmp(t, "null"))
        return x->k == J_NULL;
    if (!strcmp(t, "boolean"))
        return x->k == J_BOOL;
    if (!strcmp(t, "object"))
        return x->k == J_OBJ;
    if (!strcmp(t, "array"))
        return x->k == J_ARR;
    if (!strcmp(t, "string"))
        return x->k == J_STR;
    if (!strcmp(t, "number"))
        return x->k == J_NUM;
    if (!strcmp(t, "integer"))
        return x->k == J_NUM && j_integral(x);
    return false;
}

/* Resolves a local JSON pointer reference ("#", "#/definitions/name", ...). */
static const jnode *resolve_ref(const jnode *root, const char *ref)
{
    const jnode *cur = root;
    const char *p;
    if (ref[0] != '#')
        return NULL;
    p = ref + 1;
    if (*p == 0)
        return root;
    if (*p != '/')
        return NULL;
    while (*p == '/') {
        sbuf tok = {0};
        const jnode *next = NULL;
        p++;
        while (*p && *p != '/') {
            if (p[0] == '~' && p[1] == '1') {
                sb_addc(&tok, '/');
                p += 2;
            } else if (p[0] == '~' && p[1] == '0') {
                sb_addc(&tok, '~');
                p += 2;
            } else {
                sb_addc(&tok, *p++);
            }
        }
        if (cur->k == J_OBJ) {
            next = jget(cur, sb_str(&tok));
        } else if (cur->k == J_ARR) {
            uint64_t idx;
            if (parse_u64(sb_str(&tok), &idx) && idx < cur->n)
                next = cur->v[idx];
        }
        sb_free(&tok);
        if (!next)
            return NULL;
        cur = next;
    }
    return cur;
}

static size_t utf8_count(const char *s, size_t n)
{
    size_t i, cnt = 0;
    for (i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            cnt++;
    return cnt;
}

static bool validate(vctx *c, const jnode *s, const jnode *x);

static bool validate_child(vctx *c, const jnode *s, const jnode *x, const char *key, size_t klen,
                           size_t index, bool is_key)
{
    size_t saved = c->path.n;
    bool ok;
    if (is_key)
        path_key(&c->path, key, klen);
    else
        sb_printf(&c->path, "[%zu]", index);
    ok = validate(c, s, x);
    sb_truncate(&c->path, saved);
    return ok;
}

static bool num_kw(const jnode *s, const char *kw, const jnode **out)
{
    const jnode *v = jget(s, kw);
    if (v && v->k == J_NUM) {
        *out = v;
        return true;
    }
    return false;
}

static bool validate_inner(vctx *c, const jnode *s, const jnode *x)
{
    const jnode *kw, *lim;
    size_t i, m;

    if (s->k == J_BOOL)
        return s->b ? true : verr(c, "no value is allowed here (the schema is false)");
    if (s->k != J_OBJ)
        return true;

    kw = jget(s, "$ref");
    if (kw && kw->k == J_STR) {
        const jnode *target = resolve_ref(c->root, kw->s);
        if (!target)
            return verr(c, "cannot resolve schema reference '%s'", kw->s);
        return validate(c, target, x);
    }

    kw = jget(s, "type");
    if (kw && kw->k == J_STR) {
        if (!type_matches(kw->s, x))
            return verr(c, "expected %s, got %s", kw->s, jkind_name(x));
    } else if (kw && kw->k == J_ARR) {
        bool any = false;
        sbuf names = {0};
        for (i = 0; i < kw->n; i++) {
            if (kw->v[i]->k != J_STR)
                continue;
            if (type_matches(kw->v[i]->s, x))
                any = true;
            if (names.n)
                sb_adds(&names, ", ");
            sb_adds(&names, kw->v[i]->s);
        }
        if (!any) {
            verr(c, "expected one of [%s], got %s", sb_str(&names), jkind_name(x));
            sb_free(&names);
            return false;
        }
        sb_free(&names);
    }

    kw = jget(s, "enum");
    if (kw && kw->k == J_ARR) {
        bool any = false;
        for (i = 0; i < kw->n && !any; i++)
            any = jequal(kw->v[i], x);
        if (!any) {
            sbuf d = {0};
            jdump(&d, kw, 0, 0);
            if (d.n > 300)
                sb_truncate(&d, 300);
            verr(c, "value is not one of the allowed values %s", sb_str(&d));
            sb_free(&d);
            return false;
        }
    }

    kw = jget(s, "const");
    if (kw && !jequal(kw, x)) {
        sbuf d = {0};
        jdump(&d, kw, 0, 0);
        if (d.n > 300)
            sb_truncate(&d, 300);
        verr(c, "value must be %s", sb_str(&d));
        sb_free(&d);
        return false;
    }

    if (x->k == J_NUM) {
        const jnode *ex;
        if (num_kw(s, "minimum", &lim)) {
            ex = jget(s, "exclusiveMinimum");
            if (ex && ex->k == J_BOOL && ex->b) {
                if (!(x->num > lim->num))
                    return verr(c, "%s must be greater than %s", x->raw, lim->raw);
            } else if (x->num < lim->num) {
                return verr(c, "%s is less than the minimum %s", x->raw, lim->raw);
            }
        }
        if (num_kw(s, "maximum", &lim)) {
            ex = jget(s, "exclusiveMaximum");
            if (ex && ex->k == J_BOOL && ex->b) {
                if (!(x->num < lim->num))
                    return verr(c, "%s must be less than %s", x->raw, lim->raw);
            } else if (x->num > lim->num) {
                return verr(c, "%s is greater than the maximum %s", x->raw, lim->raw);
            }
        }
        if (num_kw(s, "exclusiveMinimum", &lim) && !(x->num > lim->num))
            return verr(c, "%s must be greater than %s", x->raw, lim->raw);
        if (num_kw(s, "exclusiveMaximum", &lim) && !(x->num < lim->num))
            return verr(c, "%s must be less than %s", x->raw, lim->raw);
    }

    if (x->k == J_STR) {
        size_t len = utf8_count(x->s, x->slen);
        if (num_kw(s, "minLength", &lim) && (double)len < lim->num)
            return verr(c, "string is shorter than minLength %s", lim->raw);
        if (num_kw(s, "maxLength", &lim) && (double)len > lim->num)
            return verr(c, "string is longer than maxLength %s", lim->raw);
    }

    if (x->k == J_ARR) {
        if (num_kw(s, "minItems", &lim) && (double)x->n < lim->num)
            return verr(c, "array has %zu items, fewer than minItems %s", x->n, lim->raw);
        if (num_kw(s, "maxItems", &lim) && (double)x->n > lim->num)
            return verr(c, "array has %zu items, more than maxItems %s", x->n, lim->raw);
        kw = jget(s, "items");
        if (kw && (kw->k == J_OBJ || kw->k == J_BOOL)) {
            for (i = 0; i < x->n; i++)
                if (!validate_child(c, kw, x->v[i], NULL, 0, i, false))
                    return false;
        } else if (kw && kw->k == J_ARR) {
            for (i = 0; i < x->n && i < kw->n; i++)
                if (!validate_child(c, kw->v[i], x->v[i], NULL, 0, i, false))
                    return false;
        }
    }

    if (x->k == J_OBJ) {
        const jnode *props = jget(s, "properties");
        const jnode *addl = jget(s, "additionalProperties");
        kw = jget(s, "required");
        if (kw && kw->k == J_ARR) {
            for (i = 0; i < kw->n; i++) {
                const jnode *r = kw->v[i];
                bool found = false;
                if (r->k != J_STR)
                    continue;
                for (m = 0; m < x->n && !found; m++)
                    found = x->klen[m] == r->slen && memcmp(x->key[m], r->s, r->slen) == 0;
                if (!found)
                    return verr(c, "required property '%s' is missing", r->s);
            }
        }
        if (props && props->k == J_OBJ) {
            for (i = 0; i < props->n; i++) {
                const jnode *sub = props->v[i];
                const jnode *val = NULL;
                for (m = x->n; m-- > 0;) {
                    if (x->klen[m] == props->klen[i] &&
                        memcmp(x->key[m], props->key[i], props->klen[i]) == 0) {
                        val = x->v[m];
                        break;
                    }
                }
                if (!val) {
                    /* draft 3 spells "required" as a boolean inside the property */
                    const jnode *req = jget(sub, "required");
                    if (req && req->k == J_BOOL && req->b)
                        return verr(c, "required property '%s' is missing", props->key[i]);
                    continue;
                }
                if (!validate_child(c, sub, val, props->key[i], props->klen[i], 0, true))
                    return false;
            }
        }
        /* patternProperties needs regular expressions, which this host does not
         * implement: with it present, additionalProperties is not enforced. */
        if (addl && (addl->k == J_BOOL || addl->k == J_OBJ) && !jget(s, "patternProperties")) {
            for (m = 0; m < x->n; m++) {
                bool declared = false;
                if (props && props->k == J_OBJ) {
                    for (i = 0; i < props->n && !declared; i++)
                        declared = props->klen[i] == x->klen[m] &&
                                   memcmp(props->key[i], x->key[m], x->klen[m]) == 0;
                }
                if (declared)
                    continue;
                if (addl->k == J_BOOL) {
                    if (!addl->b)
                        return verr(c, "additional property '%s' is not allowed", x->key[m]);
                } else if (!validate_child(c, addl, x->v[m], x->key[m], x->klen[m], 0, true)) {
                    return false;
                }
            }
        }
    }

    kw = jget(s, "allOf");
    if (kw && kw->k == J_ARR) {
        for (i = 0; i < kw->n; i++)
            if (!validate(c, kw->v[i], x))
                return false;
    }

    kw = jget(s, "anyOf");
    if (kw && kw->k == J_ARR && kw->n) {
        char first[ERRBUF] = "";
        bool any = false;
        for (i = 0; i < kw->n && !any; i++) {
            any = validate(c, kw->v[i], x);
            if (!any && !first[0])
                snprintf(first, sizeof first, "%s", c->err);
        }
        if (!any)
            return verr(c, "value matches none of the anyOf schemas (first mismatch: %s)", first);
    }

    kw = jget(s, "oneOf");
    if (kw && kw->k == J_ARR && kw->n) {
        char first[ERRBUF] = "";
        size_t matched = 0;
        for (i = 0; i < kw->n; i++) {
            if (validate(c, kw->v[i], x))
                matched++;
            else if (!first[0])
                snprintf(first, sizeof first, "%s", c->err);
        }
        if (matched == 0)
            return verr(c, "value matches none of the oneOf schemas (first mismatch: %s)", first);
        if (matched > 1)
            return verr(c, "value matches %zu of the oneOf schemas, exactly one is allowed",
                        matched);
    }

    kw = jget(s, "not");
    if (kw && (kw->k == J_OBJ || kw->k == J_BOOL)) {
        if (validate(c, kw, x))
            return verr(c, "value must not match the schema in \"not\"");
    }
    return true;
}

static bool validate(vctx *c, const jnode *s, const jnode *x)
{
    bool ok;
    if (++c->depth > V_MAX_DEPTH) {
        c->depth--;
        return verr(c, "schema nesting too deep (a recursive $ref?)");
    }
    ok = validate_inner(c, s, x);
    c->depth--;
    return ok;
}

/* Rejects schema dialects that Falco's validator (drafts 3, 4 and 7) does not know. */
static bool schema_check_dialect(const jnode *schema, char *err, size_t errlen)
{
    const jnode *d;
    if (schema->k != J_OBJ) {
        snprintf(err, errlen, "the init schema is not a JSON object");
        return false;
    }
    d = jget(schema, "$schema");
    if (d && d->k == J_STR) {
        if (strstr(d->s, "draft-03") || strstr(d->s, "draft-04") || strstr(d->s, "draft-07"))
            return true;
        snprintf(err, errlen,
                 "the init schema declares \"$schema\": \"%s\", but only JSON Schema drafts 3, "
                 "4 and 7 are supported (as by Falco's validator)",
                 d->s);
        return false;
    }
    return true;
}

static bool schema_validate(const jnode *schema, const jnode *inst, char *err, size_t errlen)
{
    vctx c;
    bool ok;
    memset(&c, 0, sizeof c);
    c.root = schema;
    sb_adds(&c.path, "$");
    ok = validate(&c, schema, inst);
    if (!ok)
        snprintf(err, errlen, "%s", c.err);
    sb_free(&c.path);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Plugins                                                                  */
/* ------------------------------------------------------------------------ */

enum {
    CAP_SOURCE = 1,
    CAP_EXTRACT = 2,
    CAP_PARSE = 4,
    CAP_ASYNC = 8,
    CAP_LISTEN = 16,
};

typedef struct {
    fp_get_str_fn get_required_api_version;
    fp_get_str_fn get_version;
    fp_get_str_fn get_name;
    fp_get_str_fn get_description;
    fp_get_str_fn get_contact;
    fp_init_fn init;
    fp_destroy_fn destroy;
    fp_get_last_error_fn get_last_error;
    fp_get_init_schema_fn get_init_schema;
    fp_set_config_fn set_config;
    fp_get_metrics_fn get_metrics;
    fp_get_id_fn get_id;
    fp_get_str_fn get_event_source;
    fp_open_fn open;
    fp_close_fn close;
    fp_next_batch_fn next_batch;
    fp_list_open_params_fn list_open_params;
    fp_get_progress_fn get_progress;
    fp_event_to_string_fn event_to_string;
} plugin_syms;

typedef struct host_plugin host_plugin;

#define OWNER_MAGIC 0x66706f77u /* "fpow" */

/* What init_input.owner points to: one per plugin state. */
typedef struct {
    uint32_t magic;
    host_plugin *plugin;
    uint64_t index;
    char last_error[FP_MAX_ERRLEN];
} host_owner;

struct host_plugin {
    /* command line */
    const char *path;
    const char *config;
    const char *open_params;
    const char *set_config;

    /* loaded library and its facts (copied: they must outlive dlclose) */
    void *handle;
    plugin_syms api;
    unsigned caps;
    char *name, *description, *contact, *version, *required_api;
    uint32_t id;
    char *source;           /* what get_event_source returned ("" if none) */
    const char *evt_source; /* the source its events belong to */
    char *schema_str;       /* the JSON schema text, NULL when none */
    jnode *schema;
    char *init_config; /* what init receives */

    /* states */
    uint64_t nstates;
    ss_plugin_t **states;
    host_owner *owners;
    ss_instance_t *inst;
    bool opened;

    /* capture */
    pthread_t thread;
    bool thread_started;
    uint64_t events, timeouts;
    bool eof, failed;
    double capture_seconds;
    double init_ms;
    long rss_kb;
};

static const char *plugin_label(const host_plugin *p)
{
    return (p->name && p->name[0]) ? p->name : p->path;
}

static const char *host_get_owner_last_error(ss_plugin_owner_t *o)
{
    host_owner *ow = o;
    if (!ow || ow->magic != OWNER_MAGIC || !ow->last_error[0])
        return NULL;
    return ow->last_error;
}

static const char *sev_name(ss_plugin_log_severity s)
{
    switch (s) {
    case SS_PLUGIN_LOG_SEV_FATAL: return "FATAL";
    case SS_PLUGIN_LOG_SEV_CRITICAL: return "CRITICAL";
    case SS_PLUGIN_LOG_SEV_ERROR: return "ERROR";
    case SS_PLUGIN_LOG_SEV_WARNING: return "WARNING";
    case SS_PLUGIN_LOG_SEV_NOTICE: return "NOTICE";
    case SS_PLUGIN_LOG_SEV_INFO: return "INFO";
    case SS_PLUGIN_LOG_SEV_DEBUG: return "DEBUG";
    case SS_PLUGIN_LOG_SEV_TRACE: return "TRACE";
    }
    return "UNKNOWN";
}

/* The logger handed to plugins: one line on stderr per message, thread-safe. */
static void host_log_fn(ss_plugin_owner_t *o, const char *component, const char *msg,
                        ss_plugin_log_severity sev)
{
    host_owner *ow = o;
    const char *who = component;
    sbuf b = {0};
    size_t i;
    if (!who) {
        if (ow && ow->magic == OWNER_MAGIC && ow->plugin)
            who = plugin_label(ow->plugin);
        else
            who = "plugin";
    }
    sb_printf(&b, "[%s] %s: ", who, sev_name(sev));
    sb_adds(&b, msg ? msg : "");
    for (i = 0; i < b.n; i++)
        if (b.p[i] == '\n' || b.p[i] == '\r')
            b.p[i] = ' ';
    out_line(stderr, &b);
    sb_free(&b);
}

/* SIGINT: installed before the first init, like Falco; plugins must leave it alone. */
static volatile sig_atomic_t g_sigint = 0;
static bool g_sigint_installed = false;

static void on_sigint(int sig)
{
    (void)sig;
    g_sigint = 1;
}

static void install_sigint(void)
{
    struct sigaction sa;
    if (g_sigint_installed)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESTART; /* what signal() gives: plugins' blocking calls are restarted */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    g_sigint_installed = true;
}

static bool sigint_unchanged(void)
{
    struct sigaction cur;
    if (sigaction(SIGINT, NULL, &cur) != 0)
        return false;
    return cur.sa_handler == on_sigint;
}

/* Semantic version "MAJOR.MINOR.PATCH" with an optional -pre/+build suffix when allowed. */
static bool parse_version(const char *s, unsigned long v[3], bool allow_suffix)
{
    int k;
    if (!s)
        return false;
    for (k = 0; k < 3; k++) {
        unsigned long x = 0;
        if (!is_digit(*s))
            return false;
        while (is_digit(*s)) {
            x = x * 10 + (unsigned long)(*s - '0');
            if (x > UINT32_MAX)
                return false;
            s++;
        }
        v[k] = x;
        if (k < 2) {
            if (*s != '.')
                return false;
            s++;
        }
    }
    if (*s == 0)
        return true;
    return allow_suffix && (*s == '-' || *s == '+') && s[1] != 0;
}

static void *sym(host_plugin *p, const char *name)
{
    char full[128];
    snprintf(full, sizeof full, "plugin_%s", name);
    return dlsym(p->handle, full);
}

#define RESOLVE(p, field) ((p)->api.field = (__typeof__((p)->api.field))sym((p), #field))

static void resolve_symbols(host_plugin *p)
{
    RESOLVE(p, get_required_api_version);
    RESOLVE(p, get_version);
    RESOLVE(p, get_name);
    RESOLVE(p, get_description);
    RESOLVE(p, get_contact);
    RESOLVE(p, init);
    RESOLVE(p, destroy);
    RESOLVE(p, get_last_error);
    RESOLVE(p, get_init_schema);
    RESOLVE(p, set_config);
    RESOLVE(p, get_metrics);
    RESOLVE(p, get_id);
    RESOLVE(p, get_event_source);
    RESOLVE(p, open);
    RESOLVE(p, close);
    RESOLVE(p, next_batch);
    RESOLVE(p, list_open_params);
    RESOLVE(p, get_progress);
    RESOLVE(p, event_to_string);
}

typedef struct {
    unsigned bit;
    const char *label;
    const char *syms[4];
} cap_desc;

static const cap_desc k_caps[] = {
    {CAP_SOURCE, "event sourcing", {"open", "close", "next_batch", NULL}},
    {CAP_EXTRACT, "field extraction", {"get_fields", "extract_fields", NULL, NULL}},
    {CAP_PARSE, "event parsing", {"parse_event", NULL, NULL, NULL}},
    {CAP_ASYNC, "async events", {"get_async_events", "set_async_event_handler", NULL, NULL}},
    {CAP_LISTEN, "capture listening", {"capture_open", "capture_close", NULL, NULL}},
};

static const char *k_required[] = {"get_required_api_version", "get_version", "get_name",
                                   "get_description", "get_contact", "init", "destroy",
                                   "get_last_error", NULL};

static void free_plugin_facts(host_plugin *p)
{
    free(p->name);
    free(p->description);
    free(p->contact);
    free(p->version);
    free(p->required_api);
    free(p->source);
    free(p->schema_str);
    jfree(p->schema);
    free(p->init_config);
    p->name = p->description = p->contact = p->version = p->required_api = NULL;
    p->source = p->schema_str = p->init_config = NULL;
    p->schema = NULL;
}

static void unload_plugin(host_plugin *p)
{
    if (p->handle)
        dlclose(p->handle);
    p->handle = NULL;
    memset(&p->api, 0, sizeof p->api);
}

/* dlopen, symbol, version, capability, source and schema checks. */
static bool load_plugin(host_plugin *p, char *err, size_t errlen)
{
    int flags = RTLD_LOCAL | RTLD_NOW;
    unsigned long req[3];
    sbuf missing = {0};
    size_t i, k;
    const char *s;

    if (g_opt.deepbind)
        flags |= RTLD_DEEPBIND;
    dlerror();
    p->handle = dlopen(p->path, flags);
    if (!p->handle) {
        const char *e = dlerror();
        snprintf(err, errlen, "cannot load plugin: %s", e ? e : "unknown dlopen error");
        return false;
    }
    resolve_symbols(p);

    for (i = 0; k_required[i]; i++) {
        if (!sym(p, k_required[i])) {
            if (missing.n)
                sb_adds(&missing, ", ");
            sb_printf(&missing, "plugin_%s", k_required[i]);
        }
    }
    if (missing.n) {
        snprintf(err, errlen, "plugin does not export required symbols: %s", sb_str(&missing));
        sb_free(&missing);
        return false;
    }

    s = p->api.get_required_api_version();
    p->required_api = xstrdup(s);
    if (!s || !parse_version(s, req, false)) {
        snprintf(err, errlen,
                 "plugin provided an invalid required API version '%s' (expected "
                 "MAJOR.MINOR.PATCH)",
                 s ? s : "(null)");
        return false;
    }
    if (req[0] != FP_HOST_API_MAJOR || req[1] > FP_HOST_API_MINOR ||
        (req[1] == FP_HOST_API_MINOR && req[2] > FP_HOST_API_PATCH)) {
        snprintf(err, errlen,
                 "plugin requires API version %s, which is not compatible with the host's API "
                 "version %s",
                 s, FP_HOST_API_STR);
        return false;
    }

    p->name = xstrdup(p->api.get_name());
    p->description = xstrdup(p->api.get_description());
    p->contact = xstrdup(p->api.get_contact());
    s = p->api.get_version();
    p->version = xstrdup(s);
    if (!p->name[0]) {
        snprintf(err, errlen, "plugin returned an empty name");
        return false;
    }
    {
        unsigned long v[3];
        if (!parse_version(s, v, true)) {
            snprintf(err, errlen, "plugin provided an invalid version string '%s'",
                     s ? s : "(null)");
            return false;
        }
    }

    p->caps = 0;
    for (i = 0; i < sizeof k_caps / sizeof k_caps[0]; i++) {
        size_t have = 0, total = 0;
        sb_reset(&missing);
        for (k = 0; k_caps[i].syms[k]; k++) {
            total++;
            if (sym(p, k_caps[i].syms[k])) {
                have++;
            } else {
                if (missing.n)
                    sb_adds(&missing, ", ");
                sb_printf(&missing, "plugin_%s", k_caps[i].syms[k]);
            }
        }
        if (have == total) {
            p->caps |= k_caps[i].bit;
        } else if (have > 0) {
            snprintf(err, errlen, "plugin has an incomplete %s capability: missing %s",
                     k_caps[i].label, sb_str(&missing));
            sb_free(&missing);
            return false;
        }
    }
    sb_free(&missing);
    if (!p->caps) {
        snprintf(err, errlen, "plugin implements no capability (source, extract, parse, "
                              "async or listen)");
        return false;
    }

    p->id = 0;
    p->source = xstrdup("");
    if (p->caps & CAP_SOURCE) {
        if (p->api.get_id)
            p->id = p->api.get_id();
        if (p->api.get_event_source) {
            free(p->source);
            p->source = xstrdup(p->api.get_event_source());
        }
        if (p->id != 0 && !p->source[0]) {
            snprintf(err, errlen,
                     "plugin has ID %" PRIu32 " but no event source (plugin_get_event_source "
                     "is missing or returns an empty string)",
                     p->id);
            return false;
        }
        if (p->id == 0 && p->source[0]) {
            snprintf(err, errlen,
                     "plugin has event source '%s' but no ID (plugin_get_id is missing or "
                     "returns 0)",
                     p->source);
            return false;
        }
        if (!strcmp(p->source, "syscall")) {
            snprintf(err, errlen, "plugin can't implement the reserved event source 'syscall'");
            return false;
        }
    }
    p->evt_source = p->id ? p->source : "syscall";

    if (p->api.get_init_schema) {
        ss_plugin_schema_type t = SS_PLUGIN_SCHEMA_NONE;
        s = p->api.get_init_schema(&t);
        if (t == SS_PLUGIN_SCHEMA_JSON && s && s[0]) {
            char jerr[256];
            p->schema_str = xstrdup(s);
            p->schema = json_parse(s, jerr, sizeof jerr);
            if (!p->schema) {
                snprintf(err, errlen, "the plugin's init schema is not valid JSON: %s", jerr);
                return false;
            }
            if (!schema_check_dialect(p->schema, err, errlen))
                return false;
        } else if (t != SS_PLUGIN_SCHEMA_NONE && t != SS_PLUGIN_SCHEMA_JSON) {
            snprintf(err, errlen, "plugin_get_init_schema returned an unknown schema type %d",
                     (int)t);
            return false;
        }
    }
    return true;
}

/* Gives the config string init/set_config receive, validated when the plugin has a schema.
 * Returns NULL (and err) when the config is rejected. */
static char *prepare_config(const host_plugin *p, const char *cfg, const char *what, char *err,
                            size_t errlen)
{
    char jerr[256], verrbuf[ERRBUF];
    jnode *j;
    if (!cfg)
        cfg = "";
    if (!p->schema)
        return xstrdup(cfg);
    if (!cfg[0])
        cfg = "{}";
    j = json_parse(cfg, jerr, sizeof jerr);
    if (!j) {
        snprintf(err, errlen, "%s is not valid JSON (%s), but the plugin has a JSON init schema",
                 what, jerr);
        return NULL;
    }
    if (!schema_validate(p->schema, j, verrbuf, sizeof verrbuf)) {
        snprintf(err, errlen, "%s does not match the plugin's init schema: %s", what, verrbuf);
        jfree(j);
        return NULL;
    }
    jfree(j);
    return xstrdup(cfg);
}

static const char *plugin_last_error(host_plugin *p, ss_plugin_t *st)
{
    const char *e;
    if (!st)
        return "(the plugin returned no state, so no error message is available)";
    e = p->api.get_last_error(st);
    return (e && e[0]) ? e : "(the plugin's get_last_error returned no message)";
}

/* Inits state slot k; the state is kept (for destroy) even when init fails. */
static bool init_state(host_plugin *p, uint64_t k, const char *config, char *err, size_t errlen)
{
    ss_plugin_init_input in;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    ss_plugin_t *st;
    host_owner *ow = &p->owners[k];

    memset(ow, 0, sizeof *ow);
    ow->magic = OWNER_MAGIC;
    ow->plugin = p;
    ow->index = k;
    memset(&in, 0, sizeof in);
    in.config = config;
    in.owner = ow;
    in.get_owner_last_error = host_get_owner_last_error;
    in.tables = NULL;
    in.log_fn = host_log_fn;

    st = p->api.init(&in, &rc);
    p->states[k] = st;
    if (k + 1 > p->nstates)
        p->nstates = k + 1;
    if (rc != SS_PLUGIN_SUCCESS) {
        snprintf(err, errlen, "could not initialize plugin (rc=%d): %s", (int)rc,
                 plugin_last_error(p, st));
        return false;
    }
    if (!sigint_unchanged()) {
        snprintf(err, errlen, "plugin init changed the SIGINT handler");
        return false;
    }
    return true;
}

static void destroy_states(host_plugin *p)
{
    uint64_t k = p->nstates;
    while (k-- > 0) {
        if (p->states[k])
            p->api.destroy(p->states[k]);
        p->states[k] = NULL;
    }
    p->nstates = 0;
}

/* ------------------------------------------------------------------------ */
/* Exported symbol listing (from the ELF dynamic symbol table)              */
/* ------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_add(char ***v, size_t *n, const char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = xstrdup(s);
}

static bool elf_plugin_symbols(const char *path, char ***out, size_t *nout)
{
    int fd;
    struct stat stt;
    uint8_t *buf = NULL;
    size_t size, got = 0, i, shnum;
    Elf64_Ehdr eh;
    bool ok = false;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (fstat(fd, &stt) != 0 || stt.st_size < (off_t)sizeof eh) {
        close(fd);
        return false;
    }
    size = (size_t)stt.st_size;
    buf = xmalloc(size);
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != size)
        goto done;
    memcpy(&eh, buf, sizeof eh);
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64)
        goto done;
    shnum = eh.e_shnum;
    if (!eh.e_shoff || eh.e_shentsize < sizeof(Elf64_Shdr) || eh.e_shoff > size ||
        shnum > (size - eh.e_shoff) / eh.e_shentsize)
        goto done;
    for (i = 0; i < shnum; i++) {
        Elf64_Shdr sh, strh;
        size_t ent, cnt, k;
        memcpy(&sh, buf + eh.e_shoff + i * eh.e_shentsize, sizeof sh);
        if (sh.sh_type != SHT_DYNSYM || sh.sh_link >= shnum)
            continue;
        memcpy(&strh, buf + eh.e_shoff + (size_t)sh.sh_link * eh.e_shentsize, sizeof strh);
        if (sh.sh_offset > size || sh.sh_size > size - sh.sh_offset || strh.sh_offset > size ||
            strh.sh_size > size - strh.sh_offset)
            goto done;
        ent = sh.sh_entsize ? sh.sh_entsize : sizeof(Elf64_Sym);
        if (ent < sizeof(Elf64_Sym))
            goto done;
        cnt = sh.sh_size / ent;
        for (k = 0; k < cnt; k++) {
            Elf64_Sym sy;
            const char *nm;
            unsigned bind, vis;
            memcpy(&sy, buf + sh.sh_offset + k * ent, sizeof sy);
            if (sy.st_shndx == SHN_UNDEF || sy.st_name >= strh.sh_size)
                continue;
            bind = ELF64_ST_BIND(sy.st_info);
            vis = ELF64_ST_VISIBILITY(sy.st_other);
            if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE)
                continue;
            if (vis != STV_DEFAULT && vis != STV_PROTECTED)
                continue;
            nm = (const char *)buf + strh.sh_offset + sy.st_name;
            if (strnlen(nm, strh.sh_size - sy.st_name) == strh.sh_size - sy.st_name)
                continue;
            if (strncmp(nm, "plugin_", 7) == 0)
                names_add(out, nout, nm);
        }
        ok = true;
    }
done:
    free(buf);
    return ok;
}

/* Every plugin_* symbol of the library, sorted; from ELF, else by probing known names. */
static void exported_symbols(host_plugin *p, char ***out, size_t *nout)
{
    static const char *known[] = {
        "get_required_api_version", "get_version", "get_name", "get_description", "get_contact",
        "get_init_schema", "init", "destroy", "get_last_error", "get_id", "get_event_source",
        "open", "close", "list_open_params", "get_progress", "event_to_string", "next_batch",
        "get_fields", "extract_fields", "get_extract_event_types", "get_extract_event_sources",
        "get_parse_event_types", "get_parse_event_sources", "parse_event",
        "get_async_event_sources", "get_async_events", "set_async_event_handler", "dump_state",
        "set_config", "get_metrics", "capture_open", "capture_close", NULL};
    size_t i, w;
    *out = NULL;
    *nout = 0;
    if (!elf_plugin_symbols(p->path, out, nout)) {
        for (i = 0; known[i]; i++) {
            if (sym(p, known[i])) {
                char full[128];
                snprintf(full, sizeof full, "plugin_%s", known[i]);
                names_add(out, nout, full);
            }
        }
    }
    if (*nout > 1) {
        qsort(*out, *nout, sizeof **out, cmp_str);
        for (i = 1, w = 1; i < *nout; i++) {
            if (strcmp((*out)[i], (*out)[w - 1]) != 0)
                (*out)[w++] = (*out)[i];
            else
                free((*out)[i]);
        }
        *nout = w;
    }
}

/* ------------------------------------------------------------------------ */
/* The capture: next_batch loop on an event thread                          */
/* ------------------------------------------------------------------------ */

static atomic_int g_abort;

static inline uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Header checks; for plugin events also fills in the plugin id. */
static bool check_event(host_plugin *p, ss_plugin_event *e, char *err, size_t errlen)
{
    uint8_t *b = (uint8_t *)e;
    uint32_t len = e->len;
    uint32_t np = e->nparams;
    uint16_t type = e->type;

    if (len < FP_EVENT_HEADER_LEN) {
        snprintf(err, errlen, "event length %" PRIu32 " is shorter than the 26-byte header",
                 len);
        return false;
    }
    if (p->id != 0) {
        uint32_t l1, l2, pid;
        if (type != FP_PLUGINEVENT_TYPE) {
            snprintf(err, errlen,
                     "event type %u is not allowed for a plugin with an ID: it must be %u "
                     "(PLUGINEVENT)",
                     (unsigned)type, FP_PLUGINEVENT_TYPE);
            return false;
        }
        if (np != 2) {
            snprintf(err, errlen, "a plugin event must have 2 parameters, this one has %" PRIu32,
                     np);
            return false;
        }
        if (len < FP_PLUGINEVENT_PAYLOAD_OFFSET) {
            snprintf(err, errlen, "event length %" PRIu32 " is too short for a plugin event", len);
            return false;
        }
        l1 = rd32(b + 26);
        l2 = rd32(b + 30);
        if (l1 != 4) {
            snprintf(err, errlen,
                     "the plugin id parameter of a plugin event must be 4 bytes long, not %" PRIu32,
                     l1);
            return false;
        }
        if ((uint64_t)FP_EVENT_HEADER_LEN + 8u + l1 + l2 != len) {
            snprintf(err, errlen,
                     "event length %" PRIu32 " does not match its parameters (26 + 8 + %" PRIu32
                     " + %" PRIu32 ")",
                     len, l1, l2);
            return false;
        }
        pid = rd32(b + 34);
        if (pid == 0) {
            memcpy(b + 34, &p->id, 4);
        } else if (pid != p->id) {
            snprintf(err, errlen,
                     "event carries plugin id %" PRIu32 " but the plugin's id is %" PRIu32, pid,
                     p->id);
            return false;
        }
        return true;
    }
    /* Other events: the parameter lengths are 2 or 4 bytes depending on the event type,
     * which needs the event table; accept the event when either reading is consistent. */
    {
        uint64_t sum2 = 0, sum4 = 0, i;
        bool ok2 = (uint64_t)FP_EVENT_HEADER_LEN + 2ull * np <= len;
        bool ok4 = (uint64_t)FP_EVENT_HEADER_LEN + 4ull * np <= len;
        if (ok2) {
            for (i = 0; i < np; i++)
                sum2 += rd16(b + 26 + 2 * i);
            ok2 = (uint64_t)FP_EVENT_HEADER_LEN + 2ull * np + sum2 == len;
        }
        if (ok4) {
            for (i = 0; i < np; i++)
                sum4 += rd32(b + 26 + 4 * i);
            ok4 = (uint64_t)FP_EVENT_HEADER_LEN + 4ull * np + sum4 == len;
        }
        if (!ok2 && !ok4) {
            snprintf(err, errlen,
                     "event length %" PRIu32 " does not match its %" PRIu32
                     " parameters (neither as 2-byte nor as 4-byte lengths)",
                     len, np);
            return false;
        }
    }
    return true;
}

static void print_event(host_plugin *p, sbuf *line, const ss_plugin_event *e, uint64_t evtnum,
                        const char *info)
{
    const uint8_t *b = (const uint8_t *)e;
    sb_reset(line);
    if (g_opt.json) {
        bool plugin_evt = p->id != 0;
        uint32_t pid = plugin_evt ? rd32(b + 34) : p->id;
        sb_adds(line, "{\"plugin\": ");
        sb_json_str(line, p->name);
        sb_printf(line,
                  ", \"evtnum\": %" PRIu64 ", \"ts\": %" PRIu64 ", \"tid\": %" PRId64
                  ", \"type\": %u, \"source\": ",
                  evtnum, (uint64_t)e->ts, (int64_t)e->tid, (unsigned)e->type);
        sb_json_str(line, p->evt_source);
        sb_printf(line, ", \"plugin_id\": %" PRIu32 ", \"info\": ", pid);
        sb_json_str(line, info);
        sb_adds(line, ", \"payload_hex\": \"");
        if (plugin_evt)
            sb_hex(line, b + FP_PLUGINEVENT_PAYLOAD_OFFSET, rd32(b + 30));
        else
            sb_hex(line, b, e->len);
        sb_adds(line, "\"}");
    } else {
        sb_printf(line, "%" PRIu64 " %" PRIu64 " %s ", evtnum, (uint64_t)e->ts,
                  p->evt_source);
        if (info)
            sb_adds(line, info);
    }
    out_line(stdout, line);
}

static void *capture_main(void *arg)
{
    host_plugin *p = arg;
    ss_plugin_t *st = p->states[0];
    const uint64_t max = g_opt.max_events;
    const bool quiet = g_opt.quiet;
    const bool e2s = !g_opt.no_e2s && p->api.event_to_string != NULL;
    const bool is_plugin_src = p->id != 0;
    ss_plugin_event_input ein;
    char err[ERRBUF];
    sbuf line = {0};
    uint64_t n = 0;
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC);

    ein.evt = NULL;
    ein.evtnum = 0;
    ein.evtsrc = p->evt_source;

    for (;;) {
        uint32_t nevts = 0, i;
        ss_plugin_event **evts = NULL;
        ss_plugin_rc rc;
        uint64_t stamp = 0;

        if (atomic_load_explicit(&g_abort, memory_order_relaxed) || g_sigint)
            break;
        rc = p->api.next_batch(st, p->inst, &nevts, &evts);
        if (rc == SS_PLUGIN_SUCCESS) {
            if (nevts == 0) {
                report_error(p->name, "next_batch", "next_batch returned SUCCESS with no events");
                goto fail;
            }
        } else if (rc == SS_PLUGIN_TIMEOUT) {
            p->timeouts++;
        } else if (rc == SS_PLUGIN_FAILURE) {
            report_error(p->name, "next_batch", "next_batch failed: %s",
                         plugin_last_error(p, st));
            goto fail;
        } else if (rc != SS_PLUGIN_EOF) {
            report_error(p->name, "next_batch", "next_batch returned an unknown return code %d",
                         (int)rc);
            goto fail;
        }
        if (nevts > 0 && !evts) {
            report_error(p->name, "next_batch",
                         "next_batch returned %" PRIu32 " events but a NULL event array", nevts);
            goto fail;
        }
        for (i = 0; i < nevts; i++) {
            ss_plugin_event *e = evts[i];
            const char *info = NULL;
            if (!e) {
                report_error(p->name, "event", "event %" PRIu32 " of the batch is a NULL pointer",
                             i);
                goto fail;
            }
            if (!check_event(p, e, err, sizeof err)) {
                report_error(p->name, "event", "invalid event (number %" PRIu64 "): %s", n + 1,
                             err);
                goto fail;
            }
            if (e->ts == UINT64_MAX) {
                /* one clock read per batch: every event of a batch gets the same "now" */
                if (!stamp)
                    stamp = clock_ns(CLOCK_REALTIME);
                e->ts = stamp;
            }
            if (is_plugin_src)
                e->tid = UINT64_MAX;
            n++;
            if (e2s) {
                ein.evt = e;
                ein.evtnum = n;
                info = p->api.event_to_string(st, &ein);
            }
            if (!quiet)
                print_event(p, &line, e, n, info);
            if (max && n >= max) {
                p->eof = rc == SS_PLUGIN_EOF && i + 1 == nevts;
                goto done;
            }
        }
        p->events = n;
        if (rc == SS_PLUGIN_EOF) {
            p->eof = true;
            break;
        }
    }
    goto done;
fail:
    p->failed = true;
    atomic_store(&g_abort, 1);
done:
    p->events = n;
    p->capture_seconds = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    sb_free(&line);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* After the capture: progress, metrics, summary                            */
/* ------------------------------------------------------------------------ */

static void report_progress(host_plugin *p)
{
    uint32_t pct = 0;
    const char *txt;
    sbuf b = {0};
    if (!p->api.get_progress || !p->opened)
        return;
    txt = p->api.get_progress(p->states[0], p->inst, &pct);
    if (g_opt.json) {
        sb_adds(&b, "{\"progress\": {\"plugin\": ");
        sb_json_str(&b, p->name);
        sb_printf(&b, ", \"pct\": %" PRIu32 ", \"text\": ", pct);
        sb_json_str(&b, txt);
        sb_adds(&b, "}}");
    } else {
        sb_printf(&b, "progress %s: %" PRIu32 ".%02" PRIu32 "%%", p->name, pct / 100, pct % 100);
        if (txt)
            sb_printf(&b, " %s", txt);
    }
    out_line(stdout, &b);
    sb_free(&b);
    if (pct > 10000)
        report_warning(p->name, "get_progress returned %" PRIu32 ", above 10000 (100.00%%)", pct);
}

static void metric_value(sbuf *b, const ss_plugin_metric *m, const char **vt)
{
    switch (m->value_type) {
    case SS_PLUGIN_METRIC_VALUE_TYPE_U32:
        *vt = "u32";
        sb_printf(b, "%" PRIu32, m->value.u32);
        return;
    case SS_PLUGIN_METRIC_VALUE_TYPE_S32:
        *vt = "s32";
        sb_printf(b, "%" PRId32, m->value.s32);
        return;
    case SS_PLUGIN_METRIC_VALUE_TYPE_U64:
        *vt = "u64";
        sb_printf(b, "%" PRIu64, m->value.u64);
        return;
    case SS_PLUGIN_METRIC_VALUE_TYPE_S64:
        *vt = "s64";
        sb_printf(b, "%" PRId64, m->value.s64);
        return;
    case SS_PLUGIN_METRIC_VALUE_TYPE_D:
        *vt = "d";
        sb_json_double(b, m->value.d, "%.17g");
        return;
    case SS_PLUGIN_METRIC_VALUE_TYPE_F:
        *vt = "f";
        sb_json_double(b, (double)m->value.f, "%.9g");
        return;
    case SS_PLUGIN_METRIC_VALUE_TYPE_I:
        *vt = "i";
        sb_printf(b, "%d", m->value.i);
        return;
    }
    *vt = "unknown";
    sb_adds(b, "null");
}

static bool report_metrics(host_plugin *p)
{
    uint32_t n = 0, i;
    ss_plugin_metric *m;
    sbuf b = {0}, v = {0};
    if (!p->api.get_metrics || !p->nstates)
        return true;
    m = p->api.get_metrics(p->states[0], &n);
    if (n > 0 && !m) {
        report_error(p->name, "metrics", "get_metrics returned %" PRIu32 " metrics but NULL", n);
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!m[i].name) {
            report_error(p->name, "metrics", "metric %" PRIu32 " has a NULL name", i);
            return false;
        }
    }
    if (g_opt.json) {
        sb_adds(&b, "{\"metrics\": {\"plugin\": ");
        sb_json_str(&b, p->name);
        sb_adds(&b, ", \"items\": [");
        for (i = 0; i < n; i++) {
            const char *vt;
            sb_reset(&v);
            metric_value(&v, &m[i], &vt);
            if (i)
                sb_adds(&b, ", ");
            sb_adds(&b, "{\"name\": ");
            sb_json_str(&b, m[i].name);
            sb_printf(&b, ", \"type\": \"%s\", \"value_type\": \"%s\", \"value\": %s}",
                      m[i].type == SS_PLUGIN_METRIC_TYPE_MONOTONIC ? "monotonic"
                                                                   : "non_monotonic",
                      vt, sb_str(&v));
        }
        sb_adds(&b, "]}}");
        out_line(stdout, &b);
    } else {
        for (i = 0; i < n; i++) {
            const char *vt;
            sb_reset(&v);
            sb_reset(&b);
            metric_value(&v, &m[i], &vt);
            sb_printf(&b, "metric %s: %s = %s (%s, %s)", p->name, m[i].name, sb_str(&v),
                      m[i].type == SS_PLUGIN_METRIC_TYPE_MONOTONIC ? "monotonic"
                                                                   : "non_monotonic",
                      vt);
            out_line(stdout, &b);
        }
    }
    sb_free(&b);
    sb_free(&v);
    return true;
}

static void report_summary(host_plugin *p, uint64_t cycle)
{
    sbuf b = {0};
    double eps = p->capture_seconds > 0 ? (double)p->events / p->capture_seconds : 0.0;
    if (g_opt.json) {
        sb_adds(&b, "{\"summary\": {\"plugin\": ");
        sb_json_str(&b, p->name);
        sb_printf(&b,
                  ", \"cycle\": %" PRIu64 ", \"inits\": %" PRIu64 ", \"events\": %" PRIu64
                  ", \"timeouts\": %" PRIu64 ", \"eof\": %s, \"capture_seconds\": ",
                  cycle, g_opt.inits, p->events, p->timeouts,
                  p->eof ? "true" : "false");
        sb_json_double(&b, p->capture_seconds, "%.6f");
        sb_adds(&b, ", \"events_per_second\": ");
        sb_json_double(&b, eps, "%.1f");
        sb_adds(&b, ", \"init_ms\": ");
        sb_json_double(&b, p->init_ms, "%.3f");
        sb_printf(&b, ", \"rss_kb_after_init\": %ld}}", p->rss_kb);
    } else {
        sb_printf(&b,
                  "summary %s: cycle %" PRIu64 ", %" PRIu64 " events, %" PRIu64
                  " timeouts, eof %s, %.6f s capture, %.1f events/s, init %.3f ms, "
                  "rss after init %ld kB",
                  p->name, cycle, p->events, p->timeouts, p->eof ? "yes" : "no",
                  p->capture_seconds, eps, p->init_ms, p->rss_kb);
    }
    out_line(stdout, &b);
    sb_free(&b);
}

/* ------------------------------------------------------------------------ */
/* run                                                                      */
/* ------------------------------------------------------------------------ */

static void close_instance(host_plugin *p)
{
    if (p->opened && p->api.close)
        p->api.close(p->states[0], p->inst);
    p->opened = false;
    p->inst = NULL;
}

/* One whole load/init/capture/destroy cycle over every plugin; false on error. */
static bool run_cycle(host_plugin *pl, size_t np, uint64_t cycle)
{
    char err[4 * ERRBUF];
    size_t i, j;
    bool ok = true;
    size_t loaded_upto = 0; /* plugins [0, loaded_upto) went through load */

    for (i = 0; i < np; i++) {
        host_plugin *p = &pl[i];
        uint64_t t0 = clock_ns(CLOCK_MONOTONIC), k;

        p->events = p->timeouts = 0;
        p->eof = p->failed = false;
        p->capture_seconds = 0;
        p->nstates = 0;
        if (!p->handle) {
            free_plugin_facts(p);
            if (!load_plugin(p, err, sizeof err)) {
                report_error(plugin_label(p), "load", "%s", err);
                loaded_upto = i + 1;
                ok = false;
                goto cleanup;
            }
        }
        loaded_upto = i + 1;
        for (j = 0; j < i; j++) {
            if (!strcmp(pl[j].name, p->name)) {
                report_error(p->name, "load",
                             "a plugin named '%s' is already loaded (from %s): plugin names "
                             "must be unique",
                             p->name, pl[j].path);
                ok = false;
                goto cleanup;
            }
            if (p->id != 0 && pl[j].id == p->id) {
                report_error(p->name, "load",
                             "plugin ID %" PRIu32 " is already used by plugin '%s'", p->id,
                             pl[j].name);
                ok = false;
                goto cleanup;
            }
        }
        free(p->init_config);
        p->init_config = prepare_config(p, p->config, "init config", err, sizeof err);
        if (!p->init_config) {
            report_error(p->name, "config", "%s", err);
            ok = false;
            goto cleanup;
        }
        install_sigint();
        for (k = 0; k < g_opt.inits; k++) {
            if (!init_state(p, k, p->init_config, err, sizeof err)) {
                report_error(p->name, "init", "%s", err);
                ok = false;
                goto cleanup;
            }
        }
        p->init_ms = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6;
        p->rss_kb = read_rss_kb();

        if (p->set_config) {
            char *cfg;
            ss_plugin_set_config_input sin;
            if (!p->api.set_config) {
                report_error(p->name, "set_config",
                             "--set-config given but the plugin does not export "
                             "plugin_set_config");
                ok = false;
                goto cleanup;
            }
            cfg = prepare_config(p, p->set_config, "set_config config", err, sizeof err);
            if (!cfg) {
                report_error(p->name, "set_config", "%s", err);
                ok = false;
                goto cleanup;
            }
            sin.config = cfg;
            for (k = 0; k < p->nstates; k++) {
                ss_plugin_rc rc = p->api.set_config(p->states[k], &sin);
                if (rc != SS_PLUGIN_SUCCESS) {
                    report_error(p->name, "set_config", "set_config failed (rc=%d): %s",
                                 (int)rc, plugin_last_error(p, p->states[k]));
                    free(cfg);
                    ok = false;
                    goto cleanup;
                }
            }
            free(cfg);
        }
    }

    /* open every source on the main thread, then one event thread per plugin */
    for (i = 0; i < np; i++) {
        host_plugin *p = &pl[i];
        ss_plugin_rc rc = SS_PLUGIN_FAILURE;
        if (!(p->caps & CAP_SOURCE))
            continue;
        p->inst = p->api.open(p->states[0], p->open_params ? p->open_params : "", &rc);
        if (rc != SS_PLUGIN_SUCCESS) {
            report_error(p->name, "open", "could not open the capture (rc=%d): %s", (int)rc,
                         plugin_last_error(p, p->states[0]));
            if (p->inst) {
                /* an instance handed back on failure still belongs to the plugin */
                p->opened = true;
            }
            ok = false;
            goto cleanup;
        }
        p->opened = true;
    }
    atomic_store(&g_abort, 0);
    for (i = 0; i < np; i++) {
        host_plugin *p = &pl[i];
        int e;
        if (!p->opened)
            continue;
        e = pthread_create(&p->thread, NULL, capture_main, p);
        if (e != 0) {
            report_error(p->name, "capture", "cannot start the event thread: %s", strerror(e));
            atomic_store(&g_abort, 1);
            ok = false;
            break;
        }
        p->thread_started = true;
    }
    for (i = 0; i < np; i++) {
        if (pl[i].thread_started) {
            pthread_join(pl[i].thread, NULL);
            pl[i].thread_started = false;
            if (pl[i].failed)
                ok = false;
        }
    }
    for (i = 0; i < np; i++) {
        report_progress(&pl[i]);
        if (!report_metrics(&pl[i]))
            ok = false;
    }

cleanup:
    for (i = 0; i < np; i++)
        close_instance(&pl[i]);
    for (i = loaded_upto; i-- > 0;)
        destroy_states(&pl[i]);
    if (ok) {
        for (i = 0; i < np; i++)
            report_summary(&pl[i], cycle);
    }
    if (g_opt.reload || !ok || cycle == g_opt.cycles) {
        for (i = 0; i < loaded_upto; i++)
            unload_plugin(&pl[i]);
    }
    return ok;
}

static int cmd_run(host_plugin *pl, size_t np)
{
    uint64_t c;
    size_t i;
    int rc = 0;
    for (i = 0; i < np; i++) {
        pl[i].states = xcalloc(g_opt.inits, sizeof *pl[i].states);
        pl[i].owners = xcalloc(g_opt.inits, sizeof *pl[i].owners);
    }
    for (c = 1; c <= g_opt.cycles; c++) {
        if (!run_cycle(pl, np, c)) {
            rc = 1;
            break;
        }
        if (g_sigint)
            break;
    }
    for (i = 0; i < np; i++) {
        unload_plugin(&pl[i]);
        free_plugin_facts(&pl[i]);
        free(pl[i].states);
        free(pl[i].owners);
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* info                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
    char *value, *desc, *sep;
} open_param;

static void cap_names(const host_plugin *p, sbuf *text, sbuf *json)
{
    bool first = true;
    size_t i;
    static const char *keys[] = {"source", "extract", "parse", "async", "listen"};
    for (i = 0; i < sizeof k_caps / sizeof k_caps[0]; i++) {
        if (!(p->caps & k_caps[i].bit))
            continue;
        if (!first)
            sb_adds(json, ", ");
        first = false;
        sb_printf(json, "\"%s\"", keys[i]);
        switch (k_caps[i].bit) {
        case CAP_SOURCE:
            sb_printf(text, "  - Event Sourcing (ID=%" PRIu32 ", source='%s')\n", p->id,
                      p->evt_source);
            break;
        case CAP_EXTRACT: sb_adds(text, "  - Field Extraction\n"); break;
        case CAP_PARSE: sb_adds(text, "  - Event Parsing\n"); break;
        case CAP_ASYNC: sb_adds(text, "  - Async Events\n"); break;
        case CAP_LISTEN: sb_adds(text, "  - Capture Listening\n"); break;
        }
    }
}

static int cmd_info(host_plugin *p)
{
    char err[4 * ERRBUF];
    sbuf text = {0}, caps_json = {0}, out = {0};
    open_param *ops = NULL;
    size_t nops = 0, i;
    bool have_ops = false;
    char *init_error = NULL;
    char **exp = NULL;
    size_t nexp = 0;
    ss_plugin_t *st = NULL;
    host_owner owner;
    ss_plugin_t *states[1] = {NULL};

    if (!load_plugin(p, err, sizeof err)) {
        report_error(plugin_label(p), "load", "%s", err);
        unload_plugin(p);
        free_plugin_facts(p);
        return 1;
    }
    cap_names(p, &text, &caps_json);

    /* like Falco's --plugin-info: init with the default config, then ask for open params */
    p->states = states;
    p->owners = &owner;
    {
        char *cfg = prepare_config(p, "", "the default init config", err, sizeof err);
        if (!cfg) {
            init_error = xstrdup(err);
        } else {
            install_sigint();
            if (!init_state(p, 0, cfg, err, sizeof err))
                init_error = xstrdup(err);
            else
                st = p->states[0];
            free(cfg);
        }
    }
    if (init_error)
        report_warning(p->name, "could not init the plugin to list its open params: %s",
                       init_error);
    if (st && p->api.list_open_params) {
        ss_plugin_rc rc = SS_PLUGIN_FAILURE;
        const char *s = p->api.list_open_params(st, &rc);
        if (rc != SS_PLUGIN_SUCCESS) {
            report_warning(p->name, "list_open_params failed: %s", plugin_last_error(p, st));
        } else {
            char jerr[256];
            jnode *j = json_parse(s && s[0] ? s : "[]", jerr, sizeof jerr);
            if (!j || j->k != J_ARR) {
                report_warning(p->name, "list_open_params did not return a JSON array%s%s",
                               j ? "" : ": ", j ? "" : jerr);
            } else {
                have_ops = true;
                for (i = 0; i < j->n; i++) {
                    const jnode *it = j->v[i];
                    const char *v = jget_str(it, "value");
                    if (!v) {
                        report_warning(p->name, "open param %zu has no string \"value\"", i);
                        continue;
                    }
                    ops = xrealloc(ops, (nops + 1) * sizeof *ops);
                    ops[nops].value = xstrdup(v);
                    ops[nops].desc = xstrdup(jget_str(it, "desc"));
                    ops[nops].sep = xstrdup(jget_str(it, "separator"));
                    nops++;
                }
            }
            jfree(j);
        }
    }
    destroy_states(p);
    p->states = NULL;
    p->owners = NULL;

    exported_symbols(p, &exp, &nexp);

    if (g_opt.json) {
        sb_adds(&out, "{\"name\": ");
        sb_json_str(&out, p->name);
        sb_adds(&out, ", \"description\": ");
        sb_json_str(&out, p->description);
        sb_adds(&out, ", \"contact\": ");
        sb_json_str(&out, p->contact);
        sb_adds(&out, ", \"version\": ");
        sb_json_str(&out, p->version);
        sb_adds(&out, ", \"required_api_version\": ");
        sb_json_str(&out, p->required_api);
        sb_printf(&out, ", \"capabilities\": [%s]", sb_str(&caps_json));
        if (p->caps & CAP_SOURCE) {
            sb_printf(&out, ", \"id\": %" PRIu32 ", \"event_source\": ", p->id);
            sb_json_str(&out, p->source);
        } else {
            sb_adds(&out, ", \"id\": null, \"event_source\": null");
        }
        sb_adds(&out, ", \"init_schema\": ");
        sb_json_str(&out, p->schema_str);
        sb_adds(&out, ", \"open_params\": ");
        if (have_ops) {
            sb_addc(&out, '[');
            for (i = 0; i < nops; i++) {
                if (i)
                    sb_adds(&out, ", ");
                sb_adds(&out, "{\"value\": ");
                sb_json_str(&out, ops[i].value);
                sb_adds(&out, ", \"desc\": ");
                sb_json_str(&out, ops[i].desc);
                if (ops[i].sep[0]) {
                    sb_adds(&out, ", \"separator\": ");
                    sb_json_str(&out, ops[i].sep);
                }
                sb_addc(&out, '}');
            }
            sb_addc(&out, ']');
        } else {
            sb_adds(&out, "null");
        }
        sb_adds(&out, ", \"init_error\": ");
        sb_json_str(&out, init_error);
        sb_adds(&out, ", \"exported\": [");
        for (i = 0; i < nexp; i++) {
            if (i)
                sb_adds(&out, ", ");
            sb_json_str(&out, exp[i]);
        }
        sb_adds(&out, "]}");
    } else {
        sb_printf(&out, "Name: %s\nDescription: %s\nContact: %s\nVersion: %s\n"
                        "Required API version: %s\nCapabilities:\n%s",
                  p->name, p->description, p->contact, p->version, p->required_api,
                  sb_str(&text));
        if (p->schema) {
            sb_adds(&out, "Init config schema type: JSON\n");
            jdump(&out, p->schema, 2, 0);
            sb_addc(&out, '\n');
        } else {
            sb_adds(&out, "No init config schema\n");
        }
        if (have_ops) {
            if (!nops)
                sb_adds(&out, "Suggested open params: none\n");
            else
                sb_adds(&out, "Suggested open params:\n");
            for (i = 0; i < nops; i++) {
                sb_printf(&out, "  %s", ops[i].value);
                if (ops[i].desc[0])
                    sb_printf(&out, "  %s", ops[i].desc);
                if (ops[i].sep[0])
                    sb_printf(&out, " (separator '%s')", ops[i].sep);
                sb_addc(&out, '\n');
            }
        }
        sb_add(&out, "Exported symbols:", 17);
        for (i = 0; i < nexp; i++)
            sb_printf(&out, " %s", exp[i]);
        if (out.n && out.p[out.n - 1] == '\n')
            sb_truncate(&out, out.n - 1);
    }
    out_line(stdout, &out);

    for (i = 0; i < nops; i++) {
        free(ops[i].value);
        free(ops[i].desc);
        free(ops[i].sep);
    }
    free(ops);
    for (i = 0; i < nexp; i++)
        free(exp[i]);
    free(exp);
    free(init_error);
    sb_free(&text);
    sb_free(&caps_json);
    sb_free(&out);
    unload_plugin(p);
    free_plugin_facts(p);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

static const char k_usage[] =
    "usage:\n"
    "  fp-host info [--json] PATH.so\n"
    "  fp-host run [run options] PATH.so [--config STR] [--open-params STR] [--set-config STR]\n"
    "              [PATH2.so [--config STR] ...]\n"
    "\n"
    "run options (before the first PATH):\n"
    "  --max-events N         stop each capture after N events (0 = unlimited, default)\n"
    "  --json                 JSON lines on stdout\n"
    "  --quiet                no per-event lines\n"
    "  --cycles K             repeat load/init/capture/destroy K times (default 1)\n"
    "  --reload               dlclose after each cycle and dlopen again\n"
    "  --inits N              init each plugin N times, all states alive together\n"
    "  --deepbind             dlopen with RTLD_DEEPBIND too\n"
    "  --no-event-to-string   skip event_to_string\n"
    "\n"
    "host plugin API version " FP_HOST_API_STR "\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("fp-host: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    fputs(k_usage, stderr);
    return 2;
}

/* Splits "--name=value" or takes the next argument as the value. */
static bool opt_value(int argc, char **argv, int *i, const char *name, const char **val,
                      bool *matched)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    *matched = false;
    if (strncmp(a, name, n) != 0)
        return true;
    if (a[n] == '=') {
        *matched = true;
        *val = a + n + 1;
        return true;
    }
    if (a[n] != 0)
        return true;
    *matched = true;
    if (*i + 1 >= argc)
        return false;
    *val = argv[++*i];
    return true;
}

static bool is_run_option(const char *a)
{
    static const char *opts[] = {"--max-events", "--json", "--quiet", "--cycles", "--reload",
                                 "--inits", "--deepbind", "--no-event-to-string", NULL};
    size_t i;
    for (i = 0; opts[i]; i++) {
        size_t n = strlen(opts[i]);
        if (!strncmp(a, opts[i], n) && (a[n] == 0 || a[n] == '='))
            return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    int i;
    const char *val = NULL;
    bool m;

    if (argc < 2)
        return usage_error("missing command");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(k_usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("fp-host (plugin API %s)\n", FP_HOST_API_STR);
        return 0;
    }

    if (!strcmp(argv[1], "info")) {
        host_plugin p;
        memset(&p, 0, sizeof p);
        for (i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--json"))
                g_opt.json = true;
            else if (!strcmp(argv[i], "--deepbind"))
                g_opt.deepbind = true;
            else if (!strncmp(argv[i], "--", 2))
                return usage_error("unknown info option '%s'", argv[i]);
            else if (p.path)
                return usage_error("info takes exactly one plugin path");
            else
                p.path = argv[i];
        }
        if (!p.path)
            return usage_error("info needs a plugin path");
        return cmd_info(&p);
    }

    if (!strcmp(argv[1], "run")) {
        host_plugin *pl = NULL;
        size_t np = 0;
        int rc;
        for (i = 2; i < argc && !strncmp(argv[i], "--", 2); i++) {
            const char *a = argv[i];
            uint64_t v;
            if (!strcmp(a, "--json")) {
                g_opt.json = true;
            } else if (!strcmp(a, "--quiet")) {
                g_opt.quiet = true;
            } else if (!strcmp(a, "--reload")) {
                g_opt.reload = true;
            } else if (!strcmp(a, "--deepbind")) {
                g_opt.deepbind = true;
            } else if (!strcmp(a, "--no-event-to-string")) {
                g_opt.no_e2s = true;
            } else {
                static const char *numeric[] = {"--max-events", "--cycles", "--inits", NULL};
                int k;
                bool done = false;
                for (k = 0; numeric[k] && !done; k++) {
                    if (!opt_value(argc, argv, &i, numeric[k], &val, &m))
                        return usage_error("%s needs a value", numeric[k]);
                    if (!m)
                        continue;
                    done = true;
                    if (!parse_u64(val, &v))
                        return usage_error("%s needs a non-negative integer, not '%s'",
                                           numeric[k], val);
                    if (k == 0) {
                        g_opt.max_events = v;
                    } else if (v == 0) {
                        return usage_error("%s must be at least 1", numeric[k]);
                    } else if (k == 1) {
                        g_opt.cycles = v;
                    } else {
                        if (v > 1000000)
                            return usage_error("--inits is limited to 1000000");
                        g_opt.inits = v;
                    }
                }
                if (!done) {
                    if (!strncmp(a, "--config", 8) || !strncmp(a, "--open-params", 13) ||
                        !strncmp(a, "--set-config", 12))
                        return usage_error("%s must follow a plugin path", a);
                    return usage_error("unknown run option '%s'", a);
                }
            }
        }
        if (i >= argc)
            return usage_error("run needs at least one plugin path");
#define RUN_USAGE_ERROR(...)                                                                   \
    do {                                                                                       \
        free(pl);                                                                              \
        return usage_error(__VA_ARGS__);                                                       \
    } while (0)
        while (i < argc) {
            const char *a = argv[i];
            if (!strncmp(a, "--", 2)) {
                host_plugin *cur = &pl[np - 1];
                static const char *per[] = {"--config", "--open-params", "--set-config", NULL};
                int k;
                bool done = false;
                for (k = 0; per[k] && !done; k++) {
                    if (!opt_value(argc, argv, &i, per[k], &val, &m))
                        RUN_USAGE_ERROR("%s needs a value", per[k]);
                    if (!m)
                        continue;
                    done = true;
                    if (k == 0)
                        cur->config = val;
                    else if (k == 1)
                        cur->open_params = val;
                    else
                        cur->set_config = val;
                }
                if (!done) {
                    if (is_run_option(a))
                        RUN_USAGE_ERROR("run option %s must come before the first plugin "
                                           "path",
                                           a);
                    RUN_USAGE_ERROR("unknown plugin option '%s'", a);
                }
            } else {
                pl = xrealloc(pl, (np + 1) * sizeof *pl);
                memset(&pl[np], 0, sizeof pl[np]);
                pl[np].path = a;
                np++;
            }
            i++;
        }
        rc = cmd_run(pl, np);
        free(pl);
        return rc;
#undef RUN_USAGE_ERROR
    }
    return usage_error("unknown command '%s'", argv[1]);
}
