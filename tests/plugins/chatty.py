"""Logs from init and, every millisecond, from a thread it never stops (not even in
destroy): each state's records must reach its own host logger, and none a destroyed one."""

from __future__ import annotations

import threading
import time

from falco_plugin import ListenPlugin


class Chatty(ListenPlugin):
    NAME = "chatty"
    VERSION = "1.0.0"
    DESCRIPTION = "Logs from a thread"
    CONTACT = "tests"

    def __init__(self, config: str) -> None:
        self.name = config
        self.logger.info("init of %s", self.name)
        threading.Thread(target=self.chat, daemon=True).start()

    def chat(self) -> None:
        while True:
            self.logger.info("tick of %s", self.name)
            time.sleep(0.001)
