"""The base of the generated params classes, and the specs that describe each parameter.

A params class holds the parameters of one event type in ``__slots__`` (attribute names are
the schema's, with a trailing ``_`` for Python keywords and for the class-attribute names
below). Its class attributes describe the type: ``CODE``, ``ID``, ``NAME``, ``DIRECTION``
(``'>'`` enter, ``'<'`` exit), ``CATEGORY``, ``FLAGS``, ``LARGE`` and ``PARAMS``. The classes
are made on first use (:mod:`._classes`).
"""

from __future__ import annotations

from .._lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, ClassVar, NamedTuple

    from .params import Codec
else:
    from .._lean_typing import NamedTuple


class ParamSpec(NamedTuple):
    """One parameter of an event type, as the schema describes it."""

    name: str
    attr: str
    type: str
    format: str
    flags_table: str | None = None
    dynamic_table: str | None = None
    dirfd_param: int | None = None


class EventParams:
    """The parameters of one event type; subclasses are made from the schema."""

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

    def __init__(self) -> None:
        """Event types without parameters keep this; the others have their own."""

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            """The parameters of ``event.params`` read as Any where its class is not known."""

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
