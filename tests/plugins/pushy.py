"""A source fed by a background Python thread through PushInstance."""

from __future__ import annotations

import threading
import time

from falco_plugin import PushInstance, SourcePlugin


class Pushy(SourcePlugin):
    NAME = "pushy"
    VERSION = "1.0.0"
    DESCRIPTION = "Events produced by a background thread"
    CONTACT = "tests"
    PLUGIN_ID = 424243
    EVENT_SOURCE = "pushy"

    def open(self, params: str) -> PushInstance:
        count = int(params or "20")
        instance = PushInstance(timeout=0.02, batch_size=7)

        def produce() -> None:
            for i in range(count):
                if instance.closed:
                    return
                instance.push(f"{i} from {threading.current_thread().name}")
                time.sleep(0.03)  # longer than the instance's timeout: the host sees timeouts
            instance.end()

        threading.Thread(target=produce, name="producer", daemon=True).start()
        return instance
