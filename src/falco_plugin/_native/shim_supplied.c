/*
 * Field values a source supplies with its events, included by shim.c in plugins that are
 * both a source and an extractor: `batch.add(payload, fields={"my.field": value})` stores
 * the values beside the batch, and extract_fields answers those fields of those events in
 * C, without taking the GIL or calling Python. Events that carry no value for a field
 * (read from a capture file, copied by the host, or added without it) go to the field's
 * Python method as before.
 *
 * An event is recognized by its address: one of the events the state's last batch with
 * supplied values handed to the host (valid until that instance's next next_batch, as the
 * API says of the batch itself). Values are checked and converted when they are added, so
 * that a wrong one fails next_batch with a clear error instead of a silent absent field.
 */

#define FP_SUP_EMPTY UINT32_MAX /* the field has no value for this event (None, []) */

/* The values supplied for one field of one event: the field's values are consecutive. */
typedef struct fp_supplied {
    uint32_t field; /* field id */
    uint32_t len;   /* string length (the arena holds a NUL after it); FP_SUP_EMPTY */
    uint64_t v;     /* a u64 or bool value, or a string's offset in the arena */
} fp_supplied;

static int fp_sup_grow(void *pp, uint32_t *cap, uint32_t need, size_t elem) {
    void **p = pp;
    if (need <= *cap) return 0;
    uint32_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *q = realloc(*p, (size_t)n * elem);
    if (!q) {
        PyErr_NoMemory();
        return -1;
    }
    *p = q;
    *cap = n;
    return 0;
}

/* With the GIL held, at every event put into a batch that has supplied values: where the
 * event's values end. */
static int fp_supplied_mark(fp_batch *b) {
    fp_supplies *s = &b->sup;
    if (b->count > s->cap_end && fp_sup_grow(&s->end, &s->cap_end, b->count, sizeof *s->end) < 0)
        return -1;
    s->end[b->count - 1] = s->nvals;
    return 0;
}

static inline fp_supplied *fp_sup_next(fp_supplies *s, uint32_t field) {
    if (s->nvals >= s->cap_vals &&
        fp_sup_grow(&s->vals, &s->cap_vals, s->nvals + 1, sizeof *s->vals) < 0)
        return NULL;
    fp_supplied *v = &s->vals[s->nvals++];
    v->field = field;
    v->len = 0;
    v->v = 0;
    return v;
}

/* One value of field `fd` (id `id`), checked and converted as the Python path would. */
static int fp_sup_value(fp_supplies *s, uint32_t id, const fp_field *fd, PyObject *name,
                        PyObject *value) {
    switch (fd->ftype) {
    case FTYPE_UINT64:
    case FTYPE_RELTIME:
    case FTYPE_ABSTIME: {
        if (!PyLong_Check(value)) {
            PyErr_Format(PyExc_TypeError, "fields=: %U takes an int value (nanoseconds for "
                         "time fields), got %.100s", name, Py_TYPE(value)->tp_name);
            return -1;
        }
        unsigned long long n = fp_as_u64(value);
        if (n == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "fields=: the value of %U must be in [0, 2**64)", name);
            return -1;
        }
        fp_supplied *v = fp_sup_next(s, id);
        if (!v) return -1;
        v->v = n;
        return 0;
    }
    case FTYPE_BOOL: {
        int t = PyObject_IsTrue(value);
        fp_supplied *v = t < 0 ? NULL : fp_sup_next(s, id);
        if (!v) return -1;
        v->v = (uint64_t)t;
        return 0;
    }
    case FTYPE_STRING: {
        Py_ssize_t n;
        const char *text = PyUnicode_Check(value) ? PyUnicode_AsUTF8AndSize(value, &n) : NULL;
        if (!text) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "fields=: %U takes a str value, got %.100s", name,
                             Py_TYPE(value)->tp_name);
            return -1;
        }
        if (memchr(text, '\0', (size_t)n) || (uint64_t)n >= FP_SUP_EMPTY) {
            PyErr_Format(PyExc_ValueError, "fields=: the value of %U cannot contain NUL", name);
            return -1;
        }
        size_t need = s->arena_len + (size_t)n + 1;
        if (need > s->arena_cap) {
            size_t cap = s->arena_cap ? s->arena_cap : 4096;
            while (cap < need) cap *= 2;
            char *p = realloc(s->arena, cap);
            if (!p) {
                PyErr_NoMemory();
                return -1;
            }
            s->arena = p;
            s->arena_cap = cap;
        }
        fp_supplied *v = fp_sup_next(s, id);
        if (!v) return -1;
        v->v = s->arena_len;
        v->len = (uint32_t)n;
        memcpy(s->arena + s->arena_len, text, (size_t)n + 1);
        s->arena_len = need;
        return 0;
    }
    }
    PyErr_Format(PyExc_TypeError, "fields=: %U is an address field: its values come from its "
                 "method only", name);
    return -1;
}

/* The id of the field named `name`, or -1 (and an error). A name written in the plugin's
 * code is the same string object at every event: recently seen names are known by identity
 * (a few slots by address, holding their names), others looked up by value. */
static long fp_sup_field_id(fp_extractor *x, PyObject *name) {
    size_t slot = ((uintptr_t)name >> 4) % FP_NAME_CACHE;
    if (x->name_cache[slot].name == name) return x->name_cache[slot].id;
    PyObject *found = PyUnicode_Check(name) ? PyDict_GetItemWithError(x->names, name) : NULL;
    if (!found) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ValueError, "fields=: this plugin has no field %R", name);
        return -1;
    }
    long id = PyLong_AsLong(found);
    Py_XSETREF(x->name_cache[slot].name, Py_NewRef(name));
    x->name_cache[slot].id = id;
    return id;
}

/* The field named `name` if its values can be supplied: its id, or -1 (and an error). */
static long fp_sup_field_of(fp_extractor *x, PyObject *name) {
    long id = fp_sup_field_id(x, name);
    if (id >= 0 && x->fields[id].arg_kind != 0) {
        PyErr_Format(PyExc_ValueError, "fields=: %U takes an argument: its values come from its "
                     "method only", name);
        return -1;
    }
    return id;
}

/* The values of field `id` for one event: a scalar, a list for list fields; None (or [])
 * for none. */
static int fp_sup_values(fp_supplies *s, uint32_t id, const fp_field *fd, PyObject *name,
                         PyObject *value) {
    uint32_t before = s->nvals;
    if (value != Py_None && !fd->is_list) return fp_sup_value(s, id, fd, name, value);
    if (value != Py_None) {
        PyObject *seq = PySequence_Fast(value, "fields=: a list field takes a list of values");
        if (!seq) return -1;
        for (Py_ssize_t k = 0; k < PySequence_Fast_GET_SIZE(seq); k++) { /* may shrink */
            PyObject *item = Py_NewRef(PySequence_Fast_GET_ITEM(seq, k));
            int rc = fp_sup_value(s, id, fd, name, item);
            Py_DECREF(item);
            if (rc < 0) {
                Py_DECREF(seq);
                return -1;
            }
        }
        Py_DECREF(seq);
    }
    if (s->nvals == before) {
        fp_supplied *v = fp_sup_next(s, id); /* answered, with no value */
        if (!v) return -1;
        v->len = FP_SUP_EMPTY;
    }
    return 0;
}

/* The extractor whose fields a batch's events may carry values of, when `fields` is a dict
 * (else NULL and an error); from now on the batch's events record where their values end. */
static fp_extractor *fp_sup_begin(fp_batch *b, PyObject *fields) {
    fp_extractor *x = b->st ? b->st->extract : NULL;
    if (!x || !x->names) {
        PyErr_SetString(PyExc_TypeError, "fields=: this plugin has no fields to supply");
        return NULL;
    }
    if (!PyDict_Check(fields)) {
        PyErr_Format(PyExc_TypeError, "fields= takes a dict {field name: value}, not %.100s",
                     Py_TYPE(fields)->tp_name);
        return NULL;
    }
    fp_supplies *s = &b->sup;
    if (!s->active) { /* the first event of this batch with values: earlier ones have none */
        if (fp_sup_grow(&s->end, &s->cap_end, b->count + 1, sizeof *s->end) < 0) return NULL;
        for (uint32_t i = 0; i < b->count; i++) s->end[i] = 0;
        s->nvals = 0;
        s->arena_len = 0;
        s->active = 1;
    }
    return x;
}

/* With the GIL held, before the event is put: store the values of `fields` for it (the
 * event the batch's next put adds). On error nothing is kept. */
static int fp_supply(fp_batch *b, PyObject *fields) {
    fp_extractor *x = fp_sup_begin(b, fields);
    if (!x) return -1;
    fp_supplies *s = &b->sup;
    uint32_t nvals = s->nvals;
    size_t arena_len = s->arena_len;
    Py_ssize_t pos = 0;
    PyObject *name, *value;
    while (PyDict_Next(fields, &pos, &name, &value)) {
        long id = fp_sup_field_of(x, name);
        if (id < 0 || fp_sup_values(s, (uint32_t)id, &x->fields[id], name, value) < 0) {
            s->nvals = nvals;
            s->arena_len = arena_len;
            return -1;
        }
    }
    return 0;
}

/* The columns of a bulk call's fields= ({name: one value per event}), resolved once. */
typedef struct fp_sup_column {
    uint32_t id;
    const fp_field *fd;
    PyObject *name;
    fp_column col;
    int direct; /* a range of ints for a uint64 or time field: no int objects */
} fp_sup_column;

typedef struct fp_sup_columns {
    Py_ssize_t n;
    fp_sup_column c[];
} fp_sup_columns;

static void fp_sup_columns_free(fp_sup_columns *cols) {
    if (!cols) return;
    for (Py_ssize_t k = 0; k < cols->n; k++) {
        Py_XDECREF(cols->c[k].name);
        fp_column_close(&cols->c[k].col);
    }
    PyMem_Free(cols);
}

/* The columns of `fields` for `n` events (the bulk forms of fields=), or NULL and an error:
 * a name that cannot be supplied, a column that is not iterable or has another length. */
static fp_sup_columns *fp_supply_columns(fp_batch *b, PyObject *fields, Py_ssize_t n) {
    fp_extractor *x = fp_sup_begin(b, fields);
    if (!x) return NULL;
    fp_sup_columns *cols =
        PyMem_Malloc(sizeof *cols + (size_t)PyDict_GET_SIZE(fields) * sizeof cols->c[0]);
    if (!cols) return (fp_sup_columns *)PyErr_NoMemory();
    cols->n = 0;
    Py_ssize_t pos = 0;
    PyObject *name, *column;
    while (PyDict_Next(fields, &pos, &name, &column)) {
        long id = fp_sup_field_of(x, name);
        fp_sup_column *c = &cols->c[cols->n];
        if (id < 0 || fp_column_open(&c->col, column, "fields=: a column takes one value per "
                                     "event (a list, a tuple, a range...)") < 0)
            break;
        cols->n++;
        c->id = (uint32_t)id;
        c->fd = &x->fields[id];
        c->name = Py_NewRef(name);
        uint32_t ftype = c->fd->ftype;
        c->direct = !c->col.seq && !c->fd->is_list && c->col.start >= 0 && c->col.last >= 0 &&
                    (ftype == FTYPE_UINT64 || ftype == FTYPE_RELTIME || ftype == FTYPE_ABSTIME);
        if (c->col.len != n) {
            PyErr_Format(PyExc_ValueError, "fields=: the column of %U has %zd values for %zd "
                         "events", name, c->col.len, n);
            break;
        }
    }
    if (!PyErr_Occurred()) return cols;
    fp_sup_columns_free(cols);
    return NULL;
}

/* With the GIL held, before the i-th event of a bulk call is put: its supplied values. */
static int fp_supply_row(fp_batch *b, fp_sup_columns *cols, Py_ssize_t i) {
    fp_supplies *s = &b->sup;
    for (Py_ssize_t k = 0; k < cols->n; k++) {
        fp_sup_column *c = &cols->c[k];
        if (c->direct) {
            fp_supplied *v = fp_sup_next(s, c->id);
            if (!v) return -1;
            v->v = (uint64_t)fp_column_int(&c->col, i);
            continue;
        }
        PyObject *value = fp_column_at(&c->col, i);
        int rc = value ? fp_sup_values(s, c->id, c->fd, c->name, value) : -1;
        Py_XDECREF(value);
        if (rc < 0) return -1;
    }
    return 0;
}

/* No GIL needed: the supplied values of the event at `e`, when it is one of the events of
 * the state's last batch with values, in [*lo, *hi); 0 when it is not. */
static int fp_supplied_of(fp_state *st, const ss_plugin_event *e, const fp_supplied **lo,
                          const fp_supplied **hi) {
    fp_instance *inst = st->sup_inst;
    if (!inst) return 0;
    fp_batch *b = inst->batch;
    fp_supplies *s = &b->sup;
    const uint8_t *p = (const uint8_t *)e;
    if (!s->active || p < b->buf || p >= b->buf + b->len) return 0;
    uint32_t n = b->count, i = s->cursor; /* the host goes through a batch in order */
    if (i >= n || inst->ptrs[i] != e) {
        if (i + 1 < n && inst->ptrs[i + 1] == e) {
            i++;
        } else {
            uint32_t a = 0, z = n; /* the events lie in address order */
            while (a < z) {
                uint32_t m = a + (z - a) / 2;
                if ((const uint8_t *)inst->ptrs[m] < p) a = m + 1;
                else z = m;
            }
            if (a >= n || inst->ptrs[a] != e) return 0; /* inside an event, not at one */
            i = a;
        }
    }
    s->cursor = i;
    *lo = s->vals + (i ? s->end[i - 1] : 0);
    *hi = s->vals + s->end[i];
    return *lo < *hi;
}

/* No GIL: answer one requested field from supplied values, if the event has them (1), else
 * 0; -1 when a result buffer cannot grow. */
static int fp_supplied_put(fp_extractor *x, const fp_batch *b, const fp_supplied *lo,
                           const fp_supplied *hi, ss_plugin_extract_field *f, size_t i) {
    uint32_t id = f->field_id; /* read once: the stores below may alias it for the compiler */
    while (lo < hi && lo->field != id) lo++;
    if (lo == hi) return 0;
    fp_results *r = &x->r;
    int kind = x->fields[id].kind; /* an address is never supplied */
    size_t first = r->first[i] = r->n[kind];
    for (; lo < hi && lo->field == id && lo->len != FP_SUP_EMPTY; lo++) {
        if (fp_room_raw(r, kind) < 0) return -1;
        if (kind == FP_K_U64) { /* the usual kinds first, as in fp_put_value */
            r->u64[r->n[kind]] = lo->v;
        } else if (kind == FP_K_STR) {
            if (fp_arena_put_raw(r, b->sup.arena + lo->v, lo->len, 1, &r->str_off[r->n[kind]]) < 0)
                return -1;
        } else {
            r->u32[r->n[kind]] = (uint32_t)lo->v;
        }
        r->n[kind]++;
    }
    f->res_len = r->n[kind] - first;
    fp_point(r, f, kind, first);
    return 1;
}

static void fp_supplies_free(fp_supplies *s) {
    free(s->vals);
    free(s->end);
    free(s->arena);
}
