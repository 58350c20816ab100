"""A source of JSON payloads (open params: how many), for the json example's tests."""

from __future__ import annotations

import json

from falco_plugin import Eof, SourceInstance, SourcePlugin


class Instance(SourceInstance):
    def __init__(self, count: int) -> None:
        self.i = 0
        self.count = count

    def next_batch(self, batch) -> None:
        while self.i < self.count and len(batch) < 64:
            doc = {"id": self.i, "user": {"name": f"user{self.i % 3}", "tags": ["a", "b/c"]}}
            batch.add(json.dumps(doc))
            self.i += 1
        if self.i >= self.count:
            raise Eof


class JsonSource(SourcePlugin):
    NAME = "jsonsource"
    VERSION = "1.0.0"
    DESCRIPTION = "JSON events"
    CONTACT = "tests"
    PLUGIN_ID = 424247
    EVENT_SOURCE = "jsonsource"

    def open(self, params: str) -> Instance:
        return Instance(int(params or "5"))

    def event_to_string(self, event) -> str:
        return event.payload.decode()
