"""Build-time checks of a plugin class and the static facts baked into its shim.

Everything the host asks before ``init`` (name, version, id, schema, which symbols exist)
is computed here once, so the ``.so`` answers without starting Python, and so that a
mistake is reported by ``falco-plugin build`` with a clear message instead of by Falco.
"""

from __future__ import annotations

import sys

from ._json_values import json_values, same_json
from ._lean_typing import TYPE_CHECKING, get_args, type_hints
from ._names import PLUGIN_NAME_PATTERN, plugin_name_ok, semver_ok
from .api_version import required_api_version
from .base import Plugin, defines
from .config import config_type_of, json_schema
from .loader import PluginRef
from .source import SourceInstance, SourcePlugin

if TYPE_CHECKING:
    from typing import Any, NamedTuple

    from .extract import FieldSpec
else:
    from ._lean_typing import NamedTuple

RESERVED_SOURCES = {"syscall"}



def _is(cls: type, module: str, name: str) -> bool:
    """Whether ``cls`` subclasses the capability class ``name`` of the SDK module ``module``.
    A class can only subclass it once that module is imported: until then the answer is no,
    and checking a plugin (at every init) imports no capability it does not use."""
    found = getattr(sys.modules.get(f"{__package__}.{module}"), name, None)
    return isinstance(found, type) and issubclass(cls, found)


class PluginDefinitionError(Exception):
    """The plugin class cannot be built; ``problems`` lists every issue found."""

    def __init__(self, cls_name: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"plugin class {cls_name} cannot be built:\n{lines}")


class PluginMeta(NamedTuple):
    """The static facts of a plugin, as baked into its shim.

    A NamedTuple, not a dataclass: the runtime computes it at every init to check the code
    against the library, and making a 23-field dataclass costs several million
    instructions there (it compiles its methods)."""

    ref: PluginRef
    class_name: str
    name: str
    version: str
    description: str
    contact: str
    required_api_version: str
    schema: dict[str, Any] | None  # the config's JSON schema, None for a raw string
    has_source: bool
    plugin_id: int
    event_source: str
    hooks: dict[str, bool]
    fields: list[FieldSpec]
    extract_sources: list[str] | None
    extract_types: list[int] | None
    event_schema_version: str  # set for plugins that read syscall events
    has_parse: bool
    parse_sources: list[str] | None
    parse_types: list[int] | None
    async_events: list[str]
    async_sources: list[str] | None
    has_listen: bool
    uses_tables: bool  # __init__ takes `tables`: the shim reads the tables input

    @property
    def has_async(self) -> bool:
        """The plugin emits async events."""
        return bool(self.async_events)

    @property
    def has_extract(self) -> bool:
        """The plugin defines fields."""
        return bool(self.fields)

    @property
    def capabilities(self) -> list[str]:
        """The capabilities the library exports, as the plugin API names them."""
        flags = (
            ("source", self.has_source),
            ("extract", self.has_extract),
            ("parse", self.has_parse),
            ("async", self.has_async),
            ("listen", self.has_listen),
        )
        return [c for c, on in flags if on]

    @property
    def init_schema(self) -> str:
        """The schema as the compact JSON text get_init_schema returns ("" for a raw config)."""
        if self.schema is None:
            return ""
        import json  # at build time only: the runtime compares the schema itself

        return json.dumps(self.schema, separators=(",", ":"), sort_keys=False)

    @property
    def fields_json(self) -> str:
        """The fields as get_fields returns them (JSON)."""
        import json

        return json.dumps([f.json_entry() for f in self.fields])

    @property
    def offsets(self) -> bool:
        """True when a field reports value offsets (the plugin then reads value_offsets)."""
        return any(f.offsets for f in self.fields)

    def facts(self) -> dict[str, Any]:
        """What the library bakes in (marshalled: :func:`baked_facts`) and the plugin's code
        must still say at init; only JSON values (:func:`json_values`)."""
        return json_values({
            "class": self.class_name,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "contact": self.contact,
            "required API version": self.required_api_version,
            "capabilities": self.capabilities,
            "plugin id": self.plugin_id,
            "event source": self.event_source,
            "optional methods": sorted(k for k, on in self.hooks.items() if on),
            "config schema": self.schema,
            "fields": [f.json_entry() for f in self.fields],
            "extract event sources": self.extract_sources,
            "extract event types": self.extract_types,
            "parse event sources": self.parse_sources,
            "parse event types": self.parse_types,
            "required event schema version": self.event_schema_version,
            "async events": self.async_events,
            "async event sources": self.async_sources,
            "tables parameter": self.uses_tables,
        })


def baked_facts(meta: PluginMeta) -> bytes:
    """The facts as the library bakes them: marshalled (the interpreter that runs the library
    is the one that built it, and marshal needs no module imported to read them back), in
    marshal's version 2, which shares no object by reference: the same facts give the same
    bytes whatever else holds them (they are part of the build cache's key)."""
    import marshal

    return marshal.dumps(meta.facts(), 2)


def facts_drift(baked: dict[str, Any], live: dict[str, Any]) -> list[str]:
    """How the facts of the plugin's code differ from those its library was built with."""
    out = []
    for key in [*baked, *(k for k in live if k not in baked)]:
        old, new = baked.get(key), live.get(key)
        if same_json(old, new):
            continue
        if key == "fields":
            out += _fields_drift(old or [], new or [])
        elif key == "config schema":
            out.append("the config schema changed")
        else:
            out.append(f"{key}: {_short(old)} -> {_short(new)}")
    return out


def _fields_drift(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    before, after = {f["name"]: f for f in old}, {f["name"]: f for f in new}
    out = [f"field {n} was removed" for n in before if n not in after]
    out += [f"field {n} was added" for n in after if n not in before]
    for name in (n for n in before if n in after and before[n] != after[n]):
        a, b = before[name], after[name]
        if (a["type"], a.get("isList", False)) != (b["type"], b.get("isList", False)):
            kind = lambda f: f["type"] + ("[]" if f.get("isList") else "")  # noqa: E731
            out.append(f"field {name}: type {kind(a)} -> {kind(b)}")
        else:
            changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            out.append(f"field {name}: {', '.join(changed)} changed")
    if not out and [f["name"] for f in old] != [f["name"] for f in new]:
        out.append("the fields are in another order")
    return out


def _short(value: Any) -> str:
    import json

    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_str(cls: type, attr: str, problems: list[str]) -> str:
    value = getattr(cls, attr, "")
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{attr} must be a non-empty string (got {value!r})")
        return ""
    if "\x00" in value:
        problems.append(f"{attr} must not contain NUL characters")
    return value


def plugin_meta(cls: type[Plugin], ref: PluginRef) -> PluginMeta:
    """Validate a plugin class and compute its static facts; raises PluginDefinitionError."""
    problems: list[str] = []
    name = _check_str(cls, "NAME", problems)
    if name and not plugin_name_ok(name):
        problems.append(f"NAME {name!r} must match {PLUGIN_NAME_PATTERN} (it names lib<NAME>.so)")
    version = _check_str(cls, "VERSION", problems)
    if version and not semver_ok(version):
        problems.append(f"VERSION {version!r} is not a semantic version like 1.2.3")
    description = _check_str(cls, "DESCRIPTION", problems)
    contact = _check_str(cls, "CONTACT", problems)

    schema = None
    try:
        schema = json_values(json_schema(config_type_of(cls)))
    except TypeError as exc:
        problems.append(f"config: {exc}")

    has_source = issubclass(cls, SourcePlugin)
    plugin_id, event_source = 0, ""
    if has_source:
        plugin_id, event_source = _check_source(cls, problems)
    fields: list[FieldSpec] = []
    sources = types = None
    if _is(cls, "extract", "ExtractPlugin"):
        fields, sources, types = _check_extract(cls, problems)
    has_parse = _is(cls, "parse", "ParsePlugin")
    parse_sources = parse_types = None
    if has_parse:
        if not defines(cls, "parse_event"):
            problems.append("a parse plugin must define parse_event(self, event)")
        parse_sources, parse_types = _check_event_filters(cls, "PARSE", problems)
    async_events: list[str] = []
    async_sources = None
    if _is(cls, "async_event", "AsyncPlugin"):
        async_events, async_sources = _check_async(cls, problems)
    has_listen = _is(cls, "listen", "ListenPlugin")
    if not (has_source or fields or has_parse or async_events or has_listen or problems):
        problems.append(
            "the plugin implements no capability (subclass SourcePlugin, ExtractPlugin, "
            "ParsePlugin, AsyncPlugin or ListenPlugin)"
        )
    from ._runtime import wants_tables

    if wants_tables(cls) and not (fields or has_parse):
        problems.append("only parse and extract plugins get the tables API (a `tables` parameter)")
    readers = (sources or []) + (parse_sources or [])

    hooks = {
        "set_config": defines(cls, "set_config"),
        "get_metrics": defines(cls, "get_metrics"),
        "list_open_params": has_source and defines(cls, "list_open_params"),
        "event_to_string": has_source and defines(cls, "event_to_string"),
        "get_progress": has_source
        and any(defines(t, "get_progress") for t in instance_types(cls)),
        "dump_state": _is(cls, "async_event", "AsyncPlugin") and defines(cls, "dump_state"),
    }
    if problems:
        raise PluginDefinitionError(cls.__name__, problems)
    meta = PluginMeta(
        ref=ref,
        class_name=cls.__name__,
        name=name,
        version=version,
        description=description,
        contact=contact,
        required_api_version="",  # below: it depends on everything else
        schema=schema,
        has_source=has_source,
        plugin_id=plugin_id,
        event_source=event_source,
        hooks=hooks,
        fields=fields,
        extract_sources=sources,
        extract_types=types,
        event_schema_version=_event_schema_version(cls, readers or None, problems),
        has_parse=has_parse,
        parse_sources=parse_sources,
        parse_types=parse_types,
        async_events=async_events,
        async_sources=async_sources,
        has_listen=has_listen,
        uses_tables=wants_tables(cls),
    )
    return meta._replace(required_api_version=required_api_version(meta))


def instance_types(cls: type) -> list[type]:
    """The SourceInstance classes a source plugin's open() returns: those its return
    annotation names, else every one its module defines or imports (what decides whether
    the library exports get_progress)."""
    try:
        hint = type_hints(cls.open).get("return")  # type: ignore[attr-defined]
    except Exception:  # an annotation that does not resolve: look at the module
        hint = None
    named = [t for t in (get_args(hint) or (hint,)) if isinstance(t, type)]
    found = [t for t in named if issubclass(t, SourceInstance) and t is not SourceInstance]
    if found:
        return found
    module = sys.modules.get(cls.__module__)
    names = vars(module).values() if module else ()
    return [v for v in names if isinstance(v, type) and issubclass(v, SourceInstance)]


def _check_async(cls: type, problems: list[str]) -> tuple[list[str], list[str] | None]:
    names = getattr(cls, "ASYNC_EVENTS", [])
    if (
        not isinstance(names, (list, tuple))
        or not names
        or not all(isinstance(n, str) and n and "\x00" not in n for n in names)
    ):
        problems.append(f"ASYNC_EVENTS must be a non-empty list of event names, got {names!r}")
        names = []
    elif len(set(names)) != len(names):
        problems.append("ASYNC_EVENTS lists a name twice")
    sources = getattr(cls, "ASYNC_EVENT_SOURCES", None)
    if sources is not None and (
        not isinstance(sources, (list, tuple)) or not all(isinstance(s, str) for s in sources)
    ):
        problems.append(f"ASYNC_EVENT_SOURCES must be a list of source names, got {sources!r}")
        sources = None
    return list(names), None if sources is None else list(sources)


def _event_schema_version(cls: type, sources: list[str] | None, problems: list[str]) -> str:
    """The event schema version a plugin reading syscall events needs ("" otherwise).

    Hosts from API 3.12 check it against their driver's schema; older ones never ask. The
    default is the schema the SDK's event model was generated from; a plugin that reads
    only older events can declare a lower REQUIRED_EVENT_SCHEMA_VERSION.
    """
    declared = getattr(cls, "REQUIRED_EVENT_SCHEMA_VERSION", None)
    if declared is not None:
        if not isinstance(declared, str) or not semver_ok(declared):
            problems.append(f"REQUIRED_EVENT_SCHEMA_VERSION {declared!r} is not like 1.2.3")
            return ""
        return declared
    if not sources or "syscall" not in sources:
        return ""
    from .event import EVENT_SCHEMA_VERSION

    return EVENT_SCHEMA_VERSION


def _check_extract(
    cls: type, problems: list[str]
) -> tuple[list[FieldSpec], list[str] | None, list[int] | None]:
    from .extract import FieldDefinitionError, field_specs  # an extract plugin: imported

    try:
        fields = field_specs(cls)
    except FieldDefinitionError as exc:
        problems.append(str(exc))
        fields = []
    else:
        if not fields:
            problems.append("an extract plugin must declare at least one @field method")
    sources, types = _check_event_filters(cls, "EXTRACT", problems)
    return fields, sources, types


def _check_event_filters(
    cls: type, prefix: str, problems: list[str]
) -> tuple[list[str] | None, list[int] | None]:
    """<prefix>_EVENT_SOURCES and <prefix>_EVENT_TYPES, checked (None when not declared)."""
    sources = getattr(cls, f"{prefix}_EVENT_SOURCES", None)
    if sources is not None and (
        not isinstance(sources, (list, tuple))
        or not all(isinstance(s, str) and s.strip() for s in sources)
    ):
        problems.append(f"{prefix}_EVENT_SOURCES must be a list of source names, got {sources!r}")
        sources = None
    types = getattr(cls, f"{prefix}_EVENT_TYPES", None)
    if types is not None and (
        not isinstance(types, (list, tuple))
        or not all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 2**16 for t in types)
    ):
        problems.append(f"{prefix}_EVENT_TYPES must be a list of event type codes, got {types!r}")
        types = None
    return (
        None if sources is None else list(sources),
        None if types is None else list(types),
    )


def _check_source(cls: type, problems: list[str]) -> tuple[int, str]:
    plugin_id = getattr(cls, "PLUGIN_ID", 0)
    source = getattr(cls, "EVENT_SOURCE", "")
    if isinstance(plugin_id, bool) or not isinstance(plugin_id, int):
        problems.append(f"PLUGIN_ID must be an int, got {plugin_id!r}")
        plugin_id = 0
    elif not 0 <= plugin_id < 2**32:
        problems.append(f"PLUGIN_ID {plugin_id} is out of range (0 .. 2**32-1)")
    if not isinstance(source, str):
        problems.append(f"EVENT_SOURCE must be a str, got {source!r}")
        source = ""
    if plugin_id and not source:
        problems.append("PLUGIN_ID is set but EVENT_SOURCE is empty: set both or neither")
    if source and not plugin_id:
        problems.append("EVENT_SOURCE is set but PLUGIN_ID is 0: set both or neither")
    if source in RESERVED_SOURCES:
        problems.append(f"EVENT_SOURCE {source!r} is reserved for the host's own events")
    if source and (source != source.strip() or "\x00" in source):
        problems.append(f"EVENT_SOURCE {source!r} has leading/trailing blanks or NULs")
    if not defines(cls, "open"):
        problems.append("a source plugin must define open(self, params) -> SourceInstance")
    return plugin_id, source
