/*
 * countdown_ref: a source plugin written in plain C against fp_abi.h.
 *
 * It is the reference the Python SDK is measured against, and the plugin the
 * SDK's host is tested with. Opened with "N" (default 10) it emits N plugin
 * events whose payload is the text "<k> events remaining" for k = N-1 down to
 * 0, up to batch_size (config, default 512) per next_batch call, then EOF
 * (the last events and EOF come in the same call).
 *
 * Build:  cc -shared -fPIC -O2 -I<dir of fp_abi.h> countdown_ref.c -o libcountdown_ref.so
 * The name, id and source can be changed at build time (-DCR_NAME='"x"' -DCR_ID=997
 * -DCR_SOURCE='"x"') to load two copies in one process.
 *
 * It also extracts two fields from its own events: <name>.remaining (uint64, the k
 * of the payload) and <name>.text (string, the payload), the reference for the cost
 * of a one-field u64 extraction.
 *
 * Speed matters here: one buffer per instance holds a whole batch, headers are
 * copied from a prebuilt template, and the countdown number is kept as decimal
 * text that is decremented in place and copied with one fixed-size copy.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp_abi.h"

#ifndef CR_NAME
#define CR_NAME "countdown_ref"
#endif
#ifndef CR_ID
#define CR_ID 998
#endif
#ifndef CR_SOURCE
#define CR_SOURCE "countdown_ref"
#endif

#define CR_EXPORT __attribute__((visibility("default")))

#define CR_DEFAULT_COUNT 10u
#define CR_DEFAULT_BATCH 512u
#define CR_MAX_BATCH 65536u
#define CR_SUFFIX " events remaining"
#define CR_SUFFIX_LEN (sizeof(CR_SUFFIX) - 1)
#define CR_DIGITS 20 /* UINT64_MAX has 20 decimal digits */
#define CR_MAX_PAYLOAD (CR_DIGITS + CR_SUFFIX_LEN)
#define CR_MAX_EVENT (FP_PLUGINEVENT_PAYLOAD_OFFSET + CR_MAX_PAYLOAD)
#define CR_COPY 40u  /* >= CR_MAX_PAYLOAD: fixed-size copies compile to a few moves */
#define CR_TEXT 64u  /* >= CR_DIGITS + CR_COPY */
#define CR_SLACK 64u /* the fixed-size copy may write past the last event */

#define CR_FIELD_REMAINING 0u
#define CR_FIELD_TEXT 1u
#define CR_XFIXED 4u /* result slots kept in the state; more fields per call are allocated */

typedef struct {
    char lasterr[FP_MAX_ERRLEN];
    uint32_t batch_size;
    uint64_t emitted;
    ss_plugin_metric metric;
    char text[CR_MAX_PAYLOAD + 1]; /* event_to_string result */
    /* extract_fields results: valid until the next call on this state */
    uint64_t xu64_fixed[CR_XFIXED];
    const char *xstr_fixed[CR_XFIXED];
    uint64_t *xu64;
    const char **xstr;
    uint32_t xcap;
    char *xtext;
    size_t xtext_cap;
} cr_state;

typedef struct {
    uint64_t total;
    uint64_t remaining;
    uint32_t cap;
    uint8_t *buf;
    ss_plugin_event **evts;
    uint8_t tmpl[FP_PLUGINEVENT_PAYLOAD_OFFSET]; /* header + param lengths + plugin id */
    /* "<remaining-1> events remaining": the digits end at text[CR_DIGITS], the suffix
     * follows; the payload is copied with one fixed-size copy of CR_COPY bytes. The last
     * digit lives in `last` and is patched into each event: text itself changes only once
     * every 10 events (rewriting it every event stalls store-to-load forwarding). */
    char text[CR_TEXT];
    unsigned ndigits;
    unsigned last;
    char progress[64];
} cr_instance;

static const char k_schema[] =
    "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"type\": \"object\", "
    "\"properties\": {\"batch_size\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 65536, "
    "\"default\": 512, \"description\": \"Maximum number of events returned by one next_batch "
    "call\"}}, \"additionalProperties\": false}";

CR_EXPORT const char *plugin_get_required_api_version(void) { return "3.0.0"; }
CR_EXPORT const char *plugin_get_version(void) { return "1.0.0"; }
CR_EXPORT const char *plugin_get_name(void) { return CR_NAME; }
CR_EXPORT const char *plugin_get_description(void)
{
    return "Counts down from N to 0, one plugin event per step (C reference plugin)";
}
CR_EXPORT const char *plugin_get_contact(void) { return "github.com/falco-plugin"; }
CR_EXPORT uint32_t plugin_get_id(void) { return CR_ID; }
CR_EXPORT const char *plugin_get_event_source(void) { return CR_SOURCE; }

CR_EXPORT const char *plugin_get_init_schema(ss_plugin_schema_type *t)
{
    *t = SS_PLUGIN_SCHEMA_JSON;
    return k_schema;
}

CR_EXPORT const char *plugin_get_last_error(ss_plugin_t *s)
{
    return s ? ((cr_state *)s)->lasterr : "no plugin state";
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Skips a JSON string starting at the opening quote; NULL when unterminated. */
static const char *skip_string(const char *p)
{
    for (p++; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Skips any JSON value (not validated in depth: the host validates with the schema). */
static const char *skip_value(const char *p)
{
    const char *start;
    int depth = 0;
    p = skip_ws(p);
    if (*p == '"')
        return skip_string(p);
    if (*p == '{' || *p == '[') {
        while (*p) {
            if (*p == '"') {
                p = skip_string(p);
                if (!p)
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
            p++;
        }
        return NULL;
    }
    start = p; /* a number or a literal */
    while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' &&
           *p != '\r')
        p++;
    return p == start ? NULL : p;
}

/* Reads {"batch_size": N} (other keys ignored); "" means the defaults. */
static int parse_config(const char *cfg, uint32_t *batch, char *err, size_t errlen)
{
    const char *p = skip_ws(cfg ? cfg : "");
    *batch = CR_DEFAULT_BATCH;
    if (!*p)
        return 1;
    if (*p != '{') {
        snprintf(err, errlen, "config must be a JSON object, got: %.64s", p);
        return 0;
    }
    p = skip_ws(p + 1);
    if (*p == '}')
        goto end;
    for (;;) {
        const char *k, *ke;
        if (*p != '"') {
            snprintf(err, errlen, "config: expected a key at: %.32s", p);
            return 0;
        }
        k = p + 1;
        ke = skip_string(p);
        if (!ke) {
            snprintf(err, errlen, "config: unterminated string");
            return 0;
        }
        p = skip_ws(ke);
        if (*p != ':') {
            snprintf(err, errlen, "config: expected ':' at: %.32s", p);
            return 0;
        }
        p = skip_ws(p + 1);
        if ((size_t)(ke - 1 - k) == 10 && memcmp(k, "batch_size", 10) == 0) {
            uint64_t v = 0;
            const char *d = p;
            while (*p >= '0' && *p <= '9' && v <= CR_MAX_BATCH)
                v = v * 10 + (uint64_t)(*p++ - '0');
            if (p == d || (*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' ||
                v < 1 || v > CR_MAX_BATCH) {
                snprintf(err, errlen, "config: batch_size must be an integer from 1 to %u",
                         CR_MAX_BATCH);
                return 0;
            }
            *batch = (uint32_t)v;
        } else {
            p = skip_value(p);
            if (!p) {
                snprintf(err, errlen, "config: malformed value");
                return 0;
            }
        }
        p = skip_ws(p);
        if (*p == ',') {
            p = skip_ws(p + 1);
            continue;
        }
        if (*p == '}')
            break;
        snprintf(err, errlen, "config: expected ',' or '}' at: %.32s", p);
        return 0;
    }
end:
    p = skip_ws(p + 1);
    if (*p) {
        snprintf(err, errlen, "config: trailing characters: %.32s", p);
        return 0;
    }
    return 1;
}

CR_EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    cr_state *s = calloc(1, sizeof *s);
    if (!s) {
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    s->xu64 = s->xu64_fixed;
    s->xstr = s->xstr_fixed;
    s->xcap = CR_XFIXED;
    s->metric.name = "events_emitted";
    s->metric.type = SS_PLUGIN_METRIC_TYPE_MONOTONIC;
    s->metric.value_type = SS_PLUGIN_METRIC_VALUE_TYPE_U64;
    if (!parse_config(in ? in->config : "", &s->batch_size, s->lasterr, sizeof s->lasterr)) {
        *rc = SS_PLUGIN_FAILURE;
        return s; /* the host reads lasterr, then calls destroy */
    }
    *rc = SS_PLUGIN_SUCCESS;
    return s;
}

CR_EXPORT void plugin_destroy(ss_plugin_t *st)
{
    cr_state *s = st;
    if (!s)
        return;
    if (s->xu64 != s->xu64_fixed)
        free(s->xu64);
    if (s->xstr != s->xstr_fixed)
        free(s->xstr);
    free(s->xtext);
    free(s);
}

CR_EXPORT ss_plugin_rc plugin_set_config(ss_plugin_t *st, const ss_plugin_set_config_input *in)
{
    cr_state *s = st;
    uint32_t b;
    if (!parse_config(in ? in->config : "", &b, s->lasterr, sizeof s->lasterr))
        return SS_PLUGIN_FAILURE;
    s->batch_size = b;
    return SS_PLUGIN_SUCCESS;
}

CR_EXPORT ss_plugin_metric *plugin_get_metrics(ss_plugin_t *st, uint32_t *n)
{
    cr_state *s = st;
    s->metric.value.u64 = s->emitted;
    *n = 1;
    return &s->metric;
}

CR_EXPORT const char *plugin_list_open_params(ss_plugin_t *st, ss_plugin_rc *rc)
{
    (void)st;
    *rc = SS_PLUGIN_SUCCESS;
    return "[{\"value\": \"10\", \"desc\": \"Emit 10 events (the default)\"}, "
           "{\"value\": \"10000000\", \"desc\": \"Emit ten million events (benchmark)\"}]";
}

/* Sets the digit text to v (right aligned, ending at text[CR_DIGITS]). */
static void set_digits(cr_instance *h, uint64_t v)
{
    unsigned n = 0;
    do {
        h->text[CR_DIGITS - 1 - n] = (char)('0' + v % 10);
        v /= 10;
        n++;
    } while (v);
    h->ndigits = n;
    h->last = (unsigned)(h->text[CR_DIGITS - 1] - '0');
}

CR_EXPORT ss_instance_t *plugin_open(ss_plugin_t *st, const char *params, ss_plugin_rc *rc)
{
    cr_state *s = st;
    cr_instance *h;
    uint64_t n = 0;
    const char *p = params ? params : "";
    uint32_t u32;
    uint64_t u64;
    uint16_t u16;

    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p) {
        n = CR_DEFAULT_COUNT;
    } else {
        const char *d = p;
        while (*p >= '0' && *p <= '9') {
            uint64_t dv = (uint64_t)(*p - '0');
            if (n > (UINT64_MAX - dv) / 10) {
                snprintf(s->lasterr, sizeof s->lasterr, "open params '%.64s': number too large",
                         params);
                *rc = SS_PLUGIN_FAILURE;
                return NULL;
            }
            n = n * 10 + dv;
            p++;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (p == d || *p) {
            snprintf(s->lasterr, sizeof s->lasterr,
                     "invalid open params '%.64s': expected the number of events to emit", params);
            *rc = SS_PLUGIN_FAILURE;
            return NULL;
        }
    }

    h = calloc(1, sizeof *h);
    if (h) {
        h->cap = s->batch_size ? s->batch_size : CR_DEFAULT_BATCH;
        h->buf = malloc((size_t)h->cap * CR_MAX_EVENT + CR_SLACK);
        h->evts = malloc((size_t)h->cap * sizeof *h->evts);
    }
    if (!h || !h->buf || !h->evts) {
        if (h) {
            free(h->buf);
            free(h->evts);
            free(h);
        }
        snprintf(s->lasterr, sizeof s->lasterr, "out of memory");
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    h->total = n;
    h->remaining = n;
    memcpy(h->text + CR_DIGITS, CR_SUFFIX, CR_SUFFIX_LEN);
    if (n)
        set_digits(h, n - 1);

    /* ts = -1 (host stamps it), tid = -1, len patched per event, type 322, 2 params,
     * param lengths 4 and (patched) payload length, plugin id 0 (host fills it in) */
    u64 = UINT64_MAX;
    memcpy(h->tmpl + 0, &u64, 8);
    memcpy(h->tmpl + 8, &u64, 8);
    u32 = 0;
    memcpy(h->tmpl + 16, &u32, 4);
    u16 = FP_PLUGINEVENT_TYPE;
    memcpy(h->tmpl + 20, &u16, 2);
    u32 = 2;
    memcpy(h->tmpl + 22, &u32, 4);
    u32 = 4;
    memcpy(h->tmpl + 26, &u32, 4);
    u32 = 0;
    memcpy(h->tmpl + 30, &u32, 4);
    memcpy(h->tmpl + 34, &u32, 4);

    *rc = SS_PLUGIN_SUCCESS;
    return h;
}

CR_EXPORT void plugin_close(ss_plugin_t *st, ss_instance_t *hi)
{
    cr_instance *h = hi;
    (void)st;
    if (!h)
        return;
    free(h->buf);
    free(h->evts);
    free(h);
}

CR_EXPORT ss_plugin_rc plugin_next_batch(ss_plugin_t *st, ss_instance_t *hi, uint32_t *nevts,
                                         ss_plugin_event ***evts)
{
    cr_state *s = st;
    cr_instance *h = hi;
    uint8_t *w = h->buf;
    uint32_t n = 0;

    while (n < h->cap && h->remaining) {
        const unsigned nd = h->ndigits;
        const uint32_t plen = nd + (uint32_t)CR_SUFFIX_LEN;
        const uint32_t len = FP_PLUGINEVENT_PAYLOAD_OFFSET + plen;

        memcpy(w, h->tmpl, FP_PLUGINEVENT_PAYLOAD_OFFSET);
        memcpy(w + 16, &len, 4);
        memcpy(w + 30, &plen, 4);
        memcpy(w + FP_PLUGINEVENT_PAYLOAD_OFFSET, h->text + CR_DIGITS - nd, CR_COPY);
        w[FP_PLUGINEVENT_PAYLOAD_OFFSET + nd - 1] = (uint8_t)('0' + h->last);
        h->evts[n++] = (ss_plugin_event *)w;
        w += len;

        if (--h->remaining) {
            if (h->last) {
                h->last--;
            } else {
                /* x0 - 1: the last digit wraps to 9, the digits before it count down */
                int i = CR_DIGITS - 2;
                h->last = 9;
                while (h->text[i] == '0')
                    h->text[i--] = '9';
                h->text[i]--;
                if (i == CR_DIGITS - (int)nd && h->text[i] == '0' && nd > 1)
                    h->ndigits = nd - 1;
            }
        }
    }
    s->emitted += n;
    *nevts = n;
    *evts = h->evts;
    return h->remaining ? SS_PLUGIN_SUCCESS : SS_PLUGIN_EOF;
}

CR_EXPORT const char *plugin_event_to_string(ss_plugin_t *st, const ss_plugin_event_input *in)
{
    cr_state *s = st;
    const uint8_t *b = (const uint8_t *)in->evt;
    uint32_t len, plen;
    memcpy(&len, b + 16, 4);
    if (in->evt->type != FP_PLUGINEVENT_TYPE || len < FP_PLUGINEVENT_PAYLOAD_OFFSET) {
        s->text[0] = 0;
        return s->text;
    }
    memcpy(&plen, b + 30, 4);
    if (plen > CR_MAX_PAYLOAD)
        plen = CR_MAX_PAYLOAD;
    memcpy(s->text, b + FP_PLUGINEVENT_PAYLOAD_OFFSET, plen);
    s->text[plen] = 0;
    return s->text;
}

CR_EXPORT const char *plugin_get_progress(ss_plugin_t *st, ss_instance_t *hi, uint32_t *pct)
{
    cr_instance *h = hi;
    uint64_t done = h->total - h->remaining;
    (void)st;
    *pct = h->total ? (uint32_t)((done * 10000.0) / (double)h->total) : 10000;
    snprintf(h->progress, sizeof h->progress, "%llu/%llu events", (unsigned long long)done,
             (unsigned long long)h->total);
    return h->progress;
}

/* ---- field extraction ---- */

CR_EXPORT const char *plugin_get_fields(void)
{
    return "[{\"type\": \"uint64\", \"name\": \"" CR_NAME ".remaining\", \"display\": "
           "\"Remaining\", \"desc\": \"How many events follow this one (the k of the payload "
           "'<k> events remaining')\"}, "
           "{\"type\": \"string\", \"name\": \"" CR_NAME ".text\", \"display\": \"Text\", "
           "\"desc\": \"The event payload\"}]";
}

CR_EXPORT const char *plugin_get_extract_event_sources(void) { return "[\"" CR_SOURCE "\"]"; }

/* The value of the first nd (1..8) bytes at p, when they are all decimal digits; p must
 * have 8 readable bytes. Eight digits are combined in three multiplications (pairs,
 * quads, then the whole) instead of a chain of eight multiply-adds. */
static inline int cr_digits8(const char *p, unsigned nd, uint64_t *out)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t lo = 0x0F0F0F0F0F0F0F0Full, hi = 0xF0F0F0F0F0F0F0F0ull;
    uint64_t c, m;
    memcpy(&c, p, 8);
    c <<= 8 * (8 - nd); /* the digits to the top bytes, zero bytes (value 0) below */
    m = ~0ull << (8 * (8 - nd));
    if ((c & hi) != (0x3030303030303030ull & m) || (((c & lo) + 0x0606060606060606ull) & hi))
        return 0;
    c &= lo;
    c = (c * 10 + (c >> 8)) & 0x00FF00FF00FF00FFull;
    c = (c * 100 + (c >> 16)) & 0x0000FFFF0000FFFFull;
    c = (c * 10000 + (c >> 32)) & 0xFFFFFFFFull;
    *out = c;
    return 1;
#else
    (void)p;
    (void)nd;
    (void)out;
    return 0;
#endif
}

/* Result arrays for n fields: the fixed slots, else allocated (kept for later calls). */
static int cr_reserve(cr_state *s, uint32_t n)
{
    uint64_t *u;
    const char **t;
    if (n <= s->xcap)
        return 1;
    u = malloc((size_t)n * sizeof *u);
    t = malloc((size_t)n * sizeof *t);
    if (!u || !t) {
        free(u);
        free(t);
        return 0;
    }
    if (s->xu64 != s->xu64_fixed)
        free(s->xu64);
    if (s->xstr != s->xstr_fixed)
        free(s->xstr);
    s->xu64 = u;
    s->xstr = t;
    s->xcap = n;
    return 1;
}

CR_EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *ev,
                                             const ss_plugin_field_extract_input *in)
{
    cr_state *s = st;
    const uint8_t *b = (const uint8_t *)ev->evt;
    const char *payload;
    const char *text = NULL;
    uint32_t len, plen, i, n = in->num_fields;

    if (!cr_reserve(s, n)) {
        snprintf(s->lasterr, sizeof s->lasterr, "out of memory");
        return SS_PLUGIN_FAILURE;
    }
    memcpy(&len, b + 16, 4);
    if (ev->evt->type != FP_PLUGINEVENT_TYPE || len < FP_PLUGINEVENT_PAYLOAD_OFFSET) {
        for (i = 0; i < n; i++)
            in->fields[i].res_len = 0; /* not one of ours: no value */
        return SS_PLUGIN_SUCCESS;
    }
    memcpy(&plen, b + 30, 4);
    if (plen > len - FP_PLUGINEVENT_PAYLOAD_OFFSET)
        plen = len - FP_PLUGINEVENT_PAYLOAD_OFFSET;
    payload = (const char *)b + FP_PLUGINEVENT_PAYLOAD_OFFSET;

    for (i = 0; i < n; i++) {
        ss_plugin_extract_field *f = &in->fields[i];
        switch (f->field_id) {
        case CR_FIELD_REMAINING: {
            uint64_t v = 0;
            uint32_t k = 0;
            /* fast path: our own payload "<k> events remaining" with k below 10^8 */
            uint32_t nd = plen - (uint32_t)CR_SUFFIX_LEN;
            if (plen > CR_SUFFIX_LEN && nd <= 8 && payload[nd] == ' ' &&
                cr_digits8(payload, nd, &v)) {
                k = nd;
            } else {
                while (k < plen && k < CR_DIGITS && payload[k] >= '0' && payload[k] <= '9')
                    v = v * 10 + (uint64_t)(payload[k++] - '0');
            }
            if (k == 0) {
                f->res_len = 0;
                break;
            }
            s->xu64[i] = v;
            f->res.u64 = &s->xu64[i];
            f->res_len = 1;
            break;
        }
        case CR_FIELD_TEXT:
            if (!text) {
                if (plen + 1 > s->xtext_cap) {
                    char *t = realloc(s->xtext, (size_t)plen + 1);
                    if (!t) {
                        snprintf(s->lasterr, sizeof s->lasterr, "out of memory");
                        return SS_PLUGIN_FAILURE;
                    }
                    s->xtext = t;
                    s->xtext_cap = (size_t)plen + 1;
                }
                memcpy(s->xtext, payload, plen);
                s->xtext[plen] = 0;
                text = s->xtext;
            }
            s->xstr[i] = text;
            f->res.str = &s->xstr[i];
            f->res_len = 1;
            break;
        default:
            snprintf(s->lasterr, sizeof s->lasterr, "unknown field id %u (%s)",
                     (unsigned)f->field_id, f->field ? f->field : "?");
            return SS_PLUGIN_FAILURE;
        }
    }
    return SS_PLUGIN_SUCCESS;
}
