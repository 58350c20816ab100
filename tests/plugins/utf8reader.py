"""Reads a UTF-8 text file with plain open() (no encoding given) and emits its lines."""

from __future__ import annotations

import json
import sys

from falco_plugin import Eof, SourceInstance, SourcePlugin


class ReaderInstance(SourceInstance):
    def __init__(self, path: str) -> None:
        with open(path) as f:  # the default encoding: UTF-8 whatever the host's locale
            self.lines = f.read().splitlines()

    def next_batch(self, batch) -> None:
        if not self.lines:
            raise Eof
        batch.add(self.lines.pop(0))


class Utf8Reader(SourcePlugin):
    NAME = "utf8reader"
    VERSION = "1.0.0"
    DESCRIPTION = "Emits the lines of a UTF-8 file"
    CONTACT = "tests"
    PLUGIN_ID = 424320
    EVENT_SOURCE = "utf8reader"

    def open(self, params: str) -> ReaderInstance:
        return ReaderInstance(params)

    def event_to_string(self, event) -> str:
        text = event.payload.decode()
        return json.dumps({"text": text, "fs": sys.getfilesystemencoding()}, ensure_ascii=False)
