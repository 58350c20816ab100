"""Typed init configuration: JSON schema (draft-07) from a type, and parsing with defaults.

The config type is the annotation of the ``config`` parameter of the plugin's ``__init__``:
``str`` (or no annotation) means the raw init string; a dataclass or a pydantic model means
JSON, described to the host by a draft-07 schema (the draft Falco's validator accepts) and
parsed here with defaults applied, so the plugin always receives a complete, typed object.

A dataclass field's ``metadata`` may give a ``description`` and a ``title`` for the schema.
Unknown keys are refused, unless the dataclass sets ``ALLOW_UNKNOWN_KEYS: ClassVar[bool] =
True``: then the schema allows them and parsing ignores them (as the Go SDK's plugins do, so
a port accepts the same configs as the plugin it replaces).
"""

from __future__ import annotations

import enum

from ._json_values import json_values
from ._lean_typing import (
    TYPE_CHECKING,
    any_type,
    get_args,
    get_origin,
    is_form,
    is_union,
    type_hints,
)

if TYPE_CHECKING:
    import dataclasses as _dc
    from typing import Any

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


class _Dataclasses:
    """The dataclasses module, imported on first use: a config type can only be a dataclass
    once the plugin imported it, and a plugin without one starts without it."""

    def __getattr__(self, name: str) -> Any:
        import dataclasses

        return getattr(dataclasses, name)


dataclasses = _Dataclasses()


def _json() -> Any:
    import json  # on use: a plugin with an empty or raw config never needs it

    return json


class ConfigError(ValueError):
    """The init config does not fit the plugin's config type; the message names the path."""


def config_type_of(cls: type) -> Any:
    """The annotated type of ``config`` in ``cls.__init__``, or ``str`` when absent."""
    init = cls.__init__  # type: ignore[misc]
    code = getattr(init, "__code__", None)
    if code is None:  # object.__init__ or a C-level constructor: no config taken
        return None
    # positional parameters after self (cheaper than inspect.signature at plugin start);
    # a parameter named "tables" receives the tables API, not the config
    params = [
        p for p in code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount] if p != "tables"
    ]
    if not params:
        return None
    try:
        hints = type_hints(init)
    except Exception as exc:  # unresolved forward reference: a build-time error with a reason
        raise TypeError(f"cannot resolve the type hints of {cls.__name__}.__init__: {exc}") from exc
    return hints.get(params[0], str)


def is_raw(tp: Any) -> bool:
    """True for the raw-string config (no schema)."""
    return tp is None or tp is str or is_form(tp, "Any")


def _is_pydantic(tp: Any) -> bool:
    return (
        isinstance(tp, type) and hasattr(tp, "model_json_schema") and hasattr(tp, "model_validate")
    )


# ---------------------------------------------------------------------------------- schema


def json_schema(tp: Any) -> dict[str, Any] | None:
    """The draft-07 JSON schema for a config type, or None for a raw-string config."""
    if is_raw(tp):
        return None
    if _is_pydantic(tp):
        schema = _pydantic_to_draft07(tp.model_json_schema())
    elif dataclasses.is_dataclass(tp) and isinstance(tp, type):
        defs: dict[str, Any] = {}
        schema = _dataclass_schema(tp, defs)
        if defs:
            schema["definitions"] = defs
    else:
        raise TypeError(f"unsupported config type {tp!r}: use str, a dataclass or a pydantic model")
    return {"$schema": DRAFT_07, **schema}


def _pydantic_to_draft07(schema: Any) -> Any:
    """Rewrite pydantic's 2020-12 flavoured schema into draft-07 ($defs -> definitions)."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "$defs":
                out["definitions"] = _pydantic_to_draft07(value)
            elif key == "$ref" and isinstance(value, str):
                out[key] = value.replace("#/$defs/", "#/definitions/")
            elif key == "prefixItems":
                out["items"] = _pydantic_to_draft07(value)
            else:
                out[key] = _pydantic_to_draft07(value)
        return out
    if isinstance(schema, list):
        return [_pydantic_to_draft07(v) for v in schema]
    return schema


def _dataclass_schema(tp: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = type_hints(tp)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(tp):
        if not f.init:
            continue
        try:
            prop = _type_schema(hints[f.name], defs)
            default = _field_default(f)
            if default is not dataclasses.MISSING:
                prop["default"] = _jsonable(default)
                json_values(prop["default"])  # a default JSON cannot hold fails here
        except (TypeError, ValueError) as exc:
            if str(exc).startswith("field "):  # a nested dataclass's field: named already
                raise
            where = f"{tp.__name__}.{f.name} ({_label(hints[f.name])})"
            raise TypeError(f"field {where}: {exc}") from None
        for key in ("title", "description"):
            if f.metadata.get(key):
                prop[key] = str(f.metadata[key])
        if default is dataclasses.MISSING:
            required.append(f.name)
        props[f.name] = prop
    schema: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "additionalProperties": allows_unknown_keys(tp),
    }
    if required:
        schema["required"] = required
    doc = (tp.__doc__ or "").strip()
    if doc and not doc.startswith(tp.__name__ + "("):  # skip the auto-generated dataclass doc
        schema["description"] = doc.splitlines()[0]
    return schema


def allows_unknown_keys(tp: type) -> bool:
    """True when a config dataclass accepts (and ignores) keys it does not declare."""
    return getattr(tp, "ALLOW_UNKNOWN_KEYS", False) is True


def _field_default(f: _dc.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    factory: Any = f.default_factory
    if factory is not dataclasses.MISSING:
        return factory()
    return dataclasses.MISSING


def _label(tp: Any) -> str:
    """A type as written in the source: ``set[int]``, ``bytes``, ``Inner``."""
    return tp.__name__ if isinstance(tp, type) and not get_args(tp) else repr(tp)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):  # an array in JSON, in a stable order
        items = [_jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = get_origin(tp)
    if is_form(tp, "Any"):
        return {}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if tp is type(None):
        return {"type": "null"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # placeholder against recursion
            defs[tp.__name__] = _dataclass_schema(tp, defs)
        return {"$ref": f"#/definitions/{tp.__name__}"}
    if is_form(origin, "Literal"):
        return {"enum": list(get_args(tp))}
    if is_union(origin):
        options = get_args(tp)
        return {"anyOf": [_type_schema(o, defs) for o in options]}
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return {
                "type": "array",
                "items": [_type_schema(a, defs) for a in args],
                "minItems": len(args),
                "maxItems": len(args),
            }
        return (
            {"type": "array", "items": _type_schema(args[0], defs)} if args else {"type": "array"}
        )
    if origin is dict or tp is dict:
        args = get_args(tp)
        if args and args[0] is not str:
            raise TypeError(f"config dict keys must be str, got {args[0]!r}")
        schema: dict[str, Any] = {"type": "object"}
        if args:
            schema["additionalProperties"] = _type_schema(args[1], defs)
        return schema
    raise TypeError(f"unsupported type in config: {tp!r}")


# --------------------------------------------------------------------------------- parsing


def parse_config(tp: Any, raw: str) -> Any:
    """Turn the host's init string into the plugin's config object, defaults applied."""
    if is_raw(tp):
        return raw
    text = raw.strip() or "{}"
    if text == "{}":  # what Falco passes for an empty init_config: no need of the parser
        data: Any = {}
    else:
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config is not valid JSON: {exc}") from exc
    if _is_pydantic(tp):
        try:
            return tp.model_validate(data)
        except Exception as exc:  # pydantic's ValidationError, message lists the paths
            raise ConfigError(f"invalid config: {exc}") from exc
    return _convert(tp, data, "config")


def _describe(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else f"a {type(value).__name__}"
    )


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if is_form(tp, "Any"):
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected a boolean, got {_describe(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{path}: expected an integer, got {_describe(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{path}: expected a number, got {_describe(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{path}: expected a string, got {_describe(value)}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{path}: expected null, got {_describe(value)}")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in tp)
            raise ConfigError(f"{path}: {value!r} is not one of {allowed}") from None
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _convert_dataclass(tp, value, path)
    if is_form(origin, "Literal"):
        if value in get_args(tp):
            return value
        raise ConfigError(f"{path}: {value!r} is not one of {list(get_args(tp))!r}")
    if is_union(origin):
        errors = []
        for option in get_args(tp):
            try:
                return _convert(option, value, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{path}: no alternative matched ({'; '.join(errors)})")
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected an array, got {_describe(value)}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
            return tuple(
                _convert(a, v, f"{path}[{i}]")
                for i, (a, v) in enumerate(zip(args, value, strict=True))
            )
        item = args[0] if args else any_type()
        items = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return (origin or list)(items) if origin in (tuple, set, frozenset) else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected an object, got {_describe(value)}")
        args = get_args(tp)
        item = args[1] if args else any_type()
        return {k: _convert(item, v, f"{path}.{k}") for k, v in value.items()}
    raise ConfigError(f"{path}: unsupported type {tp!r}")


def _convert_dataclass(tp: type, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected an object, got {_describe(value)}")
    hints = type_hints(tp)
    fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown and not allows_unknown_keys(tp):
        raise ConfigError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}")
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], f"{path}.{name}")
        elif _field_default(f) is dataclasses.MISSING:
            raise ConfigError(f"{path}: missing required key {name!r}")
    try:
        return tp(**kwargs)
    except (TypeError, ValueError) as exc:  # __post_init__ checks of the author
        raise ConfigError(f"{path}: {exc}") from exc
