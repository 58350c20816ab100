"""Generate the event model's schema modules and the shim's C event tables from the Falco event
schema (JSON facts):

- ``falco_plugin/event/_generated.py``: what a plugin's start needs of the schema (versions,
  the layout digest, the class name and layout of each event type), light to import;
- ``falco_plugin/event/_generated_tables.py``: the fact tables (event rows, flag and
  dynamic tables, syscall names), imported on first use;
- ``falco_plugin/event/_generated.pyi``: every params class as the type checker and the
  docs see it (slots, annotated attributes, ``__init__``); at run time
  ``falco_plugin.event._classes`` makes each class from its table row on first use;
- ``falco_plugin/_native/fp_events.h`` (the event layouts the shim's C event model reads)
  and ``_native/fp_event_checks.h`` (what a source may emit, by ``gen_event_checks.py``).

Usage: ``python scripts/gen_events.py [SCHEMA]``; the schema defaults to
``../shared/falco-event-schema.json`` relative to the repository root. The output is
deterministic and already in ruff's format, so re-running it on the same schema changes nothing.
The C header holds what a plugin library's C event functions need of the schema (how many
types, which have u32 parameter lengths); both files carry the digest of those facts, so the
library uses its C functions only with an SDK generated from the same schema.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
import sys
from pathlib import Path
from typing import Any

import gen_event_checks

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA = ROOT.parent / "shared" / "falco-event-schema.json"
EVENT_DIR = ROOT / "src" / "falco_plugin" / "event"
OUTPUT = EVENT_DIR / "_generated.py"
TABLES_OUTPUT = EVENT_DIR / "_generated_tables.py"
STUB_OUTPUT = EVENT_DIR / "_generated.pyi"
C_OUTPUT = ROOT / "src" / "falco_plugin" / "_native" / "fp_events.h"
LINE = 100

#: Class attributes of the generated params classes: a parameter of that name gets a ``_``.
RESERVED = {"CODE", "ID", "NAME", "DIRECTION", "CATEGORY", "FLAGS", "PARAMS", "LARGE"}

#: Id words that read better split in two when turned into a class name.
WORDS = {
    "PLUGINEVENT": "PluginEvent",
    "ASYNCEVENT": "AsyncEvent",
    "SCHEDSWITCH": "SchedSwitch",
    "PROCEXIT": "ProcExit",
    "PROCINFO": "ProcInfo",
    "SIGNALDELIVER": "SignalDeliver",
    "SCAPEVENT": "ScapEvent",
}

#: Python annotation of a decoded value, per parameter type (``None`` is always allowed too).
ANNOTATIONS = {
    "PT_CHARBUF": "str",
    "PT_FSPATH": "str",
    "PT_FSRELPATH": "str",
    "PT_BYTEBUF": "bytes",
    "PT_SOCKADDR": "SockAddr",
    "PT_SOCKTUPLE": "SockTuple",
    "PT_FDLIST": "tuple[tuple[int, int], ...]",
    "PT_DYN": "DynParam",
    "PT_CHARBUFARRAY": "tuple[str, ...]",
    "PT_CHARBUF_PAIR_ARRAY": "tuple[tuple[str, str], ...]",
    "PT_DOUBLE": "float",
    "PT_IPV4ADDR": "IPv4Address",
    "PT_IPV6ADDR": "IPv6Address",
    "PT_IPADDR": "IPv4Address | IPv6Address",
    "PT_IPV4NET": "IPv4Network",
    "PT_IPV6NET": "IPv6Network",
    "PT_IPNET": "IPv4Network | IPv6Network",
}


def class_name(event_id: str) -> str:
    """``PPME_SYSCALL_OPEN_E`` -> ``SyscallOpenE``; digit-only parts keep an ``_`` before them."""
    parts = event_id.removeprefix("PPME_").split("_")
    out = []
    for part in parts:
        if part in WORDS:
            out.append(WORDS[part])
        elif part.isdigit():
            out.append("_" + part)
        else:
            out.append(part[:1] + part[1:].lower())
    return "".join(out)


def attr_name(name: str) -> str:
    """The Python attribute for a parameter: keywords and reserved names get a trailing ``_``."""
    if keyword.iskeyword(name) or name in RESERVED or name.startswith("_") or name == "self":
        return name + "_"
    return name


def literal(value: Any) -> str:
    """A one-line Python literal in ruff's style (double quotes, ``(x,)`` tuples)."""
    if isinstance(value, tuple):
        if len(value) == 1:
            return f"({literal(value[0])},)"
        return "(" + ", ".join(literal(v) for v in value) + ")"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def emit(value: Any, indent: int, suffix: str, out: list[str]) -> None:
    """Write ``value`` on one line when it fits, else one element per line (magic comma)."""
    pad = " " * indent
    one = pad + literal(value) + suffix
    if len(one) <= LINE or not isinstance(value, tuple) or not value:
        out.append(one)
        return
    out.append(pad + "(")
    for item in value:
        emit(item, indent + 4, ",", out)
    out.append(pad + ")" + suffix)


def event_row(ev: dict[str, Any]) -> tuple[Any, ...]:
    """One row of EVENT_TABLE: the facts of one event type, params as nested tuples."""
    params = tuple(
        (
            p["name"],
            attr_name(p["name"]),
            p["type"],
            p["format"],
            p.get("flags_table"),
            p.get("dynamic_table"),
            p.get("dirfd_param"),
        )
        for p in ev["params"]
    )
    return (
        ev["code"],
        ev["id"],
        ev["name"],
        ">" if ev["direction"] == "enter" else "<",
        tuple(ev["category"]),
        tuple(ev["flags"]),
        ev["param_length_bytes"] == 4,
        params,
    )


def annotation(ptype: str) -> str:
    """The annotation of a decoded value of this parameter type."""
    return ANNOTATIONS.get(ptype, "int")


def class_stub(ev: dict[str, Any], cls: str) -> list[str]:
    """The stub of the params class of one event type: slots, typed attributes and
    ``__init__``, as ``falco_plugin.event._classes`` makes the class at run time."""
    attrs = [(attr_name(p["name"]), annotation(p["type"])) for p in ev["params"]]
    direction = "enter" if ev["direction"] == "enter" else "exit"
    out = [f"class {cls}(EventParams):", f'    """{ev["name"]} ({direction}): {ev["id"]}."""', ""]
    out.extend(slots_lines(tuple(a for a, _ in attrs)))
    if not attrs:
        return out
    out.append("")
    out.extend(f"    {attr}: {ann} | None" for attr, ann in attrs)
    out.append("")
    args = [f"{attr}: {ann} | None = None" for attr, ann in attrs]
    one = "    def __init__(self, " + ", ".join(args) + ") -> None: ..."
    if len(one) <= LINE:
        out.append(one)
    else:
        out.append("    def __init__(")
        out.append("        self,")
        out.extend(f"        {a}," for a in args)
        out.append("    ) -> None: ...")
    return out


def slots_lines(names: tuple[str, ...]) -> list[str]:
    """``__slots__ = (...)`` on one line when it fits, else exploded."""
    one = "    __slots__ = " + literal(names)
    if len(one) <= LINE:
        return [one]
    return ["    __slots__ = ("] + [f"        {literal(n)}," for n in names] + ["    )"]


def checked_events(schema: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The event types by code, and their class names; stops on what the modules cannot
    hold (gaps in the codes, two classes or two parameters of one type with one name)."""
    events = sorted(schema["event_types"], key=lambda e: e["code"])
    codes = [e["code"] for e in events]
    if codes != list(range(len(codes))):
        raise SystemExit("event codes must be 0..N-1 without gaps")
    names = [class_name(e["id"]) for e in events]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise SystemExit(f"class names are not unique: {dup}")
    for ev in events:
        attrs = [attr_name(p["name"]) for p in ev["params"]]
        if len(set(attrs)) != len(attrs):
            raise SystemExit(f"{ev['id']}: duplicate parameter names")
    return events, names


def header(schema: dict[str, Any], schema_name: str) -> list[str]:
    """The first lines of every generated Python file."""
    return [
        f"# Generated by scripts/gen_events.py from {schema_name}"
        f" (event schema {schema['event_schema_version']}).",
        "# Do not edit: change the generator or the schema and run it again.",
    ]


#: The names _generated_tables defines, which _generated gives on first use.
TABLE_NAMES = (
    "CLASS_NAMES",
    "PARAM_TYPE_CODES",
    "PRINT_FORMAT_CODES",
    "PPM_SC_NAMES",
    "FLAG_TABLES",
    "DYNAMIC_TABLES",
    "PARAM_ANNOTATIONS",
    "EVENT_TABLE",
)


def generate(schema: dict[str, Any], schema_name: str) -> str:
    """The light module (``_generated.py``) as text: what a plugin's start imports."""
    events, _ = checked_events(schema)
    large = tuple(e["code"] for e in events if e["param_length_bytes"] == 4)
    out = [
        *header(schema, schema_name),
        '"""Event types of the Falco event schema, light to import: versions and the layout of',
        "each type. The fact tables (the class names among them) come from _generated_tables on",
        "first use, and each params class is made on first use, by name or through",
        "``EVENT_CLASSES`` (see _classes); _generated.pyi declares them for type checkers.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from ._classes import generated_module",
        "",
        f"EVENT_SCHEMA_VERSION = {literal(schema['event_schema_version'])}",
        f"PLUGIN_API_VERSION = {literal(schema['plugin_api_version'])}",
        "#: The digest of the layout facts a plugin library's C event functions bake in",
        "#: (_native/fp_events.h): they serve this module only when both say the same.",
        f"EVENT_LAYOUT_DIGEST = {literal(layout_digest(events))}",
        "#: The most parameters an event type has.",
        f"MAX_PARAMS = {max(len(e['params']) for e in events)}",
        "#: The event types whose parameter lengths are u32 (EF_LARGE_PAYLOAD), by code.",
        f"LARGE_CODES = {literal(large)}",
        "#: The number of event types: their codes are 0 to EVENT_COUNT - 1.",
        f"EVENT_COUNT = {len(events)}",
        "#: The names of the fact tables, defined in _generated_tables.",
        "TABLES = (",
        *(f"    {literal(n)}," for n in TABLE_NAMES),
        ")",
        "",
        "#: The params class of every event type, by event code (each made on first use).",
        "EVENT_CLASSES, __getattr__, __dir__ = generated_module(globals())",
    ]
    return "\n".join(out) + "\n"


def generate_tables(schema: dict[str, Any], schema_name: str) -> str:
    """The fact tables module (``_generated_tables.py``) as text."""
    events, names = checked_events(schema)
    out = [
        *header(schema, schema_name),
        '"""The fact tables of the Falco event schema: class names, parameter types, flag and',
        "dynamic tables, syscall names and one row per event type (the params classes are made",
        "from the rows).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "#: The name of the params class of every event type, indexed by event code.",
        "CLASS_NAMES: tuple[str, ...] = (",
        *(f"    {literal(n)}," for n in names),
        ")",
        "",
        "#: Parameter type name -> numeric code (``PT_*``).",
        "PARAM_TYPE_CODES: dict[str, int] = {",
    ]
    out.extend(f"    {literal(k)}: {v}," for k, v in schema["param_type_codes"].items())
    out.append("}")
    out.append("")
    out.append("#: Print format name -> numeric code (``PF_*``).")
    out.append("PRINT_FORMAT_CODES: dict[str, int] = {")
    out.extend(f"    {literal(k)}: {v}," for k, v in schema["print_format_codes"].items())
    out.append("}")
    out.append("")
    out.append("#: Syscall code (``PPM_SC_*``) -> the name libsinsp gives it: generic events are")
    out.append("#: named by their ID parameter (libscap's ppm_sc_names); code 0 is 'unknown', and")
    out.append("#: codes libscap leaves unnamed are ''.")
    out.append("PPM_SC_NAMES: tuple[str, ...] = (")
    out.extend(f"    {literal(n)}," for n in ppm_sc_names(schema))
    out.append(")")
    out.append("")
    out.append("#: Flag tables: name -> ((flag name, value), ...) in the schema's order.")
    out.append("FLAG_TABLES: dict[str, tuple[tuple[str, int], ...]] = {")
    for table, entries in schema["flag_tables"].items():
        value = tuple((e["name"], e["value"]) for e in entries)
        emit(value, 4, ",", out)
        _prefix_key(out, value, literal(table))
    out.append("}")
    out.append("")
    out.append("#: Dynamic-parameter tables: name -> ((param type, print format), ...) by index.")
    out.append("DYNAMIC_TABLES: dict[str, tuple[tuple[str, str], ...]] = {")
    for table, entries in schema["dynamic_tables"].items():
        value = tuple((e["type"], e["format"]) for e in entries)
        emit(value, 4, ",", out)
        _prefix_key(out, value, literal(table))
    out.append("}")
    out.append("")
    out.append("#: Parameter type name -> the annotation of its decoded value (None aside).")
    out.append("PARAM_ANNOTATIONS: dict[str, str] = {")
    out.extend(f"    {literal(k)}: {literal(annotation(k))}," for k in schema["param_type_codes"])
    out.append("}")
    out.append("")
    out.append("#: One row per event code: (code, id, name, direction, categories, flags, large,")
    out.append("#: params), each param (name, attribute, type, format, flags table, dynamic table,")
    out.append("#: index of the dirfd param).")
    out.append("EVENT_TABLE = (")
    for ev in events:
        emit(event_row(ev), 4, ",", out)
    out.append(")")
    return "\n".join(out) + "\n"


def generate_stub(schema: dict[str, Any], schema_name: str) -> str:
    """The stub of ``_generated`` (``_generated.pyi``): its names and every params class."""
    events, names = checked_events(schema)
    out = [
        *header(schema, schema_name),
        '"""Event types of the Falco event schema, as type checkers and the docs see them: at run',
        "time the fact tables come from _generated_tables and each params class is made on first",
        'use (see _classes)."""',
        "",
        *_type_imports(events),
        "EVENT_SCHEMA_VERSION: str",
        "PLUGIN_API_VERSION: str",
        "EVENT_LAYOUT_DIGEST: str",
        "MAX_PARAMS: int",
        "LARGE_CODES: tuple[int, ...]",
        "EVENT_COUNT: int",
        "TABLES: tuple[str, ...]",
        "CLASS_NAMES: tuple[str, ...]",
        "PARAM_TYPE_CODES: dict[str, int]",
        "PRINT_FORMAT_CODES: dict[str, int]",
        "PPM_SC_NAMES: tuple[str, ...]",
        "FLAG_TABLES: dict[str, tuple[tuple[str, int], ...]]",
        "DYNAMIC_TABLES: dict[str, tuple[tuple[str, str], ...]]",
        "PARAM_ANNOTATIONS: dict[str, str]",
        "EVENT_TABLE: tuple[tuple[Any, ...], ...]",
        "#: The params class of every event type, by event code (each made on first use).",
        "EVENT_CLASSES: EventClasses",
    ]
    for ev, cls in zip(events, names, strict=True):
        out.append("")
        out.extend(class_stub(ev, cls))
    return "\n".join(out) + "\n"


def generate_python(schema: dict[str, Any], schema_name: str) -> dict[Path, str]:
    """Every generated Python file, by path."""
    return {
        OUTPUT: generate(schema, schema_name),
        TABLES_OUTPUT: generate_tables(schema, schema_name),
        STUB_OUTPUT: generate_stub(schema, schema_name),
    }


def layout_facts(events: list[dict[str, Any]]) -> tuple[int, int, list[int]]:
    """What the C event functions need: the number of types, the most parameters of one,
    and per type whether its parameter lengths are u32."""
    large = [int(e["param_length_bytes"] == 4) for e in events]
    return len(events), max(len(e["params"]) for e in events), large


def layout_digest(events: list[dict[str, Any]]) -> str:
    """The digest of :func:`layout_facts` (16 hex digits)."""
    count, most, large = layout_facts(events)
    text = f"{count};{most};{''.join(map(str, large))}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def generate_c(schema: dict[str, Any], schema_name: str) -> str:
    """The C header of the layout facts, for _native/shim_events.c."""
    events = sorted(schema["event_types"], key=lambda e: e["code"])
    count, most, large = layout_facts(events)
    rows = [", ".join(map(str, large[i : i + 32])) for i in range(0, count, 32)]
    return "\n".join(
        [
            f"/* Generated by scripts/gen_events.py from {schema_name} (event schema "
            f"{schema['event_schema_version']}).",
            " * Do not edit: change the generator or the schema and run it again.",
            " * The event layout facts of the C event functions (shim_events.c). */",
            "#pragma once",
            f"#define FP_EVT_COUNT {count}",
            f"#define FP_EVT_MAX_PARAMS {most}",
            f'#define FP_EVT_LAYOUT_DIGEST "{layout_digest(events)}"',
            "/* per event type: 1 when its parameter lengths are u32 (EF_LARGE_PAYLOAD) */",
            "static const unsigned char fp_evt_large[FP_EVT_COUNT] = {",
            *(f"    {row}," for row in rows),
            "};",
            "",
        ]
    )


#: Placeholder names of codes libscap leaves unnamed (their PPM_SC_X line is commented out in
#: the driver's ppm_events_public.h): libsinsp shows "" as their evt.type.
PLACEHOLDER_SC_NAME = re.compile(r"na_\d+")


def ppm_sc_names(schema: dict[str, Any]) -> list[str]:
    """The syscall names by code, 0..N-1 without gaps ("" for a code without a name)."""
    names = schema["ppm_sc_names"]["names"]
    codes = sorted(int(code) for code in names)
    if codes != list(range(len(codes))):
        raise SystemExit("ppm_sc_names codes must be 0..N-1 without gaps")
    return ["" if PLACEHOLDER_SC_NAME.fullmatch(n) else n for n in (names[str(c)] for c in codes)]


def _prefix_key(out: list[str], value: tuple[Any, ...], key: str) -> None:
    """Turn the value just emitted at indent 4 into a ``key: value`` dict entry."""
    one = "    " + literal(value) + ","
    if one == out[-1] and len("    " + key + ": " + literal(value) + ",") <= LINE:
        out[-1] = "    " + key + ": " + literal(value) + ","
        return
    if one == out[-1]:
        # fits alone but not with its key: explode it
        out.pop()
        out.append(f"    {key}: (")
        out.extend(f"        {literal(v)}," for v in value)
        out.append("    ),")
        return
    start = len(out) - 1
    while out[start] != "    (":
        start -= 1
    out[start] = f"    {key}: ("


def _type_imports(events: list[dict[str, Any]]) -> list[str]:
    """The stub's imports: the value types the annotations name, and the base classes."""
    used = {p["type"] for e in events for p in e["params"]}
    words = set()
    for ptype in used:
        words.update(annotation(ptype).replace("|", " ").replace(",", " ").split())
    ip = sorted(w for w in words if w.startswith("IPv"))
    local = sorted(w for w in words if w in {"DynParam", "SockAddr", "SockTuple"})
    out = []
    if ip:
        out.append(f"from ipaddress import {', '.join(ip)}")
    out.append("from typing import Any")
    out.append("")
    out.append("from ._classes import EventClasses")
    if local:
        out.append(f"from .params import {', '.join(local)}")
    out.append("from .spec import EventParams")
    out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    """Read the schema, write the modules and headers; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    schema_path = Path(args[0]) if args else DEFAULT_SCHEMA
    schema = json.loads(schema_path.read_text())
    checks = gen_event_checks.generate_c(schema, schema_path.name, len(ppm_sc_names(schema)))
    outputs = {
        **generate_python(schema, schema_path.name),
        C_OUTPUT: generate_c(schema, schema_path.name),
        gen_event_checks.OUTPUT: checks,
    }
    for output, text in outputs.items():
        output.parent.mkdir(parents=True, exist_ok=True)
        if not output.exists() or output.read_text() != text:
            output.write_text(text)
        print(f"wrote {output.relative_to(ROOT)} ({len(schema['event_types'])} event types)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
