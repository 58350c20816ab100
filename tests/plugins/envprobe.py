"""Reports, as one event, what the embedded interpreter looks like from the inside."""

from __future__ import annotations

import json
import os
import signal
import sys

from falco_plugin import Eof, SourceInstance, SourcePlugin


class ProbeInstance(SourceInstance):
    def __init__(self) -> None:
        self.done = False

    def next_batch(self, batch) -> None:
        if self.done:
            raise Eof
        self.done = True
        report = {
            "isolated": sys.flags.isolated,
            "ignore_environment": sys.flags.ignore_environment,
            "sys_path": sys.path,
            "executable": sys.executable,
            "pythonpath_env": os.environ.get("PYTHONPATH"),
            "sigint_is_default_int_handler": signal.getsignal(signal.SIGINT)
            is signal.default_int_handler,
            "modules_with_evil": sorted(m for m in sys.modules if "evil" in m),
        }
        batch.add(json.dumps(report))


class EnvProbe(SourcePlugin):
    NAME = "envprobe"
    VERSION = "1.0.0"
    DESCRIPTION = "Describes the interpreter"
    CONTACT = "tests"
    PLUGIN_ID = 424244
    EVENT_SOURCE = "envprobe"

    def open(self, params: str) -> ProbeInstance:
        return ProbeInstance()
