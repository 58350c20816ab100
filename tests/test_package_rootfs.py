"""Packaged plugins in the real Falco on a Debian system with no Python at all (the realhost
bundle's root filesystem): extracted to a path the build machine never had, they give the
same events, field values and rule alerts as their development builds in the development
host's Falco."""

from __future__ import annotations

from pathlib import Path

import pytest

from falco_plugin import rootfs
from falco_plugin.package import package
from falco_plugin.realhost import FalcoPlugin, run_falco

from .packaging import YAMLFEED

FEED_RULES = (YAMLFEED / "rules.yaml").read_text()
PRIVILEGED = "Privileged workload in the YAML feed"
EVERY_EVENT = """
- rule: Every document
  desc: every event with its fields
  condition: yamlfeed.kind exists
  output: "doc %yamlfeed.kind %yamlfeed.name parser=%yamlfeed.parser"
  priority: INFO
  source: yamlfeed
"""


@pytest.fixture(scope="module")
def fs() -> rootfs.RootFs:
    return rootfs.require()


def alerts(run: object) -> list[tuple[str, str]]:
    return [(a["rule"], a["output"].split(" ", 2)[2]) for a in run.alerts]  # type: ignore[attr-defined]


def test_yamlfeed_runs_where_there_is_no_python(
    fs: rootfs.RootFs, tmp_path: Path, falco_realhost: Path, falco_build
) -> None:
    assert not list(fs.root.glob("usr/bin/python*"))
    assert not list(fs.root.glob("usr/lib/*/libpython*"))
    pkg = package(str(YAMLFEED / "plugin.py"), tmp_path / "yamlfeed.tar.gz")
    with rootfs.install(fs, pkg.tarball) as inside:
        (fs.host_path(inside) / "feed.yaml").write_text((YAMLFEED / "feed.yaml").read_text())
        plugin = FalcoPlugin(f"{inside}/libyamlfeed.so", {}, f"{inside}/feed.yaml", "yamlfeed")
        run = rootfs.run_falco(fs, [plugin], [FEED_RULES, EVERY_EVENT])
    assert run.ok, run.error or run.stderr[-2000:]
    assert run.logged(f"Loaded plugin 'yamlfeed@0.1.0' from file {inside}/libyamlfeed.so")
    got = alerts(run)
    assert got == [  # the first rule that matches an event alerts (rule_matching: first)
        ("Every document", "doc Pod web parser=libyaml"),
        (PRIVILEGED, "privileged pod debug-shell image=busybox:1.36 parser=libyaml"),
        ("Every document", "doc Service web parser=libyaml"),
        (PRIVILEGED, "privileged pod node-agent image=agent:2.1 parser=libyaml"),
    ]
    # the development build in the development host's Falco says the same
    dev = FalcoPlugin(falco_build(str(YAMLFEED / "plugin.py")), {}, str(YAMLFEED / "feed.yaml"))
    reference = run_falco([dev], [FEED_RULES, EVERY_EVENT])
    assert reference.ok, reference.error
    assert alerts(reference) == got


def test_a_development_build_moved_there_says_to_package_it(fs: rootfs.RootFs, falco_build) -> None:
    """A development .so (its libpython linked in, when the interpreter's static one links)
    loads where its Python is absent, and its init fails with a message to package it."""
    import os

    from falco_plugin import libpython

    if not libpython.static_links(os.environ.get("CC") or "cc"):
        pytest.skip(
            "this interpreter's libpython links only as a shared library: a moved "
            "development build fails to load (dlopen), before any init"
        )
    dev = falco_build(str(YAMLFEED / "plugin.py"))
    with rootfs.install_files(fs, [dev]) as inside:
        plugin = FalcoPlugin(f"{inside}/{dev.name}", {}, "/none.yaml", "yamlfeed")
        run = rootfs.run_falco(fs, [plugin], [FEED_RULES])
    assert run.returncode == 1, run.stderr[-2000:]  # Falco's error exit, not a crash
    assert "plugin yamlfeed is a development build" in run.error
    assert "package it (falco-plugin package)" in run.error


def test_a_new_project_packages_with_no_argument(fs: rootfs.RootFs, tmp_path: Path) -> None:
    """`falco-plugin new`, then `falco-plugin package` inside the project: the plugin and its
    rules tarball, installed as falcoctl would (both extracted where they go), alert in the
    Falco without Python."""
    import json
    import subprocess
    import sys

    from falco_plugin.cli import main

    assert main(["new", "ticker", "--dir", str(tmp_path)]) == 0
    project = tmp_path / "ticker"
    cmd = [sys.executable, "-m", "falco_plugin.cli", "package", "--metadata", "meta.json"]
    made = subprocess.run(cmd, cwd=project, capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    tarball, rules_tarball = (Path(line) for line in made.stdout.split())
    meta = json.loads((project / "meta.json").read_text())
    assert meta["rulesfile"]["config"]["dependencies"][0]["name"] == "ticker"
    with rootfs.install(fs, tarball) as plugins, rootfs.install(fs, rules_tarball) as rules:
        (rules_file,) = fs.host_path(rules).iterdir()
        run = rootfs.run_falco(
            fs, [FalcoPlugin(f"{plugins}/libticker.so", name="ticker")], [rules_file.read_text()]
        )
    assert run.ok, run.error or run.stderr[-2000:]
    assert run.alerts and {a["rule"] for a in run.alerts} == {"ticker event"}
