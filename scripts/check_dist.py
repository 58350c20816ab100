"""Build the sdist and the wheel, check what they hold, and use the wheel in a clean venv.

    python scripts/check_dist.py [--keep DIR]

1. ``python -m build`` makes ``falco_plugin-VERSION.tar.gz`` and ``...-py3-none-any.whl``;
2. both must hold the package with its C sources and ``py.typed``, the LICENSE and the
   README; the sdist must leave the tests, examples, benchmarks and CI scripts out (they need
   the repository around them), and carry the version of ``falco_plugin.__version__``;
3. a new virtualenv (no access to this checkout) installs the wheel, and there
   ``falco-plugin new smoke`` makes a project, ``falco-plugin build`` (no argument, inside
   the project) builds ``libsmoke.so``, and ``falco-plugin run`` reads its 5 events.

Exit status 0 when everything holds; the first failure is printed and ends the run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FILES = ["falco_plugin/__init__.py", "falco_plugin/py.typed", "falco_plugin/_native/shim.c"]
LEFT_OUT = ("tests/", "examples/", "benchmarks/", "scripts/", ".ci/", "docs/")


class Failed(Exception):
    """A check that did not hold."""


def run(*args: str | Path, cwd: Path | None = None) -> str:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failed(
            f"{' '.join(map(str, args))} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def version() -> str:
    text = (ROOT / "src" / "falco_plugin" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if found is None:
        raise Failed("no __version__ in falco_plugin/__init__.py")
    return found[1]


def check_sdist(path: Path, ver: str) -> None:
    with tarfile.open(path) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
        pkg_info = tar.extractfile(f"falco_plugin-{ver}/PKG-INFO")
        meta = pkg_info.read().decode() if pkg_info else ""
    missing = [f for f in ["LICENSE", "README.md", "pyproject.toml"] if f not in names]
    missing += [f for f in PACKAGE_FILES if f"src/{f}" not in names]
    if missing:
        raise Failed(f"the sdist lacks {missing}")
    stray = sorted({n.split("/")[0] for n in names if n.startswith(LEFT_OUT)})
    if stray:
        raise Failed(f"the sdist should leave out {stray}")
    if f"\nVersion: {ver}\n" not in meta or "License-Expression: Apache-2.0" not in meta:
        raise Failed(f"the sdist's metadata lacks the version {ver} or the license")


def check_wheel(path: Path, ver: str) -> None:
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        meta = wheel.read(f"falco_plugin-{ver}.dist-info/METADATA").decode()
    missing = [f for f in PACKAGE_FILES if f not in names]
    if not any(n.endswith("licenses/LICENSE") for n in names):
        missing.append("LICENSE")
    if missing:
        raise Failed(f"the wheel lacks {missing}")
    for needed in ("Classifier: Typing :: Typed", "Project-URL: Repository", "Author: "):
        if needed not in meta:
            raise Failed(f"the wheel's metadata lacks {needed!r}")


def use_wheel(wheel: Path, work: Path) -> None:
    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv)
    python, cli = venv / "bin" / "python", venv / "bin" / "falco-plugin"
    run(python, "-m", "pip", "install", "--quiet", wheel)
    where = run(python, "-c", "import falco_plugin; print(falco_plugin.__file__)", cwd=work)
    if str(ROOT) in where:
        raise Failed(f"the venv imports falco_plugin from the checkout: {where}")
    run(cli, "new", "smoke", cwd=work)
    library = run(cli, "build", cwd=work / "smoke").strip()
    if library != str(work / "smoke" / "libsmoke.so") or not Path(library).is_file():
        raise Failed(f"falco-plugin build made {library!r}, not smoke/libsmoke.so")
    events = run(cli, "run", library, cwd=work / "smoke").splitlines()
    if len([e for e in events if '"message": "hello from smoke"' in e]) != 5:
        raise Failed(
            "falco-plugin run of the built plugin did not show its 5 events:\n" + "\n".join(events)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build into DIR and keep it")
    args = parser.parse_args()
    ver = version()
    with tempfile.TemporaryDirectory(prefix="falco-plugin-dist-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        dist = work / "dist"
        try:
            run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
            sdist = dist / f"falco_plugin-{ver}.tar.gz"
            wheel = dist / f"falco_plugin-{ver}-py3-none-any.whl"
            for artefact in (sdist, wheel):
                if not artefact.is_file():
                    raise Failed(f"python -m build made no {artefact.name}")
            check_sdist(sdist, ver)
            check_wheel(wheel, ver)
            use_wheel(wheel, work)
        except Failed as exc:
            print(f"check_dist: {exc}", file=sys.stderr)
            return 1
    print(
        f"check_dist: falco-plugin {ver}: sdist and wheel checked, the wheel builds and "
        "runs a new plugin in a clean virtualenv"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
