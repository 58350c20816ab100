"""Several packaged plugins in one Falco (with no Python on the system).

Two plugins packaged from two virtualenvs, each with its own version of one distribution
(``fpgreeting`` 1.0 and 2.0, wheels built here and installed offline) and its own
``helpers.py``: each sees its own. A plugin packaged with another Python minor version cannot
share the process (one process holds one Python): its init fails with a clear message, and
Falco reports it and stops cleanly (no crash).
"""

from __future__ import annotations

import base64
import hashlib
import os
import site
import subprocess
import sys
import zipfile
from importlib.metadata import requires
from pathlib import Path

import pytest

from falco_plugin import rootfs
from falco_plugin.realhost import FalcoPlugin

from .packaging import ROOT

OTHER_PYTHON_ENV = "FALCO_PLUGIN_OTHER_PYTHON"  # an interpreter of another minor version

GREETER = '''
from importlib.metadata import version

import fpgreeting
from helpers import SUFFIX

from falco_plugin import Eof, ExtractPlugin, SourceInstance, SourcePlugin, field


class Twice(SourceInstance):
    def __init__(self):
        self.left = 2

    def next_batch(self, batch):
        if not self.left:
            raise Eof
        self.left -= 1
        batch.add(fpgreeting.greet())


class Greeter(SourcePlugin, ExtractPlugin):
    NAME = "{name}"
    VERSION = "0.1.0"
    DESCRIPTION = "Greets with the fpgreeting of its environment"
    CONTACT = "tests"
    PLUGIN_ID = {id}
    EVENT_SOURCE = "{name}"

    def open(self, params):
        return Twice()

    @field("{name}.lib")
    def lib(self, event) -> str:
        """The fpgreeting this plugin sees: module, metadata, helpers."""
        return f"{{fpgreeting.VERSION}} {{version('fpgreeting')}} {{SUFFIX}}"
'''
PLAIN = (
    GREETER.replace("import fpgreeting\n", "")
    .replace("fpgreeting.greet()", '"hi"')
    .replace("{{fpgreeting.VERSION}} {{version('fpgreeting')}} ", "")
)


def wheel(tmp: Path, version: str) -> Path:
    """A pure-Python wheel of ``fpgreeting`` at ``version``."""
    files = {
        "fpgreeting/__init__.py": f'VERSION = "{version}"\n\n\ndef greet():\n'
        f'    return "hello from fpgreeting {version}"\n',
        f"fpgreeting-{version}.dist-info/METADATA": "Metadata-Version: 2.1\nName: fpgreeting\n"
        f"Version: {version}\n",
        f"fpgreeting-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    files[f"fpgreeting-{version}.dist-info/RECORD"] = "\n".join(
        [*record, f"fpgreeting-{version}.dist-info/RECORD,,"]
    )
    path = tmp / f"fpgreeting-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def virtualenv(folder: Path, python: str, wheels: list[Path]) -> Path:
    """A virtualenv of ``python`` with the wheels installed (offline) and this SDK importable
    (its source folder, like an editable install); the SDK's own dependencies are this
    environment's for this interpreter's version, installed from the package index for
    another one. Returns its interpreter."""
    subprocess.run([python, "-m", "venv", "--without-pip", str(folder)], check=True)
    (venv_python,) = folder.glob("bin/python3")
    (venv_site,) = folder.glob("lib/python3.*/site-packages")
    pip = [sys.executable, "-m", "pip", "--python", str(venv_python), "install", "-q"]
    paths = [str(ROOT / "src")]
    if python == sys.executable:
        paths += [p for p in site.getsitepackages() if os.path.isdir(p)]
    else:
        needs = [r for r in requires("falco-plugin") or () if "extra ==" not in r]
        subprocess.run([*pip, *needs], check=True)
    (venv_site / "falco_plugin_sdk.pth").write_text("\n".join(paths) + "\n")
    for w in wheels:
        subprocess.run([*pip, "--no-index", "--no-deps", str(w)], check=True)
    return venv_python


def package_in(python: Path, plugin: Path, out: Path) -> Path:
    proc = subprocess.run(
        [str(python), "-m", "falco_plugin.cli", "package", str(plugin), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def greeter(tmp: Path, name: str, plugin_id: int, suffix: str, text: str = GREETER) -> Path:
    folder = tmp / name
    folder.mkdir()
    (folder / "plugin.py").write_text(text.format(name=name, id=plugin_id))
    (folder / "helpers.py").write_text(f'SUFFIX = "{suffix}"\n')
    return folder / "plugin.py"


def rules(*names: str) -> list[str]:
    return [
        f"- rule: {n} event\n  desc: d\n  condition: {n}.lib exists\n"
        f"  output: '{n} says %{n}.lib'\n  priority: INFO\n  source: {n}\n"
        for n in names
    ]


@pytest.fixture(scope="module")
def fs() -> rootfs.RootFs:
    return rootfs.require()


@pytest.fixture(scope="module")
def greeter_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("greeta")
    python = virtualenv(tmp / "venv", sys.executable, [wheel(tmp, "1.0")])
    return package_in(python, greeter(tmp, "greeta", 424260, "a"), tmp / "greeta.tar.gz")


def test_two_packages_each_see_their_own_dependencies(
    fs: rootfs.RootFs, greeter_a: Path, tmp_path: Path
) -> None:
    python = virtualenv(tmp_path / "venv", sys.executable, [wheel(tmp_path, "2.0")])
    greeter_b = package_in(python, greeter(tmp_path, "greetb", 424261, "b"), tmp_path / "b.tgz")
    with rootfs.install(fs, greeter_a) as where_a, rootfs.install(fs, greeter_b) as where_b:
        plugins = [
            FalcoPlugin(f"{where_a}/libgreeta.so", "", "", "greeta"),
            FalcoPlugin(f"{where_b}/libgreetb.so", "", "", "greetb"),
        ]
        run = rootfs.run_falco(fs, plugins, rules("greeta", "greetb"))
    assert run.ok, run.error or run.stderr[-2000:]
    outputs = sorted(a["output"].split(" ", 2)[2] for a in run.alerts)
    assert outputs == ["greeta says 1.0 1.0 a"] * 2 + ["greetb says 2.0 2.0 b"] * 2


def other_python() -> str:
    found = os.environ.get(OTHER_PYTHON_ENV, "")
    if not found:
        pytest.skip(f"no Python of another minor version: set {OTHER_PYTHON_ENV}=PYTHON")
    version = subprocess.run(
        [found, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version != str(sys.version_info[:2]), f"{found} is this interpreter's minor version"
    return found


def test_another_python_minor_fails_the_second_init_cleanly(
    fs: rootfs.RootFs, greeter_a: Path, tmp_path: Path
) -> None:
    python = virtualenv(tmp_path / "venv", other_python(), [])
    plain = package_in(python, greeter(tmp_path, "greetc", 424262, "c", PLAIN), tmp_path / "c.tgz")
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    with rootfs.install(fs, greeter_a) as where_a, rootfs.install(fs, plain) as where_c:
        plugins = [
            FalcoPlugin(f"{where_a}/libgreeta.so", "", "", "greeta"),
            FalcoPlugin(f"{where_c}/libgreetc.so", "", "", "greetc"),
        ]
        run = rootfs.run_falco(fs, plugins, rules("greeta", "greetc"))
    assert run.returncode == 1, run.stderr[-2000:]  # Falco's own error exit, not a signal
    assert f"this process already runs Python {mine} (another plugin brought it)" in run.error
    assert "package both plugins with the same Python minor version" in run.error
