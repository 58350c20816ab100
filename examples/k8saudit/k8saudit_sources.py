"""Where k8saudit reads audit events: files, a followed file, and a webhook.

- :class:`FileInstance`: a file, or every file of a folder (oldest first), read once as
  JSON lines; reports progress; ends at the end of the input.
- :class:`FollowInstance` (``file://PATH``): follows a log file as Kubernetes writes it,
  from its current end, across truncation and rotation (a new file at the path is read
  from its start); never ends.
- :class:`WebhookInstance` (``http://HOST:PORT/PATH`` or ``https://...``): an HTTP endpoint
  for the Kubernetes API server's audit webhook backend; never ends.

Every instance waits a little for input before answering Timeout, so Falco does not spin.
"""

from __future__ import annotations

import collections
import http.server
import os
import queue
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from k8saudit_events import AuditEvent, AuditParser, Counters

from falco_plugin import Eof, PluginError, Progress, SourceInstance, Timeout

BATCH_SIZE = 256  # events per next_batch call at most (more may be pending)
WAIT = 0.05  # seconds to wait for input before answering Timeout
BODY_QUEUE = 50  # webhook request bodies waiting to be parsed (then requests block)
SHUTDOWN_TIMEOUT = 5.0


class QueuedInstance(SourceInstance):
    """Delivers parsed events in batches of at most BATCH_SIZE, keeping the rest pending."""

    def __init__(self, counters: Counters) -> None:
        self.pending: collections.deque[AuditEvent] = collections.deque()
        self.counters = counters

    def deliver(self, batch: Any) -> int:
        """Move up to BATCH_SIZE pending events into the batch; how many were moved."""
        count = min(len(self.pending), BATCH_SIZE)
        for _ in range(count):
            ts, payload = self.pending.popleft()
            batch.add(payload, ts)
        if count:
            self.counters.add(events=count)
        return count


class FileInstance(QueuedInstance):
    """JSON lines from files read one after the other; Eof at the end."""

    def __init__(self, paths: list[Path], parser: AuditParser, counters: Counters) -> None:
        super().__init__(counters)
        self.parser = parser
        self.paths = paths
        self.total = sum(p.stat().st_size for p in paths)
        self.done_bytes = 0
        self.lines = self._lines()

    def _lines(self) -> Iterator[bytes]:
        for path in self.paths:
            with open(path, "rb") as handle:
                yield from handle

    def next_batch(self, batch: Any) -> None:
        parse, pending = self.parser.parse, self.pending
        read = 0
        try:
            while len(pending) < BATCH_SIZE:
                line = next(self.lines, None)
                if line is None:
                    self.deliver(batch)
                    if pending:
                        return
                    raise Eof
                read += len(line)
                line = line.strip()
                if line:
                    pending.extend(parse(line))
            self.deliver(batch)
        finally:
            self.done_bytes += read
            self.counters.add(bytes=read)

    def get_progress(self) -> Progress:
        percent = 100.0 if self.total == 0 else 100.0 * self.done_bytes / self.total
        return Progress(percent, f"{self.done_bytes}/{self.total} bytes")

    def close(self) -> None:
        self.lines.close()  # closes the file being read


class FollowInstance(QueuedInstance):
    """New complete lines of a file as they are written, like ``tail -F``.

    Starts at the current end of the file. A file replaced at the path (log rotation) is
    read from its start once what was left in the old one is read; a file that shrinks
    (truncated in place) is read again from its start.
    """

    def __init__(self, path: Path, parser: AuditParser, counters: Counters) -> None:
        super().__init__(counters)
        self.path = path
        self.parser = parser
        self.handle: Any = None
        self.partial = b""
        if path.exists():
            self._open(at_end=True)

    def _open(self, at_end: bool) -> None:
        try:
            self.handle = open(self.path, "rb")  # noqa: SIM115 (kept open across calls)
        except OSError:
            self.handle = None
            return
        self.partial = b""
        if at_end:
            self.handle.seek(0, os.SEEK_END)

    def _read_new(self) -> None:
        handle = self.handle
        if os.fstat(handle.fileno()).st_size < handle.tell():  # truncated: start over
            handle.seek(0)
            self.partial = b""
        data = handle.read()
        if not data:
            return
        self.counters.add(bytes=len(data))
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            line = line.strip()
            if line:
                self.pending.extend(self.parser.parse(line))

    def _replaced(self) -> bool:
        try:
            current = os.stat(self.path)
        except OSError:
            return True
        return current.st_ino != os.fstat(self.handle.fileno()).st_ino

    def next_batch(self, batch: Any) -> None:
        deadline = time.monotonic() + WAIT
        while True:
            if not self.pending:
                self._poll()
            if self.deliver(batch):
                return
            if time.monotonic() >= deadline:
                raise Timeout
            time.sleep(0.01)

    def _poll(self) -> None:
        if self.handle is None:
            self._open(at_end=False)  # the file appeared: all of it is new
            if self.handle is None:
                return
        self._read_new()
        if not self.pending and self._replaced():
            self.handle.close()
            self._open(at_end=False)
            if self.handle is not None:
                self._read_new()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class WebhookInstance(QueuedInstance):
    """An HTTP(S) server taking audit events POSTed by the API server's webhook backend.

    Requests are answered as soon as their body is read (200), and parsed on Falco's event
    thread. Only POST with a JSON content type is accepted, bodies up to ``max_body`` bytes.
    """

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        *,
        certificate: str | None,
        max_body: int,
        parser: AuditParser,
        counters: Counters,
    ) -> None:
        super().__init__(counters)
        self.parser = parser
        self.bodies: queue.Queue[bytes] = queue.Queue(BODY_QUEUE)
        self.closed = threading.Event()
        handler = _handler_class(self, path, max_body, parser.logger)
        try:
            self.server = _Server((host, port), handler, certificate, parser.logger)
        except (OSError, ssl.SSLError) as exc:
            raise PluginError(f"cannot serve the webhook on {host}:{port}: {exc}") from None
        self.address = self.server.server_address
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self.thread.start()

    def accept(self, body: bytes) -> None:
        """Queue a request body; waits while the queue is full (until the capture closes)."""
        while not self.closed.is_set():
            try:
                self.bodies.put(body, timeout=0.2)
                return
            except queue.Full:
                continue

    def next_batch(self, batch: Any) -> None:
        if not self.pending:
            try:
                body = self.bodies.get(timeout=WAIT)
            except queue.Empty:
                raise Timeout from None
            while True:
                self.pending.extend(self.parser.parse(body))
                if len(self.pending) >= BATCH_SIZE:
                    break
                try:
                    body = self.bodies.get_nowait()
                except queue.Empty:
                    break
        if not self.deliver(batch):
            raise Timeout

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(SHUTDOWN_TIMEOUT)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], handler: Any, certificate: str | None, logger: Any
    ) -> None:
        self.logger = logger
        host = address[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__(address, handler)
        if certificate:
            # one PEM file holding the certificate and its key, as the Go plugin reads it
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate, certificate)
            # the handshake runs in the request's own thread (see handle), not in accept
            self.socket = context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def handle_error(self, request: Any, client_address: Any) -> None:
        """An error the handler did not catch: logged, never printed to Falco's stderr."""
        self.logger.debug("webhook request from %s failed", client_address, exc_info=True)


def _handler_class(instance: WebhookInstance, path: str, max_body: int, logger: Any) -> type:
    counters = instance.counters

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 30  # seconds a client may stay silent (no slow client holds a thread)
        server_version = "falco-k8saudit"

        def handle(self) -> None:
            try:
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.do_handshake()  # here, in the request's own thread
                super().handle()
            except (OSError, ssl.SSLError) as exc:  # a broken client, not our problem
                logger.debug("webhook connection dropped: %s", exc)

        def refuse(self, code: int, message: str) -> None:
            counters.add(rejected=1)
            body = (message + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            if path not in ("", "/") and self.path.split("?", 1)[0] != path:
                self.refuse(404, "404 page not found")
                return
            if "application/json" not in self.headers.get("Content-Type", ""):
                self.refuse(400, "wrong Content Type")
                return
            try:
                body = self.read_body()
            except ValueError as exc:
                self.refuse(400, f"bad request: {exc}")
                self.close_connection = True
                return
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            counters.add(requests=1, bytes=len(body))
            instance.accept(body)

        def read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self.read_chunked()
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError("invalid Content-Length")
            if length > max_body:
                raise ValueError("http: request body too large")
            return self.rfile.read(length)

        def read_chunked(self) -> bytes:
            parts, size = [], 0
            while True:
                line = self.rfile.readline(1024)
                chunk = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if chunk == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    return b"".join(parts)
                size += chunk
                if size > max_body:
                    raise ValueError("http: request body too large")
                parts.append(self.rfile.read(chunk))
                self.rfile.readline(8)  # the CRLF after the chunk

        def not_allowed(self) -> None:
            self.refuse(405, f"{self.command} method not allowed")

        do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = not_allowed  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.debug("webhook: " + format, *args)

    return Handler
