"""The plugin ABI is written down once, in ``_native/fp_abi.h``: the ctypes types the tests use
are read from it (tests/abi.py), and this checks both that reading against the C compiler and
the header itself against the real libsinsp's ``plugin_api.h`` (member offsets and sizes)."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import pytest

from falco_plugin.realhost import require
from tests.abi import ABI, HEADER
from tests.chost import CC

# our own helper types, not in the API
OURS = {"fp_table_reader_v0"}


def layout_program(header: Path, include_dirs: list[Path]) -> tuple[str, list[str]]:
    """C that prints "struct member offset size" for every member the header's structs have
    (the same program compiles against our header and the real one)."""
    checks = []
    for name in ABI.structs:
        if "." in name or name in OURS:
            continue
        for member, _ in ABI[name]._fields_:
            checks.append(
                f'    printf("{name} {member} %zu %zu\\n", offsetof({name}, {member}), '
                f"sizeof((({name} *)0)->{member}));"
            )
    source = "\n".join(
        [
            "#include <stddef.h>",
            "#include <stdio.h>",
            f'#include "{header.name}"',
            "int main(void)",
            "{",
            *checks,
            "    return 0;",
            "}",
        ]
    )
    return source, [f"-I{d}" for d in include_dirs]


def run_layout(
    tmp_path: Path, header: Path, include_dirs: list[Path]
) -> dict[tuple[str, str], tuple[int, int]]:
    source, flags = layout_program(header, include_dirs)
    src = tmp_path / "layout.c"
    src.write_text(source)
    exe = tmp_path / "layout"
    proc = subprocess.run(
        [*CC, "-std=c11", *flags, str(src), "-o", str(exe)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    result = {}
    for line in out.splitlines():
        struct, member, offset, size = line.split()
        result[(struct, member)] = (int(offset), int(size))
    return result


def ctypes_layout() -> dict[tuple[str, str], tuple[int, int]]:
    out = {}
    for name in ABI.structs:
        if "." in name or name in OURS:
            continue
        for member, _ in ABI[name]._fields_:
            field = getattr(ABI[name], member)
            out[(name, member)] = (field.offset, field.size)
    return out


def test_the_ctypes_types_are_the_headers(tmp_path: Path) -> None:
    compiled = run_layout(tmp_path, HEADER, [HEADER.parent])
    assert len(compiled) > 100
    assert ctypes_layout() == compiled
    for name in ("ss_plugin_table_input", "ss_plugin_event_parse_input", "ss_plugin_event"):
        assert ctypes.sizeof(ABI[name]) == max(
            o + s for (n, _), (o, s) in compiled.items() if n == name
        )


def test_the_header_matches_libsinsps(tmp_path: Path) -> None:
    """Every member we declare sits where the real plugin API puts it, with the same size."""
    if not (real := require() / "include" / "falcosecurity" / "plugin" / "plugin_api.h").is_file():
        pytest.skip("the real host has no development headers (install it with --dev)")
    for side in ("ours", "real"):
        (tmp_path / side).mkdir()
    ours = run_layout(tmp_path / "ours", HEADER, [HEADER.parent])
    theirs = run_layout(tmp_path / "real", real, [real.parent, real.parent.parent])
    assert ours == theirs
