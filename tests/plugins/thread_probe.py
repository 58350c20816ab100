"""Reads every field of libsinsp's threads table through the tables API, on every event: the
event's thread (its args, env and cgroups too), the fd its event uses (every socket_* field),
and the tids the table holds. The replay tests compare what it sees in the SDK host and in
libsinsp, event by event."""

from __future__ import annotations

import json
from typing import Any

from falco_plugin import ExtractEvent, ExtractPlugin, field
from falco_plugin.event import decode
from falco_plugin.tables import (
    Entry,
    Field,
    Int64,
    Table,
    TablesInit,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
)

FD_FIELDS: dict[str, Any] = {
    "type": UInt8, "open_flags": UInt32, "name": str, "name_raw": str, "old_name": str,
    "flags": UInt32, "dev": UInt32, "mount_id": UInt32, "ino": UInt64, "pid": Int64,
    "fd": Int64, "socket_ipv4_src_ip": UInt32, "socket_ipv4_dest_dip": UInt32,
    "socket_ipv4_src_port": UInt16, "socket_ipv4_dst_port": UInt16,
    "socket_ipv4_l4_proto": UInt8, "socket_ipv6_src_ip_low": UInt64,
    "socket_ipv6_src_ip_high": UInt64, "socket_ipv6_dest_ip_low": UInt64,
    "socket_ipv6_dest_ip_high": UInt64, "socket_ipv6_src_port": UInt16,
    "socket_ipv6_dst_port": UInt16, "socket_ipv6_l4_proto": UInt8,
    "socket_ipv4_server_ip": UInt32, "socket_ipv4_server_port": UInt16,
    "socket_ipv4_server_l4_proto": UInt8, "socket_ipv6_server_ip_low": UInt64,
    "socket_ipv6_server_ip_high": UInt64, "socket_ipv6_server_port": UInt16,
    "socket_ipv6_server_l4_proto": UInt8, "socket_unix_src": UInt64, "socket_unix_dest": UInt64,
}  # fmt: skip
THREAD_FIELDS: dict[str, Any] = {
    "tid": Int64, "pid": Int64, "ptid": Int64, "reaper_tid": Int64, "sid": Int64,
    "comm": str, "exe": str, "exe_path": str, "exe_writable": bool, "exe_upper_layer": bool,
    "exe_lower_layer": bool, "exe_from_memfd": bool, "flags": UInt32, "fd_limit": Int64,
    "uid": UInt32, "gid": UInt32, "loginuid": UInt32, "exe_ino": UInt64,
    "exe_ino_ctime": UInt64, "exe_ino_mtime": UInt64, "vtid": Int64, "vpid": Int64,
    "vpgid": Int64, "pgid": Int64, "pidns_init_start_ts": UInt64, "root": str, "tty": UInt32,
    "cwd": str,
}  # fmt: skip


class Value(Entry):
    value = Field(str)


class Cgroup(Entry):
    first = Field(str)
    second = Field(str)


Fd = type("Fd", (Entry,), {k: Field(v) for k, v in FD_FIELDS.items()})
Thread = type(
    "Thread",
    (Entry,),
    {
        **{k: Field(v) for k, v in THREAD_FIELDS.items()},
        "args": Field(Table(Value, UInt64)),
        "env": Field(Table(Value, UInt64)),
        "cgroups": Field(Table(Cgroup, UInt64)),
        "fds": Field(Table(Fd, Int64), name="file_descriptors"),
    },
)


def _values(table: Any) -> list[Any]:
    out: list[Any] = []
    table.each(lambda e: out.append(e.value))
    return out


class ThreadProbe(ExtractPlugin):
    NAME = "thread_probe"
    VERSION = "1.0.0"
    DESCRIPTION = "Shows libsinsp's threads table as a plugin reads it"
    CONTACT = "tests"
    EXTRACT_EVENT_SOURCES = ["syscall"]

    def __init__(self, config: str, tables: TablesInit) -> None:
        self.threads = tables.import_table("threads", Int64, Thread)

    @field("tp.thread")
    def thread(self, event: ExtractEvent) -> str | None:
        """Every field of the event's thread, as JSON."""
        t: Any = self.threads.get(event.tid)
        if t is None:
            return None
        out = {k: getattr(t, k) for k in THREAD_FIELDS}
        out["args"] = _values(t.args)
        out["env"] = _values(t.env)
        groups: list[str] = []
        t.cgroups.each(lambda g: groups.append(f"{g.first}={g.second}"))
        out["cgroups"] = groups
        out["nfds"] = len(t.fds)
        return json.dumps(out, sort_keys=True)

    @field("tp.fd")
    def fd(self, event: ExtractEvent) -> str | None:
        """Every field of the fd the event's fd argument names, as JSON."""
        value = getattr(decode(event.raw).params, "fd", None)
        t: Any = self.threads.get(event.tid)
        if value is None or int(value) < 0 or t is None:
            return None
        entry = t.fds.get(int(value))
        if entry is None:
            return None
        return json.dumps({k: getattr(entry, k) for k in FD_FIELDS}, sort_keys=True)

    @field("tp.tids")
    def tids(self, event: ExtractEvent) -> str:
        """The tids of the table, sorted."""
        tids: list[int] = []
        self.threads.each(lambda t: tids.append(t.tid))
        return " ".join(str(t) for t in sorted(tids))
