"""The base of the generated params classes, and the specs that describe each parameter.

A params class holds the parameters of one event type in ``__slots__`` (attribute names are
the schema's, with a trailing ``_`` for Python keywords and for the class-attribute names
below). Its class attributes describe the type: ``CODE``, ``ID``, ``NAME``, ``DIRECTION``
(``'>'`` enter, ``'<'`` exit), ``CATEGORY``, ``FLAGS``, ``LARGE`` and ``PARAMS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple, cast

from .params import Codec, DynTables, FlagTables, codec


class ParamSpec(NamedTuple):
    """One parameter of an event type, as the schema describes it."""

    name: str
    attr: str
    type: str
    format: str
    flags_table: str | None = None
    dynamic_table: str | None = None
    dirfd_param: int | None = None


_LAZY = frozenset(
    {"CODE", "ID", "NAME", "DIRECTION", "CATEGORY", "FLAGS", "LARGE", "PARAMS", "_CODECS"}
    | {"_RELPATHS"}
)
#: Classes whose facts are not set yet, with their table row and the schema's tables.
_PENDING: dict[type, tuple[tuple[Any, ...], FlagTables, DynTables]] = {}


class _LazyFacts(type):
    """Sets a generated class's facts on first use, so importing the 454 classes stays cheap."""

    def __getattr__(cls, name: str) -> Any:
        pending = _PENDING.get(cls) if name in _LAZY else None
        if pending is not None:
            _bind(cast("type[EventParams]", cls), *pending)
            _PENDING.pop(cls, None)
            return type.__getattribute__(cls, name)
        raise AttributeError(f"type object {cls.__name__!r} has no attribute {name!r}")


class EventParams(metaclass=_LazyFacts):
    """The parameters of one event type; subclasses are generated from the schema."""

    __slots__: tuple[str, ...] = ()
    CODE: ClassVar[int]
    ID: ClassVar[str]
    NAME: ClassVar[str]
    DIRECTION: ClassVar[str]
    CATEGORY: ClassVar[tuple[str, ...]]
    FLAGS: ClassVar[tuple[str, ...]]
    LARGE: ClassVar[bool]
    PARAMS: ClassVar[tuple[ParamSpec, ...]]
    _CODECS: ClassVar[tuple[Codec, ...]]
    _RELPATHS: ClassVar[tuple[tuple[int, int], ...]]

    def __getattr__(self, name: str) -> Any:
        """Class facts read through an instance before the class was first used."""
        if name in _LAZY:
            return getattr(type(self), name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __init__(self) -> None:
        """Event types without parameters keep this; the others have a generated one."""

    def as_tuple(self) -> tuple[Any, ...]:
        """The values in schema order."""
        return tuple(getattr(self, attr) for attr in self.__slots__)

    def as_dict(self) -> dict[str, Any]:
        """The values keyed by the schema's parameter names."""
        return {spec.name: getattr(self, spec.attr) for spec in self.PARAMS}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, EventParams)
        return self.as_tuple() == other.as_tuple()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        args = ", ".join(f"{a}={getattr(self, a)!r}" for a in self.__slots__)
        return f"{type(self).__name__}({args})"


def bind_classes(
    classes: Sequence[type[EventParams]],
    table: Sequence[tuple[Any, ...]],
    flag_tables: FlagTables,
    dynamic_tables: DynTables,
) -> None:
    """Register the generated classes: each gets its facts from its table row on first use."""
    for cls, row in zip(classes, table, strict=True):
        _PENDING[cls] = (row, flag_tables, dynamic_tables)


def _bind(
    cls: type[EventParams],
    row: tuple[Any, ...],
    flag_tables: FlagTables,
    dynamic_tables: DynTables,
) -> None:
    """Give one generated class its facts from its event-table row, and its codecs."""
    code, event_id, name, direction, category, flags, large, params = row
    specs = tuple(ParamSpec(*p) for p in params)
    cls._CODECS = tuple(
        codec(s.type, s.flags_table, s.dynamic_table, flag_tables, dynamic_tables) for s in specs
    )
    cls._RELPATHS = tuple(
        (i, s.dirfd_param) for i, s in enumerate(specs) if s.dirfd_param is not None
    )
    cls.PARAMS = specs
    cls.LARGE = large
    cls.FLAGS = flags
    cls.CATEGORY = category
    cls.DIRECTION = direction
    cls.NAME = name
    cls.ID = event_id
    cls.CODE = code
