/*
 * Parameter values of the C event decoder, included by shim_events.c: integers (wrapped in
 * their value types through a small cache), socket addresses and tuples, IP addresses and
 * relative paths, made as event/params.py and event/net.py make them, with the same errors.
 *
 * Objects are filled in C where their Python constructors only set slots: the _Value
 * records of event/net.py, ipaddress's addresses (their `_ip` and `_scope_id` slots, found
 * at bind time: without them these types go to their Python codecs), RelPath (str's own
 * constructor, then its `dirfd`).
 */

/* A value of a value class from its fields (new references, stolen, NULL-safe). */
static PyObject *fp_value_new(const fp_value_cls *vc, PyObject *a, PyObject *b, PyObject *c,
                              PyObject *d) {
    PyObject *fields[4] = {a, b, c, d};
    PyObject *obj = NULL;
    int ok = 1;
    for (int k = 0; k < vc->n; k++) ok = ok && fields[k];
    if (ok) obj = vc->cls->tp_alloc(vc->cls, 0);
    for (int k = 0; k < 4; k++) {
        if (obj && k < vc->n)
            FP_SLOT(obj, vc->off[k]) = fields[k];
        else
            Py_XDECREF(fields[k]);
    }
    return obj;
}

/* bind_typed's `values`: the classes, or none of them (then their codecs decode them). */
static int fp_ev_bind_values(fp_evnative *m, PyObject *classes) {
    m->have_values = 0;
    if (!PyTuple_Check(classes) || PyTuple_GET_SIZE(classes) != V_COUNT) return 0;
    for (int v = 0; v < V_COUNT; v++) {
        PyObject *cls = PyTuple_GET_ITEM(classes, v);
        if (!PyType_Check(cls)) return 0;
        fp_value_cls *vc = &m->values[v];
        vc->cls = (PyTypeObject *)cls;
        vc->n = 0;
        for (int k = 0; k < 4 && fp_value_slots[v][k]; k++, vc->n++) {
            if ((vc->off[k] = fp_slot_offset(vc->cls, fp_value_slots[v][k])) < 0) {
                PyErr_Clear(); /* e.g. another ipaddress: its codecs decode it */
                return 0;
            }
        }
    }
    Py_XSETREF(m->value_classes, Py_NewRef(classes));
    m->have_values = 1;
    return 0;
}

/* ------------------------------------------------------------------ integers */

/* A wrapped int (Fd, Errno, a flags table's type): immutable, so the same value is given
 * again from a small cache (as CPython does with small ints), not made anew each time. */
static PyObject *fp_ev_wrapped(fp_evnative *m, PyObject *wrap, uint64_t bits, int is_signed) {
    uint64_t key = (bits ^ ((uintptr_t)wrap >> 4) ^ (uint64_t)is_signed) * 0x9E3779B97F4A7C15ull;
    struct fp_wcache *c = &m->wcache[key >> (64 - FP_WCACHE_BITS)];
    if (c->obj && c->wrap == wrap && c->bits == bits && c->is_signed == is_signed)
        return Py_NewRef(c->obj);
    PyObject *v = is_signed ? PyLong_FromLongLong((int64_t)bits) : PyLong_FromUnsignedLongLong(bits);
    PyObject *w = v ? PyObject_CallOneArg(wrap, v) : NULL;
    Py_XDECREF(v);
    if (w) {
        Py_XSETREF(c->obj, Py_NewRef(w));
        c->wrap = wrap; /* borrowed: plans hold their wrappers as long as the cache lives */
        c->bits = bits;
        c->is_signed = is_signed;
    }
    return w;
}

static PyObject *fp_ev_int(fp_evnative *m, const fp_plan *plan, Py_ssize_t i, const uint8_t *p,
                           uint32_t size) {
    unsigned width = plan->p[i].width, is_signed = plan->p[i].kind == FP_NATIVE_SINT;
    if (size != width) {
        PyErr_Format(m->error, "%U parameter of %u bytes, expected %u", plan->p[i].ptype,
                     (unsigned)size, width);
        return NULL;
    }
    uint64_t bits = 0;
    memcpy(&bits, p, width); /* little-endian hosts only, as the API itself */
    if (is_signed && width < 8) { /* sign-extended */
        int shift = 64 - 8 * (int)width;
        bits = (uint64_t)((int64_t)(bits << shift) >> shift);
    }
    if (plan->p[i].wrap) return fp_ev_wrapped(m, plan->p[i].wrap, bits, (int)is_signed);
    return is_signed ? PyLong_FromLongLong((int64_t)bits) : PyLong_FromUnsignedLongLong(bits);
}

/* ------------------------------------------------------------------ addresses */

static PyObject *fp_ev_size_error(fp_evnative *m, const char *what, uint32_t size,
                                  const char *expected) {
    PyErr_Format(m->error, "%s parameter of %u bytes, expected %s", what, (unsigned)size,
                 expected);
    return NULL;
}

/* An ipaddress address from its bytes in network order (4 or 16). */
static PyObject *fp_ev_ip(fp_evnative *m, const uint8_t *p, int v6) {
    PyObject *value;
    if (!v6) {
        value = PyLong_FromUnsignedLong((unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
                                        (unsigned long)p[2] << 8 | p[3]);
    } else {
        uint64_t hi = 0, lo = 0;
        for (int k = 0; k < 8; k++) hi = hi << 8 | p[k];
        for (int k = 8; k < 16; k++) lo = lo << 8 | p[k];
        PyObject *h = PyLong_FromUnsignedLongLong(hi), *l = PyLong_FromUnsignedLongLong(lo);
        PyObject *s = PyLong_FromLong(64), *shifted = h && s ? PyNumber_Lshift(h, s) : NULL;
        value = shifted && l ? PyNumber_Or(shifted, l) : NULL;
        Py_XDECREF(h);
        Py_XDECREF(l);
        Py_XDECREF(s);
        Py_XDECREF(shifted);
    }
    return v6 ? fp_value_new(&m->values[V_IP6], value, Py_NewRef(Py_None), NULL, NULL)
              : fp_value_new(&m->values[V_IP4], value, NULL, NULL, NULL);
}

/* params._cstr: the text of a NUL-terminated string in p[0:n]. */
static PyObject *fp_ev_cstr(fp_evnative *m, const uint8_t *p, Py_ssize_t n, const char *what) {
    if (n <= 0 || p[n - 1] != 0) {
        PyErr_Format(m->error, "%s parameter without its NUL terminator", what);
        return NULL;
    }
    return PyUnicode_DecodeUTF8((const char *)p, n - 1, "surrogateescape");
}

static uint16_t fp_le16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static PyObject *fp_ev_sockaddr(fp_evnative *m, const uint8_t *p, uint32_t size) {
    fp_value_cls *vc = m->values;
    switch (p[0]) {
    case FP_AF_INET:
        if (size != 7) return fp_ev_size_error(m, "AF_INET PT_SOCKADDR", size, "7");
        return fp_value_new(&vc[V_SA4], fp_ev_ip(m, p + 1, 0), PyLong_FromLong(fp_le16(p + 5)),
                            NULL, NULL);
    case FP_AF_INET6:
        if (size != 19) return fp_ev_size_error(m, "AF_INET6 PT_SOCKADDR", size, "19");
        return fp_value_new(&vc[V_SA6], fp_ev_ip(m, p + 1, 1), PyLong_FromLong(fp_le16(p + 17)),
                            NULL, NULL);
    case FP_AF_UNIX:
        return fp_value_new(&vc[V_SAUNIX], fp_ev_cstr(m, p + 1, size - 1, "unix socket path"),
                            NULL, NULL, NULL);
    }
    return fp_value_new(&vc[V_SAOTHER], PyLong_FromLong(p[0]),
                        PyBytes_FromStringAndSize((const char *)p + 1, size - 1), NULL, NULL);
}

static PyObject *fp_ev_socktuple(fp_evnative *m, const uint8_t *p, uint32_t size) {
    fp_value_cls *vc = m->values;
    switch (p[0]) {
    case FP_AF_INET:
        if (size != 13) return fp_ev_size_error(m, "AF_INET PT_SOCKTUPLE", size, "13");
        return fp_value_new(&vc[V_ST4], fp_ev_ip(m, p + 1, 0), PyLong_FromLong(fp_le16(p + 5)),
                            fp_ev_ip(m, p + 7, 0), PyLong_FromLong(fp_le16(p + 11)));
    case FP_AF_INET6:
        if (size != 37) return fp_ev_size_error(m, "AF_INET6 PT_SOCKTUPLE", size, "37");
        return fp_value_new(&vc[V_ST6], fp_ev_ip(m, p + 1, 1), PyLong_FromLong(fp_le16(p + 17)),
                            fp_ev_ip(m, p + 19, 1), PyLong_FromLong(fp_le16(p + 35)));
    case FP_AF_UNIX: {
        if (size <= 17) return fp_ev_size_error(m, "AF_UNIX PT_SOCKTUPLE", size, "more than 17");
        uint64_t src, dst;
        memcpy(&src, p + 1, 8);
        memcpy(&dst, p + 9, 8);
        return fp_value_new(&vc[V_STUNIX], PyLong_FromUnsignedLongLong(src),
                            PyLong_FromUnsignedLongLong(dst),
                            fp_ev_cstr(m, p + 17, size - 17, "unix socket path"), NULL);
    }
    }
    return fp_value_new(&vc[V_STOTHER], PyLong_FromLong(p[0]),
                        PyBytes_FromStringAndSize((const char *)p + 1, size - 1), NULL, NULL);
}

static PyObject *fp_ev_address(fp_evnative *m, unsigned kind, const uint8_t *p, uint32_t size) {
    if (kind == FP_NATIVE_IPV4 && size != 4) return fp_ev_size_error(m, "PT_IPV4ADDR", size, "4");
    if (kind == FP_NATIVE_IPV6 && size != 16)
        return fp_ev_size_error(m, "PT_IPV6ADDR", size, "16");
    if (kind == FP_NATIVE_IP && size != 4 && size != 16)
        return fp_ev_size_error(m, "PT_IPADDR", size, "4 or 16");
    return fp_ev_ip(m, p, size == 16);
}

/* ------------------------------------------------------------------ one parameter */

/* One parameter's value from buf[pos:pos+size] (size > 0); `event` is the event's bytes for
 * Python codecs, made on first need, at event offset `off`. */
static PyObject *fp_ev_value(fp_evnative *m, const fp_plan *plan, Py_ssize_t i,
                             const uint8_t *buf, Py_ssize_t off, Py_ssize_t pos, uint32_t size,
                             uint32_t evlen, PyObject **event) {
    const uint8_t *p = buf + pos;
    unsigned kind = plan->p[i].kind;
    switch (kind) {
    case FP_NATIVE_UINT:
    case FP_NATIVE_SINT: return fp_ev_int(m, plan, i, p, size);
    case FP_NATIVE_CSTR:
        if (p[size - 1] != 0) {
            PyErr_SetString(m->error, "string parameter without its NUL terminator");
            return NULL;
        }
        return PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)size - 1, "surrogateescape");
    case FP_NATIVE_BYTES: return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)size);
    case FP_NATIVE_DOUBLE: {
        if (size != 8) return fp_ev_size_error(m, "PT_DOUBLE", size, "8");
        double d;
        memcpy(&d, p, 8);
        return PyFloat_FromDouble(d);
    }
    case FP_NATIVE_SOCKADDR:
        if (m->have_values) return fp_ev_sockaddr(m, p, size);
        break;
    case FP_NATIVE_SOCKTUPLE:
        if (m->have_values) return fp_ev_socktuple(m, p, size);
        break;
    case FP_NATIVE_IPV4:
    case FP_NATIVE_IPV6:
    case FP_NATIVE_IP:
        if (m->have_values) return fp_ev_address(m, kind, p, size);
        break;
    }
    if (!*event && !(*event = PyBytes_FromStringAndSize((const char *)buf + off, evlen)))
        return NULL;
    Py_ssize_t start = pos - off;
    PyObject *args[3] = {*event, PyLong_FromSsize_t(start),
                         PyLong_FromSsize_t(start + (Py_ssize_t)size)};
    PyObject *out = args[1] && args[2] ? PyObject_Vectorcall(plan->p[i].decode, args, 3, NULL)
                                       : NULL;
    Py_XDECREF(args[1]);
    Py_XDECREF(args[2]);
    return out;
}

/* RelPath(path, dirfd): str's constructor for the subclass, then its dirfd attribute (what
 * RelPath.__new__ does). */
static PyObject *fp_ev_relpath(fp_evnative *m, PyObject *path, PyObject *dirfd) {
    PyObject *args = PyTuple_Pack(1, path);
    PyObject *rel = args ? PyUnicode_Type.tp_new((PyTypeObject *)m->relpath, args, NULL) : NULL;
    Py_XDECREF(args);
    if (rel && PyObject_SetAttr(rel, m->dirfd_name, dirfd) < 0) Py_CLEAR(rel);
    return rel;
}
