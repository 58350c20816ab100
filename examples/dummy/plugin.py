"""dummy: a port of the official ``dummy`` plugin (falcosecurity/plugins, ``plugins/dummy``).

The same name, plugin id (3), event source, init config (with the same JSON schema), open
params, fields and events as the Go plugin, so its rules file (``dummy_rules.yaml``) works
unchanged and Falco prints the same alerts.

Each event carries a sample value as decimal text. The sample starts at ``start`` (open
params) and grows by 1 plus a random jitter in ``[0, jitter]`` (init config) per event;
after ``maxEvents`` events the capture ends.
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import ClassVar

from falco_plugin import (
    Eof,
    ExtractEvent,
    ExtractPlugin,
    PluginError,
    PluginEvent,
    PullInstance,
    SourcePlugin,
    field,
)

U64_MASK = 2**64 - 1  # the Go plugin's sample is a uint64: it wraps around


@dataclasses.dataclass
class DummyConfig:
    """The init config: how much randomness to add to every sample."""

    ALLOW_UNKNOWN_KEYS: ClassVar[bool] = True  # the Go plugin ignores unknown keys too

    jitter: int = dataclasses.field(
        default=10,
        metadata={
            "title": "Sample jitter",
            "description": "A random amount added to the sample of each event (Default: 10)",
        },
    )

    def __post_init__(self) -> None:
        if self.jitter < 0:
            raise ValueError(f"jitter cannot be negative, got {self.jitter}")


@dataclasses.dataclass
class OpenParams:
    """The open params: where the samples start and how many events to make."""

    start: int = 1
    max_events: int = 20

    @classmethod
    def parse(cls, text: str) -> OpenParams:
        """Parse ``{"start": N, "maxEvents": M}``; the empty string means the defaults."""
        if not text.strip():
            return cls()
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PluginError(f"wrong open params format: {exc}") from None
        if not isinstance(data, dict):
            raise PluginError("wrong open params format: expected a JSON object")
        values = {"start": data.get("start", 1), "maxEvents": data.get("maxEvents", 20)}
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PluginError(
                    f"wrong open params format: {key} must be a non-negative integer, got {value!r}"
                )
        return cls(values["start"], values["maxEvents"])


class Samples:
    """The event stream of one capture: ``next()`` gives the next payload or raises Eof."""

    def __init__(self, params: OpenParams, jitter: int, rng: random.Random) -> None:
        self.sample = params.start
        self.left = params.max_events
        self.jitter = jitter
        self.rng = rng

    def next(self) -> bytes:
        if self.left == 0:
            raise Eof
        self.left -= 1
        step = 1 + (self.rng.randint(0, self.jitter) if self.jitter else 0)
        self.sample = (self.sample + step) & U64_MASK
        return str(self.sample).encode()


class Dummy(SourcePlugin, ExtractPlugin):
    NAME = "dummy"
    VERSION = "0.11.5"  # the version of the Go plugin whose behaviour this port matches
    DESCRIPTION = "Reference plugin for educational purposes"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"
    PLUGIN_ID = 3
    EVENT_SOURCE = "dummy"

    def __init__(self, config: DummyConfig) -> None:
        self.config = config
        self.rng = random.Random()

    def open(self, params: str) -> PullInstance:
        samples = Samples(OpenParams.parse(params), self.config.jitter, self.rng)
        return PullInstance(samples.next)

    def event_to_string(self, event: PluginEvent) -> str:
        sample = event.payload.decode(errors="replace")
        return f'{{"sample": "{sample}"}}'

    def make_context(self, event: ExtractEvent) -> int:
        try:
            return int(event.payload)
        except ValueError:
            raise PluginError(f"not a dummy event: {event.payload[:40]!r}") from None

    @field("dummy.divisible")
    def divisible(self, event: ExtractEvent, divisor: int) -> int:
        """Return 1 if the value is divisible by the provided divisor, 0 otherwise"""
        if divisor == 0:
            raise PluginError("dummy.divisible[0]: cannot divide by zero")
        return 1 if event.context % divisor == 0 else 0

    @field("dummy.value")
    def value(self, event: ExtractEvent) -> int:
        """The sample value in the event"""
        return event.context  # type: ignore[no-any-return]

    @field("dummy.strvalue")
    def strvalue(self, event: ExtractEvent) -> str:
        """The sample value in the event, as a string"""
        return event.payload.decode()
