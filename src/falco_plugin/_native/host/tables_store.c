/*
 * tables_store.c: the host's own tables, as libsinsp keeps them: entries sorted by key with
 * a field schema per kind of table (static fields, then the dynamic ones plugins add),
 * libsinsp's `threads` table with its nested `file_descriptors`, `args`, `env` and
 * `cgroups` tables and their defaults, the fixture Python sends (default threads included),
 * and setup/teardown per cycle. Also the set of live handles every check looks pointers up in.
 */
#include "tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t ps_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

static void ps_grow(ptrset *s)
{
    ptrset n = {0};
    size_t i;
    n.cap = s->cap ? s->cap * 2 : 256;
    while (s->live * 2 >= n.cap)
        n.cap *= 2;
    n.k = xcalloc(n.cap, sizeof *n.k);
    n.tag = xcalloc(n.cap, 1);
    for (i = 0; i < s->cap; i++)
        if (s->k[i] && s->k[i] != PS_TOMB)
            ps_add(&n, s->k[i], s->tag[i]);
    free(s->k);
    free(s->tag);
    *s = n;
}

void ps_add(ptrset *s, void *p, uint8_t tag)
{
    size_t i;
    if ((s->used + 1) * 2 > s->cap)
        ps_grow(s);
    i = ps_hash(p) & (s->cap - 1);
    while (s->k[i] && s->k[i] != PS_TOMB)
        i = (i + 1) & (s->cap - 1);
    if (!s->k[i])
        s->used++;
    s->k[i] = p;
    s->tag[i] = tag;
    s->live++;
}

static size_t ps_find(const ptrset *s, const void *p)
{
    size_t i;
    if (!s->cap || !p || p == PS_TOMB)
        return SIZE_MAX;
    i = ps_hash(p) & (s->cap - 1);
    while (s->k[i]) {
        if (s->k[i] == p)
            return i;
        i = (i + 1) & (s->cap - 1);
    }
    return SIZE_MAX;
}

uint8_t ps_tag(const ptrset *s, const void *p)
{
    size_t i = ps_find(s, p);
    return i == SIZE_MAX ? PT_NONE : s->tag[i];
}

void ps_del(ptrset *s, const void *p)
{
    size_t i = ps_find(s, p);
    if (i == SIZE_MAX)
        return;
    s->k[i] = PS_TOMB;
    s->tag[i] = PT_NONE;
    s->live--;
}

void ps_free(ptrset *s)
{
    free(s->k);
    free(s->tag);
    memset(s, 0, sizeof *s);
}
/* ---- state types and values ---- */

const char *st_name(ss_plugin_state_type t)
{
    switch (t) {
    case SS_PLUGIN_ST_INT8: return "int8";
    case SS_PLUGIN_ST_INT16: return "int16";
    case SS_PLUGIN_ST_INT32: return "int32";
    case SS_PLUGIN_ST_INT64: return "int64";
    case SS_PLUGIN_ST_UINT8: return "uint8";
    case SS_PLUGIN_ST_UINT16: return "uint16";
    case SS_PLUGIN_ST_UINT32: return "uint32";
    case SS_PLUGIN_ST_UINT64: return "uint64";
    case SS_PLUGIN_ST_STRING: return "string";
    case SS_PLUGIN_ST_TABLE: return "table";
    case SS_PLUGIN_ST_BOOL: return "bool";
    }
    return NULL;
}

const char *st_label(ss_plugin_state_type t)
{
    const char *n = st_name(t);
    return n ? n : "an unknown type";
}

bool st_signed(ss_plugin_state_type t)
{
    return t >= SS_PLUGIN_ST_INT8 && t <= SS_PLUGIN_ST_INT64;
}

/* Integers and booleans as 64 bits (signed ones sign-extended). */
uint64_t sd_get(ss_plugin_state_type t, const ss_plugin_state_data *d)
{
    switch (t) {
    case SS_PLUGIN_ST_INT8: return (uint64_t)(int64_t)d->s8;
    case SS_PLUGIN_ST_INT16: return (uint64_t)(int64_t)d->s16;
    case SS_PLUGIN_ST_INT32: return (uint64_t)(int64_t)d->s32;
    case SS_PLUGIN_ST_INT64: return (uint64_t)d->s64;
    case SS_PLUGIN_ST_UINT8: return d->u8;
    case SS_PLUGIN_ST_UINT16: return d->u16;
    case SS_PLUGIN_ST_UINT32: return d->u32;
    case SS_PLUGIN_ST_UINT64: return d->u64;
    case SS_PLUGIN_ST_BOOL: return d->b ? 1 : 0;
    default: return 0;
    }
}

void sd_put(ss_plugin_state_type t, ss_plugin_state_data *d, uint64_t v)
{
    switch (t) {
    case SS_PLUGIN_ST_INT8: d->s8 = (int8_t)v; break;
    case SS_PLUGIN_ST_INT16: d->s16 = (int16_t)v; break;
    case SS_PLUGIN_ST_INT32: d->s32 = (int32_t)v; break;
    case SS_PLUGIN_ST_INT64: d->s64 = (int64_t)v; break;
    case SS_PLUGIN_ST_UINT8: d->u8 = (uint8_t)v; break;
    case SS_PLUGIN_ST_UINT16: d->u16 = (uint16_t)v; break;
    case SS_PLUGIN_ST_UINT32: d->u32 = (uint32_t)v; break;
    case SS_PLUGIN_ST_UINT64: d->u64 = v; break;
    case SS_PLUGIN_ST_BOOL: d->b = v != 0; break;
    default: break;
    }
}

/* Keeps a value in the range of its type (what a narrower C member would hold). */
uint64_t st_norm(ss_plugin_state_type t, uint64_t v)
{
    ss_plugin_state_data d;
    memset(&d, 0, sizeof d);
    sd_put(t, &d, v);
    return sd_get(t, &d);
}
htable *ht_new(hschema *sc)
{
    htable *t = xcalloc(1, sizeof *t);
    t->sc = sc;
    return t;
}

hentry *he_new(hschema *sc)
{
    hentry *he = xcalloc(1, sizeof *he);
    size_t i;
    he->sc = sc;
    he->nv = sc->nf;
    he->v = xcalloc(he->nv ? he->nv : 1, sizeof *he->v);
    for (i = 0; i < sc->nf; i++) {
        const hfield *f = sc->f[i];
        if (f->type == SS_PLUGIN_ST_TABLE)
            he->v[i].t = ht_new(f->sub);
        else if (f->type != SS_PLUGIN_ST_STRING)
            he->v[i].u = f->def;
    }
    return he;
}

static void he_free(hentry *he)
{
    size_t i;
    for (i = 0; i < he->nv; i++) {
        const hfield *f = he->sc->f[i];
        if (f->type == SS_PLUGIN_ST_STRING)
            free(he->v[i].s);
        else if (f->type == SS_PLUGIN_ST_TABLE)
            ht_free(he->v[i].t);
    }
    if (he->ext_free)
        he->ext_free(he->ext);
    free(he->v);
    free(he);
}

void he_unref(hentry *he)
{
    if (he && --he->refs == 0)
        he_free(he);
}

hval *he_val(hentry *he, const hfield *f)
{
    if (f->index >= he->nv) {
        size_t n = he->sc->nf;
        he->v = xrealloc(he->v, n * sizeof *he->v);
        memset(he->v + he->nv, 0, (n - he->nv) * sizeof *he->v);
        he->nv = n;
    }
    return &he->v[f->index];
}

static int key_cmp(const hschema *sc, uint64_t a, uint64_t b)
{
    if (st_signed(sc->key_type))
        return (int64_t)a < (int64_t)b ? -1 : (int64_t)a > (int64_t)b;
    return a < b ? -1 : a > b;
}

/* Binary search: the index of key, or where it would go (*found false). */
static size_t ht_find(const htable *t, uint64_t key, bool *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(t->sc, t->e[mid]->key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

hentry *ht_get(const htable *t, uint64_t key)
{
    bool found;
    size_t i = ht_find(t, key, &found);
    return found ? t->e[i] : NULL;
}

/* Puts he in the table under its key (one reference taken), replacing an entry there. */
void ht_put(htable *t, hentry *he)
{
    bool found;
    size_t i = ht_find(t, he->key, &found);
    he->refs++;
    he->in_table = true;
    if (found) {
        hentry *old = t->e[i];
        t->e[i] = he;
        old->in_table = false;
        he_unref(old);
        return;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->e = xrealloc(t->e, t->cap * sizeof *t->e);
    }
    memmove(t->e + i + 1, t->e + i, (t->n - i) * sizeof *t->e);
    t->e[i] = he;
    t->n++;
}

bool ht_erase(htable *t, uint64_t key)
{
    bool found;
    size_t i = ht_find(t, key, &found);
    hentry *he;
    if (!found)
        return false;
    he = t->e[i];
    memmove(t->e + i, t->e + i + 1, (t->n - i - 1) * sizeof *t->e);
    t->n--;
    he->in_table = false;
    he_unref(he);
    return true;
}

void ht_clear(htable *t)
{
    size_t i, n = t->n;
    hentry **e = t->e;
    t->e = NULL;
    t->n = t->cap = 0;
    for (i = 0; i < n; i++) {
        e[i]->in_table = false;
        he_unref(e[i]);
    }
    free(e);
}

void ht_free(htable *t)
{
    if (!t)
        return;
    ht_clear(t);
    free(t);
}

hfield *sc_field(const hschema *sc, const char *name)
{
    size_t i;
    for (i = 0; i < sc->nf; i++)
        if (!strcmp(sc->f[i]->name, name))
            return sc->f[i];
    return NULL;
}
/* ---- the host's tables: schemas, contents, setup and teardown ---- */

hfield *sc_add(hschema *sc, const char *name, ss_plugin_state_type type, bool ro, bool dynamic,
               uint64_t def, hschema *sub)
{
    hfield *f = xcalloc(1, sizeof *f);
    f->magic = HF_MAGIC;
    f->sc = sc;
    f->name = xstrdup(name);
    f->type = type;
    f->read_only = ro;
    f->dynamic = dynamic;
    f->index = sc->nf;
    f->def = def;
    f->sub = sub;
    sc->f = xrealloc(sc->f, (sc->nf + 1) * sizeof *sc->f);
    sc->f[sc->nf++] = f;
    ps_add(&g_reg.live, f, PT_HFIELD);
    return f;
}

static hschema *sc_new(const char *name, ss_plugin_state_type key_type, bool fixed)
{
    hschema *sc = xcalloc(1, sizeof *sc);
    sc->name = xstrdup(name);
    sc->key_type = key_type;
    sc->fixed = fixed;
    sc->key_field = -1;
    sc->next = g_reg.schemas;
    g_reg.schemas = sc;
    return sc;
}

typedef struct {
    const char *name;
    ss_plugin_state_type type;
    bool ro;
    int64_t def;
} sfdef;

#define ST(x) SS_PLUGIN_ST_##x

/* libsinsp's static fields of a thread (threadinfo.cpp), in its order; TABLE fields are
 * filled in by name. Defaults are those of sinsp_threadinfo::init(). */
static const sfdef k_thread_fields[] = {
    {"tid", ST(INT64), false, 0},
    {"pid", ST(INT64), false, -1},
    {"ptid", ST(INT64), false, -1},
    {"reaper_tid", ST(INT64), false, -1},
    {"sid", ST(INT64), false, -1},
    {"comm", ST(STRING), false, 0},
    {"exe", ST(STRING), false, 0},
    {"exe_path", ST(STRING), false, 0},
    {"exe_writable", ST(BOOL), false, 0},
    {"exe_upper_layer", ST(BOOL), false, 0},
    {"exe_lower_layer", ST(BOOL), false, 0},
    {"exe_from_memfd", ST(BOOL), false, 0},
    {"args", ST(TABLE), true, 0},
    {"env", ST(TABLE), true, 0},
    {"cgroups", ST(TABLE), true, 0},
    {"flags", ST(UINT32), false, 0},
    {"fd_limit", ST(INT64), false, -1},
    {"uid", ST(UINT32), false, 0xffffffff},
    {"gid", ST(UINT32), false, 0xffffffff},
    {"loginuid", ST(UINT32), false, 0xffffffff},
    {"exe_ino", ST(UINT64), false, 0},
    {"exe_ino_ctime", ST(UINT64), false, 0},
    {"exe_ino_mtime", ST(UINT64), false, 0},
    {"vtid", ST(INT64), false, -1},
    {"vpid", ST(INT64), false, -1},
    {"vpgid", ST(INT64), false, -1},
    {"pgid", ST(INT64), false, -1},
    {"pidns_init_start_ts", ST(UINT64), false, 0},
    {"root", ST(STRING), false, 0},
    {"tty", ST(UINT32), false, 0},
    {"file_descriptors", ST(TABLE), true, 0},
    {"cwd", ST(STRING), true, 0},
};

/* libsinsp's static fields of a file descriptor (fdinfo.cpp), in its order; the socket_*
 * fields are views of one union there (sstate.h, SOCK_LEN). */
static const sfdef k_fd_fields[] = {
    {"type", ST(UINT8), false, 0},
    {"open_flags", ST(UINT32), false, 0},
    {"name", ST(STRING), false, 0},
    {"name_raw", ST(STRING), false, 0},
    {"old_name", ST(STRING), false, 0},
    {"flags", ST(UINT32), false, 0},
    {"dev", ST(UINT32), false, 0},
    {"mount_id", ST(UINT32), false, 0},
    {"ino", ST(UINT64), false, 0},
    {"pid", ST(INT64), false, 0},
    {"fd", ST(INT64), false, 0},
    {"socket_ipv4_src_ip", ST(UINT32), false, 0},
    {"socket_ipv4_dest_dip", ST(UINT32), false, 0},
    {"socket_ipv4_src_port", ST(UINT16), false, 0},
    {"socket_ipv4_dst_port", ST(UINT16), false, 0},
    {"socket_ipv4_l4_proto", ST(UINT8), false, 0},
    {"socket_ipv6_src_ip_low", ST(UINT64), false, 0},
    {"socket_ipv6_src_ip_high", ST(UINT64), false, 0},
    {"socket_ipv6_dest_ip_low", ST(UINT64), false, 0},
    {"socket_ipv6_dest_ip_high", ST(UINT64), false, 0},
    {"socket_ipv6_src_port", ST(UINT16), false, 0},
    {"socket_ipv6_dst_port", ST(UINT16), false, 0},
    {"socket_ipv6_l4_proto", ST(UINT8), false, 0},
    {"socket_ipv4_server_ip", ST(UINT32), false, 0},
    {"socket_ipv4_server_port", ST(UINT16), false, 0},
    {"socket_ipv4_server_l4_proto", ST(UINT8), false, 0},
    {"socket_ipv6_server_ip_low", ST(UINT64), false, 0},
    {"socket_ipv6_server_ip_high", ST(UINT64), false, 0},
    {"socket_ipv6_server_port", ST(UINT16), false, 0},
    {"socket_ipv6_server_l4_proto", ST(UINT8), false, 0},
    {"socket_unix_src", ST(UINT64), false, 0},
    {"socket_unix_dest", ST(UINT64), false, 0},
};

/* ---- the fixture: entries Python sends as FX_* ops (proto.h) ---- */

typedef struct {
    const uint8_t *ops;
    size_t len;
} fixture;

static fixture *g_fixtures;
static size_t g_nfixtures;

void tables_add_fixture(const uint8_t *ops, size_t len)
{
    g_fixtures = xrealloc(g_fixtures, (g_nfixtures + 1) * sizeof *g_fixtures);
    g_fixtures[g_nfixtures].ops = ops;
    g_fixtures[g_nfixtures].len = len;
    g_nfixtures++;
}

/* What a field of this type needs, for messages. */
static bool fx_wrong(const hfield *f, char *err, size_t errlen)
{
    if (f->type == SS_PLUGIN_ST_TABLE)
        snprintf(err, errlen, "field '%s' (a table) needs an array", f->name);
    else if (f->type == SS_PLUGIN_ST_STRING)
        snprintf(err, errlen, "field '%s' needs a string", f->name);
    else if (f->type == SS_PLUGIN_ST_BOOL)
        snprintf(err, errlen, "field '%s' needs true or false", f->name);
    else
        snprintf(err, errlen, "field '%s' needs an integer in the range of %s", f->name,
                 st_label(f->type));
    return false;
}

#define FX_DEPTH 8

typedef struct {
    htable *t[FX_DEPTH];   /* the tables entered, [0] = threads */
    hentry *e[FX_DEPTH];   /* the entry being built in each */
    uint64_t pos[FX_DEPTH]; /* the position of the next entry in each */
    int top;
    char *label; /* of the outermost entry, for messages */
} fx_state;

static const hfield *fx_field(fx_state *s, plan_reader *r, char *err, size_t errlen)
{
    char *name = pr_str(r);
    const hfield *f = NULL;
    hentry *he = s->e[s->top];
    if (!name || !he)
        snprintf(err, errlen, "a malformed fixture");
    else if (!(f = sc_field(he->sc, name)))
        snprintf(err, errlen, "table '%s' has no field '%s'", he->sc->name, name);
    free(name);
    return f;
}

/* Puts the entry being built in its table (the key is its key field, else its position). */
static bool fx_end(fx_state *s, char *err, size_t errlen)
{
    hentry *he = s->e[s->top];
    hschema *sc = he->sc;
    if (sc->key_field >= 0) {
        const hfield *kf = sc->f[sc->key_field];
        if (!he->key_set) {
            snprintf(err, errlen, "an entry of table '%s' needs '%s' (its key)", sc->name,
                     kf->name);
            return false;
        }
        he->key = he_val(he, kf)->u;
    } else {
        he->key = s->pos[s->top];
    }
    s->pos[s->top]++;
    ht_put(s->t[s->top], he);
    he_unref(he); /* the table holds it now */
    s->e[s->top] = NULL;
    return true;
}

static bool fx_op(fx_state *s, plan_reader *r, uint8_t op, char *err, size_t errlen)
{
    const hfield *f;
    hentry *he = s->e[s->top];
    switch (op) {
    case FX_ENTRY:
    case FX_VALUE: {
        char *label = pr_str(r);
        hschema *sc = s->t[s->top]->sc;
        if (s->top == 0) {
            free(s->label);
            s->label = label;
        } else {
            free(label);
        }
        if (he) {
            snprintf(err, errlen, "a malformed fixture");
            return false;
        }
        he = s->e[s->top] = he_new(sc);
        he->refs = 1;
        if (op == FX_VALUE) {
            char *v = pr_str(r);
            if (sc->nf != 1 || sc->f[0]->type != SS_PLUGIN_ST_STRING) {
                free(v);
                snprintf(err, errlen, "an entry of table '%s' must be an object", sc->name);
                return false;
            }
            he_val(he, sc->f[0])->s = v;
            return fx_end(s, err, errlen);
        }
        return true;
    }
    case FX_NOT_OBJECT:
        snprintf(err, errlen, "an entry of table '%s' must be an object", s->t[s->top]->sc->name);
        return false;
    case FX_INT: {
        bool neg;
        uint64_t mag, u;
        if (!(f = fx_field(s, r, err, errlen)))
            return false;
        neg = pr_u8(r) != 0;
        mag = pr_u64(r);
        if (f->type == SS_PLUGIN_ST_STRING || f->type == SS_PLUGIN_ST_TABLE ||
            f->type == SS_PLUGIN_ST_BOOL)
            return fx_wrong(f, err, errlen);
        if (neg && (!st_signed(f->type) || mag > (uint64_t)INT64_MAX + 1))
            return fx_wrong(f, err, errlen);
        if (!neg && st_signed(f->type) && mag > (uint64_t)INT64_MAX)
            return fx_wrong(f, err, errlen);
        u = neg ? (uint64_t)0 - mag : mag;
        if (st_norm(f->type, u) != u)
            return fx_wrong(f, err, errlen);
        he_val(he, f)->u = u;
        break;
    }
    case FX_STR: {
        char *v;
        if (!(f = fx_field(s, r, err, errlen)))
            return false;
        v = pr_str(r);
        if (f->type != SS_PLUGIN_ST_STRING) {
            free(v);
            return fx_wrong(f, err, errlen);
        }
        free(he_val(he, f)->s);
        he_val(he, f)->s = v;
        break;
    }
    case FX_BOOL:
        if (!(f = fx_field(s, r, err, errlen)))
            return false;
        if (f->type != SS_PLUGIN_ST_BOOL)
            return fx_wrong(f, err, errlen);
        he_val(he, f)->u = pr_u8(r) != 0;
        break;
    case FX_BAD:
        if (!(f = fx_field(s, r, err, errlen)))
            return false;
        return fx_wrong(f, err, errlen);
    case FX_TABLE:
        if (!(f = fx_field(s, r, err, errlen)))
            return false;
        if (f->type != SS_PLUGIN_ST_TABLE)
            return fx_wrong(f, err, errlen);
        if (s->top + 1 >= FX_DEPTH) {
            snprintf(err, errlen, "the fixture nests tables too deeply");
            return false;
        }
        s->top++;
        s->t[s->top] = he_val(he, f)->t;
        s->e[s->top] = NULL;
        s->pos[s->top] = 0;
        return true;
    case FX_POP:
        if (s->top == 0 || s->e[s->top]) {
            snprintf(err, errlen, "a malformed fixture");
            return false;
        }
        s->top--;
        return true;
    case FX_END:
        if (!he) {
            snprintf(err, errlen, "a malformed fixture");
            return false;
        }
        return fx_end(s, err, errlen);
    default:
        snprintf(err, errlen, "a malformed fixture (op %u)", (unsigned)op);
        return false;
    }
    if (he->sc->key_field >= 0 && f->index == (size_t)he->sc->key_field)
        he->key_set = true;
    return true;
}

static bool fx_apply(const fixture *fx, char *err, size_t errlen)
{
    return tables_apply_fixture(fx->ops, fx->len, err, errlen);
}

/* Adds the entries of fixture ops to the threads table (the caller holds the table lock). */
bool tables_apply_fixture(const uint8_t *ops, size_t len, char *err, size_t errlen)
{
    plan_reader r = {ops, len, 0, false};
    fx_state s;
    char sub[ERRBUF];
    bool ok = true;
    int k;
    memset(&s, 0, sizeof s);
    s.t[0] = g_reg.threads;
    for (;;) {
        uint8_t op = pr_u8(&r);
        if (r.bad || op == FX_DONE)
            break;
        if (!fx_op(&s, &r, op, sub, sizeof sub)) {
            snprintf(err, errlen, "%s: %s", s.label ? s.label : "the threads fixture", sub);
            ok = false;
            break;
        }
    }
    for (k = 0; k <= s.top; k++)
        if (s.e[k])
            he_unref(s.e[k]);
    free(s.label);
    return ok;
}

static hschema *sc_static(const char *name, ss_plugin_state_type key, bool fixed,
                          const sfdef *defs, size_t n, const char *key_field)
{
    hschema *sc = sc_new(name, key, fixed);
    size_t i;
    for (i = 0; i < n; i++) {
        hfield *f = sc_add(sc, defs[i].name, defs[i].type, defs[i].ro, false,
                           st_norm(defs[i].type, (uint64_t)defs[i].def), NULL);
        if (key_field && !strcmp(defs[i].name, key_field))
            sc->key_field = (int)f->index;
    }
    return sc;
}

bool tables_active(void) { return g_reg.active; }

/* A new registry with the host's tables (empty: tables_fixture fills them). */
void tables_setup(void)
{
    static const sfdef value[] = {{"value", ST(STRING), false, 0}};
    static const sfdef cgroup[] = {{"first", ST(STRING), false, 0},
                                   {"second", ST(STRING), false, 0}};
    hschema *args, *env, *cgroups, *fds, *threads;
    size_t i;

    TLOCK();
    memset(&g_reg, 0, sizeof g_reg);
    args = sc_static("args", ST(UINT64), true, value, 1, NULL);
    env = sc_static("env", ST(UINT64), true, value, 1, NULL);
    cgroups = sc_static("cgroups", ST(UINT64), true, cgroup, 2, NULL);
    fds = sc_static("file_descriptors", ST(INT64), false, k_fd_fields,
                    sizeof k_fd_fields / sizeof k_fd_fields[0], "fd");
    threads = sc_static("threads", ST(INT64), false, k_thread_fields,
                        sizeof k_thread_fields / sizeof k_thread_fields[0], "tid");
    for (i = 0; i < threads->nf; i++) {
        hfield *f = threads->f[i];
        if (!strcmp(f->name, "args"))
            f->sub = args;
        else if (!strcmp(f->name, "env"))
            f->sub = env;
        else if (!strcmp(f->name, "cgroups"))
            f->sub = cgroups;
        else if (!strcmp(f->name, "file_descriptors"))
            f->sub = fds;
    }
    g_reg.sc_threads = threads;
    g_reg.threads = ht_new(threads);
    reg_add_host_table("threads", g_reg.threads);
    g_reg.active = true;
    ps_add(&g_reg.live, &g_host_ow, PT_OWNER);
    TUNLOCK();
}

/* Fills the host's threads table with every fixture of the plan, in order. */
bool tables_fixture(plan_reader *unused, char *err, size_t errlen)
{
    size_t i;
    bool ok = true;
    (void)unused;
    TLOCK();
    for (i = 0; i < g_nfixtures && ok; i++)
        ok = fx_apply(&g_fixtures[i], err, errlen);
    TUNLOCK();
    return ok;
}

/* After every plugin state is destroyed: frees the registry, the host's tables, handles. */
void tables_teardown(void)
{
    otrack *trk, *tn;
    hschema *sc, *sn;
    pfield *pf, *pn;
    size_t i;
    TLOCK();
    if (!g_reg.active) {
        TUNLOCK();
        return;
    }
    for (trk = g_reg.tracks; trk; trk = tn) {
        tn = trk->next;
        trk_free(trk);
    }
    for (i = 0; i < g_reg.n; i++) {
        ht_free(g_reg.t[i]->ht);
        free(g_reg.t[i]->name);
        free(g_reg.t[i]);
    }
    free(g_reg.t);
    for (pf = g_reg.pfields; pf; pf = pn) {
        pn = pf->next;
        free(pf);
    }
    for (sc = g_reg.schemas; sc; sc = sn) {
        sn = sc->next;
        for (i = 0; i < sc->nf; i++) {
            free(sc->f[i]->name);
            free(sc->f[i]);
        }
        free(sc->f);
        free(sc->name);
        free(sc);
    }
    ps_free(&g_reg.live);
    memset(&g_reg, 0, sizeof g_reg);
    g_host_ow.last_error[0] = 0;
    TUNLOCK();
}
