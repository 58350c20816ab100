/*
 * cycle.c: one whole cycle over every plugin, in libsinsp's order: (re)load, the host's
 * tables, init (as many states as the plan says), set_config, open every source on the
 * main thread, async handlers and capture listening, one event thread per source, then
 * everything in reverse; and what is reported after a cycle (progress, metrics, tables,
 * summaries). Also `info`: what `falco --plugin-info` asks of one plugin.
 */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void reset_counters(host_plugin *p)
{
    p->events = p->timeouts = 0;
    p->eof = p->failed = false;
    p->capture_ns = p->init_ns = 0;
    p->nstates = 0;
    p->filtered_out = 0;
    atomic_store(&p->x_failures, 0);
    atomic_store(&p->x_calls, 0);
    atomic_store(&p->x_ns, 0);
    atomic_store(&p->p_calls, 0);
    atomic_store(&p->p_failures, 0);
    atomic_store(&p->entry_leaks, 0);
    atomic_store(&p->table_misuse, 0);
    atomic_store(&p->async_events, 0);
    atomic_store(&p->async_refused, 0);
    atomic_store(&p->dump_events, 0);
    atomic_store(&p->routine_calls, 0);
    atomic_store(&p->x_warned, 0);
    atomic_store(&p->p_warned, 0);
    atomic_store(&p->leak_warned, 0);
    atomic_store(&p->async_warned, 0);
}

static void free_types(host_plugin *p)
{
    free(p->xtypes_bm);
    free(p->ptypes_bm);
    p->xtypes_bm = p->ptypes_bm = NULL;
}

static bool init_plugin(host_plugin *p)
{
    char err[4 * ERRBUF];
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC), k;
    uint32_t n;
    uint16_t *list;
    install_stop_signals();
    for (k = 0; k < p->ninit; k++) {
        if (!init_state(p, k, p->config, err, sizeof err)) {
            report_error(p, "init", "%s", err);
            return false;
        }
    }
    p->xtypes_bm = fetch_types(p, true, &n, &list);
    p->ptypes_bm = fetch_types(p, false, &n, &list);
    p->init_ns = clock_ns(CLOCK_MONOTONIC) - t0;
    p->rss_kb = read_rss_kb();
    return apply_set_config(p);
}

static bool open_source(host_plugin *p)
{
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    if (p->is_stream)
        return stream_open(p);
    p->inst = ((fp_open_fn)p->api.open)(p->states[0], p->open_params ? p->open_params : "",
                                        &rc);
    if (rc != SS_PLUGIN_SUCCESS) {
        report_error(p, "open", "could not open the capture (rc=%d): %s", (int)rc,
                     plugin_last_error(p, p->states[0]));
        p->opened = p->inst != NULL; /* an instance handed back on failure is still closed */
        return false;
    }
    p->opened = true;
    return true;
}

static void close_source(host_plugin *p)
{
    if (p->is_stream) {
        stream_close(p);
        p->opened = false;
        return;
    }
    if (p->opened && p->api.close)
        ((fp_close_fn)p->api.close)(p->states[0], p->inst);
    p->opened = false;
    p->inst = NULL;
}

/* Gives each capturing plugin the parsers of its events, in the plan's order. */
static void bind_parsers(void)
{
    size_t s, i;
    for (s = 0; s < g_np; s++) {
        host_plugin *src = &g_pl[s];
        for (i = 0; i < src->npb; i++) {
            pbind *b = &src->pb[i];
            uint64_t slot = b->pl->slot_for[s];
            b->st = b->pl->states[slot];
            b->ow = &b->pl->owners[slot];
            b->syscall_src = !strcmp(src->source, "syscall");
            b->calls = b->failures = 0;
        }
    }
}

static void report_progress(host_plugin *p)
{
    uint32_t pct = 0;
    const char *txt;
    sbuf b = {0};
    if (!p->api.get_progress || !p->opened)
        return;
    txt = ((fp_get_progress_fn)p->api.get_progress)(p->states[0], p->inst, &pct);
    rec_begin(&b, R_PROGRESS);
    rec_u32(&b, p->index);
    rec_u32(&b, pct);
    rec_str(&b, txt);
    rec_send(&b);
    sb_free(&b);
}

static bool report_metrics(host_plugin *p)
{
    uint32_t n = 0, i;
    ss_plugin_metric *m;
    sbuf b = {0};
    if (!p->api.get_metrics || !p->nstates)
        return true;
    m = ((fp_get_metrics_fn)p->api.get_metrics)(p->states[0], &n);
    if (n > 0 && !m) {
        report_error(p, "metrics", "get_metrics returned %" PRIu32 " metrics but NULL", n);
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!m[i].name) {
            report_error(p, "metrics", "metric %" PRIu32 " has a NULL name", i);
            return false;
        }
    }
    rec_begin(&b, R_METRICS);
    rec_u32(&b, p->index);
    rec_u32(&b, n);
    for (i = 0; i < n; i++) {
        uint64_t raw = 0;
        size_t sz = m[i].value_type == SS_PLUGIN_METRIC_VALUE_TYPE_U64 ||
                            m[i].value_type == SS_PLUGIN_METRIC_VALUE_TYPE_S64 ||
                            m[i].value_type == SS_PLUGIN_METRIC_VALUE_TYPE_D
                        ? 8
                        : 4;
        memcpy(&raw, &m[i].value, sz);
        rec_str(&b, m[i].name);
        rec_u32(&b, (uint32_t)m[i].type);
        rec_u32(&b, (uint32_t)m[i].value_type);
        rec_u64(&b, raw);
    }
    rec_send(&b);
    sb_free(&b);
    return true;
}

static void report_summary(host_plugin *p, uint64_t cycle)
{
    sbuf b = {0};
    rec_begin(&b, R_SUMMARY);
    rec_u32(&b, p->index);
    rec_u64(&b, cycle);
    rec_u64(&b, p->ninit);
    rec_u64(&b, p->events);
    rec_u64(&b, p->timeouts);
    rec_u64(&b, p->eof);
    rec_u64(&b, p->capture_ns);
    rec_u64(&b, p->init_ns);
    rec_u64(&b, (uint64_t)(int64_t)p->rss_kb);
    rec_u64(&b, atomic_load(&p->x_failures));
    rec_u64(&b, p->filtered_out);
    rec_u64(&b, atomic_load(&p->x_calls));
    rec_u64(&b, atomic_load(&p->x_ns));
    rec_u64(&b, atomic_load(&p->p_calls));
    rec_u64(&b, atomic_load(&p->p_failures));
    rec_u64(&b, atomic_load(&p->entry_leaks));
    rec_u64(&b, atomic_load(&p->async_events));
    rec_u64(&b, atomic_load(&p->async_refused));
    rec_u64(&b, atomic_load(&p->dump_events));
    rec_u64(&b, atomic_load(&p->routine_calls));
    rec_send(&b);
    sb_free(&b);
}

/* The event threads: one per opened source, joined; false when one failed. */
static bool run_captures(void)
{
    size_t i;
    bool ok = true;
    for (i = 0; i < g_np; i++) {
        host_plugin *p = &g_pl[i];
        int e;
        if (!p->opened)
            continue;
        e = pthread_create(&p->thread, NULL, capture_main, p);
        if (e != 0) {
            report_error(p, "capture", "cannot start the event thread: %s", strerror(e));
            atomic_store(&g_abort, 1);
            ok = false;
            break;
        }
        p->thread_started = true;
    }
    for (i = 0; i < g_np; i++) {
        if (g_pl[i].thread_started) {
            pthread_join(g_pl[i].thread, NULL);
            g_pl[i].thread_started = false;
            ok = ok && !g_pl[i].failed;
        }
    }
    return ok;
}

/* After the captures: async events still to come, dump_state, capture_close, the async
 * handlers cleared, the --extract-threads check and the reports. */
static bool after_captures(void)
{
    bool ok = true;
    size_t i;
    if (g_opt.async_wait_ms && !async_wait(g_opt.async_wait_ms, g_opt.async_until))
        ok = false;
    if (ok && g_opt.dump_state && !async_dump_all())
        ok = false;
    if (ok && !async_drain_all())
        ok = false;
    if (!listen_close_all(ok))
        ok = false;
    listen_shutdown();
    if (!async_set_all(false, ok))
        ok = false;
    /* events queued before the handlers were cleared are still delivered */
    if (ok && !async_drain_all())
        ok = false;
    /* every capture has ended: the extractors' states are free for the check threads */
    for (i = 0; ok && g_opt.extract_threads && i < g_np; i++)
        if (g_pl[i].opened && !x_check(&g_pl[i]))
            ok = false;
    for (i = 0; i < g_np; i++) {
        report_progress(&g_pl[i]);
        if (!report_metrics(&g_pl[i]))
            ok = false;
    }
    /* the plugins are still there: their tables can be read */
    for (i = 0; ok && i < g_opt.ndumps; i++)
        if (!dump_table(g_opt.dumps[i]))
            ok = false;
    if (atomic_load(&g_misuse_unowned))
        ok = false; /* reported when it happened */
    return ok;
}

/* One whole init/capture/destroy cycle over every plugin; false on error. */
bool run_cycle(uint64_t cycle)
{
    char err[4 * ERRBUF];
    size_t i, inited = 0;
    bool ok = true;

    for (i = 0; i < g_np; i++) {
        host_plugin *p = &g_pl[i];
        reset_counters(p);
        free_types(p);
        if (!p->handle && !p->is_stream && !load_library(p, err, sizeof err)) {
            report_error(p, "load", "cannot load plugin: %s", err);
            return false;
        }
    }
    async_setup();
    atomic_store(&g_misuse_unowned, 0);
    tables_setup();
    if (!tables_fixture(NULL, err, sizeof err)) {
        report_error(NULL, "threads", "%s", err);
        ok = false;
        goto cleanup;
    }
    sstate_begin_cycle();
    for (i = 0; i < g_np; i++) {
        inited = i + 1;
        if (!init_plugin(&g_pl[i])) {
            ok = false;
            goto cleanup;
        }
    }
    for (i = 0; i < g_np; i++) {
        if ((g_pl[i].caps & CAP_SOURCE) && !open_source(&g_pl[i])) {
            ok = false;
            goto cleanup;
        }
    }
    x_bind_all();
    bind_parsers();
    atomic_store(&g_abort, 0);

    /* like libsinsp at capture start: the async handlers (--async-reset: set, NULL, set
     * again), then capture_open with the routine thread pool running */
    if (!async_set_all(true, true) ||
        (g_opt.async_reset && (!async_set_all(false, true) || !async_set_all(true, true))) ||
        !listen_start() || !async_start_delivery()) {
        ok = false;
        goto cleanup;
    }
    ok = run_captures();
    async_stop_delivery(); /* the captures have ended: the main thread delivers from now on */
    ok = after_captures() && ok;

cleanup:
    async_stop_delivery();
    listen_close_all(false); /* after an error: no-ops when already done */
    listen_shutdown();
    async_set_all(false, false);
    for (i = 0; i < g_np; i++)
        close_source(&g_pl[i]);
    for (i = inited; i-- > 0;)
        destroy_states(&g_pl[i]);
    async_teardown();
    sstate_end_cycle();
    tables_teardown();
    if (ok)
        for (i = 0; i < g_np; i++)
            report_summary(&g_pl[i], cycle);
    for (i = 0; i < g_np; i++)
        free_types(&g_pl[i]);
    x_release_all();
    if (g_opt.reload || !ok || cycle == g_opt.cycles)
        for (i = 0; i < g_np; i++)
            unload_library(&g_pl[i]);
    return ok;
}

static void rec_types(sbuf *b, const uint16_t *list, uint32_t n, bool given)
{
    uint32_t i;
    rec_u8(b, given);
    rec_u32(b, n);
    for (i = 0; i < n; i++)
        sb_add(b, &list[i], 2);
}

/* Like Falco's --plugin-info: init with the default config (when Python found it valid),
 * list_open_params, the event types; R_INFO carries what was found. */
int run_info(host_plugin *p)
{
    char err[4 * ERRBUF];
    char *init_error = NULL;
    const char *ops = NULL;
    bool ops_given = false;
    sbuf b = {0};
    uint32_t nx = 0, np = 0;
    uint16_t *lx = NULL, *lp = NULL;
    uint64_t *bx = NULL, *bp = NULL;

    tables_setup();
    if (!tables_fixture(NULL, err, sizeof err)) {
        init_error = xstrdup(err);
    } else if (p->config) {
        install_stop_signals();
        if (!init_state(p, 0, p->config, err, sizeof err))
            init_error = xstrdup(err);
    }
    rec_begin(&b, R_INFO);
    rec_u32(&b, p->index);
    rec_str(&b, init_error);
    if (!init_error && p->config) {
        if (p->api.list_open_params) {
            ss_plugin_rc rc = SS_PLUGIN_FAILURE;
            ops = ((fp_list_open_params_fn)p->api.list_open_params)(p->states[0], &rc);
            if (rc != SS_PLUGIN_SUCCESS) {
                report_warning(p, "list_open_params failed: %s",
                               plugin_last_error(p, p->states[0]));
                ops = NULL;
            } else {
                ops_given = true;
            }
        }
        bx = fetch_types(p, true, &nx, &lx);
        bp = fetch_types(p, false, &np, &lp);
    }
    rec_u8(&b, ops_given);
    rec_str(&b, ops_given ? (ops ? ops : "") : NULL);
    rec_types(&b, lx, nx, bx != NULL);
    rec_types(&b, lp, np, bp != NULL);
    rec_send(&b);
    sb_free(&b);
    free(bx);
    free(bp);
    free(init_error);
    destroy_states(p);
    tables_teardown();
    unload_library(p);
    return 0;
}
