/*
 * sysfields_evt.c: the fd.* fields and the syscall evt.* fields of a replayed capture, as
 * libsinsp's sinsp_filter_check_fd and sinsp_filter_check_event extract them: the fd the
 * event uses (or, without one in the table, what the event's own parameters say), its
 * socket addresses and roles; the event's type, direction, category, result and flags, and
 * raw parameters by name. Also sysf_field, the entry point for every syscall field.
 */
#include "sstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **g_sc_names;
extern size_t g_nsc_names;
bool sysf_thread_field(const field_req *r, const ss_plugin_event *e, xvalue *v);

#define PT_CHARBUF 9
#define PT_FSPATH 17
#define PT_FSRELPATH 43
#define PT_SOCKTUPLE 13

static const evinfo *info_of(const ss_plugin_event *e)
{
    return e->type < 1024 && g_evinfo[e->type].name ? &g_evinfo[e->type] : NULL;
}

/* ---- fd ---- */

static const uint8_t *sock(const hentry *f)
{
    static const uint8_t zero[SOCK_LEN];
    return f->ext ? fx(f)->sock : zero;
}

/* get_l4proto */
static uint8_t l4proto(const hentry *f)
{
    const uint8_t *b = sock(f);
    bool none = !(tu(f, FF_FLAGS) & (FDF_ROLE_CLIENT | FDF_ROLE_SERVER));
    switch (fd_type(f)) {
    case FD_IPV4_SOCK: return b[SK4_PROTO] == L4_RAW ? L4_RAW : none ? L4_NA : b[SK4_PROTO];
    case FD_IPV4_SERVSOCK: return b[SKS4_PROTO];
    case FD_IPV6_SOCK: return b[SK6_PROTO] == L4_RAW ? L4_RAW : none ? L4_NA : b[SK6_PROTO];
    case FD_IPV6_SERVSOCK: return b[SKS6_PROTO];
    default: return L4_NA;
    }
}

/* The name of the event's fd from its parameters (extract_fdname_from_event). */
static bool name_from_event(const ss_plugin_event *e, bool raw, sbuf *out)
{
    const evinfo *ei = info_of(e);
    sparam p;
    size_t n;
    const char *s;
    sb_reset(out);
    if (!ei || (e->type & 1) == 0)
        return false;
    if (ei->kind == SK_OPEN && (ei->arg == 0 || ei->arg == 1)) { /* open, creat: param 1 */
        s = ev_str(e, 1, &n);
        if (g_sev.tinfo && !(n == 4 && !memcmp(s, "<NA>", 4)) && n && s[0] != '/') {
            sbuf cwd = {0};
            st_cwd(g_sev.tinfo, &cwd);
            path_concat(cwd.p, cwd.n, s, n, out);
            sb_free(&cwd);
        } else {
            sb_add(out, s, n);
        }
        return true;
    }
    if (ei->kind == SK_ACCEPT || ei->kind == SK_CONNECT) { /* the tuple, as printed */
        sock_tuple_text(ev_param(e, 1), out);
        return true;
    }
    if (ei->kind == SK_OPEN && (ei->arg == 2 || ei->arg == 3)) {
        sparam dir = ev_param(e, 1);
        if (!ev_param(e, 2).len)
            return false;
        s = ev_str(e, 2, &n);
        if (raw) {
            sb_add(out, s, n);
        } else {
            sbuf d = {0};
            if (!dir.len)
                return false;
            sf_dirfd_dir(&g_sev, s, n, ev_i64(e, 1), &d);
            path_concat(d.p ? d.p : "", d.n, s, n, out);
            sb_free(&d);
        }
        return true;
    }
    if (ei->kind == SK_OPEN && ei->arg == 4) {
        s = ev_str(e, 3, &n);
        sb_add(out, s, n);
        return true;
    }
    (void)p;
    return true; /* other events: an empty name */
}

static char typechar_of_event(const ss_plugin_event *e)
{
    static const struct { const char *name; char c; } k[] = {
        {"openat", 'f'}, {"openat2", 'f'}, {"creat", 'f'}, {"socket", '4'}, {"accept", '4'},
        {"accept4", '4'}, {"pipe", 'p'}, {"pipe2", 'p'}, {"eventfd", 'e'}, {"eventfd2", 'e'},
        {"signalfd", 's'}, {"signalfd4", 's'}, {"timerfd_create", 't'},
        {"inotify_init", 'i'}, {"inotify_init1", 'i'},
    };
    const evinfo *ei = info_of(e);
    size_t i;
    for (i = 0; ei && i < sizeof k / sizeof *k; i++)
        if (!strcmp(ei->name, k[i].name))
            return k[i].c;
    return 'o';
}

static void port_text(sbuf *b, uint16_t port) { sb_printf(b, "%u", (unsigned)port); }

static bool fd_field(const field_req *r, const ss_plugin_event *e, xvalue *v)
{
    const evinfo *ei = info_of(e);
    hentry *t = sysf_thread(e), *f;
    const uint8_t *b;
    sbuf s = {0};
    bool ok = true, none;
    uint32_t type;
    if (!ei || !(ei->flags & (EF_CREATES_FD | EF_USES_FD | EF_DESTROYS_FD)) || !t)
        return false;
    if (r->evt_code == SF_FD_TYPES && (int64_t)r->arg_index != -1) {
        f = sf_get(t, (int64_t)r->arg_index);
    } else {
        f = g_sev.fdinfo;
        if (!f && tx(t)->lastevent_fd != -1)
            f = sf_get(t, tx(t)->lastevent_fd);
    }
    if (r->evt_code == SF_FD_NUM) {
        xv_set_u64(v, (uint64_t)tx(t)->lastevent_fd);
        return true;
    }
    if (r->evt_code == SF_FD_UID) {
        sb_printf(&s, "%" PRId64 "%" PRId64, ti(t, TF_TID), tx(t)->lastevent_fd);
        xv_set_str(v, s.p, s.n);
        sb_free(&s);
        return true;
    }
    if (r->evt_code == SF_FD_TYPES && (int64_t)r->arg_index == -1) {
        htable *ft = st_fdtable(t);
        size_t i, k;
        v->present = false;
        v->n = 0;
        for (i = 0; ft && i < ft->n; i++) {
            const char *ty = fd_typestring(ft->e[i]);
            for (k = 0; k < v->n && strcmp(xv_str(v, &v->e[k]), ty); k++)
                ;
            if (k == v->n)
                xv_add_str(v, ty, strlen(ty));
        }
        v->present = true;
        return true;
    }
    if (r->evt_code == SF_FD_NAME || r->evt_code == SF_FD_NAMERAW) {
        if (!f) {
            ok = name_from_event(e, r->evt_code == SF_FD_NAMERAW, &s);
        } else {
            sb_adds(&s, ts(f, r->evt_code == SF_FD_NAME ? FF_NAME : FF_NAME_RAW));
        }
        if (ok && r->evt_code == SF_FD_NAMERAW) { /* remove_duplicate_path_separators */
            size_t i, k = 0;
            for (i = 0; i < s.n; i++)
                if (!(s.p[i] == '/' && k && s.p[k - 1] == '/'))
                    s.p[k++] = s.p[i];
            s.n = k;
        }
        goto text;
    }
    if (r->evt_code == SF_FD_TYPECHAR) {
        char c = f ? fd_typechar(f) : typechar_of_event(e);
        xv_set_str(v, &c, 1);
        return true;
    }
    if (r->evt_code == SF_FD_DIRECTORY) {
        size_t pos;
        if (!f) {
            if (!name_from_event(e, false, &s))
                return false;
        } else if (fd_type(f) != FD_FILE && fd_type(f) != FD_FILE_V2 &&
                   fd_type(f) != FD_DIRECTORY) {
            return false;
        } else {
            sb_adds(&s, ts(f, FF_NAME));
        }
        if (!f || fd_type(f) == FD_FILE || fd_type(f) == FD_FILE_V2) {
            const char *slash = s.n ? memrchr(s.p, '/', s.n) : NULL;
            pos = slash ? (size_t)(slash - s.p) : 0;
            if (slash && pos != 0) {
                if (pos < s.n - 1)
                    s.n = pos;
            } else {
                sb_reset(&s);
                sb_adds(&s, "/");
            }
        }
        goto text;
    }
    if (!f)
        return false;
    type = fd_type(f);
    b = sock(f);
    none = !(tu(f, FF_FLAGS) & (FDF_ROLE_CLIENT | FDF_ROLE_SERVER));
    switch (r->evt_code) {
    case SF_FD_TYPE: sb_adds(&s, fd_typestring(f)); break;
    case SF_FD_FILENAME: {
        const char *name = ts(f, FF_NAME), *slash;
        if (type != FD_FILE && type != FD_FILE_V2)
            return false;
        slash = strrchr(name, '/');
        if (!slash)
            sb_adds(&s, "/");
        else
            sb_adds(&s, slash[1] ? slash + 1 : name);
        break;
    }
    case SF_FD_CIP:
        if (none)
            return false;
        if (type == FD_IPV4_SOCK)
            xv_set_ip(v, b + SK4_SIP, 4);
        else if (type == FD_IPV6_SOCK)
            xv_set_ip(v, b + SK6_SIP, 16);
        else
            return false;
        return true;
    case SF_FD_SIP:
        if (none)
            return false;
        if (type == FD_IPV4_SOCK)
            xv_set_ip(v, b + SK4_DIP, 4);
        else if (type == FD_IPV4_SERVSOCK)
            xv_set_ip(v, b + SKS4_IP, 4);
        else if (type == FD_IPV6_SOCK)
            xv_set_ip(v, b + SK6_DIP, 16);
        else if (type == FD_IPV6_SERVSOCK)
            xv_set_ip(v, b + SKS6_IP, 16);
        else
            return false;
        return true;
    case SF_FD_CPORT:
    case SF_FD_CPROTO:
        if (none || (type != FD_IPV4_SOCK && type != FD_IPV6_SOCK)) {
            if (r->evt_code == SF_FD_CPROTO && !none)
                break; /* an empty protocol for other fds */
            return false;
        }
        if (r->evt_code == SF_FD_CPORT) {
            xv_set_u64(v, rd16(b + (type == FD_IPV4_SOCK ? SK4_SPORT : SK6_SPORT)));
            return true;
        }
        port_text(&s, rd16(b + (type == FD_IPV4_SOCK ? SK4_SPORT : SK6_SPORT)));
        break;
    case SF_FD_SPORT:
    case SF_FD_SPROTO: {
        uint16_t port;
        if (type == FD_IPV4_SOCK || type == FD_IPV6_SOCK) {
            if (none)
                return false;
            port = rd16(b + (type == FD_IPV4_SOCK ? SK4_DPORT : SK6_DPORT));
        } else if (type == FD_IPV4_SERVSOCK) {
            port = rd16(b + SKS4_PORT);
        } else if (type == FD_IPV6_SERVSOCK) {
            port = rd16(b + SKS6_PORT);
        } else {
            return false;
        }
        if (r->evt_code == SF_FD_SPORT) {
            xv_set_u64(v, port);
            return true;
        }
        if (type == FD_IPV4_SOCK || type == FD_IPV6_SOCK)
            port_text(&s, port);
        break;
    }
    case SF_FD_L4PROTO: {
        static const char *names[] = {"<NA>", "<NA>", "tcp", "udp", "icmp", "raw"};
        uint8_t p = l4proto(f);
        sb_adds(&s, p < 6 ? names[p] : "<NA>");
        break;
    }
    case SF_FD_SOCKFAMILY:
        if (type == FD_IPV4_SOCK || type == FD_IPV6_SOCK || type == FD_IPV4_SERVSOCK ||
            type == FD_IPV6_SERVSOCK)
            sb_adds(&s, "ip");
        else if (type == FD_UNIX_SOCK)
            sb_adds(&s, "unix");
        else
            return false;
        break;
    case SF_FD_CONNECTED: xv_set_u64(v, (tu(f, FF_FLAGS) & FDF_CONNECTED) != 0); return true;
    case SF_FD_NAME_CHANGED: xv_set_u64(v, g_sev.fd_name_changed); return true;
    case SF_FD_DEV: /* an int32 field: sign-extended */
        xv_set_u64(v, (uint64_t)(int64_t)(int32_t)tu(f, FF_DEV));
        return true;
    case SF_FD_DEV_MAJOR: xv_set_u64(v, ((uint32_t)tu(f, FF_DEV) & 0xfff00) >> 8); return true;
    case SF_FD_DEV_MINOR: {
        uint32_t d = (uint32_t)tu(f, FF_DEV);
        xv_set_u64(v, (d & 0xff) | ((d >> 12) & 0xfff00));
        return true;
    }
    case SF_FD_INO: xv_set_u64(v, tu(f, FF_INO)); return true;
    case SF_FD_IS_UPPER_LAYER:
        xv_set_u64(v, (tu(f, FF_FLAGS) & FDF_OVERLAY_UPPER) != 0);
        return true;
    case SF_FD_IS_LOWER_LAYER:
        xv_set_u64(v, (tu(f, FF_FLAGS) & FDF_OVERLAY_LOWER) != 0);
        return true;
    case SF_FD_TYPES: sb_adds(&s, fd_typestring(f)); break; /* fd.types[N] */
    default: return false;
    }
text:
    if (ok)
        xv_set_str(v, s.p ? s.p : "", s.n);
    sb_free(&s);
    return ok;
}

/* ---- events ---- */

static const char *category_name(const ss_plugin_event *e, const evinfo *ei)
{
    static const char *base[] = {"unknown", "other", "file", "net", "IPC", "memory", "process",
                                 "sleep", "system", "signal", "user", "time", "processing"};
    uint32_t c = ei->category & (EC_SYSCALL - 1);
    const hentry *f = g_sev.fdinfo;
    (void)e;
    if (c < 13)
        return base[c];
    if (c == EC_IO_READ || c == EC_IO_WRITE || c == EC_IO_OTHER) {
        if (!f)
            return "unknown";
        switch (fd_type(f)) {
        case FD_FILE:
        case FD_FILE_V2:
        case FD_DIRECTORY: return "file";
        case FD_IPV4_SOCK:
        case FD_IPV6_SOCK:
        case FD_IPV4_SERVSOCK:
        case FD_IPV6_SERVSOCK: return "net";
        case FD_FIFO:
        case FD_UNIX_SOCK:
        case FD_EVENT:
        case FD_SIGNALFD:
        case FD_INOTIFY:
        case FD_USERFAULTFD: return "ipc";
        default: return "unknown";
        }
    }
    switch (c) {
    case EC_WAIT: return "wait";
    case EC_SCHEDULER: return "scheduler";
    case EC_INTERNAL: return "internal";
    default: return "unknown";
    }
}

static const char *event_name(const ss_plugin_event *e, const evinfo *ei, size_t *n)
{
    if (!strcmp(ei->name, "syscall") && (e->type & 1)) { /* generic: the syscall's name */
        uint16_t sc = (uint16_t)ev_u64(e, 0);
        const char *s = sc < g_nsc_names && g_sc_names[sc] ? g_sc_names[sc] : "";
        *n = strlen(s);
        return s;
    }
    if (e->type == FP_ASYNCEVENT_TYPE)
        return ev_str(e, 1, n);
    *n = strlen(ei->name);
    return ei->name;
}

/* evt.rawarg.NAME: the parameter named NAME, as the field's type reads it. */
static bool rawarg(const field_req *r, const ss_plugin_event *e, const evinfo *ei, xvalue *v)
{
    uint32_t i;
    const char *name = r->arg_key ? r->arg_key : "";
    for (i = 0; i < ei->nparams && i < e->nparams; i++) {
        if (ei->pnames && ei->pnames[i] && !strcmp(ei->pnames[i], name))
            break;
    }
    if (i >= ei->nparams || i >= e->nparams)
        return false;
    if (r->ftype == FTYPE_STRING) {
        size_t n;
        const char *s = ev_str(e, i, &n);
        xv_set_str(v, s, n);
    } else {
        /* libsinsp hands over the parameter's bytes and its user reads the type's size from
         * them: the first bytes of a longer parameter; a shorter one reads past it there,
         * zeros here */
        sparam p = ev_param(e, i);
        size_t size = ev_ptype_size(ei->ptypes[i]), n;
        uint64_t u = 0;
        if (!size || size > 8)
            size = 8;
        n = p.len < size ? p.len : size;
        if (n)
            memcpy(&u, p.p, n);
        if ((r->ftype == PT_INT16 || r->ftype == PT_INT32 || r->ftype == PT_INT64) && size < 8 &&
            (u >> (8 * size - 1)) & 1)
            u |= ~0ull << (8 * size); /* sign-extended */
        xv_set_u64(v, u);
    }
    return true;
}

static bool open_flag_field(const field_req *r, const ss_plugin_event *e, const evinfo *ei,
                            xvalue *v)
{
    uint32_t flags = 0, exec = (1u << 6) | (1u << 3) | 1u, val = 0;
    bool newer = ei->kind == SK_OPEN && (ei->arg == 2 || ei->arg == 3);
    if (ei->kind == SK_OPEN && ei->arg != 1 && (e->type & 1)) {
        if (ev_param(e, newer ? 3 : 2).len)
            flags = (uint32_t)ev_u64(e, newer ? 3 : 2);
        if (r->evt_code == SF_EVT_IS_OPEN_READ)
            val = (flags & 1u) != 0;
        else if (r->evt_code == SF_EVT_IS_OPEN_WRITE)
            val = (flags & 2u) != 0;
        else if (r->evt_code == SF_EVT_IS_OPEN_CREATE)
            val = (flags & PO_F_CREATED) || ((flags & (1u << 13)) && ev_has_res(e) &&
                                             ev_res(e) >= 0);
        else if ((flags & ((1u << 13) | 4u)) && ei->arg != 4 && ev_param(e, newer ? 4 : 3).len)
            val = ((uint32_t)ev_u64(e, newer ? 4 : 3) & exec) != 0;
    } else if (r->evt_code == SF_EVT_IS_OPEN_EXEC && ei->kind == SK_OPEN && ei->arg == 1 &&
               (e->type & 1)) {
        val = ((uint32_t)ev_u64(e, 2) & exec) != 0;
    }
    xv_set_u64(v, val);
    return true;
}

static bool evt_syscall_field(const field_req *r, const ss_plugin_event *e, xvalue *v)
{
    const evinfo *ei = info_of(e);
    const char *s;
    size_t n;
    if (!ei)
        return false;
    switch (r->evt_code) {
    case SF_EVT_TYPE:
        s = event_name(e, ei, &n);
        xv_set_str(v, s, n);
        return true;
    case SF_SYSCALL_TYPE:
        if (!(ei->category & EC_SYSCALL))
            return false;
        s = event_name(e, ei, &n);
        xv_set_str(v, s, n);
        return true;
    case SF_EVT_DIR: xv_set_str(v, (e->type & 1) ? "<" : ">", 1); return true;
    case SF_EVT_CATEGORY:
        s = category_name(e, ei);
        xv_set_str(v, s, strlen(s));
        return true;
    case SF_EVT_CPU: xv_set_u64(v, (uint64_t)(int64_t)(int16_t)g_sev.cpu); return true;
    case SF_EVT_RAWRES:
        if (!ev_has_res(e))
            return false;
        xv_set_u64(v, (uint64_t)ev_res(e));
        return true;
    case SF_EVT_FAILED:
    case SF_EVT_COUNT_ERROR:
        if (!ev_has_res(e))
            return false;
        xv_set_u64(v, ev_res(e) < 0);
        return true;
    case SF_EVT_IS_IO: xv_set_u64(v, (ei->flags & (EF_READS_FROM_FD | EF_WRITES_TO_FD)) != 0); return true;
    case SF_EVT_IS_IO_READ: xv_set_u64(v, (ei->flags & EF_READS_FROM_FD) != 0); return true;
    case SF_EVT_IS_IO_WRITE: xv_set_u64(v, (ei->flags & EF_WRITES_TO_FD) != 0); return true;
    case SF_EVT_IO_DIR:
        if (ei->flags & EF_WRITES_TO_FD)
            xv_set_str(v, "write", 5);
        else if (ei->flags & EF_READS_FROM_FD)
            xv_set_str(v, "read", 4);
        else
            return false;
        return true;
    case SF_EVT_IS_WAIT: xv_set_u64(v, (ei->flags & EF_WAITS) != 0); return true;
    case SF_EVT_IS_SYSLOG:
        xv_set_u64(v, (ei->flags & EF_WRITES_TO_FD) && g_sev.fdinfo &&
                          strstr(ts(g_sev.fdinfo, FF_NAME), "/dev/log"));
        return true;
    case SF_EVT_COUNT: xv_set_u64(v, 1); return true;
    case SF_EVT_COUNT_EXIT:
        if (!(e->type & 1))
            return false;
        xv_set_u64(v, 1);
        return true;
    case SF_EVT_IS_OPEN_READ:
    case SF_EVT_IS_OPEN_WRITE:
    case SF_EVT_IS_OPEN_EXEC:
    case SF_EVT_IS_OPEN_CREATE: return open_flag_field(r, e, ei, v);
    case SF_EVT_RAWARG: return rawarg(r, e, ei, v);
    default: return false;
    }
}

bool sysf_field(const field_req *r, const ss_plugin_event_input *ein, xvalue *v)
{
    const ss_plugin_event *e = ein->evt;
    if (!g_sstate_on || e != g_sev.e)
        return false; /* not an event of the replayed capture */
    if (r->evt_code >= SF_FD_NUM && r->evt_code <= SF_FD_IS_LOWER_LAYER)
        return fd_field(r, e, v);
    if (r->evt_code >= SF_EVT_TYPE)
        return evt_syscall_field(r, e, v);
    return sysf_thread_field(r, e, v);
}
