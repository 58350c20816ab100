/*
 * falco-plugin shim: the generic C side of every plugin built with the SDK.
 *
 * `falco-plugin build` compiles this file once per plugin with a generated fp_meta.h that
 * holds the plugin's static facts (name, version, id, schema, which symbols to export)
 * and where its Python code and interpreter live. The metadata getters never touch
 * Python; the interpreter starts in plugin_init. Every buffer handed to the host is
 * owned here and stays valid until the next call of the same function. No Python
 * exception ever crosses into the host: each becomes an error code plus get_last_error.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp_abi.h"
#include "fp_meta.h"

#define FP_EXPORT __attribute__((visibility("default")))
#define FP_ERR_CAP 4096
#define FP_TS_NOW UINT64_MAX
#define FP_ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

/* ------------------------------------------------------------------ load-time setup */

/*
 * Hosts dlopen plugins RTLD_LOCAL, which hides libpython's symbols from the extension
 * modules Python imports later. Promote libpython to the global scope, and pin this
 * library so that a dlclose (Falco reloading its config) never unloads code that the
 * interpreter, which cannot be finalized safely, still points into.
 */
__attribute__((constructor)) static void fp_on_load(void) {
    Dl_info info;
    if (dladdr((void *)&Py_IsInitialized, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    if (dladdr((void *)&fp_on_load, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

/* ------------------------------------------------------------------ state types */

struct fp_extractor;
struct fp_tables;

typedef struct fp_state {
    PyObject *rt; /* falco_plugin._runtime.Runtime, NULL when init failed */
    struct fp_extractor *extract; /* field methods and result buffers (extract plugins) */
    struct fp_tables *tables;     /* the host's tables API (parse/extract plugins), or NULL */
    PyObject *parse;              /* the plugin's bound parse_event (parse plugins) */
    PyObject *emitter;            /* the async emitter while the host's handler is set */
    PyObject *routines;           /* routines subscribed on the host's thread pool */
    char last_error[FP_ERR_CAP];
    char *open_params;
    char *event_text;
    ss_plugin_metric *metrics;
    char *metric_names;
} fp_state;

typedef struct fp_batch {
    PyObject_HEAD
    uint8_t *buf;
    size_t len, cap;
    uint32_t count;
    int open; /* only fillable while next_batch runs */
} fp_batch;

typedef struct fp_instance {
    PyObject *py;
    PyObject *next_batch; /* bound method, cached: the hot path */
    fp_batch *batch;
    ss_plugin_event **ptrs;
    uint32_t ptr_cap;
    char *progress;
} fp_instance;

typedef struct fp_logger {
    ss_plugin_owner_t *owner;
    ss_plugin_log_fn_t log_fn;
} fp_logger;

/* Python objects shared by every state of this plugin; created once, never freed. */
static pthread_mutex_t g_start_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_ready;
static PyObject *g_runtime;     /* module falco_plugin._runtime */
static PyObject *g_timeout_exc; /* falco_plugin.source.Timeout */
static PyObject *g_eof_exc;     /* falco_plugin.source.Eof */
static PyTypeObject *g_batch_type;

/* ------------------------------------------------------------------ errors */

static void fp_set_error(fp_state *st, const char *fmt, ...) {
    if (!st) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->last_error, sizeof st->last_error, fmt, ap);
    va_end(ap);
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
 * Take the pending Python exception and turn it into a message. With `where` set and a
 * runtime present, the failure is also logged (rate-limited), for calls whose failure
 * the host does not show. Returns nothing; clears the exception in all cases.
 */
static void fp_error_from_python(fp_state *st, const char *where) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value && tb) PyException_SetTraceback(value, tb);
    PyObject *msg = NULL;
    if (value && g_runtime) {
        if (where && st && st->rt)
            msg = PyObject_CallMethod(st->rt, "report", "sO", where, value);
        else
            msg = PyObject_CallMethod(g_runtime, "format_error", "O", value);
    }
    if (st) fp_copy_utf8(st->last_error, sizeof st->last_error, msg, "unknown Python error");
    PyErr_Clear();
    Py_XDECREF(msg);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* ------------------------------------------------------------------ GIL */

/*
 * Each host thread gets one Python thread state that lives as long as the thread (made
 * by a first PyGILState_Ensure that is never released), so every later call only takes
 * and drops the GIL. Between calls the GIL is free and Python threads run.
 */
static __thread int fp_tls_pinned;

static PyGILState_STATE fp_enter(void) {
    if (!fp_tls_pinned) {
        if (PyGILState_GetThisThreadState() == NULL) {
            (void)PyGILState_Ensure();
            (void)PyEval_SaveThread();
        }
        fp_tls_pinned = 1;
    }
    return PyGILState_Ensure();
}

static void fp_leave(PyGILState_STATE g) { PyGILState_Release(g); }

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

/* ------------------------------------------------------------------ the event batch */

static int fp_batch_reserve(fp_batch *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
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

static int fp_batch_check_open(fp_batch *b) {
    if (b->open) return 0;
    PyErr_SetString(PyExc_RuntimeError,
                    "the event batch can only be filled while next_batch() runs");
    return -1;
}

static int fp_put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); return 2; }
static int fp_put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); return 4; }
static int fp_put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); return 8; }

/* Append a plugin event (type 322) carrying `data`. */
static int fp_batch_put(fp_batch *b, const char *data, Py_ssize_t n, uint64_t ts) {
    if ((uint64_t)n > (uint64_t)UINT32_MAX - FP_PLUGINEVENT_PAYLOAD_OFFSET) {
        PyErr_SetString(PyExc_ValueError, "event payload too large (max 4 GiB)");
        return -1;
    }
    size_t total = FP_PLUGINEVENT_PAYLOAD_OFFSET + (size_t)n;
    if (fp_batch_reserve(b, FP_ALIGN8(total)) < 0) return -1;
    uint8_t *p = b->buf + b->len;
    p += fp_put_u64(p, ts);
    p += fp_put_u64(p, UINT64_MAX); /* tid: none */
    p += fp_put_u32(p, (uint32_t)total);
    p += fp_put_u16(p, FP_PLUGINEVENT_TYPE);
    p += fp_put_u32(p, 2);
    p += fp_put_u32(p, 4);
    p += fp_put_u32(p, (uint32_t)n);
    p += fp_put_u32(p, (uint32_t)FP_META_ID);
    if (n) memcpy(p, data, (size_t)n);
    b->len += FP_ALIGN8(total);
    b->count++;
    return 0;
}

/* The bytes of a payload argument: bytes and str without copies, any buffer otherwise. */
static int fp_payload_add(fp_batch *b, PyObject *payload, uint64_t ts) {
    if (PyBytes_CheckExact(payload))
        return fp_batch_put(b, PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), ts);
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
    unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "ts must be None or an int in [0, 2**64)");
        return -1;
    }
    *ts = v;
    return 0;
}

static PyObject *fp_batch_add(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames) {
    fp_batch *b = (fp_batch *)self;
    PyObject *ts_obj = nargs > 1 ? args[1] : NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs < 1 || nargs > 2 || nargs + nkw > 2) {
        PyErr_SetString(PyExc_TypeError, "add(payload, ts=None) takes one or two arguments");
        return NULL;
    }
    if (nkw == 1) {
        if (ts_obj || !PyUnicode_Check(PyTuple_GET_ITEM(kwnames, 0)) ||
            PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "ts") != 0) {
            PyErr_SetString(PyExc_TypeError, "add() only takes the keyword argument 'ts'");
            return NULL;
        }
        ts_obj = args[1];
    }
    uint64_t ts;
    if (fp_batch_check_open(b) < 0 || fp_parse_ts(ts_obj, &ts) < 0) return NULL;
    if (fp_payload_add(b, args[0], ts) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *fp_batch_add_many(PyObject *self, PyObject *payloads) {
    fp_batch *b = (fp_batch *)self;
    if (fp_batch_check_open(b) < 0) return NULL;
    PyObject *seq = PySequence_Fast(payloads, "add_many() takes an iterable of payloads");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (fp_payload_add(b, items[i], FP_TS_NOW) < 0) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

/* Append an already encoded event after checking that its framing is consistent. */
static PyObject *fp_batch_add_event(PyObject *self, PyObject *raw) {
    fp_batch *b = (fp_batch *)self;
    if (fp_batch_check_open(b) < 0) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *p = view.buf;
    uint32_t len = 0, nparams = 0;
    uint16_t type = 0;
    const char *bad = NULL;
    if ((size_t)view.len < FP_EVENT_HEADER_LEN) {
        bad = "shorter than an event header";
    } else {
        memcpy(&len, p + 16, 4);
        memcpy(&type, p + 20, 2);
        memcpy(&nparams, p + 22, 4);
        if (len != (uint64_t)view.len)
            bad = "its header length does not match its size";
        else if (FP_META_ID != 0 && (type != FP_PLUGINEVENT_TYPE || nparams != 2))
            bad = "a plugin with an id can only emit plugin events (type 322, 2 params)";
    }
    int rc = -1;
    if (bad) {
        PyErr_Format(PyExc_ValueError, "malformed event: %s", bad);
    } else if (fp_batch_reserve(b, FP_ALIGN8(len)) == 0) {
        memcpy(b->buf + b->len, p, len);
        b->len += FP_ALIGN8(len);
        b->count++;
        rc = 0;
    }
    PyBuffer_Release(&view);
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}

static Py_ssize_t fp_batch_length(PyObject *self) { return ((fp_batch *)self)->count; }

static void fp_batch_dealloc(PyObject *self) {
    PyTypeObject *tp = Py_TYPE(self);
    free(((fp_batch *)self)->buf);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static PyMethodDef fp_batch_methods[] = {
    {"add", (PyCFunction)(void (*)(void))fp_batch_add, METH_FASTCALL | METH_KEYWORDS,
     "add(payload, ts=None): append a plugin event; ts None lets the host stamp it."},
    {"add_many", fp_batch_add_many, METH_O,
     "add_many(payloads): append one plugin event per payload (the fast path)."},
    {"add_event", fp_batch_add_event, METH_O,
     "add_event(raw): append an already encoded event."},
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

/* ------------------------------------------------------------------ host logger */

static void fp_logger_free(PyObject *capsule) {
    free(PyCapsule_GetPointer(capsule, "falco_plugin.logger"));
}

/* log(component, message, severity): forwards to the host's log_fn without the GIL. */
static PyObject *fp_log(PyObject *self, PyObject *args) {
    const char *component, *msg;
    int sev;
    if (!PyArg_ParseTuple(args, "zsi", &component, &msg, &sev)) return NULL;
    fp_logger *lg = PyCapsule_GetPointer(self, "falco_plugin.logger");
    if (!lg) return NULL;
    Py_BEGIN_ALLOW_THREADS
    lg->log_fn(lg->owner, component, msg, (ss_plugin_log_severity)sev);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef fp_log_def = {"host_log", fp_log, METH_VARARGS,
                                 "Send a message to the host's logger."};

static PyObject *fp_make_logger(const ss_plugin_init_input *in) {
    if (!in || !in->log_fn) Py_RETURN_NONE;
    fp_logger *lg = malloc(sizeof *lg);
    if (!lg) return PyErr_NoMemory();
    lg->owner = in->owner;
    lg->log_fn = in->log_fn;
    PyObject *capsule = PyCapsule_New(lg, "falco_plugin.logger", fp_logger_free);
    if (!capsule) {
        free(lg);
        return NULL;
    }
    PyObject *fn = PyCFunction_New(&fp_log_def, capsule);
    Py_DECREF(capsule);
    return fn;
}

/* ------------------------------------------------------------------ interpreter start */

static PyObject *fp_import_attr(const char *module, const char *name) {
    PyObject *mod = PyImport_ImportModule(module);
    if (!mod) return NULL;
    PyObject *attr = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return attr;
}

/* With the GIL held: import the SDK runtime (from the build's SDK path if needed). */
static int fp_setup_python(char *err, size_t errlen) {
    if (g_runtime) return 0;
    PyObject *rt = PyImport_ImportModule("falco_plugin._runtime");
    if (!rt) {
        PyErr_Clear();
        PyObject *path = PySys_GetObject("path"); /* borrowed */
        PyObject *sdk = PyUnicode_FromString(FP_SDK_PATH);
        if (path && sdk) PyList_Append(path, sdk);
        Py_XDECREF(sdk);
        rt = PyImport_ImportModule("falco_plugin._runtime");
    }
    PyObject *timeout = rt ? fp_import_attr("falco_plugin.source", "Timeout") : NULL;
    PyObject *eof = timeout ? fp_import_attr("falco_plugin.source", "Eof") : NULL;
    PyObject *batch_type = eof ? PyType_FromSpec(&fp_batch_spec) : NULL;
    if (!batch_type) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *text = value ? PyObject_Str(value) : NULL;
        char detail[512];
        fp_copy_utf8(detail, sizeof detail, text, "unknown error");
        snprintf(err, errlen, "cannot import the falco_plugin SDK in %s: %s", FP_PY_EXECUTABLE,
                 detail);
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        PyErr_Clear();
        Py_XDECREF(rt);
        Py_XDECREF(timeout);
        Py_XDECREF(eof);
        return -1;
    }
    g_runtime = rt;
    g_timeout_exc = timeout;
    g_eof_exc = eof;
    g_batch_type = (PyTypeObject *)batch_type;
    return 0;
}

static int fp_version_matches(char *err, size_t errlen) {
    int major = 0, minor = 0;
    if (sscanf(Py_GetVersion(), "%d.%d", &major, &minor) == 2 && major == PY_MAJOR_VERSION &&
        minor == PY_MINOR_VERSION)
        return 1;
    snprintf(err, errlen,
             "this process already runs Python %d.%d but the plugin was built for Python %d.%d; "
             "rebuild it with that interpreter",
             major, minor, PY_MAJOR_VERSION, PY_MINOR_VERSION);
    return 0;
}

static int fp_start_interpreter(char *err, size_t errlen) {
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config); /* no env vars, user site or cwd on sys.path */
    config.install_signal_handlers = 0;
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, FP_PY_EXECUTABLE);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(&config, &config.executable, FP_PY_EXECUTABLE);
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        snprintf(err, errlen, "cannot start Python (%s): %s", FP_PY_EXECUTABLE,
                 status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    return 0;
}

/* Make the interpreter and the SDK runtime ready; safe to call from any init. */
static int fp_python_start(char *err, size_t errlen) {
    int rc = 0;
    pthread_mutex_lock(&g_start_lock);
    if (!g_ready) {
        if (!Py_IsInitialized()) {
            fp_sigsave saved;
            fp_signals_save(&saved);
            rc = fp_start_interpreter(err, errlen);
            if (rc == 0) {
                /* this thread holds the GIL now: set up, then let it go for good */
                rc = fp_setup_python(err, errlen);
                (void)PyEval_SaveThread();
                fp_tls_pinned = 1;
            }
            (void)fp_signals_restore(&saved);
        } else if (!fp_version_matches(err, errlen)) {
            rc = -1;
        } else {
            PyGILState_STATE g = fp_enter();
            rc = fp_setup_python(err, errlen);
            fp_leave(g);
        }
        g_ready = rc == 0;
    }
    pthread_mutex_unlock(&g_start_lock);
    return rc;
}

static PyObject *fp_str(const char *s) {
    return PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)strlen(s ? s : ""), "surrogateescape");
}

static int fp_extract_setup(fp_state *st);
static void fp_extract_free(struct fp_extractor *x);
static PyObject *fp_tables_new(const ss_plugin_init_input *in);
static void fp_tables_end(struct fp_tables *tb);
static void fp_tables_bind(struct fp_tables *tb, fp_state *st);
static int fp_async_stop(fp_state *st);

/* ------------------------------------------------------------------ base API */

FP_EXPORT const char *plugin_get_required_api_version(void) { return FP_META_REQUIRED_API; }
FP_EXPORT const char *plugin_get_name(void) { return FP_META_NAME; }
FP_EXPORT const char *plugin_get_version(void) { return FP_META_VERSION; }
FP_EXPORT const char *plugin_get_description(void) { return FP_META_DESCRIPTION; }
FP_EXPORT const char *plugin_get_contact(void) { return FP_META_CONTACT; }

#if FP_HAS_INIT_SCHEMA
FP_EXPORT const char *plugin_get_init_schema(ss_plugin_schema_type *type) {
    if (type) *type = SS_PLUGIN_SCHEMA_JSON;
    return FP_META_INIT_SCHEMA;
}
#endif

FP_EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc) {
    ss_plugin_rc dummy;
    if (!rc) rc = &dummy;
    *rc = SS_PLUGIN_FAILURE;
    fp_state *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    if (fp_python_start(st->last_error, sizeof st->last_error) != 0) return st;

    PyGILState_STATE g = fp_enter();
    fp_sigsave saved;
    fp_signals_save(&saved); /* the author's code must not take the host's signals */
    PyObject *logger = fp_make_logger(in);
    PyObject *config = fp_str(in ? in->config : "");
    PyObject *tables = logger && config ? fp_tables_new(in) : NULL;
    if (tables && tables != Py_None) fp_tables_bind((struct fp_tables *)tables, st);
    PyObject *rt = NULL;
    if (tables)
        rt = PyObject_CallMethod(g_runtime, "create", "sssOOsO", FP_MODULE_FILE, FP_MODULE_NAME,
                                 FP_CLASS_NAME, config, logger, FP_EXTRA_SYS_PATH, tables);
    if (tables != NULL && tables != Py_None) {
        st->tables = (struct fp_tables *)tables; /* keeps the reference */
        fp_tables_end(st->tables);               /* init is over: its entries are released */
    } else {
        Py_XDECREF(tables);
    }
    if (rt) {
        st->rt = rt;
        if (fp_extract_setup(st) == 0) {
            *rc = SS_PLUGIN_SUCCESS;
        } else {
            fp_error_from_python(st, NULL);
            PyObject *res = PyObject_CallMethod(rt, "destroy", NULL);
            Py_XDECREF(res);
            PyErr_Clear();
            fp_extract_free(st->extract);
            st->extract = NULL;
            Py_CLEAR(st->rt);
        }
    } else {
        fp_error_from_python(st, NULL);
    }
    Py_XDECREF(logger);
    Py_XDECREF(config);
    int changed = fp_signals_restore(&saved);
    fp_leave(g);
    if (changed && in && in->log_fn) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "plugin init changed the handler of signal %d; the host's handler was restored",
                 changed);
        in->log_fn(in->owner, NULL, msg, SS_PLUGIN_LOG_SEV_WARNING);
    }
    return st;
}

FP_EXPORT void plugin_destroy(ss_plugin_t *s) {
    fp_state *st = s;
    if (!st) return;
    if (st->rt || st->tables) {
        PyGILState_STATE g = fp_enter();
        if (st->rt && fp_async_stop(st) < 0) fp_error_from_python(st, "stop_async");
        PyObject *res = st->rt ? PyObject_CallMethod(st->rt, "destroy", NULL) : Py_NewRef(Py_None);
        if (!res) fp_error_from_python(st, "destroy");
        Py_XDECREF(res);
        fp_extract_free(st->extract);
        Py_CLEAR(st->rt);
        Py_CLEAR(st->parse);
        Py_CLEAR(st->routines);
        Py_CLEAR(st->tables);
        fp_leave(g);
    }
    free(st->open_params);
    free(st->event_text);
    free(st->metrics);
    free(st->metric_names);
    free(st);
}

FP_EXPORT const char *plugin_get_last_error(ss_plugin_t *s) {
    fp_state *st = s;
    return st ? st->last_error : "no plugin state (plugin_init could not allocate one)";
}

static int fp_ready(fp_state *st) {
    if (st && st->rt) return 1;
    fp_set_error(st, "the plugin is not initialized");
    return 0;
}

/* Copy a bytes result into a malloc'd, NUL-terminated buffer that replaces *slot. */
static const char *fp_keep_bytes(char **slot, PyObject *bytes) {
    char *data;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(bytes, &data, &n) < 0) return NULL;
    char *copy = malloc((size_t)n + 1);
    if (!copy) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    free(*slot);
    *slot = copy;
    return copy;
}

#if FP_HAS_EVENT_SCHEMA_VERSION
/* API 3.12: the driver event schema this plugin's syscall-event code was written for. */
FP_EXPORT const char *plugin_get_required_event_schema_version(ss_plugin_t *s) {
    return FP_META_EVENT_SCHEMA_VERSION;
}
#endif

#if FP_HAS_SET_CONFIG
FP_EXPORT ss_plugin_rc plugin_set_config(ss_plugin_t *s, const ss_plugin_set_config_input *in) {
    fp_state *st = s;
    if (!fp_ready(st)) return SS_PLUGIN_FAILURE;
    PyGILState_STATE g = fp_enter();
    PyObject *config = fp_str(in ? in->config : "");
    PyObject *res = config ? PyObject_CallMethod(st->rt, "set_config", "O", config) : NULL;
    ss_plugin_rc rc = res ? SS_PLUGIN_SUCCESS : SS_PLUGIN_FAILURE;
    if (!res) fp_error_from_python(st, NULL);
    Py_XDECREF(res);
    Py_XDECREF(config);
    fp_leave(g);
    return rc;
}
#endif

#if FP_HAS_METRICS
static int fp_metric_value(PyObject *v, int type, ss_plugin_metric_value *out) {
    switch (type) {
    case SS_PLUGIN_METRIC_VALUE_TYPE_U32: out->u32 = (uint32_t)PyLong_AsUnsignedLong(v); break;
    case SS_PLUGIN_METRIC_VALUE_TYPE_S32: out->s32 = (int32_t)PyLong_AsLong(v); break;
    case SS_PLUGIN_METRIC_VALUE_TYPE_U64: out->u64 = PyLong_AsUnsignedLongLong(v); break;
    case SS_PLUGIN_METRIC_VALUE_TYPE_S64: out->s64 = PyLong_AsLongLong(v); break;
    case SS_PLUGIN_METRIC_VALUE_TYPE_D: out->d = PyFloat_AsDouble(v); break;
    case SS_PLUGIN_METRIC_VALUE_TYPE_F: out->f = (float)PyFloat_AsDouble(v); break;
    case SS_PLUGIN_METRIC_VALUE_TYPE_I: out->i = (int)PyLong_AsLong(v); break;
    default: PyErr_SetString(PyExc_ValueError, "unknown metric value type"); return -1;
    }
    return PyErr_Occurred() ? -1 : 0;
}

/* Turn [(name, type, value_type, value), ...] into the API's array; names in one buffer. */
static int fp_store_metrics(fp_state *st, PyObject *list, uint32_t *count) {
    Py_ssize_t n = PyList_Size(list), names_len = 0;
    if (n < 0) return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GetItem(PyList_GET_ITEM(list, i), 0);
        if (!name || !PyBytes_Check(name)) return -1;
        names_len += PyBytes_GET_SIZE(name) + 1;
    }
    ss_plugin_metric *metrics = calloc((size_t)n + 1, sizeof *metrics);
    char *names = malloc((size_t)names_len + 1), *cursor = names;
    if (!metrics || !names) {
        free(metrics);
        free(names);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        int type = 0, value_type = 0;
        PyObject *name = PyTuple_GetItem(item, 0), *value = PyTuple_GetItem(item, 3);
        if (!value || (type = (int)PyLong_AsLong(PyTuple_GetItem(item, 1))) < 0 ||
            (value_type = (int)PyLong_AsLong(PyTuple_GetItem(item, 2))) < 0 ||
            fp_metric_value(value, value_type, &metrics[i].value) < 0) {
            free(metrics);
            free(names);
            return -1;
        }
        memcpy(cursor, PyBytes_AS_STRING(name), (size_t)PyBytes_GET_SIZE(name) + 1);
        metrics[i].name = cursor;
        metrics[i].type = (ss_plugin_metric_type)type;
        metrics[i].value_type = (ss_plugin_metric_value_type)value_type;
        cursor += PyBytes_GET_SIZE(name) + 1;
    }
    free(st->metrics);
    free(st->metric_names);
    st->metrics = metrics;
    st->metric_names = names;
    *count = (uint32_t)n;
    return 0;
}

FP_EXPORT ss_plugin_metric *plugin_get_metrics(ss_plugin_t *s, uint32_t *num_metrics) {
    fp_state *st = s;
    uint32_t count = 0;
    ss_plugin_metric *out = NULL;
    if (fp_ready(st)) {
        PyGILState_STATE g = fp_enter();
        PyObject *list = PyObject_CallMethod(st->rt, "metrics", NULL);
        if (list && fp_store_metrics(st, list, &count) == 0)
            out = st->metrics;
        else
            fp_error_from_python(st, "get_metrics");
        Py_XDECREF(list);
        fp_leave(g);
    }
    if (num_metrics) *num_metrics = count;
    return out;
}
#endif

/* ------------------------------------------------------------------ source API */

#if FP_HAS_SOURCE
#if FP_META_ID != 0
FP_EXPORT uint32_t plugin_get_id(void) { return FP_META_ID; }
FP_EXPORT const char *plugin_get_event_source(void) { return FP_META_EVENT_SOURCE; }
#endif

static void fp_instance_free(fp_instance *inst) {
    Py_XDECREF(inst->next_batch);
    Py_XDECREF(inst->py);
    Py_XDECREF((PyObject *)inst->batch);
    free(inst->ptrs);
    free(inst->progress);
    free(inst);
}

FP_EXPORT ss_instance_t *plugin_open(ss_plugin_t *s, const char *params, ss_plugin_rc *rc) {
    fp_state *st = s;
    ss_plugin_rc dummy;
    if (!rc) rc = &dummy;
    *rc = SS_PLUGIN_FAILURE;
    if (!fp_ready(st)) return NULL;
    fp_instance *inst = calloc(1, sizeof *inst);
    if (!inst) {
        fp_set_error(st, "out of memory opening an instance");
        return NULL;
    }
    PyGILState_STATE g = fp_enter();
    PyObject *arg = fp_str(params);
    inst->py = arg ? PyObject_CallMethod(st->rt, "open", "O", arg) : NULL;
    Py_XDECREF(arg);
    if (inst->py) inst->next_batch = PyObject_GetAttrString(inst->py, "next_batch");
    if (inst->next_batch) inst->batch = PyObject_New(fp_batch, g_batch_type);
    if (inst->batch) {
        inst->batch->buf = NULL;
        inst->batch->len = inst->batch->cap = 0;
        inst->batch->count = 0;
        inst->batch->open = 0;
        *rc = SS_PLUGIN_SUCCESS;
    } else {
        fp_error_from_python(st, NULL);
        fp_instance_free(inst);
        inst = NULL;
    }
    fp_leave(g);
    return inst;
}

FP_EXPORT void plugin_close(ss_plugin_t *s, ss_instance_t *h) {
    fp_state *st = s;
    fp_instance *inst = h;
    if (!inst) return;
    PyGILState_STATE g = fp_enter();
    if (st && st->rt && inst->py) {
        PyObject *res = PyObject_CallMethod(st->rt, "close", "O", inst->py);
        if (!res) fp_error_from_python(st, "close");
        Py_XDECREF(res);
    }
    fp_instance_free(inst);
    fp_leave(g);
}

/* Point the host's array at each event of the batch (events are 8-byte aligned). */
static int fp_collect(fp_instance *inst, uint32_t *nevts, ss_plugin_event ***evts) {
    fp_batch *b = inst->batch;
    if (b->count > inst->ptr_cap) {
        ss_plugin_event **p = realloc(inst->ptrs, b->count * sizeof *p);
        if (!p) return -1;
        inst->ptrs = p;
        inst->ptr_cap = b->count;
    }
    size_t off = 0;
    for (uint32_t i = 0; i < b->count; i++) {
        ss_plugin_event *e = (ss_plugin_event *)(b->buf + off);
        inst->ptrs[i] = e;
        off += FP_ALIGN8((size_t)e->len);
    }
    *nevts = b->count;
    *evts = inst->ptrs;
    return 0;
}

FP_EXPORT ss_plugin_rc plugin_next_batch(ss_plugin_t *s, ss_instance_t *h, uint32_t *nevts,
                                         ss_plugin_event ***evts) {
    fp_state *st = s;
    fp_instance *inst = h;
    if (!nevts || !evts) {
        fp_set_error(st, "next_batch called without output pointers");
        return SS_PLUGIN_FAILURE;
    }
    *nevts = 0;
    *evts = NULL;
    if (!fp_ready(st)) return SS_PLUGIN_FAILURE;
    if (!inst) {
        fp_set_error(st, "next_batch called without an open instance");
        return SS_PLUGIN_FAILURE;
    }
    ss_plugin_rc rc;
    PyGILState_STATE g = fp_enter();
    fp_batch *b = inst->batch;
    b->len = 0;
    b->count = 0;
    b->open = 1;
    PyObject *res = PyObject_CallOneArg(inst->next_batch, (PyObject *)b);
    b->open = 0;
    if (res) {
        Py_DECREF(res);
        rc = b->count ? SS_PLUGIN_SUCCESS : SS_PLUGIN_TIMEOUT; /* never SUCCESS with none */
    } else if (PyErr_ExceptionMatches(g_eof_exc)) {
        PyErr_Clear();
        rc = SS_PLUGIN_EOF;
    } else if (PyErr_ExceptionMatches(g_timeout_exc)) {
        PyErr_Clear();
        rc = SS_PLUGIN_TIMEOUT;
    } else {
        fp_error_from_python(st, NULL);
        rc = SS_PLUGIN_FAILURE;
    }
    fp_leave(g);
    if (rc != SS_PLUGIN_FAILURE && b->count && fp_collect(inst, nevts, evts) < 0) {
        fp_set_error(st, "out of memory in next_batch");
        return SS_PLUGIN_FAILURE;
    }
    return rc;
}

FP_EXPORT const char *plugin_get_progress(ss_plugin_t *s, ss_instance_t *h, uint32_t *pct) {
    fp_state *st = s;
    fp_instance *inst = h;
    const char *out = NULL;
    if (pct) *pct = 0;
    if (!inst || !fp_ready(st)) return NULL;
    PyGILState_STATE g = fp_enter();
    PyObject *res = PyObject_CallMethod(st->rt, "progress", "O", inst->py);
    unsigned long value = 0;
    PyObject *text = NULL;
    if (res && PyArg_ParseTuple(res, "kO", &value, &text)) {
        if (pct) *pct = value > 10000 ? 10000 : (uint32_t)value;
        out = text == Py_None ? NULL : fp_keep_bytes(&inst->progress, text);
    }
    if (PyErr_Occurred()) {
        fp_error_from_python(st, "get_progress");
        out = NULL;
    }
    Py_XDECREF(res);
    fp_leave(g);
    return out;
}

#if FP_HAS_LIST_OPEN_PARAMS
FP_EXPORT const char *plugin_list_open_params(ss_plugin_t *s, ss_plugin_rc *rc) {
    fp_state *st = s;
    const char *out = NULL;
    if (rc) *rc = SS_PLUGIN_FAILURE;
    if (!fp_ready(st)) return NULL;
    PyGILState_STATE g = fp_enter();
    PyObject *res = PyObject_CallMethod(st->rt, "open_params", NULL);
    if (res) out = fp_keep_bytes(&st->open_params, res);
    if (out) {
        if (rc) *rc = SS_PLUGIN_SUCCESS;
    } else {
        fp_error_from_python(st, NULL);
    }
    Py_XDECREF(res);
    fp_leave(g);
    return out;
}
#endif

#if FP_HAS_EVENT_TO_STRING
FP_EXPORT const char *plugin_event_to_string(ss_plugin_t *s, const ss_plugin_event_input *evt) {
    fp_state *st = s;
    const char *out = NULL;
    if (!evt || !evt->evt || !fp_ready(st)) return NULL;
    PyGILState_STATE g = fp_enter();
    PyObject *raw = PyBytes_FromStringAndSize((const char *)evt->evt, evt->evt->len);
    PyObject *src = raw ? fp_str(evt->evtsrc) : NULL;
    PyObject *res = src ? PyObject_CallMethod(st->rt, "event_to_string", "OKO", raw,
                                              (unsigned long long)evt->evtnum, src)
                        : NULL;
    if (res) out = fp_keep_bytes(&st->event_text, res);
    if (!out) fp_error_from_python(st, "event_to_string"); /* NULL: the host's fallback text */
    Py_XDECREF(res);
    Py_XDECREF(src);
    Py_XDECREF(raw);
    fp_leave(g);
    return out;
}
#endif
#endif /* FP_HAS_SOURCE */

/* ------------------------------------------------------------------ other capabilities */

#define FP_USES_EVENTS (FP_HAS_EXTRACT || FP_HAS_PARSE || FP_HAS_LISTEN)

#if FP_USES_EVENTS
#include "shim_event.c"
#include "shim_tables.c"
#else
static PyObject *fp_tables_new(const ss_plugin_init_input *in) { Py_RETURN_NONE; }
static void fp_tables_end(struct fp_tables *tb) {}
static void fp_tables_bind(struct fp_tables *tb, fp_state *st) {}
#endif

#if FP_HAS_EXTRACT
#include "shim_extract.c"
#else
static int fp_extract_setup(fp_state *st) { return 0; }
static void fp_extract_free(struct fp_extractor *x) {}
#endif

#if FP_HAS_PARSE
#include "shim_parse.c"
#endif

#if FP_HAS_ASYNC
#include "shim_async.c"
#else
static int fp_async_stop(fp_state *st) { return 0; }
#endif

#if FP_HAS_LISTEN
#include "shim_listen.c"
#endif
