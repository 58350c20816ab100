/*
 * capture.c: one event thread per capturing plugin, as libsinsp's source plugin engine
 * runs it: next_batch until EOF (TIMEOUT retried, FAILURE fatal, events delivered with any
 * return code), each event checked and fixed up like scap does (plugin id, tid, a timestamp
 * per event), then the pipeline of libsinsp: the parsers, the filter (extracting what it
 * needs), and the output (event_to_string and the requested fields) for what passes.
 *
 * The pipeline (process_event) takes any stream of raw scap events: a capture replay is an
 * event source that hands it the events of a file instead of a plugin's batches.
 */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Where a capture's events come from: a plugin's next_batch, or a raw event stream. */
typedef struct evsource {
    ss_plugin_rc (*next)(struct evsource *s, uint32_t *n, ss_plugin_event ***evts);
    const char *(*last_error)(struct evsource *s);
    host_plugin *p;
    const uint8_t *shown; /* per event of the last batch: shown to the user; NULL: all are */
    const uint16_t *cpus; /* per event of the last batch: its cpu; NULL: 0 */
} evsource;

typedef struct {
    host_plugin *p;
    struct xctx *xc;
    struct astream *as;
    ss_plugin_event_input ein;
    sbuf rec;
    uint64_t n;   /* this source's events */
    uint64_t evn; /* event numbers: its events and the async events delivered here */
    uint64_t next_tick; /* P_PROGRESS_EVERY: when the next R_TICK is due (monotonic ns) */
} capture_ctx;

static ss_plugin_rc plugin_next(evsource *s, uint32_t *n, ss_plugin_event ***evts)
{
    host_plugin *p = s->p;
    return ((fp_next_batch_fn)p->api.next_batch)(p->states[0], p->inst, n, evts);
}

static const char *plugin_error(evsource *s) { return plugin_last_error(s->p, s->p->states[0]); }

static ss_plugin_rc from_stream(evsource *s, uint32_t *n, ss_plugin_event ***evts)
{
    return stream_next(s->p, n, evts, &s->shown, &s->cpus);
}

static const char *stream_error_of(evsource *s) { return stream_error(s->p); }

/* The layout of an event with u32 parameter lengths whose first parameter is a plugin id
 * (plugin events, async events): the count, the lengths adding up to the event's. */
bool plugin_id_event_ok(const ss_plugin_event *e, uint32_t nparams, const char *what, char *err,
                        size_t errlen)
{
    const uint8_t *b = (const uint8_t *)e;
    uint64_t sum = 0;
    uint32_t i, head = FP_EVENT_HEADER_LEN + 4 * nparams;
    if (e->nparams != nparams || e->len < head + 4) {
        snprintf(err, errlen,
                 "%s must have %" PRIu32 " parameters and at least %" PRIu32 " bytes (this "
                 "one: %" PRIu32 " parameters, %" PRIu32 " bytes)",
                 what, nparams, head + 4, e->nparams, e->len);
        return false;
    }
    if (rd32(b + 26) != 4) {
        snprintf(err, errlen,
                 "the plugin id parameter of %s must be 4 bytes long, not %" PRIu32, what,
                 rd32(b + 26));
        return false;
    }
    for (i = 0; i < nparams; i++)
        sum += rd32(b + 26 + 4 * i);
    if (head + sum != e->len) {
        snprintf(err, errlen,
                 "event length %" PRIu32 " does not match its parameters (%" PRIu32
                 " parameters: 26 + %" PRIu32 " + %" PRIu64 ")",
                 e->len, nparams, 4 * nparams, sum);
        return false;
    }
    return true;
}

/* Checks of the header (and of a plugin event's parameters) and scap's fix-ups. */
static bool check_event(host_plugin *p, ss_plugin_event *e, char *err, size_t errlen)
{
    uint8_t *b = (uint8_t *)e;
    uint32_t len = e->len, np = e->nparams, i;
    uint16_t type = e->type;

    if (len < FP_EVENT_HEADER_LEN) {
        snprintf(err, errlen, "event length %" PRIu32 " is shorter than the 26-byte header",
                 len);
        return false;
    }
    if (p->id != 0 && (type != FP_PLUGINEVENT_TYPE || np != 2)) {
        snprintf(err, errlen,
                 "malformed plugin event: type %u with %" PRIu32 " parameters, but a plugin "
                 "with an ID must produce events of type %u (PLUGINEVENT) with 2 parameters",
                 (unsigned)type, np, FP_PLUGINEVENT_TYPE);
        return false;
    }
    if (type == FP_PLUGINEVENT_TYPE) {
        uint32_t pid;
        if (!plugin_id_event_ok(e, 2, "a plugin event", err, errlen))
            return false;
        pid = rd32(b + 34);
        if (pid == 0 && p->id != 0) {
            memcpy(b + 34, &p->id, 4);
        } else if (pid == 0) {
            snprintf(err, errlen, "malformed plugin event (no ID): a plugin without an ID must "
                                  "set the plugin id of its plugin events");
            return false;
        } else if (p->id != 0 && pid != p->id) {
            snprintf(err, errlen,
                     "event carries plugin id %" PRIu32 " but the plugin's id is %" PRIu32, pid,
                     p->id);
            return false;
        }
        return true;
    }
    /* other events: u16 parameter lengths, u32 for the types with large payloads */
    {
        bool large = g_opt.large_types_bm && type_in(g_opt.large_types_bm, type);
        uint64_t width = large ? 4 : 2, sum = 0;
        if ((uint64_t)FP_EVENT_HEADER_LEN + width * np > len) {
            snprintf(err, errlen,
                     "event length %" PRIu32 " cannot hold the %" PRIu32 " parameter lengths "
                     "of event type %u",
                     len, np, (unsigned)type);
            return false;
        }
        for (i = 0; i < np; i++)
            sum += large ? rd32(b + 26 + 4 * i) : rd16(b + 26 + 2 * i);
        if ((uint64_t)FP_EVENT_HEADER_LEN + width * np + sum != len) {
            snprintf(err, errlen,
                     "event length %" PRIu32 " does not match its %" PRIu32 " parameters (%s "
                     "lengths, event type %u)",
                     len, np, large ? "4-byte" : "2-byte", (unsigned)type);
            return false;
        }
    }
    return true;
}

/* Calls one parser on an event when its types take it; false on a fatal contract violation. */
bool p_event(pbind *b, const ss_plugin_event_input *ein, const char *src_name)
{
    host_plugin *pl = b->pl;
    ss_plugin_event_parse_input in;
    ss_plugin_rc rc;
    uint16_t type = ein->evt->type;
    if (pl->ptypes_bm ? !type_in(pl->ptypes_bm, type)
                      : !(b->syscall_src || type == FP_PLUGINEVENT_TYPE))
        return true;
    in.owner = b->ow;
    in.get_owner_last_error = host_get_owner_last_error;
    in.table_reader = g_reader_v0;
    in.table_writer = g_writer_v0;
    in.table_reader_ext = &g_reader_ext;
    in.table_writer_ext = &g_writer_ext;
    tl_owner = b->ow;
    rc = ((fp_parse_event_fn)pl->api.parse_event)(b->st, ein, &in);
    tl_owner = NULL;
    b->calls++;
    tbl_after_call(b->ow, "parse_event");
    if (atomic_load_explicit(&pl->table_misuse, memory_order_relaxed)) {
        report_error(pl, "parse",
                     "parse_event misused the table API (see above) (event %" PRIu64 " of %s)",
                     ein->evtnum, src_name);
        return false;
    }
    if (rc != SS_PLUGIN_SUCCESS) {
        b->failures++;
        if (!atomic_exchange(&pl->p_warned, 1))
            report_warning(pl,
                           "parse_event failed (rc=%d) on event %" PRIu64 " of %s: %s "
                           "(libsinsp ignores parse failures; further ones are only counted "
                           "as parse_failures)",
                           (int)rc, ein->evtnum, src_name, plugin_last_error(pl, b->st));
    }
    return true;
}

void p_flush(host_plugin *p)
{
    size_t i;
    for (i = 0; i < p->npb; i++) {
        pbind *b = &p->pb[i];
        atomic_fetch_add(&b->pl->p_calls, b->calls);
        atomic_fetch_add(&b->pl->p_failures, b->failures);
        b->calls = b->failures = 0;
    }
}

/* The output of an event that passed the filter: its requested fields (extracted even with
 * --quiet, as a rule's output would be) and, unless quiet, an R_EVENT record. */
static bool emit_event(capture_ctx *c)
{
    host_plugin *p = c->p;
    const char *info;
    size_t i;
    if (g_opt.quiet) {
        for (i = 0; i < g_nemit; i++)
            if (!x_get(c->xc, g_emit[i], &c->ein, p))
                return false;
        return true;
    }
    info = x_info(c->xc, &c->ein, p);
    rec_begin(&c->rec, R_EVENT);
    rec_u32(&c->rec, p->index);
    rec_u64(&c->rec, c->evn);
    rec_strn(&c->rec, c->ein.evt, c->ein.evt->len);
    rec_str(&c->rec, info);
    if (!x_encode(&c->rec, c->xc, &c->ein, p))
        return false;
    rec_send(&c->rec);
    return true;
}

/* libsinsp's pipeline for one event; false on a fatal error (reported). */
/* The common case, checked in a few instructions: a well-formed plugin event of this plugin
 * (its id filled in when 0). Anything else goes through check_event. */
static inline bool plugin_event_ok(const host_plugin *p, ss_plugin_event *e)
{
    uint8_t *b = (uint8_t *)e;
    uint32_t len = e->len, pid;
    if (e->type != FP_PLUGINEVENT_TYPE || e->nparams != 2 || p->id == 0 ||
        len < FP_PLUGINEVENT_PAYLOAD_OFFSET || rd32(b + 26) != 4 ||
        (uint64_t)FP_PLUGINEVENT_PAYLOAD_OFFSET + rd32(b + 30) != len)
        return false;
    pid = rd32(b + 34);
    if (pid == 0)
        memcpy(b + 34, &p->id, 4);
    return pid == 0 || pid == p->id;
}

__attribute__((noinline, cold)) static bool reject_event(capture_ctx *c, ss_plugin_event *e)
{
    char err[ERRBUF];
    if (check_event(c->p, e, err, sizeof err))
        return false;
    report_error(c->p, "event", "invalid event (number %" PRIu64 "): %s", c->evn + 1, err);
    return true;
}

static inline bool emit_shown(capture_ctx *c, ss_plugin_event *e)
    __attribute__((always_inline));

/* libsinsp stops a capture at an event whose parameter it cannot parse (next() throws) */
__attribute__((noinline, cold)) static bool replay_stop(capture_ctx *c, ss_plugin_event *e)
{
    char err[ERRBUF];
    sstate_bad_param(e, c->evn, err, sizeof err);
    report_error(c->p, "next_batch", "%s", err);
    return false;
}

static bool process_event(capture_ctx *c, ss_plugin_event *e, bool shown, uint16_t cpu)
{
    host_plugin *p = c->p;
    size_t j;
    if (!plugin_event_ok(p, e) && reject_event(c, e))
        return false;
    if (e->ts == UINT64_MAX)
        e->ts = event_now_ns(); /* "now", for each event, as libscap stamps it */
    if (e->type == FP_PLUGINEVENT_TYPE) /* --thread-tid: a thread for parsers and extractors */
        e->tid = g_opt.thread_tid_set ? (uint64_t)g_opt.thread_tid : UINT64_MAX;
    c->evn++;
    c->ein.evt = e;
    c->ein.evtnum = c->evn;
    x_new_event(c->xc, e->ts);
    if (__builtin_expect(p->is_stream && g_sstate_on, 0)) {
        /* a capture replay: libsinsp's own parsers first; its plugin and async events
         * belong to their plugins' sources, not to the syscall plugins loaded here */
        if (!sstate_event(e, cpu))
            return replay_stop(c, e);
        if (e->type == FP_PLUGINEVENT_TYPE || e->type == FP_ASYNCEVENT_TYPE) {
            c->n += shown && e->type != FP_ASYNCEVENT_TYPE; /* async ones are not counted */
            x_skip_plugins(c->xc);
            return !shown || emit_shown(c, e);
        }
    }
    c->n += shown;
    /* parsing comes after sourcing and before extraction, like in libsinsp */
    for (j = 0; j < p->npb; j++)
        if (!p_event(&p->pb[j], &c->ein, p->name))
            return false;
    if (!shown) /* parsed only, as libsinsp keeps some events for the state they carry */
        return true;
    return emit_shown(c, e);
}

/* What libsinsp does with an event it hands its user: the filter, then the output (inlined:
 * the hot path of every source). */
static inline bool emit_shown(capture_ctx *c, ss_plugin_event *e)
{
    host_plugin *p = c->p;
    int pass;
    if (g_opt.extract_threads && !x_extract_all(c->xc, &c->ein, p))
        return false;
    if (g_opt.extract_repeat)
        x_repeat(c->xc, &c->ein, g_opt.extract_repeat);
    if (g_opt.extract_threads)
        x_keep(c->xc, e, c->evn);
    if (g_filtering) {
        pass = filter_eval(c->xc, &c->ein, p);
        if (pass < 0)
            return false;
        if (!pass) {
            p->filtered_out++;
            return true;
        }
    }
    return (g_opt.quiet && !g_nemit) || emit_event(c);
}

/* P_PROGRESS_EVERY: what the capture has done so far, for a live display. get_progress is
 * called here, on the thread that calls next_batch, where libsinsp's readers call it. */
__attribute__((noinline)) static void report_tick(capture_ctx *c)
{
    host_plugin *p = c->p;
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    uint32_t pct = 0;
    const char *txt = NULL;
    bool has = !p->is_stream && p->api.get_progress;
    if (now < c->next_tick)
        return;
    c->next_tick = now + g_opt.tick_ns;
    if (has)
        txt = ((fp_get_progress_fn)p->api.get_progress)(p->states[0], p->inst, &pct);
    rec_begin(&c->rec, R_TICK);
    rec_u32(&c->rec, p->index);
    rec_u64(&c->rec, c->n);
    rec_u8(&c->rec, has);
    rec_u32(&c->rec, pct);
    rec_str(&c->rec, txt);
    rec_send(&c->rec);
}

static bool capture_loop(capture_ctx *c, evsource *src)
{
    host_plugin *p = c->p;
    const uint64_t max = g_opt.max_events;
    for (;;) {
        uint32_t nevts = 0, i;
        ss_plugin_event **evts = NULL;
        ss_plugin_rc rc;
        if (atomic_load_explicit(&g_abort, memory_order_relaxed) || g_stop_signal)
            return true;
        if (c->as && !async_drain(c->as, &c->evn))
            return false;
        if (g_opt.tick_ns)
            report_tick(c);
        rc = src->next(src, &nevts, &evts);
        if (rc == SS_PLUGIN_SUCCESS && nevts == 0) {
            report_error(p, "next_batch", "next_batch returned SUCCESS with no events");
            return false;
        }
        if (rc == SS_PLUGIN_TIMEOUT)
            p->timeouts++;
        if (rc != SS_PLUGIN_SUCCESS && rc != SS_PLUGIN_TIMEOUT && rc != SS_PLUGIN_EOF &&
            rc != SS_PLUGIN_FAILURE) {
            report_error(p, "next_batch", "next_batch returned an unknown return code %d",
                         (int)rc);
            return false;
        }
        if (nevts > 0 && !evts) {
            report_error(p, "next_batch",
                         "next_batch returned %" PRIu32 " events but a NULL event array", nevts);
            return false;
        }
        /* the events of a batch are delivered whatever the return code, like in scap */
        for (i = 0; i < nevts; i++) {
            if (!evts[i]) {
                report_error(p, "event", "event %" PRIu32 " of the batch is a NULL pointer", i);
                return false;
            }
            if (!process_event(c, evts[i], !src->shown || src->shown[i],
                               src->cpus ? src->cpus[i] : 0))
                return false;
            if (max && c->n >= max) {
                p->eof = rc == SS_PLUGIN_EOF && i + 1 == nevts;
                return true;
            }
        }
        if (rc == SS_PLUGIN_FAILURE) {
            report_error(p, "next_batch", "next_batch failed: %s", src->last_error(src));
            return false;
        }
        if (rc == SS_PLUGIN_EOF) {
            p->eof = true;
            return true;
        }
    }
}

void *capture_main(void *arg)
{
    host_plugin *p = arg;
    capture_ctx c;
    evsource src = {plugin_next, plugin_error, p, NULL, NULL};
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
    memset(&c, 0, sizeof c);
    c.p = p;
    c.xc = p->xc;
    c.as = p->as_mine;
    c.ein.evtsrc = p->source;
    if (p->is_stream)
        src = (evsource){from_stream, stream_error_of, p, NULL, NULL};
    if (!capture_loop(&c, &src)) {
        p->failed = true;
        atomic_store(&g_abort, 1);
    }
    p->events = c.n;
    if (c.as)
        async_set_stream_evtnum(c.as, c.evn); /* the main thread delivers the rest later */
    p->capture_ns = clock_ns(CLOCK_MONOTONIC) - t0;
    x_flush(p->xc);
    p_flush(p);
    sb_free(&c.rec);
    return NULL;
}
