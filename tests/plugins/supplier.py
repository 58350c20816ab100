"""A source that supplies values of its own fields with its events (``batch.add(fields=)``).

Open params: the number of events (default 6). Event k (payload ``"k"``) carries supplied
values when k is even; odd events carry none. The field methods return values that differ
from the supplied ones on purpose (``sup.num`` is 1000 + k by its method, k when supplied),
so that a test sees which path answered. The first batch also tries wrong ``fields=`` and
keeps the errors (``sup.errors``).
"""

from __future__ import annotations

import ipaddress

from falco_plugin import Eof, ExtractEvent, ExtractPlugin, SourceInstance, SourcePlugin, field


class SupplierInstance(SourceInstance):
    def __init__(self, plugin: Supplier, total: int) -> None:
        self.plugin = plugin
        self.total = total
        self.next = 0

    def next_batch(self, batch) -> None:
        if self.next == 0:
            self.plugin.errors = self.wrong_adds(batch)
        for _ in range(min(4, self.total - self.next)):
            k = self.next
            self.next += 1
            if k % 2:
                batch.add(str(k))
                continue
            batch.add(
                str(k),
                fields={
                    "sup.num": k,
                    "sup.text": f"t{k}",
                    "sup.flag": True,
                    "sup.items": [k, k + 1],
                    "sup.maybe": None,
                    "sup.none": [],
                },
            )
        if self.next == self.total:
            raise Eof

    @staticmethod
    def wrong_adds(batch) -> list[str]:
        """What each wrong ``fields=`` raises; none of them adds an event."""
        wrong = [
            {"nope.x": 1},
            {"sup.arg": 1},
            {"sup.num": "x"},
            {"sup.num": -1},
            {"sup.text": "a\x00b"},
            {"sup.ip": ipaddress.ip_address("10.0.0.1")},
            [("sup.num", 1)],
            {"sup.items": 3},
            {"sup.num": 1, "sup.text": 2},  # the first value is not kept either
        ]
        out = []
        for fields in wrong:
            try:
                batch.add(b"never", fields=fields)
                out.append("no error")
            except (TypeError, ValueError) as exc:
                out.append(f"{type(exc).__name__}: {exc}")
        out.append(f"events: {len(batch)}")
        return out


class Supplier(SourcePlugin, ExtractPlugin):
    NAME = "supplier"
    VERSION = "1.0.0"
    DESCRIPTION = "Supplies field values with its events"
    CONTACT = "tests"
    PLUGIN_ID = 994
    EVENT_SOURCE = "supplier"

    def __init__(self, config: str) -> None:
        self.errors: list[str] = []

    def open(self, params: str) -> SupplierInstance:
        return SupplierInstance(self, int(params or "6"))

    @staticmethod
    def k(event: ExtractEvent) -> int:
        return int(event.payload)

    @field("sup.num")
    def num(self, event: ExtractEvent) -> int:
        """k supplied; 1000 + k from this method."""
        return 1000 + self.k(event)

    @field("sup.text")
    def text(self, event: ExtractEvent) -> str:
        """tk supplied; pyk from this method."""
        return f"py{self.k(event)}"

    @field("sup.flag")
    def flag(self, event: ExtractEvent) -> bool:
        """True supplied; False from this method."""
        return False

    @field("sup.items")
    def items(self, event: ExtractEvent) -> list[int]:
        """[k, k+1] supplied; [1000] from this method."""
        return [1000]

    @field("sup.maybe")
    def maybe(self, event: ExtractEvent) -> int | None:
        """No value supplied; 7 from this method."""
        return 7

    @field("sup.none")
    def none(self, event: ExtractEvent) -> list[str]:
        """An empty list supplied; ["py"] from this method."""
        return ["py"]

    @field("sup.arg")
    def arg(self, event: ExtractEvent, n: int) -> int:
        """k * n, always from this method (a field with an argument)."""
        return self.k(event) * n

    @field("sup.ip")
    def ip(self, event: ExtractEvent) -> ipaddress.IPv4Address:
        """An address field: never supplied."""
        return ipaddress.IPv4Address("10.0.0.2")

    @field("sup.errors")
    def errors_field(self, event: ExtractEvent) -> list[str]:
        """What the wrong fields= of the first batch raised."""
        return self.errors
