"""Event model benchmark: events parsed and built per second, next to a C reference walk.

    python benchmarks/events.py [--events N] [--repeat R] [--instructions]

The loops (``plugins/event_timing.py``: header walk, raw walk visiting every parameter,
typed decode, build + encode over a mix of common syscall events) run twice: in this Python
(the event model's Python code) and inside a plugin library loaded by the SDK host
(``plugins/bench_events.py``: there ``falco_plugin.event`` uses the library's C event
functions). C (``c_reference/event_parse_ref.c``, compiled with cc into a temporary
directory and called through ctypes on the same buffer): a header walk and a walk that reads
every parameter. Every figure is the median of R runs. ``--instructions``: instructions per
event of the header walk and the typed decode, in the plugin and with its Python functions
(callgrind: two runs of N1 and N2 events, so that everything else cancels out).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "plugins"))

import event_timing  # noqa: E402

from falco_plugin.event import EVENT_CLASSES  # noqa: E402


def build_c_reference(out_dir: Path) -> ctypes.CDLL:
    """Compile the C walker into ``out_dir`` and load it."""
    lib = out_dir / "libevent_parse_ref.so"
    cc = os.environ.get("CC", "cc")
    src = HERE / "c_reference" / "event_parse_ref.c"
    subprocess.run([cc, "-O2", "-fPIC", "-shared", str(src), "-o", str(lib)], check=True)
    dll = ctypes.CDLL(str(lib))
    for fn in (dll.walk_headers, dll.walk_params):
        fn.restype = ctypes.c_long
        fn.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_uint64),
        ]
    return dll


def run(count: int, repeat: int) -> dict[str, float]:
    """All the figures, as events per second: ``py_*`` in this Python, ``plugin_*`` inside a
    plugin library, ``c_*`` the C walker."""
    out = event_timing.run(count, repeat)
    out.update({k.replace("py_", "plugin_"): v for k, v in run_in_plugin(count, repeat).items()
                if k.startswith("py_")})  # fmt: skip
    buf = b"".join(ev.encode() for ev in event_timing.build_events(count))
    large = bytes(int(cls.LARGE) for cls in EVENT_CLASSES)
    with tempfile.TemporaryDirectory() as tmp:
        dll = build_c_reference(Path(tmp))
        acc = ctypes.c_uint64()

        def c_walk(fn: Any) -> Callable[[], object]:
            def go() -> None:
                got = fn(buf, len(buf), large, len(large), ctypes.byref(acc))
                if got != count:
                    raise RuntimeError(f"C walker returned {got}")

            return go

        out["c_headers"] = event_timing.median_rate(count, repeat, c_walk(dll.walk_headers))
        out["c_params"] = event_timing.median_rate(count, repeat, c_walk(dll.walk_params))
    return out


def plugin_config(count: int, repeat: int, out: Path, only: str = "", python: bool = False) -> str:
    return json.dumps({"events": count, "repeat": repeat, "only": only, "python": python,
                       "out": str(out)})  # fmt: skip


def bench_library() -> Path:
    from falco_plugin.build import build_cached

    return build_cached(str(HERE / "plugins" / "bench_events.py"))


def run_in_plugin(
    count: int, repeat: int, only: str = "", python: bool = False
) -> dict[str, float]:
    """The loops inside the bench_events plugin, loaded by the SDK host."""
    from falco_plugin.host import run_host

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        config = plugin_config(count, repeat, out, only, python)
        proc = run_host(["run", "--quiet", str(bench_library()), "--config", config], timeout=900)
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"bench_events failed: {proc.stdout[-800:]} {proc.stderr[-800:]}")
        res: dict[str, float] = json.loads(out.read_text())
    if not python and not res.get("native"):
        raise RuntimeError("the plugin library did not use its C event functions")
    return res


#: the C function behind one step of iter_events in a plugin (the walker's next)
WALK_NEXT = "fp_walk_next"


def instructions(n1: int = 2_000, n2: int = 6_000) -> dict[str, float]:
    """Instructions per event (callgrind, the real libsinsp's ``fp-sinsp`` driver loading
    bench_events) of the header walk and the typed decode (walk included), with the
    library's C functions and with the Python ones.

    The header walk in a plugin is one run's exact count: callgrind collects only inside
    the walker's next (``--toggle-collect``), which makes each RawEvent (the for loop's own
    bytecode around it, about 20 instructions, is not counted). The other figures are the
    difference of two whole runs, N2 - N1 events, so that everything else cancels out (that
    difference moves by a few hundred instructions from run to run)."""
    import callgrind

    from falco_plugin.sinsp import driver_binary

    lib = bench_library()

    def profile(count: int, only: str, python: bool, *options: str) -> callgrind.Profile:
        with tempfile.TemporaryDirectory() as tmp:
            config = plugin_config(count, 1, Path(tmp) / "f.json", only, python)
            cmd = [str(driver_binary()), str(lib), "--config", config]
            return callgrind.profile(cmd, options=options)

    out = {}
    for only in ("setup", "headers", "decode"):  # setup: the buffer is made, no loop runs
        for python in (False, True):
            if only == "headers" and not python:
                continue  # counted below, in one run
            per = (profile(n2, only, python).total - profile(n1, only, python).total) / (n2 - n1)
            out[f"{'py' if python else 'plugin'}_{only}"] = per
    # what each loop adds to making the buffer (each runs once)
    res = {k: v - out[k.rsplit("_", 1)[0] + "_setup"] for k, v in out.items()
           if not k.endswith("_setup")}  # fmt: skip
    walk = profile(n2, "headers", False, f"--toggle-collect={WALK_NEXT}")
    steps = walk.calls.get(WALK_NEXT, 0)
    if steps != n2 + 1:  # each event, then the end of the walk
        raise RuntimeError(f"{WALK_NEXT} ran {steps} times for {n2} events")
    res["plugin_headers"] = walk.inclusive[WALK_NEXT] / n2
    return res


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark and print a table; returns the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--instructions", action="store_true", help="callgrind counts too")
    args = parser.parse_args(argv)
    res = run(args.events, args.repeat)
    print(f"{args.events} events, {res['buffer_bytes'] / args.events:.0f} bytes/event on average")
    rows = [
        ("header walk", "headers", "c_headers"),
        ("every param, raw", "raw_params", "c_params"),
        ("every param, typed decode", "decode", "c_params"),
        ("build + encode", "build", None),
    ]
    print(f"{'ns/event':28}{'Python':>10}{'plugin (C)':>12}{'C walker':>10}")
    for label, key, c in rows:
        line = f"{label:28}{1e9 / res['py_' + key]:10,.0f}{1e9 / res['plugin_' + key]:12,.0f}"
        if c is not None:
            line += f"{1e9 / res[c]:10,.0f}"
        print(line)
    if args.instructions:
        for key, value in instructions().items():
            print(f"instructions per event, {key}: {value:,.0f}")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
