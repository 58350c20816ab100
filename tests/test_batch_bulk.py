"""The bulk forms of the event batch (``add_formatted``, ``add_many`` with ``fields=``
columns): the same payloads and supplied values as ``str.format`` and the per-event form,
the same errors, all or nothing per call; in process, in the SDK host and in the real
libsinsp (the real Falco runs them through the examples' tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from falco_plugin import Eof, EventBatch
from falco_plugin.loader import PluginRef, import_module
from falco_plugin.testing import run_capture

PLUGIN = Path(__file__).resolve().parent / "plugins" / "bulk_source.py"
mod = import_module(PluginRef.parse(str(PLUGIN)))
FIELDS = ["bulk.num", "bulk.text", "bulk.flag", "bulk.items"]

ERRORS = [
    "TypeError: add_formatted(): the template has 2 placeholders for 1 columns",
    "ValueError: add_formatted(): a placeholder other than {} (only {} and {{ }} are taken) in "
    "the template '{0}'",
    "ValueError: add_formatted(): a single '}' in the template '{} }'",
    "ValueError: add_formatted(): the columns have different lengths (2 and 1)",
    "TypeError: add_formatted(): a column must be iterable",
    "TypeError: add_formatted() takes a str template, not bytes",
    "TypeError: add_formatted(): the template needs a {} placeholder (one event per value of "
    "its column)",
    "ValueError: fields=: the column of bulk.num has 1 values for 2 events",
    "ValueError: fields=: the value of bulk.num must be in [0, 2**64)",  # the first is not kept
    "TypeError: fields= takes a dict {field name: value}, not list",
    "ValueError: fields=: the value of bulk.num must be in [0, 2**64)",
    "TypeError: an event payload must be bytes, bytearray, memoryview or str, not float",
    "ValueError: fields=: this plugin has no field 'nope.x'",
    "TypeError: fields=: bulk.text takes a str value, got int",
    "TypeError: fields=: a column takes one value per event (a list, a tuple, a range...)",
    "TypeError: add_many() got an unexpected keyword argument 'ts'",
    "RuntimeError: a list of a bulk add changed size during the call",  # by __format__
    "RuntimeError: a list of a bulk add changed size during the call",  # by __bool__
    "events: 0",
]


@pytest.fixture(scope="module")
def bulk_source(falco_build) -> Path:
    return falco_build(str(PLUGIN))


def expected(k: int) -> dict[str, object]:
    if k // 5 % 2:  # an add_many batch without values: the methods answer
        return {"bulk.num": 1000 + k, "bulk.text": "py", "bulk.flag": False, "bulk.items": [1000]}
    return {"bulk.num": k, "bulk.text": f"x{k}", "bulk.flag": k % 3 == 0,
            "bulk.items": [k, 2 * k]}  # fmt: skip


def formatted_payloads() -> list[bytes]:
    """What add_formatted must make of the plugin's "formats" calls: str.format's text."""
    out = [mod.TEMPLATE.format(*row) for row in mod.ROWS]
    out += [f"{a}|{b}" for a, b in zip(mod.RANGES[0], range(0, 20, 2), strict=True)]
    out += [f"<{v}>" for numbers in mod.RANGES[1:] for v in numbers]
    return [text.encode() for text in out]


def test_bulk_batches_through_the_abi(bulk_source, any_host) -> None:
    cap = run_capture(bulk_source, open_params="12", fields=[*FIELDS, "bulk.errors"],
                      host=any_host)  # fmt: skip
    assert cap.ok, cap.error_message + cap.stderr
    assert cap.payloads == [f"k={k} t=x{k}".encode() for k in range(12)]
    assert [{name: f.get(name) for name in FIELDS} for f in cap.fields] == [
        expected(k) for k in range(12)
    ]
    assert cap.fields[0]["bulk.errors"] == ERRORS


def test_formatted_payloads_are_str_format(bulk_source, any_host) -> None:
    cap = run_capture(bulk_source, open_params="formats", fields=["bulk.num"], host=any_host)
    assert cap.ok, cap.error_message + cap.stderr
    assert cap.payloads == formatted_payloads()
    ranged = [v for numbers in mod.RANGES[1:] for v in numbers]  # supplied: v, not 1000 + v
    head = len(mod.ROWS) + len(mod.RANGES[0])
    assert [f["bulk.num"] for f in cap.fields] == [999] * head + ranged


def run_in_process(params: str) -> tuple[EventBatch, list[str]]:
    plugin = mod.BulkSource("")
    instance = plugin.open(params)
    batch = EventBatch()
    with pytest.raises(Eof):
        while True:
            instance.next_batch(batch)
    return batch, plugin.errors


def test_in_process_batches_agree() -> None:
    batch, errors = run_in_process("12")
    assert errors[:8] == ERRORS[:8]  # the in-process batch checks no field names or values:
    wrong = int(errors[-1].removeprefix("events: "))  # some of the wrong calls added events
    assert batch.payloads()[wrong:] == [f"k={k} t=x{k}".encode() for k in range(12)]
    assert batch.supplied[wrong:] == [expected(k) if k // 5 % 2 == 0 else None for k in range(12)]
    formats, _ = run_in_process("formats")
    assert formats.payloads() == formatted_payloads()


def test_in_process_bulk_calls_add_all_or_nothing() -> None:
    batch = EventBatch()
    batch.add(b"first")
    with pytest.raises(TypeError):
        batch.add_many([b"a", 1.5])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="has 1 values for 2 events"):
        batch.add_formatted("{}", [1, 2], fields={"bulk.num": [1]})
    assert batch.payloads() == [b"first"] and batch.supplied == [None]
    batch.add_many([b"a", "b"], fields={"bulk.num": range(2)})
    assert batch.supplied == [None, {"bulk.num": 0}, {"bulk.num": 1}]
