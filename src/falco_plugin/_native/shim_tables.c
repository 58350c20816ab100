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
 * names a slot whose version moved on and is refused, after any number of calls. A
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
} fp_entry_ref;

typedef struct {
    ss_plugin_table_t *t;
    uint32_t version;
} fp_scoped_ref;

/* The next version of a slot (0 is never given out). */
static uint32_t fp_bump(uint32_t version, uint32_t max) { return version >= max ? 1 : version + 1; }

struct fp_xtable;

typedef struct fp_tables {
    PyObject_HEAD
    fp_state *st; /* for error reports from exported tables */
    struct fp_xtable *exported;
    struct fp_xfield **xpool; /* field handles of exported tables, by (table, field) name */
    uint32_t nxpool, cap_xpool;
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

static int fp_need(fp_tables *tb, int write) {
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

static fp_entry_ref *fp_entry_of(fp_tables *tb, unsigned long long id, ss_plugin_table_t *t) {
    uint32_t version = (uint32_t)(id >> 32), idx = (uint32_t)(id & FP_SLOT_MASK);
    fp_entry_ref *r = idx < tb->nentries ? &tb->entries[idx] : NULL;
    if (!r || r->version != version || r->state == FP_ENTRY_FREE || tb->scope == FP_SCOPE_NONE) {
        PyErr_SetString(g_table_error,
                        "this table entry is no longer valid (released, or from an earlier "
                        "call): get it again");
        return NULL;
    }
    if (r->t != t) {
        PyErr_SetString(g_table_error, "this entry belongs to another table");
        return NULL;
    }
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

/* Put an entry in a slot (under a new version) and return its handle. */
static PyObject *fp_fill_entry(fp_tables *tb, uint32_t idx, ss_plugin_table_t *t,
                               ss_plugin_table_entry_t *e, int state) {
    fp_entry_ref *r = &tb->entries[idx];
    r->t = t;
    r->e = e;
    r->state = state;
    r->version = fp_bump(r->version, FP_ENTRY_VERSIONS);
    return PyLong_FromUnsignedLongLong((uint64_t)r->version << 32 | idx);
}

static PyObject *fp_new_entry(fp_tables *tb, ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                              int state) {
    uint32_t idx;
    return fp_take_entry_slot(tb, &idx) < 0 ? NULL : fp_fill_entry(tb, idx, t, e, state);
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
    for (uint32_t i = 0; i < tb->nentries; i++) {
        fp_entry_ref *r = &tb->entries[i];
        if (r->state == FP_ENTRY_OWNED && tb->reader && tb->reader->release_table_entry)
            tb->reader->release_table_entry(r->t, r->e);
        else if (r->state == FP_ENTRY_STAGED && tb->writer && tb->writer->destroy_table_entry)
            tb->writer->destroy_table_entry(r->t, r->e);
        r->state = FP_ENTRY_FREE;
    }
    tb->nentries = 0; /* the slots are reused, under new versions */
    tb->nscoped = 0;
    tb->scope = FP_SCOPE_NONE;
    tb->reader = tb->init_reader;
    tb->writer = tb->init_writer;
}

static void fp_tables_bind(fp_tables *tb, fp_state *st) { tb->st = st; }

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
    case SS_PLUGIN_ST_UINT64: out->u64 = PyLong_AsUnsignedLongLong(v); break;
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

static PyObject *fp_tb_list_tables(PyObject *self, PyObject *unused) {
    fp_tables *tb = (fp_tables *)self;
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
        snprintf(what, sizeof what, "no table %s with key type %d", name, key_type);
        return fp_table_error(tb, what);
    }
    if (fp_push_ptr((void ***)&tb->tables, &tb->ntables, &tb->cap_tables, t) < 0) return NULL;
    return PyLong_FromUnsignedLong(tb->ntables - 1);
}

static PyObject *fp_tb_list_fields(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id;
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
        snprintf(what, sizeof what, "cannot %s field %s of type %d", add ? "add" : "find", name,
                 kind);
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

static PyObject *fp_tb_read(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    unsigned long long id, eid;
    unsigned int fid;
    int kind;
    if (!PyArg_ParseTuple(args, "KKIi", &id, &eid, &fid, &kind) || fp_need(tb, 0) < 0)
        return NULL;
    ss_plugin_table_t *t = fp_table_of(tb, id);
    fp_entry_ref *r = t ? fp_entry_of(tb, eid, t) : NULL;
    if (!r) return NULL;
    if (fid >= tb->nfields) {
        PyErr_SetString(g_table_error, "unknown field handle");
        return NULL;
    }
    ss_plugin_state_data out;
    memset(&out, 0, sizeof out);
    if (tb->reader->read_entry_field(t, r->e, tb->fieldv[fid], &out) != SS_PLUGIN_SUCCESS)
        return fp_table_error(tb, "read_entry_field failed");
    return fp_from_state(tb, &out, kind);
}

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


/* ------------------------------------------------------------------ exported tables */

/* A field of an exported table as other plugins see it: a stable pointer is the handle.
 * Handles are shared by every instance of a nested table (looked up on one instance at
 * init, used on all), so they live in the plugin state's pool, keyed by table name. */
typedef struct fp_xfield {
    char *table;
    char *name;
    ss_plugin_state_type kind;
} fp_xfield;

typedef struct fp_xtable {
    ss_plugin_table_input input; /* first: a pointer to the table is a pointer to its input */
    ss_plugin_table_reader_vtable_ext reader;
    ss_plugin_table_writer_vtable_ext writer;
    ss_plugin_table_fields_vtable_ext fields;
    PyObject *py; /* the plugin's ExportedTable (borrowed for nested tables: it owns us) */
    fp_state *st;
    fp_tables *tb;
    int nested;
    char *name;
    ss_plugin_table_fieldinfo *info;
    char *str; /* the last string read: valid until the next read, as the API allows */
    struct fp_xtable *next;
} fp_xtable;

/* An entry handed to the host: the Python entry, and whether it is only staged (created,
 * not yet added). Freed by release / destroy / add. */
typedef struct {
    PyObject *entry;
    int staged;
} fp_xentry;

static void fp_x_failed(fp_xtable *xt, const char *what) {
    char where[300];
    snprintf(where, sizeof where, "table %s: %s", xt->name, what);
    fp_error_from_python(xt->st, where);
}

static const char *fp_x_name(ss_plugin_table_t *t) { return ((fp_xtable *)t)->name; }

static uint64_t fp_x_size(ss_plugin_table_t *t) {
    fp_xtable *xt = t;
    PyGILState_STATE g = fp_enter();
    Py_ssize_t n = PyObject_Length(xt->py);
    if (n < 0) fp_x_failed(xt, "size");
    fp_leave(g);
    return n < 0 ? UINT64_MAX : (uint64_t)n;
}

static fp_xentry *fp_x_box(PyObject *entry, int staged) {
    fp_xentry *box = malloc(sizeof *box);
    if (!box) {
        Py_DECREF(entry);
        PyErr_NoMemory();
        return NULL;
    }
    box->entry = entry; /* the reference passes to the box */
    box->staged = staged;
    return box;
}

static PyObject *fp_x_key(fp_xtable *xt, const ss_plugin_state_data *key) {
    if (!key) {
        PyErr_SetString(PyExc_ValueError, "no key");
        return NULL;
    }
    return fp_from_state(NULL, key, xt->input.key_type);
}

static ss_plugin_table_entry_t *fp_x_get_entry(ss_plugin_table_t *t,
                                               const ss_plugin_state_data *key) {
    fp_xtable *xt = t;
    fp_xentry *box = NULL;
    PyGILState_STATE g = fp_enter();
    PyObject *k = fp_x_key(xt, key);
    PyObject *entry = k ? PyObject_CallMethod(xt->py, "get", "O", k) : NULL;
    if (entry == Py_None)
        Py_CLEAR(entry); /* absent */
    else if (entry)
        box = fp_x_box(entry, 0);
    if (PyErr_Occurred()) fp_x_failed(xt, "get_table_entry");
    Py_XDECREF(k);
    fp_leave(g);
    return box;
}

static void fp_x_release(ss_plugin_table_t *t, ss_plugin_table_entry_t *e) {
    fp_xentry *box = e;
    if (!box) return;
    PyGILState_STATE g = fp_enter();
    Py_XDECREF(box->entry);
    fp_leave(g);
    free(box);
}

static ss_plugin_table_t *fp_x_nested(fp_xtable *parent, PyObject *table);

static int fp_x_state(fp_xtable *xt, PyObject *v, int kind, ss_plugin_state_data *out) {
    if (kind == SS_PLUGIN_ST_TABLE) {
        memset(out, 0, sizeof *out);
        out->table = fp_x_nested(xt, v);
        return out->table ? 0 : -1;
    }
    if (kind != SS_PLUGIN_ST_STRING) return fp_to_state(v, kind, out);
    Py_ssize_t n;
    const char *s = PyUnicode_Check(v) ? PyUnicode_AsUTF8AndSize(v, &n) : NULL;
    if (!s) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "expected a str");
        return -1;
    }
    char *copy = malloc((size_t)n + 1);
    if (!copy) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(copy, s, (size_t)n + 1);
    free(xt->str);
    xt->str = copy;
    memset(out, 0, sizeof *out);
    out->str = copy;
    return 0;
}

static ss_plugin_rc fp_x_read(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                              const ss_plugin_table_field_t *f, ss_plugin_state_data *out) {
    fp_xtable *xt = t;
    const fp_xfield *xf = f;
    fp_xentry *box = e;
    if (!box || !xf || !out) return SS_PLUGIN_FAILURE;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    PyGILState_STATE g = fp_enter();
    PyObject *v = PyObject_CallMethod(xt->py, "api_read", "Os", box->entry, xf->name);
    if (v && fp_x_state(xt, v, xf->kind, out) == 0) rc = SS_PLUGIN_SUCCESS;
    if (PyErr_Occurred()) fp_x_failed(xt, "read_entry_field");
    Py_XDECREF(v);
    fp_leave(g);
    return rc;
}

static ss_plugin_bool fp_x_iterate(ss_plugin_table_t *t, ss_plugin_table_iterator_func_t it,
                                   ss_plugin_table_iterator_state_t *s) {
    fp_xtable *xt = t;
    ss_plugin_bool done = 1;
    PyGILState_STATE g = fp_enter();
    PyObject *entries = PyObject_CallMethod(xt->py, "api_entries", NULL);
    if (!entries) {
        fp_x_failed(xt, "iterate_entries");
        done = 0;
    }
    for (Py_ssize_t i = 0; entries && i < PyList_GET_SIZE(entries); i++) {
        fp_xentry box = {PyList_GET_ITEM(entries, i), 0}; /* borrowed for the callback */
        if (!it(s, &box)) {
            done = 0;
            break;
        }
    }
    Py_XDECREF(entries);
    fp_leave(g);
    return done;
}

static ss_plugin_rc fp_x_call(fp_xtable *xt, const char *what, PyObject *res) {
    if (!res) {
        fp_x_failed(xt, what);
        return SS_PLUGIN_FAILURE;
    }
    Py_DECREF(res);
    return SS_PLUGIN_SUCCESS;
}

static ss_plugin_rc fp_x_clear(ss_plugin_table_t *t) {
    fp_xtable *xt = t;
    PyGILState_STATE g = fp_enter();
    ss_plugin_rc rc = fp_x_call(xt, "clear_table", PyObject_CallMethod(xt->py, "clear", NULL));
    fp_leave(g);
    return rc;
}

static ss_plugin_rc fp_x_erase(ss_plugin_table_t *t, const ss_plugin_state_data *key) {
    fp_xtable *xt = t;
    PyGILState_STATE g = fp_enter();
    PyObject *k = fp_x_key(xt, key);
    ss_plugin_rc rc = fp_x_call(
        xt, "erase_table_entry", k ? PyObject_CallMethod(xt->py, "api_erase", "O", k) : NULL);
    Py_XDECREF(k);
    fp_leave(g);
    return rc;
}

static ss_plugin_table_entry_t *fp_x_create(ss_plugin_table_t *t) {
    fp_xtable *xt = t;
    PyGILState_STATE g = fp_enter();
    PyObject *entry = PyObject_CallMethod(xt->py, "api_create", NULL);
    fp_xentry *box = entry ? fp_x_box(entry, 1) : NULL;
    if (!box) fp_x_failed(xt, "create_table_entry");
    fp_leave(g);
    return box;
}

static void fp_x_destroy(ss_plugin_table_t *t, ss_plugin_table_entry_t *e) { fp_x_release(t, e); }

static ss_plugin_table_entry_t *fp_x_add(ss_plugin_table_t *t, const ss_plugin_state_data *key,
                                         ss_plugin_table_entry_t *e) {
    fp_xtable *xt = t;
    fp_xentry *staged = e, *box = NULL;
    if (!staged) return NULL;
    PyGILState_STATE g = fp_enter();
    PyObject *k = fp_x_key(xt, key);
    PyObject *entry = k ? PyObject_CallMethod(xt->py, "api_add", "OO", k, staged->entry) : NULL;
    if (entry) box = fp_x_box(entry, 0);
    if (!box) fp_x_failed(xt, "add_table_entry");
    Py_XDECREF(k);
    Py_CLEAR(staged->entry); /* the table owns the staged entry now */
    fp_leave(g);
    free(staged);
    return box;
}

static ss_plugin_rc fp_x_write(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                               const ss_plugin_table_field_t *f, const ss_plugin_state_data *in) {
    fp_xtable *xt = t;
    const fp_xfield *xf = f;
    fp_xentry *box = e;
    if (!box || !xf || !in) return SS_PLUGIN_FAILURE;
    PyGILState_STATE g = fp_enter();
    PyObject *v = xf->kind == SS_PLUGIN_ST_STRING ? fp_str(in->str) : fp_from_state(NULL, in, xf->kind);
    ss_plugin_rc rc = fp_x_call(
        xt, "write_entry_field",
        v ? PyObject_CallMethod(xt->py, "api_write", "OsO", box->entry, xf->name, v) : NULL);
    Py_XDECREF(v);
    fp_leave(g);
    return rc;
}

/* The field handle for a (table, field) name, made on first use; it outlives every call. */
static fp_xfield *fp_x_handle(fp_xtable *xt, const char *name, ss_plugin_state_type kind) {
    fp_tables *tb = xt->tb;
    for (uint32_t k = 0; k < tb->nxpool; k++)
        if (strcmp(tb->xpool[k]->name, name) == 0 && strcmp(tb->xpool[k]->table, xt->name) == 0)
            return tb->xpool[k];
    fp_xfield *xf = calloc(1, sizeof *xf);
    char *copy = xf ? strdup(name) : NULL;
    char *table = copy ? strdup(xt->name) : NULL;
    if (!table || fp_push_ptr((void ***)&tb->xpool, &tb->nxpool, &tb->cap_xpool, xf) < 0) {
        free(xf);
        free(copy);
        free(table);
        if (!PyErr_Occurred()) PyErr_NoMemory();
        return NULL;
    }
    xf->name = copy;
    xf->table = table;
    xf->kind = kind;
    return xf;
}

static const ss_plugin_table_fieldinfo *fp_x_list_fields(ss_plugin_table_t *t, uint32_t *n) {
    fp_xtable *xt = t;
    ss_plugin_table_fieldinfo *info = NULL;
    Py_ssize_t count = -1;
    PyGILState_STATE g = fp_enter();
    PyObject *list = PyObject_CallMethod(xt->py, "visible_fields", NULL);
    if (list) count = PyList_Size(list);
    if (count >= 0) info = calloc((size_t)count + 1, sizeof *info);
    for (Py_ssize_t i = 0; info && i < count; i++) {
        const char *name;
        int kind, ro;
        fp_xfield *xf = NULL;
        if (PyArg_ParseTuple(PyList_GET_ITEM(list, i), "sip", &name, &kind, &ro))
            xf = fp_x_handle(xt, name, (ss_plugin_state_type)kind);
        if (!xf) {
            free(info);
            info = NULL;
            break;
        }
        info[i] = (ss_plugin_table_fieldinfo){xf->name, (ss_plugin_state_type)kind,
                                              (ss_plugin_bool)ro};
    }
    if (PyErr_Occurred()) fp_x_failed(xt, "list_table_fields");
    Py_XDECREF(list);
    fp_leave(g);
    if (!info) {
        if (n) *n = 0;
        return NULL;
    }
    free(xt->info); /* the previous list: the API keeps only the latest valid */
    xt->info = info;
    if (n) *n = (uint32_t)count;
    return info;
}

static ss_plugin_table_field_t *fp_x_field(ss_plugin_table_t *t, const char *name,
                                           ss_plugin_state_type kind, int add) {
    fp_xtable *xt = t;
    fp_xfield *found = NULL;
    if (!name) return NULL;
    PyGILState_STATE g = fp_enter();
    PyObject *ok = PyObject_CallMethod(xt->py, "api_field", "sii", name, (int)kind, add);
    if (ok && PyObject_IsTrue(ok) == 1) {
        found = fp_x_handle(xt, name, kind);
        if (found && found->kind != kind) found = NULL;
    }
    if (PyErr_Occurred()) fp_x_failed(xt, add ? "add_table_field" : "get_table_field");
    Py_XDECREF(ok);
    fp_leave(g);
    return found;
}

static ss_plugin_table_field_t *fp_x_get_field(ss_plugin_table_t *t, const char *name,
                                               ss_plugin_state_type kind) {
    return fp_x_field(t, name, kind, 0);
}

static ss_plugin_table_field_t *fp_x_add_field(ss_plugin_table_t *t, const char *name,
                                               ss_plugin_state_type kind) {
    return fp_x_field(t, name, kind, 1);
}

static void fp_xtable_free(fp_xtable *xt) {
    free(xt->info);
    free(xt->str);
    free(xt->name);
    if (!xt->nested) Py_XDECREF(xt->py);
    free(xt);
}

static void fp_xtables_free(fp_xtable *xt) {
    while (xt) {
        fp_xtable *next = xt->next;
        fp_xtable_free(xt);
        xt = next;
    }
}

/* A table this plugin owns, as the API sees it: its input, vtables and Python object. */
static fp_xtable *fp_xtable_new(fp_tables *tb, PyObject *py, const char *name, int key_type,
                                int nested) {
    fp_xtable *xt = calloc(1, sizeof *xt);
    char *copy = xt ? strdup(name) : NULL;
    if (!copy) {
        free(xt);
        PyErr_NoMemory();
        return NULL;
    }
    xt->name = copy;
    xt->st = tb->st;
    xt->tb = tb;
    xt->nested = nested;
    xt->py = nested ? py : Py_NewRef(py);
    xt->reader = (ss_plugin_table_reader_vtable_ext){fp_x_name,    fp_x_size,    fp_x_get_entry,
                                                      fp_x_read,    fp_x_release, fp_x_iterate};
    xt->writer = (ss_plugin_table_writer_vtable_ext){fp_x_clear,  fp_x_erase, fp_x_create,
                                                      fp_x_destroy, fp_x_add,   fp_x_write};
    xt->fields = (ss_plugin_table_fields_vtable_ext){fp_x_list_fields, fp_x_get_field,
                                                      fp_x_add_field};
    xt->input.name = xt->name;
    xt->input.key_type = (ss_plugin_state_type)key_type;
    xt->input.table = xt;
    memcpy(&xt->input.reader, &xt->reader, sizeof xt->input.reader); /* same leading members */
    memcpy(&xt->input.writer, &xt->writer, sizeof xt->input.writer);
    memcpy(&xt->input.fields, &xt->fields, sizeof xt->input.fields);
    xt->input.reader_ext = &xt->reader;
    xt->input.writer_ext = &xt->writer;
    xt->input.fields_ext = &xt->fields;
    return xt;
}

static void fp_xtable_capsule_free(PyObject *capsule) {
    fp_xtable_free(PyCapsule_GetPointer(capsule, "falco_plugin.xtable"));
}

/* The handle of an entry's nested table: made on first use and freed with the Python
 * table object (which holds it), so it is valid for as long as the entry exists. */
static ss_plugin_table_t *fp_x_nested(fp_xtable *parent, PyObject *table) {
    PyObject *capsule = PyObject_GetAttrString(table, "_fp_xtable");
    if (!capsule) {
        PyErr_Clear();
        PyObject *name = PyObject_GetAttrString(table, "name");
        PyObject *key = name ? PyObject_GetAttrString(table, "key_type") : NULL;
        const char *cname = name ? PyUnicode_AsUTF8(name) : NULL;
        long key_type = key ? PyLong_AsLong(key) : -1;
        fp_xtable *xt = cname && key_type >= 0
                            ? fp_xtable_new(parent->tb, table, cname, (int)key_type, 1)
                            : NULL;
        Py_XDECREF(name);
        Py_XDECREF(key);
        if (!xt) return NULL;
        capsule = PyCapsule_New(xt, "falco_plugin.xtable", fp_xtable_capsule_free);
        if (!capsule) {
            fp_xtable_free(xt);
            return NULL;
        }
        if (PyObject_SetAttrString(table, "_fp_xtable", capsule) < 0) {
            Py_DECREF(capsule);
            return NULL;
        }
    }
    fp_xtable *xt = PyCapsule_GetPointer(capsule, "falco_plugin.xtable");
    Py_DECREF(capsule); /* the table object keeps it */
    return xt ? &xt->input : NULL;
}

/* add_table(py_table): register a table owned by this plugin with the host (init only). */
static PyObject *fp_tb_add_table(PyObject *self, PyObject *args) {
    fp_tables *tb = (fp_tables *)self;
    PyObject *py;
    const char *name;
    int key_type;
    if (!PyArg_ParseTuple(args, "Osi", &py, &name, &key_type)) return NULL;
    if (tb->scope != FP_SCOPE_INIT || !tb->add_table) {
        PyErr_SetString(g_table_error, "tables are exported in __init__ only");
        return NULL;
    }
    fp_xtable *xt = fp_xtable_new(tb, py, name, key_type, 0);
    if (!xt) return NULL;
    xt->next = tb->exported;
    tb->exported = xt; /* kept until the plugin is destroyed, even if the host refuses it */
    if (tb->add_table(tb->owner, &xt->input) != SS_PLUGIN_SUCCESS) {
        char what[320];
        snprintf(what, sizeof what, "the host refused table %s", name);
        return fp_table_error(tb, what);
    }
    Py_RETURN_NONE;
}

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
    fp_xtables_free(tb->exported);
    for (uint32_t k = 0; k < tb->nxpool; k++) {
        free(tb->xpool[k]->name);
        free(tb->xpool[k]->table);
        free(tb->xpool[k]);
    }
    free(tb->xpool);
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
