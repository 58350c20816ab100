"""Builds the SDK cannot run are refused, and what a library was built for is checked at
init (issue 10, item 7)."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from falco_plugin import build as build_mod
from falco_plugin.build import BuildError, build, build_cached
from falco_plugin.testing import run_capture

PLUGINS = Path(__file__).resolve().parent / "plugins"
PLUGIN = str(PLUGINS / "ticks.py")


@pytest.mark.parametrize(
    ("var", "says"),
    [("Py_GIL_DISABLED", "free-threaded build"), ("Py_DEBUG", "debug build")],
)
def test_interpreters_the_shim_cannot_run_in_are_refused(
    monkeypatch, tmp_path: Path, var: str, says: str
) -> None:
    real = sysconfig.get_config_var
    monkeypatch.setattr(sysconfig, "get_config_var", lambda name: 1 if name == var else real(name))
    with pytest.raises(BuildError, match=says):
        build(PLUGIN, tmp_path / "libticks.so")
    assert not list(tmp_path.iterdir())  # nothing half-built left behind


def test_a_library_for_another_interpreter_abi_fails_init_clearly(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(build_mod, "interpreter_abi", lambda: "cpython-311d-x86_64-linux-gnu")
    lib = build(PLUGIN, tmp_path / "libticks.so")
    cap = run_capture(lib)
    assert cap.returncode != 0
    assert "built for the Python ABI cpython-311d-x86_64-linux-gnu" in cap.error_message
    assert "rebuild the plugin" in cap.error_message


def test_the_shim_is_built_without_assertions(falco_build) -> None:
    """An assert() compiled in (Python's inline headers have many) would abort Falco."""
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    lib = falco_build(str(PLUGINS / "alltypes.py"))
    symbols = subprocess.run([nm, "-D", str(lib)], capture_output=True, text=True, check=True)
    assert "__assert_fail" not in symbols.stdout


def test_the_build_cache_key_covers_every_native_file_and_the_abi(monkeypatch, tmp_path) -> None:
    native = tmp_path / "_native"
    shutil.copytree(build_mod.NATIVE_DIR, native)
    monkeypatch.setattr(build_mod, "NATIVE_DIR", native)
    monkeypatch.setenv("FALCO_PLUGIN_CACHE", str(tmp_path / "cache"))
    first = build_cached(PLUGIN)
    assert build_cached(PLUGIN) == first
    (native / "shim_new.h").write_text("/* a file added to the shim */\n")
    for name in ("shim_new.h", "shim_listen.c", "shim_async.c", "fp_abi.h"):
        with (native / name).open("a") as f:
            f.write("\n/* changed */\n")
        changed = build_cached(PLUGIN)
        assert changed != first, f"{name} is not in the cache key"
        first = changed
    monkeypatch.setattr(build_mod, "interpreter_abi", lambda: "cpython-311-other")
    assert build_cached(PLUGIN) != first


@pytest.mark.parametrize(
    ("plugin", "exported"),
    [("ticks.py", False), ("faulty.py", True), ("../../examples/countdown/plugin.py", True)],
)
def test_get_progress_is_exported_only_when_instances_define_it(
    falco_build, plugin: str, exported: bool
) -> None:
    """Issue 10, item 9: libsinsp asks a source for progress only when it exports it."""
    import ctypes
    import os

    lib = ctypes.CDLL(str(falco_build(str(PLUGINS / plugin))), mode=os.RTLD_LOCAL)
    assert hasattr(lib, "plugin_get_progress") is exported
    cap = run_capture(falco_build(str(PLUGINS / plugin)))  # the SDK host asks only then
    assert bool(cap.progress) is exported, cap.progress
