"""Int values of every size read from bytes, as plugins parse payloads: a zero made by
int.from_bytes has no digit in memory on Python 3.10 (tests/test_extract_host.py)."""

from __future__ import annotations

from falco_plugin import ExtractEvent, ExtractPlugin, field


class IntZero(ExtractPlugin):
    NAME = "int_zero"
    VERSION = "1.0.0"
    DESCRIPTION = "Ints of every size made from bytes"
    CONTACT = "falco-plugin tests"
    EXTRACT_EVENT_SOURCES = ["src"]

    def __init__(self, config: str) -> None:
        pass

    @field("iz.values")
    def values(self, event: ExtractEvent) -> list[int]:
        """0, 1, 2**30 - 1, 2**30 and 2**64 - 1, each made from 8 bytes."""
        return [int.from_bytes(v.to_bytes(8, "little"), "little")
                for v in (0, 1, 2**30 - 1, 2**30, 2**64 - 1)]  # fmt: skip
