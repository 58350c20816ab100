"""The SDK's C host (``fp-host``) tested with plain C plugins.

The C reference plugin (benchmarks/c_reference/countdown_ref.c) is the known-good plugin;
small broken C plugins built from ``TINY`` below check that the host rejects what libsinsp
rejects, with a message that says why.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from falco_plugin.host import host_binary, parse_json_lines, run_host

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "src" / "falco_plugin" / "_native"
REFERENCE = ROOT / "benchmarks" / "c_reference" / "countdown_ref.c"

CC = shlex.split(os.environ.get("CC") or "cc")


def compile_plugin(source: Path, out: Path, *extra: str) -> Path:
    cmd = [*CC, "-std=c11", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", f"-I{NATIVE}"]
    cmd += [*extra, str(source), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{shlex.join(cmd)}\n{proc.stderr}"
    return out


@pytest.fixture(scope="session")
def ref_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "libcountdown_ref.so"
    # -Werror: the reference plugin must stay warning-clean
    return compile_plugin(REFERENCE, out, "-Werror")


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
    assert "Field Extraction" not in out
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
    assert info["capabilities"] == ["source"]
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
    assert "plugin_get_fields" not in exported


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
        ('{"batch_size": "big"}', ["$.batch_size: expected integer, got string"]),
        ('{"batch_size": 1.5}', ["$.batch_size: expected integer, got number"]),
        ('{"batch_size": 0}', ["$.batch_size: 0 is less than the minimum 1"]),
        ('{"batch_size": 70000}', ["$.batch_size: 70000 is greater than the maximum 65536"]),
        ('{"other": 1}', ["$: additional property 'other' is not allowed"]),
        ("[512]", ["$: expected object, got array"]),
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
    assert "$.batch_size: -4 is less than the minimum 1" in bad.message


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
    base = tmp_path_factory.mktemp("tiny")
    source = base / "tiny.c"
    source.write_text(TINY)
    built: dict[str, Path] = {}

    def build(**defines: object) -> Path:
        flags = sorted(
            f"-D{k}" if v is True else f"-D{k}={json.dumps(v) if isinstance(v, str) else v}"
            for k, v in defines.items()
        )
        key = " ".join(flags)
        if key not in built:
            out = base / f"libtiny{len(built)}.so"
            built[key] = compile_plugin(source, out, *flags)
        return built[key]

    return build


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
        ({}, "$: required property 'port' is missing"),
        ({"port": 0}, "$.port: 0 is less than the minimum 1"),
        ({"port": 65536}, "$.port: 65536 must be less than 65536"),
        ({"port": 1, "names": ["a"]}, "$.names[0]: string is shorter than minLength 2"),
        ({"port": 1, "names": ["abcde"]}, "$.names[0]: string is longer than maxLength 4"),
        ({"port": 1, "names": ["ab"] * 3}, "$.names: array has 3 items, more than maxItems 2"),
        ({"port": 1, "mode": "medium"}, '$.mode: value is not one of the allowed values ["fast",'),
        ({"port": 1, "kind": "x"}, '$.kind: value must be "k"'),
        ({"port": 1, "limit": "no"}, "$.limit: expected one of [integer, null], got string"),
        ({"port": 1, "either": 3}, "$.either: value matches none of the anyOf schemas"),
        ({"port": 1, "one": 7}, "$.one: value matches 2 of the oneOf schemas"),
        ({"port": 1, "both": 4}, "$.both: 4 is greater than the maximum 3"),
        ({"port": 1, "ratio": 0}, "$.ratio: 0 must be greater than 0"),
        ({"port": 1, "extra": {"a": 1}}, "$.extra.a: expected boolean, got integer"),
        ({"port": 1, "nope": 1}, "$: additional property 'nope' is not allowed"),
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
    assert "$.a: cannot resolve schema reference '#/definitions/missing'" in r.message


def test_json_strings_are_escaped_and_unicode_survives(tiny: Callable[..., Path]) -> None:
    schema = {"type": "object", "properties": {"s": {"maxLength": 2}}}
    lib = tiny(SCHEMA=json.dumps(schema))
    # "é€" is two code points (5 bytes): accepted; three code points are not
    assert run_json(str(lib), "--config", '{"s": "\\u00e9\\u20ac"}').rc == 0
    r = run_json(str(lib), "--config", '{"s": "é€x", "q\\"uote": 1}')
    assert r.rc == 1 and "$.s: string is longer than maxLength 2" in r.message
