/*
 * main.c: the engine process (`fp-host PLAN_FD RECORD_FD`, started by falco_plugin.host):
 * loads the libraries the plan's first message names and reports what they say about
 * themselves, reads the run message, and runs the cycles (or `info`). It dies with its parent
 * (PR_SET_PDEATHSIG) and stops when the record channel breaks: the host never outlives the
 * Python side that reads it.
 *
 * Build (falco_plugin.host does it): cc -std=c11 -O2 -Wall -Wextra -I_native _native/host/[a-z]*.c
 *     -o fp-host -ldl -lpthread
 * It never links libpython: Python plugins bring their own interpreter, as in Falco.
 */
#include "host.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

host_opts g_opt = {.cycles = 1, .routine_threads = 2};
host_plugin *g_pl;
size_t g_np;
atomic_int g_abort;

static bool read_load(plan_reader *r)
{
    for (;;) {
        uint8_t tag = pr_u8(r);
        if (r->bad)
            return false;
        switch (tag) {
        case P_END: return true;
        case P_DEEPBIND: g_opt.deepbind = true; break;
        case P_LIBRARY:
        case P_STREAM:
            g_pl = xrealloc(g_pl, (g_np + 1) * sizeof *g_pl);
            memset(&g_pl[g_np], 0, sizeof g_pl[g_np]);
            g_pl[g_np].index = (uint32_t)g_np;
            g_pl[g_np].path = pr_str(r);
            g_pl[g_np].is_stream = tag == P_STREAM;
            g_pl[g_np].async_stream = (uint32_t)FP_NO_PLUGIN;
            g_np++;
            break;
        default: return false;
        }
    }
}

static host_plugin *plan_plugin(plan_reader *r)
{
    uint32_t i = pr_u32(r);
    return i < g_np ? &g_pl[i] : NULL;
}

/* One item of a plugin's section; false for a tag that is not one. */
static bool read_plugin_item(plan_reader *r, uint8_t tag, host_plugin *p)
{
    switch (tag) {
    case P_CAPS: p->caps = pr_u32(r); return true;
    case P_SOURCE: free(p->source); p->source = pr_str(r); return true;
    case P_CONFIG: free(p->config); p->config = pr_str(r); return true;
    case P_OPEN_PARAMS: free(p->open_params); p->open_params = pr_str(r); return true;
    case P_SET_CONFIG: free(p->set_config); p->set_config = pr_str(r); return true;
    case P_NINIT: p->ninit = pr_u64(r); return true;
    case P_REQ_MINOR: p->req_minor = pr_u32(r); return true;
    case P_ASYNC_STREAM: p->async_stream = pr_u32(r); return true;
    case P_NAME: free(p->name); p->name = pr_str(r); return true;
    case P_ID: p->id = pr_u32(r); return true;
    case P_SHOWN: {
        uint32_t n;
        const uint8_t *flags = pr_bytes(r, &n);
        free(p->stream_shown);
        free(p->stream_cpus);
        p->stream_shown = xmalloc(n ? n : 1);
        if (flags)
            memcpy(p->stream_shown, flags, n);
        p->stream_nshown = n;
        return true;
    }
    case P_CPUS: {
        uint32_t n;
        const uint8_t *cpus = pr_bytes(r, &n);
        free(p->stream_cpus);
        p->stream_cpus = xmalloc(n ? n : 1);
        if (cpus)
            memcpy(p->stream_cpus, cpus, n);
        p->stream_ncpus = n / 2;
        return true;
    }
    case P_FIELD:
        p->fields = xrealloc(p->fields, (p->nfields + 1) * sizeof *p->fields);
        p->fields[p->nfields].name = pr_str(r);
        p->fields[p->nfields].ftype = pr_u32(r);
        p->fields[p->nfields].is_list = pr_u8(r) != 0;
        p->nfields++;
        return true;
    case P_ASYNC_NAME:
        p->async_names = xrealloc(p->async_names, (p->nasync_names + 1) * sizeof(char *));
        p->async_names[p->nasync_names++] = pr_str(r);
        return true;
    default: return false;
    }
}

static void add_parser(host_plugin *src, host_plugin *pp)
{
    src->pb = xrealloc(src->pb, (src->npb + 1) * sizeof *src->pb);
    memset(&src->pb[src->npb], 0, sizeof src->pb[src->npb]);
    src->pb[src->npb++].pl = pp;
}

static void set_slot(host_plugin *p, uint32_t src, uint64_t slot, bool extracts)
{
    size_t i;
    if (!p->slot_for) {
        p->slot_for = xmalloc(g_np * sizeof *p->slot_for);
        p->xsrc = xcalloc(g_np, sizeof *p->xsrc);
        for (i = 0; i < g_np; i++)
            p->slot_for[i] = X_NO_SLOT;
    }
    if (src < g_np) {
        p->slot_for[src] = slot;
        p->xsrc[src] = extracts;
    }
}

static bool read_run(plan_reader *r)
{
    host_plugin *cur = NULL;
    for (;;) {
        uint8_t tag = pr_u8(r);
        uint32_t n, i;
        if (r->bad)
            return false;
        if (cur && read_plugin_item(r, tag, cur))
            continue;
        switch (tag) {
        case P_END: return !r->bad;
        case P_MODE: g_opt.mode = pr_u8(r); break;
        case P_MAX_EVENTS: g_opt.max_events = pr_u64(r); break;
        case P_QUIET: g_opt.quiet = true; break;
        case P_CYCLES: g_opt.cycles = pr_u64(r); break;
        case P_RELOAD: g_opt.reload = true; break;
        case P_NO_E2S: g_opt.no_e2s = true; break;
        case P_EXTRACT_THREADS: g_opt.extract_threads = pr_u64(r); break;
        case P_EXTRACT_REPEAT: g_opt.extract_repeat = pr_u64(r); break;
        case P_ASYNC_WAIT: g_opt.async_wait_ms = pr_u64(r); break;
        case P_ASYNC_UNTIL: g_opt.async_until = pr_u64(r); break;
        case P_ASYNC_RESET: g_opt.async_reset = true; break;
        case P_DUMP_STATE: g_opt.dump_state = true; break;
        case P_ROUTINE_THREADS: g_opt.routine_threads = pr_u64(r); break;
        case P_PROGRESS_EVERY: g_opt.tick_ns = pr_u64(r) * 1000000; break;
        case P_OFFSETS: g_opt.offsets = true; break;
        case P_THREAD_TID:
            g_opt.thread_tid_set = true;
            g_opt.thread_tid = (int64_t)pr_u64(r);
            break;
        case P_HOSTNAME: free(g_opt.hostname); g_opt.hostname = pr_str(r); break;
        case P_LARGE_TYPES:
            n = pr_u32(r);
            free(g_opt.large_types_bm);
            g_opt.large_types_bm = xcalloc(65536 / 64, sizeof *g_opt.large_types_bm);
            for (i = 0; i < n && !r->bad; i++) {
                uint16_t t = (uint16_t)pr_u32(r);
                g_opt.large_types_bm[t >> 6] |= 1ull << (t & 63);
            }
            break;
        case P_DUMP_TABLE:
            g_opt.dumps = xrealloc(g_opt.dumps, (g_opt.ndumps + 1) * sizeof *g_opt.dumps);
            g_opt.dumps[g_opt.ndumps++] = pr_str(r);
            break;
        case P_FIXTURE: {
            uint32_t len;
            const uint8_t *ops = pr_bytes(r, &len);
            if (ops)
                tables_add_fixture(ops, len);
            break;
        }
        case P_EVENT_INFO:
            if (!sstate_read_info(r))
                return false;
            break;
        case P_SECTION:
            if (!sstate_read_section(r))
                return false;
            break;
        case P_USER:
        case P_GROUP:
            if (!sstate_read_user(r, tag == P_GROUP))
                return false;
            break;
        case P_THREAD_EXTRA:
            if (!sstate_read_extra(r))
                return false;
            break;
        case P_SYSCALL_NAME:
            if (!sysf_read_sc_name(r))
                return false;
            break;
        case P_PLUGIN:
            if (!(cur = plan_plugin(r)))
                return false;
            break;
        case P_SLOT: {
            host_plugin *p = plan_plugin(r);
            uint32_t src = pr_u32(r);
            uint64_t slot = pr_u64(r);
            bool extracts = pr_u8(r) != 0;
            if (!p)
                return false;
            set_slot(p, src, slot, extracts);
            break;
        }
        case P_PARSER: {
            host_plugin *src = plan_plugin(r), *pp = plan_plugin(r);
            if (!src || !pp)
                return false;
            add_parser(src, pp);
            break;
        }
        case P_REQUEST:
        case P_EVTREQ:
        case P_SYSREQ:
            if (!x_read_request(r, tag))
                return false;
            break;
        case P_EMIT:
            n = pr_u32(r);
            if (n >= g_nreq)
                return false;
            g_emit = xrealloc(g_emit, (g_nemit + 1) * sizeof *g_emit);
            g_emit[g_nemit++] = n;
            break;
        case P_FILTER:
            if (!filter_read(r))
                return false;
            break;
        default: return false;
        }
    }
}

static void free_plugins(void)
{
    size_t i, k;
    for (i = 0; i < g_np; i++) {
        host_plugin *p = &g_pl[i];
        unload_library(p);
        for (k = 0; k < p->nfields; k++)
            free(p->fields[k].name);
        for (k = 0; k < p->nasync_names; k++)
            free(p->async_names[k]);
        free(p->fields);
        free(p->async_names);
        free(p->path);
        free(p->name);
        free(p->source);
        free(p->config);
        free(p->open_params);
        free(p->set_config);
        free(p->slot_for);
        free(p->xsrc);
        free(p->stream_shown);
        free(p->stream_cpus);
        free(p->pb);
        free(p->states);
        free(p->owners);
    }
    free(g_pl);
}

int main(int argc, char **argv)
{
    uint8_t *load = NULL, *run = NULL;
    size_t load_len, run_len, i;
    plan_reader r;
    int plan_fd, rc = 0;
    char err[4 * ERRBUF];
    sbuf b = {0};

    if (argc != 3) {
        fputs("fp-host: the SDK host's engine; run it through `falco-plugin run` or "
              "`python -m falco_plugin.host`\n",
              stderr);
        return 2;
    }
    plan_fd = atoi(argv[1]);
    wire_init(atoi(argv[2]));
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the Python side */
    signal(SIGPIPE, SIG_IGN);         /* a broken record channel is an error, not a death */

    if (!plan_read_message(plan_fd, &load, &load_len))
        return 2;
    r = (plan_reader){load, load_len, 0, false};
    if (!read_load(&r)) {
        fputs("fp-host: malformed load message\n", stderr);
        return 2;
    }
    for (i = 0; i < g_np; i++) {
        if (g_pl[i].is_stream)
            continue;
        if (!load_library(&g_pl[i], err, sizeof err)) {
            rec_begin(&b, R_LOAD_ERROR);
            rec_u32(&b, (uint32_t)i);
            rec_str(&b, err);
            rec_send(&b);
            sb_free(&b);
            free_plugins();
            return 1;
        }
        report_meta(&g_pl[i]);
    }
    rec_begin(&b, R_READY);
    rec_send(&b);
    sb_free(&b);

    if (!plan_read_message(plan_fd, &run, &run_len)) {
        free_plugins(); /* Python found a problem, or only wanted the metadata */
        free(load);
        return 0;
    }
    r = (plan_reader){run, run_len, 0, false};
    if (!read_run(&r)) {
        report_error(NULL, "plan", "malformed run message (at byte %zu)", r.i);
        free_plugins();
        return 2;
    }
    for (i = 0; i < g_np; i++) {
        host_plugin *p = &g_pl[i];
        uint64_t nslots = p->ninit > 0 ? p->ninit : 1;
        p->name = xstrdup(p->name ? p->name : "");
        if (!p->source)
            p->source = xstrdup("syscall");
        p->states = xcalloc(nslots, sizeof *p->states);
        p->owners = xcalloc(nslots, sizeof *p->owners);
    }
    if (g_opt.mode == MODE_INFO) {
        rc = g_np == 1 ? run_info(&g_pl[0]) : 2;
    } else {
        uint64_t c;
        for (c = 1; c <= g_opt.cycles; c++) {
            if (!run_cycle(c)) {
                rc = 1;
                break;
            }
            if (g_stop_signal)
                break;
        }
    }
    filter_free();
    free_plugins();
    free(load);
    free(run);
    return rc;
}
