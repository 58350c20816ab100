/*
 * sstate.c: the capture replay's state engine, libsinsp's sinsp::next and sinsp_parser::reset
 * as far as the threads table goes: per event, the delayed removals of the previous event
 * (a thread after its procexit, fds after their close), the thread of the event (a fake
 * "<NA>" entry for an unknown tid, as libsinsp adds when /proc has nothing), the stored enter
 * event and the fd the event uses; then the parser of its kind (sstate_proc.c, sstate_fd.c).
 * Also sections (a concatenated capture resets the state) and what the plan says about event
 * types (P_EVENT_INFO); the thread manager's helpers are in sstate_threads.c.
 */
#include "sstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECENT_RING 8192
#define CLONE_STALE_NS 2000000000ull

evinfo g_evinfo[EVINFO_MAX];
sevent g_sev;
bool g_sstate_on;

typedef struct {
    uint64_t start, boot_ts;
    uint8_t *ops;
    size_t len;
    struct suser { uint32_t uid, gid; char *name, *home, *shell; } *users;
    size_t nusers;
    struct sgroup { uint32_t gid; char *name; } *groups;
    size_t ngroups;
    struct sextra *extras;
    size_t nextras;
} ssection;

struct sextra {
    int64_t tid;
    uint64_t clone_ts, cap_permitted, cap_effective, cap_inheritable;
    uint64_t vmsize_kb, vmrss_kb, vmswap_kb, pfmajor, pfminor, dur_clone, dur_pidns;
};

static ssection *g_sections;
static size_t g_nsections, g_cur_section;
uint64_t g_boot_ts;

/* what the previous event left to remove (sinsp_parser_verdict) */
static int64_t g_tid_to_remove = -1;
static int64_t g_fds_tid = -1;
static int64_t *g_fds;
static size_t g_nfds, g_capfds;

static struct recent { int64_t ptid, tid; uint64_t ts; bool used; } *g_recent;
static size_t g_recent_at;

/* ---- the plan ---- */

bool sstate_read_info(plan_reader *r)
{
    uint32_t type = pr_u32(r), n, k;
    evinfo *ei;
    const uint8_t *pt;
    if (type >= EVINFO_MAX)
        return false;
    ei = &g_evinfo[type];
    ei->kind = pr_u8(r);
    ei->arg = pr_u8(r);
    ei->reset = pr_u8(r);
    ei->fdloc = pr_u8(r);
    ei->flags = pr_u32(r);
    ei->category = pr_u32(r);
    ei->enter = (uint16_t)pr_u32(r);
    ei->alt_enter = (uint16_t)pr_u32(r);
    free(ei->name);
    ei->name = pr_str(r);
    pt = pr_bytes(r, &n);
    free(ei->ptypes);
    ei->ptypes = xmalloc(n ? n : 1);
    if (pt)
        memcpy(ei->ptypes, pt, n);
    ei->nparams = (uint8_t)n;
    free(ei->pnames);
    ei->pnames = xcalloc(n ? n : 1, sizeof *ei->pnames);
    for (k = 0; k < n; k++)
        ei->pnames[k] = pr_str(r); /* freed never: one table per run */
    g_sstate_on = true;
    return !r->bad;
}

bool sstate_read_section(plan_reader *r)
{
    ssection *s;
    const uint8_t *ops;
    uint32_t len;
    g_sections = xrealloc(g_sections, (g_nsections + 1) * sizeof *g_sections);
    s = &g_sections[g_nsections++];
    memset(s, 0, sizeof *s);
    s->start = pr_u64(r);
    s->boot_ts = pr_u64(r);
    ops = pr_bytes(r, &len);
    s->ops = xmalloc(len ? len : 1);
    if (ops)
        memcpy(s->ops, ops, len);
    s->len = len;
    return !r->bad;
}

bool sstate_read_user(plan_reader *r, bool group)
{
    ssection *s = g_nsections ? &g_sections[g_nsections - 1] : NULL;
    if (!s)
        return false;
    if (group) {
        s->groups = xrealloc(s->groups, (s->ngroups + 1) * sizeof *s->groups);
        s->groups[s->ngroups].gid = pr_u32(r);
        s->groups[s->ngroups++].name = pr_str(r);
    } else {
        struct suser *u;
        s->users = xrealloc(s->users, (s->nusers + 1) * sizeof *s->users);
        u = &s->users[s->nusers++];
        u->uid = pr_u32(r);
        u->gid = pr_u32(r);
        u->name = pr_str(r);
        u->home = pr_str(r);
        u->shell = pr_str(r);
    }
    return !r->bad;
}

bool sstate_read_extra(plan_reader *r)
{
    ssection *s = g_nsections ? &g_sections[g_nsections - 1] : NULL;
    struct sextra *x;
    if (!s)
        return false;
    s->extras = xrealloc(s->extras, (s->nextras + 1) * sizeof *s->extras);
    x = &s->extras[s->nextras++];
    x->tid = (int64_t)pr_u64(r);
    x->clone_ts = pr_u64(r);
    x->cap_permitted = pr_u64(r);
    x->cap_effective = pr_u64(r);
    x->cap_inheritable = pr_u64(r);
    x->vmsize_kb = pr_u64(r);
    x->vmrss_kb = pr_u64(r);
    x->vmswap_kb = pr_u64(r);
    x->pfmajor = pr_u64(r);
    x->pfminor = pr_u64(r);
    x->dur_clone = pr_u64(r);
    x->dur_pidns = pr_u64(r);
    return !r->bad;
}

/* ---- recently exited threads (a clone exit that comes after the child's procexit) ---- */

static void record_exited(int64_t tid, int64_t ptid, uint64_t ts)
{
    if (!g_recent)
        g_recent = xcalloc(RECENT_RING, sizeof *g_recent);
    g_recent[g_recent_at] = (struct recent){ptid, tid, ts, true};
    g_recent_at = (g_recent_at + 1) % RECENT_RING;
}

bool st_recently_exited(int64_t tid, int64_t ptid, uint64_t ts)
{
    size_t i;
    for (i = 0; g_recent && i < RECENT_RING; i++)
        if (g_recent[i].used && g_recent[i].tid == tid && g_recent[i].ptid == ptid &&
            ts >= g_recent[i].ts && ts - g_recent[i].ts < CLONE_STALE_NS)
            return true;
    return false;
}

void sstate_tid_to_remove(int64_t tid) { g_tid_to_remove = tid; }

void sf_schedule_close(int64_t tid, int64_t fd)
{
    if (g_fds_tid != tid)
        g_nfds = 0;
    g_fds_tid = tid;
    if (g_nfds == g_capfds) {
        g_capfds = g_capfds ? 2 * g_capfds : 8;
        g_fds = xrealloc(g_fds, g_capfds * sizeof *g_fds);
    }
    g_fds[g_nfds++] = fd;
}

/* ---- sections ---- */

static void release_event(void)
{
    if (g_sev.tinfo)
        he_unref(g_sev.tinfo);
    if (g_sev.fdinfo)
        he_unref(g_sev.fdinfo);
    g_sev.tinfo = g_sev.fdinfo = NULL;
}

static void apply_extras(const ssection *s)
{
    size_t i;
    for (i = 0; i < s->nextras; i++) {
        const struct sextra *x = &s->extras[i];
        hentry *t = st_find(x->tid);
        sthread *e;
        if (!t)
            continue;
        e = tx(t);
        e->clone_ts = x->clone_ts;
        e->cap_permitted = x->cap_permitted;
        e->cap_effective = x->cap_effective;
        e->cap_inheritable = x->cap_inheritable;
        e->vmsize_kb = (uint32_t)x->vmsize_kb;
        e->vmrss_kb = (uint32_t)x->vmrss_kb;
        e->vmswap_kb = (uint32_t)x->vmswap_kb;
        e->pfmajor = x->pfmajor;
        e->pfminor = x->pfminor;
        e->exe_ino_ctime_dur_clone = x->dur_clone;
        e->exe_ino_ctime_dur_pidns = x->dur_pidns;
    }
}

/* The state at the start of section k: its process list, users and groups. */
static bool start_section(size_t k, char *err, size_t errlen)
{
    const ssection *s = &g_sections[k];
    size_t i;
    release_event();
    g_tid_to_remove = -1;
    g_nfds = 0;
    g_recent_at = 0;
    if (g_recent)
        memset(g_recent, 0, RECENT_RING * sizeof *g_recent);
    ht_clear(g_reg.threads);
    st_reset_groups();
    su_clear();
    g_boot_ts = s->boot_ts;
    if (!tables_apply_fixture(s->ops, s->len, err, errlen))
        return false;
    for (i = 0; i < g_reg.threads->n; i++) {
        tx_ensure(g_reg.threads->e[i]);
        st_keep_cmdline(g_reg.threads->e[i]); /* set from the comm, as at the proc scan */
    }
    apply_extras(s);
    /* create_thread_dependencies_after_proc_scan, in table order */
    for (i = 0; i < g_reg.threads->n; i++)
        st_deps(g_reg.threads->e[i]);
    for (i = 0; i < g_reg.threads->n; i++) { /* as the process list is loaded */
        hentry *t = g_reg.threads->e[i];
        su_ensure_user((uint32_t)tu(t, TF_UID), (uint32_t)tu(t, TF_GID));
        su_ensure_group((uint32_t)tu(t, TF_GID));
    }
    for (i = 0; i < s->nusers; i++)
        su_add_user(s->users[i].uid, s->users[i].gid, s->users[i].name, s->users[i].home,
                    s->users[i].shell, true);
    for (i = 0; i < s->ngroups; i++)
        su_add_group(s->groups[i].gid, s->groups[i].name, true);
    for (i = 0; i < g_reg.threads->n; i++) /* fd socket fields from the fixture's */
        sstate_fixture_fds(g_reg.threads->e[i]);
    return true;
}

/* Before event number `index` (0-based) of the stream: a new section starts there? */
bool sstate_before(uint64_t index, char *err, size_t errlen)
{
    bool ok = true;
    if (!g_sstate_on)
        return true;
    TLOCK();
    while (g_cur_section < g_nsections && g_sections[g_cur_section].start <= index) {
        ok = start_section(g_cur_section, err, errlen);
        g_cur_section++;
        if (!ok)
            break;
    }
    TUNLOCK();
    return ok;
}

uint64_t sstate_next_section(void)
{
    return g_cur_section < g_nsections ? g_sections[g_cur_section].start : UINT64_MAX;
}

void sstate_begin_cycle(void) { g_cur_section = 0; }

void sstate_end_cycle(void)
{
    TLOCK();
    release_event();
    su_clear();
    TUNLOCK();
}

/* ---- per event: libsinsp's reset ---- */

static bool thread_of_event(sevent *ev, const evinfo *ei)
{
    const ss_plugin_event *e = ev->e;
    int64_t tid = (int64_t)e->tid;
    hentry *t = NULL;
    sthread *x;
    uint16_t type = e->type;
    switch (ei->reset) {
    case RS_NONE: return true;
    case RS_SKIP:
        if (ei->kind == SK_SCHEDSWITCH || !ei->name || strcmp(ei->name, "procinfo"))
            return false;
        t = st_find(tid);
        break;
    case RS_FIND:
    case RS_SCHED: t = st_find(tid); break;
    default: t = st_get(tid); break;
    }
    if (t) {
        t->refs++;
        ev->tinfo = t;
    }
    if (ei->reset == RS_SKIP || ei->reset == RS_SCHED || !t)
        return false;
    x = tx(t);
    if (ei->reset == RS_THREAD)
        tset(t, TF_FLAGS, tu(t, TF_FLAGS) | CL_ACTIVE);
    if ((type & 1) == 0) { /* enter */
        x->lastevent_fd = -1;
        x->lastevent_type = type;
        if (ei->flags & EF_USES_FD) {
            x->lastevent_fd = ev_i64(e, ei->fdloc == 255 ? 0 : ei->fdloc);
            sstate_set_fd(ev, sf_get(t, x->lastevent_fd));
        }
        return true;
    }
    if ((ei->alt_enter != 65535 && x->lastevent_type == ei->alt_enter) ||
        x->lastevent_type == (int32_t)type - 1) {
        x->lastevent_cpu = 1; /* the stored enter event (if any) belongs to this exit */
    } else {
        x->lastevent_cpu = UINT16_MAX;
        x->lastevent_fd = -1;
    }
    if (ev_has_res(e) && ev_res(e) < 0)
        ev->errorcode = (int32_t)-ev_res(e);
    if (!(ei->flags & EF_USES_FD))
        return true;
    if (x->lastevent_fd == -1 && ei->fdloc != 255 && ei->fdloc < e->nparams) {
        sparam p = ev_param(e, ei->fdloc);
        if (p.len)
            x->lastevent_fd = ev_i64(e, ei->fdloc);
    }
    sstate_set_fd(ev, sf_get(t, x->lastevent_fd));
    return ev->fdinfo != NULL;
}

void sstate_set_fd(sevent *ev, hentry *f)
{
    if (f)
        f->refs++;
    if (ev->fdinfo)
        he_unref(ev->fdinfo);
    ev->fdinfo = f;
}

void sstate_set_thread(sevent *ev, hentry *t)
{
    if (t)
        t->refs++;
    if (ev->tinfo)
        he_unref(ev->tinfo);
    ev->tinfo = t;
}

/* store_event */
static void store_event(sevent *ev)
{
    sthread *x;
    if (!ev->tinfo)
        return;
    x = tx(ev->tinfo);
    free(x->lastevent);
    x->lastevent = xmalloc(ev->e->len);
    memcpy(x->lastevent, ev->e, ev->e->len);
    x->lastevent_cpu = ev->cpu;
}

bool retrieve_enter(sevent *ev, const ss_plugin_event **enter)
{
    sthread *x;
    const ss_plugin_event *en;
    const evinfo *ei = &g_evinfo[ev->e->type];
    if (!ev->tinfo)
        return false;
    x = tx(ev->tinfo);
    if (x->lastevent_cpu == UINT16_MAX || !x->lastevent)
        return false;
    en = (const ss_plugin_event *)x->lastevent;
    if (ei->alt_enter != 65535 && en->type == ei->alt_enter) {
        *enter = en;
        return true;
    }
    if (en->type != ev->e->type - 1) {
        x->lastevent_cpu = UINT16_MAX;
        return false;
    }
    *enter = en;
    return true;
}

/* The delayed removals the previous event asked for (sinsp::next). */
static void delayed_removals(uint64_t ts)
{
    if (g_tid_to_remove != -1) {
        hentry *t = st_find(g_tid_to_remove);
        record_exited(g_tid_to_remove, t ? ti(t, TF_PTID) : -1, ts);
        st_remove_thread(g_tid_to_remove);
        g_tid_to_remove = -1;
    }
    if (g_nfds) {
        hentry *t = st_find(g_fds_tid);
        size_t i;
        for (i = 0; t && i < g_nfds; i++) {
            htable *ft = st_fdtable(t);
            if (ft)
                ht_erase(ft, (uint64_t)g_fds[i]);
        }
        g_nfds = 0;
    }
}

/* One event through libsinsp's state engine (before the plugin parsers). */
bool sstate_event(const ss_plugin_event *e, uint16_t cpu)
{
    const evinfo *ei = e->type < EVINFO_MAX ? &g_evinfo[e->type] : NULL;
    sevent *ev = &g_sev;
    bool go;
    TLOCK();
    release_event();
    delayed_removals(e->ts);
    memset(ev, 0, sizeof *ev);
    ev->e = e;
    ev->cpu = cpu;
    if (!ei || !ei->name) {
        TUNLOCK();
        return true;
    }
    g_ss_strict = true;
    g_ss_bad.set = false;
    g_ss_bad.e = NULL;
    go = thread_of_event(ev, ei);
    if (ei->reset == RS_SKIP) {
        g_ss_strict = false;
        TUNLOCK();
        return !g_ss_bad.set;
    }
    if (ei->kind == SK_STORE) {
        if (ei->arg != 1 || ev_param(e, 0).len)
            store_event(ev);
    } else if (ei->kind == SK_CLONE) {
        sp_clone(ev);
    } else if (ei->kind == SK_EXECVE) {
        sp_execve(ev);
    } else if (ei->kind == SK_PROCEXIT) {
        sp_procexit(ev);
    } else if (sp_fd_kind(ei->kind)) {
        sp_fd(ev, ei->kind, ei->arg);
    } else if (ei->kind != SK_NONE) {
        sp_proc_misc(ev, ei->kind, ei->arg);
    }
    (void)go;
    if (ev->fdinfo) /* whether parsing renamed the event's fd */
        ev->fd_name_changed = strcmp(ts(ev->fdinfo, FF_NAME), ts(ev->fdinfo, FF_OLD_NAME)) != 0;
    /* an exit event clears the stored enter event (event_cleanup) */
    if ((e->type & 1) && ev->tinfo && tx(ev->tinfo)->lastevent)
        st_drop_stored(ev->tinfo);
    if (ev->tinfo && ei->kind != SK_SCHEDSWITCH) {
        tx(ev->tinfo)->prevevent_ts = tx(ev->tinfo)->lastevent_ts;
        tx(ev->tinfo)->lastevent_ts = e->ts;
    }
    g_ss_strict = false;
    TUNLOCK();
    return !g_ss_bad.set;
}

/* Why sstate_event stopped, in libsinsp's words (sinsp_evt_param::throw_invalid_len_error),
 * the stored enter event as it names it when the parameter was one of its. */
void sstate_bad_param(const ss_plugin_event *e, uint64_t evn, char *err, size_t errlen)
{
    const ss_plugin_event *read = g_ss_bad.e ? g_ss_bad.e : e;
    const evinfo *ei = &g_evinfo[read->type];
    uint32_t i = g_ss_bad.idx;
    const char *pname = i < ei->nparams && ei->pnames ? ei->pnames[i] : "?";
    char what[96];
    if (read == e)
        snprintf(what, sizeof what, "event %" PRIu64 " of type %u (%s)", evn,
                 (unsigned)e->type, ei->name);
    else /* libsinsp's copy of the stored enter event has number 0 */
        snprintf(what, sizeof what, "event 0 of type %u (%s)", (unsigned)read->type, ei->name);
    if (g_ss_bad.got == SIZE_MAX) {
        snprintf(err, errlen,
                 "parameter %" PRIu32 " of %s, for tid %" PRId64 ", is missing (it has %" PRIu32
                 ")",
                 i, what, (int64_t)e->tid, read->nparams);
        return;
    }
    snprintf(err, errlen,
             "could not parse param %" PRIu32 " (%s) for %s, for tid %" PRId64
             ": expected length %zu, found %zu",
             i, pname, what, (int64_t)e->tid, g_ss_bad.want, g_ss_bad.got);
}
