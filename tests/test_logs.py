"""Logging routed to the host: severity mapping, handler sinks, rate limiting."""

from __future__ import annotations

import logging

import pytest

from falco_plugin.logs import (
    SEV_CRITICAL,
    SEV_DEBUG,
    SEV_ERROR,
    SEV_FATAL,
    SEV_INFO,
    SEV_NOTICE,
    SEV_TRACE,
    SEV_WARNING,
    RateLimiter,
    host_handler,
    host_severity,
)


@pytest.mark.parametrize(
    ("level", "sev"),
    [
        (logging.CRITICAL + 10, SEV_FATAL),
        (logging.CRITICAL, SEV_CRITICAL),
        (logging.ERROR, SEV_ERROR),
        (logging.WARNING, SEV_WARNING),
        (25, SEV_NOTICE),
        (logging.INFO, SEV_INFO),
        (logging.DEBUG, SEV_DEBUG),
        (5, SEV_TRACE),
    ],
)
def test_severity_mapping(level: int, sev: int) -> None:
    assert host_severity(level) == sev


def test_handler_sends_to_the_latest_sink_and_falls_back_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = "falco_plugin_test_logger"
    handler = host_handler(name)
    assert host_handler(name) is handler  # one per logger
    log = logging.getLogger(name)
    log.info("before init")
    assert "[falco_plugin_test_logger] INFO: before init" in capsys.readouterr().err
    got: list[tuple[str | None, str, int]] = []
    handler.attach(1, lambda c, m, s: got.append((c, m, s)))
    log.warning("hello %s", "host")
    log.debug("details")
    assert got == [(None, "hello host", SEV_WARNING), (None, "details", SEV_DEBUG)]
    handler.detach(1)
    log.error("after destroy")
    assert "after destroy" in capsys.readouterr().err


def test_rate_limiter_counts_what_it_held_back() -> None:
    limiter = RateLimiter(burst=2, period=3600)
    assert limiter.allow("x") == (True, 0)
    assert limiter.allow("x") == (True, 0)
    assert limiter.allow("x") == (False, 0)
    assert limiter.allow("x") == (False, 0)
    assert limiter.allow("y") == (True, 0)  # keys are independent
    limiter.period = 0  # the window has passed: allowed again, with the count of the held
    assert limiter.allow("x") == (True, 2)


def test_failures_from_two_threads_share_one_rate_limiter(monkeypatch) -> None:
    # the limiter is made on the first failure; two threads failing first at the same time
    # must not each make one (each would let its own burst through)
    import threading
    import time

    from falco_plugin import SourcePlugin, logs
    from falco_plugin._runtime import Runtime

    class Quiet(SourcePlugin):
        NAME = "quiet"

        def __init__(self, config: str) -> None:
            pass

    made: list[object] = []
    real_init = logs.RateLimiter.__init__

    def slow_init(self, *args, **kwargs) -> None:  # the window a second thread could use
        made.append(self)
        time.sleep(0.05)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(logs.RateLimiter, "__init__", slow_init)
    rt = Runtime(Quiet, "", None)
    threads = [
        threading.Thread(target=rt.report, args=("extract", ValueError("bad"))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1
