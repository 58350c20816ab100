"""One host command, end to end: load the libraries in the engine, check what they say, plan
the run (configs, fields, filter, routing, threads), run it, and print the records.

Routing follows libsinsp: a plugin that parses or extracts gets one state per event source
whose events it takes (Falco inits a plugin once per source), the parsers of a source run in
load order, and an async plugin's events go to the first source it accepts (its own first).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import render
from .engine import Session, Sink
from .fields import FieldError, Request, Requests
from .filter import FilterError, Node, compile_filter
from .metadata import CAPABILITIES, LoadedPlugin, LoadError, RawMeta, accepts_source, check_plugin
from .options import HostCommand
from .replay import CaptureReplay, prepare_capture
from .schema import ConfigError, prepare_config
from .threads import DEFAULT_THREADS, fixture_ops, thread_tid_entry
from .wire import NO_PLUGIN, SYMBOLS, C, Fields, Plan


@dataclass
class Output:
    """Where the host prints: a line to stdout or to stderr; the engine's own stdout and
    stderr (the plugins' prints) go to the sinks."""

    stdout: Callable[[str], None]
    stderr: Callable[[str], None]
    plugin_stdout: Sink = None
    plugin_stderr: Sink = None
    env: dict[str, str] | None = None
    on_session: Callable[[Session | None], None] = lambda s: None


class Failed(Exception):
    """Reported already; the command ends with exit status 1."""


@dataclass
class Runner:
    cmd: HostCommand
    out: Output
    plugins: list[LoadedPlugin] = field(default_factory=list)
    requests: Requests | None = None
    specs: list[tuple[str, Request]] = field(default_factory=list)
    output: list[str | Request] | None = None
    emitted: list[Request] = field(default_factory=list)
    failed: bool = False
    capture: CaptureReplay | None = None

    # ---- reporting ----

    def error(self, plugin: LoadedPlugin | str | None, stage: str, message: str) -> None:
        self.failed = True
        name = plugin.name if isinstance(plugin, LoadedPlugin) else plugin
        if self.cmd.json:
            self.out.stdout(
                render.json_line({"error": {"plugin": name, "stage": stage, "message": message}})
            )
        else:
            who = f"{name}: " if name else ""
            self.out.stderr(f"error: {who}{message} (stage: {stage})")

    def warning(self, plugin: LoadedPlugin | None, message: str) -> None:
        who = f"{plugin.name}: " if plugin else ""
        self.out.stderr(f"warning: {who}{message}")

    def _plugin(self, index: int) -> LoadedPlugin | None:
        return self.plugins[index] if index != NO_PLUGIN and index < len(self.plugins) else None

    # ---- load ----

    def load(self, session: Session) -> None:
        plan = Plan()
        if self.cmd.deepbind:
            plan.item("P_DEEPBIND")
        for args in self.cmd.plugins:
            plan.item("P_LIBRARY").str(args.path)
        if self.cmd.capture is not None:
            self.capture = self._read_capture(self.cmd.capture)
            plan.item("P_STREAM").str(str(self.capture.stream))
        elif self.cmd.events is not None:
            plan.item("P_STREAM").str(self.cmd.events)
        raws: list[RawMeta] = []
        for kind, f in session.load(plan):
            if kind == "R_META":
                raws.append(RawMeta.read(f))
            elif kind == "R_LOAD_ERROR":
                index, message = f.u32(), f.str()
                self.error(self.cmd.plugins[index].path, "load", f"cannot load plugin: {message}")
                raise Failed
        if len(raws) != len(self.cmd.plugins):
            self.error(None, "load", "the host engine ended while loading the plugins")
            raise Failed
        for raw in raws:
            path = self.cmd.plugins[raw.index].path
            try:
                p: LoadedPlugin = check_plugin(raw, path)
            except LoadError as exc:
                self.error(raw.name or path, "load", str(exc))
                raise Failed from None
            for w in p.warnings:
                self.warning(p, w)
            for q in self.plugins:
                if q.name == p.name:
                    self.error(
                        p,
                        "load",
                        f"a plugin named '{p.name}' is already loaded (from "
                        f"{q.path}): plugin names must be unique",
                    )
                    raise Failed
                if p.id and q.id == p.id:
                    self.error(p, "load", f"plugin ID {p.id} is already used by plugin '{q.name}'")
                    raise Failed
            self.plugins.append(p)
        if self.capture is not None:
            known = {p.id for p in self.plugins if p.has("source")}
            for pid in sorted(self.capture.plugin_ids() - known):
                self.warning(
                    None,
                    f"the capture holds events of plugin id {pid}, which no loaded plugin "
                    "has: they are shown with no source, as libsinsp shows them, and no plugin "
                    'parses or extracts them; Falco stops at the first one ("Unknown event '
                    'source")',
                )
            self.plugins.append(stream_plugin(len(self.plugins), self.capture.path, "capture"))
        elif self.cmd.events is not None:
            self.plugins.append(stream_plugin(len(self.plugins), self.cmd.events))

    def _read_capture(self, path: str) -> CaptureReplay:
        from ..event import EventFormatError

        try:
            return prepare_capture(path)
        except (EventFormatError, OSError) as exc:  # CaptureFormatError, ConversionError
            self.error(None, "capture", f"cannot read the capture {path}: {exc}")
            raise Failed from None

    def _capture_sources(self) -> dict[int, str] | None:
        """On a replayed capture: the loaded plugins' ids and their event sources."""
        if self.capture is None:
            return None
        return {p.id: p.source for p in self.plugins[:-1] if p.id and p.has("source")}

    def _sources(self) -> list[LoadedPlugin]:
        """The plugins whose events this run captures: a replayed capture replaces the
        plugins' own sources (their events in it are theirs), as in libsinsp."""
        if self.capture is not None:
            return [self.plugins[-1]]
        return [p for p in self.plugins if p.has("source")]

    # ---- plan ----

    def _fields(self) -> Node | None:
        self.requests = req = Requests(self.plugins, syscall=self.capture is not None)
        try:
            for spec in self.cmd.fields:
                if spec not in (s for s, _ in self.specs):
                    self.specs.append((spec, req.spec(spec)))
        except FieldError as exc:
            self.error(exc.plugin, "fields", f"--fields: {exc}")
            raise Failed from None
        if self.cmd.output is not None:
            try:
                self.output = req.output_format(self.cmd.output)
            except FieldError as exc:
                self.error(exc.plugin, "fields", f"--output: {exc}")
                raise Failed from None
        node = None
        if self.cmd.filter is not None:
            try:
                node = compile_filter(self.cmd.filter, req)
            except FilterError as exc:
                self.error(exc.plugin, "filter", str(exc))
                raise Failed from None
        emitted = [r for _, r in self.specs] + [
            p for p in self.output or [] if isinstance(p, Request)
        ]
        for r in emitted:
            if r not in self.emitted:
                self.emitted.append(r)
        return node

    def _routing(self, plan: Plan) -> dict[int, int]:
        """P_SLOT and P_PARSER; returns the states each plugin needs."""
        assert self.requests is not None
        used = {r.plugin.index for r in self.requests.items if r.plugin is not None}
        sources = self._sources()
        ninit: dict[int, int] = {}
        for p in self.plugins:
            ninit[p.index] = self.cmd.inits
            extracts, parses = p.index in used, p.has("parse")
            if not (extracts or parses):
                continue
            nxt = 1 if p.has("source") else 0
            for s in sources:
                x = extracts and accepts_source(p, p.extract_sources, s.source)
                q = parses and accepts_source(p, p.parse_sources, s.source)
                if not (x or q):
                    continue
                slot = 0 if s is p else nxt
                nxt += s is not p
                plan.item("P_SLOT").u32(p.index).u32(s.index).u64(slot).u8(int(x))
            ninit[p.index] = max(ninit[p.index], nxt)
        for s in sources:
            for p in self.plugins:
                if p.has("parse") and accepts_source(p, p.parse_sources, s.source):
                    plan.item("P_PARSER").u32(s.index).u32(p.index)
        return ninit

    def _async_stream(self, a: LoadedPlugin) -> int:
        def takes(src: str) -> bool:
            return not a.async_sources or src in a.async_sources

        sources = self._sources()
        if a in sources and takes(a.source):
            return a.index
        for s in sources:
            if takes(s.source):
                return s.index
        if not takes("syscall"):
            self.warning(
                a,
                "no capture of this run has one of its async event sources "
                "(get_async_event_sources): its async events are delivered by the "
                "host's own loop as source 'syscall'",
            )
        return NO_PLUGIN

    def _plugin_section(self, plan: Plan, p: LoadedPlugin, ninit: int, config: str | None) -> None:
        caps = p.caps
        if self.capture is not None and p is not self.plugins[-1]:
            caps &= ~C["CAP_SOURCE"]  # the capture is the only source: no plugin is opened
        plan.item("P_PLUGIN").u32(p.index).item("P_CAPS").u32(caps)
        plan.item("P_NAME").str(p.name).item("P_ID").u32(p.id).item("P_SOURCE").str(p.source)
        plan.item("P_REQ_MINOR").u32(p.req_minor).item("P_NINIT").u64(ninit)
        if config is not None:
            plan.item("P_CONFIG").str(config)
        for f in p.fields or []:
            plan.item("P_FIELD").str(f.name).u32(f.ftype).u8(int(f.is_list))
        if p.has("async"):
            for name in p.async_events or []:
                plan.item("P_ASYNC_NAME").str(name)
            plan.item("P_ASYNC_STREAM").u32(self._async_stream(p))

    def _fixtures(self, plan: Plan) -> None:
        if self.capture is not None:
            self.capture.plan_items(plan)  # each section's process list, when it starts
            return
        plan.item("P_FIXTURE").str(fixture_ops(DEFAULT_THREADS, "the default threads"))
        tid = self.cmd.thread_tid
        if tid is not None and tid != 1:
            plan.item("P_FIXTURE").str(
                fixture_ops([thread_tid_entry(tid)], "the --thread-tid thread")
            )
        if self.cmd.threads_fixture is not None:
            plan.item("P_FIXTURE").str(fixture_ops(self.cmd.threads_fixture, "--threads-fixture"))

    def run_plan(self) -> Plan:
        c = self.cmd
        node = self._fields()
        plan = Plan()
        plan.item("P_MODE").u8(C["MODE_RUN"])
        ninit = self._routing(plan)
        if self.capture is not None:
            self._plugin_section(plan, self.plugins[-1], 0, None)
            plan.item("P_SHOWN").str(self.capture.shown)
            plan.item("P_CPUS").str(self.capture.cpus)
        elif c.events is not None:
            stream = self.plugins[-1]
            self._plugin_section(plan, stream, 0, None)
            if c.events_shown is not None:
                plan.item("P_SHOWN").str(c.events_shown)
        for p, args in zip(self.plugins, c.plugins, strict=False):
            try:
                config = prepare_config(p.schema, args.config, "init config")
            except ConfigError as exc:
                self.error(p, "config", str(exc))
                raise Failed from None
            self._plugin_section(plan, p, ninit[p.index], config)
            if args.open_params is not None:
                plan.item("P_OPEN_PARAMS").str(args.open_params)
            if args.set_config is not None:
                try:
                    cfg = prepare_config(p.schema, args.set_config, "set_config config")
                except ConfigError as exc:
                    self.error(p, "set_config", str(exc))
                    raise Failed from None
                plan.item("P_SET_CONFIG").str(cfg)
        assert self.requests is not None
        for r in self.requests.items:
            r.write(plan)
        for r in self.emitted:
            plan.item("P_EMIT").u32(r.index)
        if node is not None:
            plan.item("P_FILTER")
            node.write(plan)
        self._options(plan)
        self._fixtures(plan)
        return plan

    def _options(self, plan: Plan) -> None:
        c = self.cmd
        plan.item("P_MAX_EVENTS").u64(c.max_events).item("P_CYCLES").u64(c.cycles)
        for flag, tag in (
            (c.quiet, "P_QUIET"),
            (c.reload, "P_RELOAD"),
            (c.no_event_to_string, "P_NO_E2S"),
            (c.offsets, "P_OFFSETS"),
            (c.async_reset, "P_ASYNC_RESET"),
            (c.dump_state, "P_DUMP_STATE"),
        ):
            if flag:
                plan.item(tag)
        plan.item("P_EXTRACT_THREADS").u64(c.extract_threads)
        plan.item("P_EXTRACT_REPEAT").u64(c.extract_repeat)
        plan.item("P_ASYNC_WAIT").u64(c.async_wait)
        if c.async_until:
            plan.item("P_ASYNC_UNTIL").u64(c.async_until)
        plan.item("P_ROUTINE_THREADS").u64(c.routine_threads)
        if c.progress_every:
            plan.item("P_PROGRESS_EVERY").u64(c.progress_every)
        if c.thread_tid is not None:
            plan.item("P_THREAD_TID").u64(c.thread_tid)
        plan.item("P_HOSTNAME").str(hostname())
        large = large_event_types()
        plan.item("P_LARGE_TYPES").u32(len(large))
        for t in large:
            plan.u32(t)
        for name in c.dump_table:
            plan.item("P_DUMP_TABLE").str(name)

    # ---- records ----

    def on_record(self, kind: str, f: Fields) -> None:
        c, out = self.cmd, self.out
        record: dict[str, Any] | None = None
        text: str | None = None
        if kind == "R_EVENT":
            record = render.event_record(f, self.plugins, self.specs, self.emitted, self.output,
                                         self._capture_sources())  # fmt: skip
            text = (
                render.text_async(record) if record.get("async") else render.text_event(
                    record, self.specs)
            )  # fmt: skip
        elif kind == "R_ASYNC":
            record = render.async_record(f, self.plugins)
            text = render.text_async(record)
        elif kind == "R_ERROR":
            p, stage, message = self._plugin(f.u32()), f.str() or "", f.str() or ""
            self.error(p, stage, message)
        elif kind == "R_WARNING":
            self.warning(self._plugin(f.u32()), f.str() or "")
        elif kind == "R_LOG":
            p, component, sev, msg = self._plugin(f.u32()), f.str(), f.u32(), f.str() or ""
            who = component or (p.name if p else "plugin")
            line = msg.replace("\n", " ").replace("\r", " ")
            out.stderr(f"[{who}] {render.SEVERITIES.get(sev, 'UNKNOWN')}: {line}")
        elif kind == "R_PROGRESS":
            p, pct, txt = self.plugins[f.u32()], f.u32(), f.str()
            record = {"progress": {"plugin": p.name, "pct": pct, "text": txt}}
            text = f"progress {p.name}: {pct // 100}.{pct % 100:02d}%" + (f" {txt}" if txt else "")
            if pct > 10000:
                self.warning(p, f"get_progress returned {pct}, above 10000 (100.00%)")
        elif kind == "R_TICK":
            record = {"tick": render.tick_record(f, self.plugins)}
            text = render.text_tick(record["tick"])
        elif kind == "R_METRICS":
            m = render.metrics_record(f, self.plugins)
            record = {"metrics": m}
            text = (
                "\n".join(
                    f"metric {m['plugin']}: {i['name']} = {json.dumps(i['value'])} ({i['type']}, "
                    f"{i['value_type']})"
                    for i in m["items"]
                )
                or None
            )
        elif kind == "R_SUMMARY":
            extracting = bool(self.requests and self.requests.items)
            s = render.summary_record(
                f, self.plugins, extracting, bool(c.extract_repeat), c.dump_state
            )
            record, text = {"summary": s}, render.text_summary(s)
        elif kind == "R_EXTRACT_CHECK":
            p = self.plugins[f.u32()]
            ch = {
                "plugin": p.name,
                "threads": f.u64(),
                "events": f.u64(),
                "calls": f.u64(),
                "mismatches": f.u64(),
            }
            record = {"extract_check": ch}
            text = (
                f"extract_check {p.name}: {ch['threads']} threads, {ch['events']} events, "
                f"{ch['calls']} calls, {ch['mismatches']} mismatches"
            )
        elif kind == "R_TABLE":
            t = render.table_record(f, self.plugins)
            record = {"table": t}
            text = f"table {t['name']}: {render.json_line(record)}"
        if record is not None:
            if c.json:
                out.stdout(render.json_line(record))
            elif text is not None:
                out.stdout(text)


def stream_plugin(index: int, path: str, name: str = "events") -> LoadedPlugin:
    """A raw event stream in the place of a plugin: a source of "syscall" events, no library
    (named "capture" for a replayed capture)."""
    return LoadedPlugin(index, path, name, "", "a raw event stream", "", "", 0,
                        C["CAP_SOURCE"], set())  # fmt: skip


def hostname() -> str:
    """What evt.hostname gives, as Falco finds it: $FALCO_HOSTNAME, else the machine's name."""
    return (
        os.environ.get("FALCO_HOSTNAME") or os.environ.get("SCAP_HOSTNAME") or socket.gethostname()
    )


_large: list[int] | None = None


def large_event_types() -> list[int]:
    """Event types whose parameter lengths are u32 (EF_LARGE_PAYLOAD), from the event schema."""
    global _large
    if _large is None:
        from ..event._generated import EVENT_TABLE

        _large = [row[0] for row in EVENT_TABLE if row[6]]
    return _large


def execute(cmd: HostCommand, out: Output) -> int:
    """Runs one checked command; returns its exit status (0, 1 on errors)."""
    runner = Runner(cmd, out)
    session = Session(stdout=out.plugin_stdout, stderr=out.plugin_stderr, env=out.env)
    out.on_session(session)
    try:
        try:
            runner.load(session)
            plan = runner.run_plan() if cmd.command == "run" else info_plan(runner)
        except Failed:
            session.run(None, lambda kind, f: None)
            return 1
        if cmd.command == "info":
            return run_info(runner, session, plan)
        rc = session.run(plan, runner.on_record)
    finally:
        out.on_session(None)
        if runner.capture is not None:
            runner.capture.close()
    return rc if rc else int(runner.failed)


# ---- info ----


def info_plan(runner: Runner) -> Plan:
    p = runner.plugins[0]
    plan = Plan().item("P_MODE").u8(C["MODE_INFO"])
    try:
        config: str | None = prepare_config(p.schema, "", "the default init config")
        runner.info_error = None  # type: ignore[attr-defined]
    except ConfigError as exc:
        config, runner.info_error = None, str(exc)  # type: ignore[attr-defined]
    runner._plugin_section(plan, p, 1, config)
    runner._fixtures(plan)
    return plan


def run_info(runner: Runner, session: Session, plan: Plan) -> int:
    p = runner.plugins[0]
    got: dict[str, Any] = {}

    def on_record(kind: str, f: Fields) -> None:
        if kind != "R_INFO":
            runner.on_record(kind, f)
            return
        f.u32()
        got["init_error"] = f.str()
        ops_given = f.u8()
        got["open_params"] = f.str() if ops_given else (f.str() and None)
        for key in ("extract_event_types", "parse_event_types"):
            given, n = f.u8(), f.u32()
            types = [f.u16() for _ in range(n)]
            got[key] = types if given else None

    rc = session.run(plan, on_record)
    if rc and not got:
        return rc
    init_error = getattr(runner, "info_error", None) or got.get("init_error")
    if init_error:
        runner.warning(p, f"could not init the plugin to list its open params: {init_error}")
    ops = open_params(runner, p, got.get("open_params"))
    info = info_json(p, ops, got, init_error)
    runner.out.stdout(render.json_line(info) if runner.cmd.json else info_text(p, info, ops))
    return 0


def open_params(runner: Runner, p: LoadedPlugin, text: str | None) -> list[dict[str, str]] | None:
    if text is None:
        return None
    try:
        items = json.loads(text or "[]")
    except ValueError as exc:
        runner.warning(p, f"list_open_params did not return a JSON array: {exc}")
        return None
    if not isinstance(items, list):
        runner.warning(p, "list_open_params did not return a JSON array")
        return None
    out: list[dict[str, str]] = []
    for i, it in enumerate(items):
        value = it.get("value") if isinstance(it, dict) else None
        if not isinstance(value, str):
            runner.warning(p, f'open param {i} has no string "value"')
            continue
        entry = {"value": value, "desc": str(it.get("desc") or "")}
        if isinstance(it.get("separator"), str) and it["separator"]:
            entry["separator"] = it["separator"]
        out.append(entry)
    return out


def info_json(
    p: LoadedPlugin, ops: list[dict[str, str]] | None, got: dict[str, Any], init_error: str | None
) -> dict[str, Any]:
    fields = None
    if p.has("extract"):
        fields = [
            {
                "name": f.name,
                "type": f.type,
                "display": f.display,
                "desc": f.desc,
                "isList": f.is_list,
                "addOutput": f.add_output,
                "arg": {"isRequired": f.arg_required, "isIndex": f.arg_index, "isKey": f.arg_key},
                "properties": [x for x in ("hidden", "info", "conversation") if x in f.properties],
            }
            for f in p.fields or []
        ]
    return {
        "name": p.name,
        "description": p.description,
        "contact": p.contact,
        "version": p.version,
        "required_api_version": p.required_api_version,
        "capabilities": [key for bit, key, *_ in CAPABILITIES if p.caps & bit],
        "id": p.id if p.has("source") else None,
        "event_source": p.event_source if p.has("source") else None,
        "init_schema": p.schema_text,
        "open_params": ops,
        "fields": fields,
        "extract_event_sources": p.extract_sources,
        "extract_event_types": got.get("extract_event_types"),
        "parse_event_sources": p.parse_sources,
        "parse_event_types": got.get("parse_event_types"),
        "async_events": p.async_events if p.has("async") else None,
        "async_event_sources": p.async_sources,
        "init_error": init_error,
        "exported": sorted(f"plugin_{s}" for s in SYMBOLS if s in p.symbols),
    }


def _sources_text(p: LoadedPlugin, listed: list[str] | None) -> str:
    names = [p.event_source] if p.has("source") and p.id else []
    names += [s for s in listed or [] if s not in names]
    return ", ".join(names) or "all"


def _types_text(types: list[int] | None, inited: bool) -> str:
    if types is not None:
        return ", ".join(map(str, types))
    return (
        "default (322 for plugin sources, all for syscall)" if inited else "unknown (init failed)"
    )


def info_text(p: LoadedPlugin, info: dict[str, Any], ops: list[dict[str, str]] | None) -> str:
    inited = info["init_error"] is None
    lines = [
        f"Name: {p.name}",
        f"Description: {p.description}",
        f"Contact: {p.contact}",
        f"Version: {p.version}",
        f"Required API version: {p.required_api_version}",
        "Capabilities:",
    ]
    for bit, key, _label, title, _syms in CAPABILITIES:
        if p.caps & bit:
            extra = f" (ID={p.id}, source='{p.source}')" if key == "source" else ""
            lines.append(f"  - {title}{extra}")
    if p.schema is not None:
        lines.append("Init config schema type: JSON")
        lines.append(json.dumps(p.schema, indent=2, ensure_ascii=False))
    else:
        lines.append("No init config schema")
    if ops is not None:
        lines.append("Suggested open params:" + ("" if ops else " none"))
        for o in ops:
            line = f"  {o['value']}" + (f"  {o['desc']}" if o["desc"] else "")
            if o.get("separator"):
                line += f" (separator '{o['separator']}')"
            lines.append(line)
    if p.has("extract"):
        lines.append("Fields:")
        for f in p.fields or []:
            kind = f"{f.type}" + (", list" if f.is_list else "")
            if f.arg_index or f.arg_key:
                need = "required" if f.arg_required else "optional"
                kind += f", {need} {'index' if f.arg_index else 'key'} arg"
            hidden = " [hidden]" if "hidden" in f.properties else ""
            lines.append(f"  {f.name} ({kind}){hidden}: {f.desc}")
        lines.append(f"Extract event sources: {_sources_text(p, p.extract_sources)}")
        lines.append(f"Extract event types: {_types_text(info['extract_event_types'], inited)}")
    if p.has("parse"):
        lines.append(f"Parse event sources: {_sources_text(p, p.parse_sources)}")
        lines.append(f"Parse event types: {_types_text(info['parse_event_types'], inited)}")
    if p.has("async"):
        lines.append("Async events:" + ",".join(f" {n}" for n in p.async_events or []))
        lines.append(f"Async event sources: {', '.join(p.async_sources or []) or 'all'}")
        lines.append(f"Dump state: {'yes' if 'dump_state' in p.symbols else 'no'}")
    lines.append("Exported symbols:" + "".join(f" {s}" for s in info["exported"]))
    return "\n".join(lines)
