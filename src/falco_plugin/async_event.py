"""The async events capability: push events into Falco's stream from background work.

    class Watcher(AsyncPlugin):
        ASYNC_EVENTS = ["watch_alert"]

        def start_async(self, events: AsyncEmitter) -> None:     # Falco set the handler
            self.task = BackgroundTask(lambda: events.emit("watch_alert", b"..."), 1.0)
            self.task.start()

        def stop_async(self) -> None:                            # Falco cleared it
            self.task.stop()                                     # joins the thread

``emit`` is thread-safe, raises :class:`AsyncEventError` for a name not in
``ASYNC_EVENTS`` or when the host refuses the event, and ``RuntimeError`` once the handler
has been cleared. The SDK calls ``stop_async`` before it closes the emitter and before
``destroy``, so threads stopped there never emit into a dead handler.
"""

from __future__ import annotations

import threading

from ._lean_typing import TYPE_CHECKING
from .base import Plugin

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import ClassVar, Protocol
else:
    from ._lean_typing import Protocol


class AsyncEventError(Exception):
    """The event was not sent: an undeclared name, or the host refused it."""


class AsyncEmitter(Protocol):
    """What ``start_async`` and ``dump_state`` receive (a C object inside the host)."""

    def emit(
        self,
        name: str,
        data: bytes | bytearray | memoryview | str = b"",
        *,
        ts: int | None = None,
        tid: int | None = None,
    ) -> None:
        """Send async event ``name`` with ``data`` to the host (thread-safe); ``ts`` and ``tid``
        default to now and none."""


class AsyncPlugin(Plugin):
    """A plugin with the async events capability.

    ``ASYNC_EVENTS``: the names it may emit (at least one). ``ASYNC_EVENT_SOURCES``: the
    sources its events may join (None: any). Optional hook: ``dump_state(self, events)``,
    asked by the host to emit the plugin's current state as async events.
    """

    ASYNC_EVENTS: ClassVar[list[str]] = []
    ASYNC_EVENT_SOURCES: ClassVar[list[str] | None] = None

    def start_async(self, events: AsyncEmitter) -> None:
        """The host is ready for events: start the work that emits them."""

    def stop_async(self) -> None:
        """The host stops taking events: end that work (join threads) before returning."""


class BackgroundTask:
    """Runs ``fn()`` every ``interval`` seconds on a daemon thread until :meth:`stop`.

    An exception in ``fn`` is logged and the task goes on; ``RuntimeError`` from an
    emitter whose handler was cleared ends it.
    """

    def __init__(
        self, fn: Callable[[], None], interval: float, *, name: str = "falco-plugin-task"
    ) -> None:
        if interval <= 0:
            raise ValueError("the interval must be positive")
        self.fn = fn
        self.interval = interval
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    @property
    def running(self) -> bool:
        """Whether the thread is alive (started and not stopped)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (the first run is right away)."""
        if self.running:
            raise RuntimeError("the task is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait for it (up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"task {self.name} did not stop within {timeout} s")
        self._thread = None

    def _loop(self) -> None:
        import logging  # here: a plugin that never starts a task does not pay for logging

        log = logging.getLogger(__name__)
        while not self._stop.is_set():
            try:
                self.fn()
            except RuntimeError as exc:  # the emitter is closed: nothing more to do
                log.debug("task %s ends: %s", self.name, exc)
                return
            except Exception:
                log.exception("task %s failed", self.name)
            self.runs += 1
            self._stop.wait(self.interval)
