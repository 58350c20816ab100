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

typedef struct fp_state {
    PyObject *rt; /* falco_plugin._runtime.Runtime, NULL when init failed */
    struct fp_extractor *extract; /* field methods and result buffers (extract plugins) */
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
    PyObject *rt = NULL;
    if (logger && config)
        rt = PyObject_CallMethod(g_runtime, "create", "sssOOs", FP_MODULE_FILE, FP_MODULE_NAME,
                                 FP_CLASS_NAME, config, logger, FP_EXTRA_SYS_PATH);
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
    if (st->rt) {
        PyGILState_STATE g = fp_enter();
        PyObject *res = PyObject_CallMethod(st->rt, "destroy", NULL);
        if (!res) fp_error_from_python(st, "destroy");
        Py_XDECREF(res);
        fp_extract_free(st->extract);
        Py_CLEAR(st->rt);
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

/* ------------------------------------------------------------------ extract API */

#if FP_HAS_EXTRACT
/* The event a field method receives: a view of the host's event while the call runs,
 * with the payload copied once (on first use) and shared by every field of the event. */
typedef struct fp_event {
    PyObject_HEAD
    const ss_plugin_event *raw; /* only valid during an extract_fields call */
    uint64_t evtnum;
    const char *source_c;
    PyObject *source, *payload, *rawbytes, *context;
    PyObject *make_context; /* the plugin's hook, or NULL */
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
    if (!ev->source) {
        ev->source = fp_str(ev->source_c);
        if (!ev->source) return NULL;
    }
    Py_INCREF(ev->source);
    return ev->source;
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
static PyObject *g_located_cls;

typedef struct fp_field {
    PyObject *fn;
    uint32_t ftype;
    uint8_t is_list, arg_kind, arg_required, offsets;
} fp_field;

/* Results of one extract_fields call; reused, valid until the next call on the state. */
typedef struct fp_results {
    uint64_t *u64;
    uint32_t *u32;
    size_t *str_off; /* string offsets in the arena, turned into str pointers at the end */
    const char **str;
    size_t *buf_off;
    uint32_t *buf_len;
    ss_plugin_byte_buffer *buf;
    char *arena;
    size_t n_u64, n_u32, n_str, n_buf, arena_len;
    size_t cap_u64, cap_u32, cap_str, cap_strp, cap_buf, cap_buflen, cap_bufp, cap_arena;
    uint32_t *start, *length; /* value offsets, one per requested field */
    size_t *first;            /* per requested field: index of its first value */
    size_t cap_fields;
} fp_results;

typedef struct fp_extractor {
    fp_field *fields;
    uint32_t nfields;
    PyObject *make_context;
    fp_event *cur;
    uint64_t cur_evtnum, cur_ts;
    const void *cur_ptr;
    fp_results r;
} fp_extractor;

static int fp_grow(void *pp, size_t *cap, size_t need, size_t elem) {
    void **p = pp;
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) {
        PyErr_NoMemory();
        return -1;
    }
    *p = q;
    *cap = n;
    return 0;
}

/* The per-requested-field arrays (value offsets, first value index), grown together. */
static int fp_grow_fields(fp_results *r, size_t need) {
    if (need <= r->cap_fields) return 0;
    size_t n = r->cap_fields ? r->cap_fields : 4;
    while (n < need) n *= 2;
    uint32_t *start = realloc(r->start, n * sizeof *start);
    if (start) r->start = start;
    uint32_t *length = start ? realloc(r->length, n * sizeof *length) : NULL;
    if (length) r->length = length;
    size_t *first = length ? realloc(r->first, n * sizeof *first) : NULL;
    if (!first) {
        PyErr_NoMemory();
        return -1;
    }
    r->first = first;
    r->cap_fields = n;
    return 0;
}

static int fp_arena_put(fp_results *r, const void *data, size_t n, int nul, size_t *off) {
    if (fp_grow(&r->arena, &r->cap_arena, r->arena_len + n + 1, 1) < 0) return -1;
    *off = r->arena_len;
    if (n) memcpy(r->arena + r->arena_len, data, n);
    r->arena_len += n;
    if (nul) r->arena[r->arena_len++] = '\0';
    return 0;
}

/* Store one Python value of a field of type ftype. */
static int fp_put_value(fp_results *r, uint32_t ftype, PyObject *v) {
    switch (ftype) {
    case FTYPE_UINT64:
    case FTYPE_RELTIME:
    case FTYPE_ABSTIME: {
        if (!PyLong_Check(v)) {
            PyErr_Format(PyExc_TypeError, "expected an int value, got %.100s", Py_TYPE(v)->tp_name);
            return -1;
        }
        unsigned long long n = PyLong_AsUnsignedLongLong(v);
        if (n == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "an integer field value must be in [0, 2**64)");
            return -1;
        }
        if (fp_grow(&r->u64, &r->cap_u64, r->n_u64 + 1, sizeof *r->u64) < 0) return -1;
        r->u64[r->n_u64++] = n;
        return 0;
    }
    case FTYPE_BOOL: {
        int b = PyObject_IsTrue(v);
        if (b < 0) return -1;
        if (fp_grow(&r->u32, &r->cap_u32, r->n_u32 + 1, sizeof *r->u32) < 0) return -1;
        r->u32[r->n_u32++] = (uint32_t)b;
        return 0;
    }
    case FTYPE_STRING: {
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
        if (fp_grow(&r->str_off, &r->cap_str, r->n_str + 1, sizeof *r->str_off) < 0) return -1;
        return fp_arena_put(r, s, (size_t)n, 1, &r->str_off[r->n_str++]);
    }
    case FTYPE_IPADDR:
    case FTYPE_IPNET: {
        char *data;
        Py_ssize_t n;
        if (!PyBytes_Check(v) || PyBytes_AsStringAndSize(v, &data, &n) < 0 || (n != 4 && n != 16)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "an address field value must be an IPv4/IPv6 address");
            return -1;
        }
        if (fp_grow(&r->buf_off, &r->cap_buf, r->n_buf + 1, sizeof *r->buf_off) < 0 ||
            fp_grow(&r->buf_len, &r->cap_buflen, r->n_buf + 1, sizeof *r->buf_len) < 0)
            return -1;
        r->buf_len[r->n_buf] = (uint32_t)n;
        return fp_arena_put(r, data, (size_t)n, 0, &r->buf_off[r->n_buf++]);
    }
    }
    PyErr_Format(PyExc_ValueError, "unknown field type %u", ftype);
    return -1;
}

static size_t fp_count_of(const fp_results *r, uint32_t ftype) {
    switch (ftype) {
    case FTYPE_BOOL: return r->n_u32;
    case FTYPE_STRING: return r->n_str;
    case FTYPE_IPADDR:
    case FTYPE_IPNET: return r->n_buf;
    default: return r->n_u64;
    }
}

/* Call the field method for one requested field and store its value(s). */
static int fp_extract_one(fp_extractor *x, ss_plugin_extract_field *f, size_t i) {
    fp_results *r = &x->r;
    fp_field *fd = &x->fields[f->field_id];
    PyObject *res;
    r->start[i] = r->length[i] = 0;
    if (fd->arg_kind == 0 || !f->arg_present) {
        if (fd->arg_kind != 0 && fd->arg_required) {
            PyErr_Format(PyExc_ValueError, "field %s requires an argument", f->field);
            return -1;
        }
        res = PyObject_CallOneArg(fd->fn, (PyObject *)x->cur);
    } else {
        PyObject *arg = fd->arg_kind == 1 ? PyLong_FromUnsignedLongLong(f->arg_index)
                                          : fp_str(f->arg_key);
        if (!arg) return -1;
        PyObject *args[2] = {(PyObject *)x->cur, arg};
        res = PyObject_Vectorcall(fd->fn, args, 2, NULL);
        Py_DECREF(arg);
    }
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
    r->first[i] = fp_count_of(r, fd->ftype);
    int rc = 0;
    if (value != Py_None) {
        if (fd->is_list) {
            PyObject *seq = PySequence_Fast(value, "a list field must return a list of values");
            if (!seq) {
                rc = -1;
            } else {
                Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
                for (Py_ssize_t k = 0; k < n && rc == 0; k++)
                    rc = fp_put_value(r, fd->ftype, PySequence_Fast_GET_ITEM(seq, k));
                Py_DECREF(seq);
            }
        } else {
            rc = fp_put_value(r, fd->ftype, value);
        }
    }
    Py_DECREF(res);
    if (rc == 0) f->res_len = fp_count_of(r, fd->ftype) - r->first[i];
    return rc;
}

/* Point each field's result at its values, now that no buffer moves any more. */
static int fp_extract_finish(fp_extractor *x, const ss_plugin_field_extract_input *in) {
    fp_results *r = &x->r;
    if (fp_grow(&r->str, &r->cap_strp, r->n_str + 1, sizeof *r->str) < 0 ||
        fp_grow(&r->buf, &r->cap_bufp, r->n_buf + 1, sizeof *r->buf) < 0)
        return -1;
    for (size_t k = 0; k < r->n_str; k++) r->str[k] = r->arena + r->str_off[k];
    for (size_t k = 0; k < r->n_buf; k++) {
        r->buf[k].ptr = r->arena + r->buf_off[k];
        r->buf[k].len = r->buf_len[k];
    }
    for (uint32_t i = 0; i < in->num_fields; i++) {
        ss_plugin_extract_field *f = &in->fields[i];
        size_t first = r->first[i];
        switch (x->fields[f->field_id].ftype) {
        case FTYPE_BOOL: f->res.u32 = r->u32 + first; break;
        case FTYPE_STRING: f->res.str = r->str + first; break;
        case FTYPE_IPADDR:
        case FTYPE_IPNET: f->res.buf = r->buf + first; break;
        default: f->res.u64 = r->u64 + first; break;
        }
    }
#if FP_EXTRACT_OFFSETS /* value_offsets exists in the input struct from API 3.11 on */
    if (in->value_offsets) {
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
        return 0;
    }
    fp_event *ev = PyObject_New(fp_event, g_event_type);
    if (!ev) return -1;
    ev->raw = evt->evt;
    ev->evtnum = evt->evtnum;
    ev->source_c = NULL;
    ev->source = ev->payload = ev->rawbytes = ev->context = NULL;
    ev->make_context = x->make_context;
    Py_XINCREF(ev->make_context);
    ev->source = fp_str(evt->evtsrc);
    if (!ev->source) {
        Py_DECREF(ev);
        return -1;
    }
    Py_XSETREF(x->cur, ev);
    x->cur_evtnum = evt->evtnum;
    x->cur_ptr = evt->evt;
    x->cur_ts = evt->evt->ts;
    return 0;
}

FP_EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t *s, const ss_plugin_event_input *evt,
                                             const ss_plugin_field_extract_input *in) {
    fp_state *st = s;
    if (!fp_ready(st)) return SS_PLUGIN_FAILURE;
    fp_extractor *x = st->extract;
    if (!x || !evt || !evt->evt || !in || (in->num_fields && !in->fields)) {
        fp_set_error(st, "extract_fields called without an event or fields");
        return SS_PLUGIN_FAILURE;
    }
    ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
    PyGILState_STATE g = fp_enter();
    fp_results *r = &x->r;
    r->n_u64 = r->n_u32 = r->n_str = r->n_buf = r->arena_len = 0;
    const char *failed = NULL;
    if (fp_grow_fields(r, (size_t)in->num_fields + 1) < 0 || fp_extract_event(x, evt) < 0)
        failed = "extract_fields";
    for (uint32_t i = 0; !failed && i < in->num_fields; i++) {
        ss_plugin_extract_field *f = &in->fields[i];
        f->res_len = 0;
        if (f->field_id >= x->nfields) {
            PyErr_Format(PyExc_ValueError, "unknown field id %u", f->field_id);
            failed = "extract_fields";
        } else if (fp_extract_one(x, f, i) < 0) {
            failed = f->field ? f->field : "extract_fields";
        }
    }
    if (!failed && fp_extract_finish(x, in) < 0) failed = "extract_fields";
    if (x->cur) x->cur->raw = NULL; /* the host's memory is not ours after the call */
    if (failed) {
        char where[160];
        snprintf(where, sizeof where, "extracting %s", failed);
        fp_error_from_python(st, where);
        rc = SS_PLUGIN_FAILURE;
    }
    fp_leave(g);
    return rc;
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

/* With the GIL held, after the runtime was created: cache the field methods. */
static int fp_extract_setup(fp_state *st) {
    if (!g_event_type) {
        g_event_type = (PyTypeObject *)PyType_FromSpec(&fp_event_spec);
        g_located_cls = g_event_type ? fp_import_attr("falco_plugin.extract", "Located") : NULL;
        if (!g_located_cls) {
            Py_CLEAR(g_event_type);
            return -1;
        }
    }
    fp_extractor *x = calloc(1, sizeof *x);
    if (!x) {
        PyErr_NoMemory();
        return -1;
    }
    st->extract = x;
    PyObject *list = PyObject_CallMethod(st->rt, "extractors", NULL);
    if (!list) return -1;
    Py_ssize_t n = PyList_Size(list);
    x->fields = calloc((size_t)(n > 0 ? n : 1), sizeof *x->fields);
    if (!x->fields) {
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
        Py_INCREF(fn);
        x->fields[i] = (fp_field){fn, ftype, (uint8_t)is_list, (uint8_t)arg_kind,
                                  (uint8_t)required, (uint8_t)offsets};
        x->nfields = (uint32_t)(i + 1);
    }
    Py_DECREF(list);
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
#else
static int fp_extract_setup(fp_state *st) { return 0; }
static void fp_extract_free(struct fp_extractor *x) {}
#endif /* FP_HAS_EXTRACT */
