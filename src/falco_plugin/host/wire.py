"""The wire format to and from the C engine: plan items out, records in.

Every name and number comes from ``_native/host/proto.h``, read once at import: the enums
(``P_*``, ``R_*``, ``OP_*``, ...), the ``#define`` constants and the ``FP_SYMBOLS`` list, so
the header stays the one description of the format. ``Plan`` builds a message;
``Records`` splits the record stream and ``Fields`` reads the values of one record.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

PROTO_HEADER = "host/proto.h"
ABI_HEADER = "fp_abi.h"


def _read_header(name: str) -> str:
    return resources.files("falco_plugin").joinpath("_native").joinpath(name).read_text()


def _constants(text: str) -> dict[str, int]:
    """``#define NAME number`` and the members of every ``enum`` with explicit values."""
    out: dict[str, int] = {}
    for name, value in re.findall(r"^#define\s+([A-Z_][A-Z0-9_]*)\s+(\d+)[uU]?\s*$", text, re.M):
        out[name] = int(value)
    for body in re.findall(r"enum\s*\w*\s*\{(.*?)\}", text, re.S):
        body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
        for name, value in re.findall(r"([A-Z_][A-Z0-9_]*)\s*=\s*(\d+)", body):
            out[name] = int(value)
    return out


def _symbols(text: str) -> tuple[str, ...]:
    match = re.search(r"#define FP_SYMBOLS\(X\)(.*?)\n\n", text, re.S)
    if not match:
        raise RuntimeError(f"{PROTO_HEADER} has no FP_SYMBOLS list")
    return tuple(re.findall(r"X\((\w+)\)", match.group(1)))


_TEXT = _read_header(PROTO_HEADER)
#: Every constant of proto.h and fp_abi.h (FTYPE_*, SS_PLUGIN_ST_*, ...) by name.
C: dict[str, int] = {**_constants(_read_header(ABI_HEADER)), **_constants(_TEXT)}
#: The plugin_* symbols the engine looks up, in the order of R_META's symbol mask.
SYMBOLS: tuple[str, ...] = _symbols(_TEXT)
NULL_STR = C["FP_NULL_STR"]
NO_PLUGIN = C["FP_NO_PLUGIN"]
API_VERSION = (C["FP_HOST_API_MAJOR"], C["FP_HOST_API_MINOR"], C["FP_HOST_API_PATCH"])

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class Plan:
    """One plan message: ``item(tag)`` then the values that tag takes (proto.h)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def item(self, tag: str) -> Plan:
        """Appends tag ``P_...`` (or ``FX_...``, ``F_...``); its values follow."""
        self.u8(C[tag])
        return self

    def u8(self, v: int) -> Plan:
        self._buf.append(v & 0xFF)
        return self

    def u32(self, v: int) -> Plan:
        self._buf += _U32.pack(v & 0xFFFFFFFF)
        return self

    def u64(self, v: int) -> Plan:
        self._buf += _U64.pack(v & 0xFFFFFFFFFFFFFFFF)
        return self

    def str(self, v: str | bytes | None) -> Plan:
        if v is None:
            return self.u32(NULL_STR)
        data = v.encode("utf-8", "surrogateescape") if isinstance(v, str) else bytes(v)
        self.u32(len(data))
        self._buf += data
        return self

    def raw(self, data: bytes) -> Plan:
        self._buf += data
        return self

    def message(self) -> bytes:
        """The message as sent: a u32 length, then the items ending with P_END."""
        body = bytes(self._buf) + bytes([C["P_END"]])
        return _U32.pack(len(body)) + body

    def body(self) -> bytes:
        return bytes(self._buf)


@dataclass
class Fields:
    """A cursor over one record's values."""

    data: bytes
    pos: int = 0

    def u8(self) -> int:
        v = self.data[self.pos]
        self.pos += 1
        return v

    def u16(self) -> int:
        v = int.from_bytes(self.data[self.pos : self.pos + 2], "little")
        self.pos += 2
        return v

    def u32(self) -> int:
        (v,) = _U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(v)

    def u64(self) -> int:
        (v,) = _U64.unpack_from(self.data, self.pos)
        self.pos += 8
        return int(v)

    def i64(self) -> int:
        v = self.u64()
        return v - (1 << 64) if v >= 1 << 63 else v

    def blob(self) -> bytes | None:
        n = self.u32()
        if n == NULL_STR:
            return None
        v = self.data[self.pos : self.pos + n]
        self.pos += n
        return v

    def str(self) -> str | None:
        v = self.blob()
        return None if v is None else v.decode("utf-8", "replace")

    def take(self, n: int) -> bytes:
        v = self.data[self.pos : self.pos + n]
        self.pos += n
        return v


#: Record kinds by number.
RECORD_KINDS = {v: k for k, v in C.items() if k.startswith("R_")}


class Records:
    """Splits the engine's record channel into (kind, Fields), as the bytes arrive."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[str, Fields]]:
        self._buf += data
        while len(self._buf) >= 5:
            (n,) = _U32.unpack_from(self._buf, 0)
            if len(self._buf) < 4 + n:
                break
            kind = RECORD_KINDS.get(self._buf[4], f"R_{self._buf[4]}")
            body = bytes(self._buf[5 : 4 + n])
            del self._buf[: 4 + n]
            yield kind, Fields(body)

    @property
    def pending(self) -> int:
        """Bytes of a record not complete yet (the engine died in the middle of one)."""
        return len(self._buf)
