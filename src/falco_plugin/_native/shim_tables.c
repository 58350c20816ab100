/*
 * State tables for Python plugins, included by shim.c: the import side of the tables API
 * (tables owned by the host or by other plugins) as a Python object that hands out small
 * integer handles instead of pointers, and the call-scope rules around it.
 *
 * Tables and fields are looked up at init and stay valid. Entries, and nested tables read
 * from entries, belong to one API call: when the call returns the SDK releases what the
 * plugin still holds and every handle of that call stops working (a clear TableError
 * instead of a pointer into freed host memory).
 */

#define FP_SCOPE_NONE 0
#define FP_SCOPE_INIT 1  /* fields may be looked up and added; entries read and written */
#define FP_SCOPE_READ 2  /* extract: read only */
#define FP_SCOPE_WRITE 3 /* parse, capture listening: read and write */

/*
 * Entries and nested tables read in a call are slots of per-state arrays that every call
 * reuses. Each slot has a version, bumped whenever the slot is given out, and a handle is
 * (version << 32 | slot): a handle kept past its call, or past its visit in an iteration,
 * names a slot whose version moved on and is refused, after any number of calls. When no
 * one but the SDK holds the int the slot gave out last, no one can name the old entry with
 * it: the slot keeps its version and gives that int again (nothing allocated). A
 * version wraps after 2^32 uses of one slot (2^31 for nested tables, whose handles have
 * bit 63 set); a kept handle accepted by that chance names what the current call holds,
 * never freed memory.
 */
#define FP_SLOT_MASK 0xFFFFFFFFull
#define FP_SCOPED_TABLE (1ull << 63) /* marks a nested table handle, valid in its call only */
#define FP_ENTRY_VERSIONS 0xFFFFFFFFu
#define FP_SCOPED_VERSIONS 0x7FFFFFFFu

enum { FP_ENTRY_FREE, FP_ENTRY_OWNED, FP_ENTRY_BORROWED, FP_ENTRY_STAGED };

typedef struct {
    ss_plugin_table_t *t;
    ss_plugin_table_entry_t *e;
    int state;
    uint32_t version;
    PyObject *handle;        /* the int the slot gave out last (held), or NULL */
    uint32_t handle_version; /* the version it names */
} fp_entry_ref;

typedef struct {
    ss_plugin_table_t *t;
    uint32_t version;
} fp_scoped_ref;

/* The next version of a slot (0 is never given out). */
static uint32_t fp_bump(uint32_t version, uint32_t max) { return version >= max ? 1 : version + 1; }

struct fp_xtable;

/* What a state's exported tables share: the state (NULL once destroyed: every call on
 * them is refused from then on), the field handles by (table, field) name (shared by every
 * instance of a nested table: looked up on one instance at init, used on all), and the
 * tables given to the host. Never freed: see fp_xctx_retire. */
typedef struct fp_xctx {
    fp_state *st;
    struct fp_xfield **pool;
    uint32_t npool, cap_pool;
    struct fp_xtable *exported;
} fp_xctx;

typedef struct fp_tables {
    PyObject_HEAD
    fp_xctx *x;   /* its exported tables */
    int retired;  /* the state is destroyed: the host's pointers may be gone */
    ss_plugin_owner_t *owner;
    const char *(*owner_error)(ss_plugin_owner_t *o);
    ss_plugin_table_info *(*list_tables)(ss_plugin_owner_t *o, uint32_t *n);
    ss_plugin_table_t *(*get_table)(ss_plugin_owner_t *o, const char *name,
                                    ss_plugin_state_type key_type);
    ss_plugin_rc (*add_table)(ss_plugin_owner_t *o, const ss_plugin_table_input *in);
    ss_plugin_table_fields_vtable_ext *fields;
    ss_plugin_table_reader_vtable_ext *init_reader, *reader;
    ss_plugin_table_writer_vtable_ext *init_writer, *writer;
    int scope;
    uint64_t seed; /* for tests: slots start as if this many calls had used them */
    ss_plugin_table_t **tables;
    uint32_t ntables, cap_tables;
    fp_scoped_ref *scoped;
    uint32_t nscoped, cap_scoped;
    ss_plugin_table_field_t **fieldv;
    uint32_t nfields, cap_fields;
    fp_entry_ref *entries;
    uint32_t nentries, cap_entries;
    PyObject *last_handle; /* the handle the C entry getter made last (held: never reused) */
    unsigned long long last_eid; /* its value, so a field reader need not convert it */
} fp_tables;

/* tables.TableError of the space; a thread left from a closed space gets RuntimeError */
#define g_table_error (g_sdk.table_error ? g_sdk.table_error : PyExc_RuntimeError)

static PyObject *fp_table_error(fp_tables *tb, const char *what) {
    const char *owner = tb->owner_error ? tb->owner_error(tb->owner) : NULL;
    if (owner && *owner)
        PyErr_Format(g_table_error, "%s: %s", what, owner);
    else
        PyErr_SetString(g_table_error, what);
    return NULL;
}

static int fp_retired(fp_tables *tb);

static int fp_need(fp_tables *tb, int write) {
    if (fp_retired(tb)) return -1;
    if (tb->scope == FP_SCOPE_NONE || (write && tb->scope == FP_SCOPE_READ)) {
        PyErr_SetString(g_table_error,
                        write ? "tables can only be written during init, parse_event and "
                                "capture listening"
                              : "tables can only be used during init and the API calls that "
                                "allow it (extract, parse, capture listening)");
        return -1;
    }
    if (!tb->reader || (write && !tb->writer)) {
        PyErr_SetString(g_table_error, "the host gave no table access for this call");
        return -1;
    }
    return 0;
}

/* The checks every table read makes, inlined where they run on every event (the entry
 * getter and field readers of shim_tables_fast.c): a call costs more than their few
 * compares. Only the compares are inline: an error is set out of line (fp_need_read and
 * fp_table_at leave every case but the usual one to the full check, which sets it). */
#define FP_HOT static inline __attribute__((always_inline))

/* fp_need(tb, 0) */
FP_HOT int fp_need_read(fp_tables *tb) {
    return !tb->retired && tb->scope != FP_SCOPE_NONE && tb->reader ? 0 : fp_need(tb, 0);
}

/* ------------------------------------------------------------------ handles */

static int fp_push_ptr(void ***arr, uint32_t *n, uint32_t *cap, void *p) {
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 8;
        void **q = realloc(*arr, c * sizeof *q);
        if (!q) {
            PyErr_NoMemory();
            return -1;
        }
        *arr = q;
        *cap = c;
    }
    (*arr)[(*n)++] = p;
    return 0;
}

static ss_plugin_table_t *fp_table_of(fp_tables *tb, unsigned long long id) {
    if (id & FP_SCOPED_TABLE) {
        uint32_t version = (uint32_t)(id >> 32) & FP_SCOPED_VERSIONS;
        uint32_t idx = (uint32_t)(id & FP_SLOT_MASK);
        if (idx < tb->nscoped && tb->scoped[idx].version == version && tb->scope != FP_SCOPE_NONE)
            return tb->scoped[idx].t;
        PyErr_SetString(g_table_error,
                        "this nested table was read in an earlier call: read it again");
        return NULL;
    }
    if (id < tb->ntables) return tb->tables[id];
    PyErr_SetString(g_table_error, "unknown table handle");
    return NULL;
}

/* fp_table_of, with a table looked up at init inline (a nested table's id, with bit 63
 * set, is never below ntables) */
FP_HOT ss_plugin_table_t *fp_table_at(fp_tables *tb, unsigned long long id) {
    return id < tb->ntables ? tb->tables[id] : fp_table_of(tb, id);
}

static fp_entry_ref *fp_entry_refused(int other_table) {
    PyErr_SetString(g_table_error, other_table ? "this entry belongs to another table"
                                               : "this table entry is no longer valid "
                                                 "(released, or from an earlier call): get "
                                                 "it again");
    return NULL;
}

/* The slot of an entry handle of this call, of table t (inline: every field read
 * checks it). */
FP_HOT fp_entry_ref *fp_entry_of(fp_tables *tb, unsigned long long id, ss_plugin_table_t *t) {
    uint32_t version = (uint32_t)(id >> 32), idx = (uint32_t)(id & FP_SLOT_MASK);
    fp_entry_ref *r = idx < tb->nentries ? &tb->entries[idx] : NULL;
    if (!r || r->version != version || r->state == FP_ENTRY_FREE || tb->scope == FP_SCOPE_NONE)
        return fp_entry_refused(0);
    if (r->t != t) return fp_entry_refused(1);
    return r;
}

/* Grow a slot array to hold one more; new slots start at the seeded version. */
static int fp_grow_slots(void **arr, uint32_t n, uint32_t *cap, size_t size, size_t version_at,
                         uint32_t seed) {
    if (n < *cap) return 0;
    if (n == UINT32_MAX) {
        PyErr_SetString(g_table_error, "too many table entries held in one call");
        return -1;
    }
    uint32_t c = *cap ? (*cap > UINT32_MAX / 2 ? UINT32_MAX : *cap * 2) : 16;
    char *q = realloc(*arr, (size_t)c * size);
    if (!q) {
        PyErr_NoMemory();
        return -1;
    }
    memset(q + (size_t)*cap * size, 0, (size_t)(c - *cap) * size);
    for (uint32_t i = *cap; i < c; i++) memcpy(q + (size_t)i * size + version_at, &seed, 4);
    *arr = q;
    *cap = c;
    return 0;
}

/* A slot for one more entry in this call. */
static int fp_take_entry_slot(fp_tables *tb, uint32_t *idx) {
    if (fp_grow_slots((void **)&tb->entries, tb->nentries, &tb->cap_entries, sizeof(fp_entry_ref),
                      offsetof(fp_entry_ref, version), (uint32_t)tb->seed) < 0)
        return -1;
    *idx = tb->nentries++;
    return 0;
}

/* Put an entry in a slot and return its handle: under a new version, unless no one but
 * the SDK holds the handle the slot gave out last (then no one can name the slot's old
 * entry with it, and it is given again, allocating nothing). */
static PyObject *fp_fill_entry(fp_tables *tb, uint32_t idx, ss_plugin_table_t *t,
                               ss_plugin_table_entry_t *e, int state) {
    fp_entry_ref *r = &tb->entries[idx];
    r->t = t;
    r->e = e;
    r->state = state;
    PyObject *h = r->handle;
    Py_ssize_t ours = h && h == tb->last_handle ? 2 : 1; /* the slot's reference, last_handle's */
    if (h && Py_REFCNT(h) == ours && r->handle_version == r->version && r->version)
        return Py_NewRef(h);
    r->version = fp_bump(r->version, FP_ENTRY_VERSIONS);
    PyObject *handle = PyLong_FromUnsignedLongLong((uint64_t)r->version << 32 | idx);
    if (!handle) return NULL;
    Py_XSETREF(r->handle, Py_NewRef(handle));
    r->handle_version = r->version;
    return handle;
}

/* Give the host back an entry the call holds: released when it was found, destroyed when
 * it was made for an add that did not happen. */
static void fp_give_back(fp_tables *tb, ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                         int state) {
    if (state == FP_ENTRY_OWNED && tb->reader && tb->reader->release_table_entry)
        tb->reader->release_table_entry(t, e);
    else if (state == FP_ENTRY_STAGED && tb->writer && tb->writer->destroy_table_entry)
        tb->writer->destroy_table_entry(t, e);
}

/* The handle of an entry the host just gave; with no slot for it (out of memory), the
 * entry goes back to the host at once, as it would at the end of the call. */
static PyObject *fp_new_entry(fp_tables *tb, ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                              int state) {
    uint32_t idx;
    if (fp_take_entry_slot(tb, &idx) < 0) {
        fp_give_back(tb, t, e, state);
        return NULL;
    }
    return fp_fill_entry(tb, idx, t, e, state);
}

/* The handle of a nested table read in this call. */
static PyObject *fp_new_scoped(fp_tables *tb, ss_plugin_table_t *t) {
    uint32_t seed = (uint32_t)(tb->seed % FP_SCOPED_VERSIONS);
    if (fp_grow_slots((void **)&tb->scoped, tb->nscoped, &tb->cap_scoped, sizeof(fp_scoped_ref),
                      offsetof(fp_scoped_ref, version), seed) < 0)
        return NULL;
    uint32_t idx = tb->nscoped++;
    fp_scoped_ref *r = &tb->scoped[idx];
    r->t = t;
    r->version = fp_bump(r->version, FP_SCOPED_VERSIONS);
    return PyLong_FromUnsignedLongLong(FP_SCOPED_TABLE | (uint64_t)r->version << 32 | idx);
}

/* The end of a call (or of init): give back what the plugin still holds. */
static void fp_tables_end(fp_tables *tb) {
    if (!tb) return;
    /* the call is over before the host gets its entries back: a release that runs Python
     * (a table a Python plugin exports) and uses this plugin's tables meanwhile gets the
     * "outside a call" error, and cannot grow the array this loop walks */
    tb->scope = FP_SCOPE_NONE;
    for (fp_entry_ref *r = tb->entries, *end = r + tb->nentries; r < end; r++) {
        fp_give_back(tb, r->t, r->e, r->state);
        r->state = FP_ENTRY_FREE;
    }
    tb->nentries = 0; /* the slots are reused, under new versions */
    tb->nscoped = 0;
    tb->reader = tb->init_reader;
    tb->writer = tb->init_writer;
}

static void fp_tables_bind(fp_tables *tb, fp_state *st) { tb->x->st = st; }

static void fp_xctx_retire(fp_xctx *x);

/* At destroy (GIL held): the plugin may keep the object; it refuses every call from now. */
static void fp_tables_retire(fp_tables *tb) {
    if (!tb) return;
    tb->retired = 1;
    tb->scope = FP_SCOPE_NONE;
    fp_xctx_retire(tb->x);
}

static void fp_tables_begin(fp_tables *tb, int scope, ss_plugin_table_reader_vtable_ext *reader,
                            ss_plugin_table_writer_vtable_ext *writer) {
    if (!tb) return;
    tb->scope = scope;
    tb->reader = reader ? reader : tb->init_reader;
    tb->writer = scope == FP_SCOPE_READ ? NULL : (writer ? writer : tb->init_writer);
}

/* ------------------------------------------------------------------ values */

static int fp_to_state(PyObject *v, int kind, ss_plugin_state_data *out) {
    memset(out, 0, sizeof *out);
    switch (kind) {
    case SS_PLUGIN_ST_INT8: out->s8 = (int8_t)PyLong_AsLongLong(v); break;
    case SS_PLUGIN_ST_INT16: out->s16 = (int16_t)PyLong_AsLongLong(v); break;
    case SS_PLUGIN_ST_INT32: out->s32 = (int32_t)PyLong_AsLongLong(v); break;
    case SS_PLUGIN_ST_INT64: out->s64 = PyLong_AsLongLong(v); break;
    case SS_PLUGIN_ST_UINT8: out->u8 = (uint8_t)PyLong_AsUnsignedLongLong(v); break;
    case SS_PLUGIN_ST_UINT16: out->u16 = (uint16_t)PyLong_AsUnsignedLongLong(v); break;
    case SS_PLUGIN_ST_UINT32: out->u32 = (uint32_t)PyLong_AsUnsignedLongLong(v); break;
    case SS_PLUGIN_ST_UINT64: out->u64 = fp_as_u64(v); break;
    case SS_PLUGIN_ST_BOOL: {
        int b = PyObject_IsTrue(v);
        if (b < 0) return -1;
        out->b = (ss_plugin_bool)b;
        break;
    }
    case SS_PLUGIN_ST_STRING:
        out->str = PyUnicode_AsUTF8(v); /* lives as long as v: the caller holds it */
        if (!out->str) return -1;
        break;
    default: PyErr_SetString(g_table_error, "this value type cannot be written"); return -1;
    }
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *fp_from_state(fp_tables *tb, const ss_plugin_state_data *d, int kind) {
    switch (kind) {
    case SS_PLUGIN_ST_INT8: return PyLong_FromLong(d->s8);
    case SS_PLUGIN_ST_INT16: return PyLong_FromLong(d->s16);
    case SS_PLUGIN_ST_INT32: return PyLong_FromLong(d->s32);
    case SS_PLUGIN_ST_INT64: return PyLong_FromLongLong(d->s64);
    case SS_PLUGIN_ST_UINT8: return PyLong_FromUnsignedLong(d->u8);
    case SS_PLUGIN_ST_UINT16: return PyLong_FromUnsignedLong(d->u16);
    case SS_PLUGIN_ST_UINT32: return PyLong_FromUnsignedLong(d->u32);
    case SS_PLUGIN_ST_UINT64: return PyLong_FromUnsignedLongLong(d->u64);
    case SS_PLUGIN_ST_BOOL: return PyBool_FromLong(d->b != 0);
    case SS_PLUGIN_ST_STRING: /* the host's buffer lives until its next call: copy now */
        return fp_str(d->str);
    case SS_PLUGIN_ST_TABLE:
        if (!tb) break; /* keys and exported values are never tables */
        if (!d->table) return fp_table_error(tb, "the entry has no nested table");
        return fp_new_scoped(tb, d->table);
    }
    PyErr_Format(g_table_error, "unknown value type %d", kind);
    return NULL;
}

/* ------------------------------------------------------------------ methods */

/* After destroy the host's pointers may be gone: every method refuses. */
static int fp_retired(fp_tables *tb) {
    if (!tb->retired) return 0;
    PyErr_SetString(g_table_error, "the plugin state these tables belong to was destroyed");
    return 1;
}

static PyObject *fp_tb_list_tables(PyObject *self, PyObject *unused) {
    fp_tables *tb = (fp_tables *)self;
    if (fp_retired(tb)) return NULL;
    uint32_t n = 0;
    ss_plugin_table_info *info = tb->list_tables ? tb->list_tables(tb->owner, &n) : NULL;
    if (!info && n) return fp_table_error(tb, "list_tables failed");
    PyObject *out = PyList_New(0);
    for (uint32_t i = 0; out && i < n; i++) {
        PyObject *item = Py_BuildValue("(Ni)", fp_str(info[i].name), (int)info[i].key_type);
        if (!item || PyList_Append(out, item) < 0) Py_CLEAR(out);
        Py_XDECREF(item);
    }
    return out;
}

static PyObject *fp_tb_get_table(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    const char *name;
    int key_type;
    if (!PyArg_ParseTuple(args, "si", &name, &key_type)) return NULL;
    if (tb->scope != FP_SCOPE_INIT) {
        PyErr_SetString(g_table_error, "tables are imported in __init__ only");
        return NULL;
    }
    ss_plugin_table_t *t = tb->get_table(tb->owner, name, (ss_plugin_state_type)key_type);
    if (!t) {
        char what[320];
        snprintf(what, sizeof what, "no table %s", name); /* tables.py names the key type */
        return fp_table_error(tb, what);
    }
    if (fp_push_ptr((void ***)&tb->tables, &tb->ntables, &tb->cap_tables, t) < 0) return NULL;
    return PyLong_FromUnsignedLong(tb->ntables - 1);
}

static PyObject *fp_tb_list_fields(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id;
    if (fp_retired(tb)) return NULL;
    if (!PyArg_ParseTuple(args, "K", &id)) return NULL;
    ss_plugin_table_t *t = fp_table_of(tb, id);
    if (!t) return NULL;
    uint32_t n = 0;
    const ss_plugin_table_fieldinfo *info = tb->fields->list_table_fields(t, &n);
    if (!info && n) return fp_table_error(tb, "list_table_fields failed");
    PyObject *out = PyList_New(0);
    for (uint32_t i = 0; out && i < n; i++) {
        PyObject *item = Py_BuildValue("(NiO)", fp_str(info[i].name), (int)info[i].field_type,
                                       info[i].read_only ? Py_True : Py_False);
        if (!item || PyList_Append(out, item) < 0) Py_CLEAR(out);
        Py_XDECREF(item);
    }
    return out;
}

static PyObject *fp_tb_field(fp_tables *tb, PyObject *args, int add) {
    unsigned long long id;
    const char *name;
    int kind;
    if (!PyArg_ParseTuple(args, "Ksi", &id, &name, &kind)) return NULL;
    if (tb->scope != FP_SCOPE_INIT) {
        PyErr_SetString(g_table_error, "table fields are looked up and added in __init__ only");
        return NULL;
    }
    ss_plugin_table_t *t = fp_table_of(tb, id);
    if (!t) return NULL;
    ss_plugin_table_field_t *f = add ? tb->fields->add_table_field(t, name, kind)
                                     : tb->fields->get_table_field(t, name, kind);
    if (!f) {
        char what[320];
        snprintf(what, sizeof what, "cannot %s the field", add ? "add" : "find");
        return fp_table_error(tb, what);
    }
    if (fp_push_ptr((void ***)&tb->fieldv, &tb->nfields, &tb->cap_fields, f) < 0) return NULL;
    return PyLong_FromUnsignedLong(tb->nfields - 1);
}

static PyObject *fp_tb_get_field(PyObject *self, PyObject *args) {
    return fp_tb_field((fp_tables *)self, args, 0);
}

static PyObject *fp_tb_add_field(PyObject *self, PyObject *args) {
    return fp_tb_field((fp_tables *)self, args, 1);
}

static PyObject *fp_tb_table_size(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id;
    if (!PyArg_ParseTuple(args, "K", &id) || fp_need(tb, 0) < 0) return NULL;
    ss_plugin_table_t *t = fp_table_of(tb, id);
    if (!t) return NULL;
    uint64_t n = tb->reader->get_table_size(t);
    if (n == UINT64_MAX) return fp_table_error(tb, "get_table_size failed");
    return PyLong_FromUnsignedLongLong(n);
}

static PyObject *fp_tb_get_entry(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id;
    int key_type;
    PyObject *key;
    ss_plugin_state_data k;
    if (!PyArg_ParseTuple(args, "KiO", &id, &key_type, &key) || fp_need(tb, 0) < 0) return NULL;
    ss_plugin_table_t *t = fp_table_of(tb, id);
    if (!t || fp_to_state(key, key_type, &k) < 0) return NULL;
    ss_plugin_table_entry_t *e = tb->reader->get_table_entry(t, &k);
    if (!e) Py_RETURN_NONE; /* absent (the host gives no way to tell an error apart) */
    return fp_new_entry(tb, t, e, FP_ENTRY_OWNED);
}

/* A field of an entry, by handles, into *out (what read and the C field readers do). */
FP_HOT int fp_read_entry_data(fp_tables *tb, unsigned long long id, unsigned long long eid,
                              unsigned int fid, ss_plugin_state_data *out) {
    if (fp_need_read(tb) < 0) return -1;
    ss_plugin_table_t *t = fp_table_at(tb, id);
    fp_entry_ref *r = t ? fp_entry_of(tb, eid, t) : NULL;
    if (!r) return -1;
    if (fid >= tb->nfields) {
        PyErr_SetString(g_table_error, "unknown field handle");
        return -1;
    }
    memset(out, 0, sizeof *out);
    if (tb->reader->read_entry_field(t, r->e, tb->fieldv[fid], out) != SS_PLUGIN_SUCCESS) {
        fp_table_error(tb, "read_entry_field failed");
        return -1;
    }
    return 0;
}

static PyObject *fp_read_entry(fp_tables *tb, unsigned long long id, unsigned long long eid,
                               unsigned int fid, int kind) {
    ss_plugin_state_data out;
    return fp_read_entry_data(tb, id, eid, fid, &out) < 0 ? NULL : fp_from_state(tb, &out, kind);
}

static PyObject *fp_tb_read(PyObject *self, PyObject *args) {
    unsigned long long id, eid;
    unsigned int fid;
    int kind;
    if (!PyArg_ParseTuple(args, "KKIi", &id, &eid, &fid, &kind)) return NULL;
    return fp_read_entry((fp_tables *)self, id, eid, fid, kind);
}

#include "shim_tables_fast.c"

static PyObject *fp_tb_write(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id, eid;
    unsigned int fid;
    int kind;
    PyObject *value;
    ss_plugin_state_data in;
    if (!PyArg_ParseTuple(args, "KKIiO", &id, &eid, &fid, &kind, &value) || fp_need(tb, 1) < 0)
        return NULL;
    ss_plugin_table_t *t = fp_table_of(tb, id);
    fp_entry_ref *r = t ? fp_entry_of(tb, eid, t) : NULL;
    if (!r || fp_to_state(value, kind, &in) < 0) return NULL;
    if (fid >= tb->nfields) {
        PyErr_SetString(g_table_error, "unknown field handle");
        return NULL;
    }
    if (tb->writer->write_entry_field(t, r->e, tb->fieldv[fid], &in) != SS_PLUGIN_SUCCESS)
        return fp_table_error(tb, "write_entry_field failed");
    Py_RETURN_NONE;
}

static PyObject *fp_tb_release(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id, eid;
    if (!PyArg_ParseTuple(args, "KK", &id, &eid) || fp_need(tb, 0) < 0) return NULL;
    ss_plugin_table_t *t = fp_table_of(tb, id);
    fp_entry_ref *r = t ? fp_entry_of(tb, eid, t) : NULL;
    if (!r) return NULL;
    if (r->state == FP_ENTRY_OWNED) tb->reader->release_table_entry(t, r->e);
    if (r->state == FP_ENTRY_STAGED && tb->writer) tb->writer->destroy_table_entry(t, r->e);
    r->state = FP_ENTRY_FREE; /* borrowed entries only stop being usable */
    Py_RETURN_NONE;
}

typedef struct {
    fp_tables *tb;
    ss_plugin_table_t *t;
    PyObject *fn;
    uint32_t slot; /* one slot for every visited entry, under a new version each time */
    int failed;
} fp_iter_state;

static ss_plugin_bool fp_iter_one(ss_plugin_table_iterator_state_t *s, ss_plugin_table_entry_t *e) {
    fp_iter_state *it = s;
    PyObject *id = fp_fill_entry(it->tb, it->slot, it->t, e, FP_ENTRY_BORROWED);
    PyObject *res = id ? PyObject_CallOneArg(it->fn, id) : NULL;
    it->tb->entries[it->slot].state = FP_ENTRY_FREE; /* borrowed for the visit only */
    Py_XDECREF(id);
    if (!res) {
        it->failed = 1;
        return 0;
    }
    int go_on = PyObject_IsTrue(res);
    Py_DECREF(res);
    if (go_on < 0) it->failed = 1;
    return go_on > 0;
}

static PyObject *fp_tb_iterate(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id;
    PyObject *fn;
    if (!PyArg_ParseTuple(args, "KO", &id, &fn) || fp_need(tb, 0) < 0) return NULL;
    ss_plugin_table_t *t = fp_table_of(tb, id);
    fp_iter_state it = {tb, t, fn, 0, 0};
    if (!t || fp_take_entry_slot(tb, &it.slot) < 0) return NULL;
    tb->entries[it.slot].state = FP_ENTRY_FREE;
    ss_plugin_bool done = tb->reader->iterate_entries(t, fp_iter_one, &it);
    if (it.failed) return NULL; /* the callback's exception is pending */
    return PyBool_FromLong(done != 0);
}

static PyObject *fp_tb_create_entry(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id;
    if (!PyArg_ParseTuple(args, "K", &id) || fp_need(tb, 1) < 0) return NULL;
    ss_plugin_table_t *t = fp_table_of(tb, id);
    if (!t) return NULL;
    ss_plugin_table_entry_t *e = tb->writer->create_table_entry(t);
    if (!e) return fp_table_error(tb, "create_table_entry failed");
    return fp_new_entry(tb, t, e, FP_ENTRY_STAGED);
}

static PyObject *fp_tb_add_entry(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id, eid;
    int key_type;
    PyObject *key;
    ss_plugin_state_data k;
    if (!PyArg_ParseTuple(args, "KiOK", &id, &key_type, &key, &eid) || fp_need(tb, 1) < 0)
        return NULL;
    ss_plugin_table_t *t = fp_table_of(tb, id);
    fp_entry_ref *r = t ? fp_entry_of(tb, eid, t) : NULL;
    if (!r || fp_to_state(key, key_type, &k) < 0) return NULL;
    if (r->state != FP_ENTRY_STAGED) {
        PyErr_SetString(g_table_error, "only an entry made by create_entry can be added");
        return NULL;
    }
    r->state = FP_ENTRY_FREE; /* the table owns it now, whatever the outcome */
    ss_plugin_table_entry_t *e = tb->writer->add_table_entry(t, &k, r->e);
    if (!e) return fp_table_error(tb, "add_table_entry failed");
    return fp_new_entry(tb, t, e, FP_ENTRY_OWNED);
}

static PyObject *fp_tb_destroy_entry(PyObject *self, PyObject *args) {
    return fp_tb_release(self, args); /* a staged entry is destroyed by release */
}

static PyObject *fp_tb_erase(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id;
    int key_type;
    PyObject *key;
    ss_plugin_state_data k;
    if (!PyArg_ParseTuple(args, "KiO", &id, &key_type, &key) || fp_need(tb, 1) < 0) return NULL;
    ss_plugin_table_t *t = fp_table_of(tb, id);
    if (!t || fp_to_state(key, key_type, &k) < 0) return NULL;
    if (tb->writer->erase_table_entry(t, &k) != SS_PLUGIN_SUCCESS)
        return fp_table_error(tb, "erase_table_entry failed");
    Py_RETURN_NONE;
}

static PyObject *fp_tb_clear(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id;
    if (!PyArg_ParseTuple(args, "K", &id) || fp_need(tb, 1) < 0) return NULL;
    ss_plugin_table_t *t = fp_table_of(tb, id);
    if (!t) return NULL;
    if (tb->writer->clear_table(t) != SS_PLUGIN_SUCCESS) return fp_table_error(tb, "clear failed");
    Py_RETURN_NONE;
}


#include "shim_xtables.c"

/* For tests: _seed_generation(n) makes the handles given out next be those of a plugin
 * that already made n calls; _handles_in_call() counts the handles of this call. */
static PyObject *fp_tb_seed_generation(PyObject *self, PyObject *arg) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long n = PyLong_AsUnsignedLongLong(arg);
    if (n == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    tb->seed = n;
    for (uint32_t i = 0; i < tb->cap_entries; i++) tb->entries[i].version = (uint32_t)n;
    for (uint32_t i = 0; i < tb->cap_scoped; i++)
        tb->scoped[i].version = (uint32_t)(n % FP_SCOPED_VERSIONS);
    Py_RETURN_NONE;
}

static PyObject *fp_tb_handles_in_call(PyObject *self, PyObject *unused) {
    fp_tables *tb = (fp_tables *)self;
    return PyLong_FromUnsignedLong(tb->nentries + tb->nscoped);
}

static void fp_tb_dealloc(PyObject *self) {
    fp_tables *tb = (fp_tables *)self;
    PyTypeObject *tp = Py_TYPE(self);
    fp_xctx_retire(tb->x); /* kept: see fp_xctx_retire */
    Py_CLEAR(tb->last_handle);
    for (uint32_t i = 0; i < tb->cap_entries; i++) Py_CLEAR(tb->entries[i].handle);
    free(tb->tables);
    free(tb->scoped);
    free(tb->fieldv);
    free(tb->entries);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyMethodDef fp_tb_methods[] = {
    {"list_tables", fp_tb_list_tables, METH_NOARGS, NULL},
    {"get_table", fp_tb_get_table, METH_VARARGS, NULL},
    {"list_fields", fp_tb_list_fields, METH_VARARGS, NULL},
    {"get_field", fp_tb_get_field, METH_VARARGS, NULL},
    {"add_field", fp_tb_add_field, METH_VARARGS, NULL},
    {"table_size", fp_tb_table_size, METH_VARARGS, NULL},
    {"get_entry", fp_tb_get_entry, METH_VARARGS, NULL},
    {"read", fp_tb_read, METH_VARARGS, NULL},
    {"write", fp_tb_write, METH_VARARGS, NULL},
    {"release", fp_tb_release, METH_VARARGS, NULL},
    {"iterate", fp_tb_iterate, METH_VARARGS, NULL},
    {"create_entry", fp_tb_create_entry, METH_VARARGS, NULL},
    {"add_entry", fp_tb_add_entry, METH_VARARGS, NULL},
    {"destroy_entry", fp_tb_destroy_entry, METH_VARARGS, NULL},
    {"erase", fp_tb_erase, METH_VARARGS, NULL},
    {"clear", fp_tb_clear, METH_VARARGS, NULL},
    {"add_table", fp_tb_add_table, METH_VARARGS, NULL},
    {"entry_getter", fp_tb_entry_getter, METH_VARARGS, NULL},
    {"field_reader", fp_tb_field_reader, METH_VARARGS, NULL},
    {"fast_reads", fp_tb_fast_reads, METH_O, NULL},
    {"_fast_fields", fp_tb_fast_fields, METH_O, NULL},
    {"_seed_generation", fp_tb_seed_generation, METH_O, NULL},
    {"_handles_in_call", fp_tb_handles_in_call, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot fp_tb_slots[] = {
    {Py_tp_methods, fp_tb_methods},
    {Py_tp_dealloc, (void *)fp_tb_dealloc},
    {Py_tp_doc, "The host's tables API for one plugin state, with handles instead of pointers."},
    {0, NULL},
};

static PyType_Spec fp_tb_spec = {
    "falco_plugin.TablesBackend", sizeof(fp_tables), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, fp_tb_slots,
};

static PyTypeObject *g_tables_type;

/* With the GIL held, in init: the backend object for the host's tables input, or None. A
 * plugin that takes no `tables` never reads the input (its *_ext members came in API 3.5:
 * reading them on an older host would read past its struct). */
static PyObject *fp_tables_new(const ss_plugin_init_input *in) {
    if (!FP_WANTS_TABLES || !in || !in->tables) Py_RETURN_NONE;
    const ss_plugin_init_tables_input *ti = in->tables;
    if (!ti->get_table || !ti->fields_ext || !ti->reader_ext || !ti->writer_ext) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the host's tables input lacks the 3.x vtables this SDK needs");
        return NULL;
    }
    if (!g_tables_type) g_tables_type = (PyTypeObject *)PyType_FromSpec(&fp_tb_spec);
    if (!g_tables_type) return NULL;
    if (!g_sdk.table_error) g_sdk.table_error = fp_sdk_attr("tables", "TableError");
    if (!g_sdk.table_error) return NULL;
    fp_tables *tb = PyObject_New(fp_tables, g_tables_type);
    if (!tb) return NULL;
    memset((char *)tb + sizeof(PyObject), 0, sizeof *tb - sizeof(PyObject));
    tb->x = calloc(1, sizeof *tb->x);
    if (!tb->x) {
        Py_DECREF(tb);
        return PyErr_NoMemory();
    }
    tb->owner = in->owner;
    tb->owner_error = in->get_owner_last_error;
    tb->list_tables = ti->list_tables;
    tb->get_table = ti->get_table;
    tb->add_table = ti->add_table;
    tb->fields = ti->fields_ext;
    tb->init_reader = tb->reader = ti->reader_ext;
    tb->init_writer = tb->writer = ti->writer_ext;
    tb->scope = FP_SCOPE_INIT;
    return (PyObject *)tb;
}
