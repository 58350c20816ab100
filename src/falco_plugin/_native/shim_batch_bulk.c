/*
 * The bulk forms of the event batch, included by shim.c after shim_batch.c:
 * add_many(payloads, *, fields=None) and add_formatted(template, *columns, fields=None).
 * One Python call adds a whole run of events, and adds all of them or, on an error, none.
 * Columns (of values to format, of supplied field values) are read in C: a list or tuple
 * item by item, a range without making an int object per event.
 */

/* One column of a bulk call: a range of machine ints, or the items of a sequence. */
typedef struct fp_column {
    PyObject *seq; /* PySequence_Fast of the column (a new reference), NULL for a range */
    long long start, step, last;
    Py_ssize_t len;
} fp_column;

static int fp_column_seq(fp_column *c, PyObject *obj, const char *what) {
    c->seq = PySequence_Fast(obj, what);
    if (!c->seq) return -1;
    c->len = PySequence_Fast_GET_SIZE(c->seq);
    return 0;
}

/* A range whose values all fit in a long long (1), else 0; -1 on an error. */
static int fp_column_range(fp_column *c, PyObject *obj) {
    static PyObject *start_name, *step_name; /* interned once */
    if (!start_name) start_name = PyUnicode_InternFromString("start");
    if (!step_name) step_name = PyUnicode_InternFromString("step");
    if (!start_name || !step_name) return -1;
    PyObject *start = PyObject_GetAttr(obj, start_name);
    PyObject *step = start ? PyObject_GetAttr(obj, step_name) : NULL;
    int over = 0, over_step = 0;
    c->start = step ? PyLong_AsLongLongAndOverflow(start, &over) : 0;
    c->step = step ? PyLong_AsLongLongAndOverflow(step, &over_step) : 0;
    Py_XDECREF(start);
    Py_XDECREF(step);
    if (PyErr_Occurred()) return -1;
    c->len = over || over_step ? -1 : PyObject_Size(obj);
    if (c->len < 0) {
        PyErr_Clear(); /* longer than a Py_ssize_t can count */
        return 0;
    }
    long long span;
    c->last = c->start;
    return c->len == 0 ||
           (!__builtin_mul_overflow(c->step, (long long)(c->len - 1), &span) &&
            !__builtin_add_overflow(c->start, span, &c->last));
}

/* Read `obj` as a column: a range of machine ints stays a range, anything else iterable
 * becomes a list or tuple (`what`: the TypeError's message when it is not iterable). */
static int fp_column_open(fp_column *c, PyObject *obj, const char *what) {
    c->seq = NULL;
    if (PyRange_Check(obj)) {
        int r = fp_column_range(c, obj);
        if (r != 0) return r < 0 ? -1 : 0;
    }
    return fp_column_seq(c, obj, what);
}

static void fp_column_close(fp_column *c) { Py_CLEAR(c->seq); }

/* The i-th value of a range column. */
static inline long long fp_column_int(const fp_column *c, Py_ssize_t i) {
    return c->start + c->step * (long long)i;
}

/* The i-th item of a sequence (a new reference), or NULL and an error when the sequence
 * (a list the plugin holds too) became shorter: Python code a value runs (__format__,
 * __bool__) may change it. */
static PyObject *fp_seq_at(PyObject *seq, Py_ssize_t i) {
    if (i < PySequence_Fast_GET_SIZE(seq)) return Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
    PyErr_SetString(PyExc_RuntimeError, "a list of a bulk add changed size during the call");
    return NULL;
}

/* The i-th item of a column as an object (a new reference). */
static PyObject *fp_column_at(const fp_column *c, Py_ssize_t i) {
    return c->seq ? fp_seq_at(c->seq, i) : PyLong_FromLongLong(fp_column_int(c, i));
}

/* Where a batch stood before a bulk call, to take the whole call back on an error. */
typedef struct fp_batch_mark {
    size_t len, arena_len;
    uint32_t count, nvals;
    int active;
} fp_batch_mark;

static fp_batch_mark fp_batch_save(const fp_batch *b) {
    fp_batch_mark m = {b->len, b->sup.arena_len, b->count, b->sup.nvals, b->sup.active};
    return m;
}

static void fp_batch_restore(fp_batch *b, const fp_batch_mark *m) {
    b->len = m->len;
    b->count = m->count;
    b->sup.nvals = m->nvals;
    b->sup.arena_len = m->arena_len;
    b->sup.active = m->active;
}

/* The supplied columns of `fields` for n events, or NULL when there are none (fields None)
 * or on an error (then with an exception set). */
static struct fp_sup_columns *fp_bulk_fields(fp_batch *b, PyObject *fields, Py_ssize_t n,
                                             int *failed) {
    *failed = 0;
    if (!fields || fields == Py_None) return NULL;
    struct fp_sup_columns *cols = fp_supply_columns(b, fields, n);
    *failed = cols == NULL;
    return cols;
}

/* The keyword `fields` of a bulk call (the only keyword those take). */
static int fp_bulk_kwargs(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                          const char *method, PyObject **fields) {
    *fields = NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        if (!fp_is_keyword(key, "fields", &g_kw_fields)) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", method,
                         key);
            return -1;
        }
        *fields = args[nargs + k];
    }
    return 0;
}

static PyObject *fp_batch_add_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames) {
    fp_batch *b = (fp_batch *)self;
    PyObject *fields;
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "add_many(payloads, *, fields=None) takes one argument");
        return NULL;
    }
    if (fp_bulk_kwargs(args, nargs, kwnames, "add_many", &fields) < 0) return NULL;
    if (fp_batch_check_open(b) < 0) return NULL;
    PyObject *seq = PySequence_Fast(args[0], "add_many() takes an iterable of payloads");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    fp_batch_mark mark = fp_batch_save(b);
    int failed;
    struct fp_sup_columns *cols = fp_bulk_fields(b, fields, n, &failed);
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        PyObject *payload = (cols && fp_supply_row(b, cols, i) < 0) ? NULL : fp_seq_at(seq, i);
        failed = !payload || fp_payload_add(b, payload, FP_TS_NOW) < 0;
        Py_XDECREF(payload);
    }
    fp_sup_columns_free(cols);
    Py_DECREF(seq);
    if (failed) {
        fp_batch_restore(b, &mark);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ add_formatted */

#define FP_MAX_SLOTS 32

/* A template cut at its {} slots: nslots + 1 literal pieces of `text` (braces unescaped). */
typedef struct fp_template {
    char *text;
    size_t piece_off[FP_MAX_SLOTS + 1], piece_len[FP_MAX_SLOTS + 1];
    int nslots;
} fp_template;

static int fp_template_error(const char *why, PyObject *template) {
    PyErr_Format(PyExc_ValueError, "add_formatted(): %s in the template %R", why, template);
    return -1;
}

/* Cut `template` (a str): "{}" is a slot, "{{" and "}}" are braces, any other brace an
 * error (no names, indexes, conversions or format specs: those are Python's to format). */
static int fp_template_parse(fp_template *t, PyObject *template) {
    Py_ssize_t n;
    const char *s = PyUnicode_Check(template) ? PyUnicode_AsUTF8AndSize(template, &n) : NULL;
    if (!s) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "add_formatted() takes a str template, not %.100s",
                         Py_TYPE(template)->tp_name);
        return -1;
    }
    t->text = PyMem_Malloc((size_t)n + 1);
    if (!t->text) {
        PyErr_NoMemory();
        return -1;
    }
    size_t out = 0;
    t->nslots = 0;
    t->piece_off[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch != '{' && ch != '}') {
            t->text[out++] = ch;
            continue;
        }
        char after = i + 1 < n ? s[i + 1] : '\0';
        if (after == ch) { /* an escaped brace */
            t->text[out++] = ch;
            i++;
            continue;
        }
        if (ch == '}') return fp_template_error("a single '}'", template);
        if (after != '}')
            return fp_template_error("a placeholder other than {} (only {} and {{ }} are "
                                     "taken)", template);
        if (t->nslots == FP_MAX_SLOTS)
            return fp_template_error("more than 32 placeholders", template);
        t->piece_len[t->nslots] = out - t->piece_off[t->nslots];
        t->piece_off[++t->nslots] = out;
        i++;
    }
    t->piece_len[t->nslots] = out - t->piece_off[t->nslots];
    return 0;
}

/* A payload written in place, after the header of the batch's next event: `len` bytes
 * so far (the batch grows as it needs). */
typedef struct fp_text {
    fp_batch *b;
    size_t len;
} fp_text;

static inline char *fp_text_room(fp_text *t, size_t n) {
    if (fp_batch_reserve(t->b, FP_PLUGINEVENT_PAYLOAD_OFFSET + t->len + n) < 0) return NULL;
    return (char *)t->b->buf + t->b->len + FP_PLUGINEVENT_PAYLOAD_OFFSET + t->len;
}

static inline int fp_text_put(fp_text *t, const char *s, size_t n) {
    char *p = fp_text_room(t, n);
    if (!p) return -1;
    memcpy(p, s, n);
    t->len += n;
    return 0;
}

static const char fp_two_digits[] = "00010203040506070809101112131415161718192021222324"
                                    "25262728293031323334353637383940414243444546474849"
                                    "50515253545556575859606162636465666768697071727374"
                                    "75767778798081828384858687888990919293949596979899";

static inline int fp_decimal_digits(unsigned long long u) {
    int n = 1;
    for (; u >= 10000; u /= 10000) n += 4;
    return n + (u >= 10) + (u >= 100) + (u >= 1000);
}

/* A long long in decimal at `p`, as str(int) writes it; returns the end (at most 20 bytes). */
static inline char *fp_put_decimal(char *p, long long v) {
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    if (v < 0) *p++ = '-';
    char *end = p + fp_decimal_digits(u), *q = end;
    for (; u >= 100; u /= 100) {
        q -= 2;
        memcpy(q, fp_two_digits + 2 * (u % 100), 2);
    }
    if (u >= 10)
        memcpy(q - 2, fp_two_digits + 2 * u, 2);
    else
        q[-1] = (char)('0' + u);
    return end;
}

static inline int fp_text_int(fp_text *t, long long v) {
    char *p = fp_text_room(t, 20);
    if (!p) return -1;
    t->len += (size_t)(fp_put_decimal(p, v) - p);
    return 0;
}

/* A value as str.format's {} writes it: ints and strs directly, others by format(v, ""). */
static int fp_text_value(fp_text *t, PyObject *v) {
    if (PyLong_CheckExact(v)) {
        int over = 0;
        long long n = PyLong_AsLongLongAndOverflow(v, &over);
        if (!over) return n == -1 && PyErr_Occurred() ? -1 : fp_text_int(t, n);
    }
    PyObject *text = PyUnicode_CheckExact(v) ? Py_NewRef(v) : PyObject_Format(v, NULL);
    if (!text) return -1;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(text, &n);
    int rc = s ? fp_text_put(t, s, (size_t)n) : -1;
    Py_DECREF(text);
    return rc;
}

/* The i-th event of a template over columns, written in place: the literal pieces and
 * the values, then the header (with the supplied values put first). */
static int fp_formatted_event(fp_batch *b, const fp_template *t, const fp_column *cols,
                              Py_ssize_t i, struct fp_sup_columns *sup) {
    if (sup && fp_supply_row(b, sup, i) < 0) return -1;
    fp_text out = {b, 0};
    for (int k = 0; k <= t->nslots; k++) {
        if (fp_text_put(&out, t->text + t->piece_off[k], t->piece_len[k]) < 0) return -1;
        if (k == t->nslots) break;
        const fp_column *c = &cols[k];
        if (!c->seq) {
            if (fp_text_int(&out, fp_column_int(c, i)) < 0) return -1;
            continue;
        }
        PyObject *value = fp_seq_at(c->seq, i);
        int rc = value ? fp_text_value(&out, value) : -1;
        Py_XDECREF(value);
        if (rc < 0) return -1;
    }
    if (out.len > UINT32_MAX - FP_PLUGINEVENT_PAYLOAD_OFFSET) {
        PyErr_SetString(PyExc_ValueError, "event payload too large (max 4 GiB)");
        return -1;
    }
    size_t total = FP_PLUGINEVENT_PAYLOAD_OFFSET + out.len;
    if (fp_batch_reserve(b, FP_ALIGN8(total)) < 0) return -1;
    fp_put_header(b->buf + b->len, FP_TS_NOW, (uint32_t)out.len);
    b->len += FP_ALIGN8(total);
    b->count++;
    return b->sup.active ? fp_batch_marked(b, FP_ALIGN8(total)) : 0;
}

static PyObject *fp_batch_add_formatted(PyObject *self, PyObject *const *args,
                                        Py_ssize_t nargs, PyObject *kwnames) {
    fp_batch *b = (fp_batch *)self;
    PyObject *fields;
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError,
                        "add_formatted(template, *columns, fields=None) takes a template");
        return NULL;
    }
    if (fp_bulk_kwargs(args, nargs, kwnames, "add_formatted", &fields) < 0) return NULL;
    if (fp_batch_check_open(b) < 0) return NULL;
    fp_template tpl = {NULL};
    fp_column cols[FP_MAX_SLOTS];
    int ncols = 0, failed = fp_template_parse(&tpl, args[0]) < 0;
    if (!failed && tpl.nslots != nargs - 1) {
        PyErr_Format(PyExc_TypeError, "add_formatted(): the template has %d placeholders "
                     "for %zd columns", tpl.nslots, nargs - 1);
        failed = 1;
    }
    if (!failed && tpl.nslots == 0) {
        PyErr_SetString(PyExc_TypeError, "add_formatted(): the template needs a {} "
                        "placeholder (one event per value of its column)");
        failed = 1;
    }
    for (; !failed && ncols < tpl.nslots; ncols++) { /* the loop counts the opened ones */
        if (fp_column_open(&cols[ncols], args[1 + ncols],
                           "add_formatted(): a column must be iterable") < 0) {
            failed = 1;
            break;
        }
        if (cols[ncols].len != cols[0].len) {
            PyErr_Format(PyExc_ValueError, "add_formatted(): the columns have different "
                         "lengths (%zd and %zd)", cols[0].len, cols[ncols].len);
            failed = 1;
        }
    }
    Py_ssize_t n = failed ? 0 : cols[0].len;
    fp_batch_mark mark = fp_batch_save(b);
    struct fp_sup_columns *sup = failed ? NULL : fp_bulk_fields(b, fields, n, &failed);
    for (Py_ssize_t i = 0; i < n && !failed; i++)
        failed = fp_formatted_event(b, &tpl, cols, i, sup) < 0;
    fp_sup_columns_free(sup);
    while (ncols > 0) fp_column_close(&cols[--ncols]);
    PyMem_Free(tpl.text);
    if (failed) {
        fp_batch_restore(b, &mark);
        return NULL;
    }
    Py_RETURN_NONE;
}
