"""A source that tries to take the host's SIGTERM in open(): through Python's signal module
(refused inside plugins), or through C, with ctypes (undone by the shim after the call)."""

from __future__ import annotations

import ctypes
import dataclasses
import signal
import time

from falco_plugin import Eof, SourceInstance, SourcePlugin, Timeout


@dataclasses.dataclass
class Config:
    how: str = "python"  # python | python-caught | python-all | c
    events: int = 3  # 0: endless, one event every 50 ms


class Instance(SourceInstance):
    def __init__(self, config: Config, outcome: str) -> None:
        self.left, self.endless, self.outcome = config.events, config.events == 0, outcome

    def next_batch(self, batch) -> None:
        if not self.endless:
            if not self.left:
                raise Eof
            self.left -= 1
        time.sleep(0.05)
        batch.add(self.outcome)
        raise Timeout


class SigTaker(SourcePlugin):
    NAME = "sigtaker"
    VERSION = "1.0.0"
    DESCRIPTION = "Tries to take SIGTERM"
    CONTACT = "tests"
    PLUGIN_ID = 424340
    EVENT_SOURCE = "sigtaker"

    def __init__(self, config: Config) -> None:
        self.config = config

    def open(self, params: str) -> Instance:
        outcome = "taken"
        if self.config.how == "python":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        elif self.config.how == "python-caught":
            try:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            except RuntimeError as exc:
                outcome = f"refused: {exc}"
        elif self.config.how == "python-all":  # every setter, through both modules
            import _signal

            calls = {
                "signal": (signal.SIGTERM, signal.SIG_IGN),
                "siginterrupt": (signal.SIGTERM, True),
                "set_wakeup_fd": (-1,),
                "alarm": (100,),
                "setitimer": (signal.ITIMER_REAL, 100.0),
            }
            refused = []
            for module in (signal, _signal):
                for name, args in calls.items():
                    try:
                        getattr(module, name)(*args)
                    except RuntimeError as exc:
                        if f"signal.{name}() is refused" in str(exc):
                            refused.append(f"{module.__name__}.{name}")
            outcome = "refused: " + " ".join(refused)
        elif self.config.how == "c":
            libc = ctypes.CDLL(None)
            libc.signal.restype = ctypes.c_void_p
            libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
            libc.signal(signal.SIGTERM, 1)  # SIG_IGN, behind Python's back
        return Instance(self.config, outcome)

    def event_to_string(self, event) -> str:
        return event.payload.decode()
