"""Table handles stay valid for any number of calls (issue 10, item 1).

A Python plugin reads tables in every extract, parse and listen call, for months. The
handles the SDK gives out (entries, nested tables) carry a generation so that one kept
past its call is refused; it must never run out, and an iteration must not spend a handle
per visited entry. The plugin's config seeds the generation just below each boundary.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falco_plugin.testing import plugin_args, run_capture

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"
FDS = [{"fd": n, "name": f"/tmp/f{n}"} for n in range(3)]
THREAD = [{"tid": 7, "comm": "seven", "file_descriptors": FDS}]


@pytest.fixture(scope="module")
def libs(falco_build) -> tuple[Path, Path]:
    return (
        falco_build(str(ROOT / "examples" / "countdown" / "plugin.py")),
        falco_build(str(PLUGINS / "table_longrun.py")),
    )


def run(libs: tuple[Path, Path], calls_made: int, events: int, thread=THREAD, fields=None):
    countdown, longrun = libs
    return run_capture(
        [
            plugin_args(countdown, open_params=str(events)),
            plugin_args(longrun, json.dumps({"calls_made": calls_made})),
        ],
        fields=fields or ["long.comm", "long.fds", "long.stale"],
        options=["--thread-tid", "7", "--threads-fixture", json.dumps(thread)],
    )


BOUNDARIES = {
    "start": 0,
    "2**24 (index bits)": 2**24,
    "2**28 (nested table marker)": 2**28,
    "2**31": 2**31,
    "2**32": 2**32,
    "2**40 (64-bit overflow of entries)": 2**40,
    "2**64": 2**64,
}


@pytest.mark.parametrize("boundary", list(BOUNDARIES))
def test_handles_across_a_generation_boundary(libs, boundary: str) -> None:
    # each event makes three extract calls: 20 events cross the boundary 30 calls in
    start = max(0, BOUNDARIES[boundary] - 30) % 2**64
    cap = run(libs, start, events=20)
    assert cap.ok, cap.error_message + cap.stderr
    names = [fd["name"] for fd in FDS]
    assert [f["long.comm"] for f in cap.fields] == ["seven"] * 20
    assert [f["long.fds"] for f in cap.fields] == [names] * 20
    stale = [f["long.stale"] for f in cap.fields]
    assert stale[0] == "none kept"
    assert set(stale[1:]) == {"TableError,TableError"}, stale


def test_an_iteration_spends_no_handle_per_entry(libs) -> None:
    many = [{"tid": 7, "comm": "seven", "file_descriptors": [
        {"fd": n, "name": f"/tmp/f{n}"} for n in range(2000)]}]  # fmt: skip
    cap = run(libs, 0, events=2, thread=many, fields=["long.handles", "long.fds"])
    assert cap.ok, cap.error_message + cap.stderr
    assert [len(f["long.fds"]) for f in cap.fields] == [2000, 2000]
    # the thread, its nested table and one slot the iteration reuses for every fd
    assert [f["long.handles"] for f in cap.fields] == [3, 3]


def test_handles_across_boundaries_in_libsinsp(
    falco_build, falco_realhost: Path, tmp_path: Path
) -> None:
    """The same in the real libsinsp, on its own threads table built from a capture."""
    from falco_plugin.event import Event, event_class
    from falco_plugin.event.capture import write_capture
    from tests.capture_samples import T0, machine, threads

    app = threads()[1]  # tid 100, with 13 fds
    events = [
        Event(event_class("read", "<")(res=0, data=b"", fd=fd.fd, size=0), ts=T0 + i, tid=100)
        for i, fd in enumerate(app.fds or [])
    ]
    path = tmp_path / "app.scap"
    write_capture(path, events + events, threads=threads(), machine_info=machine())
    lib = falco_build(str(PLUGINS / "table_longrun.py"))

    def run_in_sinsp(calls_made: int) -> list[dict[str, object]]:
        cap = run_capture(
            [plugin_args(lib, json.dumps({"calls_made": calls_made}))],
            fields=["long.comm", "long.fds", "long.stale"],
            host="sinsp",
            options=["--capture", str(path)],
        )
        assert cap.ok, cap.error_message + cap.stderr
        return cap.fields

    baseline = run_in_sinsp(0)
    assert len(baseline) == 2 * len(events)
    assert {f["long.comm"] for f in baseline} == {"app"}
    assert {len(f["long.fds"]) for f in baseline} == {len(app.fds or [])}  # type: ignore
    assert {f["long.stale"] for f in baseline[1:]} == {"TableError,TableError"}
    for calls_made in (2**28 - 30, 2**32 - 30, 2**40 - 30, 2**64 - 30):
        assert run_in_sinsp(calls_made) == baseline, calls_made
