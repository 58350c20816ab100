/*
 * wire.c: the engine's two channels to falco_plugin.host (format: proto.h): reading the
 * plan, and writing records (whole records, one at a time, from any thread), including the
 * error, warning and log records every other file reports through.
 */
#include "host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the plan ---- */

static bool read_full(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

bool plan_read_message(int fd, uint8_t **buf, size_t *len)
{
    uint32_t n;
    *buf = NULL;
    *len = 0;
    if (!read_full(fd, &n, 4) || n == 0)
        return false;
    *buf = xmalloc(n);
    if (!read_full(fd, *buf, n)) {
        free(*buf);
        *buf = NULL;
        return false;
    }
    *len = n;
    return true;
}

static const uint8_t *pr_take(plan_reader *r, size_t n)
{
    const uint8_t *p;
    if (r->bad || n > r->n - r->i) {
        r->bad = true;
        return NULL;
    }
    p = r->p + r->i;
    r->i += n;
    return p;
}

uint8_t pr_u8(plan_reader *r)
{
    const uint8_t *p = pr_take(r, 1);
    return p ? p[0] : 0;
}

uint32_t pr_u32(plan_reader *r)
{
    const uint8_t *p = pr_take(r, 4);
    return p ? rd32(p) : 0;
}

uint64_t pr_u64(plan_reader *r)
{
    const uint8_t *p = pr_take(r, 8);
    uint64_t v = 0;
    if (p)
        memcpy(&v, p, 8);
    return v;
}

const uint8_t *pr_bytes(plan_reader *r, uint32_t *len)
{
    uint32_t n = pr_u32(r);
    *len = 0;
    if (n == (uint32_t)FP_NULL_STR || r->bad)
        return NULL;
    *len = n;
    return pr_take(r, n);
}

char *pr_str(plan_reader *r)
{
    uint32_t n;
    const uint8_t *p = pr_bytes(r, &n);
    char *s;
    if (!p)
        return NULL;
    s = xmalloc((size_t)n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* ---- records ---- */

static int g_rec_fd = -1;
static pthread_mutex_t g_rec_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_rec_broken;

void wire_init(int fd) { g_rec_fd = fd; }

void rec_begin(sbuf *b, uint8_t kind)
{
    static const uint8_t zero[4] = {0, 0, 0, 0};
    sb_reset(b);
    sb_add(b, zero, 4);
    sb_add(b, &kind, 1);
}

void rec_u8(sbuf *b, uint8_t v) { sb_add(b, &v, 1); }

void rec_u32(sbuf *b, uint32_t v) { sb_add(b, &v, 4); }

void rec_u64(sbuf *b, uint64_t v) { sb_add(b, &v, 8); }

void rec_strn(sbuf *b, const void *s, size_t n)
{
    uint32_t len = n >= (size_t)FP_NULL_STR ? (uint32_t)FP_NULL_STR - 1 : (uint32_t)n;
    rec_u32(b, len);
    sb_add(b, s, len);
}

void rec_str(sbuf *b, const char *s)
{
    if (!s)
        rec_u32(b, (uint32_t)FP_NULL_STR);
    else
        rec_strn(b, s, strlen(s));
}

void rec_send(sbuf *b)
{
    uint32_t len = (uint32_t)(b->n - 4);
    const char *p = b->p;
    size_t left = b->n;
    memcpy(b->p, &len, 4);
    pthread_mutex_lock(&g_rec_mu);
    while (left && !g_rec_broken) {
        ssize_t k = write(g_rec_fd, p, left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            /* the Python side is gone: nobody reads the run any more, stop it */
            g_rec_broken = true;
            atomic_store(&g_abort, 1);
            break;
        }
        p += k;
        left -= (size_t)k;
    }
    pthread_mutex_unlock(&g_rec_mu);
}

uint32_t plugin_ix(const host_plugin *p) { return p ? p->index : (uint32_t)FP_NO_PLUGIN; }

static void vreport(uint8_t kind, const host_plugin *p, const char *stage, const char *fmt,
                    va_list ap)
{
    char msg[4 * ERRBUF];
    sbuf b = {0};
    vsnprintf(msg, sizeof msg, fmt, ap);
    rec_begin(&b, kind);
    rec_u32(&b, plugin_ix(p));
    if (stage)
        rec_str(&b, stage);
    rec_str(&b, msg);
    rec_send(&b);
    sb_free(&b);
}

void report_error(const host_plugin *p, const char *stage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(R_ERROR, p, stage, fmt, ap);
    va_end(ap);
}

void report_warning(const host_plugin *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(R_WARNING, p, NULL, fmt, ap);
    va_end(ap);
}

/* The logger handed to plugins: one record per message, thread-safe. */
void host_log_fn(ss_plugin_owner_t *o, const char *component, const char *msg,
                 ss_plugin_log_severity sev)
{
    const host_owner *ow = o;
    sbuf b = {0};
    rec_begin(&b, R_LOG);
    rec_u32(&b, (ow && ow->magic == OWNER_MAGIC) ? plugin_ix(ow->plugin) : (uint32_t)FP_NO_PLUGIN);
    rec_str(&b, component);
    rec_u32(&b, (uint32_t)sev);
    rec_str(&b, msg ? msg : "");
    rec_send(&b);
    sb_free(&b);
}
