"""Scap capture files (``.scap``): read and write them as libscap's savefile engine does.

Reading::

    from falco_plugin.event.capture import open_capture

    with open_capture("trace.scap") as cap:          # plain or gzip, a path, bytes or a file
        print(cap.section.machine_info, len(cap.section.threads))
        for ev in cap:                               # CaptureEvent: raw, cpu, flags
            print(ev.cpu, ev.decode().to_text())

The events come as libsinsp gets them: older event layouts converted to the current schema
(:mod:`.convert`, libscap's own table), unused and old enter types dropped, events of types
newer than the schema skipped. ``convert=False`` gives them as stored (old types keep their
code and parameter count; the typed model reads the missing parameters as None). Either way,
event blocks of the oldest format (no ``nparams`` in the header) get it computed the way libscap
does. ``read_capture`` reads a whole capture into a :class:`Capture`.

Writing::

    from falco_plugin.event.capture import CaptureWriter, ThreadInfo

    with CaptureWriter("out.scap", threads=[ThreadInfo(tid=42, pid=42, comm="cat")]) as w:
        w.write(event)                               # Event, RawEvent, bytes or CaptureEvent

writes the blocks libscap's dumper writes (section header 1.2, machine info, interfaces,
users, process list v9, fd lists v2, event blocks v2 / with flags / large payload); a
:class:`CaptureLayout` selects older block versions (to test readers). Note that libscap
refuses a capture without events.

Malformed input raises :class:`CaptureFormatError` (a subclass of ``EventFormatError``); block
lengths are checked against the bytes actually present, so a bad length cannot cause a huge
allocation or a loop that does not end.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from . import capture_blocks as blocks
from ._generated import EVENT_TABLE
from .capture_blocks import (
    CaptureFormatError,
    FdInfo,
    FdType,
    Group,
    Interface,
    MachineInfo,
    ThreadInfo,
    User,
)
from .convert import ConversionError, Converter
from .raw import HEADER_LEN, Buffer, RawEvent
from .typed import Event, decode

__all__ = [
    "Capture",
    "CaptureEvent",
    "CaptureFormatError",
    "CaptureLayout",
    "CaptureReader",
    "CaptureWriter",
    "ConversionError",
    "FdInfo",
    "FdType",
    "Group",
    "Interface",
    "MachineInfo",
    "Section",
    "ThreadInfo",
    "User",
    "open_capture",
    "read_capture",
    "write_capture",
]

log = logging.getLogger(__name__)

SHB_BLOCK = 0x0A0D0D0A
SHB_MAGIC = 0x1A2B3C4D
FORMAT_VERSION = (1, 2)  # what libscap writes; it reads any 1.x
MI_BLOCKS = (0x201, 0x8002ABCD)
#: Block type -> version, per kind of metadata block (``*_INT``: pre-release numbers).
PL_BLOCKS = {
    0x202: 1, 0x8000ABCD: 1, 0x207: 2, 0x8013ABCD: 2, 0x209: 3, 0x8014ABCD: 3,
    0x210: 4, 0x211: 5, 0x212: 6, 0x213: 7, 0x214: 8, 0x215: 9,
}  # fmt: skip
FDL_BLOCKS = {0x203: 1, 0x8001ABCD: 1, 0x218: 2}
IL_BLOCKS = {0x205: 1, 0x8011ABCD: 1, 0x219: 2}
UL_BLOCKS = {0x206: 1, 0x8012ABCD: 1, 0x220: 2}
#: Event block type -> (header has nparams, block has flags, large payload).
EV_BLOCKS = {
    0x204: (False, False, False),
    0x8010ABCD: (False, False, False),
    0x208: (False, True, False),
    0x216: (True, False, False),
    0x217: (True, True, False),
    0x221: (True, False, True),
    0x222: (True, True, True),
}
_EV_TYPES = {v: k for k, v in EV_BLOCKS.items() if k != 0x8010ABCD}

#: ``SCAP_DF_STATE_ONLY``: the event updates state but is not shown (a filtered-out event).
STATE_ONLY = 1
#: ``SCAP_DF_LARGE``: libscap's dumper takes it from the event type and never stores it.
_DF_LARGE = 4
#: Bytes of a non-large event block libscap reads (READER_BUF_SIZE), trailer included.
MAX_SMALL_BLOCK = 1 << 16
_CHUNK = 1 << 20
_BH = struct.Struct("<II")
_SHB = struct.Struct("<IHHQ")
_V1_HEADER = struct.Struct("<QqIH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_EVENT_MAX = len(EVENT_TABLE)
_LARGE = tuple(bool(row[6]) for row in EVENT_TABLE)
_NPARAMS = tuple(len(row[7]) for row in EVENT_TABLE)
_CODES = {row[1]: row[0] for row in EVENT_TABLE}
#: Old captures stored 3 bytes too many in the length of these (libscap corrects it).
_LEN_PLUS_3 = frozenset(_CODES[i] for i in ("PPME_NOTIFICATION_E", "PPME_INFRASTRUCTURE_EVENT_E"))

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO


class CaptureEvent:
    """One event of a capture: the event (``raw``), the CPU it ran on and its dump flags."""

    __slots__ = ("raw", "cpu", "flags", "section")

    def __init__(self, raw: RawEvent, cpu: int = 0, flags: int = 0, section: int = 0) -> None:
        self.raw = raw
        self.cpu = cpu
        self.flags = flags
        self.section = section

    @property
    def ts(self) -> int:
        """The event's time stamp, ns since the epoch."""
        return self.raw.ts

    @property
    def tid(self) -> int:
        """The thread id of the event."""
        return self.raw.tid

    @property
    def type(self) -> int:
        """The event type code."""
        return self.raw.type

    @property
    def state_only(self) -> bool:
        """True for events kept only to update state (libsinsp parses but never shows them)."""
        return bool(self.flags & STATE_ONLY)

    def decode(self) -> Event:
        """The typed event (:class:`~falco_plugin.event.Event`)."""
        return decode(self.raw)

    def tobytes(self) -> bytes:
        """The event's bytes (header and parameters)."""
        return self.raw.tobytes()

    def __repr__(self) -> str:
        extra = f", flags={self.flags}" if self.flags else ""
        return f"CaptureEvent({self.raw!r}, cpu={self.cpu}{extra})"


@dataclass
class Section:
    """The metadata of one section: a capture is one, concatenated captures several."""

    version: tuple[int, int] = FORMAT_VERSION
    machine_info: MachineInfo | None = None
    threads: list[ThreadInfo] = field(default_factory=list)
    interfaces: list[Interface] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    #: fd lists of threads the process list does not have (libsinsp ignores them)
    unattached_fds: dict[int, list[FdInfo]] = field(default_factory=dict)
    #: the block versions seen, by kind ("proclist", "fdlist", ...), for information
    block_versions: dict[str, set[int]] = field(default_factory=dict)

    def thread(self, tid: int) -> ThreadInfo | None:
        """The process list entry of ``tid`` (the last one, if the file repeats it)."""
        for info in reversed(self.threads):
            if info.tid == tid:
                return info
        return None


@dataclass
class Capture:
    """A whole capture in memory (:func:`read_capture`)."""

    sections: list[Section]
    events: list[CaptureEvent]
    stats: dict[str, int]

    @property
    def section(self) -> Section:
        """The first section (most captures have only one)."""
        return self.sections[0]

    @property
    def machine_info(self) -> MachineInfo | None:
        """The machine info block of the first section, when there is one."""
        return self.section.machine_info

    @property
    def threads(self) -> list[ThreadInfo]:
        """The process list of the first section."""
        return self.section.threads


class _Prefixed(io.RawIOBase):
    """A stream with bytes already read from it put back in front (to sniff gzip)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def _open_source(source: Source) -> tuple[BinaryIO, list[Any]]:
    """A readable binary stream of the (possibly gzip) capture, and what to close after."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if data[:2] == b"\x1f\x8b":
            return gzip.GzipFile(fileobj=io.BytesIO(data)), []  # type: ignore[return-value]
        return io.BytesIO(data), []
    if isinstance(source, (str, os.PathLike)):
        raw: BinaryIO = open(source, "rb")  # noqa: SIM115 (closed by the reader)
        head = raw.read(2)
        raw.seek(0)
        if head == b"\x1f\x8b":
            unzipped = gzip.GzipFile(fileobj=raw)
            return unzipped, [unzipped, raw]  # type: ignore[return-value]
        return raw, [raw]
    head = source.read(2)
    stream = io.BufferedReader(_Prefixed(head, source))
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=stream), []  # type: ignore[return-value]
    return stream, []


class CaptureReader:
    """Reads a capture: the first section's metadata at once, then the events on demand.

    Iterate over it (once) for :class:`CaptureEvent` records. ``section`` is the section the
    last event came from (``sections`` has all seen so far); ``stats`` counts ``events`` (given
    out), ``converted``, ``dropped`` (by the conversion), ``skipped`` (types newer than the
    schema) and ``blocks``.
    """

    def __init__(self, source: Source, *, convert: bool = True) -> None:
        self._stream, self._to_close = _open_source(source)
        self._converter = Converter() if convert else None
        self._pending: tuple[int, int] | None = None
        self.sections: list[Section] = []
        self.stats = {"blocks": 0, "events": 0, "converted": 0, "dropped": 0, "skipped": 0}
        try:
            first = self._header()
            if first is None:
                raise CaptureFormatError("empty file: no section header block")
            self._read_section(first)
        except BaseException:
            self.close()
            raise

    # --- plumbing ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the files this reader opened (a file object given to it stays open)."""
        for item in self._to_close:
            item.close()
        self._to_close = []

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, size: int) -> bytes:
        """Up to ``size`` bytes (fewer only at the end), read in bounded chunks."""
        try:
            if size <= _CHUNK:
                return self._stream.read(size)
            parts = []
            while size > 0:
                part = self._stream.read(min(size, _CHUNK))
                if not part:
                    break
                parts.append(part)
                size -= len(part)
            return b"".join(parts)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise CaptureFormatError(f"damaged gzip stream: {exc}") from exc

    def _exact(self, size: int, what: str) -> bytes:
        data = self._read(size)
        if len(data) != size:
            raise CaptureFormatError(f"{what}: {size} bytes expected, {len(data)} left: truncated")
        return data

    def _header(self) -> tuple[int, int] | None:
        """The next block header, or None at a clean end of file."""
        if self._pending is not None:
            header, self._pending = self._pending, None
            return header
        data = self._read(8)
        if not data:
            return None
        if len(data) != 8:
            raise CaptureFormatError(f"truncated block header ({len(data)} of 8 bytes)")
        self.stats["blocks"] += 1
        block_type, total = _BH.unpack(data)
        return block_type, total

    def _body(self, block_type: int, total: int) -> bytes:
        """A metadata block's body (padding included), its trailer checked."""
        if total < 12:
            raise CaptureFormatError(f"block 0x{block_type:x} of {total} bytes (at least 12)")
        data = self._exact(total - 8, f"block 0x{block_type:x} of {total} bytes")
        if _U32.unpack_from(data, len(data) - 4)[0] != total:
            raise CaptureFormatError(
                f"block 0x{block_type:x}: header says {total} bytes, trailer "
                f"{_U32.unpack_from(data, len(data) - 4)[0]}"
            )
        return data[:-4]

    # --- metadata ----------------------------------------------------------------------------

    @property
    def section(self) -> Section:
        """The current section."""
        return self.sections[-1]

    def _read_section(self, header: tuple[int, int]) -> None:
        block_type, total = header
        if block_type != SHB_BLOCK:
            raise CaptureFormatError(
                f"not a scap capture: block type 0x{block_type:08x} where the section header "
                "block belongs"
            )
        if total < 28:
            raise CaptureFormatError(f"section header block of {total} bytes (at least 28)")
        magic, major, minor, _length = _SHB.unpack(self._exact(16, "section header"))
        self._exact(total - 24, "section header options")  # options and trailer, unused
        if magic != SHB_MAGIC:
            if magic == 0x4D3C2B1A:
                raise CaptureFormatError("big-endian capture: libscap reads only little-endian")
            raise CaptureFormatError(f"bad byte-order magic 0x{magic:08x} in the section header")
        if major > FORMAT_VERSION[0]:
            raise CaptureFormatError(
                f"capture format {major}.{minor}: libscap reads {FORMAT_VERSION[0]}.x"
            )
        section = Section(version=(major, minor))
        self.sections.append(section)
        fds: list[tuple[int, list[FdInfo]]] = []
        while True:
            found = self._header()
            if found is None:
                raise CaptureFormatError("no events in the capture (libscap refuses such files)")
            block_type, total = found
            if block_type in EV_BLOCKS:
                self._pending = found
                break
            body = self._body(block_type, total)
            self._metadata(section, block_type, body, fds)
        by_tid = {info.tid: info for info in section.threads}
        for tid, entries in fds:
            owner = by_tid.get(tid)
            if owner is None:
                section.unattached_fds.setdefault(tid, []).extend(entries)
            else:
                owner.fds.extend(entries)

    def _metadata(
        self, section: Section, block_type: int, body: bytes, fds: list[tuple[int, list[FdInfo]]]
    ) -> None:
        seen = section.block_versions
        if block_type in MI_BLOCKS:
            section.machine_info = MachineInfo.decode(body)
            seen.setdefault("machine_info", set()).add(1)
        elif block_type in PL_BLOCKS:
            version = PL_BLOCKS[block_type]
            section.threads.extend(blocks.decode_proc_list(body, version))
            seen.setdefault("proclist", set()).add(version)
        elif block_type in FDL_BLOCKS:
            version = FDL_BLOCKS[block_type]
            fds.append(blocks.decode_fd_list(body, version))
            seen.setdefault("fdlist", set()).add(version)
        elif block_type in IL_BLOCKS:
            version = IL_BLOCKS[block_type]
            section.interfaces = blocks.decode_interfaces(body, version)
            seen.setdefault("interfaces", set()).add(version)
        elif block_type in UL_BLOCKS:
            version = UL_BLOCKS[block_type]
            section.users, section.groups = blocks.decode_users(body, version)
            seen.setdefault("users", set()).add(version)
        else:
            seen.setdefault("unknown", set()).add(block_type)  # skipped, as libscap does

    # --- events ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[CaptureEvent]:
        return self.events()

    def events(self) -> Iterator[CaptureEvent]:
        """The events of every section, in file order."""
        stats = self.stats
        converter = self._converter
        while True:
            header = self._header()
            if header is None:
                return
            block_type, total = header
            kind = EV_BLOCKS.get(block_type)
            if kind is None:
                if block_type != SHB_BLOCK:
                    raise CaptureFormatError(
                        f"block type 0x{block_type:08x} after the events: only event blocks or "
                        "the section header of a concatenated capture may follow"
                    )
                self._read_section(header)
                continue
            found = self._event_block(block_type, total, kind)
            if found is None:
                continue
            data, cpu, flags = found
            raw = RawEvent.parse(data)  # checks the lengths before anything reads them
            if converter is not None:
                out = converter.convert(data)
                stats["converted"], stats["dropped"] = converter.converted, converter.dropped
                if out is None:
                    continue
                if out is not data:
                    raw = RawEvent.parse(out)
            stats["events"] += 1
            yield CaptureEvent(raw, cpu, flags, len(self.sections) - 1)

    def _event_block(
        self, block_type: int, total: int, kind: tuple[bool, bool, bool]
    ) -> tuple[bytes, int, int] | None:
        """One event block: the event (current header layout), cpu and flags; None to skip."""
        has_nparams, has_flags, large = kind
        header_len = HEADER_LEN if has_nparams else HEADER_LEN - 4
        if total < 8 + header_len + 4:
            raise CaptureFormatError(f"event block of {total} bytes: too short")
        if not large and total - 8 > MAX_SMALL_BLOCK:
            raise CaptureFormatError(
                f"event block of {total} bytes: libscap reads at most {MAX_SMALL_BLOCK + 8} "
                "in a block without large payload"
            )
        body = self._exact(total - 8, f"event block of {total} bytes")
        cpu = _U16.unpack_from(body)[0]
        flags = _U32.unpack_from(body, 2)[0] if has_flags else 0
        start = 6 if has_flags else 2
        avail = max(len(body) - 4 - start, 0)
        if avail < header_len:
            raise CaptureFormatError(f"event block of {total} bytes: no room for the event header")
        if has_nparams:
            length, etype = struct.unpack_from("<IH", body, start + 16)
            if etype >= _EVENT_MAX:
                self.stats["skipped"] += 1
                return None
            if length < HEADER_LEN or length > avail:
                raise CaptureFormatError(
                    f"event of type {etype}: length {length} outside 26..{avail}, the bytes "
                    "its block holds"
                )
            return body[start : start + length], cpu, flags
        ts, tid, length, etype = _V1_HEADER.unpack_from(body, start)
        if etype >= _EVENT_MAX:
            self.stats["skipped"] += 1
            return None
        rest = body[start + header_len : start + avail]
        return _v1_to_v2(ts, tid, length, etype, rest), cpu, flags


def _v1_to_v2(ts: int, tid: int, length: int, etype: int, rest: bytes) -> bytes:
    """An event of the first format (no nparams) with its parameter count found as libscap does.

    The count is the largest one, from the schema's down, whose lengths add up to the event.
    """
    length += 4
    if etype in _LEN_PLUS_3:
        length -= 3
    size = length - HEADER_LEN
    if size < 0 or size > len(rest):
        raise CaptureFormatError(f"old-format event of type {etype}: bad length {length - 4}")
    rest = rest[:size]
    for nparams in range(_NPARAMS[etype], -1, -1):
        table = 2 * nparams
        if table > size:
            continue
        total = table + sum(struct.unpack_from(f"<{nparams}H", rest))
        if total < size:
            raise CaptureFormatError(
                f"old-format event of type {etype}: its parameter lengths do not add up"
            )
        if total == size:
            return struct.pack("<QqIHI", ts, tid, length, etype, nparams) + rest
    raise CaptureFormatError(f"old-format event of type {etype}: no parameter count fits")


def open_capture(source: Source, *, convert: bool = True) -> CaptureReader:
    """Open a capture (path, bytes or binary file; plain or gzip) for reading."""
    return CaptureReader(source, convert=convert)


def read_capture(source: Source, *, convert: bool = True) -> Capture:
    """Read a whole capture into memory."""
    with CaptureReader(source, convert=convert) as reader:
        events = list(reader)
        return Capture(reader.sections, events, dict(reader.stats))


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureLayout:
    """Block versions a :class:`CaptureWriter` writes (the defaults are libscap's current ones).

    ``events=1`` writes the first event block format (no ``nparams`` in the event header).
    """

    proclist: int = 9
    fdlist: int = 2
    interfaces: int = 2
    users: int = 2
    events: int = 2

    def __post_init__(self) -> None:
        checks = (
            ("proclist", self.proclist, blocks.PROCLIST_VERSIONS),
            ("fdlist", self.fdlist, (1, 2)),
            ("interfaces", self.interfaces, (1, 2)),
            ("users", self.users, (1, 2)),
            ("events", self.events, (1, 2)),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"{name} block version {value}: libscap reads {list(allowed)}")


_PL_TYPES = {v: k for k, v in PL_BLOCKS.items() if k < 0x8000_0000}
_FDL_TYPES = {1: 0x203, 2: 0x218}
_IL_TYPES = {1: 0x205, 2: 0x219}
_UL_TYPES = {1: 0x206, 2: 0x220}


class CaptureWriter:
    """Writes a capture: the metadata blocks at once, then one event block per ``write``.

    ``target`` is a path or a writable binary file; ``compress=True`` writes gzip, as Falco's
    captures are. Threads carry their file descriptors (``ThreadInfo.fds``).
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        *,
        machine_info: MachineInfo | None = None,
        threads: Iterable[ThreadInfo] = (),
        interfaces: Iterable[Interface] = (),
        users: Iterable[User] = (),
        groups: Iterable[Group] = (),
        compress: bool = False,
        layout: CaptureLayout | None = None,
    ) -> None:
        self.layout = layout or CaptureLayout()
        self.count = 0
        threads = list(threads)
        interfaces = list(interfaces)
        users, groups = list(users), list(groups)
        # encode everything first: a bad value fails before a file is created
        parts = [_shb()]
        if machine_info is not None:
            parts.append(blocks.block(MI_BLOCKS[0], machine_info.encode()))
        lay = self.layout
        if interfaces:
            body = blocks.encode_interfaces(interfaces, lay.interfaces)
            parts.append(blocks.block(_IL_TYPES[lay.interfaces], body))
        if users or groups:
            body = blocks.encode_users(users, groups, lay.users)
            parts.append(blocks.block(_UL_TYPES[lay.users], body))
        if threads:
            body = blocks.encode_proc_list(threads, lay.proclist)
            parts.append(blocks.block(_PL_TYPES[lay.proclist], body))
        for info in threads:
            if info.fds:
                body = blocks.encode_fd_list(info.tid, info.fds, lay.fdlist)
                parts.append(blocks.block(_FDL_TYPES[lay.fdlist], body))
        self._owned = isinstance(target, (str, os.PathLike))
        out: BinaryIO = open(target, "wb") if self._owned else target  # type: ignore[arg-type,assignment]  # noqa: SIM115
        self._file = out
        self._out: BinaryIO = gzip.GzipFile(fileobj=out, mode="wb") if compress else out  # type: ignore[assignment]
        self._out.write(b"".join(parts))

    def write(
        self,
        event: Event | RawEvent | CaptureEvent | Buffer,
        *,
        cpu: int | None = None,
        flags: int | None = None,
    ) -> None:
        """Append one event; ``cpu`` and ``flags`` (dump flags, e.g. ``STATE_ONLY``) default
        to those of a CaptureEvent, else 0."""
        if isinstance(event, CaptureEvent):
            cpu = event.cpu if cpu is None else cpu
            flags = event.flags if flags is None else flags
            data = event.tobytes()
        elif isinstance(event, Event):
            data = event.encode()
        elif isinstance(event, RawEvent):
            data = event.tobytes()
        else:
            data = RawEvent.parse(event).tobytes()
        self._out.write(_event_block(data, cpu or 0, flags or 0, self.layout.events))
        self.count += 1

    def close(self) -> None:
        """Finish the file (and the gzip stream); close it if the writer opened it."""
        if self._out is not self._file:
            self._out.close()
        if self._owned:
            self._file.close()
        else:
            self._file.flush()
        if self.count == 0:
            log.warning("capture written without events: libscap refuses to open such a file")

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shb() -> bytes:
    major, minor = FORMAT_VERSION
    return blocks.block(SHB_BLOCK, _SHB.pack(SHB_MAGIC, major, minor, 0xFFFFFFFFFFFFFFFF))


def _event_block(data: bytes, cpu: int, flags: int, version: int) -> bytes:
    etype = struct.unpack_from("<H", data, 20)[0]
    large = _LARGE[etype]
    flags &= ~_DF_LARGE
    if not 0 <= cpu <= 0xFFFF or not 0 <= flags <= 0xFFFFFFFF:
        raise ValueError(f"cpu {cpu} or flags {flags} out of range (u16, u32)")
    if version == 1:
        if large:
            raise ValueError(f"event type {etype} has a large payload: no old-format block fits")
        ts, tid, length = struct.unpack_from("<QqI", data)
        if etype in _LEN_PLUS_3:
            length += 3
        data = _V1_HEADER.pack(ts, tid, length - 4, etype) + data[HEADER_LEN:]
    head = _U16.pack(cpu) + (_U32.pack(flags) if flags else b"")
    body = head + data
    read_len = len(body) + (-len(body) % 4) + 4  # what libscap reads after the block header
    if not large and read_len > MAX_SMALL_BLOCK:
        raise ValueError(f"event of {len(data)} bytes: too long for a block libscap reads")
    return blocks.block(_EV_TYPES[(version == 2, bool(flags), large)], body)


def write_capture(
    target: str | os.PathLike[str] | BinaryIO,
    events: Iterable[Event | RawEvent | CaptureEvent | Buffer],
    **options: Any,
) -> int:
    """Write a whole capture (options as :class:`CaptureWriter`'s); returns the event count."""
    with CaptureWriter(target, **options) as writer:
        for event in events:
            writer.write(event)
        return writer.count
