/*
 * What a plugin state tells the host, included by shim.c: get_last_error's messages and
 * the host's logger for the state's Python logs. Both are per state and safe against
 * threads: a state's errors are written by its API calls, by other plugins' calls into
 * its exported tables (from several event threads at once) and read by the host.
 */

/* ------------------------------------------------------------------ errors */

/*
 * A state keeps the last error of each thread that failed a call on it (a few slots, the
 * least recently used one reused), under a lock. get_last_error returns the calling
 * thread's slot (a host reads on the thread of the failed call), or a copy of the state's
 * latest message into a slot of its own: no thread writes into a buffer another reads.
 */
#define FP_ERR_SLOTS 8

typedef struct {
    pthread_t thread;
    uint64_t used; /* the last write or read: the least recent slot is reused */
    int taken;
    char msg[FP_ERR_CAP];
} fp_error_slot;

typedef struct fp_errors {
    pthread_mutex_t lock;
    uint64_t clock;
    int latest; /* the slot of the latest message, or -1 */
    fp_error_slot slots[FP_ERR_SLOTS];
} fp_errors;

static fp_errors *fp_errors_new(void) {
    fp_errors *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    pthread_mutex_init(&e->lock, NULL);
    e->latest = -1;
    return e;
}

static void fp_errors_free(fp_errors *e) {
    if (!e) return;
    pthread_mutex_destroy(&e->lock);
    free(e);
}

/* With e->lock held: the calling thread's slot, or NULL. */
static fp_error_slot *fp_error_own_slot(fp_errors *e) {
    pthread_t self = pthread_self();
    for (int i = 0; i < FP_ERR_SLOTS; i++)
        if (e->slots[i].taken && pthread_equal(e->slots[i].thread, self)) return &e->slots[i];
    return NULL;
}

/* With e->lock held: a new slot for the calling thread (the least recently used one). */
static fp_error_slot *fp_error_new_slot(fp_errors *e) {
    fp_error_slot *lru = &e->slots[0];
    for (int i = 0; i < FP_ERR_SLOTS && lru->taken; i++)
        if (!e->slots[i].taken || e->slots[i].used < lru->used) lru = &e->slots[i];
    lru->taken = 1;
    lru->thread = pthread_self();
    lru->msg[0] = '\0';
    return lru;
}

static void fp_error_store(fp_state *st, const char *msg) {
    if (!st || !st->errors) return;
    fp_errors *e = st->errors;
    pthread_mutex_lock(&e->lock);
    fp_error_slot *s = fp_error_own_slot(e);
    if (!s) s = fp_error_new_slot(e);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    s->used = ++e->clock;
    e->latest = (int)(s - e->slots);
    pthread_mutex_unlock(&e->lock);
}

/* The calling thread's last error on this state, else (a host asking on another thread)
 * a copy of the state's latest one, in a slot of its own. */
static const char *fp_error_read(fp_state *st) {
    fp_errors *e = st->errors;
    if (!e) return "out of memory";
    pthread_mutex_lock(&e->lock);
    fp_error_slot *s = fp_error_own_slot(e);
    if (!s) {
        s = fp_error_new_slot(e);
        if (e->latest >= 0 && &e->slots[e->latest] != s)
            memcpy(s->msg, e->slots[e->latest].msg, sizeof s->msg);
    }
    s->used = ++e->clock;
    pthread_mutex_unlock(&e->lock);
    return s->msg;
}

static void fp_set_error(fp_state *st, const char *fmt, ...) {
    char msg[FP_ERR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fp_error_store(st, msg);
}

static void fp_copy_utf8(char *dst, size_t cap, PyObject *text, const char *fallback) {
    const char *s = text && PyUnicode_Check(text) ? PyUnicode_AsUTF8(text) : NULL;
    if (!s) {
        PyErr_Clear();
        s = fallback;
    }
    snprintf(dst, cap, "%s", s);
}

/*
 * Take the pending Python exception and turn it into the state's message. With `where`
 * set and a runtime present, the failure is also logged (rate-limited), for calls whose
 * failure the host does not show. Clears the exception in all cases.
 */
static void fp_error_from_python(fp_state *st, const char *where) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value && tb) PyException_SetTraceback(value, tb);
    PyObject *msg = NULL;
    if (value && where && st && st->rt)
        msg = PyObject_CallMethod(st->rt, "report", "sO", where, value);
    else if (value && g_sdk.runtime)
        msg = PyObject_CallMethod(g_sdk.runtime, "format_error", "O", value);
    else if (value)
        msg = PyObject_Str(value);
    char text[FP_ERR_CAP];
    fp_copy_utf8(text, sizeof text, msg, "unknown Python error");
    fp_error_store(st, text);
    PyErr_Clear();
    Py_XDECREF(msg);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static PyObject *fp_str(const char *s) {
    return PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)strlen(s ? s : ""), "surrogateescape");
}

/* ------------------------------------------------------------------ host logger */

/*
 * The host's log function for one state, as a Python callable. Closed at destroy: a
 * Python thread the plugin left running logs to stderr from then on, and a call in
 * flight is waited for, so the host's owner is never used after the state is gone.
 */
typedef struct fp_logger {
    ss_plugin_owner_t *owner;
    ss_plugin_log_fn_t log_fn;
    pthread_rwlock_t lock;
    int closed;
} fp_logger;

static void fp_logger_free(PyObject *capsule) {
    fp_logger *lg = PyCapsule_GetPointer(capsule, "falco_plugin.logger");
    if (!lg) return;
    pthread_rwlock_destroy(&lg->lock);
    free(lg);
}

/* log(component, message, severity) -> bool: forwards to the host's log_fn without the
 * GIL; False once the state is destroyed (the caller then logs elsewhere). */
static PyObject *fp_log(PyObject *self, PyObject *args) {
    const char *component, *msg;
    int sev, sent = 0;
    if (!PyArg_ParseTuple(args, "zsi", &component, &msg, &sev)) return NULL;
    fp_logger *lg = PyCapsule_GetPointer(self, "falco_plugin.logger");
    if (!lg) return NULL;
    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_rdlock(&lg->lock);
    if (!lg->closed) {
        lg->log_fn(lg->owner, component, msg, (ss_plugin_log_severity)sev);
        sent = 1;
    }
    pthread_rwlock_unlock(&lg->lock);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(sent);
}

static PyMethodDef fp_log_def = {"host_log", fp_log, METH_VARARGS,
                                 "Send a message to the host's logger."};

static PyObject *fp_make_logger(const ss_plugin_init_input *in) {
    if (!in || !in->log_fn) Py_RETURN_NONE;
    fp_logger *lg = calloc(1, sizeof *lg);
    if (!lg) return PyErr_NoMemory();
    lg->owner = in->owner;
    lg->log_fn = in->log_fn;
    pthread_rwlock_init(&lg->lock, NULL);
    PyObject *capsule = PyCapsule_New(lg, "falco_plugin.logger", fp_logger_free);
    if (!capsule) {
        pthread_rwlock_destroy(&lg->lock);
        free(lg);
        return NULL;
    }
    PyObject *fn = PyCFunction_New(&fp_log_def, capsule);
    Py_DECREF(capsule);
    return fn;
}

/* At destroy (GIL held): no log reaches the host through this state any more. */
static void fp_logger_close(PyObject *fn) {
    PyObject *capsule = fn && PyCFunction_Check(fn) ? PyCFunction_GET_SELF(fn) : NULL;
    fp_logger *lg = capsule ? PyCapsule_GetPointer(capsule, "falco_plugin.logger") : NULL;
    if (!lg) {
        PyErr_Clear();
        return;
    }
    Py_BEGIN_ALLOW_THREADS
    pthread_rwlock_wrlock(&lg->lock);
    lg->closed = 1;
    pthread_rwlock_unlock(&lg->lock);
    Py_END_ALLOW_THREADS
}
