"""The pieces of :mod:`typing` the SDK needs at a plugin's init, without importing typing.

Importing typing costs about 12 M instructions, a tenth of a plugin's start in Falco, and
a plugin that does not use typing itself does not need it: the SDK's modules define their
NamedTuples and Protocols through this module (the type checker sees typing's own, see
``TYPE_CHECKING`` below), and read the type hints of plugin code (the config type, the
fields' return types) with :func:`type_hints`, :func:`get_origin` and :func:`get_args`,
which answer as typing does. Hints that are classes, or names of classes, are read here;
anything else (generics, unions, typing's forms, expressions) goes to typing itself, so
typing is imported the first time such a hint is read.
"""

from __future__ import annotations

import builtins
import collections
import keyword
import sys
import types

#: False at run time; type checkers take any name TYPE_CHECKING as true
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any


def _typing() -> Any:
    import typing

    return typing


# ------------------------------------------------------------------ NamedTuple, Protocol

_PROHIBITED = frozenset(
    {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults",
     "_make", "_replace", "_asdict", "_source"}
)  # fmt: skip
_SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})


_namedtuple: Any = collections.namedtuple  # called with computed fields


class _NamedTupleMeta(type):
    """Makes ``class X(NamedTuple)`` a :func:`collections.namedtuple` with the class's
    annotated fields, defaults, docstring and methods, as typing.NamedTuple does (the
    annotations are kept as written: postponed ones stay text)."""

    def __new__(mcls, typename: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        if bases != (NamedTuple,):
            raise TypeError("can only inherit from a NamedTuple type")
        annotations = ns.get("__annotations__", {})
        defaults: list[str] = []
        for name in annotations:
            if name in ns:
                defaults.append(name)
            elif defaults:
                raise TypeError(
                    f"Non-default namedtuple field {name} cannot follow default field"
                    f"{'s' if len(defaults) > 1 else ''} {', '.join(defaults)}"
                )
        values = [ns[n] for n in defaults]
        made = _namedtuple(typename, list(annotations), defaults=values, module=ns["__module__"])
        made.__annotations__ = made.__new__.__annotations__ = {
            name: type(None) if hint is None else hint for name, hint in annotations.items()
        }
        for key, value in ns.items():
            if key in _PROHIBITED:
                raise AttributeError("Cannot overwrite NamedTuple attribute " + key)
            if key not in _SPECIAL and key not in made._fields:
                setattr(made, key, value)
        return made


#: ``class X(NamedTuple)`` runs the metaclass above (made without it: it is no tuple itself)
NamedTuple: Any = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})


class Protocol:
    """Base of the SDK's protocol classes at run time (for the type checker they subclass
    typing.Protocol): classes that only document what an object offers."""

    __slots__ = ()


# ------------------------------------------------------------------ type hints


def is_plain(tp: object) -> bool:
    """A class that is no generic alias nor one of typing's forms: typing's get_origin and
    get_args answer None and () for it."""
    # the class of the object itself: on Python 3.10 ``list[int]`` passes isinstance(tp,
    # type) (a generic alias answers __class__ for its origin)
    return issubclass(type(tp), type) and getattr(tp, "__module__", None) != "typing"


def get_origin(tp: object) -> Any:
    """typing.get_origin(tp)."""
    return None if is_plain(tp) else _typing().get_origin(tp)


def get_args(tp: object) -> tuple[Any, ...]:
    """typing.get_args(tp)."""
    return () if is_plain(tp) else _typing().get_args(tp)


def is_form(tp: object, name: str) -> bool:
    """Whether ``tp`` is typing's object ``name`` (``Any``, ``Literal``, ``Union``...);
    imports typing only for what is not a plain class."""
    return tp is not None and not is_plain(tp) and tp is getattr(_typing(), name)


def is_union(origin: object) -> bool:
    """Whether a get_origin answer is a union (``X | Y``, ``Optional[X]``, ``Union[X, Y]``)."""
    return origin is types.UnionType or is_form(origin, "Union")


def any_type() -> Any:
    """typing.Any."""
    return _typing().Any


_MISSING = object()


def type_hints(obj: Any) -> dict[str, Any]:
    """typing.get_type_hints(obj) for a function or a class."""
    fast = _plain_hints(obj)
    return fast if fast is not None else _typing().get_type_hints(obj)


def _plain_hints(obj: Any) -> dict[str, Any] | None:
    """The hints of ``obj`` when each one is None, a plain class or the name of one found
    where typing looks for it; else None (typing reads them)."""
    if isinstance(obj, type):
        hints: dict[str, Any] = {}
        for base in reversed(obj.__mro__):
            ann = base.__dict__.get("__annotations__", {})
            if not isinstance(ann, dict):
                return None
            # typing evaluates a class's text hints with its module's names first, then
            # the class's own, then the builtins
            module = getattr(sys.modules.get(base.__module__), "__dict__", {})
            for name, hint in ann.items():
                value = _plain_hint(hint, module, base.__dict__, vars(builtins))
                if value is _MISSING:
                    return None
                hints[name] = value
        return hints
    if not isinstance(obj, types.FunctionType):
        return None
    ann = getattr(obj, "__annotations__", None)
    if not isinstance(ann, dict):
        return None
    inner = obj
    while hasattr(inner, "__wrapped__"):
        inner = inner.__wrapped__
    module = getattr(inner, "__globals__", {})
    # typing evaluates a function's text hints in its module: its names, then the
    # builtins that module runs with (an import space gives its modules their own)
    found = module.get("__builtins__", builtins)
    names = found if isinstance(found, dict) else vars(found)
    out = {}
    for name, hint in ann.items():
        value = _plain_hint(hint, module, None, names)
        if value is _MISSING:
            return None
        out[name] = value
    return out


def _plain_hint(hint: Any, module: dict[str, Any], owner: Any, names: dict[str, Any]) -> Any:
    if hint is None or hint == "None":
        return type(None)
    if isinstance(hint, str):
        if not hint.isidentifier() or keyword.iskeyword(hint):
            return _MISSING
        value = module.get(hint, _MISSING)
        if value is _MISSING and owner is not None:
            value = owner.get(hint, _MISSING)
        if value is _MISSING:
            value = names.get(hint, _MISSING)
        hint = value
    return hint if is_plain(hint) else _MISSING
