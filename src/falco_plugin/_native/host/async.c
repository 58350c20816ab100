/*
 * async.c: async events as libsinsp takes them. Every state of an async plugin gets
 * host_async_handler through set_async_event_handler (on the main thread, once the sources
 * are open, like libsinsp at capture start) and loses it with set_async_event_handler(NULL)
 * after the captures. The handler may be called from any thread: it checks the event (type
 * 402, three parameters with u32 lengths: plugin id, NUL-terminated name listed by
 * get_async_events, data), copies it and queues it on a stream, refusing with a message in
 * the plugin's err buffer.
 *
 * A stream is where async events are delivered: the event stream of a capturing plugin
 * (Python picks the first whose source the plugin's get_async_event_sources accepts), or the
 * host's own stream, reported as "syscall". A capturing plugin's event thread drains its
 * stream before every next_batch call; the host's stream is drained by a delivery thread
 * during the captures; after them the main thread drains every stream. Each stream keeps up
 * to AQ_CAP events: a handler that finds its stream full waits up to AQ_FULL_WAIT_NS for
 * room, then refuses the event. Async events get the stream's plugin id (0 for syscall) and
 * event numbers, go to the stream's parsers, and are reported as R_ASYNC; field extraction
 * and the filter do not apply to them (README: deviations).
 *
 * dump_state gets host_dump_handler instead, which only takes events while dump_state runs:
 * they are kept without a bound and reported with the dump flag after it returns.
 */
#include "host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AQ_CAP 4096u
#define AQ_FULL_WAIT_NS 50000000ull
#define AQ_MAX_EVENT (64u << 20)
#define ASYNC_PARAMS_LEN 12u /* three u32 parameter lengths */
#define ASYNC_ID_OFFSET (FP_EVENT_HEADER_LEN + ASYNC_PARAMS_LEN)
#define ASYNC_NAME_OFFSET (ASYNC_ID_OFFSET + 4u)

_Static_assert(ASYNC_ID_OFFSET == 38 && ASYNC_NAME_OFFSET == 42, "async event layout");

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
static astream *g_streams; /* g_np + 1: the last one is the host's own */
static size_t g_nstreams;
static bool g_deliver_stop;
static pthread_t g_deliver_thread;
static bool g_deliver_started;

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

/* Gives every async plugin the stream the plan chose (after load, before init). */
void async_setup(void)
{
    size_t i, s;
    pthread_once(&g_async_once, async_once);
    g_nstreams = g_np + 1;
    g_streams = xcalloc(g_nstreams, sizeof *g_streams);
    for (s = 0; s < g_np; s++) {
        g_pl[s].as_to = g_pl[s].as_mine = NULL;
        g_streams[s].source = g_pl[s].source;
        g_streams[s].id = g_pl[s].id;
        g_streams[s].src = &g_pl[s];
    }
    g_streams[g_np].source = "syscall";
    for (i = 0; i < g_np; i++) {
        host_plugin *a = &g_pl[i];
        astream *as;
        if (!(a->caps & CAP_ASYNC))
            continue;
        as = &g_streams[a->async_stream < g_np ? a->async_stream : g_np];
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
void async_teardown(void)
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
    for (i = 0; i < g_np; i++)
        g_pl[i].as_to = g_pl[i].as_mine = NULL;
    pthread_mutex_unlock(&g_async_mu);
}

void async_set_stream_evtnum(astream *as, uint64_t evtnum) { as->evtnum = evtnum; }

/* Checks an async event's layout and name; the message goes to msg on failure. */
static bool async_check(const host_plugin *p, const ss_plugin_event *evt, char *msg,
                        size_t msglen)
{
    const uint8_t *b = (const uint8_t *)evt;
    uint32_t len, l2;
    const char *name;
    size_t i;
    if (!evt) {
        snprintf(msg, msglen, "the event is a NULL pointer");
        return false;
    }
    len = evt->len;
    if (evt->type != FP_ASYNCEVENT_TYPE) {
        snprintf(msg, msglen, "event type %u is not an async event: it must be %u (ASYNCEVENT)",
                 (unsigned)evt->type, FP_ASYNCEVENT_TYPE);
        return false;
    }
    if (!plugin_id_event_ok(evt, 3, "an async event (plugin id, name, data)", msg, msglen))
        return false;
    l2 = rd32(b + 30);
    if (len > AQ_MAX_EVENT) {
        snprintf(msg, msglen,
                 "async event of %" PRIu32 " bytes is larger than the host's limit of %u bytes",
                 len, AQ_MAX_EVENT);
        return false;
    }
    name = (const char *)b + ASYNC_NAME_OFFSET;
    if (l2 == 0 || name[l2 - 1] != 0 || memchr(name, 0, l2 - 1) != NULL) {
        snprintf(msg, msglen,
                 "the name parameter of an async event must be one NUL-terminated string "
                 "(%" PRIu32 " bytes)",
                 l2);
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
            report_warning(p,
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

/* The checks both handlers make, the owner's and the event's: its owner, or NULL when the
 * event was refused (err set). */
static host_owner *async_checked(ss_plugin_owner_t *o, const ss_plugin_event *evt, char *err)
{
    char msg[FP_MAX_ERRLEN];
    host_owner *ow = async_owner(o, err);
    if (ow && !async_check(ow->plugin, evt, msg, sizeof msg)) {
        async_refuse(ow->plugin, err, msg);
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
        ts = event_now_ns();
        memcpy(copy, &ts, 8);
    }
    return copy;
}

static ss_plugin_rc host_async_handler(ss_plugin_owner_t *o, const ss_plugin_event *evt,
                                       char *err)
{
    host_owner *ow = async_checked(o, evt, err);
    host_plugin *p;
    char msg[FP_MAX_ERRLEN];
    uint8_t *copy;
    astream *as;
    if (!ow)
        return SS_PLUGIN_FAILURE;
    p = ow->plugin;
    copy = async_copy(evt);
    pthread_mutex_lock(&g_async_mu);
    as = p->as_to;
    if (ow->async_on && as && as->count == AQ_CAP) {
        struct timespec until = mono_deadline(AQ_FULL_WAIT_NS);
        while (ow->async_on && as->count == AQ_CAP)
            if (pthread_cond_timedwait(&g_async_space, &g_async_mu, &until) == ETIMEDOUT)
                break;
    }
    if (!ow->async_on || !as)
        snprintf(msg, sizeof msg, "the async event handler is not set on this plugin state (it "
                                  "refuses events once set_async_event_handler(NULL) was called)");
    else if (as->id != 0 && evt->tid != UINT64_MAX) /* as libsinsp refuses them */
        snprintf(msg, sizeof msg,
                 "async events of plugin '%s' can have no thread associated with open event "
                 "source '%s' (tid %" PRId64 ")",
                 p->name, as->source, (int64_t)evt->tid);
    else if (as->count == AQ_CAP)
        snprintf(msg, sizeof msg, "async event queue full (%u events waiting for delivery to %s)",
                 AQ_CAP, as->source);
    else
        msg[0] = 0;
    if (msg[0]) {
        pthread_mutex_unlock(&g_async_mu);
        free(copy);
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
    host_owner *ow = async_checked(o, evt, err);
    host_plugin *p;
    astream *as;
    if (!ow)
        return SS_PLUGIN_FAILURE;
    p = ow->plugin;
    pthread_mutex_lock(&g_async_mu);
    as = p->as_to;
    if (!ow->dumping || !as) {
        pthread_mutex_unlock(&g_async_mu);
        return async_refuse(p, err, "the dump_state handler only takes events while dump_state "
                                    "runs");
    }
    as->dumps = xrealloc(as->dumps, (as->ndumps + 1) * sizeof *as->dumps);
    as->dumps[as->ndumps++] = (aev){p, async_copy(evt)};
    pthread_mutex_unlock(&g_async_mu);
    return SS_PLUGIN_SUCCESS;
}

/* Parses (on a capturing plugin's stream) and reports one async event; false when a parser
 * broke the table contract (reported). */
static bool async_deliver(astream *as, const aev *a, bool dump, uint64_t *evtnum)
{
    ss_plugin_event *e = (ss_plugin_event *)a->evt;
    uint64_t n = ++*evtnum;
    size_t j;
    sbuf b = {0};

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
    rec_begin(&b, R_ASYNC);
    rec_u32(&b, as->src ? as->src->index : (uint32_t)FP_NO_PLUGIN);
    rec_u32(&b, a->from->index);
    rec_u8(&b, dump);
    rec_u64(&b, n);
    rec_strn(&b, e, e->len);
    rec_send(&b);
    sb_free(&b);
    return true;
}

/* Delivers what is queued on a stream, in order of arrival (one consumer at a time). */
bool async_drain(astream *as, uint64_t *evtnum)
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
        if (ok && !async_deliver(as, &as->scratch[i], false, evtnum))
            ok = false;
        free(as->scratch[i].evt);
    }
    return ok;
}

/* The main thread, after the captures: every stream. */
bool async_drain_all(void)
{
    size_t s;
    bool ok = true;
    for (s = 0; s < g_nstreams; s++) {
        astream *as = &g_streams[s];
        if (!as->nasync)
            continue;
        if (!async_drain(as, &as->evtnum))
            ok = false;
        if (as->src)
            p_flush(as->src);
    }
    return ok;
}

static bool async_deliver_dumps(astream *as)
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
        if (ok && !async_deliver(as, &d[i], true, &as->evtnum))
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
    for (;;) {
        bool stop;
        if (!async_drain(as, &as->evtnum)) {
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
    return NULL;
}

/* The delivery thread of the host's own stream, while sources run (when both exist). */
bool async_start_delivery(void)
{
    size_t i, nsources = 0;
    int e;
    for (i = 0; i < g_np; i++)
        nsources += g_pl[i].opened;
    if (!nsources || !g_streams[g_np].nasync)
        return true;
    g_deliver_stop = false;
    e = pthread_create(&g_deliver_thread, NULL, async_loop_main, &g_streams[g_np]);
    if (e != 0) {
        report_error(NULL, "async", "cannot start the async delivery thread: %s", strerror(e));
        return false;
    }
    g_deliver_started = true;
    return true;
}

void async_stop_delivery(void)
{
    if (!g_deliver_started)
        return;
    pthread_mutex_lock(&g_async_mu);
    g_deliver_stop = true;
    pthread_cond_broadcast(&g_async_cv);
    pthread_mutex_unlock(&g_async_mu);
    pthread_join(g_deliver_thread, NULL);
    g_deliver_started = false;
}

/* The async events this capture delivered so far, from every plugin. */
static uint64_t async_delivered(void)
{
    uint64_t n = 0;
    size_t i;
    for (i = 0; i < g_np; i++)
        n += atomic_load(&g_pl[i].async_events);
    return n;
}

/* --async-wait: keeps delivering (and the routines running) for ms milliseconds, or until the
 * capture has delivered `until` async events (--async-until; 0: the whole time). */
bool async_wait(uint64_t ms, uint64_t until)
{
    uint64_t end = clock_ns(CLOCK_MONOTONIC) + ms * 1000000ull;
    for (;;) {
        uint64_t now;
        bool any = false;
        size_t s;
        if (!async_drain_all())
            return false;
        now = clock_ns(CLOCK_MONOTONIC);
        if (now >= end || atomic_load(&g_abort) || g_stop_signal)
            return true;
        if (until && async_delivered() >= until)
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
bool async_set_all(bool on, bool report)
{
    size_t i;
    uint64_t k;
    bool ok = true;
    for (i = 0; i < g_np; i++) {
        host_plugin *p = &g_pl[i];
        fp_set_async_event_handler_fn set = (fp_set_async_event_handler_fn)p->api.set_async_event_handler;
        if (!(p->caps & CAP_ASYNC) || !set)
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
                rc = set(p->states[k], ow, host_async_handler);
            } else {
                if (!ow->async_set)
                    continue;
                rc = set(p->states[k], ow, NULL);
                pthread_mutex_lock(&g_async_mu);
                ow->async_on = ow->async_set = false;
                pthread_cond_broadcast(&g_async_space);
                pthread_mutex_unlock(&g_async_mu);
            }
            if (rc != SS_PLUGIN_SUCCESS) {
                if (report)
                    report_error(p, "async", "set_async_event_handler(%s) failed (rc=%d): %s",
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
bool async_dump_all(void)
{
    size_t i;
    for (i = 0; i < g_np; i++) {
        host_plugin *p = &g_pl[i];
        host_owner *ow;
        ss_plugin_rc rc;
        if (!(p->caps & CAP_ASYNC) || !p->nstates || !p->states[0])
            continue;
        if (!p->api.dump_state) {
            report_warning(p, "--dump-state: the plugin does not export plugin_dump_state");
            continue;
        }
        ow = &p->owners[0];
        pthread_mutex_lock(&g_async_mu);
        ow->dumping = true;
        pthread_mutex_unlock(&g_async_mu);
        rc = ((fp_dump_state_fn)p->api.dump_state)(p->states[0], ow, host_dump_handler);
        pthread_mutex_lock(&g_async_mu);
        ow->dumping = false;
        pthread_mutex_unlock(&g_async_mu);
        if (!async_deliver_dumps(p->as_to))
            return false;
        if (rc != SS_PLUGIN_SUCCESS) {
            report_error(p, "dump_state", "dump_state failed (rc=%d): %s", (int)rc,
                         plugin_last_error(p, p->states[0]));
            return false;
        }
    }
    return true;
}
