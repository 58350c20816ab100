"""The dispatch layer between the C shim and the author's classes.

The shim calls only this module (and, on the hot path, the instance's bound ``next_batch``).
Everything here takes and returns plain Python values (str, bytes, ints, tuples): the shim
owns every buffer the host sees. Any exception raised here is caught by the shim, turned
into an error code and a message for ``get_last_error`` via :func:`format_error`.

The shim runs this module inside the plugin library's import space (``_space.py``), so each
library has its own copy of the SDK. What the shim calls here (names, arguments, results)
is the **runtime protocol**: :data:`PROTOCOL` is baked into every built library and checked
at init against the SDK found in the space. Bump it on any change the shim would notice.
"""

from __future__ import annotations

import gc
import importlib
import itertools
import threading

from ._lean_typing import TYPE_CHECKING
from .base import Plugin, PluginError, defines, iter_metrics, plugin_logger_name
from .config import ConfigError, config_type_of, parse_config
from .event.framing import PluginEvent
from .loader import PluginRef, find_class

if TYPE_CHECKING:
    import logging
    from typing import Any

    from .logs import HostLogFn, RateLimiter
from .source import SourceInstance, SourcePlugin, open_params_json

# 1: before import spaces (create took extra sys.path entries); 2: create takes the space;
# 3: create takes the baked static facts and checks them; 4: marshalled (not JSON) facts
PROTOCOL = 4

_CLEAN_ERRORS = (PluginError, ConfigError)
_STATES = itertools.count(1)  # numbers the per-state loggers
_LIMITER_LOCK = threading.Lock()  # one rate limiter per state, even if two threads fail first


def sdk_attr(module: str, name: str) -> Any:
    """An attribute of a module of this SDK copy (``module`` relative to the package): how
    the shim gets the SDK's classes of its own import space."""
    return getattr(importlib.import_module(f".{module}", __package__), name)


def format_error(exc: BaseException) -> str:
    """A one-line message for the host: the author's text, the exception kind and where."""
    if isinstance(exc, _CLEAN_ERRORS):
        return str(exc)
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    tb, where = exc.__traceback__, None
    while tb is not None:  # the last frame that raised, outside the SDK's baked code
        if not tb.tb_frame.f_code.co_filename.startswith("<falco_plugin"):
            where = tb
        tb = tb.tb_next
    tb = where
    if tb is not None:
        code = tb.tb_frame.f_code
        text += f" (at {code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno} in {code.co_name})"
    return text


def create(
    space: Any,
    module_file: str,
    module_name: str,
    class_name: str,
    facts: bytes,
    config: str,
    log: Any,
    tables: Any = None,
) -> Runtime:
    """Import the plugin in its import space, check it against the library, route its logs
    to the host, parse the config, build the plugin object.

    The plugin is the file ``module_file`` or, when that is empty, the module
    ``module_name`` found through the space's roots. ``facts`` are the static facts baked
    into the library (:func:`validate.baked_facts`): the code must still say the same, or
    the host would call, and read results of, what the code no longer is.
    """
    gc_was_on = gc.isenabled()
    gc.disable()  # the imports make many objects and no garbage: no passes over them
    try:
        module = space.load_file(module_file) if module_file else space.import_module(module_name)
        cls = find_class(module, class_name)
        fields = None
        if not getattr(space, "checked", False):  # a packaged library's code is checked
            import marshal

            fields = check_facts(cls, marshal.loads(facts), module_file or module_name)
    finally:
        if gc_was_on:
            gc.enable()
    return Runtime(cls, config, log, tables, log_root=space.prefix, fields=fields, space=space)


def check_facts(cls: type[Plugin], baked: dict[str, Any], where: str) -> Any:
    """Raise PluginError("rebuild the plugin: ...") when the class no longer matches;
    returns its field specs (the runtime's extractors use them)."""
    from .validate import PluginDefinitionError, facts_drift, plugin_meta

    try:
        meta = plugin_meta(cls, PluginRef("", where, cls.__name__))
    except PluginDefinitionError as exc:
        raise PluginError(f"rebuild the plugin: {exc}") from None
    drift = facts_drift(baked, meta.facts())
    if drift:
        raise PluginError(
            f"rebuild the plugin: {where} no longer matches the library built from it "
            f"({'; '.join(drift)})"
        )
    return meta.fields


class LogRoute:
    """How one plugin state logs: its own logger (``self.logger`` of the plugin object) and
    the space's routing handler, both sending to this state's host log function.

    Made when logging starts, not at init: ``logging`` (a large part of a plugin's start) is
    imported once the plugin's code imports it or first uses ``self.logger``, and records
    are routed from then on (see ``ImportSpace.when_imported``)."""

    def __init__(self, root: str, name: str, log: HostLogFn | None, key: int) -> None:
        self.root, self.name, self.log, self.key = root, name, log, key
        self._logger: logging.Logger | None = None
        self._lock = threading.Lock()
        self._closed = False

    def logger(self) -> logging.Logger:
        """The state's logger, routed to its host log (started on first use)."""
        logger = self._logger
        return logger if logger is not None else self.start()

    def start(self) -> logging.Logger:
        """Route this state's records (and those of the plugin's other loggers) to the host."""
        import logging

        from .logs import host_handler

        with self._lock:
            if self._logger is None:
                handler = host_handler(self.root)
                if self.log is not None and not self._closed:
                    handler.attach(self.key, self.log, self.name)
                self._logger = logging.getLogger(self.name)
            return self._logger

    def close(self) -> None:
        """The state is gone: its records go to stderr from now."""
        with self._lock:
            self._closed = True
            if self._logger is not None:
                from .logs import host_handler

                host_handler(self.root).detach(self.key)


class Runtime:
    """One per ``ss_plugin_t*``: the author's plugin object and the API calls on it."""

    def __init__(
        self,
        cls: type[Plugin],
        raw_config: str,
        log: HostLogFn | None,
        tables: Any = None,
        *,
        log_root: str | None = None,
        fields: Any = None,
        space: Any = None,
    ) -> None:
        self.cls = cls
        self._fields = fields  # the field specs the facts check computed, if it ran
        self.config_type = config_type_of(cls)
        # in an import space every module of the plugin logs under the space's name; the
        # plugin object's own logger (self.logger) is this state's: its records go to this
        # state's host logger, whatever other states of the plugin do
        state_logger = f"{plugin_logger_name(cls)}.state{next(_STATES)}"
        self._log = LogRoute(log_root or plugin_logger_name(cls), state_logger, log, id(self))
        if space is not None:
            space.when_imported("logging", self._log.start)
        else:
            self._log.start()
        self._limiter: RateLimiter | None = None
        kwargs: dict[str, Any] = {}
        if wants_tables(cls):
            from .tables import TableError, TablesInit  # only parse/extract plugins need them

            if tables is None:
                raise TableError("the host gave this plugin no tables API")
            self._tables_backend = tables
            kwargs["tables"] = TablesInit(tables, self._export, getattr(cls, "NAME", ""))
        try:
            args = [] if self.config_type is None else [parse_config(self.config_type, raw_config)]
            plugin = cls.__new__(cls)
            # self.logger works in __init__; a class with __slots__ gets the shared logger.
            # Set as an attribute, not through plugin.__dict__ (that would make the dict and
            # slow every attribute access on the plugin object down for its whole life)
            try:  # (no contextlib.suppress: contextlib is not imported at init)
                object.__setattr__(plugin, "_falco_logger", self._log)
            except AttributeError:
                pass
            cls.__init__(plugin, *args, **kwargs)
            self.plugin = plugin
        except BaseException:
            self._log.close()
            raise

    @property
    def logger(self) -> logging.Logger:
        """This state's logger (logging starts on first use)."""
        return self._log.logger()

    # ------------------------------------------------------------------ base capability

    def destroy(self) -> None:
        try:
            self.plugin.destroy()
        finally:
            self._log.close()

    def set_config(self, raw: str) -> None:
        config = raw if self.config_type is None else parse_config(self.config_type, raw)
        self.plugin.set_config(config)  # type: ignore[attr-defined]

    def metrics(self) -> list[tuple[bytes, int, int, int | float]]:
        return [
            (m.name.encode(), int(m.type), int(m.resolved_value_type()), m.value)
            for m in iter_metrics(self.plugin)
        ]

    def report(self, where: str, exc: BaseException) -> str:
        """Log a failure the host would not show (rate-limited) and return its message."""
        message = format_error(exc)
        limiter = self._limiter
        if limiter is None:
            from .logs import RateLimiter

            with _LIMITER_LOCK:
                if self._limiter is None:
                    self._limiter = RateLimiter()
                limiter = self._limiter
        allowed, held = limiter.allow(where)
        if allowed:
            suffix = f" ({held} similar messages suppressed)" if held else ""
            self.logger.error("%s failed: %s%s", where, message, suffix)
        return message

    # ---------------------------------------------------------------- source capability

    @property
    def source(self) -> SourcePlugin:
        assert isinstance(self.plugin, SourcePlugin)
        return self.plugin

    def open(self, params: str) -> SourceInstance:
        instance = self.source.open(params)
        if not callable(getattr(instance, "next_batch", None)):
            raise TypeError(f"open() must return a SourceInstance, got {type(instance).__name__}")
        return instance

    def close(self, instance: SourceInstance) -> None:
        self.source.close(instance)

    def open_params(self) -> bytes:
        return open_params_json(self.source.list_open_params()).encode()  # type: ignore[attr-defined]

    def progress(self, instance: SourceInstance) -> tuple[int, bytes | None]:
        progress = instance.get_progress()
        if progress is None:
            return 0, None
        pct, detail = progress.encoded()
        return pct, None if detail is None else detail.encode()

    def event_to_string(self, raw: bytes, evtnum: int, source: str) -> bytes:
        event = PluginEvent.decode(raw, evtnum=evtnum, source=source)
        text = self.source.event_to_string(event)  # type: ignore[attr-defined]
        if not isinstance(text, str):
            raise TypeError(f"event_to_string must return str, got {type(text).__name__}")
        return text.encode()

    # ------------------------------------------------------------ extract capability

    def extractors(self) -> list[tuple[Any, int, bool, int, bool, bool]]:
        """Per field id: (callable, ftype, is_list, arg kind, arg required, offsets).

        int, str and bool fields call the author's bound method directly (the hot path);
        time and address fields go through a wrapper that turns them into ints / bytes.
        """
        from .extract import field_specs

        specs = self._fields if self._fields is not None else field_specs(type(self.plugin))
        converting = any(spec.ftype in _CONVERTED_TYPES for spec in specs)
        converters = _converters() if converting else {}  # loads datetime and ipaddress
        out = []
        for spec in specs:
            method = getattr(self.plugin, spec.attr)
            convert = converters.get(spec.ftype)
            fn = method if convert is None else _converting(method, convert, spec.is_list)
            out.append((fn, spec.ftype, spec.is_list, spec.arg, spec.arg_required, spec.offsets))
        return out

    # ---------------------------------------------------- async events and listening

    def start_async(self, emitter: Any) -> None:
        self.plugin.start_async(emitter)  # type: ignore[attr-defined]

    def stop_async(self) -> None:
        self.plugin.stop_async()  # type: ignore[attr-defined]

    def dump_state(self, emitter: Any) -> None:
        self.plugin.dump_state(emitter)  # type: ignore[attr-defined]

    def capture_open(self, listen: Any) -> None:
        self.plugin.capture_open(listen)  # type: ignore[attr-defined]

    def capture_close(self, listen: Any) -> None:
        self.plugin.capture_close(listen)  # type: ignore[attr-defined]

    # -------------------------------------------------------------- parse capability

    def parser(self) -> tuple[Any, Any]:
        """(the bound parse_event, the bound make_context or None) for the shim."""
        return self.plugin.parse_event, self.context_factory()  # type: ignore[attr-defined]

    def _export(self, table: Any) -> None:
        """Register a table the plugin exports (the shim implements its vtables and keeps a
        reference to it for the plugin's lifetime)."""
        self._tables_backend.add_table(table, table.name, int(table.key_type))

    def context_factory(self) -> Any:
        """The plugin's make_context hook (bound), or None."""
        if defines(type(self.plugin), "make_context"):
            return self.plugin.make_context  # type: ignore[attr-defined]
        return None


def wants_tables(cls: type) -> bool:
    """True when the plugin's __init__ takes a ``tables`` parameter."""
    code = getattr(cls.__init__, "__code__", None)  # type: ignore[misc]
    return (
        code is not None
        and "tables" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    )


_CONVERTED_TYPES = (20, 21, 40, 41)  # reltime, abstime, ipaddr, ipnet (extract.FTYPE_*)


def _converters() -> dict[int, Any]:
    """Per field type code (extract.FTYPE_*), what turns a value into the int / bytes the
    shim stores: time and address fields only (their modules load when first needed)."""
    import datetime as dt
    import ipaddress

    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    networks = (ipaddress.IPv4Network, ipaddress.IPv6Network)
    addresses = (ipaddress.IPv4Address, ipaddress.IPv6Address)

    def reltime_ns(value: Any) -> int:
        if isinstance(value, dt.timedelta):
            return (value.days * 86_400 + value.seconds) * 1_000_000_000 + value.microseconds * 1000
        return int(value)

    def abstime_ns(value: Any) -> int:
        if isinstance(value, dt.datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
            return reltime_ns(aware - epoch)
        return int(value)

    def ip_bytes(value: Any) -> bytes:
        if isinstance(value, networks):
            return value.network_address.packed
        if isinstance(value, addresses):
            return value.packed
        return ipaddress.ip_address(value).packed

    return {20: reltime_ns, 21: abstime_ns, 40: ip_bytes, 41: ip_bytes}


def _converting(method: Any, convert: Any, is_list: bool) -> Any:
    """Wrap a field method so its value reaches the shim as int / bytes."""

    from .extract import Located

    def call(*args: Any) -> Any:
        value = method(*args)
        located = type(value) is Located
        inner = value.value if located else value
        if inner is None:
            converted = None
        elif is_list:
            converted = [convert(v) for v in inner]
        else:
            converted = convert(inner)
        return Located(converted, value.start, value.length) if located else converted

    return call
