"""Socket addresses and connection tuples (PT_SOCKADDR, PT_SOCKTUPLE) as small value types.

Wire layout (libscap): a family byte (``PPM_AF_*``: 1 unix, 2 inet, 10 inet6), then for inet
the 4 address bytes in network order and the port as a little-endian u16, for inet6 16 address
bytes and the port, for unix (sockaddr) the NUL-terminated path, for unix (socktuple) two u64
kernel socket pointers then the path. Any other family keeps its bytes raw.
"""

from __future__ import annotations

from .._lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ipaddress
    from typing import Any

__all__ = [
    "AF_INET",
    "AF_INET6",
    "AF_UNIX",
    "SockAddr",
    "SockAddrOther",
    "SockAddrUnix",
    "SockAddrV4",
    "SockAddrV6",
    "SockTuple",
    "SockTupleOther",
    "SockTupleUnix",
    "SockTupleV4",
    "SockTupleV6",
]

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10


class _Value:
    """Immutable record with value equality; subclasses list their fields in ``__slots__``."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, *args: Any) -> None:
        if len(args) != len(self.__slots__):
            raise TypeError(f"{type(self).__name__} takes {len(self.__slots__)} arguments")
        for name, value in zip(self.__slots__, args, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Value)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._fields()))

    def __repr__(self) -> str:
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({args})"


class SockAddrV4(_Value):
    """An IPv4 address and port."""

    __slots__ = ("addr", "port")
    addr: ipaddress.IPv4Address
    port: int

    def __init__(self, addr: ipaddress.IPv4Address, port: int) -> None:
        super().__init__(addr, port)

    def __str__(self) -> str:
        return f"{self.addr}:{self.port}"


class SockAddrV6(_Value):
    """An IPv6 address and port."""

    __slots__ = ("addr", "port")
    addr: ipaddress.IPv6Address
    port: int

    def __init__(self, addr: ipaddress.IPv6Address, port: int) -> None:
        super().__init__(addr, port)

    def __str__(self) -> str:
        return f"{self.addr}:{self.port}"


class SockAddrUnix(_Value):
    """A unix socket path (may be empty, or start with ``@`` for abstract sockets)."""

    __slots__ = ("path",)
    path: str

    def __init__(self, path: str) -> None:
        super().__init__(path)

    def __str__(self) -> str:
        return self.path


class SockAddrOther(_Value):
    """An address of another family: the ``PPM_AF_*`` number and the raw bytes after it."""

    __slots__ = ("family", "data")
    family: int
    data: bytes

    def __init__(self, family: int, data: bytes = b"") -> None:
        super().__init__(family, data)

    def __str__(self) -> str:
        return f"family {self.family}"


class SockTupleV4(_Value):
    """Both ends of an IPv4 connection: source address/port, destination address/port."""

    __slots__ = ("sip", "sport", "dip", "dport")
    sip: ipaddress.IPv4Address
    sport: int
    dip: ipaddress.IPv4Address
    dport: int

    def __init__(
        self, sip: ipaddress.IPv4Address, sport: int, dip: ipaddress.IPv4Address, dport: int
    ) -> None:
        super().__init__(sip, sport, dip, dport)

    def __str__(self) -> str:
        return f"{self.sip}:{self.sport}->{self.dip}:{self.dport}"


class SockTupleV6(_Value):
    """Both ends of an IPv6 connection."""

    __slots__ = ("sip", "sport", "dip", "dport")
    sip: ipaddress.IPv6Address
    sport: int
    dip: ipaddress.IPv6Address
    dport: int

    def __init__(
        self, sip: ipaddress.IPv6Address, sport: int, dip: ipaddress.IPv6Address, dport: int
    ) -> None:
        super().__init__(sip, sport, dip, dport)

    def __str__(self) -> str:
        src, dst = self.sip.ipv4_mapped, self.dip.ipv4_mapped
        if src is not None and dst is not None:
            return f"{src}:{self.sport}->{dst}:{self.dport}"
        return f"{self.sip}:{self.sport}->{self.dip}:{self.dport}"


class SockTupleUnix(_Value):
    """A unix socket connection: kernel pointers of both sockets and the path."""

    __slots__ = ("source_ptr", "dest_ptr", "path")
    source_ptr: int
    dest_ptr: int
    path: str

    def __init__(self, source_ptr: int, dest_ptr: int, path: str) -> None:
        super().__init__(source_ptr, dest_ptr, path)

    def __str__(self) -> str:
        return f"{self.source_ptr:x}->{self.dest_ptr:x} {self.path}"


class SockTupleOther(_Value):
    """A tuple of another family: the family number and the raw bytes after it."""

    __slots__ = ("family", "data")
    family: int
    data: bytes

    def __init__(self, family: int, data: bytes = b"") -> None:
        super().__init__(family, data)

    def __str__(self) -> str:
        return f"family {self.family}"


#: Any decoded PT_SOCKADDR value.
SockAddr = SockAddrV4 | SockAddrV6 | SockAddrUnix | SockAddrOther
#: Any decoded PT_SOCKTUPLE value.
SockTuple = SockTupleV4 | SockTupleV6 | SockTupleUnix | SockTupleOther
