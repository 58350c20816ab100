"""Python ``logging`` routed to the host's logger (Falco's log), and rate-limited reports.

Each plugin logs through the logger named after its module (``self.logger`` or
``logging.getLogger(__name__)`` in the plugin file). Once the host has initialised the
plugin, records on that logger go to the host's ``log_fn`` with the severity mapped; before
that (or in plain Python) they go to stderr.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

# ss_plugin_log_severity values
SEV_FATAL, SEV_CRITICAL, SEV_ERROR, SEV_WARNING = 1, 2, 3, 4
SEV_NOTICE, SEV_INFO, SEV_DEBUG, SEV_TRACE = 5, 6, 7, 8

HostLogFn = Callable[[str | None, str, int], "bool | None"]  # False: the state is gone


def host_severity(levelno: int) -> int:
    """Map a ``logging`` level to the API's severity (NOTICE sits between INFO and WARNING)."""
    if levelno > logging.CRITICAL:
        return SEV_FATAL
    if levelno >= logging.CRITICAL:
        return SEV_CRITICAL
    if levelno >= logging.ERROR:
        return SEV_ERROR
    if levelno >= logging.WARNING:
        return SEV_WARNING
    if levelno > logging.INFO:
        return SEV_NOTICE
    if levelno >= logging.INFO:
        return SEV_INFO
    if levelno >= logging.DEBUG:
        return SEV_DEBUG
    return SEV_TRACE


class HostLogHandler(logging.Handler):
    """Sends records to the host logger of the plugin state they come from, else to stderr.

    One handler serves a logger name (a plugin's import space); every state of the plugin
    (Falco initialises one per event source) attaches its host log function, with the name
    of its own logger (``self.logger`` of the plugin object). A record of a state's logger
    goes to that state's host logger; a record of another logger of the plugin (a module's
    ``logging.getLogger(__name__)``) goes to the first state still attached. Records of a
    destroyed state's logger (a thread it left running) go to stderr, as do records that a
    host log function refuses because its state is being destroyed.
    """

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self._sinks: dict[int, HostLogFn] = {}  # by key, in the order states attached
        self._by_logger: dict[str, HostLogFn | None] = {}  # None: that state is destroyed
        self._sinks_lock = threading.Lock()
        self.setFormatter(logging.Formatter("%(message)s"))

    def attach(self, key: int, sink: HostLogFn, logger_name: str = "") -> None:
        """Route the records of plugin state ``key`` (and of ``logger_name`` and below) to the
        host's log function."""
        with self._sinks_lock:
            sinks, by_logger = dict(self._sinks), dict(self._by_logger)
            sinks[key] = sink
            if logger_name:
                by_logger[logger_name] = sink
            self._sinks, self._by_logger = sinks, by_logger  # readers see whole maps

    def detach(self, key: int) -> None:
        """Stop routing the records of plugin state ``key`` (at destroy)."""
        with self._sinks_lock:
            gone = self._sinks.get(key)
            self._sinks = {k: s for k, s in self._sinks.items() if k != key}
            # the state's own logger keeps its entry, empty: its records go to stderr now
            self._by_logger = {n: (None if s is gone else s) for n, s in self._by_logger.items()}

    def emit(self, record: logging.LogRecord) -> None:
        """Hand a record to the host's log of the plugin it belongs to, with its severity."""
        try:
            msg = self.format(record)
            by_logger = self._by_logger
            if record.name in by_logger:
                sink = by_logger[record.name]
            else:
                sink = next(iter(self._sinks.values()), None)
            if sink is None or sink(None, msg, host_severity(record.levelno)) is False:
                sys.stderr.write(f"[{record.name}] {record.levelname}: {msg}\n")
        except Exception:
            self.handleError(record)


_handlers: dict[str, HostLogHandler] = {}
_handlers_lock = threading.Lock()


def host_handler(logger_name: str) -> HostLogHandler:
    """The routing handler of a logger, installed on first use (level DEBUG: the host filters)."""
    with _handlers_lock:
        handler = _handlers.get(logger_name)
        if handler is None:
            handler = _handlers[logger_name] = HostLogHandler()
            logger = logging.getLogger(logger_name)
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
        return handler


class RateLimiter:
    """Allows ``burst`` reports per ``period`` seconds per key and counts what it held back.

    Used for failures the host would otherwise swallow silently (a failed extraction looks
    like an absent field, a failed parse is ignored) without flooding Falco's log.
    """

    def __init__(self, burst: int = 5, period: float = 10.0) -> None:
        self.burst = burst
        self.period = period
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, int, int]] = {}  # key -> (window start, sent, held)

    def allow(self, key: str) -> tuple[bool, int]:
        """Whether to report now, and how many reports were suppressed since the last one."""
        now = time.monotonic()
        with self._lock:
            start, sent, held = self._state.get(key, (now, 0, 0))
            if now - start >= self.period:
                start, sent = now, 0
            if sent < self.burst:
                self._state[key] = (start, sent + 1, 0)
                return True, held
            self._state[key] = (start, sent, held + 1)
            return False, 0
