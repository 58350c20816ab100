"""The benchmarks' own tools: the callgrind reader that gives instruction counts."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import callgrind  # noqa: E402

# A callgrind file as valgrind writes it: compressed names, a call whose inclusive cost
# follows its calls= line, two calls of one function from two places.
SAMPLE = """\
# callgrind format
version: 1
positions: line
events: Ir
summary: 1000

fl=(1) a.c
fn=(1) main
3 10
cfl=(1)
cfn=(2) plugin_extract_fields
calls=2 20
4 300
cfn=(3) helper
calls=1 30
5 50

fn=(4) other
1 5
cfn=(2)
calls=1 20
7 140
"""


def test_parse_counts_calls_and_inclusive_costs() -> None:
    prof = callgrind.parse(SAMPLE)
    assert prof.total == 1000
    assert prof.calls == {"plugin_extract_fields": 3, "helper": 1}
    assert prof.inclusive == {"plugin_extract_fields": 440, "helper": 50}
    assert prof.per_call("plugin_extract_fields") == pytest.approx(440 / 3)
    assert prof.per_call("never_called") is None


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind is not installed")
def test_profile_runs_a_command(tmp_path: Path) -> None:
    prof = callgrind.profile([sys.executable, "-S", "-c", "pass"])
    assert prof.total > 1_000_000  # an interpreter start is millions of instructions
    with pytest.raises(callgrind.CallgrindError):
        callgrind.profile([sys.executable, "-S", "-c", "raise SystemExit(3)"])


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind is not installed")
def test_profile_counts_only_inside_a_toggled_function() -> None:
    # what benchmarks/events.py does for the header walk: one run, one function's count
    cmd = [sys.executable, "-S", "-c", "pass"]
    whole = callgrind.profile(cmd)
    only = callgrind.profile(cmd, options=["--toggle-collect=Py_InitializeFromConfig"])
    assert only.calls.get("Py_InitializeFromConfig") == 1
    assert only.inclusive["Py_InitializeFromConfig"] == only.total
    assert 100_000 < only.total < whole.total


def test_the_realhost_benchmark_runs_only_the_parts_asked(falco_realhost: Path) -> None:
    """``--only start`` measures the start rows alone (the real driver, no callgrind here)."""
    import realhost

    with pytest.raises(SystemExit):
        realhost.main(["--only", "no-such-part"])
    rows = realhost.main(["--only", "start", "--repeat", "1", "--no-instructions"])
    assert [row.title.split(",")[0] for row in rows] == [
        "plugin start", "  ... packaged (falco-plugin package)", "plugin start", "  ... packaged"
    ]  # fmt: skip
    assert all(row.py.value is not None and row.py.value > 0 for row in rows)
    assert all(row.c is not None and row.c.value is not None for row in rows)


def test_the_realhost_table_as_markdown() -> None:
    """``--markdown``: the performance page's table, with units, ratios and verdicts."""
    import realhost
    from realhost import Cell, Row

    rows = [
        Row("source", "Mev/s", Cell(8.44e6, 1221.0), Cell(9.83e6, 1027.0), Cell(2.79e6),
            ">=0.5 C++, >Go", realhost.ratio_at_least(0.5)),
        Row("  ... tables", "ns", Cell(341.0, 2239.0), Cell(50.0, 362.0), target="<=300 ns",
            check=realhost.at_most(300)),
        Row("go extraction", "ns", Cell(30.0), None, Cell(2333.0)),
        Row("start", "ms", Cell(26.5, 80.0e6), note="a note"),
    ]  # fmt: skip
    lines = realhost.markdown_table(rows).splitlines()
    assert lines[0].startswith("| run | Python | Ir |")
    assert lines[2] == ("| source | 8.44 M ev/s | 1,221 | 9.83 M ev/s | 1,027 | 2.79 M ev/s "
                        "| 0.86 | 3.03 | ≥ 0.5 C++, > Go: met |")  # fmt: skip
    assert lines[3] == ("|   … tables | 341 ns | 2,239 | 50 ns | 362 |  | 0.15 |  "
                        "| ≤ 300 ns: missed |")  # fmt: skip
    assert lines[4] == "| go extraction | 30 ns |  |  |  | 2.33 µs |  | 77.77 |  |"
    assert lines[5] == "| start | 26.5 ms | 80.0 M |  |  |  |  |  |  |"
    assert lines[-1] == "- start: a note"
