"""The dummy port: in plain Python, through the SDK's C host, and in the real Falco next to
the official C++ (dummy_c) and Go (dummy) plugins."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from falco_plugin import Eof, EventBatch, PluginError
from falco_plugin.loader import PluginRef, import_module
from falco_plugin.realhost import FalcoPlugin, run_falco
from falco_plugin.unit import FieldError, check_supplied, extract_field, make_event

PLUGIN = str(Path(__file__).with_name("plugin.py"))
mod = import_module(PluginRef.parse(PLUGIN))  # the plugin file, as the build loads it
Dummy, DummyConfig, OpenParams, Samples = mod.Dummy, mod.DummyConfig, mod.OpenParams, mod.Samples

NO_JITTER = '{"jitter": 0}'


def samples(params: str, jitter: int, seed: int = 1, chunk: int = 7) -> list[int]:
    stream = Samples(OpenParams.parse(params), jitter, random.Random(seed))
    out: list[int] = []
    while taken := stream.take(chunk):
        out += taken
    return out


# ----------------------------------------------------------------- plain Python


def test_open_params_defaults_and_values() -> None:
    assert OpenParams.parse("") == OpenParams(1, 20)
    assert OpenParams.parse("{}") == OpenParams(1, 20)
    assert OpenParams.parse('{"start": 7, "maxEvents": 2}') == OpenParams(7, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "wrong open params format: Expecting value"),
        ("[1]", "expected a JSON object"),
        ('{"start": -1}', "start must be a non-negative integer, got -1"),
        ('{"maxEvents": "3"}', "maxEvents must be a non-negative integer, got '3'"),
    ],
)
def test_bad_open_params_are_refused(text: str, message: str) -> None:
    with pytest.raises(PluginError, match=message):
        OpenParams.parse(text)


def test_samples_count_up_without_jitter() -> None:
    assert samples('{"start": 1, "maxEvents": 5}', 0) == [2, 3, 4, 5, 6]
    assert samples('{"maxEvents": 0}', 0) == []


@pytest.mark.parametrize("jitter", [1, 10, 254, 255, 1000])
def test_jitter_stays_in_range(jitter: int) -> None:
    values = samples('{"start": 0, "maxEvents": 20000}', jitter, seed=7)
    steps = [b - a for a, b in zip([0, *values], values, strict=False)]
    assert min(steps) == 1 and max(steps) == jitter + 1  # 1 + [0, jitter], both ends reached
    if jitter <= 10:  # every step about equally often (20000 draws: within 10% of the mean)
        counts = [steps.count(k) for k in range(1, jitter + 2)]
        assert max(counts) < 1.1 * len(steps) / (jitter + 1) < 1.1 * 1.1 * min(counts)


def test_sample_wraps_like_a_uint64() -> None:
    assert samples(json.dumps({"start": 2**64 - 2, "maxEvents": 3}), 0) == [2**64 - 1, 0, 1]
    assert samples(json.dumps({"start": 2**64 - 2, "maxEvents": 3}), 0, chunk=1) == [
        2**64 - 1, 0, 1
    ]  # fmt: skip
    # with jitter, across the wrap: the same draws (same seed) as from 0, shifted modulo 2**64
    start = 2**64 - 30
    wrapped = samples(json.dumps({"start": start, "maxEvents": 50}), 3, seed=5)
    from_zero = samples('{"start": 0, "maxEvents": 50}', 3, seed=5)
    assert wrapped == [(start + v) % 2**64 for v in from_zero]
    assert wrapped[0] > wrapped[-1]  # it did wrap


def test_batches_supply_the_value_the_method_gives() -> None:
    plugin = Dummy(DummyConfig(jitter=5))
    instance = plugin.open('{"start": 3, "maxEvents": 300}')
    batches = []
    with pytest.raises(Eof):
        while True:
            batch = EventBatch()
            batches.append(batch)
            instance.next_batch(batch)
    assert [len(b) for b in batches] == [128, 128, 44]
    payloads = [int(p) for b in batches for p in b.payloads()]
    assert [s["dummy.value"] for b in batches for s in b.supplied] == payloads
    assert all(1 <= b - a <= 6 for a, b in zip([3, *payloads], payloads, strict=False))
    for batch in batches:
        check_supplied(plugin, batch)


def test_negative_jitter_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="jitter cannot be negative"):
        DummyConfig(jitter=-1)


def test_fields_of_one_event() -> None:
    plugin = Dummy(DummyConfig(jitter=0))
    event = make_event(b"12")
    assert extract_field(plugin, "dummy.value", event) == 12
    assert extract_field(plugin, "dummy.strvalue", event) == "12"
    assert extract_field(plugin, "dummy.divisible[4]", event) == 1
    assert extract_field(plugin, "dummy.divisible[5]", event) == 0
    with pytest.raises(FieldError, match="requires an argument"):
        extract_field(plugin, "dummy.divisible", event)
    with pytest.raises(PluginError, match="cannot divide by zero"):
        extract_field(plugin, "dummy.divisible[0]", event)
    with pytest.raises(PluginError, match="not a dummy event"):
        extract_field(plugin, "dummy.value", make_event(b"twelve"))


def test_event_to_string_is_the_go_plugins_json() -> None:
    plugin = Dummy(DummyConfig())
    assert plugin.event_to_string(make_event(b"42")) == '{"sample": "42"}'


# ------------------------------------------------------------- the SDK's C host


def test_capture_through_the_abi(falco_capture) -> None:
    cap = falco_capture(
        PLUGIN,
        config=NO_JITTER,
        open_params='{"start": 10, "maxEvents": 4}',
        fields=["dummy.value", "dummy.strvalue", "dummy.divisible[3]"],
    )
    assert cap.ok, cap.error_message
    assert cap.texts == ["11", "12", "13", "14"]
    assert cap.infos == [f'{{"sample": "{v}"}}' for v in (11, 12, 13, 14)]
    assert [f["dummy.divisible[3]"] for f in cap.fields] == [0, 1, 0, 0]
    assert [f["dummy.strvalue"] for f in cap.fields] == ["11", "12", "13", "14"]
    assert {e["plugin_id"] for e in cap.events} == {3}


def test_default_capture_has_twenty_events(falco_capture) -> None:
    cap = falco_capture(PLUGIN, config="")
    assert cap.ok, cap.error_message
    assert len(cap.events) == 20


@pytest.mark.parametrize(
    ("config", "params", "message"),
    [
        ('{"jitter": "x"}', "", "jitter"),
        ('{"jitter": -3}', "", "jitter cannot be negative"),
        (NO_JITTER, "{", "wrong open params format"),
    ],
)
def test_errors_reach_the_host(falco_capture, config: str, params: str, message: str) -> None:
    cap = falco_capture(PLUGIN, config=config, open_params=params)
    assert not cap.ok
    assert message in cap.error_message


# ---------------------------------------------------------------- the real Falco


def real_alerts(library: Path | str, rules: Path | str, config: str, params: str) -> list:
    run = run_falco([FalcoPlugin(library, config, params)], rules)
    assert run.ok, run.stderr
    return [
        (
            a["rule"],
            a["priority"],
            a["source"],
            a["output"].split(" ", 2)[2],  # without the time and priority prefix
            {k: v for k, v in a["output_fields"].items() if k != "evt.time"},
        )
        for a in run.alerts
    ]


def test_real_falco_alerts_equal_the_official_plugins(
    falco_realhost: Path, falco_build, reference: Path
) -> None:
    prefix = falco_realhost
    ours = falco_build(PLUGIN)
    params = '{"start": 1, "maxEvents": 20}'
    alerts = real_alerts(ours, reference / "dummy_rules.yaml", NO_JITTER, params)
    assert len(alerts) == 20  # every sample is above 1
    assert alerts[0] == (
        "Sample dummy plugin rule",
        "Critical",
        "dummy",
        "-> triggered (value=2)",
        {"dummy.value": 2},
    )
    # the Go plugin has our name and source: the same rules file, the same alerts
    go = real_alerts(
        prefix / "out" / "libdummy_go.so", reference / "dummy_rules.yaml", NO_JITTER, params
    )
    assert go == alerts
    # dummy_c is named dummy_c: its own copy of the rule, otherwise the same alerts
    c_rules = prefix / "out" / "dummy_c_rules.yaml"
    cpp = real_alerts(prefix / "out" / "libdummy_c_O2.so", c_rules, NO_JITTER, params)
    assert [
        (r.replace("dummy_c", "dummy"), p, s.replace("dummy_c", "dummy"), o, f)
        for r, p, s, o, f in cpp
    ] == alerts


def test_real_falco_validates_the_config_with_our_schema(
    falco_realhost: Path, falco_build, reference: Path
) -> None:
    prefix = falco_realhost
    rules = reference / "dummy_rules.yaml"
    for library in (falco_build(PLUGIN), prefix / "out" / "libdummy_go.so"):
        bad = run_falco([FalcoPlugin(library, '{"jitter": "x"}', "")], rules)
        assert bad.returncode != 0 and "jitter" in bad.stderr, bad.stderr
        lenient = run_falco(
            [FalcoPlugin(library, '{"jitter": 0, "unknown": 1}', '{"maxEvents": 2}')], rules
        )
        assert lenient.ok and len(lenient.alerts) == 2, lenient.stderr
