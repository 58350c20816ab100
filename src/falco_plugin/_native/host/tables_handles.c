/*
 * tables_handles.c: the registry of tables and the handles plugins get: table handles (a
 * host ss_plugin_table_input per plugin state and table), entry handles and field handles,
 * each checked against the live set before use; misuse reported as errors; what a call
 * leaves behind ended when it returns; the init input's list_tables/get_table/add_table; and
 * --dump-table.
 */
#include "tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

registry g_reg;
host_owner g_host_ow = {.magic = OWNER_MAGIC};
_Thread_local host_owner *tl_owner;
_Atomic uint64_t g_misuse_unowned;
static pthread_mutex_t g_tbl_mu;
static pthread_once_t g_tbl_mu_once = PTHREAD_ONCE_INIT;

static void tbl_mu_init(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE); /* iteration callbacks re-enter */
    pthread_mutex_init(&g_tbl_mu, &a);
    pthread_mutexattr_destroy(&a);
}

void tbl_lock(void)
{
    pthread_once(&g_tbl_mu_once, tbl_mu_init);
    pthread_mutex_lock(&g_tbl_mu);
}

void tbl_unlock(void) { pthread_mutex_unlock(&g_tbl_mu); }

/* A plugin broke the table API contract: an error (the run fails), never a crash. */
void tbl_misuse(host_owner *ow, const char *fmt, ...)
{
    char msg[ERRBUF];
    va_list ap;
    uint64_t n;
    host_owner *who = ow ? ow : tl_owner;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (who && who->plugin)
        n = atomic_fetch_add(&who->plugin->table_misuse, 1);
    else
        n = atomic_fetch_add(&g_misuse_unowned, 1);
    ow_error(who, "%s", msg);
    if (n < 10)
        report_error(who ? who->plugin : NULL, "tables", "table API misuse: %s", msg);
}

/* The error of the plugin owning a table, as the caller's last error. */
void copy_provider_error(host_owner *caller, host_owner *provider, const char *what)
{
    const char *e = NULL;
    host_plugin *p = provider ? provider->plugin : NULL;
    if (p && p->states && provider->index < p->nstates && p->states[provider->index])
        e = ((fp_get_last_error_fn)p->api.get_last_error)(p->states[provider->index]);
    ow_error(caller, "%s failed in the table's owner (%s): %s", what,
             p ? plugin_label(p) : "?", (e && e[0]) ? e : "no error message");
}

static otrack *trk_of(host_owner *ow)
{
    otrack *t;
    if (!ow)
        return NULL;
    if (ow->trk)
        return ow->trk;
    t = xcalloc(1, sizeof *t);
    t->ow = ow;
    t->next = g_reg.tracks;
    g_reg.tracks = t;
    ow->trk = t;
    return t;
}
/* ---- handles ---- */

tbl_handle *th_new(host_owner *ow, const tref *ref, bool ephemeral)
{
    tbl_handle *h = xcalloc(1, sizeof *h);
    otrack *trk = trk_of(ow);
    h->input.name = ref->name;
    h->input.key_type = ref->key_type;
    h->input.table = h;
    h->input.reader = g_reader_v0;
    h->input.writer = g_writer_v0;
    h->input.fields = g_fields_v0;
    h->input.reader_ext = &g_reader_ext;
    h->input.writer_ext = &g_writer_ext;
    h->input.fields_ext = &g_fields_ext;
    h->magic = TH_MAGIC;
    h->ow = ow;
    h->ref = *ref;
    h->ephemeral = ephemeral;
    if (ephemeral) {
        h->next = trk->ephem;
        trk->ephem = h;
        atomic_store(&trk->ow->tbl_dirty, 1);
    } else {
        h->next = trk->cached;
        trk->cached = h;
    }
    ps_add(&g_reg.live, h, PT_TABLE);
    return h;
}

static void th_free(tbl_handle *h)
{
    ps_del(&g_reg.live, h);
    if (h->holder)
        he_unref(h->holder);
    free(h->finfo);
    h->magic = 0;
    free(h);
}

/* The handle behind t, or NULL (reported) when t is not a live table handle. */
tbl_handle *th_check(ss_plugin_table_t *t, const char *fn)
{
    if (!t) {
        tbl_misuse(NULL, "%s was called with a NULL table", fn);
        return NULL;
    }
    if (ps_tag(&g_reg.live, t) != PT_TABLE) {
        tbl_misuse(NULL,
                   "%s was called with %p, which is not a table handle the host gave out (or "
                   "a nested table read during an earlier call)",
                   fn, t);
        return NULL;
    }
    return t;
}

ehandle *eh_new(tbl_handle *th, int kind)
{
    ehandle *e = xcalloc(1, sizeof *e);
    otrack *trk = trk_of(th->ow);
    e->magic = EH_MAGIC;
    e->kind = kind;
    e->ow = th->ow;
    e->ht = th->ref.ht;
    e->pin = th->ref.pin;
    e->ptab = th->ref.ptab;
    e->provider = th->ref.provider;
    e->next = trk->ents;
    trk->ents = e;
    atomic_store(&trk->ow->tbl_dirty, 1);
    ps_add(&g_reg.live, e, PT_ENTRY);
    return e;
}

const char *kind_name(int kind)
{
    switch (kind) {
    case EH_GOT: return "got";
    case EH_CREATED: return "created";
    default: return "borrowed";
    }
}

/* The live entry handle e of table th, or NULL (reported). */
ehandle *eh_check(tbl_handle *th, ss_plugin_table_entry_t *e, const char *fn)
{
    ehandle *eh;
    if (!e) {
        tbl_misuse(th->ow, "%s on table '%s' was called with a NULL entry", fn, th->ref.name);
        return NULL;
    }
    if (ps_tag(&g_reg.live, e) != PT_ENTRY) {
        tbl_misuse(th->ow,
                   "%s on table '%s' was called with %p, which is not an entry the host gave "
                   "out (entries end when released and after the call that got them)",
                   fn, th->ref.name, e);
        return NULL;
    }
    eh = e;
    if (eh->dead) {
        tbl_misuse(th->ow, "%s on table '%s' was called with an entry that was already %s", fn,
                   th->ref.name, eh->dead);
        return NULL;
    }
    if (th->ref.ht ? eh->ht != th->ref.ht : eh->ptab != th->ref.ptab) {
        tbl_misuse(th->ow, "%s on table '%s' was called with an entry of another table", fn,
                   th->ref.name);
        return NULL;
    }
    return eh;
}

/* Ends what an entry handle holds (release, or destroy for a created entry). */
void eh_end(ehandle *eh, const char *why)
{
    if (eh->dead)
        return;
    eh->dead = why;
    if (eh->he) {
        he_unref(eh->he);
        eh->he = NULL;
        return;
    }
    if (!eh->pin || eh->kind == EH_BORROWED)
        return;
    if (eh->kind == EH_CREATED) {
        if (eh->pin->writer_ext && eh->pin->writer_ext->destroy_table_entry)
            eh->pin->writer_ext->destroy_table_entry(eh->pin->table, eh->raw);
    } else if (eh->pin->reader_ext && eh->pin->reader_ext->release_table_entry) {
        eh->pin->reader_ext->release_table_entry(eh->pin->table, eh->raw);
    }
}

/* A field handle f valid for table th: an hfield of its schema or a pfield of its family. */
const void *field_check(tbl_handle *th, const ss_plugin_table_field_t *f, const char *fn)
{
    uint8_t tag;
    if (!f) {
        tbl_misuse(th->ow, "%s on table '%s' was called with a NULL field", fn, th->ref.name);
        return NULL;
    }
    tag = ps_tag(&g_reg.live, f);
    if (th->ref.ht) {
        const hfield *hf = f;
        if (tag == PT_HFIELD && hf->sc == th->ref.ht->sc)
            return hf;
    } else {
        const pfield *pf = f;
        if (tag == PT_PFIELD && (!pf->family || pf->family == th->ref.ptab))
            return pf;
    }
    tbl_misuse(th->ow,
               "%s on table '%s' was called with %p, which is not a field of this table (field "
               "handles come from get_table_field or add_table_field on the same table)",
               fn, th->ref.name, (const void *)f);
    return NULL;
}

/* Leak check and clean-up at the end of a call into owner ow's plugin. */
void tbl_end_call(host_owner *ow, const char *call)
{
    otrack *trk = ow ? ow->trk : NULL;
    uint64_t leaks = 0;
    ehandle *e, *en;
    tbl_handle *h, *hn;
    if (!trk || !atomic_load_explicit(&ow->tbl_dirty, memory_order_relaxed))
        return;
    TLOCK();
    for (e = trk->ents; e; e = en) {
        en = e->next;
        if (!e->dead && e->kind != EH_BORROWED)
            leaks++;
        eh_end(e, "ended with its call");
        ps_del(&g_reg.live, e);
        e->magic = 0;
        free(e);
    }
    trk->ents = NULL;
    for (h = trk->ephem; h; h = hn) {
        hn = h->next;
        th_free(h);
    }
    trk->ephem = NULL;
    atomic_store(&ow->tbl_dirty, 0);
    TUNLOCK();
    if (leaks && ow->plugin) {
        atomic_fetch_add(&ow->plugin->entry_leaks, leaks);
        if (!atomic_exchange(&ow->plugin->leak_warned, 1))
            report_warning(ow->plugin,
                           "%s returned with %" PRIu64
                           " table entries not released (every entry from get_table_entry, "
                           "add_table_entry or create_table_entry must be released or "
                           "destroyed before the call returns); the host released them. "
                           "Further leaks are only counted as entry_leaks",
                           call, leaks);
    }
}

/* ---- the init input's registry functions ---- */

static host_owner *owner_check(ss_plugin_owner_t *o, const char *fn)
{
    host_owner *ow = o;
    if (ps_tag(&g_reg.live, o) != PT_OWNER) {
        tbl_misuse(NULL, "%s was called with %p, which is not the owner from the init input",
                   fn, o);
        return NULL;
    }
    return ow;
}

static reg_table *reg_find(const char *name)
{
    size_t i;
    for (i = 0; i < g_reg.n; i++)
        if (!strcmp(g_reg.t[i]->name, name))
            return g_reg.t[i];
    return NULL;
}

static ss_plugin_table_info *tt_list_tables(ss_plugin_owner_t *o, uint32_t *ntables)
{
    host_owner *ow;
    otrack *trk;
    ss_plugin_table_info *r = NULL;
    size_t i;
    TLOCK();
    ow = owner_check(o, "list_tables");
    if (!ow)
        goto out;
    if (!ntables) {
        tbl_misuse(ow, "list_tables was called with a NULL count");
        goto out;
    }
    trk = trk_of(ow);
    free(trk->tinfo);
    trk->tinfo = xcalloc(g_reg.n ? g_reg.n : 1, sizeof *trk->tinfo);
    for (i = 0; i < g_reg.n; i++) {
        trk->tinfo[i].name = g_reg.t[i]->name;
        trk->tinfo[i].key_type = g_reg.t[i]->key_type;
    }
    *ntables = (uint32_t)g_reg.n;
    r = trk->tinfo;
out:
    TUNLOCK();
    return r;
}

static tbl_handle *handle_for(host_owner *ow, reg_table *rt)
{
    otrack *trk = trk_of(ow);
    tbl_handle *h;
    tref r;
    for (h = trk->cached; h; h = h->next)
        if (h->ref.reg == rt)
            return h;
    memset(&r, 0, sizeof r);
    r.reg = rt;
    r.name = rt->name;
    r.key_type = rt->key_type;
    if (rt->ht) {
        r.ht = rt->ht;
    } else {
        r.pin = &rt->in;
        r.ptab = rt->in.table;
        r.provider = rt->provider;
    }
    return th_new(ow, &r, false);
}

static ss_plugin_table_t *tt_get_table(ss_plugin_owner_t *o, const char *name,
                                       ss_plugin_state_type key_type)
{
    host_owner *ow;
    reg_table *rt;
    tbl_handle *h = NULL;
    TLOCK();
    ow = owner_check(o, "get_table");
    if (!ow)
        goto out;
    if (!name) {
        tbl_misuse(ow, "get_table was called with a NULL name");
        goto out;
    }
    rt = reg_find(name);
    if (!rt)
        goto out; /* no error, like libsinsp */
    if (rt->key_type != key_type) {
        ow_error(ow,
                 "table in registry accessed with wrong key type: table '%s' has key type %s, "
                 "not %s",
                 name, st_label(rt->key_type), st_label(key_type));
        goto out;
    }
    h = handle_for(ow, rt);
out:
    TUNLOCK();
    return h;
}

static ss_plugin_rc tt_add_table(ss_plugin_owner_t *o, const ss_plugin_table_input *in)
{
    host_owner *ow;
    reg_table *rt;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    TLOCK();
    ow = owner_check(o, "add_table");
    if (!ow)
        goto out;
    if (!in) {
        ow_error(ow, "add_table: the table input is NULL");
        goto out;
    }
    if (!in->name || !in->name[0]) {
        ow_error(ow, "add_table: the table has no name");
        goto out;
    }
    if (!st_name(in->key_type) || in->key_type == SS_PLUGIN_ST_TABLE) {
        ow_error(ow, "add_table: table '%s' has an invalid key type %d", in->name,
                 (int)in->key_type);
        goto out;
    }
    if (!in->table) {
        ow_error(ow, "add_table: table '%s' has a NULL table pointer", in->name);
        goto out;
    }
    if (!in->reader_ext || !in->writer_ext || !in->fields_ext) {
        if (ow->plugin && ow->plugin->req_minor >= 1) {
            ow_error(ow,
                     "add_table: table '%s' lacks reader_ext, writer_ext or fields_ext (a "
                     "plugin requiring API 3.1 or later must give all three)",
                     in->name);
            goto out;
        }
    } else {
        const ss_plugin_table_reader_vtable_ext *r = in->reader_ext;
        const ss_plugin_table_writer_vtable_ext *w = in->writer_ext;
        const ss_plugin_table_fields_vtable_ext *f = in->fields_ext;
        if (!r->get_table_name || !r->get_table_size || !r->get_table_entry ||
            !r->read_entry_field || !r->release_table_entry || !r->iterate_entries ||
            r->get_table_name != in->reader.get_table_name ||
            r->get_table_size != in->reader.get_table_size ||
            r->get_table_entry != in->reader.get_table_entry ||
            r->read_entry_field != in->reader.read_entry_field) {
            ow_error(ow, "add_table: broken or inconsistent reader vtables for table '%s' (the "
                         "_ext functions must be set and equal to the deprecated ones)",
                     in->name);
            goto out;
        }
        if (!w->clear_table || !w->erase_table_entry || !w->create_table_entry ||
            !w->destroy_table_entry || !w->add_table_entry || !w->write_entry_field ||
            w->clear_table != in->writer.clear_table ||
            w->erase_table_entry != in->writer.erase_table_entry ||
            w->create_table_entry != in->writer.create_table_entry ||
            w->destroy_table_entry != in->writer.destroy_table_entry ||
            w->add_table_entry != in->writer.add_table_entry ||
            w->write_entry_field != in->writer.write_entry_field) {
            ow_error(ow, "add_table: broken or inconsistent writer vtables for table '%s' (the "
                         "_ext functions must be set and equal to the deprecated ones)",
                     in->name);
            goto out;
        }
        if (!f->list_table_fields || !f->get_table_field || !f->add_table_field ||
            f->list_table_fields != in->fields.list_table_fields ||
            f->get_table_field != in->fields.get_table_field ||
            f->add_table_field != in->fields.add_table_field) {
            ow_error(ow, "add_table: broken or inconsistent fields vtables for table '%s' (the "
                         "_ext functions must be set and equal to the deprecated ones)",
                     in->name);
            goto out;
        }
    }
    if (reg_find(in->name)) {
        ow_error(ow, "table '%s' added to registry multiple times", in->name);
        goto out;
    }
    rt = xcalloc(1, sizeof *rt);
    rt->name = xstrdup(in->name);
    rt->key_type = in->key_type;
    rt->provider = ow;
    rt->in = *in;
    if (in->reader_ext) {
        rt->rx = *in->reader_ext;
        rt->wx = *in->writer_ext;
        rt->fx = *in->fields_ext;
    } else {
        /* a 3.0 owner: only the deprecated vtables (no release, no iteration) */
        memcpy(&rt->rx, &in->reader, sizeof in->reader);
        memcpy(&rt->wx, &in->writer, sizeof in->writer);
        memcpy(&rt->fx, &in->fields, sizeof in->fields);
    }
    rt->in.reader_ext = &rt->rx;
    rt->in.writer_ext = &rt->wx;
    rt->in.fields_ext = &rt->fx;
    g_reg.t = xrealloc(g_reg.t, (g_reg.n + 1) * sizeof *g_reg.t);
    g_reg.t[g_reg.n++] = rt;
    rc = SS_PLUGIN_SUCCESS;
out:
    TUNLOCK();
    return rc;
}

const ss_plugin_init_tables_input g_init_tables = {
    tt_list_tables,
    tt_get_table,
    tt_add_table,
    {tf_list_table_fields, tf_get_table_field, tf_add_table_field},
    &g_fields_ext,
    &g_reader_ext,
    &g_writer_ext,
};
/* Frees what a plugin state's handles hold (after every state is destroyed). */
void trk_free(otrack *trk)
{
    ehandle *e, *en;
    tbl_handle *h, *hn;
    for (e = trk->ents; e; e = en) {
        en = e->next;
        if (!e->dead && e->he)
            he_unref(e->he);
        free(e);
    }
    for (h = trk->ephem; h; h = hn) {
        hn = h->next;
        th_free(h);
    }
    for (h = trk->cached; h; h = hn) {
        hn = h->next;
        th_free(h);
    }
    free(trk->tinfo);
    trk->ow->trk = NULL;
    free(trk);
}

/* The host's own table `name` in the registry. */
void reg_add_host_table(const char *name, htable *ht)
{
    reg_table *rt = xcalloc(1, sizeof *rt);
    rt->name = xstrdup(name);
    rt->key_type = ht->sc->key_type;
    rt->ht = ht;
    g_reg.t = xrealloc(g_reg.t, (g_reg.n + 1) * sizeof *g_reg.t);
    g_reg.t[g_reg.n++] = rt;
}

/* A plugin state that gets the tables input: the owners the registry functions accept. */
void tables_register_owner(host_owner *ow)
{
    TLOCK();
    ps_add(&g_reg.live, ow, PT_OWNER);
    TUNLOCK();
}

/* ---- --dump-table ---- */

typedef struct {
    sbuf *b;
    tbl_handle *th;
    uint32_t nf;
    const ss_plugin_table_fieldinfo *fi;
    ss_plugin_table_field_t **fh;
    uint64_t n;
} dump_ctx;

static void dump_value(sbuf *b, tbl_handle *th, ss_plugin_table_entry_t *e,
                       ss_plugin_table_field_t *f, ss_plugin_state_type type)
{
    ss_plugin_state_data d;
    memset(&d, 0, sizeof d);
    if (!f || tr_read_entry_field(th, e, f, &d) != SS_PLUGIN_SUCCESS) {
        rec_u8(b, 0);
        return;
    }
    rec_u8(b, 1);
    if (type == SS_PLUGIN_ST_STRING)
        rec_str(b, d.str ? d.str : "");
    else if (type == SS_PLUGIN_ST_TABLE)
        rec_u64(b, d.table ? tr_get_table_size(d.table) : 0);
    else
        rec_u64(b, sd_get(type, &d));
}

static ss_plugin_bool dump_entry(ss_plugin_table_iterator_state_t *s, ss_plugin_table_entry_t *e)
{
    dump_ctx *c = s;
    const ehandle *eh = e;
    uint32_t i;
    rec_u8(c->b, eh->he != NULL);
    rec_u64(c->b, eh->he ? eh->he->key : 0);
    for (i = 0; i < c->nf; i++)
        dump_value(c->b, c->th, e, c->fh[i], c->fi[i].field_type);
    c->n++;
    return 1;
}

/* Sends one table (every field; nested tables as their sizes) as an R_TABLE record. */
bool dump_table(const char *name)
{
    reg_table *rt;
    tbl_handle *th;
    dump_ctx c;
    sbuf b = {0}, entries = {0};
    uint32_t nf = 0, i;
    bool ok = true;

    TLOCK();
    rt = reg_find(name);
    if (!rt) {
        sbuf names = {0};
        size_t k;
        for (k = 0; k < g_reg.n; k++)
            sb_printf(&names, "%s'%s'", k ? ", " : "", g_reg.t[k]->name);
        TUNLOCK();
        report_error(NULL, "dump_table", "--dump-table: no table named '%s' (tables: %s)", name,
                     sb_str(&names));
        sb_free(&names);
        return false;
    }
    tl_owner = &g_host_ow;
    th = handle_for(&g_host_ow, rt);
    memset(&c, 0, sizeof c);
    c.fi = tf_list_table_fields(th, &nf);
    c.nf = c.fi ? nf : 0;
    c.b = &entries;
    c.th = th;
    c.fh = xcalloc(c.nf + 1, sizeof *c.fh);
    for (i = 0; i < c.nf; i++)
        c.fh[i] = tf_get_table_field(th, c.fi[i].name, c.fi[i].field_type);
    if (!tr_iterate_entries(th, dump_entry, &c)) {
        report_error(rt->provider ? rt->provider->plugin : NULL, "dump_table",
                     "iterating table '%s' failed: %s", rt->name,
                     g_host_ow.last_error[0] ? g_host_ow.last_error : "no error message");
        ok = false;
    }
    rec_begin(&b, R_TABLE);
    rec_str(&b, rt->name);
    rec_u32(&b, rt->provider ? plugin_ix(rt->provider->plugin) : (uint32_t)FP_NO_PLUGIN);
    rec_u32(&b, (uint32_t)rt->key_type);
    rec_u64(&b, tr_get_table_size(th));
    rec_u32(&b, c.nf);
    for (i = 0; i < c.nf; i++) {
        rec_str(&b, c.fi[i].name ? c.fi[i].name : "");
        rec_u32(&b, (uint32_t)c.fi[i].field_type);
        rec_u8(&b, c.fi[i].read_only != 0);
    }
    rec_u64(&b, c.n);
    sb_add(&b, entries.p, entries.n);
    TUNLOCK();
    tbl_end_call(&g_host_ow, "--dump-table");
    tl_owner = NULL;
    if (ok)
        rec_send(&b);
    free(c.fh);
    sb_free(&b);
    sb_free(&entries);
    return ok;
}
