"""A source that fills its batches with the bulk forms: ``add_formatted`` and ``add_many``
with ``fields=`` columns.

Open params ``"N"``: N events in batches of 5, event k with the payload ``"k=<k> t=x<k>"``.
Batches 0, 2, 4... are one ``add_formatted`` call over ranges and lists whose fields are
supplied as columns (``bulk.num`` k, ``bulk.text`` ``"x<k>"``, ``bulk.flag`` k % 3 == 0,
``bulk.items`` [k, 2k]); batches 1, 3... one ``add_many`` call without values (the field
methods answer: 1000 + k, ``"py"``, False, [1000]). The first batch first tries wrong bulk
calls and keeps their errors (``bulk.errors``), none of which may add an event.

Open params ``"formats"``: one event per row of :data:`ROWS`, made by ``add_formatted``
with :data:`TEMPLATE`, then the same values through ranges (:data:`RANGES`).
"""

from __future__ import annotations

import enum

from falco_plugin import Eof, ExtractEvent, ExtractPlugin, SourceInstance, SourcePlugin, field


class Color(enum.IntEnum):
    RED = 1


class Shout(str):
    def __str__(self) -> str:
        return self.upper()


TEMPLATE = "{{a}} {} é {}{}"
ROWS = [
    (0, -1, 2**63 - 1),
    (-(2**63), 2**63, 2**64 + 5),
    (-(2**70), True, 1.5),
    ("é", "", None),
    (Color.RED, Shout("quiet"), b"x"),
    (10**18, 10**19 - 1, -(10**17)),
]
RANGES = [range(-5, 5), range(10, 0, -3), range(2**62, 2**62 + 3), range(2**63 - 2, 2**63 + 2),
          range(0), range(7, 8)]  # fmt: skip


class Shrinks:
    """A value whose formatting (or truth) empties the list it was given."""

    def __init__(self, holder: list[object]) -> None:
        self.holder = holder

    def __format__(self, spec: str) -> str:
        self.holder.clear()
        return "shrunk"

    def __bool__(self) -> bool:
        self.holder.clear()
        return True


def shrinking(n: int, target: list[object] | None = None) -> list[object]:
    """n values, the first of which empties ``target`` (by default the list itself)."""
    values: list[object] = [0] * n
    values[0] = Shrinks(values if target is None else target)
    return values


def wrong_calls(batch) -> list[str]:
    """What each wrong bulk call raises; none of them adds an event."""
    payloads: list[object] = [b"a", b"b"]
    calls = [
        lambda: batch.add_formatted("{} {}", [1]),
        lambda: batch.add_formatted("{0}", [1]),
        lambda: batch.add_formatted("{} }", [1]),
        lambda: batch.add_formatted("{}{}", [1, 2], [3]),
        lambda: batch.add_formatted("{}", 5),
        lambda: batch.add_formatted(b"{}", [1]),
        lambda: batch.add_formatted("no placeholder"),
        lambda: batch.add_formatted("{}", [1, 2], fields={"bulk.num": [1]}),
        lambda: batch.add_formatted("{}", [1, 2], fields={"bulk.num": [1, -1]}),
        lambda: batch.add_formatted("{}", [1], fields=[("bulk.num", [1])]),
        lambda: batch.add_many([b"a", b"b"], fields={"bulk.num": range(-1, 1)}),
        lambda: batch.add_many([b"a", 1.5]),
        lambda: batch.add_many([b"a"], fields={"nope.x": [1]}),
        lambda: batch.add_many([b"a"], fields={"bulk.text": [3]}),
        lambda: batch.add_many([b"a"], fields={"bulk.num": 3}),
        lambda: batch.add_many([b"a"], ts=3),
        lambda: batch.add_formatted("{}{}", shrinking(3), [1, 2, 3]),
        lambda: batch.add_many(payloads, fields={"bulk.flag": shrinking(2, payloads)}),
    ]
    out = []
    for call in calls:
        try:
            call()
            out.append("no error")
        except (TypeError, ValueError, RuntimeError) as exc:
            out.append(f"{type(exc).__name__}: {exc}")
    out.append(f"events: {len(batch)}")
    return out


class BulkInstance(SourceInstance):
    def __init__(self, plugin: BulkSource, params: str) -> None:
        self.plugin = plugin
        self.formats = params == "formats"
        self.total = 0 if self.formats else int(params or "12")
        self.next = 0

    def next_batch(self, batch) -> None:
        if self.formats:
            batch.add_formatted(TEMPLATE, *zip(*ROWS, strict=True))
            batch.add_formatted("{}|{}", RANGES[0], range(0, 20, 2))
            for numbers in RANGES[1:]:
                batch.add_formatted("<{}>", numbers, fields={"bulk.num": numbers})
            raise Eof
        if self.next == 0:
            self.plugin.errors = wrong_calls(batch)
        ks = range(self.next, min(self.next + 5, self.total))
        texts = [f"x{k}" for k in ks]
        if self.next // 5 % 2 == 0:
            batch.add_formatted("k={} t={}", ks, texts, fields={
                "bulk.num": ks,
                "bulk.text": texts,
                "bulk.flag": [k % 3 == 0 for k in ks],
                "bulk.items": [[k, 2 * k] for k in ks],
            })  # fmt: skip
        else:
            texts = [f"k={k} t=x{k}" for k in ks]  # str (ASCII: used in place) and bytes
            batch.add_many([t if k % 2 else t.encode() for k, t in zip(ks, texts, strict=True)])
        self.next = ks.stop
        if self.next == self.total:
            raise Eof


class BulkSource(SourcePlugin, ExtractPlugin):
    NAME = "bulk"
    VERSION = "1.0.0"
    DESCRIPTION = "Fills its batches with add_formatted and add_many"
    CONTACT = "tests"
    PLUGIN_ID = 993
    EVENT_SOURCE = "bulk"

    def __init__(self, config: str) -> None:
        self.errors: list[str] = []

    def open(self, params: str) -> BulkInstance:
        return BulkInstance(self, params)

    @staticmethod
    def k(event: ExtractEvent) -> int:
        """k of "k=<k> ..." and "<k>", -1 for the other events."""
        word = event.payload.split(b" ")[0].removeprefix(b"k=").removeprefix(b"<")
        try:
            return int(word.removesuffix(b">"))
        except ValueError:
            return -1

    @field("bulk.num")
    def num(self, event: ExtractEvent) -> int:
        """k when supplied, 1000 + k from this method."""
        return 1000 + self.k(event)

    @field("bulk.text")
    def text(self, event: ExtractEvent) -> str:
        """x<k> when supplied, py from this method."""
        return "py"

    @field("bulk.flag")
    def flag(self, event: ExtractEvent) -> bool:
        """k % 3 == 0 when supplied, False from this method."""
        return False

    @field("bulk.items")
    def items(self, event: ExtractEvent) -> list[int]:
        """[k, 2k] when supplied, [1000] from this method."""
        return [1000]

    @field("bulk.errors")
    def error_list(self, event: ExtractEvent) -> list[str]:
        """The errors of the wrong calls of the first batch."""
        return self.errors
