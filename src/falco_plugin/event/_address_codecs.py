"""Codecs of the address parameter types (PT_SOCKADDR, PT_SOCKTUPLE, PT_IPV4ADDR,
PT_IPV6ADDR, PT_IPADDR and the networks): :mod:`.params` gives them on first use, so that
ipaddress (about 16 M instructions to import) is imported by a plugin that meets an address,
not at every plugin's start. The layouts are in :mod:`.net`; :mod:`.params` says what a
codec is and how IP networks travel.
"""

from __future__ import annotations

import ipaddress
import struct

from .._lean_typing import TYPE_CHECKING
from .net import (
    AF_INET,
    AF_INET6,
    AF_UNIX,
    SockAddr,
    SockAddrOther,
    SockAddrUnix,
    SockAddrV4,
    SockAddrV6,
    SockTuple,
    SockTupleOther,
    SockTupleUnix,
    SockTupleV4,
    SockTupleV6,
)
from .params import (
    NATIVE_IP,
    NATIVE_IPV4,
    NATIVE_IPV6,
    NATIVE_SOCKADDR,
    NATIVE_SOCKTUPLE,
    Codec,
    _bad_size,
    _cstr,
    _enc_cstr,
)

if TYPE_CHECKING:
    from typing import Any

    from .params import Decoder

_SOCK4 = struct.Struct("<B4sH")
_SOCK6 = struct.Struct("<B16sH")
_TUPLE4 = struct.Struct("<B4sH4sH")
_TUPLE6 = struct.Struct("<B16sH16sH")
_TUPLE_UNIX = struct.Struct("<BQQ")


def _dec_ipv4(buf: bytes, start: int, end: int) -> ipaddress.IPv4Address:
    if end - start != 4:
        raise _bad_size("PT_IPV4ADDR", 4, end - start)
    return ipaddress.IPv4Address(buf[start:end])


def _dec_ipv6(buf: bytes, start: int, end: int) -> ipaddress.IPv6Address:
    if end - start != 16:
        raise _bad_size("PT_IPV6ADDR", 16, end - start)
    return ipaddress.IPv6Address(buf[start:end])


def _dec_ip(buf: bytes, start: int, end: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if end - start == 4:
        return ipaddress.IPv4Address(buf[start:end])
    if end - start == 16:
        return ipaddress.IPv6Address(buf[start:end])
    raise _bad_size("PT_IPADDR", "4 or 16", end - start)


def _enc_ipv4(value: Any) -> bytes:
    if not isinstance(value, ipaddress.IPv4Address):
        value = ipaddress.IPv4Address(value)
    return value.packed


def _enc_ipv6(value: Any) -> bytes:
    if not isinstance(value, ipaddress.IPv6Address):
        value = ipaddress.IPv6Address(value)
    return value.packed


def _enc_ip(value: Any) -> bytes:
    if not isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        value = ipaddress.ip_address(value)
    return value.packed


def _net_of(decode: Decoder) -> Decoder:
    def decode_net(buf: bytes, start: int, end: int) -> Any:
        return ipaddress.ip_network(decode(buf, start, end))

    return decode_net


def _net_address(value: Any) -> Any:
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        if value.prefixlen != value.max_prefixlen:
            raise ValueError(f"{value}: the event carries no prefix, only a host network fits")
        return value.network_address
    return value


def _dec_sockaddr(buf: bytes, start: int, end: int) -> SockAddr:
    family = buf[start]
    size = end - start
    if family == AF_INET:
        if size != _SOCK4.size:
            raise _bad_size("AF_INET PT_SOCKADDR", _SOCK4.size, size)
        _, ip, port = _SOCK4.unpack_from(buf, start)
        return SockAddrV4(ipaddress.IPv4Address(ip), port)
    if family == AF_INET6:
        if size != _SOCK6.size:
            raise _bad_size("AF_INET6 PT_SOCKADDR", _SOCK6.size, size)
        _, ip, port = _SOCK6.unpack_from(buf, start)
        return SockAddrV6(ipaddress.IPv6Address(ip), port)
    if family == AF_UNIX:
        return SockAddrUnix(_cstr(buf, start + 1, end, "unix socket path"))
    return SockAddrOther(family, buf[start + 1 : end])


def _enc_sockaddr(value: Any) -> bytes:
    if isinstance(value, SockAddrV4):
        return _SOCK4.pack(AF_INET, value.addr.packed, value.port)
    if isinstance(value, SockAddrV6):
        return _SOCK6.pack(AF_INET6, value.addr.packed, value.port)
    if isinstance(value, SockAddrUnix):
        return bytes((AF_UNIX,)) + _enc_cstr(value.path)
    if isinstance(value, SockAddrOther):
        return bytes((value.family,)) + bytes(value.data)
    raise TypeError(f"expected a SockAddr value, got {type(value).__name__}")


def _dec_socktuple(buf: bytes, start: int, end: int) -> SockTuple:
    family = buf[start]
    size = end - start
    if family == AF_INET:
        if size != _TUPLE4.size:
            raise _bad_size("AF_INET PT_SOCKTUPLE", _TUPLE4.size, size)
        _, sip, sport, dip, dport = _TUPLE4.unpack_from(buf, start)
        return SockTupleV4(ipaddress.IPv4Address(sip), sport, ipaddress.IPv4Address(dip), dport)
    if family == AF_INET6:
        if size != _TUPLE6.size:
            raise _bad_size("AF_INET6 PT_SOCKTUPLE", _TUPLE6.size, size)
        _, sip, sport, dip, dport = _TUPLE6.unpack_from(buf, start)
        return SockTupleV6(ipaddress.IPv6Address(sip), sport, ipaddress.IPv6Address(dip), dport)
    if family == AF_UNIX:
        if size <= _TUPLE_UNIX.size:
            raise _bad_size("AF_UNIX PT_SOCKTUPLE", f"more than {_TUPLE_UNIX.size}", size)
        _, src, dst = _TUPLE_UNIX.unpack_from(buf, start)
        path = _cstr(buf, start + _TUPLE_UNIX.size, end, "unix socket path")
        return SockTupleUnix(src, dst, path)
    return SockTupleOther(family, buf[start + 1 : end])


def _enc_socktuple(value: Any) -> bytes:
    if isinstance(value, SockTupleV4):
        return _TUPLE4.pack(AF_INET, value.sip.packed, value.sport, value.dip.packed, value.dport)
    if isinstance(value, SockTupleV6):
        return _TUPLE6.pack(AF_INET6, value.sip.packed, value.sport, value.dip.packed, value.dport)
    if isinstance(value, SockTupleUnix):
        head = _TUPLE_UNIX.pack(AF_UNIX, value.source_ptr, value.dest_ptr)
        return head + _enc_cstr(value.path)
    if isinstance(value, SockTupleOther):
        return bytes((value.family,)) + bytes(value.data)
    raise TypeError(f"expected a SockTuple value, got {type(value).__name__}")


#: The codec of each address type.
ADDRESS_CODECS: dict[str, Codec] = {
    "PT_SOCKADDR": Codec(_dec_sockaddr, _enc_sockaddr, None, native=NATIVE_SOCKADDR),
    "PT_SOCKTUPLE": Codec(_dec_socktuple, _enc_socktuple, None, native=NATIVE_SOCKTUPLE),
    "PT_IPV4ADDR": Codec(_dec_ipv4, _enc_ipv4, 4, native=NATIVE_IPV4),
    "PT_IPV6ADDR": Codec(_dec_ipv6, _enc_ipv6, 16, native=NATIVE_IPV6),
    "PT_IPADDR": Codec(_dec_ip, _enc_ip, None, native=NATIVE_IP),
    "PT_IPV4NET": Codec(_net_of(_dec_ipv4), lambda v: _enc_ipv4(_net_address(v)), 4),
    "PT_IPV6NET": Codec(_net_of(_dec_ipv6), lambda v: _enc_ipv6(_net_address(v)), 16),
    "PT_IPNET": Codec(_net_of(_dec_ip), lambda v: _enc_ip(_net_address(v)), None),
}
