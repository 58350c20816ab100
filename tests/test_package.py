"""falco-plugin package on this machine: the tarball's layout and contents, the packaged
library in the SDK's host (which runs no Python of its own: the library starts its own
interpreter from its package), and the checks at init (changed, missing and extra files,
modules the package lacks, the glibc it needs)."""

from __future__ import annotations

import _imp
import tarfile
from pathlib import Path

import pytest

from falco_plugin.package import Package, analysis, falcoctl, package
from falco_plugin.testing import run_capture

from .packaging import FEED_FIELDS, ROOT, YAMLFEED, extract

PLUGINS = ROOT / "tests" / "plugins"


@pytest.fixture(scope="session")
def yamlfeed_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    out = tmp_path_factory.mktemp("pkg") / "feed.tar.gz"
    return package(str(YAMLFEED / "plugin.py"), out, rules=[YAMLFEED / "rules.yaml"])


@pytest.fixture
def yamlfeed_tree(yamlfeed_package: Package, tmp_path: Path) -> Path:
    """The package extracted to a new folder (not where it was built)."""
    return extract(yamlfeed_package.tarball, tmp_path / "elsewhere")


def feed_capture(library: Path) -> list[dict[str, object]]:
    cap = run_capture(library, open_params=str(YAMLFEED / "feed.yaml"), fields=FEED_FIELDS)
    assert cap.ok, cap.error_message
    return [{"info": e.get("info"), **e["fields"]} for e in cap.events]


def test_layout(yamlfeed_package: Package) -> None:
    with tarfile.open(yamlfeed_package.tarball) as tar:
        members = tar.getmembers()
    names = {m.name for m in members}
    top = {n.split("/")[0] for n in names}
    assert top == {"libyamlfeed.so", "libyamlfeed.python"}  # the library at the top
    assert all(m.isfile() or m.isdir() for m in members)  # falcoctl refuses links
    assert all(m.uid == 0 and m.mtime == 0 for m in members)
    tree = {n.split("/", 1)[1] for n in names if "/" in n}
    assert "plugin/plugin.pyc" in tree
    assert "sdk/falco_plugin/_runtime.pyc" in tree and "sdk/falco_plugin/build.pyc" not in tree
    assert "site/yaml/__init__.pyc" in tree  # PyYAML has an extension module: shared root
    assert any(n.startswith("site/yaml/_yaml.cpython-") for n in tree)
    assert any(
        n.lower().startswith("site/pyyaml-") and n.endswith(".dist-info/METADATA") for n in tree
    )
    assert "stdlib/json/decoder.pyc" in tree and "stdlib/encodings/utf_8.pyc" in tree
    assert any(n.startswith("stdlib/lib-dynload/_json.cpython-") for n in tree)
    assert not any(n.endswith(".py") for n in tree)  # compiled code only
    # os is frozen into the interpreter from 3.11 on: then its file is not shipped (3.10 needs it)
    idle = ["doctest", "unittest/", "pydoc", "tkinter", "lib2to3"]
    idle += ["os.pyc"] if _imp.is_frozen("os") else []
    for name in idle:
        assert not any(n.startswith(f"stdlib/{name}") for n in tree), name
    assert ("stdlib/os.pyc" in tree) is not _imp.is_frozen("os")
    assert yamlfeed_package.libpython in ("static", "shared")


def test_analysis_leaves_out_main_blocks() -> None:
    """heapq's self-test imports doctest under `if __name__ == "__main__"`: not followed."""
    found = analysis.analyse(analysis.loader.PluginRef.parse(str(PLUGINS / "picky.py")))
    assert "heapq" in found.stdlib and "doctest" not in found.stdlib
    assert "json" in found.stdlib and not found.distributions
    assert set(found.sdk) >= {"falco_plugin._runtime", "falco_plugin.source"}


def test_runs_in_the_sdk_host_as_built(yamlfeed_tree: Path, falco_build) -> None:
    """Events and fields of the packaged library equal the development build's."""
    packaged = feed_capture(yamlfeed_tree / "libyamlfeed.so")
    assert packaged == feed_capture(falco_build(str(YAMLFEED / "plugin.py")))
    assert [e["yamlfeed.name"] for e in packaged] == ["web", "debug-shell", "web", "node-agent"]
    assert {e["yamlfeed.parser"] for e in packaged} == {"libyaml"}  # the C extension


def init_error(library: Path, config: str | None = None) -> str:
    cap = run_capture(library, config=config, open_params=str(YAMLFEED / "feed.yaml"))
    assert not cap.ok and cap.errors[0]["stage"] == "init", cap.stdout
    return cap.error_message


def test_a_changed_file_fails_init(yamlfeed_tree: Path) -> None:
    target = yamlfeed_tree / "libyamlfeed.python/site/yaml/composer.pyc"
    data = bytearray(target.read_bytes())
    data[-1] ^= 1  # same size, other bytes
    target.write_bytes(bytes(data))
    message = init_error(yamlfeed_tree / "libyamlfeed.so")
    assert "site/yaml/composer.pyc" in message and "differs from the file packaged" in message


def test_a_changed_extension_module_fails_init(yamlfeed_tree: Path) -> None:
    (target,) = (yamlfeed_tree / "libyamlfeed.python/stdlib/lib-dynload").glob("_json.*")
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    message = init_error(yamlfeed_tree / "libyamlfeed.so")
    assert "_json" in message and "differs from the file packaged" in message


def test_a_missing_file_fails_init(yamlfeed_tree: Path) -> None:
    (yamlfeed_tree / "libyamlfeed.python/stdlib/json/encoder.pyc").unlink()
    message = init_error(yamlfeed_tree / "libyamlfeed.so")
    assert "stdlib/json/encoder.pyc (missing)" in message and "extract the whole" in message


def test_an_added_module_is_never_run(yamlfeed_tree: Path) -> None:
    """A module dropped into the package after packaging (or left there by an older version
    the package was extracted over), shadowing a real one, is not seen."""
    vendor = yamlfeed_tree / "libyamlfeed.python/vendor"
    vendor.mkdir()
    (vendor / "yaml.py").write_text("raise SystemExit('the added yaml ran')\n")
    (yamlfeed_tree / "libyamlfeed.python/stdlib/json/__init__.py").write_text("x = (\n")
    assert feed_capture(yamlfeed_tree / "libyamlfeed.so")[0]["yamlfeed.parser"] == "libyaml"


def test_a_module_the_package_lacks_is_named(tmp_path: Path) -> None:
    pkg = package(str(PLUGINS / "dynimport.py"), tmp_path / "dyn.tar.gz")
    tree = extract(pkg.tarball, tmp_path / "x")
    library = tree / "libdynimport.so"
    assert run_capture(library, config="json", open_params="").ok  # shipped: found statically
    message = init_error(library, config="wave")
    assert "No module named 'wave'" in message
    assert "falco-plugin package --include wave" in message


def test_needs_are_checked_at_init(tmp_path: Path) -> None:
    """The glibc the package needs is recorded and checked before Python starts."""
    pkg = package(str(PLUGINS / "picky.py"), tmp_path / "picky.tar.gz", min_glibc="99.1")
    assert pkg.min_glibc == "99.1"
    tree = extract(pkg.tarball, tmp_path / "x")
    cap = run_capture(tree / "libpicky.so", config="testing", open_params="")
    assert "plugin picky needs glibc 99.1 or newer" in cap.error_message


def test_falcoctl_artifacts(yamlfeed_package: Package) -> None:
    """The rules tarball and the config layers falcoctl pushes (its media types, the
    plugin_api_version requirement, the rules' dependency on the plugin)."""
    assert yamlfeed_package.rules_tarball is not None
    with tarfile.open(yamlfeed_package.rules_tarball) as tar:
        assert [(m.name, m.isfile()) for m in tar.getmembers()] == [("rules.yaml", True)]
        member = tar.extractfile("rules.yaml")
        assert member is not None and member.read() == (YAMLFEED / "rules.yaml").read_bytes()
    plugin = yamlfeed_package.artifacts["plugin"]
    api = yamlfeed_package.meta.required_api_version
    assert plugin["config"] == {  # type: ignore[index]
        "name": "yamlfeed",
        "version": "0.1.0",
        "requirements": [{"name": "plugin_api_version", "version": api}],
    }
    assert plugin["layer_media_type"] == "application/vnd.cncf.falco.plugin.layer.v1+tar.gz"  # type: ignore[index]
    assert plugin["push"].endswith(  # type: ignore[index]
        f"--requires plugin_api_version:{api} --platform {falcoctl.oci_platform()} "
        "REGISTRY/yamlfeed:0.1.0 feed.tar.gz"
    )
    rules = yamlfeed_package.artifacts["rulesfile"]
    assert rules["config"] == {  # type: ignore[index]
        "name": "yamlfeed-rules",
        "version": "0.1.0",
        "dependencies": [{"name": "yamlfeed", "version": "0.1.0"}],
    }
    assert "--depends-on yamlfeed:0.1.0" in rules["push"]  # type: ignore[index]


def test_the_cli_packages_and_writes_the_metadata(tmp_path: Path) -> None:
    from falco_plugin.cli import main

    out, meta = tmp_path / "picky.tar.gz", tmp_path / "artifacts.json"
    assert (
        main(["package", str(PLUGINS / "picky.py"), "-o", str(out), "--metadata", str(meta)]) == 0
    )
    import json

    assert json.loads(meta.read_text())["plugin"]["config"]["name"] == "picky"
    with tarfile.open(out) as tar:
        assert "libpicky.so" in tar.getnames()


def test_the_interpreter_sees_only_its_package(tmp_path: Path) -> None:
    """sys.path holds the package's folders only: nothing of the build machine's Python."""
    import json

    pkg = package(str(PLUGINS / "envprobe.py"), tmp_path / "probe.tar.gz", libpython="shared")
    assert pkg.libpython == "shared"  # the other way of shipping Python, tested here
    tree = extract(pkg.tarball, tmp_path / "x").resolve()
    cap = run_capture(tree / "libenvprobe.so", config="", open_params="")
    assert cap.ok, cap.error_message
    report = json.loads(bytes.fromhex(cap.events[0]["payload_hex"]))
    folder = str(tree / "libenvprobe.python")
    assert report["sys_path"] == [f"{folder}/stdlib", f"{folder}/stdlib/lib-dynload"]
    assert report["isolated"] == 1
