/*
 * What a source may emit, included by shim.c: the checks add_event runs on an encoded event
 * before it joins the batch, so that no event reaches the host that real libsinsp would
 * crash on, throw on (Falco then exits) or read out of bounds. The facts per event type and
 * parameter are generated from the event schema (fp_event_checks.h); the rules and what was
 * measured in libsinsp are documented in falco_plugin/event/source_check.py, which also
 * words the refusals.
 */

#include "fp_event_checks.h"

static PyObject *fp_sdk_attr(const char *module, const char *name);

/* A refusal: the reason, and the parameter it is about (-1: the whole event). */
typedef struct {
    const char *why;
    int param;
} fp_refusal;

static uint32_t fp_rd_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t fp_rd_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* A C string filling the parameter: libsinsp reads it as exactly one NUL-terminated string. */
static const char *fp_check_str(const uint8_t *v, uint32_t n) {
    if (n == 0) return NULL;
    if (v[n - 1] != 0) return "a string parameter must end with its NUL";
    if (memchr(v, 0, n - 1)) return "a string parameter must hold one string (a NUL inside)";
    return NULL;
}

/* libsinsp's own validity rules for addresses (sinsp_utils::is_sockaddr_valid and
 * is_socktuple_valid): an AF_INET/AF_INET6 address of its full size, an AF_UNIX path that
 * ends with a NUL. `inet` and `inet6` are the sizes for each family, `unix_min` the least
 * size of an AF_UNIX one (its path's NUL included). */
static const char *fp_check_addr(const uint8_t *v, uint32_t n, uint32_t inet, uint32_t inet6,
                                 uint32_t unix_min) {
    if (n == 0) return NULL;
    switch (v[0]) {
    case 2: /* PPM_AF_INET */
        return n >= inet ? NULL : "an AF_INET address is shorter than its family's layout";
    case 10: /* PPM_AF_INET6 */
        return n >= inet6 ? NULL : "an AF_INET6 address is shorter than its family's layout";
    case 1: /* PPM_AF_UNIX */
        if (n < unix_min) return "an AF_UNIX address is shorter than its family's layout";
        return v[n - 1] == 0 ? NULL : "an AF_UNIX path must end with its NUL";
    default:
        return NULL;
    }
}

/* One parameter's bytes against its kind. */
static const char *fp_check_param(uint8_t kind, const uint8_t *v, uint32_t n) {
    uint8_t k = kind & (uint8_t)~FP_PK_MAY_BE_EMPTY;
    if (k >= FP_PK_DYN) {
        uint32_t t = k - FP_PK_DYN;
        if (n == 0) return NULL;
        if (v[0] >= fp_dyn_count[t]) return "the dynamic parameter's index is outside its table";
        return fp_check_param(fp_dyn_kinds[fp_dyn_first[t] + v[0]], v + 1, n - 1);
    }
    if (k >= FP_PK_FIXED) {
        uint32_t size = 1u << (k - FP_PK_FIXED);
        if (n == size || (n == 0 && (kind & FP_PK_MAY_BE_EMPTY))) return NULL;
        return n == 0 ? "a fixed-size parameter is empty (libsinsp reads it unchecked)"
                      : "a fixed-size parameter has the wrong size";
    }
    switch (k) {
    case FP_PK_BYTES:
        return NULL;
    case FP_PK_STR:
        return fp_check_str(v, n);
    case FP_PK_SOCKADDR:
        return fp_check_addr(v, n, 7, 19, 2);
    case FP_PK_SOCKTUPLE:
        return fp_check_addr(v, n, 13, 37, 18);
    case FP_PK_FDLIST:
        if (n == 0) return NULL;
        if (n < 2 || n != 2u + 10u * fp_rd_u16(v))
            return "an fd list's size does not match its count (2 + 10 bytes an fd)";
        return NULL;
    case FP_PK_ARRAY:
        return n == 0 ? NULL : "libsinsp reads a string-array parameter as a pointer: leave it empty";
    case FP_PK_IP:
        return n == 0 || n == 4 || n == 16 ? NULL : "an IP address must have 4 or 16 bytes";
    case FP_PK_SYSCALLID:
        if (n != 2) return "a syscall id must have 2 bytes";
        return fp_rd_u16(v) < FP_PPM_SC_MAX ? NULL : "the syscall id is beyond libsinsp's syscall table";
    default:
        return "a parameter of an unknown kind";
    }
}

/* Whether a source may emit the event p[0..n) (header length already equal to n). */
static fp_refusal fp_event_check(const uint8_t *p, uint32_t n) {
    fp_refusal r = {NULL, -1};
    uint16_t type = fp_rd_u16(p + 20);
    uint32_t nparams = fp_rd_u32(p + 22);
    if (type == FP_PLUGINEVENT_TYPE && FP_META_ID != 0) {
        /* the fast path: a plugin event of this plugin, as libscap's source engine checks */
        uint32_t id = n >= FP_PLUGINEVENT_PAYLOAD_OFFSET ? fp_rd_u32(p + 34) : 0;
        if (nparams != 2 || n < FP_PLUGINEVENT_PAYLOAD_OFFSET || fp_rd_u32(p + 26) != 4 ||
            fp_rd_u32(p + 30) != n - FP_PLUGINEVENT_PAYLOAD_OFFSET)
            r.why = "a plugin event has 2 parameters: a 4-byte plugin id and the payload";
        else if (id != 0 && id != (uint32_t)FP_META_ID)
            r.why = "a plugin event must carry this plugin's id (or 0, which the host fills in)";
        return r;
    }
    if (FP_META_ID != 0) {
        r.why = "a plugin with an id can only emit plugin events (type 322, 2 params)";
        return r;
    }
    if (type >= FP_EVT_TYPES) {
        r.why = "an unknown event type";
        return r;
    }
    uint8_t flags = fp_evt_flags[type];
    if (flags & FP_EVT_UNUSED) {
        r.why = "an event type no driver emits (libsinsp does not expect it)";
        return r;
    }
    if (flags & FP_EVT_STOPS) {
        r.why = "libsinsp stops the capture when this event arrives";
        return r;
    }
    uint32_t width = (flags & FP_EVT_LARGE) ? 4 : 2;
    uint32_t expected = fp_evt_nparams[type];
    if (nparams < expected) {
        r.why = "fewer parameters than its type has (libsinsp reads them all)";
        return r;
    }
    /* more parameters than the schema are what newer drivers send: libsinsp reads the
     * schema's and skips the others, which only have to be framed */
    uint64_t values = (uint64_t)FP_EVENT_HEADER_LEN + (uint64_t)nparams * width;
    if (values > n) {
        r.why = "its parameter lengths do not fit in its length";
        return r;
    }
    const uint8_t *len_at = p + FP_EVENT_HEADER_LEN, *value = p + values;
    uint64_t total = values;
    for (uint32_t i = 0; i < nparams; i++) {
        uint32_t size = width == 4 ? fp_rd_u32(len_at + 4u * i) : fp_rd_u16(len_at + 2u * i);
        total += size;
        if (total > n) {
            r.why = "its parameter lengths add up to more than its length";
            return r;
        }
        if (i < expected) {
            const char *why = fp_check_param(fp_evt_kinds[fp_evt_first[type] + i], value, size);
            if (!why && type == FP_REAPER_EVENT && i == FP_REAPER_PARAM && size == 8 &&
                memcmp(value, p + 8, 8) == 0)
                why = "a thread is not its own reaper (libsinsp throws when it has children)";
            if (why) {
                r.why = why;
                r.param = (int)i;
                return r;
            }
        }
        value += size;
    }
    if (total != n) {
        r.why = "its parameter lengths add up to less than its length";
        return r;
    }
    if (type == FP_PLUGINEVENT_TYPE && fp_rd_u32(p + values) == 0) /* param 0: 4 bytes */
        r.why = "a plugin event needs a plugin id: a source without an id emits syscall events";
    return r;
}

/* Raise the ValueError of a refusal of an event of type `type` (-1: none readable), worded
 * by source_check.describe (numbers alone if that fails). */
static void fp_event_refuse(int type, fp_refusal r) {
    PyObject *describe = fp_sdk_attr("event.source_check", "describe");
    PyObject *text = describe ? PyObject_CallFunction(describe, "iis", type, r.param, r.why)
                              : NULL;
    Py_XDECREF(describe);
    if (text && PyUnicode_Check(text)) {
        PyErr_SetObject(PyExc_ValueError, text);
    } else {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "event refused (type %d, parameter %d): %s", type,
                     r.param, r.why);
    }
    Py_XDECREF(text);
}
