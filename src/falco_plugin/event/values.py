"""Value types of event parameters: ints that know their names, paths, dynamic values.

Every type here is a thin subclass of ``int`` or ``str`` (or a tuple), so a plain ``int`` or
``str`` compares equal to the decoded value and can be used wherever one is expected.
"""

from __future__ import annotations

from .._lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime as _dt
    from typing import Any, ClassVar, NamedTuple
else:
    from .._lean_typing import NamedTuple

__all__ = [
    "AbsTime",
    "DynParam",
    "EnumFlags",
    "Errno",
    "Fd",
    "Flags",
    "Mode",
    "Pid",
    "RelPath",
    "RelTime",
    "SigSet",
    "Signal",
    "signal_name",
]

def signal_name(number: int) -> str | None:
    """The name of a signal number (``9`` -> ``SIGKILL``) from Python's signal module."""
    import signal  # here, not at import: a plugin that never asks pays nothing for it

    try:
        return signal.Signals(number).name
    except ValueError:
        return None


class Errno(int):
    """A syscall result: negative values are ``-errno`` (``Errno(-2).name == 'ENOENT'``)."""

    __slots__ = ()

    @property
    def name(self) -> str | None:
        """The errno symbol of a negative value, None for successes and unknown codes."""
        import errno

        return errno.errorcode.get(-int(self)) if self < 0 else None

    def __repr__(self) -> str:
        return f"Errno({int(self)})"


class Fd(int):
    """A file descriptor number (negative values are errors or ``AT_FDCWD``, -100)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Fd({int(self)})"


class SyscallId(int):
    """A syscall code (``PPM_SC_*``, the ID of generic events), with libsinsp's name for it
    (``SyscallId(75).name == 'mprotect'``; None for codes without one)."""

    __slots__ = ()

    @property
    def name(self) -> str | None:
        from ._generated import PPM_SC_NAMES  # here: _generated imports this module's users

        return (PPM_SC_NAMES[self] or None) if 0 <= self < len(PPM_SC_NAMES) else None

    def __repr__(self) -> str:
        return f"SyscallId({int(self)})"


class Pid(int):
    """A process or thread id."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Pid({int(self)})"


class Signal(int):
    """A signal number with its name (``Signal(9).name == 'SIGKILL'``)."""

    __slots__ = ()

    @property
    def name(self) -> str | None:
        """The signal's symbol, None when Python does not know the number."""
        return signal_name(int(self))

    def __repr__(self) -> str:
        return f"Signal({int(self)})"


class SigSet(int):
    """A 32-bit signal mask: bit ``n`` stands for signal ``n + 1`` (as libsinsp reads it)."""

    __slots__ = ()

    @property
    def signals(self) -> tuple[int, ...]:
        """The signal numbers in the set."""
        return tuple(bit + 1 for bit in range(32) if self >> bit & 1)

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the signals in the set that Python knows."""
        return tuple(n for n in (signal_name(s) for s in self.signals) if n)

    def __repr__(self) -> str:
        return f"SigSet({int(self):#x})"


class RelTime(int):
    """A duration in nanoseconds."""

    __slots__ = ()

    @property
    def timedelta(self) -> _dt.timedelta:
        """The duration as a timedelta (microsecond precision)."""
        import datetime

        return datetime.timedelta(microseconds=int(self) // 1000)

    def __repr__(self) -> str:
        return f"RelTime({int(self)})"


class AbsTime(int):
    """A point in time in nanoseconds since the epoch."""

    __slots__ = ()

    @property
    def datetime(self) -> _dt.datetime:
        """The time as an aware UTC datetime (microsecond precision)."""
        import datetime

        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return epoch + datetime.timedelta(microseconds=int(self) // 1000)

    def __repr__(self) -> str:
        return f"AbsTime({int(self)})"


class _Named(int):
    """An int read against a name/value table; subclasses per table set TABLE and ENTRIES."""

    __slots__ = ()
    TABLE: ClassVar[str] = ""
    ENTRIES: ClassVar[tuple[tuple[str, int], ...]] = ()

    def __repr__(self) -> str:
        base = type(self).__mro__[1].__name__ if self.TABLE else type(self).__name__
        table = f", table={self.TABLE!r}" if self.TABLE else ""
        return f"{base}({int(self)}{table})"


class Flags(_Named):
    """A bit set read against its flags table; ``names`` lists the matching entries."""

    __slots__ = ()

    @property
    def table(self) -> str:
        """The name of the flags table (empty for a bare Flags)."""
        return self.TABLE

    @property
    def names(self) -> tuple[str, ...]:
        """The table entries whose bits are all set, like libsinsp resolves them."""
        return flag_names(int(self), self.ENTRIES)


class EnumFlags(_Named):
    """A value of an enumeration table (one name, or aliases of the same value)."""

    __slots__ = ()

    @property
    def table(self) -> str:
        """The name of the enumeration table (empty for a bare EnumFlags)."""
        return self.TABLE

    @property
    def names(self) -> tuple[str, ...]:
        """Every table entry with this exact value (aliases such as AF_LOCAL/AF_UNIX)."""
        value = int(self)
        return tuple(name for name, v in self.ENTRIES if v == value)

    @property
    def name(self) -> str | None:
        """The first table entry with this value, None when the table has none."""
        names = self.names
        return names[0] if names else None


class Mode(_Named):
    """File mode bits; ``octal`` gives the text form (``0755``), ``names`` the table bits."""

    __slots__ = ()

    @property
    def octal(self) -> str:
        """The mode in C's ``%#o`` form: a leading 0, ``0`` for zero."""
        return c_octal(int(self))

    @property
    def names(self) -> tuple[str, ...]:
        """The table entries matching the mode, as libsinsp resolves PT_MODE."""
        return mode_names(int(self), self.ENTRIES)


def c_octal(value: int) -> str:
    """C's ``%#o``: octal digits with a leading zero, and ``0`` for zero."""
    return "0" if value == 0 else f"0{value:o}"


def flag_names(value: int, entries: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """Resolve a bit set against a table in order, consuming matched bits (libsinsp's rule)."""
    names = []
    rest = value
    for name, bits in entries:
        if (bits == 0 and value == 0) or (bits != 0 and rest & bits == bits and rest != 0):
            names.append(name)
            rest &= ~bits
            if bits == value:
                break
    return tuple(names)


def mode_names(value: int, entries: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """Resolve mode bits: like flags, but an entry equal to the whole value ends the scan."""
    names = []
    rest = value
    for name, bits in entries:
        if bits == value:
            names.append(name)
            break
        if (bits == 0 and value == 0) or (bits != 0 and rest & bits == bits and rest != 0):
            names.append(name)
            rest &= ~bits
    return tuple(names)


_TABLE_TYPES: dict[tuple[type, str], type] = {}


def table_type(base: type[_Named], table: str, entries: tuple[tuple[str, int], ...]) -> type:
    """The subclass of Flags/EnumFlags/Mode bound to one table (made once, then cached)."""
    key = (base, table)
    cls = _TABLE_TYPES.get(key)
    if cls is None:
        name = "".join(p.capitalize() for p in table.split("_")) + base.__name__
        cls = type(name, (base,), {"__slots__": (), "TABLE": table, "ENTRIES": entries})
        _TABLE_TYPES[key] = cls
    return cls


class RelPath(str):
    """A path relative to a directory fd: the ``str`` is the path, ``dirfd`` the fd (or None)."""

    dirfd: int | None

    def __new__(cls, path: str, dirfd: int | None = None) -> RelPath:
        """A path relative to the directory of ``dirfd`` (None: the current directory)."""
        self = super().__new__(cls, path)
        self.dirfd = dirfd
        return self

    @property
    def path(self) -> str:
        """The path exactly as the event carries it."""
        return str(self)

    def __repr__(self) -> str:
        return f"RelPath({str(self)!r}, dirfd={self.dirfd!r})"


class DynParam(NamedTuple):
    """A PT_DYN value: the index into the param's dynamic table and the value of that type."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, as the schema names it
    value: Any
