"""Typed configs: the draft-07 schema the host validates with, and parsing with defaults."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import ClassVar, Literal

import jsonschema
import pydantic
import pytest

from falco_plugin.config import ConfigError, config_type_of, json_schema, parse_config


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclasses.dataclass
class Inner:
    host: str
    port: int = 8080


@dataclasses.dataclass
class Cfg:
    """A config with every supported kind of field."""

    name: str
    count: int = 3
    ratio: float = 0.5
    enabled: bool = True
    mode: Mode = Mode.FAST
    level: Literal["low", "high"] = "low"
    tags: list[str] = dataclasses.field(default_factory=list)
    limits: dict[str, int] = dataclasses.field(default_factory=dict)
    inner: Inner | None = None
    pair: tuple[int, str] = (1, "a")


class Model(pydantic.BaseModel):
    url: str
    retries: int = 2
    inner: Inner | None = None


def test_schema_is_draft07_and_validates_like_the_host() -> None:
    schema = json_schema(Cfg)
    assert schema is not None
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    assert validator.is_valid({"name": "x", "inner": {"host": "h"}})
    assert not validator.is_valid({})  # name required
    assert not validator.is_valid({"name": "x", "count": "3"})
    assert not validator.is_valid({"name": "x", "bogus": 1})
    assert not validator.is_valid({"name": "x", "mode": "medium"})
    assert schema["properties"]["count"]["default"] == 3
    assert schema["properties"]["mode"]["default"] == "fast"
    assert schema["description"] == "A config with every supported kind of field."


def test_parse_applies_defaults_and_types() -> None:
    cfg = parse_config(
        Cfg, '{"name": "x", "inner": {"host": "h"}, "mode": "slow", "pair": [2, "b"]}'
    )
    assert cfg == Cfg(name="x", inner=Inner("h", 8080), mode=Mode.SLOW, pair=(2, "b"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("{}", "missing required key 'name'"),
        ('{"name": 1}', "config.name: expected a string, got a int"),
        ('{"name": "x", "count": true}', "config.count: expected an integer, got a boolean"),
        ('{"name": "x", "zzz": 1}', "unknown key(s) 'zzz'"),
        ('{"name": "x", "mode": "medium"}', "config.mode: 'medium' is not one of"),
        ('{"name": "x", "tags": ["a", 2]}', "config.tags[1]: expected a string"),
        ('{"name": "x", "inner": {"port": 1}}', "no alternative matched"),
        ("[]", "config: expected an object, got an array"),
    ],
)
def test_parse_errors_name_the_path(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(Cfg, text)
    assert message in str(info.value)


def test_empty_config_means_defaults() -> None:
    @dataclasses.dataclass
    class AllDefaults:
        size: int = 4

    assert parse_config(AllDefaults, "") == AllDefaults()
    assert parse_config(AllDefaults, "  ") == AllDefaults()


@dataclasses.dataclass
class Lenient:
    """Accepts keys it does not know, like the Go SDK's plugins."""

    ALLOW_UNKNOWN_KEYS: ClassVar[bool] = True
    jitter: int = dataclasses.field(default=10, metadata={"title": "Jitter", "description": "d"})


def test_lenient_config_allows_and_ignores_unknown_keys() -> None:
    schema = json_schema(Lenient)
    assert schema is not None
    assert schema["additionalProperties"] is True
    assert schema["properties"]["jitter"] == {
        "type": "integer",
        "title": "Jitter",
        "description": "d",
        "default": 10,
    }
    validator = jsonschema.Draft7Validator(schema)
    assert validator.is_valid({"jitter": 1, "other": "x"})
    assert not validator.is_valid({"jitter": "1"})
    assert parse_config(Lenient, '{"jitter": 0, "other": "x"}') == Lenient(jitter=0)
    with pytest.raises(ConfigError, match="config.jitter: expected an integer"):
        parse_config(Lenient, '{"jitter": "0"}')


def test_pydantic_schema_is_rewritten_to_draft07() -> None:
    schema = json_schema(Model)
    assert schema is not None
    text = json.dumps(schema)
    assert "$defs" not in text and "#/definitions/Inner" in text
    jsonschema.Draft7Validator.check_schema(schema)
    assert jsonschema.Draft7Validator(schema).is_valid({"url": "u", "inner": {"host": "h"}})
    parsed = parse_config(Model, '{"url": "u"}')
    assert parsed.retries == 2
    with pytest.raises(ConfigError, match="url"):
        parse_config(Model, "{}")


def test_config_type_comes_from_the_init_annotation() -> None:
    class Raw:
        def __init__(self, config: str) -> None: ...

    class Typed:
        def __init__(self, config: Cfg) -> None: ...

    class NoConfig:
        def __init__(self) -> None: ...

    assert config_type_of(Raw) is str
    assert config_type_of(Typed) is Cfg
    assert config_type_of(NoConfig) is None
    assert json_schema(str) is None
    assert parse_config(str, "anything goes") == "anything goes"


def test_unsupported_types_are_refused() -> None:
    @dataclasses.dataclass
    class Bad:
        when: complex = 1j

    with pytest.raises(TypeError, match="unsupported type"):
        json_schema(Bad)


@dataclasses.dataclass
class Tagged:
    tags: set[int] = dataclasses.field(default_factory=lambda: {3, 1})


@dataclasses.dataclass
class WithBytes:
    name: str = ""
    blob: bytes = b""


@dataclasses.dataclass
class Outer:
    inner: WithBytes = dataclasses.field(default_factory=WithBytes)


def test_a_set_field_has_an_array_schema_and_default() -> None:
    """Issue 10, item 9: a set default is JSON (an array), not a build error."""
    schema = json_schema(Tagged)
    assert schema is not None
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "integer"},
                                            "default": [1, 3]}  # fmt: skip
    assert parse_config(Tagged, '{"tags": [2, 2, 5]}').tags == {2, 5}


@pytest.mark.parametrize("tp", [WithBytes, Outer])
def test_an_unsupported_field_type_is_named(tp: type) -> None:
    """Issue 10, item 9: the message names the field (of a nested dataclass too)."""
    with pytest.raises(TypeError, match=r"^field WithBytes\.blob \(bytes\): unsupported type"):
        json_schema(tp)
