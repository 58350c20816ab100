"""The base plugin: metadata, configuration, metrics and logging shared by every capability.

A plugin is a subclass of :class:`Plugin` (usually through a capability class such as
:class:`falco_plugin.source.SourcePlugin`). Metadata are class attributes, the configuration
is whatever type the ``config`` parameter of ``__init__`` is annotated with.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from ._lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging
    from typing import ClassVar, NamedTuple
else:
    from ._lean_typing import NamedTuple


class PluginError(Exception):
    """Raised by a plugin to fail an API call with a clean message (no traceback kind prefix)."""


class MetricType(IntEnum):
    """Whether a metric only ever grows (a counter) or can go up and down (a gauge)."""

    MONOTONIC = 0
    NON_MONOTONIC = 1


class MetricValueType(IntEnum):
    """The value types of the plugin API's metric union."""

    U32 = 0
    S32 = 1
    U64 = 2
    S64 = 3
    DOUBLE = 4
    FLOAT = 5
    INT = 6


_INT_RANGES = {
    MetricValueType.U32: (0, 2**32 - 1),
    MetricValueType.S32: (-(2**31), 2**31 - 1),
    MetricValueType.U64: (0, 2**64 - 1),
    MetricValueType.S64: (-(2**63), 2**63 - 1),
    MetricValueType.INT: (-(2**31), 2**31 - 1),
}


class Metric(NamedTuple):
    """One metric reported to the host (Falco shows plugin metrics in its stats).

    ``value_type`` defaults to U64 for non-negative ints, S64 for negative ints and DOUBLE
    for floats.
    """

    name: str
    value: int | float
    type: MetricType = MetricType.MONOTONIC
    value_type: MetricValueType | None = None

    def resolved_value_type(self) -> MetricValueType:
        """The value type to report, inferred from the value when not given; checks range."""
        vt = self.value_type
        if vt is None:
            if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
                raise TypeError(f"metric {self.name!r}: value must be int or float")
            if isinstance(self.value, float):
                vt = MetricValueType.DOUBLE
            else:
                vt = MetricValueType.U64 if self.value >= 0 else MetricValueType.S64
        if vt in _INT_RANGES:
            if not isinstance(self.value, int):
                raise TypeError(f"metric {self.name!r}: {vt.name} needs an int value")
            lo, hi = _INT_RANGES[vt]
            if not lo <= self.value <= hi:
                raise ValueError(f"metric {self.name!r}: {self.value} out of range for {vt.name}")
        return vt


class Plugin:
    """Base class of every plugin.

    Subclasses set ``NAME``, ``VERSION`` (``x.y.z``), ``DESCRIPTION`` and ``CONTACT`` and
    take their configuration in ``__init__(self, config: T)``: ``T`` may be ``str`` (the raw
    init string) or a dataclass / pydantic model (parsed from JSON, with a JSON schema given
    to the host). Optional hooks: ``set_config(config)``, ``get_metrics()`` and ``destroy()``.
    """

    NAME: ClassVar[str] = ""
    VERSION: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    CONTACT: ClassVar[str] = ""

    def __init__(self, config: str = "") -> None:
        """Default constructor: a plugin without configuration accepts any init string."""

    @property
    def logger(self) -> logging.Logger:
        """This plugin's logger; its records go to the host's log (Falco's log) from init on,
        through this plugin state's own host logger (Falco may init a plugin more than once)."""
        # getattr, not self.__dict__: making an instance's __dict__ takes CPython's fast
        # attribute access away from every attribute of the plugin object
        own = getattr(self, "_falco_logger", None)  # the state's log route (see _runtime)
        if own is not None:
            return own.logger()
        import logging  # here: a plugin that never logs starts without it

        return logging.getLogger(plugin_logger_name(type(self)))

    def destroy(self) -> None:
        """Called once when the host destroys the plugin: stop threads, release resources."""

    # Optional hooks, looked up by the SDK only when a subclass defines them:
    #   def set_config(self, config: T) -> None
    #   def get_metrics(self) -> Iterable[Metric]


def plugin_logger_name(cls: type) -> str:
    """The logger name the SDK routes to the host for a plugin class: its module's name."""
    return cls.__module__


# "falco_plugin." or, in a plugin library's import space, "<space>.falco_plugin."
_SDK_MODULES = __name__.rpartition(".")[0] + "."


def defines(cls: type, name: str) -> bool:
    """True when ``cls`` (not only the SDK's base classes) defines the attribute ``name``."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return not klass.__module__.startswith(_SDK_MODULES)
    return False


def iter_metrics(plugin: Plugin) -> Iterable[Metric]:
    """The plugin's metrics, checked to be :class:`Metric` objects."""
    for m in plugin.get_metrics():  # type: ignore[attr-defined]
        if not isinstance(m, Metric):
            raise TypeError(f"get_metrics must yield Metric objects, got {type(m).__name__}")
        yield m
