"""The fields a run extracts: plugin fields, libsinsp's generic ``evt.*`` fields and, on a
replayed capture, its syscall fields (:mod:`.sysfields`).

:class:`Requests` numbers what the engine extracts (one request per distinct field and
argument, shared by ``--fields``, ``--output`` and ``--filter``), resolves ``name[arg]``
specs with libsinsp's argument rules, and parses ``--output`` formats.
"""

from __future__ import annotations

from dataclasses import dataclass

from .metadata import FIELD_TYPES, LoadedPlugin, PluginField
from .sysfields import SYS_CLASSES, SYS_FIELDS, SYS_TYPES, SysFieldError, resolve
from .wire import C, Plan

#: libsinsp's generic event fields (sinsp_filter_check_gen_event), which Falco offers to
#: every plugin source: name -> (engine code, type).
EVT_FIELDS: dict[str, tuple[str, str]] = {
    "evt.num": ("EVF_NUM", "uint64"),
    "evt.time": ("EVF_TIME", "string"),
    "evt.time.s": ("EVF_TIME_S", "string"),
    "evt.time.iso8601": ("EVF_TIME_ISO8601", "string"),
    "evt.datetime": ("EVF_DATETIME", "string"),
    "evt.datetime.s": ("EVF_DATETIME_S", "string"),
    "evt.rawtime": ("EVF_RAWTIME", "abstime"),
    "evt.rawtime.s": ("EVF_RAWTIME_S", "abstime"),
    "evt.rawtime.ns": ("EVF_RAWTIME_NS", "abstime"),
    "evt.reltime": ("EVF_RELTIME", "reltime"),
    "evt.reltime.s": ("EVF_RELTIME_S", "reltime"),
    "evt.reltime.ns": ("EVF_RELTIME_NS", "reltime"),
    "evt.pluginname": ("EVF_PLUGINNAME", "string"),
    "evt.plugininfo": ("EVF_PLUGININFO", "string"),
    "evt.source": ("EVF_SOURCE", "string"),
    "evt.is_async": ("EVF_IS_ASYNC", "bool"),
    "evt.asynctype": ("EVF_ASYNCTYPE", "string"),
    "evt.hostname": ("EVF_HOSTNAME", "string"),
}


class FieldError(Exception):
    """A field spec the run cannot extract; ``plugin`` is the plugin it is about, if any."""

    def __init__(self, message: str, plugin: LoadedPlugin | None = None) -> None:
        super().__init__(message)
        self.plugin = plugin


@dataclass
class Request:
    """One field the engine extracts per event (numbered in plan order)."""

    index: int
    canon: str  # name or name[arg], as written
    name: str
    type: str
    is_list: bool
    plugin: LoadedPlugin | None = None  # None: an evt.* field
    field_index: int = 0
    arg_present: bool = False
    arg_index: int = 0
    arg_key: str | None = None
    sys_code: str | None = None  # a syscall field of a replayed capture (SF_*)

    @property
    def ftype(self) -> int:
        return FIELD_TYPES[self.type] if self.type in FIELD_TYPES else SYS_TYPES[self.type]

    def write(self, plan: Plan) -> None:
        if self.sys_code is not None:
            plan.item("P_SYSREQ").str(self.canon).u32(C[self.sys_code]).u32(self.ftype)
            plan.u8(int(self.is_list)).u64(self.arg_index).str(self.arg_key)
            return
        if self.plugin is None:
            plan.item("P_EVTREQ").str(self.canon).u32(C[EVT_FIELDS[self.name][0]]).u32(self.ftype)
            return
        plan.item("P_REQUEST").str(self.canon).u32(self.plugin.index).u32(self.field_index)
        plan.u8(self.arg_present).u64(self.arg_index).str(self.arg_key)


def is_index(arg: str) -> bool:
    """An index like libsinsp's: digits only, no leading zero, fits 64 bits."""
    return arg.isascii() and arg.isdigit() and (arg == "0" or arg[0] != "0") and int(arg) < 2**64


def _match_bracket(s: str, i: int) -> int:
    """The index of the ']' matching the '[' at s[i], or len(s)."""
    depth = 0
    for k in range(i, len(s)):
        if s[k] == "[":
            depth += 1
        elif s[k] == "]":
            depth -= 1
            if depth == 0:
                return k
    return len(s)


class Requests:
    """Every field a run extracts, deduplicated, in plan order."""

    def __init__(self, plugins: list[LoadedPlugin], syscall: bool = False) -> None:
        self.plugins = plugins
        self.items: list[Request] = []
        self.syscall = syscall  # a replayed capture: libsinsp's syscall fields exist

    def find(self, name: str) -> tuple[LoadedPlugin, int, PluginField] | None:
        """The first loaded extract plugin that declares field ``name``."""
        for p in self.plugins:
            for i, f in enumerate(p.fields or []):
                if p.has("extract") and f.name == name:
                    return p, i, f
        return None

    def _add(self, req: Request) -> Request:
        for r in self.items:
            if (r.plugin, r.field_index, r.canon, r.name, r.sys_code) == (
                req.plugin,
                req.field_index,
                req.canon,
                req.name,
                req.sys_code,
            ):
                return r
        req.index = len(self.items)
        self.items.append(req)
        return req

    def add_evt(self, name: str) -> Request:
        return self._add(Request(0, name, name, EVT_FIELDS[name][1], False))

    def is_sys(self, name: str) -> bool:
        """A syscall field this run extracts (on a replayed capture only)."""
        base = name.split("[", 1)[0]
        return self.syscall and (
            base in SYS_FIELDS
            or base.startswith("evt.rawarg.")
            or base.startswith("thread.cgroup.")
        )

    def unsupported_sys(self, name: str) -> str | None:
        """Why a libsinsp syscall field outside the supported subset is refused, or None."""
        if self.syscall and name.split(".", 1)[0] in SYS_CLASSES and name not in EVT_FIELDS:
            return (
                f"the SDK host does not extract '{name}' on a replayed capture (it has a "
                "subset of libsinsp's syscall fields, listed in the README; evt.rawarg.NAME "
                "gives raw arguments); real Falco and libsinsp have it"
            )
        return None

    def add_sys(self, name: str, arg: str | None, canon: str) -> Request:
        """A syscall field with its argument; FieldError when libsinsp would refuse it."""
        try:
            r = resolve(name, arg)
        except SysFieldError as exc:
            raise FieldError(str(exc)) from None
        req = Request(0, canon, r.name, r.type, r.field.is_list, None, 0, arg is not None,
                      r.arg_index, r.arg_key, r.field.code)  # fmt: skip
        return self._add(req)

    def add_field(self, plugin: LoadedPlugin, index: int, arg: str | None, canon: str) -> Request:
        f = (plugin.fields or [])[index]
        req = Request(0, canon, f.name, f.type, f.is_list, plugin, index)
        if arg is not None:
            req.arg_present = True
            if f.arg_index and is_index(arg):
                req.arg_index = int(arg)
            if f.arg_key:
                req.arg_key = arg
        return self._add(req)

    def spec(self, text: str) -> Request:
        """``name`` or ``name[arg]`` from --fields or --output, with the host's messages."""
        s = text.strip()
        i = s.find("[")
        name, arg = (s, None) if i < 0 else (s[:i], None)
        if i >= 0:
            close = _match_bracket(s, i)
            if close >= len(s):
                raise FieldError(f"field '{s}' has an unbalanced '[' in its argument")
            if close + 1 != len(s):
                raise FieldError(f"unexpected text after the argument of field '{s}'")
            arg = s[i + 1 : close]
        if not name:
            raise FieldError(f"empty field name in '{s}'")
        if name in EVT_FIELDS:
            if arg is not None:
                raise FieldError(f"field '{name}' takes no argument, but '[{arg}]' was given")
            return self.add_evt(name)
        if self.is_sys(name):
            return self.add_sys(name, arg, s)
        found = self.find(name)
        if found is None and (why := self.unsupported_sys(name)) is not None:
            raise FieldError(why)
        if found is None:
            raise FieldError(
                f"unknown field '{name}': no loaded plugin with field extraction declares it"
            )
        plugin, index, f = found
        if arg is not None and not (f.arg_index or f.arg_key):
            raise FieldError(f"field '{name}' takes no argument, but '[{arg}]' was given", plugin)
        if arg is None and f.arg_required:
            kind = "INDEX" if f.arg_index else "KEY"
            raise FieldError(f"field '{name}' requires an argument ({name}[{kind}])", plugin)
        if arg is not None and f.arg_index and not is_index(arg):
            raise FieldError(
                f"field '{name}' needs an unsigned integer index as its argument, not '{arg}'",
                plugin,
            )
        return self.add_field(plugin, index, arg, name if arg is None else f"{name}[{arg}]")

    def output_format(self, fmt: str) -> list[str | Request]:
        """--output: ``%name`` and ``%name[arg]`` become fields, the rest is kept as written."""
        parts: list[str | Request] = []
        lit, i, n = "", 0, len(fmt)
        while i < n:
            if fmt[i] != "%" or i + 1 >= n or not fmt[i + 1].isascii() or not fmt[i + 1].isalpha():
                lit += fmt[i]
                i += 1
                continue
            start = end = i + 1
            while end < n and (fmt[end].isascii() and (fmt[end].isalnum() or fmt[end] in "_.")):
                end += 1
            while end > start and fmt[end - 1] == ".":
                end -= 1
            if end < n and fmt[end] == "[":
                close = _match_bracket(fmt, end)
                if close >= n:
                    raise FieldError(
                        f"--output: unbalanced '[' after %{fmt[start:end]} (position {end + 1})"
                    )
                end = close + 1
            req = self.spec(fmt[start:end])
            if lit:
                parts.append(lit)
                lit = ""
            parts.append(req)
            i = end
        if lit:
            parts.append(lit)
        return parts
