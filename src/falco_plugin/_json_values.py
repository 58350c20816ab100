"""Values as JSON text holds them, compared as their JSON text would be, without json.

A plugin's static facts are baked into its library and compared with its code at every
init; importing json there costs several million instructions (it compiles regular
expressions at import), so the facts hold :func:`json_values` and compare with
:func:`same_json`.
"""

from __future__ import annotations

from ._lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def json_values(value: Any) -> Any:
    """``value`` as JSON would give it back: dicts with text keys, lists, text, ints,
    floats, booleans and None (a subclass such as an enum member becomes its base value, a
    tuple a list); TypeError for anything JSON cannot write, ValueError for a value that
    holds itself (as json.dumps)."""
    try:
        return _values(value)
    except RecursionError:
        raise ValueError("Circular reference detected") from None


def _values(value: Any) -> Any:
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_values(v) for v in value]
    if isinstance(value, dict):
        return {_json_key(k): _values(v) for k, v in value.items()}
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return str(key)
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, int):
        return str(int(key))
    if isinstance(key, float):
        return repr(float(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def same_json(a: Any, b: Any) -> bool:
    """Whether two :func:`json_values` results would write the same JSON text: the same
    types and values, keys in the same order (``True == 1`` and ``{a, b} == {b, a}`` do
    not count)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_json(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same_json, a, b))
    return bool(a == b or (a != a and b != b))  # NaN writes NaN
