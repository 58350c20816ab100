/*
 * Async events for Python plugins, included by shim.c: an emitter object that Python
 * threads call to push type-402 events through the host's handler. The handler is called
 * without the GIL, under a read lock, so several threads emit at once; clearing the
 * handler takes the write lock, so no emit is in flight once it is closed.
 */

static const char *fp_async_names[] = FP_ASYNC_NAMES;

typedef struct fp_emitter {
    PyObject_HEAD
    ss_plugin_owner_t *owner;
    ss_plugin_async_event_handler_t handler;
    pthread_rwlock_t lock;
    int closed;
} fp_emitter;

/* async_event.AsyncEventError of the space; a thread left from a closed space gets RuntimeError */
#define g_async_error (g_sdk.async_error ? g_sdk.async_error : PyExc_RuntimeError)
static PyTypeObject *g_emitter_type;

static int fp_async_known(const char *name) {
    for (size_t i = 0; i < sizeof fp_async_names / sizeof fp_async_names[0]; i++)
        if (fp_async_names[i] && strcmp(fp_async_names[i], name) == 0) return 1;
    return 0;
}

/* emit(name, data=b"", *, ts=None, tid=None) */
static PyObject *fp_emit(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"name", "data", "ts", "tid", NULL};
    fp_emitter *em = (fp_emitter *)self;
    const char *name;
    Py_ssize_t name_len;
    PyObject *data = NULL, *ts_obj = Py_None, *tid_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s#|O$OO", kwlist, &name, &name_len, &data,
                                     &ts_obj, &tid_obj))
        return NULL;
    if (!fp_async_known(name)) {
        PyErr_Format(g_async_error, "async event %s is not declared in ASYNC_EVENTS", name);
        return NULL;
    }
    uint64_t ts, tid = UINT64_MAX;
    if (fp_parse_ts(ts_obj, &ts) < 0) return NULL;
    if (tid_obj != Py_None) {
        long long v = PyLong_AsLongLong(tid_obj);
        if (v == -1 && PyErr_Occurred()) return NULL;
        tid = (uint64_t)v;
    }
    Py_buffer view = {0};
    const char *bytes = "";
    Py_ssize_t len = 0;
    if (data && PyUnicode_Check(data)) {
        bytes = PyUnicode_AsUTF8AndSize(data, &len);
        if (!bytes) return NULL;
    } else if (data && data != Py_None) {
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
        bytes = view.buf;
        len = view.len;
    }
    size_t total = FP_EVENT_HEADER_LEN + 12 + 4 + (size_t)name_len + 1 + (size_t)len;
    if (total > UINT32_MAX) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "async event data too large");
        return NULL;
    }
    uint8_t *buf = malloc(total), *p = buf;
    if (!buf) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    p += fp_put_u64(p, ts);
    p += fp_put_u64(p, tid);
    p += fp_put_u32(p, (uint32_t)total);
    p += fp_put_u16(p, FP_ASYNCEVENT_TYPE);
    p += fp_put_u32(p, 3);
    p += fp_put_u32(p, 4);
    p += fp_put_u32(p, (uint32_t)name_len + 1);
    p += fp_put_u32(p, (uint32_t)len);
    p += fp_put_u32(p, 0); /* plugin id: set by the host */
    memcpy(p, name, (size_t)name_len + 1);
    p += name_len + 1;
    if (len) memcpy(p, bytes, (size_t)len);
    PyBuffer_Release(&view);

    char err[FP_MAX_ERRLEN];
    err[0] = '\0';
    int closed;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_rdlock(&em->lock);
    closed = em->closed;
    if (!closed) rc = em->handler(em->owner, (const ss_plugin_event *)buf, err);
    pthread_rwlock_unlock(&em->lock);
    Py_END_ALLOW_THREADS
    free(buf);
    if (closed) {
        PyErr_SetString(PyExc_RuntimeError, "async events are stopped (the handler was cleared)");
        return NULL;
    }
    if (rc != SS_PLUGIN_SUCCESS) {
        err[sizeof err - 1] = '\0';
        PyErr_Format(g_async_error, "the host refused async event %s: %s", name,
                     err[0] ? err : "no reason given");
        return NULL;
    }
    Py_RETURN_NONE;
}

static void fp_emitter_dealloc(PyObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    pthread_rwlock_destroy(&((fp_emitter *)self)->lock);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyMethodDef fp_emitter_methods[] = {
    {"emit", (PyCFunction)(void (*)(void))fp_emit, METH_VARARGS | METH_KEYWORDS,
     "emit(name, data=b'', *, ts=None, tid=None): send an async event (thread-safe)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot fp_emitter_slots[] = {
    {Py_tp_methods, fp_emitter_methods},
    {Py_tp_dealloc, (void *)fp_emitter_dealloc},
    {Py_tp_doc, "Sends async events to the host while its handler is set."},
    {0, NULL},
};

static PyType_Spec fp_emitter_spec = {
    "falco_plugin.AsyncEmitter", sizeof(fp_emitter), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, fp_emitter_slots,
};

static fp_emitter *fp_emitter_new(ss_plugin_owner_t *owner, ss_plugin_async_event_handler_t h) {
    if (!g_emitter_type) g_emitter_type = (PyTypeObject *)PyType_FromSpec(&fp_emitter_spec);
    if (!g_emitter_type) return NULL;
    if (!g_sdk.async_error) g_sdk.async_error = fp_sdk_attr("async_event", "AsyncEventError");
    if (!g_sdk.async_error) return NULL;
    fp_emitter *em = PyObject_New(fp_emitter, g_emitter_type);
    if (!em) return NULL;
    em->owner = owner;
    em->handler = h;
    em->closed = 0;
    pthread_rwlock_init(&em->lock, NULL);
    return em;
}

/* Wait for emits in flight, then refuse new ones (GIL held on entry and exit). */
static void fp_emitter_close(fp_emitter *em) {
    if (!em) return;
    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_wrlock(&em->lock);
    em->closed = 1;
    pthread_rwlock_unlock(&em->lock);
    Py_END_ALLOW_THREADS
}

/* With the GIL held: let the plugin stop its work, then close its emitter. */
static int fp_async_stop(fp_state *st) {
    if (!st->emitter) return 0;
    PyObject *res = PyObject_CallMethod(st->rt, "stop_async", NULL);
    fp_emitter_close((fp_emitter *)st->emitter);
    Py_CLEAR(st->emitter);
    if (!res) return -1;
    Py_DECREF(res);
    return 0;
}

FP_EXPORT const char *plugin_get_async_events(void) { return FP_META_ASYNC_EVENTS; }

#if FP_HAS_ASYNC_SOURCES
FP_EXPORT const char *plugin_get_async_event_sources(void) { return FP_META_ASYNC_SOURCES; }
#endif

static ss_plugin_rc fp_set_async_event_handler(ss_plugin_t *s, ss_plugin_owner_t *owner,
                                               const ss_plugin_async_event_handler_t h) {
    fp_state *st = s;
    if (!fp_ready(st)) return SS_PLUGIN_FAILURE;
    ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
    PyGILState_STATE g = fp_enter();
    /* Clearing (h NULL) never fails: the emitter is closed all the same, and libsinsp throws
     * on a failure, from its destructor too (which ends the process): it is logged instead. */
    if (fp_async_stop(st) < 0) {
        fp_error_from_python(st, h ? NULL : "stop_async");
        if (h) rc = SS_PLUGIN_FAILURE;
    }
    if (h && rc == SS_PLUGIN_SUCCESS) {
        fp_emitter *em = fp_emitter_new(owner, h);
        PyObject *res = em ? PyObject_CallMethod(st->rt, "start_async", "O", (PyObject *)em) : NULL;
        if (res) {
            st->emitter = (PyObject *)em;
            Py_DECREF(res);
        } else {
            fp_error_from_python(st, NULL);
            fp_emitter_close(em);
            Py_XDECREF(em);
            rc = SS_PLUGIN_FAILURE;
        }
    }
    fp_leave(g);
    return rc;
}

/* Guarded: see fp_guard_end. */
FP_EXPORT ss_plugin_rc plugin_set_async_event_handler(ss_plugin_t *s, ss_plugin_owner_t *owner,
                                                      const ss_plugin_async_event_handler_t h) {
    fp_sigsave saved;
    fp_signals_save(&saved);
    ss_plugin_rc out = fp_set_async_event_handler(s, owner, h);
    fp_guard_end(s, &saved, "set_async_event_handler");
    return out;
}

#if FP_HAS_DUMP_STATE
static ss_plugin_rc fp_dump_state(ss_plugin_t *s, ss_plugin_owner_t *owner,
                                  const ss_plugin_async_event_handler_t h) {
    fp_state *st = s;
    if (!fp_ready(st) || !h) return SS_PLUGIN_FAILURE;
    ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
    PyGILState_STATE g = fp_enter();
    fp_emitter *em = fp_emitter_new(owner, h);
    PyObject *res = em ? PyObject_CallMethod(st->rt, "dump_state", "O", (PyObject *)em) : NULL;
    if (!res) {
        fp_error_from_python(st, NULL);
        rc = SS_PLUGIN_FAILURE;
    }
    Py_XDECREF(res);
    fp_emitter_close(em); /* the handler is only lent for this call */
    Py_XDECREF(em);
    fp_leave(g);
    return rc;
}

/* Guarded: see fp_guard_end. */
FP_EXPORT ss_plugin_rc plugin_dump_state(ss_plugin_t *s, ss_plugin_owner_t *owner,
                                         const ss_plugin_async_event_handler_t h) {
    fp_sigsave saved;
    fp_signals_save(&saved);
    ss_plugin_rc out = fp_dump_state(s, owner, h);
    fp_guard_end(s, &saved, "dump_state");
    return out;
}
#endif
