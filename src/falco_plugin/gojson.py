"""JSON as the official Go plugins read and print it, for ports of those plugins.

Most official source plugins (k8saudit, cloudtrail, okta, github, ...) carry JSON payloads
and their fields are lookups in that JSON, made with the Go library ``fastjson``. A port
gives the same field values when it follows the same rules, which are not Python's:

- :func:`get` walks a document like ``fastjson``'s ``Value.Get``: object members by key,
  array items by a decimal index (``"+1"`` and ``"01"`` included, as Go's ``Atoi`` reads
  them), and a JSON ``null`` is a value (the text ``null``), not an absence: absence is
  :data:`MISSING`.
- :func:`text` gives a value the way those plugins turn it into a string field: strings as
  they are, anything else as compact JSON.
- :func:`dumps` and :func:`dumps_indented` write JSON as Go's ``encoding/json`` does, which
  is also how Kubernetes writes its audit events: compact, keys in document order, ``<``,
  ``>``, ``&``, U+2028 and U+2029 escaped as ``\\u003c``-style sequences. A Go plugin prints
  the JSON text it received unchanged; for text that Go wrote, these functions give the same
  bytes. (Numbers with a fraction or exponent may be spelled differently, and a key that
  appears twice keeps its last value here, its first in ``fastjson``.)
- :func:`loads` parses strictly (no ``NaN`` or ``Infinity``, which Go refuses) and accepts
  bytes that are not valid UTF-8 (replaced), as Go does.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = ["MISSING", "dumps", "dumps_indented", "get", "loads", "pointer_tokens", "text"]


class _Missing:
    """The marker of an absent value (``None`` is JSON ``null``)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

_INDEX = re.compile(r"[+-]?[0-9]+")
_HTML_UNSAFE = re.compile("[<>&\u2028\u2029]")
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_GO_ESCAPES["\u2029"] = "\\u2029"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)  # one for all: cheaper calls


def loads(data: bytes | str) -> Any:
    """Parse JSON text strictly; bytes that are not UTF-8 are replaced, not refused."""
    if not isinstance(data, str):
        data = bytes(data).decode("utf-8", "replace")
    return _DECODER.decode(data)


def _go_escape(encoded: str) -> str:
    # the five characters only ever occur inside strings of JSON text
    if _HTML_UNSAFE.search(encoded) is None:
        return encoded
    return _HTML_UNSAFE.sub(lambda m: _GO_ESCAPES[m[0]], encoded)


def dumps(value: Any) -> str:
    """Compact JSON as Go's ``encoding/json`` writes it."""
    return _go_escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def dumps_indented(value: Any) -> str:
    """JSON indented by two spaces per level, as Go's ``json.Indent(dst, src, "", "  ")``
    lays out compact text (empty objects and arrays stay ``{}`` and ``[]``)."""
    return _go_escape(json.dumps(value, ensure_ascii=False, indent=2))


def text(value: Any) -> str:
    """A value as a string field holds it: a string as it is, other values as JSON."""
    return value if isinstance(value, str) else dumps(value)


def get(node: Any, *keys: str) -> Any:
    """The value under ``keys`` (object keys or array indexes), or :data:`MISSING`."""
    for key in keys:
        if isinstance(node, dict):
            node = node.get(key, MISSING)
            if node is MISSING:
                return MISSING
        elif isinstance(node, list):
            if not _INDEX.fullmatch(key):
                return MISSING
            index = int(key)
            if not 0 <= index < len(node):
                return MISSING
            node = node[index]
        else:
            return MISSING
    return node


_POINTERS: dict[str, list[str]] = {}


def pointer_tokens(pointer: str) -> list[str]:
    """The keys of a JSON pointer as the Go json plugin splits it: one leading ``/`` is
    optional, ``/`` separates keys, ``~1`` means ``/`` and ``~0`` means ``~``."""
    tokens = _POINTERS.get(pointer)
    if tokens is None:
        body = pointer[1:] if pointer.startswith("/") else pointer
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in body.split("/")]
        if len(_POINTERS) < 4096:  # rules name few pointers; don't grow without bound
            _POINTERS[pointer] = tokens
    return tokens
