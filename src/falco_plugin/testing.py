"""Testing plugins through the real ABI: build the ``.so``, run it in a host.

Two hosts run a capture the same way and report it as the same :class:`Capture`: the SDK's
C host (``host="sdk"``, the default: fast, checks every handle) and the real libsinsp
(``host="sinsp"``, through :mod:`falco_plugin.sinsp`; needs ``$FALCO_PLUGIN_REALHOST``).
Where they disagree, libsinsp is right. The pytest fixtures are registered by an entry point
(``pytest11``) when falco-plugin is installed: use them in any test, or the functions
directly::

    def test_countdown(falco_capture, any_host):        # runs once per host
        cap = falco_capture("plugin.py", open_params="3", host=any_host)
        assert cap.texts == ["2 events remaining", "1 events remaining", "0 events remaining"]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from ._jsonlines import json_objects
from .build import build_cached
from .host import host_binary, run_host
from .realhost import require as require_realhost
from .sinsp import run_driver

HostName = Literal["sdk", "sinsp"]
HOSTS: tuple[HostName, ...] = ("sdk", "sinsp")

# a plugin log line: "[component] SEV: msg" (SDK host) or "SEV: component: msg" (libsinsp)
_SDK_LOG = re.compile(r"^\[([^\]]*)\] ([A-Z]+): (.*)$")
_SINSP_LOG = re.compile(r"^(FATAL|CRITICAL|ERROR|WARNING|NOTICE|INFO|DEBUG|TRACE): (.*)$")


@dataclass
class Capture:
    """What one run of a host printed, parsed."""

    returncode: int
    host: HostName = "sdk"
    events: list[dict[str, Any]] = field(default_factory=list)
    async_events: list[dict[str, Any]] = field(default_factory=list)  # incl. dump_state ones
    summaries: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    progress: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    plugin_stdout: str = ""  # what the plugins printed to stdout (SDK host: kept apart)

    @property
    def payloads(self) -> list[bytes]:
        """The payload of every plugin event, in order."""
        return [bytes.fromhex(e["payload_hex"]) for e in self.events]

    @property
    def texts(self) -> list[str]:
        """The payloads decoded as UTF-8."""
        return [p.decode() for p in self.payloads]

    @property
    def infos(self) -> list[str | None]:
        """What event_to_string returned per event (%evt.plugininfo)."""
        return [e.get("info") for e in self.events]

    def async_data(self, name: str | None = None, *, dump: bool = False) -> list[bytes]:
        """The data of the async events (of one name), or of the dump_state ones."""
        return [
            bytes.fromhex(e["data_hex"])
            for e in self.async_events
            if bool(e.get("dump")) == dump and (name is None or e["name"] == name)
        ]

    @property
    def fields(self) -> list[dict[str, Any]]:
        """Per event, the requested field values (None when absent)."""
        return [e.get("fields", {}) for e in self.events]

    def field_values(self, name: str) -> list[Any]:
        """The values of one requested field, event by event."""
        return [f.get(name) for f in self.fields]

    def metric_values(self, plugin: str | None = None) -> dict[str, Any]:
        """The last metrics reported (by one plugin) as ``{name: value}``."""
        values: dict[str, Any] = {}
        for m in self.metrics:
            if plugin is None or m.get("plugin") == plugin:
                values.update({item["name"]: item["value"] for item in m["items"]})
        return values

    @property
    def logs(self) -> list[tuple[str, str]]:
        """Log messages as ``(severity, "component: message")``, from either host."""
        out = []
        for line in self.stderr.splitlines():
            sdk = _SDK_LOG.match(line)
            if sdk:
                out.append((sdk[2], f"{sdk[1]}: {sdk[3]}"))
                continue
            sinsp = _SINSP_LOG.match(line) if self.host == "sinsp" else None
            if sinsp:
                out.append((sinsp[1], sinsp[2]))
        return out

    @property
    def error_message(self) -> str:
        """All error messages, joined (empty when the run succeeded)."""
        return "\n".join(str(e.get("message")) for e in self.errors)

    @property
    def ok(self) -> bool:
        """The run succeeded: exit status 0 and no error reported."""
        return self.returncode == 0 and not self.errors


def parse_capture(returncode: int, stdout: str, stderr: str, host: HostName = "sdk") -> Capture:
    """Sort the host's JSON lines into a :class:`Capture` (other lines, e.g. a plugin's own
    prints, are skipped)."""
    cap = Capture(returncode, host=host, stdout=stdout, stderr=stderr)
    for record in json_objects(stdout):
        if record.get("async"):
            cap.async_events.append(record)
        elif "evtnum" in record:
            cap.events.append(record)
        elif "summary" in record:
            cap.summaries.append(record["summary"])
        elif "error" in record:
            cap.errors.append(record["error"])
        elif "progress" in record:
            cap.progress.append(record["progress"])
        elif "metrics" in record:
            cap.metrics.append(record["metrics"])
        elif "table" in record:
            cap.tables[record["table"]["name"]] = record["table"]
    return cap


def plugin_args(
    library: str | os.PathLike[str],
    config: str | None = None,
    open_params: str | None = None,
    set_config: str | None = None,
) -> list[str]:
    """The host arguments for one plugin of a run."""
    args = [str(library)]
    if config is not None:
        args += ["--config", config]
    if open_params is not None:
        args += ["--open-params", open_params]
    if set_config is not None:
        args += ["--set-config", set_config]
    return args


def run_capture(
    plugins: list[list[str]] | str | os.PathLike[str],
    *,
    config: str | None = None,
    open_params: str | None = None,
    fields: Sequence[str] | None = None,
    filter: str | None = None,
    output: str | None = None,
    offsets: bool = False,
    dump_tables: Sequence[str] = (),
    max_events: int | None = None,
    host: HostName = "sdk",
    options: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    capture: str | os.PathLike[str] | None = None,
) -> Capture:
    """Run one library (with config/open params) or several ``plugin_args`` in a host.

    ``capture`` replays a scap capture file instead of opening a plugin source: the plugins
    parse and extract its events with the threads table libsinsp builds from it, and the
    syscall fields (``proc.name``, ``fd.name``...) can be extracted and filtered on.

    ``fields`` / ``filter`` / ``output`` extract fields like Falco rules and outputs do,
    ``offsets`` asks for where values lie, ``dump_tables`` prints tables after the capture.
    ``host`` is ``"sdk"`` (the SDK's C host) or ``"sinsp"`` (the real libsinsp driver);
    ``options`` are that host's own extra options (``falco_plugin.host`` /
    ``falco_plugin.sinsp`` document them).
    """
    if isinstance(plugins, (str, os.PathLike)):
        plugins = [plugin_args(plugins, config, open_params)]
    if host == "sdk":
        args = ["run", "--json", *(options or [])]
        if fields:
            args += ["--fields", ",".join(fields)]
        if offsets:
            args.append("--offsets")
        if max_events is not None:
            args += ["--max-events", str(max_events)]
        args += [a for name in dump_tables for a in ("--dump-table", name)]
    elif host == "sinsp":
        args = list(options or [])
        args += [a for name in fields or () for a in ("--field", name)]
        if offsets:
            args.append("--offsets")
        if max_events is not None:
            args += ["--max-events", str(max_events)]
        args += [a for name in dump_tables for a in ("--dump-table", name)]
    else:
        raise ValueError(f"host must be one of {HOSTS}, not {host!r}")
    if capture is not None:
        args += ["--capture", str(capture)]
    if filter is not None:
        args += ["--filter", filter]
    if output is not None:
        args += ["--output", output]
    for p in plugins:
        args += p
    run_env = dict(env) if env is not None else None
    proc: subprocess.CompletedProcess[str]
    if host == "sdk":
        proc = run_host(args, timeout=timeout, env=run_env)
    else:
        proc = run_driver(args, timeout=timeout, env=run_env, root=require_realhost())
    cap = parse_capture(proc.returncode, proc.stdout, proc.stderr, host)
    cap.plugin_stdout = getattr(proc, "plugin_stdout", "")
    return cap


@pytest.fixture(scope="session")
def falco_host() -> Path:
    """The compiled SDK host (built once per cache)."""
    return host_binary()


@pytest.fixture(params=HOSTS)
def any_host(request: pytest.FixtureRequest) -> HostName:
    """Each host in turn: ``"sdk"``, then ``"sinsp"`` (the real libsinsp, which skips with
    one line when ``$FALCO_PLUGIN_REALHOST`` is unset)."""
    if request.param == "sinsp":
        require_realhost()
    return request.param


@pytest.fixture(scope="session")
def falco_realhost() -> Path:
    """The real Falco/libsinsp install named by ``$FALCO_PLUGIN_REALHOST`` (skips the test
    with one line when it is unset); run Falco with :func:`falco_plugin.realhost.run_falco`."""
    return require_realhost()


@pytest.fixture(scope="session")
def falco_build() -> Callable[[str], Path]:
    """Build a plugin (``file.py[:Class]`` or ``module:Class``) into a cached ``.so``."""
    return lambda target: build_cached(str(target))


@dataclass(frozen=True)
class PluginSpec:
    """One plugin of a capture: a plugin to build (``file.py[:Class]``, ``module:Class``)
    or a built ``.so``, with its init config (text, or a mapping sent as JSON), open params
    and an optional ``set_config`` call after init."""

    target: str | os.PathLike[str]
    config: str | Mapping[str, Any] | None = None
    open_params: str | None = None
    set_config: str | None = None

    def library(self, build: Callable[[str], Path]) -> Path:
        """The ``.so`` to load: the target itself, or its (cached) build."""
        return Path(self.target) if str(self.target).endswith(".so") else build(str(self.target))

    def host_args(self, build: Callable[[str], Path]) -> list[str]:
        """The SDK host's arguments for this plugin."""
        config = (
            self.config
            if self.config is None or isinstance(self.config, str)
            else (json.dumps(dict(self.config)))
        )
        return plugin_args(self.library(build), config, self.open_params, self.set_config)


@pytest.fixture
def falco_capture(falco_build: Callable[[str], Path]) -> Iterator[Callable[..., Capture]]:
    """Build plugins if needed and run one capture in a host (the SDK's C host by default).

    ``falco_capture(target, *, config=None, open_params=None, extractors=(), fields=None,
    filter=None, output=None, offsets=False, dump_tables=(), max_events=None, host="sdk",
    options=None, env=None, timeout=120) -> Capture``

    - ``target``: the source plugin (``plugin.py``, ``plugin.py:Class``, ``module:Class``,
      a built ``.so``, or a :class:`PluginSpec`); ``config`` (text, or a mapping sent as
      JSON) and ``open_params`` go to it.
    - ``extractors``: more plugins loaded in the same capture (targets or
      :class:`PluginSpec`), e.g. an extract-only plugin reading the source's events.
    - ``fields``: field names whose values each event of :attr:`Capture.fields` carries;
      ``filter`` keeps only the events matching a condition; ``output`` formats each event
      like a rule's output; ``host="sinsp"`` runs the capture in the real libsinsp
      instead; the other keywords are those of :func:`run_capture`.

    The returned :class:`Capture` has the events (``payloads``, ``texts``, ``infos``,
    ``fields``), errors, progress, metrics and summaries the host reported.
    """

    def run(
        target: str | os.PathLike[str] | PluginSpec,
        *,
        config: str | Mapping[str, Any] | None = None,
        open_params: str | None = None,
        extractors: Sequence[str | os.PathLike[str] | PluginSpec] = (),
        **kwargs: Any,
    ) -> Capture:
        source = (
            target if isinstance(target, PluginSpec) else PluginSpec(target, config, open_params)
        )
        others = [e if isinstance(e, PluginSpec) else PluginSpec(e) for e in extractors]
        return run_capture([p.host_args(falco_build) for p in (source, *others)], **kwargs)

    yield run
