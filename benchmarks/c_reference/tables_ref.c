/*
 * tables_ref: C reference plugins for the state tables benchmark (benchmarks/tables.py),
 * written in plain C against fp_abi.h; the Python mirrors are in
 * benchmarks/plugins/bench_tables.py. One file, three plugins chosen at build time:
 *
 *   (default)      tables_ref (parse + extract) reads the host's threads table at the
 *                  event's tid: tables_ref.lookup (1 when found, no field read),
 *                  tables_ref.comm_len (length of the static string comm), tables_ref.pid
 *                  (the static int64 pid) and tables_ref.counter (a uint64 field added at
 *                  init, "tables_ref_counter", that parse_event increments).
 *   -DTR_EXPORTER  tables_ref_exporter exports "bench_rows" (uint64 key -> uint64 value),
 *                  filled at init with TR_ROWS entries, value 1000 + key. It has one field
 *                  only to be extract-capable (plugins with neither parse nor extract get
 *                  no tables API).
 *   -DTR_READER    tables_ref_reader reads bench_rows (this exporter's or the Python one)
 *                  at key evtnum % TR_ROWS: tables_ref_reader.value.
 *
 * Build:  cc -shared -fPIC -O2 -I<dir of fp_abi.h> [-DTR_EXPORTER|-DTR_READER] tables_ref.c
 *
 * Every extract_fields call does what a real field would: look the entry up through the
 * extract input's reader vtable, read, release. Nothing is cached across calls, like the
 * Python plugins.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp_abi.h"

#define TR_EXPORT __attribute__((visibility("default")))
#define TR_TABLE "bench_rows"
#define TR_ROWS 64u
#ifndef TR_SOURCES /* -DTR_SOURCES='"[\"syscall\"]"' for libsinsp's own threads table */
#define TR_SOURCES "[\"countdown\"]"
#endif
#define TR_MAX_FIELDS 16u /* fields per extract_fields call (libsinsp asks for one) */

#if defined(TR_EXPORTER)
#define TR_NAME "tables_ref_exporter"
#elif defined(TR_READER)
#define TR_NAME "tables_ref_reader"
#else
#define TR_NAME "tables_ref"
#endif

typedef struct {
    uint64_t value;
    int used;
} tr_row;

typedef struct {
    char lasterr[FP_MAX_ERRLEN];
    uint64_t res[TR_MAX_FIELDS]; /* extract results: valid until the next call */
    ss_plugin_table_t *table;
    ss_plugin_table_field_t *f_comm, *f_pid, *f_counter, *f_value;
    tr_row rows[TR_ROWS]; /* the exporter's table */
} tr_state;

TR_EXPORT const char *plugin_get_required_api_version(void) { return "3.6.0"; }
TR_EXPORT const char *plugin_get_version(void) { return "1.0.0"; }
TR_EXPORT const char *plugin_get_name(void) { return TR_NAME; }
TR_EXPORT const char *plugin_get_description(void)
{
    return "State tables benchmark reference (C)";
}
TR_EXPORT const char *plugin_get_contact(void) { return "github.com/falco-plugin"; }
TR_EXPORT const char *plugin_get_last_error(ss_plugin_t *s)
{
    return s ? ((tr_state *)s)->lasterr : "no plugin state";
}
TR_EXPORT void plugin_destroy(ss_plugin_t *s) { free(s); }
TR_EXPORT const char *plugin_get_extract_event_sources(void) { return TR_SOURCES; }

/* The fields of one extract_fields call fit the result slots. */
static int tr_fits(tr_state *s, const ss_plugin_field_extract_input *in)
{
    if (in->num_fields <= TR_MAX_FIELDS)
        return 1;
    snprintf(s->lasterr, sizeof s->lasterr, "at most %u fields per call", TR_MAX_FIELDS);
    return 0;
}

#define TR_FAIL(...)                                              \
    do {                                                          \
        snprintf(s->lasterr, sizeof s->lasterr, __VA_ARGS__);     \
        *rc = SS_PLUGIN_FAILURE;                                  \
        return s;                                                 \
    } while (0)

/* ------------------------------------------------------------------------------------- */
#if defined(TR_EXPORTER)

static int k_value; /* the field handle: its address */
static const ss_plugin_table_fieldinfo k_fields[] = {{"value", SS_PLUGIN_ST_UINT64, 0}};

static const char *t_name(ss_plugin_table_t *t)
{
    (void)t;
    return TR_TABLE;
}

static uint64_t t_size(ss_plugin_table_t *t)
{
    tr_state *s = t;
    uint64_t n = 0;
    unsigned i;
    for (i = 0; i < TR_ROWS; i++)
        n += s->rows[i].used != 0;
    return n;
}

static ss_plugin_table_entry_t *t_get(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
    tr_state *s = t;
    if (key->u64 < TR_ROWS && s->rows[key->u64].used)
        return &s->rows[key->u64];
    snprintf(s->lasterr, sizeof s->lasterr, "no entry at key %llu",
             (unsigned long long)key->u64);
    return NULL;
}

static ss_plugin_rc t_read(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                           const ss_plugin_table_field_t *f, ss_plugin_state_data *out)
{
    (void)t;
    if (f != &k_value)
        return SS_PLUGIN_FAILURE;
    out->u64 = ((tr_row *)e)->value;
    return SS_PLUGIN_SUCCESS;
}

static void t_release(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
    (void)t;
    (void)e; /* rows live in the state: nothing to give back */
}

static ss_plugin_bool t_iterate(ss_plugin_table_t *t, ss_plugin_table_iterator_func_t it,
                                ss_plugin_table_iterator_state_t *st)
{
    tr_state *s = t;
    unsigned i;
    for (i = 0; i < TR_ROWS; i++)
        if (s->rows[i].used && !it(st, &s->rows[i]))
            return 0;
    return 1;
}

static ss_plugin_rc t_clear(ss_plugin_table_t *t)
{
    tr_state *s = t;
    memset(s->rows, 0, sizeof s->rows);
    return SS_PLUGIN_SUCCESS;
}

static ss_plugin_rc t_erase(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
    tr_state *s = t;
    if (key->u64 >= TR_ROWS || !s->rows[key->u64].used)
        return SS_PLUGIN_FAILURE;
    s->rows[key->u64].used = 0;
    return SS_PLUGIN_SUCCESS;
}

static ss_plugin_table_entry_t *t_create(ss_plugin_table_t *t)
{
    (void)t;
    return calloc(1, sizeof(tr_row));
}

static int t_owned(tr_state *s, const void *e)
{
    return (const tr_row *)e >= s->rows && (const tr_row *)e < s->rows + TR_ROWS;
}

static void t_destroy(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
    if (!t_owned(t, e))
        free(e);
}

static ss_plugin_table_entry_t *t_add(ss_plugin_table_t *t, const ss_plugin_state_data *key,
                                      ss_plugin_table_entry_t *e)
{
    tr_state *s = t;
    tr_row *r;
    if (key->u64 >= TR_ROWS) {
        snprintf(s->lasterr, sizeof s->lasterr, "keys go up to %u", TR_ROWS - 1);
        return NULL;
    }
    r = &s->rows[key->u64];
    r->value = ((tr_row *)e)->value;
    r->used = 1;
    if (!t_owned(s, e))
        free(e);
    return r;
}

static ss_plugin_rc t_write(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                            const ss_plugin_table_field_t *f, const ss_plugin_state_data *in)
{
    (void)t;
    if (f != &k_value)
        return SS_PLUGIN_FAILURE;
    ((tr_row *)e)->value = in->u64;
    return SS_PLUGIN_SUCCESS;
}

static const ss_plugin_table_fieldinfo *t_list(ss_plugin_table_t *t, uint32_t *n)
{
    (void)t;
    *n = 1;
    return k_fields;
}

static ss_plugin_table_field_t *t_getf(ss_plugin_table_t *t, const char *name,
                                       ss_plugin_state_type type)
{
    tr_state *s = t;
    if (!strcmp(name, "value") && type == SS_PLUGIN_ST_UINT64)
        return &k_value;
    snprintf(s->lasterr, sizeof s->lasterr, "no field %s of type %d", name, (int)type);
    return NULL;
}

static ss_plugin_table_field_t *t_addf(ss_plugin_table_t *t, const char *name,
                                       ss_plugin_state_type type)
{
    tr_state *s = t;
    (void)type;
    snprintf(s->lasterr, sizeof s->lasterr, "cannot add field %s", name);
    return NULL;
}

static ss_plugin_table_reader_vtable_ext k_rx = {t_name, t_size,    t_get,
                                                 t_read, t_release, t_iterate};
static ss_plugin_table_writer_vtable_ext k_wx = {t_clear,   t_erase, t_create,
                                                 t_destroy, t_add,   t_write};
static ss_plugin_table_fields_vtable_ext k_fx = {t_list, t_getf, t_addf};

TR_EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    tr_state *s = calloc(1, sizeof *s);
    ss_plugin_table_input ti; /* the host copies it */
    unsigned i;
    if (!s) {
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    if (!in->tables)
        TR_FAIL("no tables API");
    for (i = 0; i < TR_ROWS; i++) {
        s->rows[i].value = 1000u + i;
        s->rows[i].used = 1;
    }
    memset(&ti, 0, sizeof ti);
    ti.name = TR_TABLE;
    ti.key_type = SS_PLUGIN_ST_UINT64;
    ti.table = s;
    memcpy(&ti.reader, &k_rx, sizeof ti.reader); /* same leading members */
    memcpy(&ti.writer, &k_wx, sizeof ti.writer);
    memcpy(&ti.fields, &k_fx, sizeof ti.fields);
    ti.reader_ext = &k_rx;
    ti.writer_ext = &k_wx;
    ti.fields_ext = &k_fx;
    if (in->tables->add_table(in->owner, &ti) != SS_PLUGIN_SUCCESS)
        TR_FAIL("add_table: %s", in->get_owner_last_error(in->owner));
    *rc = SS_PLUGIN_SUCCESS;
    return s;
}

TR_EXPORT const char *plugin_get_fields(void)
{
    return "[{\"type\": \"uint64\", \"name\": \"" TR_NAME ".rows\", "
           "\"desc\": \"Entries in the exported table (not used by the benchmark)\"}]";
}

TR_EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *ev,
                                             const ss_plugin_field_extract_input *in)
{
    tr_state *s = st;
    uint32_t i;
    (void)ev;
    if (!tr_fits(s, in))
        return SS_PLUGIN_FAILURE;
    for (i = 0; i < in->num_fields; i++) {
        s->res[i] = t_size(s);
        in->fields[i].res.u64 = &s->res[i];
        in->fields[i].res_len = 1;
    }
    return SS_PLUGIN_SUCCESS;
}

/* ------------------------------------------------------------------------------------- */
#elif defined(TR_READER)

TR_EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    tr_state *s = calloc(1, sizeof *s);
    const ss_plugin_init_tables_input *t = in->tables;
    if (!s) {
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    if (!t || !t->fields_ext)
        TR_FAIL("no tables API");
    s->table = t->get_table(in->owner, TR_TABLE, SS_PLUGIN_ST_UINT64);
    if (!s->table)
        TR_FAIL("no table " TR_TABLE " (load an exporter first): %s",
                in->get_owner_last_error(in->owner));
    s->f_value = t->fields_ext->get_table_field(s->table, "value", SS_PLUGIN_ST_UINT64);
    if (!s->f_value)
        TR_FAIL("field value: %s", in->get_owner_last_error(in->owner));
    *rc = SS_PLUGIN_SUCCESS;
    return s;
}

TR_EXPORT const char *plugin_get_fields(void)
{
    return "[{\"type\": \"uint64\", \"name\": \"" TR_NAME ".value\", "
           "\"desc\": \"The value stored under key evtnum % 64 of bench_rows\"}]";
}

TR_EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *ev,
                                             const ss_plugin_field_extract_input *in)
{
    tr_state *s = st;
    ss_plugin_table_reader_vtable_ext *r = in->table_reader_ext;
    uint32_t i;
    if (!tr_fits(s, in))
        return SS_PLUGIN_FAILURE;
    for (i = 0; i < in->num_fields; i++) {
        ss_plugin_extract_field *f = &in->fields[i];
        ss_plugin_state_data key, d;
        ss_plugin_table_entry_t *e;
        f->res_len = 0;
        key.u64 = ev->evtnum % TR_ROWS;
        e = r->get_table_entry(s->table, &key);
        if (!e)
            continue;
        if (r->read_entry_field(s->table, e, s->f_value, &d) == SS_PLUGIN_SUCCESS) {
            s->res[i] = d.u64;
            f->res.u64 = &s->res[i];
            f->res_len = 1;
        }
        r->release_table_entry(s->table, e);
    }
    return SS_PLUGIN_SUCCESS;
}

/* ------------------------------------------------------------------------------------- */
#else /* the threads table user */

enum { F_LOOKUP, F_COMM_LEN, F_PID, F_COUNTER };

TR_EXPORT const char *plugin_get_parse_event_sources(void) { return TR_SOURCES; }

TR_EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    tr_state *s = calloc(1, sizeof *s);
    const ss_plugin_init_tables_input *t = in->tables;
    if (!s) {
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    if (!t || !t->fields_ext)
        TR_FAIL("no tables API");
    s->table = t->get_table(in->owner, "threads", SS_PLUGIN_ST_INT64);
    if (!s->table)
        TR_FAIL("no threads table: %s", in->get_owner_last_error(in->owner));
    s->f_comm = t->fields_ext->get_table_field(s->table, "comm", SS_PLUGIN_ST_STRING);
    s->f_pid = t->fields_ext->get_table_field(s->table, "pid", SS_PLUGIN_ST_INT64);
    s->f_counter =
        t->fields_ext->add_table_field(s->table, "tables_ref_counter", SS_PLUGIN_ST_UINT64);
    if (!s->f_comm || !s->f_pid || !s->f_counter)
        TR_FAIL("threads fields: %s", in->get_owner_last_error(in->owner));
    *rc = SS_PLUGIN_SUCCESS;
    return s;
}

/* Counts the events of each thread in the added field. */
TR_EXPORT ss_plugin_rc plugin_parse_event(ss_plugin_t *st, const ss_plugin_event_input *ev,
                                          const ss_plugin_event_parse_input *in)
{
    tr_state *s = st;
    ss_plugin_table_reader_vtable_ext *r = in->table_reader_ext;
    ss_plugin_state_data key, d;
    ss_plugin_table_entry_t *e;
    ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
    key.s64 = (int64_t)ev->evt->tid;
    e = r->get_table_entry(s->table, &key);
    if (!e)
        return SS_PLUGIN_SUCCESS; /* not a thread we know */
    if (r->read_entry_field(s->table, e, s->f_counter, &d) != SS_PLUGIN_SUCCESS) {
        rc = SS_PLUGIN_FAILURE;
    } else {
        d.u64++;
        rc = in->table_writer_ext->write_entry_field(s->table, e, s->f_counter, &d);
    }
    if (rc != SS_PLUGIN_SUCCESS)
        snprintf(s->lasterr, sizeof s->lasterr, "counter: %s",
                 in->get_owner_last_error(in->owner));
    r->release_table_entry(s->table, e);
    return rc;
}

TR_EXPORT const char *plugin_get_fields(void)
{
    return "["
           "{\"type\": \"uint64\", \"name\": \"" TR_NAME ".lookup\", "
           "\"desc\": \"1 when the event's thread is found (a lookup, no field read)\"},"
           "{\"type\": \"uint64\", \"name\": \"" TR_NAME ".comm_len\", "
           "\"desc\": \"The length of the thread's comm (a static string field)\"},"
           "{\"type\": \"uint64\", \"name\": \"" TR_NAME ".pid\", "
           "\"desc\": \"The thread's pid (a static int64 field); none when negative\"},"
           "{\"type\": \"uint64\", \"name\": \"" TR_NAME ".counter\", "
           "\"desc\": \"The added field parse_event increments\"}"
           "]";
}

TR_EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *ev,
                                             const ss_plugin_field_extract_input *in)
{
    tr_state *s = st;
    ss_plugin_table_reader_vtable_ext *r = in->table_reader_ext;
    uint32_t i;
    if (!tr_fits(s, in))
        return SS_PLUGIN_FAILURE;
    for (i = 0; i < in->num_fields; i++) {
        ss_plugin_extract_field *f = &in->fields[i];
        ss_plugin_state_data key, d;
        ss_plugin_table_entry_t *e;
        int ok = 1;
        f->res_len = 0;
        key.s64 = (int64_t)ev->evt->tid;
        e = r->get_table_entry(s->table, &key);
        if (!e)
            continue;
        switch (f->field_id) {
        case F_LOOKUP:
            s->res[i] = 1;
            break;
        case F_COMM_LEN:
            ok = r->read_entry_field(s->table, e, s->f_comm, &d) == SS_PLUGIN_SUCCESS;
            if (ok)
                s->res[i] = strlen(d.str);
            break;
        case F_PID:
            ok = r->read_entry_field(s->table, e, s->f_pid, &d) == SS_PLUGIN_SUCCESS &&
                 d.s64 >= 0;
            if (ok)
                s->res[i] = (uint64_t)d.s64;
            break;
        case F_COUNTER:
            ok = r->read_entry_field(s->table, e, s->f_counter, &d) == SS_PLUGIN_SUCCESS;
            if (ok)
                s->res[i] = d.u64;
            break;
        default:
            ok = 0;
        }
        r->release_table_entry(s->table, e);
        if (ok) {
            f->res.u64 = &s->res[i];
            f->res_len = 1;
        }
    }
    return SS_PLUGIN_SUCCESS;
}

#endif
