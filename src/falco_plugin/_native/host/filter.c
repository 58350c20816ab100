/*
 * filter.c: evaluating the filter Python compiled (proto.h, P_FILTER) the way libsinsp's
 * filterchecks compare (filter_compare.cpp, sinsp_filtercheck.cpp): an absent value matches
 * nothing (`!=` included); a list field takes `in` (every value is in the set), `intersects`
 * (any value is) and `exists`; ipnet values are networks an address falls in; strings
 * compare as C strings; glob/iglob are fnmatch; pmatch is a path-prefix match. Fields are
 * extracted on first use, with `and`/`or` short-circuiting. Also the host's own evt.* fields.
 */
#include "host.h"

#include <fnmatch.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint64_t u;
    char *s;
    uint32_t slen;
    uint8_t iplen;
    uint8_t ip[16];
    int prefix; /* ipnet values: the network's prefix length; -1 otherwise */
    regex_t *rx; /* regex values, compiled (anchored at both ends) */
} fval;

typedef struct fnode {
    uint8_t kind;
    uint32_t n;
    struct fnode **kids;
    uint32_t req;
    uint8_t op, mod, rhs;
    uint32_t rhs_req;
    fval *vals;
    uint32_t nvals;
} fnode;

/* What one side of a comparison is: an extracted value or a constant. */
typedef struct {
    uint64_t u;
    const char *s;
    uint32_t slen;
    uint8_t iplen;
    const uint8_t *ip;
    int prefix;
    const regex_t *rx;
} opnd;

static fnode *g_filter;
bool g_filtering;

#define F_MAX_DEPTH 1000

static void fnode_free(fnode *x)
{
    uint32_t i;
    if (!x)
        return;
    for (i = 0; i < x->n; i++)
        fnode_free(x->kids[i]);
    for (i = 0; i < x->nvals; i++) {
        free(x->vals[i].s);
        if (x->vals[i].rx) {
            regfree(x->vals[i].rx);
            free(x->vals[i].rx);
        }
    }
    free(x->kids);
    free(x->vals);
    free(x);
}

static bool read_value(plan_reader *r, uint32_t ftype, fval *v)
{
    memset(v, 0, sizeof *v);
    v->prefix = -1;
    if (ftype == FTYPE_STRING) {
        const uint8_t *p = pr_bytes(r, &v->slen);
        v->s = xmalloc((size_t)v->slen + 1);
        if (p)
            memcpy(v->s, p, v->slen);
        v->s[v->slen] = 0;
    } else if (ftype == FTYPE_IPADDR || ftype == FTYPE_IPNET) {
        v->iplen = pr_u8(r);
        if (v->iplen != 4 && v->iplen != 16)
            return false;
        memcpy(v->ip, r->p + r->i, r->n - r->i >= v->iplen ? v->iplen : 0);
        r->i += r->n - r->i >= v->iplen ? v->iplen : 0;
        if (ftype == FTYPE_IPNET)
            v->prefix = pr_u8(r);
    } else {
        v->u = pr_u64(r);
    }
    return !r->bad;
}

/* libsinsp matches a regex against the whole string (RE2 POSIX syntax; here POSIX ERE). */
static bool compile_regex(fval *v)
{
    sbuf pat = {0};
    int e;
    char msg[256];
    sb_adds(&pat, "^(");
    sb_add(&pat, v->s, v->slen);
    sb_adds(&pat, ")$");
    v->rx = xcalloc(1, sizeof *v->rx);
    e = regcomp(v->rx, sb_str(&pat), REG_EXTENDED | REG_NOSUB);
    sb_free(&pat);
    if (e != 0) {
        regerror(e, v->rx, msg, sizeof msg);
        report_error(NULL, "filter", "invalid regex pattern: %s", msg);
        free(v->rx);
        v->rx = NULL;
        return false;
    }
    return true;
}

static fnode *read_node(plan_reader *r, int depth)
{
    fnode *x;
    uint32_t i;
    if (depth > F_MAX_DEPTH || r->bad)
        return NULL;
    x = xcalloc(1, sizeof *x);
    x->kind = pr_u8(r);
    switch (x->kind) {
    case F_AND:
    case F_OR:
    case F_NOT:
        x->n = x->kind == F_NOT ? 1 : pr_u32(r);
        if (x->n > r->n) /* each child takes at least one byte */
            goto bad;
        x->kids = xcalloc(x->n, sizeof *x->kids);
        for (i = 0; i < x->n; i++)
            if (!(x->kids[i] = read_node(r, depth + 1)))
                goto bad;
        return x;
    case F_CHECK:
        x->req = pr_u32(r);
        x->op = pr_u8(r);
        x->mod = pr_u8(r);
        x->rhs = pr_u8(r);
        if (x->req >= g_nreq)
            goto bad;
        if (x->rhs == RHS_FIELD) {
            x->rhs_req = pr_u32(r);
            if (x->rhs_req >= g_nreq)
                goto bad;
        } else if (x->rhs == RHS_VALUES) {
            x->nvals = pr_u32(r);
            if (x->nvals > r->n)
                goto bad;
            x->vals = xcalloc(x->nvals, sizeof *x->vals);
            for (i = 0; i < x->nvals; i++) {
                if (!read_value(r, g_reqs[x->req].ftype, &x->vals[i]))
                    goto bad;
                if (x->op == OP_REGEX && !compile_regex(&x->vals[i]))
                    goto bad;
            }
        }
        if (!r->bad)
            return x;
        break;
    default:
        break;
    }
bad:
    fnode_free(x);
    return NULL;
}

bool filter_read(plan_reader *r)
{
    fnode_free(g_filter);
    g_filter = read_node(r, 0);
    g_filtering = g_filter != NULL;
    return g_filtering;
}

void filter_free(void)
{
    fnode_free(g_filter);
    g_filter = NULL;
    g_filtering = false;
}

/* ---- one comparison (flt_compare) ---- */

static opnd of_elem(const xvalue *v, const xelem *e)
{
    opnd o = {e->u, xv_str(v, e), e->slen, e->iplen, e->ip, -1, NULL};
    return o;
}

static opnd of_fval(const fval *f)
{
    opnd o = {f->u, f->s, f->slen, f->iplen, f->ip, f->prefix, f->rx};
    return o;
}

static bool in_network(const opnd *addr, const opnd *net)
{
    int full = net->prefix / 8, rest = net->prefix % 8;
    if (addr->iplen != net->iplen)
        return false;
    if (memcmp(addr->ip, net->ip, (size_t)full) != 0)
        return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xFF << (8 - rest));
        return (addr->ip[full] & mask) == (net->ip[full] & mask);
    }
    return true;
}

/* Equal as the set lookups of `in` and `intersects` see it (the same bytes). */
static bool same(uint32_t ft, const opnd *a, const opnd *b)
{
    switch (ft) {
    case FTYPE_STRING: return a->slen == b->slen && !memcmp(a->s, b->s, a->slen);
    case FTYPE_IPADDR: return a->iplen == b->iplen && !memcmp(a->ip, b->ip, a->iplen);
    case FTYPE_IPNET: return in_network(a, b);
    default: return a->u == b->u;
    }
}

static bool ends_with(const opnd *a, const opnd *b)
{
    return a->slen >= b->slen && !memcmp(a->s + a->slen - b->slen, b->s, b->slen);
}

static bool cmp_string(uint8_t op, const opnd *a, const opnd *b)
{
    int c;
    switch (op) {
    case OP_EQ: return same(FTYPE_STRING, a, b);
    case OP_NE: return !same(FTYPE_STRING, a, b);
    case OP_CONTAINS: return strstr(a->s, b->s) != NULL;
    case OP_ICONTAINS: return strcasestr(a->s, b->s) != NULL;
    case OP_STARTSWITH: return strncmp(a->s, b->s, b->slen) == 0;
    case OP_ENDSWITH: return ends_with(a, b);
    case OP_GLOB: return fnmatch(b->s, a->s, 0) == 0;
    case OP_IGLOB: return fnmatch(b->s, a->s, FNM_CASEFOLD) == 0;
    case OP_REGEX: return b->rx && regexec(b->rx, a->s, 0, NULL, 0) == 0;
    default: break;
    }
    c = strcmp(a->s, b->s);
    switch (op) {
    case OP_LT: return c < 0;
    case OP_LE: return c <= 0;
    case OP_GT: return c > 0;
    case OP_GE: return c >= 0;
    default: return false;
    }
}

static bool compare(uint32_t ft, uint8_t op, const opnd *a, const opnd *b)
{
    switch (ft) {
    case FTYPE_STRING: return cmp_string(op, a, b);
    case FTYPE_IPADDR:
    case FTYPE_IPNET:
        /* an address of the other family: only != holds */
        if (a->iplen != b->iplen)
            return op == OP_NE;
        return (op == OP_NE) != same(ft, a, b);
    case FTYPE_BOOL: /* compared as the 32-bit values they are */
        return (op == OP_NE) != ((uint32_t)a->u == (uint32_t)b->u);
    case PT_INT16:
    case PT_INT32:
    case PT_INT64: /* syscall fields of a capture: signed, sign-extended to 64 bits */
        switch (op) {
        case OP_EQ: return a->u == b->u;
        case OP_NE: return a->u != b->u;
        case OP_LT: return (int64_t)a->u < (int64_t)b->u;
        case OP_LE: return (int64_t)a->u <= (int64_t)b->u;
        case OP_GT: return (int64_t)a->u > (int64_t)b->u;
        case OP_GE: return (int64_t)a->u >= (int64_t)b->u;
        default: return false;
        }
    default: break;
    }
    switch (op) {
    case OP_EQ: return a->u == b->u;
    case OP_NE: return a->u != b->u;
    case OP_LT: return a->u < b->u;
    case OP_LE: return a->u <= b->u;
    case OP_GT: return a->u > b->u;
    case OP_GE: return a->u >= b->u;
    default: return false;
    }
}

/* The next non-empty '/'-separated component of s at *i, or false at the end. */
static bool next_component(const char *s, size_t n, size_t *i, size_t *start, size_t *len)
{
    while (*i < n && s[*i] == '/')
        (*i)++;
    if (*i >= n)
        return false;
    *start = *i;
    while (*i < n && s[*i] != '/')
        (*i)++;
    *len = *i - *start;
    return true;
}

static bool component_matches(const char *pat, size_t plen, const char *s, size_t slen)
{
    char p[4096], t[4096];
    if (!memchr(pat, '*', plen) && !memchr(pat, '?', plen) && !memchr(pat, '[', plen))
        return plen == slen && !memcmp(pat, s, plen);
    if (plen >= sizeof p || slen >= sizeof t)
        return false;
    memcpy(p, pat, plen);
    p[plen] = 0;
    memcpy(t, s, slen);
    t[slen] = 0;
    return fnmatch(p, t, 0) == 0;
}

/* pmatch: search path b is a prefix of path a, component by component (glob components). */
static bool path_prefix(const opnd *a, const opnd *b)
{
    size_t ia = 0, ib = 0, sa, la, sb, lb;
    while (next_component(b->s, b->slen, &ib, &sb, &lb)) {
        if (!next_component(a->s, a->slen, &ia, &sa, &la))
            return false;
        if (!component_matches(b->s + sb, lb, a->s + sa, la))
            return false;
    }
    return true;
}

/* Does a equal (or, for pmatch, fall under) one of the right-hand values? */
static bool member(uint32_t ft, uint8_t op, const opnd *a, const fnode *x, const xvalue *rv)
{
    uint64_t i;
    uint32_t k;
    for (i = 0; rv && i < rv->n; i++) {
        opnd b = of_elem(rv, &rv->e[i]);
        if (same(ft, a, &b))
            return true;
    }
    for (k = 0; !rv && k < x->nvals; k++) {
        opnd b = of_fval(&x->vals[k]);
        if (op == OP_PMATCH ? path_prefix(a, &b) : same(ft, a, &b))
            return true;
    }
    return false;
}

/* `op oneof/anyof/allof (values)`: exactly one, any, or every value compares true. An ipnet
 * compares only as (non-)membership, like libsinsp's equality-only types. */
static int with_modifier(uint32_t ft, const fnode *x, const opnd *a)
{
    uint8_t op = x->op;
    uint32_t k, hits = 0;
    if (ft == FTYPE_IPNET && op != OP_EQ && op != OP_NE)
        op = OP_EQ;
    for (k = 0; k < x->nvals; k++) {
        opnd b = of_fval(&x->vals[k]);
        hits += compare(ft, op, a, &b);
    }
    switch (x->mod) {
    case MOD_ONEOF: return hits == 1;
    case MOD_ANYOF: return hits > 0;
    default: return x->nvals > 0 && hits == x->nvals;
    }
}

static int eval(const fnode *x, struct xctx *xc, const ss_plugin_event_input *ein,
                host_plugin *src);

static int eval_check(const fnode *x, struct xctx *xc, const ss_plugin_event_input *ein,
                      host_plugin *src)
{
    const field_req *r = &g_reqs[x->req];
    const xvalue *lv = x_get(xc, x->req, ein, src), *rv = NULL;
    uint64_t i;
    if (!lv)
        return -1;
    if (!lv->present)
        return 0;
    if (x->op == OP_EXISTS)
        return 1;
    if (x->rhs == RHS_FIELD) {
        rv = x_get(xc, x->rhs_req, ein, src);
        if (!rv)
            return -1;
        if (!rv->present)
            return 0;
    }
    if (r->is_list) {
        /* `in`: every value is in the set; `intersects`: one is */
        for (i = 0; i < lv->n; i++) {
            opnd a = of_elem(lv, &lv->e[i]);
            bool m = member(r->ftype, x->op, &a, x, rv);
            if (x->op == OP_IN && !m)
                return 0;
            if (x->op == OP_INTERSECTS && m)
                return 1;
        }
        return x->op == OP_IN;
    }
    {
        opnd a = of_elem(lv, &lv->e[0]), b;
        if (x->op == OP_IN || x->op == OP_INTERSECTS || x->op == OP_PMATCH)
            return member(r->ftype, x->op, &a, x, rv);
        if (x->mod)
            return with_modifier(r->ftype, x, &a);
        if (rv)
            b = of_elem(rv, &rv->e[0]);
        else if (x->nvals)
            b = of_fval(&x->vals[0]);
        else
            return 0;
        return compare(r->ftype, x->op, &a, &b);
    }
}

static int eval(const fnode *x, struct xctx *xc, const ss_plugin_event_input *ein,
                host_plugin *src)
{
    uint32_t i;
    int v;
    switch (x->kind) {
    case F_AND:
    case F_OR:
        for (i = 0; i < x->n; i++) {
            v = eval(x->kids[i], xc, ein, src);
            if (v < 0)
                return v;
            if ((x->kind == F_AND) != (v == 1))
                return v;
        }
        return x->kind == F_AND;
    case F_NOT:
        v = eval(x->kids[0], xc, ein, src);
        return v < 0 ? v : !v;
    default: return eval_check(x, xc, ein, src);
    }
}

int filter_eval(struct xctx *xc, const ss_plugin_event_input *ein, host_plugin *src)
{
    return g_filter ? eval(g_filter, xc, ein, src) : 1;
}

/* ---- the host's own evt.* fields (libsinsp's sinsp_filter_check_gen_event) ---- */

/* The local time zone's offset from UTC in seconds, as libsinsp's gmt2local(0) finds it. */
static long local_offset(void)
{
    static long off = LONG_MIN;
    if (off == LONG_MIN) {
        time_t now = time(NULL);
        struct tm lt;
        off = localtime_r(&now, &lt) ? lt.tm_gmtoff : 0;
    }
    return off;
}

static void time_text(uint64_t ts, bool date, bool ns, char *buf, size_t len)
{
    uint64_t sec = ts / 1000000000ull, nsec = ts % 1000000000ull;
    int64_t local = (int64_t)sec + local_offset();
    int64_t s = local % 86400;
    size_t n = 0;
    if (s < 0)
        s += 86400;
    if (date) {
        time_t day = (time_t)(local - s);
        struct tm tm;
        if (gmtime_r(&day, &tm))
            n = (size_t)snprintf(buf, len, "%04d-%02d-%02d ", tm.tm_year + 1900, tm.tm_mon + 1,
                                 tm.tm_mday);
        else
            n = (size_t)snprintf(buf, len, "<date error> ");
    }
    if (ns)
        snprintf(buf + n, len - n, "%02d:%02d:%02d.%09u", (int)(s / 3600), (int)(s % 3600 / 60),
                 (int)(s % 60), (unsigned)nsec);
    else
        snprintf(buf + n, len - n, "%02d:%02d:%02d", (int)(s / 3600), (int)(s % 3600 / 60),
                 (int)(s % 60));
}

static void iso8601(uint64_t ts, char *buf, size_t len)
{
    time_t sec = (time_t)(ts / 1000000000ull);
    struct tm tm;
    size_t n;
    if (!gmtime_r(&sec, &tm)) {
        snprintf(buf, len, "%s", "?");
        return;
    }
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, len - n, ".%09u", (unsigned)(ts % 1000000000ull));
    strftime(buf + n, len - n, "%z", &tm);
}

/* libsinsp's fallback when a plugin has no event_to_string (or it says nothing). */
static void payload_summary(const ss_plugin_event *e, sbuf *out)
{
    const uint8_t *b = (const uint8_t *)e;
    uint32_t len = rd32(b + 30), shown = len < 50 ? len : 50, i;
    const uint8_t *data = b + FP_PLUGINEVENT_PAYLOAD_OFFSET;
    sb_printf(out, "datalen=%" PRIu32 " data=", len);
    for (i = 0; i < shown; i++) {
        if (data[i] < 0x20 || data[i] > 0x7e) {
            sb_adds(out, "<binary>");
            return;
        }
    }
    sb_add(out, data, shown);
    if (len > 50)
        sb_adds(out, "...");
}

bool evt_field(uint32_t code, struct xctx *xc, const ss_plugin_event_input *ein,
               host_plugin *src, xvalue *v)
{
    const ss_plugin_event *e = ein->evt;
    uint64_t ts = e->ts, rel = ts - x_first_ts(xc);
    bool plugin_evt = e->type == FP_PLUGINEVENT_TYPE &&
                      rd32((const uint8_t *)e + 34) == src->id && src->id != 0;
    char buf[128];
    switch (code) {
    case EVF_NUM: xv_set_u64(v, ein->evtnum); return true;
    case EVF_TIME:
    case EVF_TIME_S:
    case EVF_DATETIME:
    case EVF_DATETIME_S:
        time_text(ts, code == EVF_DATETIME || code == EVF_DATETIME_S,
                  code == EVF_TIME || code == EVF_DATETIME, buf, sizeof buf);
        xv_set_str(v, buf, strlen(buf));
        return true;
    case EVF_TIME_ISO8601:
        iso8601(ts, buf, sizeof buf);
        xv_set_str(v, buf, strlen(buf));
        return true;
    case EVF_RAWTIME: xv_set_u64(v, ts); return true;
    case EVF_RAWTIME_S: xv_set_u64(v, ts / 1000000000ull); return true;
    case EVF_RAWTIME_NS: xv_set_u64(v, ts % 1000000000ull); return true;
    case EVF_RELTIME: xv_set_u64(v, rel); return true;
    case EVF_RELTIME_S: xv_set_u64(v, rel / 1000000000ull); return true;
    case EVF_RELTIME_NS: xv_set_u64(v, rel % 1000000000ull); return true;
    case EVF_PLUGINNAME:
        if (!plugin_evt)
            return false;
        xv_set_str(v, src->name, strlen(src->name));
        return true;
    case EVF_PLUGININFO: {
        const char *info;
        if (!plugin_evt)
            return false;
        info = x_info(xc, ein, src);
        if (info && info[0]) {
            xv_set_str(v, info, strlen(info));
        } else {
            sbuf s = {0};
            payload_summary(e, &s);
            xv_set_str(v, sb_str(&s), s.n);
            sb_free(&s);
        }
        return true;
    }
    case EVF_SOURCE: xv_set_str(v, src->source, strlen(src->source)); return true;
    case EVF_IS_ASYNC: xv_set_u64(v, e->type == FP_ASYNCEVENT_TYPE); return true;
    case EVF_ASYNCTYPE:
        if (e->type != FP_ASYNCEVENT_TYPE || e->len < 42)
            return false;
        xv_set_str(v, (const char *)e + 42, strnlen((const char *)e + 42, e->len - 42));
        return true;
    case EVF_HOSTNAME:
        if (!g_opt.hostname)
            return false;
        xv_set_str(v, g_opt.hostname, strlen(g_opt.hostname));
        return true;
    default: return false;
    }
}
