"""falco-plugin: write Falco plugins in Python.

A plugin is a Python class; ``falco-plugin build plugin.py`` turns it into
``lib<NAME>.so``, which Falco loads like a plugin written in C++, Go or Rust.
"""

from .async_event import AsyncEmitter, AsyncEventError, AsyncPlugin, BackgroundTask
from .base import Metric, MetricType, MetricValueType, Plugin, PluginError
from .config import ConfigError
from .events import TS_NOW, PluginEvent, encode_plugin_event
from .extract import ExtractEvent, ExtractPlugin, Located, field, in_payload
from .listen import CaptureListen, ListenPlugin
from .parse import ParsePlugin
from .source import (
    Eof,
    EventBatch,
    OpenParam,
    Progress,
    SourceInstance,
    SourcePlugin,
    Timeout,
)
from .source_helpers import PullInstance, PushInstance

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
