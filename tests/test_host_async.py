"""Async events and capture listening in the SDK's C host (``fp-host``).

Small C plugins compiled here exercise both capabilities the way libsinsp-hosted plugins do:

- ``AP``: an async plugin whose background threads emit events of two names through the
  handler it gets from ``set_async_event_handler`` (stopping and joining them when the handler
  is cleared, resuming where they left off when it is set again), with variants that emit an
  unlisted name and a malformed event (and report what the host wrote into ``err``), that
  flood the queue from inside ``set_async_event_handler``, that miss ``get_async_events`` or
  return an empty list; ``dump_state`` emits three events;
- ``ASRC``: a source plugin that is async too: every ``next_batch`` emits one async event,
  which the host delivers before the next batch, so both streams interleave exactly;
- ``LP``: a capture listening plugin subscribing routines in ``capture_open``: one that ends
  itself after K calls (and subscribes another one from the pool thread), one that runs until
  ``capture_close`` unsubscribes it while it is running, one that unsubscribes itself from
  inside its call, and optionally one left subscribed for the host to stop; with ``TABLES`` it
  also reads and writes the host's ``threads`` table in ``capture_open``.

No test guesses how long a plugin's threads or routines take: async tests wait until the host
has delivered the events they expect (``--async-until``, a minute at most), and ``LP``'s
``capture_close`` waits until its routines have run as far as the tests look.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from falco_plugin.host import host_binary, parse_json_lines, run_host
from tests.chost import REFERENCE, builder, compile_plugin

UINT64_MAX = 2**64 - 1


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.records = parse_json_lines(proc.stdout, strict=True)
        self.events = [r for r in self.records if "evtnum" in r]
        self.asyncs = [r for r in self.events if r.get("async")]
        self.summaries = {r["summary"]["plugin"]: r["summary"] for r in self.records
                          if "summary" in r}  # fmt: skip
        self.errors = [r["error"] for r in self.records if "error" in r]
        self.metrics = {
            r["metrics"]["plugin"]: {m["name"]: m["value"] for m in r["metrics"]["items"]}
            for r in self.records
            if "metrics" in r
        }
        self.tables = {r["table"]["name"]: r["table"] for r in self.records if "table" in r}

    @property
    def message(self) -> str:
        return "\n".join(e["message"] for e in self.errors)


def run_json(*args: str, timeout: float = 90) -> Run:
    return Run(run_host(["run", "--json", *args], timeout=timeout))


def wait_for(n: int) -> list[str]:
    """Host options that keep delivering async events after the capture until it has
    delivered ``n`` of them, for a minute at most: never a guess of how long they take."""
    return ["--async-wait", "60000", "--async-until", str(n)]


def data(record: dict[str, Any]) -> str:
    return bytes.fromhex(record["data_hex"]).decode()


@pytest.fixture(scope="session", autouse=True)
def _host() -> Path:
    return host_binary()


@pytest.fixture(scope="session")
def ref_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_plugin(REFERENCE, tmp_path_factory.mktemp("ref") / "libcountdown_ref.so")


# ----------------------------------------------------------------------------------------
# Shared C: framing an async event

ASYNC_EVENT_C = r"""
/* header, 3 u32 lengths, plugin id (0: the host fills it in), name, data */
__attribute__((unused))
static uint32_t make_async(uint8_t *buf, uint16_t type, uint64_t ts, uint64_t tid,
                           const char *name, const void *data, uint32_t dlen)
{
    uint32_t nl = (uint32_t)strlen(name) + 1, four = 4, zero = 0;
    uint32_t len = 26 + 12 + 4 + nl + dlen, np = 3;
    memcpy(buf, &ts, 8);
    memcpy(buf + 8, &tid, 8);
    memcpy(buf + 16, &len, 4);
    memcpy(buf + 20, &type, 2);
    memcpy(buf + 22, &np, 4);
    memcpy(buf + 26, &four, 4);
    memcpy(buf + 30, &nl, 4);
    memcpy(buf + 34, &dlen, 4);
    memcpy(buf + 38, &zero, 4);
    memcpy(buf + 42, name, nl);
    memcpy(buf + 42 + nl, data, dlen);
    return len;
}
"""

COMMON_C = (
    r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "fp_abi.h"

#define EXPORT __attribute__((visibility("default")))

__attribute__((unused))
static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}
"""
    + ASYNC_EVENT_C
)

# ----------------------------------------------------------------------------------------
# AP: an async plugin with background threads

AP_BODY = r"""
#ifndef THREADS
#define THREADS 2
#endif
#ifndef NEVENTS
#define NEVENTS 100
#endif
#ifndef SLOW_US
#define SLOW_US 0
#endif
#ifndef PNAME
#define PNAME "ap"
#endif

typedef struct ap ap;
typedef struct {
    ap *s;
    int idx;
    pthread_t th;
    uint64_t next; /* the next event number: kept across handler changes */
} worker;

struct ap {
    char err[1024];
    ss_plugin_owner_t *owner;
    ss_plugin_async_event_handler_t h;
    ss_plugin_log_fn_t log;
    worker w[THREADS];
    atomic_int stop;
    int running;
    int unlisted_done;
    uint64_t nevents;
    uint64_t sets, clears, dumps, flood_refused;
    atomic_ulong emit_failures;
    ss_plugin_metric m[5];
};

EXPORT const char *plugin_get_required_api_version(void) { return "3.10.0"; }
EXPORT const char *plugin_get_version(void) { return "0.1.0"; }
EXPORT const char *plugin_get_name(void) { return PNAME; }
EXPORT const char *plugin_get_description(void) { return "async test plugin"; }
EXPORT const char *plugin_get_contact(void) { return "nobody"; }
EXPORT const char *plugin_get_last_error(ss_plugin_t *s) { return ((ap *)s)->err; }

#ifndef NO_GET_EVENTS
EXPORT const char *plugin_get_async_events(void)
{
#ifdef EMPTY_EVENTS
    return "[]";
#else
    return "[\"alpha\", \"beta\"]";
#endif
}
#endif
#ifdef ASOURCES
EXPORT const char *plugin_get_async_event_sources(void) { return ASOURCES; }
#endif

EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    ap *s = calloc(1, sizeof *s);
    int i;
    s->log = in->log_fn;
    s->nevents = NEVENTS;
    for (i = 0; i < THREADS; i++) {
        s->w[i].s = s;
        s->w[i].idx = i;
    }
    *rc = SS_PLUGIN_SUCCESS;
    return s;
}

/* emits one event, retrying while the host's queue is full; the rc of the last try */
static ss_plugin_rc emit(ap *s, uint16_t type, uint64_t ts, uint64_t tid, const char *name,
                         const char *data, char *err)
{
    uint8_t buf[4096];
    make_async(buf, type, ts, tid, name, data, (uint32_t)strlen(data));
    for (;;) {
        ss_plugin_rc rc;
        err[0] = 0;
        rc = s->h(s->owner, (const ss_plugin_event *)buf, err);
        if (rc == SS_PLUGIN_SUCCESS || !strstr(err, "queue full") || atomic_load(&s->stop))
            return rc;
        sleep_us(1000);
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    ap *s = w->s;
    char err[1024], data[1200];
#ifdef UNLISTED
    if (w->idx == 0 && !s->unlisted_done) {
        ss_plugin_rc rc;
        s->unlisted_done = 1;
        rc = emit(s, 402, UINT64_MAX, 7, "gamma", "x", err);
        snprintf(data, sizeof data, "refused:%d:%s", (int)rc, err);
        emit(s, 402, UINT64_MAX, 7, "alpha", data, err);
        rc = emit(s, 322, UINT64_MAX, 7, "alpha", "x", err);
        snprintf(data, sizeof data, "refused:%d:%s", (int)rc, err);
        emit(s, 402, UINT64_MAX, 7, "alpha", data, err);
    }
#endif
    while (w->next < s->nevents && !atomic_load(&s->stop)) {
        uint64_t k = w->next;
        snprintf(data, sizeof data, "T%d:%llu", w->idx, (unsigned long long)k);
#ifdef NO_TID /* libsinsp refuses async events with a tid on a plugin source */
        const uint64_t tid = UINT64_MAX;
#else
        const uint64_t tid = 100 + (uint64_t)w->idx;
#endif
        if (emit(s, 402, k % 3 == 0 ? UINT64_MAX : 1000 + k, tid,
                 (k % 2) ? "beta" : "alpha", data, err) != SS_PLUGIN_SUCCESS) {
            if (atomic_load(&s->stop))
                break; /* retried until the handler was cleared: emit it again later */
            atomic_fetch_add(&s->emit_failures, 1);
        }
        w->next++;
        if (SLOW_US)
            sleep_us(SLOW_US);
    }
    return NULL;
}

static void stop_workers(ap *s)
{
    int i;
    if (!s->running)
        return;
    atomic_store(&s->stop, 1);
    for (i = 0; i < THREADS; i++)
        pthread_join(s->w[i].th, NULL);
    s->running = 0;
}

EXPORT ss_plugin_rc plugin_set_async_event_handler(ss_plugin_t *st, ss_plugin_owner_t *owner,
                                                   const ss_plugin_async_event_handler_t h)
{
    ap *s = st;
    int i;
    stop_workers(s); /* the handler changes: the old one is not used after this returns */
    if (!h) {
        s->clears++;
        s->h = NULL;
        return SS_PLUGIN_SUCCESS;
    }
    s->sets++;
    s->owner = owner;
    s->h = h;
#ifdef FLOOD
    if (s->sets == 1) {
        char err[1024], data[32], line[1100];
        uint8_t buf[256];
        int k;
        err[0] = 0;
        for (k = 0; k < FLOOD; k++) {
            snprintf(data, sizeof data, "F%d", k);
            make_async(buf, 402, UINT64_MAX, 1, "alpha", data, (uint32_t)strlen(data));
            if (h(owner, (const ss_plugin_event *)buf, err) != SS_PLUGIN_SUCCESS) {
                s->flood_refused++;
                snprintf(line, sizeof line, "flood refused: %s", err);
                s->log(owner, NULL, line, SS_PLUGIN_LOG_SEV_INFO);
            }
        }
    }
#endif
    atomic_store(&s->stop, 0);
    for (i = 0; i < THREADS; i++)
        if (pthread_create(&s->w[i].th, NULL, work, &s->w[i]) != 0) {
            snprintf(s->err, sizeof s->err, "pthread_create failed");
            return SS_PLUGIN_FAILURE;
        }
    s->running = 1;
    return SS_PLUGIN_SUCCESS;
}

#ifndef NO_DUMP
EXPORT ss_plugin_rc plugin_dump_state(ss_plugin_t *st, ss_plugin_owner_t *owner,
                                      const ss_plugin_async_event_handler_t h)
{
    ap *s = st;
    char err[1024], data[32];
    uint8_t buf[256];
    int k;
    s->dumps++;
    for (k = 0; k < 3; k++) {
        snprintf(data, sizeof data, "dump-%d", k);
        make_async(buf, 402, 5000 + (uint64_t)k, 9, "beta", data, (uint32_t)strlen(data));
        err[0] = 0;
        if (h(owner, (const ss_plugin_event *)buf, err) != SS_PLUGIN_SUCCESS) {
            snprintf(s->err, sizeof s->err, "dump handler refused: %.900s", err);
            return SS_PLUGIN_FAILURE;
        }
    }
    return SS_PLUGIN_SUCCESS;
}
#endif

EXPORT ss_plugin_metric *plugin_get_metrics(ss_plugin_t *st, uint32_t *n)
{
    ap *s = st;
    const char *names[] = {"sets", "clears", "dumps", "emit_failures", "flood_refused"};
    uint64_t v[] = {s->sets, s->clears, s->dumps, atomic_load(&s->emit_failures),
                    s->flood_refused};
    int i;
    for (i = 0; i < 5; i++) {
        s->m[i].name = names[i];
        s->m[i].type = SS_PLUGIN_METRIC_TYPE_MONOTONIC;
        s->m[i].value_type = SS_PLUGIN_METRIC_VALUE_TYPE_U64;
        s->m[i].value.u64 = v[i];
    }
    *n = 5;
    return s->m;
}

EXPORT void plugin_destroy(ss_plugin_t *st)
{
    stop_workers(st);
    free(st);
}
"""
AP = COMMON_C + AP_BODY

# ----------------------------------------------------------------------------------------
# ASRC: a source plugin that emits one async event per next_batch

ASRC_BODY = r"""
typedef struct {
    char err[1024];
    ss_plugin_owner_t *owner;
    ss_plugin_async_event_handler_t h;
    uint8_t evt[256];
    ss_plugin_event *evts[1];
} asrc;

typedef struct {
    uint64_t n, k;
} inst;

EXPORT const char *plugin_get_required_api_version(void) { return "3.0.0"; }
EXPORT const char *plugin_get_version(void) { return "0.1.0"; }
EXPORT const char *plugin_get_name(void) { return "asrc"; }
EXPORT const char *plugin_get_description(void) { return "source + async test plugin"; }
EXPORT const char *plugin_get_contact(void) { return "nobody"; }
EXPORT const char *plugin_get_last_error(ss_plugin_t *s) { return ((asrc *)s)->err; }
EXPORT uint32_t plugin_get_id(void) { return 990; }
EXPORT const char *plugin_get_event_source(void) { return "asrc"; }
EXPORT const char *plugin_get_async_events(void) { return "[\"tick\"]"; }

EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    (void)in;
    *rc = SS_PLUGIN_SUCCESS;
    return calloc(1, sizeof(asrc));
}

EXPORT void plugin_destroy(ss_plugin_t *s) { free(s); }

EXPORT ss_plugin_rc plugin_set_async_event_handler(ss_plugin_t *st, ss_plugin_owner_t *owner,
                                                   const ss_plugin_async_event_handler_t h)
{
    asrc *s = st;
    s->owner = owner;
    s->h = h;
    return SS_PLUGIN_SUCCESS;
}

EXPORT ss_instance_t *plugin_open(ss_plugin_t *s, const char *params, ss_plugin_rc *rc)
{
    inst *i = calloc(1, sizeof *i);
    (void)s;
    i->n = strtoull(params && params[0] ? params : "5", NULL, 10);
    *rc = SS_PLUGIN_SUCCESS;
    return i;
}

EXPORT void plugin_close(ss_plugin_t *s, ss_instance_t *h)
{
    (void)s;
    free(h);
}

EXPORT ss_plugin_rc plugin_next_batch(ss_plugin_t *st, ss_instance_t *h, uint32_t *nevts,
                                      ss_plugin_event ***evts)
{
    asrc *s = st;
    inst *i = h;
    char data[64], err[1024];
    uint8_t buf[256];
    uint32_t dl, len, four = 4, zero = 0, np = 2;
    uint16_t type = 322;
    uint64_t ts = 100 + i->k, tid = 0;
    if (i->k == i->n) {
        *nevts = 0;
        return SS_PLUGIN_EOF;
    }
    if (s->h) {
        dl = (uint32_t)snprintf(data, sizeof data, "tick-%llu", (unsigned long long)i->k);
        /* no thread: libsinsp refuses async events with a tid on a plugin source */
        make_async(buf, 402, 200 + i->k, (uint64_t)-1, "tick", data, dl);
        if (s->h(s->owner, (const ss_plugin_event *)buf, err) != SS_PLUGIN_SUCCESS) {
            snprintf(s->err, sizeof s->err, "tick refused: %.900s", err);
            return SS_PLUGIN_FAILURE;
        }
    }
    dl = (uint32_t)snprintf(data, sizeof data, "ev-%llu", (unsigned long long)i->k);
    len = 38 + dl;
    memcpy(s->evt, &ts, 8);
    memcpy(s->evt + 8, &tid, 8);
    memcpy(s->evt + 16, &len, 4);
    memcpy(s->evt + 20, &type, 2);
    memcpy(s->evt + 22, &np, 4);
    memcpy(s->evt + 26, &four, 4);
    memcpy(s->evt + 30, &dl, 4);
    memcpy(s->evt + 34, &zero, 4);
    memcpy(s->evt + 38, data, dl);
    s->evts[0] = (ss_plugin_event *)s->evt;
    *evts = s->evts;
    *nevts = 1;
    i->k++;
    return SS_PLUGIN_SUCCESS;
}
"""
ASRC = COMMON_C + ASRC_BODY

# ----------------------------------------------------------------------------------------
# LP: a capture listening plugin with routines

LP_BODY = r"""
#ifndef K
#define K 5
#endif

typedef struct {
    char err[1024];
    ss_plugin_log_fn_t log;
    ss_plugin_owner_t *owner;
    ss_plugin_routine_vtable vt;
    ss_plugin_routine_t *ra, *rb, *re, *rleave;
    ss_plugin_routine_t *_Atomic rd;
    atomic_ulong a_calls, b_calls, d_calls, e_calls, leave_calls;
    uint64_t opens, closes, b_after;
    int64_t unsub_b_rc, unsub_a_rc, bad_unsub_rc, self_unsub_rc, late_subscribe;
    int dummy;
#ifdef TABLES
    ss_plugin_table_t *threads;
    ss_plugin_table_field_t *f_comm, *f_mark;
#endif
    ss_plugin_metric m[14];
} lp;

EXPORT const char *plugin_get_required_api_version(void) { return "3.10.0"; }
EXPORT const char *plugin_get_version(void) { return "0.1.0"; }
EXPORT const char *plugin_get_name(void) { return "lp"; }
EXPORT const char *plugin_get_description(void) { return "capture listening test plugin"; }
EXPORT const char *plugin_get_contact(void) { return "nobody"; }
EXPORT const char *plugin_get_last_error(ss_plugin_t *s) { return ((lp *)s)->err; }
EXPORT void plugin_destroy(ss_plugin_t *s) { free(s); }

static void say(lp *s, const char *fmt, const char *arg)
{
    char line[1200];
    snprintf(line, sizeof line, fmt, arg ? arg : "(null)");
    s->log(s->owner, NULL, line, SS_PLUGIN_LOG_SEV_INFO);
}

#ifdef TABLES
EXPORT ss_plugin_rc plugin_parse_event(ss_plugin_t *s, const ss_plugin_event_input *e,
                                       const ss_plugin_event_parse_input *in)
{
    (void)s;
    (void)e;
    (void)in;
    return SS_PLUGIN_SUCCESS;
}
#endif

EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    lp *s = calloc(1, sizeof *s);
    s->log = in->log_fn;
    s->owner = in->owner;
    *rc = SS_PLUGIN_SUCCESS;
#ifdef TABLES
    s->threads = in->tables->get_table(in->owner, "threads", SS_PLUGIN_ST_INT64);
    if (s->threads) {
        s->f_comm = in->tables->fields_ext->get_table_field(s->threads, "comm",
                                                            SS_PLUGIN_ST_STRING);
        s->f_mark = in->tables->fields_ext->add_table_field(s->threads, "lp_mark",
                                                            SS_PLUGIN_ST_UINT64);
    }
    if (!s->threads || !s->f_comm || !s->f_mark) {
        snprintf(s->err, sizeof s->err, "threads table: %s",
                 in->get_owner_last_error(in->owner));
        *rc = SS_PLUGIN_FAILURE;
    }
#endif
    return s;
}

static ss_plugin_bool routine_e(ss_plugin_t *st, ss_plugin_routine_state_t *i)
{
    (void)i;
    atomic_fetch_add(&((lp *)st)->e_calls, 1);
    return 0;
}

static ss_plugin_bool routine_a(ss_plugin_t *st, ss_plugin_routine_state_t *i)
{
    lp *s = st;
    unsigned long n = atomic_fetch_add(&s->a_calls, 1) + 1;
    if (i != &s->a_calls)
        return 0;
    if (n == 1) /* a routine subscribed from a pool thread */
        s->re = s->vt.subscribe(s->owner, routine_e, NULL);
    sleep_us(1000);
    return n < K;
}

static ss_plugin_bool routine_b(ss_plugin_t *st, ss_plugin_routine_state_t *i)
{
    (void)i;
    atomic_fetch_add(&((lp *)st)->b_calls, 1);
    sleep_us(5000);
    return 1;
}

static ss_plugin_bool routine_d(ss_plugin_t *st, ss_plugin_routine_state_t *i)
{
    lp *s = st;
    (void)i;
    atomic_fetch_add(&s->d_calls, 1);
    while (!atomic_load(&s->rd)) /* subscribe may not have returned yet */
        sleep_us(100);
    s->self_unsub_rc = s->vt.unsubscribe(s->owner, atomic_load(&s->rd));
    return 1; /* unsubscribed: the host must not call it again */
}

__attribute__((unused))
static ss_plugin_bool routine_leave(ss_plugin_t *st, ss_plugin_routine_state_t *i)
{
    (void)i;
    atomic_fetch_add(&((lp *)st)->leave_calls, 1);
    sleep_us(2000);
    return 1;
}

EXPORT ss_plugin_rc plugin_capture_open(ss_plugin_t *st, const ss_plugin_capture_listen_input *in)
{
    lp *s = st;
    s->opens++;
    if (!in || !in->owner || !in->routine || !in->routine->subscribe ||
        !in->routine->unsubscribe || !in->table_reader_ext || !in->table_writer_ext ||
        !in->get_owner_last_error) {
        snprintf(s->err, sizeof s->err, "incomplete capture listen input");
        return SS_PLUGIN_FAILURE;
    }
#ifdef OPEN_FAIL
    snprintf(s->err, sizeof s->err, "capture_open refused on purpose");
    return SS_PLUGIN_FAILURE;
#endif
    s->owner = in->owner;
    s->vt = *in->routine;
#ifdef TABLES
    {
        ss_plugin_state_data key, val;
        ss_plugin_table_entry_t *e;
        key.s64 = 1;
        e = in->table_reader_ext->get_table_entry(s->threads, &key);
        if (!e) {
            snprintf(s->err, sizeof s->err, "no thread 1: %s",
                     in->get_owner_last_error(in->owner));
            return SS_PLUGIN_FAILURE;
        }
        if (in->table_reader_ext->read_entry_field(s->threads, e, s->f_comm, &val) ==
            SS_PLUGIN_SUCCESS)
            say(s, "thread 1 comm in capture_open: %s", val.str);
        val.u64 = 77;
        if (in->table_writer_ext->write_entry_field(s->threads, e, s->f_mark, &val) !=
            SS_PLUGIN_SUCCESS)
            say(s, "write failed: %s", in->get_owner_last_error(in->owner));
        in->table_reader_ext->release_table_entry(s->threads, e);
    }
#endif
    s->bad_unsub_rc = s->vt.unsubscribe(s->owner, &s->dummy);
    say(s, "owner error after a bad unsubscribe: %s", in->get_owner_last_error(in->owner));
    s->ra = s->vt.subscribe(s->owner, routine_a, &s->a_calls);
    s->rb = s->vt.subscribe(s->owner, routine_b, NULL);
    atomic_store(&s->rd, s->vt.subscribe(s->owner, routine_d, NULL));
#ifdef LEAVE
    s->rleave = s->vt.subscribe(s->owner, routine_leave, NULL);
#endif
    if (!s->ra || !s->rb || !atomic_load(&s->rd)) {
        snprintf(s->err, sizeof s->err, "subscribe failed: %s",
                 in->get_owner_last_error(in->owner));
        return SS_PLUGIN_FAILURE;
    }
    return SS_PLUGIN_SUCCESS;
}

/* Until the routines got where the tests look (a ended itself after K calls and subscribed
 * e, which ran; d ran; b ran twice), for a minute at most: no guess of how long they take. */
static void wait_for_routines(lp *s)
{
    int ms;
    for (ms = 0; ms < 60000; ms++) {
        if (atomic_load(&s->a_calls) >= K && atomic_load(&s->e_calls) >= 1 &&
            atomic_load(&s->d_calls) >= 1 && atomic_load(&s->b_calls) >= 2)
            return;
        sleep_us(1000);
    }
}

EXPORT ss_plugin_rc plugin_capture_close(ss_plugin_t *st, const ss_plugin_capture_listen_input *in)
{
    lp *s = st;
    unsigned long b;
    s->closes++;
    (void)in;
    wait_for_routines(s);
    s->unsub_b_rc = s->vt.unsubscribe(s->owner, s->rb); /* most likely while it runs */
    b = atomic_load(&s->b_calls);
    sleep_us(20000);
    s->b_after = atomic_load(&s->b_calls) - b;
    s->unsub_a_rc = s->vt.unsubscribe(s->owner, s->ra); /* it ended itself: still known */
    return SS_PLUGIN_SUCCESS;
}

EXPORT ss_plugin_metric *plugin_get_metrics(ss_plugin_t *st, uint32_t *n)
{
    lp *s = st;
    const char *names[] = {"a_calls",    "b_calls",    "d_calls",       "e_calls",
                           "leave_calls", "opens",     "closes",        "b_after",
                           "unsub_b_rc", "unsub_a_rc", "bad_unsub_rc",  "self_unsub_rc"};
    uint64_t v[] = {atomic_load(&s->a_calls), atomic_load(&s->b_calls),
                    atomic_load(&s->d_calls), atomic_load(&s->e_calls),
                    atomic_load(&s->leave_calls), s->opens, s->closes, s->b_after,
                    (uint64_t)s->unsub_b_rc, (uint64_t)s->unsub_a_rc,
                    (uint64_t)s->bad_unsub_rc, (uint64_t)s->self_unsub_rc};
    uint32_t i;
    for (i = 0; i < 12; i++) {
        s->m[i].name = names[i];
        s->m[i].type = SS_PLUGIN_METRIC_TYPE_MONOTONIC;
        s->m[i].value_type = SS_PLUGIN_METRIC_VALUE_TYPE_U64;
        s->m[i].value.u64 = v[i];
    }
    *n = 12;
    return s->m;
}
"""
LP = COMMON_C + LP_BODY


@pytest.fixture(scope="session")
def ap(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    return builder(tmp_path_factory, "ap", AP)


@pytest.fixture(scope="session")
def asrc_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return builder(tmp_path_factory, "asrc", ASRC)()


@pytest.fixture(scope="session")
def lp(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    return builder(tmp_path_factory, "lp", LP)


def per_thread(events: list[dict[str, Any]], tids: bool = True) -> dict[int, list[int]]:
    """The event numbers each emitting thread's events carry, in order of delivery."""
    seq: dict[int, list[int]] = {}
    for e in events:
        thread, k = data(e)[1:].split(":")
        seq.setdefault(int(thread), []).append(int(k))
        assert e["name"] == ("beta" if int(k) % 2 else "alpha")
        assert e["tid"] == (100 + int(thread) if tids else -1)
        if int(k) % 3:
            assert e["ts"] == 1000 + int(k)
        else:  # UINT64_MAX: stamped by the host when it took the event
            assert 1_500_000_000 * 10**9 < e["ts"] < UINT64_MAX
    return seq


# ----------------------------------------------------------------------------------------
# async events


def test_async_no_source_with_wait(ap: Callable[..., Path]) -> None:
    run = run_json(*wait_for(600), str(ap(THREADS=2, NEVENTS=300)))
    assert run.rc == 0, run.stderr + run.stdout
    assert len(run.asyncs) == 600
    assert per_thread(run.asyncs) == {0: list(range(300)), 1: list(range(300))}
    for e in run.asyncs:
        assert e["plugin"] == "ap" and e["type"] == 402
        assert e["source"] == "syscall" and e["plugin_id"] == 0
        assert "dump" not in e
    assert [e["evtnum"] for e in run.asyncs] == list(range(1, 601))
    summary = run.summaries["ap"]
    assert summary["async_events"] == 600 and summary["async_refused"] == 0
    assert summary["events"] == 0
    assert run.metrics["ap"] == {
        "sets": 1, "clears": 1, "dumps": 0, "emit_failures": 0, "flood_refused": 0,
    }  # fmt: skip


def test_async_until_ends_the_wait(ap: Callable[..., Path]) -> None:
    # a plugin that would emit for 100 s, a wait of 10 minutes: the run ends once 5 came
    so = ap(THREADS=1, NEVENTS=100_000, SLOW_US=1000)
    run = run_json("--async-wait", "600000", "--async-until", "5", str(so), timeout=90)
    assert run.rc == 0, run.stderr + run.stdout
    assert 5 <= len(run.asyncs) < 100_000
    assert per_thread(run.asyncs)[0] == list(range(len(run.asyncs)))
    proc = run_host(["run", "--async-until", "5", str(so)])
    assert proc.returncode == 2 and "--async-until needs --async-wait MS" in proc.stderr


def test_async_text_mode(ap: Callable[..., Path]) -> None:
    proc = run_host(["run", *wait_for(3), str(ap(THREADS=1, NEVENTS=3))], timeout=90)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if " syscall async " in line]
    assert len(lines) == 3
    assert lines[0].startswith("1 ") and " syscall async ap alpha datalen=4 data=T0:0" in lines[0]
    assert "3 async events, 0 async refused" in proc.stdout


def test_async_unlisted_name_and_bad_event_refused(ap: Callable[..., Path]) -> None:
    run = run_json(*wait_for(6), str(ap(THREADS=1, NEVENTS=4, UNLISTED=True)))
    assert run.rc == 0, run.stderr + run.stdout
    refused = [data(e) for e in run.asyncs if data(e).startswith("refused:")]
    assert len(refused) == 2
    assert refused[0].startswith("refused:1:async event 'gamma' is not one of the plugin's")
    assert "get_async_events" in refused[0]
    assert refused[1].startswith("refused:1:event type 322 is not an async event")
    normal = [e for e in run.asyncs if not data(e).startswith("refused:")]
    assert per_thread(normal) == {0: [0, 1, 2, 3]}
    summary = run.summaries["ap"]
    assert summary["async_refused"] == 2 and summary["async_events"] == 6
    assert "async event refused" in run.stderr and "'gamma'" in run.stderr


def test_async_reset_loses_and_duplicates_nothing(ap: Callable[..., Path]) -> None:
    # the threads are still emitting when the handler is cleared and set again
    run = run_json("--async-reset", *wait_for(800), str(ap(THREADS=2, NEVENTS=400, SLOW_US=200)))
    assert run.rc == 0, run.stderr + run.stdout
    assert per_thread(run.asyncs) == {0: list(range(400)), 1: list(range(400))}
    assert run.metrics["ap"]["sets"] == 2 and run.metrics["ap"]["clears"] == 2
    assert run.summaries["ap"]["async_refused"] == 0


def test_async_cleared_right_away(ap: Callable[..., Path]) -> None:
    # without --async-wait the handler is cleared right away: whatever was emitted before is
    # delivered, nothing is lost in between (emitted = delivered, refusals retried)
    run = run_json(str(ap(THREADS=2, NEVENTS=5000)))
    assert run.rc == 0, run.stderr + run.stdout
    seq = per_thread(run.asyncs)
    for thread, ks in seq.items():
        assert ks == list(range(len(ks))), thread
    assert run.summaries["ap"]["async_events"] == len(run.asyncs)


def test_async_interleaved_with_the_source(asrc_so: Path) -> None:
    run = run_json(str(asrc_so), "--open-params", "6")
    assert run.rc == 0, run.stderr + run.stdout
    seq = [(e.get("async", False), e["evtnum"]) for e in run.events]
    assert seq == [(i % 2 == 1, i + 1) for i in range(12)]
    for k in range(6):
        src, tick = run.events[2 * k], run.events[2 * k + 1]
        assert src["payload_hex"] == f"ev-{k}".encode().hex()
        assert tick["name"] == "tick" and data(tick) == f"tick-{k}"
        assert tick["source"] == "asrc" and tick["plugin_id"] == 990 and tick["ts"] == 200 + k
    summary = run.summaries["asrc"]
    assert summary["events"] == 6 and summary["async_events"] == 6


def test_async_plugin_delivers_to_its_source(
    ap: Callable[..., Path], asrc_so: Path, ref_so: Path
) -> None:
    so = ap(THREADS=1, NEVENTS=50, SLOW_US=100, ASOURCES='["asrc"]', NO_TID=1)
    run = run_json(*wait_for(40 + 50), str(ref_so), "--open-params", "20",
                   str(asrc_so), "--open-params", "40", str(so))  # fmt: skip
    assert run.rc == 0, run.stderr + run.stdout
    mine = [e for e in run.asyncs if e["plugin"] == "ap"]
    assert per_thread(mine, tids=False) == {0: list(range(50))}
    assert {(e["source"], e["plugin_id"]) for e in mine} == {("asrc", 990)}
    # one stream: the source's events, its ticks and ap's events share the numbers
    stream = [e["evtnum"] for e in run.events if e["source"] == "asrc"]
    assert stream == list(range(1, 40 + 40 + 50 + 1))
    assert [e["evtnum"] for e in run.events if e["source"] == "countdown_ref"] == list(range(1, 21))
    assert run.summaries["ap"]["async_events"] == 50


def test_async_sources_matching_no_capture(ap: Callable[..., Path], ref_so: Path) -> None:
    so = ap(THREADS=1, NEVENTS=5, ASOURCES='["nothing_here"]')
    run = run_json(*wait_for(5), str(ref_so), "--open-params", "3", str(so))
    assert run.rc == 0, run.stderr + run.stdout
    assert {(e["source"], e["plugin_id"]) for e in run.asyncs} == {("syscall", 0)}
    assert len(run.asyncs) == 5
    assert "no capture of this run has one of its async event sources" in run.stderr


def test_async_queue_full(ap: Callable[..., Path]) -> None:
    # 4100 events from inside set_async_event_handler, before any delivery: 4096 fit
    run = run_json(str(ap(THREADS=1, NEVENTS=0, FLOOD=4100)))
    assert run.rc == 0, run.stderr + run.stdout
    assert run.metrics["ap"]["flood_refused"] == 4
    assert run.summaries["ap"]["async_refused"] == 4
    assert run.summaries["ap"]["async_events"] == 4096 == len(run.asyncs)
    assert [data(e) for e in run.asyncs[:2]] == ["F0", "F1"] and data(run.asyncs[-1]) == "F4095"
    assert "flood refused: async event queue full (4096 events" in run.stderr


def test_dump_state(ap: Callable[..., Path]) -> None:
    run = run_json("--dump-state", *wait_for(2), str(ap(THREADS=1, NEVENTS=2)))
    assert run.rc == 0, run.stderr + run.stdout
    dumps = [e for e in run.asyncs if e.get("dump")]
    assert [data(e) for e in dumps] == ["dump-0", "dump-1", "dump-2"]
    assert [e["ts"] for e in dumps] == [5000, 5001, 5002]
    assert {e["name"] for e in dumps} == {"beta"} and {e["tid"] for e in dumps} == {9}
    assert run.asyncs[-3:] == dumps  # after the capture's own events
    assert [e["evtnum"] for e in run.asyncs] == [1, 2, 3, 4, 5]
    summary = run.summaries["ap"]
    assert summary["dump_events"] == 3 and summary["async_events"] == 2
    assert run.metrics["ap"]["dumps"] == 1


def test_dump_state_missing_is_a_warning(ap: Callable[..., Path]) -> None:
    run = run_json("--dump-state", str(ap(THREADS=1, NEVENTS=1, NO_DUMP=True)))
    assert run.rc == 0, run.stderr + run.stdout
    assert "does not export plugin_dump_state" in run.stderr


@pytest.mark.parametrize(
    ("defines", "expected"),
    [
        ({"NO_GET_EVENTS": True},
         "incomplete async events capability: missing plugin_get_async_events"),
        ({"EMPTY_EVENTS": True}, "get_async_events returned an empty list"),
    ],
)  # fmt: skip
def test_async_load_errors(ap: Callable[..., Path], defines: dict[str, Any], expected: str) -> None:
    run = run_json(str(ap(**defines)))
    assert run.rc == 1
    assert run.errors and run.errors[0]["stage"] == "load"
    assert expected in run.message


def test_info_async(ap: Callable[..., Path]) -> None:
    proc = run_host(["info", "--json", str(ap(ASOURCES='["syscall", "asrc"]'))])
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["capabilities"] == ["async"]
    assert info["async_events"] == ["alpha", "beta"]
    assert info["async_event_sources"] == ["syscall", "asrc"]
    proc = run_host(["info", "--json", str(ap())])
    assert json.loads(proc.stdout)["async_event_sources"] is None
    text = run_host(["info", str(ap())]).stdout
    assert "Async Events" in text and "Async events: alpha, beta" in text
    assert "Dump state: yes" in text


# ----------------------------------------------------------------------------------------
# capture listening


def test_listen_routines(lp: Callable[..., Path]) -> None:
    run = run_json(str(lp(K=5)))  # capture_close waits for the routines to get there
    assert run.rc == 0, run.stderr + run.stdout
    m = run.metrics["lp"]
    assert m["opens"] == 1 and m["closes"] == 1
    assert m["a_calls"] == 5  # returned false on its 5th call
    assert m["e_calls"] == 1  # subscribed from a pool thread, ended itself
    assert m["d_calls"] == 1 and m["self_unsub_rc"] == 0  # unsubscribed itself
    assert m["b_calls"] >= 2
    assert m["unsub_b_rc"] == 0 and m["b_after"] == 0  # no call after unsubscribe returned
    assert m["unsub_a_rc"] == 0
    assert m["bad_unsub_rc"] == 1  # FAILURE for a handle the host never gave
    assert "is not a routine that this plugin state subscribed" in run.stderr
    calls = m["a_calls"] + m["b_calls"] + m["d_calls"] + m["e_calls"]
    assert run.summaries["lp"]["routine_calls"] == calls
    assert "still subscribed" not in run.stderr


@pytest.mark.parametrize("threads", ["1", "4"])
def test_listen_routine_threads(lp: Callable[..., Path], threads: str) -> None:
    run = run_json("--routine-threads", threads, str(lp(K=3)))
    assert run.rc == 0, run.stderr + run.stdout
    m = run.metrics["lp"]
    assert m["a_calls"] == 3 and m["e_calls"] == 1 and m["b_after"] == 0


def test_listen_leftover_routine_stopped(lp: Callable[..., Path], ref_so: Path) -> None:
    run = run_json(str(ref_so), "--open-params", "5", str(lp(K=2, LEAVE=True)))
    assert run.rc == 0, run.stderr + run.stdout
    assert "a routine was still subscribed when capture_close returned" in run.stderr
    assert run.summaries["countdown_ref"]["events"] == 5


def test_listen_capture_open_failure(lp: Callable[..., Path]) -> None:
    run = run_json(str(lp(OPEN_FAIL=True)))
    assert run.rc == 1
    assert run.errors[0]["stage"] == "capture_open"
    assert "capture_open refused on purpose" in run.message


def test_listen_tables_in_capture_open(lp: Callable[..., Path], ref_so: Path) -> None:
    run = run_json("--dump-table", "threads", str(ref_so), "--open-params", "2",
                   str(lp(TABLES=True)))  # fmt: skip
    assert run.rc == 0, run.stderr + run.stdout
    assert "thread 1 comm in capture_open:" in run.stderr
    entries = {e["key"]: e["fields"] for e in run.tables["threads"]["entries"]}
    assert entries[1]["lp_mark"] == 77


def test_listen_half_capability(tmp_path: Path) -> None:
    src = tmp_path / "half.c"
    src.write_text(COMMON_C + r"""
EXPORT const char *plugin_get_required_api_version(void) { return "3.10.0"; }
EXPORT const char *plugin_get_version(void) { return "0.1.0"; }
EXPORT const char *plugin_get_name(void) { return "half"; }
EXPORT const char *plugin_get_description(void) { return "half"; }
EXPORT const char *plugin_get_contact(void) { return "nobody"; }
EXPORT const char *plugin_get_last_error(ss_plugin_t *s) { (void)s; return ""; }
EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    (void)in;
    *rc = SS_PLUGIN_SUCCESS;
    return calloc(1, 1);
}
EXPORT void plugin_destroy(ss_plugin_t *s) { free(s); }
EXPORT ss_plugin_rc plugin_capture_open(ss_plugin_t *s, const ss_plugin_capture_listen_input *in)
{
    (void)s;
    (void)in;
    return SS_PLUGIN_SUCCESS;
}
""")  # fmt: skip
    so = compile_plugin(src, tmp_path / "libhalf.so")
    run = run_json(str(so))
    assert run.rc == 1
    assert "incomplete capture listening capability: missing plugin_capture_close" in run.message


def test_info_listen(lp: Callable[..., Path]) -> None:
    info = json.loads(run_host(["info", "--json", str(lp())]).stdout)
    assert info["capabilities"] == ["listen"]
    assert info["async_events"] is None and info["async_event_sources"] is None
    assert "Capture Listening" in run_host(["info", str(lp())]).stdout


def test_async_and_listen_with_cycles(ap: Callable[..., Path], lp: Callable[..., Path]) -> None:
    run = Run(run_host(["run", "--json", "--cycles", "2", "--reload", *wait_for(10),
                        str(ap(THREADS=1, NEVENTS=10)), str(lp(K=2))], timeout=180))  # fmt: skip
    assert run.rc == 0, run.stderr + run.stdout
    assert len(run.asyncs) == 20
    assert [r["summary"]["cycle"] for r in run.records if "summary" in r] == [1, 1, 2, 2]
