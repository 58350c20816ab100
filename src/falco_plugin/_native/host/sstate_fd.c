/*
 * sstate_fd.c: libsinsp's fd parsers for the capture replay (parsers.cpp): open, openat,
 * openat2, creat, open_by_handle_at; socket, bind, connect, accept; close, close_range; dup,
 * fcntl; pipe, socketpair, eventfd, memfd, pidfd and the fd kinds created by one syscall;
 * the tuples read and write calls on sockets carry. Also the fd helpers: lookup, the socket
 * union (the socket_* fields are views of it, as in libsinsp's fdinfo), names of sockets.
 */
#include "sstate.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AF_P_UNIX 1
#define AF_P_INET 2
#define AF_P_INET6 10
#define AF_P_NETLINK 16

/* ---- the socket union ---- */

static uint8_t *sk(hentry *f) { return fx(f)->sock; }
static uint32_t g32(const uint8_t *b, int off) { return rd32(b + off); }
static uint16_t g16(const uint8_t *b, int off) { return rd16(b + off); }
static void p32(uint8_t *b, int off, uint32_t v) { memcpy(b + off, &v, 4); }
static void p16(uint8_t *b, int off, uint16_t v) { memcpy(b + off, &v, 2); }
static uint64_t g64(const uint8_t *b, int off)
{
    uint64_t v;
    memcpy(&v, b + off, 8);
    return v;
}

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

static sfd *fx_ensure(hentry *f)
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

/* ---- names ---- */

static void v4_text(sbuf *out, uint32_t ip, uint16_t port)
{
    const uint8_t *b = (const uint8_t *)&ip;
    sb_printf(out, "%d.%d.%d.%d:%u", b[0], b[1], b[2], b[3], (unsigned)port);
}

static void v6_text(sbuf *out, const uint8_t *ip, uint16_t port)
{
    char a[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, ip, a, sizeof a))
        sb_printf(out, "%s:%u", a, (unsigned)port);
}

static bool mapped(const uint8_t *a)
{
    static const uint8_t z[10] = {0};
    if (memcmp(a, z, 10))
        return false;
    return (a[10] == 0xff && a[11] == 0xff) || !memcmp(a + 10, z, 6);
}

static void v4_tuple_text(sbuf *out, uint32_t sip, uint16_t sport, uint32_t dip, uint16_t dport)
{
    v4_text(out, sip, sport);
    sb_adds(out, "->");
    v4_text(out, dip, dport);
}

/* sockinfo_to_str (no name resolution, as Falco runs by default) */
void sock_name(hentry *f, sbuf *out)
{
    const uint8_t *b = sk(f);
    char s6[INET6_ADDRSTRLEN], d6[INET6_ADDRSTRLEN];
    sb_reset(out);
    if (fd_type(f) == FD_IPV4_SOCK) {
        uint8_t proto = b[SK4_PROTO];
        if (proto == L4_TCP || proto == L4_UDP)
            v4_tuple_text(out, g32(b, SK4_SIP), g16(b, SK4_SPORT), g32(b, SK4_DIP),
                          g16(b, SK4_DPORT));
        else if (proto == L4_ICMP || proto == L4_RAW)
            sb_printf(out, "%u.%u.%u.%u->%u.%u.%u.%u", b[0], b[1], b[2], b[3], b[4], b[5], b[6],
                      b[7]);
        else
            sb_adds(out, "<unknown>");
    } else if (fd_type(f) == FD_IPV6_SOCK) {
        uint8_t proto = b[SK6_PROTO];
        if (proto == L4_TCP || proto == L4_UDP) {
            if (mapped(b + SK6_SIP) && mapped(b + SK6_DIP)) {
                /* libsinsp reads the ports at the IPv4 offsets of the union here */
                v4_tuple_text(out, g32(b, SK6_SIP + 12), g16(b, SK4_SPORT),
                              g32(b, SK6_DIP + 12), g16(b, SK4_DPORT));
            } else if (inet_ntop(AF_INET6, b + SK6_SIP, s6, sizeof s6) &&
                       inet_ntop(AF_INET6, b + SK6_DIP, d6, sizeof d6)) {
                sb_printf(out, "%s:%u->%s:%u", s6, g16(b, SK6_SPORT), d6, g16(b, SK6_DPORT));
            }
        } else if (proto == L4_ICMP) {
            if (mapped(b + SK6_SIP) && mapped(b + SK6_DIP))
                sb_printf(out, "%u.%u.%u.%u->%u.%u.%u.%u", b[12], b[13], b[14], b[15], b[28],
                          b[29], b[30], b[31]);
            else if (inet_ntop(AF_INET6, b + SK6_SIP, s6, sizeof s6) &&
                     inet_ntop(AF_INET6, b + SK6_DIP, d6, sizeof d6))
                sb_printf(out, "%s->%s", s6, d6);
        } else {
            sb_adds(out, "<unknown>");
        }
    }
}

/* A sockaddr parameter as libsinsp prints it (PF_SIMPLE): ip:port, or the unix path. */
static void sockaddr_text(sparam p, sbuf *out)
{
    sb_reset(out);
    if (!p.len) {
        sb_adds(out, "<NA>");
        return;
    }
    switch (p.p[0]) {
    case AF_P_UNIX: sb_add(out, p.p + 1, strnlen((const char *)p.p + 1, p.len - 1)); break;
    case AF_P_INET: v4_text(out, g32(p.p, 1), g16(p.p, 5)); break;
    case AF_P_INET6: v6_text(out, p.p + 1, g16(p.p, 17)); break;
    default: sb_printf(out, "family %d", p.p[0]); break;
    }
}

static bool sockaddr_valid(sparam p)
{
    if (!p.len)
        return false;
    switch (p.p[0]) {
    case AF_P_INET: return p.len >= 7;
    case AF_P_INET6: return p.len >= 19;
    case AF_P_UNIX: return p.len >= 2 && p.p[p.len - 1] == 0;
    default: return true;
    }
}

static bool socktuple_valid(sparam p)
{
    if (!p.len)
        return false;
    switch (p.p[0]) {
    case AF_P_INET: return p.len >= 13;
    case AF_P_INET6: return p.len >= 37;
    case AF_P_UNIX: return p.len >= 18 && p.p[p.len - 1] == 0;
    default: return true;
    }
}

/* A socktuple parameter as libsinsp prints it (PF_SIMPLE). */
static void socktuple_text(sparam p, sbuf *out)
{
    char s6[INET6_ADDRSTRLEN], d6[INET6_ADDRSTRLEN];
    sb_reset(out);
    if (!socktuple_valid(p)) {
        sb_adds(out, p.len ? "INVALID SOCKTUPLE" : "NULL");
        return;
    }
    switch (p.p[0]) {
    case AF_P_UNIX:
        sb_printf(out, "%" PRIx64 "->%" PRIx64 " %s", g64(p.p, 1), g64(p.p, 9),
                  (const char *)p.p + 17);
        break;
    case AF_P_INET: v4_tuple_text(out, g32(p.p, 1), g16(p.p, 5), g32(p.p, 7), g16(p.p, 11)); break;
    case AF_P_INET6:
        if (mapped(p.p + 1) && mapped(p.p + 19)) {
            v4_tuple_text(out, g32(p.p, 13), g16(p.p, 17), g32(p.p, 31), g16(p.p, 35));
        } else if (inet_ntop(AF_INET6, p.p + 1, s6, sizeof s6) &&
                   inet_ntop(AF_INET6, p.p + 19, d6, sizeof d6)) {
            sb_printf(out, "%s:%u->%s:%u", s6, g16(p.p, 17), d6, g16(p.p, 35));
        }
        break;
    default: sb_adds(out, "INVALID SOCKTUPLE"); break;
    }
}

static void name_from_union(hentry *f)
{
    sbuf b = {0};
    sock_name(f, &b);
    tsets(f, FF_NAME, sb_str(&b));
    sb_free(&b);
}

/* ---- parsers ---- */

static hentry *new_typed(uint32_t type, uint32_t openflags)
{
    hentry *f = sf_new();
    tset(f, FF_TYPE, type);
    tset(f, FF_OPEN_FLAGS, openflags);
    return f;
}

/* parse_dirfd: the directory a relative name is under ("." absolute, "<UNKNOWN>"). */
static void dirfd_dir(sevent *ev, const char *name, size_t n, int64_t dirfd, sbuf *out)
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
        sparam dirp = ev_param(e, 1);
        int64_t dirfd = ev_i64(e, 1);
        uint32_t di = variant == 2 ? 5 : 6;
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
                dirp = ev_param(en, 0);
                dirfd = ev_i64(en, 0);
            }
        }
        if (dirp.len)
            dirfd_dir(ev, name, nlen, dirfd, &dir);
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
        f = new_typed((flags & PO_DIRECTORY) ? FD_DIRECTORY : FD_FILE_V2, flags);
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

static void add_socket(sevent *ev, int64_t fd, uint32_t domain, uint32_t type, uint32_t proto,
                       uint32_t flags)
{
    hentry *f = new_typed(FD_UNKNOWN, flags);
    uint8_t *b = sk(f), l4 = L4_UNKNOWN;
    if (domain == AF_P_UNIX) {
        tset(f, FF_TYPE, FD_UNIX_SOCK);
    } else if (domain == AF_P_INET || domain == AF_P_INET6) {
        tset(f, FF_TYPE, domain == AF_P_INET ? FD_IPV4_SOCK : FD_IPV6_SOCK);
        if (proto == 6 /* TCP */)
            l4 = type == 3 /* SOCK_RAW */ ? L4_RAW : L4_TCP;
        else if (proto == 17 /* UDP */)
            l4 = type == 3 ? L4_RAW : L4_UDP;
        else if (proto == 0 /* IP */)
            l4 = (type & 0xff) == 1 ? L4_TCP : (type & 0xff) == 2 ? L4_UDP : L4_UNKNOWN;
        else if (proto == 1 /* ICMP */)
            l4 = type == 3 ? L4_RAW : L4_ICMP;
        else if (proto == 255 /* RAW */)
            l4 = L4_RAW;
        b[domain == AF_P_INET ? SK4_PROTO : SK6_PROTO] = l4;
    } else if (domain == AF_P_NETLINK) {
        tset(f, FF_TYPE, FD_NETLINK);
    }
    sf_add(ev->tinfo, fd, f);
}

/* update_ipv4/ipv6_addresses_and_ports; true when something changed. */
static bool set_v4(hentry *f, uint32_t sip, uint16_t sport, uint32_t dip, uint16_t dport,
                   bool overwrite_dest)
{
    uint8_t *b = sk(f);
    bool changed = false;
    if (fd_type(f) == FD_IPV4_SOCK &&
        ((sip == g32(b, SK4_SIP) && sport == g16(b, SK4_SPORT) && dip == g32(b, SK4_DIP) &&
          dport == g16(b, SK4_DPORT)) ||
         (dip == g32(b, SK4_SIP) && dport == g16(b, SK4_SPORT) && sip == g32(b, SK4_DIP) &&
          sport == g16(b, SK4_DPORT))))
        return false;
    if (g32(b, SK4_SIP) != sip)
        p32(b, SK4_SIP, sip), changed = true;
    if (g16(b, SK4_SPORT) != sport)
        p16(b, SK4_SPORT, sport), changed = true;
    if (g32(b, SK4_DIP) == 0 || (overwrite_dest && g32(b, SK4_DIP) != dip))
        p32(b, SK4_DIP, dip), changed = true;
    if (g16(b, SK4_DPORT) == 0 || (overwrite_dest && g16(b, SK4_DPORT) != dport))
        p16(b, SK4_DPORT, dport), changed = true;
    return changed;
}

static bool set_v6(hentry *f, const uint8_t *sip, uint16_t sport, const uint8_t *dip,
                   uint16_t dport, bool overwrite_dest)
{
    static const uint8_t zero[16] = {0};
    uint8_t *b = sk(f);
    bool changed = false;
    if (fd_type(f) == FD_IPV6_SOCK &&
        ((!memcmp(sip, b + SK6_SIP, 16) && sport == g16(b, SK6_SPORT) &&
          !memcmp(dip, b + SK6_DIP, 16) && dport == g16(b, SK6_DPORT)) ||
         (!memcmp(dip, b + SK6_SIP, 16) && dport == g16(b, SK6_SPORT) &&
          !memcmp(sip, b + SK6_DIP, 16) && sport == g16(b, SK6_DPORT))))
        return false;
    if (memcmp(b + SK6_SIP, sip, 16))
        memcpy(b + SK6_SIP, sip, 16), changed = true;
    if (g16(b, SK6_SPORT) != sport)
        p16(b, SK6_SPORT, sport), changed = true;
    if (!memcmp(b + SK6_DIP, zero, 16) || (overwrite_dest && memcmp(b + SK6_DIP, dip, 16)))
        memcpy(b + SK6_DIP, dip, 16), changed = true;
    if (g16(b, SK6_DPORT) == 0 || (overwrite_dest && g16(b, SK6_DPORT) != dport))
        p16(b, SK6_DPORT, dport), changed = true;
    return changed;
}

static void swap_addresses(hentry *f)
{
    uint8_t *b = sk(f), t[16];
    uint16_t tp;
    if (fd_type(f) == FD_IPV4_SOCK) {
        memcpy(t, b + SK4_SIP, 4);
        memcpy(b + SK4_SIP, b + SK4_DIP, 4);
        memcpy(b + SK4_DIP, t, 4);
        tp = g16(b, SK4_SPORT);
        p16(b, SK4_SPORT, g16(b, SK4_DPORT));
        p16(b, SK4_DPORT, tp);
    } else {
        memcpy(t, b + SK6_SIP, 16);
        memcpy(b + SK6_SIP, b + SK6_DIP, 16);
        memcpy(b + SK6_DIP, t, 16);
        tp = g16(b, SK6_SPORT);
        p16(b, SK6_SPORT, g16(b, SK6_DPORT));
        p16(b, SK6_DPORT, tp);
    }
}

static void set_role(hentry *f, uint32_t role) { tset(f, FF_FLAGS, tu(f, FF_FLAGS) | role); }
static bool role_none(const hentry *f)
{
    return !(tu(f, FF_FLAGS) & (FDF_ROLE_CLIENT | FDF_ROLE_SERVER));
}
static void set_connected(hentry *f)
{
    tset(f, FF_FLAGS, (tu(f, FF_FLAGS) & ~(uint64_t)(FDF_PENDING | FDF_FAILED)) | FDF_CONNECTED);
}

/* update_fd: a socket's tuple from a read/write/connect parameter; false when unchanged. */
static bool update_fd(sevent *ev, sparam p)
{
    hentry *f = ev->fdinfo;
    uint8_t *b = sk(f);
    if (!socktuple_valid(p))
        return false;
    if (p.p[0] == AF_P_INET) {
        if (fd_type(f) == FD_IPV4_SERVSOCK)
            b[SK4_PROTO] = b[SKS4_PROTO];
        tset(f, FF_TYPE, FD_IPV4_SOCK);
        if (!set_v4(f, g32(p.p, 1), g16(p.p, 5), g32(p.p, 7), g16(p.p, 11), true))
            return false;
    } else if (p.p[0] == AF_P_INET6) {
        if (mapped(p.p + 1) && mapped(p.p + 19)) {
            tset(f, FF_TYPE, FD_IPV4_SOCK);
            if (!set_v4(f, g32(p.p, 13), g16(p.p, 17), g32(p.p, 31), g16(p.p, 35), true))
                return false;
        } else if (!set_v6(f, p.p + 1, g16(p.p, 17), p.p + 19, g16(p.p, 35), true)) {
            return false;
        }
    } else if (p.p[0] == AF_P_UNIX) {
        tset(f, FF_TYPE, FD_UNIX_SOCK);
        memcpy(b + SKU_SRC, p.p + 1, 16);
        tsets(f, FF_NAME, (const char *)p.p + 17);
        return true;
    }
    if (fd_type(f) == FD_IPV4_SOCK && b[SK4_PROTO] == L4_UNKNOWN)
        b[SK4_PROTO] = L4_UDP;
    else if (fd_type(f) == FD_IPV6_SOCK && b[SK6_PROTO] == L4_UNKNOWN)
        b[SK6_PROTO] = L4_UDP;
    return true;
}

/* is_bound_to_port / uses_client_port over the thread's fds (IPv4 only, as libsinsp) */
static bool thread_port(hentry *t, uint16_t port, bool bound)
{
    htable *ft = st_fdtable(t);
    size_t i;
    for (i = 0; ft && i < ft->n; i++) {
        hentry *f = ft->e[i];
        const uint8_t *b = fx_ensure(f)->sock;
        if (fd_type(f) == FD_IPV4_SOCK &&
            (bound ? g16(b, SK4_DPORT) : g16(b, SK4_SPORT)) == port)
            return true;
        if (bound && fd_type(f) == FD_IPV4_SERVSOCK && g16(b, SKS4_PORT) == port)
            return true;
    }
    return false;
}

static void guess_role(hentry *f, hentry *t, bool incoming)
{
    const uint8_t *b = sk(f);
    if (!thread_port(t, g16(b, SK4_DPORT), true))
        set_role(f, FDF_ROLE_CLIENT);
    else if (!thread_port(t, g16(b, SK4_SPORT), false))
        set_role(f, FDF_ROLE_SERVER);
    else if (role_none(f))
        set_role(f, incoming ? FDF_ROLE_SERVER : FDF_ROLE_CLIENT);
}

static bool tcp_socket(const hentry *f)
{
    return fd_type(f) == FD_IPV4_SOCK && fx(f)->sock[SK4_PROTO] == L4_TCP;
}

/* The tuple of a read or write on a socket (parse_read_exit, parse_write_exit). */
static void io_tuple(sevent *ev, uint32_t param, bool incoming)
{
    hentry *f = ev->fdinfo;
    sbuf b = {0};
    if (!(strlen(ts(f, FF_NAME)) == 0 || !tcp_socket(f)) || !update_fd(ev, ev_param(ev->e, param)))
        return;
    if (fd_type(f) == FD_IPV4_SOCK || fd_type(f) == FD_IPV6_SOCK) {
        if (role_none(f))
            guess_role(f, ev->tinfo, incoming);
        if (tu(f, FF_FLAGS) & (incoming ? FDF_ROLE_CLIENT : FDF_ROLE_SERVER))
            swap_addresses(f);
        name_from_union(f);
    } else {
        socktuple_text(ev_param(ev->e, param), &b);
        tsets(f, FF_NAME, sb_str(&b));
    }
    sf_sync(f);
    sb_free(&b);
}

static void parse_io(sevent *ev, bool read, uint8_t arg)
{
    const ss_plugin_event *e = ev->e;
    hentry *f;
    if (arg >= 128 && !ev_param(e, 0).len) /* recvmmsg/sendmmsg without a result */
        return;
    if (!read && arg == 1 && !ev->fdinfo && ev->tinfo && ev_res(e) >= 0) {
        /* a send on an fd whose socket() was missed: a UDP socket (infer_send..._fdinfo) */
        sparam tp = ev_param(e, 4);
        if (tp.len && (tp.p[0] == AF_P_INET || tp.p[0] == AF_P_INET6))
            add_socket(ev, ev_i64(e, 2), tp.p[0], 2 /* DGRAM */, 17, 0);
    }
    if (!(f = ev->fdinfo) || ev_res(e) < 0)
        return;
    if (fd_type(f) == FD_IPV4_SOCK || fd_type(f) == FD_IPV6_SOCK)
        set_connected(f);
    if (read && (arg & 127))
        io_tuple(ev, arg & 127, true);
    else if (!read && (arg & 127))
        io_tuple(ev, 4, false);
}

static void parse_bind(sevent *ev)
{
    hentry *f = ev->fdinfo;
    sparam a = ev_param(ev->e, 1);
    uint8_t *b;
    sbuf name = {0};
    if (!f || ev_res(ev->e) < 0 || !sockaddr_valid(a))
        return;
    b = sk(f);
    if (a.p[0] == AF_P_INET) {
        uint32_t ip = g32(a.p, 1);
        uint16_t port = g16(a.p, 5);
        if (port > 0) {
            uint8_t proto = b[SK4_PROTO];
            tset(f, FF_TYPE, FD_IPV4_SERVSOCK);
            p32(b, SKS4_IP, ip);
            p16(b, SKS4_PORT, port);
            b[SKS4_PROTO] = proto;
            set_role(f, FDF_ROLE_SERVER);
        }
    } else if (a.p[0] == AF_P_INET6) {
        uint16_t port = g16(a.p, 17);
        if (port > 0) {
            uint8_t proto = b[SK6_PROTO];
            if (mapped(a.p + 1)) {
                tset(f, FF_TYPE, FD_IPV4_SERVSOCK);
                b[SKS4_PROTO] = proto;
                p32(b, SKS4_IP, g32(a.p, 13));
                p16(b, SKS4_PORT, port);
            } else {
                tset(f, FF_TYPE, FD_IPV6_SERVSOCK);
                p16(b, SKS6_PORT, port);
                memcpy(b + SKS6_IP, a.p + 1, 16);
                b[SKS6_PROTO] = proto;
            }
            set_role(f, FDF_ROLE_SERVER);
        }
    }
    sockaddr_text(a, &name);
    tsets(f, FF_NAME, sb_str(&name));
    sb_free(&name);
    sf_sync(f);
}

/* resolve_connect_*_destination: the tuple's destination, unless the exit address equals it,
 * then the enter event's address (TOCTOU). */
static const uint8_t *connect_dest(const uint8_t *tuple_dip, size_t iplen, const uint8_t *exit_a,
                                   const uint8_t *enter_a)
{
    if (!exit_a || !enter_a || memcmp(tuple_dip + iplen, exit_a + 1 + iplen, 2) ||
        memcmp(tuple_dip, exit_a + 1, iplen))
        return tuple_dip;
    return enter_a + 1;
}

static void parse_connect(sevent *ev)
{
    const ss_plugin_event *e = ev->e, *en;
    hentry *f = ev->fdinfo;
    int64_t res;
    const uint8_t *enter_a = NULL, *exit_a = NULL;
    sparam tp, ap;
    if (!ev->tinfo || !f)
        return;
    res = ev_res(e);
    if (res < 0 && res != -115 /* EINPROGRESS */)
        return;
    set_connected(f);
    if (retrieve_enter(ev, &en)) {
        sparam a = ev_param(en, 1);
        if (sockaddr_valid(a))
            enter_a = a.p;
    }
    tp = ev_param(e, 1);
    if (!tp.len) {
        uint8_t *b = sk(f);
        if (!enter_a)
            return;
        if (enter_a[0] == AF_P_INET) {
            tset(f, FF_TYPE, FD_IPV4_SOCK);
            memcpy(b + SK4_DIP, enter_a + 1, 4);
            memcpy(b + SK4_DPORT, enter_a + 5, 2);
        } else if (enter_a[0] == AF_P_INET6) {
            if (mapped(enter_a + 1)) {
                tset(f, FF_TYPE, FD_IPV4_SOCK);
                memcpy(b + SK4_DIP, enter_a + 13, 4);
                memcpy(b + SK4_DPORT, enter_a + 17, 2);
            } else {
                tset(f, FF_TYPE, FD_IPV6_SOCK);
                memcpy(b + SK6_DPORT, enter_a + 17, 2);
                memcpy(b + SK6_DIP, enter_a + 1, 16);
            }
        } else {
            sbuf n = {0};
            sockaddr_text(ev_param(en, 1), &n);
            tsets(f, FF_NAME, sb_str(&n));
            sb_free(&n);
        }
        sf_sync(f);
        return;
    }
    ap = ev_param(e, 3);
    if (sockaddr_valid(ap))
        exit_a = ap.p;
    if (!socktuple_valid(tp))
        return;
    if (tp.p[0] == AF_P_INET || tp.p[0] == AF_P_INET6) {
        bool changed;
        if (tp.p[0] == AF_P_INET6) {
            const uint8_t *dip = connect_dest(tp.p + 19, 16, exit_a, enter_a);
            if (!(mapped(tp.p + 1) && mapped(dip))) {
                tset(f, FF_TYPE, FD_IPV6_SOCK);
                changed = set_v6(f, tp.p + 1, g16(tp.p, 17), dip, g16(dip, 16), true);
            } else {
                tset(f, FF_TYPE, FD_IPV4_SOCK);
                changed = set_v4(f, g32(tp.p, 13), g16(tp.p, 17), g32(dip, 12), g16(dip, 16),
                                 true);
            }
        } else {
            const uint8_t *dip = connect_dest(tp.p + 7, 4, exit_a, enter_a);
            tset(f, FF_TYPE, FD_IPV4_SOCK);
            changed = set_v4(f, g32(tp.p, 1), g16(tp.p, 5), g32(dip, 0), g16(dip, 4), true);
        }
        if (changed && (tu(f, FF_FLAGS) & FDF_ROLE_SERVER) && fd_type(f) == FD_IPV4_SOCK &&
            fx(f)->sock[SK4_PROTO] == L4_UDP)
            swap_addresses(f);
        name_from_union(f);
    } else {
        const char *dpath = (const char *)tp.p + 17;
        sbuf n = {0};
        if (fd_type(f) != FD_UNIX_SOCK)
            return;
        if (exit_a && enter_a && !strncmp(dpath, (const char *)exit_a + 1, 108))
            dpath = (const char *)enter_a + 1;
        memcpy(sk(f) + SKU_SRC, tp.p + 1, 16);
        sb_printf(&n, "%" PRIx64 "->%" PRIx64 " %s", g64(tp.p, 1), g64(tp.p, 9), dpath);
        tsets(f, FF_NAME, sb_str(&n));
        sb_free(&n);
    }
    if (role_none(f))
        set_role(f, FDF_ROLE_CLIENT);
    sf_sync(f);
}

static void parse_accept(sevent *ev, bool accept4)
{
    const ss_plugin_event *e = ev->e;
    int64_t fd = ev_res(e);
    sparam tp = ev_param(e, 1);
    hentry *f;
    uint8_t *b;
    sbuf name = {0};
    if (!ev->tinfo || fd < 0)
        return;
    tx(ev->tinfo)->lastevent_fd = fd;
    if (!socktuple_valid(tp))
        return;
    f = sf_new();
    b = sk(f);
    if (tp.p[0] == AF_P_INET) {
        set_v4(f, g32(tp.p, 1), g16(tp.p, 5), g32(tp.p, 7), g16(tp.p, 11), true);
        tset(f, FF_TYPE, FD_IPV4_SOCK);
        b[SK4_PROTO] = L4_TCP;
    } else if (tp.p[0] == AF_P_INET6) {
        if (mapped(tp.p + 1) && mapped(tp.p + 19)) {
            set_v4(f, g32(tp.p, 13), g16(tp.p, 17), g32(tp.p, 31), g16(tp.p, 35), true);
            tset(f, FF_TYPE, FD_IPV4_SOCK);
            b[SK4_PROTO] = L4_TCP;
        } else {
            set_v6(f, tp.p + 1, g16(tp.p, 17), tp.p + 19, g16(tp.p, 35), true);
            tset(f, FF_TYPE, FD_IPV6_SOCK);
            b[SK6_PROTO] = L4_TCP;
        }
    } else if (tp.p[0] == AF_P_UNIX) {
        tset(f, FF_TYPE, FD_UNIX_SOCK);
        memcpy(b + SKU_SRC, tp.p + 1, 16);
    } else {
        he_unref(f);
        return;
    }
    socktuple_text(tp, &name);
    tsets(f, FF_NAME, sb_str(&name));
    sb_free(&name);
    tset(f, FF_OPEN_FLAGS, accept4 ? ((uint32_t)ev_i64(e, 5) & PO_CLOEXEC) : 0);
    tset(f, FF_FLAGS, FDF_ROLE_SERVER);
    set_connected(f);
    sf_add(ev->tinfo, fd, f);
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
    sf_add(ev->tinfo, res, new_typed(type, flags));
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
        if (res >= 0 && t)
            add_socket(ev, res, (uint32_t)ev_u64(e, 1), (uint32_t)ev_u64(e, 2),
                       (uint32_t)ev_u64(e, 3), (uint32_t)ev_u64(e, 4));
        break;
    case SK_BIND: parse_bind(ev); break;
    case SK_CONNECT: parse_connect(ev); break;
    case SK_ACCEPT: parse_accept(ev, arg == 1); break;
    case SK_CLOSE:
        if (res >= 0 && ev->fdinfo && t)
            sf_schedule_close(ti(t, TF_TID), tx(t)->lastevent_fd);
        break;
    case SK_CLOSE_RANGE: close_range(ev); break;
    case SK_DUP: parse_dup(ev, arg == 1); break;
    case SK_PIPE:
        if (res < 0 || !t)
            break;
        f = new_typed(FD_FIFO, arg == 1 ? (uint32_t)ev_u64(e, 4) : 0);
        tset(f, FF_INO, ev_u64(e, 3));
        sf_add(t, ev_i64(e, 1), f);
        f = new_typed(FD_FIFO, arg == 1 ? (uint32_t)ev_u64(e, 4) : 0);
        tset(f, FF_INO, ev_u64(e, 3));
        sf_add(t, ev_i64(e, 2), f);
        break;
    case SK_SOCKETPAIR:
        if (res < 0 || !t)
            break;
        if (ev_i64(e, 1) == ev_i64(e, 2)) {
            sstate_set_fd(ev, NULL);
            break;
        }
        f = new_typed(FD_UNIX_SOCK, 0);
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
        sf_add(t, res, new_typed(FD_EVENT, arg == 1 ? (uint16_t)ev_u64(e, 1) : 0));
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
    case SK_READ: parse_io(ev, true, arg); break;
    case SK_WRITE: parse_io(ev, false, arg == 2 ? 128 + 1 : arg); break;
    case SK_PIDFD_OPEN:
        if (!t || res < 0)
            break;
        f = new_typed(FD_PIDFD, (uint32_t)ev_u64(e, 2));
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
