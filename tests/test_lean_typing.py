"""The pieces of typing the SDK uses at a plugin's init without importing typing
(falco_plugin._lean_typing) answer as typing does, and a plugin's start imports no typing."""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest

from falco_plugin import _lean_typing as lean

SRC = Path(__file__).resolve().parent.parent / "src"


def both(body: str) -> tuple[type, type]:
    """The same NamedTuple class made by typing and by the stand-in."""
    made = []
    for base in (typing.NamedTuple, lean.NamedTuple):
        ns: dict[str, object] = {"NamedTuple": base}
        exec(textwrap.dedent(body), ns)  # noqa: S102
        made.append(ns["T"])
    return made[0], made[1]  # type: ignore[return-value]


def test_a_namedtuple_class_is_the_same_as_typings() -> None:
    real, lean_made = both('''
        class T(NamedTuple):
            """Doc."""

            a: int
            b: "str" = "x"
            c: None = None

            def twice(self):
                return self.a * 2

            @property
            def label(self):
                return f"{self.a}{self.b}"
    ''')
    for cls in (real, lean_made):
        assert cls.__bases__ == (tuple,) and cls.__name__ == "T" and cls.__doc__ == "Doc."
        assert cls._fields == ("a", "b", "c")
        assert cls._field_defaults == {"b": "x", "c": None}
        t = cls(2)
        assert (t, t.twice(), t.label) == ((2, "x", None), 4, "2x")
        assert repr(t) == "T(a=2, b='x', c=None)"
        assert t._replace(b="y") == (2, "y", None)
        assert t._asdict() == {"a": 2, "b": "x", "c": None}
    assert lean_made.__qualname__ == real.__qualname__
    assert lean_made.__module__ == real.__module__
    assert list(lean_made.__annotations__) == list(real.__annotations__)
    assert typing.get_type_hints(lean_made) == typing.get_type_hints(real)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("class T(NamedTuple):\n    a: int = 1\n    b: int\n", TypeError),
        ("class T(NamedTuple):\n    a: int\n    def _replace(self): pass\n", AttributeError),
        ("class T(NamedTuple, dict):\n    a: int\n", TypeError),
    ],
)
def test_a_wrong_namedtuple_fails_as_with_typing(body: str, error: type[Exception]) -> None:
    messages = []
    for base in (typing.NamedTuple, lean.NamedTuple):
        with pytest.raises(error) as info:
            exec(body, {"NamedTuple": base})  # noqa: S102
        messages.append(str(info.value))
    if error is not TypeError or "cannot follow" in messages[0]:
        assert messages[0] == messages[1]


class Local:
    pass


Shadow = int


@dataclasses.dataclass
class Base:
    x: int
    y: Local


@dataclasses.dataclass
class Derived(Base):
    z: str = ""
    w: None = None


def plain(a: int, b: Local, c: None, d: "Shadow") -> "None":  # noqa: UP037
    return None


def generic(a: list[int], b: int | None) -> dict[str, int]:
    return {}


def unknown(a: Missing) -> None:  # type: ignore[name-defined]  # noqa: F821
    return None


@functools.wraps(plain)
def wrapper(*args: object) -> None:
    return None


def no_hints(a, b):  # type: ignore[no-untyped-def]
    return None


class WithOwnName:
    Inner = Local
    field: Inner  # type: ignore[valid-type]


@pytest.mark.parametrize(
    "obj", [plain, generic, wrapper, no_hints, Base, Derived, WithOwnName, Local, int]
)
def test_type_hints_are_typings(obj: object) -> None:
    assert lean.type_hints(obj) == typing.get_type_hints(obj)


def test_an_unresolved_hint_fails_as_with_typing() -> None:
    with pytest.raises(NameError) as real:
        typing.get_type_hints(unknown)
    with pytest.raises(NameError) as ours:
        lean.type_hints(unknown)
    assert str(ours.value) == str(real.value)


@pytest.mark.parametrize(
    "tp",
    [int, str, type(None), Local, Base, list, dict, list[int], dict[str, int], int | None,
     typing.Optional[int], typing.Union[int, str], typing.Literal["a", 1],  # noqa: UP007, UP045
     typing.List[int], typing.Any, tuple[int, ...], typing.Generic, None],  # noqa: UP006
)  # fmt: skip
def test_origin_and_args_are_typings(tp: object) -> None:
    assert lean.get_origin(tp) == typing.get_origin(tp)
    assert lean.get_args(tp) == typing.get_args(tp)
    assert lean.is_union(lean.get_origin(tp)) == (
        typing.get_origin(tp) in (typing.Union, type(int | None))
    )
    assert lean.is_form(tp, "Any") == (tp is typing.Any)


class _ClaimsToBeAClass:
    """What ``list[int]`` looks like to isinstance on Python 3.10: it answers ``type`` for
    ``__class__``, so isinstance(obj, type) is True."""

    __class__ = type  # type: ignore[assignment]


def test_an_object_that_claims_to_be_a_class_is_not_plain() -> None:
    # list fields broke on 3.10 (their list[...] was taken for a plain class: no origin)
    claims = _ClaimsToBeAClass()
    assert isinstance(claims, type)
    assert not lean.is_plain(claims)


def test_a_plugin_start_imports_no_typing(tmp_path: Path) -> None:
    """Everything init does with a plugin that has a dataclass config and fields, in an
    interpreter started as the shim starts it (isolated, no site): typing stays out."""
    plugin = tmp_path / "plugin.py"
    plugin.write_text(textwrap.dedent('''
        from __future__ import annotations

        import dataclasses

        from falco_plugin import ExtractEvent, ExtractPlugin, SourcePlugin, field


        @dataclasses.dataclass
        class Config:
            size: int = 3
            name: str = "x"


        class P(SourcePlugin, ExtractPlugin):
            NAME = "p"
            VERSION = "1.0.0"
            DESCRIPTION = "d"
            CONTACT = "c"
            PLUGIN_ID = 999
            EVENT_SOURCE = "p"

            def __init__(self, config: Config) -> None:
                self.config = config

            def open(self, params: str) -> None:
                return None

            @field("p.size", desc="the size")
            def size(self, event: ExtractEvent) -> int:
                return self.config.size

            @field("p.at", desc="a flag")
            def at(self, event: ExtractEvent, index: int) -> bool:
                return True
    '''))
    code = textwrap.dedent(f'''
        import sys
        sys.path[:0] = [{str(SRC)!r}, {str(tmp_path)!r}]
        import plugin
        from falco_plugin.config import config_type_of, parse_config
        from falco_plugin.loader import PluginRef
        from falco_plugin.validate import plugin_meta
        meta = plugin_meta(plugin.P, PluginRef("", "plugin", "P"))
        assert [f.name for f in meta.fields] == ["p.size", "p.at"], meta.fields
        assert parse_config(config_type_of(plugin.P), '{{"size": 5}}').size == 5
        print(sorted(m for m in ("typing", "json") if m in sys.modules))
    ''')
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["['json']"]  # json: the config text is parsed


def test_async_and_listen_plugins_load_without_typing_or_logging(tmp_path: Path) -> None:
    # the async and listen capabilities' modules are imported by their plugins' init:
    # typing and logging there cost every such plugin's start (about 35 M instructions)
    (tmp_path / "plugin.py").write_text(textwrap.dedent('''
        from falco_plugin import AsyncPlugin, ListenPlugin
        from falco_plugin.async_event import BackgroundTask

        class P(AsyncPlugin, ListenPlugin):
            NAME = "p"
            VERSION = "1.0.0"
            DESCRIPTION = "ticks"
            CONTACT = "tests"
            ASYNC_EVENTS = ["tick"]

            def __init__(self, config: str) -> None:
                self.task = BackgroundTask(lambda: None, 1.0)
    '''))
    code = textwrap.dedent(f'''
        import sys
        sys.path[:0] = [{str(SRC)!r}, {str(tmp_path)!r}]
        import plugin
        from falco_plugin.loader import PluginRef
        from falco_plugin.validate import plugin_meta
        meta = plugin_meta(plugin.P, PluginRef("", "plugin", "P"))
        assert meta.async_events == ["tick"], meta
        print(sorted(m for m in ("typing", "logging") if m in sys.modules))
    ''')
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["[]"]
