/*
 * tables_api.c: the reader, writer and fields vtables every plugin gets (init, parse,
 * extract, capture listening): each call checks its handles, then works on a host table or
 * passes through to the plugin that owns the table.
 */
#include "tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reader ---- */

const char *tr_get_table_name(ss_plugin_table_t *t)
{
    tbl_handle *th;
    const char *r = NULL;
    TLOCK();
    th = th_check(t, "get_table_name");
    if (th) {
        if (th->ref.ht || !th->ref.pin->reader_ext->get_table_name)
            r = th->ref.name;
        else
            r = th->ref.pin->reader_ext->get_table_name(th->ref.pin->table);
    }
    TUNLOCK();
    return r;
}

uint64_t tr_get_table_size(ss_plugin_table_t *t)
{
    tbl_handle *th;
    uint64_t r = 0;
    TLOCK();
    th = th_check(t, "get_table_size");
    if (th) {
        if (th->ref.ht)
            r = th->ref.ht->n;
        else
            r = th->ref.pin->reader_ext->get_table_size(th->ref.pin->table);
    }
    TUNLOCK();
    return r;
}

static ss_plugin_table_entry_t *tr_get_table_entry(ss_plugin_table_t *t,
                                                   const ss_plugin_state_data *key)
{
    tbl_handle *th;
    ehandle *eh = NULL;
    TLOCK();
    th = th_check(t, "get_table_entry");
    if (!th)
        goto out;
    if (!key) {
        tbl_misuse(th->ow, "get_table_entry on table '%s' was called with a NULL key",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        /* like libsinsp, the key is read as 64 bits for any integer key type */
        uint64_t k = st_norm(th->ref.key_type, key->u64);
        hentry *he = ht_get(th->ref.ht, k);
        if (!he) {
            ow_error(th->ow, "get_entry found no element at given key");
            goto out;
        }
        eh = eh_new(th, EH_GOT);
        eh->he = he;
        he->refs++;
    } else {
        void *raw = th->ref.pin->reader_ext->get_table_entry(th->ref.pin->table, key);
        if (!raw) {
            copy_provider_error(th->ow, th->ref.provider, "get_table_entry");
            goto out;
        }
        eh = eh_new(th, EH_GOT);
        eh->raw = raw;
    }
out:
    TUNLOCK();
    return eh;
}

/* A nested table value of a host entry as a handle valid during the current call. */
static ss_plugin_table_t *nested_handle(tbl_handle *th, hentry *holder, const hfield *f,
                                        htable *sub)
{
    tref r;
    tbl_handle *h;
    memset(&r, 0, sizeof r);
    r.ht = sub;
    r.name = f->sub->name;
    r.key_type = f->sub->key_type;
    h = th_new(th->ow, &r, true);
    h->holder = holder;
    holder->refs++;
    return h;
}

ss_plugin_rc tr_read_entry_field(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                                        const ss_plugin_table_field_t *f,
                                        ss_plugin_state_data *out)
{
    tbl_handle *th;
    ehandle *eh;
    const void *fv;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    TLOCK();
    th = th_check(t, "read_entry_field");
    if (!th || !(eh = eh_check(th, e, "read_entry_field")) ||
        !(fv = field_check(th, f, "read_entry_field")))
        goto out;
    if (!out) {
        tbl_misuse(th->ow, "read_entry_field on table '%s' was called with a NULL output",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        const hfield *hf = fv;
        hval *v = he_val(eh->he, hf);
        memset(out, 0, sizeof *out);
        if (hf->type == SS_PLUGIN_ST_STRING)
            out->str = v->s ? v->s : "";
        else if (hf->type == SS_PLUGIN_ST_TABLE) {
            /* a thread sharing its leader's fds shows the leader's table, as in libsinsp */
            hentry *holder = sstate_table_holder(eh->he, hf);
            out->table = nested_handle(th, holder, hf, he_val(holder, hf)->t);
        }
        else
            sd_put(hf->type, out, v->u);
        rc = SS_PLUGIN_SUCCESS;
    } else {
        const pfield *pf = fv;
        rc = th->ref.pin->reader_ext->read_entry_field(th->ref.pin->table, eh->raw, pf->raw,
                                                       out);
        if (rc != SS_PLUGIN_SUCCESS) {
            copy_provider_error(th->ow, th->ref.provider, "read_entry_field");
        } else if (pf->type == SS_PLUGIN_ST_TABLE) {
            const ss_plugin_table_input *nin = out->table;
            if (!nin || !nin->reader_ext || !nin->writer_ext || !nin->fields_ext) {
                ow_error(th->ow,
                         "the owner of table '%s' returned a nested table that is not an "
                         "ss_plugin_table_input with its three _ext vtables",
                         th->ref.name);
                rc = SS_PLUGIN_FAILURE;
            } else {
                tref r;
                memset(&r, 0, sizeof r);
                r.pin = nin;
                r.ptab = nin->table;
                r.provider = th->ref.provider;
                r.name = nin->name ? nin->name : "";
                r.key_type = nin->key_type;
                out->table = th_new(th->ow, &r, true);
            }
        }
    }
out:
    TUNLOCK();
    return rc;
}

/* release_table_entry and destroy_table_entry: end what a handle holds, never a borrowed one. */
static void end_entry(ss_plugin_table_t *t, ss_plugin_table_entry_t *e, const char *fn,
                      const char *why)
{
    tbl_handle *th;
    ehandle *eh;
    TLOCK();
    th = th_check(t, fn);
    if (th && (eh = eh_check(th, e, fn))) {
        if (eh->kind == EH_BORROWED)
            tbl_misuse(th->ow,
                       "%s on table '%s' was called with an entry borrowed from "
                       "iterate_entries (those must not be released or destroyed)",
                       fn, th->ref.name);
        else
            eh_end(eh, why);
    }
    TUNLOCK();
}

static void tr_release_table_entry(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
    end_entry(t, e, "release_table_entry", "released");
}

typedef struct {
    tbl_handle *th;
    ss_plugin_table_iterator_func_t it;
    ss_plugin_table_iterator_state_t *s;
} iter_ctx;

static ss_plugin_bool iter_trampoline(ss_plugin_table_iterator_state_t *s,
                                      ss_plugin_table_entry_t *raw)
{
    iter_ctx *c = s;
    ehandle *eh;
    ss_plugin_bool r;
    TLOCK();
    eh = eh_new(c->th, EH_BORROWED);
    eh->raw = raw;
    r = c->it(c->s, eh);
    eh->dead = "borrowed by an iteration that moved on";
    TUNLOCK();
    return r;
}

ss_plugin_bool tr_iterate_entries(ss_plugin_table_t *t, ss_plugin_table_iterator_func_t it,
                                         ss_plugin_table_iterator_state_t *s)
{
    tbl_handle *th;
    ss_plugin_bool ok = 0;
    TLOCK();
    th = th_check(t, "iterate_entries");
    if (!th)
        goto out;
    if (!it) {
        tbl_misuse(th->ow, "iterate_entries on table '%s' was called without a function",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        /* on a snapshot: the callback may add or erase entries */
        size_t n = th->ref.ht->n, i;
        hentry **snap = xmalloc((n ? n : 1) * sizeof *snap);
        if (n) /* an empty table may have no array */
            memcpy(snap, th->ref.ht->e, n * sizeof *snap);
        for (i = 0; i < n; i++)
            snap[i]->refs++;
        ok = 1;
        for (i = 0; i < n && ok; i++) {
            ehandle *eh;
            if (!snap[i]->in_table)
                continue;
            eh = eh_new(th, EH_BORROWED);
            eh->he = snap[i];
            snap[i]->refs++;
            ok = it(s, eh) ? 1 : 0;
            eh_end(eh, "borrowed by an iteration that moved on");
        }
        for (i = 0; i < n; i++)
            he_unref(snap[i]);
        free(snap);
    } else {
        iter_ctx c;
        if (!th->ref.pin->reader_ext->iterate_entries) {
            ow_error(th->ow, "table '%s' does not support iterate_entries (API 3.0 owner)",
                     th->ref.name);
            goto out;
        }
        c.th = th;
        c.it = it;
        c.s = s;
        ok = th->ref.pin->reader_ext->iterate_entries(th->ref.pin->table, iter_trampoline, &c);
    }
out:
    TUNLOCK();
    return ok;
}
/* ---- writer ---- */

static ss_plugin_rc tw_clear_table(ss_plugin_table_t *t)
{
    tbl_handle *th;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    TLOCK();
    th = th_check(t, "clear_table");
    if (th) {
        if (th->ref.ht) {
            ht_clear(th->ref.ht);
            rc = SS_PLUGIN_SUCCESS;
        } else {
            rc = th->ref.pin->writer_ext->clear_table(th->ref.pin->table);
            if (rc != SS_PLUGIN_SUCCESS)
                copy_provider_error(th->ow, th->ref.provider, "clear_table");
        }
    }
    TUNLOCK();
    return rc;
}

static ss_plugin_rc tw_erase_table_entry(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
    tbl_handle *th;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    TLOCK();
    th = th_check(t, "erase_table_entry");
    if (!th)
        goto out;
    if (!key) {
        tbl_misuse(th->ow, "erase_table_entry on table '%s' was called with a NULL key",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        if (ht_erase(th->ref.ht, st_norm(th->ref.key_type, key->u64)))
            rc = SS_PLUGIN_SUCCESS;
        else
            ow_error(th->ow, "table entry not found");
    } else {
        rc = th->ref.pin->writer_ext->erase_table_entry(th->ref.pin->table, key);
        if (rc != SS_PLUGIN_SUCCESS)
            copy_provider_error(th->ow, th->ref.provider, "erase_table_entry");
    }
out:
    TUNLOCK();
    return rc;
}

static ss_plugin_table_entry_t *tw_create_table_entry(ss_plugin_table_t *t)
{
    tbl_handle *th;
    ehandle *eh = NULL;
    TLOCK();
    th = th_check(t, "create_table_entry");
    if (!th)
        goto out;
    if (th->ref.ht) {
        eh = eh_new(th, EH_CREATED);
        eh->he = he_new(th->ref.ht->sc);
        eh->he->refs = 1;
    } else {
        void *raw = th->ref.pin->writer_ext->create_table_entry(th->ref.pin->table);
        if (!raw) {
            copy_provider_error(th->ow, th->ref.provider, "create_table_entry");
            goto out;
        }
        eh = eh_new(th, EH_CREATED);
        eh->raw = raw;
    }
out:
    TUNLOCK();
    return eh;
}

static void tw_destroy_table_entry(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
    end_entry(t, e, "destroy_table_entry", "destroyed");
}

static ss_plugin_table_entry_t *tw_add_table_entry(ss_plugin_table_t *t,
                                                   const ss_plugin_state_data *key,
                                                   ss_plugin_table_entry_t *e)
{
    tbl_handle *th;
    ehandle *eh, *res = NULL;
    TLOCK();
    th = th_check(t, "add_table_entry");
    if (!th || !(eh = eh_check(th, e, "add_table_entry")))
        goto out;
    if (!key) {
        tbl_misuse(th->ow, "add_table_entry on table '%s' was called with a NULL key",
                   th->ref.name);
        goto out;
    }
    if (eh->kind != EH_CREATED) {
        tbl_misuse(th->ow,
                   "add_table_entry on table '%s' was called with a %s entry: it takes an "
                   "entry from create_table_entry",
                   th->ref.name, kind_name(eh->kind));
        goto out;
    }
    if (th->ref.ht) {
        hentry *he = eh->he;
        he->key = st_norm(th->ref.key_type, key->u64);
        if (he->sc->key_field >= 0)
            he_val(he, he->sc->f[he->sc->key_field])->u = he->key;
        ht_put(th->ref.ht, he);
        res = eh_new(th, EH_GOT);
        res->he = he;
        he->refs++;
        eh_end(eh, "consumed by add_table_entry");
    } else {
        void *raw = th->ref.pin->writer_ext->add_table_entry(th->ref.pin->table, key, eh->raw);
        if (!raw) {
            copy_provider_error(th->ow, th->ref.provider, "add_table_entry");
            goto out;
        }
        eh->dead = "consumed by add_table_entry"; /* the owner took the entry */
        res = eh_new(th, EH_GOT);
        res->raw = raw;
    }
out:
    TUNLOCK();
    return res;
}

static ss_plugin_rc tw_write_entry_field(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                                         const ss_plugin_table_field_t *f,
                                         const ss_plugin_state_data *in)
{
    tbl_handle *th;
    ehandle *eh;
    const void *fv;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    TLOCK();
    th = th_check(t, "write_entry_field");
    if (!th || !(eh = eh_check(th, e, "write_entry_field")) ||
        !(fv = field_check(th, f, "write_entry_field")))
        goto out;
    if (!in) {
        tbl_misuse(th->ow, "write_entry_field on table '%s' was called with a NULL value",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        const hfield *hf = fv;
        hval *v;
        if (hf->type == SS_PLUGIN_ST_TABLE) {
            ow_error(th->ow, "writing to table fields is currently not supported");
            goto out;
        }
        if (hf->read_only) {
            ow_error(th->ow, "field '%s' of table '%s' is read-only", hf->name, th->ref.name);
            goto out;
        }
        v = he_val(eh->he, hf);
        if (hf->type == SS_PLUGIN_ST_STRING) {
            char *s = xstrdup(in->str ? in->str : "");
            free(v->s);
            v->s = s;
        } else {
            /* like libsinsp, writing the key member (tid, fd) does not move the entry */
            v->u = sd_get(hf->type, in);
        }
        rc = SS_PLUGIN_SUCCESS;
    } else {
        const pfield *pf = fv;
        rc = th->ref.pin->writer_ext->write_entry_field(th->ref.pin->table, eh->raw, pf->raw,
                                                        in);
        if (rc != SS_PLUGIN_SUCCESS)
            copy_provider_error(th->ow, th->ref.provider, "write_entry_field");
    }
out:
    TUNLOCK();
    return rc;
}
/* ---- fields ---- */

const ss_plugin_table_fieldinfo *tf_list_table_fields(ss_plugin_table_t *t,
                                                             uint32_t *nfields)
{
    tbl_handle *th;
    const ss_plugin_table_fieldinfo *r = NULL;
    TLOCK();
    th = th_check(t, "list_table_fields");
    if (!th)
        goto out;
    if (!nfields) {
        tbl_misuse(th->ow, "list_table_fields on table '%s' was called with a NULL count",
                   th->ref.name);
        goto out;
    }
    if (th->ref.ht) {
        const hschema *sc = th->ref.ht->sc;
        size_t i;
        free(th->finfo);
        th->finfo = xcalloc(sc->nf ? sc->nf : 1, sizeof *th->finfo);
        for (i = 0; i < sc->nf; i++) {
            th->finfo[i].name = sc->f[i]->name;
            th->finfo[i].field_type = sc->f[i]->type;
            th->finfo[i].read_only = sc->f[i]->read_only;
        }
        *nfields = (uint32_t)sc->nf;
        r = th->finfo;
    } else {
        r = th->ref.pin->fields_ext->list_table_fields(th->ref.pin->table, nfields);
        if (!r)
            copy_provider_error(th->ow, th->ref.provider, "list_table_fields");
    }
out:
    TUNLOCK();
    return r;
}

static pfield *pfield_of(tbl_handle *th, ss_plugin_table_field_t *raw, ss_plugin_state_type type)
{
    const void *family = th->ephemeral ? NULL : th->ref.ptab;
    pfield *pf;
    for (pf = g_reg.pfields; pf; pf = pf->next)
        if (pf->raw == raw && pf->family == family && pf->type == type)
            return pf;
    pf = xcalloc(1, sizeof *pf);
    pf->magic = PF_MAGIC;
    pf->family = family;
    pf->raw = raw;
    pf->type = type;
    pf->next = g_reg.pfields;
    g_reg.pfields = pf;
    ps_add(&g_reg.live, pf, PT_PFIELD);
    return pf;
}

static ss_plugin_table_field_t *tf_field(ss_plugin_table_t *t, const char *name,
                                         ss_plugin_state_type type, bool add)
{
    const char *fn = add ? "add_table_field" : "get_table_field";
    tbl_handle *th;
    void *r = NULL;
    TLOCK();
    th = th_check(t, fn);
    if (!th)
        goto out;
    if (!name) {
        tbl_misuse(th->ow, "%s on table '%s' was called with a NULL name", fn, th->ref.name);
        goto out;
    }
    if (!st_name(type)) {
        ow_error(th->ow, "%s: unknown state type %d for field '%s'", fn, (int)type, name);
        goto out;
    }
    if (th->ref.ht) {
        hschema *sc = th->ref.ht->sc;
        hfield *hf = sc_field(sc, name);
        if (!add) {
            if (!hf)
                ow_error(th->ow, "undefined field '%s' in table '%s'", name, sc->name);
            else if (hf->type != type)
                ow_error(th->ow,
                         "incompatible data types for %s field '%s' of table '%s': it is %s, "
                         "not %s",
                         hf->dynamic ? "dynamic" : "static", name, sc->name, st_label(hf->type),
                         st_label(type));
            else
                r = hf;
            goto out;
        }
        if (type == SS_PLUGIN_ST_TABLE) {
            ow_error(th->ow, "can't add dynamic field of type table ('%s' in table '%s')", name,
                     sc->name);
        } else if (sc->fixed) {
            ow_error(th->ow, "table '%s' does not accept dynamic fields ('%s')", sc->name, name);
        } else if (hf && !hf->dynamic) {
            ow_error(th->ow, "can't add dynamic field already defined as static: '%s' in '%s'",
                     name, sc->name);
        } else if (hf && hf->type != type) {
            ow_error(th->ow,
                     "multiple definitions of dynamic field with different types: '%s' in "
                     "'%s' is %s, not %s",
                     name, sc->name, st_label(hf->type), st_label(type));
        } else {
            r = hf ? hf : sc_add(sc, name, type, false, true, 0, NULL);
        }
    } else {
        ss_plugin_table_fields_vtable_ext *fx = th->ref.pin->fields_ext;
        ss_plugin_table_field_t *raw = add ? fx->add_table_field(th->ref.pin->table, name, type)
                                           : fx->get_table_field(th->ref.pin->table, name, type);
        if (!raw)
            copy_provider_error(th->ow, th->ref.provider, fn);
        else
            r = pfield_of(th, raw, type);
    }
out:
    TUNLOCK();
    return r;
}

ss_plugin_table_field_t *tf_get_table_field(ss_plugin_table_t *t, const char *name,
                                                   ss_plugin_state_type type)
{
    return tf_field(t, name, type, false);
}

ss_plugin_table_field_t *tf_add_table_field(ss_plugin_table_t *t, const char *name,
                                                   ss_plugin_state_type type)
{
    return tf_field(t, name, type, true);
}

/* ---- the vtables every plugin gets ---- */

ss_plugin_table_reader_vtable_ext g_reader_ext = {
    tr_get_table_name,   tr_get_table_size,      tr_get_table_entry,
    tr_read_entry_field, tr_release_table_entry, tr_iterate_entries,
};
ss_plugin_table_writer_vtable_ext g_writer_ext = {
    tw_clear_table,          tw_erase_table_entry, tw_create_table_entry,
    tw_destroy_table_entry, tw_add_table_entry,   tw_write_entry_field,
};
ss_plugin_table_fields_vtable_ext g_fields_ext = {
    tf_list_table_fields,
    tf_get_table_field,
    tf_add_table_field,
};
ss_plugin_table_reader_vtable g_reader_v0 = {
    tr_get_table_name,
    tr_get_table_size,
    tr_get_table_entry,
    tr_read_entry_field,
};
ss_plugin_table_writer_vtable g_writer_v0 = {
    tw_clear_table,          tw_erase_table_entry, tw_create_table_entry,
    tw_destroy_table_entry, tw_add_table_entry,   tw_write_entry_field,
};
ss_plugin_table_fields_vtable g_fields_v0 = {
    tf_list_table_fields,
    tf_get_table_field,
    tf_add_table_field,
};
