"""A syscall source (no plugin id) that offers the host every event of a file, good or bad.

Open params: the path of a file of events, each as a u32 length and the encoded event. Each
goes through ``batch.add_event``; a refusal (ValueError) is logged as a warning and the
source goes on. ``PATH.report`` gets one JSON line per event: its index and the refusal's
message (null when the event was added). With open params ``raise:PATH`` the first
refusal is not caught: next_batch fails with it.
"""

from __future__ import annotations

import json
import logging
import struct

from falco_plugin import Eof, SourceInstance, SourcePlugin


def read_events(path: str) -> list[bytes]:
    """The events of a file written by :func:`write_events`."""
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def write_events(path: str, events: list[bytes]) -> None:
    """Store events for this plugin's open params."""
    with open(path, "wb") as f:
        for raw in events:
            f.write(struct.pack("<I", len(raw)) + raw)


class Instance(SourceInstance):
    def __init__(self, path: str, strict: bool, logger: logging.Logger) -> None:
        self.path, self.strict, self.logger = path, strict, logger
        self.events = read_events(path)

    def next_batch(self, batch) -> None:
        with open(self.path + ".report", "w") as report:
            for index, raw in enumerate(self.events):
                refused = None
                try:
                    batch.add_event(raw)
                except ValueError as exc:
                    if self.strict:
                        raise
                    refused = str(exc)
                    self.logger.warning("event %d: %s", index, refused)
                report.write(json.dumps({"index": index, "refused": refused}) + "\n")
        raise Eof


class SyscallChecked(SourcePlugin):
    NAME = "syscall_checked"
    VERSION = "1.0.0"
    DESCRIPTION = "Offers the host every event of a file"
    CONTACT = "tests"

    def open(self, params: str) -> Instance:
        strict = params.startswith("raise:")
        return Instance(params.removeprefix("raise:"), strict, self.logger)
