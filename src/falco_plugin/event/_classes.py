"""The generated params classes, each made the first time it is asked for.

:mod:`._generated` names the schema's event types but defines no class: importing 454
classes cost about 50 M instructions (some 12 ms) at the start of
every plugin that decodes events, which meets a few of them. A class is made from its row of
the fact tables (:mod:`._generated_tables`) the first time it is asked for, by name (the
module's ``__getattr__``: ``from falco_plugin.event import SyscallOpenE``, pickle) or by
code (:data:`EVENT_CLASSES <EventClasses>`, ``event_class``, ``decode``). It is the class the
generator's stub (``_generated.pyi``) declares: the same name, module, docstring, slots and
annotations, an ``__init__`` with one keyword argument per parameter (default None), and
its facts and codecs. One lock makes the classes: two threads asking for the same class
first get the same object, and a made class is never made again.
"""

from __future__ import annotations

import _thread
import sys
from collections.abc import Sequence
from types import CodeType, FunctionType

from .._lean_typing import TYPE_CHECKING
from .spec import EventParams, ParamSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, overload

_LOCK = _thread.allocate_lock()

#: One ``__init__`` code object per parameter count, made once: ``self.p0 = p0`` and so on,
#: later given a class's parameter names (the bytecode is the one a written-out ``__init__``
#: compiles to, so it runs as fast).
_INIT_TEMPLATES: dict[int, CodeType] = {}


def _init_template(count: int) -> CodeType:
    code = _INIT_TEMPLATES.get(count)
    if code is None:
        args = "".join(f", p{i}=None" for i in range(count))
        body = "".join(f"    self.p{i} = p{i}\n" for i in range(count))
        scope: dict[str, Any] = {}
        exec(compile(f"def __init__(self{args}):\n{body}", "<event params>", "exec"), scope)
        code = _INIT_TEMPLATES[count] = scope["__init__"].__code__
    return code


def _init(cls_name: str, attrs: tuple[str, ...], annotations: dict[str, str],
          module: dict[str, Any]) -> Callable[..., None]:  # fmt: skip
    """The ``__init__`` of a params class with these slots, as the generator writes it in
    the stub: ``(self, a: T | None = None, ...) -> None`` setting every slot."""
    code = _init_template(len(attrs)).replace(co_varnames=("self", *attrs), co_names=attrs)
    if sys.version_info >= (3, 11):
        code = code.replace(co_qualname=f"{cls_name}.__init__")
    init = FunctionType(code, module, "__init__", (None,) * len(attrs))
    init.__qualname__ = f"{cls_name}.__init__"
    init.__annotations__ = {**annotations, "return": "None"}
    return init


def make_class(code: int, module: dict[str, Any]) -> type[EventParams]:
    """The params class of event type ``code``, made from its row of the fact tables (the
    caller holds the lock and keeps the class)."""
    from . import _generated_tables as tables
    from .params import codec

    cls_name = tables.CLASS_NAMES[code]
    _, event_id, name, direction, category, flags, large, params = tables.EVENT_TABLE[code]
    specs = tuple(ParamSpec(*p) for p in params)
    attrs = tuple(spec.attr for spec in specs)
    kinds = tables.PARAM_ANNOTATIONS
    annotations = {spec.attr: f"{kinds[spec.type]} | None" for spec in specs}
    codecs = tuple(
        codec(s.type, s.flags_table, s.dynamic_table, tables.FLAG_TABLES, tables.DYNAMIC_TABLES)
        for s in specs
    )
    namespace: dict[str, Any] = {
        "__module__": module["__name__"],
        "__qualname__": cls_name,
        "__doc__": f"{name} ({'enter' if direction == '>' else 'exit'}): {event_id}.",
        "__slots__": attrs,
        "__annotations__": annotations,
        "CODE": code,
        "ID": event_id,
        "NAME": name,
        "DIRECTION": direction,
        "CATEGORY": category,
        "FLAGS": flags,
        "LARGE": large,
        "PARAMS": specs,
        "_CODECS": codecs,
        "_RELPATHS": tuple(
            (i, s.dirfd_param) for i, s in enumerate(specs) if s.dirfd_param is not None
        ),
    }
    if attrs:
        namespace["__init__"] = _init(cls_name, attrs, annotations, module)
    return type(cls_name, (EventParams,), namespace)


class EventClasses(Sequence["type[EventParams]"]):
    """The params class of every event type, indexed by event code: a read-only sequence
    (``len``, indexes and slices, iteration, ``in``) whose classes are made on first use.

    ``made`` is the list behind it, None where a class was not asked for yet (a hot path
    reads ``made[code] or classes[code]``)."""

    __slots__ = ("made", "_module")

    def __init__(self, count: int, module: dict[str, Any]) -> None:
        self.made: list[type[EventParams] | None] = [None] * count
        self._module = module

    def __len__(self) -> int:
        return len(self.made)

    if TYPE_CHECKING:

        @overload
        def __getitem__(self, index: int) -> type[EventParams]: ...

        @overload
        def __getitem__(self, index: slice) -> tuple[type[EventParams], ...]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        cls = self.made[index]  # an IndexError or TypeError as a tuple would raise
        if cls is not None:
            return cls
        code = index.__index__() % len(self.made)
        with _LOCK:
            cls = self.made[code]
            if cls is None:
                cls = self.made[code] = make_class(code, self._module)
                self._module[cls.__name__] = cls
        return cls

    def __iter__(self) -> Iterator[type[EventParams]]:
        for code in range(len(self.made)):
            yield self[code]

    def __reversed__(self) -> Iterator[type[EventParams]]:
        for code in reversed(range(len(self.made))):
            yield self[code]

    def __contains__(self, value: object) -> bool:
        return value is not None and value in self.made

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """The code of a params class (ValueError when it is none of them)."""
        if value is None:
            raise ValueError("None is not an event params class")
        return self.made.index(value, start, len(self) if stop is None else stop)

    def count(self, value: Any) -> int:
        """1 for a params class of this schema, else 0."""
        return int(value in self)

    def __repr__(self) -> str:
        made = len(self) - self.made.count(None)
        return f"<{len(self)} event params classes, {made} made>"


def generated_module(
    module: dict[str, Any],
) -> tuple[EventClasses, Callable[[str], Any], Callable[[], list[str]]]:
    """``EVENT_CLASSES``, ``__getattr__`` and ``__dir__`` of the generated module whose
    globals are ``module`` (it defines ``EVENT_COUNT`` and ``TABLES``): a table name gives
    the table from ``_generated_tables``, a class name (one of ``CLASS_NAMES``, a table too)
    its class; both are kept in the module once asked for."""
    tables: tuple[str, ...] = module["TABLES"]
    classes = EventClasses(module["EVENT_COUNT"], module)
    codes: dict[str, int] = {}
    where = module["__name__"]

    def table(name: str) -> Any:
        from . import _generated_tables

        value = module[name] = getattr(_generated_tables, name)
        return value

    def __getattr__(name: str) -> Any:
        if name in tables:
            return table(name)
        if name[:1].isupper():  # a class name (no other name needs the tables)
            if not codes:
                codes.update({n: code for code, n in enumerate(table("CLASS_NAMES"))})
            code = codes.get(name)
            if code is not None:
                return classes[code]
        raise AttributeError(f"module {where!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*module, *tables, *table("CLASS_NAMES")})

    return classes, __getattr__, __dir__
