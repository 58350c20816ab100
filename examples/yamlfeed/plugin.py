"""yamlfeed: events from a stream of YAML documents, parsed with PyYAML (a third-party
distribution with a compiled extension: libyaml's C parser when it is there).

Open params: the path of a YAML file holding one document per object (``---`` between
them), e.g. an inventory of workloads. Each mapping becomes one event (its JSON text);
fields read its ``kind``, ``metadata.name`` / ``name`` and any top-level or ``spec`` value,
and ``yamlfeed.parser`` tells which parser read it. Packaged with ``falco-plugin package``,
PyYAML and its extension module go into the package.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import yaml

from falco_plugin import (
    Eof,
    ExtractEvent,
    ExtractPlugin,
    PluginError,
    PluginEvent,
    SourceInstance,
    SourcePlugin,
    field,
)

# libyaml's C parser (PyYAML's extension module) when PyYAML was built with it
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PARSER = "libyaml" if LOADER is not yaml.SafeLoader else "python"


@dataclasses.dataclass
class FeedConfig:
    """How the feed is read."""

    batch_size: int = dataclasses.field(
        default=16, metadata={"description": "Documents delivered per batch"}
    )


class FeedInstance(SourceInstance):
    def __init__(self, documents: list[dict[str, Any]], batch_size: int) -> None:
        self.documents = iter(documents)
        self.batch_size = batch_size

    def next_batch(self, batch: Any) -> None:
        for _ in range(self.batch_size):
            doc = next(self.documents, None)
            if doc is None:
                raise Eof  # the documents added before are delivered
            batch.add(json.dumps(doc, sort_keys=True, default=str))


def load(path: str) -> list[dict[str, Any]]:
    """The mappings of a YAML stream; anything else is an error naming the document."""
    try:
        with open(path, encoding="utf-8") as f:
            documents = [d for d in yaml.load_all(f, Loader=LOADER) if d is not None]
    except OSError as exc:
        raise PluginError(f"cannot read the feed {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PluginError(f"the feed {path} is not valid YAML: {exc}") from None
    for number, doc in enumerate(documents, 1):
        if not isinstance(doc, dict):
            raise PluginError(f"document {number} of {path} is not a mapping")
    return documents


def scalar(value: Any) -> str | None:
    """A value as field text: strings as they are, booleans and null as YAML writes them."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class YamlFeed(SourcePlugin, ExtractPlugin):
    NAME = "yamlfeed"
    VERSION = "0.1.0"
    DESCRIPTION = "Events from a stream of YAML documents"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"
    PLUGIN_ID = 424250
    EVENT_SOURCE = "yamlfeed"

    def __init__(self, config: FeedConfig) -> None:
        if config.batch_size < 1:
            raise PluginError("batch_size must be at least 1")
        self.config = config

    def open(self, params: str) -> FeedInstance:
        if not params:
            raise PluginError("open params: the path of a YAML file")
        return FeedInstance(load(params), self.config.batch_size)

    def event_to_string(self, event: PluginEvent) -> str:
        return event.payload.decode()

    def make_context(self, event: ExtractEvent) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(event.payload)
        return doc

    @field("yamlfeed.kind")
    def kind(self, event: ExtractEvent) -> str | None:
        """The document's kind."""
        return scalar(event.context.get("kind"))

    @field("yamlfeed.name")
    def name(self, event: ExtractEvent) -> str | None:
        """metadata.name, or name."""
        meta = event.context.get("metadata")
        found = meta.get("name") if isinstance(meta, dict) else event.context.get("name")
        return scalar(found)

    @field("yamlfeed.value")
    def value(self, event: ExtractEvent, key: str) -> str | None:
        """A top-level value of the document, or of its spec, e.g. yamlfeed.value[image]."""
        if key in event.context:
            return scalar(event.context[key])
        spec = event.context.get("spec")
        return scalar(spec.get(key)) if isinstance(spec, dict) else None

    @field("yamlfeed.parser")
    def parser(self, event: ExtractEvent) -> str:
        """Which YAML parser read the feed: libyaml (PyYAML's C extension) or python."""
        return PARSER
