"""What a plugin library says about itself before init, checked as libsinsp checks it.

The engine reports the static getters raw (R_META); :func:`check_plugin` turns them into a
:class:`LoadedPlugin` or raises :class:`LoadError` with the message libsinsp's checks would
lead to: required symbols, the required API version, the capabilities and their symbols,
the plugin id and event source, ``get_fields``, the event source lists, the async event
names and the init schema (a draft Falco's validator knows).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .wire import API_VERSION, SYMBOLS, C, Fields

REQUIRED = (
    "get_required_api_version",
    "get_version",
    "get_name",
    "get_description",
    "get_contact",
    "init",
    "destroy",
    "get_last_error",
)

#: Capabilities: (bit, key, label in messages, title in `info`, symbols).
CAPABILITIES = (
    (
        C["CAP_SOURCE"],
        "source",
        "event sourcing",
        "Event Sourcing",
        ("open", "close", "next_batch"),
    ),
    (
        C["CAP_EXTRACT"],
        "extract",
        "field extraction",
        "Field Extraction",
        ("get_fields", "extract_fields"),
    ),
    (C["CAP_PARSE"], "parse", "event parsing", "Event Parsing", ("parse_event",)),
    (
        C["CAP_ASYNC"],
        "async",
        "async events",
        "Async Events",
        ("get_async_events", "set_async_event_handler"),
    ),
    (
        C["CAP_LISTEN"],
        "listen",
        "capture listening",
        "Capture Listening",
        ("capture_open", "capture_close"),
    ),
)

FIELD_TYPES = {
    name: C[f"FTYPE_{name.upper()}"]
    for name in ("string", "uint64", "reltime", "abstime", "bool", "ipaddr", "ipnet")
}
FIELD_TYPE_NAMES = {v: k for k, v in FIELD_TYPES.items()}
FIELD_NAME_RE = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+")
VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")
SUFFIX_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)[-+].+", re.S)
SCHEMA_DRAFTS = ("draft-03", "draft-04", "draft-07")


class LoadError(Exception):
    """The library is not a plugin libsinsp would load; the message says why."""


@dataclass
class PluginField:
    """One entry of ``get_fields``."""

    name: str
    type: str
    display: str = ""
    desc: str = ""
    is_list: bool = False
    add_output: bool = False
    arg_required: bool = False
    arg_index: bool = False
    arg_key: bool = False
    properties: list[str] = field(default_factory=list)

    @property
    def ftype(self) -> int:
        return FIELD_TYPES[self.type]


@dataclass
class RawMeta:
    """R_META as the engine sent it."""

    index: int
    symbols: set[str]
    required_api_version: str | None
    version: str | None
    name: str | None
    description: str | None
    contact: str | None
    event_source: str | None
    fields: str | None
    extract_event_sources: str | None
    parse_event_sources: str | None
    async_events: str | None
    async_event_sources: str | None
    init_schema: str | None
    id: int | None
    schema_type: int

    @classmethod
    def read(cls, f: Fields) -> RawMeta:
        index, mask = f.u32(), f.u64()
        symbols = {name for i, name in enumerate(SYMBOLS) if mask >> i & 1}
        s = [f.str() for _ in range(12)]
        has_id, pid, schema_type = f.u8(), f.u32(), f.u32()
        return cls(
            index,
            symbols,
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            s[5],
            s[6],
            s[7],
            s[8],
            s[9],
            s[10],
            s[11],
            pid if has_id else None,
            schema_type,
        )


@dataclass
class LoadedPlugin:
    """A plugin as the host uses it: its checked static facts."""

    index: int
    path: str
    name: str
    version: str
    description: str
    contact: str
    required_api_version: str
    req_minor: int
    caps: int
    symbols: set[str]
    id: int = 0
    event_source: str = ""  # what get_event_source returned ("" when none)
    fields: list[PluginField] | None = None
    extract_sources: list[str] | None = None
    parse_sources: list[str] | None = None
    async_events: list[str] | None = None
    async_sources: list[str] | None = None
    schema: dict[str, Any] | None = None
    schema_text: str | None = None
    warnings: list[str] = field(default_factory=list)

    def has(self, cap: str) -> bool:
        return any(bit & self.caps for bit, key, *_ in CAPABILITIES if key == cap)

    @property
    def source(self) -> str:
        """The source its events belong to: its own with an id, else "syscall"."""
        return self.event_source if self.id else "syscall"

    @property
    def label(self) -> str:
        return self.name or self.path


def _json(what: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise LoadError(f"{what} returned invalid JSON: {exc}") from None


def _opt_bool(obj: dict[str, Any], key: str, what: str) -> bool:
    v = obj.get(key)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise LoadError(f"{what}{key} is not a boolean")
    return v


def parse_fields(text: str | None, warnings: list[str]) -> list[PluginField]:
    """``get_fields`` as libsinsp checks it. What libsinsp accepts but no rule could use (a
    name the filter grammar cannot spell, a name declared twice) is a warning."""
    if text is None:
        raise LoadError("get_fields returned a null string")
    data = _json("get_fields", text)
    if not isinstance(data, list):
        raise LoadError("get_fields did not return a JSON array")
    out: list[PluginField] = []
    for i, e in enumerate(data):
        if not isinstance(e, dict):
            raise LoadError(f"get_fields: entry {i} is not a JSON object")
        ftype, name, desc = e.get("type"), e.get("name"), e.get("desc")
        if not isinstance(ftype, str) or not ftype:
            raise LoadError(f"get_fields: field {i} has no type")
        if not isinstance(name, str) or not name:
            raise LoadError(f"get_fields: field {i} has no name")
        if ftype not in FIELD_TYPES:
            raise LoadError(
                f"get_fields: field '{name}' has an invalid type '{ftype}' (expected string, "
                "uint64, reltime, abstime, bool, ipaddr or ipnet)"
            )
        if not FIELD_NAME_RE.fullmatch(name):
            warnings.append(
                f"get_fields: field name '{name}' cannot be used in a filter or an output (a "
                "name is two or more dot-separated parts, each a letter followed by letters, "
                "digits or '_')"
            )
        if any(f.name == name for f in out):
            warnings.append(f"get_fields: field '{name}' is declared twice (the first one is used)")
        if not isinstance(desc, str) or not desc:
            raise LoadError(
                f"get_fields: field '{name}' has no desc (a non-empty description is required)"
            )
        what = f"get_fields: field '{name}': "
        display = e.get("display")
        f = PluginField(name, ftype, display if isinstance(display, str) else "", desc)
        f.is_list = _opt_bool(e, "isList", what)
        f.add_output = _opt_bool(e, "addOutput", what)
        arg = e.get("arg")
        if arg is not None:
            if not isinstance(arg, dict):
                raise LoadError(f"{what}arg is not a JSON object")
            f.arg_required = _opt_bool(arg, "isRequired", what + "arg.")
            f.arg_index = _opt_bool(arg, "isIndex", what + "arg.")
            f.arg_key = _opt_bool(arg, "isKey", what + "arg.")
            if f.arg_required and not (f.arg_index or f.arg_key):
                raise LoadError(f"{what}arg has isRequired set, but neither isIndex nor isKey")
        props = e.get("properties")
        if props is not None:
            if not isinstance(props, list):
                raise LoadError(f"{what}properties is not an array")
            for p in props:
                if not isinstance(p, str):
                    raise LoadError(f"{what}properties has an entry that is not a string")
                if p in ("hidden", "info", "conversation") and p not in f.properties:
                    f.properties.append(p)
        out.append(f)
    if not out:
        raise LoadError("plugins with extraction capability must export at least one field")
    return out


def parse_source_list(what: str, text: str | None) -> list[str] | None:
    """A get_*_event_sources result: a JSON array of names (empty ones skipped); None when
    not given (no symbol, NULL or "")."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LoadError(f"{what} did not return a JSON array: {exc}") from None
    if not isinstance(data, list):
        raise LoadError(f"{what} did not return a JSON array")
    out: list[str] = []
    for v in data:
        if not isinstance(v, str):
            raise LoadError(f"{what} returned an array with a non-string entry")
        if v and v not in out:
            out.append(v)
    return out


def parse_async_events(text: str | None) -> list[str]:
    """get_async_events: a non-empty JSON array of non-empty names, as libsinsp requires."""
    try:
        data = json.loads(text) if text else None
    except ValueError as exc:
        raise LoadError(f"get_async_events did not return a JSON array: {exc}") from None
    if not isinstance(data, list):
        raise LoadError("get_async_events did not return a JSON array")
    if not data:
        raise LoadError(
            "get_async_events returned an empty list: an async plugin must name the async "
            "events it produces"
        )
    out: list[str] = []
    for v in data:
        if not isinstance(v, str) or not v:
            raise LoadError(
                "get_async_events returned an array with an entry that is not a non-empty string"
            )
        if v not in out:
            out.append(v)
    return out


def _check_version(raw: RawMeta) -> int:
    req = raw.required_api_version
    m = VERSION_RE.fullmatch(req or "")
    if not m or any(int(x) > 0xFFFFFFFF for x in m.groups()):
        raise LoadError(
            f"plugin provided an invalid required API version '{req}' (expected MAJOR.MINOR.PATCH)"
        )
    major, minor, patch = (int(x) for x in m.groups())
    if major != API_VERSION[0] or (minor, patch) > API_VERSION[1:]:
        host = ".".join(map(str, API_VERSION))
        raise LoadError(
            f"plugin requires API version {req}, which is not compatible with the host's API "
            f"version {host}"
        )
    return minor


def _capabilities(raw: RawMeta) -> int:
    caps = 0
    for bit, key, label, _title, syms in CAPABILITIES:
        have = [s for s in syms if s in raw.symbols]
        if len(have) == len(syms):
            caps |= bit
        elif key == "extract" and have == ["get_fields"]:
            pass  # get_fields alone is not a capability: libsinsp ignores it
        elif have:
            missing = ", ".join(f"plugin_{s}" for s in syms if s not in raw.symbols)
            raise LoadError(f"plugin has an incomplete {label} capability: missing {missing}")
    if not caps:
        raise LoadError("plugin implements no capability (source, extract, parse, async or listen)")
    return caps


def _schema(raw: RawMeta) -> tuple[dict[str, Any] | None, str | None]:
    if "get_init_schema" not in raw.symbols:
        return None, None
    if raw.schema_type == C["SS_PLUGIN_SCHEMA_JSON"] and raw.init_schema:
        try:
            schema = json.loads(raw.init_schema)
        except ValueError as exc:
            raise LoadError(f"the plugin's init schema is not valid JSON: {exc}") from None
        if not isinstance(schema, dict):
            raise LoadError("the init schema is not a JSON object")
        dialect = schema.get("$schema")
        if isinstance(dialect, str) and not any(d in dialect for d in SCHEMA_DRAFTS):
            raise LoadError(
                f'the init schema declares "$schema": "{dialect}", but only JSON Schema drafts '
                "3, 4 and 7 are supported (as by Falco's validator)"
            )
        return schema, raw.init_schema
    if raw.schema_type not in (C["SS_PLUGIN_SCHEMA_NONE"], C["SS_PLUGIN_SCHEMA_JSON"]):
        raise LoadError(f"plugin_get_init_schema returned an unknown schema type {raw.schema_type}")
    return None, None


def check_plugin(raw: RawMeta, path: str) -> LoadedPlugin:
    """The plugin behind R_META, or LoadError for what libsinsp would refuse."""
    missing = [f"plugin_{s}" for s in REQUIRED if s not in raw.symbols]
    if missing:
        raise LoadError(f"plugin does not export required symbols: {', '.join(missing)}")
    minor = _check_version(raw)
    if not raw.name:
        raise LoadError("plugin returned an empty name")
    if not VERSION_RE.fullmatch(raw.version or "") and not SUFFIX_RE.fullmatch(raw.version or ""):
        raise LoadError(f"plugin provided an invalid version string '{raw.version}'")
    p = LoadedPlugin(
        raw.index,
        path,
        raw.name,
        raw.version or "",
        raw.description or "",
        raw.contact or "",
        raw.required_api_version or "",
        minor,
        _capabilities(raw),
        raw.symbols,
    )
    if p.has("source"):
        p.id = raw.id or 0
        p.event_source = raw.event_source or ""
        if p.id and not p.event_source:
            raise LoadError(
                f"plugin has ID {p.id} but no event source (plugin_get_event_source is "
                "missing or returns an empty string)"
            )
        if not p.id and p.event_source:
            raise LoadError(
                f"plugin has event source '{p.event_source}' but no ID (plugin_get_id is "
                "missing or returns 0)"
            )
        if p.event_source == "syscall":
            raise LoadError("plugin can't implement the reserved event source 'syscall'")
    if p.has("extract"):
        p.fields = parse_fields(raw.fields, p.warnings)
        p.extract_sources = parse_source_list(
            "get_extract_event_sources", raw.extract_event_sources
        )
    if p.has("parse"):
        p.parse_sources = parse_source_list("get_parse_event_sources", raw.parse_event_sources)
    if p.has("async"):
        p.async_events = parse_async_events(raw.async_events)
        p.async_sources = parse_source_list("get_async_event_sources", raw.async_event_sources)
    p.schema, p.schema_text = _schema(raw)
    return p


def accepts_source(own: LoadedPlugin, listed: list[str] | None, source: str) -> bool:
    """libsinsp's rule for extract and parse sources: the plugin's own source (when it has an
    id) plus the listed ones; when there are none of either, every source."""
    names = ([own.event_source] if own.has("source") and own.id else []) + (listed or [])
    return not names or source in names
