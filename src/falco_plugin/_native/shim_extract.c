/*
 * Field extraction for Python plugins, included by shim.c: get_fields and the event
 * filters are baked in; extract_fields calls one field method per requested field and
 * keeps the values in per-state C buffers until the next call.
 */

#define g_located_cls g_sdk.located_cls /* extract.Located of the space */

#define FP_NAME_CACHE 8

/* The result arrays a field's values go to, by the field's type. */
enum { FP_K_U64, FP_K_U32, FP_K_STR, FP_K_BUF, FP_NKINDS };

static int fp_kind_of(uint32_t ftype) {
    switch (ftype) {
    case FTYPE_UINT64:
    case FTYPE_RELTIME:
    case FTYPE_ABSTIME: return FP_K_U64;
    case FTYPE_BOOL: return FP_K_U32;
    case FTYPE_STRING: return FP_K_STR;
    case FTYPE_IPADDR:
    case FTYPE_IPNET: return FP_K_BUF;
    }
    return -1;
}

typedef struct fp_field {
    PyObject *fn;   /* what the runtime gave: a bound method or another callable */
    PyObject *func; /* called with (self, event[, arg]) when fn is a bound method */
    PyObject *self;
    uint32_t ftype;
    uint8_t kind; /* FP_K_*, from ftype at setup: no per-call dispatch on the type */
    uint8_t is_list, arg_kind, arg_required, offsets;
} fp_field;

/* Results of one extract_fields call; reused, valid until the next call on the state. The
 * value arrays exist from setup on (never NULL) and grow by kind: the arrays of one kind
 * (a string's offset and pointer, an address's offset, length and buffer) have the same
 * room, so that the values of one field never move once stored (see fp_point). */
typedef struct fp_results {
    uint64_t *u64;
    uint32_t *u32;
    size_t *str_off; /* string offsets in the arena, turned into str pointers at the end */
    const char **str;
    size_t *buf_off;
    uint32_t *buf_len;
    ss_plugin_byte_buffer *buf;
    char *arena;
    size_t n[FP_NKINDS];   /* values stored by this call, per kind */
    size_t cap[FP_NKINDS]; /* room of the arrays of each kind */
    size_t arena_len, cap_arena;
    uint32_t *start, *length; /* value offsets, one per requested field */
    size_t *first;            /* per requested field: index of its first value */
    size_t cap_fields;
} fp_results;

typedef struct fp_extractor {
    fp_field *fields;
    uint32_t nfields;
    PyObject *names; /* {field name: id}, for the values a source supplies */
    struct {
        PyObject *name;
        long id;
    } name_cache[FP_NAME_CACHE]; /* names seen in fields=, known by identity */
    PyObject *make_context;
    fp_event *cur;
    uint64_t cur_evtnum, cur_ts;
    const void *cur_ptr;
    fp_results r;
} fp_extractor;

/* Grow *pp to hold `need` elements; -1 (and no Python error: no GIL needed) if it cannot. */
static int fp_grow_raw(void *pp, size_t *cap, size_t need, size_t elem) {
    void **p = pp;
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* The per-requested-field arrays (value offsets, first value index), grown together;
 * no GIL needed. */
FP_NOINLINE static int fp_widen_fields(fp_results *r, size_t need) {
    size_t n = r->cap_fields ? r->cap_fields : 4;
    while (n < need) n *= 2;
    uint32_t *start = realloc(r->start, n * sizeof *start);
    if (start) r->start = start;
    uint32_t *length = start ? realloc(r->length, n * sizeof *length) : NULL;
    if (length) r->length = length;
    size_t *first = length ? realloc(r->first, n * sizeof *first) : NULL;
    if (!first) return -1;
    r->first = first;
    r->cap_fields = n;
    return 0;
}

static inline int fp_grow_fields(fp_results *r, size_t need) {
    return need <= r->cap_fields ? 0 : fp_widen_fields(r, need);
}

/* realloc *pp to n elements: 0 when it cannot (*pp unchanged). */
static int fp_resize(void *pp, size_t n, size_t elem) {
    void **p = pp;
    void *q = realloc(*p, n * elem);
    if (q) *p = q;
    return q != NULL;
}

/* Double the room of every array of one kind (16 the first time); -1 if it cannot (no GIL
 * needed: no Python error). Out of line: the values of a call fit, but for the first ones. */
FP_NOINLINE static int fp_widen(fp_results *r, int kind) {
    size_t n = r->cap[kind] ? 2 * r->cap[kind] : 16;
    int ok;
    switch (kind) {
    case FP_K_U64: ok = fp_resize(&r->u64, n, sizeof *r->u64); break;
    case FP_K_U32: ok = fp_resize(&r->u32, n, sizeof *r->u32); break;
    case FP_K_STR:
        ok = fp_resize(&r->str_off, n, sizeof *r->str_off) && fp_resize(&r->str, n, sizeof *r->str);
        break;
    default:
        ok = fp_resize(&r->buf_off, n, sizeof *r->buf_off) &&
             fp_resize(&r->buf_len, n, sizeof *r->buf_len) && fp_resize(&r->buf, n, sizeof *r->buf);
        break;
    }
    if (!ok) return -1;
    r->cap[kind] = n;
    return 0;
}

/* Room for one more value of `kind` (no GIL needed: -1 and no Python error if none). */
static inline int fp_room_raw(fp_results *r, int kind) {
    return r->n[kind] < r->cap[kind] ? 0 : fp_widen(r, kind);
}

/* fp_room_raw with the GIL held: a MemoryError when there is no room. */
static inline int fp_room(fp_results *r, int kind) {
    if (fp_room_raw(r, kind) == 0) return 0;
    PyErr_NoMemory();
    return -1;
}

/* Copy a value into the arena (no GIL needed). */
static int fp_arena_put_raw(fp_results *r, const void *data, size_t n, int nul, size_t *off) {
    if (fp_grow_raw(&r->arena, &r->cap_arena, r->arena_len + n + 1, 1) < 0) return -1;
    *off = r->arena_len;
    if (n) memcpy(r->arena + r->arena_len, data, n);
    r->arena_len += n;
    if (nul) r->arena[r->arena_len++] = '\0';
    return 0;
}

static int fp_arena_put(fp_results *r, const void *data, size_t n, int nul, size_t *off) {
    if (fp_arena_put_raw(r, data, n, nul, off) == 0) return 0;
    PyErr_NoMemory();
    return -1;
}

/* Store one Python value of a uint64 or time field. */
static inline int fp_put_int(fp_results *r, PyObject *v) {
    if (!PyLong_Check(v)) {
        PyErr_Format(PyExc_TypeError, "expected an int value, got %.100s", Py_TYPE(v)->tp_name);
        return -1;
    }
    unsigned long long n = fp_as_u64(v);
    if (n == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "an integer field value must be in [0, 2**64)");
        return -1;
    }
    if (fp_room(r, FP_K_U64) < 0) return -1;
    r->u64[r->n[FP_K_U64]++] = n;
    return 0;
}

static int fp_put_bool(fp_results *r, PyObject *v) {
    int b = PyObject_IsTrue(v);
    if (b < 0 || fp_room(r, FP_K_U32) < 0) return -1;
    r->u32[r->n[FP_K_U32]++] = (uint32_t)b;
    return 0;
}

static int fp_put_str(fp_results *r, PyObject *v) {
    if (!PyUnicode_Check(v)) {
        PyErr_Format(PyExc_TypeError, "expected a str value, got %.100s", Py_TYPE(v)->tp_name);
        return -1;
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(v, &n);
    if (!s) return -1;
    if (memchr(s, '\0', (size_t)n)) {
        PyErr_SetString(PyExc_ValueError, "a string field value cannot contain NUL");
        return -1;
    }
    if (fp_room(r, FP_K_STR) < 0 ||
        fp_arena_put(r, s, (size_t)n, 1, &r->str_off[r->n[FP_K_STR]]) < 0)
        return -1;
    r->n[FP_K_STR]++;
    return 0;
}

static int fp_put_addr(fp_results *r, PyObject *v) {
    char *data;
    Py_ssize_t n;
    if (!PyBytes_Check(v) || PyBytes_AsStringAndSize(v, &data, &n) < 0 || (n != 4 && n != 16)) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "an address field value must be an IPv4/IPv6 address");
        return -1;
    }
    size_t k = r->n[FP_K_BUF];
    if (fp_room(r, FP_K_BUF) < 0 || fp_arena_put(r, data, (size_t)n, 0, &r->buf_off[k]) < 0)
        return -1;
    r->buf_len[k] = (uint32_t)n;
    r->n[FP_K_BUF]++;
    return 0;
}

/* Store one Python value of field `fd`. */
static FP_ALWAYS_INLINE int fp_put_value(fp_results *r, const fp_field *fd, PyObject *v) {
    /* tests, not a switch: the usual kinds first, in a compare or two (a switch is a jump
     * table here: more work for them) */
    if (fd->kind == FP_K_U64) return fp_put_int(r, v);
    if (fd->kind == FP_K_STR) return fp_put_str(r, v);
    if (fd->kind == FP_K_U32) return fp_put_bool(r, v);
    return fp_put_addr(r, v);
}

/* Store the values of a list field. */
static int fp_put_list(fp_results *r, const fp_field *fd, PyObject *value) {
    PyObject *seq = PySequence_Fast(value, "a list field must return a list of values");
    if (!seq) return -1;
    int rc = 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t k = 0; k < n && rc == 0; k++)
        rc = fp_put_value(r, fd, PySequence_Fast_GET_ITEM(seq, k));
    Py_DECREF(seq);
    return rc;
}

/* Point a requested field's result at its values, from index `first` of its kind. */
static inline void fp_point(const fp_results *r, ss_plugin_extract_field *f, int kind,
                            size_t first) {
    if (kind == FP_K_U64) f->res.u64 = r->u64 + first; /* as in fp_put_value */
    else if (kind == FP_K_STR) f->res.str = r->str + first;
    else if (kind == FP_K_U32) f->res.u32 = r->u32 + first;
    else f->res.buf = r->buf + first;
}

/* Call a function with vectorcall arguments. A Python function (a field method) is called
 * through its own vectorcall entry: what PyObject_Vectorcall adds, finding that entry and
 * checking that a result and an error do not come together (a guard for C callables: the
 * eval loop never does that), is work for nothing there. */
static inline PyObject *fp_vectorcall(PyObject *func, PyObject *const *args, size_t nargsf) {
    if (PyFunction_Check(func))
        return ((PyFunctionObject *)func)->vectorcall(func, args, nargsf, NULL);
    return PyObject_Vectorcall(func, args, nargsf, NULL);
}

/* Call a field's method with the event (and the request's argument, for a field that
 * takes one): its new result, or NULL with a Python error. */
static PyObject *fp_call_field(fp_extractor *x, const fp_field *fd,
                               const ss_plugin_extract_field *f) {
    PyObject *arg = NULL;
    if (fd->arg_kind != 0 && f->arg_present) {
        arg = fd->arg_kind == 1 ? PyLong_FromUnsignedLongLong(f->arg_index) : fp_str(f->arg_key);
        if (!arg) return NULL;
    } else if (fd->arg_kind != 0 && fd->arg_required) {
        PyErr_Format(PyExc_ValueError, "field %s requires an argument", f->field);
        return NULL;
    }
    /* args[0] is scratch space the callee may use (PY_VECTORCALL_ARGUMENTS_OFFSET) */
    PyObject *args[4] = {NULL, fd->self, (PyObject *)x->cur, arg};
    size_t nargs = (fd->self ? 2 : 1) + (arg != NULL);
    PyObject *res = fp_vectorcall(fd->func, args + (fd->self ? 1 : 2),
                                  nargs | PY_VECTORCALL_ARGUMENTS_OFFSET);
    Py_XDECREF(arg);
    return res;
}

/* Call the field method for one requested field, store its value(s) and point the
 * field's result at them. */
static int fp_extract_one(fp_extractor *x, ss_plugin_extract_field *f, size_t i) {
    fp_results *r = &x->r;
    const fp_field *fd = &x->fields[f->field_id];
    PyObject *res = fp_call_field(x, fd, f);
    if (!res) return -1;
    PyObject *value = res;
    if (fd->offsets && Py_TYPE(res) == (PyTypeObject *)g_located_cls) {
        value = PyTuple_GET_ITEM(res, 0);
        unsigned long s = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(res, 1));
        unsigned long n = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(res, 2));
        if (PyErr_Occurred()) {
            Py_DECREF(res);
            return -1;
        }
        r->start[i] = (uint32_t)s;
        r->length[i] = (uint32_t)n;
    }
    size_t first = r->n[fd->kind];
    r->first[i] = first;
    int rc = 0;
    if (value != Py_None)
        rc = fd->is_list ? fp_put_list(r, fd, value) : fp_put_value(r, fd, value);
    Py_DECREF(res);
    if (rc < 0) return -1;
    f->res_len = r->n[fd->kind] - first;
    fp_point(r, f, fd->kind, first);
    return 0;
}

/* The end of a call (no GIL needed: -1 when out of memory): the strings and addresses get
 * their pointers into the arena, which moves no more. Each field's result was pointed at
 * its values when they were stored, and only the values of later fields may have moved
 * them since: with more than one field, every result is pointed again. */
static FP_ALWAYS_INLINE int fp_extract_finish(fp_extractor *x,
                                             const ss_plugin_field_extract_input *in) {
    fp_results *r = &x->r;
    if (r->arena_len) { /* else no string or address (a string takes at least its NUL) */
        for (size_t k = 0; k < r->n[FP_K_STR]; k++) r->str[k] = r->arena + r->str_off[k];
        for (size_t k = 0; k < r->n[FP_K_BUF]; k++) {
            r->buf[k].ptr = r->arena + r->buf_off[k];
            r->buf[k].len = r->buf_len[k];
        }
    }
    if (in->num_fields > 1)
        for (uint32_t i = 0; i < in->num_fields; i++) {
            ss_plugin_extract_field *f = &in->fields[i];
            fp_point(r, f, x->fields[f->field_id].kind, r->first[i]);
        }
#if FP_EXTRACT_OFFSETS /* value_offsets exists in the input struct from API 3.11 on */
    if (in->value_offsets) {
        /* The API gives one offset per requested field, but libsinsp (0.25) reads one per
         * VALUE of a list field: make the arrays that long (zeros: "no offset") so that it
         * never reads past them. */
        size_t need = in->num_fields;
        for (uint32_t i = 0; i < in->num_fields; i++)
            if (in->fields[i].res_len > need) need = in->fields[i].res_len;
        if (fp_grow_fields(r, need) < 0) return -1;
        for (size_t k = in->num_fields; k < need; k++) r->start[k] = r->length[k] = 0;
        in->value_offsets->start = r->start;
        in->value_offsets->length = r->length;
    }
#endif
    return 0;
}

/* The event object for this call: the same one for every field of one event. */
static int fp_extract_event(fp_extractor *x, const ss_plugin_event_input *evt) {
    if (x->cur && x->cur_evtnum == evt->evtnum && x->cur_ptr == evt->evt &&
        x->cur_ts == evt->evt->ts) {
        x->cur->raw = evt->evt;
        x->cur->evtsrc = evt->evtsrc;
        return 0;
    }
    if (!fp_event_take(&x->cur, evt, x->make_context)) return -1;
    x->cur_evtnum = evt->evtnum;
    x->cur_ptr = evt->evt;
    x->cur_ts = evt->evt->ts;
    return 0;
}

#if FP_HAS_SOURCE
#include "shim_supplied.c"
#endif

/*
 * extract_fields: the fields the source supplied with this event are answered in C without
 * the GIL (all of them, or the ones before the first that is not supplied); the rest go to
 * their Python methods, under the GIL taken once.
 */
FP_EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t *s, const ss_plugin_event_input *evt,
                                             const ss_plugin_field_extract_input *in) {
    fp_state *st = s;
    if (!fp_ready(st)) return SS_PLUGIN_FAILURE;
    fp_extractor *x = st->extract;
    if (!x || !evt || !evt->evt || !in || (in->num_fields && !in->fields)) {
        fp_set_error(st, "extract_fields called without an event or fields");
        return SS_PLUGIN_FAILURE;
    }
    fp_results *r = &x->r;
    memset(r->n, 0, sizeof r->n);
    r->arena_len = 0;
    const char *failed = NULL;
    int nomem = fp_grow_fields(r, (size_t)in->num_fields + 1) < 0;
    uint32_t i = 0; /* the fields before i are answered */
#if FP_HAS_SOURCE
    const fp_supplied *lo, *hi;
    if (!nomem && st->sup_inst && fp_supplied_of(st, evt->evt, &lo, &hi)) {
        for (; i < in->num_fields; i++) {
            ss_plugin_extract_field *f = &in->fields[i];
            if (f->field_id >= x->nfields) break;
            int got = fp_supplied_put(x, st->sup_inst->batch, lo, hi, f, i);
            if (got <= 0) {
                nomem = got < 0;
                break;
            }
#if FP_EXTRACT_OFFSETS
            r->start[i] = r->length[i] = 0;
#endif
        }
        if (i == in->num_fields && fp_extract_finish(x, in) == 0)
            return SS_PLUGIN_SUCCESS; /* no Python */
    }
#endif
    PyGILState_STATE g = fp_enter();
    if (nomem) {
        PyErr_NoMemory();
        failed = "extract_fields";
    } else {
        fp_tables_begin(st->tables, FP_SCOPE_READ, in->table_reader_ext, NULL);
        if (fp_extract_event(x, evt) < 0) failed = "extract_fields";
    }
    for (; !failed && i < in->num_fields; i++) {
        ss_plugin_extract_field *f = &in->fields[i];
        f->res_len = 0;
#if FP_EXTRACT_OFFSETS /* else no one reads them */
        r->start[i] = r->length[i] = 0;
#endif
        if (f->field_id >= x->nfields) {
            PyErr_Format(PyExc_ValueError, "unknown field id %u", f->field_id);
            failed = "an unknown field";
        } else if (fp_extract_one(x, f, i) < 0) {
            failed = f->field ? f->field : "extract_fields";
        }
    }
    if (!failed && fp_extract_finish(x, in) < 0) {
        PyErr_NoMemory();
        failed = "extract_fields";
    }
    fp_event_release(x->cur); /* the host's memory is not ours after the call */
    fp_tables_end(st->tables);
    if (failed) {
        char where[160];
        snprintf(where, sizeof where, "extracting %s", failed);
        fp_error_from_python(st, where);
    }
    fp_leave(g);
    return failed ? SS_PLUGIN_FAILURE : SS_PLUGIN_SUCCESS;
}

FP_EXPORT const char *plugin_get_fields(void) { return FP_META_FIELDS; }

#if FP_HAS_EXTRACT_SOURCES
FP_EXPORT const char *plugin_get_extract_event_sources(void) { return FP_META_EXTRACT_SOURCES; }
#endif

#if FP_NUM_EXTRACT_TYPES
static uint16_t fp_extract_types[] = FP_EXTRACT_TYPES;
FP_EXPORT uint16_t *plugin_get_extract_event_types(uint32_t *numtypes, ss_plugin_t *s) {
    if (numtypes) *numtypes = FP_NUM_EXTRACT_TYPES;
    return fp_extract_types;
}
#endif

/* The type of each field as baked into get_fields: what the host will read. */
static const uint32_t fp_field_types[] = FP_FIELD_TYPES;
static const int fp_field_lists[] = FP_FIELD_LISTS;
#if FP_HAS_SOURCE
static const char *const fp_field_names[] = FP_FIELD_NAMES;
#endif

/* With the GIL held, after the runtime was created: cache the field methods. */
static int fp_extract_setup(fp_state *st) {
    if (!g_sdk.located_cls && !(g_sdk.located_cls = fp_sdk_attr("extract", "Located"))) return -1;
    fp_extractor *x = calloc(1, sizeof *x);
    if (!x) {
        PyErr_NoMemory();
        return -1;
    }
    st->extract = x;
    PyObject *list = PyObject_CallMethod(st->rt, "extractors", NULL);
    if (!list) return -1;
    Py_ssize_t n = PyList_Size(list);
    if (n != FP_NUM_FIELDS) { /* init checked the facts: never expected, never trusted */
        Py_DECREF(list);
        PyErr_Format(PyExc_RuntimeError, "rebuild the plugin: the library has %d fields, the "
                     "code %zd", FP_NUM_FIELDS, n);
        return -1;
    }
    x->fields = calloc((size_t)(n > 0 ? n : 1), sizeof *x->fields);
    int room = 0; /* the result arrays exist from now on: see fp_results */
    for (int kind = 0; kind < FP_NKINDS; kind++) room |= fp_widen(&x->r, kind);
    if (!x->fields || room < 0 || fp_grow_fields(&x->r, 4) < 0) {
        Py_DECREF(list);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *fn;
        unsigned int ftype;
        int is_list, arg_kind, required, offsets;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(list, i), "OIpipp", &fn, &ftype, &is_list,
                              &arg_kind, &required, &offsets)) {
            Py_DECREF(list);
            return -1;
        }
        if (ftype != fp_field_types[i] || is_list != fp_field_lists[i]) {
            /* the host reads each result as get_fields said: a str pointer, a u64, ... */
            Py_DECREF(list);
            PyErr_Format(PyExc_RuntimeError, "rebuild the plugin: field %zd has another type "
                         "in the code than in the library", i);
            return -1;
        }
        int kind = fp_kind_of(ftype);
        if (kind < 0) { /* the SDK makes no other type: never expected */
            Py_DECREF(list);
            PyErr_Format(PyExc_ValueError, "unknown field type %u", ftype);
            return -1;
        }
        Py_INCREF(fn);
        /* a bound method is called as its function with self first: one call, not two */
        int bound = PyMethod_Check(fn);
        x->fields[i] = (fp_field){fn, bound ? PyMethod_GET_FUNCTION(fn) : fn,
                                  bound ? PyMethod_GET_SELF(fn) : NULL, ftype, (uint8_t)kind,
                                  (uint8_t)is_list, (uint8_t)arg_kind, (uint8_t)required,
                                  (uint8_t)offsets};
        x->nfields = (uint32_t)(i + 1);
    }
    Py_DECREF(list);
#if FP_HAS_SOURCE
    if (!(x->names = PyDict_New())) return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *id = PyLong_FromSsize_t(i);
        int rc = id ? PyDict_SetItemString(x->names, fp_field_names[i], id) : -1;
        Py_XDECREF(id);
        if (rc < 0) return -1;
    }
#endif
    x->make_context = PyObject_CallMethod(st->rt, "context_factory", NULL);
    if (!x->make_context) return -1;
    if (x->make_context == Py_None) Py_CLEAR(x->make_context);
    return 0;
}

/* With the GIL held: drop the Python references and free the result buffers. */
static void fp_extract_free(fp_extractor *x) {
    if (!x) return;
    for (uint32_t i = 0; i < x->nfields; i++) Py_XDECREF(x->fields[i].fn);
    free(x->fields);
    Py_XDECREF(x->make_context);
    Py_XDECREF(x->names);
    for (int i = 0; i < FP_NAME_CACHE; i++) Py_XDECREF(x->name_cache[i].name);
    Py_XDECREF((PyObject *)x->cur);
    fp_results *r = &x->r;
    free(r->u64);
    free(r->u32);
    free(r->str_off);
    free(r->str);
    free(r->buf_off);
    free(r->buf_len);
    free(r->buf);
    free(r->arena);
    free(r->start);
    free(r->length);
    free(r->first);
    free(x);
}
