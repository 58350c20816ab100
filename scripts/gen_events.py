"""Generate ``falco_plugin/event/_generated.py`` and ``falco_plugin/_native/fp_events.h`` (the
event layouts the shim's C event model reads) from the Falco event schema (JSON facts), and
the shim's C tables of what a source may emit (``_native/fp_event_checks.h``, by
``gen_event_checks.py``).

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
OUTPUT = ROOT / "src" / "falco_plugin" / "event" / "_generated.py"
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
    if keyword.iskeyword(name) or name in RESERVED or name.startswith("_"):
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


def class_source(ev: dict[str, Any], cls: str) -> list[str]:
    """The params class of one event type: slots, typed attributes and ``__init__``."""
    attrs = [(attr_name(p["name"]), ANNOTATIONS.get(p["type"], "int")) for p in ev["params"]]
    direction = "enter" if ev["direction"] == "enter" else "exit"
    out = [f"class {cls}(EventParams):", f'    """{ev["name"]} ({direction}): {ev["id"]}."""', ""]
    out.extend(slots_lines(tuple(a for a, _ in attrs)))
    if not attrs:
        return out
    out.append("")
    out.extend(f"    {attr}: {ann} | None" for attr, ann in attrs)
    out.append("")
    args = [f"{attr}: {ann} | None = None" for attr, ann in attrs]
    one = "    def __init__(self, " + ", ".join(args) + ") -> None:"
    if len(one) <= LINE:
        out.append(one)
    else:
        out.append("    def __init__(")
        out.append("        self,")
        out.extend(f"        {a}," for a in args)
        out.append("    ) -> None:")
    out.extend(f"        self.{attr} = {attr}" for attr, _ in attrs)
    return out


def slots_lines(names: tuple[str, ...]) -> list[str]:
    """``__slots__ = (...)`` on one line when it fits, else exploded."""
    one = "    __slots__ = " + literal(names)
    if len(one) <= LINE:
        return [one]
    return ["    __slots__ = ("] + [f"        {literal(n)}," for n in names] + ["    )"]


def generate(schema: dict[str, Any], schema_name: str) -> str:
    """The whole generated module as text."""
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

    out = [
        f"# Generated by scripts/gen_events.py from {schema_name}"
        f" (event schema {schema['event_schema_version']}).",
        "# Do not edit: change the generator or the schema and run it again.",
        '"""Event types of the Falco event schema: fact tables and one params class per type."""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import TYPE_CHECKING",
        "",
        "from .spec import EventParams, bind_classes",
        "",
        *_type_imports(events),
        f"EVENT_SCHEMA_VERSION = {literal(schema['event_schema_version'])}",
        f"PLUGIN_API_VERSION = {literal(schema['plugin_api_version'])}",
        "#: The digest of the layout facts a plugin library's C event functions bake in",
        "#: (_native/fp_events.h): they serve this module only when both say the same.",
        f"EVENT_LAYOUT_DIGEST = {literal(layout_digest(events))}",
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
    out.append("#: One row per event code: (code, id, name, direction, categories, flags, large,")
    out.append("#: params), each param (name, attribute, type, format, flags table, dynamic table,")
    out.append("#: index of the dirfd param).")
    out.append("EVENT_TABLE = (")
    for ev in events:
        emit(event_row(ev), 4, ",", out)
    out.append(")")
    for ev, cls in zip(events, names, strict=True):
        out.append("")
        out.append("")
        out.extend(class_source(ev, cls))
    out.append("")
    out.append("")
    out.append("#: The params class of every event type, indexed by event code.")
    out.append("EVENT_CLASSES: tuple[type[EventParams], ...] = (")
    out.extend(f"    {n}," for n in names)
    out.append(")")
    out.append("")
    out.append("bind_classes(EVENT_CLASSES, EVENT_TABLE, FLAG_TABLES, DYNAMIC_TABLES)")
    return "\n".join(out) + "\n"


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
    """The ``if TYPE_CHECKING:`` block importing the value types the annotations name."""
    used = {p["type"] for e in events for p in e["params"]}
    words = set()
    for ptype in used:
        words.update(ANNOTATIONS.get(ptype, "int").replace("|", " ").replace(",", " ").split())
    ip = sorted(w for w in words if w.startswith("IPv"))
    local = sorted(w for w in words if w in {"DynParam", "SockAddr", "SockTuple"})
    if not ip and not local:
        return []
    out = ["if TYPE_CHECKING:"]
    if ip:
        out.append(f"    from ipaddress import {', '.join(ip)}")
        if local:
            out.append("")
    if local:
        out.append(f"    from .params import {', '.join(local)}")
    out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    """Read the schema, write the module; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    schema_path = Path(args[0]) if args else DEFAULT_SCHEMA
    schema = json.loads(schema_path.read_text())
    checks = gen_event_checks.generate_c(schema, schema_path.name, len(ppm_sc_names(schema)))
    for output, text in (
        (OUTPUT, generate(schema, schema_path.name)),
        (C_OUTPUT, generate_c(schema, schema_path.name)),
        (gen_event_checks.OUTPUT, checks),
    ):
        output.parent.mkdir(parents=True, exist_ok=True)
        if not output.exists() or output.read_text() != text:
            output.write_text(text)
        print(f"wrote {output.relative_to(ROOT)} ({len(schema['event_types'])} event types)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
