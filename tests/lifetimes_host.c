/*
 * A minimal host for lifetime tests (issue 10, item 6): what a real host may do around a
 * plugin's destroy, which the SDK host never does. Loaded like libsinsp loads plugins.
 *
 *   lifetimes_host tables PLUGIN.so CYCLES
 *       init (the plugin exports tables), destroy, then call the exported tables' vtables
 *       as another plugin still holding them would; CYCLES times (a reload each time). The
 *       tables of destroyed states must refuse every call.
 *   lifetimes_host routines PLUGIN.so CYCLES
 *       init, capture_open with a routine pool of two threads, let the routines run, then
 *       destroy WITHOUT capture_close; the pool keeps running after it. Every routine the
 *       plugin subscribed must have been unsubscribed by destroy, and none called after.
 *
 *   lifetimes_host logs PLUGIN.so CYCLES
 *       two states of one plugin (configs "A" and "B", each logging its name from a thread
 *       it never stops), each with an owner of its own; destroyed one after the other.
 *       Every message must reach its own state's owner, and none a destroyed state's.
 *   lifetimes_host errors PLUGIN.so ITERATIONS
 *       two threads make writes into the plugin's two exported tables fail (errors of two
 *       lengths in the same state) while a third reads get_last_error: every message read
 *       must be whole, and each writer must read back its own.
 *
 * Prints one JSON line of counters; exits 1 on a broken expectation (message on stderr).
 * Built by tests/test_lifetimes.py, with sanitizers in the sanitizer job.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fp_abi.h"

typedef ss_plugin_t *(*init_fn)(const ss_plugin_init_input *, ss_plugin_rc *);
typedef void (*destroy_fn)(ss_plugin_t *);
typedef const char *(*last_error_fn)(ss_plugin_t *);
typedef ss_plugin_rc (*capture_fn)(ss_plugin_t *, const ss_plugin_capture_listen_input *);

static int failures;

#define EXPECT(cond, ...)                                                                    \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "lifetimes_host: " __VA_ARGS__);                                 \
            fputc('\n', stderr);                                                             \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

static void *must_sym(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "lifetimes_host: no symbol %s\n", name);
        exit(2);
    }
    return p;
}

/* An owner as the host gives one per plugin state: logs check who they reach. */
typedef struct {
    const char *name;
    atomic_int alive, messages, foreign, after_destroy;
} owner;

static void log_fn(ss_plugin_owner_t *o, const char *c, const char *msg, ss_plugin_log_severity s) {
    owner *ow = o;
    if (!ow) {
        fprintf(stderr, "[plugin] %s\n", msg);
        return;
    }
    atomic_fetch_add(&ow->messages, 1);
    if (!atomic_load(&ow->alive)) atomic_fetch_add(&ow->after_destroy, 1);
    const char *of = strstr(msg, " of ");
    if (!of || strcmp(of + 4, ow->name) != 0) atomic_fetch_add(&ow->foreign, 1);
}

/* ------------------------------------------------------------------ tables */

#define MAX_TABLES 64
static const ss_plugin_table_input *g_added[MAX_TABLES];
static int g_nadded;

static ss_plugin_table_info *t_list(ss_plugin_owner_t *o, uint32_t *n) {
    *n = 0;
    return NULL;
}
static ss_plugin_table_t *t_get(ss_plugin_owner_t *o, const char *name, ss_plugin_state_type k) {
    return NULL;
}
static ss_plugin_rc t_add(ss_plugin_owner_t *o, const ss_plugin_table_input *in) {
    if (g_nadded == MAX_TABLES) return SS_PLUGIN_FAILURE;
    g_added[g_nadded++] = in;
    return SS_PLUGIN_SUCCESS;
}
static const ss_plugin_table_fieldinfo *f_list(ss_plugin_table_t *t, uint32_t *n) {
    *n = 0;
    return NULL;
}
static ss_plugin_table_field_t *f_get(ss_plugin_table_t *t, const char *n, ss_plugin_state_type k) {
    return NULL;
}
static ss_plugin_table_fields_vtable_ext g_fields = {f_list, f_get, f_get};
static ss_plugin_table_reader_vtable_ext g_reader;
static ss_plugin_table_writer_vtable_ext g_writer;

/* What another plugin holding an exported table would do, after the exporter was destroyed. */
static void use_dead_table(const ss_plugin_table_input *in) {
    ss_plugin_table_t *t = in->table;
    ss_plugin_state_data key;
    memset(&key, 0, sizeof key);
    uint32_t n = 7;
    EXPECT(in->reader_ext->get_table_size(t) == UINT64_MAX, "size of a dead table");
    EXPECT(in->reader_ext->get_table_entry(t, &key) == NULL, "entry of a dead table");
    EXPECT(in->fields_ext->list_table_fields(t, &n) == NULL && n == 0, "fields of a dead table");
    EXPECT(in->fields_ext->get_table_field(t, "count", SS_PLUGIN_ST_UINT64) == NULL,
           "field of a dead table");
    EXPECT(in->writer_ext->create_table_entry(t) == NULL, "create in a dead table");
    EXPECT(in->writer_ext->clear_table(t) == SS_PLUGIN_FAILURE, "clear of a dead table");
    EXPECT(in->writer_ext->erase_table_entry(t, &key) == SS_PLUGIN_FAILURE, "erase in a dead table");
    EXPECT(strcmp(in->reader_ext->get_table_name(t), in->name) == 0, "name of a dead table");
}

static int run_tables(void *lib, int cycles) {
    init_fn init = must_sym(lib, "plugin_init");
    destroy_fn destroy = must_sym(lib, "plugin_destroy");
    last_error_fn last_error = must_sym(lib, "plugin_get_last_error");
    ss_plugin_init_tables_input tables = {0};
    tables.list_tables = t_list;
    tables.get_table = t_get;
    tables.add_table = t_add;
    tables.fields_ext = &g_fields;
    tables.reader_ext = &g_reader;
    tables.writer_ext = &g_writer;
    for (int c = 0; c < cycles; c++) {
        ss_plugin_init_input in = {"", NULL, NULL, &tables, log_fn};
        ss_plugin_rc rc;
        int before = g_nadded;
        ss_plugin_t *st = init(&in, &rc);
        if (rc != SS_PLUGIN_SUCCESS) {
            fprintf(stderr, "lifetimes_host: init failed: %s\n", last_error(st));
            return 2;
        }
        EXPECT(g_nadded > before, "cycle %d exported no table", c);
        /* while alive the table answers */
        EXPECT(g_added[before]->reader_ext->get_table_size(g_added[before]->table) != UINT64_MAX,
               "size of a live table");
        destroy(st);
        for (int i = 0; i < g_nadded; i++) use_dead_table(g_added[i]); /* every cycle's */
    }
    printf("{\"cycles\": %d, \"tables\": %d, \"failures\": %d}\n", cycles, g_nadded, failures);
    return failures ? 1 : 0;
}

/* ------------------------------------------------------------------ routines */

#define MAX_ROUTINES 64
typedef struct {
    ss_plugin_routine_fn_t fn;
    ss_plugin_routine_state_t *arg;
    int live;      /* subscribed and not unsubscribed, nor returned false */
    int running;
} routine;

static routine g_routines[MAX_ROUTINES];
static int g_nroutines;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_done = PTHREAD_COND_INITIALIZER;
static atomic_int g_stop, g_calls, g_calls_after_destroy, g_destroyed;
static ss_plugin_t *g_state;

static ss_plugin_routine_t *r_subscribe(ss_plugin_owner_t *o, ss_plugin_routine_fn_t f,
                                        ss_plugin_routine_state_t *arg) {
    pthread_mutex_lock(&g_mu);
    routine *r = g_nroutines < MAX_ROUTINES ? &g_routines[g_nroutines++] : NULL;
    if (r) *r = (routine){f, arg, 1, 0};
    pthread_mutex_unlock(&g_mu);
    return r;
}

/* As libsinsp's pool: the routine is never called after this returns (a running call is
 * waited for, unless it is the caller). */
static ss_plugin_rc r_unsubscribe(ss_plugin_owner_t *o, ss_plugin_routine_t *h) {
    routine *r = h;
    pthread_mutex_lock(&g_mu);
    int ok = r && r->live;
    if (r) r->live = 0;
    while (r && r->running) pthread_cond_wait(&g_done, &g_mu);
    pthread_mutex_unlock(&g_mu);
    return ok ? SS_PLUGIN_SUCCESS : SS_PLUGIN_FAILURE;
}

static ss_plugin_routine_vtable g_routine_vt = {r_subscribe, r_unsubscribe};

static void *pool_main(void *arg) {
    while (!atomic_load(&g_stop)) {
        int ran = 0;
        for (int i = 0; i < MAX_ROUTINES; i++) {
            pthread_mutex_lock(&g_mu);
            routine *r = i < g_nroutines ? &g_routines[i] : NULL;
            if (!r || !r->live || r->running) {
                pthread_mutex_unlock(&g_mu);
                continue;
            }
            r->running = 1;
            pthread_mutex_unlock(&g_mu);
            if (atomic_load(&g_destroyed)) atomic_fetch_add(&g_calls_after_destroy, 1);
            ss_plugin_bool keep = r->fn(g_state, r->arg);
            atomic_fetch_add(&g_calls, 1);
            pthread_mutex_lock(&g_mu);
            r->running = 0;
            if (!keep) r->live = 0;
            pthread_cond_broadcast(&g_done);
            pthread_mutex_unlock(&g_mu);
            ran = 1;
        }
        if (!ran) usleep(1000);
    }
    return NULL;
}

static int run_routines(void *lib, int cycles) {
    init_fn init = must_sym(lib, "plugin_init");
    destroy_fn destroy = must_sym(lib, "plugin_destroy");
    last_error_fn last_error = must_sym(lib, "plugin_get_last_error");
    capture_fn capture_open = must_sym(lib, "plugin_capture_open");
    pthread_t pool[2];
    for (int i = 0; i < 2; i++) pthread_create(&pool[i], NULL, pool_main, NULL);
    int subscribed = 0;
    for (int c = 0; c < cycles; c++) {
        ss_plugin_init_input in = {"", NULL, NULL, NULL, log_fn};
        ss_plugin_rc rc;
        atomic_store(&g_destroyed, 0);
        ss_plugin_t *st = init(&in, &rc);
        if (rc != SS_PLUGIN_SUCCESS) {
            fprintf(stderr, "lifetimes_host: init failed: %s\n", last_error(st));
            return 2;
        }
        g_state = st;
        ss_plugin_capture_listen_input li = {NULL, &g_routine_vt, NULL, NULL, NULL};
        int before = g_nroutines;
        rc = capture_open(st, &li);
        EXPECT(rc == SS_PLUGIN_SUCCESS, "capture_open: %s", last_error(st));
        subscribed += g_nroutines - before;
        usleep(50 * 1000); /* the routines run */
        destroy(st); /* no capture_close: destroy must unsubscribe what is live */
        atomic_store(&g_destroyed, 1);
        pthread_mutex_lock(&g_mu);
        int live = 0;
        for (int i = 0; i < g_nroutines; i++) live += g_routines[i].live;
        pthread_mutex_unlock(&g_mu);
        EXPECT(live == 0, "cycle %d: %d routine(s) still subscribed after destroy", c, live);
        usleep(20 * 1000); /* the pool goes on: it must not call a destroyed state's routine */
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(pool[i], NULL);
    EXPECT(atomic_load(&g_calls_after_destroy) == 0, "routines called after destroy");
    printf("{\"cycles\": %d, \"subscribed\": %d, \"calls\": %d, \"calls_after_destroy\": %d, "
           "\"failures\": %d}\n",
           cycles, subscribed, atomic_load(&g_calls), atomic_load(&g_calls_after_destroy),
           failures);
    return failures ? 1 : 0;
}

/* ------------------------------------------------------------------ logs */

static int run_logs(void *lib, int cycles) {
    init_fn init = must_sym(lib, "plugin_init");
    destroy_fn destroy = must_sym(lib, "plugin_destroy");
    last_error_fn last_error = must_sym(lib, "plugin_get_last_error");
    int messages = 0;
    for (int c = 0; c < cycles; c++) {
        owner a = {.name = "A"}, b = {.name = "B"};
        atomic_store(&a.alive, 1);
        atomic_store(&b.alive, 1);
        ss_plugin_init_input ia = {"A", &a, NULL, NULL, log_fn}, ib = {"B", &b, NULL, NULL, log_fn};
        ss_plugin_rc rc;
        ss_plugin_t *sa = init(&ia, &rc);
        EXPECT(rc == SS_PLUGIN_SUCCESS, "init A: %s", last_error(sa));
        ss_plugin_t *sb = init(&ib, &rc);
        EXPECT(rc == SS_PLUGIN_SUCCESS, "init B: %s", last_error(sb));
        usleep(50 * 1000);
        destroy(sa);
        atomic_store(&a.alive, 0);
        usleep(50 * 1000); /* A's thread still logs; B's too */
        destroy(sb);
        atomic_store(&b.alive, 0);
        usleep(50 * 1000);
        EXPECT(atomic_load(&a.messages) > 0 && atomic_load(&b.messages) > 0, "no logs");
        EXPECT(atomic_load(&a.foreign) + atomic_load(&b.foreign) == 0,
               "cycle %d: %d of A's and %d of B's messages were another state's", c,
               atomic_load(&a.foreign), atomic_load(&b.foreign));
        EXPECT(atomic_load(&a.after_destroy) + atomic_load(&b.after_destroy) == 0,
               "cycle %d: %d message(s) reached a destroyed state's owner", c,
               atomic_load(&a.after_destroy) + atomic_load(&b.after_destroy));
        messages += atomic_load(&a.messages) + atomic_load(&b.messages);
    }
    printf("{\"cycles\": %d, \"messages\": %d, \"failures\": %d}\n", cycles, messages, failures);
    return failures ? 1 : 0;
}

/* ------------------------------------------------------------------ errors */

typedef struct {
    const ss_plugin_table_input *table;
    int iterations;
    last_error_fn last_error;
    ss_plugin_t *state;
    char expected[1024];
    atomic_int *torn;
} writer;

static atomic_int g_writers_done;

static void *writer_main(void *arg) {
    writer *w = arg;
    ss_plugin_table_t *t = w->table->table;
    ss_plugin_state_data key = {0}, value = {0};
    ss_plugin_table_entry_t *e = w->table->reader_ext->get_table_entry(t, &key);
    ss_plugin_table_field_t *f = w->table->fields_ext->get_table_field(t, "label",
                                                                       SS_PLUGIN_ST_STRING);
    value.str = "refused";
    for (int i = 0; e && f && i < w->iterations; i++) {
        if (w->table->writer_ext->write_entry_field(t, e, f, &value) == SS_PLUGIN_SUCCESS)
            continue;
        const char *mine = w->last_error(w->state); /* the host reads on the failing thread */
        if (i == 0) snprintf(w->expected, sizeof w->expected, "%s", mine);
        else if (strcmp(mine, w->expected) != 0) atomic_fetch_add(w->torn, 1);
    }
    if (e) w->table->reader_ext->release_table_entry(t, e);
    atomic_fetch_add(&g_writers_done, 1);
    return NULL;
}

static int run_errors(void *lib, int iterations) {
    init_fn init = must_sym(lib, "plugin_init");
    destroy_fn destroy = must_sym(lib, "plugin_destroy");
    last_error_fn last_error = must_sym(lib, "plugin_get_last_error");
    ss_plugin_init_tables_input tables = {0};
    tables.list_tables = t_list;
    tables.get_table = t_get;
    tables.add_table = t_add;
    tables.fields_ext = &g_fields;
    tables.reader_ext = &g_reader;
    tables.writer_ext = &g_writer;
    ss_plugin_init_input in = {"", NULL, NULL, &tables, log_fn};
    ss_plugin_rc rc;
    ss_plugin_t *st = init(&in, &rc);
    if (rc != SS_PLUGIN_SUCCESS || g_nadded < 2) {
        fprintf(stderr, "lifetimes_host: init failed: %s\n", last_error(st));
        return 2;
    }
    atomic_int torn_own = 0;
    writer w[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (writer){g_added[i], iterations, last_error, st, "", &torn_own};
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    /* the host, reading on another thread: every distinct message it sees is kept */
    static char seen[16][1024];
    int reads = 0, torn = 0, nseen = 0;
    char copy[1024];
    while (atomic_load(&g_writers_done) < 2) {
        snprintf(copy, sizeof copy, "%s", last_error(st));
        reads++;
        int known = !copy[0];
        for (int k = 0; k < nseen && !known; k++) known = strcmp(seen[k], copy) == 0;
        if (known) continue;
        if (nseen < 16) memcpy(seen[nseen++], copy, sizeof copy);
        else torn++;
    }
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int k = 0; k < nseen; k++) /* whole messages only: one writer's or the other's */
        if (strcmp(seen[k], w[0].expected) != 0 && strcmp(seen[k], w[1].expected) != 0) torn++;
    EXPECT(w[0].expected[0] && w[1].expected[0] && strcmp(w[0].expected, w[1].expected) != 0,
           "the two writers' errors should differ: '%s' / '%s'", w[0].expected, w[1].expected);
    EXPECT(atomic_load(&torn_own) == 0, "%d error(s) read back were not the writer's own",
           atomic_load(&torn_own));
    EXPECT(torn == 0, "%d of %d concurrent read(s) were torn", torn, reads);
    destroy(st);
    printf("{\"iterations\": %d, \"reads\": %d, \"torn\": %d, \"not_own\": %d, "
           "\"failures\": %d}\n",
           iterations, reads, torn, atomic_load(&torn_own), failures);
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: lifetimes_host tables|routines|logs|errors PLUGIN.so N\n");
        return 2;
    }
    void *lib = dlopen(argv[2], RTLD_LOCAL | RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "lifetimes_host: %s\n", dlerror());
        return 2;
    }
    int cycles = atoi(argv[3]);
    if (strcmp(argv[1], "tables") == 0) return run_tables(lib, cycles);
    if (strcmp(argv[1], "routines") == 0) return run_routines(lib, cycles);
    if (strcmp(argv[1], "logs") == 0) return run_logs(lib, cycles);
    if (strcmp(argv[1], "errors") == 0) return run_errors(lib, cycles);
    fprintf(stderr, "lifetimes_host: unknown mode %s\n", argv[1]);
    return 2;
}
