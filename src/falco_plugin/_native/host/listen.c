/*
 * listen.c: capture listening as libsinsp offers it: capture_open on every state of every
 * listen plugin after the sources are open and the async handlers set, capture_close after
 * the captures. The input carries the host's table reader and writer (tables can be used in
 * both calls) and the routine vtable: a pool of --routine-threads threads runs each
 * subscribed routine again and again, one call at a time per routine, until it returns
 * false or is unsubscribed (the host stops what is left after capture_close).
 */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
            report_warning(r->ow->plugin,
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

/* capture_open or capture_close on one state, with the table scope of a call. */
static ss_plugin_rc listen_call(host_plugin *p, uint64_t k, bool open)
{
    host_owner *ow = &p->owners[k];
    ss_plugin_capture_listen_input in;
    fp_capture_listen_fn fn = (fp_capture_listen_fn)(open ? p->api.capture_open
                                                          : p->api.capture_close);
    ss_plugin_rc rc;
    listen_input(ow, &in);
    tl_owner = ow;
    rc = fn(p->states[k], &in);
    tl_owner = NULL;
    tbl_after_call(ow, open ? "capture_open" : "capture_close");
    return rc;
}

static void allow_routines(host_owner *ow, bool ok)
{
    pthread_mutex_lock(&g_pool.mu);
    ow->routines_ok = ok;
    pthread_mutex_unlock(&g_pool.mu);
}

/* capture_open on every state of every listen plugin (the pool runs already). */
static bool listen_open_all(void)
{
    size_t i;
    uint64_t k;
    for (i = 0; i < g_np; i++) {
        host_plugin *p = &g_pl[i];
        for (k = 0; (p->caps & CAP_LISTEN) && k < p->nstates; k++) {
            host_owner *ow = &p->owners[k];
            ss_plugin_rc rc;
            if (!p->states[k])
                continue;
            allow_routines(ow, true);
            rc = listen_call(p, k, true);
            if (rc != SS_PLUGIN_SUCCESS) {
                report_error(p, "capture_open", "capture_open failed (rc=%d): %s", (int)rc,
                             plugin_last_error(p, p->states[k]));
                allow_routines(ow, false);
                pool_stop_routines(ow, false);
                return false;
            }
            ow->listen_open = true;
            if (atomic_load(&p->table_misuse)) {
                report_error(p, "capture_open", "capture_open misused the table API (see above)");
                return false;
            }
        }
    }
    return true;
}

/* capture_close on the states capture_open succeeded on; their routines stop afterwards. */
bool listen_close_all(bool report)
{
    size_t i;
    uint64_t k;
    bool ok = true;
    for (i = 0; i < g_np; i++) {
        host_plugin *p = &g_pl[i];
        for (k = 0; (p->caps & CAP_LISTEN) && k < p->nstates; k++) {
            host_owner *ow = &p->owners[k];
            ss_plugin_rc rc;
            if (!ow->listen_open)
                continue;
            ow->listen_open = false;
            rc = listen_call(p, k, false);
            allow_routines(ow, false);
            pool_stop_routines(ow, true);
            if (rc != SS_PLUGIN_SUCCESS) {
                if (report)
                    report_error(p, "capture_close", "capture_close failed (rc=%d): %s",
                                 (int)rc, plugin_last_error(p, p->states[k]));
                ok = false;
            } else if (report && atomic_load(&p->table_misuse)) {
                report_error(p, "capture_close",
                             "capture_close misused the table API (see above)");
                ok = false;
            }
        }
    }
    return ok;
}

static bool g_pool_on;

/* The routine pool and capture_open, when some plugin listens. */
bool listen_start(void)
{
    size_t i;
    for (i = 0; i < g_np && !g_pool_on; i++)
        g_pool_on = (g_pl[i].caps & CAP_LISTEN) != 0;
    if (!g_pool_on)
        return true;
    return pool_start(g_opt.routine_threads) && listen_open_all();
}

void listen_shutdown(void)
{
    if (g_pool_on)
        pool_shutdown();
    g_pool_on = false;
}
