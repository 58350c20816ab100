/*
 * C reference for the async events benchmark: on set_async_event_handler, T pthreads emit
 * N async events in total (named "bench", 16 bytes of data) as fast as the handler takes
 * them, retrying after 1 ms when the host's queue is full. get_metrics reports how many
 * were sent and the emitting wall time, like the Python bench_async plugin, and so does a
 * line in the host's log ("sent N events in T ns, R back-offs": what Falco shows).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fp_abi.h"

#define EXPORT __attribute__((visibility("default")))
#define MAXT 16

typedef struct ref_state {
    int threads;
    uint64_t count;
    ss_plugin_owner_t *owner;
    ss_plugin_owner_t *log_owner;
    ss_plugin_log_fn_t log_fn;
    ss_plugin_async_event_handler_t handler;
    pthread_t coordinator;
    int running;
    volatile int stopping;
    uint64_t sent, elapsed_ns;
    uint64_t retries; /* queue-full back-offs (atomic) */
    ss_plugin_metric metrics[3];
    char err[256];
} ref_state;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

EXPORT const char *plugin_get_required_api_version(void) { return "3.3.0"; }
EXPORT const char *plugin_get_version(void) { return "1.0.0"; }
EXPORT const char *plugin_get_name(void) { return "async_ref"; }
EXPORT const char *plugin_get_description(void) { return "C reference async emitter"; }
EXPORT const char *plugin_get_contact(void) { return "falco-plugin benchmarks"; }
EXPORT const char *plugin_get_async_events(void) { return "[\"bench\"]"; }
EXPORT const char *plugin_get_last_error(ss_plugin_t *s) { return s ? ((ref_state *)s)->err : ""; }

EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc) {
    ref_state *st = calloc(1, sizeof *st);
    if (!st) {
        *rc = SS_PLUGIN_FAILURE;
        return NULL;
    }
    st->threads = 1;
    st->count = 100000;
    const char *cfg = in && in->config ? in->config : "";
    const char *p = strstr(cfg, "\"threads\"");
    if (p && (p = strchr(p, ':'))) st->threads = atoi(p + 1);
    p = strstr(cfg, "\"count\"");
    if (p && (p = strchr(p, ':'))) st->count = strtoull(p + 1, NULL, 10);
    if (st->threads < 1 || st->threads > MAXT) st->threads = 1;
    if (in) {
        st->log_owner = in->owner;
        st->log_fn = in->log_fn;
    }
    *rc = SS_PLUGIN_SUCCESS;
    return st;
}

typedef struct {
    ref_state *st;
    uint64_t n;
} work_arg;

static void *work(void *a) {
    work_arg *w = a;
    ref_state *st = w->st;
    uint8_t ev[26 + 12 + 4 + 6 + 16];
    uint32_t len = sizeof ev, nparams = 3, l1 = 4, l2 = 6, l3 = 16, id = 0;
    uint64_t ts = UINT64_MAX, tid = UINT64_MAX;
    uint16_t type = FP_ASYNCEVENT_TYPE;
    memcpy(ev, &ts, 8);
    memcpy(ev + 8, &tid, 8);
    memcpy(ev + 16, &len, 4);
    memcpy(ev + 20, &type, 2);
    memcpy(ev + 22, &nparams, 4);
    memcpy(ev + 26, &l1, 4);
    memcpy(ev + 30, &l2, 4);
    memcpy(ev + 34, &l3, 4);
    memcpy(ev + 38, &id, 4);
    memcpy(ev + 42, "bench", 6);
    memcpy(ev + 48, "0123456789abcdef", 16);
    char err[FP_MAX_ERRLEN];
    for (uint64_t i = 0; i < w->n && !st->stopping; i++) {
        while (st->handler(st->owner, (const ss_plugin_event *)ev, err) != SS_PLUGIN_SUCCESS) {
            if (st->stopping) return NULL;
            __atomic_add_fetch(&st->retries, 1, __ATOMIC_RELAXED);
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL); /* the queue is full: back off */
        }
    }
    return NULL;
}

static void *coordinate(void *a) {
    ref_state *st = a;
    pthread_t t[MAXT];
    work_arg args[MAXT];
    struct timespec settle = {0, 50000000}; /* let the host reach its delivery loop */
    nanosleep(&settle, NULL);
    uint64_t per = st->count / (uint64_t)st->threads, start = now_ns();
    for (int i = 0; i < st->threads; i++) {
        args[i] = (work_arg){st, per};
        pthread_create(&t[i], NULL, work, &args[i]);
    }
    for (int i = 0; i < st->threads; i++) pthread_join(t[i], NULL);
    st->elapsed_ns = now_ns() - start;
    st->sent = st->stopping ? 0 : per * (uint64_t)st->threads;
    if (st->log_fn && st->sent) {
        char msg[160];
        snprintf(msg, sizeof msg, "sent %llu events in %llu ns, %llu back-offs",
                 (unsigned long long)st->sent, (unsigned long long)st->elapsed_ns,
                 (unsigned long long)__atomic_load_n(&st->retries, __ATOMIC_RELAXED));
        st->log_fn(st->log_owner, NULL, msg, SS_PLUGIN_LOG_SEV_INFO);
    }
    return NULL;
}

static void stop(ref_state *st) {
    if (!st->running) return;
    st->stopping = 1;
    pthread_join(st->coordinator, NULL);
    st->running = 0;
}

EXPORT ss_plugin_rc plugin_set_async_event_handler(ss_plugin_t *s, ss_plugin_owner_t *owner,
                                                   const ss_plugin_async_event_handler_t h) {
    ref_state *st = s;
    stop(st);
    if (!h) return SS_PLUGIN_SUCCESS;
    st->owner = owner;
    st->handler = h;
    st->stopping = 0;
    if (pthread_create(&st->coordinator, NULL, coordinate, st) != 0) {
        snprintf(st->err, sizeof st->err, "cannot start the emitting threads");
        return SS_PLUGIN_FAILURE;
    }
    st->running = 1;
    return SS_PLUGIN_SUCCESS;
}

EXPORT ss_plugin_metric *plugin_get_metrics(ss_plugin_t *s, uint32_t *n) {
    ref_state *st = s;
    st->metrics[0] = (ss_plugin_metric){"sent", SS_PLUGIN_METRIC_TYPE_MONOTONIC,
                                        {.u64 = st->sent}, SS_PLUGIN_METRIC_VALUE_TYPE_U64};
    st->metrics[1] = (ss_plugin_metric){"elapsed_ns", SS_PLUGIN_METRIC_TYPE_MONOTONIC,
                                        {.u64 = st->elapsed_ns}, SS_PLUGIN_METRIC_VALUE_TYPE_U64};
    st->metrics[2] = (ss_plugin_metric){"refusals", SS_PLUGIN_METRIC_TYPE_MONOTONIC,
                                        {.u64 = st->retries}, SS_PLUGIN_METRIC_VALUE_TYPE_U64};
    *n = 3;
    return st->metrics;
}

EXPORT void plugin_destroy(ss_plugin_t *s) {
    if (!s) return;
    stop(s);
    free(s);
}
