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
#include <marshal.h>
#include <structmember.h>
#if PY_VERSION_HEX < 0x030B0000
#include <longintrepr.h> /* PyLongObject's digits (Python.h includes it from 3.11 on) */
#endif

#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fp_abi.h"
#include "fp_meta.h"

#ifndef FP_PACKAGED /* a development build: the interpreter and roots of the build machine */
#define FP_PACKAGED 0
#endif

#define FP_EXPORT __attribute__((visibility("default")))
/* For the hot paths: a fast case inlined into its callers, the rest out of line. */
#define FP_ALWAYS_INLINE __attribute__((always_inline)) inline
#define FP_NOINLINE __attribute__((noinline))
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
    char mine[16];
    /* not a libpython of another version that another plugin made global (init says so) */
    int n = snprintf(mine, sizeof mine, "%d.%d.", PY_MAJOR_VERSION, PY_MINOR_VERSION);
    if (strncmp(Py_GetVersion(), mine, (size_t)n) == 0 &&
        dladdr((void *)&Py_IsInitialized, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL);
    if (dladdr((void *)&fp_on_load, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

/* ------------------------------------------------------------------ state types */

struct fp_extractor;
struct fp_tables;
struct fp_errors;

typedef struct fp_state {
    PyObject *rt; /* falco_plugin._runtime.Runtime, NULL when init failed */
    struct fp_extractor *extract; /* field methods and result buffers (extract plugins) */
    struct fp_tables *tables;     /* the host's tables API (parse/extract plugins), or NULL */
    PyObject *parse;              /* the plugin's bound parse_event (parse plugins) */
    struct fp_event *parse_event; /* the event object parse_event gets, reused */
    PyObject *emitter;            /* the async emitter while the host's handler is set */
    PyObject *routines;           /* live routines (capture listening plugins) */
    PyObject *listen;             /* the state's capture listening object */
    struct fp_instance *sup_inst; /* the instance whose last batch has supplied values */
    struct fp_errors *errors;     /* get_last_error's messages, one slot per thread */
    PyObject *logger;             /* the host's log function for this state's Python logs */
    char *open_params;
    char *event_text;
    ss_plugin_metric *metrics;
    char *metric_names;
    int holds_space; /* counted in g_live_states */
    ss_plugin_owner_t *owner;   /* for warnings to the host's log */
    ss_plugin_log_fn_t log_fn;
} fp_state;

/* Field values supplied with the events of a batch (shim_supplied.c). */
typedef struct fp_supplies {
    int active; /* some event of the batch carries values */
    struct fp_supplied *vals;
    uint32_t nvals, cap_vals;
    uint32_t *end; /* per event: where its values end in vals */
    uint32_t cap_end;
    uint32_t cursor; /* the event extraction looked at last */
    char *arena;     /* the strings */
    size_t arena_len, arena_cap;
} fp_supplies;

typedef struct fp_batch {
    PyObject_HEAD
    uint8_t *buf;
    size_t len, cap;
    uint32_t count;
    int open; /* only fillable while next_batch runs */
    struct fp_state *st;
    fp_supplies sup;
} fp_batch;

typedef struct fp_instance {
    PyObject *py;
    PyObject *next_batch; /* bound method, cached: the hot path */
    fp_batch *batch;
    ss_plugin_event **ptrs;
    uint32_t ptr_cap;
    char *progress;
} fp_instance;

/* Python objects shared by every state of this plugin library. */
static pthread_mutex_t g_start_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_ready;
static PyTypeObject *g_batch_type; /* independent of the SDK: made once, never freed */
static PyObject *g_bootstrap;      /* the baked falco_plugin/_space.py, run once */
static int g_live_states;          /* states holding the import space */

/* The import space and what the shim uses of the SDK imported in it: replaced when the
 * space is opened again after the last state of this library was destroyed. */
static struct {
    PyObject *space;       /* falco_plugin._space.ImportSpace */
    PyObject *runtime;     /* the space's falco_plugin._runtime */
    PyObject *timeout_exc; /* source.Timeout */
    PyObject *eof_exc;     /* source.Eof */
    PyObject *table_error; /* tables.TableError, on first use */
    PyObject *located_cls; /* extract.Located, on first use */
    PyObject *async_error; /* async_event.AsyncEventError, on first use */
} g_sdk;

#include "shim_report.c"

/* fp_as_u64 for an int of several digits, a negative one or not an int: where long has 64
 * bits PyLong_AsUnsignedLong, which reads an int of several digits directly
 * (PyLong_AsUnsignedLongLong goes through a byte array for those: ten times the work). */
FP_NOINLINE static unsigned long long fp_as_u64_other(PyObject *v) {
#if ULONG_MAX == UINT64_MAX
    return PyLong_AsUnsignedLong(v);
#else
    return PyLong_AsUnsignedLongLong(v);
#endif
}

/* The value of an exact int of one digit (most ids, counts and small values) read in
 * place, as CPython's own inline code reads it; 0 for any other int (PyLong converts it).
 * `v` must be an exact int. */
static inline int fp_small_int(PyObject *v, long long *out) {
#if PY_VERSION_HEX >= 0x030C0000
    if (!PyUnstable_Long_IsCompact((PyLongObject *)v)) return 0;
    *out = (long long)PyUnstable_Long_CompactValue((PyLongObject *)v);
    return 1;
#else
    Py_ssize_t size = Py_SIZE(v); /* the digits, negative for a negative int */
    if (size < -1 || size > 1) return 0;
#if PY_VERSION_HEX < 0x030B0000
    /* 3.10 allocates no digit for some zeros (int.from_bytes(bytes(8), "little")): their
     * object ends where the digit would be (3.11 on always allocate one) */
    if (size == 0) {
        *out = 0;
        return 1;
    }
#endif
    *out = (long long)size * (long long)((PyLongObject *)v)->ob_digit[0];
    return 1;
#endif
}

/* An int as a uint64 ((unsigned long long)-1 and an exception when it is not one). Most
 * values are small: an int of one digit is read here, in a few inlined instructions. */
static inline unsigned long long fp_as_u64(PyObject *v) {
    long long small;
    if (PyLong_CheckExact(v) && fp_small_int(v, &small) && small >= 0)
        return (unsigned long long)small;
    return fp_as_u64_other(v);
}

#include "shim_evcheck.c"
static int fp_supply(fp_batch *b, PyObject *fields);
static int fp_supplied_mark(fp_batch *b);
static void fp_supplies_free(fp_supplies *s);
struct fp_sup_columns; /* the bulk form of fields= (shim_supplied.c) */
static struct fp_sup_columns *fp_supply_columns(fp_batch *b, PyObject *fields, Py_ssize_t n);
static int fp_supply_row(fp_batch *b, struct fp_sup_columns *cols, Py_ssize_t i);
static void fp_sup_columns_free(struct fp_sup_columns *cols);

/* ------------------------------------------------------------------ slots of objects */

/* The offset of an object slot (a __slots__ member) named `name` of class `cls`, or -1
 * (and a TypeError): C fills the slots of SDK classes (table entries, events) directly. */
static Py_ssize_t fp_slot_offset(PyTypeObject *cls, const char *name) {
    PyObject *descr = PyObject_GetAttrString((PyObject *)cls, name);
    Py_ssize_t off = -1;
    if (descr && Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type == T_OBJECT_EX && !(m->flags & READONLY)) off = m->offset;
    }
    Py_XDECREF(descr);
    if (off < 0 && !PyErr_Occurred())
        PyErr_Format(PyExc_TypeError, "%.100s has no slot %s", cls->tp_name, name);
    return off;
}

#define FP_SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

static void fp_slot_set(PyObject *obj, Py_ssize_t off, PyObject *value) {
    PyObject *old = FP_SLOT(obj, off);
    FP_SLOT(obj, off) = value; /* a new reference */
    Py_XDECREF(old);
}

static int fp_events_install(PyObject *runtime);

#include "shim_batch.c"
#include "shim_batch_bulk.c"
#include "shim_interp.c"
#include "shim_events.c"

static int fp_extract_setup(fp_state *st);
static void fp_extract_free(struct fp_extractor *x);
static PyObject *fp_tables_new(const ss_plugin_init_input *in);
static void fp_tables_end(struct fp_tables *tb);
static void fp_tables_bind(struct fp_tables *tb, fp_state *st);
static void fp_tables_retire(struct fp_tables *tb);
static int fp_async_stop(fp_state *st);
static void fp_routines_halt_all(fp_state *st);
static void fp_listen_detach(fp_state *st);

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

/* The static facts the plugin's code must still say at init (marshalled by the Python that
 * built the library, the one that runs it: see validate.baked_facts). */
static const unsigned char fp_meta_facts[] = FP_META_FACTS;

/* With the GIL held: the plugin object of a new state, from the space's runtime. */
static void fp_init_plugin(fp_state *st, const ss_plugin_init_input *in, ss_plugin_rc *rc) {
    PyObject *logger = fp_make_logger(in);
    PyObject *config = fp_str(in ? in->config : "");
    PyObject *tables = logger && config ? fp_tables_new(in) : NULL;
    if (tables && tables != Py_None) fp_tables_bind((struct fp_tables *)tables, st);
    PyObject *rt = NULL;
    if (tables)
        rt = PyObject_CallMethod(g_sdk.runtime, "create", "Osssy#OOO", g_sdk.space,
                                 FP_MODULE_FILE, FP_MODULE_NAME, FP_CLASS_NAME,
                                 (const char *)fp_meta_facts, (Py_ssize_t)sizeof fp_meta_facts,
                                 config, logger, tables);
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
    st->logger = logger; /* closed at destroy */
    Py_XDECREF(config);
}

FP_EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc) {
    ss_plugin_rc dummy;
    if (!rc) rc = &dummy;
    *rc = SS_PLUGIN_FAILURE;
    fp_state *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->errors = fp_errors_new();
    if (in) {
        st->owner = in->owner;
        st->log_fn = in->log_fn;
    }
    fp_sigsave saved;
    fp_signals_save(&saved); /* the author's code must not take the host's signals */
    char err[FP_ERR_CAP] = "";
    if (fp_python_start(err, sizeof err) != 0)
        fp_error_store(st, err);
    else if (fp_space_acquire(st) == 0) {
        PyGILState_STATE g = fp_enter();
        fp_init_plugin(st, in, rc);
        fp_leave(g);
    }
    fp_guard_end(st, &saved, "init");
    return st;
}

FP_EXPORT void plugin_destroy(ss_plugin_t *s) {
    fp_state *st = s;
    if (!st) return;
    fp_sigsave saved;
    fp_signals_save(&saved);
    if (st->rt || st->tables || st->logger) {
        PyGILState_STATE g = fp_enter();
        if (st->rt && fp_async_stop(st) < 0) fp_error_from_python(st, "stop_async");
        fp_routines_halt_all(st); /* routines on the SDK's own threads end before the state */
        PyObject *res = st->rt ? PyObject_CallMethod(st->rt, "destroy", NULL) : Py_NewRef(Py_None);
        if (!res) fp_error_from_python(st, "destroy");
        Py_XDECREF(res);
        fp_extract_free(st->extract);
        Py_CLEAR(st->rt);
        fp_tables_retire(st->tables); /* before the state goes: others may hold its tables */
        Py_CLEAR(st->parse);
        Py_CLEAR(st->parse_event);
        Py_CLEAR(st->routines);
        fp_listen_detach(st); /* the plugin may keep its listen object: it refuses from now */
        fp_logger_close(st->logger); /* threads it left running log to stderr from now */
        Py_CLEAR(st->logger);
        Py_CLEAR(st->tables);
        fp_leave(g);
    }
    fp_space_release(st);
    fp_guard_end(st, &saved, "destroy");
    free(st->open_params);
    free(st->event_text);
    free(st->metrics);
    free(st->metric_names);
    fp_errors_free(st->errors);
    free(st);
}

FP_EXPORT const char *plugin_get_last_error(ss_plugin_t *s) {
    fp_state *st = s;
    return st ? fp_error_read(st) : "no plugin state (plugin_init could not allocate one)";
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
static ss_plugin_rc fp_set_config(ss_plugin_t *s, const ss_plugin_set_config_input *in) {
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

/* Guarded: see fp_guard_end. */
FP_EXPORT ss_plugin_rc plugin_set_config(ss_plugin_t *s, const ss_plugin_set_config_input *in) {
    fp_sigsave saved;
    fp_signals_save(&saved);
    ss_plugin_rc out = fp_set_config(s, in);
    fp_guard_end(s, &saved, "set_config");
    return out;
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


#if FP_HAS_SOURCE
#include "shim_source.c"
#endif

/* ------------------------------------------------------------------ other capabilities */

#define FP_USES_EVENTS (FP_HAS_EXTRACT || FP_HAS_PARSE || FP_HAS_LISTEN)

#if FP_USES_EVENTS
#include "shim_event.c"
#include "shim_tables.c"
#else
static PyObject *fp_tables_new(const ss_plugin_init_input *in) { Py_RETURN_NONE; }
static void fp_tables_end(struct fp_tables *tb) {}
static void fp_tables_bind(struct fp_tables *tb, fp_state *st) {}
static void fp_tables_retire(struct fp_tables *tb) {}
#endif

#if FP_HAS_EXTRACT
#include "shim_extract.c"
#else
static int fp_extract_setup(fp_state *st) { return 0; }
static void fp_extract_free(struct fp_extractor *x) {}
#endif

#if !(FP_HAS_EXTRACT && FP_HAS_SOURCE) /* else shim_extract.c includes shim_supplied.c */
static int fp_supply(fp_batch *b, PyObject *fields) {
    PyErr_SetString(PyExc_TypeError, "fields=: this plugin has no fields to supply");
    return -1;
}
static int fp_supplied_mark(fp_batch *b) { return 0; }
static void fp_supplies_free(fp_supplies *s) {}
static struct fp_sup_columns *fp_supply_columns(fp_batch *b, PyObject *fields, Py_ssize_t n) {
    fp_supply(b, fields);
    return NULL;
}
static int fp_supply_row(fp_batch *b, struct fp_sup_columns *cols, Py_ssize_t i) { return 0; }
static void fp_sup_columns_free(struct fp_sup_columns *cols) {}
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
#else
static void fp_routines_halt_all(fp_state *st) {}
static void fp_listen_detach(fp_state *st) {}
#endif
