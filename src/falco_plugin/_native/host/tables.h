/*
 * tables.h: what the three files of the state tables API share (host.h has the entry points
 * the rest of the engine uses).
 *
 *   tables_store.c    the host's own tables: schemas, entries, libsinsp's `threads` table
 *                     and its nested tables, the fixture, setup and teardown
 *   tables_handles.c  the registry, table/entry/field handles and their checks, the end of
 *                     a call (leaks), the init input's registry functions, --dump-table
 *   tables_api.c      the reader, writer and fields vtables plugins call
 *
 * The host plays libsinsp's part:
 * - a registry of tables: the host's own `threads` table (nested `file_descriptors`, `args`,
 *   `env` and `cgroups` tables per entry) and the tables plugins add with add_table;
 * - every table handle a plugin receives (get_table, a TABLE field read) is a host object
 *   that starts with an ss_plugin_table_input whose `table` is the handle itself and whose
 *   vtables are the host's, the same functions the init, parse and extract inputs carry;
 *   operations on a plugin's table pass through to its owner's vtables;
 * - entry and field handles are host objects too: each pointer a plugin passes in is looked
 *   up among the live handles before it is used, so a stale or foreign pointer is reported
 *   as an error instead of crashing the host;
 * - entries obtained during a call (init, parse_event, extract_fields) must be released
 *   before it returns: the host counts the others (entry_leaks) and releases them, and nested
 *   table handles end with the call, like libsinsp's ephemeral accessors.
 * One recursive lock serializes the whole table API across the event threads.
 */
#ifndef FP_HOST_TABLES_H
#define FP_HOST_TABLES_H

#include "host.h"

/* ---- the set of live handles ---- */

enum { PT_NONE = 0, PT_TABLE, PT_ENTRY, PT_HFIELD, PT_PFIELD, PT_OWNER };

#define PS_TOMB ((void *)1)

typedef struct {
    void **k;
    uint8_t *tag;
    size_t cap, live, used;
} ptrset;


void ps_add(ptrset *s, void *p, uint8_t tag);
uint8_t ps_tag(const ptrset *s, const void *p);
void ps_del(ptrset *s, const void *p);
void ps_free(ptrset *s);

const char *st_name(ss_plugin_state_type t);
const char *st_label(ss_plugin_state_type t);
bool st_signed(ss_plugin_state_type t);
uint64_t sd_get(ss_plugin_state_type t, const ss_plugin_state_data *d);
void sd_put(ss_plugin_state_type t, ss_plugin_state_data *d, uint64_t v);
uint64_t st_norm(ss_plugin_state_type t, uint64_t v);

/* ---- the host's own tables ---- */

#define HF_MAGIC 0x66706866u /* "fphf" */
#define PF_MAGIC 0x66707066u /* "fppf" */
#define TH_MAGIC 0x66707468u /* "fpth" */
#define EH_MAGIC 0x66706568u /* "fpeh" */

typedef struct hschema hschema;
typedef struct htable htable;

/* A field of a host table; the pointer is the field handle plugins get. */
typedef struct hfield {
    uint32_t magic;
    hschema *sc;
    char *name;
    ss_plugin_state_type type;
    bool read_only, dynamic;
    size_t index;
    uint64_t def;  /* integers: the value of a new entry */
    hschema *sub;  /* TABLE fields: the nested tables' schema */
} hfield;

/* The fields of a kind of table (shared by all nested tables of one kind). */
struct hschema {
    char *name;
    ss_plugin_state_type key_type;
    bool fixed;    /* no dynamic fields */
    int key_field; /* the field that mirrors the key (tid, fd), or -1 */
    hfield **f;
    size_t nf;
    hschema *next;
};

typedef union {
    uint64_t u;
    char *s; /* NULL reads as "" */
    htable *t;
} hval;

typedef struct hentry {
    uint64_t key;
    void *ext;                /* what the state engine keeps beside the fields (sstate.h) */
    void (*ext_free)(void *);
    unsigned refs; /* the table holding it, plus each live handle */
    bool in_table;
    bool key_set; /* fixtures: the key field was given */
    hschema *sc;
    hval *v;
    size_t nv; /* may lag behind sc->nf: later dynamic fields read as zero */
} hentry;

struct htable {
    hschema *sc;
    hentry **e; /* sorted by key */
    size_t n, cap;
};


htable *ht_new(hschema *sc);
void ht_free(htable *t);
hentry *he_new(hschema *sc);
void he_unref(hentry *he);
hval *he_val(hentry *he, const hfield *f);
hentry *ht_get(const htable *t, uint64_t key);
void ht_put(htable *t, hentry *he);
bool ht_erase(htable *t, uint64_t key);
void ht_clear(htable *t);
hfield *sc_field(const hschema *sc, const char *name);
hfield *sc_add(hschema *sc, const char *name, ss_plugin_state_type type, bool ro, bool dynamic,
               uint64_t def, hschema *sub);

/* ---- the registry ---- */

/* A table in the registry: the host's, or one a plugin added. */
typedef struct reg_table {
    char *name;
    ss_plugin_state_type key_type;
    host_owner *provider; /* the plugin state that added it; NULL: the host's */
    htable *ht;           /* the host's tables */
    ss_plugin_table_input in; /* plugin tables: the input as given, _ext pointing to copies */
    ss_plugin_table_reader_vtable_ext rx;
    ss_plugin_table_writer_vtable_ext wx;
    ss_plugin_table_fields_vtable_ext fx;
} reg_table;

/* What a handle refers to: a host table instance, or a plugin's table input. */
typedef struct {
    htable *ht;
    const ss_plugin_table_input *pin;
    void *ptab;          /* pin->table, kept to compare tables without touching pin */
    host_owner *provider;
    reg_table *reg;      /* the registry table, for top-level tables */
    const char *name;
    ss_plugin_state_type key_type;
} tref;

/* A table handle: what ss_plugin_table_t* points to for plugins. */
typedef struct tbl_handle {
    ss_plugin_table_input input; /* first: plugins read key_type through it */
    uint32_t magic;
    host_owner *ow; /* the plugin state using it */
    tref ref;
    bool ephemeral;     /* a nested table: valid during the call that read it */
    hentry *holder;     /* host nested tables: the entry that holds the table (a reference) */
    ss_plugin_table_fieldinfo *finfo; /* list_table_fields, rebuilt on every call */
    struct tbl_handle *next;
} tbl_handle;

enum { EH_GOT = 1, EH_CREATED, EH_BORROWED };

typedef struct ehandle {
    uint32_t magic;
    int kind;
    const char *dead; /* NULL while usable, else what ended it */
    host_owner *ow;
    htable *ht; /* host tables */
    hentry *he;
    const ss_plugin_table_input *pin; /* plugin tables */
    void *ptab;
    host_owner *provider;
    void *raw;
    struct ehandle *next;
} ehandle;

/* A field handle of a plugin's table. */
typedef struct pfield {
    uint32_t magic;
    const void *family; /* the table it belongs to; NULL for nested tables (not checked) */
    ss_plugin_table_field_t *raw;
    ss_plugin_state_type type;
    struct pfield *next;
} pfield;

/* Per plugin state: its table handles and what it holds during a call. */
typedef struct otrack {
    host_owner *ow;
    tbl_handle *cached; /* get_table results, for the plugin's lifetime */
    tbl_handle *ephem;  /* nested table handles of the current call */
    ehandle *ents;      /* entry handles of the current call */
    ss_plugin_table_info *tinfo;
    struct otrack *next;
} otrack;

typedef struct {
    bool active;
    reg_table **t;
    size_t n;
    hschema *schemas;
    hschema *sc_threads;
    htable *threads;
    otrack *tracks;
    pfield *pfields;
    ptrset live;
} registry;

extern registry g_reg;
extern host_owner g_host_ow;

void tbl_lock(void);
void tbl_unlock(void);
#define TLOCK() tbl_lock()
#define TUNLOCK() tbl_unlock()

void tbl_misuse(host_owner *ow, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void copy_provider_error(host_owner *caller, host_owner *provider, const char *what);
tbl_handle *th_new(host_owner *ow, const tref *ref, bool ephemeral);
tbl_handle *th_check(ss_plugin_table_t *t, const char *fn);
ehandle *eh_new(tbl_handle *th, int kind);
ehandle *eh_check(tbl_handle *th, ss_plugin_table_entry_t *e, const char *fn);
void eh_end(ehandle *eh, const char *why);
const char *kind_name(int kind);
const void *field_check(tbl_handle *th, const ss_plugin_table_field_t *f, const char *fn);
void trk_free(otrack *trk);
void reg_add_host_table(const char *name, htable *ht);
bool tables_apply_fixture(const uint8_t *ops, size_t len, char *err, size_t errlen);
/* the state engine's hooks: the thread whose fd table a thread's file_descriptors shows; the
 * socket union of the fds a fixture gave */
struct hentry *sstate_table_holder(struct hentry *t, const hfield *f);
void sstate_fixture_fds(struct hentry *t);

/* tables_api.c */
const char *tr_get_table_name(ss_plugin_table_t *t);
uint64_t tr_get_table_size(ss_plugin_table_t *t);
ss_plugin_rc tr_read_entry_field(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                                 const ss_plugin_table_field_t *f, ss_plugin_state_data *out);
ss_plugin_bool tr_iterate_entries(ss_plugin_table_t *t, ss_plugin_table_iterator_func_t it,
                                  ss_plugin_table_iterator_state_t *s);
const ss_plugin_table_fieldinfo *tf_list_table_fields(ss_plugin_table_t *t, uint32_t *nfields);
ss_plugin_table_field_t *tf_get_table_field(ss_plugin_table_t *t, const char *name,
                                            ss_plugin_state_type type);
ss_plugin_table_field_t *tf_add_table_field(ss_plugin_table_t *t, const char *name,
                                            ss_plugin_state_type type);
extern ss_plugin_table_fields_vtable_ext g_fields_ext;
extern ss_plugin_table_fields_vtable g_fields_v0;

#endif /* FP_HOST_TABLES_H */
