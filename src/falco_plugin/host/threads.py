"""The host's ``threads`` table contents: the default threads, the ``--thread-tid`` thread and
``--threads-fixture``, turned into the engine's fixture ops (proto.h, FX_*).

The engine checks every name, type and range against libsinsp's thread and fd fields, so
this module only walks the JSON.
"""

from __future__ import annotations

from typing import Any

from .wire import Plan

#: What every run starts with: pid 1, like a /proc scan would find it.
DEFAULT_THREADS: list[dict[str, Any]] = [
    {
        "tid": 1,
        "pid": 1,
        "ptid": 0,
        "sid": 1,
        "vtid": 1,
        "vpid": 1,
        "vpgid": 1,
        "pgid": 1,
        "comm": "init",
        "exe": "/sbin/init",
        "exe_path": "/sbin/init",
        "uid": 0,
        "gid": 0,
        "fd_limit": 1024,
        "root": "/",
        "cwd": "/",
        "args": ["splash"],
        "cgroups": [{"first": "cpu", "second": "/init.scope"}],
        "file_descriptors": [{"fd": k, "type": 16, "name": "/dev/null"} for k in range(3)],
    }
]


def thread_tid_entry(tid: int) -> dict[str, Any]:
    """The thread ``--thread-tid T`` adds, a child of pid 1 with a log file open as fd 3."""
    return {
        "tid": tid,
        "pid": tid,
        "ptid": 1,
        "sid": tid,
        "vtid": tid,
        "vpid": tid,
        "vpgid": tid,
        "pgid": tid,
        "comm": "fp-host-test",
        "exe": "fp-host-test",
        "exe_path": "/usr/local/bin/fp-host-test",
        "uid": 1000,
        "gid": 1000,
        "loginuid": 1000,
        "fd_limit": 1024,
        "root": "/",
        "cwd": "/tmp",
        "args": ["--run"],
        "env": ["HOME=/tmp"],
        "file_descriptors": [
            *({"fd": k, "type": 16, "name": "/dev/pts/0"} for k in range(3)),
            {"fd": 3, "type": 16, "name": "/tmp/fp-host-test.log", "open_flags": 1},
        ],
    }


def _entry(plan: Plan, entry: Any, label: str) -> None:
    if isinstance(entry, str):
        plan.item("FX_VALUE").str(label).str(entry)
        return
    if not isinstance(entry, dict):
        plan.item("FX_ENTRY").str(label).item("FX_NOT_OBJECT")
        return
    plan.item("FX_ENTRY").str(label)
    for name, value in entry.items():
        if isinstance(value, bool):
            plan.item("FX_BOOL").str(name).u8(int(value))
        elif isinstance(value, int):
            plan.item("FX_INT").str(name).u8(int(value < 0)).u64(min(abs(value), 2**64 - 1))
        elif isinstance(value, str):
            plan.item("FX_STR").str(name).str(value)
        elif isinstance(value, list):
            plan.item("FX_TABLE").str(name)
            for item in value:
                _entry(plan, item, label)
            plan.item("FX_POP")
        else:
            plan.item("FX_BAD").str(name)
    plan.item("FX_END")


def fixture_ops(entries: list[Any], what: str) -> bytes:
    """The FX_* ops that add ``entries`` (thread objects) to the threads table."""
    plan = Plan()
    for i, entry in enumerate(entries):
        _entry(plan, entry, f"{what}, entry {i}")
    plan.item("FX_DONE")
    return plan.body()
