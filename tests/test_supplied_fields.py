"""Field values a source supplies with its events (``batch.add(payload, fields=...)``): the
shim answers them in C, the methods answer the rest; in the SDK host, the real libsinsp
and the real Falco."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from falco_plugin import (
    Eof,
    EventBatch,
    ExtractEvent,
    ExtractPlugin,
    SourceInstance,
    SourcePlugin,
    field,
)
from falco_plugin.realhost import FalcoPlugin, run_falco
from falco_plugin.testing import run_capture
from falco_plugin.unit import FieldError, check_supplied

PLUGIN = Path(__file__).resolve().parent / "plugins" / "supplier.py"
FIELDS = ["sup.num", "sup.text", "sup.flag", "sup.items", "sup.maybe", "sup.none", "sup.arg[3]"]


@pytest.fixture(scope="module")
def supplier(falco_build) -> Path:
    return falco_build(str(PLUGIN))


def expected(k: int) -> dict[str, object]:
    if k % 2:  # no values supplied: every field from its method
        return {"sup.num": 1000 + k, "sup.text": f"py{k}", "sup.flag": False,
                "sup.items": [1000], "sup.maybe": 7, "sup.none": ["py"], "sup.arg[3]": 3 * k}
    return {"sup.num": k, "sup.text": f"t{k}", "sup.flag": True, "sup.items": [k, k + 1],
            "sup.maybe": None, "sup.none": None, "sup.arg[3]": 3 * k}  # fmt: skip


def test_supplied_values_answer_their_fields(supplier, any_host) -> None:
    cap = run_capture(supplier, open_params="10", fields=FIELDS, host=any_host)
    assert cap.ok, cap.error_message + cap.stderr
    got = [{name: f.get(name) for name in FIELDS} for f in cap.fields]
    assert got == [expected(k) for k in range(10)]


def test_wrong_fields_fail_the_add_and_keep_nothing(supplier, any_host) -> None:
    cap = run_capture(supplier, open_params="2", fields=["sup.errors", "sup.num"], host=any_host)
    assert cap.ok, cap.error_message + cap.stderr
    assert cap.fields[0]["sup.errors"] == [
        "ValueError: fields=: this plugin has no field 'nope.x'",
        "ValueError: fields=: sup.arg takes an argument: its values come from its method only",
        "TypeError: fields=: sup.num takes an int value (nanoseconds for time fields), got str",
        "ValueError: fields=: the value of sup.num must be in [0, 2**64)",
        "ValueError: fields=: the value of sup.text cannot contain NUL",
        "TypeError: fields=: sup.ip is an address field: its values come from its method only",
        "TypeError: fields= takes a dict {field name: value}, not list",
        "TypeError: fields=: a list field takes a list of values",
        "TypeError: fields=: sup.text takes a str value, got int",
        "events: 0",
    ]
    assert [f["sup.num"] for f in cap.fields] == [0, 1001]  # nothing left from those adds


def test_events_from_a_capture_file_in_sinsp_example_go_to_the_methods(supplier, tmp_path) -> None:
    # events libsinsp reads from a capture file live in its own buffers: no supplied values,
    # every field from its method (sinsp-example, the plugin as the capture's extractor)
    from falco_plugin.event import plugin_event
    from falco_plugin.event.capture import write_capture
    from falco_plugin.realhost import require, tool

    scap = tmp_path / "supplier.scap"
    write_capture(scap, [plugin_event(str(k).encode(), plugin_id=994, ts=1_000 + k)
                         for k in range(4)])  # fmt: skip
    cmd = [str(tool(require(), "bin/sinsp-example")), "-s", str(scap), "-p", f"{supplier}||",
           "-o", "%sup.num %sup.text"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("10")]
    assert lines == ["1000 py0", "1001 py1", "1002 py2", "1003 py3"], proc.stdout


def test_supplied_values_in_falco(supplier, falco_realhost) -> None:
    rules = """
- rule: supplied
  desc: a rule on a supplied field
  condition: sup.num < 1000 and sup.text startswith t
  output: "k=%sup.num text=%sup.text"
  priority: INFO
  source: supplier
"""
    run = run_falco([FalcoPlugin(supplier, open_params="6")], rules)
    assert run.ok, run.error
    assert sorted(a["output_fields"]["sup.num"] for a in run.alerts) == [0, 2, 4]


def test_in_process_batches_keep_the_supplied_values() -> None:
    batch = EventBatch()
    batch.add(b"1", fields={"sup.num": 1})
    batch.add(b"2")
    assert batch.supplied == [{"sup.num": 1}, None]
    with pytest.raises(TypeError, match="takes a dict"):
        batch.add(b"3", fields=[("sup.num", 3)])  # type: ignore[arg-type]
    assert len(batch) == 2


class CounterInstance(SourceInstance):
    def __init__(self, lie: bool) -> None:
        self.lie = lie

    def next_batch(self, batch) -> None:
        for k in range(3):
            value = k + 1 if self.lie and k == 2 else k
            batch.add(f"{k} left", fields={"c.left": value, "c.words": ["left"]})
        batch.add(b"9 left")  # no values: nothing to compare
        raise Eof


class Counter(SourcePlugin, ExtractPlugin):
    NAME, VERSION, DESCRIPTION, CONTACT = "c", "1.0.0", "test", "tests"
    PLUGIN_ID, EVENT_SOURCE = 990, "c"

    def open(self, params: str) -> CounterInstance:
        return CounterInstance(params == "lie")

    @field("c.left")
    def left(self, event: ExtractEvent) -> int:
        """The count."""
        return int(event.payload.split()[0])

    @field("c.words")
    def words(self, event: ExtractEvent) -> list[str]:
        """The words after the count."""
        return event.payload.decode().split()[1:]


def test_check_supplied_compares_with_the_methods() -> None:
    for params, lies in (("", False), ("lie", True)):
        batch = EventBatch()
        with pytest.raises(Eof):
            Counter().open(params).next_batch(batch)
        if not lies:
            check_supplied(Counter(), batch)
            continue
        with pytest.raises(FieldError, match=r"event 3: c.left supplied 3, its method returns 2$"):
            check_supplied(Counter(), batch)
