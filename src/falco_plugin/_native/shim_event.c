/*
 * The event object handed to Python (field methods, parse_event), included by shim.c: a
 * view of the host's event while the call runs and a per-event context computed once by
 * the plugin's make_context. One object serves call after call as long as the plugin keeps
 * no reference to it.
 *
 * `payload` and `tid` are plain slots, filled when the event is set (CPython reads a slot
 * in a few instructions where an attribute computed on access costs a generic lookup):
 * the payload goes into the bytes object of the previous event when nothing else holds it
 * (no allocation), else into a new one, so that a payload or event the plugin kept stays
 * as it was. The other attributes are read from the host's event on access, during the
 * call only; the source name too (the same str as the previous event's when the text is
 * the same), and at the end of the call for an event the plugin kept.
 */

#define FP_TID_CACHE 64

/* The event a field method receives. */
typedef struct fp_event {
    PyObject_HEAD
    const ss_plugin_event *raw; /* only valid during an extract_fields call */
    uint64_t evtnum;
    PyObject *payload; /* bytes of a plugin event, NULL for other events (a slot) */
    PyObject *tid;     /* int (a slot) */
    int64_t tid_c;     /* its value */
    PyObject *tids[FP_TID_CACHE]; /* ints of recent tids, by tid % FP_TID_CACHE */
    int64_t tid_vals[FP_TID_CACHE]; /* their values */
    PyObject *source, *rawbytes, *context;
    const char *evtsrc;     /* the host's source name, during the call */
    int source_set;         /* source is this event's (else made on first read) */
    PyObject *make_context; /* the plugin's hook, or NULL */
    char source_c[48];      /* source's text when it fits, to know the next event's */
} fp_event;

static PyObject *fp_event_gone(void) {
    PyErr_SetString(PyExc_RuntimeError,
                    "this event is only readable during the extraction call that received it");
    return NULL;
}

static int fp_event_is_plugin(const ss_plugin_event *e) {
    uint32_t idlen;
    if (e->type != FP_PLUGINEVENT_TYPE || e->nparams != 2 || e->len < FP_PLUGINEVENT_PAYLOAD_OFFSET)
        return 0;
    memcpy(&idlen, (const uint8_t *)e + FP_EVENT_HEADER_LEN, 4);
    return idlen == 4;
}

static PyObject *fp_event_get_u64(fp_event *ev, void *which) {
    if (!ev->raw) return fp_event_gone();
    uint64_t v = 0;
    switch ((intptr_t)which) {
    case 0: v = ev->raw->ts; break;
    case 2: v = ev->evtnum; break;
    case 3: v = ev->raw->type; break;
    case 4: {
        uint32_t id = 0;
        if (fp_event_is_plugin(ev->raw))
            memcpy(&id, (const uint8_t *)ev->raw + FP_EVENT_HEADER_LEN + 8, 4);
        v = id;
        break;
    }
    }
    return PyLong_FromUnsignedLongLong(v);
}

static PyObject *fp_event_get_raw(fp_event *ev, void *unused) {
    if (!ev->rawbytes) {
        if (!ev->raw) return fp_event_gone();
        ev->rawbytes = PyBytes_FromStringAndSize((const char *)ev->raw, ev->raw->len);
        if (!ev->rawbytes) return NULL;
    }
    Py_INCREF(ev->rawbytes);
    return ev->rawbytes;
}

static int fp_event_set_source(fp_event *ev, const char *evtsrc);

static PyObject *fp_event_get_source(fp_event *ev, void *unused) {
    if (!ev->source_set) {
        if (!ev->raw) return fp_event_gone();
        if (fp_event_set_source(ev, ev->evtsrc) < 0) return NULL;
    }
    return Py_NewRef(ev->source);
}

static PyObject *fp_event_get_context(fp_event *ev, void *unused) {
    if (!ev->context) {
        if (!ev->make_context) {
            PyErr_SetString(PyExc_AttributeError,
                            "event.context needs a make_context(self, event) method on the plugin");
            return NULL;
        }
        ev->context = PyObject_CallOneArg(ev->make_context, (PyObject *)ev);
        if (!ev->context) return NULL;
    }
    Py_INCREF(ev->context);
    return ev->context;
}

static int fp_event_set_context(fp_event *ev, PyObject *value, void *unused) {
    Py_XINCREF(value);
    Py_XSETREF(ev->context, value);
    return 0;
}

static void fp_event_dealloc(PyObject *self) {
    fp_event *ev = (fp_event *)self;
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(ev->source);
    Py_XDECREF(ev->payload);
    Py_XDECREF(ev->tid);
    for (int i = 0; i < FP_TID_CACHE; i++) Py_XDECREF(ev->tids[i]);
    Py_XDECREF(ev->rawbytes);
    Py_XDECREF(ev->context);
    Py_XDECREF(ev->make_context);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyGetSetDef fp_event_getset[] = {
    {"ts", (getter)fp_event_get_u64, NULL, "timestamp, ns since the epoch", (void *)0},
    {"evtnum", (getter)fp_event_get_u64, NULL, "the host's event number", (void *)2},
    {"type", (getter)fp_event_get_u64, NULL, "event type code (322: plugin event)", (void *)3},
    {"plugin_id", (getter)fp_event_get_u64, NULL, "plugin id of a plugin event", (void *)4},
    {"raw", (getter)fp_event_get_raw, NULL, "the whole event (bytes)", NULL},
    {"source", (getter)fp_event_get_source, NULL, "the event source name", NULL},
    {"context", (getter)fp_event_get_context, (setter)fp_event_set_context,
     "per-event value from the plugin's make_context, computed once", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef fp_event_members[] = {
    {"payload", T_OBJECT_EX, offsetof(fp_event, payload), READONLY,
     "plugin event payload (bytes; AttributeError for other event types)"},
    {"tid", T_OBJECT_EX, offsetof(fp_event, tid), READONLY, "thread id (-1: none)"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot fp_event_slots[] = {
    {Py_tp_getset, fp_event_getset},
    {Py_tp_members, fp_event_members},
    {Py_tp_dealloc, (void *)fp_event_dealloc},
    {Py_tp_doc, "An event handed to field extraction methods."},
    {0, NULL},
};

static PyType_Spec fp_event_spec = {
    "falco_plugin.ExtractEvent", sizeof(fp_event), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, fp_event_slots,
};

static PyTypeObject *g_event_type;

/* The source name of the event: the string of the previous event when it is the same. */
static int fp_event_set_source(fp_event *ev, const char *evtsrc) {
    const char *want = evtsrc ? evtsrc : "";
    if (ev->source && ev->source_c[0] && strcmp(ev->source_c, want) == 0) {
        ev->source_set = 1;
        return 0;
    }
    PyObject *text = fp_str(want);
    if (!text) return -1;
    Py_XSETREF(ev->source, text);
    ev->source_set = 1;
    size_t n = strlen(want);
    if (n && n < sizeof ev->source_c)
        memcpy(ev->source_c, want, n + 1);
    else
        ev->source_c[0] = '\0'; /* "" or too long: made again for every event */
    return 0;
}

/* Give a bytes object that only we hold another value of its size: no one can tell. */
static void fp_bytes_refill(PyObject *b, const char *data, Py_ssize_t n) {
    memcpy(PyBytes_AS_STRING(b), data, (size_t)n);
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    ((PyBytesObject *)b)->ob_shash = -1; /* the hash of the old value is cached there */
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
}

/* The payload slot for the host's event: the previous bytes object refilled when only the
 * event holds it (resized if needed), else a new one; NULL for an event that is not a
 * plugin event (or a malformed one: its payload runs past its end). */
static int fp_event_fill_payload(fp_event *ev, const ss_plugin_event *e) {
    uint32_t n;
    if (!fp_event_is_plugin(e)) {
        Py_CLEAR(ev->payload);
        return 0;
    }
    memcpy(&n, (const uint8_t *)e + FP_EVENT_HEADER_LEN + 4, 4);
    if ((uint64_t)n + FP_PLUGINEVENT_PAYLOAD_OFFSET > e->len) {
        Py_CLEAR(ev->payload);
        return 0;
    }
    const char *data = (const char *)e + FP_PLUGINEVENT_PAYLOAD_OFFSET;
    PyObject *b = ev->payload;
    /* Sizes 0 and 1 are CPython's shared singletons: never ours alone, never refilled. */
    if (b && Py_REFCNT(b) == 1 && PyBytes_CheckExact(b) && Py_SIZE(b) > 1 && n > 1) {
        if (Py_SIZE(b) != (Py_ssize_t)n && _PyBytes_Resize(&ev->payload, (Py_ssize_t)n) < 0)
            return -1; /* the old object is gone, the slot NULL */
        fp_bytes_refill(ev->payload, data, (Py_ssize_t)n);
        return 0;
    }
    b = PyBytes_FromStringAndSize(data, (Py_ssize_t)n);
    if (!b) return -1;
    Py_XSETREF(ev->payload, b);
    return 0;
}

/* Point the event object at the host's event and fill its slots; -1 with a Python error. */
static int fp_event_fill(fp_event *ev, const ss_plugin_event_input *evt) {
    const ss_plugin_event *e = evt->evt;
    ev->raw = e;
    ev->evtnum = evt->evtnum;
    /* An int is immutable: a thread's events share one (kept while its cache line holds
     * it), and events of a few threads allocate nothing. */
    if (!ev->tid || ev->tid_c != e->tid) {
        size_t k = (uint64_t)e->tid % FP_TID_CACHE;
        if (!ev->tids[k] || ev->tid_vals[k] != e->tid) {
            PyObject *tid = PyLong_FromLongLong((long long)e->tid);
            if (!tid) return -1;
            Py_XSETREF(ev->tids[k], tid);
            ev->tid_vals[k] = e->tid;
        }
        Py_XSETREF(ev->tid, Py_NewRef(ev->tids[k]));
        ev->tid_c = e->tid;
    }
    return fp_event_fill_payload(ev, e);
}

/* A new event object, to be filled with fp_event_fill. */
static fp_event *fp_event_new(PyObject *make_context) {
    if (!g_event_type) {
        g_event_type = (PyTypeObject *)PyType_FromSpec(&fp_event_spec);
        if (!g_event_type) return NULL;
    }
    fp_event *ev = PyObject_New(fp_event, g_event_type);
    if (!ev) return NULL;
    ev->raw = NULL;
    ev->source = ev->payload = ev->tid = ev->rawbytes = ev->context = NULL;
    memset(ev->tids, 0, sizeof ev->tids);
    ev->source_c[0] = '\0';
    ev->source_set = 0;
    ev->make_context = make_context;
    Py_XINCREF(make_context);
    return ev;
}

/*
 * The event object of a call over the host's event, kept in *slot from call to call: the
 * previous object, refilled, when nothing else holds it (the hot path allocates nothing),
 * else a new one, so that an object the plugin kept stays as it was (its payload, tid and
 * source, and the "only readable during the call" error for the rest). Returns a borrowed
 * reference. One place fills both (fp_event_fill is inlined there).
 */
static fp_event *fp_event_take(fp_event **slot, const ss_plugin_event_input *evt,
                               PyObject *make_context) {
    fp_event *ev = *slot;
    if (ev && Py_REFCNT(ev) == 1 && ev->make_context == make_context) {
        /* cleared before the new event is set: a value's finalizer sees no half state */
        Py_CLEAR(ev->rawbytes);
        Py_CLEAR(ev->context);
        ev->raw = NULL;
        ev->source_set = 0;
    } else {
        ev = fp_event_new(make_context);
        if (!ev) return NULL;
        Py_XSETREF(*slot, ev);
    }
    ev->evtsrc = evt->evtsrc;
    if (fp_event_fill(ev, evt) < 0) {
        Py_CLEAR(*slot); /* half filled: the next call makes a new one */
        return NULL;
    }
    return ev;
}

/* The end of the call that got the event (GIL held): the host's memory is not ours any
 * more. An event the plugin kept gets its source name now, read on first use otherwise. */
static void fp_event_release(fp_event *ev) {
    if (!ev) return;
    if (!ev->source_set && Py_REFCNT(ev) > 1 && fp_event_set_source(ev, ev->evtsrc) < 0)
        PyErr_Clear(); /* out of memory: reading it says the event is gone */
    ev->raw = NULL;
    ev->evtsrc = NULL;
}
