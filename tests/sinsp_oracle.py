"""Real libsinsp (sinsp-example) as the oracle for capture files: run it, print our events
the way its raw dump prints them. The real host comes from :mod:`falco_plugin.realhost`.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from falco_plugin.event._generated import EVENT_TABLE
from falco_plugin.event.raw import RawEvent
from falco_plugin.realhost import require, tool

#: Parameter types libsinsp shows as ``<NA>`` when empty (its legacy NULL encoding).
_NA_TYPES = frozenset({"PT_CHARBUF", "PT_FSPATH", "PT_FSRELPATH"})
_CATEGORY = re.compile(r" category=\S+")


def sinsp_example(capture: Path, *args: str, timeout: float = 60) -> list[str]:
    """sinsp-example's output lines for a capture (all threads); fails on an [ERROR] line.

    sinsp-example retries every 2 s forever after a read error: the timeout ends that.
    """
    exe = tool(require(), "bin/sinsp-example")
    proc = subprocess.run(
        [str(exe), "-s", str(capture), "-a", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        errors="surrogateescape",
    )
    lines = proc.stdout.splitlines()
    errors = [line for line in lines if line.startswith("[ERROR]")]
    assert proc.returncode == 0 and not errors, (proc.returncode, errors, proc.stderr[-2000:])
    assert "-- EOF" in lines, proc.stdout[-2000:]
    return lines


def sinsp_raw(capture: Path) -> list[str]:
    """The events as sinsp-example's raw dump prints them, without the category column."""
    return [
        _CATEGORY.sub("", line) for line in sinsp_example(capture, "-r") if line.startswith("ts=")
    ]


def sinsp_json(capture: Path, fields: list[str]) -> list[dict[str, Any]]:
    """One JSON object per event with the given fields (null ones included)."""
    fmt = "*" + " ".join(f"%{f}" for f in fields)
    lines = sinsp_example(capture, "-j", "-o", fmt)
    return [json.loads(line) for line in lines if line.startswith("{")]


def hexdump(data: bytes) -> str:
    """Bytes the way sinsp-example prints them: printable runs quoted, others as hex."""
    out = []
    ascii_run = False
    for i, byte in enumerate(data):
        if 0x20 <= byte < 0x7F:
            if not ascii_run:
                ascii_run = True
                out.append(' "' if i else '"')
            out.append(chr(byte))
        else:
            if ascii_run:
                ascii_run = False
                out.append('" ')
            elif i:
                out.append(" ")
            out.append(f"{byte:02x}")
    if ascii_run:
        out.append('"')
    return "[" + "".join(out) + "]"


def raw_line(raw: RawEvent) -> str:
    """An event as sinsp-example's raw dump (``-r``) prints it, category left out."""
    row = EVENT_TABLE[raw.type]
    stamp = datetime.datetime.fromtimestamp(raw.ts // 10**9, datetime.timezone.utc)
    ts = stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{raw.ts % 10**9:09d}+0000"
    parts = [f"ts={ts} tid={raw.tid} type={row[3]}{row[2]} nparams={raw.nparams}"]
    for i, (spec, value) in enumerate(zip(row[7], raw.params(), strict=False)):
        data = bytes(value)
        if spec[2] in _NA_TYPES and (not data or data == b"(NULL)\0"):
            data = b"<NA>\0"
        parts.append(f"{i}:{spec[0]}={hexdump(data)}")
    return " ".join(parts)
