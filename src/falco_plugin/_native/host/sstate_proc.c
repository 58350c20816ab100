/*
 * sstate_proc.c: libsinsp's process parsers for the capture replay (parsers.cpp): clone,
 * fork, vfork and clone3 exits (the caller's and the child's), execve/execveat exits,
 * procexit, and the smaller ones: credentials, fd limits, cwd and root, sessions,
 * capabilities, memory counters, users and groups.
 */
#include "sstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- clone ---- */

static void set_str_param(hentry *t, int f, const ss_plugin_event *e, uint32_t i)
{
    size_t n;
    const char *s = ev_str(e, i, &n);
    tsetsn(t, f, s, n);
}

/* What a new thread takes from its parent or leader when that one is valid. */
static void inherit(hentry *c, hentry *from)
{
    sthread *cx = tx(c), *fx_ = tx(from);
    static const int fields[] = {TF_EXE_PATH, TF_ROOT};
    static const int nums[] = {TF_EXE_WRITABLE, TF_EXE_UPPER, TF_EXE_LOWER, TF_EXE_MEMFD,
                               TF_SID, TF_VPGID, TF_PGID, TF_TTY, TF_LOGINUID, TF_EXE_INO,
                               TF_EXE_INO_CTIME, TF_EXE_INO_MTIME};
    size_t i;
    for (i = 0; i < sizeof fields / sizeof *fields; i++)
        tsets(c, fields[i], ts(from, fields[i]));
    for (i = 0; i < sizeof nums / sizeof *nums; i++)
        tset(c, nums[i], tu(from, nums[i]));
    cx->cap_permitted = fx_->cap_permitted;
    cx->cap_inheritable = fx_->cap_inheritable;
    cx->cap_effective = fx_->cap_effective;
    cx->exe_ino_ctime_dur_clone = fx_->exe_ino_ctime_dur_clone;
}

/* A new process copies its parent's fds, cwd and env. */
static void copy_process_state(hentry *c, hentry *from)
{
    htable *src = st_fdtable(from);
    size_t i;
    if (src) {
        for (i = 0; i < src->n; i++) {
            hentry *f = sf_clone(src->e[i]);
            tset(f, FF_FLAGS, tu(f, FF_FLAGS) | FDF_CLONED);
            f->key = src->e[i]->key;
            ht_put(c->v[TF_FDS].t, f);
            he_unref(f);
        }
    }
    {
        sbuf cwd = {0};
        st_cwd(from, &cwd);
        tsets(c, TF_CWD, sb_str(&cwd));
        sb_free(&cwd);
    }
    st_copy_table(c, from, TF_ENV);
}

/* The fields both clone parsers read from the event into a new thread. */
/* fd limit, page faults and memory: parameters 7 to 12 of both clone and execve exits */
static void limits_and_memory(hentry *t, const ss_plugin_event *e)
{
    sthread *x = tx(t);
    tset(t, TF_FD_LIMIT, ev_u64(e, 7));
    if (ev_param(e, 12).len) {
        x->pfmajor = ev_u64(e, 8);
        x->pfminor = ev_u64(e, 9);
        x->vmsize_kb = (uint32_t)ev_u64(e, 10);
        x->vmrss_kb = (uint32_t)ev_u64(e, 11);
        x->vmswap_kb = (uint32_t)ev_u64(e, 12);
    }
}

static void clone_common(hentry *c, const ss_plugin_event *e)
{
    sthread *x = tx(c);
    sparam p;
    limits_and_memory(c, e);
    tset(c, TF_UID, (uint32_t)ev_u64(e, 16));
    tset(c, TF_GID, (uint32_t)ev_u64(e, 17));
    su_ensure_user((uint32_t)tu(c, TF_UID), (uint32_t)tu(c, TF_GID));
    su_ensure_group((uint32_t)tu(c, TF_GID));
    p = ev_param(e, 14);
    if (p.len)
        st_set_cgroups(c, p.p, p.len);
    x->clone_ts = e->ts;
}

/* exe, comm and args of a new thread, in the order the parser sets them (the command line
 * libsinsp keeps depends on whether the comm is known when the args are set). */
static void set_exe_comm_args(hentry *c, const ss_plugin_event *e, bool comm_first)
{
    sparam args = ev_param(e, 2);
    set_str_param(c, TF_EXE, e, 1);
    if (!comm_first)
        st_set_args(c, &args);
    if (ev_param(e, 13).len)
        set_str_param(c, TF_COMM, e, 13);
    else
        tsets(c, TF_COMM, ts(c, TF_EXE));
    if (comm_first)
        st_set_args(c, &args);
}

/* pid, ptid, vtid and vpid from a clone exit (without the namespace ids: its own tid, no vpid) */
static void clone_ids(hentry *t, const ss_plugin_event *e, int64_t tid)
{
    tset(t, TF_PID, ev_u64(e, 4));
    tset(t, TF_PTID, ev_u64(e, 5));
    if (ev_param(e, 19).len) {
        tset(t, TF_VTID, ev_u64(e, 18));
        tset(t, TF_VPID, ev_u64(e, 19));
    } else {
        tset(t, TF_VTID, (uint64_t)tid);
        tset(t, TF_VPID, (uint64_t)-1);
    }
}

static void clone_caller(sevent *ev, int64_t child_tid)
{
    const ss_plugin_event *e = ev->e;
    int64_t caller_tid = (int64_t)e->tid;
    hentry *caller = st_get(caller_tid), *old, *c;
    uint32_t flags = (uint32_t)ev_u64(e, 15);
    bool valid = true;
    if (st_invalid(caller)) {
        valid = false;
        clone_ids(caller, e, caller_tid);
        st_deps(caller);
    }
    sstate_set_thread(ev, caller);
    if ((flags & (CL_CHILD_IN_PIDNS | CL_CLONE_NEWPID | CL_CLONE_PARENT)) ||
        caller_tid != ti(caller, TF_VTID))
        return;
    if ((flags & CL_CLONE_VFORK) || g_evinfo[e->type].arg == 1)
        return;
    if (st_recently_exited(child_tid, caller_tid, e->ts))
        return;
    old = st_find(child_tid);
    if (old) {
        if (tu(old, TF_FLAGS) & CL_CLONE_INVERTED)
            return;
        st_remove_thread(child_tid);
    }
    c = st_new_thread(child_tid);
    tset(c, TF_FLAGS, flags);
    if (!(flags & CL_CLONE_THREAD)) {
        if (valid)
            copy_process_state(c, caller);
        tset(c, TF_PID, (uint64_t)child_tid);
        tset(c, TF_PTID, tu(caller, TF_TID));
    } else {
        tset(c, TF_PID, tu(caller, TF_PID));
        tset(c, TF_PTID, tu(caller, TF_PTID));
        tset(c, TF_FLAGS, tu(c, TF_FLAGS) | CL_CLONE_FILES);
        tx(c)->lastexec_ts = tx(caller)->lastexec_ts;
    }
    tset(c, TF_VTID, (uint64_t)child_tid);
    tset(c, TF_VPID, tu(c, TF_PID));
    set_exe_comm_args(c, e, false);
    clone_common(c, e);
    tset(c, TF_PIDNS_START, g_boot_ts);
    if (valid) {
        inherit(c, caller);
    } else {
        sparam args = ev_param(e, 2);
        tsets(caller, TF_EXE, ts(c, TF_EXE));
        tsets(caller, TF_COMM, ts(c, TF_COMM));
        st_set_args(caller, &args);
    }
    st_add_thread(c, true);
    he_unref(c);
}

static void clone_child(sevent *ev)
{
    const ss_plugin_event *e = ev->e;
    int64_t child_tid = (int64_t)e->tid;
    hentry *c, *lookup;
    bool valid = true, leader;
    if (ev->tinfo && tx(ev->tinfo)->clone_ts != 0) {
        if (e->ts - tx(ev->tinfo)->clone_ts < 2000000000ull)
            return;
        st_remove_thread(child_tid);
        sstate_set_thread(ev, NULL);
    }
    c = st_new_thread(child_tid);
    clone_ids(c, e, child_tid);
    tset(c, TF_FLAGS, (uint32_t)ev_u64(e, 15) | CL_CLONE_INVERTED);
    leader = !(tu(c, TF_FLAGS) & CL_CLONE_THREAD);
    if (!leader)
        tset(c, TF_FLAGS, tu(c, TF_FLAGS) | CL_CLONE_FILES);
    lookup = st_get(leader ? ti(c, TF_PTID) : ti(c, TF_PID));
    lookup->refs++;
    if (st_invalid(lookup)) {
        valid = false;
        if (!leader) {
            tset(lookup, TF_PID, tu(c, TF_PID));
            tset(lookup, TF_PTID, tu(c, TF_PTID));
            tset(lookup, TF_VPID, tu(c, TF_VPID));
            tset(lookup, TF_VTID, tu(lookup, TF_VPID));
            st_deps(lookup);
        }
    }
    set_exe_comm_args(c, e, true);
    if (valid) {
        inherit(c, lookup);
        if (leader)
            copy_process_state(c, lookup);
        else
            tx(c)->lastexec_ts = tx(lookup)->lastexec_ts;
    } else if (!leader) {
        sparam args = ev_param(e, 2);
        tsets(lookup, TF_EXE, ts(c, TF_EXE));
        tsets(lookup, TF_COMM, ts(c, TF_COMM));
        st_set_args(lookup, &args);
    }
    he_unref(lookup);
    clone_common(c, e);
    if ((tu(c, TF_FLAGS) & (CL_CHILD_IN_PIDNS | CL_CLONE_NEWPID)) ||
        ti(c, TF_TID) != ti(c, TF_VTID)) {
        if (ev_param(e, 20).len)
            tset(c, TF_PIDNS_START, ev_u64(e, 20) + g_boot_ts);
    } else {
        tset(c, TF_PIDNS_START, g_boot_ts);
    }
    st_add_thread(c, true);
    sstate_set_thread(ev, c);
    he_unref(c);
}

void sp_clone(sevent *ev)
{
    int64_t res = ev_res(ev->e);
    if (res == 0)
        clone_child(ev);
    else if (res > 0)
        clone_caller(ev, res);
}

/* ---- procexit ---- */

void sp_procexit(sevent *ev)
{
    hentry *t = ev->tinfo;
    if (!t)
        return;
    tset(t, TF_FLAGS, tu(t, TF_FLAGS) | CL_CLOSED);
    sstate_tid_to_remove((int64_t)ev->e->tid);
    if (tx(t)->children_listed == 0)
        return;
    if (ev->e->nparams > 4) {
        if (ev_param(ev->e, 4).len)
            tset(t, TF_REAPER_TID, (uint64_t)ev_i64(ev->e, 4));
    } else {
        tset(t, TF_REAPER_TID, (uint64_t)-1);
    }
}

/* ---- execve ---- */

/* The exe path of an old capture's execve, from its enter event (parse_execve_exit). */
static bool old_exepath(sevent *ev, sbuf *out)
{
    const ss_plugin_event *en, *e = ev->e;
    sbuf dir = {0};
    if (!retrieve_enter(ev, &en))
        return false;
    if (g_evinfo[en->type].kind == SK_STORE && g_evinfo[en->type].arg == 1) { /* execve */
        size_t n;
        const char *name = ev_str(en, 0, &n);
        if (n == 4 && !memcmp(name, "<NA>", 4)) {
            sb_reset(out);
            sb_adds(out, "<NA>");
        } else {
            st_cwd(ev->tinfo, &dir);
            path_concat(dir.p, dir.n, name, n, out);
        }
    } else { /* execveat: dirfd, pathname, flags */
        size_t n;
        const char *name = ev_str(en, 1, &n);
        uint32_t flags = (uint32_t)ev_u64(en, 2);
        int64_t dirfd = ev_i64(en, 0);
        bool unknown = false;
        if (n && name[0] == '/') {
            sb_adds(&dir, ".");
        } else if (dirfd == -100) {
            st_cwd(ev->tinfo, &dir);
        } else {
            hentry *f = sf_get(ev->tinfo, dirfd);
            if (!f) {
                unknown = true;
            } else {
                sb_adds(&dir, ts(f, FF_NAME));
                if (dir.n == 0 || dir.p[dir.n - 1] != '/')
                    sb_adds(&dir, "/");
                sstate_set_fd(ev, f);
            }
        }
        (void)e;
        if ((!(flags & 1u) && n == 4 && !memcmp(name, "<NA>", 4)) || unknown) {
            sb_reset(out);
            sb_adds(out, "<NA>");
        } else if (flags & 1u) { /* AT_EMPTY_PATH: the dirfd is the file */
            path_concat("", 0, dir.p, dir.n, out);
        } else {
            path_concat(dir.p, dir.n, name, n, out);
        }
    }
    sb_free(&dir);
    return true;
}

void sp_execve(sevent *ev)
{
    const ss_plugin_event *e = ev->e;
    hentry *t = ev->tinfo;
    sthread *x;
    sparam p;
    uint32_t keep;
    bool inverted;
    size_t i;
    if (!ev_has_res(e) || ev_res(e) < 0 || !t)
        return;
    x = tx(t);
    if (tu(t, TF_FLAGS) & CL_CLOSED)
        tset(t, TF_FLAGS, tu(t, TF_FLAGS) & ~CL_CLOSED); /* resurrect_thread */
    {
        size_t n;
        const char *s = ev_str(e, 1, &n);
        tsetsn(t, TF_EXE, s, n);
    }
    x->lastexec_ts = e->ts;
    if (ev_param(e, 13).len) {
        size_t n;
        const char *s = ev_str(e, 13, &n);
        tsetsn(t, TF_COMM, s, n);
    } else {
        tsets(t, TF_COMM, ts(t, TF_EXE));
    }
    p = ev_param(e, 2);
    st_set_args(t, &p);
    tset(t, TF_PID, ev_u64(e, 4));
    if (st_invalid(t)) {
        tset(t, TF_PTID, ev_u64(e, 5));
        if (!(tu(t, TF_FLAGS) & CL_CHILD_IN_PIDNS)) {
            tset(t, TF_VTID, tu(t, TF_TID));
            tset(t, TF_VPID, tu(t, TF_PID));
        }
        st_deps(t);
    }
    limits_and_memory(t, e);
    if ((p = ev_param(e, 15)).len)
        st_set_strs(t, TF_ENV, p.p, p.len);
    if ((p = ev_param(e, 14)).len)
        st_set_cgroups(t, p.p, p.len);
    if (ev_param(e, 16).len)
        tset(t, TF_TTY, (uint32_t)ev_u64(e, 16));
    if (ev_param(e, 27).len) {
        size_t n;
        const char *s = ev_str(e, 27, &n);
        tsetsn(t, TF_EXE_PATH, s, n);
    } else {
        sbuf path = {0};
        if (old_exepath(ev, &path))
            tsets(t, TF_EXE_PATH, sb_str(&path));
        sb_free(&path);
    }
    if (ev_param(e, 17).len)
        tset(t, TF_VPGID, ev_u64(e, 17));
    if (ev_param(e, 18).len)
        tset(t, TF_LOGINUID, (uint32_t)ev_u64(e, 18));
    if (ev_param(e, 19).len) {
        uint32_t f = (uint32_t)ev_u64(e, 19);
        tset(t, TF_EXE_WRITABLE, (f & 1u) != 0);
        tset(t, TF_EXE_UPPER, (f & 2u) != 0);
        tset(t, TF_EXE_MEMFD, (f & 4u) != 0);
        tset(t, TF_EXE_LOWER, (f & 8u) != 0);
    }
    if (ev_param(e, 22).len) {
        x->cap_inheritable = ev_u64(e, 20);
        x->cap_permitted = ev_u64(e, 21);
        x->cap_effective = ev_u64(e, 22);
    }
    if (ev_param(e, 25).len) {
        tset(t, TF_EXE_INO, ev_u64(e, 23));
        tset(t, TF_EXE_INO_CTIME, ev_u64(e, 24));
        tset(t, TF_EXE_INO_MTIME, ev_u64(e, 25));
        if (x->clone_ts != 0)
            x->exe_ino_ctime_dur_clone = x->clone_ts - tu(t, TF_EXE_INO_CTIME);
        if (tu(t, TF_PIDNS_START) != 0 && tu(t, TF_EXE_INO_CTIME) > tu(t, TF_PIDNS_START))
            x->exe_ino_ctime_dur_pidns = tu(t, TF_EXE_INO_CTIME) - tu(t, TF_PIDNS_START);
    }
    if (ev_param(e, 26).len)
        tset(t, TF_UID, (uint32_t)ev_u64(e, 26));
    tset(t, TF_PGID, ev_param(e, 28).len ? ev_u64(e, 28) : (uint64_t)-1);
    if (ev_param(e, 29).len)
        tset(t, TF_GID, (uint32_t)ev_u64(e, 29));
    su_ensure_user((uint32_t)tu(t, TF_UID), (uint32_t)tu(t, TF_GID));
    su_ensure_group((uint32_t)tu(t, TF_GID));
    sf_retain_cloexec(t);
    keep = (uint32_t)tu(t, TF_FLAGS) & (CL_PIPE_SRC | CL_PIPE_DST | CL_IS_MAIN_THREAD);
    inverted = (tu(t, TF_FLAGS) & CL_CLONE_INVERTED) != 0;
    tset(t, TF_FLAGS, CL_ACTIVE | keep | (inverted ? CL_CLONE_INVERTED : 0) | CL_NAME_CHANGED);
    /* the other threads of the group end (the kernel keeps only the leader) */
    if (x->in_group && st_group_count(x->gpid) > 1) {
        int64_t gpid = x->gpid, *tids = NULL;
        size_t n = 0;
        for (i = 0; i < g_reg.threads->n; i++) {
            hentry *o = g_reg.threads->e[i];
            if (o != t && o->ext && tx(o)->in_group && tx(o)->gpid == gpid && !st_is_main(o)) {
                tids = xrealloc(tids, (n + 1) * sizeof *tids);
                tids[n++] = ti(o, TF_TID);
            }
        }
        for (i = 0; i < n; i++)
            st_remove_thread(tids[i]);
        free(tids);
    }
}

/* ---- the smaller parsers ---- */

static void set_uid_gid(sevent *ev, uint32_t param, bool user)
{
    hentry *t = ev->tinfo;
    if (!t || !ev_param(ev->e, param).len)
        return;
    if (user) {
        tset(t, TF_UID, (uint32_t)ev_u64(ev->e, param));
        su_ensure_user((uint32_t)tu(t, TF_UID), (uint32_t)tu(t, TF_GID));
    } else {
        tset(t, TF_GID, (uint32_t)ev_u64(ev->e, param));
        su_ensure_group((uint32_t)tu(t, TF_GID));
    }
}

static void user_group_event(const ss_plugin_event *e, bool user, bool added)
{
    size_t n;
    char name[256] = "", home[1024] = "", shell[1024] = "";
    const char *s, *cs;
    size_t cn;
    uint32_t id, gid = 0;
#define COPY(dst, i)                                                                           \
    do {                                                                                       \
        s = ev_str(e, i, &n);                                                                  \
        n = n < sizeof dst - 1 ? n : sizeof dst - 1;                                           \
        memcpy(dst, s, n);                                                                     \
        dst[n] = 0;                                                                            \
    } while (0)
    /* the parameters in libsinsp's order (parse_user_evt, parse_group_evt) */
    id = (uint32_t)ev_u64(e, 0);
    if (user) {
        cs = ev_str(e, 5, &cn);
        if (added) {
            gid = (uint32_t)ev_u64(e, 1);
            COPY(name, 2);
            COPY(home, 3);
            COPY(shell, 4);
        }
    } else {
        COPY(name, 1);
        cs = ev_str(e, 2, &cn);
    }
#undef COPY
    if (cn && !(cn == 4 && !memcmp(cs, "<NA>", 4)))
        return; /* a container's user: containers are not tracked here */
    if (user && added)
        su_add_user(id, gid, name, home, shell, true);
    else if (user)
        su_rm_user(id);
    else if (added)
        su_add_group(id, name, true);
    else
        su_rm_group(id);
}

void sp_proc_misc(sevent *ev, uint8_t kind, uint8_t arg)
{
    const ss_plugin_event *e = ev->e;
    hentry *t = ev->tinfo, *m;
    int64_t res = ev_has_res(e) ? ev_res(e) : 0;
    size_t n;
    const char *s;
    switch (kind) {
    case SK_SETUID:
    case SK_SETGID:
        if (res == 0)
            set_uid_gid(ev, arg, kind == SK_SETUID);
        break;
    case SK_RLIMIT:
        if (!t || res < 0 || (uint8_t)ev_u64(e, 3) != 7 /* RLIMIT_NOFILE */)
            break;
        if (ev_i64(e, 1) != -1 && (m = st_main(t)) != NULL)
            tset(m, TF_FD_LIMIT, (uint64_t)ev_i64(e, 1));
        break;
    case SK_PRLIMIT: {
        int64_t tid;
        if (res != 0 || !ev_param(e, 6).len || (uint8_t)ev_u64(e, 6) != 7 ||
            ev_i64(e, 1) == -1 || !ev_param(e, 5).len)
            break;
        tid = ev_i64(e, 5) ? ev_i64(e, 5) : (int64_t)e->tid;
        m = st_get(tid);
        if (m && !st_invalid(m) && (m = st_main(m)) != NULL)
            tset(m, TF_FD_LIMIT, (uint64_t)ev_i64(e, 1));
        break;
    }
    case SK_CHDIR:
    case SK_GETCWD:
        if (res >= 0 && t) {
            s = ev_str(e, 1, &n);
            st_update_cwd(t, s, n);
        }
        break;
    case SK_FCHDIR:
        if (res >= 0 && ev->fdinfo && t)
            st_update_cwd(t, ts(ev->fdinfo, FF_NAME), strlen(ts(ev->fdinfo, FF_NAME)));
        break;
    case SK_CHROOT:
        if (t && res == 0) {
            s = ev_str(e, 1, &n);
            tsetsn(t, TF_ROOT, s, n);
        }
        break;
    case SK_SETSID:
        if (res >= 0 && t)
            tset(t, TF_SID, (uint64_t)res);
        break;
    case SK_USER_EVT:
    case SK_GROUP_EVT: user_group_event(e, kind == SK_USER_EVT, arg == 1); break;
    case SK_CAPSET:
        if (res >= 0 && t) {
            tx(t)->cap_inheritable = ev_u64(e, 1);
            tx(t)->cap_permitted = ev_u64(e, 2);
            tx(t)->cap_effective = ev_u64(e, 3);
        }
        break;
    case SK_UNSHARE:
        if (res >= 0 && t && ev_param(e, arg).len && (ev_u64(e, arg) & CL_CLONE_NEWUSER)) {
            tx(t)->cap_inheritable = tx(t)->cap_permitted = tx(t)->cap_effective =
                (1ull << 41) - 1; /* every capability this libsinsp knows */
        }
        break;
    case SK_PRCTL:
        if (res >= 0 && t && !st_invalid(t) && tx(t)->in_group &&
            ((uint32_t)ev_u64(e, 1) == 36 || (uint32_t)ev_u64(e, 1) == 37))
            st_set_reaper(tx(t)->gpid, ev_i64(e, 3) != 0);
        break;
    case SK_VM:
        if (!t)
            break;
        if (ev_param(e, 1).len)
            tx(t)->vmsize_kb = (uint32_t)ev_u64(e, 1);
        if (ev_param(e, 3).len) {
            tx(t)->vmrss_kb = (uint32_t)ev_u64(e, 2);
            tx(t)->vmswap_kb = (uint32_t)ev_u64(e, 3);
        }
        break;
    case SK_SCHEDSWITCH:
        if (!t || !ev_param(e, 5).len)
            break;
        tx(t)->pfmajor = ev_u64(e, 1);
        tx(t)->pfminor = ev_u64(e, 2);
        if ((m = st_main(t)) != NULL) {
            tx(m)->vmsize_kb = (uint32_t)ev_u64(e, 3);
            tx(m)->vmrss_kb = (uint32_t)ev_u64(e, 4);
            tx(m)->vmswap_kb = (uint32_t)ev_u64(e, 5);
        }
        break;
    default: break;
    }
}
