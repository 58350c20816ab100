"""Generate ``falco_plugin/_native/fp_event_checks.h``: what a source may emit, as C tables.

``scripts/gen_events.py`` writes it with the Python event tables, from the same schema. The
shim's ``add_event`` (``shim_evcheck.c``) reads it to refuse, before the host sees them, the
events real libsinsp mishandles (``falco_plugin.event.source_check`` documents the rules and
what was measured). Per event type: its parameter count, whether its lengths are u32, and
whether a source may emit it at all; per parameter: how its bytes are checked (a *kind*).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "src" / "falco_plugin" / "_native" / "fp_event_checks.h"

#: Event types libsinsp stops on by design (a live capture aborts on a CPU hotplug event).
STOPS_LIBSINSP = ("PPME_CPU_HOTPLUG_E",)

#: A thread's exit event whose reaper is the thread itself (libsinsp throws "the current
#: process is reaper of itself" when that thread has children; the kernel never says so).
SELF_REAPER = ("PPME_PROCEXIT_1_E", "reaper_tid")

#: Fixed-size parameters the kernel drivers themselves leave empty (modern_bpf's and the
#: kernel module's sendmsg exit push an empty size when the msghdr cannot be read): the only
#: fixed-size parameters a source may leave empty.
DRIVER_EMPTY = (("PPME_SOCKET_SENDMSG_X", "size"),)

#: Parameter kinds (how add_event checks the bytes of one parameter); keep in step with
#: shim_evcheck.c. Fixed-size kinds are FP_PK_FIXED + log2(size).
KINDS = {
    "PT_BYTEBUF": "FP_PK_BYTES",
    "PT_NONE": "FP_PK_BYTES",
    "PT_CHARBUF": "FP_PK_STR",
    "PT_FSPATH": "FP_PK_STR",
    "PT_FSRELPATH": "FP_PK_STR",
    "PT_SOCKADDR": "FP_PK_SOCKADDR",
    "PT_SOCKTUPLE": "FP_PK_SOCKTUPLE",
    "PT_FDLIST": "FP_PK_FDLIST",
    "PT_CHARBUFARRAY": "FP_PK_ARRAY",
    "PT_CHARBUF_PAIR_ARRAY": "FP_PK_ARRAY",
    "PT_IPADDR": "FP_PK_IP",
    "PT_IPNET": "FP_PK_IP",
    "PT_SYSCALLID": "FP_PK_SYSCALLID",
}
KIND_CODES = {
    "FP_PK_BYTES": 0,
    "FP_PK_STR": 1,
    "FP_PK_SOCKADDR": 2,
    "FP_PK_SOCKTUPLE": 3,
    "FP_PK_FDLIST": 4,
    "FP_PK_ARRAY": 5,
    "FP_PK_IP": 6,
    "FP_PK_SYSCALLID": 7,
    "FP_PK_FIXED": 8,  # + log2(size): 8, 9, 10, 11, 12 for 1, 2, 4, 8, 16 bytes
    "FP_PK_DYN": 16,  # + the dynamic table's index
}
MAY_BE_EMPTY = 0x80

#: Event flags in fp_evt_flags.
LARGE, UNUSED, STOPS = 1, 2, 4


def fixed_size(ptype: str) -> int:
    """The wire size of a fixed-size type, as the SDK's event model encodes it."""
    sys.path.insert(0, str(ROOT / "src"))
    try:
        from falco_plugin.event.params import codec
    finally:
        sys.path.pop(0)
    size = codec(ptype).size
    if size is None or size & (size - 1) or size > 16:
        raise SystemExit(f"{ptype}: no kind for a parameter of size {size}")
    return size


def kind(ptype: str, dynamic_table: str | None, dyn_index: dict[str, int]) -> int:
    """The kind code of one parameter type."""
    if ptype == "PT_DYN":
        return KIND_CODES["FP_PK_DYN"] + dyn_index[dynamic_table or ""]
    if ptype in KINDS:
        return KIND_CODES[KINDS[ptype]]
    return KIND_CODES["FP_PK_FIXED"] + fixed_size(ptype).bit_length() - 1


def c_array(ctype: str, name: str, values: list[int], per_line: int = 16) -> list[str]:
    """A static const C array, ``per_line`` values a line."""
    out = [f"static const {ctype} {name}[{len(values)}] = {{"]
    for i in range(0, len(values), per_line):
        out.append("    " + ", ".join(str(v) for v in values[i : i + per_line]) + ",")
    out.append("};")
    return out


def generate_c(schema: dict[str, Any], schema_name: str, ppm_sc_max: int) -> str:
    """The whole header as text."""
    events = sorted(schema["event_types"], key=lambda e: e["code"])
    ids = {e["id"] for e in events}
    for event_id, param in DRIVER_EMPTY:
        ev = next((e for e in events if e["id"] == event_id), None)
        if ev is None or param not in [p["name"] for p in ev["params"]]:
            raise SystemExit(f"DRIVER_EMPTY names {event_id}.{param}, not in the schema")
    reaper_event = next(e for e in events if e["id"] == SELF_REAPER[0])
    reaper_param = [p["name"] for p in reaper_event["params"]].index(SELF_REAPER[1])
    if reaper_event["params"][reaper_param]["type"] != "PT_PID":
        raise SystemExit(f"{SELF_REAPER}: not a PT_PID")
    missing = set(STOPS_LIBSINSP) - ids
    if missing:
        raise SystemExit(f"STOPS_LIBSINSP names types not in the schema: {sorted(missing)}")
    dyn_names = list(schema["dynamic_tables"])
    dyn_index = {name: i for i, name in enumerate(dyn_names)}
    nparams, first, flags, kinds = [], [], [], []
    for ev in events:
        first.append(len(kinds))
        nparams.append(len(ev["params"]))
        flags.append(
            (LARGE if ev["param_length_bytes"] == 4 else 0)
            | (UNUSED if "EF_UNUSED" in ev["flags"] else 0)
            | (STOPS if ev["id"] in STOPS_LIBSINSP else 0)
        )
        for p in ev["params"]:
            code = kind(p["type"], p.get("dynamic_table"), dyn_index)
            if (ev["id"], p["name"]) in DRIVER_EMPTY:
                code |= MAY_BE_EMPTY
            kinds.append(code)
    dyn_first, dyn_count, dyn_kinds = [], [], []
    for name in dyn_names:
        dyn_first.append(len(dyn_kinds))
        dyn_count.append(len(schema["dynamic_tables"][name]))
        for entry in schema["dynamic_tables"][name]:
            if entry["type"] == "PT_DYN":
                raise SystemExit(f"{name}: a dynamic parameter inside a dynamic parameter")
            dyn_kinds.append(kind(entry["type"], None, dyn_index))
    out = [
        f"/* Generated by scripts/gen_events.py from {schema_name}"
        f" (event schema {schema['event_schema_version']}).",
        " * Do not edit: change scripts/gen_event_checks.py or the schema and run it again.",
        " * What a source may emit, per event type and parameter (read by shim_evcheck.c). */",
        "",
        f"#define FP_EVT_TYPES {len(events)}u",
        f"#define FP_PPM_SC_MAX {ppm_sc_max}u",
        f"#define FP_EVT_LARGE {LARGE}u",
        f"#define FP_EVT_UNUSED {UNUSED}u",
        f"#define FP_EVT_STOPS {STOPS}u",
        f"#define FP_REAPER_EVENT {reaper_event['code']}u /* {SELF_REAPER[0]} */",
        f"#define FP_REAPER_PARAM {reaper_param}u /* {SELF_REAPER[1]}: never the event's tid */",
        *(f"#define {name} {code}u" for name, code in KIND_CODES.items()),
        f"#define FP_PK_MAY_BE_EMPTY {MAY_BE_EMPTY}u",
        "",
        "/* per event type: parameter count, index of its first kind, FP_EVT_* flags */",
        *c_array("uint8_t", "fp_evt_nparams", nparams),
        *c_array("uint16_t", "fp_evt_first", first, 12),
        *c_array("uint8_t", "fp_evt_flags", flags),
        "/* per parameter: FP_PK_* kind, | FP_PK_MAY_BE_EMPTY */",
        *c_array("uint8_t", "fp_evt_kinds", kinds),
        f"/* dynamic parameter tables: {', '.join(dyn_names)} */",
        *c_array("uint8_t", "fp_dyn_first", dyn_first),
        *c_array("uint8_t", "fp_dyn_count", dyn_count),
        *c_array("uint8_t", "fp_dyn_kinds", dyn_kinds),
    ]
    return "\n".join(out) + "\n"
