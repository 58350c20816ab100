/*
 * extract.c: field extraction as libsinsp does it: one field per extract_fields call, on the
 * state that serves the event's source, for the event types the plugin asked for; values
 * copied and checked against the API contract, extracted lazily (on first use in an event:
 * by the filter first, by the output only for events that pass) and kept for the event.
 * Also the benchmark and consistency modes (--extract-repeat, --extract-threads), and the
 * encoding of values into R_EVENT.
 */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define X_MAX_VALUES (1u << 20) /* more values than this for one field is a broken plugin */
#define X_CHECK_EVENTS 10000u   /* events kept per plugin for --extract-threads */

field_req *g_reqs;
size_t g_nreq;
uint32_t *g_emit;
size_t g_nemit;

/* How the events of one capturing plugin reach the extractor of one request. */
typedef struct {
    host_plugin *ex; /* NULL: the extractor does not take this plugin's events */
    ss_plugin_t *st;
    host_owner *ow;
    bool offsets;     /* pass value_offsets (required API >= 3.11) */
    bool syscall_src; /* the events are from the "syscall" source */
    uint64_t failures, calls, ns;
} xbind;

typedef struct xctx {
    xbind *b; /* g_nreq */
    xvalue *vals;
    uint64_t gen; /* the current event; a value with another gen is not extracted yet */
    uint64_t first_ts;
    bool info_done; /* event_to_string was called for the current event */
    bool no_plugins; /* the current event is for no plugin extractor (x_skip_plugins) */
    const char *info;
    sbuf info_copy;
    /* --extract-threads: copies of the first events and the first pass' results */
    size_t nchk;
    uint8_t **chk_evt;
    uint64_t *chk_num;
    size_t *chk_off;
    sbuf chk_blob;
} xctx;

bool x_read_request(plan_reader *r, uint8_t tag)
{
    field_req q;
    memset(&q, 0, sizeof q);
    q.canon = pr_str(r);
    if (tag == P_SYSREQ) {
        q.evt_code = pr_u32(r);
        q.ftype = pr_u32(r);
        q.is_list = pr_u8(r) != 0;
        q.arg_index = pr_u64(r);
        q.arg_key = pr_str(r);
        q.name = "sys";
    } else if (tag == P_EVTREQ) {
        q.evt_code = pr_u32(r);
        q.ftype = pr_u32(r);
        q.name = "evt";
    } else {
        uint32_t pi = pr_u32(r);
        uint32_t fi = pr_u32(r);
        if (pi >= g_np || fi >= g_pl[pi].nfields)
            return false;
        q.ex = &g_pl[pi];
        q.field_id = fi;
        q.name = q.ex->fields[fi].name;
        q.ftype = q.ex->fields[fi].ftype;
        q.is_list = q.ex->fields[fi].is_list;
        q.arg_present = pr_u8(r) != 0;
        q.arg_index = pr_u64(r);
        q.arg_key = pr_str(r);
    }
    g_reqs = xrealloc(g_reqs, (g_nreq + 1) * sizeof *g_reqs);
    g_reqs[g_nreq++] = q;
    return !r->bad;
}

/* Binds each capturing plugin's events to the extractor states (after init). */
void x_bind_all(void)
{
    size_t s, i;
    for (s = 0; s < g_np; s++) {
        host_plugin *src = &g_pl[s];
        xctx *xc;
        if (!(src->caps & CAP_SOURCE))
            continue;
        xc = xcalloc(1, sizeof *xc);
        xc->b = xcalloc(g_nreq, sizeof *xc->b);
        xc->vals = xcalloc(g_nreq, sizeof *xc->vals);
        xc->first_ts = UINT64_MAX;
        for (i = 0; i < g_nreq; i++) {
            host_plugin *ex = g_reqs[i].ex;
            xbind *b = &xc->b[i];
            uint64_t slot;
            if (!ex || !ex->slot_for || ex->slot_for[s] == X_NO_SLOT || !ex->xsrc[s])
                continue;
            slot = ex->slot_for[s];
            b->ex = ex;
            b->st = ex->states[slot];
            b->ow = &ex->owners[slot];
            b->offsets = g_opt.offsets && ex->req_minor >= 11;
            b->syscall_src = !strcmp(src->source, "syscall");
        }
        src->xc = xc;
    }
}

static void xv_free(xvalue *v)
{
    free(v->e);
    sb_free(&v->s);
    memset(v, 0, sizeof *v);
}

void x_release_all(void)
{
    size_t i, k;
    for (i = 0; i < g_np; i++) {
        xctx *xc = g_pl[i].xc;
        if (!xc)
            continue;
        for (k = 0; k < g_nreq; k++)
            xv_free(&xc->vals[k]);
        for (k = 0; k < xc->nchk; k++)
            free(xc->chk_evt[k]);
        free(xc->chk_evt);
        free(xc->chk_num);
        free(xc->chk_off);
        sb_free(&xc->chk_blob);
        sb_free(&xc->info_copy);
        free(xc->vals);
        free(xc->b);
        free(xc);
        g_pl[i].xc = NULL;
    }
}

void x_new_event(xctx *xc, uint64_t ts)
{
    xc->gen++;
    xc->info_done = false;
    xc->no_plugins = false;
    if (xc->first_ts == UINT64_MAX)
        xc->first_ts = ts;
}

uint64_t x_first_ts(const xctx *xc) { return xc->first_ts; }

void x_skip_plugins(xctx *xc) { xc->no_plugins = true; }

/* ---- one extract_fields call ---- */

/* Is an event of this type, from this binding's source, given to the extractor? */
static inline bool xb_accepts(const xbind *b, uint16_t type)
{
    const host_plugin *ex = b->ex;
    if (!ex)
        return false;
    if (ex->xtypes_bm)
        return type_in(ex->xtypes_bm, type);
    return b->syscall_src || type == FP_PLUGINEVENT_TYPE;
}

static void x_setup(const field_req *r, const xbind *b, ss_plugin_field_extract_input *in,
                    ss_plugin_extract_field *f, ss_plugin_extract_value_offsets *vo)
{
    memset(in, 0, sizeof *in);
    memset(f, 0, sizeof *f);
    f->field_id = r->field_id;
    f->field = r->name;
    f->arg_key = r->arg_key;
    f->arg_index = r->arg_index;
    f->arg_present = r->arg_present;
    f->ftype = r->ftype;
    f->flist = r->is_list;
    in->owner = b->ow;
    in->get_owner_last_error = host_get_owner_last_error;
    in->num_fields = 1;
    in->fields = f;
    in->table_reader = g_reader_v0;
    in->table_reader_ext = &g_reader_ext;
    /* plugins older than 3.11 have the shorter input struct: they never get offsets */
    in->value_offsets = vo;
}

static void xv_clear(xvalue *v)
{
    v->present = false;
    v->n = 0;
    v->off_given = false;
    sb_reset(&v->s);
}

static xelem *xv_reserve(xvalue *v, uint64_t n)
{
    if (n > v->cap) {
        v->cap = n < 8 ? 8 : n;
        v->e = xrealloc(v->e, v->cap * sizeof *v->e);
    }
    return v->e;
}

#define XERR(...) (err ? snprintf(err, errlen, __VA_ARGS__) : 0)

/* Checks and copies what extract_fields returned; false on a contract violation (and the
 * message in err, when err is not NULL). */
static bool xv_store(const field_req *r, ss_plugin_rc rc, const ss_plugin_extract_field *f,
                     const ss_plugin_extract_value_offsets *vo, xvalue *v, char *err,
                     size_t errlen)
{
    uint64_t n = f->res_len, i;
    uint32_t ft = r->ftype;
    xv_clear(v);
    if (rc != SS_PLUGIN_SUCCESS || n == 0)
        return true;
    if (n > 1 && !r->is_list) {
        XERR(
                 "extract_fields returned %" PRIu64 " values (res_len) for the non-list field "
                 "'%s': it must be 0 or 1",
                 n, r->canon);
        return false;
    }
    if (n > X_MAX_VALUES) {
        XERR(
                 "extract_fields returned %" PRIu64 " values (res_len) for field '%s', more "
                 "than the host accepts (%u)",
                 n, r->canon, X_MAX_VALUES);
        return false;
    }
    if (!f->res.u64) {
        XERR(
                 "extract_fields returned %" PRIu64 " values for field '%s' but a NULL result "
                 "pointer",
                 n, r->canon);
        return false;
    }
    xv_reserve(v, n);
    for (i = 0; i < n; i++) {
        xelem *e = &v->e[i];
        if (ft == FTYPE_STRING) {
            const char *s = f->res.str[i];
            size_t len;
            if (!s) {
                XERR(
                         "extract_fields returned a NULL string (value %" PRIu64
                         ") for field '%s'",
                         i, r->canon);
                return false;
            }
            len = strlen(s);
            if (len > UINT32_MAX) {
                XERR( "extract_fields returned a string of %zu bytes for '%s'",
                         len, r->canon);
                return false;
            }
            e->soff = v->s.n;
            e->slen = (uint32_t)len;
            sb_add(&v->s, s, len + 1);
        } else if (ft == FTYPE_IPADDR || ft == FTYPE_IPNET) {
            const ss_plugin_byte_buffer *bb = &f->res.buf[i];
            if (bb->len != 4 && bb->len != 16) {
                XERR(
                         "extract_fields returned a %" PRIu32 "-byte address (value %" PRIu64
                         ") for the %s field '%s': it must be 4 (IPv4) or 16 (IPv6) bytes",
                         bb->len, i, ft == FTYPE_IPADDR ? "ipaddr" : "ipnet", r->canon);
                return false;
            }
            if (!bb->ptr) {
                XERR(
                         "extract_fields returned a NULL buffer (value %" PRIu64
                         ") for field '%s'",
                         i, r->canon);
                return false;
            }
            e->iplen = (uint8_t)bb->len;
            memcpy(e->ip, bb->ptr, bb->len);
        } else if (ft == FTYPE_BOOL) {
            e->u = f->res.boolean[i];
        } else {
            e->u = f->res.u64[i];
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

/* What went wrong with a call (cold): a table misuse, or a contract violation of the
 * result; false when the run must stop (reported). */
__attribute__((noinline, cold)) static bool x_trouble(xbind *b, size_t i, ss_plugin_rc rc,
                                                      const ss_plugin_extract_field *f,
                                                      const ss_plugin_extract_value_offsets *vo,
                                                      const ss_plugin_event_input *ein,
                                                      host_plugin *src, xvalue *v)
{
    const field_req *r = &g_reqs[i];
    char err[ERRBUF];
    if (atomic_load_explicit(&b->ex->table_misuse, memory_order_relaxed)) {
        report_error(b->ex, "extract", "extract_fields misused the table API (see above) "
                     "(event %" PRIu64 " of %s)", ein->evtnum, plugin_label(src));
        return false;
    }
    if (rc != SS_PLUGIN_SUCCESS) {
        b->failures++;
        if (!atomic_exchange(&b->ex->x_warned, 1))
            report_warning(b->ex,
                           "extract_fields failed for field '%s' (rc=%d): %s (the value is "
                           "absent; further failures are only counted as extract_failures)",
                           r->canon, (int)rc, plugin_last_error(b->ex, b->st));
    }
    if (!xv_store(r, rc, f, vo, v, err, sizeof err)) {
        report_error(b->ex, "extract", "%s (event %" PRIu64 " of %s)", err, ein->evtnum,
                     plugin_label(src));
        return false;
    }
    return true;
}

/* One extract_fields call for request i into v; false (reported) on a fatal violation. */
static inline bool x_call(xbind *b, size_t i, const ss_plugin_event_input *ein,
                          host_plugin *src, xvalue *v)
{
    const field_req *r = &g_reqs[i];
    ss_plugin_field_extract_input in;
    ss_plugin_extract_field f;
    ss_plugin_extract_value_offsets vo = {NULL, NULL};
    ss_plugin_rc rc;
    x_setup(r, b, &in, &f, b->offsets ? &vo : NULL);
    tl_owner = b->ow;
    rc = ((fp_extract_fields_fn)b->ex->api.extract_fields)(b->st, ein, &in);
    tl_owner = NULL;
    tbl_after_call(b->ow, "extract_fields");
    if (__builtin_expect(rc != SS_PLUGIN_SUCCESS ||
                             atomic_load_explicit(&b->ex->table_misuse, memory_order_relaxed) ||
                             !xv_store(r, rc, &f, b->offsets ? &vo : NULL, v, NULL, 0),
                         0))
        return x_trouble(b, i, rc, &f, b->offsets ? &vo : NULL, ein, src, v);
    return true;
}

const xvalue *x_get(xctx *xc, size_t req, const ss_plugin_event_input *ein, host_plugin *src)
{
    xvalue *v = &xc->vals[req];
    xbind *b = &xc->b[req];
    if (v->gen == xc->gen)
        return v;
    v->gen = xc->gen;
    if (!g_reqs[req].ex) {
        bool ok = g_reqs[req].evt_code >= SF_PROC_EXE
                      ? sysf_field(&g_reqs[req], ein, v)
                      : evt_field(g_reqs[req].evt_code, xc, ein, src, v);
        if (!ok)
            xv_clear(v);
        return v;
    }
    if (!xb_accepts(b, ein->evt->type) || xc->no_plugins) {
        xv_clear(v);
        return v;
    }
    return x_call(b, req, ein, src, v) ? v : NULL;
}

/* One value of a host field: a number, a string, or one more string of a list. */
void xv_set_u64(xvalue *v, uint64_t u)
{
    xv_reserve(v, 8);
    sb_reset(&v->s);
    v->e[0].u = u;
    v->n = 1;
    v->present = true;
    v->off_given = false;
}

void xv_set_str(xvalue *v, const char *s, size_t n)
{
    xv_set_u64(v, 0);
    sb_add(&v->s, s, n);
    sb_add(&v->s, "", 1);
    v->e[0].soff = 0;
    v->e[0].slen = (uint32_t)n;
}

void xv_add_str(xvalue *v, const char *s, size_t n)
{
    xelem *e;
    if (!v->present) {
        xv_set_str(v, s, n);
        return;
    }
    xv_reserve(v, v->n + 1);
    e = &v->e[v->n++];
    memset(e, 0, sizeof *e);
    e->soff = v->s.n;
    e->slen = (uint32_t)n;
    sb_add(&v->s, s, n);
    sb_add(&v->s, "", 1);
}

void xv_set_ip(xvalue *v, const void *ip, uint8_t len)
{
    xv_set_u64(v, 0);
    v->e[0].iplen = len;
    memcpy(v->e[0].ip, ip, len);
}

/* What event_to_string says about the current event (NULL: nothing), called once per event. */
const char *x_info(xctx *xc, const ss_plugin_event_input *ein, host_plugin *src)
{
    if (xc->info_done)
        return xc->info;
    xc->info_done = true;
    xc->info = NULL;
    if (src->api.event_to_string && !g_opt.no_e2s) {
        const char *s = ((fp_event_to_string_fn)src->api.event_to_string)(src->states[0], ein);
        if (s) {
            sb_reset(&xc->info_copy);
            sb_adds(&xc->info_copy, s);
            xc->info = sb_str(&xc->info_copy);
        }
    }
    return xc->info;
}

bool x_extract_all(xctx *xc, const ss_plugin_event_input *ein, host_plugin *src)
{
    size_t i;
    for (i = 0; i < g_nreq; i++)
        if (!x_get(xc, i, ein, src))
            return false;
    return true;
}

/* --extract-repeat: K more calls per plugin request, timed (results are not looked at). */
void x_repeat(xctx *xc, const ss_plugin_event_input *ein, uint64_t k)
{
    size_t i;
    for (i = 0; i < g_nreq; i++) {
        xbind *b = &xc->b[i];
        ss_plugin_field_extract_input in;
        ss_plugin_extract_field f;
        ss_plugin_extract_value_offsets vo;
        ss_plugin_extract_value_offsets *pvo = b->offsets ? &vo : NULL;
        fp_extract_fields_fn fn;
        uint64_t t0, j;
        if (!xb_accepts(b, ein->evt->type))
            continue;
        fn = (fp_extract_fields_fn)b->ex->api.extract_fields;
        x_setup(&g_reqs[i], b, &in, &f, pvo);
        tl_owner = b->ow;
        t0 = clock_ns(CLOCK_MONOTONIC);
        for (j = 0; j < k; j++) {
            f.res.u64 = NULL;
            f.res_len = 0;
            if (pvo)
                pvo->start = pvo->length = NULL;
            fn(b->st, ein, &in);
            tbl_after_call(b->ow, "extract_fields");
        }
        tl_owner = NULL;
        b->ns += clock_ns(CLOCK_MONOTONIC) - t0;
        b->calls += k;
    }
}

/* Adds a capture's counters to the extractors' totals. */
void x_flush(xctx *xc)
{
    size_t i;
    if (!xc)
        return;
    for (i = 0; i < g_nreq; i++) {
        xbind *b = &xc->b[i];
        if (!b->ex)
            continue;
        atomic_fetch_add(&b->ex->x_failures, b->failures);
        atomic_fetch_add(&b->ex->x_calls, b->calls);
        atomic_fetch_add(&b->ex->x_ns, b->ns);
        b->failures = b->calls = b->ns = 0;
    }
}

/* ---- values on the wire (R_EVENT) and in canonical form (--extract-threads) ---- */

static void xe_encode(sbuf *b, uint32_t ft, const xvalue *v, const xelem *e)
{
    if (ft == FTYPE_STRING) {
        rec_strn(b, xv_str(v, e), e->slen);
    } else if (ft == FTYPE_IPADDR || ft == FTYPE_IPNET) {
        rec_u8(b, e->iplen);
        sb_add(b, e->ip, e->iplen);
    } else {
        rec_u64(b, e->u);
    }
}

static void xv_encode(sbuf *b, uint32_t ft, const xvalue *v, bool offsets)
{
    uint64_t i;
    rec_u8(b, v->present);
    rec_u8(b, offsets && v->off_given);
    rec_u32(b, v->off_given ? v->off_start : 0);
    rec_u32(b, v->off_given ? v->off_len : 0);
    rec_u32(b, v->present ? (uint32_t)v->n : 0);
    for (i = 0; v->present && i < v->n; i++)
        xe_encode(b, ft, v, &v->e[i]);
}

/* The emitted requests' values of the current event, extracting what is not yet. */
bool x_encode(sbuf *b, xctx *xc, const ss_plugin_event_input *ein, host_plugin *src)
{
    size_t i;
    for (i = 0; i < g_nemit; i++) {
        const xvalue *v = x_get(xc, g_emit[i], ein, src);
        if (!v)
            return false;
        xv_encode(b, g_reqs[g_emit[i]].ftype, v, true);
    }
    return true;
}

/* --extract-threads: keeps a copy of the event and the first pass' results. */
void x_keep(xctx *xc, const ss_plugin_event *e, uint64_t evtnum)
{
    size_t i;
    if (xc->nchk >= X_CHECK_EVENTS)
        return;
    if (!xc->chk_evt) {
        xc->chk_evt = xcalloc(X_CHECK_EVENTS, sizeof *xc->chk_evt);
        xc->chk_num = xcalloc(X_CHECK_EVENTS, sizeof *xc->chk_num);
        xc->chk_off = xcalloc(X_CHECK_EVENTS, sizeof *xc->chk_off);
    }
    xc->chk_evt[xc->nchk] = xmalloc(e->len);
    memcpy(xc->chk_evt[xc->nchk], e, e->len);
    xc->chk_num[xc->nchk] = evtnum;
    xc->chk_off[xc->nchk] = xc->chk_blob.n;
    for (i = 0; i < g_nreq; i++) {
        size_t at = xc->chk_blob.n;
        uint32_t len;
        rec_u32(&xc->chk_blob, 0);
        xv_encode(&xc->chk_blob, g_reqs[i].ftype, &xc->vals[i], true);
        len = (uint32_t)(xc->chk_blob.n - at - 4);
        memcpy(xc->chk_blob.p + at, &len, 4);
    }
    xc->nchk++;
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
    host_plugin *who;
    char err[ERRBUF];
} xcheck_thread;

/* Thread idx re-extracts the kept events on state idx of each extractor. */
static void *xcheck_main(void *arg)
{
    xcheck_thread *t = arg;
    xctx *xc = t->p->xc;
    xvalue *vals = xcalloc(g_nreq ? g_nreq : 1, sizeof *vals);
    sbuf ser = {0};
    ss_plugin_event_input ein;
    size_t e, i;
    bool abort_now;

    pthread_mutex_lock(&t->start->mu);
    while (!t->start->go)
        pthread_cond_wait(&t->start->cv, &t->start->mu);
    abort_now = t->start->abort;
    pthread_mutex_unlock(&t->start->mu);

    ein.evtsrc = t->p->source;
    for (e = 0; e < xc->nchk && !abort_now && !t->failed; e++) {
        const uint8_t *blob = (const uint8_t *)xc->chk_blob.p + xc->chk_off[e];
        size_t pos = 0;
        ein.evt = (const ss_plugin_event *)xc->chk_evt[e];
        ein.evtnum = xc->chk_num[e];
        for (i = 0; i < g_nreq; i++) {
            uint32_t seglen = rd32(blob + pos);
            const uint8_t *seg = blob + pos + 4;
            xbind b = xc->b[i];
            pos += 4 + (size_t)seglen;
            if (!g_reqs[i].ex)
                continue; /* the host's own fields: nothing to check */
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
                rc = ((fp_extract_fields_fn)b.ex->api.extract_fields)(b.st, &ein, &in);
                tl_owner = NULL;
                tbl_after_call(b.ow, "extract_fields");
                t->calls++;
                if (!xv_store(&g_reqs[i], rc, &f, b.offsets ? &vo : NULL, &vals[i], t->err,
                              sizeof t->err)) {
                    t->failed = true;
                    t->who = b.ex;
                    break;
                }
            }
            sb_reset(&ser);
            xv_encode(&ser, g_reqs[i].ftype, &vals[i], true);
            if (ser.n != seglen || memcmp(ser.p, seg, seglen) != 0)
                t->mismatches++;
        }
    }
    for (i = 0; i < g_nreq; i++)
        xv_free(&vals[i]);
    free(vals);
    sb_free(&ser);
    return NULL;
}

/* --extract-threads N: the kept events of plugin p, re-extracted on N threads at once. */
bool x_check(host_plugin *p)
{
    uint64_t n = g_opt.extract_threads, i, started = 0, calls = 0, mism = 0;
    xcheck_thread *th;
    pthread_t *tids;
    xstart start;
    bool ok = true, any = false;
    sbuf b = {0};
    for (i = 0; p->xc && i < g_nreq; i++)
        any = any || p->xc->b[i].ex;
    if (!any)
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
            report_error(p, "extract_check", "cannot start a thread: %s", strerror(e));
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
    rec_begin(&b, R_EXTRACT_CHECK);
    rec_u32(&b, p->index);
    rec_u64(&b, n);
    rec_u64(&b, p->xc->nchk);
    rec_u64(&b, calls);
    rec_u64(&b, mism);
    rec_send(&b);
    for (i = 0; i < n; i++) {
        if (th[i].failed) {
            report_error(th[i].who, "extract", "%s (extract check thread %" PRIu64 ")",
                         th[i].err, i);
            ok = false;
            break;
        }
    }
    if (ok && mism) {
        report_error(p, "extract_check",
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
