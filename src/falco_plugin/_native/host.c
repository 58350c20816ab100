/*
 * fp-host: the falco-plugin SDK's own plugin host.
 *
 * A small C11 program that loads Falco plugins (plugin API 3.x) the way
 * libsinsp and Falco do: dlopen with RTLD_LOCAL|RTLD_NOW, symbol and
 * capability checks, the required-API-version check, init config validation
 * against the plugin's JSON schema, init/open on the main thread and the
 * next_batch loop on one event thread per plugin. Field extraction follows
 * libsinsp too: get_fields parsed and checked at load, one field per
 * extract_fields call, events routed by the extractor's sources and types.
 * Parsers get each event of their sources before extraction, and parse and
 * extract plugins get the state tables API: a libsinsp-like `threads` table,
 * the tables plugins add, every handle checked before use. Async plugins get a
 * thread-safe handler whose events are delivered between the sources' batches, and
 * capture listening plugins get capture_open/capture_close and a routine thread
 * pool. It prints what it sees as text or as JSON lines so that tests and
 * benchmarks can read it.
 *
 *   fp-host info [--json] PATH.so
 *   fp-host run [run options] PATH.so [--config S] [--open-params S]
 *               [--set-config S] [PATH2.so ...]
 *   run options for fields: --fields LIST, --output FMT, --filter EXPR, --offsets,
 *               --extract-threads N, --extract-repeat K (see the usage text)
 *   run options for tables: --thread-tid T, --threads-fixture JSON, --dump-table NAME
 *   run options for async events and capture listening: --async-wait MS, --async-reset,
 *               --dump-state, --routine-threads N
 *
 * Build: cc -std=c11 -O2 -Wall -Wextra host.c -o fp-host -ldl -lpthread
 * It never links libpython: Python plugins bring their own interpreter.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
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
#include <sys/socket.h>
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
    /* field extraction */
    char **specs; /* --fields, split and trimmed */
    size_t nspecs;
    const char *output;
    const char *filter;
    bool offsets;
    uint64_t extract_threads;
    uint64_t extract_repeat;
    /* state tables */
    const char **dumps; /* --dump-table, in order */
    size_t ndumps;
    /* async events and capture listening */
    uint64_t async_wait_ms;
    bool async_reset;
    bool dump_state;
    uint64_t routine_threads;
} host_opts;

static host_opts g_opt = {.cycles = 1, .inits = 1, .routine_threads = 2};

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
    fp_get_fields_fn get_fields;
    fp_extract_fields_fn extract_fields;
    fp_get_str_fn get_extract_event_sources;
    fp_get_extract_event_types_fn get_extract_event_types;
    fp_parse_event_fn parse_event;
    fp_get_str_fn get_parse_event_sources;
    fp_get_parse_event_types_fn get_parse_event_types;
    fp_get_str_fn get_async_events;
    fp_get_str_fn get_async_event_sources;
    fp_set_async_event_handler_fn set_async_event_handler;
    fp_dump_state_fn dump_state;
    fp_capture_listen_fn capture_open;
    fp_capture_listen_fn capture_close;
} plugin_syms;

/* One entry of get_fields, as parsed. */
typedef struct {
    char *name, *display, *desc;
    const char *type_name; /* static */
    uint32_t ftype;
    bool is_list, add_output;
    bool arg_required, arg_index, arg_key;
    bool hidden, info, conversation;
} plugin_field;

typedef struct host_plugin host_plugin;

#define OWNER_MAGIC 0x66706f77u /* "fpow" */

/* What init_input.owner points to: one per plugin state. */
typedef struct {
    uint32_t magic;
    host_plugin *plugin;
    uint64_t index;
    char last_error[FP_MAX_ERRLEN];
    struct otrack *trk; /* its table handles (plugins with the tables input) */
    /* async events: the handler was given to this state (and not cleared since) and takes
     * events (both change under g_async_mu); dump_state is running on it */
    bool async_set, async_on, dumping;
    bool listen_open; /* capture_open succeeded, capture_close not called yet */
    bool routines_ok; /* subscribe is allowed (under g_pool.mu) */
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
    unsigned long req_minor; /* minor of the required API version */

    /* field extraction (load time) */
    plugin_field *fields;
    size_t nfields;
    char **xsources; /* get_extract_event_sources, non-empty entries */
    size_t nxsources;
    bool xsources_given; /* the plugin returned a list (possibly empty) */
    /* field extraction (after init, per cycle) */
    uint16_t *xtypes;
    uint32_t nxtypes;
    bool xtypes_given;
    uint64_t *xtypes_bm; /* 65536 bits, when xtypes_given */
    uint64_t ninit;      /* states to init this cycle */
    uint64_t *slot_for;  /* per capturing plugin: the state serving its events, or X_NO_SLOT */
    _Atomic uint64_t x_failures, x_calls, x_ns;
    atomic_int x_warned;
    uint64_t filtered_out;
    struct xctx *xc; /* this plugin's capture: bindings and values */

    /* event parsing (load time, then after init) */
    char **psources; /* get_parse_event_sources, non-empty entries */
    size_t npsources;
    bool psources_given;
    uint16_t *ptypes;
    uint32_t nptypes;
    bool ptypes_given;
    uint64_t *ptypes_bm;
    struct pbind *pb; /* per capturing plugin: the parsers of its events, in order */
    size_t npb;
    _Atomic uint64_t p_failures, p_calls;
    atomic_int p_warned;

    /* state tables */
    _Atomic uint64_t entry_leaks, table_misuse;
    atomic_int leak_warned;

    /* async events (load time) */
    char **async_names; /* get_async_events */
    size_t nasync_names;
    char **async_sources; /* get_async_event_sources, non-empty entries */
    size_t nasync_sources;
    bool async_sources_given;
    /* async events and capture listening (per cycle) */
    struct astream *as_to;    /* async plugin: the stream its events are delivered to */
    struct astream *as_mine;  /* capturing plugin: its own stream, when async plugins use it */
    _Atomic uint64_t async_events, async_refused, dump_events, routine_calls;
    atomic_int async_warned;

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
    RESOLVE(p, get_fields);
    RESOLVE(p, extract_fields);
    RESOLVE(p, get_extract_event_sources);
    RESOLVE(p, get_extract_event_types);
    RESOLVE(p, parse_event);
    RESOLVE(p, get_parse_event_sources);
    RESOLVE(p, get_parse_event_types);
    RESOLVE(p, get_async_events);
    RESOLVE(p, get_async_event_sources);
    RESOLVE(p, set_async_event_handler);
    RESOLVE(p, dump_state);
    RESOLVE(p, capture_open);
    RESOLVE(p, capture_close);
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

static void free_fields(host_plugin *p)
{
    size_t i;
    for (i = 0; i < p->nfields; i++) {
        free(p->fields[i].name);
        free(p->fields[i].display);
        free(p->fields[i].desc);
    }
    free(p->fields);
    p->fields = NULL;
    p->nfields = 0;
    for (i = 0; i < p->nxsources; i++)
        free(p->xsources[i]);
    free(p->xsources);
    p->xsources = NULL;
    p->nxsources = 0;
    p->xsources_given = false;
}

static void free_ptypes(host_plugin *p)
{
    free(p->ptypes);
    free(p->ptypes_bm);
    p->ptypes = NULL;
    p->ptypes_bm = NULL;
    p->nptypes = 0;
    p->ptypes_given = false;
}

static void free_psources(host_plugin *p)
{
    size_t i;
    for (i = 0; i < p->npsources; i++)
        free(p->psources[i]);
    free(p->psources);
    p->psources = NULL;
    p->npsources = 0;
    p->psources_given = false;
}

static void free_xtypes(host_plugin *p)
{
    free(p->xtypes);
    free(p->xtypes_bm);
    p->xtypes = NULL;
    p->xtypes_bm = NULL;
    p->nxtypes = 0;
    p->xtypes_given = false;
}

static void free_async_facts(host_plugin *p)
{
    size_t i;
    for (i = 0; i < p->nasync_names; i++)
        free(p->async_names[i]);
    free(p->async_names);
    for (i = 0; i < p->nasync_sources; i++)
        free(p->async_sources[i]);
    free(p->async_sources);
    p->async_names = p->async_sources = NULL;
    p->nasync_names = p->nasync_sources = 0;
    p->async_sources_given = false;
}

static void free_plugin_facts(host_plugin *p)
{
    free_async_facts(p);
    free_fields(p);
    free_xtypes(p);
    free_ptypes(p);
    free_psources(p);
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

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static bool is_name_char(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

/* [a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+ : two or more dot-separated parts,
 * each a letter followed by letters, digits or underscores. */
static bool valid_field_name(const char *s)
{
    int parts = 0;
    for (;;) {
        if (!is_alpha(*s))
            return false;
        while (is_name_char(*s))
            s++;
        parts++;
        if (*s == 0)
            return parts >= 2;
        if (*s != '.')
            return false;
        s++;
    }
}

static const struct {
    const char *name;
    uint32_t ftype;
} k_ftypes[] = {
    {"string", FTYPE_STRING}, {"uint64", FTYPE_UINT64}, {"reltime", FTYPE_RELTIME},
    {"abstime", FTYPE_ABSTIME}, {"bool", FTYPE_BOOL},   {"ipaddr", FTYPE_IPADDR},
    {"ipnet", FTYPE_IPNET},
};

static bool ftype_numeric(uint32_t t)
{
    return t == FTYPE_UINT64 || t == FTYPE_RELTIME || t == FTYPE_ABSTIME;
}

static bool ftype_ip(uint32_t t) { return t == FTYPE_IPADDR || t == FTYPE_IPNET; }

/* An optional boolean member: absent or null is false; false when it is not a boolean. */
static bool jopt_bool(const jnode *o, const char *key, bool *out)
{
    const jnode *v = jget(o, key);
    *out = false;
    if (!v || v->k == J_NULL)
        return true;
    if (v->k != J_BOOL)
        return false;
    *out = v->b;
    return true;
}

/* Parses get_fields like libsinsp (plus the name, duplicate and isIndex+isKey checks). */
static bool parse_fields(host_plugin *p, char *err, size_t errlen)
{
    char jerr[256];
    const char *s = p->api.get_fields();
    jnode *j;
    size_t i, k;
    bool ok = false;

    if (!s) {
        snprintf(err, errlen, "get_fields returned a null string");
        return false;
    }
    j = json_parse(s, jerr, sizeof jerr);
    if (!j) {
        snprintf(err, errlen, "get_fields returned invalid JSON: %s", jerr);
        return false;
    }
    if (j->k != J_ARR) {
        snprintf(err, errlen, "get_fields did not return a JSON array");
        goto done;
    }
    p->fields = xcalloc(j->n, sizeof *p->fields);
    for (i = 0; i < j->n; i++) {
        const jnode *e = j->v[i], *arg, *props;
        const char *type, *name, *desc;
        plugin_field *f = &p->fields[i];
        if (e->k != J_OBJ) {
            snprintf(err, errlen, "get_fields: entry %zu is not a JSON object", i);
            goto done;
        }
        type = jget_str(e, "type");
        name = jget_str(e, "name");
        desc = jget_str(e, "desc");
        if (!type || !type[0]) {
            snprintf(err, errlen, "get_fields: field %zu has no type", i);
            goto done;
        }
        if (!name || !name[0]) {
            snprintf(err, errlen, "get_fields: field %zu has no name", i);
            goto done;
        }
        f->name = xstrdup(name);
        p->nfields = i + 1;
        for (k = 0; k < sizeof k_ftypes / sizeof k_ftypes[0]; k++) {
            if (!strcmp(type, k_ftypes[k].name)) {
                f->type_name = k_ftypes[k].name;
                f->ftype = k_ftypes[k].ftype;
            }
        }
        if (!f->type_name) {
            snprintf(err, errlen,
                     "get_fields: field '%s' has an invalid type '%s' (expected string, uint64, "
                     "reltime, abstime, bool, ipaddr or ipnet)",
                     name, type);
            goto done;
        }
        if (!valid_field_name(name)) {
            snprintf(err, errlen,
                     "get_fields: invalid field name '%s' (a name is two or more dot-separated "
                     "parts, each a letter followed by letters, digits or '_')",
                     name);
            goto done;
        }
        for (k = 0; k < i; k++) {
            if (!strcmp(p->fields[k].name, name)) {
                snprintf(err, errlen, "get_fields: field '%s' is declared twice", name);
                goto done;
            }
        }
        if (!desc || !desc[0]) {
            snprintf(err, errlen, "get_fields: field '%s' has no desc (a non-empty description "
                                  "is required)",
                     name);
            goto done;
        }
        f->desc = xstrdup(desc);
        {
            const jnode *d = jget(e, "display");
            if (d && d->k != J_NULL && d->k != J_STR) {
                snprintf(err, errlen, "get_fields: field '%s': display is not a string", name);
                goto done;
            }
            f->display = xstrdup(d && d->k == J_STR ? d->s : "");
        }
        if (!jopt_bool(e, "isList", &f->is_list)) {
            snprintf(err, errlen, "get_fields: field '%s': isList is not a boolean", name);
            goto done;
        }
        if (!jopt_bool(e, "addOutput", &f->add_output)) {
            snprintf(err, errlen, "get_fields: field '%s': addOutput is not a boolean", name);
            goto done;
        }
        arg = jget(e, "arg");
        if (arg && arg->k != J_NULL) {
            static const char *keys[] = {"isRequired", "isIndex", "isKey"};
            bool *dst[3];
            dst[0] = &f->arg_required;
            dst[1] = &f->arg_index;
            dst[2] = &f->arg_key;
            if (arg->k != J_OBJ) {
                snprintf(err, errlen, "get_fields: field '%s': arg is not a JSON object", name);
                goto done;
            }
            for (k = 0; k < 3; k++) {
                if (!jopt_bool(arg, keys[k], dst[k])) {
                    snprintf(err, errlen, "get_fields: field '%s': arg.%s is not a boolean", name,
                             keys[k]);
                    goto done;
                }
            }
            if (f->arg_index && f->arg_key) {
                snprintf(err, errlen,
                         "get_fields: field '%s': arg has both isIndex and isKey set (only one "
                         "is allowed)",
                         name);
                goto done;
            }
            if (f->arg_required && !f->arg_index && !f->arg_key) {
                snprintf(err, errlen,
                         "get_fields: field '%s': arg has isRequired set, but neither isIndex "
                         "nor isKey",
                         name);
                goto done;
            }
        }
        props = jget(e, "properties");
        if (props && props->k != J_NULL) {
            if (props->k != J_ARR) {
                snprintf(err, errlen, "get_fields: field '%s': properties is not an array", name);
                goto done;
            }
            for (k = 0; k < props->n; k++) {
                const jnode *v = props->v[k];
                if (v->k != J_STR) {
                    snprintf(err, errlen,
                             "get_fields: field '%s': properties has an entry that is not a "
                             "string",
                             name);
                    goto done;
                }
                if (!strcmp(v->s, "hidden")) {
                    f->hidden = true;
                } else if (!strcmp(v->s, "info")) {
                    f->info = true;
                } else if (!strcmp(v->s, "conversation")) {
                    f->conversation = true;
                } else {
                    snprintf(err, errlen,
                             "get_fields: field '%s': unknown property '%s' (expected hidden, "
                             "info or conversation)",
                             name, v->s);
                    goto done;
                }
            }
        }
    }
    ok = true;
done:
    jfree(j);
    return ok;
}

static void names_add(char ***v, size_t *n, const char *s);

/* get_extract_event_sources: a JSON array of strings; NULL or "" means not given. */
/* A get_*_event_sources result (a JSON array of names, empty ones skipped). */
static bool parse_source_list(const char *what, const char *s, char ***out, size_t *nout,
                              bool *given, char *err, size_t errlen)
{
    char jerr[256];
    jnode *j;
    size_t i, k;
    if (!s || !s[0])
        return true;
    j = json_parse(s, jerr, sizeof jerr);
    if (!j || j->k != J_ARR) {
        snprintf(err, errlen, "%s did not return a JSON array%s%s", what, j ? "" : ": ",
                 j ? "" : jerr);
        jfree(j);
        return false;
    }
    for (i = 0; i < j->n; i++) {
        bool dup = false;
        if (j->v[i]->k != J_STR) {
            snprintf(err, errlen, "%s returned an array with a non-string entry", what);
            jfree(j);
            return false;
        }
        if (!j->v[i]->s[0])
            continue;
        for (k = 0; k < *nout && !dup; k++)
            dup = !strcmp((*out)[k], j->v[i]->s);
        if (!dup)
            names_add(out, nout, j->v[i]->s);
    }
    *given = true;
    jfree(j);
    return true;
}

static bool parse_xsources(host_plugin *p, char *err, size_t errlen)
{
    if (!p->api.get_extract_event_sources)
        return true;
    return parse_source_list("get_extract_event_sources", p->api.get_extract_event_sources(),
                             &p->xsources, &p->nxsources, &p->xsources_given, err, errlen);
}

static bool parse_psources(host_plugin *p, char *err, size_t errlen)
{
    free_psources(p);
    if (!p->api.get_parse_event_sources)
        return true;
    return parse_source_list("get_parse_event_sources", p->api.get_parse_event_sources(),
                             &p->psources, &p->npsources, &p->psources_given, err, errlen);
}

/* get_async_events (a non-empty JSON array of non-empty names, like libsinsp requires) and
 * get_async_event_sources (optional, like the other source lists). */
static bool parse_async(host_plugin *p, char *err, size_t errlen)
{
    char jerr[256];
    const char *s;
    jnode *j;
    size_t i, k;
    free_async_facts(p);
    s = p->api.get_async_events();
    j = (s && s[0]) ? json_parse(s, jerr, sizeof jerr) : NULL;
    if (!j || j->k != J_ARR) {
        snprintf(err, errlen, "get_async_events did not return a JSON array%s%s",
                 (s && s[0] && !j) ? ": " : "", (s && s[0] && !j) ? jerr : "");
        jfree(j);
        return false;
    }
    if (j->n == 0) {
        snprintf(err, errlen, "get_async_events returned an empty list: an async plugin must "
                              "name the async events it produces");
        jfree(j);
        return false;
    }
    for (i = 0; i < j->n; i++) {
        bool dup = false;
        if (j->v[i]->k != J_STR || !j->v[i]->s[0]) {
            snprintf(err, errlen, "get_async_events returned an array with an entry that is "
                                  "not a non-empty string");
            jfree(j);
            return false;
        }
        for (k = 0; k < p->nasync_names && !dup; k++)
            dup = !strcmp(p->async_names[k], j->v[i]->s);
        if (!dup)
            names_add(&p->async_names, &p->nasync_names, j->v[i]->s);
    }
    jfree(j);
    if (!p->api.get_async_event_sources)
        return true;
    return parse_source_list("get_async_event_sources", p->api.get_async_event_sources(),
                             &p->async_sources, &p->nasync_sources, &p->async_sources_given,
                             err, errlen);
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
    p->req_minor = req[1];

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
        } else if (k_caps[i].bit == CAP_EXTRACT && p->api.get_fields && !p->api.extract_fields) {
            /* get_fields alone is not a capability: libsinsp ignores it */
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

    if (p->caps & CAP_EXTRACT) {
        if (!parse_fields(p, err, errlen) || !parse_xsources(p, err, errlen))
            return false;
    }
    if ((p->caps & CAP_PARSE) && !parse_psources(p, err, errlen))
        return false;
    if ((p->caps & CAP_ASYNC) && !parse_async(p, err, errlen))
        return false;

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

/* ------------------------------------------------------------------------ */
/* State tables: the owner side of the tables API                           */
/* ------------------------------------------------------------------------ */
/*
 * The host plays libsinsp's part:
 * - a registry of tables: the host's own `threads` table (nested `file_descriptors`, `args`,
 *   `env` and `cgroups` tables per entry) and the tables plugins add with add_table;
 * - every table handle a plugin receives (get_table, a TABLE field read) is a host object
 *   that starts with an ss_plugin_table_input whose `table` is the handle itself and whose
 *   vtables are the host's, the same functions the init, parse and extract inputs carry;
 *   operations on a plugin's table pass through to its owner's vtables;
 * - entry and field handles are host objects too: each pointer a plugin passes in is looked
 *   up among the live handles before it is used, so a stale or foreign pointer is reported
 *   as an error instead of crashing the host;
 * - entries obtained during a call (init, parse_event, extract_fields) must be released
 *   before it returns: the host counts the others (entry_leaks) and releases them, and nested
 *   table handles end with the call, like libsinsp's ephemeral accessors.
 * One recursive lock serializes the whole table API across the event threads.
 */

#if UINTPTR_MAX == UINT64_MAX
/* LP64 layouts (x86_64 offsets from the 3.11/3.12 bindings). */
_Static_assert(sizeof(ss_plugin_state_type) == 4, "ss_plugin_state_type");
_Static_assert(sizeof(ss_plugin_state_data) == 8 && _Alignof(ss_plugin_state_data) == 8,
               "ss_plugin_state_data");
_Static_assert(sizeof(ss_plugin_table_info) == 16 &&
                   offsetof(ss_plugin_table_info, key_type) == 8,
               "ss_plugin_table_info");
_Static_assert(sizeof(ss_plugin_table_fieldinfo) == 16 &&
                   offsetof(ss_plugin_table_fieldinfo, field_type) == 8 &&
                   offsetof(ss_plugin_table_fieldinfo, read_only) == 12,
               "ss_plugin_table_fieldinfo");
_Static_assert(sizeof(ss_plugin_table_reader_vtable) == 32 &&
                   offsetof(ss_plugin_table_reader_vtable, read_entry_field) == 24,
               "ss_plugin_table_reader_vtable");
_Static_assert(sizeof(ss_plugin_table_reader_vtable_ext) == 48 &&
                   offsetof(ss_plugin_table_reader_vtable_ext, get_table_entry) == 16 &&
                   offsetof(ss_plugin_table_reader_vtable_ext, release_table_entry) == 32 &&
                   offsetof(ss_plugin_table_reader_vtable_ext, iterate_entries) == 40,
               "ss_plugin_table_reader_vtable_ext");
_Static_assert(sizeof(ss_plugin_table_writer_vtable) == 48 &&
                   sizeof(ss_plugin_table_writer_vtable_ext) == 48 &&
                   offsetof(ss_plugin_table_writer_vtable_ext, erase_table_entry) == 8 &&
                   offsetof(ss_plugin_table_writer_vtable_ext, create_table_entry) == 16 &&
                   offsetof(ss_plugin_table_writer_vtable_ext, destroy_table_entry) == 24 &&
                   offsetof(ss_plugin_table_writer_vtable_ext, add_table_entry) == 32 &&
                   offsetof(ss_plugin_table_writer_vtable_ext, write_entry_field) == 40,
               "ss_plugin_table_writer_vtable(_ext)");
_Static_assert(sizeof(ss_plugin_table_fields_vtable) == 24 &&
                   sizeof(ss_plugin_table_fields_vtable_ext) == 24 &&
                   offsetof(ss_plugin_table_fields_vtable_ext, get_table_field) == 8 &&
                   offsetof(ss_plugin_table_fields_vtable_ext, add_table_field) == 16,
               "ss_plugin_table_fields_vtable(_ext)");
_Static_assert(sizeof(ss_plugin_table_input) == 152 &&
                   offsetof(ss_plugin_table_input, key_type) == 8 &&
                   offsetof(ss_plugin_table_input, table) == 16 &&
                   offsetof(ss_plugin_table_input, reader) == 24 &&
                   offsetof(ss_plugin_table_input, writer) == 56 &&
                   offsetof(ss_plugin_table_input, fields) == 104 &&
                   offsetof(ss_plugin_table_input, reader_ext) == 128 &&
                   offsetof(ss_plugin_table_input, writer_ext) == 136 &&
                   offsetof(ss_plugin_table_input, fields_ext) == 144,
               "ss_plugin_table_input");
_Static_assert(sizeof(ss_plugin_init_tables_input) == 72 &&
                   offsetof(ss_plugin_init_tables_input, get_table) == 8 &&
                   offsetof(ss_plugin_init_tables_input, add_table) == 16 &&
                   offsetof(ss_plugin_init_tables_input, fields) == 24 &&
                   offsetof(ss_plugin_init_tables_input, fields_ext) == 48 &&
                   offsetof(ss_plugin_init_tables_input, reader_ext) == 56 &&
                   offsetof(ss_plugin_init_tables_input, writer_ext) == 64,
               "ss_plugin_init_tables_input");
_Static_assert(sizeof(ss_plugin_init_input) == 40 &&
                   offsetof(ss_plugin_init_input, tables) == 24 &&
                   offsetof(ss_plugin_init_input, log_fn) == 32,
               "ss_plugin_init_input");
_Static_assert(sizeof(ss_plugin_field_extract_input) == 80 &&
                   offsetof(ss_plugin_field_extract_input, table_reader) == 32 &&
                   offsetof(ss_plugin_field_extract_input, table_reader_ext) == 64 &&
                   offsetof(ss_plugin_field_extract_input, value_offsets) == 72,
               "ss_plugin_field_extract_input");
_Static_assert(sizeof(ss_plugin_event_parse_input) == 112 &&
                   offsetof(ss_plugin_event_parse_input, get_owner_last_error) == 8 &&
                   offsetof(ss_plugin_event_parse_input, table_reader) == 16 &&
                   offsetof(ss_plugin_event_parse_input, table_writer) == 48 &&
                   offsetof(ss_plugin_event_parse_input, table_reader_ext) == 96 &&
                   offsetof(ss_plugin_event_parse_input, table_writer_ext) == 104,
               "ss_plugin_event_parse_input");
#endif

/* ---- the set of live handles ---- */

enum { PT_NONE = 0, PT_TABLE, PT_ENTRY, PT_HFIELD, PT_PFIELD, PT_OWNER };

#define PS_TOMB ((void *)1)

typedef struct {
    void **k;
    uint8_t *tag;
    size_t cap, live, used;
} ptrset;

static size_t ps_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

static void ps_add(ptrset *s, void *p, uint8_t tag);

static void ps_grow(ptrset *s)
{
    ptrset n = {0};
    size_t i;
    n.cap = s->cap ? s->cap * 2 : 256;
    while (s->live * 2 >= n.cap)
        n.cap *= 2;
    n.k = xcalloc(n.cap, sizeof *n.k);
    n.tag = xcalloc(n.cap, 1);
    for (i = 0; i < s->cap; i++)
        if (s->k[i] && s->k[i] != PS_TOMB)
            ps_add(&n, s->k[i], s->tag[i]);
    free(s->k);
    free(s->tag);
    *s = n;
}

static void ps_add(ptrset *s, void *p, uint8_t tag)
{
    size_t i;
    if ((s->used + 1) * 2 > s->cap)
        ps_grow(s);
    i = ps_hash(p) & (s->cap - 1);
    while (s->k[i] && s->k[i] != PS_TOMB)
        i = (i + 1) & (s->cap - 1);
    if (!s->k[i])
        s->used++;
    s->k[i] = p;
    s->tag[i] = tag;
    s->live++;
}

static size_t ps_find(const ptrset *s, const void *p)
{
    size_t i;
    if (!s->cap || !p || p == PS_TOMB)
        return SIZE_MAX;
    i = ps_hash(p) & (s->cap - 1);
    while (s->k[i]) {
        if (s->k[i] == p)
            return i;
        i = (i + 1) & (s->cap - 1);
    }
    return SIZE_MAX;
}

static uint8_t ps_tag(const ptrset *s, const void *p)
{
    size_t i = ps_find(s, p);
    return i == SIZE_MAX ? PT_NONE : s->tag[i];
}

static void ps_del(ptrset *s, const void *p)
{
    size_t i = ps_find(s, p);
    if (i == SIZE_MAX)
        return;
    s->k[i] = PS_TOMB;
    s->tag[i] = PT_NONE;
    s->live--;
}

static void ps_free(ptrset *s)
{
    free(s->k);
    free(s->tag);
    memset(s, 0, sizeof *s);
}

/* ---- state types and values ---- */

static const char *st_name(ss_plugin_state_type t)
{
    switch (t) {
    case SS_PLUGIN_ST_INT8: return "int8";
    case SS_PLUGIN_ST_INT16: return "int16";
    case SS_PLUGIN_ST_INT32: return "int32";
    case SS_PLUGIN_ST_INT64: return "int64";
    case SS_PLUGIN_ST_UINT8: return "uint8";
    case SS_PLUGIN_ST_UINT16: return "uint16";
    case SS_PLUGIN_ST_UINT32: return "uint32";
    case SS_PLUGIN_ST_UINT64: return "uint64";
    case SS_PLUGIN_ST_STRING: return "string";
    case SS_PLUGIN_ST_TABLE: return "table";
    case SS_PLUGIN_ST_BOOL: return "bool";
    }
    return NULL;
}

static const char *st_label(ss_plugin_state_type t)
{
    const char *n = st_name(t);
    return n ? n : "an unknown type";
}

static bool st_signed(ss_plugin_state_type t)
{
    return t >= SS_PLUGIN_ST_INT8 && t <= SS_PLUGIN_ST_INT64;
}

/* Integers and booleans as 64 bits (signed ones sign-extended). */
static uint64_t sd_get(ss_plugin_state_type t, const ss_plugin_state_data *d)
{
    switch (t) {
    case SS_PLUGIN_ST_INT8: return (uint64_t)(int64_t)d->s8;
    case SS_PLUGIN_ST_INT16: return (uint64_t)(int64_t)d->s16;
    case SS_PLUGIN_ST_INT32: return (uint64_t)(int64_t)d->s32;
    case SS_PLUGIN_ST_INT64: return (uint64_t)d->s64;
    case SS_PLUGIN_ST_UINT8: return d->u8;
    case SS_PLUGIN_ST_UINT16: return d->u16;
    case SS_PLUGIN_ST_UINT32: return d->u32;
    case SS_PLUGIN_ST_UINT64: return d->u64;
    case SS_PLUGIN_ST_BOOL: return d->b ? 1 : 0;
    default: return 0;
    }
}

static void sd_put(ss_plugin_state_type t, ss_plugin_state_data *d, uint64_t v)
{
    switch (t) {
    case SS_PLUGIN_ST_INT8: d->s8 = (int8_t)v; break;
    case SS_PLUGIN_ST_INT16: d->s16 = (int16_t)v; break;
    case SS_PLUGIN_ST_INT32: d->s32 = (int32_t)v; break;
    case SS_PLUGIN_ST_INT64: d->s64 = (int64_t)v; break;
    case SS_PLUGIN_ST_UINT8: d->u8 = (uint8_t)v; break;
    case SS_PLUGIN_ST_UINT16: d->u16 = (uint16_t)v; break;
    case SS_PLUGIN_ST_UINT32: d->u32 = (uint32_t)v; break;
    case SS_PLUGIN_ST_UINT64: d->u64 = v; break;
    case SS_PLUGIN_ST_BOOL: d->b = v != 0; break;
    default: break;
    }
}

/* Keeps a value in the range of its type (what a narrower C member would hold). */
static uint64_t st_norm(ss_plugin_state_type t, uint64_t v)
{
    ss_plugin_state_data d;
    memset(&d, 0, sizeof d);
    sd_put(t, &d, v);
    return sd_get(t, &d);
}

/* ---- the host's own tables ---- */

#define HF_MAGIC 0x66706866u /* "fphf" */
#define PF_MAGIC 0x66707066u /* "fppf" */
#define TH_MAGIC 0x66707468u /* "fpth" */
#define EH_MAGIC 0x66706568u /* "fpeh" */

typedef struct hschema hschema;
typedef struct htable htable;

/* A field of a host table; the pointer is the field handle plugins get. */
typedef struct hfield {
    uint32_t magic;
    hschema *sc;
    char *name;
    ss_plugin_state_type type;
    bool read_only, dynamic;
    size_t index;
    uint64_t def;  /* integers: the value of a new entry */
    hschema *sub;  /* TABLE fields: the nested tables' schema */
} hfield;

/* The fields of a kind of table (shared by all nested tables of one kind). */
struct hschema {
    char *name;
    ss_plugin_state_type key_type;
    bool fixed;    /* no dynamic fields */
    int key_field; /* the field that mirrors the key (tid, fd), or -1 */
    hfield **f;
    size_t nf;
    hschema *next;
};

typedef union {
    uint64_t u;
    char *s; /* NULL reads as "" */
    htable *t;
} hval;

typedef struct hentry {
    uint64_t key;
    unsigned refs; /* the table holding it, plus each live handle */
    bool in_table;
    hschema *sc;
    hval *v;
    size_t nv; /* may lag behind sc->nf: later dynamic fields read as zero */
} hentry;

struct htable {
    hschema *sc;
    hentry **e; /* sorted by key */
    size_t n, cap;
};

static void ht_free(htable *t);

static htable *ht_new(hschema *sc)
{
    htable *t = xcalloc(1, sizeof *t);
    t->sc = sc;
    return t;
}

static hentry *he_new(hschema *sc)
{
    hentry *he = xcalloc(1, sizeof *he);
    size_t i;
    he->sc = sc;
    he->nv = sc->nf;
    he->v = xcalloc(he->nv ? he->nv : 1, sizeof *he->v);
    for (i = 0; i < sc->nf; i++) {
        const hfield *f = sc->f[i];
        if (f->type == SS_PLUGIN_ST_TABLE)
            he->v[i].t = ht_new(f->sub);
        else if (f->type != SS_PLUGIN_ST_STRING)
            he->v[i].u = f->def;
    }
    return he;
}

static void he_free(hentry *he)
{
    size_t i;
    for (i = 0; i < he->nv; i++) {
        const hfield *f = he->sc->f[i];
        if (f->type == SS_PLUGIN_ST_STRING)
            free(he->v[i].s);
        else if (f->type == SS_PLUGIN_ST_TABLE)
            ht_free(he->v[i].t);
    }
    free(he->v);
    free(he);
}

static void he_unref(hentry *he)
{
    if (he && --he->refs == 0)
        he_free(he);
}

static hval *he_val(hentry *he, const hfield *f)
{
    if (f->index >= he->nv) {
        size_t n = he->sc->nf;
        he->v = xrealloc(he->v, n * sizeof *he->v);
        memset(he->v + he->nv, 0, (n - he->nv) * sizeof *he->v);
        he->nv = n;
    }
    return &he->v[f->index];
}

static int key_cmp(const hschema *sc, uint64_t a, uint64_t b)
{
    if (st_signed(sc->key_type))
        return (int64_t)a < (int64_t)b ? -1 : (int64_t)a > (int64_t)b;
    return a < b ? -1 : a > b;
}

/* Binary search: the index of key, or where it would go (*found false). */
static size_t ht_find(const htable *t, uint64_t key, bool *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(t->sc, t->e[mid]->key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static hentry *ht_get(const htable *t, uint64_t key)
{
    bool found;
    size_t i = ht_find(t, key, &found);
    return found ? t->e[i] : NULL;
}

/* Puts he in the table under its key (one reference taken), replacing an entry there. */
static void ht_put(htable *t, hentry *he)
{
    bool found;
    size_t i = ht_find(t, he->key, &found);
    he->refs++;
    he->in_table = true;
    if (found) {
        hentry *old = t->e[i];
        t->e[i] = he;
        old->in_table = false;
        he_unref(old);
        return;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->e = xrealloc(t->e, t->cap * sizeof *t->e);
    }
    memmove(t->e + i + 1, t->e + i, (t->n - i) * sizeof *t->e);
    t->e[i] = he;
    t->n++;
}

static bool ht_erase(htable *t, uint64_t key)
{
    bool found;
    size_t i = ht_find(t, key, &found);
    hentry *he;
    if (!found)
        return false;
    he = t->e[i];
    memmove(t->e + i, t->e + i + 1, (t->n - i - 1) * sizeof *t->e);
    t->n--;
    he->in_table = false;
    he_unref(he);
    return true;
}

static void ht_clear(htable *t)
{
    size_t i, n = t->n;
    hentry **e = t->e;
    t->e = NULL;
    t->n = t->cap = 0;
    for (i = 0; i < n; i++) {
        e[i]->in_table = false;
        he_unref(e[i]);
    }
    free(e);
}

static void ht_free(htable *t)
{
    if (!t)
        return;
    ht_clear(t);
    free(t);
}

static hfield *sc_field(const hschema *sc, const char *name)
{
    size_t i;
    for (i = 0; i < sc->nf; i++)
        if (!strcmp(sc->f[i]->name, name))
            return sc->f[i];
    return NULL;
}

/* ---- the registry ---- */

/* A table in the registry: the host's, or one a plugin added. */
typedef struct reg_table {
    char *name;
    ss_plugin_state_type key_type;
    host_owner *provider; /* the plugin state that added it; NULL: the host's */
    htable *ht;           /* the host's tables */
    ss_plugin_table_input in; /* plugin tables: the input as given, _ext pointing to copies */
    ss_plugin_table_reader_vtable_ext rx;
    ss_plugin_table_writer_vtable_ext wx;
    ss_plugin_table_fields_vtable_ext fx;
} reg_table;

/* What a handle refers to: a host table instance, or a plugin's table input. */
typedef struct {
    htable *ht;
    const ss_plugin_table_input *pin;
    void *ptab;          /* pin->table, kept to compare tables without touching pin */
    host_owner *provider;
    reg_table *reg;      /* the registry table, for top-level tables */
    const char *name;
    ss_plugin_state_type key_type;
} tref;

/* A table handle: what ss_plugin_table_t* points to for plugins. */
typedef struct tbl_handle {
    ss_plugin_table_input input; /* first: plugins read key_type through it */
    uint32_t magic;
    host_owner *ow; /* the plugin state using it */
    tref ref;
    bool ephemeral;     /* a nested table: valid during the call that read it */
    hentry *holder;     /* host nested tables: the entry that holds the table (a reference) */
    ss_plugin_table_fieldinfo *finfo; /* list_table_fields, rebuilt on every call */
    struct tbl_handle *next;
} tbl_handle;

enum { EH_GOT = 1, EH_CREATED, EH_BORROWED };

typedef struct ehandle {
    uint32_t magic;
    int kind;
    const char *dead; /* NULL while usable, else what ended it */
    host_owner *ow;
    htable *ht; /* host tables */
    hentry *he;
    const ss_plugin_table_input *pin; /* plugin tables */
    void *ptab;
    host_owner *provider;
    void *raw;
    struct ehandle *next;
} ehandle;

/* A field handle of a plugin's table. */
typedef struct pfield {
    uint32_t magic;
    const void *family; /* the table it belongs to; NULL for nested tables (not checked) */
    ss_plugin_table_field_t *raw;
    ss_plugin_state_type type;
    struct pfield *next;
} pfield;

/* Per plugin state: its table handles and what it holds during a call. */
typedef struct otrack {
    host_owner *ow;
    tbl_handle *cached; /* get_table results, for the plugin's lifetime */
    tbl_handle *ephem;  /* nested table handles of the current call */
    ehandle *ents;      /* entry handles of the current call */
    ss_plugin_table_info *tinfo;
    atomic_int dirty;
    struct otrack *next;
} otrack;

typedef struct {
    bool active;
    reg_table **t;
    size_t n;
    hschema *schemas;
    hschema *sc_threads;
    htable *threads;
    otrack *tracks;
    pfield *pfields;
    ptrset live;
} registry;

static registry g_reg;
static pthread_mutex_t g_tbl_mu;
static pthread_once_t g_tbl_mu_once = PTHREAD_ONCE_INIT;
static _Thread_local host_owner *tl_owner; /* the plugin state being called on this thread */
static _Atomic uint64_t g_misuse_unowned;
static host_owner g_host_ow = {.magic = OWNER_MAGIC};

static void tbl_mu_init(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE); /* iteration callbacks re-enter */
    pthread_mutex_init(&g_tbl_mu, &a);
    pthread_mutexattr_destroy(&a);
}

static void tbl_lock(void)
{
    pthread_once(&g_tbl_mu_once, tbl_mu_init);
    pthread_mutex_lock(&g_tbl_mu);
}

#define TLOCK() tbl_lock()
#define TUNLOCK() pthread_mutex_unlock(&g_tbl_mu)

static const char *owner_label(const host_owner *ow)
{
    if (ow == &g_host_ow)
        return "fp-host";
    if (ow && ow->plugin)
        return plugin_label(ow->plugin);
    return NULL;
}

__attribute__((format(printf, 2, 3))) static void ow_error(host_owner *ow, const char *fmt, ...)
{
    va_list ap;
    if (!ow || ow->magic != OWNER_MAGIC)
        return;
    va_start(ap, fmt);
    vsnprintf(ow->last_error, sizeof ow->last_error, fmt, ap);
    va_end(ap);
}

/* A plugin broke the table API contract: an error (the run fails), never a crash. */
__attribute__((format(printf, 2, 3))) static void tbl_misuse(host_owner *ow, const char *fmt,
                                                              ...)
{
    char msg[ERRBUF];
    va_list ap;
    uint64_t n;
    host_owner *who = ow ? ow : tl_owner;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (who && who->plugin)
        n = atomic_fetch_add(&who->plugin->table_misuse, 1);
    else
        n = atomic_fetch_add(&g_misuse_unowned, 1);
    ow_error(who, "%s", msg);
    if (n < 10)
        report_error(owner_label(who), "tables", "table API misuse: %s", msg);
}

/* The error of the plugin owning a table, as the caller's last error. */
static void copy_provider_error(host_owner *caller, host_owner *provider, const char *what)
{
    const char *e = NULL;
    host_plugin *p = provider ? provider->plugin : NULL;
    if (p && p->states && provider->index < p->nstates && p->states[provider->index])
        e = p->api.get_last_error(p->states[provider->index]);
    ow_error(caller, "%s failed in the table's owner (%s): %s", what,
             p ? plugin_label(p) : "?", (e && e[0]) ? e : "no error message");
}

static otrack *trk_of(host_owner *ow)
{
    otrack *t;
    if (!ow)
        return NULL;
    if (ow->trk)
        return ow->trk;
    t = xcalloc(1, sizeof *t);
    t->ow = ow;
    t->next = g_reg.tracks;
    g_reg.tracks = t;
    ow->trk = t;
    return t;
}

/* ---- handles ---- */

static ss_plugin_table_reader_vtable_ext g_reader_ext;
static ss_plugin_table_writer_vtable_ext g_writer_ext;
static ss_plugin_table_fields_vtable_ext g_fields_ext;
static ss_plugin_table_reader_vtable g_reader_v0;
static ss_plugin_table_writer_vtable g_writer_v0;
static ss_plugin_table_fields_vtable g_fields_v0;

static tbl_handle *th_new(host_owner *ow, const tref *ref, bool ephemeral)
{
    tbl_handle *h = xcalloc(1, sizeof *h);
    otrack *trk = trk_of(ow);
    h->input.name = ref->name;
    h->input.key_type = ref->key_type;
    h->input.table = h;
    h->input.reader = g_reader_v0;
    h->input.writer = g_writer_v0;
    h->input.fields = g_fields_v0;
    h->input.reader_ext = &g_reader_ext;
    h->input.writer_ext = &g_writer_ext;
    h->input.fields_ext = &g_fields_ext;
    h->magic = TH_MAGIC;
    h->ow = ow;
    h->ref = *ref;
    h->ephemeral = ephemeral;
    if (ephemeral) {
        h->next = trk->ephem;
        trk->ephem = h;
        atomic_store(&trk->dirty, 1);
    } else {
        h->next = trk->cached;
        trk->cached = h;
    }
    ps_add(&g_reg.live, h, PT_TABLE);
    return h;
}

static void th_free(tbl_handle *h)
{
    ps_del(&g_reg.live, h);
    if (h->holder)
        he_unref(h->holder);
    free(h->finfo);
    h->magic = 0;
    free(h);
}

/* The handle behind t, or NULL (reported) when t is not a live table handle. */
static tbl_handle *th_check(ss_plugin_table_t *t, const char *fn)
{
    if (!t) {
        tbl_misuse(NULL, "%s was called with a NULL table", fn);
        return NULL;
    }
    if (ps_tag(&g_reg.live, t) != PT_TABLE) {
        tbl_misuse(NULL,
                   "%s was called with %p, which is not a table handle the host gave out (or "
                   "a nested table read during an earlier call)",
                   fn, t);
        return NULL;
    }
    return t;
}

static ehandle *eh_new(tbl_handle *th, int kind)
{
    ehandle *e = xcalloc(1, sizeof *e);
    otrack *trk = trk_of(th->ow);
    e->magic = EH_MAGIC;
    e->kind = kind;
    e->ow = th->ow;
    e->ht = th->ref.ht;
    e->pin = th->ref.pin;
    e->ptab = th->ref.ptab;
    e->provider = th->ref.provider;
    e->next = trk->ents;
    trk->ents = e;
    atomic_store(&trk->dirty, 1);
    ps_add(&g_reg.live, e, PT_ENTRY);
    return e;
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case EH_GOT: return "got";
    case EH_CREATED: return "created";
    default: return "borrowed";
    }
}

/* The live entry handle e of table th, or NULL (reported). */
static ehandle *eh_check(tbl_handle *th, ss_plugin_table_entry_t *e, const char *fn)
{
    ehandle *eh;
    if (!e) {
        tbl_misuse(th->ow, "%s on table '%s' was called with a NULL entry", fn, th->ref.name);
        return NULL;
    }
    if (ps_tag(&g_reg.live, e) != PT_ENTRY) {
        tbl_misuse(th->ow,
                   "%s on table '%s' was called with %p, which is not an entry the host gave "
                   "out (entries end when released and after the call that got them)",
                   fn, th->ref.name, e);
        return NULL;
    }
    eh = e;
    if (eh->dead) {
        tbl_misuse(th->ow, "%s on table '%s' was called with an entry that was already %s", fn,
                   th->ref.name, eh->dead);
        return NULL;
    }
    if (th->ref.ht ? eh->ht != th->ref.ht : eh->ptab != th->ref.ptab) {
        tbl_misuse(th->ow, "%s on table '%s' was called with an entry of another table", fn,
                   th->ref.name);
        return NULL;
    }
    return eh;
}

/* Ends what an entry handle holds (release, or destroy for a created entry). */
static void eh_end(ehandle *eh, const char *why)
{
    if (eh->dead)
        return;
    eh->dead = why;
    if (eh->he) {
        he_unref(eh->he);
        eh->he = NULL;
        return;
    }
    if (!eh->pin || eh->kind == EH_BORROWED)
        return;
    if (eh->kind == EH_CREATED) {
        if (eh->pin->writer_ext && eh->pin->writer_ext->destroy_table_entry)
            eh->pin->writer_ext->destroy_table_entry(eh->pin->table, eh->raw);
    } else if (eh->pin->reader_ext && eh->pin->reader_ext->release_table_entry) {
        eh->pin->reader_ext->release_table_entry(eh->pin->table, eh->raw);
    }
}

/* A field handle f valid for table th: an hfield of its schema or a pfield of its family. */
static const void *field_check(tbl_handle *th, const ss_plugin_table_field_t *f, const char *fn)
{
    uint8_t tag;
    if (!f) {
        tbl_misuse(th->ow, "%s on table '%s' was called with a NULL field", fn, th->ref.name);
        return NULL;
    }
    tag = ps_tag(&g_reg.live, f);
    if (th->ref.ht) {
        const hfield *hf = f;
        if (tag == PT_HFIELD && hf->sc == th->ref.ht->sc)
            return hf;
    } else {
        const pfield *pf = f;
        if (tag == PT_PFIELD && (!pf->family || pf->family == th->ref.ptab))
            return pf;
    }
    tbl_misuse(th->ow,
               "%s on table '%s' was called with %p, which is not a field of this table (field "
               "handles come from get_table_field or add_table_field on the same table)",
               fn, th->ref.name, (const void *)f);
    return NULL;
}

/* Leak check and clean-up at the end of a call into owner ow's plugin. */
static void tbl_end_call(host_owner *ow, const char *call)
{
    otrack *trk = ow ? ow->trk : NULL;
    uint64_t leaks = 0;
    ehandle *e, *en;
    tbl_handle *h, *hn;
    if (!trk || !atomic_load_explicit(&trk->dirty, memory_order_relaxed))
        return;
    TLOCK();
    for (e = trk->ents; e; e = en) {
        en = e->next;
        if (!e->dead && e->kind != EH_BORROWED)
            leaks++;
        eh_end(e, "ended with its call");
        ps_del(&g_reg.live, e);
        e->magic = 0;
        free(e);
    }
    trk->ents = NULL;
    for (h = trk->ephem; h; h = hn) {
        hn = h->next;
        th_free(h);
    }
    trk->ephem = NULL;
    atomic_store(&trk->dirty, 0);
    TUNLOCK();
    if (leaks && ow->plugin) {
        atomic_fetch_add(&ow->plugin->entry_leaks, leaks);
        if (!atomic_exchange(&ow->plugin->leak_warned, 1))
            report_warning(ow->plugin->name,
                           "%s returned with %" PRIu64
                           " table entries not released (every entry from get_table_entry, "
                           "add_table_entry or create_table_entry must be released or "
                           "destroyed before the call returns); the host released them. "
                           "Further leaks are only counted as entry_leaks",
                           call, leaks);
    }
}

static inline void tbl_after_call(host_owner *ow, const char *call)
{
    if (ow && ow->trk && atomic_load_explicit(&ow->trk->dirty, memory_order_relaxed))
        tbl_end_call(ow, call);
}

/* ---- reader ---- */

static const char *tr_get_table_name(ss_plugin_table_t *t)
{
    tbl_handle *th;
    const char *r = NULL;
    TLOCK();
    th = th_check(t, "get_table_name");
    if (th) {
        if (th->ref.ht || !th->ref.pin->reader_ext->get_table_name)
            r = th->ref.name;
        else
            r = th->ref.pin->reader_ext->get_table_name(th->ref.pin->table);
    }
    TUNLOCK();
    return r;
}

static uint64_t tr_get_table_size(ss_plugin_table_t *t)
{
    tbl_handle *th;
    uint64_t r = 0;
    TLOCK();
    th = th_check(t, "get_table_size");
    if (th) {
        if (th->ref.ht)
            r = th->ref.ht->n;
        else
            r = th->ref.pin->reader_ext->get_table_size(th->ref.pin->table);
    }
    TUNLOCK();
    return r;
}

static ss_plugin_table_entry_t *tr_get_table_entry(ss_plugin_table_t *t,
                                                   const ss_plugin_state_data *key)
{
    tbl_handle *th;
    ehandle *eh = NULL;
    TLOCK();
    th = th_check(t, "get_table_entry");
    if (!th)
        goto out;
    if (!key) {
        tbl_misuse(th->ow, "get_table_entry on table '%s' was called with a NULL key",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        /* like libsinsp, the key is read as 64 bits for any integer key type */
        uint64_t k = st_norm(th->ref.key_type, key->u64);
        hentry *he = ht_get(th->ref.ht, k);
        if (!he) {
            ow_error(th->ow, "get_entry found no element at given key");
            goto out;
        }
        eh = eh_new(th, EH_GOT);
        eh->he = he;
        he->refs++;
    } else {
        void *raw = th->ref.pin->reader_ext->get_table_entry(th->ref.pin->table, key);
        if (!raw) {
            copy_provider_error(th->ow, th->ref.provider, "get_table_entry");
            goto out;
        }
        eh = eh_new(th, EH_GOT);
        eh->raw = raw;
    }
out:
    TUNLOCK();
    return eh;
}

/* A nested table value of a host entry as a handle valid during the current call. */
static ss_plugin_table_t *nested_handle(tbl_handle *th, hentry *holder, const hfield *f,
                                        htable *sub)
{
    tref r;
    tbl_handle *h;
    memset(&r, 0, sizeof r);
    r.ht = sub;
    r.name = f->sub->name;
    r.key_type = f->sub->key_type;
    h = th_new(th->ow, &r, true);
    h->holder = holder;
    holder->refs++;
    return h;
}

static ss_plugin_rc tr_read_entry_field(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                                        const ss_plugin_table_field_t *f,
                                        ss_plugin_state_data *out)
{
    tbl_handle *th;
    ehandle *eh;
    const void *fv;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    TLOCK();
    th = th_check(t, "read_entry_field");
    if (!th || !(eh = eh_check(th, e, "read_entry_field")) ||
        !(fv = field_check(th, f, "read_entry_field")))
        goto out;
    if (!out) {
        tbl_misuse(th->ow, "read_entry_field on table '%s' was called with a NULL output",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        const hfield *hf = fv;
        hval *v = he_val(eh->he, hf);
        memset(out, 0, sizeof *out);
        if (hf->type == SS_PLUGIN_ST_STRING)
            out->str = v->s ? v->s : "";
        else if (hf->type == SS_PLUGIN_ST_TABLE)
            out->table = nested_handle(th, eh->he, hf, v->t);
        else
            sd_put(hf->type, out, v->u);
        rc = SS_PLUGIN_SUCCESS;
    } else {
        const pfield *pf = fv;
        rc = th->ref.pin->reader_ext->read_entry_field(th->ref.pin->table, eh->raw, pf->raw,
                                                       out);
        if (rc != SS_PLUGIN_SUCCESS) {
            copy_provider_error(th->ow, th->ref.provider, "read_entry_field");
        } else if (pf->type == SS_PLUGIN_ST_TABLE) {
            const ss_plugin_table_input *nin = out->table;
            if (!nin || !nin->reader_ext || !nin->writer_ext || !nin->fields_ext) {
                ow_error(th->ow,
                         "the owner of table '%s' returned a nested table that is not an "
                         "ss_plugin_table_input with its three _ext vtables",
                         th->ref.name);
                rc = SS_PLUGIN_FAILURE;
            } else {
                tref r;
                memset(&r, 0, sizeof r);
                r.pin = nin;
                r.ptab = nin->table;
                r.provider = th->ref.provider;
                r.name = nin->name ? nin->name : "";
                r.key_type = nin->key_type;
                out->table = th_new(th->ow, &r, true);
            }
        }
    }
out:
    TUNLOCK();
    return rc;
}

static void tr_release_table_entry(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
    tbl_handle *th;
    ehandle *eh;
    TLOCK();
    th = th_check(t, "release_table_entry");
    if (th && (eh = eh_check(th, e, "release_table_entry"))) {
        if (eh->kind == EH_BORROWED)
            tbl_misuse(th->ow,
                       "release_table_entry on table '%s' was called with an entry borrowed "
                       "from iterate_entries (those must not be released)",
                       th->ref.name);
        else
            eh_end(eh, "released");
    }
    TUNLOCK();
}

typedef struct {
    tbl_handle *th;
    ss_plugin_table_iterator_func_t it;
    ss_plugin_table_iterator_state_t *s;
} iter_ctx;

static ss_plugin_bool iter_trampoline(ss_plugin_table_iterator_state_t *s,
                                      ss_plugin_table_entry_t *raw)
{
    iter_ctx *c = s;
    ehandle *eh;
    ss_plugin_bool r;
    TLOCK();
    eh = eh_new(c->th, EH_BORROWED);
    eh->raw = raw;
    r = c->it(c->s, eh);
    eh->dead = "borrowed by an iteration that moved on";
    TUNLOCK();
    return r;
}

static ss_plugin_bool tr_iterate_entries(ss_plugin_table_t *t, ss_plugin_table_iterator_func_t it,
                                         ss_plugin_table_iterator_state_t *s)
{
    tbl_handle *th;
    ss_plugin_bool ok = 0;
    TLOCK();
    th = th_check(t, "iterate_entries");
    if (!th)
        goto out;
    if (!it) {
        tbl_misuse(th->ow, "iterate_entries on table '%s' was called without a function",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        /* on a snapshot: the callback may add or erase entries */
        size_t n = th->ref.ht->n, i;
        hentry **snap = xmalloc((n ? n : 1) * sizeof *snap);
        memcpy(snap, th->ref.ht->e, n * sizeof *snap);
        for (i = 0; i < n; i++)
            snap[i]->refs++;
        ok = 1;
        for (i = 0; i < n && ok; i++) {
            ehandle *eh;
            if (!snap[i]->in_table)
                continue;
            eh = eh_new(th, EH_BORROWED);
            eh->he = snap[i];
            snap[i]->refs++;
            ok = it(s, eh) ? 1 : 0;
            eh_end(eh, "borrowed by an iteration that moved on");
        }
        for (i = 0; i < n; i++)
            he_unref(snap[i]);
        free(snap);
    } else {
        iter_ctx c;
        if (!th->ref.pin->reader_ext->iterate_entries) {
            ow_error(th->ow, "table '%s' does not support iterate_entries (API 3.0 owner)",
                     th->ref.name);
            goto out;
        }
        c.th = th;
        c.it = it;
        c.s = s;
        ok = th->ref.pin->reader_ext->iterate_entries(th->ref.pin->table, iter_trampoline, &c);
    }
out:
    TUNLOCK();
    return ok;
}

/* ---- writer ---- */

static ss_plugin_rc tw_clear_table(ss_plugin_table_t *t)
{
    tbl_handle *th;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    TLOCK();
    th = th_check(t, "clear_table");
    if (th) {
        if (th->ref.ht) {
            ht_clear(th->ref.ht);
            rc = SS_PLUGIN_SUCCESS;
        } else {
            rc = th->ref.pin->writer_ext->clear_table(th->ref.pin->table);
            if (rc != SS_PLUGIN_SUCCESS)
                copy_provider_error(th->ow, th->ref.provider, "clear_table");
        }
    }
    TUNLOCK();
    return rc;
}

static ss_plugin_rc tw_erase_table_entry(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
    tbl_handle *th;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    TLOCK();
    th = th_check(t, "erase_table_entry");
    if (!th)
        goto out;
    if (!key) {
        tbl_misuse(th->ow, "erase_table_entry on table '%s' was called with a NULL key",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        if (ht_erase(th->ref.ht, st_norm(th->ref.key_type, key->u64)))
            rc = SS_PLUGIN_SUCCESS;
        else
            ow_error(th->ow, "table entry not found");
    } else {
        rc = th->ref.pin->writer_ext->erase_table_entry(th->ref.pin->table, key);
        if (rc != SS_PLUGIN_SUCCESS)
            copy_provider_error(th->ow, th->ref.provider, "erase_table_entry");
    }
out:
    TUNLOCK();
    return rc;
}

static ss_plugin_table_entry_t *tw_create_table_entry(ss_plugin_table_t *t)
{
    tbl_handle *th;
    ehandle *eh = NULL;
    TLOCK();
    th = th_check(t, "create_table_entry");
    if (!th)
        goto out;
    if (th->ref.ht) {
        eh = eh_new(th, EH_CREATED);
        eh->he = he_new(th->ref.ht->sc);
        eh->he->refs = 1;
    } else {
        void *raw = th->ref.pin->writer_ext->create_table_entry(th->ref.pin->table);
        if (!raw) {
            copy_provider_error(th->ow, th->ref.provider, "create_table_entry");
            goto out;
        }
        eh = eh_new(th, EH_CREATED);
        eh->raw = raw;
    }
out:
    TUNLOCK();
    return eh;
}

static void tw_destroy_table_entry(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
    tbl_handle *th;
    ehandle *eh;
    TLOCK();
    th = th_check(t, "destroy_table_entry");
    if (th && (eh = eh_check(th, e, "destroy_table_entry"))) {
        if (eh->kind == EH_BORROWED)
            tbl_misuse(th->ow,
                       "destroy_table_entry on table '%s' was called with an entry borrowed "
                       "from iterate_entries",
                       th->ref.name);
        else
            eh_end(eh, "destroyed");
    }
    TUNLOCK();
}

static ss_plugin_table_entry_t *tw_add_table_entry(ss_plugin_table_t *t,
                                                   const ss_plugin_state_data *key,
                                                   ss_plugin_table_entry_t *e)
{
    tbl_handle *th;
    ehandle *eh, *res = NULL;
    TLOCK();
    th = th_check(t, "add_table_entry");
    if (!th || !(eh = eh_check(th, e, "add_table_entry")))
        goto out;
    if (!key) {
        tbl_misuse(th->ow, "add_table_entry on table '%s' was called with a NULL key",
                   th->ref.name);
        goto out;
    }
    if (eh->kind != EH_CREATED) {
        tbl_misuse(th->ow,
                   "add_table_entry on table '%s' was called with a %s entry: it takes an "
                   "entry from create_table_entry",
                   th->ref.name, kind_name(eh->kind));
        goto out;
    }
    if (th->ref.ht) {
        hentry *he = eh->he;
        he->key = st_norm(th->ref.key_type, key->u64);
        if (he->sc->key_field >= 0)
            he_val(he, he->sc->f[he->sc->key_field])->u = he->key;
        ht_put(th->ref.ht, he);
        res = eh_new(th, EH_GOT);
        res->he = he;
        he->refs++;
        eh_end(eh, "consumed by add_table_entry");
    } else {
        void *raw = th->ref.pin->writer_ext->add_table_entry(th->ref.pin->table, key, eh->raw);
        if (!raw) {
            copy_provider_error(th->ow, th->ref.provider, "add_table_entry");
            goto out;
        }
        eh->dead = "consumed by add_table_entry"; /* the owner took the entry */
        res = eh_new(th, EH_GOT);
        res->raw = raw;
    }
out:
    TUNLOCK();
    return res;
}

static ss_plugin_rc tw_write_entry_field(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                                         const ss_plugin_table_field_t *f,
                                         const ss_plugin_state_data *in)
{
    tbl_handle *th;
    ehandle *eh;
    const void *fv;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    TLOCK();
    th = th_check(t, "write_entry_field");
    if (!th || !(eh = eh_check(th, e, "write_entry_field")) ||
        !(fv = field_check(th, f, "write_entry_field")))
        goto out;
    if (!in) {
        tbl_misuse(th->ow, "write_entry_field on table '%s' was called with a NULL value",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        const hfield *hf = fv;
        hval *v;
        if (hf->type == SS_PLUGIN_ST_TABLE) {
            ow_error(th->ow, "writing to table fields is currently not supported");
            goto out;
        }
        if (hf->read_only) {
            ow_error(th->ow, "field '%s' of table '%s' is read-only", hf->name, th->ref.name);
            goto out;
        }
        v = he_val(eh->he, hf);
        if (hf->type == SS_PLUGIN_ST_STRING) {
            char *s = xstrdup(in->str ? in->str : "");
            free(v->s);
            v->s = s;
        } else {
            /* like libsinsp, writing the key member (tid, fd) does not move the entry */
            v->u = sd_get(hf->type, in);
        }
        rc = SS_PLUGIN_SUCCESS;
    } else {
        const pfield *pf = fv;
        rc = th->ref.pin->writer_ext->write_entry_field(th->ref.pin->table, eh->raw, pf->raw,
                                                        in);
        if (rc != SS_PLUGIN_SUCCESS)
            copy_provider_error(th->ow, th->ref.provider, "write_entry_field");
    }
out:
    TUNLOCK();
    return rc;
}

/* ---- fields ---- */

static const ss_plugin_table_fieldinfo *tf_list_table_fields(ss_plugin_table_t *t,
                                                             uint32_t *nfields)
{
    tbl_handle *th;
    const ss_plugin_table_fieldinfo *r = NULL;
    TLOCK();
    th = th_check(t, "list_table_fields");
    if (!th)
        goto out;
    if (!nfields) {
        tbl_misuse(th->ow, "list_table_fields on table '%s' was called with a NULL count",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        const hschema *sc = th->ref.ht->sc;
        size_t i;
        free(th->finfo);
        th->finfo = xcalloc(sc->nf ? sc->nf : 1, sizeof *th->finfo);
        for (i = 0; i < sc->nf; i++) {
            th->finfo[i].name = sc->f[i]->name;
            th->finfo[i].field_type = sc->f[i]->type;
            th->finfo[i].read_only = sc->f[i]->read_only;
        }
        *nfields = (uint32_t)sc->nf;
        r = th->finfo;
    } else {
        r = th->ref.pin->fields_ext->list_table_fields(th->ref.pin->table, nfields);
        if (!r)
            copy_provider_error(th->ow, th->ref.provider, "list_table_fields");
    }
out:
    TUNLOCK();
    return r;
}

static pfield *pfield_of(tbl_handle *th, ss_plugin_table_field_t *raw, ss_plugin_state_type type)
{
    const void *family = th->ephemeral ? NULL : th->ref.ptab;
    pfield *pf;
    for (pf = g_reg.pfields; pf; pf = pf->next)
        if (pf->raw == raw && pf->family == family && pf->type == type)
            return pf;
    pf = xcalloc(1, sizeof *pf);
    pf->magic = PF_MAGIC;
    pf->family = family;
    pf->raw = raw;
    pf->type = type;
    pf->next = g_reg.pfields;
    g_reg.pfields = pf;
    ps_add(&g_reg.live, pf, PT_PFIELD);
    return pf;
}

static hfield *sc_add(hschema *sc, const char *name, ss_plugin_state_type type, bool ro,
                      bool dynamic, uint64_t def, hschema *sub)
{
    hfield *f = xcalloc(1, sizeof *f);
    f->magic = HF_MAGIC;
    f->sc = sc;
    f->name = xstrdup(name);
    f->type = type;
    f->read_only = ro;
    f->dynamic = dynamic;
    f->index = sc->nf;
    f->def = def;
    f->sub = sub;
    sc->f = xrealloc(sc->f, (sc->nf + 1) * sizeof *sc->f);
    sc->f[sc->nf++] = f;
    ps_add(&g_reg.live, f, PT_HFIELD);
    return f;
}

static ss_plugin_table_field_t *tf_field(ss_plugin_table_t *t, const char *name,
                                         ss_plugin_state_type type, bool add)
{
    const char *fn = add ? "add_table_field" : "get_table_field";
    tbl_handle *th;
    void *r = NULL;
    TLOCK();
    th = th_check(t, fn);
    if (!th)
        goto out;
    if (!name) {
        tbl_misuse(th->ow, "%s on table '%s' was called with a NULL name", fn, th->ref.name);
        goto out;
    }
    if (!st_name(type)) {
        ow_error(th->ow, "%s: unknown state type %d for field '%s'", fn, (int)type, name);
        goto out;
    }
    if (th->ref.ht) {
        hschema *sc = th->ref.ht->sc;
        hfield *hf = sc_field(sc, name);
        if (!add) {
            if (!hf)
                ow_error(th->ow, "undefined field '%s' in table '%s'", name, sc->name);
            else if (hf->type != type)
                ow_error(th->ow,
                         "incompatible data types for %s field '%s' of table '%s': it is %s, "
                         "not %s",
                         hf->dynamic ? "dynamic" : "static", name, sc->name, st_label(hf->type),
                         st_label(type));
            else
                r = hf;
            goto out;
        }
        if (type == SS_PLUGIN_ST_TABLE) {
            ow_error(th->ow, "can't add dynamic field of type table ('%s' in table '%s')", name,
                     sc->name);
        } else if (sc->fixed) {
            ow_error(th->ow, "table '%s' does not accept dynamic fields ('%s')", sc->name, name);
        } else if (hf && !hf->dynamic) {
            ow_error(th->ow, "can't add dynamic field already defined as static: '%s' in '%s'",
                     name, sc->name);
        } else if (hf && hf->type != type) {
            ow_error(th->ow,
                     "multiple definitions of dynamic field with different types: '%s' in "
                     "'%s' is %s, not %s",
                     name, sc->name, st_label(hf->type), st_label(type));
        } else {
            r = hf ? hf : sc_add(sc, name, type, false, true, 0, NULL);
        }
    } else {
        ss_plugin_table_fields_vtable_ext *fx = th->ref.pin->fields_ext;
        ss_plugin_table_field_t *raw = add ? fx->add_table_field(th->ref.pin->table, name, type)
                                           : fx->get_table_field(th->ref.pin->table, name, type);
        if (!raw)
            copy_provider_error(th->ow, th->ref.provider, fn);
        else
            r = pfield_of(th, raw, type);
    }
out:
    TUNLOCK();
    return r;
}

static ss_plugin_table_field_t *tf_get_table_field(ss_plugin_table_t *t, const char *name,
                                                   ss_plugin_state_type type)
{
    return tf_field(t, name, type, false);
}

static ss_plugin_table_field_t *tf_add_table_field(ss_plugin_table_t *t, const char *name,
                                                   ss_plugin_state_type type)
{
    return tf_field(t, name, type, true);
}

/* ---- the init input's registry functions ---- */

static host_owner *owner_check(ss_plugin_owner_t *o, const char *fn)
{
    host_owner *ow = o;
    if (ps_tag(&g_reg.live, o) != PT_OWNER) {
        tbl_misuse(NULL, "%s was called with %p, which is not the owner from the init input",
                   fn, o);
        return NULL;
    }
    return ow;
}

static reg_table *reg_find(const char *name)
{
    size_t i;
    for (i = 0; i < g_reg.n; i++)
        if (!strcmp(g_reg.t[i]->name, name))
            return g_reg.t[i];
    return NULL;
}

static ss_plugin_table_info *tt_list_tables(ss_plugin_owner_t *o, uint32_t *ntables)
{
    host_owner *ow;
    otrack *trk;
    ss_plugin_table_info *r = NULL;
    size_t i;
    TLOCK();
    ow = owner_check(o, "list_tables");
    if (!ow)
        goto out;
    if (!ntables) {
        tbl_misuse(ow, "list_tables was called with a NULL count");
        goto out;
    }
    trk = trk_of(ow);
    free(trk->tinfo);
    trk->tinfo = xcalloc(g_reg.n ? g_reg.n : 1, sizeof *trk->tinfo);
    for (i = 0; i < g_reg.n; i++) {
        trk->tinfo[i].name = g_reg.t[i]->name;
        trk->tinfo[i].key_type = g_reg.t[i]->key_type;
    }
    *ntables = (uint32_t)g_reg.n;
    r = trk->tinfo;
out:
    TUNLOCK();
    return r;
}

static tbl_handle *handle_for(host_owner *ow, reg_table *rt)
{
    otrack *trk = trk_of(ow);
    tbl_handle *h;
    tref r;
    for (h = trk->cached; h; h = h->next)
        if (h->ref.reg == rt)
            return h;
    memset(&r, 0, sizeof r);
    r.reg = rt;
    r.name = rt->name;
    r.key_type = rt->key_type;
    if (rt->ht) {
        r.ht = rt->ht;
    } else {
        r.pin = &rt->in;
        r.ptab = rt->in.table;
        r.provider = rt->provider;
    }
    return th_new(ow, &r, false);
}

static ss_plugin_table_t *tt_get_table(ss_plugin_owner_t *o, const char *name,
                                       ss_plugin_state_type key_type)
{
    host_owner *ow;
    reg_table *rt;
    tbl_handle *h = NULL;
    TLOCK();
    ow = owner_check(o, "get_table");
    if (!ow)
        goto out;
    if (!name) {
        tbl_misuse(ow, "get_table was called with a NULL name");
        goto out;
    }
    rt = reg_find(name);
    if (!rt)
        goto out; /* no error, like libsinsp */
    if (rt->key_type != key_type) {
        ow_error(ow,
                 "table in registry accessed with wrong key type: table '%s' has key type %s, "
                 "not %s",
                 name, st_label(rt->key_type), st_label(key_type));
        goto out;
    }
    h = handle_for(ow, rt);
out:
    TUNLOCK();
    return h;
}

static ss_plugin_rc tt_add_table(ss_plugin_owner_t *o, const ss_plugin_table_input *in)
{
    host_owner *ow;
    reg_table *rt;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    TLOCK();
    ow = owner_check(o, "add_table");
    if (!ow)
        goto out;
    if (!in) {
        ow_error(ow, "add_table: the table input is NULL");
        goto out;
    }
    if (!in->name || !in->name[0]) {
        ow_error(ow, "add_table: the table has no name");
        goto out;
    }
    if (!st_name(in->key_type) || in->key_type == SS_PLUGIN_ST_TABLE) {
        ow_error(ow, "add_table: table '%s' has an invalid key type %d", in->name,
                 (int)in->key_type);
        goto out;
    }
    if (!in->table) {
        ow_error(ow, "add_table: table '%s' has a NULL table pointer", in->name);
        goto out;
    }
    if (!in->reader_ext || !in->writer_ext || !in->fields_ext) {
        if (ow->plugin && ow->plugin->req_minor >= 1) {
            ow_error(ow,
                     "add_table: table '%s' lacks reader_ext, writer_ext or fields_ext (a "
                     "plugin requiring API 3.1 or later must give all three)",
                     in->name);
            goto out;
        }
    } else {
        const ss_plugin_table_reader_vtable_ext *r = in->reader_ext;
        const ss_plugin_table_writer_vtable_ext *w = in->writer_ext;
        const ss_plugin_table_fields_vtable_ext *f = in->fields_ext;
        if (!r->get_table_name || !r->get_table_size || !r->get_table_entry ||
            !r->read_entry_field || !r->release_table_entry || !r->iterate_entries ||
            r->get_table_name != in->reader.get_table_name ||
            r->get_table_size != in->reader.get_table_size ||
            r->get_table_entry != in->reader.get_table_entry ||
            r->read_entry_field != in->reader.read_entry_field) {
            ow_error(ow, "add_table: broken or inconsistent reader vtables for table '%s' (the "
                         "_ext functions must be set and equal to the deprecated ones)",
                     in->name);
            goto out;
        }
        if (!w->clear_table || !w->erase_table_entry || !w->create_table_entry ||
            !w->destroy_table_entry || !w->add_table_entry || !w->write_entry_field ||
            w->clear_table != in->writer.clear_table ||
            w->erase_table_entry != in->writer.erase_table_entry ||
            w->create_table_entry != in->writer.create_table_entry ||
            w->destroy_table_entry != in->writer.destroy_table_entry ||
            w->add_table_entry != in->writer.add_table_entry ||
            w->write_entry_field != in->writer.write_entry_field) {
            ow_error(ow, "add_table: broken or inconsistent writer vtables for table '%s' (the "
                         "_ext functions must be set and equal to the deprecated ones)",
                     in->name);
            goto out;
        }
        if (!f->list_table_fields || !f->get_table_field || !f->add_table_field ||
            f->list_table_fields != in->fields.list_table_fields ||
            f->get_table_field != in->fields.get_table_field ||
            f->add_table_field != in->fields.add_table_field) {
            ow_error(ow, "add_table: broken or inconsistent fields vtables for table '%s' (the "
                         "_ext functions must be set and equal to the deprecated ones)",
                     in->name);
            goto out;
        }
    }
    if (reg_find(in->name)) {
        ow_error(ow, "table '%s' added to registry multiple times", in->name);
        goto out;
    }
    rt = xcalloc(1, sizeof *rt);
    rt->name = xstrdup(in->name);
    rt->key_type = in->key_type;
    rt->provider = ow;
    rt->in = *in;
    if (in->reader_ext) {
        rt->rx = *in->reader_ext;
        rt->wx = *in->writer_ext;
        rt->fx = *in->fields_ext;
    } else {
        /* a 3.0 owner: only the deprecated vtables (no release, no iteration) */
        memcpy(&rt->rx, &in->reader, sizeof in->reader);
        memcpy(&rt->wx, &in->writer, sizeof in->writer);
        memcpy(&rt->fx, &in->fields, sizeof in->fields);
    }
    rt->in.reader_ext = &rt->rx;
    rt->in.writer_ext = &rt->wx;
    rt->in.fields_ext = &rt->fx;
    g_reg.t = xrealloc(g_reg.t, (g_reg.n + 1) * sizeof *g_reg.t);
    g_reg.t[g_reg.n++] = rt;
    rc = SS_PLUGIN_SUCCESS;
out:
    TUNLOCK();
    return rc;
}

static ss_plugin_table_reader_vtable_ext g_reader_ext = {
    tr_get_table_name,   tr_get_table_size,      tr_get_table_entry,
    tr_read_entry_field, tr_release_table_entry, tr_iterate_entries,
};
static ss_plugin_table_writer_vtable_ext g_writer_ext = {
    tw_clear_table,          tw_erase_table_entry, tw_create_table_entry,
    tw_destroy_table_entry, tw_add_table_entry,   tw_write_entry_field,
};
static ss_plugin_table_fields_vtable_ext g_fields_ext = {
    tf_list_table_fields,
    tf_get_table_field,
    tf_add_table_field,
};
static ss_plugin_table_reader_vtable g_reader_v0 = {
    tr_get_table_name,
    tr_get_table_size,
    tr_get_table_entry,
    tr_read_entry_field,
};
static ss_plugin_table_writer_vtable g_writer_v0 = {
    tw_clear_table,          tw_erase_table_entry, tw_create_table_entry,
    tw_destroy_table_entry, tw_add_table_entry,   tw_write_entry_field,
};
static ss_plugin_table_fields_vtable g_fields_v0 = {
    tf_list_table_fields,
    tf_get_table_field,
    tf_add_table_field,
};
static ss_plugin_init_tables_input g_init_tables = {
    tt_list_tables,
    tt_get_table,
    tt_add_table,
    {tf_list_table_fields, tf_get_table_field, tf_add_table_field},
    &g_fields_ext,
    &g_reader_ext,
    &g_writer_ext,
};

/* ---- the host's tables: schemas, contents, setup and teardown ---- */

static hschema *sc_new(const char *name, ss_plugin_state_type key_type, bool fixed)
{
    hschema *sc = xcalloc(1, sizeof *sc);
    sc->name = xstrdup(name);
    sc->key_type = key_type;
    sc->fixed = fixed;
    sc->key_field = -1;
    sc->next = g_reg.schemas;
    g_reg.schemas = sc;
    return sc;
}

typedef struct {
    const char *name;
    ss_plugin_state_type type;
    bool ro;
    int64_t def;
} sfdef;

#define ST(x) SS_PLUGIN_ST_##x

/* libsinsp's static fields of a thread (threadinfo.cpp), in its order; TABLE fields are
 * filled in by name. Defaults are those of sinsp_threadinfo::init(). */
static const sfdef k_thread_fields[] = {
    {"tid", ST(INT64), false, 0},
    {"pid", ST(INT64), false, -1},
    {"ptid", ST(INT64), false, -1},
    {"reaper_tid", ST(INT64), false, -1},
    {"sid", ST(INT64), false, -1},
    {"comm", ST(STRING), false, 0},
    {"exe", ST(STRING), false, 0},
    {"exe_path", ST(STRING), false, 0},
    {"exe_writable", ST(BOOL), false, 0},
    {"exe_upper_layer", ST(BOOL), false, 0},
    {"exe_lower_layer", ST(BOOL), false, 0},
    {"exe_from_memfd", ST(BOOL), false, 0},
    {"args", ST(TABLE), true, 0},
    {"env", ST(TABLE), true, 0},
    {"cgroups", ST(TABLE), true, 0},
    {"flags", ST(UINT32), false, 0},
    {"fd_limit", ST(INT64), false, -1},
    {"uid", ST(UINT32), false, 0xffffffff},
    {"gid", ST(UINT32), false, 0xffffffff},
    {"loginuid", ST(UINT32), false, 0xffffffff},
    {"exe_ino", ST(UINT64), false, 0},
    {"exe_ino_ctime", ST(UINT64), false, 0},
    {"exe_ino_mtime", ST(UINT64), false, 0},
    {"vtid", ST(INT64), false, -1},
    {"vpid", ST(INT64), false, -1},
    {"vpgid", ST(INT64), false, -1},
    {"pgid", ST(INT64), false, -1},
    {"pidns_init_start_ts", ST(UINT64), false, 0},
    {"root", ST(STRING), false, 0},
    {"tty", ST(UINT32), false, 0},
    {"file_descriptors", ST(TABLE), true, 0},
    {"cwd", ST(STRING), true, 0},
};

/* libsinsp's static fields of a file descriptor (fdinfo.cpp). */
static const sfdef k_fd_fields[] = {
    {"type", ST(UINT8), false, 0},
    {"open_flags", ST(UINT32), false, 0},
    {"name", ST(STRING), false, 0},
    {"name_raw", ST(STRING), false, 0},
    {"old_name", ST(STRING), false, 0},
    {"flags", ST(UINT32), false, 0},
    {"dev", ST(UINT32), false, 0},
    {"mount_id", ST(UINT32), false, 0},
    {"ino", ST(UINT64), false, 0},
    {"pid", ST(INT64), false, 0},
    {"fd", ST(INT64), false, 0},
    {"socket_ipv4_src_ip", ST(UINT32), false, 0},
    {"socket_ipv4_dest_dip", ST(UINT32), false, 0},
    {"socket_ipv4_src_port", ST(UINT16), false, 0},
    {"socket_ipv4_dst_port", ST(UINT16), false, 0},
    {"socket_ipv4_l4_proto", ST(UINT8), false, 0},
    {"socket_ipv6_src_port", ST(UINT16), false, 0},
    {"socket_ipv6_dst_port", ST(UINT16), false, 0},
    {"socket_ipv6_l4_proto", ST(UINT8), false, 0},
    {"socket_ipv4_server_ip", ST(UINT32), false, 0},
    {"socket_ipv4_server_port", ST(UINT16), false, 0},
    {"socket_ipv4_server_l4_proto", ST(UINT8), false, 0},
    {"socket_ipv6_server_port", ST(UINT16), false, 0},
    {"socket_ipv6_server_l4_proto", ST(UINT8), false, 0},
    {"socket_unix_src", ST(UINT64), false, 0},
    {"socket_unix_dest", ST(UINT64), false, 0},
};

/* What every run starts with: pid 1, like a /proc scan would find it. */
static const char k_default_threads[] =
    "[{\"tid\": 1, \"pid\": 1, \"ptid\": 0, \"sid\": 1, \"vtid\": 1, \"vpid\": 1, \"vpgid\": 1,"
    " \"pgid\": 1, \"comm\": \"init\", \"exe\": \"/sbin/init\", \"exe_path\": \"/sbin/init\","
    " \"uid\": 0, \"gid\": 0, \"fd_limit\": 1024, \"root\": \"/\", \"cwd\": \"/\","
    " \"args\": [\"splash\"], \"cgroups\": [{\"first\": \"cpu\", \"second\": \"/init.scope\"}],"
    " \"file_descriptors\": [{\"fd\": 0, \"type\": 16, \"name\": \"/dev/null\"},"
    " {\"fd\": 1, \"type\": 16, \"name\": \"/dev/null\"},"
    " {\"fd\": 2, \"type\": 16, \"name\": \"/dev/null\"}]}]";

static jnode *g_fixture; /* --threads-fixture, parsed */

static bool fx_entry(htable *t, const jnode *obj, uint64_t index, char *err, size_t errlen);

static bool fx_value(hentry *he, const hfield *f, const jnode *v, char *err, size_t errlen)
{
    hval *hv = he_val(he, f);
    size_t i;
    if (f->type == SS_PLUGIN_ST_TABLE) {
        if (v->k != J_ARR) {
            snprintf(err, errlen, "field '%s' (a table) needs an array", f->name);
            return false;
        }
        for (i = 0; i < v->n; i++)
            if (!fx_entry(hv->t, v->v[i], i, err, errlen))
                return false;
        return true;
    }
    if (f->type == SS_PLUGIN_ST_STRING) {
        if (v->k != J_STR) {
            snprintf(err, errlen, "field '%s' needs a string", f->name);
            return false;
        }
        free(hv->s);
        hv->s = xstrdup(v->s);
        return true;
    }
    if (f->type == SS_PLUGIN_ST_BOOL) {
        if (v->k != J_BOOL) {
            snprintf(err, errlen, "field '%s' needs true or false", f->name);
            return false;
        }
        hv->u = v->b;
        return true;
    }
    {
        char *end = NULL;
        uint64_t u = 0;
        errno = 0;
        if (v->k == J_NUM && st_signed(f->type))
            u = (uint64_t)strtoll(v->raw, &end, 10);
        else if (v->k == J_NUM && v->raw[0] != '-')
            u = strtoull(v->raw, &end, 10);
        if (v->k != J_NUM || !end || *end || errno || st_norm(f->type, u) != u) {
            snprintf(err, errlen, "field '%s' needs an integer in the range of %s", f->name,
                     st_label(f->type));
            return false;
        }
        hv->u = u;
    }
    return true;
}

/* One fixture entry: an object of field values (a string for a table with one string field,
 * like args); the key is the key field's value, else the position. */
static bool fx_entry(htable *t, const jnode *obj, uint64_t index, char *err, size_t errlen)
{
    hschema *sc = t->sc;
    hentry *he = he_new(sc);
    size_t i;
    if (obj->k == J_STR && sc->nf == 1 && sc->f[0]->type == SS_PLUGIN_ST_STRING) {
        he_val(he, sc->f[0])->s = xstrdup(obj->s);
    } else if (obj->k != J_OBJ) {
        snprintf(err, errlen, "an entry of table '%s' must be an object", sc->name);
        he_free(he);
        return false;
    } else {
        for (i = 0; i < obj->n; i++) {
            const hfield *f = sc_field(sc, obj->key[i]);
            if (!f) {
                snprintf(err, errlen, "table '%s' has no field '%s'", sc->name, obj->key[i]);
                he_free(he);
                return false;
            }
            if (!fx_value(he, f, obj->v[i], err, errlen)) {
                he_free(he);
                return false;
            }
        }
    }
    if (sc->key_field >= 0) {
        const hfield *kf = sc->f[sc->key_field];
        if (!jget(obj, kf->name)) {
            snprintf(err, errlen, "an entry of table '%s' needs '%s' (its key)", sc->name,
                     kf->name);
            he_free(he);
            return false;
        }
        he->key = he_val(he, kf)->u;
    } else {
        he->key = index;
    }
    ht_put(t, he);
    return true;
}

static bool fx_apply(const jnode *arr, const char *what, char *err, size_t errlen)
{
    char sub[ERRBUF];
    size_t i;
    if (arr->k != J_ARR) {
        snprintf(err, errlen, "%s must be a JSON array of thread objects", what);
        return false;
    }
    for (i = 0; i < arr->n; i++) {
        if (!fx_entry(g_reg.threads, arr->v[i], i, sub, sizeof sub)) {
            snprintf(err, errlen, "%s, entry %zu: %s", what, i, sub);
            return false;
        }
    }
    return true;
}

static bool g_thread_tid_set;
static int64_t g_thread_tid;

static hschema *sc_static(const char *name, ss_plugin_state_type key, bool fixed,
                          const sfdef *defs, size_t n, const char *key_field)
{
    hschema *sc = sc_new(name, key, fixed);
    size_t i;
    for (i = 0; i < n; i++) {
        hfield *f = sc_add(sc, defs[i].name, defs[i].type, defs[i].ro, false,
                           st_norm(defs[i].type, (uint64_t)defs[i].def), NULL);
        if (key_field && !strcmp(defs[i].name, key_field))
            sc->key_field = (int)f->index;
    }
    return sc;
}

/* A new registry with the host's tables, filled with the fixture. */
static bool reg_setup(char *err, size_t errlen)
{
    static const sfdef value[] = {{"value", ST(STRING), false, 0}};
    static const sfdef cgroup[] = {{"first", ST(STRING), false, 0},
                                   {"second", ST(STRING), false, 0}};
    hschema *args, *env, *cgroups, *fds, *threads;
    reg_table *rt;
    jnode *j;
    char jerr[256];
    bool ok = true;
    size_t i;

    TLOCK();
    memset(&g_reg, 0, sizeof g_reg);
    args = sc_static("args", ST(UINT64), true, value, 1, NULL);
    env = sc_static("env", ST(UINT64), true, value, 1, NULL);
    cgroups = sc_static("cgroups", ST(UINT64), true, cgroup, 2, NULL);
    fds = sc_static("file_descriptors", ST(INT64), false, k_fd_fields,
                    sizeof k_fd_fields / sizeof k_fd_fields[0], "fd");
    threads = sc_static("threads", ST(INT64), false, k_thread_fields,
                        sizeof k_thread_fields / sizeof k_thread_fields[0], "tid");
    for (i = 0; i < threads->nf; i++) {
        hfield *f = threads->f[i];
        if (!strcmp(f->name, "args"))
            f->sub = args;
        else if (!strcmp(f->name, "env"))
            f->sub = env;
        else if (!strcmp(f->name, "cgroups"))
            f->sub = cgroups;
        else if (!strcmp(f->name, "file_descriptors"))
            f->sub = fds;
    }
    g_reg.sc_threads = threads;
    g_reg.threads = ht_new(threads);
    rt = xcalloc(1, sizeof *rt);
    rt->name = xstrdup("threads");
    rt->key_type = ST(INT64);
    rt->ht = g_reg.threads;
    g_reg.t = xcalloc(1, sizeof *g_reg.t);
    g_reg.t[g_reg.n++] = rt;
    g_reg.active = true;
    ps_add(&g_reg.live, &g_host_ow, PT_OWNER);

    j = json_parse(k_default_threads, jerr, sizeof jerr);
    ok = j && fx_apply(j, "the default threads", err, errlen);
    jfree(j);
    if (ok && g_thread_tid_set && g_thread_tid != 1) {
        sbuf b = {0};
        int64_t t = g_thread_tid;
        sb_printf(&b,
                  "[{\"tid\": %" PRId64 ", \"pid\": %" PRId64 ", \"ptid\": 1, \"sid\": %" PRId64
                  ", \"vtid\": %" PRId64 ", \"vpid\": %" PRId64 ", \"vpgid\": %" PRId64
                  ", \"pgid\": %" PRId64
                  ", \"comm\": \"fp-host-test\", \"exe\": \"fp-host-test\","
                  " \"exe_path\": \"/usr/local/bin/fp-host-test\", \"uid\": 1000, \"gid\": 1000,"
                  " \"loginuid\": 1000, \"fd_limit\": 1024, \"root\": \"/\", \"cwd\": \"/tmp\","
                  " \"args\": [\"--run\"], \"env\": [\"HOME=/tmp\"],"
                  " \"file_descriptors\": [{\"fd\": 0, \"type\": 16, \"name\": \"/dev/pts/0\"},"
                  " {\"fd\": 1, \"type\": 16, \"name\": \"/dev/pts/0\"},"
                  " {\"fd\": 2, \"type\": 16, \"name\": \"/dev/pts/0\"},"
                  " {\"fd\": 3, \"type\": 16, \"name\": \"/tmp/fp-host-test.log\","
                  " \"open_flags\": 1}]}]",
                  t, t, t, t, t, t, t);
        j = json_parse(sb_str(&b), jerr, sizeof jerr);
        ok = j && fx_apply(j, "the --thread-tid thread", err, errlen);
        jfree(j);
        sb_free(&b);
    }
    if (ok && g_fixture)
        ok = fx_apply(g_fixture, "--threads-fixture", err, errlen);
    TUNLOCK();
    return ok;
}

static void trk_free(otrack *trk)
{
    ehandle *e, *en;
    tbl_handle *h, *hn;
    for (e = trk->ents; e; e = en) {
        en = e->next;
        if (!e->dead && e->he)
            he_unref(e->he);
        free(e);
    }
    for (h = trk->ephem; h; h = hn) {
        hn = h->next;
        th_free(h);
    }
    for (h = trk->cached; h; h = hn) {
        hn = h->next;
        th_free(h);
    }
    free(trk->tinfo);
    trk->ow->trk = NULL;
    free(trk);
}

/* After every plugin state is destroyed: frees the registry, the host's tables, handles. */
static void reg_teardown(void)
{
    otrack *trk, *tn;
    hschema *sc, *sn;
    pfield *pf, *pn;
    size_t i;
    TLOCK();
    if (!g_reg.active) {
        TUNLOCK();
        return;
    }
    for (trk = g_reg.tracks; trk; trk = tn) {
        tn = trk->next;
        trk_free(trk);
    }
    for (i = 0; i < g_reg.n; i++) {
        ht_free(g_reg.t[i]->ht);
        free(g_reg.t[i]->name);
        free(g_reg.t[i]);
    }
    free(g_reg.t);
    for (pf = g_reg.pfields; pf; pf = pn) {
        pn = pf->next;
        free(pf);
    }
    for (sc = g_reg.schemas; sc; sc = sn) {
        sn = sc->next;
        for (i = 0; i < sc->nf; i++) {
            free(sc->f[i]->name);
            free(sc->f[i]);
        }
        free(sc->f);
        free(sc->name);
        free(sc);
    }
    ps_free(&g_reg.live);
    memset(&g_reg, 0, sizeof g_reg);
    g_host_ow.last_error[0] = 0;
    TUNLOCK();
}

/* ---- --dump-table ---- */

typedef struct {
    sbuf *b;
    tbl_handle *th;
    uint32_t nf;
    char **names;
    ss_plugin_state_type *types;
    bool *ro;
    ss_plugin_table_field_t **fh;
    bool first;
} dump_ctx;

static void dump_value(sbuf *b, tbl_handle *th, ss_plugin_table_entry_t *e,
                       ss_plugin_table_field_t *f, ss_plugin_state_type type)
{
    ss_plugin_state_data d;
    memset(&d, 0, sizeof d);
    if (!f || tr_read_entry_field(th, e, f, &d) != SS_PLUGIN_SUCCESS) {
        sb_adds(b, "null");
        return;
    }
    switch (type) {
    case SS_PLUGIN_ST_STRING: sb_json_str(b, d.str ? d.str : ""); break;
    case SS_PLUGIN_ST_BOOL: sb_adds(b, d.b ? "true" : "false"); break;
    case SS_PLUGIN_ST_TABLE:
        sb_printf(b, "{\"size\": %" PRIu64 "}", d.table ? tr_get_table_size(d.table) : 0);
        break;
    default:
        if (st_signed(type))
            sb_printf(b, "%" PRId64, (int64_t)sd_get(type, &d));
        else
            sb_printf(b, "%" PRIu64, sd_get(type, &d));
    }
}

static ss_plugin_bool dump_entry(ss_plugin_table_iterator_state_t *s, ss_plugin_table_entry_t *e)
{
    dump_ctx *c = s;
    const ehandle *eh = e;
    uint32_t i;
    if (!c->first)
        sb_adds(c->b, ", ");
    c->first = false;
    sb_addc(c->b, '{');
    if (eh->he) {
        if (st_signed(c->th->ref.key_type))
            sb_printf(c->b, "\"key\": %" PRId64 ", ", (int64_t)eh->he->key);
        else
            sb_printf(c->b, "\"key\": %" PRIu64 ", ", eh->he->key);
    }
    sb_adds(c->b, "\"fields\": {");
    for (i = 0; i < c->nf; i++) {
        if (i)
            sb_adds(c->b, ", ");
        sb_json_str(c->b, c->names[i]);
        sb_adds(c->b, ": ");
        dump_value(c->b, c->th, e, c->fh[i], c->types[i]);
    }
    sb_adds(c->b, "}}");
    return 1;
}

/* Prints one table (all fields; nested tables as their sizes) as a JSON line. */
static bool dump_table(const char *name)
{
    reg_table *rt;
    tbl_handle *th;
    const ss_plugin_table_fieldinfo *fi;
    dump_ctx c;
    sbuf b = {0};
    uint32_t nf = 0, i;
    bool ok = true;

    TLOCK();
    rt = reg_find(name);
    if (!rt) {
        sbuf names = {0};
        size_t k;
        for (k = 0; k < g_reg.n; k++)
            sb_printf(&names, "%s'%s'", k ? ", " : "", g_reg.t[k]->name);
        TUNLOCK();
        report_error(NULL, "dump_table", "--dump-table: no table named '%s' (tables: %s)", name,
                     sb_str(&names));
        sb_free(&names);
        return false;
    }
    tl_owner = &g_host_ow;
    th = handle_for(&g_host_ow, rt);
    memset(&c, 0, sizeof c);
    fi = tf_list_table_fields(th, &nf);
    if (!fi)
        nf = 0;
    c.b = &b;
    c.th = th;
    c.nf = nf;
    c.first = true;
    c.names = xcalloc(nf + 1, sizeof *c.names);
    c.types = xcalloc(nf + 1, sizeof *c.types);
    c.ro = xcalloc(nf + 1, sizeof *c.ro);
    c.fh = xcalloc(nf + 1, sizeof *c.fh);
    for (i = 0; i < nf; i++) {
        c.names[i] = xstrdup(fi[i].name ? fi[i].name : "");
        c.types[i] = fi[i].field_type;
        c.ro[i] = fi[i].read_only != 0;
    }
    for (i = 0; i < nf; i++)
        c.fh[i] = tf_get_table_field(th, c.names[i], c.types[i]);
    sb_adds(&b, "{\"table\": {\"name\": ");
    sb_json_str(&b, rt->name);
    sb_adds(&b, ", \"owner\": ");
    sb_json_str(&b, rt->provider ? owner_label(rt->provider) : "host");
    sb_printf(&b, ", \"key_type\": \"%s\", \"size\": %" PRIu64 ", \"fields\": [",
              st_label(rt->key_type), tr_get_table_size(th));
    for (i = 0; i < nf; i++) {
        sb_adds(&b, i ? ", {\"name\": " : "{\"name\": ");
        sb_json_str(&b, c.names[i]);
        sb_printf(&b, ", \"type\": \"%s\", \"read_only\": %s}", st_label(c.types[i]),
                  c.ro[i] ? "true" : "false");
    }
    sb_adds(&b, "], \"entries\": [");
    if (!tr_iterate_entries(th, dump_entry, &c)) {
        report_error(rt->provider ? owner_label(rt->provider) : NULL, "dump_table",
                     "iterating table '%s' failed: %s", rt->name,
                     g_host_ow.last_error[0] ? g_host_ow.last_error : "no error message");
        ok = false;
    }
    sb_adds(&b, "]}}");
    TUNLOCK();
    tbl_end_call(&g_host_ow, "--dump-table");
    tl_owner = NULL;
    if (ok) {
        if (g_opt.json) {
            out_line(stdout, &b);
        } else {
            sbuf t = {0};
            sb_printf(&t, "table %s: ", rt->name);
            sb_add(&t, b.p, b.n);
            out_line(stdout, &t);
            sb_free(&t);
        }
    }
    for (i = 0; i < nf; i++)
        free(c.names[i]);
    free(c.names);
    free(c.types);
    free(c.ro);
    free(c.fh);
    sb_free(&b);
    return ok;
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
    /* like libsinsp: the tables only for plugins that parse or extract */
    in.tables = (p->caps & (CAP_PARSE | CAP_EXTRACT)) && g_reg.active ? &g_init_tables : NULL;
    if (in.tables) {
        TLOCK();
        ps_add(&g_reg.live, ow, PT_OWNER); /* the owners the registry functions accept */
        TUNLOCK();
    }
    in.log_fn = host_log_fn;

    tl_owner = ow;
    st = p->api.init(&in, &rc);
    tl_owner = NULL;
    p->states[k] = st;
    if (k + 1 > p->nstates)
        p->nstates = k + 1;
    tbl_after_call(ow, "init");
    if (rc != SS_PLUGIN_SUCCESS) {
        snprintf(err, errlen, "could not initialize plugin (rc=%d): %s", (int)rc,
                 plugin_last_error(p, st));
        return false;
    }
    if (atomic_load(&p->table_misuse)) {
        snprintf(err, errlen, "the plugin misused the table API during init (see above)");
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
/* Field extraction: requested fields, output format, filter                 */
/* ------------------------------------------------------------------------ */

#define X_NO_SLOT UINT64_MAX
#define X_MAX_VALUES (1u << 20) /* more values than this for one field is a broken plugin */
#define X_CHECK_EVENTS 10000u   /* events kept per plugin for --extract-threads */

/* One field the host extracts: a field of one plugin, with its argument. Requests are
 * shared by equal specs, so each is extracted once per event. */
typedef struct {
    char *canon; /* name or name[arg] */
    host_plugin *ex;
    uint32_t field_id;
    const plugin_field *f;
    bool arg_present;
    char *arg;
    uint64_t arg_index;
    const char *arg_key;
} field_req;

typedef struct {
    char *spec; /* as given (trimmed) */
    size_t req;
} field_spec;

typedef struct {
    char *lit; /* literal text, or NULL for a field */
    size_t litlen;
    size_t req;
} fmt_part;

/* One extracted value (host-owned copy: the plugin's memory lasts until its next call). */
typedef struct {
    uint64_t u; /* numbers; booleans as the raw ss_plugin_bool */
    size_t soff; /* strings: offset in xvalue.s */
    uint32_t slen;
    uint8_t iplen;
    uint8_t ip[16];
} xelem;

typedef struct {
    bool present; /* SUCCESS with at least one value */
    uint64_t n;
    xelem *e;
    uint64_t cap;
    sbuf s;
    bool off_given; /* the plugin filled its value_offsets arrays */
    uint32_t off_start, off_len;
} xvalue;

/* How the events of one capturing plugin reach the extractor of one request. */
typedef struct {
    host_plugin *ex; /* NULL: the extractor does not take this plugin's events */
    ss_plugin_t *st;
    host_owner *ow;
    bool offsets;     /* pass value_offsets (--offsets and required API >= 3.11) */
    bool syscall_src; /* the events are from the "syscall" source */
    uint64_t failures, calls, ns;
} xbind;

typedef struct xctx {
    size_t nb; /* = g_nreq */
    xbind *b;
    xvalue *vals;
    bool any; /* some extractor takes this plugin's events */
    /* --extract-threads: copies of the first events and the first pass' results */
    size_t nchk;
    uint8_t **chk_evt;
    uint64_t *chk_num;
    size_t *chk_off;
    sbuf chk_blob;
} xctx;

/* A parser of one capturing plugin's events (a state of a plugin with parse_event). */
typedef struct pbind {
    host_plugin *pl;
    ss_plugin_t *st;
    host_owner *ow;
    bool syscall_src; /* the events are from the "syscall" source */
    uint64_t calls, failures;
} pbind;

enum { F_AND, F_OR, F_NOT, F_CMP };
enum {
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_CONTAINS,
    OP_STARTSWITH,
    OP_ENDSWITH,
    OP_IN,
    OP_EXISTS
};

typedef struct {
    uint64_t u;
    char *s;
    size_t slen;
    uint8_t iplen;
    uint8_t ip[16];
    int prefix; /* CIDR prefix length; -1 for one address */
} fval;

typedef struct fexpr fexpr;
struct fexpr {
    int kind;
    fexpr *a, *b;
    size_t req;
    int op;
    fval *v;
    size_t nv;
};

/* Per cycle: what --fields, --output and --filter ask for. */
static field_req *g_reqs;
static size_t g_nreq;
static field_spec *g_specs;
static size_t g_nspecs;
static fmt_part *g_fmt;
static size_t g_nfmt;
static fexpr *g_filter;

static const char *op_name(int op)
{
    switch (op) {
    case OP_EQ: return "=";
    case OP_NE: return "!=";
    case OP_LT: return "<";
    case OP_LE: return "<=";
    case OP_GT: return ">";
    case OP_GE: return ">=";
    case OP_CONTAINS: return "contains";
    case OP_STARTSWITH: return "startswith";
    case OP_ENDSWITH: return "endswith";
    case OP_IN: return "in";
    case OP_EXISTS: return "exists";
    }
    return "?";
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* An unsigned integer index like libsinsp's: digits only, no leading zero, fits 64 bits. */
static bool parse_index(const char *s, uint64_t *out)
{
    if (!s[0] || (s[0] == '0' && s[1]))
        return false;
    return parse_u64(s, out);
}

/* Finds the ']' matching the '[' at s[i]; returns n when there is none. */
static size_t match_bracket(const char *s, size_t i, size_t n)
{
    int depth = 0;
    for (; i < n; i++) {
        if (s[i] == '[') {
            depth++;
        } else if (s[i] == ']' && --depth == 0) {
            return i;
        }
    }
    return n;
}

static const plugin_field *find_field(host_plugin *pl, size_t np, const char *name,
                                      host_plugin **ex, uint32_t *id)
{
    size_t i, k;
    for (i = 0; i < np; i++) {
        if (!(pl[i].caps & CAP_EXTRACT))
            continue;
        for (k = 0; k < pl[i].nfields; k++) {
            if (!strcmp(pl[i].fields[k].name, name)) {
                *ex = &pl[i];
                *id = (uint32_t)k;
                return &pl[i].fields[k];
            }
        }
    }
    return NULL;
}

/* Resolves "name" or "name[arg]" (s, n bytes) to a request, checking the argument like
 * libsinsp. On error, *who is the plugin the message is about (NULL for the host). */
static bool req_resolve(host_plugin *pl, size_t np, const char *s, size_t n, size_t *out,
                        const char **who, char *err, size_t errlen)
{
    sbuf name = {0}, arg = {0}, canon = {0};
    size_t i = 0, close, k;
    bool has_arg = false, ok = false;
    host_plugin *ex = NULL;
    uint32_t id = 0;
    uint64_t index = 0;
    const plugin_field *f;
    field_req *r;

    *who = NULL;
    while (n && is_space(s[0])) {
        s++;
        n--;
    }
    while (n && is_space(s[n - 1]))
        n--;
    while (i < n && s[i] != '[')
        i++;
    sb_add(&name, s, i);
    if (i < n) {
        close = match_bracket(s, i, n);
        if (close >= n) {
            snprintf(err, errlen, "field '%.*s' has an unbalanced '[' in its argument", (int)n, s);
            goto done;
        }
        if (close + 1 != n) {
            snprintf(err, errlen, "unexpected text after the argument of field '%.*s'", (int)n,
                     s);
            goto done;
        }
        sb_add(&arg, s + i + 1, close - i - 1);
        has_arg = true;
    }
    if (!name.n) {
        snprintf(err, errlen, "empty field name in '%.*s'", (int)n, s);
        goto done;
    }
    f = find_field(pl, np, sb_str(&name), &ex, &id);
    if (!f) {
        snprintf(err, errlen, "unknown field '%s': no loaded plugin with field extraction "
                              "declares it",
                 sb_str(&name));
        goto done;
    }
    *who = ex->name;
    if (has_arg && !f->arg_index && !f->arg_key) {
        snprintf(err, errlen, "field '%s' takes no argument, but '[%s]' was given", f->name,
                 sb_str(&arg));
        goto done;
    }
    if (!has_arg && f->arg_required) {
        snprintf(err, errlen, "field '%s' requires an argument (%s[%s])", f->name, f->name,
                 f->arg_index ? "INDEX" : "KEY");
        goto done;
    }
    if (has_arg && f->arg_index && !parse_index(sb_str(&arg), &index)) {
        snprintf(err, errlen,
                 "field '%s' needs an unsigned integer index as its argument, not '%s'",
                 f->name, sb_str(&arg));
        goto done;
    }
    sb_adds(&canon, f->name);
    if (has_arg) {
        sb_addc(&canon, '[');
        sb_add(&canon, arg.p, arg.n);
        sb_addc(&canon, ']');
    }
    for (k = 0; k < g_nreq; k++) {
        if (g_reqs[k].ex == ex && g_reqs[k].field_id == id && !strcmp(g_reqs[k].canon, sb_str(&canon))) {
            *out = k;
            ok = true;
            goto done;
        }
    }
    g_reqs = xrealloc(g_reqs, (g_nreq + 1) * sizeof *g_reqs);
    r = &g_reqs[g_nreq];
    memset(r, 0, sizeof *r);
    r->canon = xstrdup(sb_str(&canon));
    r->ex = ex;
    r->field_id = id;
    r->f = f;
    r->arg_present = has_arg;
    if (has_arg) {
        r->arg = xstrdup(sb_str(&arg));
        if (f->arg_index)
            r->arg_index = index;
        else
            r->arg_key = r->arg;
    }
    *out = g_nreq++;
    ok = true;
done:
    sb_free(&name);
    sb_free(&arg);
    sb_free(&canon);
    return ok;
}

/* --output: "%name" and "%name[arg]" become fields, the rest is kept as written. */
static bool fmt_parse(host_plugin *pl, size_t np, const char *fmt, const char **who, char *err,
                      size_t errlen)
{
    sbuf lit = {0};
    size_t n = strlen(fmt), i = 0;
    while (i < n) {
        size_t st, e, req;
        if (fmt[i] != '%' || !is_alpha(fmt[i + 1])) {
            sb_addc(&lit, fmt[i++]);
            continue;
        }
        st = i + 1;
        e = st;
        while (e < n && (is_name_char(fmt[e]) || fmt[e] == '.'))
            e++;
        while (e > st && fmt[e - 1] == '.')
            e--;
        if (e < n && fmt[e] == '[') {
            size_t close = match_bracket(fmt, e, n);
            if (close >= n) {
                snprintf(err, errlen, "--output: unbalanced '[' after %%%.*s (position %zu)",
                         (int)(e - st), fmt + st, e + 1);
                sb_free(&lit);
                return false;
            }
            e = close + 1;
        }
        if (!req_resolve(pl, np, fmt + st, e - st, &req, who, err, errlen)) {
            sb_free(&lit);
            return false;
        }
        g_fmt = xrealloc(g_fmt, (g_nfmt + 2) * sizeof *g_fmt);
        if (lit.n) {
            g_fmt[g_nfmt].lit = lit.p;
            g_fmt[g_nfmt].litlen = lit.n;
            g_fmt[g_nfmt].req = 0;
            g_nfmt++;
            memset(&lit, 0, sizeof lit);
        }
        g_fmt[g_nfmt].lit = NULL;
        g_fmt[g_nfmt].litlen = 0;
        g_fmt[g_nfmt].req = req;
        g_nfmt++;
        i = e;
    }
    if (lit.n) {
        g_fmt = xrealloc(g_fmt, (g_nfmt + 1) * sizeof *g_fmt);
        g_fmt[g_nfmt].lit = lit.p;
        g_fmt[g_nfmt].litlen = lit.n;
        g_fmt[g_nfmt].req = 0;
        g_nfmt++;
    }
    return true;
}

/* ---- the filter language ---- */

typedef struct {
    const char *s;
    size_t i, n;
    host_plugin *pl;
    size_t np;
    int depth;
    const char *who;
    char err[4 * ERRBUF];
} fparser;

#define F_MAX_DEPTH 200

__attribute__((format(printf, 3, 4))) static fexpr *fs_fail(fparser *f, size_t pos,
                                                             const char *fmt, ...)
{
    char msg[2 * ERRBUF];
    va_list ap;
    if (f->err[0])
        return NULL;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(f->err, sizeof f->err, "filter error at position %zu: %s", pos + 1, msg);
    return NULL;
}

static void fexpr_free(fexpr *x)
{
    size_t i;
    if (!x)
        return;
    fexpr_free(x->a);
    fexpr_free(x->b);
    for (i = 0; i < x->nv; i++)
        free(x->v[i].s);
    free(x->v);
    free(x);
}

static void fs_ws(fparser *f)
{
    while (f->i < f->n && is_space(f->s[f->i]))
        f->i++;
}

static bool is_word_char(char c) { return c && !is_space(c) && !strchr("()\",=!<>", c); }

/* Length of the bare word at the cursor (after whitespace). */
static size_t fs_word(fparser *f)
{
    size_t k;
    fs_ws(f);
    for (k = f->i; k < f->n && is_word_char(f->s[k]); k++)
        ;
    return k - f->i;
}

static bool fs_keyword(fparser *f, const char *kw)
{
    size_t l = fs_word(f);
    return l == strlen(kw) && !memcmp(f->s + f->i, kw, l);
}

/* A value: a double-quoted string (\" and \\ escapes) or a bare word. */
static bool fs_value(fparser *f, sbuf *out, size_t *pos)
{
    fs_ws(f);
    *pos = f->i;
    if (f->i < f->n && f->s[f->i] == '"') {
        f->i++;
        for (;;) {
            char c;
            if (f->i >= f->n) {
                fs_fail(f, *pos, "unterminated string");
                return false;
            }
            c = f->s[f->i];
            if (c == '"') {
                f->i++;
                return true;
            }
            if (c == '\\' && f->i + 1 < f->n && (f->s[f->i + 1] == '"' || f->s[f->i + 1] == '\\')) {
                sb_addc(out, f->s[f->i + 1]);
                f->i += 2;
                continue;
            }
            sb_addc(out, c);
            f->i++;
        }
    }
    {
        size_t l = fs_word(f);
        if (!l) {
            fs_fail(f, f->i, f->i < f->n ? "expected a value" : "expected a value, found the end");
            return false;
        }
        sb_add(out, f->s + f->i, l);
        f->i += l;
    }
    return true;
}

/* "a.b.c.d", "a.b.c.d/n", "::1", "fe80::/10" */
static bool parse_ip(const char *txt, fval *v)
{
    char buf[128];
    const char *slash = strchr(txt, '/');
    size_t alen = slash ? (size_t)(slash - txt) : strlen(txt);
    uint64_t prefix;
    if (alen >= sizeof buf)
        return false;
    memcpy(buf, txt, alen);
    buf[alen] = 0;
    if (inet_pton(AF_INET, buf, v->ip) == 1)
        v->iplen = 4;
    else if (inet_pton(AF_INET6, buf, v->ip) == 1)
        v->iplen = 16;
    else
        return false;
    v->prefix = -1;
    if (slash) {
        if (!parse_u64(slash + 1, &prefix) || prefix > (uint64_t)v->iplen * 8)
            return false;
        v->prefix = (int)prefix;
    }
    return true;
}

/* Turns the text of a value into what the field's type compares with. */
static bool fs_convert(fparser *f, const field_req *r, const sbuf *txt, size_t pos, fval *v)
{
    const char *t = sb_str(txt);
    uint32_t ft = r->f->ftype;
    memset(v, 0, sizeof *v);
    v->prefix = -1;
    if (ftype_numeric(ft)) {
        if (!parse_u64(t, &v->u)) {
            fs_fail(f, pos, "field '%s' is numeric (%s): '%s' is not an unsigned integer",
                    r->canon, r->f->type_name, t);
            return false;
        }
    } else if (ft == FTYPE_BOOL) {
        if (!strcmp(t, "true"))
            v->u = 1;
        else if (!strcmp(t, "false"))
            v->u = 0;
        else {
            fs_fail(f, pos, "field '%s' is a bool: compare it with true or false, not '%s'",
                    r->canon, t);
            return false;
        }
    } else if (ftype_ip(ft)) {
        if (!parse_ip(t, v)) {
            fs_fail(f, pos,
                    "field '%s' is an IP address (%s): '%s' is not an IPv4 or IPv6 address or "
                    "CIDR network",
                    r->canon, r->f->type_name, t);
            return false;
        }
    } else {
        v->s = xmalloc(txt->n + 1);
        memcpy(v->s, t, txt->n + 1);
        v->slen = txt->n;
    }
    return true;
}

static fexpr *fs_or(fparser *f);

static fexpr *fs_cmp(fparser *f)
{
    size_t start, k, opstart, req, pos;
    int op;
    fexpr *x;
    const field_req *r;
    uint32_t ft;
    char err[ERRBUF];

    fs_ws(f);
    start = f->i;
    for (k = start; k < f->n && (is_name_char(f->s[k]) || f->s[k] == '.'); k++)
        ;
    if (k == start)
        return fs_fail(f, start, f->i < f->n ? "expected a field name" :
                                               "expected a field name, found the end");
    if (k < f->n && f->s[k] == '[') {
        size_t close = match_bracket(f->s, k, f->n);
        if (close >= f->n)
            return fs_fail(f, k, "unbalanced '[' in the argument of field '%.*s'",
                           (int)(k - start), f->s + start);
        k = close + 1;
    }
    if (!req_resolve(f->pl, f->np, f->s + start, k - start, &req, &f->who, err, sizeof err))
        return fs_fail(f, start, "%s", err);
    f->i = k;
    r = &g_reqs[req];
    ft = r->f->ftype;

    fs_ws(f);
    opstart = f->i;
    if (f->i + 1 < f->n && f->s[f->i] == '=' && f->s[f->i + 1] == '=') {
        op = OP_EQ;
        f->i += 2;
    } else if (f->i < f->n && f->s[f->i] == '=') {
        op = OP_EQ;
        f->i++;
    } else if (f->i + 1 < f->n && f->s[f->i] == '!' && f->s[f->i + 1] == '=') {
        op = OP_NE;
        f->i += 2;
    } else if (f->i + 1 < f->n && f->s[f->i] == '<' && f->s[f->i + 1] == '=') {
        op = OP_LE;
        f->i += 2;
    } else if (f->i < f->n && f->s[f->i] == '<') {
        op = OP_LT;
        f->i++;
    } else if (f->i + 1 < f->n && f->s[f->i] == '>' && f->s[f->i + 1] == '=') {
        op = OP_GE;
        f->i += 2;
    } else if (f->i < f->n && f->s[f->i] == '>') {
        op = OP_GT;
        f->i++;
    } else {
        static const int kw_ops[] = {OP_CONTAINS, OP_STARTSWITH, OP_ENDSWITH, OP_IN, OP_EXISTS};
        size_t m;
        op = -1;
        for (m = 0; m < sizeof kw_ops / sizeof kw_ops[0]; m++) {
            if (fs_keyword(f, op_name(kw_ops[m]))) {
                op = kw_ops[m];
                f->i += strlen(op_name(op));
                break;
            }
        }
        if (op < 0)
            return fs_fail(f, opstart,
                           "expected an operator (=, !=, <, <=, >, >=, contains, startswith, "
                           "endswith, in, exists) after '%.*s'",
                           (int)(k - start), f->s + start);
    }
    if ((op == OP_LT || op == OP_LE || op == OP_GT || op == OP_GE) && !ftype_numeric(ft))
        return fs_fail(f, opstart, "operator '%s' needs a numeric field, but '%s' is a %s",
                       op_name(op), r->canon, r->f->type_name);
    if ((op == OP_CONTAINS || op == OP_STARTSWITH || op == OP_ENDSWITH) && ft != FTYPE_STRING)
        return fs_fail(f, opstart, "operator '%s' needs a string field, but '%s' is a %s",
                       op_name(op), r->canon, r->f->type_name);

    x = xcalloc(1, sizeof *x);
    x->kind = F_CMP;
    x->req = req;
    x->op = op;
    if (op == OP_EXISTS)
        return x;
    if (op == OP_IN) {
        fs_ws(f);
        if (f->i >= f->n || f->s[f->i] != '(') {
            fexpr_free(x);
            return fs_fail(f, f->i, "expected '(' after 'in'");
        }
        f->i++;
        for (;;) {
            sbuf txt = {0};
            bool ok;
            x->v = xrealloc(x->v, (x->nv + 1) * sizeof *x->v);
            ok = fs_value(f, &txt, &pos) && fs_convert(f, r, &txt, pos, &x->v[x->nv]);
            sb_free(&txt);
            if (!ok) {
                fexpr_free(x);
                return NULL;
            }
            x->nv++;
            fs_ws(f);
            if (f->i < f->n && f->s[f->i] == ',') {
                f->i++;
                continue;
            }
            if (f->i < f->n && f->s[f->i] == ')') {
                f->i++;
                break;
            }
            fexpr_free(x);
            return fs_fail(f, f->i, "expected ',' or ')' in the list of 'in'");
        }
        return x;
    }
    {
        sbuf txt = {0};
        bool ok;
        x->v = xcalloc(1, sizeof *x->v);
        ok = fs_value(f, &txt, &pos) && fs_convert(f, r, &txt, pos, &x->v[0]);
        sb_free(&txt);
        if (!ok) {
            fexpr_free(x);
            return NULL;
        }
        x->nv = 1;
    }
    return x;
}

static fexpr *fs_node(int kind, fexpr *a, fexpr *b)
{
    fexpr *x = xcalloc(1, sizeof *x);
    x->kind = kind;
    x->a = a;
    x->b = b;
    return x;
}

static fexpr *fs_not(fparser *f)
{
    fexpr *x;
    if (++f->depth > F_MAX_DEPTH)
        return fs_fail(f, f->i, "expression nested too deeply");
    if (fs_keyword(f, "not")) {
        fexpr *a;
        f->i += 3;
        a = fs_not(f);
        x = a ? fs_node(F_NOT, a, NULL) : NULL;
    } else {
        fs_ws(f);
        if (f->i < f->n && f->s[f->i] == '(') {
            size_t open = f->i;
            f->i++;
            x = fs_or(f);
            fs_ws(f);
            if (x && (f->i >= f->n || f->s[f->i] != ')')) {
                fexpr_free(x);
                x = fs_fail(f, f->i, "expected ')' to close the '(' at position %zu", open + 1);
            } else if (x) {
                f->i++;
            }
        } else {
            x = fs_cmp(f);
        }
    }
    f->depth--;
    return x;
}

static fexpr *fs_and(fparser *f)
{
    fexpr *x = fs_not(f);
    while (x && fs_keyword(f, "and")) {
        fexpr *b;
        f->i += 3;
        b = fs_not(f);
        if (!b) {
            fexpr_free(x);
            return NULL;
        }
        x = fs_node(F_AND, x, b);
    }
    return x;
}

static fexpr *fs_or(fparser *f)
{
    fexpr *x = fs_and(f);
    while (x && fs_keyword(f, "or")) {
        fexpr *b;
        f->i += 2;
        b = fs_and(f);
        if (!b) {
            fexpr_free(x);
            return NULL;
        }
        x = fs_node(F_OR, x, b);
    }
    return x;
}

static fexpr *filter_parse(host_plugin *pl, size_t np, const char *expr, const char **who,
                           char *err, size_t errlen)
{
    fparser f;
    fexpr *x;
    memset(&f, 0, sizeof f);
    f.s = expr;
    f.n = strlen(expr);
    f.pl = pl;
    f.np = np;
    fs_ws(&f);
    if (f.i >= f.n) {
        fs_fail(&f, 0, "the filter is empty");
        x = NULL;
    } else {
        x = fs_or(&f);
        fs_ws(&f);
        if (x && f.i < f.n) {
            fexpr_free(x);
            x = fs_fail(&f, f.i, "unexpected '%.20s'", f.s + f.i);
        }
    }
    if (!x) {
        snprintf(err, errlen, "%s", f.err);
        *who = f.who;
    }
    return x;
}

static bool ip_match(const xelem *e, const fval *v)
{
    int bits, full, rest;
    if (e->iplen != v->iplen)
        return false;
    if (v->prefix < 0)
        return !memcmp(e->ip, v->ip, e->iplen);
    bits = v->prefix;
    full = bits / 8;
    rest = bits % 8;
    if (memcmp(e->ip, v->ip, (size_t)full))
        return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xFF << (8 - rest));
        return (e->ip[full] & mask) == (v->ip[full] & mask);
    }
    return true;
}

static bool felem_match(const field_req *r, int op, const xvalue *xv, const xelem *e,
                        const fval *v)
{
    uint32_t ft = r->f->ftype;
    if (ftype_numeric(ft)) {
        switch (op) {
        case OP_EQ: return e->u == v->u;
        case OP_LT: return e->u < v->u;
        case OP_LE: return e->u <= v->u;
        case OP_GT: return e->u > v->u;
        case OP_GE: return e->u >= v->u;
        default: return false;
        }
    }
    if (ft == FTYPE_BOOL)
        return (e->u != 0) == (v->u != 0);
    if (ftype_ip(ft))
        return ip_match(e, v);
    {
        const char *s = xv->s.p + e->soff;
        size_t n = e->slen;
        switch (op) {
        case OP_EQ: return n == v->slen && !memcmp(s, v->s, n);
        case OP_CONTAINS: return v->slen == 0 || memmem(s, n, v->s, v->slen) != NULL;
        case OP_STARTSWITH: return n >= v->slen && !memcmp(s, v->s, v->slen);
        case OP_ENDSWITH: return n >= v->slen && !memcmp(s + n - v->slen, v->s, v->slen);
        default: return false;
        }
    }
}

/* Absent values match nothing (like libsinsp, != included); lists match when any element
 * does, and != is "no element is equal". */
static bool filter_eval(const fexpr *x, const xvalue *vals)
{
    switch (x->kind) {
    case F_AND: return filter_eval(x->a, vals) && filter_eval(x->b, vals);
    case F_OR: return filter_eval(x->a, vals) || filter_eval(x->b, vals);
    case F_NOT: return !filter_eval(x->a, vals);
    default: break;
    }
    {
        const xvalue *v = &vals[x->req];
        const field_req *r = &g_reqs[x->req];
        int op = (x->op == OP_NE || x->op == OP_IN) ? OP_EQ : x->op;
        uint64_t i;
        size_t k;
        bool found = false;
        if (x->op == OP_EXISTS)
            return v->present;
        if (!v->present)
            return false;
        for (i = 0; i < v->n && !found; i++)
            for (k = 0; k < x->nv && !found; k++)
                found = felem_match(r, op, v, &v->e[i], &x->v[k]);
        return x->op == OP_NE ? !found : found;
    }
}

/* ---- values ---- */

static void xv_clear(xvalue *v)
{
    v->present = false;
    v->n = 0;
    v->off_given = false;
    sb_reset(&v->s);
}

static void xv_free(xvalue *v)
{
    free(v->e);
    sb_free(&v->s);
    memset(v, 0, sizeof *v);
}

static void ip_text(sbuf *b, const xelem *e)
{
    char t[INET6_ADDRSTRLEN];
    if (!inet_ntop(e->iplen == 4 ? AF_INET : AF_INET6, e->ip, t, sizeof t))
        t[0] = 0;
    sb_adds(b, t);
}

/* One value, as Falco's output text (json=0) or as JSON (json=1). */
static void xe_render(sbuf *b, const field_req *r, const xvalue *v, const xelem *e, int json)
{
    uint32_t ft = r->f->ftype;
    if (ftype_numeric(ft)) {
        sb_printf(b, "%" PRIu64, e->u);
    } else if (ft == FTYPE_BOOL) {
        sb_adds(b, e->u ? "true" : "false");
    } else if (ftype_ip(ft)) {
        if (json)
            sb_addc(b, '"');
        ip_text(b, e);
        if (json)
            sb_addc(b, '"');
    } else if (json) {
        sb_json_strn(b, v->s.p + e->soff, e->slen);
    } else {
        sb_add(b, v->s.p + e->soff, e->slen);
    }
}

/* A field's value(s): text is <NA> when absent and lists as (a,b) like Falco's output;
 * JSON is null when absent and lists as arrays. */
static void xv_render(sbuf *b, const field_req *r, const xvalue *v, int json)
{
    uint64_t i;
    if (!v->present) {
        sb_adds(b, json ? "null" : "<NA>");
        return;
    }
    if (!r->f->is_list) {
        xe_render(b, r, v, &v->e[0], json);
        return;
    }
    sb_addc(b, json ? '[' : '(');
    for (i = 0; i < v->n; i++) {
        if (i)
            sb_adds(b, json ? ", " : ",");
        xe_render(b, r, v, &v->e[i], json);
    }
    sb_addc(b, json ? ']' : ')');
}

static void xv_text(sbuf *b, const field_req *r, const xvalue *v) { xv_render(b, r, v, 0); }

static void xv_json(sbuf *b, const field_req *r, const xvalue *v) { xv_render(b, r, v, 1); }

/* A canonical byte form of a value, to compare two extractions. */
static void xv_serialize(sbuf *b, const field_req *r, const xvalue *v)
{
    uint64_t i;
    uint32_t ft = r->f->ftype;
    sb_addc(b, v->present ? 'P' : 'A');
    sb_add(b, (const char *)&v->n, sizeof v->n);
    for (i = 0; i < v->n; i++) {
        const xelem *e = &v->e[i];
        if (ftype_numeric(ft) || ft == FTYPE_BOOL) {
            sb_add(b, (const char *)&e->u, sizeof e->u);
        } else if (ftype_ip(ft)) {
            sb_addc(b, (char)e->iplen);
            sb_add(b, (const char *)e->ip, e->iplen);
        } else {
            sb_add(b, (const char *)&e->slen, sizeof e->slen);
            sb_add(b, v->s.p + e->soff, e->slen);
        }
    }
    sb_addc(b, v->off_given ? 'O' : '-');
    if (v->off_given) {
        sb_add(b, (const char *)&v->off_start, sizeof v->off_start);
        sb_add(b, (const char *)&v->off_len, sizeof v->off_len);
    }
}

/* ---- calling the plugin ---- */

static void x_setup(const field_req *r, const xbind *b, ss_plugin_field_extract_input *in,
                    ss_plugin_extract_field *f, ss_plugin_extract_value_offsets *vo)
{
    memset(in, 0, sizeof *in);
    memset(f, 0, sizeof *f);
    f->field_id = r->field_id;
    f->field = r->f->name;
    f->arg_key = r->arg_key;
    f->arg_index = r->arg_index;
    f->arg_present = r->arg_present;
    f->ftype = r->f->ftype;
    f->flist = r->f->is_list;
    in->owner = b->ow;
    in->get_owner_last_error = host_get_owner_last_error;
    in->num_fields = 1;
    in->fields = f;
    in->table_reader = g_reader_v0;
    in->table_reader_ext = &g_reader_ext;
    /* plugins older than 3.11 have the shorter input struct: they never get offsets */
    in->value_offsets = vo;
}

/* Is an event of this type, from this binding's source, given to the extractor? */
static inline bool xb_accepts(const xbind *b, uint16_t type)
{
    const host_plugin *ex = b->ex;
    if (!ex)
        return false;
    if (ex->xtypes_given)
        return (ex->xtypes_bm[type >> 6] >> (type & 63)) & 1;
    return b->syscall_src || type == FP_PLUGINEVENT_TYPE;
}

/* Checks and copies what extract_fields returned; false (and err) on a contract violation. */
static bool xv_store(const field_req *r, ss_plugin_rc rc, const ss_plugin_extract_field *f,
                     const ss_plugin_extract_value_offsets *vo, xvalue *v, char *err,
                     size_t errlen)
{
    uint64_t n = f->res_len, i;
    uint32_t ft = r->f->ftype;
    xv_clear(v);
    if (rc != SS_PLUGIN_SUCCESS || n == 0)
        return true;
    if (n > 1 && !r->f->is_list) {
        snprintf(err, errlen,
                 "extract_fields returned %" PRIu64 " values (res_len) for the non-list field "
                 "'%s': it must be 0 or 1",
                 n, r->canon);
        return false;
    }
    if (n > X_MAX_VALUES) {
        snprintf(err, errlen,
                 "extract_fields returned %" PRIu64 " values (res_len) for field '%s', more "
                 "than the host accepts (%u)",
                 n, r->canon, X_MAX_VALUES);
        return false;
    }
    if (!f->res.u64) {
        snprintf(err, errlen,
                 "extract_fields returned %" PRIu64 " values for field '%s' but a NULL result "
                 "pointer",
                 n, r->canon);
        return false;
    }
    if (n > v->cap) {
        v->cap = n < 8 ? 8 : n;
        v->e = xrealloc(v->e, v->cap * sizeof *v->e);
    }
    for (i = 0; i < n; i++) {
        xelem *e = &v->e[i];
        if (ftype_numeric(ft)) {
            e->u = f->res.u64[i];
        } else if (ft == FTYPE_BOOL) {
            e->u = f->res.boolean[i];
        } else if (ftype_ip(ft)) {
            const ss_plugin_byte_buffer *bb = &f->res.buf[i];
            if (bb->len != 4 && bb->len != 16) {
                snprintf(err, errlen,
                         "extract_fields returned a %" PRIu32 "-byte address (value %" PRIu64
                         ") for the %s field '%s': it must be 4 (IPv4) or 16 (IPv6) bytes",
                         bb->len, i, r->f->type_name, r->canon);
                return false;
            }
            if (!bb->ptr) {
                snprintf(err, errlen,
                         "extract_fields returned a NULL buffer (value %" PRIu64
                         ") for field '%s'",
                         i, r->canon);
                return false;
            }
            e->iplen = (uint8_t)bb->len;
            memcpy(e->ip, bb->ptr, bb->len);
        } else {
            const char *s = f->res.str[i];
            size_t len;
            if (!s) {
                snprintf(err, errlen,
                         "extract_fields returned a NULL string (value %" PRIu64
                         ") for field '%s'",
                         i, r->canon);
                return false;
            }
            len = strlen(s);
            if (len > UINT32_MAX) {
                snprintf(err, errlen, "extract_fields returned a string of %zu bytes for '%s'",
                         len, r->canon);
                return false;
            }
            e->soff = v->s.n;
            e->slen = (uint32_t)len;
            sb_add(&v->s, s, len);
            sb_addc(&v->s, 0);
        }
    }
    v->n = n;
    v->present = true;
    if (vo && vo->start && vo->length) {
        v->off_given = true;
        v->off_start = vo->start[0];
        v->off_len = vo->length[0];
    }
    return true;
}

static void x_warn_failure(host_plugin *ex, ss_plugin_t *st, const field_req *r,
                           ss_plugin_rc rc)
{
    if (atomic_exchange(&ex->x_warned, 1))
        return;
    report_warning(ex->name,
                   "extract_fields failed for field '%s' (rc=%d): %s (the value is absent; "
                   "further failures are only counted as extract_failures)",
                   r->canon, (int)rc, plugin_last_error(ex, st));
}

/* First pass over one event: every request, one field per call (as libsinsp does). */
static bool x_event(xctx *xc, const ss_plugin_event_input *ein, const char **who, char *err,
                    size_t errlen)
{
    size_t i;
    uint16_t type = ein->evt->type;
    for (i = 0; i < xc->nb; i++) {
        xbind *b = &xc->b[i];
        const field_req *r = &g_reqs[i];
        ss_plugin_field_extract_input in;
        ss_plugin_extract_field f;
        ss_plugin_extract_value_offsets vo;
        ss_plugin_rc rc;
        if (!xb_accepts(b, type)) {
            xv_clear(&xc->vals[i]);
            continue;
        }
        memset(&vo, 0, sizeof vo);
        x_setup(r, b, &in, &f, b->offsets ? &vo : NULL);
        tl_owner = b->ow;
        rc = b->ex->api.extract_fields(b->st, ein, &in);
        tl_owner = NULL;
        tbl_after_call(b->ow, "extract_fields");
        if (atomic_load_explicit(&b->ex->table_misuse, memory_order_relaxed)) {
            snprintf(err, errlen, "extract_fields misused the table API (see above)");
            *who = b->ex->name;
            return false;
        }
        if (rc != SS_PLUGIN_SUCCESS) {
            b->failures++;
            x_warn_failure(b->ex, b->st, r, rc);
        }
        if (!xv_store(r, rc, &f, b->offsets ? &vo : NULL, &xc->vals[i], err, errlen)) {
            *who = b->ex->name;
            return false;
        }
    }
    return true;
}

/* --extract-repeat: K more calls per request, timed (results are not looked at). */
static void x_repeat(xctx *xc, const ss_plugin_event_input *ein, uint64_t k)
{
    size_t i;
    uint16_t type = ein->evt->type;
    for (i = 0; i < xc->nb; i++) {
        xbind *b = &xc->b[i];
        ss_plugin_field_extract_input in;
        ss_plugin_extract_field f;
        ss_plugin_extract_value_offsets vo;
        ss_plugin_extract_value_offsets *pvo = b->offsets ? &vo : NULL;
        fp_extract_fields_fn fn;
        ss_plugin_t *st = b->st;
        uint64_t t0, j;
        if (!xb_accepts(b, type))
            continue;
        fn = b->ex->api.extract_fields;
        x_setup(&g_reqs[i], b, &in, &f, pvo);
        tl_owner = b->ow;
        t0 = clock_ns(CLOCK_MONOTONIC);
        for (j = 0; j < k; j++) {
            f.res.u64 = NULL;
            f.res_len = 0;
            if (pvo)
                pvo->start = pvo->length = NULL;
            fn(st, ein, &in);
            tbl_after_call(b->ow, "extract_fields");
        }
        tl_owner = NULL;
        b->ns += clock_ns(CLOCK_MONOTONIC) - t0;
        b->calls += k;
    }
}

/* Adds a capture's counters to the extractors' totals. */
static void x_flush(xctx *xc)
{
    size_t i;
    if (!xc)
        return;
    for (i = 0; i < xc->nb; i++) {
        xbind *b = &xc->b[i];
        if (!b->ex)
            continue;
        atomic_fetch_add(&b->ex->x_failures, b->failures);
        atomic_fetch_add(&b->ex->x_calls, b->calls);
        atomic_fetch_add(&b->ex->x_ns, b->ns);
        b->failures = b->calls = b->ns = 0;
    }
}

/* --extract-threads: keeps a copy of the event and the first pass' results. */
static void x_keep(xctx *xc, const ss_plugin_event *e, uint64_t evtnum)
{
    size_t i, at;
    if (!xc->chk_evt) {
        xc->chk_evt = xcalloc(X_CHECK_EVENTS, sizeof *xc->chk_evt);
        xc->chk_num = xcalloc(X_CHECK_EVENTS, sizeof *xc->chk_num);
        xc->chk_off = xcalloc(X_CHECK_EVENTS, sizeof *xc->chk_off);
    }
    xc->chk_evt[xc->nchk] = xmalloc(e->len);
    memcpy(xc->chk_evt[xc->nchk], e, e->len);
    xc->chk_num[xc->nchk] = evtnum;
    xc->chk_off[xc->nchk] = xc->chk_blob.n;
    for (i = 0; i < xc->nb; i++) {
        uint32_t len;
        at = xc->chk_blob.n;
        sb_add(&xc->chk_blob, "\0\0\0\0", 4);
        xv_serialize(&xc->chk_blob, &g_reqs[i], &xc->vals[i]);
        len = (uint32_t)(xc->chk_blob.n - at - 4);
        memcpy(xc->chk_blob.p + at, &len, 4);
    }
    xc->nchk++;
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

static void print_formatted(sbuf *b, const xctx *xc)
{
    size_t i;
    for (i = 0; i < g_nfmt; i++) {
        if (g_fmt[i].lit)
            sb_add(b, g_fmt[i].lit, g_fmt[i].litlen);
        else
            xv_text(b, &g_reqs[g_fmt[i].req], &xc->vals[g_fmt[i].req]);
    }
}

static void print_event(host_plugin *p, sbuf *line, const ss_plugin_event *e, uint64_t evtnum,
                        const char *info, const xctx *xc)
{
    const uint8_t *b = (const uint8_t *)e;
    size_t i;
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
        sb_addc(line, '"');
        if (xc && g_nspecs) {
            bool any_off = false;
            sb_adds(line, ", \"fields\": {");
            for (i = 0; i < g_nspecs; i++) {
                const xvalue *v = &xc->vals[g_specs[i].req];
                if (i)
                    sb_adds(line, ", ");
                sb_json_str(line, g_specs[i].spec);
                sb_adds(line, ": ");
                xv_json(line, &g_reqs[g_specs[i].req], v);
                any_off = any_off || v->off_given;
            }
            sb_addc(line, '}');
            if (any_off) {
                bool first = true;
                sb_adds(line, ", \"offsets\": {");
                for (i = 0; i < g_nspecs; i++) {
                    const xvalue *v = &xc->vals[g_specs[i].req];
                    if (!v->off_given)
                        continue;
                    if (!first)
                        sb_adds(line, ", ");
                    first = false;
                    sb_json_str(line, g_specs[i].spec);
                    if (v->off_start == 0 && v->off_len == 0)
                        sb_adds(line, ": null");
                    else
                        sb_printf(line, ": [%" PRIu32 ", %" PRIu32 "]", v->off_start,
                                  v->off_len);
                }
                sb_addc(line, '}');
            }
        }
        if (xc && g_nfmt) {
            sbuf o = {0};
            print_formatted(&o, xc);
            sb_adds(line, ", \"output\": ");
            sb_json_strn(line, sb_str(&o), o.n);
            sb_free(&o);
        }
        sb_addc(line, '}');
    } else {
        sb_printf(line, "%" PRIu64 " %" PRIu64 " %s ", evtnum, (uint64_t)e->ts,
                  p->evt_source);
        if (xc && g_nfmt)
            print_formatted(line, xc);
        else if (info)
            sb_adds(line, info);
        for (i = 0; xc && i < g_nspecs; i++) {
            if (line->p[line->n - 1] != ' ')
                sb_addc(line, ' ');
            sb_printf(line, "%s=", g_specs[i].spec);
            xv_text(line, &g_reqs[g_specs[i].req], &xc->vals[g_specs[i].req]);
        }
    }
    out_line(stdout, line);
}

/* Calls one parser on an event when its types take it; false on a fatal contract violation. */
static bool p_event(pbind *b, const ss_plugin_event_input *ein, const char *src_name)
{
    host_plugin *pl = b->pl;
    ss_plugin_event_parse_input in;
    ss_plugin_rc rc;
    uint16_t type = ein->evt->type;
    if (pl->ptypes_given ? !((pl->ptypes_bm[type >> 6] >> (type & 63)) & 1)
                         : !(b->syscall_src || type == FP_PLUGINEVENT_TYPE))
        return true;
    in.owner = b->ow;
    in.get_owner_last_error = host_get_owner_last_error;
    in.table_reader = g_reader_v0;
    in.table_writer = g_writer_v0;
    in.table_reader_ext = &g_reader_ext;
    in.table_writer_ext = &g_writer_ext;
    tl_owner = b->ow;
    rc = pl->api.parse_event(b->st, ein, &in);
    tl_owner = NULL;
    b->calls++;
    tbl_after_call(b->ow, "parse_event");
    if (atomic_load_explicit(&pl->table_misuse, memory_order_relaxed)) {
        report_error(pl->name, "parse",
                     "parse_event misused the table API (see above) (event %" PRIu64 " of %s)",
                     ein->evtnum, src_name);
        return false;
    }
    if (rc != SS_PLUGIN_SUCCESS) {
        b->failures++;
        if (!atomic_exchange(&pl->p_warned, 1))
            report_warning(pl->name,
                           "parse_event failed (rc=%d) on event %" PRIu64 " of %s: %s "
                           "(libsinsp ignores parse failures; further ones are only counted "
                           "as parse_failures)",
                           (int)rc, ein->evtnum, src_name, plugin_last_error(pl, b->st));
    }
    return true;
}

static void p_flush(host_plugin *p)
{
    size_t i;
    for (i = 0; i < p->npb; i++) {
        pbind *b = &p->pb[i];
        atomic_fetch_add(&b->pl->p_calls, b->calls);
        atomic_fetch_add(&b->pl->p_failures, b->failures);
        b->calls = b->failures = 0;
    }
}

/* ------------------------------------------------------------------------ */
/* Async events and capture listening                                       */
/* ------------------------------------------------------------------------ */
/*
 * Async events. Every state of an async plugin gets host_async_handler through
 * set_async_event_handler (on the main thread, once the sources are open, like libsinsp at
 * capture start) and loses it with set_async_event_handler(NULL) after the captures. The
 * handler may be called from any thread: it checks the event (type 402, three parameters
 * with u32 lengths: plugin id, NUL-terminated name listed by get_async_events, data), copies
 * it and queues it on a stream, refusing with a message in the plugin's err buffer.
 *
 * A stream is where async events are delivered: the event stream of the first capturing
 * plugin whose source the plugin's get_async_event_sources accepts (its own source first;
 * an absent or empty list accepts every source), or else the host's own stream, reported as
 * "syscall". A capturing plugin's event thread drains its stream before every next_batch
 * call; the host's stream is drained by a delivery thread during the captures; after them the
 * main thread drains every stream. Each stream keeps up to AQ_CAP events: a handler that
 * finds its stream full waits up to AQ_FULL_WAIT_NS for room, then refuses the event. Async
 * events get the stream's plugin id (0 for syscall) and event numbers, go to the stream's
 * parsers, and are printed; field extraction and --filter do not apply to them.
 *
 * dump_state gets host_dump_handler instead, which only takes events while dump_state runs:
 * they are kept without a bound and printed with "dump": true after it returns.
 *
 * Capture listening: capture_open on every state of a listen plugin after the sources are
 * open and the async handlers set, capture_close after the captures. The input carries the
 * host's table reader and writer (tables can be used in both calls) and the routine vtable:
 * a pool of --routine-threads threads runs each subscribed routine again and again, one call
 * at a time per routine, until it returns false or is unsubscribed.
 */

#define AQ_CAP 4096u
#define AQ_FULL_WAIT_NS 50000000ull
#define AQ_MAX_EVENT (64u << 20)
#define ASYNC_PARAMS_LEN 12u /* three u32 parameter lengths */
#define ASYNC_ID_OFFSET (FP_EVENT_HEADER_LEN + ASYNC_PARAMS_LEN)
#define ASYNC_NAME_OFFSET (ASYNC_ID_OFFSET + 4u)

_Static_assert(ASYNC_ID_OFFSET == 38 && ASYNC_NAME_OFFSET == 42, "async event layout");
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(ss_plugin_routine_vtable) == 16 &&
                   offsetof(ss_plugin_routine_vtable, unsubscribe) == 8,
               "ss_plugin_routine_vtable");
_Static_assert(sizeof(ss_plugin_capture_listen_input) == 40 &&
                   offsetof(ss_plugin_capture_listen_input, routine) == 8 &&
                   offsetof(ss_plugin_capture_listen_input, table_reader_ext) == 16 &&
                   offsetof(ss_plugin_capture_listen_input, table_writer_ext) == 24 &&
                   offsetof(ss_plugin_capture_listen_input, get_owner_last_error) == 32,
               "ss_plugin_capture_listen_input");
#endif

typedef struct {
    host_plugin *from; /* the emitting plugin */
    uint8_t *evt;      /* a copy, owned by the queue */
} aev;

typedef struct astream {
    const char *source; /* the event source its events are delivered to */
    uint32_t id;        /* that source's plugin id, 0 for syscall */
    host_plugin *src;   /* the capturing plugin, NULL for the host's own stream */
    size_t nasync;      /* async plugins delivering here */
    aev *ring;          /* AQ_CAP entries (when nasync) */
    size_t head, count;
    _Atomic size_t pending; /* count, readable without the lock */
    aev *scratch;           /* the consumer's copy of a drained batch */
    aev *dumps;             /* dump_state events */
    size_t ndumps;
    uint64_t evtnum; /* its event numbers once its source's thread is done */
} astream;

static pthread_mutex_t g_async_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_async_cv;    /* an event was queued, or the delivery loop must stop */
static pthread_cond_t g_async_space; /* a queue was drained, or a handler was cleared */
static pthread_once_t g_async_once = PTHREAD_ONCE_INIT;
static astream *g_streams; /* np + 1: the last one is the host's own */
static size_t g_nstreams;
static bool g_deliver_stop;

static void async_once(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&g_async_cv, &a);
    pthread_cond_init(&g_async_space, &a);
    pthread_condattr_destroy(&a);
}

static struct timespec mono_deadline(uint64_t ns_from_now)
{
    struct timespec ts;
    uint64_t t = clock_ns(CLOCK_MONOTONIC) + ns_from_now;
    ts.tv_sec = (time_t)(t / 1000000000ull);
    ts.tv_nsec = (long)(t % 1000000000ull);
    return ts;
}

static bool async_accepts_source(const host_plugin *a, const char *src)
{
    size_t i;
    if (!a->nasync_sources)
        return true;
    for (i = 0; i < a->nasync_sources; i++)
        if (!strcmp(a->async_sources[i], src))
            return true;
    return false;
}

/* Gives every async plugin its stream (after load, before init). */
static void async_setup(host_plugin *pl, size_t np)
{
    size_t i, s;
    pthread_once(&g_async_once, async_once);
    g_nstreams = np + 1;
    g_streams = xcalloc(g_nstreams, sizeof *g_streams);
    for (s = 0; s < np; s++) {
        pl[s].as_to = pl[s].as_mine = NULL;
        if (!(pl[s].caps & CAP_SOURCE))
            continue;
        g_streams[s].source = pl[s].evt_source;
        g_streams[s].id = pl[s].id;
        g_streams[s].src = &pl[s];
    }
    g_streams[np].source = "syscall";
    for (i = 0; i < np; i++) {
        host_plugin *a = &pl[i];
        astream *as = NULL;
        if (!(a->caps & CAP_ASYNC))
            continue;
        if ((a->caps & CAP_SOURCE) && async_accepts_source(a, a->evt_source))
            as = &g_streams[i];
        for (s = 0; s < np && !as; s++)
            if ((pl[s].caps & CAP_SOURCE) && async_accepts_source(a, pl[s].evt_source))
                as = &g_streams[s];
        if (!as) {
            as = &g_streams[np];
            if (!async_accepts_source(a, "syscall"))
                report_warning(a->name,
                               "no capture of this run has one of its async event sources "
                               "(get_async_event_sources): its async events are delivered "
                               "by the host's own loop as source 'syscall'");
        }
        as->nasync++;
        a->as_to = as;
        if (as->src)
            as->src->as_mine = as;
    }
    for (s = 0; s < g_nstreams; s++) {
        if (!g_streams[s].nasync)
            continue;
        g_streams[s].ring = xcalloc(AQ_CAP, sizeof *g_streams[s].ring);
        g_streams[s].scratch = xcalloc(AQ_CAP, sizeof *g_streams[s].scratch);
    }
}

/* After destroy: the plugins' threads are gone, whatever is still queued is dropped. */
static void async_teardown(host_plugin *pl, size_t np)
{
    size_t s, i;
    pthread_mutex_lock(&g_async_mu);
    for (s = 0; s < g_nstreams; s++) {
        astream *as = &g_streams[s];
        for (i = 0; i < as->count; i++)
            free(as->ring[(as->head + i) % AQ_CAP].evt);
        for (i = 0; i < as->ndumps; i++)
            free(as->dumps[i].evt);
        free(as->ring);
        free(as->scratch);
        free(as->dumps);
    }
    free(g_streams);
    g_streams = NULL;
    g_nstreams = 0;
    for (i = 0; i < np; i++)
        pl[i].as_to = pl[i].as_mine = NULL;
    pthread_mutex_unlock(&g_async_mu);
}

/* Checks an async event's layout and name; the message goes to msg on failure. */
static bool async_check(const host_plugin *p, const ss_plugin_event *evt, char *msg,
                        size_t msglen)
{
    const uint8_t *b = (const uint8_t *)evt;
    uint32_t len, l1, l2, l3, np;
    uint16_t type;
    const char *name;
    size_t i;
    if (!evt) {
        snprintf(msg, msglen, "the event is a NULL pointer");
        return false;
    }
    len = evt->len;
    type = evt->type;
    np = evt->nparams;
    if (type != FP_ASYNCEVENT_TYPE) {
        snprintf(msg, msglen, "event type %u is not an async event: it must be %u (ASYNCEVENT)",
                 (unsigned)type, FP_ASYNCEVENT_TYPE);
        return false;
    }
    if (np != 3) {
        snprintf(msg, msglen,
                 "an async event must have 3 parameters (plugin id, name, data), this one has "
                 "%" PRIu32,
                 np);
        return false;
    }
    if (len < ASYNC_NAME_OFFSET) {
        snprintf(msg, msglen,
                 "event length %" PRIu32 " is too short for an async event (26-byte header, "
                 "3 u32 parameter lengths, u32 plugin id)",
                 len);
        return false;
    }
    l1 = rd32(b + 26);
    l2 = rd32(b + 30);
    l3 = rd32(b + 34);
    if (l1 != 4) {
        snprintf(msg, msglen,
                 "the plugin id parameter of an async event must be 4 bytes long, not %" PRIu32,
                 l1);
        return false;
    }
    if ((uint64_t)ASYNC_ID_OFFSET + l1 + l2 + l3 != len) {
        snprintf(msg, msglen,
                 "event length %" PRIu32 " does not match its parameters (26 + 12 + %" PRIu32
                 " + %" PRIu32 " + %" PRIu32 ")",
                 len, l1, l2, l3);
        return false;
    }
    if (len > AQ_MAX_EVENT) {
        snprintf(msg, msglen, "async event of %" PRIu32 " bytes is larger than the host's limit "
                              "of %u bytes", len, AQ_MAX_EVENT);
        return false;
    }
    name = (const char *)b + ASYNC_NAME_OFFSET;
    if (l2 == 0 || name[l2 - 1] != 0 || memchr(name, 0, l2 - 1) != NULL) {
        snprintf(msg, msglen, "the name parameter of an async event must be one NUL-terminated "
                              "string (%" PRIu32 " bytes)", l2);
        return false;
    }
    for (i = 0; i < p->nasync_names; i++)
        if (!strcmp(p->async_names[i], name))
            return true;
    snprintf(msg, msglen,
             "async event '%.200s' is not one of the plugin's async events (get_async_events)",
             name);
    return false;
}

static ss_plugin_rc async_refuse(host_plugin *p, char *err, const char *msg)
{
    if (err)
        snprintf(err, FP_MAX_ERRLEN, "%s", msg);
    if (p) {
        atomic_fetch_add(&p->async_refused, 1);
        if (!atomic_exchange(&p->async_warned, 1))
            report_warning(p->name,
                           "async event refused: %s (further refusals are only counted as "
                           "async_refused)",
                           msg);
    }
    return SS_PLUGIN_FAILURE;
}

/* The owner check shared by both handlers; NULL (and err) when it is not an async owner. */
static host_owner *async_owner(ss_plugin_owner_t *o, char *err)
{
    host_owner *ow = o;
    if (!ow || ow->magic != OWNER_MAGIC || !ow->plugin || !(ow->plugin->caps & CAP_ASYNC)) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "the async event handler was called with owner %p, which is not the owner "
                 "set_async_event_handler or dump_state received",
                 o);
        async_refuse(NULL, err, msg);
        return NULL;
    }
    return ow;
}

/* Copies a checked event; the plugin id is filled in at delivery. */
static uint8_t *async_copy(const ss_plugin_event *evt)
{
    uint8_t *copy = xmalloc(evt->len);
    uint64_t ts;
    memcpy(copy, evt, evt->len);
    memset(copy + ASYNC_ID_OFFSET, 0, 4);
    memcpy(&ts, copy, 8);
    if (ts == UINT64_MAX) {
        ts = clock_ns(CLOCK_REALTIME);
        memcpy(copy, &ts, 8);
    }
    return copy;
}

static ss_plugin_rc host_async_handler(ss_plugin_owner_t *o, const ss_plugin_event *evt,
                                       char *err)
{
    host_owner *ow = async_owner(o, err);
    host_plugin *p;
    char msg[FP_MAX_ERRLEN];
    uint8_t *copy;
    astream *as;
    if (!ow)
        return SS_PLUGIN_FAILURE;
    p = ow->plugin;
    if (!async_check(p, evt, msg, sizeof msg))
        return async_refuse(p, err, msg);
    copy = async_copy(evt);
    pthread_mutex_lock(&g_async_mu);
    as = p->as_to;
    if (ow->async_on && as && as->count == AQ_CAP) {
        struct timespec until = mono_deadline(AQ_FULL_WAIT_NS);
        while (ow->async_on && as->count == AQ_CAP)
            if (pthread_cond_timedwait(&g_async_space, &g_async_mu, &until) == ETIMEDOUT)
                break;
    }
    if (!ow->async_on || !as) {
        pthread_mutex_unlock(&g_async_mu);
        free(copy);
        return async_refuse(p, err,
                            "the async event handler is not set on this plugin state (it "
                            "refuses events once set_async_event_handler(NULL) was called)");
    }
    if (as->id != 0 && evt->tid != UINT64_MAX) { /* as libsinsp refuses them */
        pthread_mutex_unlock(&g_async_mu);
        free(copy);
        snprintf(msg, sizeof msg,
                 "async events of plugin '%s' can have no thread associated with open event "
                 "source '%s' (tid %" PRId64 ")",
                 p->name, as->source, (int64_t)evt->tid);
        return async_refuse(p, err, msg);
    }
    if (as->count == AQ_CAP) {
        pthread_mutex_unlock(&g_async_mu);
        free(copy);
        snprintf(msg, sizeof msg,
                 "async event queue full (%u events waiting for delivery to %s)", AQ_CAP,
                 as->source);
        return async_refuse(p, err, msg);
    }
    as->ring[(as->head + as->count) % AQ_CAP] = (aev){p, copy};
    as->count++;
    atomic_store_explicit(&as->pending, as->count, memory_order_release);
    pthread_cond_broadcast(&g_async_cv);
    pthread_mutex_unlock(&g_async_mu);
    return SS_PLUGIN_SUCCESS;
}

/* What dump_state receives: takes events only while dump_state runs, without a bound. */
static ss_plugin_rc host_dump_handler(ss_plugin_owner_t *o, const ss_plugin_event *evt,
                                      char *err)
{
    host_owner *ow = async_owner(o, err);
    host_plugin *p;
    char msg[FP_MAX_ERRLEN];
    astream *as;
    if (!ow)
        return SS_PLUGIN_FAILURE;
    p = ow->plugin;
    if (!async_check(p, evt, msg, sizeof msg))
        return async_refuse(p, err, msg);
    pthread_mutex_lock(&g_async_mu);
    as = p->as_to;
    if (!ow->dumping || !as) {
        pthread_mutex_unlock(&g_async_mu);
        return async_refuse(p, err,
                            "the dump_state handler only takes events while dump_state runs");
    }
    as->dumps = xrealloc(as->dumps, (as->ndumps + 1) * sizeof *as->dumps);
    as->dumps[as->ndumps++] = (aev){p, async_copy(evt)};
    pthread_mutex_unlock(&g_async_mu);
    return SS_PLUGIN_SUCCESS;
}

/* Parses (on a capturing plugin's stream) and prints one async event; false when a parser
 * broke the table contract (reported). */
static bool async_deliver(astream *as, const aev *a, bool dump, uint64_t *evtnum, sbuf *line)
{
    ss_plugin_event *e = (ss_plugin_event *)a->evt;
    const uint8_t *b = a->evt;
    uint32_t l2 = rd32(b + 30), l3 = rd32(b + 34);
    const char *name = (const char *)b + ASYNC_NAME_OFFSET;
    const uint8_t *data = b + ASYNC_NAME_OFFSET + l2;
    uint64_t n = ++*evtnum;
    size_t j;

    memcpy(a->evt + ASYNC_ID_OFFSET, &as->id, 4);
    if (as->src && !dump) {
        ss_plugin_event_input ein;
        ein.evt = e;
        ein.evtnum = n;
        ein.evtsrc = as->source;
        for (j = 0; j < as->src->npb; j++)
            if (!p_event(&as->src->pb[j], &ein, as->src->name))
                return false;
    }
    atomic_fetch_add(dump ? &a->from->dump_events : &a->from->async_events, 1);
    if (g_opt.quiet)
        return true;
    sb_reset(line);
    if (g_opt.json) {
        sb_adds(line, "{\"plugin\": ");
        sb_json_str(line, a->from->name);
        sb_adds(line, ", \"async\": true");
        if (dump)
            sb_adds(line, ", \"dump\": true");
        sb_printf(line,
                  ", \"evtnum\": %" PRIu64 ", \"ts\": %" PRIu64 ", \"tid\": %" PRId64
                  ", \"type\": %u, \"name\": ",
                  n, (uint64_t)e->ts, (int64_t)e->tid, (unsigned)e->type);
        sb_json_str(line, name);
        sb_adds(line, ", \"data_hex\": \"");
        sb_hex(line, data, l3);
        sb_adds(line, "\", \"source\": ");
        sb_json_str(line, as->source);
        sb_printf(line, ", \"plugin_id\": %" PRIu32 "}", as->id);
    } else {
        uint32_t k, shown = l3 < 64 ? l3 : 64;
        sb_printf(line, "%" PRIu64 " %" PRIu64 " %s async%s %s %s datalen=%" PRIu32 " data=", n,
                  (uint64_t)e->ts, as->source, dump ? " dump" : "", a->from->name, name, l3);
        for (k = 0; k < shown; k++)
            sb_addc(line, (data[k] >= 0x20 && data[k] < 0x7f) ? (char)data[k] : '.');
        if (shown < l3)
            sb_adds(line, "...");
    }
    out_line(stdout, line);
    return true;
}

/* Delivers what is queued on a stream, in order of arrival (one consumer at a time). */
static bool async_drain(astream *as, uint64_t *evtnum, sbuf *line)
{
    size_t n, i;
    bool ok = true;
    if (!as || !atomic_load_explicit(&as->pending, memory_order_acquire))
        return true;
    pthread_mutex_lock(&g_async_mu);
    n = as->count;
    for (i = 0; i < n; i++)
        as->scratch[i] = as->ring[(as->head + i) % AQ_CAP];
    as->head = (as->head + n) % AQ_CAP;
    as->count = 0;
    atomic_store_explicit(&as->pending, 0, memory_order_relaxed);
    pthread_cond_broadcast(&g_async_space);
    pthread_mutex_unlock(&g_async_mu);
    for (i = 0; i < n; i++) {
        if (ok && !async_deliver(as, &as->scratch[i], false, evtnum, line))
            ok = false;
        free(as->scratch[i].evt);
    }
    return ok;
}

/* The main thread, after the captures: every stream. */
static bool async_drain_all(sbuf *line)
{
    size_t s;
    bool ok = true;
    for (s = 0; s < g_nstreams; s++) {
        astream *as = &g_streams[s];
        if (!as->nasync)
            continue;
        if (!async_drain(as, &as->evtnum, line))
            ok = false;
        if (as->src)
            p_flush(as->src);
    }
    return ok;
}

static bool async_deliver_dumps(astream *as, sbuf *line)
{
    aev *d;
    size_t n, i;
    bool ok = true;
    pthread_mutex_lock(&g_async_mu);
    d = as->dumps;
    n = as->ndumps;
    as->dumps = NULL;
    as->ndumps = 0;
    pthread_mutex_unlock(&g_async_mu);
    for (i = 0; i < n; i++) {
        if (ok && !async_deliver(as, &d[i], true, &as->evtnum, line))
            ok = false;
        free(d[i].evt);
    }
    free(d);
    return ok;
}

/* The host's own stream during the captures. */
static void *async_loop_main(void *arg)
{
    astream *as = arg;
    sbuf line = {0};
    for (;;) {
        bool stop;
        if (!async_drain(as, &as->evtnum, &line)) {
            atomic_store(&g_abort, 1);
            break;
        }
        pthread_mutex_lock(&g_async_mu);
        stop = g_deliver_stop;
        if (!stop && !as->count) {
            struct timespec until = mono_deadline(100000000ull);
            pthread_cond_timedwait(&g_async_cv, &g_async_mu, &until);
        }
        pthread_mutex_unlock(&g_async_mu);
        if (stop)
            break;
    }
    sb_free(&line);
    return NULL;
}

/* --async-wait: keeps delivering (and the routines running) for ms milliseconds. */
static bool async_wait(uint64_t ms, sbuf *line)
{
    uint64_t end = clock_ns(CLOCK_MONOTONIC) + ms * 1000000ull;
    for (;;) {
        uint64_t now;
        bool any = false;
        size_t s;
        if (!async_drain_all(line))
            return false;
        now = clock_ns(CLOCK_MONOTONIC);
        if (now >= end || atomic_load(&g_abort) || g_sigint)
            return true;
        pthread_mutex_lock(&g_async_mu);
        for (s = 0; s < g_nstreams && !any; s++)
            any = g_streams[s].count > 0;
        if (!any) {
            uint64_t wait = end - now < 50000000ull ? end - now : 50000000ull;
            struct timespec until = mono_deadline(wait);
            pthread_cond_timedwait(&g_async_cv, &g_async_mu, &until);
        }
        pthread_mutex_unlock(&g_async_mu);
    }
}

/* set_async_event_handler on every state of every async plugin: the host's handler (on), or
 * NULL for the states that have one (off; errors are reported when report). */
static bool async_set_all(host_plugin *pl, size_t np, bool on, bool report)
{
    size_t i;
    uint64_t k;
    bool ok = true;
    for (i = 0; i < np; i++) {
        host_plugin *p = &pl[i];
        if (!(p->caps & CAP_ASYNC) || !p->api.set_async_event_handler)
            continue;
        for (k = 0; k < p->nstates; k++) {
            host_owner *ow = &p->owners[k];
            ss_plugin_rc rc;
            if (!p->states[k])
                continue;
            if (on) {
                pthread_mutex_lock(&g_async_mu);
                ow->async_on = ow->async_set = true;
                pthread_mutex_unlock(&g_async_mu);
                rc = p->api.set_async_event_handler(p->states[k], ow, host_async_handler);
            } else {
                if (!ow->async_set)
                    continue;
                rc = p->api.set_async_event_handler(p->states[k], ow, NULL);
                pthread_mutex_lock(&g_async_mu);
                ow->async_on = ow->async_set = false;
                pthread_cond_broadcast(&g_async_space);
                pthread_mutex_unlock(&g_async_mu);
            }
            if (rc != SS_PLUGIN_SUCCESS) {
                if (report)
                    report_error(p->name, "async",
                                 "set_async_event_handler(%s) failed (rc=%d): %s",
                                 on ? "handler" : "NULL", (int)rc,
                                 plugin_last_error(p, p->states[k]));
                ok = false;
                if (on)
                    return false;
            }
        }
    }
    return ok;
}

/* --dump-state: dump_state once per async plugin (its first state), then its events. */
static bool async_dump_all(host_plugin *pl, size_t np, sbuf *line)
{
    size_t i;
    for (i = 0; i < np; i++) {
        host_plugin *p = &pl[i];
        host_owner *ow;
        ss_plugin_rc rc;
        if (!(p->caps & CAP_ASYNC) || !p->nstates || !p->states[0])
            continue;
        if (!p->api.dump_state) {
            report_warning(p->name, "--dump-state: the plugin does not export plugin_dump_state");
            continue;
        }
        ow = &p->owners[0];
        pthread_mutex_lock(&g_async_mu);
        ow->dumping = true;
        pthread_mutex_unlock(&g_async_mu);
        rc = p->api.dump_state(p->states[0], ow, host_dump_handler);
        pthread_mutex_lock(&g_async_mu);
        ow->dumping = false;
        pthread_mutex_unlock(&g_async_mu);
        if (!async_deliver_dumps(p->as_to, line))
            return false;
        if (rc != SS_PLUGIN_SUCCESS) {
            report_error(p->name, "dump_state", "dump_state failed (rc=%d): %s", (int)rc,
                         plugin_last_error(p, p->states[0]));
            return false;
        }
    }
    return true;
}

/* ---- the routine thread pool ---- */

#define ROUTINE_MAGIC 0x66707274u /* "fprt" */

typedef struct hroutine {
    uint32_t magic;
    host_owner *ow;
    ss_plugin_routine_fn_t fn;
    ss_plugin_routine_state_t *arg;
    bool queued, running, stop, ended;
    pthread_t runner;
    struct hroutine *qnext; /* the run queue */
    struct hroutine *anext; /* every routine of this capture */
} hroutine;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    hroutine *qhead, *qtail, *all;
    pthread_t *threads;
    size_t nthreads;
    bool stopping;
} g_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
            NULL, NULL, NULL, NULL, 0, false};

static void pool_enqueue(hroutine *r)
{
    r->qnext = NULL;
    r->queued = true;
    if (g_pool.qtail)
        g_pool.qtail->qnext = r;
    else
        g_pool.qhead = r;
    g_pool.qtail = r;
    pthread_cond_signal(&g_pool.work);
}

static void pool_unqueue(hroutine *r)
{
    hroutine **pp = &g_pool.qhead, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (*pp) {
        *pp = r->qnext;
        if (g_pool.qtail == r)
            g_pool.qtail = prev;
    }
    r->qnext = NULL;
    r->queued = false;
}

static void *pool_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_pool.mu);
    for (;;) {
        hroutine *r;
        host_owner *ow;
        ss_plugin_bool keep;
        while (!g_pool.stopping && !g_pool.qhead)
            pthread_cond_wait(&g_pool.work, &g_pool.mu);
        if (g_pool.stopping)
            break;
        r = g_pool.qhead;
        pool_unqueue(r);
        r->running = true;
        r->runner = pthread_self();
        pthread_mutex_unlock(&g_pool.mu);
        /* routines run next to the event threads: they get no table scope (tl_owner), the
         * table API is for capture_open/capture_close, as in libsinsp */
        ow = r->ow;
        keep = r->fn(ow->plugin->states[ow->index], r->arg);
        atomic_fetch_add_explicit(&ow->plugin->routine_calls, 1, memory_order_relaxed);
        pthread_mutex_lock(&g_pool.mu);
        r->running = false;
        if (!keep || r->stop)
            r->ended = true;
        else
            pool_enqueue(r); /* again right away, like Falco's thread pool */
        pthread_cond_broadcast(&g_pool.done);
    }
    pthread_mutex_unlock(&g_pool.mu);
    return NULL;
}

static host_owner *listen_owner(ss_plugin_owner_t *o, const char *fn)
{
    host_owner *ow = o;
    if (!ow || ow->magic != OWNER_MAGIC || !ow->plugin || !(ow->plugin->caps & CAP_LISTEN)) {
        report_warning(NULL,
                       "routine vtable: %s was called with owner %p, which is not the owner "
                       "capture_open received",
                       fn, o);
        return NULL;
    }
    return ow;
}

static ss_plugin_routine_t *host_routine_subscribe(ss_plugin_owner_t *o,
                                                   ss_plugin_routine_fn_t fn,
                                                   ss_plugin_routine_state_t *arg)
{
    host_owner *ow = listen_owner(o, "subscribe");
    hroutine *r;
    if (!ow)
        return NULL;
    if (!fn) {
        ow_error(ow, "subscribe: the routine function is NULL");
        return NULL;
    }
    pthread_mutex_lock(&g_pool.mu);
    if (!ow->routines_ok || !g_pool.nthreads || g_pool.stopping) {
        pthread_mutex_unlock(&g_pool.mu);
        ow_error(ow, "subscribe: routines can only be subscribed from capture_open until "
                     "capture_close returns");
        return NULL;
    }
    r = xcalloc(1, sizeof *r);
    r->magic = ROUTINE_MAGIC;
    r->ow = ow;
    r->fn = fn;
    r->arg = arg;
    r->anext = g_pool.all;
    g_pool.all = r;
    pool_enqueue(r);
    pthread_mutex_unlock(&g_pool.mu);
    return r;
}

static ss_plugin_rc host_routine_unsubscribe(ss_plugin_owner_t *o, ss_plugin_routine_t *h)
{
    host_owner *ow = listen_owner(o, "unsubscribe");
    hroutine *r;
    if (!ow)
        return SS_PLUGIN_FAILURE;
    pthread_mutex_lock(&g_pool.mu);
    for (r = g_pool.all; r && (void *)r != h; r = r->anext) {
    }
    if (!r || r->ow != ow) {
        pthread_mutex_unlock(&g_pool.mu);
        ow_error(ow, "unsubscribe: %p is not a routine that this plugin state subscribed", h);
        return SS_PLUGIN_FAILURE;
    }
    if (!r->ended) {
        r->stop = true;
        if (r->queued) {
            pool_unqueue(r);
            r->ended = true;
        } else if (r->running && !pthread_equal(r->runner, pthread_self())) {
            /* wait for the running call (from inside that call: it ends when it returns) */
            while (r->running)
                pthread_cond_wait(&g_pool.done, &g_pool.mu);
        }
    }
    pthread_mutex_unlock(&g_pool.mu);
    return SS_PLUGIN_SUCCESS;
}

static ss_plugin_routine_vtable g_routine_vt = {host_routine_subscribe, host_routine_unsubscribe};

static bool pool_start(size_t n)
{
    size_t i;
    pthread_mutex_lock(&g_pool.mu);
    g_pool.stopping = false;
    g_pool.threads = xcalloc(n, sizeof *g_pool.threads);
    for (i = 0; i < n; i++) {
        int e = pthread_create(&g_pool.threads[i], NULL, pool_main, NULL);
        if (e != 0) {
            pthread_mutex_unlock(&g_pool.mu);
            report_error(NULL, "capture_open", "cannot start a routine thread: %s",
                         strerror(e));
            return false;
        }
        g_pool.nthreads = i + 1;
    }
    pthread_mutex_unlock(&g_pool.mu);
    return true;
}

/* Stops the routines of one owner (all when ow is NULL) and waits for their running calls. */
static void pool_stop_routines(host_owner *ow, bool warn)
{
    hroutine *r;
    bool busy;
    pthread_mutex_lock(&g_pool.mu);
    for (r = g_pool.all; r; r = r->anext) {
        if (r->ended || (ow && r->ow != ow))
            continue;
        if (warn)
            report_warning(plugin_label(r->ow->plugin),
                           "a routine was still subscribed when capture_close returned: the "
                           "host stopped it");
        r->stop = true;
        if (r->queued) {
            pool_unqueue(r);
            r->ended = true;
        }
    }
    do {
        busy = false;
        for (r = g_pool.all; r && !busy; r = r->anext)
            busy = r->running && (!ow || r->ow == ow);
        if (busy)
            pthread_cond_wait(&g_pool.done, &g_pool.mu);
    } while (busy);
    pthread_mutex_unlock(&g_pool.mu);
}

static void pool_shutdown(void)
{
    hroutine *r, *rn;
    size_t i, n;
    pool_stop_routines(NULL, false);
    pthread_mutex_lock(&g_pool.mu);
    g_pool.stopping = true;
    pthread_cond_broadcast(&g_pool.work);
    n = g_pool.nthreads;
    pthread_mutex_unlock(&g_pool.mu);
    for (i = 0; i < n; i++)
        pthread_join(g_pool.threads[i], NULL);
    pthread_mutex_lock(&g_pool.mu);
    free(g_pool.threads);
    g_pool.threads = NULL;
    g_pool.nthreads = 0;
    for (r = g_pool.all; r; r = rn) {
        rn = r->anext;
        r->magic = 0;
        free(r);
    }
    g_pool.all = g_pool.qhead = g_pool.qtail = NULL;
    g_pool.stopping = false;
    pthread_mutex_unlock(&g_pool.mu);
}

static void listen_input(host_owner *ow, ss_plugin_capture_listen_input *in)
{
    in->owner = ow;
    in->routine = &g_routine_vt;
    in->table_reader_ext = &g_reader_ext;
    in->table_writer_ext = &g_writer_ext;
    in->get_owner_last_error = host_get_owner_last_error;
}

/* capture_open on every state of every listen plugin (the pool runs already). */
static bool listen_open_all(host_plugin *pl, size_t np)
{
    size_t i;
    uint64_t k;
    for (i = 0; i < np; i++) {
        host_plugin *p = &pl[i];
        if (!(p->caps & CAP_LISTEN))
            continue;
        for (k = 0; k < p->nstates; k++) {
            host_owner *ow = &p->owners[k];
            ss_plugin_capture_listen_input in;
            ss_plugin_rc rc;
            if (!p->states[k])
                continue;
            listen_input(ow, &in);
            pthread_mutex_lock(&g_pool.mu);
            ow->routines_ok = true;
            pthread_mutex_unlock(&g_pool.mu);
            tl_owner = ow;
            rc = p->api.capture_open(p->states[k], &in);
            tl_owner = NULL;
            tbl_after_call(ow, "capture_open");
            if (rc != SS_PLUGIN_SUCCESS) {
                report_error(p->name, "capture_open", "capture_open failed (rc=%d): %s",
                             (int)rc, plugin_last_error(p, p->states[k]));
                pthread_mutex_lock(&g_pool.mu);
                ow->routines_ok = false;
                pthread_mutex_unlock(&g_pool.mu);
                pool_stop_routines(ow, false);
                return false;
            }
            ow->listen_open = true;
            if (atomic_load(&p->table_misuse)) {
                report_error(p->name, "capture_open",
                             "capture_open misused the table API (see above)");
                return false;
            }
        }
    }
    return true;
}

/* capture_close on the states capture_open succeeded on; their routines stop afterwards. */
static bool listen_close_all(host_plugin *pl, size_t np, bool report)
{
    size_t i;
    uint64_t k;
    bool ok = true;
    for (i = 0; i < np; i++) {
        host_plugin *p = &pl[i];
        if (!(p->caps & CAP_LISTEN))
            continue;
        for (k = 0; k < p->nstates; k++) {
            host_owner *ow = &p->owners[k];
            ss_plugin_capture_listen_input in;
            ss_plugin_rc rc;
            if (!ow->listen_open)
                continue;
            ow->listen_open = false;
            listen_input(ow, &in);
            tl_owner = ow;
            rc = p->api.capture_close(p->states[k], &in);
            tl_owner = NULL;
            tbl_after_call(ow, "capture_close");
            pthread_mutex_lock(&g_pool.mu);
            ow->routines_ok = false;
            pthread_mutex_unlock(&g_pool.mu);
            pool_stop_routines(ow, true);
            if (rc != SS_PLUGIN_SUCCESS) {
                if (report)
                    report_error(p->name, "capture_close", "capture_close failed (rc=%d): %s",
                                 (int)rc, plugin_last_error(p, p->states[k]));
                ok = false;
            } else if (report && atomic_load(&p->table_misuse)) {
                report_error(p->name, "capture_close",
                             "capture_close misused the table API (see above)");
                ok = false;
            }
        }
    }
    return ok;
}

static void *capture_main(void *arg)
{
    host_plugin *p = arg;
    ss_plugin_t *st = p->states[0];
    const uint64_t max = g_opt.max_events;
    const bool quiet = g_opt.quiet;
    const bool e2s = !g_opt.no_e2s && p->api.event_to_string != NULL;
    const bool is_plugin_src = p->id != 0;
    xctx *const xall = p->xc; /* values (all absent when no extractor takes these events) */
    xctx *const xc = (xall && xall->any) ? xall : NULL;
    const uint64_t repeat = g_opt.extract_repeat;
    const bool keep = g_opt.extract_threads > 0;
    astream *const as = p->as_mine; /* async events delivered here, interleaved */
    ss_plugin_event_input ein;
    char err[ERRBUF];
    sbuf line = {0};
    uint64_t n = 0;   /* this source's events */
    uint64_t evn = 0; /* event numbers: its events and the async events delivered here */
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC);

    ein.evt = NULL;
    ein.evtnum = 0;
    ein.evtsrc = p->evt_source;

    for (;;) {
        uint32_t nevts = 0, i;
        size_t j;
        ss_plugin_event **evts = NULL;
        ss_plugin_rc rc;
        uint64_t stamp = 0;

        if (atomic_load_explicit(&g_abort, memory_order_relaxed) || g_sigint)
            break;
        if (as && !async_drain(as, &evn, &line))
            goto fail;
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
                report_error(p->name, "event", "invalid event (number %" PRIu64 "): %s", evn + 1,
                             err);
                goto fail;
            }
            if (e->ts == UINT64_MAX) {
                /* one clock read per batch: every event of a batch gets the same "now" */
                if (!stamp)
                    stamp = clock_ns(CLOCK_REALTIME);
                e->ts = stamp;
            }
            if (is_plugin_src) /* --thread-tid: a thread for the parsers and extractors */
                e->tid = g_thread_tid_set ? (uint64_t)g_thread_tid : UINT64_MAX;
            n++;
            evn++;
            ein.evt = e;
            ein.evtnum = evn;
            /* parsing comes after sourcing and before extraction, like in libsinsp */
            for (j = 0; j < p->npb; j++)
                if (!p_event(&p->pb[j], &ein, p->name))
                    goto fail;
            if (xc) {
                const char *who = NULL;
                if (!x_event(xc, &ein, &who, err, sizeof err)) {
                    report_error(who, "extract", "%s (event %" PRIu64 " of %s)", err, evn,
                                 p->name);
                    goto fail;
                }
                if (repeat)
                    x_repeat(xc, &ein, repeat);
                if (keep && xc->nchk < X_CHECK_EVENTS)
                    x_keep(xc, e, evn);
            }
            if (g_filter && !filter_eval(g_filter, xall->vals)) {
                p->filtered_out++;
                goto next;
            }
            if (e2s)
                info = p->api.event_to_string(st, &ein);
            if (!quiet)
                print_event(p, &line, e, evn, info, xall);
        next:
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
    if (as)
        as->evtnum = evn; /* the main thread delivers the rest after the captures */
    p->capture_seconds = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    x_flush(p->xc);
    p_flush(p);
    sb_free(&line);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Field extraction: setup per cycle, and the --extract-threads check       */
/* ------------------------------------------------------------------------ */

/* Does the extractor take events of this source? Its own source (when it has an id) plus
 * the listed ones; when there are none of either, every source. */
static bool x_accepts_source(const host_plugin *ex, const char *src)
{
    bool listed = false;
    size_t i;
    if ((ex->caps & CAP_SOURCE) && ex->id) {
        listed = true;
        if (!strcmp(ex->source, src))
            return true;
    }
    for (i = 0; i < ex->nxsources; i++) {
        listed = true;
        if (!strcmp(ex->xsources[i], src))
            return true;
    }
    return !listed;
}

/* The same rules for parsers, with get_parse_event_sources. */
static bool p_accepts_source(const host_plugin *pl, const char *src)
{
    bool listed = false;
    size_t i;
    if ((pl->caps & CAP_SOURCE) && pl->id) {
        listed = true;
        if (!strcmp(pl->source, src))
            return true;
    }
    for (i = 0; i < pl->npsources; i++) {
        listed = true;
        if (!strcmp(pl->psources[i], src))
            return true;
    }
    return !listed;
}

/* get_parse_event_types after init; NULL or empty: 322 for plugin sources, all for syscall. */
static bool p_fetch_types(host_plugin *p, ss_plugin_t *st, char *err, size_t errlen)
{
    uint32_t n = 0, i;
    uint16_t *t;
    free_ptypes(p);
    if (!(p->caps & CAP_PARSE) || !p->api.get_parse_event_types || !st)
        return true;
    t = p->api.get_parse_event_types(&n, st);
    if (!t || !n)
        return true;
    if (n > 65536) {
        snprintf(err, errlen,
                 "get_parse_event_types returned %" PRIu32 " event types, more than exist", n);
        return false;
    }
    p->ptypes = xmalloc(n * sizeof *p->ptypes);
    memcpy(p->ptypes, t, n * sizeof *p->ptypes);
    p->nptypes = n;
    p->ptypes_given = true;
    p->ptypes_bm = xcalloc(65536 / 64, sizeof *p->ptypes_bm);
    for (i = 0; i < n; i++)
        p->ptypes_bm[t[i] >> 6] |= 1ull << (t[i] & 63);
    return true;
}

/* After init, like libsinsp: NULL or an empty list means the default. */
static bool x_fetch_types(host_plugin *p, ss_plugin_t *st, char *err, size_t errlen)
{
    uint32_t n = 0, i;
    uint16_t *t;
    free_xtypes(p);
    if (!(p->caps & CAP_EXTRACT) || !p->api.get_extract_event_types || !st)
        return true;
    t = p->api.get_extract_event_types(&n, st);
    if (!t || !n)
        return true;
    if (n > 65536) {
        snprintf(err, errlen,
                 "get_extract_event_types returned %" PRIu32 " event types, more than exist",
                 n);
        return false;
    }
    p->xtypes = xmalloc(n * sizeof *p->xtypes);
    memcpy(p->xtypes, t, n * sizeof *p->xtypes);
    p->nxtypes = n;
    p->xtypes_given = true;
    p->xtypes_bm = xcalloc(65536 / 64, sizeof *p->xtypes_bm);
    for (i = 0; i < n; i++)
        p->xtypes_bm[t[i] >> 6] |= 1ull << (t[i] & 63);
    return true;
}

/* Resolves --fields, --output and --filter against the loaded plugins and decides how many
 * states each extractor and parser needs: one per capturing plugin whose events it takes
 * (Falco inits a plugin once per event source), and at least --inits. */
static bool x_prepare(host_plugin *pl, size_t np)
{
    char err[4 * ERRBUF];
    const char *who = NULL;
    size_t i, k, s;
    for (i = 0; i < np; i++) {
        pl[i].ninit = g_opt.inits;
        free(pl[i].slot_for);
        pl[i].slot_for = NULL;
    }
    for (i = 0; i < g_opt.nspecs; i++) {
        const char *spec = g_opt.specs[i];
        size_t req;
        bool dup = false;
        for (k = 0; k < g_nspecs && !dup; k++)
            dup = !strcmp(g_specs[k].spec, spec);
        if (dup)
            continue;
        if (!req_resolve(pl, np, spec, strlen(spec), &req, &who, err, sizeof err)) {
            report_error(who, "fields", "--fields: %s", err);
            return false;
        }
        g_specs = xrealloc(g_specs, (g_nspecs + 1) * sizeof *g_specs);
        g_specs[g_nspecs].spec = xstrdup(spec);
        g_specs[g_nspecs].req = req;
        g_nspecs++;
    }
    if (g_opt.output && !fmt_parse(pl, np, g_opt.output, &who, err, sizeof err)) {
        report_error(who, "fields", "--output: %s", err);
        return false;
    }
    if (g_opt.filter) {
        g_filter = filter_parse(pl, np, g_opt.filter, &who, err, sizeof err);
        if (!g_filter) {
            report_error(who, "filter", "%s", err);
            return false;
        }
    }
    for (i = 0; i < np; i++) {
        host_plugin *ex = &pl[i];
        uint64_t next;
        bool used = false, parser = (ex->caps & CAP_PARSE) != 0;
        for (k = 0; k < g_nreq && !used; k++)
            used = g_reqs[k].ex == ex;
        if (!used && !parser)
            continue;
        ex->slot_for = xmalloc(np * sizeof *ex->slot_for);
        next = (ex->caps & CAP_SOURCE) ? 1 : 0;
        for (s = 0; s < np; s++) {
            const char *src = pl[s].evt_source;
            ex->slot_for[s] = X_NO_SLOT;
            if (!(pl[s].caps & CAP_SOURCE) || !((used && x_accepts_source(ex, src)) ||
                                                (parser && p_accepts_source(ex, src))))
                continue;
            ex->slot_for[s] = (s == i) ? 0 : next++;
        }
        if (next > ex->ninit)
            ex->ninit = next;
    }
    return true;
}

/* Binds each capturing plugin's events to the extractor states (after init). */
static void x_bind(host_plugin *pl, size_t np)
{
    size_t s, i;
    if (!g_nreq)
        return;
    for (s = 0; s < np; s++) {
        host_plugin *src = &pl[s];
        xctx *xc;
        if (!(src->caps & CAP_SOURCE))
            continue;
        xc = xcalloc(1, sizeof *xc);
        xc->nb = g_nreq;
        xc->b = xcalloc(g_nreq, sizeof *xc->b);
        xc->vals = xcalloc(g_nreq, sizeof *xc->vals);
        for (i = 0; i < g_nreq; i++) {
            host_plugin *ex = g_reqs[i].ex;
            xbind *b = &xc->b[i];
            uint64_t slot;
            if (!ex->slot_for || ex->slot_for[s] == X_NO_SLOT)
                continue;
            slot = ex->slot_for[s];
            b->ex = ex;
            b->st = ex->states[slot];
            b->ow = &ex->owners[slot];
            b->offsets = g_opt.offsets && ex->req_minor >= 11;
            b->syscall_src = !strcmp(src->evt_source, "syscall");
            xc->any = true;
        }
        src->xc = xc;
    }
}

/* Gives each capturing plugin the parsers of its events, in plugin order (after init). */
static void p_bind(host_plugin *pl, size_t np)
{
    size_t s, i;
    for (s = 0; s < np; s++) {
        host_plugin *src = &pl[s];
        if (!(src->caps & CAP_SOURCE))
            continue;
        for (i = 0; i < np; i++) {
            host_plugin *pp = &pl[i];
            pbind *b;
            uint64_t slot;
            if (!(pp->caps & CAP_PARSE) || !pp->slot_for || pp->slot_for[s] == X_NO_SLOT ||
                !p_accepts_source(pp, src->evt_source))
                continue;
            slot = pp->slot_for[s];
            src->pb = xrealloc(src->pb, (src->npb + 1) * sizeof *src->pb);
            b = &src->pb[src->npb++];
            memset(b, 0, sizeof *b);
            b->pl = pp;
            b->st = pp->states[slot];
            b->ow = &pp->owners[slot];
            b->syscall_src = !strcmp(src->evt_source, "syscall");
        }
    }
}

static void x_release(host_plugin *pl, size_t np)
{
    size_t i, k;
    for (i = 0; i < np; i++) {
        xctx *xc = pl[i].xc;
        free(pl[i].slot_for);
        pl[i].slot_for = NULL;
        free(pl[i].pb);
        pl[i].pb = NULL;
        pl[i].npb = 0;
        if (!xc)
            continue;
        for (k = 0; k < xc->nb; k++)
            xv_free(&xc->vals[k]);
        for (k = 0; k < xc->nchk; k++)
            free(xc->chk_evt[k]);
        free(xc->chk_evt);
        free(xc->chk_num);
        free(xc->chk_off);
        sb_free(&xc->chk_blob);
        free(xc->vals);
        free(xc->b);
        free(xc);
        pl[i].xc = NULL;
    }
    for (i = 0; i < g_nreq; i++) {
        free(g_reqs[i].canon);
        free(g_reqs[i].arg);
    }
    free(g_reqs);
    g_reqs = NULL;
    g_nreq = 0;
    for (i = 0; i < g_nspecs; i++)
        free(g_specs[i].spec);
    free(g_specs);
    g_specs = NULL;
    g_nspecs = 0;
    for (i = 0; i < g_nfmt; i++)
        free(g_fmt[i].lit);
    free(g_fmt);
    g_fmt = NULL;
    g_nfmt = 0;
    fexpr_free(g_filter);
    g_filter = NULL;
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool go, abort;
} xstart;

typedef struct {
    host_plugin *p;
    uint64_t idx;
    xstart *start;
    uint64_t calls, mismatches;
    bool failed;
    const char *who;
    char err[ERRBUF];
} xcheck_thread;

/* Thread idx re-extracts the kept events on state idx of each extractor. */
static void *xcheck_main(void *arg)
{
    xcheck_thread *t = arg;
    xctx *xc = t->p->xc;
    xvalue *vals = xcalloc(xc->nb, sizeof *vals);
    sbuf ser = {0};
    ss_plugin_event_input ein;
    size_t e, i;
    bool abort_now;

    pthread_mutex_lock(&t->start->mu);
    while (!t->start->go)
        pthread_cond_wait(&t->start->cv, &t->start->mu);
    abort_now = t->start->abort;
    pthread_mutex_unlock(&t->start->mu);

    ein.evtsrc = t->p->evt_source;
    for (e = 0; e < xc->nchk && !abort_now && !t->failed; e++) {
        const uint8_t *blob = (const uint8_t *)xc->chk_blob.p + xc->chk_off[e];
        size_t pos = 0;
        ein.evt = (const ss_plugin_event *)xc->chk_evt[e];
        ein.evtnum = xc->chk_num[e];
        for (i = 0; i < xc->nb; i++) {
            uint32_t seglen = rd32(blob + pos);
            const uint8_t *seg = blob + pos + 4;
            xbind b = xc->b[i];
            pos += 4 + (size_t)seglen;
            if (!xb_accepts(&b, ein.evt->type)) {
                xv_clear(&vals[i]);
            } else {
                ss_plugin_field_extract_input in;
                ss_plugin_extract_field f;
                ss_plugin_extract_value_offsets vo;
                ss_plugin_rc rc;
                b.st = b.ex->states[t->idx];
                b.ow = &b.ex->owners[t->idx];
                memset(&vo, 0, sizeof vo);
                x_setup(&g_reqs[i], &b, &in, &f, b.offsets ? &vo : NULL);
                tl_owner = b.ow;
                rc = b.ex->api.extract_fields(b.st, &ein, &in);
                tl_owner = NULL;
                tbl_after_call(b.ow, "extract_fields");
                t->calls++;
                if (!xv_store(&g_reqs[i], rc, &f, b.offsets ? &vo : NULL, &vals[i], t->err,
                              sizeof t->err)) {
                    t->failed = true;
                    t->who = b.ex->name;
                    break;
                }
            }
            sb_reset(&ser);
            xv_serialize(&ser, &g_reqs[i], &vals[i]);
            if (ser.n != seglen || memcmp(ser.p, seg, seglen) != 0)
                t->mismatches++;
        }
    }
    for (i = 0; i < xc->nb; i++)
        xv_free(&vals[i]);
    free(vals);
    sb_free(&ser);
    return NULL;
}

/* --extract-threads N: the kept events of plugin p, re-extracted on N threads at once. */
static bool x_check(host_plugin *p)
{
    uint64_t n = g_opt.extract_threads, i, started = 0, calls = 0, mism = 0;
    xcheck_thread *th;
    pthread_t *tids;
    xstart start;
    bool ok = true;
    sbuf b = {0};
    if (!p->xc || !p->xc->any)
        return true;
    th = xcalloc(n, sizeof *th);
    tids = xcalloc(n, sizeof *tids);
    pthread_mutex_init(&start.mu, NULL);
    pthread_cond_init(&start.cv, NULL);
    start.go = start.abort = false;
    for (i = 0; i < n; i++) {
        int e;
        th[i].p = p;
        th[i].idx = i;
        th[i].start = &start;
        e = pthread_create(&tids[i], NULL, xcheck_main, &th[i]);
        if (e != 0) {
            report_error(p->name, "extract_check", "cannot start a thread: %s", strerror(e));
            ok = false;
            break;
        }
        started++;
    }
    pthread_mutex_lock(&start.mu);
    start.go = true;
    start.abort = !ok;
    pthread_cond_broadcast(&start.cv);
    pthread_mutex_unlock(&start.mu);
    for (i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    pthread_cond_destroy(&start.cv);
    pthread_mutex_destroy(&start.mu);
    if (!ok)
        goto out;
    for (i = 0; i < n; i++) {
        calls += th[i].calls;
        mism += th[i].mismatches;
    }
    if (g_opt.json) {
        sb_adds(&b, "{\"extract_check\": {\"plugin\": ");
        sb_json_str(&b, p->name);
        sb_printf(&b,
                  ", \"threads\": %" PRIu64 ", \"events\": %zu, \"calls\": %" PRIu64
                  ", \"mismatches\": %" PRIu64 "}}",
                  n, p->xc->nchk, calls, mism);
    } else {
        sb_printf(&b,
                  "extract_check %s: %" PRIu64 " threads, %zu events, %" PRIu64
                  " calls, %" PRIu64 " mismatches",
                  p->name, n, p->xc->nchk, calls, mism);
    }
    out_line(stdout, &b);
    for (i = 0; i < n; i++) {
        if (th[i].failed) {
            report_error(th[i].who, "extract", "%s (extract check thread %" PRIu64 ")",
                         th[i].err, i);
            ok = false;
            break;
        }
    }
    if (ok && mism) {
        report_error(p->name, "extract_check",
                     "%" PRIu64 " of %" PRIu64 " extractions on %" PRIu64
                     " threads (one state each) differ from the first pass: extraction is not "
                     "consistent across states and threads",
                     mism, calls, n);
        ok = false;
    }
out:
    sb_free(&b);
    free(th);
    free(tids);
    return ok;
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
                  cycle, p->ninit, p->events, p->timeouts,
                  p->eof ? "true" : "false");
        sb_json_double(&b, p->capture_seconds, "%.6f");
        sb_adds(&b, ", \"events_per_second\": ");
        sb_json_double(&b, eps, "%.1f");
        sb_adds(&b, ", \"init_ms\": ");
        sb_json_double(&b, p->init_ms, "%.3f");
        sb_printf(&b, ", \"rss_kb_after_init\": %ld", p->rss_kb);
        if (g_nreq) {
            sb_printf(&b, ", \"extract_failures\": %" PRIu64 ", \"filtered_out\": %" PRIu64,
                      (uint64_t)atomic_load(&p->x_failures), p->filtered_out);
        }
        if (g_nreq && g_opt.extract_repeat) {
            uint64_t calls = atomic_load(&p->x_calls);
            sb_printf(&b, ", \"extract_calls\": %" PRIu64 ", \"extract_ns_per_call\": ", calls);
            if (calls)
                sb_json_double(&b, (double)atomic_load(&p->x_ns) / (double)calls, "%.3f");
            else
                sb_adds(&b, "null");
        }
        if (p->caps & CAP_PARSE)
            sb_printf(&b, ", \"parse_calls\": %" PRIu64 ", \"parse_failures\": %" PRIu64,
                      (uint64_t)atomic_load(&p->p_calls), (uint64_t)atomic_load(&p->p_failures));
        if (p->caps & (CAP_PARSE | CAP_EXTRACT))
            sb_printf(&b, ", \"entry_leaks\": %" PRIu64, (uint64_t)atomic_load(&p->entry_leaks));
        if (p->caps & CAP_ASYNC) {
            sb_printf(&b, ", \"async_events\": %" PRIu64 ", \"async_refused\": %" PRIu64,
                      (uint64_t)atomic_load(&p->async_events),
                      (uint64_t)atomic_load(&p->async_refused));
            if (g_opt.dump_state)
                sb_printf(&b, ", \"dump_events\": %" PRIu64,
                          (uint64_t)atomic_load(&p->dump_events));
        }
        if (p->caps & CAP_LISTEN)
            sb_printf(&b, ", \"routine_calls\": %" PRIu64,
                      (uint64_t)atomic_load(&p->routine_calls));
        sb_adds(&b, "}}");
    } else {
        sb_printf(&b,
                  "summary %s: cycle %" PRIu64 ", %" PRIu64 " events, %" PRIu64
                  " timeouts, eof %s, %.6f s capture, %.1f events/s, init %.3f ms, "
                  "rss after init %ld kB",
                  p->name, cycle, p->events, p->timeouts, p->eof ? "yes" : "no",
                  p->capture_seconds, eps, p->init_ms, p->rss_kb);
        if (g_nreq) {
            sb_printf(&b, ", %" PRIu64 " extract failures, %" PRIu64 " filtered out",
                      (uint64_t)atomic_load(&p->x_failures), p->filtered_out);
        }
        if (g_nreq && g_opt.extract_repeat) {
            uint64_t calls = atomic_load(&p->x_calls);
            sb_printf(&b, ", %" PRIu64 " extract calls, %.3f ns/call", calls,
                      calls ? (double)atomic_load(&p->x_ns) / (double)calls : 0.0);
        }
        if (p->caps & CAP_PARSE)
            sb_printf(&b, ", %" PRIu64 " parse calls, %" PRIu64 " parse failures",
                      (uint64_t)atomic_load(&p->p_calls), (uint64_t)atomic_load(&p->p_failures));
        if (p->caps & (CAP_PARSE | CAP_EXTRACT))
            sb_printf(&b, ", %" PRIu64 " entry leaks", (uint64_t)atomic_load(&p->entry_leaks));
        if (p->caps & CAP_ASYNC) {
            sb_printf(&b, ", %" PRIu64 " async events, %" PRIu64 " async refused",
                      (uint64_t)atomic_load(&p->async_events),
                      (uint64_t)atomic_load(&p->async_refused));
            if (g_opt.dump_state)
                sb_printf(&b, ", %" PRIu64 " dump events", (uint64_t)atomic_load(&p->dump_events));
        }
        if (p->caps & CAP_LISTEN)
            sb_printf(&b, ", %" PRIu64 " routine calls", (uint64_t)atomic_load(&p->routine_calls));
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
    bool pool_on = false, deliver_started = false;
    pthread_t deliver_thread;
    size_t nsources = 0;
    sbuf aline = {0};

    /* load every plugin first: the requested fields are resolved against all of them,
     * and they decide how many states each extractor needs */
    for (i = 0; i < np; i++) {
        host_plugin *p = &pl[i];

        p->events = p->timeouts = 0;
        p->eof = p->failed = false;
        p->capture_seconds = 0;
        p->nstates = 0;
        p->filtered_out = 0;
        atomic_store(&p->x_failures, 0);
        atomic_store(&p->x_calls, 0);
        atomic_store(&p->x_ns, 0);
        atomic_store(&p->x_warned, 0);
        atomic_store(&p->p_calls, 0);
        atomic_store(&p->p_failures, 0);
        atomic_store(&p->p_warned, 0);
        atomic_store(&p->entry_leaks, 0);
        atomic_store(&p->table_misuse, 0);
        atomic_store(&p->leak_warned, 0);
        atomic_store(&p->async_events, 0);
        atomic_store(&p->async_refused, 0);
        atomic_store(&p->dump_events, 0);
        atomic_store(&p->routine_calls, 0);
        atomic_store(&p->async_warned, 0);
        free_xtypes(p);
        free_ptypes(p);
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
    }
    if (!x_prepare(pl, np)) {
        ok = false;
        goto cleanup;
    }
    async_setup(pl, np);
    atomic_store(&g_misuse_unowned, 0);
    if (!reg_setup(err, sizeof err)) {
        report_error(NULL, "threads", "%s", err);
        ok = false;
        goto cleanup;
    }

    for (i = 0; i < np; i++) {
        host_plugin *p = &pl[i];
        uint64_t t0 = clock_ns(CLOCK_MONOTONIC), k;

        free(p->init_config);
        p->init_config = prepare_config(p, p->config, "init config", err, sizeof err);
        if (!p->init_config) {
            report_error(p->name, "config", "%s", err);
            ok = false;
            goto cleanup;
        }
        install_sigint();
        for (k = 0; k < p->ninit; k++) {
            if (!init_state(p, k, p->init_config, err, sizeof err)) {
                report_error(p->name, "init", "%s", err);
                ok = false;
                goto cleanup;
            }
        }
        if (!x_fetch_types(p, p->states[0], err, sizeof err) ||
            !p_fetch_types(p, p->states[0], err, sizeof err)) {
            report_error(p->name, "init", "%s", err);
            ok = false;
            goto cleanup;
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
    x_bind(pl, np);
    p_bind(pl, np);
    atomic_store(&g_abort, 0);

    /* like libsinsp at capture start: the async handlers (--async-reset: set, NULL, set
     * again), then capture_open with the routine thread pool running */
    if (!async_set_all(pl, np, true, true) ||
        (g_opt.async_reset &&
         (!async_set_all(pl, np, false, true) || !async_set_all(pl, np, true, true)))) {
        ok = false;
        goto cleanup;
    }
    for (i = 0; i < np && !pool_on; i++)
        pool_on = (pl[i].caps & CAP_LISTEN) != 0;
    if (pool_on && (!pool_start(g_opt.routine_threads) || !listen_open_all(pl, np))) {
        ok = false;
        goto cleanup;
    }
    for (i = 0; i < np; i++)
        nsources += pl[i].opened;
    if (nsources && g_streams[np].nasync) {
        int e;
        g_deliver_stop = false;
        e = pthread_create(&deliver_thread, NULL, async_loop_main, &g_streams[np]);
        if (e != 0) {
            report_error(NULL, "async", "cannot start the async delivery thread: %s",
                         strerror(e));
            ok = false;
            goto cleanup;
        }
        deliver_started = true;
    }

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
    if (deliver_started) {
        pthread_mutex_lock(&g_async_mu);
        g_deliver_stop = true;
        pthread_cond_broadcast(&g_async_cv);
        pthread_mutex_unlock(&g_async_mu);
        pthread_join(deliver_thread, NULL);
        deliver_started = false;
    }
    /* the captures have ended: the main thread delivers from now on */
    if (ok && g_opt.async_wait_ms && !async_wait(g_opt.async_wait_ms, &aline))
        ok = false;
    if (ok && g_opt.dump_state && !async_dump_all(pl, np, &aline))
        ok = false;
    if (ok && !async_drain_all(&aline))
        ok = false;
    if (!listen_close_all(pl, np, ok))
        ok = false;
    if (pool_on) {
        pool_shutdown();
        pool_on = false;
    }
    if (!async_set_all(pl, np, false, ok))
        ok = false;
    /* events queued before the handlers were cleared are still delivered */
    if (ok && !async_drain_all(&aline))
        ok = false;
    /* every capture has ended: the extractors' states are free for the check threads */
    for (i = 0; ok && g_opt.extract_threads && i < np; i++) {
        if (pl[i].opened && !x_check(&pl[i]))
            ok = false;
    }
    for (i = 0; i < np; i++) {
        report_progress(&pl[i]);
        if (!report_metrics(&pl[i]))
            ok = false;
    }
    /* the plugins are still there: their tables can be read */
    for (i = 0; ok && i < g_opt.ndumps; i++)
        if (!dump_table(g_opt.dumps[i]))
            ok = false;
    if (atomic_load(&g_misuse_unowned))
        ok = false; /* reported when it happened */

cleanup:
    if (deliver_started) {
        pthread_mutex_lock(&g_async_mu);
        g_deliver_stop = true;
        pthread_cond_broadcast(&g_async_cv);
        pthread_mutex_unlock(&g_async_mu);
        pthread_join(deliver_thread, NULL);
    }
    listen_close_all(pl, np, false); /* after an error: no-ops when already done */
    if (pool_on)
        pool_shutdown();
    async_set_all(pl, np, false, false);
    for (i = 0; i < np; i++)
        close_instance(&pl[i]);
    for (i = loaded_upto; i-- > 0;)
        destroy_states(&pl[i]);
    async_teardown(pl, np);
    sb_free(&aline);
    reg_teardown();
    if (ok) {
        for (i = 0; i < np; i++)
            report_summary(&pl[i], cycle);
    }
    x_release(pl, np);
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
        /* --inits, or one state per capturing plugin an extractor serves */
        pl[i].states = xcalloc(g_opt.inits + np, sizeof *pl[i].states);
        pl[i].owners = xcalloc(g_opt.inits + np, sizeof *pl[i].owners);
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

static void info_fields_json(sbuf *b, const host_plugin *p)
{
    size_t i;
    if (!(p->caps & CAP_EXTRACT)) {
        sb_adds(b, "null");
        return;
    }
    sb_addc(b, '[');
    for (i = 0; i < p->nfields; i++) {
        const plugin_field *f = &p->fields[i];
        bool first = true;
        if (i)
            sb_adds(b, ", ");
        sb_adds(b, "{\"name\": ");
        sb_json_str(b, f->name);
        sb_adds(b, ", \"type\": ");
        sb_json_str(b, f->type_name);
        sb_adds(b, ", \"display\": ");
        sb_json_str(b, f->display);
        sb_adds(b, ", \"desc\": ");
        sb_json_str(b, f->desc);
        sb_printf(b,
                  ", \"isList\": %s, \"addOutput\": %s, \"arg\": {\"isRequired\": %s, "
                  "\"isIndex\": %s, \"isKey\": %s}, \"properties\": [",
                  f->is_list ? "true" : "false", f->add_output ? "true" : "false",
                  f->arg_required ? "true" : "false", f->arg_index ? "true" : "false",
                  f->arg_key ? "true" : "false");
        if (f->hidden) {
            sb_adds(b, "\"hidden\"");
            first = false;
        }
        if (f->info) {
            sb_adds(b, first ? "\"info\"" : ", \"info\"");
            first = false;
        }
        if (f->conversation)
            sb_adds(b, first ? "\"conversation\"" : ", \"conversation\"");
        sb_adds(b, "]}");
    }
    sb_addc(b, ']');
}

static void info_fields_text(sbuf *b, const host_plugin *p, bool inited)
{
    size_t i;
    sb_adds(b, "Fields:\n");
    for (i = 0; i < p->nfields; i++) {
        const plugin_field *f = &p->fields[i];
        sb_printf(b, "  %s (%s", f->name, f->type_name);
        if (f->is_list)
            sb_adds(b, ", list");
        if (f->arg_index || f->arg_key)
            sb_printf(b, ", %s %s arg", f->arg_required ? "required" : "optional",
                      f->arg_index ? "index" : "key");
        sb_adds(b, ")");
        if (f->hidden)
            sb_adds(b, " [hidden]");
        sb_printf(b, ": %s\n", f->desc);
    }
    sb_adds(b, "Extract event sources: ");
    {
        bool any = false;
        if ((p->caps & CAP_SOURCE) && p->id) {
            sb_adds(b, p->source);
            any = true;
        }
        for (i = 0; i < p->nxsources; i++) {
            if ((p->caps & CAP_SOURCE) && p->id && !strcmp(p->xsources[i], p->source))
                continue;
            sb_printf(b, "%s%s", any ? ", " : "", p->xsources[i]);
            any = true;
        }
        if (!any)
            sb_adds(b, "all");
    }
    sb_adds(b, "\nExtract event types: ");
    if (p->xtypes_given) {
        for (i = 0; i < p->nxtypes; i++)
            sb_printf(b, "%s%u", i ? ", " : "", (unsigned)p->xtypes[i]);
        sb_addc(b, '\n');
    } else if (inited) {
        sb_adds(b, "default (322 for plugin sources, all for syscall)\n");
    } else {
        sb_adds(b, "unknown (init failed)\n");
    }
}

static void info_parse_text(sbuf *b, const host_plugin *p, bool inited)
{
    size_t i;
    bool any = false;
    sb_adds(b, "Parse event sources: ");
    if ((p->caps & CAP_SOURCE) && p->id) {
        sb_adds(b, p->source);
        any = true;
    }
    for (i = 0; i < p->npsources; i++) {
        if ((p->caps & CAP_SOURCE) && p->id && !strcmp(p->psources[i], p->source))
            continue;
        sb_printf(b, "%s%s", any ? ", " : "", p->psources[i]);
        any = true;
    }
    if (!any)
        sb_adds(b, "all");
    sb_adds(b, "\nParse event types: ");
    if (p->ptypes_given) {
        for (i = 0; i < p->nptypes; i++)
            sb_printf(b, "%s%u", i ? ", " : "", (unsigned)p->ptypes[i]);
        sb_addc(b, '\n');
    } else if (inited) {
        sb_adds(b, "default (322 for plugin sources, all for syscall)\n");
    } else {
        sb_adds(b, "unknown (init failed)\n");
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
    memset(&owner, 0, sizeof owner);
    {
        char *cfg = prepare_config(p, "", "the default init config", err, sizeof err);
        if (!reg_setup(err, sizeof err)) {
            free(cfg);
            cfg = NULL;
            init_error = xstrdup(err);
        } else if (!cfg) {
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
    if (st && (!x_fetch_types(p, st, err, sizeof err) || !p_fetch_types(p, st, err, sizeof err)))
        report_warning(p->name, "%s", err);
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
    reg_teardown();
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
        sb_adds(&out, ", \"fields\": ");
        info_fields_json(&out, p);
        sb_adds(&out, ", \"extract_event_sources\": ");
        if (p->xsources_given) {
            sb_addc(&out, '[');
            for (i = 0; i < p->nxsources; i++) {
                if (i)
                    sb_adds(&out, ", ");
                sb_json_str(&out, p->xsources[i]);
            }
            sb_addc(&out, ']');
        } else {
            sb_adds(&out, "null");
        }
        sb_adds(&out, ", \"extract_event_types\": ");
        if (p->xtypes_given) {
            sb_addc(&out, '[');
            for (i = 0; i < p->nxtypes; i++)
                sb_printf(&out, "%s%u", i ? ", " : "", (unsigned)p->xtypes[i]);
            sb_addc(&out, ']');
        } else {
            sb_adds(&out, "null");
        }
        sb_adds(&out, ", \"parse_event_sources\": ");
        if (p->psources_given) {
            sb_addc(&out, '[');
            for (i = 0; i < p->npsources; i++) {
                if (i)
                    sb_adds(&out, ", ");
                sb_json_str(&out, p->psources[i]);
            }
            sb_addc(&out, ']');
        } else {
            sb_adds(&out, "null");
        }
        sb_adds(&out, ", \"parse_event_types\": ");
        if (p->ptypes_given) {
            sb_addc(&out, '[');
            for (i = 0; i < p->nptypes; i++)
                sb_printf(&out, "%s%u", i ? ", " : "", (unsigned)p->ptypes[i]);
            sb_addc(&out, ']');
        } else {
            sb_adds(&out, "null");
        }
        sb_adds(&out, ", \"async_events\": ");
        if (p->caps & CAP_ASYNC) {
            sb_addc(&out, '[');
            for (i = 0; i < p->nasync_names; i++) {
                if (i)
                    sb_adds(&out, ", ");
                sb_json_str(&out, p->async_names[i]);
            }
            sb_addc(&out, ']');
        } else {
            sb_adds(&out, "null");
        }
        sb_adds(&out, ", \"async_event_sources\": ");
        if (p->async_sources_given) {
            sb_addc(&out, '[');
            for (i = 0; i < p->nasync_sources; i++) {
                if (i)
                    sb_adds(&out, ", ");
                sb_json_str(&out, p->async_sources[i]);
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
        if (p->caps & CAP_EXTRACT)
            info_fields_text(&out, p, st != NULL);
        if (p->caps & CAP_PARSE)
            info_parse_text(&out, p, st != NULL);
        if (p->caps & CAP_ASYNC) {
            sb_adds(&out, "Async events:");
            for (i = 0; i < p->nasync_names; i++)
                sb_printf(&out, "%s %s", i ? "," : "", p->async_names[i]);
            sb_adds(&out, "\nAsync event sources: ");
            if (!p->nasync_sources)
                sb_adds(&out, "all");
            for (i = 0; i < p->nasync_sources; i++)
                sb_printf(&out, "%s%s", i ? ", " : "", p->async_sources[i]);
            sb_printf(&out, "\nDump state: %s\n", p->api.dump_state ? "yes" : "no");
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
    "  --fields LIST          extract fields: comma-separated NAME or NAME[ARG]\n"
    "  --output FMT           print FMT per event, %NAME / %NAME[ARG] replaced by values\n"
    "  --filter EXPR          keep events matching EXPR: FIELD OP VALUE (OP: = != < <= > >=\n"
    "                         contains startswith endswith), FIELD in (V1, V2), FIELD exists,\n"
    "                         combined with and, or, not and parentheses\n"
    "  --offsets              pass value_offsets to plugins requiring API >= 3.11\n"
    "  --extract-threads N    after each capture, re-extract its first 10000 events on N\n"
    "                         threads at once (state i on thread i; needs --inits >= N)\n"
    "  --extract-repeat K     call extract_fields K more times per event and field, timed\n"
    "  --thread-tid T         stamp tid T on plugin events (libsinsp uses -1) and add thread T\n"
    "                         to the threads table, so parsers and extractors can look it up\n"
    "  --threads-fixture J    more threads table entries: a JSON array of objects of threads\n"
    "                         fields (tid required; file_descriptors, args, env, cgroups as\n"
    "                         arrays); J is the JSON text or @FILE\n"
    "  --dump-table NAME      after the capture, print the table NAME (every field, nested\n"
    "                         tables as their sizes) as {\"table\": ...}; repeatable\n"
    "  --async-wait MS        after the captures end (at once when there is no source), keep\n"
    "                         delivering async events and running routines for MS ms\n"
    "  --async-reset          set the async handlers, clear them (NULL) and set them again\n"
    "                         before the capture starts\n"
    "  --dump-state           after the capture, call dump_state on each async plugin and\n"
    "                         print its events (\"dump\": true)\n"
    "  --routine-threads N    threads running capture listening routines (default 2)\n"
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

/* --fields LIST: split at the commas outside brackets, trimmed; false on an empty entry. */
static bool add_field_specs(const char *list)
{
    size_t n = strlen(list), i = 0, start = 0;
    int depth = 0;
    for (i = 0; i <= n; i++) {
        char c = list[i];
        if (c == '[') {
            depth++;
        } else if (c == ']' && depth > 0) {
            depth--;
        } else if (c == 0 || (c == ',' && depth == 0)) {
            size_t a = start, b = i;
            char *spec;
            while (a < b && is_space(list[a]))
                a++;
            while (b > a && is_space(list[b - 1]))
                b--;
            if (a == b)
                return false;
            spec = xmalloc(b - a + 1);
            memcpy(spec, list + a, b - a);
            spec[b - a] = 0;
            g_opt.specs = xrealloc(g_opt.specs, (g_opt.nspecs + 1) * sizeof *g_opt.specs);
            g_opt.specs[g_opt.nspecs++] = spec;
            start = i + 1;
        }
    }
    return true;
}

/* A whole file as a NUL-terminated string, or NULL (errno set). */
static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    sbuf b = {0};
    char buf[4096];
    size_t n;
    if (!f)
        return NULL;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sb_add(&b, buf, n);
    fclose(f);
    if (!b.p)
        return xstrdup("");
    return b.p;
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

/* a is "--name" or "--name=..." */
static bool is_opt(const char *a, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(a, name, n) && (a[n] == 0 || a[n] == '=');
}

static bool is_run_option(const char *a)
{
    static const char *opts[] = {"--max-events",   "--json",          "--quiet",
                                 "--cycles",       "--reload",        "--inits",
                                 "--deepbind",     "--no-event-to-string",
                                 "--fields",       "--output",        "--filter",
                                 "--offsets",      "--extract-threads", "--extract-repeat",
                                 "--thread-tid",   "--threads-fixture", "--dump-table",
                                 "--async-wait",   "--async-reset",   "--dump-state",
                                 "--routine-threads", NULL};
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
            } else if (!strcmp(a, "--offsets")) {
                g_opt.offsets = true;
            } else if (!strcmp(a, "--async-reset")) {
                g_opt.async_reset = true;
            } else if (!strcmp(a, "--dump-state")) {
                g_opt.dump_state = true;
            } else if (is_opt(a, "--fields")) {
                if (!opt_value(argc, argv, &i, "--fields", &val, &m))
                    return usage_error("--fields needs a value");
                if (!add_field_specs(val))
                    return usage_error("--fields needs comma-separated field names, not '%s'",
                                       val);
            } else if (is_opt(a, "--output")) {
                if (!opt_value(argc, argv, &i, "--output", &val, &m))
                    return usage_error("--output needs a value");
                g_opt.output = val;
            } else if (is_opt(a, "--filter")) {
                if (!opt_value(argc, argv, &i, "--filter", &val, &m))
                    return usage_error("--filter needs a value");
                g_opt.filter = val;
            } else if (is_opt(a, "--dump-table")) {
                if (!opt_value(argc, argv, &i, "--dump-table", &val, &m))
                    return usage_error("--dump-table needs a value");
                if (!val[0])
                    return usage_error("--dump-table needs a table name");
                g_opt.dumps = xrealloc(g_opt.dumps, (g_opt.ndumps + 1) * sizeof *g_opt.dumps);
                g_opt.dumps[g_opt.ndumps++] = val;
            } else if (is_opt(a, "--thread-tid")) {
                char *end = NULL;
                long long t;
                if (!opt_value(argc, argv, &i, "--thread-tid", &val, &m))
                    return usage_error("--thread-tid needs a value");
                errno = 0;
                t = strtoll(val, &end, 10);
                if (!val[0] || *end || errno)
                    return usage_error("--thread-tid needs an integer, not '%s'", val);
                g_thread_tid = (int64_t)t;
                g_thread_tid_set = true;
            } else if (is_opt(a, "--threads-fixture")) {
                char jerr[256];
                char *text = NULL;
                if (!opt_value(argc, argv, &i, "--threads-fixture", &val, &m))
                    return usage_error("--threads-fixture needs a value");
                if (val[0] == '@') {
                    text = read_text_file(val + 1);
                    if (!text)
                        return usage_error("--threads-fixture: cannot read '%s': %s", val + 1,
                                           strerror(errno));
                }
                jfree(g_fixture);
                g_fixture = json_parse(text ? text : val, jerr, sizeof jerr);
                free(text);
                if (!g_fixture)
                    return usage_error("--threads-fixture is not valid JSON: %s", jerr);
                if (g_fixture->k != J_ARR)
                    return usage_error("--threads-fixture must be a JSON array of objects");
            } else {
                static const char *numeric[] = {"--max-events",     "--cycles",
                                                "--inits",          "--extract-threads",
                                                "--extract-repeat", "--async-wait",
                                                "--routine-threads", NULL};
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
                    } else if (k == 5) {
                        if (v > 3600000)
                            return usage_error("--async-wait is limited to 3600000 ms");
                        g_opt.async_wait_ms = v;
                    } else if (v == 0) {
                        return usage_error("%s must be at least 1", numeric[k]);
                    } else if (k == 1) {
                        g_opt.cycles = v;
                    } else if (k == 2) {
                        if (v > 1000000)
                            return usage_error("--inits is limited to 1000000");
                        g_opt.inits = v;
                    } else if (k == 3) {
                        if (v > 1024)
                            return usage_error("--extract-threads is limited to 1024");
                        g_opt.extract_threads = v;
                    } else if (k == 6) {
                        if (v > 256)
                            return usage_error("--routine-threads is limited to 256");
                        g_opt.routine_threads = v;
                    } else {
                        if (v > 1000000000)
                            return usage_error("--extract-repeat is limited to 1000000000");
                        g_opt.extract_repeat = v;
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
        if (g_opt.extract_threads > g_opt.inits)
            return usage_error("--extract-threads %" PRIu64 " needs --inits %" PRIu64
                               " or more (thread i extracts on state i)",
                               g_opt.extract_threads, g_opt.extract_threads);
        if ((g_opt.extract_threads || g_opt.extract_repeat) && !g_opt.nspecs && !g_opt.output &&
            !g_opt.filter)
            return usage_error("--extract-threads and --extract-repeat need fields to extract "
                               "(--fields, --output or --filter)");
        if (g_opt.offsets && !g_opt.nspecs)
            return usage_error("--offsets needs --fields");
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
