/*
 * The event batch of next_batch, included by shim.c: a Python object over C memory that
 * the plugin fills (add, add_many, add_event) and the host reads without a copy.
 */


/* Grow the buffer to hold `extra` more bytes (doubling, from 64 KiB). */
static int fp_batch_grow(fp_batch *b, size_t extra) {
    size_t cap = b->cap ? b->cap : 64 * 1024;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *p = realloc(b->buf, cap);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    b->buf = p;
    b->cap = cap;
    return 0;
}

/* Room for `extra` more bytes (the check inline: every event asks). */
static inline int fp_batch_reserve(fp_batch *b, size_t extra) {
    return b->len + extra <= b->cap ? 0 : fp_batch_grow(b, extra);
}

static int fp_batch_check_open(fp_batch *b) {
    if (b->open) return 0;
    PyErr_SetString(PyExc_RuntimeError,
                    "the event batch can only be filled while next_batch() runs");
    return -1;
}

static int fp_put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); return 2; }
static int fp_put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); return 4; }
static int fp_put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); return 8; }

/* After an event was put into a batch with supplied values: where its values end (the
 * event is taken out again when that cannot be stored). */
static int fp_batch_marked(fp_batch *b, size_t size) {
    if (fp_supplied_mark(b) == 0) return 0;
    b->len -= size;
    b->count--;
    return -1;
}

/* The header and parameter lengths of a plugin event (type 322) with an n-byte payload at
 * `p`; returns where the payload goes. */
static inline uint8_t *fp_put_header(uint8_t *p, uint64_t ts, uint32_t n) {
    p += fp_put_u64(p, ts);
    p += fp_put_u64(p, UINT64_MAX); /* tid: none */
    p += fp_put_u32(p, FP_PLUGINEVENT_PAYLOAD_OFFSET + n);
    p += fp_put_u16(p, FP_PLUGINEVENT_TYPE);
    p += fp_put_u32(p, 2);
    p += fp_put_u32(p, 4);
    p += fp_put_u32(p, n);
    p += fp_put_u32(p, (uint32_t)FP_META_ID);
    return p;
}

/* Append a plugin event (type 322) carrying `data`. */
static int fp_batch_put(fp_batch *b, const char *data, Py_ssize_t n, uint64_t ts) {
    if ((uint64_t)n > (uint64_t)UINT32_MAX - FP_PLUGINEVENT_PAYLOAD_OFFSET) {
        PyErr_SetString(PyExc_ValueError, "event payload too large (max 4 GiB)");
        return -1;
    }
    size_t total = FP_PLUGINEVENT_PAYLOAD_OFFSET + (size_t)n;
    if (fp_batch_reserve(b, FP_ALIGN8(total)) < 0) return -1;
    uint8_t *p = fp_put_header(b->buf + b->len, ts, (uint32_t)n);
    if (n) memcpy(p, data, (size_t)n);
    b->len += FP_ALIGN8(total);
    b->count++;
    return b->sup.active ? fp_batch_marked(b, FP_ALIGN8(total)) : 0;
}

/* The bytes of a payload argument: bytes and str without copies, any buffer otherwise. */
static int fp_payload_add(fp_batch *b, PyObject *payload, uint64_t ts) {
    if (PyBytes_CheckExact(payload))
        return fp_batch_put(b, PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), ts);
    if (PyUnicode_CheckExact(payload) && PyUnicode_IS_COMPACT_ASCII(payload)) /* no copy */
        return fp_batch_put(b, (const char *)(((PyASCIIObject *)payload) + 1),
                            PyUnicode_GET_LENGTH(payload), ts);
    if (PyUnicode_Check(payload)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(payload, &n);
        return s ? fp_batch_put(b, s, n, ts) : -1;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "an event payload must be bytes, bytearray, memoryview or str, not %.100s",
                     Py_TYPE(payload)->tp_name);
        return -1;
    }
    int rc = fp_batch_put(b, view.buf, view.len, ts);
    PyBuffer_Release(&view);
    return rc;
}

static int fp_parse_ts(PyObject *obj, uint64_t *ts) {
    if (obj == NULL || obj == Py_None) {
        *ts = FP_TS_NOW;
        return 0;
    }
    unsigned long long v = fp_as_u64(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "ts must be None or an int in [0, 2**64)");
        return -1;
    }
    *ts = v;
    return 0;
}

/* Whether `key` (a keyword of a call) is `name`: by identity first (keywords written in
 * code are interned strings), else by value. `*interned` keeps the interned name. */
static int fp_is_keyword(PyObject *key, const char *name, PyObject **interned) {
    if (!*interned) *interned = PyUnicode_InternFromString(name);
    if (key == *interned) return 1;
    if (!*interned) PyErr_Clear();
    return PyUnicode_CompareWithASCIIString(key, name) == 0;
}

static PyObject *g_kw_ts, *g_kw_fields; /* "ts" and "fields", interned */

static PyObject *fp_batch_add(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames) {
    fp_batch *b = (fp_batch *)self;
    PyObject *ts_obj = nargs > 1 ? args[1] : NULL, *fields = NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError,
                        "add(payload, ts=None, *, fields=None) takes one or two arguments");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        PyObject **slot = fp_is_keyword(key, "fields", &g_kw_fields) ? &fields
                          : fp_is_keyword(key, "ts", &g_kw_ts)         ? &ts_obj
                                                                       : NULL;
        if (!slot || *slot) {
            PyErr_Format(PyExc_TypeError, slot ? "add() got %R twice"
                                               : "add() got an unexpected keyword argument %R",
                         key);
            return NULL;
        }
        *slot = args[nargs + k];
    }
    uint64_t ts;
    if (fp_batch_check_open(b) < 0 || fp_parse_ts(ts_obj, &ts) < 0) return NULL;
    if (fields == NULL || fields == Py_None) {
        if (fp_payload_add(b, args[0], ts) < 0) return NULL;
        Py_RETURN_NONE;
    }
    uint32_t nvals = b->sup.nvals;
    size_t arena_len = b->sup.arena_len;
    if (fp_supply(b, fields) < 0) return NULL;
    if (fp_payload_add(b, args[0], ts) < 0) {
        b->sup.nvals = nvals; /* the event is not there: neither are its values */
        b->sup.arena_len = arena_len;
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Append an already encoded event once its framing is consistent and the host can take it
 * (shim_evcheck.c: the event schema's rules, what libsinsp would mishandle). */
static PyObject *fp_batch_add_event(PyObject *self, PyObject *raw) {
    fp_batch *b = (fp_batch *)self;
    if (fp_batch_check_open(b) < 0) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *p = view.buf;
    uint32_t len = 0;
    fp_refusal r = {NULL, -1};
    if ((size_t)view.len < FP_EVENT_HEADER_LEN) {
        r.why = "shorter than an event header";
    } else {
        memcpy(&len, p + 16, 4);
        if (len != (uint64_t)view.len)
            r.why = "its header length does not match its size";
        else
            r = fp_event_check(p, len);
    }
    int rc = -1;
    if (r.why) {
        fp_event_refuse(view.len < FP_EVENT_HEADER_LEN ? -1 : fp_rd_u16(p + 20), r);
    } else if (fp_batch_reserve(b, FP_ALIGN8(len)) == 0) {
        memcpy(b->buf + b->len, p, len);
        b->len += FP_ALIGN8(len);
        b->count++;
        rc = b->sup.active ? fp_batch_marked(b, FP_ALIGN8(len)) : 0;
    }
    PyBuffer_Release(&view);
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}

static Py_ssize_t fp_batch_length(PyObject *self) { return ((fp_batch *)self)->count; }

static void fp_batch_dealloc(PyObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    free(((fp_batch *)self)->buf);
    fp_supplies_free(&((fp_batch *)self)->sup);
    PyObject_Free(self);
    Py_DECREF(tp);
}

/* shim_batch_bulk.c */
static PyObject *fp_batch_add_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames);
static PyObject *fp_batch_add_formatted(PyObject *self, PyObject *const *args,
                                        Py_ssize_t nargs, PyObject *kwnames);

static PyMethodDef fp_batch_methods[] = {
    {"add", (PyCFunction)(void (*)(void))fp_batch_add, METH_FASTCALL | METH_KEYWORDS,
     "add(payload, ts=None, *, fields=None): append a plugin event; ts None lets the host "
     "stamp it; fields, {name: value}, supplies values of the plugin's own fields for it."},
    {"add_many", (PyCFunction)(void (*)(void))fp_batch_add_many, METH_FASTCALL | METH_KEYWORDS,
     "add_many(payloads, *, fields=None): append one plugin event per payload (the fast "
     "path); fields, {name: one value per event}, supplies values of the plugin's fields."},
    {"add_formatted", (PyCFunction)(void (*)(void))fp_batch_add_formatted,
     METH_FASTCALL | METH_KEYWORDS,
     "add_formatted(template, *columns, fields=None): append one plugin event per row of "
     "the columns, its payload template.format(*row) made in C (only {} placeholders)."},
    {"add_event", fp_batch_add_event, METH_O,
     "add_event(raw): append an already encoded event; ValueError when the host could not take it."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot fp_batch_slots[] = {
    {Py_tp_methods, fp_batch_methods},
    {Py_sq_length, (void *)fp_batch_length},
    {Py_tp_dealloc, (void *)fp_batch_dealloc},
    {Py_tp_doc, "The host's event batch: C memory, valid until the next next_batch call."},
    {0, NULL},
};

static PyType_Spec fp_batch_spec = {
    "falco_plugin.NativeEventBatch", sizeof(fp_batch), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, fp_batch_slots,
};
