/*
 * The event model's hot paths in C, included by shim.c: what falco_plugin.event does in
 * Python (event/raw.py, event/typed.py) for code running inside a plugin library. The shim
 * makes one object per import space and leaves it on the space's runtime module
 * (`native_events`); raw.py and typed.py bind their classes to it when they are imported
 * there, and keep their Python code as the fallback and the reference: same values, same
 * types, same errors (a plugin test compares both on every event type, malformed ones
 * included).
 *
 * - parse(view, offset) and walk(buf): the header walk, RawEvent objects made with their
 *   slots filled in C (the event layout facts come from the generated fp_events.h);
 * - decode(data, offset): typed decode. Per event type a plan, asked once from typed.py,
 *   says how each parameter is read: integers, strings, bytes and doubles in C, the other
 *   types through their Python codec; the params and Event objects are filled in C.
 */

#include "fp_events.h"

#define FP_EVT_HEADER 26

enum { FP_NATIVE_PY, FP_NATIVE_UINT, FP_NATIVE_SINT, FP_NATIVE_CSTR, FP_NATIVE_BYTES,
       FP_NATIVE_DOUBLE }; /* params.NATIVE_* (the others in the values' part) */

enum { FP_NATIVE_SOCKADDR = FP_NATIVE_DOUBLE + 1, FP_NATIVE_SOCKTUPLE, FP_NATIVE_IPV4,
       FP_NATIVE_IPV6, FP_NATIVE_IP, FP_NATIVE_LAST = FP_NATIVE_IP }; /* params.NATIVE_* */

#define FP_AF_UNIX 1
#define FP_AF_INET 2
#define FP_AF_INET6 10

/* The classes of bind_typed's `values` tuple, in this order, with the slots C fills. */
enum { V_IP4, V_IP6, V_SA4, V_SA6, V_SAUNIX, V_SAOTHER, V_ST4, V_ST6, V_STUNIX, V_STOTHER,
       V_COUNT };
static const char *const fp_value_slots[V_COUNT][4] = {
    {"_ip"},          {"_ip", "_scope_id"},           {"addr", "port"},
    {"addr", "port"}, {"path"},                       {"family", "data"},
    {"sip", "sport", "dip", "dport"}, {"sip", "sport", "dip", "dport"},
    {"source_ptr", "dest_ptr", "path"}, {"family", "data"},
};

typedef struct {
    PyTypeObject *cls;
    int n;
    Py_ssize_t off[4];
} fp_value_cls;

#define FP_WCACHE_BITS 8
struct fp_wcache {
    PyObject *wrap; /* borrowed: see fp_ev_wrapped */
    PyObject *obj;
    uint64_t bits;
    int is_signed;
};

/* How the parameters of one event type are decoded (from typed._native_plan). */
typedef struct fp_plan {
    PyTypeObject *cls; /* the params class */
    PyObject *id;      /* cls.ID, for errors */
    PyObject *tuple;   /* the plan as Python gave it: holds every object below */
    Py_ssize_t n;      /* the schema's parameters */
    Py_ssize_t nrel;
    struct {
        Py_ssize_t slot;
        unsigned char kind, width;
        PyObject *wrap;    /* borrowed (from tuple): an int subclass, or NULL */
        PyObject *decode;  /* borrowed: the Python codec's decode */
        PyObject *ptype;   /* borrowed: the type's name, for errors */
    } p[FP_EVT_MAX_PARAMS];
    Py_ssize_t rel[FP_EVT_MAX_PARAMS][2]; /* (path index, dirfd index) of PT_FSRELPATH */
} fp_plan;

typedef struct {
    PyObject_HEAD
    PyTypeObject *raw_cls; /* raw.RawEvent */
    PyObject *error;       /* framing.EventFormatError */
    PyObject *as_view;     /* raw._as_bytes_view */
    Py_ssize_t raw_off[8]; /* RawEvent slots: ts tid len type nparams lengths _buf _off */
    PyTypeObject *event_cls; /* typed.Event */
    Py_ssize_t ev_off[4];    /* Event slots: ts tid params nparams */
    PyObject *relpath;       /* values.RelPath */
    PyObject *prepare;       /* typed._native_plan(code) */
    PyObject *slow_decode;   /* typed._decode_py: RawEvents whose slots were changed */
    PyObject *dirfd_name;    /* "dirfd" */
    PyObject *value_classes; /* the classes of net.py and ipaddress C fills */
    fp_value_cls values[V_COUNT];
    int have_values;
    PyObject *type_ints[FP_EVT_COUNT]; /* the event type codes as ints, made once */
    PyObject *lengths_park[FP_EVT_MAX_PARAMS + 1]; /* a lengths tuple by size, only ours */
    struct fp_wcache wcache[1 << FP_WCACHE_BITS];
    fp_plan *plans[FP_EVT_COUNT];
} fp_evnative;

enum { R_TS, R_TID, R_LEN, R_TYPE, R_NPARAMS, R_LENGTHS, R_BUF, R_OFF };
static const char *const fp_rawev_slot_names[8] = {"ts", "tid", "len", "type", "nparams",
                                            "lengths", "_buf", "_off"};
enum { E_TS, E_TID, E_PARAMS, E_NPARAMS };
static const char *const fp_typedev_slot_names[4] = {"ts", "tid", "params", "nparams"};

/* The header of one event, checked as raw._parse checks it. */
typedef struct {
    uint64_t ts;
    int64_t tid;
    uint32_t len, nparams;
    uint16_t type;
    int large;
    uint64_t table; /* where the values start, from the event's start */
} fp_hdr;

static uint32_t fp_ev_length(const uint8_t *lens, int large, uint32_t i) {
    if (large) {
        uint32_t v;
        memcpy(&v, lens + 4 * (size_t)i, 4);
        return v;
    }
    uint16_t v;
    memcpy(&v, lens + 2 * (size_t)i, 2);
    return v;
}

/* Check the event at `offset` of buf[0:size]; -1 with raw._parse's EventFormatError. */
static int fp_ev_header(fp_evnative *m, const uint8_t *buf, Py_ssize_t size, Py_ssize_t offset,
                        fp_hdr *h) {
    if (offset < 0 || offset > size - FP_EVT_HEADER) {
        PyErr_Format(m->error, "truncated event header at offset %zd", offset);
        return -1;
    }
    const uint8_t *p = buf + offset;
    memcpy(&h->ts, p, 8);
    memcpy(&h->tid, p + 8, 8);
    memcpy(&h->len, p + 16, 4);
    memcpy(&h->type, p + 20, 2);
    memcpy(&h->nparams, p + 22, 4);
    if (h->len < FP_EVT_HEADER) {
        PyErr_Format(m->error, "event length %u below the header size at offset %zd",
                     (unsigned)h->len, offset);
        return -1;
    }
    if ((uint64_t)h->len > (uint64_t)(size - offset)) {
        PyErr_Format(m->error, "event of %u bytes at offset %zd runs past the buffer (%zd bytes)",
                     (unsigned)h->len, offset, size);
        return -1;
    }
    if (h->type >= FP_EVT_COUNT) {
        PyErr_Format(m->error, "unknown event type %u at offset %zd", (unsigned)h->type, offset);
        return -1;
    }
    h->large = fp_evt_large[h->type];
    h->table = FP_EVT_HEADER + (uint64_t)h->nparams * (h->large ? 4 : 2);
    if (h->nparams > FP_EVT_MAX_PARAMS || h->table > h->len) {
        PyErr_Format(m->error, "event at offset %zd: %u parameter lengths do not fit in %u bytes",
                     offset, (unsigned)h->nparams, (unsigned)h->len);
        return -1;
    }
    uint64_t sum = 0;
    for (uint32_t i = 0; i < h->nparams; i++)
        sum += fp_ev_length(p + FP_EVT_HEADER, h->large, i);
    if (h->table + sum != h->len) {
        PyErr_Format(m->error,
                     "event at offset %zd: parameter lengths add up to %llu, but the event has "
                     "%llu bytes of values",
                     offset, (unsigned long long)sum, (unsigned long long)(h->len - h->table));
        return -1;
    }
    return 0;
}

/* A tuple of n items to fill: the one parked for that size (a lengths tuple only the
 * walk held when its RawEvent was refilled with another size), else a new one. */
static PyObject *fp_ev_lengths_tuple(fp_evnative *m, uint32_t n) {
    PyObject *t = m->lengths_park[n];
    if (!t) return PyTuple_New(n);
    m->lengths_park[n] = NULL;
    return t;
}

/* The lengths tuple of an event: `old` filled again when nothing else holds it and it has
 * the size, else parked for the next event of its size. */
static PyObject *fp_ev_lengths(fp_evnative *m, const uint8_t *lens, const fp_hdr *h,
                               PyObject *old) {
    int mine = old && Py_REFCNT(old) == 1 && PyTuple_CheckExact(old); /* no one can tell */
    PyObject *t = mine && PyTuple_GET_SIZE(old) == (Py_ssize_t)h->nparams
                      ? Py_NewRef(old)
                      : fp_ev_lengths_tuple(m, h->nparams);
    if (mine && t != old && PyTuple_GET_SIZE(old) <= FP_EVT_MAX_PARAMS &&
        !m->lengths_park[PyTuple_GET_SIZE(old)]) /* kept for the next event of its size */
        m->lengths_park[PyTuple_GET_SIZE(old)] = Py_NewRef(old);
    for (uint32_t i = 0; t && i < h->nparams; i++) {
        PyObject *v = PyLong_FromUnsignedLong(fp_ev_length(lens, h->large, i));
        if (!v) Py_CLEAR(t);
        else Py_XSETREF(PyTuple_GET_ITEM(t, i), v);
    }
    return t;
}

/* An int slot's value again: the object already there when it holds the same value (events
 * of one thread in a row share their tid), else a new int. */
static PyObject *fp_ev_int_again(PyObject *raw, Py_ssize_t off, long long value) {
    PyObject *old = raw ? FP_SLOT(raw, off) : NULL;
    if (old && PyLong_CheckExact(old)) {
        int overflow;
        long long was = PyLong_AsLongLongAndOverflow(old, &overflow);
        if (!overflow && was == value && !(was == -1 && PyErr_Occurred())) return Py_NewRef(old);
        PyErr_Clear();
    }
    return PyLong_FromLongLong(value);
}

/* A RawEvent over `view` (a new reference), its slots filled as raw._parse fills them; into
 * `reuse` (a RawEvent only the caller holds) when given. */
static PyObject *fp_ev_raw(fp_evnative *m, const uint8_t *buf, PyObject *view, Py_ssize_t off,
                           const fp_hdr *h, PyObject *reuse) {
    PyObject *type = m->type_ints[h->type];
    if (!type && !(type = m->type_ints[h->type] = PyLong_FromUnsignedLong(h->type))) return NULL;
    const Py_ssize_t *o = m->raw_off;
    PyObject *v[8];
    v[R_TS] = PyLong_FromUnsignedLongLong(h->ts);
    v[R_TID] = fp_ev_int_again(reuse, o[R_TID], h->tid);
    v[R_LEN] = PyLong_FromUnsignedLong(h->len);
    v[R_TYPE] = Py_NewRef(type);
    v[R_NPARAMS] = PyLong_FromUnsignedLong(h->nparams);
    PyObject *old_lengths = reuse ? FP_SLOT(reuse, o[R_LENGTHS]) : NULL;
    v[R_LENGTHS] = fp_ev_lengths(m, buf + off + FP_EVT_HEADER, h, old_lengths);
    v[R_BUF] = Py_NewRef(view);
    v[R_OFF] = PyLong_FromLong((long)off); /* CPython 3.11: one digit without a loop */
    PyObject *raw = reuse ? Py_NewRef(reuse) : m->raw_cls->tp_alloc(m->raw_cls, 0);
    int ok = raw && v[R_TS] && v[R_TID] && v[R_LEN] && v[R_NPARAMS] && v[R_LENGTHS] && v[R_OFF];
    for (int k = 0; k < 8; k++) {
        if (ok)
            fp_slot_set(raw, o[k], v[k]);
        else
            Py_XDECREF(v[k]);
    }
    if (!ok) Py_CLEAR(raw);
    return raw;
}

/* ------------------------------------------------------------------ binding */

/* bind_raw(RawEvent, EventFormatError, as_view, layout_digest) -> bool: whether this
 * library's layout facts are the SDK's (else raw.py keeps to Python). */
static PyObject *fp_ev_bind_raw(PyObject *self, PyObject *args) {
    fp_evnative *m = (fp_evnative *)self;
    PyObject *cls, *error, *as_view;
    const char *digest;
    if (!PyArg_ParseTuple(args, "O!OOs", &PyType_Type, &cls, &error, &as_view, &digest))
        return NULL;
    if (strcmp(digest, FP_EVT_LAYOUT_DIGEST) != 0) Py_RETURN_FALSE;
    for (int k = 0; k < 8; k++)
        if ((m->raw_off[k] = fp_slot_offset((PyTypeObject *)cls, fp_rawev_slot_names[k])) < 0)
            return NULL;
    Py_XSETREF(m->raw_cls, (PyTypeObject *)Py_NewRef(cls));
    Py_XSETREF(m->error, Py_NewRef(error));
    Py_XSETREF(m->as_view, Py_NewRef(as_view));
    Py_RETURN_TRUE;
}

static int fp_ev_bind_values(fp_evnative *m, PyObject *classes);

/* bind_typed(Event, RelPath, plan_fn, slow_decode, values): `values` are the classes of
 * net.py and ipaddress that C makes (see shim_events_values.c). */
static PyObject *fp_ev_bind_typed(PyObject *self, PyObject *args) {
    fp_evnative *m = (fp_evnative *)self;
    PyObject *cls, *relpath, *prepare, *slow, *values;
    if (!PyArg_ParseTuple(args, "O!O!OOO", &PyType_Type, &cls, &PyType_Type, &relpath, &prepare,
                          &slow, &values))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)relpath, &PyUnicode_Type)) {
        PyErr_SetString(PyExc_TypeError, "RelPath must be a str type");
        return NULL;
    }
    for (int k = 0; k < 4; k++)
        if ((m->ev_off[k] = fp_slot_offset((PyTypeObject *)cls, fp_typedev_slot_names[k])) < 0)
            return NULL;
    if (!m->dirfd_name && !(m->dirfd_name = PyUnicode_InternFromString("dirfd"))) return NULL;
    if (fp_ev_bind_values(m, values) < 0) return NULL;
    Py_XSETREF(m->event_cls, (PyTypeObject *)Py_NewRef(cls));
    Py_XSETREF(m->relpath, Py_NewRef(relpath));
    Py_XSETREF(m->prepare, Py_NewRef(prepare));
    Py_XSETREF(m->slow_decode, Py_NewRef(slow));
    Py_RETURN_NONE;
}

static int fp_ev_ready(fp_evnative *m, int typed) {
    if (m->raw_cls && (!typed || m->event_cls)) return 0;
    PyErr_SetString(PyExc_RuntimeError, "the native event functions are not bound");
    return -1;
}

/* The plan of event type `code`, asked from Python the first time. */
static fp_plan *fp_ev_plan(fp_evnative *m, uint16_t code) {
    if (m->plans[code]) return m->plans[code];
    PyObject *t = PyObject_CallFunction(m->prepare, "i", (int)code);
    if (!t) return NULL;
    PyObject *cls, *id, *kinds, *widths, *wraps, *decoders, *ptypes, *rels;
    int large;
    fp_plan *plan = NULL;
    if (!PyArg_ParseTuple(t, "O!UpSSO!O!O!O!", &PyType_Type, &cls, &id, &large, &kinds, &widths,
                          &PyTuple_Type, &wraps, &PyTuple_Type, &decoders, &PyTuple_Type,
                          &ptypes, &PyTuple_Type, &rels))
        goto done;
    Py_ssize_t n = PyBytes_GET_SIZE(kinds), nrel = PyTuple_GET_SIZE(rels);
    PyObject *slots = PyObject_GetAttrString(cls, "__slots__");
    int fits = slots && PyTuple_Check(slots) && PyTuple_GET_SIZE(slots) == n &&
               n <= FP_EVT_MAX_PARAMS && nrel <= n && PyBytes_GET_SIZE(widths) == n &&
               PyTuple_GET_SIZE(wraps) == n && PyTuple_GET_SIZE(decoders) == n &&
               PyTuple_GET_SIZE(ptypes) == n && large == fp_evt_large[code];
    if (!fits) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_RuntimeError, "event type %d: the native plan does not fit",
                         (int)code);
        Py_XDECREF(slots);
        goto done;
    }
    plan = calloc(1, sizeof *plan);
    if (!plan) {
        PyErr_NoMemory();
        Py_DECREF(slots);
        goto done;
    }
    plan->cls = (PyTypeObject *)cls;
    plan->id = id;
    plan->n = n;
    plan->nrel = nrel;
    for (Py_ssize_t i = 0; i < n && plan; i++) {
        PyObject *name = PyTuple_GET_ITEM(slots, i);
        const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
        plan->p[i].slot = text ? fp_slot_offset((PyTypeObject *)cls, text) : -1;
        plan->p[i].kind = (unsigned char)PyBytes_AS_STRING(kinds)[i];
        plan->p[i].width = (unsigned char)PyBytes_AS_STRING(widths)[i];
        PyObject *wrap = PyTuple_GET_ITEM(wraps, i);
        plan->p[i].wrap = wrap == Py_None ? NULL : wrap;
        plan->p[i].decode = PyTuple_GET_ITEM(decoders, i);
        plan->p[i].ptype = PyTuple_GET_ITEM(ptypes, i);
        unsigned w = plan->p[i].width, kind = plan->p[i].kind;
        int int_ok = w == 1 || w == 2 || w == 4 || w == 8;
        if (plan->p[i].slot < 0 || kind > FP_NATIVE_LAST ||
            ((kind == FP_NATIVE_UINT || kind == FP_NATIVE_SINT) && !int_ok)) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_RuntimeError, "event type %d: bad native plan", (int)code);
            free(plan);
            plan = NULL;
        }
    }
    for (Py_ssize_t r = 0; plan && r < nrel; r++) {
        PyObject *pair = PyTuple_GET_ITEM(rels, r);
        Py_ssize_t a, b;
        if (!PyArg_ParseTuple(pair, "nn", &a, &b) || a < 0 || b < 0 || a >= n || b >= n) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_RuntimeError, "event type %d: bad relative path", (int)code);
            free(plan);
            plan = NULL;
            break;
        }
        plan->rel[r][0] = a;
        plan->rel[r][1] = b;
    }
    Py_DECREF(slots);
    if (plan) {
        plan->tuple = Py_NewRef(t);
        m->plans[code] = plan;
    }
done:
    Py_DECREF(t);
    return plan;
}

/* ------------------------------------------------------------------ decoding */

#include "shim_events_values.c"

/* The typed Event of the (checked) event at buf+off; ts and tid are the objects to use
 * (new references, stolen). */
static PyObject *fp_ev_typed(fp_evnative *m, const uint8_t *buf, Py_ssize_t off, const fp_hdr *h,
                             PyObject *ts, PyObject *tid) {
    PyObject *values[FP_EVT_MAX_PARAMS] = {NULL};
    PyObject *event = NULL, *params = NULL, *out = NULL;
    fp_plan *plan = ts && tid ? fp_ev_plan(m, h->type) : NULL;
    Py_ssize_t n = plan ? plan->n : 0;
    if (!plan) goto fail;
    if ((Py_ssize_t)h->nparams > n) {
        PyErr_Format(m->error, "%U event with %u parameters; the schema knows %zd", plan->id,
                     (unsigned)h->nparams, n);
        goto fail;
    }
    Py_ssize_t pos = off + (Py_ssize_t)h->table;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t size = i < (Py_ssize_t)h->nparams
                            ? fp_ev_length(buf + off + FP_EVT_HEADER, h->large, (uint32_t)i)
                            : 0;
        values[i] = size ? fp_ev_value(m, plan, i, buf, off, pos, size, h->len, &event)
                         : Py_NewRef(Py_None);
        if (!values[i]) goto fail;
        pos += size;
    }
    for (Py_ssize_t r = 0; r < plan->nrel; r++) {
        PyObject **path = &values[plan->rel[r][0]];
        if (*path == Py_None) continue;
        PyObject *rel = fp_ev_relpath(m, *path, values[plan->rel[r][1]]);
        if (!rel) goto fail;
        Py_SETREF(*path, rel);
    }
    params = plan->cls->tp_alloc(plan->cls, 0);
    out = params ? m->event_cls->tp_alloc(m->event_cls, 0) : NULL;
    PyObject *count = out ? PyLong_FromUnsignedLong(h->nparams) : NULL;
    if (!count) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        FP_SLOT(params, plan->p[i].slot) = values[i];
        values[i] = NULL;
    }
    FP_SLOT(out, m->ev_off[E_PARAMS]) = params;
    FP_SLOT(out, m->ev_off[E_TS]) = ts;
    FP_SLOT(out, m->ev_off[E_TID]) = tid;
    FP_SLOT(out, m->ev_off[E_NPARAMS]) = count;
    Py_XDECREF(event);
    return out;
fail:
    for (Py_ssize_t i = 0; i < n; i++) Py_XDECREF(values[i]);
    Py_XDECREF(event);
    Py_XDECREF(params);
    Py_XDECREF(out);
    Py_XDECREF(ts);
    Py_XDECREF(tid);
    return NULL;
}

/* An exact int slot of a RawEvent as a uint64, or -1 when it is not one. */
static int fp_ev_slot_u64(PyObject *raw, Py_ssize_t off, uint64_t *out) {
    PyObject *v = FP_SLOT(raw, off);
    if (!v || !PyLong_CheckExact(v)) return -1;
    *out = PyLong_AsUnsignedLongLong(v);
    if (*out == (uint64_t)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return 0;
}

/* Whether the slots of a RawEvent still say what its buffer says (they are writable). */
static int fp_ev_raw_intact(fp_evnative *m, PyObject *raw, const uint8_t *buf, Py_ssize_t off,
                            const fp_hdr *h) {
    uint64_t len, type, nparams;
    PyObject *lengths = FP_SLOT(raw, m->raw_off[R_LENGTHS]);
    if (fp_ev_slot_u64(raw, m->raw_off[R_LEN], &len) < 0 || len != h->len ||
        fp_ev_slot_u64(raw, m->raw_off[R_TYPE], &type) < 0 || type != h->type ||
        fp_ev_slot_u64(raw, m->raw_off[R_NPARAMS], &nparams) < 0 || nparams != h->nparams ||
        !lengths || !PyTuple_CheckExact(lengths) || PyTuple_GET_SIZE(lengths) != h->nparams ||
        !FP_SLOT(raw, m->raw_off[R_TS]) || !FP_SLOT(raw, m->raw_off[R_TID]))
        return 0;
    for (uint32_t i = 0; i < h->nparams; i++) {
        PyObject *v = PyTuple_GET_ITEM(lengths, i);
        unsigned long got = PyLong_CheckExact(v) ? PyLong_AsUnsignedLong(v) : (unsigned long)-1;
        if (got == (unsigned long)-1 && PyErr_Occurred()) PyErr_Clear();
        if (got != fp_ev_length(buf + off + FP_EVT_HEADER, h->large, i)) return 0;
    }
    return 1;
}

/* decode(data, offset): a RawEvent (its buffer, checked again), bytes, or any buffer the
 * Python path accepts (through raw._as_bytes_view). */
static PyObject *fp_ev_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    fp_evnative *m = (fp_evnative *)self;
    if (nargs != 2 || fp_ev_ready(m, 1) < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "decode(data, offset)");
        return NULL;
    }
    PyObject *data = args[0], *view = NULL, *out = NULL;
    Py_ssize_t off;
    int is_raw = Py_IS_TYPE(data, m->raw_cls);
    if (is_raw) {
        view = FP_SLOT(data, m->raw_off[R_BUF]);
        PyObject *o = FP_SLOT(data, m->raw_off[R_OFF]);
        off = o && PyLong_CheckExact(o) ? PyLong_AsSsize_t(o) : -1;
        if (!view || off < 0) {
            PyErr_Clear();
            return PyObject_CallOneArg(m->slow_decode, data);
        }
        Py_INCREF(view);
    } else {
        off = PyLong_AsSsize_t(args[1]);
        if (off == -1 && PyErr_Occurred()) { /* beyond any buffer: Python says it */
            PyErr_Clear();
            return PyObject_CallFunctionObjArgs(m->slow_decode, data, args[1], NULL);
        }
        view = PyBytes_CheckExact(data) ? Py_NewRef(data) : PyObject_CallOneArg(m->as_view, data);
        if (!view) return NULL;
    }
    Py_buffer pb;
    if (PyObject_GetBuffer(view, &pb, PyBUF_SIMPLE) < 0) {
        Py_DECREF(view);
        return NULL;
    }
    fp_hdr h;
    const uint8_t *buf = pb.buf;
    if (fp_ev_header(m, buf, pb.len, off, &h) < 0) {
        if (is_raw) { /* a RawEvent over a buffer that no longer says it: Python decides */
            PyErr_Clear();
            out = PyObject_CallOneArg(m->slow_decode, data);
        }
    } else if (is_raw && !fp_ev_raw_intact(m, data, buf, off, &h)) {
        out = PyObject_CallOneArg(m->slow_decode, data);
    } else if (is_raw) {
        out = fp_ev_typed(m, buf, off, &h, Py_NewRef(FP_SLOT(data, m->raw_off[R_TS])),
                          Py_NewRef(FP_SLOT(data, m->raw_off[R_TID])));
    } else {
        out = fp_ev_typed(m, buf, off, &h, PyLong_FromUnsignedLongLong(h.ts),
                          PyLong_FromLongLong(h.tid));
    }
    PyBuffer_Release(&pb);
    Py_DECREF(view);
    return out;
}

/* parse(view, offset) -> RawEvent: raw._parse for an exact int offset. */
static PyObject *fp_ev_parse(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    fp_evnative *m = (fp_evnative *)self;
    if (nargs != 2 || fp_ev_ready(m, 0) < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "parse(view, offset)");
        return NULL;
    }
    Py_buffer pb;
    if (PyObject_GetBuffer(args[0], &pb, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t off = PyLong_AsSsize_t(args[1]);
    PyObject *out = NULL;
    fp_hdr h;
    if (off == -1 && PyErr_Occurred()) { /* an int beyond any buffer */
        PyErr_Clear();
        PyErr_Format(m->error, "truncated event header at offset %S", args[1]);
    } else if (fp_ev_header(m, pb.buf, pb.len, off, &h) == 0) {
        out = fp_ev_raw(m, pb.buf, args[0], off, &h, NULL);
    }
    PyBuffer_Release(&pb);
    return out;
}

/* ------------------------------------------------------------------ the walk */

typedef struct {
    PyObject_HEAD
    fp_evnative *m;
    PyObject *src;  /* what iter_events got, until the first next */
    PyObject *view; /* raw._as_bytes_view of it */
    PyObject *spare[2]; /* the RawEvents given last, by turns */
    int turn;
    Py_buffer pb;
    Py_ssize_t offset;
    int state; /* 0: not started, 1: walking (pb held), 2: over */
} fp_walk;

static void fp_walk_end(fp_walk *w) {
    if (w->state == 1) PyBuffer_Release(&w->pb);
    w->state = 2;
    Py_CLEAR(w->src);
    Py_CLEAR(w->view);
    Py_CLEAR(w->spare[0]);
    Py_CLEAR(w->spare[1]);
}

static PyObject *fp_walk_next(PyObject *self) {
    fp_walk *w = (fp_walk *)self;
    if (w->state == 0) {
        w->view = PyObject_CallOneArg(w->m->as_view, w->src);
        if (!w->view || PyObject_GetBuffer(w->view, &w->pb, PyBUF_SIMPLE) < 0) {
            fp_walk_end(w);
            return NULL;
        }
        w->state = 1;
    }
    if (w->state != 1 || w->offset >= w->pb.len) {
        fp_walk_end(w);
        return NULL; /* StopIteration */
    }
    fp_hdr h;
    if (fp_ev_header(w->m, w->pb.buf, w->pb.len, w->offset, &h) < 0) {
        fp_walk_end(w); /* a generator is over once it raised */
        return NULL;
    }
    /* The RawEvent given two calls ago is filled again when nothing else holds it (a for
     * loop holds the previous one while it asks for the next): no one can tell. */
    PyObject **slot = &w->spare[w->turn];
    PyObject *spare = *slot && Py_REFCNT(*slot) == 1 ? *slot : NULL;
    PyObject *raw = fp_ev_raw(w->m, w->pb.buf, w->view, w->offset, &h, spare);
    if (!raw) {
        fp_walk_end(w);
        return NULL;
    }
    if (!spare) Py_XSETREF(*slot, Py_NewRef(raw));
    w->turn ^= 1;
    w->offset += h.len;
    return raw;
}

static void fp_walk_dealloc(PyObject *self) {
    fp_walk *w = (fp_walk *)self;
    PyTypeObject *tp = Py_TYPE(self);
    fp_walk_end(w);
    Py_XDECREF((PyObject *)w->m);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyType_Slot fp_walk_slots[] = {
    {Py_tp_iter, (void *)PyObject_SelfIter},
    {Py_tp_iternext, (void *)fp_walk_next},
    {Py_tp_dealloc, (void *)fp_walk_dealloc},
    {Py_tp_doc, "The events stored back to back in a buffer, as RawEvent views."},
    {0, NULL},
};

static PyType_Spec fp_walk_spec = {
    "falco_plugin.EventWalk", sizeof(fp_walk), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, fp_walk_slots,
};

static PyTypeObject *g_walk_type;

/* walk(buf): iter_events(buf) (the buffer is checked at the first next, like the Python
 * generator does). */
static PyObject *fp_ev_walk(PyObject *self, PyObject *buf) {
    fp_evnative *m = (fp_evnative *)self;
    if (fp_ev_ready(m, 0) < 0) return NULL;
    if (!g_walk_type && !(g_walk_type = (PyTypeObject *)PyType_FromSpec(&fp_walk_spec)))
        return NULL;
    fp_walk *w = PyObject_New(fp_walk, g_walk_type);
    if (!w) return NULL;
    w->m = (fp_evnative *)Py_NewRef(self);
    w->src = Py_NewRef(buf);
    w->view = w->spare[0] = w->spare[1] = NULL;
    w->turn = 0;
    w->offset = 0;
    w->state = 0;
    return (PyObject *)w;
}

/* ------------------------------------------------------------------ the object */

static int fp_evnative_traverse(PyObject *self, visitproc visit, void *arg) {
    fp_evnative *m = (fp_evnative *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(m->raw_cls);
    Py_VISIT(m->error);
    Py_VISIT(m->as_view);
    Py_VISIT(m->event_cls);
    Py_VISIT(m->relpath);
    Py_VISIT(m->prepare);
    Py_VISIT(m->slow_decode);
    Py_VISIT(m->value_classes);
    for (int i = 0; i < FP_EVT_COUNT; i++)
        if (m->plans[i]) Py_VISIT(m->plans[i]->tuple);
    for (int i = 0; i < (1 << FP_WCACHE_BITS); i++) Py_VISIT(m->wcache[i].obj);
    for (int i = 0; i <= FP_EVT_MAX_PARAMS; i++) Py_VISIT(m->lengths_park[i]);
    return 0;
}

static int fp_evnative_clear(PyObject *self) {
    fp_evnative *m = (fp_evnative *)self;
    Py_CLEAR(m->raw_cls);
    Py_CLEAR(m->error);
    Py_CLEAR(m->as_view);
    Py_CLEAR(m->event_cls);
    Py_CLEAR(m->relpath);
    Py_CLEAR(m->prepare);
    Py_CLEAR(m->slow_decode);
    Py_CLEAR(m->dirfd_name);
    Py_CLEAR(m->value_classes);
    m->have_values = 0;
    for (int i = 0; i < (1 << FP_WCACHE_BITS); i++) Py_CLEAR(m->wcache[i].obj);
    for (int i = 0; i <= FP_EVT_MAX_PARAMS; i++) Py_CLEAR(m->lengths_park[i]);
    for (int i = 0; i < FP_EVT_COUNT; i++) Py_CLEAR(m->type_ints[i]);
    for (int i = 0; i < FP_EVT_COUNT; i++) {
        if (!m->plans[i]) continue;
        Py_CLEAR(m->plans[i]->tuple);
        free(m->plans[i]);
        m->plans[i] = NULL;
    }
    return 0;
}

static void fp_evnative_dealloc(PyObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    fp_evnative_clear(self);
    PyObject_GC_Del(self);
    Py_DECREF(tp);
}

static PyObject *fp_ev_digest(PyObject *self, void *unused) {
    return PyUnicode_FromString(FP_EVT_LAYOUT_DIGEST);
}

static PyMethodDef fp_evnative_methods[] = {
    {"bind_raw", fp_ev_bind_raw, METH_VARARGS,
     "bind_raw(RawEvent, EventFormatError, as_view, digest) -> bool"},
    {"bind_typed", fp_ev_bind_typed, METH_VARARGS,
     "bind_typed(Event, RelPath, plan, slow_decode, values)"},
    {"parse", (PyCFunction)(void (*)(void))fp_ev_parse, METH_FASTCALL,
     "parse(view, offset) -> RawEvent"},
    {"walk", fp_ev_walk, METH_O, "walk(buf) -> iterator of RawEvent"},
    {"decode", (PyCFunction)(void (*)(void))fp_ev_decode, METH_FASTCALL,
     "decode(data, offset) -> Event"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef fp_evnative_getset[] = {
    {"digest", fp_ev_digest, NULL, "the digest of the baked event layout facts", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot fp_evnative_slots[] = {
    {Py_tp_methods, fp_evnative_methods},
    {Py_tp_getset, fp_evnative_getset},
    {Py_tp_traverse, (void *)fp_evnative_traverse},
    {Py_tp_clear, (void *)fp_evnative_clear},
    {Py_tp_dealloc, (void *)fp_evnative_dealloc},
    {Py_tp_doc, "The plugin library's C event functions (falco_plugin.event uses them)."},
    {0, NULL},
};

static PyType_Spec fp_evnative_spec = {
    "falco_plugin.NativeEvents", sizeof(fp_evnative), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    fp_evnative_slots,
};

static PyTypeObject *g_evnative_type;

/* With the GIL held, when a space opens: leave a new object on its runtime module. An SDK
 * that does not look for it simply decodes in Python. */
static int fp_events_install(PyObject *runtime) {
    if (!g_evnative_type &&
        !(g_evnative_type = (PyTypeObject *)PyType_FromSpec(&fp_evnative_spec)))
        return -1;
    fp_evnative *m = PyObject_GC_New(fp_evnative, g_evnative_type);
    if (!m) return -1;
    memset((char *)m + sizeof(PyObject), 0, sizeof *m - sizeof(PyObject));
    PyObject_GC_Track(m);
    int rc = PyObject_SetAttrString(runtime, "native_events", (PyObject *)m);
    Py_DECREF(m);
    return rc;
}
