"""json: a port of the official ``json`` plugin (falcosecurity/plugins, ``plugins/json``).

An extract-only plugin: fields over the JSON payload of the events of any plugin source,
with the same names, arguments and values as the Go plugin (version 0.7.4), so rules files
written for it (such as the official ``k8s_audit_rules.yaml``, which uses ``jevt.*``) work
unchanged.

- ``json.value[/json/pointer]``: the value at a JSON pointer (RFC 6901; the leading ``/``
  may be left out): strings as they are, other values as compact JSON.
- ``json.obj``: the whole payload as JSON indented by two spaces.
- ``json.rawtime``: the event's time stamp (ns since the epoch) as text.
- ``jevt.value``, ``jevt.obj``, ``jevt.rawtime``: the same, under their old names.

The payload is decoded once per event (``make_context``) and shared by every field Falco
asks for on that event; the config ``{"cache": false}`` decodes it for every field instead,
which the benchmark uses for comparison.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from falco_plugin import ExtractEvent, ExtractPlugin, field
from falco_plugin.gojson import MISSING, dumps_indented, get, loads, pointer_tokens, text


@dataclasses.dataclass
class JsonConfig:
    """Configuration of the json plugin."""

    ALLOW_UNKNOWN_KEYS: ClassVar[bool] = True  # the Go plugin ignores unknown keys too

    useAsync: bool = dataclasses.field(  # noqa: N815 (the Go plugin's key)
        default=True,
        metadata={
            "title": "Use async extraction",
            "description": "Accepted for compatibility with the Go plugin; no effect here",
        },
    )
    cache: bool = dataclasses.field(
        default=True, metadata={"description": "Decode each payload once per event"}
    )


def decode(payload: bytes) -> Any:
    """The payload's JSON document, or MISSING when it is not JSON.

    As in the Go plugin, only a payload starting with ``{`` or ``[`` is parsed.
    """
    if not payload or payload[0] not in b"{[":
        return MISSING
    try:
        return loads(payload)
    except ValueError:
        return MISSING


class Json(ExtractPlugin):
    NAME = "json"
    VERSION = "0.7.4"  # the version of the Go plugin whose behaviour this port matches
    DESCRIPTION = "implements extracting arbitrary fields from inputs formatted as JSON"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"

    def __init__(self, config: JsonConfig) -> None:
        self.cache = config.cache

    def make_context(self, event: ExtractEvent) -> Any:
        return decode(event.payload)

    def document(self, event: ExtractEvent) -> Any:
        return event.context if self.cache else decode(event.payload)

    @field(
        "json.value",
        desc="Extracts a value from a JSON-encoded input. Syntax is json.value[<json pointer>], "
        "where <json pointer> is a json pointer (see https://datatracker.ietf.org/doc/html/rfc6901)",
    )
    def value(self, event: ExtractEvent, pointer: str) -> str | None:
        node = event.context if self.cache else decode(event.payload)
        if pointer:  # the walk of gojson.get, inlined: rules use this field a lot
            for key in pointer_tokens(pointer):
                node = node.get(key, MISSING) if type(node) is dict else get(node, key)
        if node is MISSING:
            return None
        return node if type(node) is str else text(node)

    @field("json.obj", desc="The full json message as a text string.")
    def obj(self, event: ExtractEvent) -> str | None:
        doc = self.document(event)
        return None if doc is MISSING else dumps_indented(doc)

    @field("json.rawtime", desc="The time of the event, identical to evt.rawtime.")
    def rawtime(self, event: ExtractEvent) -> str:
        return str(event.ts)

    @field("jevt.value", desc="Alias for json.value, provided for backwards compatibility.")
    def jevt_value(self, event: ExtractEvent, pointer: str) -> str | None:
        return self.value(event, pointer)

    @field("jevt.obj", desc="Alias for json.obj, provided for backwards compatibility.")
    def jevt_obj(self, event: ExtractEvent) -> str | None:
        return self.obj(event)

    @field("jevt.rawtime", desc="Alias for json.rawtime, provided for backwards compatibility.")
    def jevt_rawtime(self, event: ExtractEvent) -> str:
        return self.rawtime(event)

