"""The generated params classes are made on first use (falco_plugin.event._classes): each is
the class the generated stub declares, made once even when threads race for it, and works
as a written-out class would (pickle, equality, repr, isinstance, the sequence of them)."""

from __future__ import annotations

import ast
import copy
import inspect
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import falco_plugin.event as event
import falco_plugin.event._generated as generated
from falco_plugin.event import EVENT_CLASSES, Event, EventParams, decode, event_class

STUB = Path(generated.__file__).with_suffix(".pyi")


def stub_classes() -> dict[str, ast.ClassDef]:
    tree = ast.parse(STUB.read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def stub_facts(node: ast.ClassDef) -> tuple[str | None, tuple[str, ...], dict[str, str], list]:
    """What the stub says of a class: docstring, slots, annotations, __init__ parameters
    (name, annotation, default) and return annotation."""
    slots: tuple[str, ...] = ()
    annotations: dict[str, str] = {}
    init: list = []
    for item in node.body:
        if isinstance(item, ast.Assign) and item.targets[0].id == "__slots__":  # type: ignore[attr-defined]
            slots = tuple(ast.literal_eval(item.value))
        elif isinstance(item, ast.AnnAssign):
            annotations[item.target.id] = ast.unparse(item.annotation)  # type: ignore[attr-defined]
        elif isinstance(item, ast.FunctionDef) and item.name == "__init__":
            defaults = [ast.literal_eval(d) for d in item.args.defaults]
            args = item.args.args[1:]
            pairs = zip(args, defaults, strict=True)
            init = [(a.arg, ast.unparse(a.annotation), d) for a, d in pairs]  # type: ignore[arg-type]
            init.append(("return", ast.unparse(item.returns)))  # type: ignore[arg-type]
    return ast.get_docstring(node), slots, annotations, init


def test_every_class_is_what_the_stub_declares() -> None:
    stubs = stub_classes()
    assert list(stubs) == list(generated.CLASS_NAMES)
    for code, (name, node) in enumerate(stubs.items()):
        cls = EVENT_CLASSES[code]
        assert cls is getattr(generated, name) is getattr(event, name)
        assert (cls.__name__, cls.__qualname__, cls.__module__) == (
            name, name, "falco_plugin.event._generated")  # fmt: skip
        assert issubclass(cls, EventParams) and cls.CODE == code
        doc, slots, annotations, init = stub_facts(node)
        assert (cls.__doc__, cls.__slots__, cls.__annotations__) == (doc, slots, annotations)
        assert tuple(spec.attr for spec in cls.PARAMS) == slots
        if not slots:
            assert cls.__init__ is EventParams.__init__ and init == []
            continue
        sig = inspect.signature(cls.__init__)
        got = [(p.name, p.annotation, p.default) for p in list(sig.parameters.values())[1:]]
        assert [*got, ("return", sig.return_annotation)] == init
        assert cls.__init__.__qualname__ == f"{name}.__init__"


def test_init_sets_every_slot_by_position_and_keyword() -> None:
    cls = event_class("PPME_SYSCALL_OPENAT_2_X")
    by_position = cls(*range(len(cls.__slots__)))
    assert by_position.as_tuple() == tuple(range(len(cls.__slots__)))
    by_keyword = cls(**{attr: i for i, attr in enumerate(cls.__slots__)})
    assert by_keyword == by_position and cls().as_tuple() == (None,) * len(cls.__slots__)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        cls(nope=1)
    with pytest.raises(TypeError, match="positional arguments"):
        cls(*range(len(cls.__slots__) + 1))
    with pytest.raises(AttributeError):
        by_position.nope = 1  # slots only


def test_pickle_copy_equality_repr_and_isinstance() -> None:
    params = event_class("PPME_SOCKET_CONNECT_X")(res=0, tuple=None, fd=3, addr=None)
    ev = Event(params, ts=7, tid=9)
    for value in (params, ev):
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            back = pickle.loads(pickle.dumps(value, protocol))
            assert back == value and back is not value and repr(back) == repr(value)
        assert copy.deepcopy(value) == value
    assert decode(ev.encode()) == ev
    assert isinstance(params, EventParams) and isinstance(params, type(params))
    assert repr(params) == "SocketConnectX(res=0, tuple=None, fd=3, addr=None)"
    assert pickle.loads(pickle.dumps(type(params))) is type(params)


def test_the_sequence_of_classes() -> None:
    count = len(generated.CLASS_NAMES)
    assert len(EVENT_CLASSES) == count == 454
    assert EVENT_CLASSES[-1] is EVENT_CLASSES[count - 1]
    assert EVENT_CLASSES[2:4] == (event_class(2), event_class(3))
    assert [cls.CODE for cls in EVENT_CLASSES] == list(range(count))
    assert list(reversed(EVENT_CLASSES))[0] is EVENT_CLASSES[count - 1]
    assert event_class(5) in EVENT_CLASSES and EventParams not in EVENT_CLASSES
    assert None not in EVENT_CLASSES and 3 not in EVENT_CLASSES
    assert EVENT_CLASSES.index(event_class(7)) == 7 and EVENT_CLASSES.count(event_class(7)) == 1
    with pytest.raises(ValueError):
        EVENT_CLASSES.index(EventParams)
    with pytest.raises(IndexError):
        EVENT_CLASSES[count]
    with pytest.raises(TypeError):
        EVENT_CLASSES["SyscallOpenE"]  # type: ignore[call-overload]
    assert repr(EVENT_CLASSES) == f"<{count} event params classes, {count} made>"


def test_names_of_the_generated_module() -> None:
    assert set(generated.CLASS_NAMES) <= set(dir(generated))
    assert set(generated.TABLES) <= set(dir(generated))
    with pytest.raises(AttributeError, match="has no attribute 'SyscallNopeE'"):
        generated.SyscallNopeE  # noqa: B018
    with pytest.raises(ImportError):
        from falco_plugin.event import SyscallNopeE  # noqa: F401
    from falco_plugin.event._generated import EVENT_TABLE, SyscallOpenE

    assert EVENT_TABLE[SyscallOpenE.CODE][1] == "PPME_SYSCALL_OPEN_E"


RACE = """
import json, sys, threading, time
import falco_plugin.event._generated as g
from falco_plugin.event import _classes

calls = {}
original = _classes.make_class

def slow_make(code, module):
    calls[code] = calls.get(code, 0) + 1
    time.sleep(0.002)  # a wide window: without the lock both threads would make the class
    return original(code, module)

_classes.make_class = slow_make
sys.setswitchinterval(1e-6)
names = g.CLASS_NAMES
codes = range(0, len(names), 3)
got = {code: [] for code in codes}

def ask(code, by_name):
    barrier.wait()
    got[code].append(getattr(g, names[code]) if by_name else g.EVENT_CLASSES[code])

for code in codes:
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=ask, args=(code, k == 1)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
same = all(a is b and a is g.EVENT_CLASSES[code] for code, (a, b) in got.items())
print(json.dumps([len(got), same, sorted(set(calls.values())), sorted(calls) == list(codes)]))
"""


def test_two_threads_asking_first_get_the_same_class() -> None:
    """Two threads ask for the same class at once (by name and by code, held at a barrier;
    making a class is slowed down so that both are inside): one class is made, and both get
    it. Run in a fresh interpreter, where no class exists yet."""
    out = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True,
                         check=True, timeout=120)  # fmt: skip
    count, same, made_per_class, every_one = json.loads(out.stdout)
    assert count == len(range(0, 454, 3)) and same and every_one
    assert made_per_class == [1]
