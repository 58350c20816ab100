/*
 * The embedded interpreter for one plugin library, included by shim.c: the GIL per host
 * thread, the host's signal dispositions, the interpreter start, and the library's import
 * space (its own modules, its own SDK: see falco_plugin/_space.py, whose bytecode is baked
 * into fp_meta.h as FP_SPACE_CODE and run here before any SDK module is imported).
 *
 * The space lives while at least one state of this library does; the init after the last
 * destroy opens a fresh one, so a reload (destroy, dlclose, dlopen, init) runs fresh code.
 */

/* ------------------------------------------------------------------ GIL */

/*
 * Each host thread gets one Python thread state that lives as long as the thread (made
 * by a first PyGILState_Ensure that is not released until the thread exits), so every
 * later call only takes and drops the GIL. Between calls the GIL is free and Python
 * threads run. When a host thread exits (Falco starts new event threads at every reload,
 * a thread pool may come and go) a thread-specific destructor deletes its thread state.
 *
 * The hot path takes the GIL with that pinned state directly (what PyGILState_Ensure
 * does, without looking the state up and counting). Pinned states are marked in their
 * dict, so that the plugin libraries of one process share them; a state someone else
 * made (a Python host's thread, a C host's own PyGILState_Ensure, which may delete it
 * again) is never taken directly, and neither is the GIL when this thread already holds
 * it (a host calling back into a plugin from inside a Python call): PyGILState_Ensure
 * handles those.
 */
static __thread PyThreadState *fp_tls_tstate; /* this thread's pinned state, or NULL */
static __thread int fp_tls_seen;              /* the thread's state was looked at */
static pthread_key_t g_tstate_key;
static pthread_once_t g_tstate_once = PTHREAD_ONCE_INIT;
#define FP_GIL_DIRECT ((PyGILState_STATE)2) /* taken with the pinned state */
#define FP_PINNED_KEY "falco_plugin.pinned_thread_state"

/* At the exit of a host thread that got its thread state from fp_enter: delete it. The
 * state comes as the key's value (Python's own thread-specific slot may already be cleared
 * when this runs: the C library clears them all, in no set order). */
static void fp_tstate_release(void *data) {
    PyThreadState *ts = data;
    if (!ts || !Py_IsInitialized()) return;
    PyEval_RestoreThread(ts);
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent(); /* and the GIL goes */
}

static void fp_tstate_key_make(void) { (void)pthread_key_create(&g_tstate_key, fp_tstate_release); }

static PyThreadState *fp_gil_holder(void) {
#if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked();
#else
    return _PyThreadState_UncheckedGet();
#endif
}

/* With the GIL held: mark this thread's state as pinned, or tell whether it is. */
static int fp_pinned_mark(int set) {
    PyObject *dict = PyThreadState_GetDict();
    int found = 0;
    if (dict && set) found = PyDict_SetItemString(dict, FP_PINNED_KEY, Py_True) == 0;
    else if (dict) found = PyDict_GetItemString(dict, FP_PINNED_KEY) != NULL;
    PyErr_Clear();
    return found;
}

static PyGILState_STATE fp_enter_slow(void);

/* Take the GIL. The hot path (a thread with its pinned state, the GIL not its own already)
 * is small enough to be inlined into every call; the rest is out of line. */
static inline PyGILState_STATE fp_enter(void) {
    PyThreadState *ts = fp_tls_tstate;
    if (ts && fp_gil_holder() != ts) {
        PyEval_RestoreThread(ts);
        return FP_GIL_DIRECT;
    }
    return fp_enter_slow();
}

FP_NOINLINE static PyGILState_STATE fp_enter_slow(void) {
    if (!fp_tls_seen) {
        fp_tls_seen = 1;
        if (PyGILState_GetThisThreadState() == NULL) {
            (void)PyGILState_Ensure(); /* the state this thread keeps until it exits */
            int pinned = fp_pinned_mark(1);
            PyThreadState *mine = PyEval_SaveThread();
            pthread_once(&g_tstate_once, fp_tstate_key_make);
            (void)pthread_setspecific(g_tstate_key, mine);
            if (pinned) fp_tls_tstate = mine;
            return fp_enter();
        }
        PyGILState_STATE g = PyGILState_Ensure();
        if (fp_pinned_mark(0)) fp_tls_tstate = PyGILState_GetThisThreadState();
        return g;
    }
    return PyGILState_Ensure();
}

static void fp_leave(PyGILState_STATE g) {
    if (g == FP_GIL_DIRECT)
        (void)PyEval_SaveThread();
    else
        PyGILState_Release(g);
}

/* ------------------------------------------------------------------ signals */

static const int fp_signals[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGPIPE,
                                 SIGXFSZ, SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM};
#define FP_NSIGNALS (sizeof fp_signals / sizeof fp_signals[0])

typedef struct { struct sigaction act[FP_NSIGNALS]; } fp_sigsave;

static void fp_signals_save(fp_sigsave *s) {
    for (size_t i = 0; i < FP_NSIGNALS; i++) sigaction(fp_signals[i], NULL, &s->act[i]);
}

/* Put the saved dispositions back; returns the first signal found changed, or 0. */
static int fp_signals_restore(const fp_sigsave *s) {
    int changed = 0;
    for (size_t i = 0; i < FP_NSIGNALS; i++) {
        struct sigaction now;
        sigaction(fp_signals[i], &s->act[i], &now);
        if (!changed && now.sa_handler != s->act[i].sa_handler) changed = fp_signals[i];
    }
    return changed;
}

/*
 * After a call on the host's main thread (init, open, close, set_config, the async and
 * capture-listening hooks, destroy): put back any disposition the call changed (through
 * C: Python's signal module refuses inside plugins, see _space.lock_signals) and say so
 * in the host's log. The hot calls (next_batch, extract, parse) are not guarded: Python
 * code cannot change a handler there (only the main thread may), C code could.
 */
static void fp_guard_end(fp_state *st, const fp_sigsave *saved, const char *call) {
    int changed = fp_signals_restore(saved);
    if (!changed || !st || !st->log_fn) return;
    char msg[200];
    snprintf(msg, sizeof msg,
             "plugin %s changed the handler of signal %d; the host's handler was restored", call,
             changed);
    st->log_fn(st->owner, NULL, msg, SS_PLUGIN_LOG_SEV_WARNING);
}

/* ------------------------------------------------------------------ interpreter start */

#if FP_PACKAGED
#include "shim_package.c"
#endif

static int fp_version_matches(char *err, size_t errlen) {
    int major = 0, minor = 0;
    if (sscanf(Py_GetVersion(), "%d.%d", &major, &minor) == 2 && major == PY_MAJOR_VERSION &&
        minor == PY_MINOR_VERSION)
        return 1;
    snprintf(err, errlen,
             "this process already runs Python %d.%d (another plugin brought it) but plugin %s "
             "was built for Python %d.%d, and one process holds one Python: %s",
             major, minor, FP_META_NAME, PY_MAJOR_VERSION, PY_MINOR_VERSION,
             FP_PACKAGED ? "package both plugins with the same Python minor version"
                         : "rebuild it with that interpreter");
    return 0;
}

/*
 * The Python this library calls is the process's one: a library with its own libpython
 * (linked in) loaded with RTLD_DEEPBIND where another Python is already global would start
 * a second interpreter, whose extension modules would run on the first one's symbols.
 */
static int fp_one_python(char *err, size_t errlen) {
    void *global = dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    if (!global || global == (void *)&Py_IsInitialized) return 1;
    snprintf(err, errlen,
             "plugin %s was loaded with its own Python (RTLD_DEEPBIND?) while this process "
             "already has one: one process holds one Python; load it without RTLD_DEEPBIND",
             FP_META_NAME);
    return 0;
}

/*
 * Isolated (no environment variables, user site or current directory) and without the
 * site module: sys.path holds the standard library only, every other folder a plugin
 * imports from comes from its own import space. In UTF-8 mode (PEP 540): hosts never call
 * setlocale (Falco does not), and in the C locale Python would take ASCII for every text
 * file, file name and pipe a plugin opens.
 */
static int fp_start_interpreter(char *err, size_t errlen) {
#if !FP_PACKAGED
    if (access(FP_PY_EXECUTABLE, X_OK) != 0) {
        snprintf(err, errlen,
                 "plugin %s is a development build: it runs on the Python and the environment "
                 "of the machine that built it (%s), which this machine lacks; to run it here, "
                 "package it (falco-plugin package) and install the package",
                 FP_META_NAME, FP_PY_EXECUTABLE);
        return -1;
    }
#endif
    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.utf8_mode = 1;
    PyStatus status = Py_PreInitialize(&pre);
    if (PyStatus_Exception(status)) {
        snprintf(err, errlen, "cannot pre-initialize Python: %s",
                 status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    config.site_import = 0;
#if FP_PACKAGED
    status = fp_package_configure(&config, err, errlen);
    if (PyStatus_Exception(status) && status.err_msg == err) {
        PyConfig_Clear(&config);
        return -1; /* err says it all */
    }
#else
    status = PyConfig_SetBytesString(&config, &config.program_name, FP_PY_EXECUTABLE);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(&config, &config.executable, FP_PY_EXECUTABLE);
#endif
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        snprintf(err, errlen, "cannot start Python (%s): %s", FP_PY_EXECUTABLE,
                 status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    return 0;
}

static PyObject *fp_bootstrap(void);
static int fp_setup_python_gc_off(char *err, size_t errlen, int own);

/* With the GIL held, in an interpreter this library started, once it is set up: what the
 * interpreter's start and the bootstrap made (the standard library's first modules, the
 * bootstrap module) lives as long as the process (the interpreter is never finalized), so it
 * goes to the collector's permanent generation (gc.freeze): no collection walks it again
 * (the first one after the start walked all of it, about 2% of a plugin's start). What the
 * import spaces make later is not frozen: a closed space's modules are collected. */
static void fp_freeze_start(void) {
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *res = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
    Py_XDECREF(res);
    Py_XDECREF(gc);
    PyErr_Clear(); /* only a cost: the collector walks those objects as before */
}

/* With the GIL held: what every space shares (the batch type knows nothing of the SDK).
 * In an interpreter this library started, every line of Python is plugin code: Python's
 * ways to change signal dispositions are refused for good (see _space.lock_signals), and
 * some standard modules run at their first use (_space.defer_imports). */
static int fp_setup_python(char *err, size_t errlen, int own) {
    int gc_was_on = PyGC_Disable(); /* see fp_space_open */
    int rc = fp_setup_python_gc_off(err, errlen, own);
    if (rc == 0 && own) fp_freeze_start();
    if (gc_was_on) PyGC_Enable();
    return rc;
}

static int fp_setup_python_gc_off(char *err, size_t errlen, int own) {
    if (!g_batch_type) g_batch_type = (PyTypeObject *)PyType_FromSpec(&fp_batch_spec);
#if FP_PACKAGED
    if (own && g_batch_type && fp_package_activate() < 0) g_batch_type = NULL;
#endif
    PyObject *boot = g_batch_type && own ? fp_bootstrap() : NULL;
    PyObject *res = boot ? PyObject_CallMethod(boot, "setup_interpreter", NULL) : NULL;
    Py_XDECREF(res);
    if (g_batch_type && (res || !own)) return 0;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *text = value ? PyObject_Str(value) : NULL;
    char detail[512];
    fp_copy_utf8(detail, sizeof detail, text, "unknown error");
    snprintf(err, errlen, "cannot set up the plugin's interpreter: %s", detail);
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return -1;
}

/* Make the interpreter ready; safe to call from any init. */
static int fp_python_start(char *err, size_t errlen) {
    int rc = 0;
    pthread_mutex_lock(&g_start_lock);
    if (!g_ready) {
        if (!fp_one_python(err, errlen) || !fp_version_matches(err, errlen)) {
            /* first: with another library's libpython of another version in the process,
             * every other call below would run that one */
            rc = -1;
        } else if (!Py_IsInitialized()) {
            fp_sigsave saved;
            fp_signals_save(&saved);
            rc = fp_start_interpreter(err, errlen);
            if (rc == 0) {
                /* this thread holds the GIL now: set up, then let it go for good */
                rc = fp_setup_python(err, errlen, 1);
                int pinned = fp_pinned_mark(1); /* the main state: never finalized */
                PyThreadState *mine = PyEval_SaveThread();
                fp_tls_seen = 1;
                if (pinned) fp_tls_tstate = mine;
            }
            (void)fp_signals_restore(&saved);
        } else {
            PyGILState_STATE g = fp_enter();
            rc = fp_setup_python(err, errlen, 0);
            fp_leave(g);
        }
        g_ready = rc == 0;
    }
    pthread_mutex_unlock(&g_start_lock);
    return rc;
}

/* ------------------------------------------------------------------ the import space */

/* The folder of this library (what $ORIGIN means in a baked import root), or "". */
static void fp_library_folder(char *out, size_t cap) {
    Dl_info info;
    char real[PATH_MAX];
    out[0] = '\0';
    if (!dladdr((void *)&fp_library_folder, &info) || !info.dli_fname) return;
    if (!realpath(info.dli_fname, real)) return;
    char *slash = strrchr(real, '/');
    if (slash) *slash = '\0';
    snprintf(out, cap, "%s", real[0] ? real : "/");
}

/* With the GIL held: the module made from the baked _space.py bytecode (once per process;
 * the interpreter's version was checked, and the bytecode magic is checked here). */
static const unsigned char fp_space_code[] = FP_SPACE_CODE;
static const unsigned char fp_py_magic[] = FP_PY_MAGIC;

static PyObject *fp_bootstrap(void) {
    if (g_bootstrap) return g_bootstrap;
    long magic = PyImport_GetMagicNumber();
    long baked = (long)fp_py_magic[0] | (long)fp_py_magic[1] << 8 | (long)fp_py_magic[2] << 16 |
                 (long)fp_py_magic[3] << 24;
    if (magic != baked) {
        PyErr_SetString(PyExc_ImportError, "the plugin library holds bytecode of another Python "
                                           "version: rebuild it with the interpreter it runs in");
        return NULL;
    }
    PyObject *code = PyMarshal_ReadObjectFromString((const char *)fp_space_code,
                                                    (Py_ssize_t)sizeof fp_space_code);
    PyObject *mod = code ? PyModule_New("falco_plugin_space_bootstrap") : NULL;
    PyObject *dict = mod ? PyModule_GetDict(mod) : NULL;
    PyObject *res = NULL;
    if (dict && PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) == 0)
        res = PyEval_EvalCode(code, dict, dict);
    Py_XDECREF(code);
    if (!res) {
        Py_XDECREF(mod);
        return NULL;
    }
    Py_DECREF(res);
    g_bootstrap = mod;
    return mod;
}

static void fp_sdk_clear(void) {
    Py_CLEAR(g_sdk.runtime);
    Py_CLEAR(g_sdk.timeout_exc);
    Py_CLEAR(g_sdk.eof_exc);
    Py_CLEAR(g_sdk.table_error);
    Py_CLEAR(g_sdk.located_cls);
    Py_CLEAR(g_sdk.async_error);
}

/* An attribute of a module of this library's SDK (name relative to the package). */
static PyObject *fp_sdk_attr(const char *module, const char *name) {
    return PyObject_CallMethod(g_sdk.runtime, "sdk_attr", "ss", module, name);
}

static int fp_space_open_gc_off(void);

/* With the GIL held: open the import space and import the SDK runtime in it. Imports make
 * many objects and no garbage: the cyclic GC is paused meanwhile (its passes over them cost
 * about 6% of a plugin's start), then set back as it was. */
static int fp_space_open(void) {
    int gc_was_on = PyGC_Disable();
    int rc = fp_space_open_gc_off();
    if (gc_was_on) PyGC_Enable();
    return rc;
}

static int fp_space_open_gc_off(void) {
    char origin[PATH_MAX];
    fp_library_folder(origin, sizeof origin);
#if FP_PACKAGED
    if (fp_package_activate() < 0) return -1;
    PyObject *checker = g_package_checker;
#else
    PyObject *checker = Py_None;
#endif
    PyObject *boot = fp_bootstrap();
    PyObject *pair = boot ? PyObject_CallMethod(boot, "open_runtime", "sssisO", FP_META_NAME,
                                                FP_IMPORT_ROOTS, origin, FP_RUNTIME_PROTOCOL,
                                                FP_PY_SOABI, checker)
                          : NULL;
    if (!pair) return -1;
    PyObject *space, *runtime;
    if (!PyArg_ParseTuple(pair, "OO", &space, &runtime)) {
        Py_DECREF(pair);
        return -1;
    }
    g_sdk.space = Py_NewRef(space);
    g_sdk.runtime = Py_NewRef(runtime);
    Py_DECREF(pair);
    if (fp_events_install(runtime) < 0) PyErr_Clear(); /* the event model stays in Python */
    g_sdk.timeout_exc = fp_sdk_attr("source", "Timeout");
    g_sdk.eof_exc = g_sdk.timeout_exc ? fp_sdk_attr("source", "Eof") : NULL;
    return g_sdk.eof_exc ? 0 : -1;
}

/* With the GIL held: close the space once no state holds it any more. */
static void fp_space_close(void) {
    PyObject *space = g_sdk.space;
    g_sdk.space = NULL;
    fp_sdk_clear();
    if (!space) return;
    PyObject *res = PyObject_CallMethod(space, "close", NULL);
    if (!res) PyErr_Clear();
    Py_XDECREF(res);
    Py_DECREF(space);
}

/*
 * Take this library's import space for a new state, opening it if no state holds it;
 * on failure the message is in err. The start lock is taken before the GIL (never the
 * other way round), so an init on another thread waits without holding the GIL.
 */
static int fp_space_acquire(fp_state *st) {
    int rc = 0;
    pthread_mutex_lock(&g_start_lock);
    PyGILState_STATE g = fp_enter();
    if (!g_sdk.space && fp_space_open() < 0) {
        fp_error_from_python(st, NULL);
        fp_space_close();
        rc = -1;
    } else {
        g_live_states++;
        st->holds_space = 1;
    }
    fp_leave(g);
    pthread_mutex_unlock(&g_start_lock);
    return rc;
}

static void fp_space_release(fp_state *st) {
    if (!st->holds_space) return;
    st->holds_space = 0;
    pthread_mutex_lock(&g_start_lock);
    PyGILState_STATE g = fp_enter();
    if (--g_live_states == 0) fp_space_close();
    fp_leave(g);
    pthread_mutex_unlock(&g_start_lock);
}
