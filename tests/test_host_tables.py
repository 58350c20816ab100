"""State tables and the parse capability in the SDK's C host (``fp-host``).

Small C plugins compiled here use the tables API the way libsinsp-hosted plugins do: a
parse+extract plugin (``TP``) that imports the host's ``threads`` table, adds dynamic fields
and uses the nested ``file_descriptors`` tables; a plugin exporting its own table (``EXP``)
and one importing it (``IMP``). The events come from the C reference source plugin.
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


@pytest.fixture(scope="session", autouse=True)
def _host() -> Path:
    return host_binary()


@pytest.fixture(scope="session")
def ref_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_plugin(REFERENCE, tmp_path_factory.mktemp("ref") / "libcountdown_ref.so")


@pytest.fixture(scope="session")
def ref2_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_plugin(
        REFERENCE, tmp_path_factory.mktemp("ref2") / "libcountdown_ref2.so",
        '-DCR_NAME="countdown_ref2"', "-DCR_ID=997", '-DCR_SOURCE="countdown_ref2"',
    )  # fmt: skip


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.records = parse_json_lines(proc.stdout, strict=True)
        self.events = [r for r in self.records if "evtnum" in r]
        self.summaries = {r["summary"]["plugin"]: r["summary"] for r in self.records
                          if "summary" in r}  # fmt: skip
        self.errors = [r["error"] for r in self.records if "error" in r]
        self.tables = {r["table"]["name"]: r["table"] for r in self.records if "table" in r}

    @property
    def message(self) -> str:
        return "\n".join(e["message"] for e in self.errors)

    def field(self, name: str) -> list[Any]:
        return [e["fields"][name] for e in self.events]


def run_json(*args: str) -> Run:
    return Run(run_host(["run", "--json", *args]))


# ----------------------------------------------------------------------------------------
# TP: parses events and extracts fields through the host's threads table

TP = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fp_abi.h"

#define EXPORT __attribute__((visibility("default")))
#ifndef BEHAVIOUR
#define BEHAVIOUR 0
#endif

enum { F_COUNTER, F_COMM, F_NOTE, F_NFDS, F_FDNAME, F_FDCUSTOM, F_NTHREADS, F_LOOKUP_ERROR };

typedef struct {
    char err[512];
    ss_plugin_owner_t *owner;
    ss_plugin_log_fn_t log;
    ss_plugin_table_t *threads;
    ss_plugin_table_field_t *f_comm, *f_fds, *f_counter, *f_note;
    ss_plugin_table_field_t *f_fd_name, *f_fd_type, *f_fd_custom;
    char lookup_error[512];
    uint64_t u64;
    char str[512];
    const char *strp;
} tp;

#define FAIL(...)                                         \
    do {                                                  \
        snprintf(s->err, sizeof s->err, __VA_ARGS__);     \
        return s;                                         \
    } while (0)

EXPORT const char *plugin_get_required_api_version(void) { return "3.6.0"; }
EXPORT const char *plugin_get_version(void) { return "0.1.0"; }
EXPORT const char *plugin_get_name(void) { return "tp"; }
EXPORT const char *plugin_get_description(void) { return "threads table user"; }
EXPORT const char *plugin_get_contact(void) { return "nobody"; }
EXPORT const char *plugin_get_last_error(ss_plugin_t *s) { return ((tp *)s)->err; }
EXPORT void plugin_destroy(ss_plugin_t *s) { free(s); }

#ifdef PSOURCES
EXPORT const char *plugin_get_parse_event_sources(void) { return PSOURCES; }
#endif
#ifdef PTYPE
static uint16_t k_ptypes[] = {PTYPE};
EXPORT uint16_t *plugin_get_parse_event_types(uint32_t *n, ss_plugin_t *s)
{
    (void)s;
    *n = 1;
    return k_ptypes;
}
#endif

static void say(tp *s, const char *what, const void *r)
{
    const char *e = "";
    char line[768];
    if (!r) {
        ss_plugin_owner_t *o = s->owner;
        (void)o;
    }
    snprintf(line, sizeof line, "check %s: %s", what, r ? "ok" : "NULL");
    (void)e;
    s->log(s->owner, NULL, line, SS_PLUGIN_LOG_SEV_INFO);
}

EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    tp *s = calloc(1, sizeof *s);
    const ss_plugin_init_tables_input *t = in->tables;
    ss_plugin_table_info *ti;
    const ss_plugin_table_input *h;
    ss_plugin_table_entry_t *tmp;
    ss_plugin_state_data d;
    uint32_t n = 0, i;
    int listed = 0;

    *rc = SS_PLUGIN_FAILURE;
    s->owner = in->owner;
    s->log = in->log_fn;
    if (!t || !t->fields_ext || !t->reader_ext || !t->writer_ext)
        FAIL("incomplete tables input");
    if (t->fields.get_table_field != t->fields_ext->get_table_field ||
        t->fields.add_table_field != t->fields_ext->add_table_field ||
        t->fields.list_table_fields != t->fields_ext->list_table_fields)
        FAIL("the deprecated fields vtable differs from fields_ext");
    ti = t->list_tables(in->owner, &n);
    for (i = 0; ti && i < n; i++)
        if (!strcmp(ti[i].name, "threads") && ti[i].key_type == SS_PLUGIN_ST_INT64)
            listed = 1;
    if (!listed)
        FAIL("threads is not listed");
    if (t->get_table(in->owner, "no_such_table", SS_PLUGIN_ST_INT64) != NULL)
        FAIL("an unknown table was found");
#if BEHAVIOUR == 8
    if (t->get_table(s, "threads", SS_PLUGIN_ST_INT64) != NULL)
        FAIL("get_table accepted a wrong owner");
#endif
#if BEHAVIOUR == 1
    s->threads = t->get_table(in->owner, "threads", SS_PLUGIN_ST_INT32);
    if (!s->threads)
        FAIL("get_table(threads, int32) failed: %s", in->get_owner_last_error(in->owner));
#endif
    s->threads = t->get_table(in->owner, "threads", SS_PLUGIN_ST_INT64);
    if (!s->threads)
        FAIL("no threads table: %s", in->get_owner_last_error(in->owner));
    if (t->get_table(in->owner, "threads", SS_PLUGIN_ST_INT64) != s->threads)
        FAIL("get_table gave another handle the second time");
    h = s->threads; /* every handle is an ss_plugin_table_input */
    if (h->key_type != SS_PLUGIN_ST_INT64 || strcmp(h->name, "threads") ||
        h->reader_ext->get_table_entry != t->reader_ext->get_table_entry)
        FAIL("the handle is not an ss_plugin_table_input");
    s->f_comm = t->fields_ext->get_table_field(s->threads, "comm", SS_PLUGIN_ST_STRING);
    s->f_fds = t->fields_ext->get_table_field(s->threads, "file_descriptors", SS_PLUGIN_ST_TABLE);
    s->f_counter = t->fields_ext->add_table_field(s->threads, "tp_counter", SS_PLUGIN_ST_UINT64);
    s->f_note = t->fields_ext->add_table_field(s->threads, "tp_note", SS_PLUGIN_ST_STRING);
    if (!s->f_comm || !s->f_fds || !s->f_counter || !s->f_note)
        FAIL("threads fields: %s", in->get_owner_last_error(in->owner));
    if (t->fields_ext->add_table_field(s->threads, "tp_counter", SS_PLUGIN_ST_UINT64) !=
        s->f_counter)
        FAIL("adding the same dynamic field again gave another field");
#if BEHAVIOUR == 2
    {
        static const struct { const char *name; ss_plugin_state_type type; int add; } k[] = {
            {"tp_counter", SS_PLUGIN_ST_STRING, 1}, {"comm", SS_PLUGIN_ST_STRING, 1},
            {"tp_sub", SS_PLUGIN_ST_TABLE, 1},      {"comm", SS_PLUGIN_ST_UINT64, 0},
            {"no_such_field", SS_PLUGIN_ST_UINT64, 0}, {"pid", SS_PLUGIN_ST_INT64, 0},
            {"uid", SS_PLUGIN_ST_UINT32, 0}};
        for (i = 0; i < sizeof k / sizeof k[0]; i++) {
            void *r = k[i].add
                          ? t->fields_ext->add_table_field(s->threads, k[i].name, k[i].type)
                          : t->fields_ext->get_table_field(s->threads, k[i].name, k[i].type);
            char line[768];
            snprintf(line, sizeof line, "check %s %s: %s", k[i].add ? "add" : "get", k[i].name,
                     r ? "ok" : in->get_owner_last_error(in->owner));
            in->log_fn(in->owner, NULL, line, SS_PLUGIN_LOG_SEV_INFO);
        }
    }
#endif
    /* the nested table's fields, through a temporary entry */
    tmp = t->writer_ext->create_table_entry(s->threads);
    if (!tmp)
        FAIL("create_table_entry: %s", in->get_owner_last_error(in->owner));
    memset(&d, 0, sizeof d);
    if (t->reader_ext->read_entry_field(s->threads, tmp, s->f_fds, &d) != SS_PLUGIN_SUCCESS ||
        !d.table) {
        t->writer_ext->destroy_table_entry(s->threads, tmp);
        FAIL("read file_descriptors: %s", in->get_owner_last_error(in->owner));
    }
    h = d.table;
    if (h->key_type != SS_PLUGIN_ST_INT64 || strcmp(h->name, "file_descriptors"))
        FAIL("the nested table is not an ss_plugin_table_input");
    s->f_fd_name = t->fields_ext->get_table_field(d.table, "name", SS_PLUGIN_ST_STRING);
    s->f_fd_type = t->fields_ext->get_table_field(d.table, "type", SS_PLUGIN_ST_UINT8);
    s->f_fd_custom = t->fields_ext->add_table_field(d.table, "tp_custom", SS_PLUGIN_ST_STRING);
    t->writer_ext->destroy_table_entry(s->threads, tmp);
    if (!s->f_fd_name || !s->f_fd_type || !s->f_fd_custom)
        FAIL("fd fields: %s", in->get_owner_last_error(in->owner));
    say(s, "init", s);
    *rc = SS_PLUGIN_SUCCESS;
    return s;
}

static ss_plugin_table_entry_t *thread_of(tp *s, const ss_plugin_event_input *ev,
                                          ss_plugin_table_reader_vtable_ext *r,
                                          const char *(*last)(ss_plugin_owner_t *),
                                          ss_plugin_owner_t *o)
{
    ss_plugin_state_data key;
    ss_plugin_table_entry_t *e;
    key.s64 = (int64_t)ev->evt->tid;
    e = r->get_table_entry(s->threads, &key);
    if (!e)
        snprintf(s->lookup_error, sizeof s->lookup_error, "tid %lld: %s",
                 (long long)key.s64, last(o) ? last(o) : "(no error)");
    return e;
}

/* Adds two threads with one fd (event 1), erases one (event 2), clears the fds of the
 * other (event 4). */
static ss_plugin_rc add_threads(tp *s, const ss_plugin_event_parse_input *in, uint64_t evtnum)
{
    ss_plugin_table_reader_vtable_ext *r = in->table_reader_ext;
    ss_plugin_table_writer_vtable_ext *w = in->table_writer_ext;
    ss_plugin_state_data key, d;
    if (evtnum == 1) {
        int64_t tids[2] = {4242, 4243};
        int k;
        for (k = 0; k < 2; k++) {
            ss_plugin_table_entry_t *e = w->create_table_entry(s->threads), *added, *fde, *fda;
            if (!e)
                return SS_PLUGIN_FAILURE;
            d.str = "newthread";
            w->write_entry_field(s->threads, e, s->f_comm, &d);
            key.s64 = tids[k];
            added = w->add_table_entry(s->threads, &key, e);
            if (!added)
                return SS_PLUGIN_FAILURE;
            if (r->read_entry_field(s->threads, added, s->f_fds, &d) != SS_PLUGIN_SUCCESS)
                return SS_PLUGIN_FAILURE;
            fde = w->create_table_entry(d.table);
            key.s64 = 5;
            fda = fde ? w->add_table_entry(d.table, &key, fde) : NULL;
            if (!fda)
                return SS_PLUGIN_FAILURE;
            {
                ss_plugin_state_data v;
                v.str = "/new";
                w->write_entry_field(d.table, fda, s->f_fd_name, &v);
                v.u8 = 7;
                w->write_entry_field(d.table, fda, s->f_fd_type, &v);
            }
            r->release_table_entry(d.table, fda);
            r->release_table_entry(s->threads, added);
        }
    } else if (evtnum == 2) {
        key.s64 = 4243;
        if (w->erase_table_entry(s->threads, &key) != SS_PLUGIN_SUCCESS)
            return SS_PLUGIN_FAILURE;
        if (w->erase_table_entry(s->threads, &key) == SS_PLUGIN_SUCCESS)
            return SS_PLUGIN_FAILURE; /* a second erase must fail */
    } else if (evtnum == 4) {
        ss_plugin_table_entry_t *e;
        key.s64 = 4242;
        e = r->get_table_entry(s->threads, &key);
        if (!e || r->read_entry_field(s->threads, e, s->f_fds, &d) != SS_PLUGIN_SUCCESS ||
            w->clear_table(d.table) != SS_PLUGIN_SUCCESS || r->get_table_size(d.table) != 0)
            return SS_PLUGIN_FAILURE;
        r->release_table_entry(s->threads, e);
    }
    return SS_PLUGIN_SUCCESS;
}

EXPORT ss_plugin_rc plugin_parse_event(ss_plugin_t *st, const ss_plugin_event_input *ev,
                                       const ss_plugin_event_parse_input *in)
{
    tp *s = st;
    ss_plugin_table_reader_vtable_ext *r = in->table_reader_ext;
    ss_plugin_table_writer_vtable_ext *w = in->table_writer_ext;
    ss_plugin_table_entry_t *e, *fd;
    ss_plugin_state_data d, key;
    char note[64];

    if (in->table_reader.get_table_entry != r->get_table_entry ||
        in->table_writer.write_entry_field != w->write_entry_field) {
        snprintf(s->err, sizeof s->err, "deprecated parse vtables differ from the _ext ones");
        return SS_PLUGIN_FAILURE;
    }
#if BEHAVIOUR == 6
    snprintf(s->err, sizeof s->err, "tp parse failed on event %llu",
             (unsigned long long)ev->evtnum);
    return SS_PLUGIN_FAILURE;
#endif
#if BEHAVIOUR == 5
    r->get_table_size((ss_plugin_table_t *)s->str);
    return SS_PLUGIN_SUCCESS;
#endif
    if (add_threads(s, in, ev->evtnum) != SS_PLUGIN_SUCCESS) {
        snprintf(s->err, sizeof s->err, "adding threads failed: %s",
                 in->get_owner_last_error(in->owner));
        return SS_PLUGIN_FAILURE;
    }
    e = thread_of(s, ev, r, in->get_owner_last_error, in->owner);
    if (!e)
        return SS_PLUGIN_SUCCESS; /* no thread for this event */
    if (r->read_entry_field(s->threads, e, s->f_counter, &d) != SS_PLUGIN_SUCCESS)
        return SS_PLUGIN_FAILURE;
    d.u64++;
    w->write_entry_field(s->threads, e, s->f_counter, &d);
    snprintf(note, sizeof note, "event %llu", (unsigned long long)ev->evtnum);
    d.str = note;
    w->write_entry_field(s->threads, e, s->f_note, &d);
    /* the nested fd table: mark fd 3 */
    if (r->read_entry_field(s->threads, e, s->f_fds, &d) == SS_PLUGIN_SUCCESS) {
        ss_plugin_table_t *fds = d.table;
        key.s64 = 3;
        fd = r->get_table_entry(fds, &key);
        if (fd) {
            snprintf(note, sizeof note, "touched %llu", (unsigned long long)ev->evtnum);
            d.str = note;
            w->write_entry_field(fds, fd, s->f_fd_custom, &d);
            r->release_table_entry(fds, fd);
        }
    }
#if BEHAVIOUR == 7
    r->read_entry_field(s->threads, e, s->f_fd_name, &d); /* a field of another table */
#endif
#if BEHAVIOUR != 3
    r->release_table_entry(s->threads, e);
#endif
#if BEHAVIOUR == 4
    r->read_entry_field(s->threads, e, s->f_counter, &d); /* after release */
#endif
    return SS_PLUGIN_SUCCESS;
}

EXPORT const char *plugin_get_fields(void)
{
    return "["
           "{\"type\": \"uint64\", \"name\": \"tp.counter\", \"desc\": \"parse calls\"},"
           "{\"type\": \"string\", \"name\": \"tp.comm\", \"desc\": \"comm\"},"
           "{\"type\": \"string\", \"name\": \"tp.note\", \"desc\": \"note\"},"
           "{\"type\": \"uint64\", \"name\": \"tp.nfds\", \"desc\": \"fds\"},"
           "{\"type\": \"string\", \"name\": \"tp.fdname\", \"desc\": \"fd name\","
           " \"arg\": {\"isRequired\": true, \"isIndex\": true}},"
           "{\"type\": \"string\", \"name\": \"tp.fdcustom\", \"desc\": \"fd custom\","
           " \"arg\": {\"isRequired\": true, \"isIndex\": true}},"
           "{\"type\": \"uint64\", \"name\": \"tp.nthreads\", \"desc\": \"threads\"},"
           "{\"type\": \"string\", \"name\": \"tp.lookup_error\", \"desc\": \"last error\"}"
           "]";
}

static ss_plugin_bool count_cb(ss_plugin_table_iterator_state_t *st, ss_plugin_table_entry_t *e)
{
    (void)e;
    (*(uint64_t *)st)++;
    return 1;
}

EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *ev,
                                          const ss_plugin_field_extract_input *in)
{
    tp *s = st;
    ss_plugin_table_reader_vtable_ext *r = in->table_reader_ext;
    ss_plugin_extract_field *f = &in->fields[0];
    ss_plugin_table_entry_t *e, *fd;
    ss_plugin_state_data d, key;
    ss_plugin_rc rc = SS_PLUGIN_SUCCESS;

    f->res_len = 0;
    if (in->table_reader.read_entry_field != r->read_entry_field)
        return SS_PLUGIN_FAILURE;
    if (f->field_id == F_NTHREADS) {
        s->u64 = 0;
        r->iterate_entries(s->threads, count_cb, (ss_plugin_table_iterator_state_t *)&s->u64);
        f->res.u64 = &s->u64;
        f->res_len = 1;
        return SS_PLUGIN_SUCCESS;
    }
    e = thread_of(s, ev, r, in->get_owner_last_error, in->owner);
    if (f->field_id == F_LOOKUP_ERROR) {
        if (e)
            r->release_table_entry(s->threads, e);
        s->strp = s->lookup_error;
        f->res.str = &s->strp;
        f->res_len = 1;
        return SS_PLUGIN_SUCCESS;
    }
    if (!e)
        return SS_PLUGIN_SUCCESS;
    switch (f->field_id) {
    case F_COUNTER:
    case F_COMM:
    case F_NOTE:
        if (r->read_entry_field(s->threads, e,
                                f->field_id == F_COUNTER ? s->f_counter
                                : f->field_id == F_COMM  ? s->f_comm
                                                         : s->f_note,
                                &d) != SS_PLUGIN_SUCCESS) {
            rc = SS_PLUGIN_FAILURE;
            break;
        }
        if (f->field_id == F_COUNTER) {
            s->u64 = d.u64;
            f->res.u64 = &s->u64;
        } else {
            snprintf(s->str, sizeof s->str, "%s", d.str); /* copied at once */
            s->strp = s->str;
            f->res.str = &s->strp;
        }
        f->res_len = 1;
        break;
    case F_NFDS:
    case F_FDNAME:
    case F_FDCUSTOM:
        if (r->read_entry_field(s->threads, e, s->f_fds, &d) != SS_PLUGIN_SUCCESS) {
            rc = SS_PLUGIN_FAILURE;
            break;
        }
        if (f->field_id == F_NFDS) {
            s->u64 = 0;
            if (!r->iterate_entries(d.table, count_cb, (ss_plugin_table_iterator_state_t *)&s->u64))
                rc = SS_PLUGIN_FAILURE;
            f->res.u64 = &s->u64;
            f->res_len = 1;
            break;
        }
        {
            ss_plugin_table_t *fds = d.table;
            key.s64 = (int64_t)f->arg_index;
            fd = r->get_table_entry(fds, &key);
            if (!fd)
                break;
            if (r->read_entry_field(fds, fd, f->field_id == F_FDNAME ? s->f_fd_name
                                                                     : s->f_fd_custom,
                                    &d) == SS_PLUGIN_SUCCESS) {
                snprintf(s->str, sizeof s->str, "%s", d.str);
                s->strp = s->str;
                f->res.str = &s->strp;
                f->res_len = 1;
            }
            r->release_table_entry(fds, fd);
        }
        break;
    }
    r->release_table_entry(s->threads, e);
    return rc;
}
"""


@pytest.fixture(scope="session")
def tp(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    return builder(tmp_path_factory, "tp", TP)


TP_FIELDS = "tp.counter,tp.comm,tp.note,tp.nfds,tp.fdname[3],tp.fdcustom[3],tp.fdcustom[0]"


def test_parse_writes_a_dynamic_field_that_extraction_reads(
    ref_so: Path, tp: Callable[..., Path]
) -> None:
    r = run_json("--thread-tid", "42", "--fields", TP_FIELDS, str(ref_so), "--open-params", "5",
                 str(tp()))  # fmt: skip
    assert r.rc == 0, r.message + r.stderr
    assert [e["tid"] for e in r.events] == [42] * 5
    # parsing comes before extraction: the counter of event k is k
    assert r.field("tp.counter") == [1, 2, 3, 4, 5]
    assert r.field("tp.note") == [f"event {k}" for k in range(1, 6)]
    assert r.field("tp.comm") == ["fp-host-test"] * 5
    assert r.field("tp.nfds") == [4] * 5
    assert r.field("tp.fdname[3]") == ["/tmp/fp-host-test.log"] * 5
    assert r.field("tp.fdcustom[3]") == [f"touched {k}" for k in range(1, 6)]
    assert r.field("tp.fdcustom[0]") == [""] * 5  # a dynamic field never written reads empty
    summary = r.summaries["tp"]
    assert summary["parse_calls"] == 5 and summary["parse_failures"] == 0
    assert summary["entry_leaks"] == 0 and summary["extract_failures"] == 0
    assert "[tp] INFO: check init: ok" in r.stderr
    assert "parse_calls" not in r.summaries["countdown_ref"]  # no parse capability


def test_iterate_entries_sees_added_and_erased_threads(
    ref_so: Path, tp: Callable[..., Path]
) -> None:
    r = run_json("--thread-tid", "42", "--fields", "tp.nthreads", "--dump-table", "threads",
                 str(ref_so), "--open-params", "4", str(tp()))  # fmt: skip
    assert r.rc == 0, r.message + r.stderr
    # 1 and 42 at start; event 1 adds 4242 and 4243, event 2 erases 4243
    assert r.field("tp.nthreads") == [4, 3, 3, 3]
    assert r.summaries["tp"]["parse_failures"] == 0
    new = next(e["fields"] for e in r.tables["threads"]["entries"] if e["key"] == 4242)
    assert new["file_descriptors"] == {"size": 0}  # cleared by event 4


def test_dump_threads_table(ref_so: Path, tp: Callable[..., Path]) -> None:
    r = run_json("--quiet", "--thread-tid", "42", "--dump-table", "threads", str(ref_so),
                 "--open-params", "3", str(tp()))  # fmt: skip
    assert r.rc == 0, r.message + r.stderr
    table = r.tables["threads"]
    assert table["owner"] == "host" and table["key_type"] == "int64" and table["size"] == 3
    fields = {f["name"]: (f["type"], f["read_only"]) for f in table["fields"]}
    assert fields["tid"] == ("int64", False)
    assert fields["comm"] == ("string", False)
    assert fields["uid"] == ("uint32", False)
    assert fields["exe_path"] == ("string", False)
    assert fields["cwd"] == ("string", True)
    assert fields["file_descriptors"] == ("table", True)
    assert fields["tp_counter"] == ("uint64", False)  # dynamic, added by tp
    assert fields["tp_note"] == ("string", False)
    entries = {e["key"]: e["fields"] for e in table["entries"]}
    assert sorted(entries) == [1, 42, 4242]
    init, test, new = entries[1], entries[42], entries[4242]
    assert init["comm"] == "init" and init["pid"] == 1 and init["tp_counter"] == 0
    assert init["tp_note"] == "" and init["file_descriptors"] == {"size": 3}
    assert test["tp_counter"] == 3 and test["tp_note"] == "event 3"
    assert test["uid"] == 1000 and test["ptid"] == 1 and test["exe"] == "fp-host-test"
    assert test["file_descriptors"] == {"size": 4} and test["args"] == {"size": 1}
    assert new["comm"] == "newthread" and new["tid"] == 4242  # add_table_entry sets the tid
    assert new["pid"] == -1 and new["uid"] == 4294967295  # libsinsp's defaults
    assert new["file_descriptors"] == {"size": 1}


def test_threads_fixture(ref_so: Path, tp: Callable[..., Path], tmp_path: Path) -> None:
    fixture = [{"tid": 7, "pid": 7, "comm": "seven", "exe_writable": True,
                "file_descriptors": [{"fd": 3, "name": "/etc/passwd", "type": 1},
                                     {"fd": 9, "name": "socket"}],
                "args": ["-x", "-y"]}]  # fmt: skip
    r = run_json("--thread-tid", "7", "--threads-fixture", json.dumps(fixture), "--fields",
                 "tp.comm,tp.nfds,tp.fdname[3]", "--dump-table", "threads", str(ref_so),
                 "--open-params", "2", str(tp()))  # fmt: skip
    assert r.rc == 0, r.message + r.stderr
    assert r.field("tp.comm") == ["seven", "seven"]
    assert r.field("tp.nfds") == [2, 2]
    assert r.field("tp.fdname[3]") == ["/etc/passwd"] * 2
    seven = next(e["fields"] for e in r.tables["threads"]["entries"] if e["key"] == 7)
    assert seven["exe_writable"] is True and seven["args"] == {"size": 2}
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps([{"tid": 8, "comm": "eight"}]))
    r = run_json("--quiet", "--threads-fixture", f"@{path}", "--dump-table", "threads",
                 str(ref_so), "--open-params", "1")  # fmt: skip
    assert r.rc == 0, r.message + r.stderr
    assert [e["key"] for e in r.tables["threads"]["entries"]] == [1, 8]


@pytest.mark.parametrize(
    ("fixture", "fragment"),
    [
        ('[{"comm": "x"}]', "needs 'tid' (its key)"),
        ('[{"tid": 1, "nope": 1}]', "table 'threads' has no field 'nope'"),
        ('[{"tid": 1, "uid": -1}]', "field 'uid' needs an integer in the range of uint32"),
        ('[{"tid": 1, "comm": 5}]', "field 'comm' needs a string"),
        ('[{"tid": 1, "file_descriptors": [{"name": "x"}]}]', "needs 'fd' (its key)"),
    ],
)
def test_bad_threads_fixture(ref_so: Path, fixture: str, fragment: str) -> None:
    r = run_json("--threads-fixture", fixture, str(ref_so))
    assert r.rc == 1
    assert fragment in r.message


def test_without_a_thread_the_lookup_fails_with_an_owner_error(
    ref_so: Path, tp: Callable[..., Path]
) -> None:
    r = run_json("--fields", "tp.counter,tp.lookup_error", str(ref_so), "--open-params", "2",
                 str(tp()))  # fmt: skip
    assert r.rc == 0, r.message + r.stderr
    assert [e["tid"] for e in r.events] == [-1, -1]  # libsinsp's tid for plugin events
    assert r.field("tp.counter") == [None, None]
    assert r.field("tp.lookup_error") == ["tid -1: get_entry found no element at given key"] * 2


def test_wrong_key_type_at_get_table(ref_so: Path, tp: Callable[..., Path]) -> None:
    r = run_json(str(ref_so), str(tp(BEHAVIOUR=1)))
    assert r.rc == 1
    assert "get_table(threads, int32) failed: table in registry accessed with wrong key type: " \
        "table 'threads' has key type int64, not int32" in r.message  # fmt: skip


def test_add_table_field_rules(ref_so: Path, tp: Callable[..., Path]) -> None:
    r = run_json("--quiet", str(ref_so), "--open-params", "1", str(tp(BEHAVIOUR=2)))
    assert r.rc == 0, r.message + r.stderr
    lines = [ln.split("INFO: ", 1)[1] for ln in r.stderr.splitlines() if "INFO: check" in ln]
    assert lines == [
        "check add tp_counter: multiple definitions of dynamic field with different types: "
        "'tp_counter' in 'threads' is uint64, not string",
        "check add comm: can't add dynamic field already defined as static: 'comm' in 'threads'",
        "check add tp_sub: can't add dynamic field of type table ('tp_sub' in table 'threads')",
        "check get comm: incompatible data types for static field 'comm' of table 'threads': "
        "it is string, not uint64",
        "check get no_such_field: undefined field 'no_such_field' in table 'threads'",
        "check get pid: ok",
        "check get uid: ok",
        "check init: ok",
    ]


def test_entry_leak_is_reported_and_counted(ref_so: Path, tp: Callable[..., Path]) -> None:
    r = run_json("--quiet", "--thread-tid", "42", str(ref_so), "--open-params", "5",
                 str(tp(BEHAVIOUR=3)))  # fmt: skip
    assert r.rc == 0, r.message + r.stderr
    assert r.summaries["tp"]["entry_leaks"] == 5
    warnings = [ln for ln in r.stderr.splitlines() if "not released" in ln]
    assert len(warnings) == 1
    assert "warning: tp: parse_event returned with 1 table entries not released" in warnings[0]


def test_use_after_release_is_an_error_not_a_crash(ref_so: Path, tp: Callable[..., Path]) -> None:
    r = run_json("--quiet", "--thread-tid", "42", str(ref_so), "--open-params", "5",
                 str(tp(BEHAVIOUR=4)))  # fmt: skip
    assert r.rc == 1, r.stderr
    assert "read_entry_field on table 'threads' was called with an entry that was already " \
        "released" in r.message  # fmt: skip
    assert "parse_event misused the table API" in r.message


def test_a_field_of_another_table_is_an_error(ref_so: Path, tp: Callable[..., Path]) -> None:
    r = run_json("--quiet", "--thread-tid", "42", str(ref_so), "--open-params", "5",
                 str(tp(BEHAVIOUR=7)))  # fmt: skip
    assert r.rc == 1, r.stderr
    assert "read_entry_field on table 'threads' was called with 0x" in r.message
    assert "which is not a field of this table" in r.message


def test_a_wrong_owner_is_an_error(ref_so: Path, tp: Callable[..., Path]) -> None:
    r = run_json(str(ref_so), str(tp(BEHAVIOUR=8)))
    assert r.rc == 1, r.stderr
    assert "get_table was called with 0x" in r.message
    assert "which is not the owner from the init input" in r.message
    assert "the plugin misused the table API during init" in r.message


def test_a_pointer_that_is_no_table_is_an_error(ref_so: Path, tp: Callable[..., Path]) -> None:
    r = run_json("--quiet", str(ref_so), "--open-params", "5", str(tp(BEHAVIOUR=5)))
    assert r.rc == 1, r.stderr
    assert "get_table_size was called with 0x" in r.message
    assert "which is not a table handle the host gave out" in r.message


def test_parse_failures_are_counted_and_warned_once(ref_so: Path, tp: Callable[..., Path]) -> None:
    r = run_json("--quiet", str(ref_so), "--open-params", "5", str(tp(BEHAVIOUR=6)))
    assert r.rc == 0, r.message + r.stderr
    assert r.summaries["tp"]["parse_failures"] == 5 and r.summaries["tp"]["parse_calls"] == 5
    warnings = [ln for ln in r.stderr.splitlines() if "parse_event failed" in ln]
    assert len(warnings) == 1
    assert "tp parse failed on event 1" in warnings[0]


def test_a_parser_gets_one_state_per_source(
    ref_so: Path, ref2_so: Path, tp: Callable[..., Path]
) -> None:
    r = run_json("--quiet", str(ref_so), "--open-params", "5", str(ref2_so), "--open-params",
                 "3", str(tp()))  # fmt: skip
    assert r.rc == 0, r.message + r.stderr
    assert r.summaries["tp"]["inits"] == 2  # like Falco: one state per event source
    assert r.summaries["tp"]["parse_calls"] == 8
    r = run_json("--quiet", str(ref_so), "--open-params", "5", str(ref2_so), "--open-params",
                 "3", str(tp(PSOURCES='["countdown_ref2"]')))  # fmt: skip
    assert r.summaries["tp"]["inits"] == 1 and r.summaries["tp"]["parse_calls"] == 3


def test_parse_sources_and_types_route_events(ref_so: Path, tp: Callable[..., Path]) -> None:
    calls = {}
    for name, defines in {
        "own": {"PSOURCES": '["countdown_ref"]'},
        "other": {"PSOURCES": '["other"]'},
        "type322": {"PTYPE": 322},
        "type999": {"PTYPE": 999},
    }.items():
        r = run_json("--quiet", str(ref_so), "--open-params", "3", str(tp(**defines)))
        assert r.rc == 0, r.message + r.stderr
        calls[name] = r.summaries["tp"]["parse_calls"]
    assert calls == {"own": 3, "other": 0, "type322": 3, "type999": 0}


def test_info_of_a_parser(tp: Callable[..., Path]) -> None:
    proc = run_host(["info", "--json", str(tp(PSOURCES='["countdown_ref"]', PTYPE=322))])
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["capabilities"] == ["extract", "parse"]
    assert info["parse_event_sources"] == ["countdown_ref"]
    assert info["parse_event_types"] == [322]
    assert info["init_error"] is None
    for name in ("parse_event", "get_parse_event_sources", "get_parse_event_types"):
        assert f"plugin_{name}" in info["exported"]
    proc = run_host(["info", "--json", str(tp())])
    info = json.loads(proc.stdout)
    assert info["parse_event_sources"] is None and info["parse_event_types"] is None
    text = run_host(["info", str(tp(PTYPE=322))]).stdout
    assert "  - Event Parsing\n" in text
    assert "Parse event sources: all\nParse event types: 322\n" in text


def test_dump_table_text_and_unknown_table(ref_so: Path) -> None:
    proc = run_host(["run", "--quiet", "--dump-table", "threads", str(ref_so), "--open-params",
                     "1"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("table threads: "))
    assert json.loads(line.split(": ", 1)[1])["table"]["size"] == 1
    r = run_json("--dump-table", "nope", str(ref_so), "--open-params", "1")
    assert r.rc == 1
    assert "--dump-table: no table named 'nope' (tables: 'threads')" in r.message


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        # argparse's messages name the option
        (["--thread-tid", "x", "x.so"], "argument --thread-tid: needs an integer, not 'x'"),
        (["--thread-tid"], "argument --thread-tid: expected one argument"),
        (["--dump-table"], "argument --dump-table: expected one argument"),
        (["--output"], "argument --output: expected one argument"),
        (["--filter"], "argument --filter: expected one argument"),
        (["--fields"], "argument --fields: expected one argument"),
        (["--dump-table=", "x.so"], "argument --dump-table: needs a table name"),
        (["--threads-fixture", "{", "x.so"], "argument --threads-fixture: is not valid JSON"),
        (["--threads-fixture", "{}", "x.so"], "must be a JSON array"),
        (["--threads-fixture", "@/nonexistent/f.json", "x.so"], "cannot read"),
        (["x.so", "--thread-tid", "1"], "run option --thread-tid must come before the first "
                                        "plugin path"),
    ],
)
def test_usage_errors(args: list[str], fragment: str) -> None:
    proc = run_host(["run", *args])
    assert proc.returncode == 2
    assert fragment in proc.stderr


# ----------------------------------------------------------------------------------------
# EXP exports a table, IMP imports it

EXP = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fp_abi.h"

#define EXPORT __attribute__((visibility("default")))
#ifndef TABLE_NAME
#define TABLE_NAME "counts"
#endif
#define MAXROWS 64
#define MAXITEMS 16

typedef struct item {
    uint64_t key, n;
    int used;
} item;

/* A row; its nested table "items" is the row itself behind its own table input. */
typedef struct row {
    uint64_t key;
    uint64_t value;
    char label[64];
    int used;
    item items[MAXITEMS];
    ss_plugin_table_input sub;
} row;

typedef struct {
    char err[256];
    row rows[MAXROWS];
    ss_plugin_table_fieldinfo finfo[3];
    long outstanding;
} exp_t;

static int k_value, k_label, k_items, k_n; /* field handles: their addresses */

/* ---- the nested tables ---- */

static const char *i_name(ss_plugin_table_t *t) { (void)t; return "items"; }
static uint64_t i_size(ss_plugin_table_t *t)
{
    row *r = t;
    uint64_t n = 0;
    int i;
    for (i = 0; i < MAXITEMS; i++)
        n += r->items[i].used != 0;
    return n;
}
static item *i_find(row *r, uint64_t key)
{
    int i;
    for (i = 0; i < MAXITEMS; i++)
        if (r->items[i].used && r->items[i].key == key)
            return &r->items[i];
    return NULL;
}
static ss_plugin_table_entry_t *i_get(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
    return i_find(t, key->u64);
}
static ss_plugin_rc i_read(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                           const ss_plugin_table_field_t *f, ss_plugin_state_data *out)
{
    (void)t;
    if (f != &k_n)
        return SS_PLUGIN_FAILURE;
    out->u64 = ((item *)e)->n;
    return SS_PLUGIN_SUCCESS;
}
static void i_release(ss_plugin_table_t *t, ss_plugin_table_entry_t *e) { (void)t; (void)e; }
static ss_plugin_bool i_iterate(ss_plugin_table_t *t, ss_plugin_table_iterator_func_t it,
                                ss_plugin_table_iterator_state_t *st)
{
    row *r = t;
    int i;
    for (i = 0; i < MAXITEMS; i++)
        if (r->items[i].used && !it(st, &r->items[i]))
            return 0;
    return 1;
}
static ss_plugin_rc i_clear(ss_plugin_table_t *t)
{
    memset(((row *)t)->items, 0, sizeof ((row *)t)->items);
    return SS_PLUGIN_SUCCESS;
}
static ss_plugin_rc i_erase(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
    item *it = i_find(t, key->u64);
    if (!it)
        return SS_PLUGIN_FAILURE;
    it->used = 0;
    return SS_PLUGIN_SUCCESS;
}
static ss_plugin_table_entry_t *i_create(ss_plugin_table_t *t)
{
    (void)t;
    return calloc(1, sizeof(item));
}
static void i_destroy(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
    row *r = t;
    item *it = e;
    if (it < r->items || it >= r->items + MAXITEMS)
        free(e);
}
static ss_plugin_table_entry_t *i_add(ss_plugin_table_t *t, const ss_plugin_state_data *key,
                                      ss_plugin_table_entry_t *e)
{
    row *r = t;
    item *it = i_find(r, key->u64);
    int i;
    for (i = 0; !it && i < MAXITEMS; i++)
        if (!r->items[i].used)
            it = &r->items[i];
    if (!it)
        return NULL;
    *it = *(item *)e;
    it->key = key->u64;
    it->used = 1;
    free(e);
    return it;
}
static ss_plugin_rc i_write(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                            const ss_plugin_table_field_t *f, const ss_plugin_state_data *in)
{
    (void)t;
    if (f != &k_n)
        return SS_PLUGIN_FAILURE;
    ((item *)e)->n = in->u64;
    return SS_PLUGIN_SUCCESS;
}
static ss_plugin_table_fieldinfo k_item_fields[] = {{"n", SS_PLUGIN_ST_UINT64, 0}};
static const ss_plugin_table_fieldinfo *i_list(ss_plugin_table_t *t, uint32_t *n)
{
    (void)t;
    *n = 1;
    return k_item_fields;
}
static ss_plugin_table_field_t *i_getf(ss_plugin_table_t *t, const char *name,
                                       ss_plugin_state_type type)
{
    (void)t;
    return (!strcmp(name, "n") && type == SS_PLUGIN_ST_UINT64) ? &k_n : NULL;
}
static ss_plugin_table_field_t *i_addf(ss_plugin_table_t *t, const char *name,
                                       ss_plugin_state_type type)
{
    (void)t;
    (void)name;
    (void)type;
    return NULL;
}
static ss_plugin_table_reader_vtable_ext k_irx = {i_name, i_size, i_get, i_read, i_release,
                                                   i_iterate};
static ss_plugin_table_writer_vtable_ext k_iwx = {i_clear, i_erase, i_create, i_destroy, i_add,
                                                   i_write};
static ss_plugin_table_fields_vtable_ext k_ifx = {i_list, i_getf, i_addf};

static void init_sub(row *r)
{
    ss_plugin_table_input *in = &r->sub;
    memset(in, 0, sizeof *in);
    in->name = "items";
    in->key_type = SS_PLUGIN_ST_UINT64;
    in->table = r;
    memcpy(&in->reader, &k_irx, sizeof in->reader);
    memcpy(&in->writer, &k_iwx, sizeof in->writer);
    memcpy(&in->fields, &k_ifx, sizeof in->fields);
    in->reader_ext = &k_irx;
    in->writer_ext = &k_iwx;
    in->fields_ext = &k_ifx;
}

/* ---- the table ---- */

EXPORT const char *plugin_get_required_api_version(void) { return "3.6.0"; }
EXPORT const char *plugin_get_version(void) { return "0.1.0"; }
EXPORT const char *plugin_get_name(void) { return "exp"; }
EXPORT const char *plugin_get_description(void) { return "exports a table"; }
EXPORT const char *plugin_get_contact(void) { return "nobody"; }
EXPORT const char *plugin_get_last_error(ss_plugin_t *s) { return ((exp_t *)s)->err; }
EXPORT void plugin_destroy(ss_plugin_t *s) { free(s); }

static row *find(exp_t *s, uint64_t key)
{
    int i;
    for (i = 0; i < MAXROWS; i++)
        if (s->rows[i].used && s->rows[i].key == key)
            return &s->rows[i];
    return NULL;
}

static const char *t_name(ss_plugin_table_t *t) { (void)t; return TABLE_NAME; }
static uint64_t t_size(ss_plugin_table_t *t)
{
    exp_t *s = t;
    uint64_t n = 0;
    int i;
    for (i = 0; i < MAXROWS; i++)
        n += s->rows[i].used != 0;
    return n;
}
static uint64_t t_size_other(ss_plugin_table_t *t) { return t_size(t); }
static ss_plugin_table_entry_t *t_get(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
    exp_t *s = t;
    row *r = find(s, key->u64);
    if (!r)
        snprintf(s->err, sizeof s->err, "no row %llu", (unsigned long long)key->u64);
    else
        s->outstanding++;
    return r;
}
static ss_plugin_rc t_read(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                           const ss_plugin_table_field_t *f, ss_plugin_state_data *out)
{
    row *r = e;
    (void)t;
    if (f == &k_value)
        out->u64 = r->value;
    else if (f == &k_label)
        out->str = r->label;
    else if (f == &k_items)
        out->table = &r->sub;
    else
        return SS_PLUGIN_FAILURE;
    return SS_PLUGIN_SUCCESS;
}
static void t_release(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
    (void)e;
    ((exp_t *)t)->outstanding--;
}
static ss_plugin_bool t_iterate(ss_plugin_table_t *t, ss_plugin_table_iterator_func_t it,
                                ss_plugin_table_iterator_state_t *st)
{
    exp_t *s = t;
    int i;
    for (i = 0; i < MAXROWS; i++)
        if (s->rows[i].used && !it(st, &s->rows[i]))
            return 0;
    return 1;
}
static ss_plugin_rc t_clear(ss_plugin_table_t *t)
{
    memset(((exp_t *)t)->rows, 0, sizeof ((exp_t *)t)->rows);
    return SS_PLUGIN_SUCCESS;
}
static ss_plugin_rc t_erase(ss_plugin_table_t *t, const ss_plugin_state_data *key)
{
    row *r = find(t, key->u64);
    if (!r)
        return SS_PLUGIN_FAILURE;
    r->used = 0;
    return SS_PLUGIN_SUCCESS;
}
static ss_plugin_table_entry_t *t_create(ss_plugin_table_t *t)
{
    row *r = calloc(1, sizeof(row));
    (void)t;
    init_sub(r);
    return r;
}
static void t_destroy(ss_plugin_table_t *t, ss_plugin_table_entry_t *e)
{
    exp_t *s = t;
    row *r = e;
    if (r >= s->rows && r < s->rows + MAXROWS)
        s->outstanding--;
    else
        free(e);
}
static ss_plugin_table_entry_t *t_add(ss_plugin_table_t *t, const ss_plugin_state_data *key,
                                      ss_plugin_table_entry_t *e)
{
    exp_t *s = t;
    row *r = find(s, key->u64);
    int i;
    for (i = 0; !r && i < MAXROWS; i++)
        if (!s->rows[i].used)
            r = &s->rows[i];
    if (!r) {
        snprintf(s->err, sizeof s->err, "table full");
        return NULL;
    }
    *r = *(row *)e;
    r->key = key->u64;
    r->used = 1;
    init_sub(r);
    free(e);
    s->outstanding++;
    return r;
}
static ss_plugin_rc t_write(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                            const ss_plugin_table_field_t *f, const ss_plugin_state_data *in)
{
    row *r = e;
    if (f == &k_value) {
        r->value = in->u64;
        return SS_PLUGIN_SUCCESS;
    }
    snprintf(((exp_t *)t)->err, sizeof ((exp_t *)t)->err, "field is read-only");
    return SS_PLUGIN_FAILURE;
}
static const ss_plugin_table_fieldinfo *t_list(ss_plugin_table_t *t, uint32_t *n)
{
    exp_t *s = t;
    s->finfo[0].name = "value";
    s->finfo[0].field_type = SS_PLUGIN_ST_UINT64;
    s->finfo[0].read_only = 0;
    s->finfo[1].name = "label";
    s->finfo[1].field_type = SS_PLUGIN_ST_STRING;
    s->finfo[1].read_only = 1;
    s->finfo[2].name = "items";
    s->finfo[2].field_type = SS_PLUGIN_ST_TABLE;
    s->finfo[2].read_only = 1;
    *n = 3;
    return s->finfo;
}
static ss_plugin_table_field_t *t_getf(ss_plugin_table_t *t, const char *name,
                                       ss_plugin_state_type type)
{
    exp_t *s = t;
    if (!strcmp(name, "value") && type == SS_PLUGIN_ST_UINT64)
        return &k_value;
    if (!strcmp(name, "label") && type == SS_PLUGIN_ST_STRING)
        return &k_label;
    if (!strcmp(name, "items") && type == SS_PLUGIN_ST_TABLE)
        return &k_items;
    snprintf(s->err, sizeof s->err, "no field %s of type %d", name, (int)type);
    return NULL;
}
static ss_plugin_table_field_t *t_addf(ss_plugin_table_t *t, const char *name,
                                       ss_plugin_state_type type)
{
    (void)type;
    snprintf(((exp_t *)t)->err, sizeof ((exp_t *)t)->err, "cannot add field %s", name);
    return NULL;
}

EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    exp_t *s = calloc(1, sizeof *s);
    ss_plugin_table_reader_vtable_ext rx = {t_name, t_size, t_get, t_read, t_release, t_iterate};
    ss_plugin_table_writer_vtable_ext wx = {t_clear, t_erase, t_create, t_destroy, t_add, t_write};
    ss_plugin_table_fields_vtable_ext fx = {t_list, t_getf, t_addf};
    ss_plugin_table_input ti; /* on the stack: the host copies it */
    memset(&ti, 0, sizeof ti);
    ti.name = TABLE_NAME;
    ti.key_type = SS_PLUGIN_ST_UINT64;
    ti.table = s;
    memcpy(&ti.reader, &rx, sizeof ti.reader);
    memcpy(&ti.writer, &wx, sizeof ti.writer);
    memcpy(&ti.fields, &fx, sizeof ti.fields);
#ifdef BAD_VTABLE
    ti.reader.get_table_size = t_size_other;
#else
    (void)t_size_other;
#endif
    ti.reader_ext = &rx;
    ti.writer_ext = &wx;
    ti.fields_ext = &fx;
    *rc = in->tables->add_table(in->owner, &ti);
    if (*rc != SS_PLUGIN_SUCCESS)
        snprintf(s->err, sizeof s->err, "add_table failed: %s",
                 in->get_owner_last_error(in->owner));
    return s;
}

/* Its own table, directly: row k counts the events with evtnum % 3 == k. */
EXPORT ss_plugin_rc plugin_parse_event(ss_plugin_t *st, const ss_plugin_event_input *ev,
                                       const ss_plugin_event_parse_input *in)
{
    exp_t *s = st;
    uint64_t k = ev->evtnum % 3;
    row *r = find(s, k);
    int i;
    (void)in;
    for (i = 0; !r && i < MAXROWS; i++) {
        if (!s->rows[i].used) {
            r = &s->rows[i];
            memset(r, 0, sizeof *r);
            r->used = 1;
            r->key = k;
            snprintf(r->label, sizeof r->label, "row %llu", (unsigned long long)k);
            init_sub(r);
        }
    }
    r->value++;
    for (i = 0; i < MAXITEMS; i++) { /* one item per event, key evtnum */
        if (!r->items[i].used) {
            r->items[i].used = 1;
            r->items[i].key = ev->evtnum;
            r->items[i].n = ev->evtnum * 10;
            break;
        }
    }
    if (s->outstanding != 0) {
        snprintf(s->err, sizeof s->err, "%ld entries outstanding", s->outstanding);
        return SS_PLUGIN_FAILURE;
    }
    return SS_PLUGIN_SUCCESS;
}
"""

IMP = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fp_abi.h"

#define EXPORT __attribute__((visibility("default")))

typedef struct {
    char err[256];
    ss_plugin_table_t *counts;
    ss_plugin_table_field_t *f_value, *f_label, *f_items, *f_n;
    uint64_t u64;
    char str[128];
    const char *strp;
} imp_t;

EXPORT const char *plugin_get_required_api_version(void) { return "3.6.0"; }
EXPORT const char *plugin_get_version(void) { return "0.1.0"; }
EXPORT const char *plugin_get_name(void) { return "imp"; }
EXPORT const char *plugin_get_description(void) { return "imports a table"; }
EXPORT const char *plugin_get_contact(void) { return "nobody"; }
EXPORT const char *plugin_get_last_error(ss_plugin_t *s) { return ((imp_t *)s)->err; }
EXPORT void plugin_destroy(ss_plugin_t *s) { free(s); }

EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    imp_t *s = calloc(1, sizeof *s);
    const ss_plugin_init_tables_input *t = in->tables;
    const ss_plugin_table_fieldinfo *fi;
    uint32_t n = 0;
    *rc = SS_PLUGIN_FAILURE;
    s->counts = t->get_table(in->owner, "counts", SS_PLUGIN_ST_UINT64);
    if (!s->counts) {
        snprintf(s->err, sizeof s->err, "no counts table");
        return s;
    }
    if (((const ss_plugin_table_input *)s->counts)->key_type != SS_PLUGIN_ST_UINT64) {
        snprintf(s->err, sizeof s->err, "the handle is not an ss_plugin_table_input");
        return s;
    }
    fi = t->fields_ext->list_table_fields(s->counts, &n);
    if (!fi || n != 3 || strcmp(fi[1].name, "label") || !fi[1].read_only) {
        snprintf(s->err, sizeof s->err, "unexpected fields");
        return s;
    }
    s->f_value = t->fields_ext->get_table_field(s->counts, "value", SS_PLUGIN_ST_UINT64);
    s->f_label = t->fields_ext->get_table_field(s->counts, "label", SS_PLUGIN_ST_STRING);
    if (t->fields_ext->get_table_field(s->counts, "value", SS_PLUGIN_ST_STRING) ||
        t->fields_ext->add_table_field(s->counts, "extra", SS_PLUGIN_ST_UINT64)) {
        snprintf(s->err, sizeof s->err, "the owner accepted a wrong field");
        return s;
    }
    if (!strstr(in->get_owner_last_error(in->owner), "cannot add field extra")) {
        snprintf(s->err, sizeof s->err, "the owner's error was not passed on: %s",
                 in->get_owner_last_error(in->owner));
        return s;
    }
    s->f_items = t->fields_ext->get_table_field(s->counts, "items", SS_PLUGIN_ST_TABLE);
    if (!s->f_value || !s->f_label || !s->f_items) {
        snprintf(s->err, sizeof s->err, "fields: %s", in->get_owner_last_error(in->owner));
        return s;
    }
    { /* the nested table's field, through a temporary entry of the owner */
        ss_plugin_table_entry_t *tmp = t->writer_ext->create_table_entry(s->counts);
        ss_plugin_state_data d;
        const ss_plugin_table_input *sub;
        if (!tmp || t->reader_ext->read_entry_field(s->counts, tmp, s->f_items, &d) !=
                        SS_PLUGIN_SUCCESS) {
            snprintf(s->err, sizeof s->err, "nested: %s", in->get_owner_last_error(in->owner));
            return s;
        }
        sub = d.table;
        if (sub->key_type != SS_PLUGIN_ST_UINT64 || sub->table == tmp) {
            snprintf(s->err, sizeof s->err, "the nested table was not wrapped by the host");
            return s;
        }
        s->f_n = t->fields_ext->get_table_field(d.table, "n", SS_PLUGIN_ST_UINT64);
        t->writer_ext->destroy_table_entry(s->counts, tmp);
        if (!s->f_n) {
            snprintf(s->err, sizeof s->err, "nested field: %s",
                     in->get_owner_last_error(in->owner));
            return s;
        }
    }
    *rc = SS_PLUGIN_SUCCESS;
    return s;
}

/* Row 100 counts every event, through the host. */
EXPORT ss_plugin_rc plugin_parse_event(ss_plugin_t *st, const ss_plugin_event_input *ev,
                                       const ss_plugin_event_parse_input *in)
{
    imp_t *s = st;
    ss_plugin_table_reader_vtable_ext *r = in->table_reader_ext;
    ss_plugin_table_writer_vtable_ext *w = in->table_writer_ext;
    ss_plugin_state_data key, d;
    ss_plugin_table_entry_t *e;
    (void)ev;
    key.u64 = 100;
    e = r->get_table_entry(s->counts, &key);
    if (!e) {
        ss_plugin_table_entry_t *c = w->create_table_entry(s->counts);
        if (!c)
            return SS_PLUGIN_FAILURE;
        e = w->add_table_entry(s->counts, &key, c);
        if (!e) {
            snprintf(s->err, sizeof s->err, "add: %s", in->get_owner_last_error(in->owner));
            return SS_PLUGIN_FAILURE;
        }
    }
    if (r->read_entry_field(s->counts, e, s->f_value, &d) != SS_PLUGIN_SUCCESS)
        return SS_PLUGIN_FAILURE;
    d.u64++;
    w->write_entry_field(s->counts, e, s->f_value, &d);
    d.str = "x";
    if (w->write_entry_field(s->counts, e, s->f_label, &d) == SS_PLUGIN_SUCCESS)
        return SS_PLUGIN_FAILURE; /* read-only in the owner */
    r->release_table_entry(s->counts, e);
    return SS_PLUGIN_SUCCESS;
}

EXPORT const char *plugin_get_fields(void)
{
    return "[{\"type\": \"uint64\", \"name\": \"imp.total\", \"desc\": \"sum of values\"},"
           "{\"type\": \"uint64\", \"name\": \"imp.value\", \"desc\": \"a row's value\","
           " \"arg\": {\"isRequired\": true, \"isIndex\": true}},"
           "{\"type\": \"string\", \"name\": \"imp.label\", \"desc\": \"a row's label\","
           " \"arg\": {\"isRequired\": true, \"isIndex\": true}},"
           "{\"type\": \"string\", \"name\": \"imp.missing\", \"desc\": \"row 999's error\"},"
           "{\"type\": \"uint64\", \"name\": \"imp.items\", \"desc\": \"a row's item n sum\","
           " \"arg\": {\"isRequired\": true, \"isIndex\": true}}]";
}

typedef struct {
    ss_plugin_table_reader_vtable_ext *r;
    ss_plugin_table_t *t;
    ss_plugin_table_field_t *f;
    uint64_t sum;
} sum_ctx;

static ss_plugin_bool sum_cb(ss_plugin_table_iterator_state_t *st, ss_plugin_table_entry_t *e)
{
    sum_ctx *c = (sum_ctx *)st;
    ss_plugin_state_data d;
    if (c->r->read_entry_field(c->t, e, c->f, &d) == SS_PLUGIN_SUCCESS)
        c->sum += d.u64;
    return 1;
}

EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *ev,
                                          const ss_plugin_field_extract_input *in)
{
    imp_t *s = st;
    ss_plugin_table_reader_vtable_ext *r = in->table_reader_ext;
    ss_plugin_extract_field *f = &in->fields[0];
    ss_plugin_state_data key, d;
    ss_plugin_table_entry_t *e;
    (void)ev;
    f->res_len = 0;
    if (f->field_id == 0) {
        sum_ctx c = {r, s->counts, s->f_value, 0};
        if (!r->iterate_entries(s->counts, sum_cb, (ss_plugin_table_iterator_state_t *)&c))
            return SS_PLUGIN_FAILURE;
        s->u64 = c.sum;
        f->res.u64 = &s->u64;
        f->res_len = 1;
        return SS_PLUGIN_SUCCESS;
    }
    key.u64 = f->field_id == 3 ? 999 : f->arg_index;
    e = r->get_table_entry(s->counts, &key);
    if (!e) {
        if (f->field_id == 3) {
            snprintf(s->str, sizeof s->str, "%s", in->get_owner_last_error(in->owner));
            s->strp = s->str;
            f->res.str = &s->strp;
            f->res_len = 1;
        }
        return SS_PLUGIN_SUCCESS;
    }
    if (f->field_id == 4) { /* the sum of n over the row's items, and its size must match */
        if (r->read_entry_field(s->counts, e, s->f_items, &d) == SS_PLUGIN_SUCCESS) {
            sum_ctx c = {r, d.table, s->f_n, 0};
            uint64_t size = r->get_table_size(d.table), k = 0;
            if (!r->iterate_entries(d.table, sum_cb, (ss_plugin_table_iterator_state_t *)&c))
                return SS_PLUGIN_FAILURE;
            for (k = 0; k < 64; k++) { /* the items are keyed by evtnum */
                ss_plugin_table_entry_t *it;
                key.u64 = k;
                it = r->get_table_entry(d.table, &key);
                if (it) {
                    size--;
                    r->release_table_entry(d.table, it);
                }
            }
            if (size == 0) {
                s->u64 = c.sum;
                f->res.u64 = &s->u64;
                f->res_len = 1;
            }
        }
    } else if (r->read_entry_field(s->counts, e, f->field_id == 1 ? s->f_value : s->f_label,
                                   &d) == SS_PLUGIN_SUCCESS) {
        if (f->field_id == 1) {
            s->u64 = d.u64;
            f->res.u64 = &s->u64;
        } else {
            snprintf(s->str, sizeof s->str, "%s", d.str);
            s->strp = s->str;
            f->res.str = &s->strp;
        }
        f->res_len = 1;
    }
    r->release_table_entry(s->counts, e);
    return SS_PLUGIN_SUCCESS;
}
"""


@pytest.fixture(scope="session")
def exp(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    return builder(tmp_path_factory, "exp", EXP)


@pytest.fixture(scope="session")
def imp(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    return builder(tmp_path_factory, "imp", IMP)


def test_a_table_exported_by_one_plugin_and_used_by_another(
    ref_so: Path, exp: Callable[..., Path], imp: Callable[..., Path]
) -> None:
    fields = "imp.total,imp.value[100],imp.value[1],imp.label[2],imp.missing,imp.items[1]"
    r = run_json("--fields", fields, "--dump-table", "counts", str(ref_so), "--open-params", "6",
                 str(exp()), str(imp()))  # fmt: skip
    assert r.rc == 0, r.message + r.stderr
    # per event k: exp counts row k % 3 itself, then imp counts row 100 through the host
    assert r.field("imp.value[100]") == [1, 2, 3, 4, 5, 6]
    assert r.field("imp.total") == [2 * k for k in range(1, 7)]
    assert r.field("imp.value[1]") == [1, 1, 1, 2, 2, 2]
    assert r.field("imp.label[2]") == [None, "row 2", "row 2", "row 2", "row 2", "row 2"]
    assert r.field("imp.missing") == ["get_table_entry failed in the table's owner (exp): "
                                      "no row 999"] * 6  # fmt: skip
    # row 1 holds items for events 1, 4 (n = 10 * evtnum): read through the nested table
    assert r.field("imp.items[1]") == [10, 10, 10, 50, 50, 50]
    assert r.summaries["exp"]["parse_failures"] == 0  # exp saw every entry released
    assert r.summaries["imp"]["parse_failures"] == 0
    assert r.summaries["imp"]["entry_leaks"] == 0
    table = r.tables["counts"]
    assert table["owner"] == "exp" and table["key_type"] == "uint64" and table["size"] == 4
    assert table["fields"] == [
        {"name": "value", "type": "uint64", "read_only": False},
        {"name": "label", "type": "string", "read_only": True},
        {"name": "items", "type": "table", "read_only": True},
    ]
    rows = sorted(tuple(e["fields"].values()) for e in table["entries"])
    assert rows == [(2, "row 0", {"size": 2}), (2, "row 1", {"size": 2}),
                    (2, "row 2", {"size": 2}), (6, "", {"size": 0})]  # fmt: skip
    assert all("key" not in e for e in table["entries"])  # the API gives no keys


def test_the_importer_must_come_after_the_exporter(
    ref_so: Path, exp: Callable[..., Path], imp: Callable[..., Path]
) -> None:
    r = run_json(str(ref_so), str(imp()), str(exp()))
    assert r.rc == 1
    assert "no counts table" in r.message


def test_add_table_checks_the_vtables(ref_so: Path, exp: Callable[..., Path]) -> None:
    r = run_json(str(ref_so), str(exp(BAD_VTABLE=True)))
    assert r.rc == 1
    assert "add_table failed: add_table: broken or inconsistent reader vtables for table " \
        "'counts'" in r.message  # fmt: skip


def test_add_table_refuses_a_name_in_use(ref_so: Path, exp: Callable[..., Path]) -> None:
    r = run_json(str(ref_so), str(exp(TABLE_NAME="threads")))
    assert r.rc == 1
    assert "add_table failed: table 'threads' added to registry multiple times" in r.message


def test_tables_across_cycles(
    ref_so: Path, exp: Callable[..., Path], imp: Callable[..., Path]
) -> None:
    r = run_json("--quiet", "--cycles", "2", "--reload", "--dump-table", "counts", str(ref_so),
                 "--open-params", "3", str(exp()), str(imp()))  # fmt: skip
    assert r.rc == 0, r.message + r.stderr
    dumps = [rec["table"] for rec in r.records if "table" in rec]
    assert len(dumps) == 2 and all(d["size"] == 4 for d in dumps)
