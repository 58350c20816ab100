"""A source whose one event reports, as JSON, what it saw of the ``inspect`` module, which
the shim defers (``_space.defer_imports``): the config is a documented dataclass, so
``dataclasses`` imported ``inspect`` at init without running it.

``how`` says what open() does first: ``threads`` (several threads call
``inspect.signature`` at once on the module not yet run), ``undocumented`` (makes a
dataclass without a docstring, which dataclasses documents with ``inspect.signature``) or
``import`` (an ``import inspect`` of its own).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import types

from falco_plugin import Eof, SourceInstance, SourcePlugin


@dataclasses.dataclass
class Config:
    """What open() does with inspect first."""

    how: str = "threads"
    threads: int = 4


def sample(a: int, b: str = "x", *rest: int, key: bool = False) -> None:
    """The function whose signature the threads ask for."""


#: modules a plugin's init does not import (ast: not before inspect runs)
NOT_AT_INIT = ("ast", "contextlib", "importlib.util", "typing", "logging", "signal", "struct")


def report(how: str, threads: int) -> dict[str, object]:
    module = sys.modules.get("inspect")
    seen: dict[str, object] = {
        "deferred_at_open": type(module) is not types.ModuleType,
        "at_open": [name for name in NOT_AT_INIT if name in sys.modules],
    }
    if how == "threads":
        barrier = threading.Barrier(threads)
        answers: list[str] = []

        def ask() -> None:
            barrier.wait()
            answers.append(str(module.signature(sample)))  # type: ignore[union-attr]

        workers = [threading.Thread(target=ask) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        seen["answers"] = answers
    elif how == "undocumented":

        @dataclasses.dataclass
        class Point:
            x: int
            y: int = 0

        seen["doc"] = Point.__doc__
    else:
        import inspect

        seen["same_object"] = inspect is module and inspect is dataclasses.inspect
        seen["signature"] = str(inspect.signature(sample))
    real = sys.modules["inspect"]
    seen["plain_module"] = type(real) is types.ModuleType
    seen["loader"] = type(real.__loader__).__name__
    seen["spec_loader"] = type(real.__spec__.loader).__name__
    seen["names"] = sorted(vars(real))
    return seen


class Instance(SourceInstance):
    def __init__(self, text: str) -> None:
        self.text: str | None = text

    def next_batch(self, batch) -> None:
        if self.text is None:
            raise Eof
        batch.add(self.text)
        self.text = None


class DeferredInspect(SourcePlugin):
    NAME = "deferred_inspect"
    VERSION = "1.0.0"
    DESCRIPTION = "Reports what it sees of the deferred inspect module"
    CONTACT = "tests"
    PLUGIN_ID = 424346
    EVENT_SOURCE = "deferred_inspect"

    def __init__(self, config: Config) -> None:
        self.config = config

    def open(self, params: str) -> Instance:
        return Instance(json.dumps(report(self.config.how, self.config.threads)))
