/*
 * The C fast path of imported tables, included by shim_tables.c: what a field
 * does on every event (a lookup by key, a field read) without a Python frame.
 *
 * tables.TablesInit.import_table asks the backend (when it offers them) for
 * - an entry getter: ImportedTable.get(key) in C, the `get` of a subclass of ImportedTable
 *   made for the table. It is a method descriptor (called as get(table, key)), so that
 *   CPython looks `table.get` up in a few instructions and calls it without a bound
 *   method. It takes the key types it can check itself (ints of the key's width, strings
 *   without NUL) and hands anything else (and another table) to the Python
 *   ImportedTable.get, which raises the same errors as before; a found entry is made as an
 *   instance of the table's entry class with its slots (_table, _handle, key) filled
 *   directly, as ImportedTable.get did;
 * - field readers: descriptors, on a subclass of the entry class made for that table, that
 *   read a field of the entry's handle. Writes, deletes and class access go to the Python
 *   Field they stand for.
 * Both check handles, scopes and tables exactly like the backend's read and get_entry.
 */

/* A key the host can take as it is (an int of the key's width, a str without NUL), in
 * *out; 0 when Python must check it (and raise the right error). */
static int fp_key_direct(PyObject *key, int key_type, ss_plugin_state_data *out) {
    memset(out, 0, sizeof *out);
    if (key_type == SS_PLUGIN_ST_STRING) {
        Py_ssize_t n;
        const char *s = PyUnicode_CheckExact(key) ? PyUnicode_AsUTF8AndSize(key, &n) : NULL;
        if (!s || strlen(s) != (size_t)n) {
            PyErr_Clear();
            return 0;
        }
        out->str = s; /* lives as long as the key: the caller holds it */
        return 1;
    }
    if (!PyLong_CheckExact(key)) return 0;
    long long v;
    if (!fp_small_int(key, &v)) {
        int overflow = 0;
        v = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0; /* beyond int64: Python checks it (a uint64 key goes on from there) */
        }
    }
    switch (key_type) {
    case SS_PLUGIN_ST_INT8: out->s8 = (int8_t)v; return v == out->s8;
    case SS_PLUGIN_ST_INT16: out->s16 = (int16_t)v; return v == out->s16;
    case SS_PLUGIN_ST_INT32: out->s32 = (int32_t)v; return v == out->s32;
    case SS_PLUGIN_ST_INT64: out->s64 = v; return 1;
    case SS_PLUGIN_ST_UINT8: out->u8 = (uint8_t)v; return v >= 0 && v == out->u8;
    case SS_PLUGIN_ST_UINT16: out->u16 = (uint16_t)v; return v >= 0 && v == out->u16;
    case SS_PLUGIN_ST_UINT32: out->u32 = (uint32_t)v; return v >= 0 && v == out->u32;
    case SS_PLUGIN_ST_UINT64: out->u64 = (uint64_t)v; return v >= 0;
    }
    return 0;
}

/* ------------------------------------------------------------------ the entry getter */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    fp_tables *tb;
    unsigned long long table_id;
    int key_type;
    PyTypeObject *cls; /* the entry class it makes */
    PyObject *table;   /* the ImportedTable, what entries point back to */
    PyObject *slow;    /* ImportedTable.get (unbound), for keys Python must check */
    PyObject *spare;   /* the last entry made, given again when nothing else holds it */
    Py_ssize_t off_table, off_handle, off_key;
    int reusable; /* cls's entries hold nothing but the three slots the getter fills */
} fp_getter;

/* The last entry made, when it may be filled again: only this getter holds it (the plugin
 * dropped it), and nothing could tell it from a new one. That needs an entry class whose
 * objects are only the three slots filled here (no slot of the plugin's own, __dict__ or
 * weak reference: those would show the dropped entry's state, or bring it back through a
 * weak reference), with no finalizer (which runs when an entry is dropped), and an entry
 * still of that class (the plugin may have given it another). NULL otherwise. */
static inline PyObject *fp_getter_spare(fp_getter *g) {
    PyObject *entry = g->spare;
    if (!entry || Py_REFCNT(entry) != 1 || !Py_IS_TYPE(entry, g->cls) || g->cls->tp_finalize)
        return NULL;
    return entry;
}

/* An entry object to fill: the last one made when it may be filled again (reused, nothing
 * allocated), else a new one (an entry the plugin kept stays as it was). No __init__
 * call: as ImportedTable.get. Returns a new reference. */
static PyObject *fp_getter_entry(fp_getter *g) {
    PyObject *entry = fp_getter_spare(g);
    if (entry) return Py_NewRef(entry);
    entry = g->cls->tp_alloc(g->cls, 0);
    if (entry && g->reusable && !g->cls->tp_finalize) Py_XSETREF(g->spare, Py_NewRef(entry));
    return entry;
}

/* The usual call, in fewer steps: the plugin dropped the entry it got last (only the
 * getter holds it), and that entry still holds the handle the next slot gave out last,
 * held by nothing else but the slot and last_handle. The general path below would take
 * the handle from the entry, find it free to give again (fp_fill_entry) and put it back:
 * here it stays where it is and only the slot and the key change. NULL: not that case. */
FP_HOT PyObject *fp_getter_refill(fp_getter *g, fp_tables *tb, ss_plugin_table_t *t,
                                  ss_plugin_table_entry_t *e, PyObject *key) {
    PyObject *entry = fp_getter_spare(g);
    if (!entry) return NULL;
    PyObject *h = FP_SLOT(entry, g->off_handle);
    uint32_t idx = tb->nentries;
    if (!h || h != tb->last_handle || Py_REFCNT(h) != 3 || idx >= tb->cap_entries ||
        FP_SLOT(entry, g->off_table) != g->table)
        return NULL;
    fp_entry_ref *r = &tb->entries[idx];
    if (r->handle != h || r->handle_version != r->version || !r->version) return NULL;
    r->t = t;
    r->e = e;
    r->state = FP_ENTRY_OWNED;
    tb->nentries = idx + 1;
    tb->last_eid = (unsigned long long)r->version << 32 | idx;
    fp_slot_set(entry, g->off_key, Py_NewRef(key));
    return Py_NewRef(entry);
}

static PyObject *fp_getter_call(PyObject *self, PyObject *const *args, size_t nargsf,
                                PyObject *kwnames) {
    fp_getter *g = (fp_getter *)self;
    ss_plugin_state_data k;
    if (PyVectorcall_NARGS(nargsf) != 2 || kwnames || args[0] != g->table ||
        !fp_key_direct(args[1], g->key_type, &k))
        return PyObject_Vectorcall(g->slow, args, nargsf, kwnames);
    fp_tables *tb = g->tb;
    if (fp_need_read(tb) < 0) return NULL;
    ss_plugin_table_t *t = fp_table_at(tb, g->table_id);
    if (!t) return NULL;
    ss_plugin_table_entry_t *e = tb->reader->get_table_entry(t, &k);
    if (!e) Py_RETURN_NONE; /* absent (the host gives no way to tell an error apart) */
    PyObject *again = fp_getter_refill(g, tb, t, e, args[1]);
    if (again) return again;
    /* the entry about to be refilled lets its old handle go first: then only the SDK holds
     * that one, and fp_new_entry can give it again */
    PyObject *spare = fp_getter_spare(g);
    if (spare && FP_SLOT(spare, g->off_handle)) fp_slot_set(spare, g->off_handle, NULL);
    PyObject *handle = fp_new_entry(tb, t, e, FP_ENTRY_OWNED);
    if (!handle) return NULL;
    uint32_t idx = tb->nentries - 1;
    Py_XSETREF(tb->last_handle, Py_NewRef(handle));
    tb->last_eid = (unsigned long long)tb->entries[idx].version << 32 | idx;
    PyObject *entry = fp_getter_entry(g);
    if (!entry) {
        Py_DECREF(handle); /* the entry stays in the call's slots: released at its end */
        return NULL;
    }
    if (FP_SLOT(entry, g->off_table) != g->table)
        fp_slot_set(entry, g->off_table, Py_NewRef(g->table));
    fp_slot_set(entry, g->off_handle, handle);
    fp_slot_set(entry, g->off_key, Py_NewRef(args[1]));
    return entry;
}

/* table.get as a value: a bound method (the class's get, unbound: the getter itself). */
static PyObject *fp_getter_descr_get(PyObject *self, PyObject *obj, PyObject *type) {
    if (!obj || obj == Py_None) return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static int fp_getter_traverse(PyObject *self, visitproc visit, void *arg) {
    fp_getter *g = (fp_getter *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(g->table);
    Py_VISIT(g->slow);
    Py_VISIT(g->cls);
    Py_VISIT(g->spare);
    return 0;
}

static int fp_getter_clear(PyObject *self) {
    fp_getter *g = (fp_getter *)self;
    Py_CLEAR(g->table);
    Py_CLEAR(g->slow);
    Py_CLEAR(g->cls);
    Py_CLEAR(g->spare);
    return 0;
}

static void fp_getter_dealloc(PyObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    fp_getter_clear(self);
    Py_CLEAR(((fp_getter *)self)->tb);
    PyObject_GC_Del(self);
    Py_DECREF(tp);
}

static PyMemberDef fp_getter_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(fp_getter, vectorcall), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot fp_getter_slots[] = {
    {Py_tp_call, (void *)PyVectorcall_Call},
    {Py_tp_descr_get, (void *)fp_getter_descr_get},
    {Py_tp_members, fp_getter_members},
    {Py_tp_traverse, (void *)fp_getter_traverse},
    {Py_tp_clear, (void *)fp_getter_clear},
    {Py_tp_dealloc, (void *)fp_getter_dealloc},
    {Py_tp_doc, "get(table, key): the entry at key, or None (an imported table's lookup, in "
                "C; a method of the table's class)."},
    {0, NULL},
};

static PyType_Spec fp_getter_spec = {
    "falco_plugin.EntryGetter", sizeof(fp_getter), 0,
    /* immutable: CPython's specializer takes no method from a type that could change */
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
        Py_TPFLAGS_METHOD_DESCRIPTOR | Py_TPFLAGS_IMMUTABLETYPE |
        Py_TPFLAGS_DISALLOW_INSTANTIATION,
    fp_getter_slots,
};

static PyTypeObject *g_getter_type, *g_reader_type;

/* entry_getter(table_id, key_type, entry_class, table, slow_get) */
static PyObject *fp_tb_entry_getter(PyObject *self, PyObject *args) {
    unsigned long long id;
    int key_type;
    PyObject *cls, *table, *slow;
    if (!PyArg_ParseTuple(args, "KiO!OO", &id, &key_type, &PyType_Type, &cls, &table, &slow))
        return NULL;
    if (!fp_table_of((fp_tables *)self, id)) return NULL;
    if (!g_getter_type && !(g_getter_type = (PyTypeObject *)PyType_FromSpec(&fp_getter_spec)))
        return NULL;
    PyTypeObject *tp = (PyTypeObject *)cls;
    Py_ssize_t off_table = fp_slot_offset(tp, "_table");
    Py_ssize_t off_handle = off_table < 0 ? -1 : fp_slot_offset(tp, "_handle");
    Py_ssize_t off_key = off_handle < 0 ? -1 : fp_slot_offset(tp, "key");
    if (off_key < 0) return NULL;
    fp_getter *g = PyObject_GC_New(fp_getter, g_getter_type);
    if (!g) return NULL;
    g->vectorcall = fp_getter_call;
    g->tb = (fp_tables *)Py_NewRef(self);
    g->table_id = id;
    g->key_type = key_type;
    g->cls = (PyTypeObject *)Py_NewRef(cls);
    g->table = Py_NewRef(table);
    g->slow = Py_NewRef(slow);
    g->spare = NULL;
    g->off_table = off_table;
    g->off_handle = off_handle;
    g->off_key = off_key;
    Py_ssize_t end = off_table > off_handle ? off_table : off_handle;
    end = (off_key > end ? off_key : end) + (Py_ssize_t)sizeof(PyObject *);
    g->reusable = tp->tp_basicsize == end && tp->tp_itemsize == 0 && tp->tp_dictoffset == 0 &&
                  tp->tp_weaklistoffset == 0;
    PyObject_GC_Track(g);
    return (PyObject *)g;
}

/* ------------------------------------------------------------------ field readers */

/* The strings a string field reader keeps: 64 sets of 4 lines, a text's set chosen by
 * the top 6 bits of a hash of it. Four lines a set, not one: 64 names (threads' comm)
 * spread over 256 single lines would share some lines and push each other out on every
 * read. */
#define FP_STR_SET_BITS 6
#define FP_STR_WAYS 4
#define FP_STR_CACHE (FP_STR_WAYS << FP_STR_SET_BITS)
#define FP_STR_CACHED 64 /* the longest text kept */

/* A str kept, with what tells its text apart without reading it: its length and its first
 * and last 8 bytes (these two cover the whole text up to 16 bytes: comm's limit). */
typedef struct {
    PyObject *str; /* ASCII: a byte per character */
    uint64_t head, tail;
    size_t n;
} fp_str_line;

typedef struct {
    PyObject_HEAD
    fp_tables *tb;
    unsigned long long table_id;
    unsigned int field_id;
    int kind;
    Py_ssize_t off_handle; /* of the entry class's _handle slot */
    PyTypeObject *cls;     /* the entry class */
    PyObject *field;       /* the Python tables.Field: class access, writes, deletes */
    fp_str_line strs[FP_STR_CACHE]; /* str values read last, given again when equal */
} fp_reader;

/* The str of a string field's value: the one read last with the same text when the
 * reader still has it (a str is immutable: no one can tell; comm, exe and the like repeat
 * from thread to thread), else a new one. */
FP_HOT PyObject *fp_reader_str(fp_reader *rd, const char *s) {
    if (!s) return fp_str(s);
    size_t n = strlen(s);
    if (n > FP_STR_CACHED) return fp_str(s);
    /* the line: a hash of the length and the first and last 8 bytes (where names differ) */
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
    } else {
        memcpy(&a, s, n);
    }
    uint64_t x = (a ^ (b * 0x9E3779B97F4A7C15ull) ^ n) * 0xBF58476D1CE4E5B9ull;
    fp_str_line *set = &rd->strs[(x >> (64 - FP_STR_SET_BITS)) * FP_STR_WAYS];
    for (int i = 0; i < FP_STR_WAYS; i++) {
        fp_str_line *line = &set[i];
        if (line->head == a && line->n == n && line->tail == b && line->str &&
            (n <= 16 || memcmp((const char *)PyUnicode_DATA(line->str) + 8, s + 8, n - 16) == 0))
            return Py_NewRef(line->str);
    }
    PyObject *text = fp_str(s);
    if (text && PyUnicode_IS_ASCII(text)) { /* first in its set; the set's oldest goes */
        Py_XDECREF(set[FP_STR_WAYS - 1].str);
        memmove(&set[1], &set[0], (FP_STR_WAYS - 1) * sizeof *set);
        set[0] = (fp_str_line){Py_NewRef(text), a, b, n};
    }
    return text;
}

/* The field of an entry known to be of the reader's class. */
FP_HOT PyObject *fp_reader_read(fp_reader *rd, PyObject *entry) {
    PyObject *handle = FP_SLOT(entry, rd->off_handle);
    if (!handle) {
        PyErr_SetString(PyExc_AttributeError, "_handle");
        return NULL;
    }
    /* the handle the getter made last is known without converting it */
    unsigned long long eid = handle == rd->tb->last_handle ? rd->tb->last_eid : fp_as_u64(handle);
    if (eid == (unsigned long long)-1 && PyErr_Occurred()) {
        /* no handle the SDK made (the plugin set _handle): the Python Field it stands for
         * reads it, and raises what that read raises */
        descrgetfunc get = Py_TYPE(rd->field)->tp_descr_get;
        if (!get) return NULL;
        PyErr_Clear();
        return get(rd->field, entry, (PyObject *)Py_TYPE(entry));
    }
    if (rd->kind != SS_PLUGIN_ST_STRING)
        return fp_read_entry(rd->tb, rd->table_id, eid, rd->field_id, rd->kind);
    ss_plugin_state_data out;
    if (fp_read_entry_data(rd->tb, rd->table_id, eid, rd->field_id, &out) < 0) return NULL;
    return fp_reader_str(rd, out.str); /* the host's buffer lives until its next call */
}

static PyObject *fp_reader_get(PyObject *self, PyObject *entry, PyObject *type) {
    fp_reader *rd = (fp_reader *)self;
    if (!entry || entry == Py_None) return Py_NewRef(rd->field);
    if (!PyObject_TypeCheck(entry, rd->cls)) {
        PyErr_Format(PyExc_TypeError, "a field of %.100s read on a %.100s", rd->cls->tp_name,
                     Py_TYPE(entry)->tp_name);
        return NULL;
    }
    return fp_reader_read(rd, entry);
}

static int fp_reader_set(PyObject *self, PyObject *entry, PyObject *value) {
    PyObject *field = ((fp_reader *)self)->field;
    descrsetfunc set = Py_TYPE(field)->tp_descr_set;
    if (!set) {
        PyErr_SetString(PyExc_AttributeError, "this table field cannot be set");
        return -1;
    }
    return set(field, entry, value);
}

static void fp_reader_dealloc(PyObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    Py_CLEAR(((fp_reader *)self)->tb);
    Py_CLEAR(((fp_reader *)self)->field);
    Py_CLEAR(((fp_reader *)self)->cls);
    for (int i = 0; i < FP_STR_CACHE; i++) Py_CLEAR(((fp_reader *)self)->strs[i].str);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyType_Slot fp_reader_slots[] = {
    {Py_tp_descr_get, (void *)fp_reader_get},
    {Py_tp_descr_set, (void *)fp_reader_set},
    {Py_tp_dealloc, (void *)fp_reader_dealloc},
    {Py_tp_doc, "A field of an imported table's entries, read in C."},
    {0, NULL},
};

static PyType_Spec fp_reader_spec = {
    "falco_plugin.FieldReader", sizeof(fp_reader), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, fp_reader_slots,
};

/* field_reader(table_id, field_id, kind, field, entry_class) */
static PyObject *fp_tb_field_reader(PyObject *self, PyObject *args) {
    unsigned long long id;
    unsigned int fid;
    int kind;
    PyObject *field, *cls;
    if (!PyArg_ParseTuple(args, "KIiOO!", &id, &fid, &kind, &field, &PyType_Type, &cls))
        return NULL;
    fp_tables *tb = (fp_tables *)self;
    if (!fp_table_of(tb, id)) return NULL;
    if (fid >= tb->nfields || kind == SS_PLUGIN_ST_TABLE) {
        PyErr_SetString(g_table_error, "not a field a reader can read");
        return NULL;
    }
    Py_ssize_t off_handle = fp_slot_offset((PyTypeObject *)cls, "_handle");
    if (off_handle < 0) return NULL;
    if (!g_reader_type && !(g_reader_type = (PyTypeObject *)PyType_FromSpec(&fp_reader_spec)))
        return NULL;
    fp_reader *rd = PyObject_New(fp_reader, g_reader_type);
    if (!rd) return NULL;
    rd->tb = (fp_tables *)Py_NewRef(self);
    rd->table_id = id;
    rd->field_id = fid;
    rd->kind = kind;
    rd->off_handle = off_handle;
    rd->cls = (PyTypeObject *)Py_NewRef(cls);
    rd->field = Py_NewRef(field);
    memset(rd->strs, 0, sizeof rd->strs);
    return (PyObject *)rd;
}

/* ------------------------------------------------------------------ reads without the
 * generic attribute lookup
 *
 * `entry.comm` costs CPython a generic lookup (the type's MRO cache, the descriptor check)
 * before the reader runs, about 130 instructions: CPython 3.11 specializes no attribute of
 * that kind. The entry class made for a table gets its own tp_getattro instead, which
 * finds its readers by the attribute name's identity (names in code are interned) and
 * hands every other name, and every class changed since, to the generic lookup. A class is
 * known here by its pointer and version tag (CPython never gives a tag twice and changes it
 * whenever the class changes), so a class freed, changed or pushed out of this short list
 * only loses its fast path. */

#define FP_FAST_CLASSES 32 /* classes kept (the oldest goes first) */
#define FP_FAST_FIELDS 16  /* readers per class this path knows (the rest: generic) */

typedef struct {
    PyTypeObject *cls;    /* borrowed: trusted only while its version tag is unchanged */
    unsigned int version; /* 0: an empty line */
    int n;
    PyObject *names[FP_FAST_FIELDS]; /* borrowed from the class's dict, like the readers */
    fp_reader *readers[FP_FAST_FIELDS];
} fp_fast_class;

static fp_fast_class g_fast[FP_FAST_CLASSES];
static unsigned int g_fast_next; /* the line the next class takes */

/* A class's version tag, 0 when it has none now. Up to 3.12 a changed class keeps a stale
 * tag with the valid-tag flag cleared; from 3.13 on the tag is 0 and the flag unused. */
#if PY_VERSION_HEX >= 0x030D0000
#define FP_TYPE_VERSION(tp) ((tp)->tp_version_tag)
#else
#define FP_TYPE_VERSION(tp) \
    (PyType_HasFeature((tp), Py_TPFLAGS_VALID_VERSION_TAG) ? (tp)->tp_version_tag : 0)
#endif

/* The line of a class as it is now, or NULL. */
static fp_fast_class *fp_fast_of(PyTypeObject *tp) {
    unsigned int version = FP_TYPE_VERSION(tp);
    if (!version) return NULL;
    for (int c = 0; c < FP_FAST_CLASSES; c++)
        if (g_fast[c].cls == tp && g_fast[c].version == version) return &g_fast[c];
    return NULL;
}

static PyObject *fp_entry_getattro(PyObject *obj, PyObject *name) {
    fp_fast_class *fc = fp_fast_of(Py_TYPE(obj));
    if (fc)
        for (int i = 0; i < fc->n; i++)
            if (fc->names[i] == name) return fp_reader_read(fc->readers[i], obj);
    return PyObject_GenericGetAttr(obj, name);
}

/* fast_reads(entry_class): give the class made for a table (a subclass of the entry
 * class its readers were made for, with the readers in its own dict) the getattro above.
 * False when it cannot (the class keeps the generic lookup: same results). */
static PyObject *fp_tb_fast_reads(PyObject *self, PyObject *arg) {
    if (!PyType_Check(arg) || !g_reader_type) Py_RETURN_FALSE;
    PyTypeObject *tp = (PyTypeObject *)arg;
    if (tp->tp_getattro != PyObject_GenericGetAttr && tp->tp_getattro != fp_entry_getattro)
        Py_RETURN_FALSE; /* a class with its own __getattribute__ / __getattr__ */
    fp_fast_class fc = {tp, 0, 0, {NULL}, {NULL}};
    PyObject *dict = tp->tp_dict, *key, *value;
    Py_ssize_t pos = 0;
    while (dict && PyDict_Next(dict, &pos, &key, &value)) {
        if (Py_TYPE(value) != g_reader_type || !PyUnicode_CheckExact(key) ||
            !PyType_IsSubtype(tp, ((fp_reader *)value)->cls))
            continue;
        if (fc.n == FP_FAST_FIELDS) break;
        fc.names[fc.n] = key; /* the dict's keys are interned */
        fc.readers[fc.n++] = (fp_reader *)value;
    }
    if (fc.n == 0) Py_RETURN_FALSE;
    tp->tp_getattro = fp_entry_getattro;
    PyType_Modified(tp); /* a new version tag, from the lookup below on */
    if (!_PyType_Lookup(tp, fc.names[0]) || !FP_TYPE_VERSION(tp)) {
        tp->tp_getattro = PyObject_GenericGetAttr;
        Py_RETURN_FALSE;
    }
    fc.version = FP_TYPE_VERSION(tp);
    g_fast[g_fast_next] = fc;
    g_fast_next = (g_fast_next + 1) % FP_FAST_CLASSES;
    Py_RETURN_TRUE;
}

/* _fast_fields(cls): the names read by the getattro above for this class now (tests). */
static PyObject *fp_tb_fast_fields(PyObject *self, PyObject *arg) {
    fp_fast_class *fc = PyType_Check(arg) ? fp_fast_of((PyTypeObject *)arg) : NULL;
    PyObject *out = PyTuple_New(fc ? fc->n : 0);
    for (int i = 0; out && fc && i < fc->n; i++)
        PyTuple_SET_ITEM(out, i, Py_NewRef(fc->names[i]));
    return out;
}
