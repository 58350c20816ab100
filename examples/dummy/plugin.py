"""dummy: a port of the official ``dummy`` plugin (falcosecurity/plugins, ``plugins/dummy``).

The same name, plugin id (3), event source, init config (with the same JSON schema), open
params, fields and events as the Go plugin, so its rules file (``dummy_rules.yaml``) works
unchanged and Falco prints the same alerts.

Each event carries a sample value as decimal text. The sample starts at ``start`` (open
params) and grows by 1 plus a random jitter in ``[0, jitter]`` (init config) per event;
after ``maxEvents`` events the capture ends. A batch is one call of
``batch.add_formatted``, the SDK's fast path for text payloads, with the samples of the
batch as one list: no Python code per event but the random draw.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterable
from itertools import accumulate, repeat
from typing import ClassVar

from falco_plugin import (
    Eof,
    ExtractEvent,
    ExtractPlugin,
    PluginError,
    PluginEvent,
    SourceInstance,
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


class Steps:
    """Random steps of 1 plus a jitter in ``[0, jitter]``, each value equally likely.

    Drawn many at a time: random bytes that ``bytes.translate`` maps to steps in C, dropping
    the bytes from the largest multiple of ``jitter + 1`` up to 255 (so that no step is more
    likely than another); ``random.choices`` for a jitter above 254 (a step of 256 is not a
    byte).
    """

    def __init__(self, jitter: int, rng: random.Random) -> None:
        self.jitter = jitter
        self.rng = rng
        self.table = self.dropped = b""
        if 0 < jitter < 255:
            size = jitter + 1
            kept = 256 - 256 % size
            self.table = bytes(1 + b % size if b < kept else 0 for b in range(256))
            self.dropped = bytes(range(kept, 256))

    def draw(self, n: int) -> Iterable[int]:
        """``n`` steps."""
        if self.jitter == 0:
            return repeat(1, n)
        if not self.table:
            return self.rng.choices(range(1, self.jitter + 2), k=n)
        steps = b""
        while len(steps) < n:
            steps += self.rng.randbytes(n).translate(self.table, self.dropped)
        return steps[:n]


class Samples:
    """The event stream of one capture: ``take(n)`` gives the next samples."""

    def __init__(self, params: OpenParams, jitter: int, rng: random.Random) -> None:
        self.sample = params.start
        self.left = params.max_events
        self.steps = Steps(jitter, rng)

    def take(self, n: int) -> list[int]:
        """The next samples, at most ``n`` (none once the stream is over)."""
        n = min(n, self.left)
        self.left -= n
        samples = list(accumulate(self.steps.draw(n), initial=self.sample))
        del samples[0]  # the sample before these
        if samples and samples[-1] > U64_MASK:
            samples = [sample & U64_MASK for sample in samples]
        if samples:
            self.sample = samples[-1]
        return samples


class DummyInstance(SourceInstance):
    """One capture: batches of up to 128 events, then the end of the stream."""

    def __init__(self, samples: Samples) -> None:
        self.samples = samples

    def next_batch(self, batch) -> None:
        samples = self.samples.take(128)
        # one event per sample, its payload the sample as decimal text (made by the SDK in
        # C); dummy.value is supplied with it (answered without calling its method)
        batch.add_formatted("{}", samples, fields={"dummy.value": samples})
        if self.samples.left == 0:
            raise Eof  # the events added above are still delivered


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

    def open(self, params: str) -> DummyInstance:
        samples = Samples(OpenParams.parse(params), self.config.jitter, self.rng)
        return DummyInstance(samples)

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
