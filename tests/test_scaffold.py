"""falco-plugin new: projects that pass their own tests, build with no argument, and alert in
the real Falco; the [tool.falco-plugin] table and its errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from falco_plugin.cli import main
from falco_plugin.project import ProjectError, find_project, read_project
from falco_plugin.realhost import FalcoPlugin, prefix, run_falco
from falco_plugin.scaffold import ScaffoldError, create_project, project_files

SUPPORTED = [
    ("source", "extract"),
    ("source",),
    ("source", "parse"),
    ("source", "listen"),
    ("source", "extract", "parse", "listen"),
    ("async",),
    ("async", "listen"),
]
# the combinations whose generated tests are run here (each builds its own plugin)
RUN = [SUPPORTED[0], SUPPORTED[4], SUPPORTED[5], SUPPORTED[6]]


def run_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("caps", RUN, ids=",".join)
def test_a_new_project_passes_its_tests_builds_and_alerts_in_falco(
    tmp_path: Path, caps: tuple[str, ...]
) -> None:
    assert main(["new", "ticker", "--capabilities", ",".join(caps), "--dir", str(tmp_path)]) == 0
    project = tmp_path / "ticker"
    tests = run_in(project, sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    summary = re.findall(r"(\d+) (passed|skipped|failed)", tests.stdout)
    counts = {kind: int(n) for n, kind in summary}
    assert "failed" not in counts, tests.stdout
    if prefix() is not None:  # with a real host, its Falco test ran too
        assert counts["passed"] >= 4 and "skipped" not in counts, tests.stdout
    else:  # without one, that test skips, saying what to set; the others all pass
        assert counts["passed"] >= 3 and counts.get("skipped") == 1, tests.stdout
        skip = re.search(r"SKIPPED \[1\] \S+: .*set FALCO_PLUGIN_REALHOST=", tests.stdout)
        assert skip, tests.stdout
    built = run_in(project, sys.executable, "-m", "falco_plugin.cli", "build")
    assert built.returncode == 0, built.stderr
    library = project / "libticker.so"
    assert built.stdout.strip() == str(library) and library.is_file()
    if prefix() is None:
        return
    options = ["-M", "2"] if "async" in caps else []
    run = run_falco([FalcoPlugin(library)], find_project(project).rules_files, options=options)
    assert run.ok, run.stderr
    rule = "ticker tick" if "async" in caps else "ticker event"
    assert run.alerts and {a["rule"] for a in run.alerts} == {rule}


@pytest.mark.parametrize("caps", SUPPORTED, ids=",".join)
def test_every_combination_is_clean_python(tmp_path: Path, caps: tuple[str, ...]) -> None:
    if shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists():
        pytest.skip("ruff is not installed")
    folder = create_project("demo", caps, tmp_path)
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    checked = run_in(
        folder, ruff, "check", "--isolated", "--select", "E,F,W,I,B,UP", "--line-length", "100",
        "--target-version", "py310", ".",
    )
    assert checked.returncode == 0, checked.stdout
    for path in folder.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")


@pytest.mark.parametrize(
    ("caps", "message"),
    [
        (("source", "async"), "choose source or async"),
        (("extract",), "add source or async"),
        (("listen",), "add source or async"),
        (("async", "extract"), "extract and parse go with source"),
        (("source", "bogus"), "unknown capabilities bogus"),
    ],
)
def test_combinations_the_template_cannot_make(
    tmp_path: Path, caps: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ScaffoldError, match=message):
        create_project("demo", caps, tmp_path)


def test_names_and_existing_folders(tmp_path: Path, capsys) -> None:
    for bad in ("Ticker", "1abc", "a-b", "a.b", ""):
        with pytest.raises(ScaffoldError, match="lowercase letters"):
            create_project(bad, ("source",), tmp_path)
    create_project("taken", ("source",), tmp_path)
    assert main(["new", "taken", "--dir", str(tmp_path)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err


def test_the_pyproject_table(tmp_path: Path) -> None:
    files = project_files("demo", frozenset({"source"}))
    (tmp_path / "pyproject.toml").write_text(files["pyproject.toml"])
    (tmp_path / "sub").mkdir()
    project = find_project(tmp_path / "sub")  # found from below
    assert project.root == tmp_path.resolve()
    assert project.target == f"{tmp_path.resolve() / 'plugin.py'}:Demo"
    assert project.rules_files == [tmp_path.resolve() / "demo_rules.yaml"]
    (tmp_path / "pyproject.toml").write_text('[tool.falco-plugin]\nplugin = "pkg.mod:Cls"\n')
    assert read_project(tmp_path / "pyproject.toml").target == "pkg.mod:Cls"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tool.falco-plugin]\nrules = "r.yaml"\n', 'needs plugin = "FILE.py:Class"'),
        ('[tool.falco-plugin]\nplugin = "p.py"\nrules = 3\n', "must be a list of paths"),
        ("[tool.falco-plugin\n", "cannot read"),
    ],
)
def test_a_wrong_table_is_reported(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ProjectError, match=message):
        find_project(tmp_path)


def test_build_without_an_argument_outside_a_project(tmp_path: Path, capsys) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')  # not ours: skipped
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["build"]) == 2
    finally:
        os.chdir(cwd)
    assert "no pyproject.toml with a [tool.falco-plugin] table" in capsys.readouterr().err
