"""Every capability, run in both hosts with the same expectations: the SDK's C host and the
real libsinsp (the ``any_host`` fixture runs each test once per host; the libsinsp runs skip
with one line without ``$FALCO_PLUGIN_REALHOST``). Where the hosts disagreed, libsinsp was
taken as right; the few places where the SDK host still differs are marked ``sdk_differs``
with the reason, strictly, so that a fix shows up as an unexpected pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from falco_plugin.testing import Capture, plugin_args, run_capture

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def lib(falco_build: Callable[[str], Path]) -> Callable[[str], Path]:
    """A test plugin (tests/plugins/NAME.py) or an example (examples/NAME/plugin.py), built."""

    def build(name: str) -> Path:
        path = PLUGINS / f"{name}.py"
        return falco_build(str(path if path.is_file() else EXAMPLES / name / "plugin.py"))

    return build


def sdk_differs(request: pytest.FixtureRequest, host: str, reason: str) -> None:
    """Mark a known divergence of the SDK host: the test runs and must fail there (strict,
    so that a fix of the host shows up as an unexpected pass to remove the mark)."""
    if host == "sdk":
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def ok(cap: Capture) -> Capture:
    assert cap.ok, f"{cap.host}: {cap.error_message}\n{cap.stderr[-3000:]}"
    return cap


# ---- source ------------------------------------------------------------------------------


def test_source_events_progress_and_summary(lib, any_host) -> None:
    cap = ok(run_capture(lib("countdown"), config='{"batch_size": 2}', open_params="5",
                         host=any_host))  # fmt: skip
    assert cap.texts == [f"{k} events remaining" for k in range(4, -1, -1)]
    assert cap.infos == cap.texts  # event_to_string, as %evt.plugininfo shows it
    assert [e["evtnum"] for e in cap.events] == [1, 2, 3, 4, 5]
    assert {(e["type"], e["plugin_id"], e["source"], e["tid"]) for e in cap.events} == {
        (322, 999, "countdown", -1)
    }
    assert all(e["ts"] > 1_500_000_000 * 10**9 for e in cap.events)  # stamped by the host
    assert [(p["pct"], p["text"]) for p in cap.progress] == [(10000, "5/5 events")]
    assert cap.summaries[0]["events"] == 5 and cap.summaries[0]["eof"] is True


def test_source_timestamps_timeouts_and_every_metric_type(lib, any_host) -> None:
    cap = ok(run_capture(lib("ticks"), host=any_host))
    assert cap.texts == ["round 1", "round 2", "round 3"]
    assert [e["ts"] for e in cap.events] == [1001, 1002, 2**64 - 2]  # the plugin's own
    items = {m["name"]: (m["type"], m["value_type"], m["value"]) for m in cap.metrics[0]["items"]}
    assert items == {
        "stale_batch_refused": ("monotonic", "u64", 1),
        "u32": ("monotonic", "u32", 7),
        "s32": ("non_monotonic", "s32", -7),
        "u64": ("monotonic", "u64", 2**40),
        "s64": ("non_monotonic", "s64", -(2**40)),
        "double": ("non_monotonic", "d", 0.25),
        "float": ("non_monotonic", "f", 1.5),
        "int": ("non_monotonic", "i", -3),
    }


def test_a_source_fed_by_a_thread(lib, any_host) -> None:
    cap = ok(run_capture(lib("pushy"), open_params="8", host=any_host))
    assert cap.texts == [f"{i} from producer" for i in range(8)]
    assert cap.summaries[0]["timeouts"] > 0  # the producer is slower than the instance waits


# ---- extract -----------------------------------------------------------------------------

ALL_TYPES = {  # field -> value on the first event ("alpha beta")
    "at.u64": 2**64 - 1,
    "at.u64.list": [0, 1, 2**40],
    "at.str": "héllo",
    "at.str.list": ["a", "", "c"],
    "at.bool": True,
    "at.bool.list": [True, False],
    "at.reltime": 2_000_005_000,
    "at.reltime.list": [0],
    "at.abstime": 1_704_164_645_000_006_000,
    "at.ipaddr": "10.1.2.3",
    "at.ipaddr.list": ["::1"],
    "at.ipnet": "10.0.0.0",
    "at.ipnet.list": ["fe80::"],
    "at.index[3]": 6,
    "at.index.opt": 1000,
    "at.index.opt[5]": 5,
    "at.key[abc]": "ABC",
    "at.key.opt": None,
    "at.key.opt[x]": "x",
    "at.word": "alpha",
    "at.ctx.words": 2,
    "at.fail": None,  # raises: absent, and logged
    "at.bad": None,  # the wrong type: absent, and logged
}
OPTIONAL = [f"at.{k}.opt" for k in ("u64", "str", "bool", "reltime", "abstime", "ipaddr", "ipnet")]
LISTS = [f for f in ALL_TYPES if f.endswith(".list")]


def test_extract_every_type_list_and_argument(lib, any_host) -> None:
    fields = [*ALL_TYPES, *OPTIONAL, "at.abstime.list"]
    cap = ok(run_capture(lib("alltypes"), fields=fields, host=any_host))
    first, absent, empty = cap.fields
    assert {f: first[f] for f in ALL_TYPES} == ALL_TYPES
    assert {f: first[f] for f in OPTIONAL} == {f: ALL_TYPES[f[: -len(".opt")]] for f in OPTIONAL}
    assert first["at.abstime.list"] is None  # an empty list is "no value"
    assert {f: absent[f] for f in OPTIONAL} == dict.fromkeys(OPTIONAL)  # None: no value
    assert {f: empty[f] for f in LISTS} == dict.fromkeys(LISTS)  # []: no value
    logged = {text for _, text in cap.logs}
    source = (PLUGINS / "alltypes.py").read_text(encoding="utf-8").splitlines()
    line = 1 + next(n for n, text in enumerate(source) if "no such thing" in text)
    assert ("alltypes: extracting at.fail failed: ValueError: no such thing "
            f"(at alltypes.py:{line} in fail)") in logged  # fmt: skip
    assert "alltypes: extracting at.bad failed: TypeError: expected an int value, got str" in logged


def test_extract_offsets(lib, any_host) -> None:
    cap = ok(run_capture(lib("alltypes"), fields=["at.word", "at.u64", "at.str.list"],
                         offsets=True, host=any_host))  # fmt: skip
    # the payload starts at byte 38 of a plugin event; only at.word tells where it is
    assert [e["offsets"]["at.word"] for e in cap.events] == [[38, 5], [38, 6], [38, 5]]
    assert {e["offsets"].get("at.u64") for e in cap.events} == {None}
    assert {e["offsets"].get("at.str.list") for e in cap.events} == {None}


def test_extract_context_is_built_once_per_event(lib, any_host) -> None:
    cap = ok(run_capture(lib("alltypes"), fields=["at.ctx.words", "at.word", "at.ctx.calls"],
                         host=any_host))  # fmt: skip
    assert cap.field_values("at.ctx.calls") == [1, 2, 3]


def test_filter_and_output_on_plugin_fields(lib, any_host) -> None:
    cap = ok(run_capture(lib("countdown"), open_params="10", host=any_host,
                         filter="countdown.divisible[3] = true and countdown.remaining > 0",
                         output="%countdown.remaining left (%countdown.text)"))  # fmt: skip
    expected = [f"{k} left ({k} events remaining)" for k in (9, 6, 3)]
    assert [e["output"] for e in cap.events] == expected
    assert cap.summaries[0]["filtered_out"] == 7


def test_an_extractor_of_another_plugins_source(lib, any_host) -> None:
    plugins = [plugin_args(lib("jsonsource"), open_params="3"), plugin_args(lib("json"))]
    cap = ok(run_capture(plugins, fields=["json.value[/user/name]", "json.obj"], host=any_host))
    assert cap.field_values("json.value[/user/name]") == ["user0", "user1", "user2"]
    assert [json.loads(v)["id"] for v in cap.field_values("json.obj")] == [0, 1, 2]


def test_plugininfo_without_event_to_string(lib, any_host, request) -> None:
    cap = ok(run_capture(lib("alltypes"), output="%evt.plugininfo", host=any_host))
    # libsinsp's own rendering when a plugin has no (or a failing) event_to_string
    assert [e["output"] for e in cap.events] == [
        "datalen=10 data=alpha beta", "datalen=6 data=absent", "datalen=5 data=empty"
    ]  # fmt: skip


# ---- parse and tables --------------------------------------------------------------------


def test_exported_table_nested_tables_and_added_fields(lib, any_host) -> None:
    plugins = [plugin_args(lib("countdown"), open_params="6"), plugin_args(lib("table_owner")),
               plugin_args(lib("table_reader"))]  # fmt: skip
    fields = ["reader.count[0]", "reader.label[2]", "reader.size", "reader.listed",
              "reader.count[100]", "reader.readonly_write", "reader.hits[0]", "reader.notes[0]",
              "owner.seen"]  # fmt: skip
    cap = ok(run_capture(plugins, fields=fields, dump_tables=["counters"], host=any_host))
    # remaining goes 5..0: the owner counts each event under remaining % 3 in parse_event
    assert cap.field_values("reader.count[0]") == [None, None, 1, 1, 1, 2]
    assert cap.field_values("reader.label[2]") == ["mod 2"] * 6
    assert cap.field_values("reader.size") == [2, 3, 4, 4, 4, 4]
    assert cap.field_values("reader.listed") == [["count", "hits", "label"]] * 6  # no private
    # the reader adds key 100 through the API and 10 to it per event
    assert cap.field_values("reader.count[100]") == [10, 20, 30, 40, 50, 60]
    assert cap.field_values("reader.readonly_write") == ["TableError"] * 6
    # a nested table per entry, and a field the reader added to the owner's nested table
    assert cap.field_values("reader.hits[0]") == [None, None, [3], [3], [3], [3, 6]]
    assert cap.field_values("reader.notes[0]")[-1] == ["seen 3", "seen 6"]
    # plugin events have no thread: the imported threads table has none for them
    assert cap.field_values("owner.seen") == [None] * 6
    table = cap.tables["counters"]
    assert (table["key_type"], table["size"]) == ("uint64", 4)
    assert table["fields"] == [
        {"name": "count", "type": "uint64", "read_only": False},
        {"name": "label", "type": "string", "read_only": True},
        {"name": "hits", "type": "table", "read_only": True},
    ]
    rows = sorted((e["fields"]["label"], e["fields"]["count"], e["fields"]["hits"]["size"])
                  for e in table["entries"])  # fmt: skip
    assert rows == [("", 60, 0), ("mod 0", 2, 2), ("mod 1", 2, 2), ("mod 2", 2, 2)]


def test_a_wrong_key_type_fails_init(lib, any_host) -> None:
    plugins = [plugin_args(lib("countdown"), open_params="1"), plugin_args(lib("table_wrongkey"))]
    cap = run_capture(plugins, host=any_host)
    assert cap.returncode == 1
    assert [e["stage"] for e in cap.errors] == ["init"]
    assert "threads" in cap.error_message


# ---- async events and capture listening ----------------------------------------------------


def test_async_events_into_a_plugin_source(lib, any_host) -> None:
    plugins = [plugin_args(lib("pushy"), open_params="10"),
               plugin_args(lib("heartbeat"), config='{"interval_ms": 20}')]  # fmt: skip
    cap = ok(run_capture(plugins, host=any_host))
    assert len(cap.texts) == 10
    beats = [json.loads(d) for d in cap.async_data("heartbeat")]
    assert len(beats) >= 3  # 10 events 30 ms apart, a beat every 20 ms
    assert [b["seq"] for b in beats] == list(range(len(beats)))
    assert {(e["plugin"], e["source"], e["tid"]) for e in cap.async_events} == {
        ("heartbeat", "pushy", -1)
    }
    assert len(beats) <= cap.metric_values("heartbeat")["heartbeats_sent"]


def test_async_api_rules(lib, any_host) -> None:
    plugins = [plugin_args(lib("pushy"), open_params="3"), plugin_args(lib("async_probe"))]
    cap = ok(run_capture(plugins, host=any_host))
    # an undeclared name is refused by the SDK; a thread id on a plugin source by the host
    assert [d.decode() for d in cap.async_data("probe")] == [
        "refused: async event not_declared is not declared in ASYNC_EVENTS"
    ]


@pytest.mark.parametrize("fail_in", ["start_async", "stop_async"])
def test_async_start_and_stop_failures(lib, any_host, fail_in: str) -> None:
    plugins = [plugin_args(lib("pushy"), open_params="3"),
               plugin_args(lib("async_faulty"), config=fail_in)]  # fmt: skip
    cap = run_capture(plugins, host=any_host)
    if fail_in == "start_async":  # the capture cannot start: a clear error, no crash
        assert cap.returncode == 1 and "boom in start_async" in cap.error_message
    else:  # clearing the handler never fails (libsinsp would throw from its destructor)
        ok(cap)
        assert cap.async_data("faulty_tick") == [b"started"]
        assert any("stop_async failed: RuntimeError: boom in stop_async" in t for _, t in cap.logs)


def listener_capture(lib, host: str, **config: object) -> Capture:
    plugins = [plugin_args(lib("pushy"), open_params="5"),
               plugin_args(lib("listener"), config=json.dumps(config))]  # fmt: skip
    options = ["--thread-pool", "2"] if host == "sinsp" else []
    return run_capture(plugins, fields=["listener.runs"], host=host, options=options)


def test_capture_listening_routine(lib, any_host) -> None:
    cap = ok(listener_capture(lib, any_host, interval_ms=5))
    runs = cap.metric_values("listener")
    assert (runs["opened"], runs["closed"]) == (1, 1)
    assert runs["runs"] >= 3  # 5 events 30 ms apart, a run every 5 ms (about 30)
    seen = cap.field_values("listener.runs")
    assert seen == sorted(seen) and seen[-1] > seen[0]  # it runs while events flow


def test_capture_listening_routine_that_stops_itself(lib, any_host) -> None:
    cap = ok(listener_capture(lib, any_host, interval_ms=1, max_runs=3))
    assert cap.metric_values("listener")["runs"] == 3
    assert not [t for _, t in cap.logs if t.startswith("listener:")]  # unsubscribing it is fine


@pytest.mark.parametrize("fail_in", ["capture_open", "capture_close", "routine"])
def test_capture_listening_failures(lib, any_host, fail_in: str) -> None:
    cap = listener_capture(lib, any_host, fail_in=fail_in)
    if fail_in == "capture_open":
        assert cap.returncode == 1 and "boom in capture_open" in cap.error_message
        return
    ok(cap)  # a failing capture_close is logged (libsinsp would abort on it)
    assert any(f"{fail_in} failed: RuntimeError: boom in {fail_in}" in t for _, t in cap.logs)
    if fail_in == "routine":
        assert cap.metric_values("listener")["runs"] == 1  # a raising routine stops


def test_routines_without_a_host_thread_pool(lib, falco_realhost) -> None:
    """libsinsp and Falco built with the defaults have no thread pool: the SDK runs the
    routine on a thread of its own."""
    plugins = [plugin_args(lib("pushy"), open_params="5"),
               plugin_args(lib("listener"), config='{"interval_ms": 5}')]  # fmt: skip
    cap = ok(run_capture(plugins, host="sinsp"))
    assert cap.metric_values("listener")["runs"] >= 3  # about 30
    assert cap.metric_values("listener")["closed"] == 1


# ---- base plugin: logging, set_config, errors in every entry point ---------------------------


def test_logging_into_the_hosts_log(lib, any_host) -> None:
    cap = ok(run_capture(lib("countdown"), open_params="3", host=any_host))
    assert ("INFO", "countdown: counting down from 3") in cap.logs


def test_set_config_applies_before_open(lib, any_host) -> None:
    plugins = [plugin_args(lib("faulty"), config="{}", set_config='{"fail_in": "open"}')]
    cap = run_capture(plugins, host=any_host)
    assert [e["stage"] for e in cap.errors] == ["open"]
    assert "RuntimeError: boom in open" in cap.error_message


FATAL = {"init", "set_config", "open", "next_batch"}  # the capture cannot go on
LOGGED = ["get_progress", "close", "event_to_string", "get_metrics", "destroy"]


@pytest.mark.parametrize("kind", ["runtime", "exit"])
@pytest.mark.parametrize("where", [*sorted(FATAL), *LOGGED])
def test_an_exception_in_every_entry_point(lib, any_host, where: str, kind: str) -> None:
    config = json.dumps({"fail_in": where, "kind": kind})
    cap = run_capture([plugin_args(lib("faulty"), config=config, set_config=config)],
                      host=any_host)  # fmt: skip
    exc = "RuntimeError" if kind == "runtime" else "SystemExit"
    if where in FATAL:
        assert cap.returncode == 1
        assert [e["stage"] for e in cap.errors] == [where]
        assert f"{exc}: boom in {where}" in cap.error_message
        return
    ok(cap)
    assert cap.texts == ["event 1", "event 2", "event 3"]
    assert any(f"{where} failed: {exc}: boom in {where}" in t for s, t in cap.logs if s == "ERROR")
    if where == "get_progress":
        assert [(p["pct"], p["text"] or "") for p in cap.progress] == [(0, "")]
    if where == "get_metrics":
        assert cap.metric_values() == {}


# ---- the filter language, operator by operator ----------------------------------------------

REFUSED = "refused"
# filter -> the events of alltypes that libsinsp keeps ("alpha beta", "absent", "empty"), or
# REFUSED; the SDK host's filter language is being rewritten to follow libsinsp (issue 12):
# where it still differs, the case carries the reason
FILTERS: list[tuple[str, list[int] | str, str]] = [
    ("at.str.list in (a, c, '')", [1, 2], ""),
    ("at.str.list exists", [1, 2], ""),
    ("at.u64.list in (0, 1, 1099511627776)", [1, 2], ""),
    ("at.word startswith al", [1], ""),
    ("at.word endswith ha", [1], ""),
    ("at.word contains lph", [1], ""),
    ("at.word in (alpha, x)", [1], ""),
    ("at.word = at.word", [], ""),  # the right side is the text 'at.word'
    ("at.str = héllo", [1, 2, 3], ""),
    ("at.str.opt exists", [1, 3], ""),
    ("not at.key.opt exists", [1, 2, 3], ""),
    ("at.index[3] = 6 and at.key[abc] = ABC", [1, 2, 3], ""),
    ("at.u64 = 18446744073709551615", [1, 2, 3], ""),
    ("at.reltime = 2000005000 and at.abstime > 0", [1, 2, 3], ""),
    ("at.ipaddr = 10.1.2.3", [1, 2, 3], ""),
    ("at.ipnet = 10.0.0.0/8", [1, 2, 3], ""),
    ("nosuch.field = 1", REFUSED, ""),
    ("at.u64 = abc", REFUSED, ""),
    ("at.bool = maybe", REFUSED, ""),
    ("at.ipaddr = 10.1.2", REFUSED, ""),
    ("at.index[03] = 6", REFUSED, ""),
    ("at.str.list[0] = a", REFUSED, ""),
    ("at.word bcontains 616c", REFUSED, ""),
    # list fields: `in` means every value is in the set, `intersects` any; others refused
    ("at.str.list in (a, b)", [], ""),
    ("at.bool.list in (true)", [], ""),
    ("at.str.list intersects (c, z)", [1, 2], ""),
    ("at.str.list intersects (z)", [], ""),
    ("at.str.list = a", REFUSED, ""),
    ("at.str.list != a", REFUSED, ""),
    ("at.str.list contains a", REFUSED, ""),
    ("at.u64.list > 0", REFUSED, ""),
    ("at.word in ()", [], ""),
    # string operators
    ("at.word icontains ALP", [1], ""),
    ("at.word glob 'al*a'", [1], ""),
    ("at.word glob 'A*'", [], ""),
    ("at.word iglob 'A*'", [1, 2], ""),
    ("at.word pmatch (alpha, zeta)", [1], ""),
    ("at.word pmatch (al)", [], ""),
    ("at.word regex 'al.*'", [1], ""),
    ("at.word = val(at.word)", [1, 2, 3], ""),
    # addresses and numbers
    ("at.ipaddr = 10.0.0.0/8", REFUSED, ""),
    ("at.ipaddr in (10.0.0.0/8)", REFUSED, ""),
    ("at.ipnet = 10.0.0.0", REFUSED, ""),
    ("at.u64 > -1", [], ""),
    # the generic evt.* fields every plugin source has
    ("evt.num > 1", [2, 3], ""),
    ("evt.num in (1, 3)", [1, 3], ""),
    ("evt.source = alltypes", [1, 2, 3], ""),
    ("evt.pluginname = alltypes", [1, 2, 3], ""),
    ("evt.plugininfo contains alpha", [1], ""),
    ("evt.time exists and evt.rawtime > 0", [1, 2, 3], ""),
    ("evt.is_async = false", [1, 2, 3], ""),
    ("evt.asynctype exists", [], ""),
    ("evt.type = pluginevent", REFUSED, ""),  # no evt.type on a plugin source
    ("evt.ts > 0", REFUSED, ""),  # no such field in libsinsp
    ("evt.rawtime.s > 1500000000 and evt.rawtime.ns < 1000000000", [1, 2, 3], ""),
    ("evt.reltime.s = 0 and evt.reltime < 1000000000", [1, 2, 3], ""),
    ("evt.datetime glob '2*-*-* *:*:*.*'", [1, 2, 3], ""),
    ("evt.time.iso8601 endswith +0000 or evt.time.iso8601 contains T", [1, 2, 3], ""),
    ("evt.hostname exists and evt.num intersects (2, 9)", [2], ""),
    ("evt.num[1] = 1", REFUSED, ""),
    # numbers, times and booleans: every comparison
    ("at.u64 != 0 and at.u64 >= 18446744073709551615", [1, 2, 3], ""),
    ("at.u64.opt <= 5", [], ""),
    ("at.u64.opt < 18446744073709551615", [], ""),
    ("at.u64.opt != 5", [1, 3], ""),  # an absent value matches nothing, not even !=
    ("at.u64.list intersects (1099511627776)", [1, 2], ""),
    ("at.u64.list in (0, 1)", [], ""),
    ("at.u64 = 0x10", REFUSED, ""),
    ("at.u64 contains 1", REFUSED, ""),
    ("at.reltime > 2000000000 and at.reltime.opt != 0", [1, 3], ""),
    ("at.reltime.list in (0)", [1, 2], ""),
    ("at.abstime = 1704164645000006000", [1, 2, 3], ""),
    ("at.abstime.list exists", [], ""),
    ("at.bool != false and at.bool.opt = true", [1, 3], ""),
    ("at.bool.list intersects (false)", [1, 2], ""),
    ("at.bool < true", REFUSED, ""),
    # strings
    ("at.word > 5 and at.word <= 9", [], ""),  # strings compare with a number-like text
    ("at.word > 5", [1, 2, 3], ""),
    ("at.word < b", REFUSED, ""),  # `<` takes a number (or a field), even on a string
    ("at.str.opt != héllo", [], ""),
    ("at.word startswith ''", [1, 2, 3], ""),
    ("at.word icontains ''", [1, 2, 3], ""),
    ("at.word bstartswith 61", REFUSED, ""),
    ("at.word = \"al\\x70ha\"", [1], ""),
    ("at.word iglob '*B*'", [2], ""),
    ("at.word pmatch (/alpha, '*')", [1, 2, 3], ""),
    ("at.word = anyof (alpha, empty)", [1, 3], ""),
    ("at.word != allof (alpha, absent)", [3], ""),
    ("at.word startswith oneof (a, al)", [2], ""),
    # addresses and networks, both families
    ("at.ipaddr != 10.1.2.3 or at.ipaddr.opt = ::1", [], ""),
    ("at.ipaddr in (10.1.2.3, ::1) and at.ipaddr.opt exists", [1, 3], ""),
    ("at.ipaddr.list in (::1)", [1, 2], ""),
    ("at.ipaddr.list intersects (0:0::1)", [1, 2], ""),
    ("at.ipaddr = ::ffff:10.1.2.3", REFUSED, ""),  # a dot makes it IPv4 for libsinsp
    ("at.ipnet != 192.168.0.0/16 and at.ipnet in (10.0.0.0/16, 172.16.0.0/12)", [1, 2, 3], ""),
    ("at.ipnet in (10.1.0.0/16)", [], ""),
    ("at.ipnet.list in (fe80::/10)", [1, 2], ""),
    ("at.ipnet.list intersects (fe80::/16)", [1, 2], ""),
    ("at.ipnet = 10.0.0.0/33", REFUSED, ""),
    ("at.ipnet = fe80::/0", REFUSED, ""),
    # a field on the right: same type and listness, no networks, no pmatch
    ("at.u64 = val(at.u64.opt)", [1, 3], ""),
    ("at.str.list intersects val(at.str.list)", [1, 2], ""),
    ("at.word != val(at.str)", [1, 2, 3], ""),
    ("at.u64 = val(at.str)", REFUSED, ""),
    ("at.ipnet = val(at.ipnet.opt)", REFUSED, ""),
    ("at.word pmatch val(at.str)", REFUSED, ""),
    # the grammar: precedence, blanks, quotes
    ("at.word = alpha or at.word = empty and not at.u64.opt exists", [1], ""),
    ("(at.word = alpha or at.word = empty) and at.u64.opt exists", [1, 3], ""),
    ("not(at.word = alpha)and(at.word != empty)", [2], ""),
    ("at.word='alpha'", [1], ""),
    ("at.word = 'alpha", REFUSED, ""),
    ("(at.word = alpha", REFUSED, ""),
    ("at.word = alpha and", REFUSED, ""),
    ("at.word exists at.word", REFUSED, ""),
    ("some_macro", REFUSED, ""),
]


@pytest.mark.parametrize(("expr", "expected", "sdk_gap"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filter_language(lib, any_host, request, expr: str, expected, sdk_gap: str) -> None:
    if sdk_gap:
        sdk_differs(request, any_host, f"SDK host filter: {sdk_gap} (issue 12)")
    cap = run_capture(lib("alltypes"), filter=expr, host=any_host)
    if expected == REFUSED:
        assert cap.returncode == 1 and [e["stage"] for e in cap.errors] == ["filter"]
    else:
        ok(cap)
        assert [e["evtnum"] for e in cap.events] == expected


def test_the_threads_table_has_libsinsps_schema(lib, falco_realhost) -> None:
    """The SDK host's threads table: libsinsp's fields, types and read-only flags."""
    schemas = []
    for host in ("sdk", "sinsp"):
        cap = ok(run_capture(lib("countdown"), open_params="1", dump_tables=["threads"],
                             host=host))  # fmt: skip
        table = cap.tables["threads"]
        fields = sorted((f["name"], f["type"], f["read_only"]) for f in table["fields"])
        schemas.append((table["key_type"], fields))
    assert schemas[0] == schemas[1]
    assert len(schemas[0][1]) > 25
