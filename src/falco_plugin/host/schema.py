"""Validating init and set_config configs against the plugin's JSON schema, as libsinsp does
before it calls the plugin: an empty config becomes ``{}``, the config must be JSON, and it
must match the schema (the ``jsonschema`` package, with the draft the schema declares among
those Falco's validator knows: 3, 4 and 7; draft 7 when it declares none).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from jsonschema import exceptions


class ConfigError(Exception):
    """A config the plugin must not receive; the message says why."""


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    dialect = str(schema.get("$schema", ""))
    cls: Any = jsonschema.Draft7Validator
    if "draft-03" in dialect:
        cls = jsonschema.Draft3Validator
    elif "draft-04" in dialect:
        cls = jsonschema.Draft4Validator
    return cls(schema)


def prepare_config(schema: dict[str, Any] | None, config: str | None, what: str) -> str:
    """The string init/set_config receives: validated when the plugin has a schema."""
    text = config or ""
    if schema is None:
        return text
    if not text:
        text = "{}"
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(
            f"{what} is not valid JSON ({exc}), but the plugin has a JSON init schema"
        ) from None
    try:
        error = exceptions.best_match(_validator(schema).iter_errors(value))
    except exceptions.SchemaError as exc:
        raise ConfigError(
            f"the plugin's init schema is not a valid schema: {exc.message}"
        ) from None
    except Exception as exc:  # an unresolvable $ref, raised while validating
        ref = getattr(exc, "ref", None) or getattr(getattr(exc, "__cause__", None), "ref", None)
        raise ConfigError(
            f"{what} cannot be checked: cannot resolve schema reference "
            f"'{ref if ref is not None else exc}'"
        ) from None
    if error is not None:
        raise ConfigError(
            f"{what} does not match the plugin's init schema: {error.json_path}: {error.message}"
        )
    return text
