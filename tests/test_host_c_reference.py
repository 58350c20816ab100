"""The SDK's C host (``fp-host``) tested with plain C plugins.

The C reference plugin (benchmarks/c_reference/countdown_ref.c) is the known-good plugin;
small broken C plugins built from ``TINY`` below check that the host rejects what libsinsp
rejects, with a message that says why.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from falco_plugin.host import host_binary, parse_json_lines, run_host
from falco_plugin.testing import run_capture
from tests.chost import REFERENCE, builder, compile_plugin


@pytest.fixture(scope="session")
def ref_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "libcountdown_ref.so"
    # -Werror: the reference plugin must stay warning-clean
    return compile_plugin(REFERENCE, out)  # -Werror: the reference must stay warning-clean


@pytest.fixture(scope="session")
def ref2_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, distinct plugin from the same source (other name, id and source)."""
    out = tmp_path_factory.mktemp("ref2") / "libcountdown_ref2.so"
    return compile_plugin(
        REFERENCE, out, '-DCR_NAME="countdown_ref2"', "-DCR_ID=997", '-DCR_SOURCE="countdown_ref2"'
    )


@pytest.fixture(scope="session", autouse=True)
def _host() -> Path:
    return host_binary()


def expected(n: int) -> list[str]:
    return [f"{k} events remaining" for k in range(n - 1, -1, -1)]


class Run:
    """One host run, its JSON lines sorted by kind."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.records = parse_json_lines(proc.stdout, strict=True)
        self.events = [r for r in self.records if "evtnum" in r]
        self.summaries = [r["summary"] for r in self.records if "summary" in r]
        self.errors = [r["error"] for r in self.records if "error" in r]
        self.progress = [r["progress"] for r in self.records if "progress" in r]
        self.metrics = [r["metrics"] for r in self.records if "metrics" in r]

    @property
    def texts(self) -> list[str]:
        return [bytes.fromhex(e["payload_hex"]).decode() for e in self.events]

    @property
    def message(self) -> str:
        return "\n".join(e["message"] for e in self.errors)


def run_json(*args: str) -> Run:
    return Run(run_host(["run", "--json", *args]))


# ----------------------------------------------------------------------------------------
# info


def test_info_text(ref_so: Path) -> None:
    proc = run_host(["info", str(ref_so)])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Name: countdown_ref\n" in out
    assert "Version: 1.0.0\n" in out
    assert "Required API version: 3.0.0\n" in out
    assert "  - Event Sourcing (ID=998, source='countdown_ref')\n" in out
    assert "  - Field Extraction\n" in out
    assert "Fields:\n  countdown_ref.remaining (uint64): How many events follow" in out
    assert "  countdown_ref.text (string): The event payload\n" in out
    assert "Extract event sources: countdown_ref\n" in out
    assert "Extract event types: default (322 for plugin sources" in out
    assert "Init config schema type: JSON\n" in out
    assert '    "batch_size": {\n' in out  # the schema is pretty-printed
    assert "Suggested open params:\n  10  Emit 10 events (the default)\n" in out
    assert "plugin_next_batch" in out


def test_info_json(ref_so: Path) -> None:
    proc = run_host(["info", "--json", str(ref_so)])
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["name"] == "countdown_ref"
    assert info["version"] == "1.0.0"
    assert info["required_api_version"] == "3.0.0"
    assert info["capabilities"] == ["source", "extract"]
    assert info["id"] == 998 and info["event_source"] == "countdown_ref"
    schema = json.loads(info["init_schema"])
    assert schema["properties"]["batch_size"]["default"] == 512
    assert info["open_params"][0] == {"value": "10", "desc": "Emit 10 events (the default)"}
    assert info["init_error"] is None
    exported = info["exported"]
    assert exported == sorted(exported)
    for name in ("open", "close", "next_batch", "get_metrics", "set_config", "get_progress"):
        assert f"plugin_{name}" in exported
    assert all(s.startswith("plugin_") for s in exported)
    for name in ("get_fields", "extract_fields", "get_extract_event_sources"):
        assert f"plugin_{name}" in exported
    assert "plugin_get_extract_event_types" not in exported
    assert [(f["name"], f["type"], f["isList"]) for f in info["fields"]] == [
        ("countdown_ref.remaining", "uint64", False),
        ("countdown_ref.text", "string", False),
    ]
    assert info["fields"][0]["arg"] == {"isRequired": False, "isIndex": False, "isKey": False}
    assert info["fields"][1]["display"] == "Text" and info["fields"][1]["properties"] == []
    assert info["extract_event_sources"] == ["countdown_ref"]
    assert info["extract_event_types"] is None  # not given: the default


# ----------------------------------------------------------------------------------------
# run: every payload, several sizes


@pytest.mark.parametrize("batch", [1, 7, 512])
@pytest.mark.parametrize("n", [0, 1, 10, 1000])
def test_run_every_payload(ref_so: Path, n: int, batch: int) -> None:
    r = run_json(
        str(ref_so), "--open-params", str(n), "--config", json.dumps({"batch_size": batch})
    )
    assert r.rc == 0, r.stdout + r.stderr
    assert r.errors == []
    assert r.texts == expected(n)
    assert [e["info"] for e in r.events] == expected(n)  # event_to_string, on the event thread
    assert [e["evtnum"] for e in r.events] == list(range(1, n + 1))
    for e in r.events:
        assert e["plugin"] == "countdown_ref"
        assert e["type"] == 322 and e["tid"] == -1
        assert e["source"] == "countdown_ref"
        assert e["plugin_id"] == 998  # the plugin writes 0: the host filled in its id
        assert e["ts"] > 1_600_000_000 * 10**9  # UINT64_MAX was stamped with "now"
    stamps = [e["ts"] for e in r.events]
    assert stamps == sorted(stamps)
    (summary,) = r.summaries
    assert summary["events"] == n and summary["eof"] is True and summary["timeouts"] == 0
    assert summary["init_ms"] > 0 and summary["rss_kb_after_init"] > 0
    assert r.metrics == [
        {
            "plugin": "countdown_ref",
            "items": [
                {"name": "events_emitted", "type": "monotonic", "value_type": "u64", "value": n}
            ],
        }
    ]
    assert r.progress == [{"plugin": "countdown_ref", "pct": 10000, "text": f"{n}/{n} events"}]


def test_run_text_output(ref_so: Path) -> None:
    proc = run_host(["run", str(ref_so), "--open-params", "12"])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    events = [line.split(" ", 3) for line in lines[:12]]
    assert [int(f[0]) for f in events] == list(range(1, 13))
    assert all(int(f[1]) > 1_600_000_000 * 10**9 for f in events)
    assert {f[2] for f in events} == {"countdown_ref"}
    assert [f[3] for f in events] == expected(12)
    rest = "\n".join(lines[12:])
    assert "progress countdown_ref: 100.00% 12/12 events" in rest
    assert "events_emitted = 12" in rest
    assert "summary countdown_ref: cycle 1, 12 events, 0 timeouts, eof yes" in rest


def test_max_events_stops_early(ref_so: Path) -> None:
    r = run_json("--max-events", "7", str(ref_so), "--open-params", "100", "--config",
                 '{"batch_size": 7}')  # fmt: skip
    assert r.rc == 0
    assert r.texts == expected(100)[:7]
    assert r.summaries[0]["events"] == 7 and r.summaries[0]["eof"] is False
    # the host stopped after the first batch: the plugin produced 7 of 100
    assert r.progress[0]["pct"] == 700 and r.progress[0]["text"] == "7/100 events"
    # a limit inside a batch drops the rest of that batch
    r = run_json("--max-events", "5", str(ref_so), "--open-params", "100")
    assert r.texts == expected(100)[:5] and r.progress[0]["pct"] == 10000


def test_quiet_and_no_event_to_string(ref_so: Path) -> None:
    quiet = run_json("--quiet", str(ref_so), "--open-params", "5000")
    assert quiet.rc == 0 and quiet.events == []
    assert quiet.summaries[0]["events"] == 5000 and quiet.summaries[0]["eof"]
    raw = run_json("--no-event-to-string", str(ref_so), "--open-params", "3")
    assert raw.rc == 0
    assert [e["info"] for e in raw.events] == [None, None, None]
    assert raw.texts == expected(3)


def test_empty_config_is_the_default(ref_so: Path) -> None:
    r = run_json(str(ref_so), "--config", "", "--open-params", "600")
    assert r.rc == 0, r.message
    assert r.texts == expected(600)


# ----------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("params", ["abc", "-1", "12x", "99999999999999999999999"])
def test_bad_open_params(ref_so: Path, params: str) -> None:
    r = run_json(str(ref_so), "--open-params", params)
    assert r.rc == 1
    (err,) = r.errors
    assert err["stage"] == "open" and err["plugin"] == "countdown_ref"
    assert "could not open the capture" in err["message"]
    assert params[:20] in err["message"]  # the plugin's own get_last_error text
    assert r.events == [] and r.summaries == []


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        ('{"batch_size": "big"}', ["$.batch_size: 'big' is not of type 'integer'"]),
        ('{"batch_size": 1.5}', ["$.batch_size: 1.5 is not of type 'integer'"]),
        ('{"batch_size": 0}', ["$.batch_size: 0 is less than the minimum of 1"]),
        ('{"batch_size": 70000}', ["$.batch_size: 70000 is greater than the maximum of 65536"]),
        ('{"other": 1}', ["$: Additional properties are not allowed ('other' was unexpected)"]),
        ("[512]", ["$: [512] is not of type 'object'"]),
    ],
)
def test_config_rejected_by_schema(ref_so: Path, config: str, fragments: list[str]) -> None:
    r = run_json(str(ref_so), "--config", config)
    assert r.rc == 1
    (err,) = r.errors
    assert err["stage"] == "config"
    assert "init config does not match the plugin's init schema" in err["message"]
    for fragment in fragments:
        assert fragment in err["message"]
    assert r.events == []


@pytest.mark.parametrize("config", ["batch_size=3", "{batch_size: 3}", '{"batch_size": 3'])
def test_config_not_json(ref_so: Path, config: str) -> None:
    r = run_json(str(ref_so), "--config", config)
    assert r.rc == 1
    assert r.errors[0]["stage"] == "config"
    assert "init config is not valid JSON" in r.message


def test_errors_in_text_mode_go_to_stderr(ref_so: Path) -> None:
    proc = run_host(["run", str(ref_so), "--config", '{"batch_size": "x"}'])
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: countdown_ref: ")
    assert "$.batch_size" in proc.stderr and "(stage: config)" in proc.stderr


def test_set_config(ref_so: Path) -> None:
    ok = run_json(str(ref_so), "--open-params", "20", "--set-config", '{"batch_size": 3}')
    assert ok.rc == 0, ok.message
    assert ok.texts == expected(20)
    bad = run_json(str(ref_so), "--set-config", '{"batch_size": -4}')
    assert bad.rc == 1
    assert bad.errors[0]["stage"] == "set_config"
    assert "$.batch_size: -4 is less than the minimum of 1" in bad.message


def test_missing_and_non_elf_libraries(tmp_path: Path) -> None:
    missing = run_json(str(tmp_path / "nope.so"))
    assert missing.rc == 1 and missing.errors[0]["stage"] == "load"
    assert "cannot load plugin" in missing.message and "nope.so" in missing.message
    junk = tmp_path / "junk.so"
    junk.write_text("not a library")
    bad = run_json(str(junk))
    assert bad.rc == 1 and "cannot load plugin" in bad.message


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["frobnicate"],
        ["run", "--bogus", "x.so"],
        ["run", "x.so", "--json"],  # run options go before the first path
        ["run", "--config", "{}", "x.so"],  # plugin options go after their path
        ["run", "--max-events", "many", "x.so"],
        ["run", "--cycles", "0", "x.so"],
        ["info"],
        ["run", "--fields", "a.b,,c.d", "x.so"],  # an empty field spec
        ["run", "--fields"],
        ["run", "--fields", "a.b", "--extract-threads", "2", "x.so"],  # needs --inits 2
        ["run", "--extract-repeat", "3", "x.so"],  # nothing to extract
        ["run", "--offsets", "--output", "%a.b", "x.so"],  # offsets are keyed by --fields
        ["run", "x.so", "--filter", "a.b exists"],  # a run option after the path
    ],
)
def test_usage_errors(args: list[str]) -> None:
    proc = run_host(args)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


# ----------------------------------------------------------------------------------------
# cycles, reload, several states, several plugins, deepbind


@pytest.mark.parametrize("reload", [True, False])
def test_cycles(ref_so: Path, reload: bool) -> None:
    options = ["--cycles", "3"] + (["--reload"] if reload else [])
    r = run_json(*options, str(ref_so), "--open-params", "10")
    assert r.rc == 0, r.message
    assert r.texts == expected(10) * 3
    assert [e["evtnum"] for e in r.events] == list(range(1, 11)) * 3
    assert [s["cycle"] for s in r.summaries] == [1, 2, 3]
    assert all(s["events"] == 10 and s["eof"] for s in r.summaries)
    # a fresh state every cycle: the metric restarts
    assert [m["items"][0]["value"] for m in r.metrics] == [10, 10, 10]


def test_several_inits(ref_so: Path) -> None:
    r = run_json("--inits", "3", str(ref_so), "--open-params", "10")
    assert r.rc == 0, r.message
    assert r.texts == expected(10)
    assert r.summaries[0]["inits"] == 3


def test_two_plugins_in_one_process(ref_so: Path, ref2_so: Path) -> None:
    r = run_json(
        str(ref_so), "--open-params", "2000", "--config", '{"batch_size": 7}',
        str(ref2_so), "--open-params", "1500",
    )  # fmt: skip
    assert r.rc == 0, r.message
    by_plugin: dict[str, list[dict[str, Any]]] = {}
    for e in r.events:
        by_plugin.setdefault(e["plugin"], []).append(e)
    first, second = by_plugin["countdown_ref"], by_plugin["countdown_ref2"]
    assert [bytes.fromhex(e["payload_hex"]).decode() for e in first] == expected(2000)
    assert [bytes.fromhex(e["payload_hex"]).decode() for e in second] == expected(1500)
    assert {e["plugin_id"] for e in first} == {998} and {e["plugin_id"] for e in second} == {997}
    assert {e["source"] for e in second} == {"countdown_ref2"}
    # event numbers are per plugin
    assert [e["evtnum"] for e in second] == list(range(1, 1501))
    assert sorted(s["plugin"] for s in r.summaries) == ["countdown_ref", "countdown_ref2"]


def test_two_copies_with_the_same_name_are_rejected(ref_so: Path, tmp_path: Path) -> None:
    copy = tmp_path / "libcopy.so"
    shutil.copy(ref_so, copy)
    r = run_json(str(ref_so), str(copy))
    assert r.rc == 1
    assert "a plugin named 'countdown_ref' is already loaded" in r.message


def test_deepbind(ref_so: Path) -> None:
    r = run_json("--deepbind", "--cycles", "2", "--reload", str(ref_so), "--open-params", "4")
    assert r.rc == 0, r.message
    assert r.texts == expected(4) * 2


def test_throughput_figures(ref_so: Path) -> None:
    r = run_json("--quiet", "--no-event-to-string", str(ref_so), "--open-params", "200000")
    assert r.rc == 0
    summary = r.summaries[0]
    assert summary["events"] == 200000
    assert summary["capture_seconds"] > 0 and summary["events_per_second"] > 0


# ----------------------------------------------------------------------------------------
# small broken plugins

TINY = r"""
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fp_abi.h"

#define EXPORT __attribute__((visibility("default")))
#ifndef REQ_API
#define REQ_API "3.0.0"
#endif
#ifndef PLUGIN_ID
#define PLUGIN_ID 500
#endif
#ifndef PLUGIN_SOURCE
#define PLUGIN_SOURCE "tiny"
#endif
#ifndef EVENT_ID
#define EVENT_ID 0
#endif
#ifndef TIMEOUTS
#define TIMEOUTS 0
#endif
#ifndef BEHAVIOUR
#define BEHAVIOUR 0
#endif

typedef struct {
    char err[256];
    int calls;
    uint8_t evt[64];
    ss_plugin_event *ptr;
} tiny;

EXPORT const char *plugin_get_required_api_version(void) { return REQ_API; }
EXPORT const char *plugin_get_version(void) { return "0.1.0"; }
EXPORT const char *plugin_get_name(void) { return "tiny"; }
EXPORT const char *plugin_get_description(void) { return "a tiny test plugin"; }
#ifndef NO_CONTACT
EXPORT const char *plugin_get_contact(void) { return "nobody"; }
#endif
#ifndef NO_ID
EXPORT uint32_t plugin_get_id(void) { return PLUGIN_ID; }
#endif
#ifndef NO_SOURCE
EXPORT const char *plugin_get_event_source(void) { return PLUGIN_SOURCE; }
#endif
#ifdef SCHEMA
EXPORT const char *plugin_get_init_schema(ss_plugin_schema_type *t)
{
    *t = SS_PLUGIN_SCHEMA_JSON;
    return SCHEMA;
}
#endif

EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    tiny *s = calloc(1, sizeof *s);
#if BEHAVIOUR == 3
    snprintf(s->err, sizeof s->err, "tiny refuses to start with config '%s'", in->config);
    *rc = SS_PLUGIN_FAILURE;
    return s;
#endif
#if BEHAVIOUR == 4
    signal(SIGINT, SIG_IGN);
#endif
#if BEHAVIOUR == 7
    in->log_fn(in->owner, NULL, "hello from init", SS_PLUGIN_LOG_SEV_WARNING);
    in->log_fn(in->owner, "tiny-part", "two\nlines", SS_PLUGIN_LOG_SEV_INFO);
    if (in->tables == NULL && in->get_owner_last_error(in->owner) == NULL)
        in->log_fn(in->owner, NULL, "no tables, no owner error", SS_PLUGIN_LOG_SEV_DEBUG);
#endif
#if BEHAVIOUR == 9
    *rc = SS_PLUGIN_FAILURE;
    free(s);
    return NULL;
#endif
    (void)in;
    *rc = SS_PLUGIN_SUCCESS;
    return s;
}

EXPORT void plugin_destroy(ss_plugin_t *s)
{
    fprintf(stderr, "tiny: destroy called\n");
    free(s);
}

EXPORT const char *plugin_get_last_error(ss_plugin_t *s) { return ((tiny *)s)->err; }

#ifndef NO_CAPS
EXPORT ss_instance_t *plugin_open(ss_plugin_t *s, const char *params, ss_plugin_rc *rc)
{
    (void)params;
    *rc = SS_PLUGIN_SUCCESS;
    return s;
}

#ifndef NO_CLOSE
EXPORT void plugin_close(ss_plugin_t *s, ss_instance_t *h) { (void)s; (void)h; }
#endif

EXPORT ss_plugin_rc plugin_next_batch(ss_plugin_t *st, ss_instance_t *h, uint32_t *nevts,
                                      ss_plugin_event ***evts)
{
    tiny *s = st;
    uint64_t ts = 1234, tid = 77;
    uint32_t len = 38 + 5, nparams = 2, l1 = 4, l2 = 5, id = EVENT_ID;
    uint16_t type = 322;
    (void)h;
    s->calls++;
    *nevts = 0;
#if BEHAVIOUR == 1
    return SS_PLUGIN_SUCCESS;
#elif BEHAVIOUR == 2
    snprintf(s->err, sizeof s->err, "tiny next_batch broke on call %d", s->calls);
    return SS_PLUGIN_FAILURE;
#elif BEHAVIOUR == 8
    return (ss_plugin_rc)42;
#endif
    if (s->calls <= TIMEOUTS)
        return SS_PLUGIN_TIMEOUT;
    if (s->calls > TIMEOUTS + 3)
        return SS_PLUGIN_EOF;
#if BEHAVIOUR == 6
    len += 1;
#endif
    memcpy(s->evt + 0, &ts, 8);
    memcpy(s->evt + 8, &tid, 8);
    memcpy(s->evt + 16, &len, 4);
    memcpy(s->evt + 20, &type, 2);
    memcpy(s->evt + 22, &nparams, 4);
    memcpy(s->evt + 26, &l1, 4);
    memcpy(s->evt + 30, &l2, 4);
    memcpy(s->evt + 34, &id, 4);
    memcpy(s->evt + 38, "hello", 5);
    s->ptr = (ss_plugin_event *)s->evt;
    *evts = &s->ptr;
    *nevts = 1;
    return SS_PLUGIN_SUCCESS;
}
#endif
"""


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Builds a variant of TINY: tiny(NAME=VALUE, FLAG=True, ...)."""
    return builder(tmp_path_factory, "tiny", TINY, werror=False)


def test_tiny_baseline(tiny: Callable[..., Path]) -> None:
    r = run_json(str(tiny(TIMEOUTS=2)))
    assert r.rc == 0, r.message + r.stderr
    assert r.texts == ["hello"] * 3
    assert all(e["ts"] == 1234 for e in r.events)  # a real timestamp is kept
    assert all(e["tid"] == -1 for e in r.events)  # tid forced to -1 for plugin events
    assert all(e["plugin_id"] == 500 for e in r.events)
    assert all(e["info"] is None for e in r.events)  # no event_to_string exported
    assert r.summaries[0]["timeouts"] == 2 and r.summaries[0]["eof"] is True
    assert "tiny: destroy called" in r.stderr
    assert r.progress == [] and r.metrics == []


@pytest.mark.parametrize(
    ("defines", "fragments"),
    [
        ({"NO_CLOSE": True}, ["incomplete event sourcing capability: missing plugin_close"]),
        ({"NO_CONTACT": True}, ["does not export required symbols: plugin_get_contact"]),
        ({"NO_CAPS": True}, ["plugin implements no capability"]),
        ({"REQ_API": "4.0.0"}, ["requires API version 4.0.0", "host's API version 3.12.0"]),
        ({"REQ_API": "3.13.0"}, ["requires API version 3.13.0", "3.12.0"]),
        ({"REQ_API": "3.12.1"}, ["requires API version 3.12.1", "3.12.0"]),
        ({"REQ_API": "3.x"}, ["invalid required API version '3.x'"]),
        ({"REQ_API": "3.0"}, ["invalid required API version '3.0'"]),
        ({"NO_SOURCE": True}, ["has ID 500 but no event source"]),
        ({"PLUGIN_SOURCE": ""}, ["has ID 500 but no event source"]),
        ({"NO_ID": True}, ["has event source 'tiny' but no ID"]),
        ({"PLUGIN_SOURCE": "syscall"}, ["reserved event source 'syscall'"]),
        (
            {"SCHEMA": '{"$schema": "https://json-schema.org/draft/2020-12/schema"}'},
            ["2020-12", "only JSON Schema drafts 3, 4 and 7"],
        ),
        (
            {"SCHEMA": '{"$schema": "https://json-schema.org/draft/2019-09/schema"}'},
            ["2019-09", "drafts 3, 4 and 7"],
        ),
        ({"SCHEMA": '{"type": "object"'}, ["init schema is not valid JSON"]),
    ],
)
def test_load_errors(
    tiny: Callable[..., Path], defines: dict[str, object], fragments: list[str]
) -> None:
    lib = tiny(**defines)
    for args in (["run", "--json", str(lib)], ["info", "--json", str(lib)]):
        r = Run(run_host(args))
        assert r.rc == 1, r.stdout
        (err,) = r.errors
        assert err["stage"] == "load"
        for fragment in fragments:
            assert fragment in err["message"]


def test_supported_api_versions_load(tiny: Callable[..., Path]) -> None:
    for version in ("3.12.0", "3.0.7", "3.3.0"):
        r = run_json(str(tiny(REQ_API=version)))
        assert r.rc == 0, r.message


def test_older_schema_drafts_are_accepted(tiny: Callable[..., Path]) -> None:
    for draft in ("draft-04", "draft-07", "draft-03"):
        schema = json.dumps(
            {"$schema": f"http://json-schema.org/{draft}/schema#", "type": "object"}
        )
        assert run_json(str(tiny(SCHEMA=schema))).rc == 0


@pytest.mark.parametrize(
    ("behaviour", "stage", "fragment"),
    [
        (1, "next_batch", "next_batch returned SUCCESS with no events"),
        (2, "next_batch", "next_batch failed: tiny next_batch broke on call 1"),
        (8, "next_batch", "unknown return code 42"),
        (6, "event", "does not match its parameters"),
        (4, "init", "plugin init changed the SIGINT handler"),
        (9, "init", "returned no state, so no error message is available"),
    ],
)
def test_runtime_errors(
    tiny: Callable[..., Path], behaviour: int, stage: str, fragment: str
) -> None:
    r = run_json(str(tiny(BEHAVIOUR=behaviour)))
    assert r.rc == 1
    (err,) = r.errors
    assert err["stage"] == stage and err["plugin"] == "tiny"
    assert fragment in err["message"]
    if behaviour != 9:
        assert "tiny: destroy called" in r.stderr  # cleanup still ran
    assert r.summaries == []


def test_wrong_plugin_id_in_event(tiny: Callable[..., Path]) -> None:
    r = run_json(str(tiny(EVENT_ID=7)))
    assert r.rc == 1
    assert "event carries plugin id 7 but the plugin's id is 500" in r.message
    assert run_json(str(tiny(EVENT_ID=500))).rc == 0  # its own id is fine


def test_init_failure_message_and_destroy(tiny: Callable[..., Path]) -> None:
    r = run_json(str(tiny(BEHAVIOUR=3)), "--config", "cfg-text")
    assert r.rc == 1
    (err,) = r.errors
    assert err["stage"] == "init"
    assert "tiny refuses to start with config 'cfg-text'" in err["message"]
    assert r.stderr.count("tiny: destroy called") == 1
    # in text mode the message goes to stderr
    proc = run_host(["run", str(tiny(BEHAVIOUR=3))])
    assert proc.returncode == 1 and "tiny refuses to start" in proc.stderr


def test_info_survives_an_init_failure(tiny: Callable[..., Path]) -> None:
    proc = run_host(["info", "--json", str(tiny(BEHAVIOUR=3))])
    assert proc.returncode == 0
    info = json.loads(proc.stdout)
    assert info["name"] == "tiny" and info["open_params"] is None
    assert "tiny refuses to start" in info["init_error"]
    assert "warning: tiny: could not init" in proc.stderr


def test_log_fn(tiny: Callable[..., Path]) -> None:
    r = run_json(str(tiny(BEHAVIOUR=7)))
    assert r.rc == 0, r.message
    lines = r.stderr.splitlines()
    assert "[tiny] WARNING: hello from init" in lines
    assert "[tiny-part] INFO: two lines" in lines  # one line per message
    assert "[tiny] DEBUG: no tables, no owner error" in lines


def test_set_config_without_the_symbol(tiny: Callable[..., Path]) -> None:
    r = run_json(str(tiny()), "--set-config", "x")
    assert r.rc == 1 and r.errors[0]["stage"] == "set_config"
    assert "does not export plugin_set_config" in r.message


# ----------------------------------------------------------------------------------------
# the schema validator, through a tiny plugin with a richer schema

RICH_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "definitions": {
        "port": {"type": "integer", "minimum": 1, "exclusiveMaximum": 65536},
        "name": {"type": "string", "minLength": 2, "maxLength": 4},
    },
    "properties": {
        "port": {"$ref": "#/definitions/port"},
        "names": {"type": "array", "items": {"$ref": "#/definitions/name"}, "maxItems": 2},
        "mode": {"enum": ["fast", "slow"]},
        "kind": {"const": "k"},
        "limit": {"type": ["integer", "null"]},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 10}]},
        "one": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 5}]},
        "both": {"allOf": [{"type": "number"}, {"maximum": 3}]},
        "ratio": {"type": "number", "exclusiveMinimum": 0},
        "extra": {"type": "object", "additionalProperties": {"type": "boolean"}},
    },
    "required": ["port"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"port": 80}, None),
        ({"port": 65535, "names": ["ab", "abcd"], "mode": "slow", "kind": "k"}, None),
        ({"port": 1, "limit": None, "either": "s", "one": 2, "both": 2.5, "ratio": 0.1}, None),
        ({"port": 1, "either": 11, "one": 6.5, "extra": {"a": True}}, None),
        ({"port": 2.0}, None),  # an integral number is an integer (draft 6+)
        # jsonschema's messages (the best match), after the instance path
        ({}, "$: 'port' is a required property"),
        ({"port": 0}, "$.port: 0 is less than the minimum of 1"),
        ({"port": 65536}, "$.port: 65536 is greater than or equal to the maximum of 65536"),
        ({"port": 1, "names": ["a"]}, "$.names[0]: 'a' is too short"),
        ({"port": 1, "names": ["abcde"]}, "$.names[0]: 'abcde' is too long"),
        ({"port": 1, "names": ["ab"] * 3}, "$.names: ['ab', 'ab', 'ab'] is too long"),
        ({"port": 1, "mode": "medium"}, "$.mode: 'medium' is not one of ['fast', 'slow']"),
        ({"port": 1, "kind": "x"}, "$.kind: 'k' was expected"),
        ({"port": 1, "limit": "no"}, "$.limit: 'no' is not of type 'integer', 'null'"),
        ({"port": 1, "either": 3}, "$.either: 3 is less than the minimum of 10"),
        ({"port": 1, "one": 7}, "$.one: 7 is valid under each of"),
        ({"port": 1, "both": 4}, "$.both: 4 is greater than the maximum of 3"),
        ({"port": 1, "ratio": 0}, "$.ratio: 0 is less than or equal to the minimum of 0"),
        ({"port": 1, "extra": {"a": 1}}, "$.extra.a: 1 is not of type 'boolean'"),
        ({"port": 1, "nope": 1},
         "$: Additional properties are not allowed ('nope' was unexpected)"),
    ],
)
def test_schema_validation(
    tiny: Callable[..., Path], config: dict[str, Any], error: str | None
) -> None:
    lib = tiny(SCHEMA=json.dumps(RICH_SCHEMA))
    r = run_json(str(lib), "--config", json.dumps(config))
    if error is None:
        assert r.rc == 0, r.message
    else:
        assert r.rc == 1
        assert r.errors[0]["stage"] == "config"
        assert error in r.message, r.message


def test_schema_ref_that_does_not_resolve(tiny: Callable[..., Path]) -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "#/definitions/missing"}}}
    r = run_json(str(tiny(SCHEMA=json.dumps(schema))), "--config", '{"a": 1}')
    assert r.rc == 1
    assert "cannot resolve schema reference '/definitions/missing'" in r.message


def test_json_strings_are_escaped_and_unicode_survives(tiny: Callable[..., Path]) -> None:
    schema = {"type": "object", "properties": {"s": {"maxLength": 2}}}
    lib = tiny(SCHEMA=json.dumps(schema))
    # "é€" is two code points (5 bytes): accepted; three code points are not
    assert run_json(str(lib), "--config", '{"s": "\\u00e9\\u20ac"}').rc == 0
    r = run_json(str(lib), "--config", '{"s": "é€x", "q\\"uote": 1}')
    assert r.rc == 1 and "$.s: 'é€x' is too long" in r.message


# ----------------------------------------------------------------------------------------
# field extraction: the C reference


def test_ref_fields_json(ref_so: Path) -> None:
    r = run_json("--fields", "countdown_ref.remaining, countdown_ref.text", str(ref_so),
                 "--open-params", "5")  # fmt: skip
    assert r.rc == 0, r.message + r.stderr
    assert [e["fields"] for e in r.events] == [
        {"countdown_ref.remaining": k, "countdown_ref.text": f"{k} events remaining"}
        for k in range(4, -1, -1)
    ]
    assert all("output" not in e and "offsets" not in e for e in r.events)
    (summary,) = r.summaries
    assert summary["extract_failures"] == 0 and summary["filtered_out"] == 0
    assert "extract_calls" not in summary  # only with --extract-repeat


def test_ref_fields_text(ref_so: Path) -> None:
    proc = run_host(["run", "--fields", "countdown_ref.remaining", str(ref_so),
                     "--open-params", "3"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(" ", 3)[3] for line in lines[:3]] == [
        f"{k} events remaining countdown_ref.remaining={k}" for k in (2, 1, 0)
    ]
    assert "0 extract failures, 0 filtered out" in lines[-1]


def test_ref_output_and_filter(ref_so: Path) -> None:
    output = "left=%countdown_ref.remaining [%countdown_ref.text] 100% %1"
    expr = "countdown_ref.remaining >= 2 and countdown_ref.remaining <= 4"
    args = ["--output", output, "--filter", expr]
    r = run_json(*args, str(ref_so), "--open-params", "10")
    assert r.rc == 0, r.message
    assert [e["output"] for e in r.events] == [
        f"left={k} [{k} events remaining] 100% %1" for k in (4, 3, 2)
    ]
    assert [e["evtnum"] for e in r.events] == [6, 7, 8]  # numbering counts every event
    assert all("fields" not in e for e in r.events)  # no --fields
    assert r.summaries[0]["filtered_out"] == 7
    # text mode: the formatted line replaces the event_to_string text
    proc = run_host(["run", *args, str(ref_so), "--open-params", "10"])
    lines = proc.stdout.splitlines()
    assert [line.split(" ", 3)[3] for line in lines[:3]] == [
        f"left={k} [{k} events remaining] 100% %1" for k in (4, 3, 2)
    ]
    assert "7 filtered out" in proc.stdout


def test_ref_fields_across_cycles(ref_so: Path) -> None:
    for options in (["--cycles", "2"], ["--cycles", "2", "--reload"]):
        r = run_json(*options, "--fields", "countdown_ref.remaining", str(ref_so),
                     "--open-params", "2")  # fmt: skip
        assert r.rc == 0, r.message
        assert [e["fields"]["countdown_ref.remaining"] for e in r.events] == [1, 0, 1, 0]


def test_ref_extract_repeat(ref_so: Path) -> None:
    r = run_json("--quiet", "--fields", "countdown_ref.remaining", "--extract-repeat", "5",
                 str(ref_so), "--open-params", "1000")  # fmt: skip
    assert r.rc == 0, r.message
    (summary,) = r.summaries
    assert summary["extract_calls"] == 5000
    assert summary["extract_ns_per_call"] > 0
    assert summary["extract_failures"] == 0


def test_ref_extract_threads(ref_so: Path) -> None:
    r = run_json("--quiet", "--inits", "2", "--extract-threads", "2", "--fields",
                 "countdown_ref.remaining,countdown_ref.text", str(ref_so),
                 "--open-params", "12000")  # fmt: skip
    assert r.rc == 0, r.message
    (check,) = [x["extract_check"] for x in r.records if "extract_check" in x]
    # the first 10000 events, two fields each, on two threads
    assert check == {"plugin": "countdown_ref", "threads": 2, "events": 10000,
                     "calls": 40000, "mismatches": 0}  # fmt: skip


# ----------------------------------------------------------------------------------------
# field extraction: a C test plugin with every field type and argument kind

XT = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fp_abi.h"

#define EXPORT __attribute__((visibility("default")))
#ifndef REQ_API
#define REQ_API "3.0.0"
#endif
#ifndef PNAME
#define PNAME "xt"
#endif
#ifndef NEVENTS
#define NEVENTS 5
#endif
#define MAXF 8

static const char *const k_names[] = {
    "xt.num", "xt.name", "xt.tags", "xt.nums", "xt.ip", "xt.flag", "xt.idx", "xt.key",
    "xt.fail", "xt.bad_reslen", "xt.null_str", "xt.bad_ip", "xt.offs", "xt.saw_offsets",
    "xt.secret", "xt.racy", "xt.net"};
static const uint32_t k_types[] = {
    FTYPE_UINT64, FTYPE_STRING, FTYPE_STRING, FTYPE_UINT64, FTYPE_IPADDR, FTYPE_BOOL,
    FTYPE_UINT64, FTYPE_STRING, FTYPE_UINT64, FTYPE_UINT64, FTYPE_STRING, FTYPE_IPADDR,
    FTYPE_STRING, FTYPE_BOOL, FTYPE_STRING, FTYPE_UINT64, FTYPE_IPNET};
static const uint32_t k_lists[] = {0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
#define NFIELDS (sizeof k_names / sizeof k_names[0])

#ifndef FIELDS
#define FIELDS                                                                                  \
    "[{\"type\": \"uint64\", \"name\": \"xt.num\", \"desc\": \"k times ten\"},"                  \
    "{\"type\": \"string\", \"name\": \"xt.name\", \"desc\": \"a name per k\", "               \
    "\"display\": \"Name\", \"addOutput\": true},"                                              \
    "{\"type\": \"string\", \"name\": \"xt.tags\", \"desc\": \"tags\", \"isList\": true},"    \
    "{\"type\": \"uint64\", \"name\": \"xt.nums\", \"desc\": \"k and k+1\", \"isList\": true}," \
    "{\"type\": \"ipaddr\", \"name\": \"xt.ip\", \"desc\": \"an address\"},"                   \
    "{\"type\": \"bool\", \"name\": \"xt.flag\", \"desc\": \"k is even\"},"                    \
    "{\"type\": \"uint64\", \"name\": \"xt.idx\", \"desc\": \"index*100+k\", "                 \
    "\"arg\": {\"isRequired\": true, \"isIndex\": true}},"                                     \
    "{\"type\": \"string\", \"name\": \"xt.key\", \"desc\": \"key-k\", "                       \
    "\"arg\": {\"isKey\": true}},"                                                              \
    "{\"type\": \"uint64\", \"name\": \"xt.fail\", \"desc\": \"fails on odd k\"},"             \
    "{\"type\": \"uint64\", \"name\": \"xt.bad_reslen\", \"desc\": \"two values\"},"           \
    "{\"type\": \"string\", \"name\": \"xt.null_str\", \"desc\": \"a NULL string\"},"          \
    "{\"type\": \"ipaddr\", \"name\": \"xt.bad_ip\", \"desc\": \"a 5-byte address\"},"        \
    "{\"type\": \"string\", \"name\": \"xt.offs\", \"desc\": \"the payload, with offsets\"}," \
    "{\"type\": \"bool\", \"name\": \"xt.saw_offsets\", \"desc\": \"value_offsets given\"},"  \
    "{\"type\": \"string\", \"name\": \"xt.secret\", \"desc\": \"hidden\", "                   \
    "\"properties\": [\"hidden\", \"info\"]},"                                                  \
    "{\"type\": \"uint64\", \"name\": \"xt.racy\", \"desc\": \"a global counter\"},"           \
    "{\"type\": \"ipnet\", \"name\": \"xt.net\", \"desc\": \"a network\"}]"
#define CHECK_IDS 1
#endif

static const char *const k_words[] = {"alpha", "beta", "gamma", "delta", "epsilon"};
static uint64_t g_racy; /* shared by every state: wrong on purpose */

typedef struct {
    char err[256];
    int calls;
    uint8_t evt[NEVENTS][64];
    ss_plugin_event *ptrs[NEVENTS];
    /* extraction results, per field of a call */
    uint64_t u64[MAXF][2];
    const char *strs[MAXF][2];
    char sbuf[MAXF][2][64];
    ss_plugin_bool bools[MAXF];
    ss_plugin_byte_buffer bufs[MAXF];
    uint8_t ip[MAXF][16];
    uint32_t starts[MAXF], lengths[MAXF];
} xt;

EXPORT const char *plugin_get_required_api_version(void) { return REQ_API; }
EXPORT const char *plugin_get_version(void) { return "0.1.0"; }
EXPORT const char *plugin_get_name(void) { return PNAME; }
EXPORT const char *plugin_get_description(void) { return "extraction test plugin"; }
EXPORT const char *plugin_get_contact(void) { return "nobody"; }

EXPORT ss_plugin_t *plugin_init(const ss_plugin_init_input *in, ss_plugin_rc *rc)
{
    (void)in;
    *rc = SS_PLUGIN_SUCCESS;
    return calloc(1, sizeof(xt));
}
EXPORT void plugin_destroy(ss_plugin_t *s) { free(s); }
EXPORT const char *plugin_get_last_error(ss_plugin_t *s) { return ((xt *)s)->err; }

#ifndef EXTRACT_ONLY
#ifndef SYSCALL_SRC
EXPORT uint32_t plugin_get_id(void) { return 600; }
EXPORT const char *plugin_get_event_source(void) { return "xt"; }
#endif
#ifndef EVTYPE
#define EVTYPE 322
#endif
EXPORT ss_instance_t *plugin_open(ss_plugin_t *s, const char *params, ss_plugin_rc *rc)
{
    (void)params;
    *rc = SS_PLUGIN_SUCCESS;
    return s;
}
EXPORT void plugin_close(ss_plugin_t *s, ss_instance_t *h) { (void)s; (void)h; }
EXPORT ss_plugin_rc plugin_next_batch(ss_plugin_t *st, ss_instance_t *h, uint32_t *nevts,
                                      ss_plugin_event ***evts)
{
    xt *s = st;
    int k;
    (void)h;
    if (s->calls++) {
        *nevts = 0;
        return SS_PLUGIN_EOF;
    }
    for (k = 0; k < NEVENTS; k++) {
        char payload[16];
        uint64_t ts = 1000 + (uint64_t)k, tid = 1;
        uint32_t l2 = (uint32_t)snprintf(payload, sizeof payload, "%d", k);
        uint32_t len = 38 + l2, nparams = 2, l1 = 4, id = 0;
        uint16_t type = EVTYPE, s1 = 4, s2 = (uint16_t)l2;
        uint8_t *e = s->evt[k];
        memcpy(e + 0, &ts, 8);
        memcpy(e + 8, &tid, 8);
        memcpy(e + 20, &type, 2);
        memcpy(e + 22, &nparams, 4);
        if (type == 322) { /* u32 parameter lengths (a large payload event) */
            memcpy(e + 26, &l1, 4);
            memcpy(e + 30, &l2, 4);
            memcpy(e + 34, &id, 4);
            memcpy(e + 38, payload, l2);
        } else { /* other event types: u16 lengths, the payload at 34 */
            len = 34 + l2;
            memcpy(e + 26, &s1, 2);
            memcpy(e + 28, &s2, 2);
            memcpy(e + 30, &id, 4);
            memcpy(e + 34, payload, l2);
        }
        memcpy(e + 16, &len, 4);
        s->ptrs[k] = (ss_plugin_event *)e;
    }
    *evts = s->ptrs;
    *nevts = NEVENTS;
    return SS_PLUGIN_SUCCESS;
}
#endif

#ifndef NO_GET_FIELDS
EXPORT const char *plugin_get_fields(void)
{
#ifdef FIELDS_NULL
    return NULL;
#else
    return FIELDS;
#endif
}
#endif

#ifdef XSOURCES
EXPORT const char *plugin_get_extract_event_sources(void) { return XSOURCES; }
#endif

#ifdef XTYPES
static uint16_t k_xtypes[] = {
    XTYPES,
#ifdef XTYPE2
    XTYPE2,
#endif
};
EXPORT uint16_t *plugin_get_extract_event_types(uint32_t *n, ss_plugin_t *s)
{
    (void)s;
    *n = sizeof k_xtypes / sizeof k_xtypes[0];
    return k_xtypes;
}
#endif

#ifndef NO_EXTRACT_FIELDS
EXPORT ss_plugin_rc plugin_extract_fields(ss_plugin_t *st, const ss_plugin_event_input *ev,
                                          const ss_plugin_field_extract_input *in)
{
    xt *s = st;
    const uint8_t *b = (const uint8_t *)ev->evt;
    uint32_t plen, i;
    uint64_t k = 0;
    const char *p;
    ss_plugin_extract_value_offsets *vo = NULL;
    if (in->num_fields > MAXF) {
        snprintf(s->err, sizeof s->err, "too many fields");
        return SS_PLUGIN_FAILURE;
    }
#ifdef READ_OFFSETS
    vo = in->value_offsets;
#endif
    if (ev->evt->type == 322) {
        memcpy(&plen, b + 30, 4);
        p = (const char *)b + 38;
    } else {
        uint16_t l16;
        memcpy(&l16, b + 28, 2);
        plen = l16;
        p = (const char *)b + 34;
    }
    for (i = 0; i < plen && p[i] >= '0' && p[i] <= '9'; i++)
        k = k * 10 + (uint64_t)(p[i] - '0');
    for (i = 0; i < in->num_fields; i++) {
        ss_plugin_extract_field *f = &in->fields[i];
        uint32_t id = f->field_id;
        s->starts[i] = s->lengths[i] = 0;
#ifdef CHECK_IDS
        /* flist is a boolean (libsinsp passes its list flag, not 1) */
        if (id >= NFIELDS || strcmp(f->field, k_names[id]) || f->ftype != k_types[id] ||
            !f->flist != !k_lists[id]) {
            snprintf(s->err, sizeof s->err, "host passed field id %u as '%s' type %u list %u",
                     id, f->field, f->ftype, f->flist);
            return SS_PLUGIN_FAILURE;
        }
#endif
        f->res_len = 1;
        f->res.u64 = s->u64[i];
        switch (id) {
        case 0: s->u64[i][0] = k * 10; break;
        case 1:
            s->strs[i][0] = k_words[k % 5];
            f->res.str = s->strs[i];
            break;
        case 2: {
            static const char *tags[5][2] = {{0, 0}, {"a", 0}, {"a", "b"}, {"b", "c"}, {"x", 0}};
            static const uint64_t ntags[5] = {0, 1, 2, 2, 1};
            s->strs[i][0] = tags[k % 5][0];
            s->strs[i][1] = tags[k % 5][1];
            f->res.str = s->strs[i];
            f->res_len = ntags[k % 5];
            break;
        }
        case 3:
            s->u64[i][0] = k;
            s->u64[i][1] = k + 1;
            f->res_len = 2;
            break;
        case 4:
            memset(s->ip[i], 0, 16);
            if (k % 2 == 0) {
                s->ip[i][0] = 192;
                s->ip[i][1] = 168;
                s->ip[i][3] = (uint8_t)k;
                s->bufs[i].len = 4;
            } else {
                s->ip[i][15] = (uint8_t)k;
                s->bufs[i].len = 16;
            }
            s->bufs[i].ptr = s->ip[i];
            f->res.buf = &s->bufs[i];
            break;
        case 5:
            s->bools[i] = k % 2 == 0;
            f->res.boolean = &s->bools[i];
            break;
        case 6:
            if (!f->arg_present || f->arg_key) {
                snprintf(s->err, sizeof s->err, "xt.idx without an index");
                return SS_PLUGIN_FAILURE;
            }
            s->u64[i][0] = f->arg_index * 100 + k;
            break;
        case 7:
            snprintf(s->sbuf[i][0], sizeof s->sbuf[i][0], "%s-%u",
                     f->arg_present ? f->arg_key : "nokey", (unsigned)k);
            s->strs[i][0] = s->sbuf[i][0];
            f->res.str = s->strs[i];
            break;
        case 8:
            if (k % 2) {
                snprintf(s->err, sizeof s->err, "xt cannot extract xt.fail from event %u",
                         (unsigned)k);
                f->res_len = 0;
                return SS_PLUGIN_FAILURE;
            }
            s->u64[i][0] = k;
            break;
        case 9: f->res_len = 2; break;
        case 10:
            s->strs[i][0] = NULL;
            f->res.str = s->strs[i];
            break;
        case 11:
            s->bufs[i].len = 5;
            s->bufs[i].ptr = s->ip[i];
            f->res.buf = &s->bufs[i];
            break;
        case 12:
            snprintf(s->sbuf[i][0], sizeof s->sbuf[i][0], "%.*s", (int)plen, p);
            s->strs[i][0] = s->sbuf[i][0];
            f->res.str = s->strs[i];
            s->starts[i] = (uint32_t)(p - (const char *)b);
            s->lengths[i] = plen;
            break;
        case 13:
            s->bools[i] = vo != NULL;
            f->res.boolean = &s->bools[i];
            break;
        case 14:
            s->strs[i][0] = "s";
            f->res.str = s->strs[i];
            break;
        case 15: s->u64[i][0] = ++g_racy; break;
        case 16:
            s->ip[i][0] = 10;
            s->ip[i][1] = (uint8_t)k;
            s->ip[i][2] = s->ip[i][3] = 0;
            s->bufs[i].len = 4;
            s->bufs[i].ptr = s->ip[i];
            f->res.buf = &s->bufs[i];
            break;
        default:
            snprintf(s->err, sizeof s->err, "unknown field id %u", id);
            return SS_PLUGIN_FAILURE;
        }
    }
    if (vo) {
        vo->start = s->starts;
        vo->length = s->lengths;
    }
    return SS_PLUGIN_SUCCESS;
}
#endif
"""

XT_WORDS = ["alpha", "beta", "gamma", "delta", "epsilon"]


@pytest.fixture(scope="session")
def xt(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Builds a variant of XT: xt(NAME=VALUE, FLAG=True, ...). Events carry k = 0..4."""
    return builder(tmp_path_factory, "xt", XT, werror=False)


def ks(r: Run) -> list[int]:
    """The k of each printed xt event."""
    return [int(bytes.fromhex(e["payload_hex"])) for e in r.events]


def test_xt_every_type_in_json(xt: Callable[..., Path]) -> None:
    specs = ["xt.num", "xt.name", "xt.tags", "xt.nums", "xt.ip", "xt.flag", "xt.idx[2]",
             "xt.key", "xt.key[a,b]", "xt.secret", "xt.net"]  # fmt: skip
    r = run_json("--fields", ",".join(specs), str(xt()))
    assert r.rc == 0, r.message + r.stderr
    tags: list[list[str] | None] = [None, ["a"], ["a", "b"], ["b", "c"], ["x"]]
    assert [e["fields"] for e in r.events] == [
        {
            "xt.num": k * 10,
            "xt.name": XT_WORDS[k],
            "xt.tags": tags[k],  # an empty list (res_len 0) is absent: null
            "xt.nums": [k, k + 1],
            "xt.ip": f"192.168.0.{k}" if k % 2 == 0 else f"::{k}",
            "xt.flag": k % 2 == 0,
            "xt.idx[2]": 200 + k,
            "xt.key": f"nokey-{k}",
            "xt.key[a,b]": f"a,b-{k}",  # the comma inside brackets does not split --fields
            "xt.secret": "s",  # hidden fields are extractable
            "xt.net": f"10.{k}.0.0",
        }
        for k in range(5)
    ]


def test_xt_fields_in_text(xt: Callable[..., Path]) -> None:
    proc = run_host(["run", "--fields", "xt.tags,xt.ip,xt.flag", str(xt())])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "1 1000 xt xt.tags=<NA> xt.ip=192.168.0.0 xt.flag=true"
    assert lines[3] == "4 1003 xt xt.tags=(b,c) xt.ip=::3 xt.flag=false"


def test_xt_output_with_absent_values(xt: Callable[..., Path]) -> None:
    r = run_json("--output", "n=%xt.num f=%xt.fail tags=%xt.tags %xt.key[k]", str(xt()))
    assert r.rc == 0, r.message
    assert [e["output"] for e in r.events] == [
        "n=0 f=0 tags=<NA> k-0",
        "n=10 f=<NA> tags=(a) k-1",
        "n=20 f=2 tags=(a,b) k-2",
        "n=30 f=<NA> tags=(b,c) k-3",
        "n=40 f=4 tags=(x) k-4",
    ]
    assert r.summaries[0]["extract_failures"] == 2


# the filter language on every kind of field, in both hosts (libsinsp's semantics: a list field
# takes `in` (every value is in the set), `intersects` (any is) and `exists`; an ipaddr field
# compares with addresses, an ipnet field with networks; an absent value matches nothing)
XT_FILTERS: list[tuple[str, list[int] | None]] = [
    ("xt.num = 20", [2]),
    ("xt.num == 20", [2]),
    ("xt.num != 20", [0, 1, 3, 4]),
    ("xt.num < 20", [0, 1]),
    ("xt.num <= 20", [0, 1, 2]),
    ("xt.num > 20", [3, 4]),
    ("xt.num >= 20", [2, 3, 4]),
    ("xt.num in (0, 40, 7)", [0, 4]),
    ("xt.num=10", [1]),
    ('xt.name contains "lph"', [0]),
    ("xt.name startswith ga", [2]),
    ("xt.name endswith ta", [1, 3]),
    ('xt.name = "beta"', [1]),
    ("xt.name in (beta,delta, zeta)", [1, 3]),
    ("xt.name contains e", [1, 3, 4]),
    # list fields: `in` = every value, `intersects` = any value; the rest is refused
    ("xt.tags intersects (b)", [2, 3]),
    ("xt.tags in (x, c)", [4]),
    ("xt.tags in (a, b, c)", [1, 2, 3]),
    ("xt.tags exists", [1, 2, 3, 4]),
    ("xt.tags = b", None),
    ("xt.tags != a", None),
    ("xt.tags startswith a", None),
    ("xt.nums intersects (3)", [2, 3]),
    ("xt.nums in (0, 1, 2, 3)", [0, 1, 2]),
    ("xt.nums = 3", None),
    ("xt.nums > 4", None),
    ("xt.flag = true", [0, 2, 4]),
    ("xt.flag = false", [1, 3]),
    # addresses compare with addresses, networks contain addresses
    ("xt.ip = 192.168.0.2", [2]),
    ("xt.ip = ::3", [3]),
    ("xt.ip in (::1, 192.168.0.4)", [1, 4]),
    ("xt.ip != ::3", [0, 1, 2, 4]),
    ("xt.ip = 192.168.0.0/24", None),
    ("xt.ip = ::/120", None),
    ("xt.net = 10.3.0.0/16", [3]),
    ("xt.net in (10.0.0.0/15, 10.4.0.0/16)", [0, 1, 4]),
    ("xt.net = 10.3.0.0", None),
    ("xt.idx[2] = 203", [3]),
    ('xt.key[foo] = "foo-1"', [1]),
    ('xt.key["a-b"] = "a-b-2"', [2]),
    ('xt.key["a b"] = "a b-2"', None),  # libsinsp cuts a field at its first blank
    ('xt.key[a b] = "a b-2"', None),  # a bare argument has no blanks
    ("xt.key = nokey-4", [4]),
    ('xt.name != "x\\"y"', [0, 1, 2, 3, 4]),
    ("xt.fail exists", [0, 2, 4]),
    ("not xt.fail exists", [1, 3]),
    ("xt.fail != 2", [0, 4]),  # a failed extraction is absent: != is false too
    ("xt.num > 0 and xt.num < 40", [1, 2, 3]),
    ("xt.num = 0 or xt.num = 40", [0, 4]),
    ("not (xt.num = 0 or xt.num = 40) and xt.flag = true", [2]),
    ("xt.num = 0 or xt.num = 10 and xt.flag = true", [0]),  # and binds tighter than or
    ("(xt.num = 0 or xt.num = 10) and xt.flag = false", [1]),
    ("not not xt.num = 10", [1]),
    ("not xt.num = 10 and xt.num < 30", [0, 2]),  # not binds tighter than and
    ("((xt.num=0))or(xt.num=40)", [0, 4]),
    ("xt.secret = s", [0, 1, 2, 3, 4]),
    ("xt.num = val(xt.num) and xt.name != val(xt.key)", [0, 1, 2, 3, 4]),
]


@pytest.mark.parametrize(("expr", "expected"), XT_FILTERS, ids=[f[0] for f in XT_FILTERS])
def test_xt_filters(
    xt: Callable[..., Path], any_host: str, expr: str, expected: list[int] | None
) -> None:
    cap = run_capture(xt(), filter=expr, host=any_host)
    if expected is None:  # refused, as libsinsp refuses it
        assert cap.returncode == 1 and [e["stage"] for e in cap.errors] == ["filter"], cap.stderr
        return
    assert cap.ok, cap.error_message
    assert [int(p) for p in cap.payloads] == expected
    if any_host == "sdk":
        assert cap.summaries[0]["filtered_out"] == 5 - len(expected)


def test_xt_filter_with_fields_and_output(xt: Callable[..., Path]) -> None:
    r = run_json("--filter", "xt.flag = true", "--fields", "xt.num", "--output", "%xt.name",
                 str(xt()))  # fmt: skip
    assert r.rc == 0, r.message
    assert [(e["fields"]["xt.num"], e["output"]) for e in r.events] == [
        (0, "alpha"), (20, "gamma"), (40, "epsilon")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        # libsinsp's messages: where the parser stopped, or what the compiler refused
        ("xt.num 5", "filter error at index 7, line 1, column 8: expected a valid check "
                     "operator: one of 'exists', '<=', '<', '>=', '>', '==', '=', '!='"),
        ("xt.num =", "filter error at index 8, line 1, column 9: expected a string value or a "
                     "field with a valid transformer"),
        ("(xt.num = 1", "filter error at index 11, line 1, column 12: expected a ')' token"),
        ("xt.num = 1 xt.num", "index 11, line 1, column 12: unexpected token after '1', "
                              "expecting 'or', 'and'"),
        ("xt.num = 1 and", "index 14, line 1, column 15: expected blank or '(' after 'and'"),
        ("xt.num = 1 and ", "index 15, line 1, column 16: expected a '(' token, a field check, "
                            "or an identifier"),
        ("xt.num = 1 and\n  xt.num", "index 23, line 2, column 9: expected a valid check "
                                     "operator"),
        ("xt.nope = 1", "filter_check called with nonexistent field xt.nope"),
        ("xt.num = 1 or xt.nope exists", "filter_check called with nonexistent field xt.nope"),
        ("xt.num = abc", "abc is not a valid number"),
        ("xt.num = 0x10", "0x10 is not a valid number"),
        ("xt.name > 3", "", ),  # allowed: strings compare with strcmp
        ("xt.num contains 1", "'contains' operator not supported for numeric filters"),
        ("xt.flag < 1", "'<' operator not supported for numeric filters"),
        ("xt.tags = a", "'=' operator not supported list filters"),
        ("xt.ip contains 1", "'contains' operator not supported for ip address and network"),
        ("xt.name bcontains 61", "'bcontains' operator not supported for string filters"),
        ("xt.flag = yes", "filter error: unrecognized boolean value yes"),
        ("xt.ip = 1.2.3", "unrecognized IPv4 address 1.2.3"),
        ("xt.ip = ::g", "unrecognized IPv6 address ::g"),
        ("xt.net = 1.2.3.4/33", "invalid netmask 33"),
        ("xt.net = 1.2.3.4", "unrecognized IP network 1.2.3.4"),
        ('xt.name = "abc', "filter error at index 10, line 1, column 11: expected a string "
                           "value or a field with a valid transformer"),
        ('xt.name = "a\\qb"', "unsupported string escape sequence: \\q"),
        ('xt.name = "a\\x0"', "truncated hex char escape sequence"),
        ("xt.name = 'a\\x00b'", "filter value cannot contain a NUL byte"),
        ("   ", "expected a '(' token, a field check, or an identifier"),
        ("", "filter input string is empty"),
        ("xt.num in 1, 2", "expected a list, an identifier, or a field with a valid transformer"),
        ('xt.key["a b"] = 1', "filter 'xt.key[a': xt.key has unbalanced argument brackets"),
        ("xt.num in (1 2)", "expected a ')' token"),
        ("xt.idx = 1", "filter 'xt.idx': xt.idx requires an argument but none provided"),
        ("xt.idx[01] = 1", "xt.idx has an invalid index argument starting with 0: 01"),
        ("xt.idx[a] = 1", "xt.idx has an invalid index argument not composed only by digits: a"),
        ("xt.num[1] = 1", "filter 'xt.num[1]': xt.num does not allow nor require an argument "
                          "but one is provided: 1"),
        ("xt.idx[1 = 1", "expected a ']' token"),
        ("= 1", "filter error at index 0, line 1, column 1: expected a '(' token"),
        ("xt.num existsx", "unexpected token after 'exists', expecting 'or', 'and'"),
        ("xt.num = val(xt.name)", "field 'xt.num' has type 'UINT64' while the right-hand side "
                                  "field 'xt.name' has incompatible type 'CHARBUF'"),
        ("tolower(xt.name) = alpha", "the SDK host does not support field transformers"),
        ("my_macro", "filter error: unexpected identifier 'my_macro'"),
    ],
)  # fmt: skip
def test_xt_filter_errors(xt: Callable[..., Path], expr: str, fragment: str) -> None:
    r = run_json("--filter", expr, str(xt()))
    if not fragment:
        assert r.rc == 0, r.message
        return
    assert r.rc == 1
    (err,) = r.errors
    assert err["stage"] == "filter"
    assert fragment in err["message"], err["message"]
    assert r.events == [] and r.summaries == []


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("xt.idx", "field 'xt.idx' requires an argument (xt.idx[INDEX])"),
        (
            "xt.idx[abc]",
            "field 'xt.idx' needs an unsigned integer index as its argument, not 'abc'",
        ),
        ("xt.idx[01]", "not '01'"),
        ("xt.idx[-1]", "not '-1'"),
        ("xt.idx[]", "not ''"),
        ("xt.idx[99999999999999999999]", "needs an unsigned integer index"),
        ("xt.num[3]", "field 'xt.num' takes no argument, but '[3]' was given"),
        ("xt.idx[3", "field 'xt.idx[3' has an unbalanced '['"),
        ("xt.idx[3]x", "unexpected text after the argument of field 'xt.idx[3]x'"),
    ],
)
def test_xt_argument_checks(xt: Callable[..., Path], spec: str, fragment: str) -> None:
    r = run_json("--fields", spec, str(xt()))
    assert r.rc == 1
    (err,) = r.errors
    assert err["stage"] == "fields"
    # a malformed spec is not about a plugin yet; a bad argument is about the field's plugin
    assert err["plugin"] == (None if spec in ("xt.idx[3", "xt.idx[3]x") else "xt")
    assert fragment in err["message"], err["message"]


def test_xt_valid_arguments(xt: Callable[..., Path]) -> None:
    r = run_json("--fields", "xt.idx[0],xt.idx[18446744073709551615],xt.key[],xt.key[[x]]",
                 str(xt(NEVENTS=1)))  # fmt: skip
    assert r.rc == 0, r.message
    (e,) = r.events
    assert e["fields"] == {
        "xt.idx[0]": 0,
        "xt.idx[18446744073709551615]": 18446744073709551615 * 100 % 2**64,
        "xt.key[]": "-0",
        "xt.key[[x]]": "[x]-0",  # the argument runs to the matching ']'
    }


@pytest.mark.parametrize(
    "args",
    [
        ["--fields", "nope.field"],
        ["--output", "value: %nope.field!"],
        ["--fields", "xt.num,nope.field"],
    ],
)
def test_unknown_fields(xt: Callable[..., Path], args: list[str]) -> None:
    r = run_json(*args, str(xt()))
    assert r.rc == 1
    (err,) = r.errors
    assert err["stage"] == "fields" and err["plugin"] is None
    assert (
        "unknown field 'nope.field': no loaded plugin with field extraction declares it"
        in (err["message"])
    )


def test_unknown_field_in_text_mode(ref_so: Path) -> None:
    proc = run_host(["run", "--fields", "countdown_ref.nope", str(ref_so)])
    assert proc.returncode == 1
    assert "error: unknown field 'countdown_ref.nope'" in proc.stderr.replace("--fields: ", "")


def field(name: str, **extra: object) -> dict[str, object]:
    return {"type": "uint64", "name": name, "desc": "d", **extra}


@pytest.mark.parametrize(
    ("defines", "fragment"),
    [
        ({"FIELDS": json.dumps([field("xt.a", type="float")])},
         "get_fields: field 'xt.a' has an invalid type 'float'"),
        ({"FIELDS": json.dumps([{"name": "xt.a", "desc": "d"}])}, "field 0 has no type"),
        ({"FIELDS": json.dumps([{"type": "bool", "desc": "d"}])}, "field 0 has no name"),
        ({"FIELDS": json.dumps([field("xt.a", desc="")])}, "field 'xt.a' has no desc"),
        ({"FIELDS": json.dumps([{"type": "bool", "name": "xt.a"}])}, "field 'xt.a' has no desc"),
        ({"FIELDS": json.dumps([field("xt.a", arg={"isRequired": True})])},
         "field 'xt.a': arg has isRequired set, but neither isIndex nor isKey"),
        ({"FIELDS": json.dumps([field("xt.a", arg={"isIndex": "yes"})])},
         "field 'xt.a': arg.isIndex is not a boolean"),
        ({"FIELDS": json.dumps([field("xt.a", isList=1)])},
         "field 'xt.a': isList is not a boolean"),
        ({"FIELDS": json.dumps([field("xt.a", addOutput="no")])}, "addOutput is not a boolean"),
        ({"FIELDS": json.dumps([field("xt.a", properties="hidden")])},
         "properties is not an array"),
        ({"FIELDS": "[]"}, "plugins with extraction capability must export at least one field"),
        ({"FIELDS": json.dumps({"name": "xt.a"})}, "get_fields did not return a JSON array"),
        ({"FIELDS": json.dumps([3])}, "get_fields: entry 0 is not a JSON object"),
        ({"FIELDS": "[{"}, "get_fields returned invalid JSON"),
        ({"FIELDS_NULL": True}, "get_fields returned a null string"),
        ({"NO_GET_FIELDS": True},
         "plugin has an incomplete field extraction capability: missing plugin_get_fields"),
        ({"XSOURCES": json.dumps({"a": 1})},
         "get_extract_event_sources did not return a JSON array"),
        ({"XSOURCES": "[1]"}, "get_extract_event_sources returned an array with a non-string"),
        ({"XSOURCES": "nope"}, "get_extract_event_sources did not return a JSON array: "),
    ],
)  # fmt: skip
def test_broken_get_fields(
    xt: Callable[..., Path], defines: dict[str, object], fragment: str
) -> None:
    lib = xt(**defines)
    for args in (["run", "--json", str(lib)], ["info", "--json", str(lib)]):
        r = Run(run_host(args))
        assert r.rc == 1, r.stdout
        (err,) = r.errors
        assert err["stage"] == "load" and err["plugin"] == "xt"
        assert fragment in err["message"], err["message"]


@pytest.mark.parametrize(
    ("fields", "warning"),
    [
        ([field("xt")], "field name 'xt' cannot be used in a filter or an output"),
        ([field("1x.a")], "field name '1x.a' cannot be used"),
        ([field("xt.a-b")], "field name 'xt.a-b' cannot be used"),
        ([field("xt.a.")], "field name 'xt.a.' cannot be used"),
        ([field("xt._a")], "field name 'xt._a' cannot be used"),
        ([field("xt.a"), field("xt.b"), field("xt.a")],
         "get_fields: field 'xt.a' is declared twice (the first one is used)"),
        ([field("xt.a", arg={"isIndex": True, "isKey": True})], None),
        ([field("xt.a", properties=["secret", "hidden"])], None),
        ([field("xt.a", display=3)], None),
    ],
)  # fmt: skip
def test_get_fields_libsinsp_accepts(
    xt: Callable[..., Path], fields: list[dict[str, object]], warning: str | None
) -> None:
    # libsinsp loads these; what no rule could use is a warning here
    lib = xt(FIELDS=json.dumps(fields))
    proc = run_host(["info", "--json", str(lib)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: xt: ")]
    if warning is None:
        assert warnings == []
    else:
        assert any(warning in w for w in warnings), proc.stderr
    info = json.loads(proc.stdout)
    assert info["fields"][0]["name"] == fields[0]["name"]


def test_get_fields_alone_is_not_a_capability(xt: Callable[..., Path]) -> None:
    lib = xt(NO_EXTRACT_FIELDS=True)
    info = json.loads(run_host(["info", "--json", str(lib)]).stdout)
    assert info["capabilities"] == ["source"]
    assert info["fields"] is None and info["extract_event_sources"] is None
    r = run_json("--fields", "xt.num", str(lib))
    assert r.rc == 1 and "unknown field 'xt.num'" in r.message


def test_optional_members_and_empty_sources(xt: Callable[..., Path]) -> None:
    fields = [field("xt.num", isList=None, arg=None, properties=None, display=None)]
    r = run_json("--fields", "xt.num", str(xt(FIELDS=json.dumps(fields), XSOURCES="[]")))
    assert r.rc == 0, r.message  # null members are as good as absent
    assert [e["fields"]["xt.num"] for e in r.events] == [0, 10, 20, 30, 40]
    info = json.loads(run_host(["info", "--json", str(xt(XSOURCES="[]"))]).stdout)
    assert info["extract_event_sources"] == []


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("xt.bad_reslen", "returned 2 values (res_len) for the non-list field 'xt.bad_reslen'"),
        ("xt.null_str", "returned a NULL string (value 0) for field 'xt.null_str'"),
        ("xt.bad_ip", "returned a 5-byte address (value 0) for the ipaddr field 'xt.bad_ip'"),
    ],
)
def test_extract_contract_violations(xt: Callable[..., Path], spec: str, fragment: str) -> None:
    r = run_json("--fields", spec, str(xt()))
    assert r.rc == 1
    (err,) = r.errors
    assert err["stage"] == "extract" and err["plugin"] == "xt"
    assert fragment in err["message"] and "(event 1 of xt)" in err["message"]
    assert r.events == [] and r.summaries == []


def test_extract_failure_is_counted_and_warned_once(xt: Callable[..., Path]) -> None:
    r = run_json("--fields", "xt.fail,xt.num", str(xt()))
    assert r.rc == 0, r.message
    assert [e["fields"] for e in r.events] == [
        {"xt.fail": k if k % 2 == 0 else None, "xt.num": k * 10} for k in range(5)
    ]
    assert r.summaries[0]["extract_failures"] == 2
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: xt: extract_fields failed for field 'xt.fail' (rc=1): xt cannot extract "
        "xt.fail from event 1 (the value is absent; further failures are only counted as "
        "extract_failures)"
    ]


def test_the_host_passes_id_name_type_and_list_flag(xt: Callable[..., Path]) -> None:
    # XT checks field_id/field/ftype/flist against its own table and fails otherwise
    r = run_json("--fields", "xt.net,xt.tags,xt.num", str(xt()))
    assert r.rc == 0 and r.summaries[0]["extract_failures"] == 0


def test_offsets_for_a_3_11_plugin(xt: Callable[..., Path]) -> None:
    lib = xt(REQ_API="3.11.0", READ_OFFSETS=True)
    r = run_json("--offsets", "--fields", "xt.offs,xt.num,xt.saw_offsets", str(lib))
    assert r.rc == 0, r.message
    assert all(e["fields"]["xt.saw_offsets"] is True for e in r.events)
    assert [e["offsets"] for e in r.events] == [
        # the payload is one digit at offset 38; start=0,length=0 is "no offset"
        {"xt.offs": [38, 1], "xt.num": None, "xt.saw_offsets": None}
    ] * 5
    # without --offsets the plugin gets NULL
    r = run_json("--fields", "xt.saw_offsets", str(lib))
    assert [e["fields"]["xt.saw_offsets"] for e in r.events] == [False] * 5
    assert all("offsets" not in e for e in r.events)


def test_no_offsets_for_an_older_plugin(xt: Callable[..., Path]) -> None:
    # a 3.3 plugin has the shorter input struct: the host never passes value_offsets
    lib = xt(REQ_API="3.3.0", READ_OFFSETS=True)
    r = run_json("--offsets", "--fields", "xt.offs,xt.saw_offsets", str(lib))
    assert r.rc == 0, r.message
    assert [e["fields"]["xt.saw_offsets"] for e in r.events] == [False] * 5
    assert all("offsets" not in e for e in r.events)


def test_extract_threads_on_two_states(xt: Callable[..., Path]) -> None:
    r = run_json("--inits", "2", "--extract-threads", "2", "--fields",
                 "xt.num,xt.tags,xt.ip,xt.name,xt.fail", str(xt()))  # fmt: skip
    assert r.rc == 0, r.message
    (check,) = [x["extract_check"] for x in r.records if "extract_check" in x]
    assert check == {"plugin": "xt", "threads": 2, "events": 5, "calls": 50, "mismatches": 0}
    assert r.summaries[0]["extract_failures"] == 2  # the first pass only


def test_extract_threads_find_a_shared_counter(xt: Callable[..., Path]) -> None:
    r = run_json("--inits", "3", "--extract-threads", "3", "--fields", "xt.racy", str(xt()))
    assert r.rc == 1
    (check,) = [x["extract_check"] for x in r.records if "extract_check" in x]
    assert check["threads"] == 3 and check["calls"] == 15 and check["mismatches"] > 0
    (err,) = r.errors
    assert err["stage"] == "extract_check" and err["plugin"] == "xt"
    assert "differ from the first pass" in err["message"]
    proc = run_host(["run", "--quiet", "--inits", "2", "--extract-threads", "2", "--fields",
                     "xt.racy", str(xt())])  # fmt: skip
    assert proc.returncode == 1
    assert "extract_check xt: 2 threads, 5 events, 10 calls" in proc.stdout


def test_extract_event_types(xt: Callable[..., Path]) -> None:
    other = xt(XTYPES=999)
    r = run_json("--fields", "xt.num", "--filter", "not xt.num exists", str(other))
    assert r.rc == 0, r.message
    assert [e["fields"] for e in r.events] == [{"xt.num": None}] * 5  # 322 is not asked for
    info = json.loads(run_host(["info", "--json", str(other)]).stdout)
    assert info["extract_event_types"] == [999]
    text = run_host(["info", str(xt(XTYPES=322, XTYPE2=5))]).stdout
    assert "Extract event types: 322, 5\n" in text
    r = run_json("--fields", "xt.num", str(xt(XTYPES=322, XTYPE2=5)))
    assert [e["fields"]["xt.num"] for e in r.events] == [0, 10, 20, 30, 40]


def test_default_event_types_of_the_syscall_source(xt: Callable[..., Path]) -> None:
    # a source plugin without an id produces "syscall" events of any type; by default its
    # extractors take every type there (only 322 elsewhere)
    lib = xt(SYSCALL_SRC=True, EVTYPE=3, PNAME="xts")
    r = run_json("--fields", "xt.num", str(lib))
    assert r.rc == 0, r.message
    assert [(e["source"], e["type"], e["fields"]["xt.num"]) for e in r.events] == [
        ("syscall", 3, k * 10) for k in range(5)
    ]
    r = run_json("--fields", "xt.num", str(xt(SYSCALL_SRC=True, EVTYPE=3, XTYPES=322)))
    assert [e["fields"]["xt.num"] for e in r.events] == [None] * 5


def test_extract_only_plugin_on_another_plugins_events(
    xt: Callable[..., Path], ref_so: Path, ref2_so: Path
) -> None:
    xtx = xt(EXTRACT_ONLY=True, PNAME="xtx", XSOURCES='["countdown_ref"]')
    info = json.loads(run_host(["info", "--json", str(xtx)]).stdout)
    assert info["capabilities"] == ["extract"] and info["id"] is None
    r = run_json("--fields", "xt.num,countdown_ref.remaining,xt.fail", str(ref_so),
                 "--open-params", "3", str(xtx), str(ref2_so), "--open-params", "2")  # fmt: skip
    assert r.rc == 0, r.message
    got = [(e["plugin"], e["fields"]) for e in r.events]
    ref_events = [f for p, f in got if p == "countdown_ref"]
    assert ref_events == [
        {"xt.num": 20, "countdown_ref.remaining": 2, "xt.fail": 2},
        {"xt.num": 10, "countdown_ref.remaining": 1, "xt.fail": None},
        {"xt.num": 0, "countdown_ref.remaining": 0, "xt.fail": 0},
    ]
    # countdown_ref2 is not among xtx's sources, and countdown_ref's fields are its own
    assert [f for p, f in got if p == "countdown_ref2"] == [
        {"xt.num": None, "countdown_ref.remaining": None, "xt.fail": None}
    ] * 2
    by_plugin = {s["plugin"]: s for s in r.summaries}
    assert by_plugin["xtx"]["events"] == 0
    assert by_plugin["xtx"]["extract_failures"] == 1  # counted on the extractor
    assert by_plugin["countdown_ref"]["extract_failures"] == 0


def test_extract_only_plugin_for_every_source(
    xt: Callable[..., Path], ref_so: Path, ref2_so: Path
) -> None:
    xtx = xt(EXTRACT_ONLY=True, PNAME="xtx")  # no sources listed: every source
    assert "Extract event sources: all\n" in run_host(["info", str(xtx)]).stdout
    # two sources at once: xtx gets one state per source, as Falco inits it per source
    r = run_json("--fields", "xt.num", "--filter", "xt.num < 30", "--inits", "2",
                 "--extract-threads", "2", str(ref_so), "--open-params", "400",
                 str(ref2_so), "--open-params", "300", str(xtx))  # fmt: skip
    assert r.rc == 0, r.message
    for name, n in (("countdown_ref", 400), ("countdown_ref2", 300)):
        events = [e for e in r.events if e["plugin"] == name]
        assert [e["fields"]["xt.num"] for e in events] == [20, 10, 0]
        assert {s["plugin"]: s for s in r.summaries}[name]["filtered_out"] == n - 3
    checks = {x["extract_check"]["plugin"]: x["extract_check"] for x in r.records
              if "extract_check" in x}  # fmt: skip
    assert checks["countdown_ref"]["events"] == 400 and checks["countdown_ref2"]["calls"] == 600
    assert all(c["mismatches"] == 0 for c in checks.values())


def test_extract_only_plugin_with_a_foreign_source(xt: Callable[..., Path], ref_so: Path) -> None:
    xtx = xt(EXTRACT_ONLY=True, PNAME="xtx", XSOURCES='["elsewhere"]')
    r = run_json("--fields", "xt.num", "--output", "[%xt.num]", str(ref_so), "--open-params",
                 "2", str(xtx))  # fmt: skip
    assert r.rc == 0, r.message
    assert [e["output"] for e in r.events] == ["[<NA>]", "[<NA>]"]


def test_info_fields_of_xt(xt: Callable[..., Path]) -> None:
    text = run_host(["info", str(xt())]).stdout
    assert "  xt.tags (string, list): tags\n" in text
    assert "  xt.idx (uint64, required index arg): index*100+k\n" in text
    assert "  xt.key (string, optional key arg): key-k\n" in text
    assert "  xt.secret (string) [hidden]: hidden\n" in text
    assert "  xt.net (ipnet): a network\n" in text
    assert "Extract event sources: xt\n" in text
    info = json.loads(run_host(["info", "--json", str(xt())]).stdout)
    by_name = {f["name"]: f for f in info["fields"]}
    assert by_name["xt.secret"]["properties"] == ["hidden", "info"]
    assert by_name["xt.name"]["display"] == "Name" and by_name["xt.name"]["addOutput"] is True
    assert by_name["xt.idx"]["arg"] == {"isRequired": True, "isIndex": True, "isKey": False}
    assert by_name["xt.nums"]["isList"] is True and by_name["xt.nums"]["type"] == "uint64"
    assert info["extract_event_sources"] is None and info["extract_event_types"] is None
