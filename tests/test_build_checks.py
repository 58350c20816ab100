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


def checked_pyc_matches(source: Path) -> bool:
    """Whether a hash-checked ``.pyc`` of ``source`` (what the library's init loads instead
    of compiling the file) sits beside it and matches its current text."""
    import importlib.util

    pyc = Path(importlib.util.cache_from_source(str(source)))
    if not pyc.is_file():
        return False
    header = pyc.read_bytes()[:16]
    return (
        header[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(header[4:8], "little") == 0b11
        and header[8:16] == importlib.util.source_hash(source.read_bytes())
    )


def test_a_build_writes_the_plugins_bytecode_only_when_it_succeeds(monkeypatch, tmp_path) -> None:
    source = tmp_path / "src" / "ticks.py"
    source.parent.mkdir()
    shutil.copy(PLUGIN, source)
    monkeypatch.setenv("CC", "false")  # a compiler that fails
    with pytest.raises(BuildError, match="compiling the shim failed"):
        build(str(source), tmp_path / "libticks.so")
    assert sorted(p.name for p in source.parent.iterdir()) == ["ticks.py"]  # nothing beside it
    monkeypatch.delenv("CC")
    lib = build(str(source), tmp_path / "libticks.so")
    assert checked_pyc_matches(source)
    assert run_capture(lib, max_events=3).returncode == 0


def test_a_reused_cached_library_gets_the_edited_files_bytecode(monkeypatch, tmp_path) -> None:
    """The cache key holds only the static facts: an edit of a method's body reuses the
    library, and the bytecode beside the file must follow the edit (or init compiles it)."""
    monkeypatch.setenv("FALCO_PLUGIN_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "src" / "ticks.py"
    source.parent.mkdir()
    shutil.copy(PLUGIN, source)
    monkeypatch.setenv("CC", "false")
    with pytest.raises(BuildError):
        build_cached(str(source))
    assert not checked_pyc_matches(source)
    monkeypatch.delenv("CC")
    first = build_cached(str(source))
    assert checked_pyc_matches(source)
    with source.open("a") as f:
        f.write("\nEDITED = True  # not a static fact\n")
    assert not checked_pyc_matches(source)
    assert build_cached(str(source)) == first  # reused
    assert checked_pyc_matches(source)
    assert run_capture(first, max_events=3).returncode == 0
