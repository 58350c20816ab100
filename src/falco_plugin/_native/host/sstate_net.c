/*
 * sstate_net.c: libsinsp's socket parsers for the capture replay (parsers.cpp): socket,
 * bind, connect, accept, and the tuples read and write calls on sockets carry (with
 * libsinsp's guessing of client and server roles); socket names as libsinsp prints them
 * (sockinfo_to_str, sockaddr and socktuple parameters); fd type names and characters.
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

bool sock_mapped(const uint8_t *a)
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
            if (sock_mapped(b + SK6_SIP) && sock_mapped(b + SK6_DIP)) {
                /* libsinsp reads the ports at the IPv4 offsets of the union here */
                v4_tuple_text(out, g32(b, SK6_SIP + 12), g16(b, SK4_SPORT),
                              g32(b, SK6_DIP + 12), g16(b, SK4_DPORT));
            } else if (inet_ntop(AF_INET6, b + SK6_SIP, s6, sizeof s6) &&
                       inet_ntop(AF_INET6, b + SK6_DIP, d6, sizeof d6)) {
                sb_printf(out, "%s:%u->%s:%u", s6, g16(b, SK6_SPORT), d6, g16(b, SK6_DPORT));
            }
        } else if (proto == L4_ICMP) {
            if (sock_mapped(b + SK6_SIP) && sock_mapped(b + SK6_DIP))
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

static bool sockaddr_valid(sparam p);

/* A sockaddr parameter as libsinsp prints it (PF_SIMPLE): ip:port, or the unix path. */
static void sockaddr_text(sparam p, sbuf *out)
{
    sb_reset(out);
    if (!p.len) {
        sb_adds(out, "<NA>");
        return;
    }
    if (!sockaddr_valid(p)) {
        sb_adds(out, p.p[0] == AF_P_UNIX ? "INVALID PATH" : p.p[0] == AF_P_INET ? "INVALID IPv4"
                                                                    : "INVALID IPv6");
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
void sock_tuple_text(sparam p, sbuf *out)
{
    char s6[INET6_ADDRSTRLEN], d6[INET6_ADDRSTRLEN];
    sb_reset(out);
    if (!socktuple_valid(p)) {
        static const char *const what[] = {"INVALID SOCKTUPLE", "INVALID PATH", "INVALID IPv4",
                                           "INVALID IPv6"};
        int k = !p.len ? -1 : p.p[0] == AF_P_UNIX ? 1 : p.p[0] == AF_P_INET ? 2
                : p.p[0] == AF_P_INET6 ? 3 : 0;
        sb_adds(out, k < 0 ? "NULL" : what[k]);
        return;
    }
    switch (p.p[0]) {
    case AF_P_UNIX:
        sb_printf(out, "%" PRIx64 "->%" PRIx64 " %s", g64(p.p, 1), g64(p.p, 9),
                  (const char *)p.p + 17);
        break;
    case AF_P_INET: v4_tuple_text(out, g32(p.p, 1), g16(p.p, 5), g32(p.p, 7), g16(p.p, 11)); break;
    case AF_P_INET6:
        if (sock_mapped(p.p + 1) && sock_mapped(p.p + 19)) {
            v4_tuple_text(out, g32(p.p, 13), g16(p.p, 17), g32(p.p, 31), g16(p.p, 35));
        } else if (inet_ntop(AF_INET6, p.p + 1, s6, sizeof s6) &&
                   inet_ntop(AF_INET6, p.p + 19, d6, sizeof d6)) {
            sb_printf(out, "%s:%u->%s:%u", s6, g16(p.p, 17), d6, g16(p.p, 35));
        }
        break;
    default: sb_printf(out, "family %d", p.p[0]); break;
    }
}

static void name_from_union(hentry *f)
{
    sbuf b = {0};
    sock_name(f, &b);
    tsets(f, FF_NAME, sb_str(&b));
    sb_free(&b);
}

void sn_socket(sevent *ev, int64_t fd, uint32_t domain, uint32_t type, uint32_t proto,
                       uint32_t flags)
{
    hentry *f = sf_typed(FD_UNKNOWN, flags);
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
        if (sock_mapped(p.p + 1) && sock_mapped(p.p + 19)) {
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
        sock_tuple_text(ev_param(ev->e, param), &b);
        tsets(f, FF_NAME, sb_str(&b));
    }
    sf_sync(f);
    sb_free(&b);
}

void sn_io(sevent *ev, bool read, uint8_t arg)
{
    const ss_plugin_event *e = ev->e;
    hentry *f;
    if (arg >= 128 && !ev_param(e, 0).len) /* recvmmsg/sendmmsg without a result */
        return;
    if (!read && arg == 1 && !ev->fdinfo && ev->tinfo && ev_res(e) >= 0) {
        /* a send on an fd whose socket() was missed: a UDP socket (infer_send..._fdinfo) */
        sparam tp = ev_param(e, 4);
        if (tp.len && (tp.p[0] == AF_P_INET || tp.p[0] == AF_P_INET6))
            sn_socket(ev, ev_i64(e, 2), tp.p[0], 2 /* DGRAM */, 17, 0);
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

void sn_bind(sevent *ev)
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
            if (sock_mapped(a.p + 1)) {
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
/* libsinsp's resolve_connect_*_destination: the tuple's destination, or the enter event's
 * address when the exit event's address equals the tuple's (TOCTOU). libsinsp reads the
 * addresses without checking their family; here an address too short for the tuple's family
 * counts as absent (no read past a parameter of a malformed capture). */
static const uint8_t *connect_dest(const uint8_t *tuple_dip, size_t iplen, sparam exit_a,
                                   sparam enter_a)
{
    if (!exit_a.p || !enter_a.p || exit_a.len < 3 + iplen || enter_a.len < 3 + iplen ||
        memcmp(tuple_dip + iplen, exit_a.p + 1 + iplen, 2) ||
        memcmp(tuple_dip, exit_a.p + 1, iplen))
        return tuple_dip;
    return enter_a.p + 1;
}

/* A NUL within p from byte off on (a C string libsinsp reads there). */
static bool has_str(sparam p, size_t off)
{
    return p.p && p.len > off && memchr(p.p + off, 0, p.len - off) != NULL;
}

void sn_connect(sevent *ev)
{
    const ss_plugin_event *e = ev->e, *en;
    hentry *f = ev->fdinfo;
    int64_t res;
    const uint8_t *enter_a = NULL;
    sparam tp, ap, enter_p = {NULL, 0}, exit_p = {NULL, 0};
    if (!ev->tinfo || !f)
        return;
    res = ev_res(e);
    if (res < 0 && res != -115 /* EINPROGRESS */)
        return;
    set_connected(f);
    if (retrieve_enter(ev, &en)) {
        sparam a = ev_param(en, 1);
        if (sockaddr_valid(a)) {
            enter_a = a.p;
            enter_p = a;
        }
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
            if (sock_mapped(enter_a + 1)) {
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
        exit_p = ap;
    if (!socktuple_valid(tp))
        return;
    if (tp.p[0] == AF_P_INET || tp.p[0] == AF_P_INET6) {
        bool changed;
        if (tp.p[0] == AF_P_INET6) {
            const uint8_t *dip = connect_dest(tp.p + 19, 16, exit_p, enter_p);
            if (!(sock_mapped(tp.p + 1) && sock_mapped(dip))) {
                tset(f, FF_TYPE, FD_IPV6_SOCK);
                changed = set_v6(f, tp.p + 1, g16(tp.p, 17), dip, g16(dip, 16), true);
            } else {
                tset(f, FF_TYPE, FD_IPV4_SOCK);
                changed = set_v4(f, g32(tp.p, 13), g16(tp.p, 17), g32(dip, 12), g16(dip, 16),
                                 true);
            }
        } else {
            const uint8_t *dip = connect_dest(tp.p + 7, 4, exit_p, enter_p);
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
        /* a tuple of another family read as a unix one, as libsinsp does, when it holds one */
        if (fd_type(f) != FD_UNIX_SOCK || !has_str(tp, 17))
            return;
        if (has_str(exit_p, 1) && has_str(enter_p, 1) &&
            !strncmp(dpath, (const char *)exit_p.p + 1, 108))
            dpath = (const char *)enter_p.p + 1;
        memcpy(sk(f) + SKU_SRC, tp.p + 1, 16);
        sb_printf(&n, "%" PRIx64 "->%" PRIx64 " %s", g64(tp.p, 1), g64(tp.p, 9), dpath);
        tsets(f, FF_NAME, sb_str(&n));
        sb_free(&n);
    }
    if (role_none(f))
        set_role(f, FDF_ROLE_CLIENT);
    sf_sync(f);
}

void sn_accept(sevent *ev, bool accept4)
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
        if (sock_mapped(tp.p + 1) && sock_mapped(tp.p + 19)) {
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
    sock_tuple_text(tp, &name);
    tsets(f, FF_NAME, sb_str(&name));
    sb_free(&name);
    tset(f, FF_OPEN_FLAGS, accept4 ? ((uint32_t)ev_i64(e, 5) & PO_CLOEXEC) : 0);
    tset(f, FF_FLAGS, FDF_ROLE_SERVER);
    set_connected(f);
    sf_add(ev->tinfo, fd, f);
}

/* ---- fd types ---- */

const char *fd_typestring(const hentry *f)
{
    static const char *names[] = {"<NA>", "file", "directory", "ipv4", "ipv6", "ipv4", "ipv6",
                                  "pipe", "unix", "event", "<NA>", "signalfd", "eventpoll",
                                  "inotify", "timerfd", "netlink", "file", "bpf",
                                  "userfaultfd", "io_uring", "memfd", "pidfd"};
    uint32_t t = fd_type(f);
    return t < sizeof names / sizeof *names ? names[t] : "<NA>";
}

char fd_typechar(const hentry *f)
{
    static const char chars[] = "ofd4646pueXslitnfburmP";
    uint32_t t = fd_type(f);
    return t < sizeof chars - 1 ? chars[t] : '?';
}
