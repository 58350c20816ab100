"""The JSON objects among a program's output lines (the SDK host, the libsinsp driver and
Falco print JSON lines between other text, e.g. a plugin's own prints)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def json_objects(text: str) -> Iterator[dict[str, Any]]:
    """Each line of ``text`` that holds a JSON object, decoded; other lines are skipped."""
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            yield record
