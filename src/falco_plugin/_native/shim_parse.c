/*
 * Event parsing for Python plugins, included by shim.c: parse_event hands the plugin the
 * event and read/write access to tables for the length of the call. libsinsp ignores a
 * failed parse, so failures are also logged (rate-limited).
 */

FP_EXPORT ss_plugin_rc plugin_parse_event(ss_plugin_t *s, const ss_plugin_event_input *evt,
                                          const ss_plugin_event_parse_input *in) {
    fp_state *st = s;
    if (!fp_ready(st)) return SS_PLUGIN_FAILURE;
    if (!evt || !evt->evt || !in) {
        fp_set_error(st, "parse_event called without an event");
        return SS_PLUGIN_FAILURE;
    }
    ss_plugin_rc rc = SS_PLUGIN_SUCCESS;
    PyGILState_STATE g = fp_enter();
    if (!st->parse) st->parse = PyObject_CallMethod(st->rt, "parser", NULL);
    PyObject *res = NULL;
    if (st->parse) {
        fp_tables_begin(st->tables, FP_SCOPE_WRITE, in->table_reader_ext, in->table_writer_ext);
        PyObject *make_context = PyTuple_GET_ITEM(st->parse, 1);
        fp_event *ev = fp_event_take(&st->parse_event, evt,
                                     make_context == Py_None ? NULL : make_context);
        if (ev) {
            res = PyObject_CallOneArg(PyTuple_GET_ITEM(st->parse, 0), (PyObject *)ev);
            fp_event_release(ev); /* the host's memory is not ours after the call */
        }
        fp_tables_end(st->tables);
    }
    if (!res) {
        fp_error_from_python(st, "parse_event");
        rc = SS_PLUGIN_FAILURE;
    }
    Py_XDECREF(res);
    fp_leave(g);
    return rc;
}

#if FP_HAS_PARSE_SOURCES
FP_EXPORT const char *plugin_get_parse_event_sources(void) { return FP_META_PARSE_SOURCES; }
#endif

#if FP_NUM_PARSE_TYPES
static uint16_t fp_parse_types[] = FP_PARSE_TYPES;
FP_EXPORT uint16_t *plugin_get_parse_event_types(uint32_t *numtypes, ss_plugin_t *s) {
    if (numtypes) *numtypes = FP_NUM_PARSE_TYPES;
    return fp_parse_types;
}
#endif
