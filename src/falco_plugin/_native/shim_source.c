/*
 * The source capability, included by shim.c: open/close, next_batch (the hot path: one
 * Python call per batch, C writes the event headers), progress, open params, event text.
 */

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

static ss_instance_t *fp_open(ss_plugin_t *s, const char *params, ss_plugin_rc *rc) {
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
        inst->batch->st = st;
        memset(&inst->batch->sup, 0, sizeof inst->batch->sup);
        *rc = SS_PLUGIN_SUCCESS;
    } else {
        fp_error_from_python(st, NULL);
        fp_instance_free(inst);
        inst = NULL;
    }
    fp_leave(g);
    return inst;
}

/* Guarded: see fp_guard_end. */
FP_EXPORT ss_instance_t *plugin_open(ss_plugin_t *s, const char *params, ss_plugin_rc *rc) {
    fp_sigsave saved;
    fp_signals_save(&saved);
    ss_instance_t *out = fp_open(s, params, rc);
    fp_guard_end(s, &saved, "open");
    return out;
}

static void fp_close(ss_plugin_t *s, ss_instance_t *h) {
    fp_state *st = s;
    fp_instance *inst = h;
    if (!inst) return;
    if (st && st->sup_inst == inst) st->sup_inst = NULL;
    PyGILState_STATE g = fp_enter();
    if (st && st->rt && inst->py) {
        PyObject *res = PyObject_CallMethod(st->rt, "close", "O", inst->py);
        if (!res) fp_error_from_python(st, "close");
        Py_XDECREF(res);
    }
    fp_instance_free(inst);
    fp_leave(g);
}

/* Guarded: see fp_guard_end. */
FP_EXPORT void plugin_close(ss_plugin_t *s, ss_instance_t *h) {
    fp_sigsave saved;
    fp_signals_save(&saved);
    fp_close(s, h);
    fp_guard_end(s, &saved, "close");
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
    b->sup.active = 0;
    b->sup.nvals = 0;
    b->sup.arena_len = 0;
    b->sup.cursor = 0;
    b->open = 1;
    PyObject *res = PyObject_CallOneArg(inst->next_batch, (PyObject *)b);
    b->open = 0;
    if (b->sup.active) /* extraction answers the fields supplied with these events */
        st->sup_inst = inst;
    else if (st->sup_inst == inst)
        st->sup_inst = NULL;
    if (res) {
        Py_DECREF(res);
        rc = b->count ? SS_PLUGIN_SUCCESS : SS_PLUGIN_TIMEOUT; /* never SUCCESS with none */
    } else if (PyErr_ExceptionMatches(g_sdk.eof_exc)) {
        PyErr_Clear();
        rc = SS_PLUGIN_EOF;
    } else if (PyErr_ExceptionMatches(g_sdk.timeout_exc)) {
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

#if FP_HAS_PROGRESS /* only when the plugin's instances report progress */
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
#endif

#if FP_HAS_LIST_OPEN_PARAMS
static const char *fp_list_open_params(ss_plugin_t *s, ss_plugin_rc *rc) {
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

/* Guarded: see fp_guard_end. */
FP_EXPORT const char *plugin_list_open_params(ss_plugin_t *s, ss_plugin_rc *rc) {
    fp_sigsave saved;
    fp_signals_save(&saved);
    const char *out = fp_list_open_params(s, rc);
    fp_guard_end(s, &saved, "list_open_params");
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
