"""Async events through the raw ABI inside this Python process: a handler set from
ctypes, events emitted by the plugin's threads, and destroy with work in flight."""

from __future__ import annotations

import ctypes
import json
import threading
import time
from pathlib import Path

from tests.abi import LOG_FN, SUCCESS, Event, InitInput, load

ROOT = Path(__file__).resolve().parent.parent
HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(Event), ctypes.c_char_p)


def test_destroy_with_work_in_flight_leaves_no_thread(falco_build) -> None:
    so = load(falco_build(str(ROOT / "examples" / "heartbeat" / "plugin.py")))
    so.plugin_set_async_event_handler.restype = ctypes.c_int
    so.plugin_set_async_event_handler.argtypes = [ctypes.c_void_p, ctypes.c_void_p, HANDLER]
    received: list[bytes] = []
    lock = threading.Lock()

    def handler(owner: int, evt: ctypes._Pointer, err: bytes) -> int:  # type: ignore[type-arg]
        raw = ctypes.string_at(ctypes.addressof(evt.contents), evt.contents.len)
        with lock:
            received.append(raw)
        return SUCCESS

    callback = HANDLER(handler)
    log_fn = LOG_FN(lambda *a: None)  # kept alive: the plugin logs through it later
    rc = ctypes.c_int(-1)
    config = json.dumps({"interval_ms": 1, "threads": 3}).encode()
    state = so.plugin_init(
        ctypes.byref(InitInput(config, None, None, None, log_fn)), ctypes.byref(rc)
    )
    assert rc.value == SUCCESS
    assert so.plugin_set_async_event_handler(state, None, callback) == SUCCESS
    deadline = time.monotonic() + 5
    while len(received) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(received) >= 20
    assert any(t.name.startswith("heartbeat-") for t in threading.enumerate())
    so.plugin_destroy(state)  # the handler was never cleared: destroy must stop the threads
    assert not [t.name for t in threading.enumerate() if t.name.startswith("heartbeat-")]
    count = len(received)
    time.sleep(0.05)
    assert len(received) == count  # nothing arrives after destroy
    # every event is a well-formed async event named heartbeat
    for raw in received:
        assert int.from_bytes(raw[20:22], "little") == 402
        assert b"heartbeat\x00" in raw
