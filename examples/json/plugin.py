"""json: fields over JSON payloads of any plugin source, like the official json plugin.

``json.value[/a/b/0]`` reads the value at a JSON pointer (RFC 6901) of the event's payload
(strings as they are, other values as JSON text); ``json.obj`` is the whole payload,
re-serialized compactly. The payload is decoded once per event and shared by every field
of that event (config ``cache: false`` decodes it for every field instead, for comparison).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from falco_plugin import ExtractEvent, ExtractPlugin, PluginError, field

_MISSING = object()


@dataclasses.dataclass
class JsonConfig:
    """Configuration of the json plugin."""

    cache: bool = dataclasses.field(
        default=True, metadata={"description": "Decode each payload once per event"}
    )


_TOKENS: dict[str, list[str]] = {}


def pointer_tokens(pointer: str) -> list[str]:
    """The reference tokens of a JSON pointer (parsed once per distinct pointer)."""
    tokens = _TOKENS.get(pointer)
    if tokens is None:
        if pointer and not pointer.startswith("/"):
            raise PluginError(f"a JSON pointer starts with '/', got {pointer!r}")
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]
        _TOKENS[pointer] = tokens if pointer else []
        tokens = _TOKENS[pointer]
    return tokens


def json_text(value: Any) -> str:
    """A value as JSON text; the common scalars without the cost of json.dumps."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if type(value) is int:
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def resolve(document: Any, pointer: str) -> Any:
    """The value at a JSON pointer, or _MISSING."""
    node = document
    for token in pointer_tokens(pointer):
        if isinstance(node, dict):
            if token not in node:
                return _MISSING
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return _MISSING
            node = node[int(token)]
        else:
            return _MISSING
    return node


class Json(ExtractPlugin):
    NAME = "json"
    VERSION = "0.1.0"
    DESCRIPTION = "Extract values from JSON payloads of any plugin source"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"

    def __init__(self, config: JsonConfig) -> None:
        self.cache = config.cache

    def make_context(self, event: ExtractEvent) -> Any:
        return self.decode(event)

    def decode(self, event: ExtractEvent) -> Any:
        try:
            return json.loads(event.payload)
        except ValueError:
            return _MISSING  # not JSON: every field is absent

    def document(self, event: ExtractEvent) -> Any:
        return event.context if self.cache else self.decode(event)

    @field("json.value")
    def value(self, event: ExtractEvent, pointer: str) -> str | None:
        """The value at a JSON pointer, e.g. json.value[/user/name]."""
        doc = self.document(event)
        found = _MISSING if doc is _MISSING else resolve(doc, pointer)
        return None if found is _MISSING else json_text(found)

    @field("json.obj")
    def obj(self, event: ExtractEvent) -> str | None:
        """The whole JSON payload, compact."""
        doc = self.document(event)
        return None if doc is _MISSING else json.dumps(doc, separators=(",", ":"))
