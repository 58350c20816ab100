"""Import spaces in-process: how names are classified and what closing a space does."""

from __future__ import annotations

import importlib.machinery
import logging
import sys
from pathlib import Path

import pytest

from falco_plugin._space import (
    HOST,
    MISSING,
    PRIVATE,
    SDK,
    SHARED,
    ImportSpace,
    Root,
    SpaceError,
    format_roots,
    parse_roots,
)


@pytest.fixture
def space_of(tmp_path: Path):
    made: list[ImportSpace] = []

    def make(*roots: tuple[str, Path]) -> ImportSpace:
        space = ImportSpace("t", [Root(mode, str(path)) for mode, path in roots])
        made.append(space)
        return space

    yield make
    for space in made:
        space.close()


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_roots_round_trip_and_origin() -> None:
    roots = [Root(PRIVATE, "$ORIGIN/code"), Root(SHARED, "/opt/site")]
    assert parse_roots(format_roots(roots), "/lib/here") == [
        Root(PRIVATE, "/lib/here/code"),
        Root(SHARED, "/opt/site"),
    ]
    with pytest.raises(SpaceError, match="unknown library folder"):
        parse_roots(format_roots(roots), "")
    with pytest.raises(SpaceError, match="bad import root"):
        parse_roots("nomode=/x")


def test_kinds_of_names(tmp_path: Path, space_of) -> None:
    own, site = tmp_path / "own", tmp_path / "site"
    write(own / "helpers.py", "X = 1")
    write(own / "json.py", "raise AssertionError('the standard library wins')")
    write(own / "fast" / "__init__.py")
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    write(own / "fast" / f"_speed{suffix}")  # a compiled module: cannot be renamed
    write(site / "dep" / "__init__.py")
    space = space_of((PRIVATE, own), (SHARED, site))
    assert space.kind_of("helpers") == PRIVATE
    assert space.kind_of("json") == HOST
    assert space.kind_of("fast") == SHARED
    assert space.kind_of("dep") == SHARED
    assert space.kind_of("no_such_module_anywhere") == MISSING
    helpers = space.import_module("helpers")
    assert helpers.__name__ == f"{space.prefix}.helpers" and helpers.X == 1
    assert space.import_module("json") is sys.modules["json"]


def test_imports_inside_the_space(tmp_path: Path, space_of) -> None:
    own = tmp_path / "own"
    write(own / "pkg" / "__init__.py", "from . import sub\nfrom pkg.sub import VALUE\n")
    write(own / "pkg" / "sub.py", "VALUE = 'sub'\n")
    write(
        own / "user.py",
        "import importlib\nimport pkg.sub\nimport pkg as alias\n"
        "DYNAMIC = importlib.import_module(f'{__package__}.pkg.sub').VALUE\n",
    )
    space = space_of((PRIVATE, own))
    user = space.import_module("user")
    assert user.pkg.__name__ == f"{space.prefix}.pkg"
    assert user.alias is user.pkg and user.pkg.VALUE == "sub" and user.DYNAMIC == "sub"
    with pytest.raises(ModuleNotFoundError, match="import roots of plugin t"):
        space.import_module("not_there")


def test_close_forgets_modules_and_loggers(tmp_path: Path, space_of) -> None:
    own = tmp_path / "own"
    write(own / "mod.py", "import logging\nLOG = logging.getLogger(__name__)\n")
    space = space_of((PRIVATE, own))
    mod = space.import_module("mod")
    mod.LOG.addHandler(logging.NullHandler())
    assert mod.LOG.name in logging.Logger.manager.loggerDict
    space.close()
    assert not [n for n in sys.modules if space.owns(n)]
    assert mod.LOG.name not in logging.Logger.manager.loggerDict and not mod.LOG.handlers
    assert space not in sys.meta_path
    again = space_of((PRIVATE, own)).import_module("mod")
    assert again is not mod


def test_metadata_from_the_space_roots(tmp_path: Path, space_of) -> None:
    own, site = tmp_path / "own", tmp_path / "site"
    info = site / "fpmeta_dist-3.1.dist-info"
    write(info / "METADATA", "Metadata-Version: 2.1\nName: fpmeta-dist\nVersion: 3.1\n")
    write(
        own / "asks.py",
        "import importlib.metadata\nVERSION = importlib.metadata.version('fpmeta-dist')\n",
    )
    space = space_of((PRIVATE, own), (SHARED, site))
    assert space.import_module("asks").VERSION == "3.1"
    import importlib.metadata

    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("fpmeta-dist")  # outside the space: not found


def test_own_code_is_always_fresh_and_never_cached(tmp_path: Path, space_of) -> None:
    own = tmp_path / "own"
    write(own / "edited.py", "WHO = 'before'")
    assert space_of((PRIVATE, own)).import_module("edited").WHO == "before"
    write(own / "edited.py", "WHO = 'after!'")  # same size, most likely the same second
    assert space_of((PRIVATE, own)).import_module("edited").WHO == "after!"
    assert not (own / "__pycache__").exists()


def test_a_checked_hash_pyc_of_own_code_is_used(tmp_path: Path, space_of) -> None:
    import importlib.util
    import marshal

    own = tmp_path / "own"
    source = write(own / "shipped.py", "WHO = 'from source'\n")
    code = compile("WHO = 'from the pyc'\n", str(source), "exec")
    pyc = Path(importlib.util.cache_from_source(str(source)))
    pyc.parent.mkdir()
    header = importlib.util.MAGIC_NUMBER + (0b11).to_bytes(4, "little")
    pyc.write_bytes(header + importlib.util.source_hash(source.read_bytes()) + marshal.dumps(code))
    assert space_of((PRIVATE, own)).import_module("shipped").WHO == "from the pyc"
    source.write_text("WHO = 'edited source'\n")  # the pyc no longer matches: ignored
    assert space_of((PRIVATE, own)).import_module("shipped").WHO == "edited source"


def test_when_imported_runs_after_the_statement_or_the_sdk_module_that_brings_it(
    tmp_path: Path, space_of, request: pytest.FixtureRequest
) -> None:
    """The runtime starts logging when ``logging`` is imported, and that start imports the
    SDK's logs module. In the plugin's code the callback runs right after the statement that
    brings the module (its next line may log); in an SDK module still being imported (the
    logs module importing logging) it waits until that module is whole."""
    own, site, sdk = tmp_path / "own", tmp_path / "site", tmp_path / "sdk"
    watched = "fp_when_imported_probe"  # a shared module, as logging is a host one
    request.addfinalizer(lambda: sys.modules.pop(watched, None))
    write(site / f"{watched}.py", "STARTED = False\n")
    write(sdk / "falco_plugin" / "__init__.py")
    write(sdk / "falco_plugin" / "logs.py", f"import {watched}\nREADY = 'whole'\n")
    write(own / "helper.py", f"import {watched}\nSEEN = {watched}.STARTED\n")
    write(own / "user.py", "from falco_plugin import logs\n")
    seen: list[object] = []

    def logs_state(space: ImportSpace) -> object:
        logs = sys.modules.get(f"{space.prefix}.falco_plugin.logs")
        return getattr(logs, "READY", "half made")

    space = space_of((PRIVATE, own), (SHARED, site), (SDK, sdk))
    space.when_imported(watched, lambda: seen.append(logs_state(space)))
    space.import_module("user")  # an SDK module brings it: runs once that module is whole
    assert seen == ["whole"]

    del sys.modules[watched]
    other = space_of((PRIVATE, own), (SHARED, site), (SDK, sdk))
    other.when_imported(watched, lambda: setattr(sys.modules[watched], "STARTED", True))
    assert other.import_module("helper").SEEN is True  # the plugin's code: right after it
    other.when_imported(watched, lambda: seen.append("at once"))
    assert seen == ["whole", "at once"]
