"""The shapes of names the SDK checks (plugin names, versions, field names), as plain string
checks: a plugin's start runs them, and compiling the same regular expressions would cost it
more than all its other checks (Python's regex compiler is Python code). Each function says
what its regular expression (the ``*_PATTERN`` text, for messages) would say."""

_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_DIGITS = frozenset("0123456789")
_WORD = _LETTERS | _ASCII_DIGITS | {"_"}
_SEMVER_EXTRA = _LETTERS | _ASCII_DIGITS | {".", "-"}

PLUGIN_NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_-]*"
FIELD_NAME_PATTERN = r"[a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+"
SEMVER_PATTERN = (
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
)


def _word(text: str, first: frozenset[str], rest: frozenset[str]) -> bool:
    return bool(text) and text[0] in first and all(c in rest for c in text[1:])


def plugin_name_ok(name: str) -> bool:
    """Whether ``name`` fully matches PLUGIN_NAME_PATTERN."""
    return _word(name, _LETTERS, _WORD | {"-"})


def field_name_ok(name: str) -> bool:
    """Whether ``name`` fully matches FIELD_NAME_PATTERN (``plugin.field``)."""
    parts = name.split(".")
    return len(parts) >= 2 and all(_word(p, _LETTERS, _WORD) for p in parts)


def _number(part: str) -> bool:
    # (0|[1-9]\d*): \d is any decimal digit, as in Python's regular expressions
    return part == "0" or (part[:1] in "123456789" and part != "" and part.isdecimal())


def semver_ok(version: str) -> bool:
    """Whether ``version`` fully matches SEMVER_PATTERN (``1.2.3``, ``1.2.3-rc.1+build``)."""
    core, plus, build = version.partition("+")
    if plus and not (build and all(c in _SEMVER_EXTRA for c in build)):
        return False
    core, dash, pre = core.partition("-")
    if dash and not (pre and all(c in _SEMVER_EXTRA for c in pre)):
        return False
    parts = core.split(".")
    return len(parts) == 3 and all(_number(p) for p in parts)
