"""Start of a packaged plugin in the real Falco: time from dlopen to a finished init, and the
RSS it adds, on this machine and in the Falco root filesystem without Python.

    FALCO_PLUGIN_REALHOST=PREFIX [FALCO_PLUGIN_ROOTFS=DIR FALCO_PLUGIN_ROOTFS_SCRIPT=SH] \\
        python benchmarks/package_start.py [--repeat R] [PLUGIN.py]

Falco logs "Loaded plugin ..." right after dlopen and "Loading rules from:" right after the
plugins' init; the time is taken with strace from the ``openat`` of the library to that
second log line (strace's own cost included: an upper bound). Without strace, the time from
Falco's start to that log line read from its stderr as it comes, less the same time with the
C reference plugin ``dummy_c``, is what the plugin adds to Falco's start (dlopen, init and
whatever else Falco does per plugin before its rules). The RSS added is Falco's peak
RSS with the plugin minus its peak RSS with the C reference plugin ``dummy_c`` (both
delivering a few events). Every figure is the median of R runs. Needs strace and GNU time.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from falco_plugin import realhost, rootfs
from falco_plugin.build import build_cached
from falco_plugin.package import package

HERE = Path(__file__).resolve().parent
CONFIG = """plugins:
  - name: {name}
    library_path: {library}
    init_config: ""
    open_params: "{params}"
load_plugins: [{name}]
rules_files: [{rules}]
stdout_output: {{enabled: true}}
json_output: false
log_stderr: true
log_level: info
"""
RULES = "- rule: r\n  desc: d\n  condition: evt.num > 0\n  output: o\n  priority: INFO\n"
RULES += "  source: {src}\n"


def traced(cmd: Sequence[str], library: str) -> tuple[float, int]:
    """(ms from the library's openat to the "Loading rules" log line, peak RSS KiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as trace:
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "RSS=%M", "strace", "-f", "--seccomp-bpf", "-ttt", "-s", "200",
             "-e", "trace=openat,write", "-o", trace.name, *cmd],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        lines = trace.read().splitlines()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{proc.stderr[-2000:]}")
    start = next(float(ln.split()[1]) for ln in lines if "openat" in ln and library in ln)
    end = next(float(ln.split()[1]) for ln in lines if "write(" in ln and "Loading rules" in ln)
    rss = int(re.findall(r"RSS=(\d+)", proc.stderr)[-1])
    return (end - start) * 1000, rss


def untraced(cmd: Sequence[str]) -> float:
    """ms from starting Falco to its "Loading rules" log line, seen on its stderr."""
    start = time.monotonic()
    pipes = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    with subprocess.Popen(cmd, text=True, **pipes) as proc:  # type: ignore[call-overload]
        assert proc.stderr is not None
        seen = next((time.monotonic() for ln in proc.stderr if "Loading rules" in ln), None)
        proc.stderr.read()
    if proc.returncode != 0 or seen is None:
        raise SystemExit(f"{cmd[0]} failed (exit {proc.returncode}) or never loaded its rules")
    return (seen - start) * 1000


def setup(folder: Path, inside: str, name: str, library: str, params: str, source: str) -> str:
    (folder / "rules.yaml").write_text(RULES.format(src=source))
    (folder / "falco.yaml").write_text(
        CONFIG.format(name=name, library=library, params=params, rules=f"{inside}/rules.yaml")
    )
    return f"{inside}/falco.yaml"


def measure(runner: Sequence[str], falco: str, config: str, library: str, repeat: int) -> tuple:
    """(traced ms, untraced ms to the rules, peak RSS KiB), each the median of the runs."""
    cmd = [*runner, falco, "-c", config, "--disable-source", "syscall"]
    runs = [traced(cmd, library) for _ in range(repeat)]
    plain = statistics.median(untraced(cmd) for _ in range(repeat))
    return statistics.median(r[0] for r in runs), plain, statistics.median(r[1] for r in runs)


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--repeat", type=int, default=5)
    countdown = HERE.parent / "examples/countdown/plugin.py"
    args.add_argument("plugin", nargs="?", default=str(countdown))
    opts = args.parse_args()
    root = realhost.prefix()
    if root is None:
        raise SystemExit("set FALCO_PLUGIN_REALHOST=PREFIX")
    falco = str(root / "bin/falco")
    dummy_c = str(root / "out/libdummy_c_O2.so")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pkg = package(opts.plugin, work / "pkg.tar.gz")
        name, source = pkg.meta.name, pkg.meta.event_source
        print(f"package: {pkg.size / 1e6:.1f} MB compressed, {pkg.files} files, {pkg.libpython}")
        dev = str(build_cached(opts.plugin))
        subprocess.run(["tar", "xzf", str(pkg.tarball), "-C", tmp], check=True)
        packaged = f"{tmp}/lib{name}.so"
        rows = []
        for label, lib, plugin_name, src, params in [
            ("C dummy_c", dummy_c, "dummy_c", "dummy", '{\\"start\\": 1, \\"maxEvents\\": 3}'),
            ("development .so", dev, name, source, "3"),
            ("packaged", packaged, name, source, "3"),
        ]:
            config = setup(work, tmp, plugin_name, lib, params, src)
            rows.append((f"this machine, {label}", *measure([], falco, config, lib, opts.repeat)))
        fs = rootfs.find()
        if fs is not None:
            with rootfs.install(fs, pkg.tarball) as inside:
                host = fs.host_path(inside)
                for label, lib, plugin_name, src, params in [
                    ("C dummy_c", "/opt/falco/out/libdummy_c_O2.so", "dummy_c", "dummy",
                     '{\\"start\\": 1, \\"maxEvents\\": 3}'),
                    ("packaged", f"{inside}/lib{name}.so", name, source, "3"),
                ]:  # fmt: skip
                    config = setup(host, inside, plugin_name, lib, params, src)
                    runner = [str(fs.script), "--run", str(fs.root), "--"]
                    ms, plain, rss = measure(runner, rootfs.FALCO, config, lib, opts.repeat)
                    rows.append((f"rootfs without Python, {label}", ms, plain, rss))
    base = {r[0].split(",")[0]: r for r in rows if "dummy_c" in r[0]}
    for label, ms, plain, rss in rows:
        ref = base[label.split(",")[0]]
        print(f"{label:40s} dlopen->init (strace) {ms:5.1f} ms   start added (no strace) "
              f"{plain - ref[2]:5.1f} ms   peak RSS {rss / 1024:5.1f} MiB"
              f"   added {(rss - ref[3]) / 1024:4.1f} MiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
