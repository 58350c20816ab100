"""Turning the engine's records into what the host prints: JSON lines (``--json``), or text.

Each ``*_record`` function decodes one record into the JSON object the host prints for it;
``text_*`` functions give the text form.
"""

from __future__ import annotations

import ipaddress
import json
import struct
from typing import Any

from .fields import Request
from .metadata import LoadedPlugin
from .sysfields import SIGNED
from .wire import NO_PLUGIN, C, Fields

PLUGIN_EVENT_TYPE = C["FP_PLUGINEVENT_TYPE"]
PAYLOAD_OFFSET = C["FP_PLUGINEVENT_PAYLOAD_OFFSET"]
ASYNC_EVENT_TYPE = C["FP_ASYNCEVENT_TYPE"]
ASYNC_NAME_OFFSET = 42
_HEADER = struct.Struct("<QqIHI")
SEVERITIES = {
    C[f"SS_PLUGIN_LOG_SEV_{s}"]: s
    for s in ("FATAL", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG", "TRACE")
}
STATE_TYPES = {
    C[f"SS_PLUGIN_ST_{t.upper()}"]: t
    for t in (
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "string",
        "table",
        "bool",
    )
}
METRIC_VALUE_TYPES = {
    0: ("u32", "<I"),
    1: ("s32", "<i"),
    2: ("u64", "<Q"),
    3: ("s64", "<q"),
    4: ("d", "<d"),
    5: ("f", "<f"),
    6: ("i", "<i"),
}


def read_value(f: Fields, ftype: str) -> Any:
    """One value in VALUE ENCODING, as JSON (signed syscall fields as signed numbers)."""
    if ftype == "string":
        return f.str()
    if ftype in ("ipaddr", "ipnet"):
        n = f.u8()
        return str(ipaddress.ip_address(f.take(n)))
    v = f.u64()
    if ftype in SIGNED and v >> 63:
        return v - 2**64
    return bool(v) if ftype == "bool" else v


def read_values(f: Fields, req: Request) -> tuple[Any, tuple[int, int], bool]:
    """One extracted field: (JSON value, offsets, offsets given)."""
    present, has_offset, start, length, n = f.u8(), f.u8(), f.u32(), f.u32(), f.u32()
    values = [read_value(f, req.type) for _ in range(n)]
    value: Any = None
    if present:
        value = values if req.is_list else values[0]
    return value, (start, length), bool(has_offset)


def text_value(value: Any, is_list: bool) -> str:
    """A field value as Falco's output text: <NA> when absent, lists as (a,b)."""
    if value is None:
        return "<NA>"
    if is_list:
        return "(" + ",".join(text_value(v, False) for v in value) + ")"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _capture_event(raw: bytes, sources: dict[int, str]) -> dict[str, Any]:
    """What a replayed capture's event is, as libsinsp shows it: a syscall event by name, a
    plugin event or an async event of the source its plugin id names ("" when no loaded
    plugin has that id, "syscall" for id 0)."""
    from ..event._generated import EVENT_TABLE

    ts, tid, _length, etype, _np = _HEADER.unpack_from(raw, 0)
    record: dict[str, Any] = {"ts": ts, "tid": tid, "type": etype}
    if etype == ASYNC_EVENT_TYPE and len(raw) >= ASYNC_NAME_OFFSET:
        (plugin_id,) = struct.unpack_from("<I", raw, 38)
        (l2,) = struct.unpack_from("<I", raw, 30)
        (l3,) = struct.unpack_from("<I", raw, 34)
        name = raw[ASYNC_NAME_OFFSET : ASYNC_NAME_OFFSET + l2].rstrip(b"\0")
        record.update(
            {
                "async": True,
                "plugin": None,
                "name": name.decode(errors="replace"),
                "data_hex": raw[ASYNC_NAME_OFFSET + l2 :][:l3].hex(),
                "source": sources.get(plugin_id, "syscall" if plugin_id == 0 else ""),
            }
        )
    elif etype == PLUGIN_EVENT_TYPE and len(raw) >= PAYLOAD_OFFSET:
        (plugin_id,) = struct.unpack_from("<I", raw, 34)
        (plen,) = struct.unpack_from("<I", raw, 30)
        record.update(
            {
                "plugin": "",
                "plugin_id": plugin_id,
                "info": None,
                "payload_hex": raw[PAYLOAD_OFFSET : PAYLOAD_OFFSET + plen].hex(),
                "source": sources.get(plugin_id, ""),
            }
        )
    else:
        record.update(
            {"name": EVENT_TABLE[etype][2] if etype < len(EVENT_TABLE) else "", "source": "syscall"}
        )
    return record  # fmt: skip


def event_record(
    f: Fields,
    plugins: list[LoadedPlugin],
    specs: list[tuple[str, Request]],
    emitted: list[Request],
    output: list[str | Request] | None,
    capture_sources: dict[int, str] | None = None,
) -> dict[str, Any]:
    """R_EVENT as the host prints it in JSON; a replayed capture's events (when
    ``capture_sources`` maps the loaded plugins' ids to their sources) as libsinsp shows
    them."""
    p = plugins[f.u32()]
    evtnum = f.u64()
    raw = f.blob() or b""
    info = f.str()
    if capture_sources is not None:
        event = {"evtnum": evtnum, **_capture_event(raw, capture_sources)}
        _fields(f, event, specs, emitted, output)
        return event
    ts, tid, _length, etype, _np = _HEADER.unpack_from(raw, 0)
    plugin_event = etype == PLUGIN_EVENT_TYPE and len(raw) >= PAYLOAD_OFFSET
    if plugin_event:
        (plugin_id,) = struct.unpack_from("<I", raw, 34)
        (plen,) = struct.unpack_from("<I", raw, 30)
        payload = raw[PAYLOAD_OFFSET : PAYLOAD_OFFSET + plen]
    else:
        plugin_id, payload = p.id, raw
    record: dict[str, Any] = {
        "plugin": p.name,
        "evtnum": evtnum,
        "ts": ts,
        "tid": tid,
        "type": etype,
        "source": p.source,
        "plugin_id": plugin_id,
        "info": info,
        "payload_hex": payload.hex(),
    }
    _fields(f, record, specs, emitted, output)
    return record


def _fields(
    f: Fields,
    record: dict[str, Any],
    specs: list[tuple[str, Request]],
    emitted: list[Request],
    output: list[str | Request] | None,
) -> None:
    values: dict[int, tuple[Any, tuple[int, int], bool]] = {}
    for req in emitted:
        values[req.index] = read_values(f, req)
    if specs:
        record["fields"] = {spec: values[req.index][0] for spec, req in specs}
        offsets = {spec: values[req.index][1] for spec, req in specs if values[req.index][2]}
        if offsets:
            record["offsets"] = {k: (None if v == (0, 0) else list(v)) for k, v in offsets.items()}
    if output is not None:
        record["output"] = "".join(
            part if isinstance(part, str) else text_value(values[part.index][0], part.is_list)
            for part in output
        )


def text_event(record: dict[str, Any], specs: list[tuple[str, Request]]) -> str:
    line = f"{record['evtnum']} {record['ts']} {record['source']} "
    if "output" in record:
        line += record["output"]
    elif record.get("info") is not None:
        line += record["info"]
    for spec, req in specs:
        if not line.endswith(" "):
            line += " "
        line += f"{spec}={text_value(record['fields'][spec], req.is_list)}"
    return line


def async_record(f: Fields, plugins: list[LoadedPlugin]) -> dict[str, Any]:
    stream, emitter, dump, evtnum = f.u32(), f.u32(), f.u8(), f.u64()
    raw = f.blob() or b""
    ts, tid, _length, etype, _np = _HEADER.unpack_from(raw, 0)
    (l2,) = struct.unpack_from("<I", raw, 30)
    (l3,) = struct.unpack_from("<I", raw, 34)
    (plugin_id,) = struct.unpack_from("<I", raw, 38)
    name = raw[ASYNC_NAME_OFFSET : ASYNC_NAME_OFFSET + l2].rstrip(b"\0").decode(errors="replace")
    data = raw[ASYNC_NAME_OFFSET + l2 : ASYNC_NAME_OFFSET + l2 + l3]
    source = plugins[stream].source if stream != NO_PLUGIN else "syscall"
    record: dict[str, Any] = {"plugin": plugins[emitter].name, "async": True}
    if dump:
        record["dump"] = True
    record.update(
        {
            "evtnum": evtnum,
            "ts": ts,
            "tid": tid,
            "type": etype,
            "name": name,
            "data_hex": data.hex(),
            "source": source,
            "plugin_id": plugin_id,
        }
    )
    return record


def text_async(r: dict[str, Any]) -> str:
    data = bytes.fromhex(r["data_hex"])
    shown = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data[:64])
    more = "..." if len(data) > 64 else ""
    dump = " dump" if r.get("dump") else ""
    return (
        f"{r['evtnum']} {r['ts']} {r['source']} async{dump} {r['plugin']} {r['name']} "
        f"datalen={len(data)} data={shown}{more}"
    )


def metrics_record(f: Fields, plugins: list[LoadedPlugin]) -> dict[str, Any]:
    p = plugins[f.u32()]
    items = []
    for _ in range(f.u32()):
        name, mtype, vtype, raw = f.str(), f.u32(), f.u32(), f.u64()
        label, fmt = METRIC_VALUE_TYPES.get(vtype, ("unknown", ""))
        value: Any = None
        if fmt:
            (value,) = struct.unpack_from(fmt, raw.to_bytes(8, "little"))
            if isinstance(value, float) and (
                value != value or value in (float("inf"), -float("inf"))
            ):
                value = None
        items.append(
            {
                "name": name,
                "type": "monotonic" if mtype == 0 else "non_monotonic",
                "value_type": label,
                "value": value,
            }
        )
    return {"plugin": p.name, "items": items}


SUMMARY_FIELDS = (
    "inits",
    "events",
    "timeouts",
    "eof",
    "capture_ns",
    "init_ns",
    "rss_kb",
    "extract_failures",
    "filtered_out",
    "extract_calls",
    "extract_ns",
    "parse_calls",
    "parse_failures",
    "entry_leaks",
    "async_events",
    "async_refused",
    "dump_events",
    "routine_calls",
)


def summary_record(
    f: Fields, plugins: list[LoadedPlugin], extracting: bool, repeat: bool, dump_state: bool
) -> dict[str, Any]:
    p = plugins[f.u32()]
    cycle = f.u64()
    c = {name: f.u64() for name in SUMMARY_FIELDS}
    seconds = c["capture_ns"] / 1e9
    s: dict[str, Any] = {
        "plugin": p.name,
        "cycle": cycle,
        "inits": c["inits"],
        "events": c["events"],
        "timeouts": c["timeouts"],
        "eof": bool(c["eof"]),
        "capture_seconds": round(seconds, 6),
        "events_per_second": round(c["events"] / seconds, 1) if seconds > 0 else 0.0,
        "init_ms": round(c["init_ns"] / 1e6, 3),
        "rss_kb_after_init": c["rss_kb"] - 2**64 if c["rss_kb"] >= 2**63 else c["rss_kb"],
    }
    if extracting:
        s["extract_failures"] = c["extract_failures"]
        s["filtered_out"] = c["filtered_out"]
    if extracting and repeat:
        s["extract_calls"] = c["extract_calls"]
        s["extract_ns_per_call"] = (
            round(c["extract_ns"] / c["extract_calls"], 3) if c["extract_calls"] else None
        )
    if p.has("parse"):
        s["parse_calls"] = c["parse_calls"]
        s["parse_failures"] = c["parse_failures"]
    if p.has("parse") or p.has("extract"):
        s["entry_leaks"] = c["entry_leaks"]
    if p.has("async"):
        s["async_events"] = c["async_events"]
        s["async_refused"] = c["async_refused"]
        if dump_state:
            s["dump_events"] = c["dump_events"]
    if p.has("listen"):
        s["routine_calls"] = c["routine_calls"]
    return s


def tick_record(f: Fields, plugins: list[LoadedPlugin]) -> dict[str, Any]:
    """A capture under way (``--progress-every``): its events so far and, for a source with
    ``get_progress``, its progress (``pct`` in hundredths of a percent, else None)."""
    p, events, has, pct, txt = plugins[f.u32()], f.u64(), f.u8(), f.u32(), f.str()
    return {"plugin": p.name, "events": events, "pct": pct if has else None, "text": txt}


def text_tick(t: dict[str, Any]) -> str:
    line = f"tick {t['plugin']}: {t['events']} events"
    if t["pct"] is not None:
        line += f", {t['pct'] // 100}.{t['pct'] % 100:02d}%"
        line += f" {t['text']}" if t["text"] else ""
    return line


def text_summary(s: dict[str, Any]) -> str:
    line = (
        f"summary {s['plugin']}: cycle {s['cycle']}, {s['events']} events, "
        f"{s['timeouts']} timeouts, eof {'yes' if s['eof'] else 'no'}, "
        f"{s['capture_seconds']:.6f} s capture, {s['events_per_second']:.1f} events/s, "
        f"init {s['init_ms']:.3f} ms, rss after init {s['rss_kb_after_init']} kB"
    )
    if "extract_failures" in s:
        line += f", {s['extract_failures']} extract failures, {s['filtered_out']} filtered out"
    if "extract_calls" in s:
        ns = s["extract_ns_per_call"] or 0.0
        line += f", {s['extract_calls']} extract calls, {ns:.3f} ns/call"
    if "parse_calls" in s:
        line += f", {s['parse_calls']} parse calls, {s['parse_failures']} parse failures"
    if "entry_leaks" in s:
        line += f", {s['entry_leaks']} entry leaks"
    if "async_events" in s:
        line += f", {s['async_events']} async events, {s['async_refused']} async refused"
        if "dump_events" in s:
            line += f", {s['dump_events']} dump events"
    if "routine_calls" in s:
        line += f", {s['routine_calls']} routine calls"
    return line


def table_record(f: Fields, plugins: list[LoadedPlugin]) -> dict[str, Any]:
    name, owner, key_type, size = f.str(), f.u32(), f.u32(), f.u64()
    fields: list[dict[str, Any]] = []
    for _ in range(f.u32()):
        fields.append(
            {
                "name": f.str() or "",
                "type": STATE_TYPES.get(f.u32(), "unknown"),
                "read_only": bool(f.u8()),
            }
        )
    key_name = STATE_TYPES.get(key_type, "unknown")
    entries = []
    for _ in range(f.u64()):
        has_key, key = f.u8(), f.u64()
        entry: dict[str, Any] = {}
        if has_key:
            entry["key"] = _state_int(key, key_name)
        values: dict[str, Any] = {}
        for fld in fields:
            if not f.u8():
                values[fld["name"]] = None
            elif fld["type"] == "string":
                values[fld["name"]] = f.str()
            elif fld["type"] == "table":
                values[fld["name"]] = {"size": f.u64()}
            elif fld["type"] == "bool":
                values[fld["name"]] = bool(f.u64())
            else:
                values[fld["name"]] = _state_int(f.u64(), fld["type"])
        entry["fields"] = values
        entries.append(entry)
    return {
        "name": name,
        "owner": "host" if owner == NO_PLUGIN else plugins[owner].name,
        "key_type": key_name,
        "size": size,
        "fields": fields,
        "entries": entries,
    }


def _state_int(v: int, type_name: str) -> int:
    return v - 2**64 if type_name.startswith("int") and v >= 2**63 else v


def json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)
