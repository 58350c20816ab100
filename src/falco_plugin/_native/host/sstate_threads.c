/*
 * sstate_threads.c: the capture replay's thread manager, libsinsp's sinsp_thread_manager and
 * thread_group_info as far as the threads table goes: lookups, the main thread of a group,
 * the fd table a thread uses (its leader's with CLONE_FILES), thread groups (their count of
 * live threads, reapers, and what a table entry put over a live one leaves in its group),
 * children, adding a thread with its dependencies, and removal with reparenting.
 */
#include "sstate.h"

#include <stdlib.h>
#include <string.h>

/* ---- threads ---- */

void tsets(hentry *t, int f, const char *s) { tsetsn(t, f, s, strlen(s)); }

void tsetsn(hentry *t, int f, const char *s, size_t n)
{
    char *c = xmalloc(n + 1);
    memcpy(c, s, n);
    c[n] = 0;
    free(t->v[f].s);
    t->v[f].s = c;
}

static void sthread_free(void *p)
{
    sthread *x = p;
    if (x) {
        free(x->lastevent);
        free(x->cmdline);
    }
    free(x);
}

sthread *tx_ensure(hentry *t)
{
    if (!t->ext) {
        sthread *x = xcalloc(1, sizeof *x);
        x->lastevent_type = -1;
        x->lastevent_cpu = UINT16_MAX;
        t->ext = x;
        t->ext_free = sthread_free;
    }
    return t->ext;
}

hentry *st_find(int64_t tid)
{
    hentry *t = ht_get(g_reg.threads, (uint64_t)tid);
    if (t)
        tx_ensure(t);
    return t;
}

bool st_invalid(const hentry *t)
{
    return ti(t, TF_TID) < 0 || ti(t, TF_PID) < 0 || ti(t, TF_PTID) < 0;
}

bool st_is_main(const hentry *t)
{
    return ti(t, TF_TID) == ti(t, TF_PID) || (tu(t, TF_FLAGS) & CL_IS_MAIN_THREAD);
}

hentry *st_main(hentry *t)
{
    hentry *m;
    if (st_is_main(t))
        return t;
    if (!tx(t)->in_group)
        return NULL;
    /* get_main_thread: the first of its group's list, when it is a main thread */
    m = st_find(tx(t)->gpid);
    return (m && m != t && st_is_main(m) && tx(m)->in_group && tx(m)->gpid == tx(t)->gpid)
               ? m
               : NULL;
}

hentry *st_fdtable_owner(hentry *t)
{
    if (!(tu(t, TF_FLAGS) & CL_CLONE_FILES))
        return t;
    return st_main(t);
}

htable *st_fdtable(hentry *t)
{
    hentry *o = st_fdtable_owner(t);
    return o ? o->v[TF_FDS].t : NULL;
}

/* The entry whose nested table a field of an entry shows (tables_api.c asks): a thread's
 * `file_descriptors` are its leader's when it shares them (CLONE_FILES). */
hentry *sstate_table_holder(hentry *t, const hfield *f)
{
    hentry *o;
    if (!g_sstate_on || t->sc != g_reg.sc_threads || f->index != TF_FDS)
        return t;
    tx_ensure(t);
    o = st_fdtable_owner(t);
    return o ? o : t;
}

hentry *st_new_thread(int64_t tid)
{
    hentry *t = he_new(g_reg.sc_threads);
    t->refs = 1;
    tx_ensure(t);
    t->key = (uint64_t)tid;
    tset(t, TF_TID, (uint64_t)tid);
    tset(t, TF_FLAGS, CL_NAME_CHANGED);
    return t;
}

/* Groups that count a thread the table no longer has: libsinsp's add_thread puts a new entry
 * over a live one of the same tid without remove_thread (a clone child event for a thread
 * of the process list), and the group's count keeps the one it replaced (as does its group,
 * with its reaper flag). */
typedef struct {
    int64_t pid;
    uint64_t count;
    bool reaper;
} sghost;
static sghost *g_ghosts;
static size_t g_nghosts;

void st_reset_groups(void) { g_nghosts = 0; }

static sghost *ghost(int64_t pid)
{
    size_t i;
    for (i = 0; i < g_nghosts; i++)
        if (g_ghosts[i].pid == pid)
            return &g_ghosts[i];
    return NULL;
}

/* The live threads of a group (thread_group_info's count). */
uint64_t st_group_count(int64_t pid)
{
    size_t i;
    const sghost *gh = g_nghosts ? ghost(pid) : NULL;
    uint64_t n = gh ? gh->count : 0;
    for (i = 0; i < g_reg.threads->n; i++) {
        hentry *t = g_reg.threads->e[i];
        if (t->ext && tx(t)->in_group && tx(t)->gpid == pid && !(tu(t, TF_FLAGS) & CL_CLOSED))
            n++;
    }
    return n;
}

static bool group_exists(int64_t pid, const hentry *except, bool *reaper)
{
    size_t i;
    const sghost *gh = g_nghosts ? ghost(pid) : NULL;
    if (gh) {
        *reaper = gh->reaper;
        return true;
    }
    for (i = 0; i < g_reg.threads->n; i++) {
        hentry *t = g_reg.threads->e[i];
        if (t != except && t->ext && tx(t)->in_group && tx(t)->gpid == pid) {
            *reaper = tx(t)->reaper;
            return true;
        }
    }
    return false;
}

void st_set_reaper(int64_t pid, bool reaper)
{
    size_t i;
    sghost *gh = g_nghosts ? ghost(pid) : NULL;
    if (gh)
        gh->reaper = reaper;
    for (i = 0; i < g_reg.threads->n; i++) {
        hentry *t = g_reg.threads->e[i];
        if (t->ext && tx(t)->in_group && tx(t)->gpid == pid)
            tx(t)->reaper = reaper;
    }
}

static void add_child(hentry *parent, hentry *child)
{
    tset(child, TF_PTID, tu(parent, TF_TID));
    tx(parent)->children_listed++;
    tx(parent)->children_alive++;
}

/* create_thread_dependencies: its group, and its place among its parent's children. */
void st_deps(hentry *t)
{
    hentry *parent;
    bool reaper = false;
    if (st_invalid(t) || tx(t)->in_group)
        return;
    if (!group_exists(ti(t, TF_PID), t, &reaper))
        reaper = ti(t, TF_PID) == 1 || ti(t, TF_VPID) == 1;
    tx(t)->in_group = true;
    tx(t)->gpid = ti(t, TF_PID);
    tx(t)->reaper = reaper;
    if (ti(t, TF_PID) == 1)
        return;
    parent = st_find(ti(t, TF_PTID));
    if (!parent || st_invalid(parent)) {
        tset(t, TF_PTID, 0);
        return;
    }
    add_child(parent, t);
}

void st_add_thread(hentry *t, bool deps)
{
    hentry *old = st_find(ti(t, TF_TID));
    if (old && old != t && old->ext && tx(old)->in_group && !(tu(old, TF_FLAGS) & CL_CLOSED)) {
        int64_t pid = tx(old)->gpid;
        sghost *gh = ghost(pid);
        if (!gh) {
            g_ghosts = xrealloc(g_ghosts, (g_nghosts + 1) * sizeof *g_ghosts);
            gh = &g_ghosts[g_nghosts++];
            gh->pid = pid;
            gh->count = 0;
        }
        gh->count++;
        gh->reaper = tx(old)->reaper;
    }
    ht_put(g_reg.threads, t);
    if (deps)
        st_deps(t);
}

hentry *st_get(int64_t tid)
{
    hentry *t = st_find(tid);
    if (t)
        return t;
    t = st_new_thread(tid);
    tset(t, TF_PID, (uint64_t)-1);
    tset(t, TF_PTID, (uint64_t)-1);
    tset(t, TF_REAPER_TID, (uint64_t)-1);
    tsets(t, TF_COMM, "<NA>");
    tsets(t, TF_EXE, "<NA>");
    st_add_thread(t, true);
    he_unref(t);
    return t;
}

static void remove_child_from_parent(int64_t ptid)
{
    hentry *parent = st_find(ptid);
    size_t i;
    if (!parent)
        return;
    tx(parent)->children_alive--;
    if (tx(parent)->children_listed - tx(parent)->children_alive >= 10) {
        uint64_t n = 0;
        for (i = 0; i < g_reg.threads->n; i++) {
            hentry *c = g_reg.threads->e[i];
            if (c != parent && ti(c, TF_PTID) == ptid && c->ext && tx(c)->in_group)
                n++;
        }
        tx(parent)->children_listed = n;
    }
}

static bool in_pidns(const hentry *t)
{
    return (tu(t, TF_FLAGS) & CL_CHILD_IN_PIDNS) ||
           (ti(t, TF_TID) != ti(t, TF_VTID) && ti(t, TF_VTID) >= 0);
}

/* A live thread of the group of pid other than `not`, or NULL. */
static hentry *live_in_group(int64_t pid, const hentry *not)
{
    size_t i;
    hentry *first = NULL;
    for (i = 0; i < g_reg.threads->n; i++) {
        hentry *t = g_reg.threads->e[i];
        if (t == not || !t->ext || !tx(t)->in_group || tx(t)->gpid != pid ||
            (tu(t, TF_FLAGS) & CL_CLOSED))
            continue;
        if (st_is_main(t))
            return t; /* the main thread leads its group's list */
        if (!first)
            first = t;
    }
    return first;
}

/* find_new_reaper */
static hentry *new_reaper(hentry *t)
{
    hentry *r = live_in_group(tx(t)->gpid, t), *parent;
    int64_t seen[64];
    size_t nseen = 1, k;
    if (r)
        return r;
    seen[0] = ti(t, TF_TID);
    parent = st_find(ti(t, TF_PTID));
    while (parent) {
        for (k = 0; k < nseen; k++)
            if (seen[k] == ti(parent, TF_TID))
                return NULL; /* a loop */
        if (nseen < 64)
            seen[nseen++] = ti(parent, TF_TID);
        if (in_pidns(parent) != in_pidns(t))
            break;
        if (tx(parent)->in_group && tx(parent)->reaper &&
            (r = live_in_group(tx(parent)->gpid, NULL)) != NULL)
            return r;
        parent = st_find(ti(parent, TF_PTID));
    }
    return NULL;
}

static void reparent_children(hentry *t, hentry *reaper)
{
    size_t i;
    int64_t tid = ti(t, TF_TID);
    for (i = 0; i < g_reg.threads->n; i++) {
        hentry *c = g_reg.threads->e[i];
        if (c == t || ti(c, TF_PTID) != tid || !c->ext || !tx(c)->in_group)
            continue;
        if (reaper)
            add_child(reaper, c);
        else
            tset(c, TF_PTID, 0);
    }
    tx(t)->children_listed = tx(t)->children_alive = 0;
}

/* sinsp_thread_manager::remove_thread */
void st_remove_thread(int64_t tid)
{
    hentry *t = st_find(tid), *reaper = NULL;
    int64_t pid;
    if (!t)
        return;
    if (st_invalid(t) || !tx(t)->in_group) {
        remove_child_from_parent(ti(t, TF_PTID));
        ht_erase(g_reg.threads, (uint64_t)tid);
        return;
    }
    t->refs++; /* it may leave the table twice below */
    tset(t, TF_FLAGS, tu(t, TF_FLAGS) | CL_CLOSED);
    pid = ti(t, TF_PID);
    if (tx(t)->children_listed) {
        if (ti(t, TF_REAPER_TID) > 0) {
            reaper = st_get(ti(t, TF_REAPER_TID));
            if (reaper && st_invalid(reaper))
                reaper = NULL;
        }
        if (!reaper)
            reaper = new_reaper(t);
        if (reaper) {
            tset(t, TF_REAPER_TID, tu(reaper, TF_TID));
            if (ti(reaper, TF_PID) != ti(t, TF_PID) && tx(reaper)->in_group)
                st_set_reaper(tx(reaper)->gpid, true);
        }
        reparent_children(t, reaper);
    }
    if (st_group_count(tx(t)->gpid) == 0) {
        remove_child_from_parent(ti(t, TF_PTID));
        ht_erase(g_reg.threads, (uint64_t)pid);
    }
    if (!st_is_main(t)) {
        remove_child_from_parent(ti(t, TF_PTID));
        ht_erase(g_reg.threads, (uint64_t)tid);
    }
    he_unref(t);
}

void st_drop_stored(hentry *t)
{
    sthread *x = tx(t);
    free(x->lastevent);
    x->lastevent = NULL;
    x->lastevent_cpu = UINT16_MAX;
}

