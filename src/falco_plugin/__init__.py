"""falco-plugin: write Falco plugins in Python.

A plugin is a Python class; ``falco-plugin build plugin.py`` turns it into
``lib<NAME>.so``, which Falco loads like a plugin written in C++, Go or Rust.
"""

from __future__ import annotations

from ._lean_typing import TYPE_CHECKING
from .base import Metric, MetricType, MetricValueType, Plugin, PluginError
from .config import ConfigError
from .event.framing import TS_NOW, PluginEvent, encode_plugin_event
from .source import (
    Eof,
    EventBatch,
    OpenParam,
    Progress,
    SourceInstance,
    SourcePlugin,
    Timeout,
)

if TYPE_CHECKING:
    from typing import Any

    from .async_event import AsyncEmitter, AsyncEventError, AsyncPlugin, BackgroundTask
    from .extract import ExtractEvent, ExtractPlugin, Located, field, in_payload
    from .listen import CaptureListen, ListenPlugin
    from .parse import ParsePlugin
    from .source_helpers import PullInstance, PushInstance

# The other capabilities load on first use: a plugin starts faster without the modules it
# does not need (each import counts in Falco's plugin start).
_LAZY = {
    "AsyncEmitter": "async_event",
    "AsyncEventError": "async_event",
    "AsyncPlugin": "async_event",
    "BackgroundTask": "async_event",
    "ExtractEvent": "extract",
    "ExtractPlugin": "extract",
    "Located": "extract",
    "field": "extract",
    "in_payload": "extract",
    "CaptureListen": "listen",
    "ListenPlugin": "listen",
    "ParsePlugin": "parse",
    "PullInstance": "source_helpers",
    "PushInstance": "source_helpers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'falco_plugin' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "AsyncEmitter",
    "AsyncEventError",
    "AsyncPlugin",
    "BackgroundTask",
    "CaptureListen",
    "ListenPlugin",
    "ConfigError",
    "Eof",
    "EventBatch",
    "ExtractEvent",
    "ExtractPlugin",
    "Located",
    "Metric",
    "MetricType",
    "MetricValueType",
    "OpenParam",
    "ParsePlugin",
    "Plugin",
    "PluginError",
    "PluginEvent",
    "Progress",
    "PullInstance",
    "PushInstance",
    "SourceInstance",
    "SourcePlugin",
    "TS_NOW",
    "Timeout",
    "encode_plugin_event",
    "field",
    "in_payload",
]
