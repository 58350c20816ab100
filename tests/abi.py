"""ctypes mirrors of the plugin ABI, for tests that call a built .so directly."""

from __future__ import annotations

import ctypes
import ipaddress
import os
from pathlib import Path
from typing import Any

SUCCESS, FAILURE, TIMEOUT, EOF = 0, 1, -1, 2
FTYPES = {
    "uint64": 8,
    "string": 9,
    "reltime": 20,
    "abstime": 21,
    "bool": 25,
    "ipaddr": 40,
    "ipnet": 41,
}


class Event(ctypes.Structure):
    _pack_ = 1
    _fields_ = [
        ("ts", ctypes.c_uint64),
        ("tid", ctypes.c_uint64),
        ("len", ctypes.c_uint32),
        ("type", ctypes.c_uint16),
        ("nparams", ctypes.c_uint32),
    ]


LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int)


class InitInput(ctypes.Structure):
    _fields_ = [
        ("config", ctypes.c_char_p),
        ("owner", ctypes.c_void_p),
        ("get_owner_last_error", ctypes.c_void_p),
        ("tables", ctypes.c_void_p),
        ("log_fn", LOG_FN),
    ]


class EventInput(ctypes.Structure):
    _fields_ = [("evt", ctypes.c_void_p), ("evtnum", ctypes.c_uint64), ("evtsrc", ctypes.c_char_p)]


class ByteBuffer(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint32), ("ptr", ctypes.c_void_p)]


class ExtractField(ctypes.Structure):
    _fields_ = [
        ("res", ctypes.c_void_p),
        ("res_len", ctypes.c_uint64),
        ("field_id", ctypes.c_uint32),
        ("field", ctypes.c_char_p),
        ("arg_key", ctypes.c_char_p),
        ("arg_index", ctypes.c_uint64),
        ("arg_present", ctypes.c_uint32),
        ("ftype", ctypes.c_uint32),
        ("flist", ctypes.c_uint32),
    ]


class ValueOffsets(ctypes.Structure):
    _fields_ = [
        ("start", ctypes.POINTER(ctypes.c_uint32)),
        ("length", ctypes.POINTER(ctypes.c_uint32)),
    ]


class ExtractInput(ctypes.Structure):
    _fields_ = [
        ("owner", ctypes.c_void_p),
        ("get_owner_last_error", ctypes.c_void_p),
        ("num_fields", ctypes.c_uint32),
        ("fields", ctypes.POINTER(ExtractField)),
        ("table_reader", ctypes.c_void_p * 4),
        ("table_reader_ext", ctypes.c_void_p),
        ("value_offsets", ctypes.POINTER(ValueOffsets)),
    ]


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
        import json

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

    @property
    def last_error(self) -> str:
        return self.so.plugin_get_last_error(self.state).decode()

    def extract(
        self, raw: bytes, spec: str, *, evtnum: int | None = None, source: bytes = b"src"
    ) -> tuple[int, Any, tuple[int, int] | None]:
        """(rc, value, offsets) for one field spec ``name`` or ``name[arg]``; each call is a
        new event (a new event number) unless ``evtnum`` says otherwise."""
        if evtnum is None:
            self._evtnum += 1
            evtnum = self._evtnum
        name, _, arg = spec.partition("[")
        arg = arg[:-1] if arg else ""
        field_id, info = self.fields[name]
        f = ExtractField()
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
        buf = ctypes.create_string_buffer(raw, len(raw))
        evt = EventInput(ctypes.addressof(buf), evtnum, source)
        offsets = ValueOffsets()
        inp = ExtractInput(None, None, 1, ctypes.pointer(f))
        if self.offsets:
            inp.value_offsets = ctypes.pointer(offsets)
        rc = self.so.plugin_extract_fields(self.state, ctypes.byref(evt), ctypes.byref(inp))
        if rc != SUCCESS:
            return rc, None, None
        values = [decode_value(info["type"], f.res, i) for i in range(f.res_len)]
        value = values if info.get("isList") else (values[0] if values else None)
        where = None
        if self.offsets and offsets.start:
            where = (offsets.start[0], offsets.length[0])
        return rc, value, where

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
