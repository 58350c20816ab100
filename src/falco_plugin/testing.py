"""Testing plugins through the real ABI: build the ``.so``, run it in the SDK's C host.

Use the pytest fixtures (``pytest_plugins = ["falco_plugin.testing"]`` in a conftest) or
the functions directly::

    def test_countdown(falco_capture):
        cap = falco_capture("plugin.py", open_params="3")
        assert cap.texts == ["2 events remaining", "1 events remaining", "0 events remaining"]
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .build import build_cached
from .host import host_binary, run_host
from .realhost import require as require_realhost


@dataclass
class Capture:
    """What one run of the C host printed, parsed."""

    returncode: int
    events: list[dict[str, Any]] = field(default_factory=list)
    async_events: list[dict[str, Any]] = field(default_factory=list)  # incl. dump_state ones
    summaries: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    progress: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

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

    @property
    def error_message(self) -> str:
        """All error messages, joined (empty when the run succeeded)."""
        return "\n".join(str(e.get("message")) for e in self.errors)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.errors


def parse_capture(returncode: int, stdout: str, stderr: str) -> Capture:
    """Sort the host's JSON lines into a :class:`Capture`."""
    cap = Capture(returncode, stdout=stdout, stderr=stderr)
    for line in stdout.splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
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
    fields: list[str] | None = None,
    filter: str | None = None,
    output: str | None = None,
    options: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Capture:
    """Run the C host on one library (with config/open params) or several ``plugin_args``;
    ``fields`` / ``filter`` / ``output`` extract fields like Falco rules and outputs do."""
    if isinstance(plugins, (str, os.PathLike)):
        plugins = [plugin_args(plugins, config, open_params)]
    args = ["run", "--json", *(options or [])]
    if fields:
        args += ["--fields", ",".join(fields)]
    if filter is not None:
        args += ["--filter", filter]
    if output is not None:
        args += ["--output", output]
    for p in plugins:
        args += p
    proc = run_host(args, timeout=timeout, env=dict(env) if env is not None else None)
    return parse_capture(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def falco_host() -> Path:
    """The compiled SDK host (built once per cache)."""
    return host_binary()


@pytest.fixture(scope="session")
def falco_realhost() -> Path:
    """The real Falco/libsinsp install named by ``$FALCO_PLUGIN_REALHOST`` (skips the test
    with one line when it is unset); run Falco with :func:`falco_plugin.realhost.run_falco`."""
    return require_realhost()


@pytest.fixture(scope="session")
def falco_build() -> Callable[[str], Path]:
    """Build a plugin (``file.py[:Class]`` or ``module:Class``) into a cached ``.so``."""
    return lambda target: build_cached(str(target))


@pytest.fixture
def falco_capture(falco_build: Callable[[str], Path]) -> Iterator[Callable[..., Capture]]:
    """Build a plugin if needed and run a capture: ``falco_capture(target, config=...)``."""

    def run(target: str | os.PathLike[str], **kwargs: Any) -> Capture:
        library = Path(target) if str(target).endswith(".so") else falco_build(str(target))
        return run_capture(library, **kwargs)

    yield run
