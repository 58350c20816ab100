/*
 * sysfields.c: the proc.*, thread.*, user.* and group.* fields of a replayed capture, as
 * libsinsp's sinsp_filter_check_thread, _user and _group extract them from the state the
 * engine rebuilt (sstate*.c): the event's thread, its main thread and ancestors (walked with
 * libsinsp's loop detection), its session and process group leaders, users and groups.
 * The fd.* and syscall evt.* fields are in sysfields_evt.c.
 */
#include "sstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char **g_sc_names;
size_t g_nsc_names;

bool sysf_read_sc_name(plan_reader *r)
{
    uint32_t sc = pr_u32(r);
    char *name = pr_str(r);
    if (sc >= 4096) {
        free(name);
        return false;
    }
    if (sc >= g_nsc_names) {
        g_sc_names = xrealloc(g_sc_names, (sc + 1) * sizeof *g_sc_names);
        memset(g_sc_names + g_nsc_names, 0, (sc + 1 - g_nsc_names) * sizeof *g_sc_names);
        g_nsc_names = sc + 1;
    }
    free(g_sc_names[sc]);
    g_sc_names[sc] = name;
    return !r->bad;
}

/* ---- threads ---- */

/* get_ancestor_process: the main thread n parents up. */
static hentry *ancestor(hentry *t, int64_t n)
{
    hentry *m = st_main(t);
    int64_t i;
    for (i = 0; i < n; i++) {
        if (!m || !(m = st_find(ti(m, TF_PTID))))
            return NULL;
        m = st_main(m);
    }
    return m;
}

typedef bool (*visit_fn)(hentry *t, void *ctx);

/* traverse_parent_state: the parents of t, oldest last, stopping at a loop. */
static void traverse(hentry *t, visit_fn visit, void *ctx)
{
    hentry *slow = st_find(ti(t, TF_PTID)), *fast = slow;
    int i;
    fast = fast ? st_find(ti(fast, TF_PTID)) : NULL;
    while (slow && ti(slow, TF_TID) != -1) {
        if (!visit(slow, ctx))
            break;
        slow = st_find(ti(slow, TF_PTID));
        for (i = 0; i < 2; i++) {
            fast = fast ? st_find(ti(fast, TF_PTID)) : NULL;
            if (slow && (slow == fast || ti(slow, TF_TID) == ti(slow, TF_PTID)))
                return;
        }
    }
}

static void strtab_join(const hentry *t, int f, sbuf *out)
{
    const htable *tab = t->v[f].t;
    size_t i;
    for (i = 0; i < tab->n; i++) {
        if (i)
            sb_adds(out, " ");
        sb_adds(out, tab->e[i]->v[0].s ? tab->e[i]->v[0].s : "");
    }
}

static void cmdline(const hentry *t, sbuf *out)
{
    const sthread *x = t->ext;
    if (x && x->cmdline) {
        sb_adds(out, x->cmdline);
        return;
    }
    sb_adds(out, ts(t, TF_COMM));
    if (t->v[TF_ARGS].t->n) {
        sb_adds(out, " ");
        strtab_join(t, TF_ARGS, out);
    }
}

enum { WHAT_EXE, WHAT_EXEPATH, WHAT_NAME, WHAT_ARGS, WHAT_CMDLINE };

static void thread_text(const hentry *t, int what, sbuf *out)
{
    switch (what) {
    case WHAT_EXE: sb_adds(out, ts(t, TF_EXE)); break;
    case WHAT_EXEPATH: sb_adds(out, ts(t, TF_EXE_PATH)); break;
    case WHAT_NAME: sb_adds(out, ts(t, TF_COMM)); break;
    case WHAT_ARGS: strtab_join(t, TF_ARGS, out); break;
    default: cmdline(t, out); break;
    }
}

typedef struct {
    sbuf *out;
    int what;
} join_ctx;

static bool join_visit(hentry *t, void *p)
{
    join_ctx *c = p;
    if (c->out->n)
        sb_adds(c->out, " ");
    thread_text(t, c->what, c->out);
    return true;
}

/* proc.aname and its kin: [N] the Nth ancestor, no argument: every ancestor joined. */
static bool ancestors_text(hentry *t, int64_t n, int what, xvalue *v)
{
    sbuf b = {0};
    hentry *m;
    bool ok = false;
    if (n == -1) {
        join_ctx c = {&b, what};
        if ((m = st_main(t)) != NULL) {
            traverse(m, join_visit, &c);
            ok = b.n > 0;
        }
    } else if ((m = ancestor(t, n)) != NULL) {
        thread_text(m, what, &b);
        ok = true;
    }
    if (ok)
        xv_set_str(v, b.p ? b.p : "", b.n);
    sb_free(&b);
    return ok;
}

typedef struct {
    int64_t id;
    int field;
    hentry *leader;
} leader_ctx;

static bool leader_visit(hentry *t, void *p)
{
    leader_ctx *c = p;
    if (ti(t, c->field) != c->id)
        return false;
    c->leader = t;
    return true;
}

static bool in_pidns(const hentry *t)
{
    return (tu(t, TF_FLAGS) & CL_CHILD_IN_PIDNS) ||
           (ti(t, TF_TID) != ti(t, TF_VTID) && ti(t, TF_VTID) >= 0);
}

/* get_ancestor_field_as_string: a field of the session or process group leader ("" when
 * none is known). */
static bool leader_text(hentry *t, int field, bool virtual_id, int what, xvalue *v)
{
    leader_ctx c = {ti(t, field), field, NULL};
    sbuf b = {0};
    if (c.id != -1) {
        if (!virtual_id || !in_pidns(t))
            c.leader = st_find(c.id);
        if (!c.leader)
            traverse(t, leader_visit, &c);
        if (c.leader)
            thread_text(c.leader, what, &b);
    }
    xv_set_str(v, b.p ? b.p : "", b.n);
    sb_free(&b);
    return true;
}

static bool xid(xvalue *v, int64_t id)
{
    if (id < -1 || id > (int64_t)UINT32_MAX)
        return false;
    xv_set_u64(v, (uint64_t)id);
    return true;
}

/* The value of environment variable `name` ("" when absent), spaces trimmed. */
static void env_value(hentry *t, const char *name, sbuf *out)
{
    hentry *m = st_is_main(t) ? t : st_main(t);
    const htable *env = (m ? m : t)->v[TF_ENV].t;
    size_t i, n = strlen(name);
    for (i = 0; i < env->n; i++) {
        const char *e = env->e[i]->v[0].s ? env->e[i]->v[0].s : "";
        size_t el = strlen(e), first, last;
        if (el > n + 1 && e[n] == '=' && !strncmp(e, name, n)) {
            for (first = n + 1; first < el && e[first] == ' '; first++)
                ;
            if (first == el)
                return;
            for (last = el - 1; last > first && e[last] == ' '; last--)
                ;
            sb_add(out, e + first, last - first + 1);
            return;
        }
    }
}

static void env_all(hentry *t, sbuf *out)
{
    hentry *m = st_is_main(t) ? t : st_main(t);
    strtab_join(m ? m : t, TF_ENV, out);
}

static bool env_field(hentry *t, const field_req *r, bool ancestors, xvalue *v)
{
    sbuf b = {0};
    int64_t n = (int64_t)r->arg_index, j;
    hentry *m;
    bool ok = true;
    if (!ancestors) {
        if (r->arg_key)
            env_value(t, r->arg_key, &b);
        else
            env_all(t, &b);
    } else if (!r->arg_key && n < 1) {
        env_all(t, &b);
    } else if ((m = st_is_main(t) ? t : st_main(t)) != NULL) {
        if (r->arg_key) {
            for (j = 0; j < 20 && (m = st_find(ti(m, TF_PTID))) != NULL; j++) {
                env_value(m, r->arg_key, &b);
                if (b.n)
                    break;
            }
        } else {
            for (j = 0; j < n && m; j++)
                m = st_find(ti(m, TF_PTID));
            if (m)
                env_all(m, &b);
            else
                ok = false;
        }
    }
    if (ok)
        xv_set_str(v, b.p ? b.p : "", b.n);
    sb_free(&b);
    return ok;
}

typedef struct {
    int64_t *res;
} shell_ctx;

static bool shell_visit(hentry *t, void *p)
{
    const char *c = ts(t, TF_COMM);
    size_t n = strlen(c);
    if (n >= 2 && c[n - 2] == 's' && c[n - 1] == 'h')
        ((shell_ctx *)p)->res = (int64_t *)&t->v[TF_PID].u;
    return true;
}

static bool std_fd(hentry *t, int64_t fd, bool name, xvalue *v)
{
    htable *ft = st_fdtable(t);
    hentry *f = ft ? ht_get(ft, (uint64_t)fd) : NULL;
    const char *s;
    if (!f)
        return false;
    s = name ? ts(f, FF_NAME) : fd_typestring(f);
    xv_set_str(v, s, strlen(s));
    return true;
}

static uint64_t group_count(hentry *t)
{
    return tx(t)->in_group ? st_group_count(tx(t)->gpid) : 0;
}

static bool user_fields(const field_req *r, hentry *t, xvalue *v)
{
    const char *name = NULL, *home = NULL, *shell = NULL;
    uint32_t uid = (uint32_t)tu(t, TF_UID), login = (uint32_t)tu(t, TF_LOGINUID);
    bool found;
    switch (r->evt_code) {
    case SF_USER_UID: xv_set_u64(v, uid); return true;
    case SF_USER_NAME:
    case SF_USER_HOMEDIR:
    case SF_USER_SHELL:
        found = su_user(uid, &name, &home, &shell);
        if (r->evt_code == SF_USER_NAME)
            name = found ? name : uid == 0 ? "root" : "<NA>";
        else if (r->evt_code == SF_USER_HOMEDIR)
            name = found ? home : uid == 0 ? "/root" : "<NA>";
        else
            name = found ? shell : "<NA>";
        xv_set_str(v, name, strlen(name));
        return true;
    case SF_USER_LOGINUID: xv_set_u64(v, login < UINT32_MAX ? login : (uint64_t)-1); return true;
    case SF_USER_LOGINNAME:
        found = su_user(login, &name, &home, &shell);
        name = found ? name : login == 0 ? "root" : "<NA>";
        xv_set_str(v, name, strlen(name));
        return true;
    case SF_GROUP_GID: xv_set_u64(v, (uint32_t)tu(t, TF_GID)); return true;
    case SF_GROUP_NAME:
        if (!su_group((uint32_t)tu(t, TF_GID), &name))
            name = "<NA>";
        xv_set_str(v, name, strlen(name));
        return true;
    default: return false;
    }
}

/* The thread of the event's fields: its parsed thread, else the one of its tid (libsinsp's
 * get_thread_info, for the events its parser gives none: user and group events...). */
hentry *sysf_thread(const ss_plugin_event *e)
{
    return g_sev.tinfo ? g_sev.tinfo : st_find((int64_t)e->tid);
}

/* A proc.*, thread.*, user.* or group.* field of the current event; false: absent. */
bool sysf_thread_field(const field_req *r, const ss_plugin_event *e, xvalue *v)
{
    hentry *t = sysf_thread(e), *m;
    const sthread *x;
    int64_t n = (int64_t)r->arg_index;
    sbuf b = {0};
    bool ok = true;
    if (r->evt_code == SF_THREAD_TID)
        return xid(v, (int64_t)e->tid);
    if (!t)
        return false;
    x = tx(t);
    if (r->evt_code >= SF_USER_UID && r->evt_code <= SF_GROUP_NAME)
        return user_fields(r, t, v);
    switch (r->evt_code) {
    case SF_PROC_PID: return xid(v, ti(t, TF_PID));
    case SF_PROC_SID: xv_set_u64(v, tu(t, TF_SID)); return true;
    case SF_PROC_VPGID: xv_set_u64(v, tu(t, TF_VPGID)); return true;
    case SF_PROC_PGID: xv_set_u64(v, tu(t, TF_PGID)); return true;
    case SF_PROC_SNAME: return leader_text(t, TF_SID, true, WHAT_NAME, v);
    case SF_PROC_SID_EXE: return leader_text(t, TF_SID, true, WHAT_EXE, v);
    case SF_PROC_SID_EXEPATH: return leader_text(t, TF_SID, true, WHAT_EXEPATH, v);
    case SF_PROC_VPGID_NAME: return leader_text(t, TF_VPGID, true, WHAT_NAME, v);
    case SF_PROC_VPGID_EXE: return leader_text(t, TF_VPGID, true, WHAT_EXE, v);
    case SF_PROC_VPGID_EXEPATH: return leader_text(t, TF_VPGID, true, WHAT_EXEPATH, v);
    case SF_PROC_PGID_NAME: return leader_text(t, TF_PGID, false, WHAT_NAME, v);
    case SF_PROC_PGID_EXE: return leader_text(t, TF_PGID, false, WHAT_EXE, v);
    case SF_PROC_PGID_EXEPATH: return leader_text(t, TF_PGID, false, WHAT_EXEPATH, v);
    case SF_PROC_TTY: xv_set_u64(v, (uint32_t)tu(t, TF_TTY)); return true;
    case SF_PROC_NAME: thread_text(t, WHAT_NAME, &b); break;
    case SF_PROC_EXE: thread_text(t, WHAT_EXE, &b); break;
    case SF_PROC_EXEPATH: thread_text(t, WHAT_EXEPATH, &b); break;
    case SF_PROC_ARGS:
        if (n >= 0) {
            if ((uint64_t)n < t->v[TF_ARGS].t->n)
                sb_adds(&b, ts(t->v[TF_ARGS].t->e[n], 0));
        } else {
            thread_text(t, WHAT_ARGS, &b);
        }
        break;
    case SF_PROC_AARGS: return ancestors_text(t, n, WHAT_ARGS, v);
    case SF_PROC_ENV: return env_field(t, r, false, v);
    case SF_PROC_AENV: return env_field(t, r, true, v);
    case SF_PROC_CMDLINE: cmdline(t, &b); break;
    case SF_PROC_EXELINE:
        sb_adds(&b, ts(t, TF_EXE));
        sb_adds(&b, " ");
        strtab_join(t, TF_ARGS, &b);
        break;
    case SF_PROC_CWD: st_cwd(t, &b); break;
    case SF_PROC_NTHREADS: xv_set_u64(v, group_count(t)); return true;
    case SF_PROC_NCHILDS:
        m = st_main(t);
        xv_set_u64(v, group_count(t) - (group_count(t) && m && !(tu(m, TF_FLAGS) & CL_CLOSED)));
        return true;
    case SF_THREAD_ISMAIN: xv_set_u64(v, st_is_main(t)); return true;
    case SF_PROC_PPID: return (m = ancestor(t, 1)) != NULL && xid(v, ti(m, TF_PID));
    case SF_PROC_PNAME: return ancestors_text(t, 1, WHAT_NAME, v);
    case SF_PROC_PCMDLINE: return ancestors_text(t, 1, WHAT_CMDLINE, v);
    case SF_PROC_ACMDLINE: return ancestors_text(t, n, WHAT_CMDLINE, v);
    case SF_PROC_APID: return (m = ancestor(t, n == -1 ? 0 : n)) != NULL && xid(v, ti(m, TF_PID));
    case SF_PROC_ANAME: return ancestors_text(t, n, WHAT_NAME, v);
    case SF_PROC_PEXE: return ancestors_text(t, 1, WHAT_EXE, v);
    case SF_PROC_AEXE: return ancestors_text(t, n, WHAT_EXE, v);
    case SF_PROC_PEXEPATH: return ancestors_text(t, 1, WHAT_EXEPATH, v);
    case SF_PROC_AEXEPATH: return ancestors_text(t, n, WHAT_EXEPATH, v);
    case SF_PROC_LOGINSHELLID: {
        shell_ctx c = {NULL};
        if (!(m = st_is_main(t) ? t : st_main(t)))
            return false;
        shell_visit(m, &c);
        traverse(m, shell_visit, &c);
        if (!c.res)
            return false;
        xv_set_u64(v, (uint64_t)*c.res);
        return true;
    }
    case SF_PROC_DURATION:
        if (!x->clone_ts)
            return false;
        xv_set_u64(v, e->ts - x->clone_ts);
        return true;
    case SF_PROC_PPID_DURATION:
        m = ancestor(t, 1);
        if (!m)
            return false;
        if (tx(m)->clone_ts) {
            xv_set_u64(v, e->ts - tx(m)->clone_ts);
            return true;
        }
        /* libsinsp's case has no break here: it gives the fd count */
        /* fall through */
    case SF_PROC_FDOPENCOUNT:
        m = st_main(t);
        xv_set_u64(v, m ? m->v[TF_FDS].t->n : 0);
        return true;
    case SF_PROC_FDLIMIT:
        m = st_main(t);
        xv_set_u64(v, m ? tu(m, TF_FD_LIMIT) : 0);
        return true;
    case SF_PROC_VMSIZE: xv_set_u64(v, x->vmsize_kb); return true;
    case SF_PROC_VMRSS: xv_set_u64(v, x->vmrss_kb); return true;
    case SF_PROC_VMSWAP: xv_set_u64(v, x->vmswap_kb); return true;
    case SF_THREAD_VMSIZE: xv_set_u64(v, st_is_main(t) ? x->vmsize_kb : 0); return true;
    case SF_THREAD_VMRSS: xv_set_u64(v, st_is_main(t) ? x->vmrss_kb : 0); return true;
    case SF_THREAD_PFMAJOR: xv_set_u64(v, x->pfmajor); return true;
    case SF_THREAD_PFMINOR: xv_set_u64(v, x->pfminor); return true;
    case SF_THREAD_CGROUPS: {
        const htable *cg = t->v[TF_CGROUPS].t;
        size_t i;
        if (!cg->n)
            return false;
        for (i = 0; i < cg->n; i++)
            sb_printf(&b, "%s%s=%s", i ? " " : "", ts(cg->e[i], 0), ts(cg->e[i], 1));
        break;
    }
    case SF_THREAD_CGROUP: {
        const htable *cg = t->v[TF_CGROUPS].t;
        size_t i;
        for (i = 0; i < cg->n && strcmp(ts(cg->e[i], 0), r->arg_key ? r->arg_key : ""); i++)
            ;
        if (i == cg->n)
            return false;
        sb_adds(&b, ts(cg->e[i], 1));
        break;
    }
    case SF_THREAD_VTID:
        if (ti(t, TF_VTID) == -1)
            return false;
        xv_set_u64(v, tu(t, TF_VTID));
        return true;
    case SF_PROC_VPID:
        if (ti(t, TF_VPID) == -1)
            return false;
        xv_set_u64(v, tu(t, TF_VPID));
        return true;
    case SF_PROC_IS_EXE_WRITABLE: xv_set_u64(v, tu(t, TF_EXE_WRITABLE)); return true;
    case SF_PROC_IS_EXE_UPPER_LAYER: xv_set_u64(v, tu(t, TF_EXE_UPPER)); return true;
    case SF_PROC_IS_EXE_LOWER_LAYER: xv_set_u64(v, tu(t, TF_EXE_LOWER)); return true;
    case SF_PROC_IS_EXE_FROM_MEMFD: xv_set_u64(v, tu(t, TF_EXE_MEMFD)); return true;
    case SF_PROC_IS_SID_LEADER: xv_set_u64(v, ti(t, TF_SID) == ti(t, TF_VPID)); return true;
    case SF_PROC_IS_VPGID_LEADER: xv_set_u64(v, ti(t, TF_VPGID) == ti(t, TF_VPID)); return true;
    case SF_PROC_IS_PGID_LEADER: xv_set_u64(v, ti(t, TF_PGID) == ti(t, TF_PID)); return true;
    case SF_PROC_CMDNARGS: xv_set_u64(v, t->v[TF_ARGS].t->n); return true;
    case SF_PROC_CMDLENARGS: {
        uint64_t len = 0;
        size_t i;
        for (i = 0; i < t->v[TF_ARGS].t->n; i++)
            len += strlen(ts(t->v[TF_ARGS].t->e[i], 0));
        xv_set_u64(v, len);
        return true;
    }
    case SF_PROC_PVPID:
        if (!(m = st_find(ti(t, TF_PTID))))
            return false;
        xv_set_u64(v, tu(m, TF_VPID));
        return true;
    case SF_PROC_EXE_INO:
    case SF_PROC_EXE_INO_CTIME:
    case SF_PROC_EXE_INO_MTIME:
    case SF_PROC_EXE_INO_DUR_CLONE:
    case SF_PROC_EXE_INO_DUR_PIDNS:
    case SF_PROC_PIDNS_INIT_START_TS:
    case SF_PROC_PID_TS: {
        uint64_t u = r->evt_code == SF_PROC_EXE_INO            ? tu(t, TF_EXE_INO)
                     : r->evt_code == SF_PROC_EXE_INO_CTIME    ? tu(t, TF_EXE_INO_CTIME)
                     : r->evt_code == SF_PROC_EXE_INO_MTIME    ? tu(t, TF_EXE_INO_MTIME)
                     : r->evt_code == SF_PROC_EXE_INO_DUR_CLONE ? x->exe_ino_ctime_dur_clone
                     : r->evt_code == SF_PROC_EXE_INO_DUR_PIDNS ? x->exe_ino_ctime_dur_pidns
                     : r->evt_code == SF_PROC_PID_TS           ? x->clone_ts
                                                               : tu(t, TF_PIDNS_START);
        if (u == 0)
            return false;
        xv_set_u64(v, u);
        return true;
    }
    case SF_PROC_PPID_TS:
        if (!(m = st_find(ti(t, TF_PTID))))
            return false;
        xv_set_u64(v, tx(m)->clone_ts);
        return true;
    case SF_PROC_STDIN_TYPE: return std_fd(t, 0, false, v);
    case SF_PROC_STDOUT_TYPE: return std_fd(t, 1, false, v);
    case SF_PROC_STDERR_TYPE: return std_fd(t, 2, false, v);
    case SF_PROC_STDIN_NAME: return std_fd(t, 0, true, v);
    case SF_PROC_STDOUT_NAME: return std_fd(t, 1, true, v);
    case SF_PROC_STDERR_NAME: return std_fd(t, 2, true, v);
    default: ok = false; break;
    }
    if (ok)
        xv_set_str(v, b.p ? b.p : "", b.n);
    sb_free(&b);
    return ok;
}
