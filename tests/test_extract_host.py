"""Field extraction through the SDK's C host (one field per extract_fields call, like
libsinsp): fields, outputs and filters over the examples, offsets, failures, threads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from falco_plugin.testing import plugin_args, run_capture

ROOT = Path(__file__).resolve().parent.parent
COUNTDOWN = str(ROOT / "examples" / "countdown" / "plugin.py")
JSON = str(ROOT / "examples" / "json" / "plugin.py")
PLUGINS = Path(__file__).resolve().parent / "plugins"


@pytest.fixture(scope="module")
def countdown(falco_build) -> Path:
    return falco_build(COUNTDOWN)


def test_countdown_fields(countdown: Path) -> None:
    cap = run_capture(
        [plugin_args(countdown, open_params="7")],
        options=["--fields", "countdown.remaining,countdown.text,countdown.divisible[3]"],
    )
    assert cap.ok, cap.error_message + cap.stderr
    assert [e["fields"] for e in cap.events] == [
        {
            "countdown.remaining": k,
            "countdown.text": f"{k} events remaining",
            "countdown.divisible[3]": k % 3 == 0,
        }
        for k in range(6, -1, -1)
    ]


def test_countdown_filter_and_output(countdown: Path) -> None:
    cap = run_capture(
        [plugin_args(countdown, open_params="10")],
        options=[
            "--filter",
            "countdown.divisible[3] = true and countdown.remaining > 0",
            "--output",
            "%countdown.remaining left (%countdown.text)",
        ],
    )
    assert cap.ok, cap.error_message
    assert [e["output"] for e in cap.events] == [
        f"{k} left ({k} events remaining)" for k in (9, 6, 3)
    ]
    assert cap.summaries[0]["filtered_out"] == 7


def test_bad_field_requests_are_refused(countdown: Path) -> None:
    for fields, message in [
        ("countdown.nope", "countdown.nope"),
        ("countdown.divisible", "countdown.divisible"),  # its index is required
        ("countdown.divisible[x]", "countdown.divisible"),  # not a number
        ("countdown.remaining[1]", "countdown.remaining"),  # takes no argument
    ]:
        cap = run_capture([plugin_args(countdown, open_params="1")], options=["--fields", fields])
        assert cap.returncode != 0, fields
        assert message in cap.error_message + cap.stderr, fields


def test_field_failure_is_absent_counted_and_logged(countdown: Path) -> None:
    cap = run_capture(
        [plugin_args(countdown, open_params="3")], options=["--fields", "countdown.divisible[0]"]
    )
    assert cap.ok, cap.error_message
    assert [e["fields"]["countdown.divisible[0]"] for e in cap.events] == [None, None, None]
    assert cap.summaries[0]["extract_failures"] == 3
    assert "countdown.divisible needs a divisor above 0" in cap.stderr


def test_json_extractor_on_another_plugins_events(falco_build) -> None:
    source = falco_build(str(PLUGINS / "jsonsource.py"))
    extractor = falco_build(JSON)
    for cache in (True, False):
        cap = run_capture(
            [
                plugin_args(source, open_params="4"),
                plugin_args(extractor, json.dumps({"cache": cache})),
            ],
            options=["--fields", "json.value[/user/name],json.value[/user/tags/1],json.value[/x]"],
        )
        assert cap.ok, cap.error_message + cap.stderr
        assert [e["fields"] for e in cap.events] == [
            {
                "json.value[/user/name]": f"user{i % 3}",
                "json.value[/user/tags/1]": "b/c",
                "json.value[/x]": None,
            }
            for i in range(4)
        ]


def test_every_type_through_the_host(falco_build) -> None:
    lib = falco_build(str(PLUGINS / "alltypes.py"))
    specs = ["at.u64", "at.str.list", "at.bool.opt", "at.ipaddr", "at.ipnet.list", "at.abstime"]
    cap = run_capture([plugin_args(lib)], options=["--fields", ",".join(specs)])
    assert cap.ok, cap.error_message + cap.stderr
    first, absent, empty = (e["fields"] for e in cap.events)
    assert first == {
        "at.u64": 2**64 - 1,
        "at.str.list": ["a", "", "c"],
        "at.bool.opt": True,
        "at.ipaddr": "10.1.2.3",
        "at.ipnet.list": ["fe80::"],
        "at.abstime": 1704164645000006000,
    }
    assert absent["at.bool.opt"] is None
    # an empty list is "no value" for the host, like libsinsp (res_len 0)
    assert empty["at.str.list"] is None and empty["at.ipnet.list"] is None


def test_offsets_through_the_host(falco_build) -> None:
    lib = falco_build(str(PLUGINS / "alltypes.py"))
    cap = run_capture([plugin_args(lib)], options=["--offsets", "--fields", "at.word,at.u64"])
    assert cap.ok, cap.error_message + cap.stderr
    assert cap.events[0]["offsets"] == {"at.word": [38, 5], "at.u64": None}
    plain = run_capture([plugin_args(lib)], options=["--fields", "at.word"])
    assert "offsets" not in plain.events[0]


def test_two_states_extract_on_two_threads(countdown: Path) -> None:
    cap = run_capture(
        [plugin_args(countdown, open_params="500")],
        options=[
            "--inits",
            "2",
            "--extract-threads",
            "2",
            "--fields",
            "countdown.remaining,countdown.text,countdown.divisible[7]",
        ],
    )
    assert cap.ok, cap.error_message + cap.stderr
    checks = [
        json.loads(line)["extract_check"]
        for line in cap.stdout.splitlines()
        if "extract_check" in line
    ]
    assert checks and checks[0]["threads"] == 2 and checks[0]["mismatches"] == 0
    assert checks[0]["calls"] >= 2 * 3 * 500


VALGRIND_EXTRACT = """
import sys
from falco_plugin.event import encode_plugin_event
from tests.abi import Extractor, load
ex = Extractor(load(sys.argv[1]))
print(ex.extract(encode_plugin_event(b"x", plugin_id=999), "iz.values")[1])
"""


@pytest.mark.skipif(not shutil.which("valgrind"), reason="needs valgrind")
def test_int_values_are_read_within_their_objects(falco_build) -> None:
    # An int of one digit is read in place. On Python 3.10 a zero made by int.from_bytes
    # holds no digit (its object ends where the digits start): reading one there is a read
    # past the object. In this process's interpreter, with the C allocator, valgrind sees it.
    lib = falco_build(str(PLUGINS / "int_zero.py"))
    proc = subprocess.run(
        ["valgrind", "--undef-value-errors=no", sys.executable, "-c", VALGRIND_EXTRACT, str(lib)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "PYTHONMALLOC": "malloc"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["[0,", "1,", f"{2**30 - 1},", f"{2**30},", f"{2**64 - 1}]"]
    assert "Invalid read" not in proc.stderr, proc.stderr[-3000:]


def test_cli_fields_filter_output() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "falco_plugin.cli",
            "run",
            COUNTDOWN,
            "--filter",
            "countdown.remaining < 2",
            "--output",
            "%countdown.text!",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert [line.split(" ", 2)[2] for line in proc.stdout.splitlines()] == [
        "1 events remaining!",
        "0 events remaining!",
    ]
