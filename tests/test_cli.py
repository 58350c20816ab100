"""The falco-plugin command: build (file and module:Class forms), run and info."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from falco_plugin.testing import run_capture

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "falco_plugin.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_build_writes_the_library(tmp_path: Path) -> None:
    out = tmp_path / "libcountdown.so"
    proc = cli("build", str(ROOT / "examples" / "countdown" / "plugin.py"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == out and out.is_file()
    cap = run_capture(out, open_params="2")
    assert cap.texts == ["1 events remaining", "0 events remaining"]


def test_build_module_class_form(tmp_path: Path) -> None:
    out = tmp_path / "libpushy.so"
    proc = cli("build", "pushy:Pushy", "-o", str(out), cwd=PLUGINS)
    assert proc.returncode == 0, proc.stderr
    cap = run_capture(out, open_params="3")  # run from elsewhere: the build folder is baked in
    assert cap.ok, cap.error_message
    assert cap.texts == [f"{i} from producer" for i in range(3)]


def test_build_reports_definition_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from falco_plugin import SourcePlugin\n"
        "class Bad(SourcePlugin):\n"
        "    NAME = 'bad name'\n"
        "    VERSION = '1'\n"
        "    DESCRIPTION = 'd'\n"
        "    CONTACT = 'c'\n"
        "    PLUGIN_ID = 5\n"
    )
    proc = cli("build", str(bad), "-o", str(tmp_path / "libbad.so"))
    assert proc.returncode == 2
    assert "NAME 'bad name' must match" in proc.stderr
    assert "not a semantic version" in proc.stderr
    assert "PLUGIN_ID is set but EVENT_SOURCE is empty" in proc.stderr
    assert "must define open" in proc.stderr
    assert not (tmp_path / "libbad.so").exists()


def test_build_reports_import_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise ImportError('no such dependency')\n")
    proc = cli("build", str(broken))
    assert proc.returncode == 2 and "no such dependency" in proc.stderr
    assert cli("build", str(tmp_path / "missing.py")).returncode == 2


def test_info_matches_falco_plugin_info() -> None:
    proc = cli("info", str(ROOT / "examples" / "countdown" / "plugin.py"))
    assert proc.returncode == 0, proc.stderr
    assert "Name: countdown" in proc.stdout
    assert "Event Sourcing (ID=999, source='countdown')" in proc.stdout
    assert "Required API version: 3.6.0" in proc.stdout  # it has metrics
    info = json.loads(
        cli("info", "--json", str(ROOT / "examples" / "countdown" / "plugin.py")).stdout
    )
    assert info["capabilities"] == ["source", "extract"] and info["id"] == 999
    assert json.loads(info["init_schema"])["properties"]["batch_size"]["default"] == 128
    assert info["open_params"][0]["value"] == "10"


def test_run_json_and_failure_exit_code() -> None:
    plugin = str(ROOT / "examples" / "countdown" / "plugin.py")
    proc = cli("run", plugin, "--open-params", "3", "--max-events", "2", "--json")
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["info"] for r in records if "evtnum" in r] == [
        "2 events remaining",
        "1 events remaining",
    ]
    bad = cli("run", plugin, "--open-params", "nope")
    assert bad.returncode == 1 and "open params must be a number" in bad.stderr


def test_max_events_is_checked_by_the_cli() -> None:
    plugin = str(ROOT / "examples" / "countdown" / "plugin.py")
    proc = cli("run", plugin, "--max-events", "-1")
    assert proc.returncode == 2
    assert "argument --max-events: '-1' is negative" in proc.stderr
    assert "fp-host" not in proc.stderr and "run options" not in proc.stderr  # no host usage


def test_info_on_files_that_are_no_plugins_says_why(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    proc = cli("info", str(text))
    assert proc.returncode == 2
    assert "is neither a plugin library" in proc.stderr and "nor a Python plugin" in proc.stderr
    junk = tmp_path / "libjunk.so"
    junk.write_text("not a library\n")
    proc = cli("info", str(junk))
    assert proc.returncode == 2 and "not an ELF shared object" in proc.stderr
    lib = next(Path("/").glob("usr/lib/*/libz.so.1"), None)
    if lib is not None:  # a real shared library that is no plugin: the missing symbols
        proc = cli("info", str(lib))
        assert proc.returncode == 1
        assert "plugin does not export required symbols: plugin_get_required_api_version" in (
            proc.stderr
        )


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_the_host_too() -> None:
    plugin = str(ROOT / "examples" / "countdown" / "plugin.py")
    # after its first events the host prints nothing more (a broken pipe would not stop it)
    proc = subprocess.Popen(
        [sys.executable, "-m", "falco_plugin.cli", "run", plugin, "--open-params", "2000000000",
         "--filter", "countdown.remaining > 1999999990"],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline()  # the host runs and prints events
        hosts = _children(proc.pid)
        assert hosts, "the CLI runs the host engine as a child process"
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        deadline = time.monotonic() + 20
        while any(_alive(h) for h in hosts) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(h) for h in hosts), "the host process outlived falco-plugin run"
        assert rc == 128 + signal.SIGTERM  # the captures were stopped, not the CLI killed
    finally:
        proc.kill()
        proc.wait()


def test_build_into_a_folder(tmp_path: Path) -> None:
    """Issue 10, item 9: -o FOLDER writes FOLDER/lib<NAME>.so, and leaves nothing else."""
    proc = cli("build", str(ROOT / "examples" / "countdown" / "plugin.py"), "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == tmp_path / "libcountdown.so"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["libcountdown.so"]


def test_build_never_overwrites_the_source_or_other_files(tmp_path: Path) -> None:
    """Issue 10, item 9: `build x.py -o x.py` used to write the library over the plugin."""
    plugin = tmp_path / "plugin.py"
    plugin.write_text((ROOT / "examples" / "countdown" / "plugin.py").read_text())
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    for out, says in ((plugin, "over the plugin's source"), (notes, "not a shared library")):
        proc = cli("build", str(plugin), "-o", str(out))
        assert proc.returncode == 2, proc.stderr
        assert says in proc.stderr and "Traceback" not in proc.stderr
    assert plugin.read_text() == (ROOT / "examples" / "countdown" / "plugin.py").read_text()
    assert notes.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "plugin.py"]


def test_build_does_not_load_the_sdk_host() -> None:
    # the host (filters, capture replay, the event tables) is for `run` and `info`: `build`
    # and `package` start without it
    probe = (
        "import sys, falco_plugin.cli, falco_plugin.build, falco_plugin.package; "
        "print(sorted(m for m in sys.modules if m.startswith('falco_plugin.host')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_host_that_cannot_be_compiled_is_a_user_error(tmp_path: Path) -> None:
    from falco_plugin.build import build_cached

    library = build_cached(str(ROOT / "examples" / "countdown" / "plugin.py"))
    proc = subprocess.run(
        [sys.executable, "-m", "falco_plugin.cli", "info", str(library)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CC": "false", "FALCO_PLUGIN_CACHE": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("falco-plugin: ") and "Traceback" not in proc.stderr
