"""The field extraction capability: fields that Falco rules and outputs can use.

Fields are methods marked with :func:`field`; the return annotation gives the field type
and the optional second parameter its argument::

    class MyPlugin(SourcePlugin, ExtractPlugin):
        @field("my.count")
        def count(self, event: ExtractEvent) -> int:
            "How many things the event holds."
            return len(event.payload)

        @field("my.item")
        def item(self, event: ExtractEvent, index: int) -> str | None:   # my.item[3]
            ...

``None`` (or an empty list for list fields) means "no value". Values computed once per
event (e.g. decoded JSON) go in ``make_context``; fields read them as ``event.context``.
"""

from __future__ import annotations

from collections.abc import Callable

from ._lean_typing import TYPE_CHECKING, get_args, get_origin, is_union, type_hints
from ._names import FIELD_NAME_PATTERN, field_name_ok
from .base import Plugin
from .event.framing import PAYLOAD_OFFSET

if TYPE_CHECKING:
    from typing import Any, ClassVar, NamedTuple, Protocol
else:
    from ._lean_typing import NamedTuple, Protocol

# field type codes of the API (ss_plugin_field_type) and their names in get_fields
FTYPE_UINT64, FTYPE_STRING, FTYPE_RELTIME, FTYPE_ABSTIME = 8, 9, 20, 21
FTYPE_BOOL, FTYPE_IPADDR, FTYPE_IPNET = 25, 40, 41
FTYPE_NAMES = {
    FTYPE_UINT64: "uint64",
    FTYPE_STRING: "string",
    FTYPE_RELTIME: "reltime",
    FTYPE_ABSTIME: "abstime",
    FTYPE_BOOL: "bool",
    FTYPE_IPADDR: "ipaddr",
    FTYPE_IPNET: "ipnet",
}
ARG_NONE, ARG_INDEX, ARG_KEY = 0, 1, 2

_BASIC_TYPES: dict[Any, int] = {int: FTYPE_UINT64, str: FTYPE_STRING, bool: FTYPE_BOOL}
_LIBRARY_MODULES = ("datetime", "ipaddress")
_LIBRARY_TYPES: dict[Any, int] = {}


def _library_types() -> dict[Any, int]:
    """The time and address types a field may return. Their modules are imported when a
    field's annotation names one of them: a plugin without such fields starts without."""
    if not _LIBRARY_TYPES:
        import datetime as dt
        import ipaddress

        _LIBRARY_TYPES.update(
            {
                dt.timedelta: FTYPE_RELTIME,
                dt.datetime: FTYPE_ABSTIME,
                ipaddress.IPv4Address: FTYPE_IPADDR,
                ipaddress.IPv6Address: FTYPE_IPADDR,
                ipaddress.IPv4Network: FTYPE_IPNET,
                ipaddress.IPv6Network: FTYPE_IPNET,
            }
        )
    return _LIBRARY_TYPES


def _scalar_code(tp: Any) -> int | None:
    """The field type code of a scalar annotation, or None."""
    code = _BASIC_TYPES.get(tp)
    if code is None and getattr(tp, "__module__", None) in _LIBRARY_MODULES:
        code = _library_types().get(tp)
    return code


class FieldDefinitionError(TypeError):
    """A field declaration the build cannot turn into a valid get_fields entry."""


class ExtractEvent(Protocol):
    """What a field method receives: the event being extracted from.

    Inside the host this is a C object over the host's event, shared by every field of one
    event: ``payload`` (bytes, plugin events only: AttributeError for others) and ``tid``
    are filled when the event arrives (the payload copied into the previous event's bytes
    object when nothing else holds it), ``context`` is computed once on first use, and the
    other attributes are read from the host's event. An event kept past its call keeps its
    payload, tid, source, and the context and raw bytes read during it; ``ts``, ``evtnum``,
    ``type`` and ``plugin_id`` then raise RuntimeError.
    """

    ts: int
    tid: int
    evtnum: int
    type: int
    plugin_id: int
    source: str
    payload: bytes
    raw: bytes
    context: Any


class Located(NamedTuple):
    """A value with where it lies in the event (byte offset from the event start, length)."""

    value: Any
    start: int
    length: int


def in_payload(value: Any, start: int, length: int) -> Any:
    """A value found at ``payload[start:start+length]`` (offsets are reported from the
    start of the event, so the plugin-event header is added here).

    Typed ``Any`` so that a field annotated ``-> str`` (which gives the field its type) can
    return it; the SDK unwraps it.
    """
    return Located(value, PAYLOAD_OFFSET + start, length)


class FieldSpec(NamedTuple):
    """One declared field, as the build and the runtime see it."""

    name: str
    attr: str  # the method's name on the plugin class
    ftype: int
    is_list: bool
    arg: int  # ARG_NONE / ARG_INDEX / ARG_KEY
    arg_required: bool
    desc: str
    display: str
    add_output: bool
    properties: tuple[str, ...]
    offsets: bool

    def json_entry(self) -> dict[str, Any]:
        """The get_fields JSON object for this field."""
        entry: dict[str, Any] = {
            "name": self.name,
            "type": FTYPE_NAMES[self.ftype],
            "desc": self.desc,
        }
        if self.is_list:
            entry["isList"] = True
        if self.arg != ARG_NONE:
            entry["arg"] = {
                "isRequired": self.arg_required,
                "isIndex": self.arg == ARG_INDEX,
                "isKey": self.arg == ARG_KEY,
            }
        if self.display:
            entry["display"] = self.display
        if self.add_output:
            entry["addOutput"] = True
        if self.properties:
            entry["properties"] = list(self.properties)
        return entry


_FIELD_MARK = "__falco_field__"


def field(
    name: str,
    *,
    desc: str | None = None,
    display: str = "",
    add_output: bool = False,
    hidden: bool = False,
    info: bool = False,
    conversation: bool = False,
    offsets: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a method as the extractor of field ``name``.

    ``desc`` defaults to the first line of the docstring; ``hidden`` / ``info`` /
    ``conversation`` set the field's properties; ``offsets=True`` lets the method return
    :class:`Located` values (see :func:`in_payload`) when the host asks for offsets.
    """
    props = tuple(
        p for p, on in (("hidden", hidden), ("info", info), ("conversation", conversation)) if on
    )

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, _FIELD_MARK, (name, desc, display, add_output, props, offsets))
        return fn

    return mark


class ExtractPlugin(Plugin):
    """A plugin with the field extraction capability.

    ``EXTRACT_EVENT_SOURCES``: the sources whose events it extracts from (None: its own
    source for a source plugin with an id, otherwise every source). ``EXTRACT_EVENT_TYPES``:
    the event types it wants (None: plugin events only, unless a source is "syscall").
    """

    EXTRACT_EVENT_SOURCES: ClassVar[list[str] | None] = None
    EXTRACT_EVENT_TYPES: ClassVar[list[int] | None] = None

    # Optional hook:
    #   def make_context(self, event: ExtractEvent) -> Any
    # computed at most once per event, on the first access of ``event.context``.


def _unwrap_optional(tp: Any) -> Any:
    if is_union(get_origin(tp)):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        codes = {_scalar_code(a) for a in args}
        if codes == {FTYPE_IPADDR} or codes == {FTYPE_IPNET}:
            return args[0]  # any address (or any network): one field type
    return tp


def _field_type(tp: Any, where: str) -> tuple[int, bool]:
    tp = _unwrap_optional(tp)
    is_list = False
    if get_origin(tp) in (list, tuple, set, frozenset) or tp in (list, tuple):
        args = get_args(tp)
        if not args or (get_origin(tp) is tuple and (len(args) != 2 or args[1] is not Ellipsis)):
            raise FieldDefinitionError(f"{where}: a list field needs an item type, e.g. list[str]")
        tp, is_list = _unwrap_optional(args[0]), True
    code = _scalar_code(tp)
    if code is None:
        if is_union(get_origin(tp)) and all(
            _scalar_code(a) == FTYPE_IPADDR for a in get_args(tp)
        ):
            return FTYPE_IPADDR, is_list
        allowed = "int, str, bool, timedelta, datetime, ipaddress addresses and networks"
        raise FieldDefinitionError(f"{where}: return type {tp!r} is not one of {allowed}")
    return code, is_list


def _field_arg(fn: Callable[..., Any], hints: dict[str, Any], where: str) -> tuple[int, bool]:
    code = fn.__code__
    names = code.co_varnames[: code.co_argcount]
    if len(names) < 2:
        raise FieldDefinitionError(f"{where}: a field method takes (self, event[, arg])")
    if len(names) == 2:
        return ARG_NONE, False
    if len(names) > 3 or code.co_kwonlyargcount:
        raise FieldDefinitionError(f"{where}: a field method takes at most one argument")
    arg_name = names[2]
    defaults = fn.__defaults__ or ()
    required = len(defaults) == 0
    tp = _unwrap_optional(hints.get(arg_name, object))  # no hint: neither int nor str
    if tp is int:
        return ARG_INDEX, required
    if tp is str:
        return ARG_KEY, required
    raise FieldDefinitionError(
        f"{where}: argument {arg_name!r} must be annotated int (an index) or str (a key)"
    )


def field_specs(cls: type) -> list[FieldSpec]:
    """The fields a plugin class declares, in definition order (base classes first)."""
    specs: list[FieldSpec] = []
    seen: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for attr, fn in vars(klass).items():
            mark = getattr(fn, _FIELD_MARK, None)
            if mark is None or not callable(fn):
                continue
            name, desc, display, add_output, props, offsets = mark
            where = f"field {name!r} ({klass.__name__}.{attr})"
            if not isinstance(name, str) or not field_name_ok(name):
                raise FieldDefinitionError(
                    f"{where}: the name must match {FIELD_NAME_PATTERN} (like 'plugin.field')"
                )
            if name in seen and seen[name] != attr:
                raise FieldDefinitionError(f"{where}: field {name!r} is declared twice")
            try:
                hints = type_hints(fn)
            except Exception as exc:
                raise FieldDefinitionError(f"{where}: cannot resolve type hints: {exc}") from exc
            if "return" not in hints:
                raise FieldDefinitionError(f"{where}: annotate the return type (e.g. -> int)")
            ftype, is_list = _field_type(hints["return"], where)
            arg, required = _field_arg(fn, hints, where)
            text = desc if desc is not None else (fn.__doc__ or "").strip().split("\n")[0]
            if not text.strip():
                raise FieldDefinitionError(f"{where}: give a description (desc= or a docstring)")
            spec = FieldSpec(
                name,
                attr,
                ftype,
                is_list,
                arg,
                required,
                text.strip(),
                display,
                add_output,
                props,
                offsets,
            )
            specs = [s for s in specs if s.name != name]  # an override replaces its base
            specs.append(spec)
            seen[name] = attr
    return specs
