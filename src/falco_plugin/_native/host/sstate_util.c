/*
 * sstate_util.c: helpers of the capture replay's state engine: a thread's string tables
 * (args, env, cgroups) filled as libsinsp splits them, paths joined and normalized as
 * sinsp_utils::concatenate_paths does, the cwd, and the users and groups table that the
 * user.* and group.* fields read (sinsp_usergroup_manager for host users); event parameters
 * read as libsinsp's sinsp_evt_param::as<T>() reads them.
 */
#include "sstate.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- string tables of a thread ---- */

static void strtab_clear(hentry *t, int f) { ht_clear(t->v[f].t); }

static void strtab_add(htable *tab, const char *a, size_t an, const char *b, size_t bn,
                       bool pair)
{
    hentry *e = he_new(tab->sc);
    e->refs = 1;
    e->key = tab->n;
    e->v[0].s = xmalloc(an + 1);
    memcpy(e->v[0].s, a, an);
    e->v[0].s[an] = 0;
    if (pair) {
        e->v[1].s = xmalloc(bn + 1);
        memcpy(e->v[1].s, b, bn);
        e->v[1].s[bn] = 0;
    }
    ht_put(tab, e);
    he_unref(e);
}

/* A NUL-separated list (one trailing NUL dropped), as sinsp_split cuts it. */
void st_set_strs(hentry *t, int f, const uint8_t *p, uint32_t len)
{
    const char *s = (const char *)p;
    size_t start = 0, i;
    strtab_clear(t, f);
    if (len > 0 && s[len - 1] == 0)
        len--;
    if (len == 0)
        return;
    for (i = 0; i <= len; i++) {
        if (i == len || s[i] == 0) {
            strtab_add(t->v[f].t, s + start, i - start, NULL, 0, false);
            start = i + 1;
        }
    }
}

/* set_args: also the command line libsinsp keeps from the comm at that moment. */
void st_set_args(hentry *t, const sparam *p)
{
    st_set_strs(t, TF_ARGS, p->p, p->len);
    st_keep_cmdline(t);
}

/* m_cmd_line: the comm and args as they are now (empty without a comm). */
void st_keep_cmdline(hentry *t)
{
    sthread *x = t->ext;
    const htable *args;
    sbuf b = {0};
    size_t i;
    if (!x)
        return;
    free(x->cmdline);
    x->cmdline = NULL;
    if (!t->v[TF_COMM].s || !t->v[TF_COMM].s[0])
        return;
    sb_adds(&b, t->v[TF_COMM].s);
    args = t->v[TF_ARGS].t;
    for (i = 0; i < args->n; i++) {
        sb_adds(&b, " ");
        sb_adds(&b, args->e[i]->v[0].s ? args->e[i]->v[0].s : "");
    }
    x->cmdline = xstrdup(sb_str(&b));
    sb_free(&b);
}

/* set_cgroups: "subsys=path" entries, subsystems renamed as libsinsp does; one entry without
 * '=' leaves the old list in place. */
void st_set_cgroups(hentry *t, const uint8_t *p, uint32_t len)
{
    const char *s = (const char *)p;
    htable *tmp;
    size_t start = 0, i;
    if (len > 0 && s[len - 1] == 0)
        len--;
    tmp = ht_new(t->v[TF_CGROUPS].t->sc);
    for (i = 0; len && i <= len; i++) {
        if (i == len || s[i] == 0) {
            const char *d = s + start, *eq = memchr(d, '=', i - start);
            char sub[256];
            size_t sn;
            if (!eq) {
                ht_free(tmp);
                return;
            }
            sn = (size_t)(eq - d) < sizeof sub - 1 ? (size_t)(eq - d) : sizeof sub - 1;
            memcpy(sub, d, sn);
            sub[sn] = 0;
            {
                char *c = strstr(sub, "_cgroup");
                if (c)
                    memmove(c, c + 7, strlen(c + 7) + 1);
            }
            if (!strcmp(sub, "perf"))
                strcpy(sub, "perf_event");
            else if (!strcmp(sub, "mem"))
                strcpy(sub, "memory");
            else if (!strcmp(sub, "io"))
                strcpy(sub, "blkio");
            strtab_add(tmp, sub, strlen(sub), eq + 1, (size_t)(s + i - eq - 1), true);
            start = i + 1;
        }
    }
    ht_free(t->v[TF_CGROUPS].t);
    t->v[TF_CGROUPS].t = tmp;
}

void st_copy_table(hentry *to, const hentry *from, int f)
{
    htable *src = from->v[f].t;
    size_t i;
    bool pair = src->sc->nf > 1;
    strtab_clear(to, f);
    for (i = 0; i < src->n; i++) {
        const hentry *e = src->e[i];
        const char *a = e->v[0].s ? e->v[0].s : "", *b = pair && e->v[1].s ? e->v[1].s : "";
        strtab_add(to->v[f].t, a, strlen(a), b, strlen(b), pair);
    }
}

/* ---- paths and the cwd ---- */

/* sinsp_utils::concatenate_paths: name joined to dir (unless absolute), normalized. */
void path_concat(const char *dir, size_t dlen, const char *name, size_t nlen, sbuf *out)
{
    char *t, *tc, *base;
    const char *pc, *end = name + nlen;
    bool empty_base;
    sb_reset(out);
    if (dlen + nlen + 1 > 1024) {
        sb_adds(out, "/DIR_TOO_LONG/FILENAME_TOO_LONG");
        return;
    }
    sb_grow(out, 1025);
    t = base = out->p;
    if (nlen != 0 && name[0] != '/') {
        memcpy(t, dir, dlen);
        tc = t + dlen;
    } else {
        tc = t;
    }
    empty_base = tc == base;
    pc = name;
    for (;;) {
        if (pc >= end || *pc == 0) {
            *tc = 0;
            if (tc > base + 1 && tc[-1] == '/')
                tc[-1] = 0;
            break;
        }
        if (*pc == '.' && (tc == base || tc[-1] == '/')) {
            bool dd = pc + 1 < end && pc[1] == '.';
            if (dd && (pc + 2 < end && pc[2] == '/')) {
                if (tc > base + 1) {
                    tc--;
                    while (tc >= base + 1 && tc[-1] != '/')
                        tc--;
                }
                pc += 3;
            } else if (dd && (pc + 2 >= end || pc[2] == 0)) {
                if (tc > base + 1) {
                    tc--;
                    while (tc >= base + 1 && tc[-1] != '/')
                        tc--;
                }
                pc += 2;
            } else if (pc + 1 < end && pc[1] == '/') {
                pc += 2;
            } else if (pc + 1 >= end || pc[1] == 0) {
                pc++;
            } else {
                *tc++ = *pc++;
            }
        } else if (*pc == '/') {
            if ((tc > base && tc[-1] == '/') || (tc == base && !empty_base))
                pc++;
            else
                *tc++ = *pc++;
        } else {
            *tc++ = *pc++;
        }
        if (tc - base >= 1023) {
            *tc = 0;
            break;
        }
    }
    out->n = strlen(out->p);
}

void st_cwd(hentry *t, sbuf *out)
{
    hentry *m = st_main(t);
    sb_reset(out);
    sb_adds(out, m ? ts(m, TF_CWD) : "./");
}

void st_update_cwd(hentry *t, const char *cwd, size_t n)
{
    hentry *m = st_main(t);
    sbuf b = {0};
    const char *own;
    if (!m)
        return;
    own = ts(t, TF_CWD); /* libsinsp joins to the thread's own cwd */
    path_concat(own, strlen(own), cwd, n, &b);
    if (b.n == 0 || b.p[b.n - 1] != '/')
        sb_adds(&b, "/");
    tsets(m, TF_CWD, sb_str(&b));
    sb_free(&b);
}

/* ---- users and groups (sinsp_usergroup_manager, host users only) ---- */

typedef struct {
    uint32_t id, gid;
    char *name, *home, *shell;
} sug;

static sug *g_users, *g_groups;
static size_t g_nusers, g_ngroups;

static sug *ug_find(sug *list, size_t n, uint32_t id)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (list[i].id == id)
            return &list[i];
    return NULL;
}

static void ug_set(char **dst, const char *s) { free(*dst); *dst = xstrdup(s ? s : "<NA>"); }

void su_clear(void)
{
    size_t i;
    for (i = 0; i < g_nusers; i++) {
        free(g_users[i].name);
        free(g_users[i].home);
        free(g_users[i].shell);
    }
    for (i = 0; i < g_ngroups; i++)
        free(g_groups[i].name);
    free(g_users);
    free(g_groups);
    g_users = g_groups = NULL;
    g_nusers = g_ngroups = 0;
}

/* add_user: a named user replaces the fields of an existing one; an unnamed one (named false)
 * is looked up in this machine's user database, as libsinsp does for host users. */
void su_add_user(uint32_t uid, uint32_t gid, const char *name, const char *home,
                 const char *shell, bool named)
{
    sug *u;
    struct passwd pw, *res = NULL;
    char buf[4096]; /* holds what name, home and shell point to, to the end */
    if (named && name && name[0] && (name[0] == '+' || name[0] == '-'))
        return;
    u = ug_find(g_users, g_nusers, uid);
    if (u) {
        if (named) {
            ug_set(&u->name, name);
            ug_set(&u->home, home);
            ug_set(&u->shell, shell);
        }
        return;
    }
    if (!named) {
        if (uid == UINT32_MAX || getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || !res)
            return;
        uid = res->pw_uid;
        gid = res->pw_gid;
        name = res->pw_name ? res->pw_name : "";
        home = res->pw_dir ? res->pw_dir : "";
        shell = res->pw_shell ? res->pw_shell : "";
        if ((u = ug_find(g_users, g_nusers, uid)) != NULL) {
            ug_set(&u->name, name);
            ug_set(&u->home, home);
            ug_set(&u->shell, shell);
            return;
        }
    }
    g_users = xrealloc(g_users, (g_nusers + 1) * sizeof *g_users);
    u = &g_users[g_nusers++];
    memset(u, 0, sizeof *u);
    u->id = uid;
    u->gid = gid;
    ug_set(&u->name, name);
    ug_set(&u->home, home);
    ug_set(&u->shell, shell);
}

void su_add_group(uint32_t gid, const char *name, bool named)
{
    sug *g;
    struct group gr, *res = NULL;
    char buf[4096]; /* holds what name points to, to the end */
    if (named && name && name[0] && (name[0] == '+' || name[0] == '-'))
        return;
    g = ug_find(g_groups, g_ngroups, gid);
    if (g) {
        if (named)
            ug_set(&g->name, name);
        return;
    }
    if (!named) {
        if (gid == UINT32_MAX || getgrgid_r(gid, &gr, buf, sizeof buf, &res) != 0 || !res)
            return;
        gid = res->gr_gid;
        name = res->gr_name ? res->gr_name : "";
        if ((g = ug_find(g_groups, g_ngroups, gid)) != NULL) {
            ug_set(&g->name, name);
            return;
        }
    }
    g_groups = xrealloc(g_groups, (g_ngroups + 1) * sizeof *g_groups);
    g = &g_groups[g_ngroups++];
    memset(g, 0, sizeof *g);
    g->id = gid;
    ug_set(&g->name, name);
}

/* add_user(container, pid, uid, gid): root by name, others from the user database. */
void su_ensure_user(uint32_t uid, uint32_t gid)
{
    if (uid == UINT32_MAX || ug_find(g_users, g_nusers, uid))
        return;
    if (uid == 0)
        su_add_user(0, gid, "root", "/root", NULL, true);
    else
        su_add_user(uid, gid, NULL, NULL, NULL, false);
}

void su_ensure_group(uint32_t gid)
{
    if (gid == UINT32_MAX || ug_find(g_groups, g_ngroups, gid))
        return;
    if (gid == 0)
        su_add_group(0, "root", true);
    else
        su_add_group(gid, NULL, false);
}

static void ug_remove(sug *list, size_t *n, uint32_t id, bool user)
{
    sug *u = ug_find(list, *n, id);
    if (!u)
        return;
    free(u->name);
    if (user) {
        free(u->home);
        free(u->shell);
    }
    *u = list[--*n];
}

void su_rm_user(uint32_t uid) { ug_remove(g_users, &g_nusers, uid, true); }
void su_rm_group(uint32_t gid) { ug_remove(g_groups, &g_ngroups, gid, false); }

bool su_user(uint32_t uid, const char **name, const char **home, const char **shell)
{
    sug *u = ug_find(g_users, g_nusers, uid);
    if (!u)
        return false;
    *name = u->name;
    *home = u->home;
    *shell = u->shell;
    return true;
}

bool su_group(uint32_t gid, const char **name)
{
    sug *g = ug_find(g_groups, g_ngroups, gid);
    if (!g)
        return false;
    *name = g->name;
    return true;
}


/* ---- event parameters ---- */

sparam ev_param(const ss_plugin_event *e, uint32_t i)
{
    const uint8_t *b = (const uint8_t *)e;
    bool large = g_opt.large_types_bm && type_in(g_opt.large_types_bm, e->type);
    uint32_t w = large ? 4 : 2, k;
    size_t off = FP_EVENT_HEADER_LEN + (size_t)w * e->nparams;
    sparam p = {NULL, 0};
    if (i >= e->nparams)
        return p;
    for (k = 0; k < i; k++)
        off += large ? rd32(b + 26 + 4 * k) : rd16(b + 26 + 2 * k);
    p.len = large ? rd32(b + 26 + 4 * i) : rd16(b + 26 + 2 * i);
    if (off + p.len > e->len) {
        p.len = 0;
        return p;
    }
    p.p = b + off;
    return p;
}

bool g_ss_strict;
ss_badparam g_ss_bad;

/* The length of a parameter of type pt as libsinsp reads it (as<T>() with T of the schema's
 * type), 0 for a type of variable length. */
size_t ev_ptype_size(uint8_t pt)
{
    switch (pt) {
    case 1: case 5: case 19: case 23: case 24: case 28: case 44: /* INT8 ... ENUMFLAGS8 */
        return 1;
    case 2: case 6: case 18: case 22: case 29: case 45: /* INT16 ... ENUMFLAGS16 */
        return 2;
    case 3: case 7: case 25: case 26: case 30: case 31: case 32: case 34: case 42: case 46:
    case 47: case 48: /* INT32, UINT32, BOOL, IPV4ADDR, FLAGS32, UID, GID, SIGSET, MODE,
                       * ENUMFLAGS32, FD32, PID32 */
        return 4;
    case 4: case 8: case 11: case 14: case 15: case 20: case 21: case 33: /* INT64 ... DOUBLE */
        return 8;
    default: return 0;
    }
}

static void bad_param(const ss_plugin_event *e, uint32_t i, size_t want, size_t got)
{
    if (g_ss_bad.set)
        return;
    g_ss_bad.set = true;
    g_ss_bad.e = e;
    g_ss_bad.idx = i;
    g_ss_bad.want = want;
    g_ss_bad.got = got;
}

/* a fixed-size read of parameter i (strict mode only) */
static void check_fixed(const ss_plugin_event *e, uint32_t i, sparam p)
{
    const evinfo *ei = &g_evinfo[e->type];
    size_t want;
    if (!g_ss_strict)
        return;
    if (i >= e->nparams) {
        bad_param(e, i, 0, SIZE_MAX);
        return;
    }
    want = i < ei->nparams ? ev_ptype_size(ei->ptypes[i]) : 0;
    if (want && p.len != want)
        bad_param(e, i, want, p.len);
}

/* An integer parameter by its length, sign-extended (the schema's size in strict mode). */
int64_t ev_i64(const ss_plugin_event *e, uint32_t i)
{
    sparam p = ev_param(e, i);
    int8_t v8;
    int16_t v16;
    int32_t v32;
    int64_t v64;
    check_fixed(e, i, p);
    switch (p.len) {
    case 1: memcpy(&v8, p.p, 1); return v8;
    case 2: memcpy(&v16, p.p, 2); return v16;
    case 4: memcpy(&v32, p.p, 4); return v32;
    case 8: memcpy(&v64, p.p, 8); return v64;
    default: return 0;
    }
}

uint64_t ev_u64(const ss_plugin_event *e, uint32_t i)
{
    sparam p = ev_param(e, i);
    uint64_t v = 0;
    check_fixed(e, i, p);
    if (p.len <= 8 && p.p)
        memcpy(&v, p.p, p.len);
    return v;
}

bool ev_has_res(const ss_plugin_event *e)
{
    const evinfo *ei = e->type < EVINFO_MAX ? &g_evinfo[e->type] : NULL;
    if (!ei || !ei->name || (e->type & 1) == 0 || e->nparams == 0)
        return false;
    if (ei->reset == RS_NONE || !strcmp(ei->name, "syscall"))
        return false; /* generic events have no return value */
    return (ei->category & EC_SYSCALL) != 0;
}

/* get_syscall_return_value: a 4- or 8-byte first parameter, else 0 */
int64_t ev_res(const ss_plugin_event *e)
{
    sparam p = ev_param(e, 0);
    int32_t v32;
    int64_t v64;
    if (g_ss_strict && e->nparams == 0)
        bad_param(e, 0, 0, SIZE_MAX);
    if (p.len == 4) {
        memcpy(&v32, p.p, 4);
        return v32;
    }
    if (p.len == 8) {
        memcpy(&v64, p.p, 8);
        return v64;
    }
    return 0;
}

#define PT_CHARBUF 9
#define PT_FSPATH 17
#define PT_FSRELPATH 43

/* A string parameter as libsinsp's as<std::string>() gives it: "<NA>" for an empty (or
 * "(NULL)") path or character buffer, else the bytes up to the NUL. */
const char *ev_str(const ss_plugin_event *e, uint32_t i, size_t *len)
{
    sparam p = ev_param(e, i);
    const evinfo *ei = &g_evinfo[e->type];
    uint8_t pt = i < ei->nparams ? ei->ptypes[i] : 0;
    if ((pt == PT_CHARBUF || pt == PT_FSPATH || pt == PT_FSRELPATH) &&
        (p.len == 0 || (p.len == 7 && !memcmp(p.p, "(NULL)", 7)))) {
        *len = 4;
        return "<NA>";
    }
    *len = p.p ? strnlen((const char *)p.p, p.len) : 0;
    if (g_ss_strict) {
        if (i >= e->nparams)
            bad_param(e, i, 0, SIZE_MAX);
        else if (p.len && p.len != *len + 1)
            bad_param(e, i, *len + 1, p.len);
    }
    return p.p ? (const char *)p.p : "";
}

