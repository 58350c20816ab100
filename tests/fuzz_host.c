/*
 * A fuzzing host (issue 10, item 10): malformed input through every entry point a plugin
 * exports, loaded like libsinsp loads plugins.
 *
 *   fuzz_host PLUGIN.so SEED ITERATIONS [GOOD_CONFIG]
 *
 * - init with bad configs (not JSON, wrong types, deep nesting, huge, invalid UTF-8), then
 *   set_config, list_open_params, get_metrics on a good state;
 * - open with bad open params, next_batch and close on what opens;
 * - ITERATIONS events (plugin events with random, invalid UTF-8 or huge payloads; headers
 *   shorter than their fields; lengths past the end; absurd parameter counts; random bytes)
 *   through extract_fields (every field, random arguments), parse_event, event_to_string.
 *
 * Each event buffer is exactly as long as its header says (a sanitizer catches any read past
 * it). Every failure must come with a clear message: non-empty, valid UTF-8, one line. A
 * call that takes longer than 20 s ends the run (a hang). Prints one JSON line of counters;
 * exits 1 on a broken expectation (messages on stderr). Run under ASan+UBSan in CI.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fp_abi.h"

typedef ss_plugin_t *(*init_fn)(const ss_plugin_init_input *, ss_plugin_rc *);
typedef void (*destroy_fn)(ss_plugin_t *);
typedef const char *(*str_fn)(ss_plugin_t *);
typedef const char *(*get_fields_fn)(void);
typedef ss_plugin_rc (*extract_fn)(ss_plugin_t *, const ss_plugin_event_input *,
                                   const ss_plugin_field_extract_input *);
typedef ss_plugin_rc (*parse_fn)(ss_plugin_t *, const ss_plugin_event_input *,
                                 const ss_plugin_event_parse_input *);
typedef ss_instance_t *(*open_fn)(ss_plugin_t *, const char *, ss_plugin_rc *);
typedef void (*close_fn)(ss_plugin_t *, ss_instance_t *);
typedef ss_plugin_rc (*next_fn)(ss_plugin_t *, ss_instance_t *, uint32_t *, ss_plugin_event ***);
typedef const char *(*e2s_fn)(ss_plugin_t *, const ss_plugin_event_input *);
typedef ss_plugin_rc (*set_config_fn)(ss_plugin_t *, const ss_plugin_set_config_input *);
typedef const char *(*open_params_fn)(ss_plugin_t *, ss_plugin_rc *);
typedef ss_plugin_metric *(*metrics_fn)(ss_plugin_t *, uint32_t *);

static struct {
    init_fn init;
    destroy_fn destroy;
    str_fn last_error;
    get_fields_fn get_fields;
    extract_fn extract;
    parse_fn parse;
    open_fn open;
    close_fn close;
    next_fn next_batch;
    e2s_fn event_to_string;
    set_config_fn set_config;
    open_params_fn list_open_params;
    metrics_fn get_metrics;
} P;

static int g_problems;
static atomic_long g_calls, g_failures;
static atomic_llong g_call_started; /* ns, 0 between calls */
static const char *volatile g_call_name = "";

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

#define CALL(name, expr)                                                                     \
    (g_call_name = (name), atomic_store(&g_call_started, now_ns()),                          \
     atomic_fetch_add(&g_calls, 1), (expr))
#define DONE() atomic_store(&g_call_started, 0)

static void *watchdog(void *unused) {
    for (;;) {
        usleep(200 * 1000);
        long long t = atomic_load(&g_call_started);
        if (t && now_ns() - t > 20LL * 1000000000LL) {
            fprintf(stderr, "fuzz_host: %s has not returned for 20 s: a hang\n", g_call_name);
            _exit(3);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ checks */

static int valid_utf8(const unsigned char *s) {
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2
              : (*s & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (n == 1 && *s < 0xC2)) return 0;
        s++;
        for (int i = 0; i < n; i++, s++)
            if ((*s & 0xC0) != 0x80) return 0;
    }
    return 1;
}

static void check_error(ss_plugin_t *st, const char *where) {
    atomic_fetch_add(&g_failures, 1);
    const char *msg = P.last_error(st);
    const char *why = !msg ? "no message" : !msg[0] ? "an empty message"
                    : !valid_utf8((const unsigned char *)msg) ? "a message that is not UTF-8"
                    : strlen(msg) >= 4096 ? "an overlong message" : NULL;
    if (!why) {
        for (const char *c = msg; *c && !why; c++)
            if ((unsigned char)*c < 0x20 && *c != '\t' && *c != '\n') why = "control characters";
    }
    if (why) {
        g_problems++;
        fprintf(stderr, "fuzz_host: %s failed with %s\n", where, why);
    } else if (getenv("FUZZ_SHOW")) {
        fprintf(stderr, "%s: %s\n", where, msg); /* to read the messages */
    }
}

/* ------------------------------------------------------------------ random input */

static uint64_t g_rng;

static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* A NUL-terminated string of n random bytes (never NUL), often not UTF-8. */
static char *random_text(size_t n) {
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) s[i] = (char)(1 + rnd() % 255);
    s[n] = '\0';
    return s;
}

static char *repeat(const char *head, const char *unit, size_t times, const char *tail) {
    size_t hu = strlen(head), u = strlen(unit), t = strlen(tail);
    char *s = malloc(hu + u * times + t + 1), *p = s;
    memcpy(p, head, hu);
    p += hu;
    for (size_t i = 0; i < times; i++, p += u) memcpy(p, unit, u);
    memcpy(p, tail, t + 1);
    return s;
}

/* Bad init configs and set_config inputs: the caller frees each. */
static char **bad_configs(size_t *n) {
    static const char *fixed[] = {
        "{", "[]", "null", "\"text\"", "{\"a\": }", "{\"a\": 1e99999}", "{\"a\": NaN}",
        "{\"\xff\xfe\": 1}", "{\"name\": \"\xc3\x28\"}", "{\"a\": [1, 2, {\"b\": null}]}",
        "\xef\xbb\xbf{}", "{} trailing", "1", "true", "-0", "{\"a\": 18446744073709551616}",
    };
    size_t nf = sizeof fixed / sizeof fixed[0], k = 0;
    char **out = calloc(nf + 8, sizeof *out);
    for (size_t i = 0; i < nf; i++) out[k++] = strdup(fixed[i]);
    out[k++] = repeat("", "[", 100000, "");               /* deep nesting */
    out[k++] = repeat("{\"a\": \"", "x", 1 << 20, "\"}"); /* 1 MB */
    for (int i = 0; i < 6; i++) out[k++] = random_text(1 + rnd() % 300);
    *n = k;
    return out;
}

/* An event of one of several malformed (or well-formed) shapes, exactly len bytes long. */
static ss_plugin_event *random_event(size_t *size) {
    size_t payload = rnd() % 300, len;
    int kind = (int)(rnd() % 9);
    if (kind == 1) payload = 1 + rnd() % (4u << 20); /* huge */
    len = kind == 2 ? rnd() % 26                 /* shorter than a header */
        : kind == 3 ? 26 + rnd() % 12            /* a plugin event cut in its parameters */
        : kind == 6 ? 26 + rnd() % 600           /* random bytes */
        : 38 + payload;
    size_t alloc = len < 26 ? 26 : len; /* the header is always there to be read */
    uint8_t *b = malloc(alloc);
    for (size_t i = 0; i < alloc; i++) b[i] = (uint8_t)rnd();
    ss_plugin_event *e = (ss_plugin_event *)b;
    uint32_t len32 = (uint32_t)len, u32;
    uint16_t type = FP_PLUGINEVENT_TYPE;
    memcpy(b + 16, &len32, 4);
    if (kind == 6) { /* random bytes with a truthful length */
    } else if (kind == 5 || kind == 7) { /* another type: absurd or small parameter counts */
        type = (uint16_t)(rnd() % 420);
        u32 = kind == 5 ? 0xFFFFFFFFu : (uint32_t)(rnd() % 8);
        memcpy(b + 20, &type, 2);
        memcpy(b + 22, &u32, 4);
    } else if (len >= 26) {
        memcpy(b + 20, &type, 2);
        u32 = 2;
        memcpy(b + 22, &u32, 4);
        if (len >= 38) {
            u32 = 4;
            memcpy(b + 26, &u32, 4);
            u32 = kind == 4 ? (uint32_t)(payload + 1 + rnd() % 1000) : (uint32_t)payload;
            memcpy(b + 30, &u32, 4); /* kind 4: a payload length past the end */
            u32 = 999;
            memcpy(b + 34, &u32, 4);
            if (kind == 8 && payload) memcpy(b + 38, "\xff\xfe\xc3\x28", payload < 4 ? payload : 4);
        }
    }
    *size = alloc;
    return e;
}

/* ------------------------------------------------------------------ fields */

#define MAX_FIELDS 256
static struct {
    char name[128];
    uint32_t ftype;
    int list, arg_index, arg_key;
} g_fields[MAX_FIELDS];
static int g_nfields;

static uint32_t ftype_of(const char *t) {
    static const struct { const char *n; uint32_t v; } types[] = {
        {"uint64", 8}, {"string", 9}, {"reltime", 20}, {"abstime", 21},
        {"bool", 25}, {"ipaddr", 40}, {"ipnet", 41},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strncmp(t, types[i].n, strlen(types[i].n)) == 0 && t[strlen(types[i].n)] == '"')
            return types[i].v;
    return 0;
}

/* The fields of get_fields' JSON (as the SDK writes it: "name" then "type" first). */
static void read_fields(const char *json) {
    const char *p = json;
    while (g_nfields < MAX_FIELDS && (p = strstr(p, "{\"name\": \""))) {
        p += 10;
        const char *end = strchr(p, '"'), *next = strstr(p, "{\"name\": \"");
        size_t n = (size_t)(end - p) < 127 ? (size_t)(end - p) : 127;
        memcpy(g_fields[g_nfields].name, p, n);
        g_fields[g_nfields].name[n] = '\0';
        const char *t = strstr(p, "\"type\": \"");
        g_fields[g_nfields].ftype = t ? ftype_of(t + 9) : 0;
        size_t span = next ? (size_t)(next - p) : strlen(p);
        char *obj = strndup(p, span);
        g_fields[g_nfields].list = strstr(obj, "\"isList\": true") != NULL;
        g_fields[g_nfields].arg_index = strstr(obj, "\"isIndex\": true") != NULL;
        g_fields[g_nfields].arg_key = strstr(obj, "\"isKey\": true") != NULL;
        free(obj);
        g_nfields++;
    }
}

/* Reads every value a successful extraction returned (a sanitizer checks the memory). */
static void touch(const ss_plugin_extract_field *f) {
    volatile uint64_t sink = 0;
    for (uint64_t i = 0; i < f->res_len; i++) {
        switch (f->ftype) {
        case 9: sink += strlen(f->res.str[i]); break;
        case 25: sink += f->res.u32[i]; break;
        case 40:
        case 41:
            for (uint32_t k = 0; k < f->res.buf[i].len; k++)
                sink += ((const uint8_t *)f->res.buf[i].ptr)[k];
            break;
        default: sink += f->res.u64[i]; break;
        }
    }
    (void)sink;
}

static void fuzz_event(ss_plugin_t *st, uint64_t evtnum) {
    size_t size;
    ss_plugin_event *e = random_event(&size);
    ss_plugin_event_input in = {e, evtnum, rnd() % 2 ? "syscall" : "fuzz"};
    for (int i = 0; P.extract && i < g_nfields; i++) {
        char *key = random_text(rnd() % 40);
        ss_plugin_extract_field f;
        memset(&f, 0, sizeof f);
        f.field_id = rnd() % 64 == 0 ? (uint32_t)(g_nfields + rnd() % 3) : (uint32_t)i;
        f.field = g_fields[i].name;
        f.ftype = g_fields[i].ftype;
        f.flist = (ss_plugin_bool)g_fields[i].list;
        f.arg_present = (ss_plugin_bool)(rnd() % 2);
        f.arg_key = key;
        f.arg_index = rnd() % 3 ? rnd() % 8 : rnd();
        ss_plugin_field_extract_input x;
        memset(&x, 0, sizeof x);
        x.num_fields = 1;
        x.fields = &f;
        ss_plugin_rc rc = CALL("extract_fields", P.extract(st, &in, &x));
        DONE();
        if (rc == SS_PLUGIN_SUCCESS) {
            if (f.field_id < (uint32_t)g_nfields) touch(&f);
        } else {
            check_error(st, "extract_fields");
        }
        free(key);
    }
    if (P.parse) {
        ss_plugin_event_parse_input pin;
        memset(&pin, 0, sizeof pin);
        ss_plugin_rc rc = CALL("parse_event", P.parse(st, &in, &pin));
        DONE();
        if (rc != SS_PLUGIN_SUCCESS) check_error(st, "parse_event");
    }
    if (P.event_to_string) {
        const char *s = CALL("event_to_string", P.event_to_string(st, &in));
        DONE();
        if (s) (void)strlen(s);
    }
    free(e);
}

/* ------------------------------------------------------------------ phases */

static ss_plugin_t *init_with(const char *config, ss_plugin_rc *rc) {
    ss_plugin_init_input in = {config, NULL, NULL, NULL, NULL};
    ss_plugin_t *st = CALL("init", P.init(&in, rc));
    DONE();
    return st;
}

static void fuzz_configs(char **bad, size_t nbad, const char *good) {
    for (size_t i = 0; i < nbad; i++) {
        ss_plugin_rc rc;
        ss_plugin_t *st = init_with(bad[i], &rc);
        if (rc != SS_PLUGIN_SUCCESS) check_error(st, "init");
        CALL("destroy", P.destroy(st));
        DONE();
    }
    ss_plugin_rc rc;
    ss_plugin_t *st = init_with(good, &rc);
    if (rc != SS_PLUGIN_SUCCESS) {
        fprintf(stderr, "fuzz_host: init with the good config failed: %s\n", P.last_error(st));
        exit(2);
    }
    for (size_t i = 0; P.set_config && i < nbad; i++) {
        ss_plugin_set_config_input in = {bad[i]};
        if (CALL("set_config", P.set_config(st, &in)) != SS_PLUGIN_SUCCESS)
            check_error(st, "set_config");
        DONE();
    }
    if (P.list_open_params) {
        const char *s = CALL("list_open_params", P.list_open_params(st, &rc));
        DONE();
        if (rc != SS_PLUGIN_SUCCESS) check_error(st, "list_open_params");
        else if (s) (void)strlen(s);
    }
    if (P.get_metrics) {
        uint32_t n = 0;
        ss_plugin_metric *m = CALL("get_metrics", P.get_metrics(st, &n));
        DONE();
        for (uint32_t i = 0; m && i < n; i++) (void)strlen(m[i].name);
    }
    CALL("destroy", P.destroy(st));
    DONE();
}

static void fuzz_open(ss_plugin_t *st, char **bad, size_t nbad) {
    for (size_t i = 0; P.open && i < nbad + 4; i++) {
        char *params = i < nbad ? strdup(bad[i]) : random_text(rnd() % 64);
        ss_plugin_rc rc;
        ss_instance_t *h = CALL("open", P.open(st, params, &rc));
        DONE();
        if (rc != SS_PLUGIN_SUCCESS) {
            check_error(st, "open");
        } else {
            for (int k = 0; k < 3; k++) {
                uint32_t n = 0;
                ss_plugin_event **evts = NULL;
                ss_plugin_rc r = CALL("next_batch", P.next_batch(st, h, &n, &evts));
                DONE();
                if (r == SS_PLUGIN_FAILURE) check_error(st, "next_batch");
                if (r != SS_PLUGIN_SUCCESS && r != SS_PLUGIN_TIMEOUT) break;
            }
            CALL("close", P.close(st, h));
            DONE();
        }
        free(params);
    }
}

static void *sym(void *lib, const char *name) { return dlsym(lib, name); }

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: fuzz_host PLUGIN.so SEED ITERATIONS [GOOD_CONFIG]\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_LOCAL | RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "fuzz_host: %s\n", dlerror());
        return 2;
    }
    g_rng = strtoull(argv[2], NULL, 10) * 2654435761u + 1;
    long iterations = atol(argv[3]);
    const char *good = argc > 4 ? argv[4] : "";
    P.init = (init_fn)sym(lib, "plugin_init");
    P.destroy = (destroy_fn)sym(lib, "plugin_destroy");
    P.last_error = (str_fn)sym(lib, "plugin_get_last_error");
    P.get_fields = (get_fields_fn)sym(lib, "plugin_get_fields");
    P.extract = (extract_fn)sym(lib, "plugin_extract_fields");
    P.parse = (parse_fn)sym(lib, "plugin_parse_event");
    P.open = (open_fn)sym(lib, "plugin_open");
    P.close = (close_fn)sym(lib, "plugin_close");
    P.next_batch = (next_fn)sym(lib, "plugin_next_batch");
    P.event_to_string = (e2s_fn)sym(lib, "plugin_event_to_string");
    P.set_config = (set_config_fn)sym(lib, "plugin_set_config");
    P.list_open_params = (open_params_fn)sym(lib, "plugin_list_open_params");
    P.get_metrics = (metrics_fn)sym(lib, "plugin_get_metrics");
    if (!P.init || !P.destroy || !P.last_error) {
        fprintf(stderr, "fuzz_host: %s is not a plugin\n", argv[1]);
        return 2;
    }
    if (P.get_fields) read_fields(P.get_fields());
    pthread_t dog;
    pthread_create(&dog, NULL, watchdog, NULL);
    pthread_detach(dog);

    size_t nbad;
    char **bad = bad_configs(&nbad);
    fuzz_configs(bad, nbad, good);
    ss_plugin_rc rc;
    ss_plugin_t *st = init_with(good, &rc);
    if (rc != SS_PLUGIN_SUCCESS) {
        fprintf(stderr, "fuzz_host: init failed: %s\n", P.last_error(st));
        return 2;
    }
    fuzz_open(st, bad, nbad);
    for (long i = 0; i < iterations; i++) fuzz_event(st, (uint64_t)i + 1);
    CALL("destroy", P.destroy(st));
    DONE();
    for (size_t i = 0; i < nbad; i++) free(bad[i]);
    free(bad);
    printf("{\"calls\": %ld, \"failures\": %ld, \"fields\": %d, \"problems\": %d}\n",
           atomic_load(&g_calls), atomic_load(&g_failures), g_nfields, g_problems);
    return g_problems ? 1 : 0;
}
