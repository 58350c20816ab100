"""The filter language: libsinsp's grammar (:mod:`.filter_parse`), compiled as libsinsp's
``sinsp_filter_compiler`` compiles it, into the tree the engine evaluates (proto.h,
P_FILTER).

The compiler resolves fields (plugin fields and the generic ``evt.*`` ones, with libsinsp's
argument rules), checks each operator against the field's type as ``flt_is_comparable``
does (a list field takes only ``in``, ``intersects`` and ``exists``; ``bcontains`` and
``bstartswith`` only byte buffers, which no plugin field is), parses the values as
``string_to_rawval`` does (numbers like ``sscanf("%lu")``, ``true``/``false``, IPv4/IPv6
addresses, ``addr/prefix`` networks) and checks a right-hand field (``val(other.field)``)
against the left one. Every refusal carries libsinsp's message. What the SDK host does not
implement (field transformers) is refused by name.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field

from .fields import EVT_FIELDS, FieldError, Request, Requests, is_index
from .filter_parse import (
    BoolExpr,
    Check,
    FieldExpr,
    Identifier,
    ListExpr,
    ParseError,
    Transformer,
    parse,
)
from .metadata import LoadedPlugin
from .sysfields import BITS, SIGNED, SYS_TYPES
from .wire import C, Plan


class FilterError(Exception):
    """A filter libsinsp would refuse; ``plugin`` is the plugin the message is about."""

    def __init__(self, message: str, plugin: LoadedPlugin | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


# libsinsp's flt_is_comparable, per field type (lists take only these three)
LIST_OPS = {"in", "exists", "intersects"}
NUMERIC_OPS = {"=", "!=", "<", "<=", ">", ">=", "in", "intersects", "exists"}
BOOL_OPS = {"=", "!=", "in", "intersects", "exists"}
STRING_OPS = {
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "in",
    "exists",
    "icontains",
    "startswith",
    "glob",
    "pmatch",
    "endswith",
    "intersects",
    "iglob",
    "regex",
}
IP_OPS = {"=", "!=", "in", "exists", "intersects"}
TYPE_NAMES = {
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint32": "UINT32",
    "port": "PORT",
    "string": "CHARBUF",
    "uint64": "UINT64",
    "reltime": "RELTIME",
    "abstime": "ABSTIME",
    "bool": "BOOL",
    "ipaddr": "IPADDR",
    "ipnet": "IPNET",
}
CO_NUMBERS = {"pmatch": 13, "regex": 19}  # libsinsp's enum, as its message prints them
OP_CODES = {
    "=": "OP_EQ",
    "==": "OP_EQ",
    "!=": "OP_NE",
    "<": "OP_LT",
    "<=": "OP_LE",
    ">": "OP_GT",
    ">=": "OP_GE",
    "contains": "OP_CONTAINS",
    "icontains": "OP_ICONTAINS",
    "bcontains": "OP_BCONTAINS",
    "startswith": "OP_STARTSWITH",
    "bstartswith": "OP_BSTARTSWITH",
    "endswith": "OP_ENDSWITH",
    "glob": "OP_GLOB",
    "iglob": "OP_IGLOB",
    "pmatch": "OP_PMATCH",
    "in": "OP_IN",
    "intersects": "OP_INTERSECTS",
    "exists": "OP_EXISTS",
    "regex": "OP_REGEX",
}
MODIFIERS = {"oneof": "MOD_ONEOF", "anyof": "MOD_ANYOF", "allof": "MOD_ALLOF"}
U64 = 2**64


def _op_name(op: str) -> str:
    return "=" if op == "==" else op


def check_comparable(op: str, ftype: str, is_list: bool) -> None:
    """libsinsp's check_op_type_compatibility."""
    base, _, modifier = op.partition(" ")
    name = _op_name(base) + (f" {modifier}" if modifier else "")
    base = _op_name(base)
    if base == "exists":
        return
    if is_list:
        if base not in LIST_OPS:
            raise FilterError(f"filter error: '{name}' operator not supported list filters")
        return
    if ftype in ("uint64", "reltime", "abstime") or ftype in SYS_TYPES:
        ok, what = base in NUMERIC_OPS, "numeric"
    elif ftype == "bool":
        ok, what = base in BOOL_OPS, "numeric"
    elif ftype == "string":
        ok, what = base in STRING_OPS, "string"
    else:
        if modifier and base not in IP_OPS:
            raise FilterError(
                f"filter error: '{name}' with modifier not supported for ip address and "
                "network filters"
            )
        ok, what = base in IP_OPS, "ip address and network"
    if not ok:
        raise FilterError(f"filter error: '{name}' operator not supported for {what} filters")


def _sscanf_u(text: str, bits: int = 64) -> int:
    """``sscanf(text, "%lu%c")`` == 1, as libsinsp's number parser requires."""
    m = re.fullmatch(r"[ \t\n\r\f\v]*([+-]?)([0-9]+)", text)
    if not m:
        raise FilterError(f"{text} is not a valid number")
    magnitude = int(m.group(2))
    if magnitude >= 2**bits:
        return 2**bits - 1
    return (-magnitude) % 2**bits if m.group(1) == "-" else magnitude


def _sscanf_int(text: str, ftype: str) -> int:
    """A constant for a syscall integer field, parsed as libsinsp's sinsp_numparser does:
    ``sscanf`` of a 32- or 64-bit number (strtol's saturation, unsigned ones wrapping) cut to
    the field's width; signed values sign-extended to the 64 bits the engine compares."""
    m = re.fullmatch(r"[ \t\n\r\f\v]*([+-]?)([0-9]+)", text)
    if not m:
        raise FilterError(f"{text} is not a valid number")
    magnitude = int(m.group(2))
    bits = BITS[ftype]
    if ftype in SIGNED:
        value = -magnitude if m.group(1) == "-" else magnitude
        value = max(-(2**63), min(2**63 - 1, value)) % 2**64  # strtol saturates
        width = 64 if bits == 64 else 32  # sscanf %d stores an int
        value %= 2**width
        value %= 2**bits
        if value >> (bits - 1):
            value -= 2**bits
        return value % 2**64
    value = min(magnitude, 2**64 - 1)  # strtoul saturates, and negative numbers wrap
    value = (-value) % 2**64 if m.group(1) == "-" else value
    return value % 2**bits


def _port(text: str) -> int:
    """A PT_PORT constant: digits, or a service name (getservbyname), as libsinsp reads it."""
    if not text:
        return 0
    if text.isascii() and text.isdigit():
        return int(text) % 2**16
    try:
        return socket.getservbyname(text)
    except OSError:
        raise FilterError(f"unrecognized protocol {text}") from None


def _inet(family: int, text: str) -> bytes | None:
    try:
        return socket.inet_pton(family, text)
    except (OSError, ValueError):
        return None


@dataclass
class Value:
    """A right-hand constant, parsed for the left field's type."""

    u: int = 0
    data: bytes = b""  # strings; ip addresses
    prefix: int = -1  # ipnet

    def write(self, plan: Plan, ftype: str) -> None:
        if ftype == "string":
            plan.str(self.data)
        elif ftype in ("ipaddr", "ipnet"):
            plan.u8(len(self.data)).raw(self.data)
            if ftype == "ipnet":
                plan.u8(self.prefix)
        else:
            plan.u64(self.u)


def parse_value(text: str, ftype: str) -> Value:
    """libsinsp's string_to_rawval for the plugin field types."""
    data = text.encode("utf-8", "surrogateescape")
    if b"\0" in data:
        raise FilterError("filter error: filter value cannot contain a NUL byte (\\x00)")
    if ftype in ("uint64", "reltime", "abstime"):
        return Value(u=_sscanf_u(text))
    if ftype == "port":
        return Value(u=_port(text))
    if ftype in SYS_TYPES:
        return Value(u=_sscanf_int(text, ftype))
    if ftype == "bool":
        if text not in ("true", "false"):
            raise FilterError(f"filter error: unrecognized boolean value {text}")
        return Value(u=int(text == "true"))
    if ftype == "string":
        return Value(data=data)
    if ftype == "ipaddr":
        if "." in text:
            addr = _inet(socket.AF_INET, text)
            if addr is None:
                raise FilterError(f"unrecognized IPv4 address {text}")
        else:
            addr = _inet(socket.AF_INET6, text)
            if addr is None:
                raise FilterError(f"unrecognized IPv6 address {text}")
        return Value(data=addr)
    return _network(text)


# libsinsp's messages for a bad network, IPv4 then IPv6 (they differ, as its parsers do)
_NET_ERRORS = {
    socket.AF_INET: ("unrecognized IP network {text}", "unrecognized IP address {text}",
                     "invalid netmask {mask}", range(0, 33)),
    socket.AF_INET6: ("invalid v6 netmask: {text}", "unrecognized IPv6 address {text}",
                      "invalid v6 netmask {mask}", range(1, 129)),
}  # fmt: skip


def _network(text: str) -> Value:
    """An ``addr/prefix`` network; a dot makes it IPv4, as for libsinsp."""
    family = socket.AF_INET if "." in text else socket.AF_INET6
    no_slash, bad_addr, bad_mask, prefixes = _NET_ERRORS[family]
    if "/" not in text:
        raise FilterError(no_slash.format(text=text))
    ip, _, mask = text.partition("/")
    addr = _inet(family, ip)
    if addr is None:
        raise FilterError(bad_addr.format(text=text))
    bits = _sscanf_u(mask, 32) & 0xFF
    if bits not in prefixes:
        raise FilterError(bad_mask.format(mask=mask))
    return Value(data=addr, prefix=bits)


@dataclass
class Node:
    kind: str  # and, or, not, check
    children: list[Node] = field(default_factory=list)
    left: Request | None = None
    op: str = ""
    modifier: str = ""
    right: Request | None = None
    values: list[Value] = field(default_factory=list)

    def write(self, plan: Plan) -> None:
        if self.kind in ("and", "or"):
            plan.u8(C["F_AND" if self.kind == "and" else "F_OR"]).u32(len(self.children))
            for c in self.children:
                c.write(plan)
        elif self.kind == "not":
            plan.u8(C["F_NOT"])
            self.children[0].write(plan)
        else:
            assert self.left is not None
            plan.u8(C["F_CHECK"]).u32(self.left.index).u8(C[OP_CODES[self.op]])
            plan.u8(C[MODIFIERS[self.modifier]] if self.modifier else 0)
            if self.right is not None:
                plan.u8(C["RHS_FIELD"]).u32(self.right.index)
            elif self.op == "exists":
                plan.u8(C["RHS_NONE"])
            else:
                plan.u8(C["RHS_VALUES"]).u32(len(self.values))
                for v in self.values:
                    v.write(plan, self.left.type)


class Compiler:
    """The AST against the loaded plugins' fields."""

    def __init__(self, requests: Requests) -> None:
        self.requests = requests

    def field(self, e: FieldExpr) -> Request:
        canon = e.name if e.arg is None else f"{e.name}[{e.arg}]"
        if e.name in EVT_FIELDS:
            if e.arg is not None:
                raise FilterError(f"filter_check called with nonexistent field {canon}")
            return self.requests.add_evt(e.name)
        if self.requests.is_sys(e.name):
            try:
                return self.requests.add_sys(e.name, e.arg, canon)
            except FieldError as exc:
                raise FilterError(str(exc)) from None
        found = self.requests.find(e.name)
        if found is None and (why := self.requests.unsupported_sys(e.name)) is not None:
            raise FilterError(why)
        if found is None:
            raise FilterError(f"filter_check called with nonexistent field {canon}")
        plugin, index, f = found
        if e.arg is None:
            if f.arg_required:
                raise FilterError(
                    f"filter '{canon}': {f.name} requires an argument but none provided", plugin
                )
            return self.requests.add_field(plugin, index, None, canon)
        if not (f.arg_index or f.arg_key):
            raise FilterError(
                f"filter '{canon}': {f.name} does not allow nor require an argument but one is "
                f"provided: {e.arg}",
                plugin,
            )
        # libsinsp reads name[arg] again: cut at the first blank, up to the first ']'
        text = canon.split(" ", 1)[0]
        rest = text[len(e.name) + 1 :]
        if not rest:
            raise FilterError(
                f"filter '{text}': {f.name} terminates with incomplete argument brackets", plugin
            )
        if "]" not in rest:
            raise FilterError(f"filter '{text}': {f.name} has unbalanced argument brackets", plugin)
        arg = rest[: rest.index("]")]
        if len(e.name) + len(arg) + 2 != len(canon):
            raise FilterError(f"filter_check called with nonexistent field {canon}")
        if f.arg_index and not f.arg_key and not is_index(arg):
            if not arg or (len(arg) > 1 and arg[0] == "0"):
                why = "starting with 0"
            elif not (arg.isascii() and arg.isdigit()):
                why = "not composed only by digits"
            else:
                why = "not representable on 64 bit"
            raise FilterError(
                f"filter {canon} {f.name} has an invalid index argument {why}: {arg}", plugin
            )
        return self.requests.add_field(plugin, index, arg, canon)

    def operand(self, e: object) -> Request:
        """A field on either side: a field, or val(field); transformers are refused."""
        if isinstance(e, FieldExpr):
            return self.field(e)
        assert isinstance(e, Transformer)
        if e.name != "val":
            raise FilterError(
                f"the SDK host does not support field transformers ('{e.name}'); real Falco "
                "does: try the filter there"
            )
        if len(e.args) != 1 or not isinstance(e.args[0], FieldExpr):
            raise FilterError("filter error: transformer 'val' does not support field arguments")
        return self.field(e.args[0])

    def check(self, e: Check) -> Node:
        left = self.operand(e.left)
        base, _, modifier = e.op.partition(" ")
        op = _op_name(base)
        check_comparable(e.op, left.type, left.is_list)
        node = Node("check", left=left, op=op, modifier=modifier)
        if e.right is None:
            return node
        if isinstance(e.right, (FieldExpr, Transformer)):
            right = self.operand(e.right)
            if op in ("pmatch", "regex"):
                raise FilterError(
                    f"operator '{CO_NUMBERS[op]}' doesn't support right-hand side fields"
                )
            if left.type == "ipnet":
                raise FilterError("field type 'IPNET' doesn't support right-hand side fields")
            if (left.type, left.is_list) != (right.type, right.is_list):
                raise FilterError(
                    f"field '{left.name}' has type '{TYPE_NAMES[left.type]}"
                    f"{' (list)' if left.is_list else ''}' while the right-hand side field "
                    f"'{right.name}' has incompatible type '{TYPE_NAMES[right.type]}"
                    f"{' (list)' if right.is_list else ''}'"
                )
            node.right = right
            return node
        texts = e.right.values if isinstance(e.right, ListExpr) else [e.right.value]
        node.values = [parse_value(t, left.type) for t in texts]
        if op == "regex":
            for t in texts:
                try:
                    re.compile(t)
                except re.error as exc:
                    raise FilterError(f"invalid regex pattern: {exc}") from None
        return node

    def compile(self, e: object) -> Node:
        if isinstance(e, BoolExpr):
            return Node(e.kind, [self.compile(c) for c in e.children])
        if isinstance(e, Identifier):
            raise FilterError(f"filter error: unexpected identifier '{e.name}'")
        assert isinstance(e, Check)
        return self.check(e)


def compile_filter(text: str, requests: Requests) -> Node:
    """The filter ``text`` compiled against ``requests``' plugins (which gain its fields)."""
    try:
        ast = parse(text)
    except ParseError as exc:
        raise FilterError(str(exc)) from None
    return Compiler(requests).compile(ast)
