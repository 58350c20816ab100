"""Build-time validation of plugin classes: every mistake reported with a clear message."""

from __future__ import annotations

import dataclasses
import enum
import json
import marshal

import pytest

from falco_plugin import ExtractPlugin, SourcePlugin, field
from falco_plugin.build import c_string
from falco_plugin.loader import PluginRef
from falco_plugin.validate import (
    PluginDefinitionError,
    baked_facts,
    facts_drift,
    json_values,
    plugin_meta,
    same_json,
)

REF = PluginRef("", "tests", "")


def make(**attrs: object) -> type[SourcePlugin]:
    base = {
        "NAME": "ok",
        "VERSION": "1.2.3",
        "DESCRIPTION": "d",
        "CONTACT": "c",
        "PLUGIN_ID": 5,
        "EVENT_SOURCE": "ok",
        "open": lambda self, params: None,
    }
    base.update(attrs)
    return type("P", (SourcePlugin,), base)


@dataclasses.dataclass
class BadCfg:
    x: complex


def problems(cls: type) -> list[str]:
    with pytest.raises(PluginDefinitionError) as info:
        plugin_meta(cls, REF)
    return info.value.problems


def test_a_valid_plugin_gives_its_static_facts() -> None:
    meta = plugin_meta(make(), REF)
    assert (meta.name, meta.plugin_id, meta.event_source) == ("ok", 5, "ok")
    assert meta.required_api_version == "3.4.0"  # log_fn: first released with 3.4.0
    assert meta.init_schema == ""  # raw string config
    assert meta.hooks == {
        "set_config": False,
        "get_metrics": False,
        "list_open_params": False,
        "event_to_string": False,
        "get_progress": False,
        "dump_state": False,
    }


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"NAME": ""}, "NAME must be a non-empty string"),
        ({"NAME": "has space"}, "NAME 'has space' must match"),
        ({"VERSION": "1.0"}, "not a semantic version"),
        ({"DESCRIPTION": 3}, "DESCRIPTION must be a non-empty string"),
        ({"EVENT_SOURCE": ""}, "PLUGIN_ID is set but EVENT_SOURCE is empty"),
        ({"PLUGIN_ID": 0}, "EVENT_SOURCE is set but PLUGIN_ID is 0"),
        ({"PLUGIN_ID": 2**32}, "out of range"),
        ({"PLUGIN_ID": "7"}, "PLUGIN_ID must be an int"),
        ({"EVENT_SOURCE": "syscall"}, "reserved"),
    ],
)
def test_definition_errors(attrs: dict[str, object], expected: str) -> None:
    assert any(expected in p for p in problems(make(**attrs))), problems(make(**attrs))


def test_all_problems_are_reported_at_once() -> None:
    found = problems(make(NAME="", VERSION="x", CONTACT=""))
    assert len(found) == 3


def test_missing_open_and_bad_config_type() -> None:
    cls = type(
        "NoOpen",
        (SourcePlugin,),
        {"NAME": "a", "VERSION": "1.0.0", "DESCRIPTION": "d", "CONTACT": "c"},
    )
    assert any("must define open" in p for p in problems(cls))

    def init(self: object, config: BadCfg) -> None: ...

    found = problems(make(__init__=init))
    assert any("config: field BadCfg.x (complex): unsupported type" in p for p in found), found


def test_optional_hooks_are_detected() -> None:
    cls = make(set_config=lambda s, c: None, event_to_string=lambda s, e: "")
    hooks = plugin_meta(cls, REF).hooks
    assert hooks["set_config"] and hooks["event_to_string"]
    assert not hooks["get_metrics"] and not hooks["list_open_params"]


def test_c_string_escapes_everything_unsafe() -> None:
    assert c_string('a"b\\c\n?é') == '"a\\"b\\\\c\\012\\077\\303\\251"'


def extractor(**methods: object) -> type:
    attrs = {"NAME": "x", "VERSION": "1.0.0", "DESCRIPTION": "d", "CONTACT": "c", **methods}
    return type("X", (ExtractPlugin,), attrs)


def _f(ret: object, *, arg: object = None, default: bool = False, doc: str = "A field.") -> object:
    if arg is None:

        def fn(self, event):  # type: ignore[no-untyped-def]
            return None

        fn.__annotations__ = {"return": ret}
    elif default:

        def fn(self, event, a=None):  # type: ignore[no-untyped-def]
            return None

        fn.__annotations__ = {"a": arg, "return": ret}
    else:

        def fn(self, event, a):  # type: ignore[no-untyped-def]
            return None

        fn.__annotations__ = {"a": arg, "return": ret}
    fn.__doc__ = doc
    return fn


@pytest.mark.parametrize(
    ("methods", "expected"),
    [
        ({"a": field("nodot")(_f(int))}, "the name must match"),
        ({"a": field("x.1bad")(_f(int))}, "the name must match"),
        ({"a": field("x.a")(_f(int)), "b": field("x.a")(_f(str))}, "declared twice"),
        ({"a": field("x.a")(_f(dict))}, "is not one of int, str"),
        ({"a": field("x.a")(_f(list))}, "a list field needs an item type"),
        ({"a": field("x.a")(_f(int, arg=float))}, "must be annotated int (an index) or str"),
        ({"a": field("x.a")(_f(int, doc=""))}, "give a description"),
        ({}, "at least one @field"),
        ({"EXTRACT_EVENT_TYPES": [70000], "a": field("x.a")(_f(int))}, "EXTRACT_EVENT_TYPES"),
        ({"EXTRACT_EVENT_SOURCES": "syscall", "a": field("x.a")(_f(int))}, "EXTRACT_EVENT_SOURCES"),
    ],
)
def test_field_definition_errors(methods: dict[str, object], expected: str) -> None:
    found = problems(extractor(**methods))
    assert any(expected in p for p in found), found


def test_field_specs_from_annotations() -> None:
    import datetime as dt
    import ipaddress

    cls = extractor(
        a=field("x.a")(_f(int | None)),
        b=field("x.b", info=True)(_f(list[str])),
        c=field("x.c")(_f(dt.timedelta, arg=int)),
        d=field("x.d")(_f(ipaddress.IPv4Address | ipaddress.IPv6Address, arg=str, default=True)),
        e=field("x.e", offsets=True)(_f(dt.datetime)),
    )
    meta = plugin_meta(cls, REF)
    assert [f.json_entry() for f in meta.fields] == [
        {"name": "x.a", "type": "uint64", "desc": "A field."},
        {
            "name": "x.b",
            "type": "string",
            "desc": "A field.",
            "isList": True,
            "properties": ["info"],
        },
        {
            "name": "x.c",
            "type": "reltime",
            "desc": "A field.",
            "arg": {"isRequired": True, "isIndex": True, "isKey": False},
        },
        {
            "name": "x.d",
            "type": "ipaddr",
            "desc": "A field.",
            "arg": {"isRequired": False, "isIndex": False, "isKey": True},
        },
        {"name": "x.e", "type": "abstime", "desc": "A field."},
    ]
    assert meta.capabilities == ["extract"]
    assert meta.required_api_version == "3.11.0"  # x.e reports offsets


# ------------------------------------------------------------------ the baked facts


class Level(enum.IntEnum):
    LOW = 1


class Mode(str, enum.Enum):
    FAST = "fast"


@dataclasses.dataclass
class EnumDefaults:
    level: int = Level.LOW
    mode: str = Mode.FAST
    pair: tuple[int, int] = (1, 2)


def test_facts_hold_what_json_would_give_back() -> None:
    """The facts are compared without json at init: they hold the values the JSON text
    would (an enum member as its value, a tuple as a list), and the schema text the library
    answers is the JSON of the same values."""
    facts = plugin_meta(make(), REF).facts()
    assert json.loads(json.dumps(facts)) == facts
    cls = make()

    def init(self: object, config: EnumDefaults) -> None:
        pass

    cls.__init__ = init  # type: ignore[assignment,misc]
    meta = plugin_meta(cls, REF)
    props = meta.facts()["config schema"]["properties"]
    assert [props[k]["default"] for k in ("level", "mode", "pair")] == [1, "fast", [1, 2]]
    assert type(props["level"]["default"]) is int and type(props["mode"]["default"]) is str
    assert json.loads(meta.init_schema) == meta.facts()["config schema"]
    assert marshal.loads(baked_facts(meta)) == meta.facts()
    # the same bytes from the same facts, however they were made (a build cache key)
    assert marshal.dumps(marshal.loads(baked_facts(meta)), 2) == baked_facts(meta)
    assert baked_facts(meta) == baked_facts(plugin_meta(cls, REF))


def test_a_config_json_cannot_write_is_refused_at_build() -> None:
    @dataclasses.dataclass
    class Odd:
        x: int = dataclasses.field(default=1, metadata={"description": {1j: "no"}})

    def init(self: object, config: Odd) -> None:
        pass

    cls = make()
    cls.__init__ = init  # type: ignore[assignment,misc]
    assert any(p.startswith("config: ") for p in problems(cls))
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_values({"a": object()})


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"default": 1}, {"default": True}),  # equal in Python, "1" and "true" in JSON
        ({"default": 1}, {"default": 1.0}),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),  # the same keys in another order
        ([1, 2], [1, 2, 3]),
        (None, {}),
    ],
)
def test_a_schema_that_writes_other_json_drifts(old: object, new: object) -> None:
    assert json.dumps(old) != json.dumps(new)
    assert not same_json(old, new)
    assert facts_drift({"config schema": old}, {"config schema": new}) == [
        "the config schema changed"
    ]


def test_facts_that_write_the_same_json_do_not_drift() -> None:
    value = {"a": [1, 2.5, "x", None, False, {"n": float("nan")}], "b": {}}
    assert same_json(value, json_values(json.loads(json.dumps(value))))
    assert facts_drift({"config schema": value, "name": "x"},
                       {"config schema": json_values(value), "name": "x"}) == []  # fmt: skip
