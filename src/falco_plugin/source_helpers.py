"""Ready-made source instances: pull events from a function, or push them from a thread.

Both wait up to ``timeout`` seconds (default 30 ms) for the first event of a batch instead
of returning Timeout at once (which would make the host spin a core), fill at most
``batch_size`` events per call, and keep raising Eof once the stream has ended.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from .source import Eof, EventBatchLike, Payload, SourceInstance, Timeout

DEFAULT_TIMEOUT = 0.030
DEFAULT_BATCH_SIZE = 128  # as the Go SDK; the per-call cost is spread well from 64 on
_POLL_INTERVAL = 0.001


class PullInstance(SourceInstance):
    """Calls ``pull()`` for each event: it returns a payload, None when nothing is ready
    yet, or raises Eof at the end of the stream."""

    def __init__(
        self,
        pull: Callable[[], Payload | None],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._pull = pull
        self._timeout = timeout
        self._batch_size = batch_size
        self._eof = False

    def next_batch(self, batch: EventBatchLike) -> None:
        """Call the function for each event until it raises Eof; waits instead of spinning."""
        if self._eof:
            raise Eof
        deadline = time.monotonic() + self._timeout
        added = 0
        while added < self._batch_size:
            try:
                payload = self._pull()
            except Eof:
                self._eof = True
                raise
            if payload is not None:
                batch.add(payload)
                added += 1
                continue
            if added:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout
            time.sleep(min(_POLL_INTERVAL, remaining))


class PushInstance(SourceInstance):
    """A queue that background threads fill with :meth:`push`; :meth:`end` marks the end
    of the stream and :meth:`fail` makes the next batch fail with an error."""

    _END = object()

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        batch_size: int = DEFAULT_BATCH_SIZE,
        maxsize: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._queue: queue.Queue[object] = queue.Queue(maxsize)
        self._timeout = timeout
        self._batch_size = batch_size
        self._eof = False
        self._closed = threading.Event()

    def push(self, payload: Payload, timeout: float | None = None) -> None:
        """Queue one payload (blocks while a bounded queue is full, up to ``timeout``)."""
        self._queue.put(payload, timeout=timeout)

    def end(self) -> None:
        """No more events: the batch after the queued ones raises Eof."""
        self._queue.put(self._END)

    def fail(self, error: BaseException) -> None:
        """Fail the capture: ``next_batch`` raises ``error`` once the queue reaches it."""
        self._queue.put(error)

    @property
    def closed(self) -> bool:
        """True once the host closed the instance: producer threads should stop."""
        return self._closed.is_set()

    def next_batch(self, batch: EventBatchLike) -> None:
        """Hand the host what the threads pushed, waiting up to the timeout for some."""
        if self._eof:
            raise Eof
        try:
            item = self._queue.get(timeout=self._timeout)
        except queue.Empty:
            raise Timeout from None
        added = 0
        while True:
            if item is self._END:
                self._eof = True
                raise Eof
            if isinstance(item, BaseException):
                raise item
            batch.add(item)  # type: ignore[arg-type]
            added += 1
            if added >= self._batch_size:
                return
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        """The host closed the capture: :attr:`closed` turns True, for producer threads to stop."""
        self._closed.set()
