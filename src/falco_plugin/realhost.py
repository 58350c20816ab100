"""The real Falco and libsinsp, for tests: find an install, run plugins in the real Falco.

The SDK's own host (``_native/host.c``) imitates libsinsp; the real host is the oracle. A
real-host install (``PREFIX/bin/falco``, ``PREFIX/bin/sinsp-example``,
``PREFIX/lib/pkgconfig/libsinsp.pc``, ``PREFIX/tools/plugin_meta``, ...) is found through one
environment variable, ``FALCO_PLUGIN_REALHOST=PREFIX``; tests that need it skip with one
line when it is unset (and fail instead when ``FALCO_PLUGIN_REALHOST_REQUIRED=1``, as in CI,
so that a real-host suite can never pass by being skipped)::

    from falco_plugin.realhost import FalcoPlugin, run_falco

    run = run_falco([FalcoPlugin("libcountdown.so", {"batch_size": 4}, "10")], RULES)
    assert run.returncode == 0, run.stderr
    assert [a["output_fields"]["countdown.remaining"] for a in run.alerts] == [9, 6, 3, 0]

:func:`run_falco` writes a ``falco.yaml`` that loads only the given plugins, with JSON alerts
on stdout and Falco's log on stderr, never opens the kernel's ``syscall`` source (see
:func:`source_args`), and runs Falco until every source has ended (``-M SECS`` stops endless
ones).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._jsonlines import json_objects

__all__ = [
    "ENV",
    "REQUIRED_ENV",
    "FalcoPlugin",
    "FalcoRun",
    "FalcoTimeout",
    "PluginInfo",
    "RealHostError",
    "plugin_info",
    "prefix",
    "require",
    "run_falco",
]

ENV = "FALCO_PLUGIN_REALHOST"
REQUIRED_ENV = "FALCO_PLUGIN_REALHOST_REQUIRED"

log = logging.getLogger(__name__)

# Falco's log lines start with a ctime() stamp: "Tue Dec 01 11:08:14 2026: message"
_LOG_STAMP = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}: ")


class RealHostError(RuntimeError):
    """The real-host install is missing a part, or a plugin cannot be read by its tools."""


class FalcoTimeout(RealHostError):
    """Falco did not end within the timeout; ``run`` holds what it printed until killed."""

    def __init__(self, message: str, run: FalcoRun) -> None:
        super().__init__(message)
        self.run = run


def prefix() -> Path | None:
    """The real-host install named by ``$FALCO_PLUGIN_REALHOST``, or None when unset.

    Raises :class:`RealHostError` when the variable names a folder without ``bin/falco``:
    a wrong path must not look like "no real host". Other parts (``tools/plugin_meta``,
    ``lib/pkgconfig/libsinsp.pc``) are checked where they are used.
    """
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    tool(path, "bin/falco")
    return path


def tool(root: Path, part: str) -> Path:
    """``root/part``, which must be an executable of the real-host install."""
    path = root / part
    if not os.access(path, os.X_OK):
        raise RealHostError(
            f"{ENV}={root} is not a complete real-host install: no executable {part} "
            "(the realhost bundle's install.sh --dev PREFIX makes one)"
        )
    return path


def require() -> Path:
    """The real-host prefix; for tests: skip with one line when ``$FALCO_PLUGIN_REALHOST`` is
    unset, or fail when ``$FALCO_PLUGIN_REALHOST_REQUIRED`` says it must be there."""
    import pytest

    found = prefix()
    if found is not None:
        return found
    if os.environ.get(REQUIRED_ENV, "") not in ("", "0"):
        pytest.fail(f"{REQUIRED_ENV} is set but {ENV} is not: the real-host suite cannot run")
    pytest.skip(f"real Falco/libsinsp not configured: set {ENV}=PREFIX to run this test")


@dataclass(frozen=True)
class PluginInfo:
    """What the real host's ``tools/plugin_meta`` reads from a plugin library."""

    name: str
    source: str
    id: int
    version: str
    required_api: str
    capabilities: tuple[str, ...]


def plugin_info(library: str | os.PathLike[str], *, root: Path | None = None) -> PluginInfo:
    """Read a plugin library's static facts with the real host's ``plugin_meta`` (which loads
    it in a process of its own, as libsinsp does, without calling ``init``)."""
    meta = tool(root or require(), "tools/plugin_meta")
    key = (str(meta), str(Path(library).resolve()), _mtime(library))
    known = _infos.get(key)
    if known is not None:
        return known
    proc = subprocess.run(
        [str(meta), str(library)], capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        raise RealHostError(f"plugin_meta cannot read {library}: {proc.stderr.strip()}")
    facts = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    try:
        info = PluginInfo(
            name=facts["NAME"],
            source=facts.get("SOURCE", ""),
            id=int(facts.get("ID") or 0),
            version=facts.get("VERSION", ""),
            required_api=facts.get("REQUIRED_API", ""),
            capabilities=tuple(c for c in facts.get("CAPS", "").split(",") if c),
        )
    except (KeyError, ValueError) as exc:
        raise RealHostError(f"plugin_meta printed no usable facts for {library}") from exc
    _infos[key] = info
    return info


_infos: dict[tuple[str, str, int], PluginInfo] = {}


def _mtime(path: str | os.PathLike[str]) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError as exc:
        raise RealHostError(f"no plugin library {path}: {exc.strerror}") from exc


@dataclass
class FalcoPlugin:
    """One entry of falco.yaml's ``plugins`` list.

    ``init_config`` is passed to the plugin verbatim when it is a string, and as JSON when it
    is a mapping (Falco itself turns a YAML map into JSON); ``name`` is read from the library
    when None.
    """

    library: str | os.PathLike[str]
    init_config: str | Mapping[str, Any] | None = None
    open_params: str | None = None
    name: str | None = None

    def config_entry(self, root: Path) -> dict[str, Any]:
        """This plugin's entry of falco.yaml's ``plugins`` list (paths made absolute)."""
        library = Path(self.library).resolve()
        entry: dict[str, Any] = {
            "name": self.name or plugin_info(library, root=root).name,
            "library_path": str(library),
        }
        if self.init_config is not None:
            entry["init_config"] = (
                self.init_config
                if isinstance(self.init_config, str)
                else json.dumps(dict(self.init_config))
            )
        if self.open_params is not None:
            entry["open_params"] = self.open_params
        return entry


@dataclass
class FalcoRun:
    """What one run of the real Falco printed: JSON alerts on stdout, its log on stderr."""

    returncode: int
    stdout: str
    stderr: str
    alerts: list[dict[str, Any]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Falco exited with status 0."""
        return self.returncode == 0

    def outputs(self, rule: str | None = None) -> list[str]:
        """The output fields' formatted text of each alert (of one rule), without Falco's
        time and priority prefix."""
        return [
            a["output"].split(" ", 2)[2] if a["output"].count(" ") >= 2 else a["output"]
            for a in self.alerts
            if rule is None or a.get("rule") == rule
        ]

    def fields(self, rule: str | None = None) -> list[dict[str, Any]]:
        """The ``output_fields`` of each alert (of one rule)."""
        return [a["output_fields"] for a in self.alerts if rule is None or a.get("rule") == rule]

    @property
    def error(self) -> str:
        """Falco's closing ``Error: ...`` message (e.g. a plugin's failed init), or ""."""
        return "\n".join(m for m in self.log if m.startswith("Error: "))

    def logged(self, text: str) -> bool:
        """Whether some log line of Falco (plugin logs included) contains ``text``."""
        return any(text in line for line in self.log)


def parse_alerts(stdout: str) -> list[dict[str, Any]]:
    """Falco's JSON alerts in its stdout (other lines, like the closing stats, are skipped)."""
    return [record for record in json_objects(stdout) if "rule" in record]


def parse_log(stderr: str) -> list[str]:
    """Falco's log messages without their time stamps; a message spanning several lines (as
    libscap's capture stats) stays one string, and Falco's closing ``Error: ...`` (printed
    without a stamp) is a message of its own."""
    messages: list[str] = []
    for line in stderr.splitlines():
        match = _LOG_STAMP.match(line)
        if match:
            messages.append(line[match.end() :])
        elif messages and not line.startswith("Error: "):
            messages[-1] += "\n" + line
        elif line.strip():
            messages.append(line)
    return messages


RulesArg = str | os.PathLike[str]


def _rules_files(rules: RulesArg | Sequence[RulesArg], tmp: Path) -> list[str]:
    """Paths for ``rules``: path-likes and strings naming a file are used as they are, other
    strings are YAML text written to a file."""
    items: Iterable[RulesArg] = [rules] if isinstance(rules, (str, os.PathLike)) else list(rules)
    files = []
    for number, item in enumerate(items):
        if isinstance(item, os.PathLike) or ("\n" not in item and Path(item).is_file()):
            files.append(str(Path(item).resolve()))
            continue
        path = tmp / f"rules{number}.yaml"
        path.write_text(item, encoding="utf-8")
        files.append(str(path))
    return files


def falco_config(
    plugins: Sequence[FalcoPlugin], rules_files: Sequence[str], root: Path
) -> dict[str, Any]:
    """The falco.yaml of a test run (JSON is YAML): only these plugins and rules, JSON alerts
    on stdout, every log line (plugin logs at debug severity included) on stderr."""
    entries = [p.config_entry(root) for p in plugins]
    return {
        "plugins": entries,
        "load_plugins": [e["name"] for e in entries],
        "rules_files": list(rules_files),
        "watch_config_files": False,
        "priority": "debug",
        "json_output": True,
        "json_include_output_property": True,
        "json_include_tags_property": True,
        "buffered_outputs": False,
        "stdout_output": {"enabled": True},
        "syslog_output": {"enabled": False},
        "webserver": {"enabled": False},
        "log_stderr": True,
        "log_syslog": False,
        "log_level": "debug",
        "libs_logger": {"enabled": True, "severity": "debug"},
    }


def source_args(plugins: Sequence[FalcoPlugin], root: Path, options: Sequence[str]) -> list[str]:
    """Falco options that pick the sources: the kernel's ``syscall`` source is never opened.

    A source plugin without an id *is* the syscall source (Falco's ``nodriver`` engine opens
    it); with plugin sources only, the syscall source is disabled; with no source at all (an
    async plugin alone), the syscall source runs with no driver: it produces no events but
    takes the async ones, and only ``-M SECS`` ends it. Options that choose sources or the
    engine themselves are left alone.
    """
    if any(o in ("--enable-source", "--disable-source") or "engine.kind" in o for o in options):
        return []
    sources = [plugin_info(p.library, root=root) for p in plugins]
    sources = [i for i in sources if "sourcing" in i.capabilities]
    if sources and all(i.id != 0 for i in sources):
        return ["--disable-source", "syscall"]
    return ["-o", "engine.kind=nodriver"]


def run_falco(
    plugins: Sequence[FalcoPlugin | str | os.PathLike[str]],
    rules: RulesArg | Sequence[RulesArg],
    *,
    options: Sequence[str] = (),
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
) -> FalcoRun:
    """Run the real Falco with only ``plugins`` and ``rules`` until its sources end.

    ``rules`` is YAML text, a path, or a list of them; ``options`` are extra Falco
    arguments (e.g. ``["-M", "2"]`` to stop an endless source after two seconds, ``["-o",
    "key=value"]`` to override the config). The kernel's ``syscall`` source is never opened
    (:func:`source_args`). Raises :class:`FalcoTimeout` (killing Falco) after ``timeout``
    seconds, and :class:`RealHostError` when no real host is configured.
    """
    root = prefix()
    if root is None:
        raise RealHostError(f"no real Falco: set {ENV}=PREFIX (a realhost install)")
    entries = [p if isinstance(p, FalcoPlugin) else FalcoPlugin(p) for p in plugins]
    with tempfile.TemporaryDirectory(prefix="falco-plugin-realhost-") as tmp:
        tmp_path = Path(tmp)
        config = falco_config(entries, _rules_files(rules, tmp_path), root)
        config_path = tmp_path / "falco.yaml"
        config_path.write_text(json.dumps(config, indent=1), encoding="utf-8")
        args = [str(tool(root, "bin/falco")), "-c", str(config_path)]
        args += [*source_args(entries, root, options), *options]
        log.debug("running %s", " ".join(args))
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            cwd=tmp,
            env=dict(env) if env is not None else None,
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            run = _falco_run(proc.returncode, stdout, stderr, config)
            raise FalcoTimeout(
                f"Falco did not end within {timeout}s (killed); last log lines:\n"
                + "\n".join(run.log[-10:]),
                run,
            ) from None
    return _falco_run(proc.returncode, stdout, stderr, config)


def _falco_run(returncode: int, stdout: str, stderr: str, config: dict[str, Any]) -> FalcoRun:
    return FalcoRun(
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        alerts=parse_alerts(stdout),
        log=parse_log(stderr),
        config=config,
    )
