"""The plugin ABI as ctypes types, read from ``_native/fp_abi.h`` (the one description of it),
for tests that call a built .so directly.

:func:`read_header` turns the header's ``typedef struct``/``union``/``enum`` and function
pointer typedefs into ctypes types (``#pragma pack(push, 1)`` regions packed), so nothing
here repeats a layout; ``tests/test_abi_layout.py`` checks the result against the C compiler
and against the real libsinsp's ``plugin_api.h``.
"""

from __future__ import annotations

import ctypes
import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Any

HEADER = Path(__file__).resolve().parent.parent / "src" / "falco_plugin" / "_native" / "fp_abi.h"

SCALARS: dict[str, Any] = {
    "uint8_t": ctypes.c_uint8,
    "uint16_t": ctypes.c_uint16,
    "uint32_t": ctypes.c_uint32,
    "uint64_t": ctypes.c_uint64,
    "int8_t": ctypes.c_int8,
    "int16_t": ctypes.c_int16,
    "int32_t": ctypes.c_int32,
    "int64_t": ctypes.c_int64,
    "int": ctypes.c_int,
    "float": ctypes.c_float,
    "double": ctypes.c_double,
    "char": ctypes.c_char,
}


class Abi:
    """Every type of the header by its C name, and its enum constants."""

    def __init__(self, text: str) -> None:
        self.types: dict[str, Any] = dict(SCALARS)
        self.constants: dict[str, int] = {}
        self.structs: list[str] = []  # struct and union names, in header order
        self._read(text)

    def __getitem__(self, name: str) -> Any:
        return self.types[name]

    # ---- parsing ----

    def _read(self, text: str) -> None:
        text = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
        pos, packed = 0, False
        decl = re.compile(
            r"#pragma pack\(push, 1\)|#pragma pack\(pop\)"
            r"|typedef\s+(struct|union|enum)\s*(\w*)\s*\{"
            r"|typedef\s+([^;{}]*?\(\s*\*\s*\w+\s*\)\s*\([^;]*\))\s*;"
            r"|typedef\s+([\w\s*]+?)\s+(\w+)\s*;"
        )
        while (m := decl.search(text, pos)) is not None:
            pos = m.end()
            if m.group(0).startswith("#pragma"):
                packed = "push" in m.group(0)
            elif m.group(1):
                body, pos = _braced(text, m.end() - 1)
                name = re.match(r"\s*(\w+)\s*;", text[pos:])
                assert name is not None, f"typedef {m.group(1)} without a name"
                pos += name.end()
                self._compound(m.group(1), name.group(1), body, packed)
            elif m.group(3):
                name, ftype = self._function(m.group(3))
                self.types[name] = ftype
            else:
                target = self._scalar(m.group(4))
                self.types[m.group(5)] = target

    def _scalar(self, spelled: str) -> Any:
        words = spelled.replace("const", "").split()
        stars = spelled.count("*")
        base = " ".join(w for w in words if w != "*").replace("*", "").strip()
        if stars:
            return self._pointer(base, stars)
        if base in ("void",):
            return None
        return self.types[base]

    def _pointer(self, base: str, stars: int) -> Any:
        if base == "char" and stars == 1:
            return ctypes.c_char_p
        target = self.types.get(base)
        if stars == 1 and target is not None and base != "void":
            return ctypes.POINTER(target)
        return ctypes.c_void_p

    def _function(self, spelled: str) -> tuple[str, Any]:
        m = re.match(r"(.*?)\(\s*\*\s*(\w+)\s*\)\s*\((.*)\)\s*$", spelled, re.S)
        assert m is not None, spelled
        ret = self._scalar(m.group(1))
        args = [a.strip() for a in m.group(3).split(",") if a.strip() and a.strip() != "void"]
        params = [
            self._scalar(re.sub(r"\w+\s*$", "", a) if not a.endswith("*") else a) for a in args
        ]
        return m.group(2), ctypes.CFUNCTYPE(ret, *params)

    def _member(self, text: str) -> tuple[str, Any]:
        text = " ".join(text.split())
        if "(*" in text.replace("( *", "(*"):  # a function pointer spelled out: a pointer
            return self._function(text)[0], ctypes.c_void_p
        m = re.match(r"(.*?)(\w+)\s*(?:\[(\w+)\])?$", text)
        assert m is not None, text
        ctype = self._scalar(m.group(1))
        if m.group(3):
            ctype = ctype * int(m.group(3))
        return m.group(2), ctype

    def _compound(self, kind: str, name: str, body: str, packed: bool) -> None:
        if kind == "enum":
            value = -1
            for item in body.split(","):
                item = item.strip()
                if not item:
                    continue
                key, _, val = item.partition("=")
                value = int(val, 0) if val.strip() else value + 1
                self.constants[key.strip()] = value
            self.types[name] = ctypes.c_int
            return
        fields: list[tuple[str, Any]] = []
        for member in _members(body):
            inner = re.match(r"\s*(struct|union)\s*\{", member)
            if inner:
                sub, end = _braced(member, inner.end() - 1)
                sub_name = member[end:].strip()
                self._compound(inner.group(1), f"{name}.{sub_name}", sub, packed)
                fields.append((sub_name, self.types[f"{name}.{sub_name}"]))
            else:
                fields.append(self._member(member))
        base = ctypes.Union if kind == "union" else ctypes.Structure
        attrs: dict[str, Any] = {"_fields_": fields}
        if packed:
            attrs["_pack_"] = 1
        self.types[name] = type(name, (base,), attrs)
        self.structs.append(name)


def _braced(text: str, open_at: int) -> tuple[str, int]:
    """The text inside the braces opening at text[open_at], and the index after them."""
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_at + 1 : i], i + 1
    raise ValueError("unbalanced braces in the header")


def _members(body: str) -> list[str]:
    """The ';'-separated members of a struct body (nested braces kept whole)."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(body):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if c == ";" and depth == 0:
            if body[start:i].strip():
                out.append(body[start:i].strip())
            start = i + 1
    return out


def read_header(path: Path = HEADER) -> Abi:
    return Abi(path.read_text())


ABI = read_header()
SUCCESS, FAILURE, TIMEOUT, EOF = (
    ABI.constants[f"SS_PLUGIN_{n}"] for n in ("SUCCESS", "FAILURE", "TIMEOUT", "EOF")
)
FTYPES = {
    name.lower(): ABI.constants[f"FTYPE_{name}"]
    for name in ("UINT64", "STRING", "RELTIME", "ABSTIME", "BOOL", "IPADDR", "IPNET")
}

Event = ABI["ss_plugin_event"]
LOG_FN = ABI["ss_plugin_log_fn_t"]
InitInput = ABI["ss_plugin_init_input"]
EventInput = ABI["ss_plugin_event_input"]
ByteBuffer = ABI["ss_plugin_byte_buffer"]
ExtractField = ABI["ss_plugin_extract_field"]
ValueOffsets = ABI["ss_plugin_extract_value_offsets"]
ExtractInput = ABI["ss_plugin_field_extract_input"]


def load(path: str | os.PathLike[str]) -> ctypes.CDLL:
    """dlopen like libsinsp (RTLD_LOCAL|RTLD_NOW) and declare the signatures used in tests."""
    so = ctypes.CDLL(str(Path(path)), mode=os.RTLD_LOCAL | os.RTLD_NOW)
    for name in ("get_name", "get_required_api_version", "get_fields"):
        fn = getattr(so, f"plugin_{name}", None)
        if fn is not None:
            fn.restype = ctypes.c_char_p
    so.plugin_get_last_error.restype = ctypes.c_char_p
    so.plugin_get_last_error.argtypes = [ctypes.c_void_p]
    so.plugin_init.restype = ctypes.c_void_p
    so.plugin_init.argtypes = [ctypes.POINTER(InitInput), ctypes.POINTER(ctypes.c_int)]
    so.plugin_destroy.argtypes = [ctypes.c_void_p]
    if hasattr(so, "plugin_extract_fields"):
        so.plugin_extract_fields.restype = ctypes.c_int
        so.plugin_extract_fields.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(EventInput),
            ctypes.POINTER(ExtractInput),
        ]
    return so


class Extractor:
    """An initialised plugin state and a way to ask it for fields like libsinsp does."""

    def __init__(self, so: ctypes.CDLL, config: bytes = b"", *, offsets: bool = False) -> None:
        self.so = so
        self.logs: list[bytes] = []
        self._log_fn = LOG_FN(lambda owner, comp, msg, sev: self.logs.append(msg))
        rc = ctypes.c_int(-99)
        self.state = so.plugin_init(
            ctypes.byref(InitInput(config, None, None, None, self._log_fn)), ctypes.byref(rc)
        )
        self.init_rc = rc.value
        self.fields = {f["name"]: (i, f) for i, f in enumerate(json.loads(so.plugin_get_fields()))}
        self.offsets = offsets
        self._evtnum = 0
        self._event: tuple[int, bytes, Any] | None = None

    @property
    def last_error(self) -> str:
        return self.so.plugin_get_last_error(self.state).decode()

    def extract(
        self, raw: bytes, spec: str, *, evtnum: int | None = None, source: bytes = b"src"
    ) -> tuple[int, Any, tuple[int, int] | None]:
        """(rc, value, offsets) for one field spec ``name`` or ``name[arg]``; each call is a
        new event (a new event number) unless ``evtnum`` says otherwise."""
        rc, values, offsets = self.extract_many(raw, [spec], evtnum=evtnum, source=source)
        if rc != SUCCESS:
            return rc, None, None
        return rc, values[0], offsets[0] if offsets else None

    def extract_many(
        self, raw: bytes, specs: list[str], *, evtnum: int | None = None, source: bytes = b"src"
    ) -> tuple[int, list[Any], list[tuple[int, int]] | None]:
        """(rc, values, offsets) of the field specs asked for in one call, as :meth:`extract`
        reads one."""
        if evtnum is None:
            self._evtnum += 1
            evtnum = self._evtnum
        fields = (ExtractField * len(specs))()
        infos = []
        for f, spec in zip(fields, specs, strict=True):
            name, _, arg = spec.partition("[")
            arg = arg[:-1] if arg else ""
            field_id, info = self.fields[name]
            infos.append(info)
            f.field_id = field_id
            f.field = name.encode()
            f.ftype = FTYPES[info["type"]]
            f.flist = int(info.get("isList", False))
            if arg:
                f.arg_present = 1
                if info["arg"].get("isIndex"):
                    f.arg_index = int(arg)
                else:
                    f.arg_key = arg.encode()
        # the host's event stays where it is while its number does (as in libsinsp): the
        # plugin knows an event it has seen by its number and address
        if self._event is None or self._event[:2] != (evtnum, raw):
            self._event = (evtnum, raw, ctypes.create_string_buffer(raw, len(raw)))
        buf = self._event[2]
        evt = EventInput(ctypes.cast(ctypes.addressof(buf), ctypes.POINTER(Event)), evtnum, source)
        offsets = ValueOffsets()
        inp = ExtractInput(None, None, len(specs), fields)
        if self.offsets:
            inp.value_offsets = ctypes.pointer(offsets)
        rc = self.so.plugin_extract_fields(self.state, ctypes.byref(evt), ctypes.byref(inp))
        if rc != SUCCESS:
            return rc, [], None
        out = []
        for f, info in zip(fields, infos, strict=True):
            res = ctypes.cast(f.res.u64, ctypes.c_void_p).value or 0
            values = [decode_value(info["type"], res, i) for i in range(f.res_len)]
            out.append(values if info.get("isList") else (values[0] if values else None))
        where = None
        if self.offsets and offsets.start:
            where = [(offsets.start[i], offsets.length[i]) for i in range(len(specs))]
        return rc, out, where

    def close(self) -> None:
        self.so.plugin_destroy(self.state)


def decode_value(ftype: str, res: int, i: int) -> Any:
    if ftype in ("uint64", "reltime", "abstime"):
        return ctypes.cast(res, ctypes.POINTER(ctypes.c_uint64))[i]
    if ftype == "bool":
        return bool(ctypes.cast(res, ctypes.POINTER(ctypes.c_uint32))[i])
    if ftype == "string":
        return ctypes.cast(res, ctypes.POINTER(ctypes.c_char_p))[i].decode()
    buf = ctypes.cast(res, ctypes.POINTER(ByteBuffer))[i]
    return ipaddress.ip_address(ctypes.string_at(buf.ptr, buf.len))
