"""Benchmark async plugin: T threads emit N events in total as fast as they can; the
figures are its metrics and a line in the host's log (what Falco shows)."""

from __future__ import annotations

import dataclasses
import threading
import time

from falco_plugin import AsyncEmitter, AsyncEventError, AsyncPlugin, Metric


@dataclasses.dataclass
class BenchAsyncConfig:
    threads: int = 1
    count: int = 100_000


class BenchAsync(AsyncPlugin):
    NAME = "bench_async"
    VERSION = "1.0.0"
    DESCRIPTION = "Emits async events as fast as possible"
    CONTACT = "falco-plugin benchmarks"
    ASYNC_EVENTS = ["bench"]

    def __init__(self, config: BenchAsyncConfig) -> None:
        self.config = config
        self.elapsed_ns = 0
        self.sent = 0
        self.refusals = 0
        self.stopping = threading.Event()
        self.coordinator: threading.Thread | None = None

    def start_async(self, events: AsyncEmitter) -> None:
        self.stopping.clear()
        self.coordinator = threading.Thread(target=self._run, args=(events,))
        self.coordinator.start()  # return at once: the host drains its queue after this

    def _run(self, events: AsyncEmitter) -> None:
        if self.stopping.wait(0.05):  # let the host reach its delivery loop first
            return
        per_thread = self.config.count // self.config.threads
        barrier = threading.Barrier(self.config.threads + 1)
        counts = [0] * self.config.threads

        def work(i: int) -> None:
            emit = events.emit
            barrier.wait()
            for _ in range(per_thread):
                while True:
                    try:
                        emit("bench", b"0123456789abcdef")
                        break
                    except AsyncEventError:  # the host's queue is full: back off a little
                        self.refusals += 1
                        if self.stopping.wait(0.001):
                            return  # stop_async: give up, never block the host's shutdown
            counts[i] = per_thread

        workers = [threading.Thread(target=work, args=(i,)) for i in range(self.config.threads)]
        for w in workers:
            w.start()
        start = time.perf_counter_ns()
        barrier.wait()
        for w in workers:
            w.join()
        self.elapsed_ns = time.perf_counter_ns() - start
        self.sent = sum(counts)
        if self.sent:  # what Falco shows (its log), like the C reference
            self.logger.info(
                "sent %d events in %d ns, %d back-offs", self.sent, self.elapsed_ns, self.refusals
            )

    def stop_async(self) -> None:
        self.stopping.set()
        if self.coordinator is not None:
            self.coordinator.join()

    def get_metrics(self) -> list[Metric]:
        return [
            Metric("sent", self.sent),
            Metric("elapsed_ns", self.elapsed_ns),
            Metric("refusals", self.refusals),
        ]
