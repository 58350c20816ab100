"""Helpers shared by the tests of the SDK's C host: building small C plugins, and the small C
hosts of the lifetime and fuzz tests."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "src" / "falco_plugin" / "_native"
REFERENCE = ROOT / "benchmarks" / "c_reference" / "countdown_ref.c"
CC = shlex.split(os.environ.get("CC") or "cc")


def compile_plugin(source: Path, out: Path, *extra: str, werror: bool = True) -> Path:
    """Compile a C plugin against the SDK's ABI header; fails the test on any error."""
    cmd = [*CC, "-std=c11", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra"]
    cmd += ["-Werror"] if werror else []
    cmd += [f"-I{NATIVE}", *extra, str(source), "-o", str(out), "-lpthread"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{shlex.join(cmd)}\n{proc.stderr}"
    return out


def compile_test_host(source: Path, out: Path) -> Path:
    """Compile a test host (a program loading plugins) with $FALCO_PLUGIN_CFLAGS (the
    sanitizers, in the sanitizer job, like the plugins it loads)."""
    flags = shlex.split(os.environ.get("FALCO_PLUGIN_CFLAGS", ""))
    cmd = [*CC, "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror",
           *flags, f"-I{NATIVE}", str(source), "-o", str(out), "-ldl", "-lpthread"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{shlex.join(cmd)}\n{proc.stderr}"
    return out


def builder(
    tmp_path_factory: pytest.TempPathFactory, name: str, source: str, *, werror: bool = True
) -> Callable[..., Path]:
    """Build variants of one C source: build(NAME=VALUE, FLAG=True, ...) -> its .so (cached)."""
    base = tmp_path_factory.mktemp(name)
    src = base / f"{name}.c"
    src.write_text(source)
    built: dict[str, Path] = {}

    def build(**defines: object) -> Path:
        flags = sorted(
            f"-D{k}" if v is True else f"-D{k}={json.dumps(v) if isinstance(v, str) else v}"
            for k, v in defines.items()
        )
        key = " ".join(flags)
        if key not in built:
            out = base / f"lib{name}{len(built)}.so"
            built[key] = compile_plugin(src, out, *flags, werror=werror)
        return built[key]

    return build
