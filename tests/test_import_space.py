"""Each plugin library has its own import space (issue 10, item 4), through the real ABI.

Several Python plugins share one interpreter in Falco. Each must see its own folder, its
own SDK and its own environment, whatever the load order, and run fresh code after a
destroy and a new init (Falco's reload).
"""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from falco_plugin import _runtime
from falco_plugin._space import PRIVATE, SDK, SHARED, Root
from falco_plugin.build import build
from falco_plugin.loader import SDK_ROOT
from falco_plugin.testing import Capture, plugin_args, run_capture
from tests.abi import LOG_FN, InitInput
from tests.test_inprocess_abi import load, read_all

PROBE = '''
"""Reports, as one event, what this plugin's imports resolve to."""
import json
import sys
import time

import falco_plugin
from falco_plugin import Eof, SourceInstance, SourcePlugin

_runs = sys.__dict__.setdefault("_fp_test_module_runs", {})
_runs[__file__] = _runs.get(__file__, 0) + 1
RUNS = _runs[__file__]  # how many times this file was executed in this process


def probe(name):
    try:
        module = __import__(name)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return getattr(module, "WHO", getattr(module, "__version__", "?"))


class ProbeInstance(SourceInstance):
    """One report; with "loop" among the params, one report every 50 ms until closed."""

    def __init__(self, names):
        self.names, self.done = [n for n in names if n != "loop"], False
        self.loop = "loop" in names

    def next_batch(self, batch):
        if self.done:
            if not self.loop:
                raise Eof
            time.sleep(0.05)
        self.done = True
        report = {"runs": RUNS, "sdk": falco_plugin.__version__}
        report.update((name, probe(name)) for name in self.names)
        batch.add(json.dumps(report))


class Probe(SourcePlugin):
    NAME = "@NAME@"
    VERSION = "1.0.0"
    DESCRIPTION = "What the imports of a plugin resolve to"
    CONTACT = "tests"
    PLUGIN_ID = @ID@
    EVENT_SOURCE = "@NAME@"

    def open(self, params):
        return ProbeInstance([n for n in params.split(",") if n])

    def event_to_string(self, event):
        return event.payload.decode()
'''


def write_probe(folder: Path, name: str, plugin_id: int, **modules: str) -> Path:
    """A probe plugin in ``folder`` with sibling modules (name -> source)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plugin.py"
    path.write_text(PROBE.replace("@NAME@", name).replace("@ID@", str(plugin_id)))
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
    return path


def write_dist(site: Path, name: str, version: str) -> Path:
    """A pure-Python distribution ``name`` of ``version`` installed in ``site``."""
    (site / name).mkdir(parents=True, exist_ok=True)
    (site / name / "__init__.py").write_text(f"__version__ = {version!r}\n")
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return site


def reports(cap: Capture) -> dict[str, dict[str, object]]:
    """Each plugin's report, by plugin name."""
    return {e["plugin"]: json.loads(bytes.fromhex(e["payload_hex"])) for e in cap.events}


def test_two_plugins_each_get_their_own_helpers(tmp_path: Path, falco_build) -> None:
    a = falco_build(write_probe(tmp_path / "a", "proba", 424301, helpers="WHO = 'helpers of a'"))
    b = falco_build(write_probe(tmp_path / "b", "probb", 424302, helpers="WHO = 'helpers of b'"))
    for order in ([a, b], [b, a]):
        cap = run_capture([plugin_args(lib, open_params="helpers") for lib in order])
        assert cap.ok, cap.error_message + cap.stderr
        got = reports(cap)
        assert got["proba"]["helpers"] == "helpers of a"
        assert got["probb"]["helpers"] == "helpers of b"


@pytest.mark.parametrize("reload", [False, True], ids=["reinit", "dlclose"])
def test_destroy_and_init_run_fresh_code(tmp_path: Path, falco_build, reload: bool) -> None:
    lib = falco_build(write_probe(tmp_path / "p", "probfresh", 424303))
    options = ["--cycles", "3", *(["--reload"] if reload else [])]
    cap = run_capture([plugin_args(lib, open_params="")], options=options)
    assert cap.ok, cap.error_message + cap.stderr
    assert [json.loads(t)["runs"] for t in cap.texts] == [1, 2, 3]


GC_PROBE = """
import gc
import sys
import weakref

# the plugin's module, imported at init (this helper is imported later, by open)
plugin = sys.modules[__name__.rpartition(".")[0] + ".plugin"]
gone = sys.__dict__.setdefault("_fp_test_spaces", [])
gc.collect()
WHO = {
    "frozen": gc.get_freeze_count(),  # the interpreter's start and the bootstrap
    "earlier spaces alive": sum(ref() is not None for ref in gone),
    "this space tracked": any(o is plugin.__dict__ for o in gc.get_objects()),
}
gone.append(weakref.ref(plugin))
del plugin
"""


def test_a_closed_space_is_collected(tmp_path: Path, falco_build) -> None:
    """What the interpreter's start made is frozen (no collection walks it again); what a
    space makes is not: after a destroy and a new init, the old space's modules are gone."""
    lib = falco_build(write_probe(tmp_path / "p", "probgc", 424309, gcprobe=GC_PROBE))
    cap = run_capture([plugin_args(lib, open_params="gcprobe")], options=["--cycles", "3"])
    assert cap.ok, cap.error_message + cap.stderr
    got = [json.loads(t)["gcprobe"] for t in cap.texts]
    assert all(g["frozen"] > 1000 for g in got)
    assert [g["earlier spaces alive"] for g in got] == [0, 0, 0]
    assert all(g["this space tracked"] for g in got)


def test_reinit_sees_an_edited_helper(tmp_path: Path, falco_build) -> None:
    """In one process (as in Falco's reload): edit a helper between destroy and init."""
    folder = tmp_path / "edited"
    so = load(falco_build(write_probe(folder, "probedit", 424304, helpers="WHO = 'old'")))
    keep = LOG_FN(lambda *a: None)

    def one_run() -> dict[str, object]:
        rc = ctypes.c_int(-1)
        state = so.plugin_init(ctypes.byref(InitInput(b"", None, None, None, keep)), rc)
        assert rc.value == 0, so.plugin_get_last_error(state)
        inst = so.plugin_open(state, b"helpers", ctypes.byref(rc))
        assert rc.value == 0, so.plugin_get_last_error(state)
        report = json.loads(read_all(so, state, inst)[0])
        so.plugin_close(state, inst)
        so.plugin_destroy(state)
        return report

    assert one_run()["helpers"] == "old"
    (folder / "helpers.py").write_text("WHO = 'new'\n")
    assert one_run()["helpers"] == "new"


def sdk_copy(dest: Path, version: str, protocol: int | None = None) -> Path:
    """A copy of the SDK (folder holding falco_plugin/) with another version, or protocol."""
    package = dest / "falco_plugin"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(Path(SDK_ROOT) / "falco_plugin", package, ignore=skip)
    init = package / "__init__.py"
    text = re.sub(r'__version__ = "([^"]*)"', rf'__version__ = "\1+{version}"', init.read_text())
    init.write_text(text)
    if protocol is not None:
        rt = package / "_runtime.py"
        old, new = f"PROTOCOL = {_runtime.PROTOCOL}\n", f"PROTOCOL = {protocol}\n"
        text = rt.read_text().replace(old, new)
        assert new in text
        rt.write_text(text)
    return dest


def build_with_sdk(sdk: Path, plugin: Path, out: Path) -> Path:
    """Build ``plugin`` with the SDK copy in ``sdk`` (a new process that imports only it)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from falco_plugin.build import build; print(build(sys.argv[2], sys.argv[3]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(sdk), str(plugin), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_each_plugin_runs_on_the_sdk_it_was_built_with(tmp_path: Path) -> None:
    libs = []
    for tag, plugin_id in (("one", 424305), ("two", 424306)):
        sdk = sdk_copy(tmp_path / f"sdk-{tag}", tag)
        plugin = write_probe(tmp_path / tag, f"prob{tag}", plugin_id)
        libs.append(build_with_sdk(sdk, plugin, tmp_path / f"libprob{tag}.so"))
    cap = run_capture([plugin_args(lib, open_params="") for lib in libs])
    assert cap.ok, cap.error_message + cap.stderr
    got = reports(cap)
    assert str(got["probone"]["sdk"]).endswith("+one")
    assert str(got["probtwo"]["sdk"]).endswith("+two")


def test_a_runtime_protocol_mismatch_is_a_clear_init_error(tmp_path: Path) -> None:
    plugin = write_probe(tmp_path / "p", "probproto", 424307)
    sdk = sdk_copy(tmp_path / "sdk", "other", protocol=_runtime.PROTOCOL + 1)
    lib = build(str(plugin), tmp_path / "libprobproto.so", roots=[Root(SDK, str(sdk))])
    cap = run_capture(lib)
    assert cap.returncode != 0
    assert f"speaks falco_plugin runtime protocol {_runtime.PROTOCOL}" in cap.error_message
    assert f"speaks protocol {_runtime.PROTOCOL + 1}" in cap.error_message
    assert "rebuild the plugin" in cap.error_message


def test_a_plugin_sees_only_its_own_environment(tmp_path: Path) -> None:
    """Plugin a's environment lacks fpdep, b's has it: a never gets b's, in either order."""
    site_b = write_dist(tmp_path / "site-b", "fpdep", "2.0")
    libs = {}
    for tag, plugin_id, site in (("a", 424308, tmp_path / "site-a"), ("b", 424309, site_b)):
        site.mkdir(exist_ok=True)
        plugin = write_probe(tmp_path / tag, f"probenv{tag}", plugin_id)
        roots = [Root(PRIVATE, str(plugin.parent)), Root(SDK, SDK_ROOT), Root(SHARED, str(site))]
        libs[tag] = build(str(plugin), tmp_path / f"libprobenv{tag}.so", roots=roots)
    for order in (["a", "b"], ["b", "a"]):
        cap = run_capture([plugin_args(libs[t], open_params="fpdep") for t in order])
        assert cap.ok, cap.error_message + cap.stderr
        got = reports(cap)
        assert got["probenvb"]["fpdep"] == "2.0"
        assert str(got["probenva"]["fpdep"]).startswith("ModuleNotFoundError")


def test_shared_packages_of_two_environments(tmp_path: Path) -> None:
    """The same version from two environments is shared; two versions cannot share a name
    (a clear error), unless a plugin vendors its copy in a private root."""
    sites = {v: write_dist(tmp_path / f"site-{v}", "fpdep", v) for v in ("1.0", "2.0")}
    (tmp_path / "site-1.0b").mkdir()
    sites["1.0b"] = write_dist(tmp_path / "site-1.0b", "fpdep", "1.0")

    def lib(tag: str, plugin_id: int, mode: str, site: Path) -> Path:
        plugin = write_probe(tmp_path / tag, f"probsh{tag}", plugin_id)
        roots = [Root(PRIVATE, str(plugin.parent)), Root(SDK, SDK_ROOT), Root(mode, str(site))]
        return build(str(plugin), tmp_path / f"libprobsh{tag}.so", roots=roots)

    one = lib("one", 424310, SHARED, sites["1.0"])
    same = lib("same", 424311, SHARED, sites["1.0b"])
    two = lib("two", 424312, SHARED, sites["2.0"])
    vendored = lib("vend", 424313, PRIVATE, sites["2.0"])

    cap = run_capture([plugin_args(x, open_params="fpdep") for x in (one, same, vendored)])
    assert cap.ok, cap.error_message + cap.stderr
    got = reports(cap)
    assert (got["probshone"]["fpdep"], got["probshsame"]["fpdep"]) == ("1.0", "1.0")
    assert got["probshvend"]["fpdep"] == "2.0"

    # the two sources run on threads of their own: the first to import fpdep gets its
    # version, the other a clear error naming both
    cap = run_capture([plugin_args(x, open_params="fpdep") for x in (one, two)])
    got = {name: str(report["fpdep"]) for name, report in reports(cap).items()}
    first = "probshone" if got["probshone"] == "1.0" else "probshtwo"
    second = {"probshone": "probshtwo", "probshtwo": "probshone"}[first]
    versions = {"probshone": "1.0", "probshtwo": "2.0"}
    assert got[first] == versions[first], got
    message = got[second]
    assert message.startswith(f"SpaceError: plugin {second} needs fpdep {versions[second]} "), got
    assert f"already loaded fpdep {versions[first]}" in message, message
    assert "same version of fpdep" in message


def test_roots_relative_to_the_library(tmp_path: Path) -> None:
    """$ORIGIN roots: the library, its code and its SDK move together (what packaging uses)."""
    bundle = tmp_path / "bundle"
    plugin = write_probe(bundle / "code", "probor", 424314, helpers="WHO = 'beside the library'")
    sdk_copy(bundle / "sdk", "bundled")
    roots = [Root(PRIVATE, "$ORIGIN/code"), Root(SDK, "$ORIGIN/sdk")]
    build(str(plugin), bundle / "libprobor.so", roots=roots)
    moved = tmp_path / "elsewhere"
    bundle.rename(moved)
    cap = run_capture(moved / "libprobor.so", open_params="helpers")
    assert cap.ok, cap.error_message + cap.stderr
    got = reports(cap)["probor"]
    assert got["helpers"] == "beside the library" and str(got["sdk"]).endswith("+bundled")


PYDANTIC_PLUGIN = '''
import pydantic

from falco_plugin import Eof, SourceInstance, SourcePlugin


class Config(pydantic.BaseModel):
    greeting: str = "hello"
    times: int = 2


class Instance(SourceInstance):
    def __init__(self, config):
        self.left, self.text = config.times, config.greeting

    def next_batch(self, batch):
        if not self.left:
            raise Eof
        self.left -= 1
        batch.add(f"{self.text} from pydantic {pydantic.VERSION}")


class Greeter(SourcePlugin):
    NAME = "pydgreeter"
    VERSION = "1.0.0"
    DESCRIPTION = "A pydantic config in the plugin's environment"
    CONTACT = "tests"
    PLUGIN_ID = 424315
    EVENT_SOURCE = "pydgreeter"

    def __init__(self, config: Config):
        self.config = config

    def open(self, params):
        return Instance(self.config)
'''


def test_a_compiled_dependency_survives_reloads(tmp_path: Path, falco_build) -> None:
    """pydantic (pydantic_core is compiled) comes from the build environment, is shared by
    real name and stays loaded while the plugin's own code is reloaded around it."""
    import pydantic

    plugin = tmp_path / "greeter" / "plugin.py"
    plugin.parent.mkdir()
    plugin.write_text(PYDANTIC_PLUGIN)
    lib = falco_build(plugin)
    config = '{"greeting": "hi", "times": 1}'
    cap = run_capture([plugin_args(lib, config)], options=["--cycles", "2", "--reload"])
    assert cap.ok, cap.error_message + cap.stderr
    assert cap.texts == [f"hi from pydantic {pydantic.VERSION}"] * 2


# ------------------------------------------------------------------ in the real Falco


def probe_rules(*names: str) -> str:
    """One rule per probe plugin, alerting on every event with its report."""
    return "".join(
        f"- rule: {n}\n  desc: {n}\n  condition: evt.num > 0\n  output: '%evt.plugininfo'\n"
        f"  priority: INFO\n  source: {n}\n"
        for n in names
    )


def alert_reports(alerts: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    out = {}
    for alert in alerts:
        text = str(alert["output"])
        out[str(alert["rule"])] = json.loads(text[text.index("{") :])
    return out


def test_two_plugins_each_get_their_own_helpers_in_falco(
    tmp_path: Path, falco_build, falco_realhost: Path
) -> None:
    from falco_plugin.realhost import FalcoPlugin, run_falco

    a = falco_build(write_probe(tmp_path / "a", "proba", 424301, helpers="WHO = 'helpers of a'"))
    b = falco_build(write_probe(tmp_path / "b", "probb", 424302, helpers="WHO = 'helpers of b'"))
    run = run_falco(
        [FalcoPlugin(a, open_params="helpers"), FalcoPlugin(b, open_params="helpers")],
        probe_rules("proba", "probb"),
    )
    assert run.ok, run.stderr
    got = alert_reports(run.alerts)
    assert got["proba"]["helpers"] == "helpers of a"
    assert got["probb"]["helpers"] == "helpers of b"


def test_falco_reload_runs_fresh_code(tmp_path: Path, falco_build, falco_realhost: Path) -> None:
    """SIGHUP makes Falco reload its plugins in place: the edited helper is what runs next."""
    import signal
    import tempfile
    import time

    from falco_plugin.realhost import FalcoPlugin, falco_config

    folder = tmp_path / "reloaded"
    lib = falco_build(write_probe(folder, "probhup", 424316, helpers="WHO = 'before'"))
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(probe_rules("probhup"))
        plugin = FalcoPlugin(lib, open_params="helpers,loop")
        config = Path(tmp) / "falco.yaml"
        config.write_text(json.dumps(falco_config([plugin], [str(rules)], falco_realhost)))
        falco = subprocess.Popen(
            [str(falco_realhost / "bin/falco"), "-c", str(config), "--disable-source", "syscall"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert falco.stdout is not None
        seen: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        try:
            for line in falco.stdout:
                if time.monotonic() > deadline:
                    break
                if not line.startswith("{"):
                    continue
                seen.append(alert_reports([json.loads(line)])["probhup"])
                if seen[-1]["helpers"] == "before" and len(seen) == 3:
                    (folder / "helpers.py").write_text("WHO = 'after'\n")
                    falco.send_signal(signal.SIGHUP)
                if seen[-1]["helpers"] == "after":
                    break
        finally:
            falco.terminate()
            falco.wait(timeout=30)
    assert seen and seen[-1]["helpers"] == "after", seen[-5:]
    assert seen[-1]["runs"] == 2 and seen[0]["runs"] == 1


def test_every_module_of_the_plugin_logs_to_the_host(tmp_path: Path, falco_build) -> None:
    helpers = "import logging\nlogging.getLogger(__name__).warning('helpers imported')\nWHO = 1"
    lib = falco_build(write_probe(tmp_path / "p", "problog", 424317, helpers=helpers))
    cap = run_capture(lib, open_params="helpers")
    assert cap.ok, cap.error_message + cap.stderr
    assert "[problog] WARNING: helpers imported" in cap.stderr  # the host's own log line
