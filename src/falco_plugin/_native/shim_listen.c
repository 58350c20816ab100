/*
 * Capture listening for Python plugins, included by shim.c: capture_open / capture_close
 * with table access, and routines on the host's thread pool. A routine calls a Python
 * callable, then waits its interval (waking early when unsubscribed) before returning to
 * the host, which re-queues it at once: so the SDK, not the host, keeps it from spinning.
 *
 * libsinsp and Falco built with the libs' defaults have no thread pool and refuse every
 * routine: the SDK then runs it on a thread of its own with the same contract (stopped and
 * joined by unsubscribe, capture_close and destroy).
 *
 * Lifetimes: a routine the host's pool may call holds a reference to itself, released when
 * the host drops it (it returned false) or after it was unsubscribed; capture_close and
 * destroy halt and unsubscribe every routine still live, so the host never calls into
 * memory the SDK freed or a state that was destroyed.
 */

typedef struct fp_routine {
    PyObject_HEAD
    PyObject *fn;
    double interval;
    fp_state *st;               /* for error reports; cleared once the routine is halted */
    ss_plugin_owner_t *owner;   /* the host's routine API, kept to unsubscribe later */
    ss_plugin_routine_vtable vt;
    ss_plugin_routine_t *handle; /* while the host's pool may call the routine */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* ends the wait between two calls early */
    pthread_cond_t idle; /* a call ended */
    int stop;
    int running;  /* a call is in progress (the Python call, then the wait) */
    pthread_t runner;
    int host_ref; /* the host's pool may still call: holds a reference to the object */
    int own_thread; /* running on the SDK's thread (the host has no thread pool) */
    pthread_t thread;
} fp_routine;

typedef struct fp_listen {
    PyObject_HEAD
    fp_state *st; /* NULL once the state is destroyed: the object then refuses */
    ss_plugin_owner_t *owner;
    ss_plugin_routine_vtable routine; /* copied: valid after the call that gave it */
} fp_listen;

static PyTypeObject *g_routine_type, *g_listen_type;

/* Wait until now + secs on cond (with r->lock held) unless the routine stops first. */
static void fp_routine_wait(fp_routine *r, double secs) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)secs;
    until.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &until) == 0) {
    }
}

/*
 * What the host's threads call: the Python callable, then a wait (never a spin). A call
 * counts as running from start to end, wait included, so that halting waits for it (and
 * cuts its wait short) before the memory it uses goes. When it returns false the host
 * drops the routine: the reference the host held is released then.
 */
static ss_plugin_bool fp_routine_run(ss_plugin_t *s, ss_plugin_routine_state_t *state) {
    fp_routine *r = state;
    if (!r) return 0;
    pthread_mutex_lock(&r->lock);
    int go_on = !r->stop;
    if (go_on) {
        r->running = 1;
        r->runner = pthread_self();
    }
    pthread_mutex_unlock(&r->lock);
    if (go_on) {
        PyGILState_STATE g = fp_enter();
        PyObject *res = PyObject_CallNoArgs(r->fn);
        go_on = res && (res == Py_None || PyObject_IsTrue(res) == 1);
        if (!res) fp_error_from_python(r->st, "routine");
        Py_XDECREF(res);
        fp_leave(g);
    }
    pthread_mutex_lock(&r->lock);
    if (!go_on) r->stop = 1;
    if (r->running) fp_routine_wait(r, r->interval > 0 ? r->interval : 0.001);
    int stopped = r->stop, drop = stopped && r->host_ref && !r->own_thread;
    if (drop) r->host_ref = 0;
    r->running = 0;
    pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->lock);
    if (drop) { /* the host calls it no more: its reference goes (r may go with it) */
        PyGILState_STATE g = fp_enter();
        Py_DECREF(r);
        fp_leave(g);
    }
    return !stopped;
}

/* The SDK's own thread for a routine the host refused: runs it until it stops. */
static void *fp_routine_thread(void *arg) {
    fp_routine *r = arg;
    while (fp_routine_run(NULL, r)) {
    }
    PyGILState_STATE g = fp_enter();
    Py_DECREF(r); /* the thread's reference */
    fp_leave(g);
    return NULL;
}

/*
 * Stops a routine for good (GIL held on entry and exit, released while waiting): no call
 * is in progress when it returns (unless called from inside one), the host's pool is told
 * (unsubscribe), and a routine on the SDK's own thread is joined.
 */
static void fp_routine_halt(fp_routine *r) {
    pthread_t self = pthread_self();
    ss_plugin_routine_t *h = NULL;
    int drop = 0, join = 0;
    pthread_t thread;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_broadcast(&r->wake);
    while (r->running && !pthread_equal(r->runner, self)) pthread_cond_wait(&r->idle, &r->lock);
    h = r->handle;
    r->handle = NULL;
    if (r->own_thread && !pthread_equal(r->thread, self)) {
        join = 1;
        thread = r->thread;
        r->own_thread = 0;
    }
    pthread_mutex_unlock(&r->lock);
    /* the host may wait for a call in progress: it needs no GIL here, it is stopped */
    if (h && r->vt.unsubscribe) (void)r->vt.unsubscribe(r->owner, h);
    if (join) pthread_join(thread, NULL);
    pthread_mutex_lock(&r->lock);
    if (h && r->host_ref) { /* whatever unsubscribe said, the host calls it no more */
        r->host_ref = 0;
        drop = 1;
    }
    r->st = NULL;
    pthread_mutex_unlock(&r->lock);
    Py_END_ALLOW_THREADS
    if (drop) Py_DECREF(r); /* the caller holds a reference too: r stays valid here */
}

/* Halts every routine of a state and forgets them: at capture_close and destroy (GIL held). */
static void fp_routines_halt_all(fp_state *st) {
    if (!st || !st->routines) return;
    PyObject *all = PySequence_List(st->routines); /* a copy: halting releases the GIL */
    for (Py_ssize_t i = 0; all && i < PyList_GET_SIZE(all); i++)
        fp_routine_halt((fp_routine *)PyList_GET_ITEM(all, i));
    if (all) (void)PyList_SetSlice(st->routines, 0, PyList_GET_SIZE(all), NULL);
    Py_XDECREF(all);
    PyErr_Clear();
}

static void fp_routine_dealloc(PyObject *self) {
    fp_routine *r = (fp_routine *)self;
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(r->fn);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->idle);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyType_Slot fp_routine_slots[] = {
    {Py_tp_dealloc, (void *)fp_routine_dealloc},
    {Py_tp_doc, "A routine subscribed to the host's thread pool."},
    {0, NULL},
};

static PyType_Spec fp_routine_spec = {
    "falco_plugin.Routine", sizeof(fp_routine), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, fp_routine_slots,
};

/* subscribe(fn, interval=0.1) -> Routine */
static PyObject *fp_listen_subscribe(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"fn", "interval", NULL};
    fp_listen *ls = (fp_listen *)self;
    PyObject *fn;
    double interval = 0.1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|d", kwlist, &fn, &interval)) return NULL;
    if (!PyCallable_Check(fn) || interval < 0) {
        PyErr_SetString(PyExc_ValueError, "subscribe(fn, interval): a callable and interval >= 0");
        return NULL;
    }
    if (!ls->st) {
        PyErr_SetString(PyExc_RuntimeError, "this plugin state was destroyed: no routines");
        return NULL;
    }
    if (!ls->routine.subscribe) {
        PyErr_SetString(PyExc_RuntimeError, "the host gave no routine API");
        return NULL;
    }
    fp_routine *r = PyObject_New(fp_routine, g_routine_type);
    if (!r) return NULL;
    r->fn = Py_NewRef(fn);
    r->interval = interval;
    r->st = ls->st;
    r->owner = ls->owner;
    r->vt = ls->routine;
    r->stop = r->running = r->host_ref = r->own_thread = 0;
    r->handle = NULL;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    pthread_cond_init(&r->idle, NULL);
    /* the state's list holds every live routine: halted at capture_close and destroy */
    if (PyList_Append(ls->st->routines, (PyObject *)r) < 0) {
        Py_DECREF(r);
        return NULL;
    }
    Py_INCREF(r); /* the host's reference, taken before it can call */
    r->host_ref = 1;
    ss_plugin_routine_t *h = NULL;
    Py_BEGIN_ALLOW_THREADS
    h = ls->routine.subscribe(ls->owner, fp_routine_run, r);
    if (h) {
        pthread_mutex_lock(&r->lock);
        r->handle = h;
        pthread_mutex_unlock(&r->lock);
    }
    Py_END_ALLOW_THREADS
    if (!h) { /* no host thread pool (libsinsp's default build): a thread of our own */
        r->host_ref = 0; /* that reference becomes the thread's */
        r->own_thread = 1;
        int e = pthread_create(&r->thread, NULL, fp_routine_thread, r);
        if (e != 0) {
            r->own_thread = 0;
            Py_DECREF(r);
            PyErr_Format(PyExc_RuntimeError,
                         "the host has no thread pool for routines and no thread could be "
                         "started: %s", strerror(e));
            return NULL;
        }
    }
    return (PyObject *)r;
}

static PyObject *fp_listen_unsubscribe(PyObject *self, PyObject *arg) {
    if (Py_TYPE(arg) != g_routine_type) {
        PyErr_SetString(PyExc_TypeError, "unsubscribe() takes a routine from subscribe()");
        return NULL;
    }
    fp_routine_halt((fp_routine *)arg); /* it is never called again */
    Py_RETURN_NONE;
}

/* At destroy (GIL held): the state's listen object outlives it only as a refusing one. */
static void fp_listen_detach(fp_state *st) {
    if (st->listen) ((fp_listen *)st->listen)->st = NULL;
    Py_CLEAR(st->listen);
}

static PyMethodDef fp_listen_methods[] = {
    {"subscribe", (PyCFunction)(void (*)(void))fp_listen_subscribe, METH_VARARGS | METH_KEYWORDS,
     "subscribe(fn, interval=0.1): run fn on the host's threads until it returns False."},
    {"unsubscribe", fp_listen_unsubscribe, METH_O, "unsubscribe(routine): stop a routine."},
    {NULL, NULL, 0, NULL},
};

static void fp_listen_dealloc(PyObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyType_Slot fp_listen_slots[] = {
    {Py_tp_methods, fp_listen_methods},
    {Py_tp_dealloc, (void *)fp_listen_dealloc},
    {Py_tp_doc, "The host's capture listening API (routines)."},
    {0, NULL},
};

static PyType_Spec fp_listen_spec = {
    "falco_plugin.CaptureListen", sizeof(fp_listen), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, fp_listen_slots,
};

/* capture_open / capture_close: the plugin's hook with tables writable for the call; a
 * failure is logged too when `log` is set. */
static ss_plugin_rc fp_capture(fp_state *st, const ss_plugin_capture_listen_input *in,
                               const char *hook, int log) {
    if (!fp_ready(st)) return SS_PLUGIN_FAILURE;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    PyGILState_STATE g = fp_enter();
    if (!g_listen_type) {
        g_listen_type = (PyTypeObject *)PyType_FromSpec(&fp_listen_spec);
        g_routine_type = g_listen_type ? (PyTypeObject *)PyType_FromSpec(&fp_routine_spec) : NULL;
    }
    if (!st->routines) st->routines = PyList_New(0);
    if (!st->listen && g_routine_type && st->routines) { /* one per state, kept */
        fp_listen *made = PyObject_New(fp_listen, g_listen_type);
        if (made) made->st = st;
        st->listen = (PyObject *)made;
    }
    fp_listen *ls = (fp_listen *)st->listen;
    PyObject *res = NULL;
    if (ls) {
        ls->owner = in ? in->owner : NULL;
        memset(&ls->routine, 0, sizeof ls->routine);
        if (in && in->routine) ls->routine = *in->routine;
        fp_tables_begin(st->tables, FP_SCOPE_WRITE, in ? in->table_reader_ext : NULL,
                        in ? in->table_writer_ext : NULL);
        res = PyObject_CallMethod(st->rt, hook, "O", (PyObject *)ls);
        fp_tables_end(st->tables);
    }
    if (res) {
        rc = SS_PLUGIN_SUCCESS;
        Py_DECREF(res);
    } else {
        fp_error_from_python(st, log ? hook : NULL);
    }
    fp_leave(g);
    return rc;
}

static ss_plugin_rc fp_capture_open(ss_plugin_t *s, const ss_plugin_capture_listen_input *in) {
    return fp_capture(s, in, "capture_open", 0);
}

/* Guarded: see fp_guard_end. */
FP_EXPORT ss_plugin_rc plugin_capture_open(ss_plugin_t *s, const ss_plugin_capture_listen_input *in) {
    fp_sigsave saved;
    fp_signals_save(&saved);
    ss_plugin_rc out = fp_capture_open(s, in);
    fp_guard_end(s, &saved, "capture_open");
    return out;
}

/* capture_close never fails: libsinsp throws on a failure, from its destructor too (which
 * ends the process), so the plugin's exception is logged instead. */
static ss_plugin_rc fp_capture_close(ss_plugin_t *s, const ss_plugin_capture_listen_input *in) {
    fp_state *st = s;
    if (!fp_ready(st)) return SS_PLUGIN_SUCCESS;
    (void)fp_capture(st, in, "capture_close", 1);
    if (st->routines) { /* routines still subscribed stop now, and leave the host's pool */
        PyGILState_STATE g = fp_enter();
        fp_routines_halt_all(st);
        fp_leave(g);
    }
    return SS_PLUGIN_SUCCESS;
}

/* Guarded: see fp_guard_end. */
FP_EXPORT ss_plugin_rc plugin_capture_close(ss_plugin_t *s,
                                            const ss_plugin_capture_listen_input *in) {
    fp_sigsave saved;
    fp_signals_save(&saved);
    ss_plugin_rc out = fp_capture_close(s, in);
    fp_guard_end(s, &saved, "capture_close");
    return out;
}
