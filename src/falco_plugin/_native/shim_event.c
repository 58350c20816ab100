/*
 * The event object handed to Python (field methods, parse_event), included by shim.c: a
 * view of the host's event while the call runs, with the payload copied once on first use
 * and a per-event context computed once by the plugin's make_context. One object serves
 * call after call as long as the plugin keeps no reference to it.
 */

/* The event a field method receives: a view of the host's event while the call runs,
 * with the payload copied once (on first use) and shared by every field of the event. */
typedef struct fp_event {
    PyObject_HEAD
    const ss_plugin_event *raw; /* only valid during an extract_fields call */
    uint64_t evtnum;
    PyObject *source, *payload, *rawbytes, *context;
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
    case 1: return PyLong_FromLongLong((long long)ev->raw->tid);
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

static PyObject *fp_event_get_payload(fp_event *ev, void *unused) {
    if (!ev->payload) {
        if (!ev->raw) return fp_event_gone();
        if (!fp_event_is_plugin(ev->raw)) {
            PyErr_SetString(PyExc_AttributeError, "only plugin events (type 322) have a payload");
            return NULL;
        }
        uint32_t n;
        memcpy(&n, (const uint8_t *)ev->raw + FP_EVENT_HEADER_LEN + 4, 4);
        if ((uint64_t)n + FP_PLUGINEVENT_PAYLOAD_OFFSET > ev->raw->len) {
            PyErr_SetString(PyExc_ValueError, "malformed plugin event: payload past its end");
            return NULL;
        }
        ev->payload = PyBytes_FromStringAndSize(
            (const char *)ev->raw + FP_PLUGINEVENT_PAYLOAD_OFFSET, (Py_ssize_t)n);
        if (!ev->payload) return NULL;
    }
    Py_INCREF(ev->payload);
    return ev->payload;
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

static PyObject *fp_event_get_source(fp_event *ev, void *unused) {
    return Py_NewRef(ev->source); /* set when the event object is made */
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
    Py_XDECREF(ev->rawbytes);
    Py_XDECREF(ev->context);
    Py_XDECREF(ev->make_context);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyGetSetDef fp_event_getset[] = {
    {"ts", (getter)fp_event_get_u64, NULL, "timestamp, ns since the epoch", (void *)0},
    {"tid", (getter)fp_event_get_u64, NULL, "thread id (-1: none)", (void *)1},
    {"evtnum", (getter)fp_event_get_u64, NULL, "the host's event number", (void *)2},
    {"type", (getter)fp_event_get_u64, NULL, "event type code (322: plugin event)", (void *)3},
    {"plugin_id", (getter)fp_event_get_u64, NULL, "plugin id of a plugin event", (void *)4},
    {"payload", (getter)fp_event_get_payload, NULL, "plugin event payload (bytes)", NULL},
    {"raw", (getter)fp_event_get_raw, NULL, "the whole event (bytes)", NULL},
    {"source", (getter)fp_event_get_source, NULL, "the event source name", NULL},
    {"context", (getter)fp_event_get_context, (setter)fp_event_set_context,
     "per-event value from the plugin's make_context, computed once", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot fp_event_slots[] = {
    {Py_tp_getset, fp_event_getset},
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
    if (ev->source && ev->source_c[0] && strcmp(ev->source_c, want) == 0) return 0;
    PyObject *text = fp_str(want);
    if (!text) return -1;
    Py_XSETREF(ev->source, text);
    size_t n = strlen(want);
    if (n && n < sizeof ev->source_c)
        memcpy(ev->source_c, want, n + 1);
    else
        ev->source_c[0] = '\0'; /* "" or too long: made again for every event */
    return 0;
}

/* A new event object over the host's event (valid during the current call only). */
static fp_event *fp_event_new(const ss_plugin_event_input *evt, PyObject *make_context) {
    if (!g_event_type) {
        g_event_type = (PyTypeObject *)PyType_FromSpec(&fp_event_spec);
        if (!g_event_type) return NULL;
    }
    fp_event *ev = PyObject_New(fp_event, g_event_type);
    if (!ev) return NULL;
    ev->raw = evt->evt;
    ev->evtnum = evt->evtnum;
    ev->source = ev->payload = ev->rawbytes = ev->context = NULL;
    ev->source_c[0] = '\0';
    ev->make_context = make_context;
    Py_XINCREF(make_context);
    if (fp_event_set_source(ev, evt->evtsrc) < 0) {
        Py_DECREF(ev);
        return NULL;
    }
    return ev;
}

/*
 * The event object of a call over the host's event, kept in *slot from call to call: the
 * previous object, emptied, when nothing else holds it (the hot path allocates nothing),
 * else a new one, so that an object the plugin kept stays as it was (what it read, and the
 * "only readable during the call" error for the rest). Returns a borrowed reference.
 */
static fp_event *fp_event_take(fp_event **slot, const ss_plugin_event_input *evt,
                               PyObject *make_context) {
    fp_event *ev = *slot;
    if (ev && Py_REFCNT(ev) == 1 && ev->make_context == make_context) {
        /* cleared before the new event is set: a value's finalizer sees no half state */
        Py_CLEAR(ev->payload);
        Py_CLEAR(ev->rawbytes);
        Py_CLEAR(ev->context);
        if (fp_event_set_source(ev, evt->evtsrc) < 0) return NULL;
        ev->raw = evt->evt;
        ev->evtnum = evt->evtnum;
        return ev;
    }
    ev = fp_event_new(evt, make_context);
    if (!ev) return NULL;
    Py_XSETREF(*slot, ev);
    return ev;
}
