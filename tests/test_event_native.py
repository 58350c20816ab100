"""The C event functions of a plugin library (header walk, typed decode) against the Python
event model, which stays the reference: the same values, types and errors for events of every
schema type and for malformed ones, compared inside a library loaded by each host."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

from falco_plugin.event import EVENT_CLASSES
from falco_plugin.testing import run_capture

from .test_event_model import ALL

PLUGIN = Path(__file__).resolve().parent / "plugins" / "event_native.py"


def malformed(valid: list[bytes]) -> list[bytes]:
    """Broken events: truncated, lengths that do not add up, wrong parameter sizes and
    bodies, unknown types, too many parameters (seeded: the same every run)."""
    rng = random.Random(13)
    out = [b"", b"\x00" * 25]
    for data in rng.sample(valid, 300):
        cut = rng.randrange(len(data))
        out.append(data[:cut])  # truncated
        out.append(data + b"\x00")  # longer than its len says
        body = bytearray(data)
        for _ in range(3):
            if len(body) > 26:
                body[rng.randrange(26, len(body))] = rng.randrange(256)  # lengths, values
        out.append(bytes(body))
    for code in rng.sample(range(len(EVENT_CLASSES)), 120):
        width = "I" if EVENT_CLASSES[code].LARGE else "H"
        nparams = rng.randrange(0, 8)
        lengths = [rng.choice((0, 1, 2, 4, 8, 16, 3)) for _ in range(nparams)]
        table = struct.pack(f"<{nparams}{width}", *lengths)
        values = bytes(rng.randrange(256) for _ in range(sum(lengths)))
        total = 26 + len(table) + len(values)
        out.append(struct.pack("<QqIHI", 1, -2, total, code, nparams) + table + values)
    out.append(struct.pack("<QqIHI", 1, 2, 26, 65000, 0))  # unknown type
    out.append(struct.pack("<QqIHI", 1, 2, 26 + 2 * 40, 3, 40) + b"\x00" * 80)  # too many
    out.append(struct.pack("<QqIHI", 1, 2, 20, 3, 0) + b"\x00" * 10)  # len below the header
    return out


def test_c_and_python_agree_on_every_event(falco_build, any_host, tmp_path) -> None:
    valid = [ev.encode() for ev in ALL]
    inputs = valid + malformed(valid)
    path = tmp_path / "inputs.bin"
    path.write_bytes(b"".join(struct.pack("<I", len(b)) + b for b in inputs))
    lib = falco_build(str(PLUGIN))
    cap = run_capture(lib, config=json.dumps({"inputs": str(path)}), fields=["evnative.report"],
                      host=any_host, timeout=600)  # fmt: skip
    assert cap.ok, cap.error_message + cap.stderr
    report = cap.fields[0]["evnative.report"]
    checks = 6 * len(inputs) + 4
    expected = ["native", f"compared {checks}", "public True", "values bound on use True"]
    assert report == expected, report[:6]
