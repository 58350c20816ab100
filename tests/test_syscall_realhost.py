"""Python parse and extract plugins on syscall events in the real libsinsp and Falco.

A Python source plugin without an id is the syscall source (tests/plugins/syscall_source.py):
its events go through libsinsp's own parsers, which build thread and fd state; a Python
parse+extract plugin (tests/plugins/syscall_inspector.py) reads that state through the
tables API and adds fields to it. Its fields must agree with libsinsp's own, event by event.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from falco_plugin.realhost import FalcoPlugin, run_falco
from falco_plugin.testing import Capture, plugin_args, run_capture

PLUGINS = Path(__file__).resolve().parent / "plugins"

#: the plugin's field -> libsinsp's field for the same fact
SAME = {
    "si.type": "evt.type",
    "si.comm": "proc.name",
    "si.exe": "proc.exe",
    "si.fdname": "fd.name",
    "si.fd": "evt.rawarg.fd",
    "si.res": "evt.rawarg.res",
    "si.nfds": "proc.fdopencount",
}
STORY = ["execve", "clone", "clone", "execve", "openat", "read", "socket", "connect",
         "mprotect", "clock_gettime", "read", "close", "procexit"]  # fmt: skip


@pytest.fixture(scope="module")
def libs(falco_realhost: Path, falco_build: Callable[[str], Path]) -> tuple[Path, Path]:
    return (falco_build(str(PLUGINS / "syscall_source.py")),
            falco_build(str(PLUGINS / "syscall_inspector.py")))  # fmt: skip


def capture(libs: tuple[Path, Path], *fields: str, **kwargs) -> Capture:
    source, inspector = libs
    cap = run_capture([plugin_args(source), plugin_args(inspector)], fields=list(fields),
                      host="sinsp", **kwargs)  # fmt: skip
    assert cap.ok, cap.error_message + cap.stderr[-2000:]
    return cap


def test_python_fields_agree_with_libsinsp_on_every_event(libs) -> None:
    cap = capture(libs, *SAME, *SAME.values())
    assert cap.field_values("evt.type") == STORY
    for event in cap.events:
        mine = {f: event["fields"][f] for f in SAME}
        theirs = {f: event["fields"][libsinsp] for f, libsinsp in SAME.items()}
        assert mine == theirs, (event["evtnum"], event["fields"])
    # what they agree on is the story: a shell forks a cat that reads /etc/passwd and connects
    assert cap.field_values("si.comm") == ["bash"] * 3 + ["cat"] * 10
    names = [n for n in cap.field_values("si.fdname") if n]
    connection = "10.0.0.5:40000->93.184.216.34:443"
    assert names == ["/etc/passwd"] * 2 + [connection] + ["/etc/passwd"] * 2


def test_fields_the_parser_added_to_threads_and_fds(libs) -> None:
    cap = capture(libs, "si.parsed", "si.touched", "thread.tid", dump_tables=["threads"])
    tids = cap.field_values("thread.tid")
    shell, cat = tids[0], tids[-1]
    # per thread, the count of events parsed so far (parse runs before extraction)
    assert cap.field_values("si.parsed") == [1, 2, 1, *range(2, 12)]
    assert tids == [shell, shell, cat, *[cat] * 10]
    # per fd, the events that used it: fd 3 (opened, read, read, closed), fd 4 (socket, connect)
    assert cap.field_values("si.touched") == [None] * 4 + [1, 2, 1, 2, None, None, 3, 4, None]
    table = cap.tables["threads"]
    assert {"name": "parsed", "type": "uint64", "read_only": False} in table["fields"]
    mine = {e["fields"]["tid"]: e["fields"] for e in table["entries"] if e["fields"]["tid"] in tids}
    assert mine[shell]["parsed"] == 2 and mine[shell]["comm"] == "bash"
    assert mine[cat]["file_descriptors"] == {"size": 1}  # the socket is still open


RULES = """
- rule: A cat connects
  desc: a Python plugin's fields, and libsinsp's, in one condition
  condition: evt.type = connect and si.comm = cat and si.fdname = val(fd.name)
  output: "%si.comm connected %si.fdname (fd %si.fd, %si.parsed events parsed)"
  priority: WARNING
- rule: Generic syscalls
  desc: generic events, named by the Python plugin as libsinsp names them
  condition: evt.type in (mprotect, clock_gettime) and si.type = val(evt.type)
  output: "%si.type by %proc.name"
  priority: NOTICE
"""


def test_falco_rules_on_python_fields(libs) -> None:
    source, inspector = libs
    run = run_falco([FalcoPlugin(source), FalcoPlugin(inspector)], RULES)
    assert run.ok, run.error
    assert [(a["rule"], a["priority"], a["source"]) for a in run.alerts] == [
        ("A cat connects", "Warning", "syscall"),
        ("Generic syscalls", "Notice", "syscall"),
        ("Generic syscalls", "Notice", "syscall"),
    ]
    assert run.outputs() == [
        "cat connected 10.0.0.5:40000->93.184.216.34:443 (fd 4, 6 events parsed)",
        "mprotect by cat",
        "clock_gettime by cat",
    ]
