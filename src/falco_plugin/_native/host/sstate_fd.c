/*
 * sstate_fd.c: libsinsp's fd parsers for the capture replay (parsers.cpp): open, openat,
 * openat2, creat, open_by_handle_at; close, close_range; dup, fcntl; pipe, socketpair,
 * eventfd, memfd, pidfd and the fd kinds created by one syscall (the socket ones are in
 * sstate_net.c). Also the fd helpers: lookup, adding, cloning, close-on-exec, and the socket
 * union the socket_* fields are views of, as in libsinsp's fdinfo.
 */
#include "sstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AF_P_UNIX 1
#define AF_P_INET 2
#define AF_P_INET6 10
#define AF_P_NETLINK 16

static void sfd_free(void *p) { free(p); }

hentry *sf_new(void)
{
    hentry *f = he_new(g_reg.sc_threads->f[TF_FDS]->sub);
    f->refs = 1;
    f->ext = xcalloc(1, sizeof(sfd));
    f->ext_free = sfd_free;
    tset(f, FF_TYPE, (uint8_t)FD_UNINITIALIZED);
    tset(f, FF_FD, (uint64_t)-1);
    return f;
}

sfd *fx_ensure(hentry *f)
{
    if (!f->ext) {
        f->ext = xcalloc(1, sizeof(sfd));
        f->ext_free = sfd_free;
    }
    return f->ext;
}

/* The socket_* fields, each a view of the union like libsinsp's static fields. */
void sf_sync(hentry *f)
{
    static const struct { int off, width; } v[21] = {
        {0, 4}, {4, 4}, {8, 2}, {10, 2}, {12, 1},          /* ipv4 tuple */
        {0, 8}, {8, 8}, {16, 8}, {24, 8}, {32, 2}, {34, 2}, {36, 1}, /* ipv6 tuple */
        {0, 4}, {4, 2}, {6, 1},                             /* ipv4 server */
        {0, 8}, {8, 8}, {16, 2}, {18, 1},                   /* ipv6 server */
        {0, 8}, {8, 8},                                     /* unix */
    };
    const uint8_t *b = fx_ensure(f)->sock;
    int i;
    for (i = 0; i < 21; i++) {
        uint64_t x = 0;
        memcpy(&x, b + v[i].off, (size_t)v[i].width);
        tset(f, FF_SOCK_FIRST + i, x);
    }
}

/* The union of an fd the fixture gave, from its socket_* fields. */
void sstate_fixture_fds(hentry *t)
{
    htable *ft = t->v[TF_FDS].t;
    size_t i;
    for (i = 0; i < ft->n; i++) {
        hentry *f = ft->e[i];
        uint8_t *b = fx_ensure(f)->sock;
        uint64_t s = FF_SOCK_FIRST;
        memset(b, 0, SOCK_LEN);
        switch (fd_type(f)) {
        case FD_IPV4_SOCK:
            p32(b, SK4_SIP, (uint32_t)tu(f, s));
            p32(b, SK4_DIP, (uint32_t)tu(f, s + 1));
            p16(b, SK4_SPORT, (uint16_t)tu(f, s + 2));
            p16(b, SK4_DPORT, (uint16_t)tu(f, s + 3));
            b[SK4_PROTO] = (uint8_t)tu(f, s + 4);
            break;
        case FD_IPV6_SOCK:
            memcpy(b + 0, &f->v[s + 5].u, 8);
            memcpy(b + 8, &f->v[s + 6].u, 8);
            memcpy(b + 16, &f->v[s + 7].u, 8);
            memcpy(b + 24, &f->v[s + 8].u, 8);
            p16(b, SK6_SPORT, (uint16_t)tu(f, s + 9));
            p16(b, SK6_DPORT, (uint16_t)tu(f, s + 10));
            b[SK6_PROTO] = (uint8_t)tu(f, s + 11);
            break;
        case FD_IPV4_SERVSOCK:
            p32(b, SKS4_IP, (uint32_t)tu(f, s + 12));
            p16(b, SKS4_PORT, (uint16_t)tu(f, s + 13));
            b[SKS4_PROTO] = (uint8_t)tu(f, s + 14);
            break;
        case FD_IPV6_SERVSOCK:
            memcpy(b + 0, &f->v[s + 15].u, 8);
            memcpy(b + 8, &f->v[s + 16].u, 8);
            p16(b, SKS6_PORT, (uint16_t)tu(f, s + 17));
            b[SKS6_PROTO] = (uint8_t)tu(f, s + 18);
            break;
        case FD_UNIX_SOCK:
            memcpy(b + 0, &f->v[s + 19].u, 8);
            memcpy(b + 8, &f->v[s + 20].u, 8);
            break;
        default: break;
        }
        sf_sync(f);
    }
}

hentry *sf_clone(const hentry *src)
{
    hentry *f = sf_new();
    size_t i;
    for (i = 0; i < FF_COUNT; i++) {
        if (src->sc->f[i]->type == SS_PLUGIN_ST_STRING)
            f->v[i].s = src->v[i].s ? xstrdup(src->v[i].s) : NULL;
        else
            f->v[i].u = src->v[i].u;
    }
    if (src->ext)
        memcpy(fx(f)->sock, fx(src)->sock, SOCK_LEN);
    return f;
}

hentry *sf_get(hentry *t, int64_t fd)
{
    htable *ft;
    hentry *f;
    if (fd < 0 || !t || !(ft = st_fdtable(t)))
        return NULL;
    f = ht_get(ft, (uint64_t)fd);
    if (f) {
        fx_ensure(f);
        tsets(f, FF_OLD_NAME, ts(f, FF_NAME)); /* get_fd: its name so far is its old name */
    }
    return f;
}

/* add_fd: into the table the thread's fds live in, replacing an fd there; the event's fd. */
hentry *sf_add(hentry *t, int64_t fd, hentry *f)
{
    htable *ft = st_fdtable(t);
    if (!ft) {
        he_unref(f);
        sstate_set_fd(&g_sev, NULL);
        return NULL;
    }
    tset(f, FF_FD, (uint64_t)fd);
    f->key = (uint64_t)fd;
    sf_sync(f);
    ht_put(ft, f);
    he_unref(f);
    tx(t)->lastevent_fd = fd;
    sstate_set_fd(&g_sev, f);
    return f;
}

void sf_set_name(hentry *f, const char *s) { tsets(f, FF_NAME, s); }

static bool cloexec(const hentry *f)
{
    uint32_t fl = (uint32_t)tu(f, FF_OPEN_FLAGS);
    return (fl & PO_CLOEXEC) || (fd_type(f) == FD_EVENTPOLL && (fl & PO_EPOLL_CLOEXEC)) ||
           (fd_type(f) == FD_MEMFD && (fl & PO_MFD_CLOEXEC));
}

void sf_retain_cloexec(hentry *t)
{
    htable *ft = st_fdtable(t);
    size_t i = 0;
    while (ft && i < ft->n) {
        if (cloexec(ft->e[i]))
            ht_erase(ft, ft->e[i]->key);
        else
            i++;
    }
}

static void clear_cloexec(hentry *f)
{
    tset(f, FF_OPEN_FLAGS, tu(f, FF_OPEN_FLAGS) & ~(uint64_t)(PO_CLOEXEC | PO_EPOLL_CLOEXEC));
}

/* ---- parsers ---- */

hentry *sf_typed(uint32_t type, uint32_t openflags)
{
    hentry *f = sf_new();
    tset(f, FF_TYPE, type);
    tset(f, FF_OPEN_FLAGS, openflags);
    return f;
}

/* parse_dirfd: the directory a relative name is under ("." absolute, "<UNKNOWN>"). */
void sf_dirfd_dir(sevent *ev, const char *name, size_t n, int64_t dirfd, sbuf *out)
{
    hentry *f;
    sb_reset(out);
    if (n && name[0] == '/') {
        sb_adds(out, ".");
    } else if (!ev->tinfo) {
        sb_adds(out, "<UNKNOWN>");
    } else if (dirfd == -100) {
        st_cwd(ev->tinfo, out);
    } else if (!(f = sf_get(ev->tinfo, dirfd))) {
        sb_adds(out, "<UNKNOWN>");
    } else {
        sb_adds(out, ts(f, FF_NAME));
        if (out->n && out->p[out->n - 1] != '/')
            sb_adds(out, "/");
    }
}

static void parse_open(sevent *ev, uint8_t variant)
{
    const ss_plugin_event *e = ev->e, *en = NULL;
    int64_t fd = ev_res(e);
    const char *name;
    size_t nlen;
    uint32_t flags = 0, dev = 0;
    uint64_t ino = 0;
    sbuf dir = {0}, full = {0};
    bool have_enter;
    hentry *f;
    if (!ev->tinfo)
        return;
    have_enter = variant != 4 && retrieve_enter(ev, &en);
    if (variant == 0 || variant == 1) { /* open, creat */
        name = ev_str(e, 1, &nlen);
        if (variant == 0) {
            flags = (uint32_t)ev_u64(e, 2);
            if (ev_param(e, 4).len) {
                dev = (uint32_t)ev_u64(e, 4);
                if (ev_param(e, 5).len)
                    ino = ev_u64(e, 5);
            }
        } else if (ev_param(e, 3).len) {
            dev = (uint32_t)ev_u64(e, 3);
            if (ev_param(e, 4).len) {
                ino = ev_u64(e, 4);
                if (ev_param(e, 5).len) {
                    uint16_t cf = (uint16_t)ev_u64(e, 5);
                    if (cf & 1u)
                        flags |= PO_FD_UPPER_LAYER;
                    else if (cf & 2u)
                        flags |= PO_FD_LOWER_LAYER;
                }
            }
        }
        if (have_enter) {
            size_t en_n;
            const char *en_name = ev_str(en, 0, &en_n);
            if (!(en_n == 4 && !memcmp(en_name, "<NA>", 4))) {
                name = en_name;
                nlen = en_n;
                if (variant == 0)
                    flags = (uint32_t)ev_u64(en, 1) | (flags & ~(PO_F_CREATED - 1));
            }
        }
        st_cwd(ev->tinfo, &dir);
    } else if (variant == 2 || variant == 3) { /* openat, openat2 */
        const ss_plugin_event *dire = e; /* the dirfd's event and index (read if there) */
        uint32_t dirk = 1, di = variant == 2 ? 5 : 6;
        name = "<NA>";
        nlen = 4;
        if (ev_param(e, 2).len)
            name = ev_str(e, 2, &nlen);
        if (ev_param(e, 3).len)
            flags = (uint32_t)ev_u64(e, 3);
        if (ev_param(e, di + 1).len) {
            dev = (uint32_t)ev_u64(e, di);
            ino = ev_u64(e, di + 1);
        }
        if (have_enter) {
            size_t en_n;
            const char *en_name = ev_str(en, 1, &en_n);
            if (!(en_n == 4 && !memcmp(en_name, "<NA>", 4))) {
                name = en_name;
                nlen = en_n;
                flags = (uint32_t)ev_u64(en, 2) | (flags & ~(PO_F_CREATED - 1));
                dire = en;
                dirk = 0;
            }
        }
        if (ev_param(dire, dirk).len)
            sf_dirfd_dir(ev, name, nlen, ev_i64(dire, dirk), &dir);
    } else { /* open_by_handle_at */
        flags = (uint32_t)ev_u64(e, 2);
        name = ev_str(e, 3, &nlen);
        if (e->nparams > 4) {
            dev = (uint32_t)ev_u64(e, 4);
            if (e->nparams > 5)
                ino = ev_u64(e, 5);
        }
    }
    path_concat(dir.p ? dir.p : "", dir.n, name, nlen, &full);
    if (fd >= 0) {
        f = sf_typed((flags & PO_DIRECTORY) ? FD_DIRECTORY : FD_FILE_V2, flags);
        tset(f, FF_DEV, dev);
        tset(f, FF_INO, ino);
        tsetsn(f, FF_NAME_RAW, name, nlen);
        tsets(f, FF_NAME, sb_str(&full));
        if (flags & PO_FD_UPPER_LAYER)
            tset(f, FF_FLAGS, tu(f, FF_FLAGS) | FDF_OVERLAY_UPPER);
        if (flags & PO_FD_LOWER_LAYER)
            tset(f, FF_FLAGS, tu(f, FF_FLAGS) | FDF_OVERLAY_LOWER);
        sf_add(ev->tinfo, fd, f);
    }
    sb_free(&dir);
    sb_free(&full);
}

static void parse_dup(sevent *ev, bool dup3)
{
    hentry *t = ev->tinfo, *f;
    int64_t res = ev_res(ev->e);
    if (!t || res < 0 || !ev->fdinfo)
        return;
    if (res == 0)
        tset(t, TF_FLAGS, tu(t, TF_FLAGS) | CL_PIPE_DST);
    if (res == 1)
        tset(t, TF_FLAGS, tu(t, TF_FLAGS) | CL_PIPE_SRC);
    (void)sf_get(t, res); /* its old name, as libsinsp's lookup leaves it */
    f = sf_clone(ev->fdinfo);
    clear_cloexec(f);
    if (dup3 && ((uint32_t)ev_u64(ev->e, 3) & PO_CLOEXEC))
        tset(f, FF_OPEN_FLAGS, tu(f, FF_OPEN_FLAGS) | PO_CLOEXEC);
    sf_add(t, res, f);
}

static void parse_fcntl(sevent *ev)
{
    uint8_t cmd = (uint8_t)ev_u64(ev->e, 2);
    int64_t res = ev_res(ev->e);
    hentry *f;
    if (!ev->tinfo || !(cmd == 1 /* F_DUPFD */ || cmd == 14 /* F_DUPFD_CLOEXEC */ ||
                        cmd == 3 /* F_SETFD */))
        return;
    if (res < 0 || !ev->fdinfo)
        return;
    if (cmd == 3) {
        clear_cloexec(ev->fdinfo);
        if (ev_u64(ev->e, 3) & 1u /* FD_CLOEXEC */)
            tset(ev->fdinfo, FF_OPEN_FLAGS, tu(ev->fdinfo, FF_OPEN_FLAGS) | PO_CLOEXEC);
        return;
    }
    f = sf_clone(ev->fdinfo);
    clear_cloexec(f);
    if (cmd == 14)
        tset(f, FF_OPEN_FLAGS, tu(f, FF_OPEN_FLAGS) | PO_CLOEXEC);
    sf_add(ev->tinfo, res, f);
}

static void single_fd(sevent *ev, uint8_t type)
{
    const ss_plugin_event *e = ev->e;
    const char *n = g_evinfo[e->type].name;
    int64_t res = ev_res(e);
    uint32_t flags = 0;
    if (!ev->tinfo || res < 0)
        return;
    if (!strcmp(n, "inotify_init1") || !strcmp(n, "signalfd4"))
        flags = (uint16_t)ev_u64(e, 1);
    else if (!strcmp(n, "timerfd_create"))
        flags = (uint8_t)ev_u64(e, 2);
    else if (!strcmp(n, "epoll_create1") && ((uint32_t)ev_u64(e, 1) & 1u))
        flags = PO_CLOEXEC;
    sf_add(ev->tinfo, res, sf_typed(type, flags));
}

static void close_range(sevent *ev)
{
    const ss_plugin_event *e = ev->e;
    uint32_t first = (uint32_t)ev_u64(e, 1), last = (uint32_t)ev_u64(e, 2);
    htable *ft;
    size_t i = 0;
    if (!ev->tinfo || ev_res(e) < 0 || !(ft = st_fdtable(ev->tinfo)))
        return;
    while (i < ft->n) {
        int64_t fd = (int64_t)ft->e[i]->key;
        bool in = fd >= 0 && (uint64_t)fd >= first && (uint64_t)fd <= last;
        if (in && ((uint32_t)ev_u64(e, 3) & 4u /* CLOSE_RANGE_CLOEXEC */)) {
            tset(ft->e[i], FF_OPEN_FLAGS, tu(ft->e[i], FF_OPEN_FLAGS) | PO_CLOEXEC);
            i++;
        } else if (in && !((uint32_t)ev_u64(e, 3) & 4u)) {
            ht_erase(ft, (uint64_t)fd);
        } else {
            i++;
        }
    }
}

bool sp_fd_kind(uint8_t kind) { return kind >= SK_OPEN && kind <= SK_PIDFD_GETFD; }

void sp_fd(sevent *ev, uint8_t kind, uint8_t arg)
{
    const ss_plugin_event *e = ev->e;
    hentry *t = ev->tinfo, *f;
    int64_t res = ev_has_res(e) ? ev_res(e) : 0;
    switch (kind) {
    case SK_OPEN: parse_open(ev, arg); break;
    case SK_SOCKET:
        if (res >= 0 && t) { /* read in libsinsp's order (the first bad one stops it) */
            uint32_t domain = (uint32_t)ev_u64(e, 1), type = (uint32_t)ev_u64(e, 2);
            uint32_t proto = (uint32_t)ev_u64(e, 3), flags = (uint32_t)ev_u64(e, 4);
            sn_socket(ev, res, domain, type, proto, flags);
        }
        break;
    case SK_BIND: sn_bind(ev); break;
    case SK_CONNECT: sn_connect(ev); break;
    case SK_ACCEPT: sn_accept(ev, arg == 1); break;
    case SK_CLOSE:
        if (res >= 0 && ev->fdinfo && t)
            sf_schedule_close(ti(t, TF_TID), tx(t)->lastevent_fd);
        break;
    case SK_CLOSE_RANGE: close_range(ev); break;
    case SK_DUP: parse_dup(ev, arg == 1); break;
    case SK_PIPE:
        if (res < 0 || !t)
            break;
        {
            int64_t fd1 = ev_i64(e, 1), fd2 = ev_i64(e, 2);
            uint64_t ino = ev_u64(e, 3);
            uint32_t flags = arg == 1 ? (uint32_t)ev_u64(e, 4) : 0;
            f = sf_typed(FD_FIFO, flags);
            tset(f, FF_INO, ino);
            sf_add(t, fd1, f);
            f = sf_typed(FD_FIFO, flags);
            tset(f, FF_INO, ino);
            sf_add(t, fd2, f);
        }
        break;
    case SK_SOCKETPAIR:
        if (res < 0 || !t)
            break;
        if (ev_i64(e, 1) == ev_i64(e, 2)) {
            sstate_set_fd(ev, NULL);
            break;
        }
        f = sf_typed(FD_UNIX_SOCK, 0);
        memcpy(sk(f) + SKU_SRC, &(uint64_t){ev_u64(e, 3)}, 8);
        memcpy(sk(f) + SKU_DST, &(uint64_t){ev_u64(e, 4)}, 8);
        {
            hentry *g = sf_clone(f);
            hentry *first = sf_add(t, ev_i64(e, 1), f);
            if (first)
                first->refs++;
            sf_add(t, ev_i64(e, 2), g);
            sstate_set_fd(ev, first); /* the event's fd is the first of the pair */
            if (first)
                he_unref(first);
        }
        break;
    case SK_EVENTFD:
        if (!t || res < 0)
            break;
        sf_add(t, res, sf_typed(FD_EVENT, arg == 1 ? (uint16_t)ev_u64(e, 1) : 0));
        break;
    case SK_SINGLE_FD: single_fd(ev, arg); break;
    case SK_MEMFD:
        if (!t)
            break;
        f = sf_new();
        if (res >= 0) {
            size_t n;
            const char *s = ev_str(e, 1, &n);
            tset(f, FF_TYPE, FD_MEMFD);
            tsetsn(f, FF_NAME, s, n);
            tset(f, FF_OPEN_FLAGS, (uint32_t)ev_u64(e, 2));
        }
        sf_add(t, res, f);
        break;
    case SK_FCNTL: parse_fcntl(ev); break;
    case SK_READ: sn_io(ev, true, arg); break;
    case SK_WRITE: sn_io(ev, false, arg == 2 ? 128 + 1 : arg); break;
    case SK_PIDFD_OPEN:
        if (!t || res < 0)
            break;
        f = sf_typed(FD_PIDFD, (uint32_t)ev_u64(e, 2));
        {
            char name[64];
            snprintf(name, sizeof name, "/proc/%" PRId64, ev_i64(e, 1));
            tsets(f, FF_NAME, name);
        }
        tset(f, FF_PID, (uint64_t)ev_i64(e, 1));
        sf_add(t, res, f);
        break;
    case SK_PIDFD_GETFD: {
        hentry *pf, *pt, *tf;
        if (!t || !(pf = sf_get(t, ev_i64(e, 1))) || fd_type(pf) != FD_PIDFD)
            break;
        if (!(pt = st_find(ti(pf, FF_PID))) || !(tf = sf_get(pt, ev_i64(e, 2))))
            break;
        f = sf_clone(tf);
        clear_cloexec(f);
        tset(f, FF_OPEN_FLAGS, tu(f, FF_OPEN_FLAGS) | PO_CLOEXEC);
        sf_add(t, res, f);
        break;
    }
    default: break;
    }
}
