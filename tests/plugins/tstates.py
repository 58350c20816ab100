"""Emits the number of Python thread states in the interpreter, from next_batch: a host
thread that called into the plugin and exited must not leave one behind. The payload is
"<inits> <thread states>": how many times the plugin was initialised in this process, so
that a test sees when a reload is complete."""

from __future__ import annotations

import ctypes
import sys
import time

from falco_plugin import Eof, SourceInstance, SourcePlugin, Timeout

_api = ctypes.pythonapi
_api.PyInterpreterState_Get.restype = ctypes.c_void_p
_api.PyInterpreterState_ThreadHead.restype = ctypes.c_void_p
_api.PyInterpreterState_ThreadHead.argtypes = [ctypes.c_void_p]
_api.PyThreadState_Next.restype = ctypes.c_void_p
_api.PyThreadState_Next.argtypes = [ctypes.c_void_p]


def thread_states() -> int:
    count, ts = 0, _api.PyInterpreterState_ThreadHead(_api.PyInterpreterState_Get())
    while ts:
        count += 1
        ts = _api.PyThreadState_Next(ts)
    return count


class Instance(SourceInstance):
    def __init__(self, events: int) -> None:
        self.left, self.endless = events, events == 0

    def next_batch(self, batch) -> None:
        if not self.endless:
            if not self.left:
                raise Eof
            self.left -= 1
        else:
            time.sleep(0.05)
        batch.add(f"{sys.__dict__.get('_fp_tstates_inits', 0)} {thread_states()}")
        if self.endless:
            raise Timeout


class ThreadStates(SourcePlugin):
    NAME = "tstates"
    VERSION = "1.0.0"
    DESCRIPTION = "Counts Python thread states"
    CONTACT = "tests"
    PLUGIN_ID = 424350
    EVENT_SOURCE = "tstates"

    def __init__(self, config: str) -> None:
        sys.__dict__["_fp_tstates_inits"] = sys.__dict__.get("_fp_tstates_inits", 0) + 1

    def open(self, params: str) -> Instance:
        return Instance(int(params or "1"))

    def event_to_string(self, event) -> str:
        return event.payload.decode()
