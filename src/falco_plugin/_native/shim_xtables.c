/*
 * Tables a Python plugin exports, included by shim_tables.c: each is a C struct the host
 * gets a pointer to, whose vtables (reader, writer, fields) call the plugin's
 * ExportedTable. Nested tables of entries get theirs on first use.
 */

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
    fp_xctx *ctx;
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
    fp_error_from_python(xt->ctx->st, where);
}

/* Every call from the host checks this first (GIL held): a table whose plugin state was
 * destroyed refuses, since other plugins and the host may still hold its pointer. */
static int fp_x_live(fp_xtable *xt) { return xt->py != NULL && xt->ctx->st != NULL; }

static const char *fp_x_name(ss_plugin_table_t *t) { return ((fp_xtable *)t)->name; }

static uint64_t fp_x_size(ss_plugin_table_t *t) {
    fp_xtable *xt = t;
    PyGILState_STATE g = fp_enter();
    if (!fp_x_live(xt)) {
        fp_leave(g);
        return UINT64_MAX;
    }
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
    if (!fp_x_live(xt)) {
        fp_leave(g);
        return NULL;
    }
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
    if (!fp_x_live(xt)) {
        fp_leave(g);
        return SS_PLUGIN_FAILURE;
    }
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
    if (!fp_x_live(xt)) {
        fp_leave(g);
        return 0;
    }
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
    if (!fp_x_live(xt)) {
        fp_leave(g);
        return SS_PLUGIN_FAILURE;
    }
    ss_plugin_rc rc = fp_x_call(xt, "clear_table", PyObject_CallMethod(xt->py, "clear", NULL));
    fp_leave(g);
    return rc;
}

static ss_plugin_rc fp_x_erase(ss_plugin_table_t *t, const ss_plugin_state_data *key) {
    fp_xtable *xt = t;
    PyGILState_STATE g = fp_enter();
    if (!fp_x_live(xt)) {
        fp_leave(g);
        return SS_PLUGIN_FAILURE;
    }
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
    if (!fp_x_live(xt)) {
        fp_leave(g);
        return NULL;
    }
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
    if (!fp_x_live(xt)) {
        Py_CLEAR(staged->entry);
        fp_leave(g);
        free(staged);
        return NULL;
    }
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
    if (!fp_x_live(xt)) {
        fp_leave(g);
        return SS_PLUGIN_FAILURE;
    }
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
    fp_xctx *x = xt->ctx;
    for (uint32_t k = 0; k < x->npool; k++)
        if (strcmp(x->pool[k]->name, name) == 0 && strcmp(x->pool[k]->table, xt->name) == 0)
            return x->pool[k];
    fp_xfield *xf = calloc(1, sizeof *xf);
    char *copy = xf ? strdup(name) : NULL;
    char *table = copy ? strdup(xt->name) : NULL;
    if (!table || fp_push_ptr((void ***)&x->pool, &x->npool, &x->cap_pool, xf) < 0) {
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
    if (!fp_x_live(xt)) {
        fp_leave(g);
        if (n) *n = 0;
        return NULL;
    }
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
    if (!fp_x_live(xt)) {
        fp_leave(g);
        return NULL;
    }
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

/*
 * The plugin state is destroyed (GIL held): its tables let go of their Python objects and
 * refuse every call from now on. Their C parts (the tables the host was given, their field
 * handles) are never freed: the host and other plugins may hold pointers to them for as long
 * as the process lives. That is a few hundred bytes per exported table and plugin init.
 */
static void fp_xctx_retire(fp_xctx *x) {
    if (!x || !x->st) return;
    x->st = NULL;
    for (fp_xtable *xt = x->exported; xt; xt = xt->next) Py_CLEAR(xt->py);
}

/* A table this plugin owns, as the API sees it: its input, vtables and Python object. */
static fp_xtable *fp_xtable_new(fp_xctx *ctx, PyObject *py, const char *name, int key_type,
                                int nested) {
    fp_xtable *xt = calloc(1, sizeof *xt);
    char *copy = xt ? strdup(name) : NULL;
    if (!copy) {
        free(xt);
        PyErr_NoMemory();
        return NULL;
    }
    xt->name = copy;
    xt->ctx = ctx;
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
                            ? fp_xtable_new(parent->ctx, table, cname, (int)key_type, 1)
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
    fp_xtable *xt = fp_xtable_new(tb->x, py, name, key_type, 0);
    if (!xt) return NULL;
    xt->next = tb->x->exported;
    tb->x->exported = xt; /* kept for good, even if the host refuses it (fp_xctx_retire) */
    if (tb->add_table(tb->owner, &xt->input) != SS_PLUGIN_SUCCESS) {
        char what[320];
        snprintf(what, sizeof what, "the host refused table %s", name);
        return fp_table_error(tb, what);
    }
    Py_RETURN_NONE;
}

