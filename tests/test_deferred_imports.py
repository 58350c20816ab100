"""Standard modules a plugin's interpreter runs at first use (``_space.defer_imports``):
``inspect``, which ``dataclasses`` imports and, before Python 3.12, needs only for a
dataclass without a docstring. The module is run once whatever the threads, and what its
users see afterwards is what an ordinary import gives."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from falco_plugin import _space
from falco_plugin.testing import run_capture

PLUGINS = Path(__file__).resolve().parent / "plugins"

# a module that takes its time to run and counts its runs (in the builtins, which outlive it)
SLOW = """
import builtins, sys, time
runs = builtins.__dict__.setdefault("deferred_runs", {})
runs[__name__] = runs.get(__name__, 0) + 1
FIRST = 1
time.sleep(0.05)  # other threads touch the module meanwhile
SELF = sys.modules[__name__].FIRST  # the module touches itself while it runs
LAST = "done"
"""


@pytest.fixture
def deferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Import a fresh module (given its source) through a deferring hook."""
    made: list[str] = []

    def make(source: str) -> types.ModuleType:
        name = f"deferred_probe_{len(made)}_{tmp_path.name}".replace("-", "_")
        (tmp_path / f"{name}.py").write_text(source)
        made.append(name)
        _space.defer_imports([name])
        return __import__(name)

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for name in made:
        sys.modules.pop(name, None)
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _space._DeferringHook)]


def runs(name: str) -> int:
    return vars(__import__("builtins")).get("deferred_runs", {}).get(name, 0)


def test_the_module_runs_at_first_use_once_whatever_the_threads(deferred) -> None:
    module = deferred(SLOW)
    name = types.ModuleType.__getattribute__(module, "__name__")
    assert runs(name) == 0 and type(module) is not types.ModuleType
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def touch() -> None:
        barrier.wait()
        seen.append(module.LAST)  # every thread gets the finished module

    workers = [threading.Thread(target=touch) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert seen == ["done"] * 8 and runs(name) == 1
    assert type(module) is types.ModuleType and module.SELF == 1
    assert sys.modules[name] is module and __import__(name) is module
    assert type(module.__loader__).__name__ == "SourceFileLoader"
    assert module.__spec__.loader is module.__loader__


@pytest.mark.parametrize(
    "first_use",
    [
        lambda m: m.FIRST,
        lambda m: setattr(m, "EXTRA", 1),
        lambda m: vars(m),
        lambda m: __import__(types.ModuleType.__getattribute__(m, "__name__")),
    ],
    ids=["read", "write", "vars", "import"],
)
def test_every_first_use_runs_it(deferred, first_use) -> None:
    module = deferred(SLOW)
    first_use(module)
    assert type(module) is types.ModuleType and module.LAST == "done"
    assert runs(module.__name__) == 1


def test_a_failed_run_propagates_and_frees_the_name(deferred) -> None:
    module = deferred("raise LookupError('broken on purpose')\n")
    name = types.ModuleType.__getattribute__(module, "__name__")
    with pytest.raises(LookupError, match="broken on purpose"):
        module.anything  # noqa: B018
    assert name not in sys.modules  # as after a failed import: the next import runs it again
    with pytest.raises(LookupError, match="broken on purpose"):
        __import__(name)


def test_a_package_activated_later_checks_a_deferred_module_without_running_it(
    deferred,
) -> None:
    """A second packaged library activated in the process looks at every loaded module's
    file: a deferred one is read from its namespace, and stays deferred."""
    from falco_plugin._packaged import _file_of

    module = deferred(SLOW)
    where = _file_of(module)
    assert where is not None and where.endswith(".py")
    assert type(module) is not types.ModuleType
    assert runs(types.ModuleType.__getattribute__(module, "__name__")) == 0


def test_only_modules_not_imported_yet_are_deferred() -> None:
    before = list(sys.meta_path)
    _space.defer_imports(["json"])  # already imported here
    assert sys.meta_path == before


def eager_names() -> list[str]:
    code = "import inspect, json; print(json.dumps(sorted(vars(inspect))))"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         check=True)  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def imported_with_inspect() -> list[str]:
    """The modules a plugin's init avoids that ``import dataclasses`` brings with ``inspect``
    in a bare interpreter of this Python (3.12 on: ast and contextlib)."""
    name = "deferred_inspect_names"
    spec = importlib.util.spec_from_file_location(name, PLUGINS / "deferred_inspect.py")
    assert spec and spec.loader
    plugin = sys.modules[name] = importlib.util.module_from_spec(spec)  # for its dataclass
    try:
        spec.loader.exec_module(plugin)
    finally:
        del sys.modules[name]
    code = (
        "import dataclasses, json, sys; "
        f"print(json.dumps([n for n in {plugin.NOT_AT_INIT!r} if n in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


PROBE = """
import sys, types
sys.path.insert(0, {src!r})
from falco_plugin import _space
_space.defer_imports()
import dataclasses

@dataclasses.dataclass
class Documented:
    "a docstring: dataclasses leaves it"
    x: int = 1

deferred = type(sys.modules["inspect"]) is not types.ModuleType and "ast" not in sys.modules

@dataclasses.dataclass
class Undocumented:
    x: int
    y: str = "a"

import inspect, json
print(json.dumps([deferred, Undocumented.__doc__, inspect is dataclasses.inspect,
                  type(inspect) is types.ModuleType, sorted(vars(inspect))]))
"""


@pytest.mark.skipif(not _space.DEFERRED, reason="Python 3.12+ runs inspect for every dataclass")
def test_dataclasses_with_a_deferred_inspect() -> None:
    src = str(Path(_space.__file__).resolve().parents[1])
    code = PROBE.format(src=src)
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         check=True)  # fmt: skip
    deferred, doc, same, plain, names = json.loads(out.stdout)
    assert deferred, "a documented dataclass ran inspect"
    assert doc == "Undocumented(x: int, y: str = 'a')"
    assert same and plain and names == eager_names()


# ------------------------------------------------------------------ through the real ABI


@pytest.fixture(scope="module")
def inspecting(falco_build) -> Path:
    return falco_build(str(PLUGINS / "deferred_inspect.py"))


@pytest.mark.parametrize("how", ["threads", "undocumented", "import"])
def test_a_plugin_gets_the_real_inspect(inspecting: Path, any_host: str, how: str) -> None:
    cap = run_capture(inspecting, config=json.dumps({"how": how, "threads": 6}), host=any_host)
    assert cap.ok, cap.error_message
    (text,) = cap.texts
    seen = json.loads(text)
    assert seen["deferred_at_open"] is bool(_space.DEFERRED)
    assert seen["at_open"] == ([] if _space.DEFERRED else imported_with_inspect())
    if how == "threads":
        signature = "(a: 'int', b: 'str' = 'x', *rest: 'int', key: 'bool' = False) -> 'None'"
        assert seen["answers"] == [signature] * 6
    elif how == "undocumented":
        assert seen["doc"] == "Point(x: 'int', y: 'int' = 0)"
    else:
        assert seen["same_object"] and seen["signature"].startswith("(a: 'int'")
    assert seen["plain_module"] and seen["loader"] == seen["spec_loader"] == "SourceFileLoader"
    assert seen["names"] == eager_names()


@pytest.mark.skipif(not _space.DEFERRED, reason="Python 3.12+ runs inspect for every dataclass")
def test_a_packaged_plugin_gets_the_checked_inspect(tmp_path: Path) -> None:
    """In a package, the deferred inspect is read through the package's checker at its first
    use: the same module as without the deferral, and a changed inspect.pyc is refused then,
    before any of its code runs."""
    from falco_plugin.package import package

    from .packaging import extract

    made = package(str(PLUGINS / "deferred_inspect.py"), tmp_path / "di.tar.gz")
    tree = extract(made.tarball, tmp_path / "x")
    library = tree / "libdeferred_inspect.so"
    cap = run_capture(library, config=json.dumps({"how": "threads", "threads": 4}))
    assert cap.ok, cap.error_message
    seen = json.loads(cap.texts[0])
    assert seen["deferred_at_open"] and seen["plain_module"] and len(seen["answers"]) == 4
    assert seen["at_open"] == []
    assert seen["loader"] == seen["spec_loader"] and "Deferring" not in seen["loader"]
    assert "signature" in seen["names"]

    target = tree / "libdeferred_inspect.python/stdlib/inspect.pyc"
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    cap = run_capture(library, config=json.dumps({"how": "import"}))
    assert not cap.ok and cap.errors[0]["stage"] == "open", cap.stdout
    assert "stdlib/inspect.pyc" in cap.error_message
    assert "differs from the file packaged" in cap.error_message
