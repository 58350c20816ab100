"""Instruction counts with valgrind's callgrind: stable where times are not.

The machine the benchmarks run on is small and shared, so times move by 2x between runs;
the number of instructions a piece of code executes does not. :func:`profile` runs a
command under ``valgrind --tool=callgrind`` and reads back the program's total and, per
function, how often it was called and its inclusive cost (itself and everything it
called), e.g. ``plugin_extract_fields``: instructions per API call, whatever the plugin is
written in. Callgrind cannot run the Go runtime (it aborts on Go's signals): Go plugins
get no counts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_NAMED = re.compile(r"(c?fn)=\((\d+)\)(?: (.*))?$")
_CALLS = re.compile(r"calls=(\d+)")


class CallgrindError(RuntimeError):
    """valgrind is missing, or the profiled command failed."""


@dataclass
class Profile:
    """What one callgrind run counted."""

    total: int  # instructions of the whole process
    calls: dict[str, int] = field(default_factory=dict)  # function name -> times called
    inclusive: dict[str, int] = field(default_factory=dict)  # name -> instructions, callees in

    def per_call(self, name: str) -> float | None:
        """Instructions per call of ``name`` (callees included), None if never called."""
        n = self.calls.get(name, 0)
        return self.inclusive[name] / n if n else None


def available() -> bool:
    return shutil.which("valgrind") is not None


def parse(text: str) -> Profile:
    """Read a callgrind output file (name compression and several parts allowed)."""
    names: dict[str, str] = {}
    calls: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    callee: str | None = None
    pending = 0  # the calls of the cost line that follows a "calls=" line
    for line in text.splitlines():
        if pending:
            cost = line.split()
            if cost and callee is not None:
                inclusive[callee] = inclusive.get(callee, 0) + int(cost[-1])
                calls[callee] = calls.get(callee, 0) + pending
            pending = 0
            continue
        named = _NAMED.match(line)
        if named:
            kind, ident, name = named.groups()
            if name:
                names[ident] = name
            if kind == "cfn":
                callee = names.get(ident, ident)
            continue
        counted = _CALLS.match(line)
        if counted:
            pending = int(counted.group(1))
        elif line.startswith(("summary:", "totals:")):
            total = max(total, int(line.split()[1]))
    return Profile(total, calls, inclusive)


def profile(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
    options: Sequence[str] = (),
) -> Profile:
    """Run ``cmd`` under callgrind and read its counts (the command must exit with 0).
    ``options``: more callgrind options, e.g. ``--toggle-collect=FUNCTION`` to count only
    inside FUNCTION (the total is then what it ran, its calls are still counted)."""
    if not available():
        raise CallgrindError("valgrind is not installed")
    with tempfile.TemporaryDirectory(prefix="fp-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *options, *cmd],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=dict(env) if env is not None else dict(os.environ),
            check=False,
        )
        if proc.returncode != 0 or not out.is_file():
            raise CallgrindError(
                f"callgrind run failed (exit {proc.returncode}): {proc.stderr[-1500:]}"
            )
        return parse(out.read_text(errors="replace"))
