/*
 * fp-host: the falco-plugin SDK's own plugin host.
 *
 * A small C11 program that loads Falco plugins (plugin API 3.x) the way
 * libsinsp and Falco do: dlopen with RTLD_LOCAL|RTLD_NOW, symbol and
 * capability checks, the required-API-version check, init config validation
 * against the plugin's JSON schema, init/open on the main thread and the
 * next_batch loop on one event thread per plugin. Field extraction follows
 * libsinsp too: get_fields parsed and checked at load, one field per
 * extract_fields call, events routed by the extractor's sources and types. It
 * prints what it sees as text or as JSON lines so that tests and benchmarks can
 * read it.
 *
 *   fp-host info [--json] PATH.so
 *   fp-host run [run options] PATH.so [--config S] [--open-params S]
 *               [--set-config S] [PATH2.so ...]
 *   run options for fields: --fields LIST, --output FMT, --filter EXPR, --offsets,
 *               --extract-threads N, --extract-repeat K (see the usage text)
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
} host_opts;

static host_opts g_opt = {.cycles = 1, .inits = 1};

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

static void free_xtypes(host_plugin *p)
{
    free(p->xtypes);
    free(p->xtypes_bm);
    p->xtypes = NULL;
    p->xtypes_bm = NULL;
    p->nxtypes = 0;
    p->xtypes_given = false;
}

static void free_plugin_facts(host_plugin *p)
{
    free_fields(p);
    free_xtypes(p);
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
static bool parse_xsources(host_plugin *p, char *err, size_t errlen)
{
    char jerr[256];
    const char *s;
    jnode *j;
    size_t i, k;
    if (!p->api.get_extract_event_sources)
        return true;
    s = p->api.get_extract_event_sources();
    if (!s || !s[0])
        return true;
    j = json_parse(s, jerr, sizeof jerr);
    if (!j || j->k != J_ARR) {
        snprintf(err, errlen, "get_extract_event_sources did not return a JSON array%s%s",
                 j ? "" : ": ", j ? "" : jerr);
        jfree(j);
        return false;
    }
    for (i = 0; i < j->n; i++) {
        bool dup = false;
        if (j->v[i]->k != J_STR) {
            snprintf(err, errlen,
                     "get_extract_event_sources returned an array with a non-string entry");
            jfree(j);
            return false;
        }
        if (!j->v[i]->s[0])
            continue;
        for (k = 0; k < p->nxsources && !dup; k++)
            dup = !strcmp(p->xsources[k], j->v[i]->s);
        if (!dup)
            names_add(&p->xsources, &p->nxsources, j->v[i]->s);
    }
    p->xsources_given = true;
    jfree(j);
    return true;
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
        rc = b->ex->api.extract_fields(b->st, ein, &in);
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
        t0 = clock_ns(CLOCK_MONOTONIC);
        for (j = 0; j < k; j++) {
            f.res.u64 = NULL;
            f.res_len = 0;
            if (pvo)
                pvo->start = pvo->length = NULL;
            fn(st, ein, &in);
        }
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
            ein.evt = e;
            ein.evtnum = n;
            if (xc) {
                const char *who = NULL;
                if (!x_event(xc, &ein, &who, err, sizeof err)) {
                    report_error(who, "extract", "%s (event %" PRIu64 " of %s)", err, n,
                                 p->name);
                    goto fail;
                }
                if (repeat)
                    x_repeat(xc, &ein, repeat);
                if (keep && xc->nchk < X_CHECK_EVENTS)
                    x_keep(xc, e, n);
            }
            if (g_filter && !filter_eval(g_filter, xall->vals)) {
                p->filtered_out++;
                goto next;
            }
            if (e2s)
                info = p->api.event_to_string(st, &ein);
            if (!quiet)
                print_event(p, &line, e, n, info, xall);
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
    p->capture_seconds = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    x_flush(p->xc);
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
 * states each extractor needs: one per capturing plugin whose events it takes (Falco inits
 * a plugin once per event source), and at least --inits. */
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
        bool used = false;
        for (k = 0; k < g_nreq && !used; k++)
            used = g_reqs[k].ex == ex;
        if (!used)
            continue;
        ex->slot_for = xmalloc(np * sizeof *ex->slot_for);
        next = (ex->caps & CAP_SOURCE) ? 1 : 0;
        for (s = 0; s < np; s++) {
            ex->slot_for[s] = X_NO_SLOT;
            if (!(pl[s].caps & CAP_SOURCE) || !x_accepts_source(ex, pl[s].evt_source))
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

static void x_release(host_plugin *pl, size_t np)
{
    size_t i, k;
    for (i = 0; i < np; i++) {
        xctx *xc = pl[i].xc;
        free(pl[i].slot_for);
        pl[i].slot_for = NULL;
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
                rc = b.ex->api.extract_fields(b.st, &ein, &in);
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
        free_xtypes(p);
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
        if (!x_fetch_types(p, p->states[0], err, sizeof err)) {
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

cleanup:
    for (i = 0; i < np; i++)
        close_instance(&pl[i]);
    for (i = loaded_upto; i-- > 0;)
        destroy_states(&pl[i]);
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
    if (st && !x_fetch_types(p, st, err, sizeof err))
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
    static const char *opts[] = {"--max-events",   "--json",          "--quiet",
                                 "--cycles",       "--reload",        "--inits",
                                 "--deepbind",     "--no-event-to-string",
                                 "--fields",       "--output",        "--filter",
                                 "--offsets",      "--extract-threads", "--extract-repeat",
                                 NULL};
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
            } else if (opt_value(argc, argv, &i, "--fields", &val, &m) && m) {
                if (!add_field_specs(val))
                    return usage_error("--fields needs comma-separated field names, not '%s'",
                                       val);
            } else if (!m && !strncmp(a, "--fields", 8) && (a[8] == 0 || a[8] == '=')) {
                return usage_error("--fields needs a value");
            } else if (opt_value(argc, argv, &i, "--output", &val, &m) && m) {
                g_opt.output = val;
            } else if (!m && !strcmp(a, "--output")) {
                return usage_error("--output needs a value");
            } else if (opt_value(argc, argv, &i, "--filter", &val, &m) && m) {
                g_opt.filter = val;
            } else if (!m && !strcmp(a, "--filter")) {
                return usage_error("--filter needs a value");
            } else {
                static const char *numeric[] = {"--max-events", "--cycles", "--inits",
                                                "--extract-threads", "--extract-repeat", NULL};
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
                    } else if (k == 2) {
                        if (v > 1000000)
                            return usage_error("--inits is limited to 1000000");
                        g_opt.inits = v;
                    } else if (k == 3) {
                        if (v > 1024)
                            return usage_error("--extract-threads is limited to 1024");
                        g_opt.extract_threads = v;
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
