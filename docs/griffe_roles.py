"""A griffe extension for the API reference: the SDK's docstrings use reStructuredText roles
(:class:`X`, :func:`~pkg.f`, ...), which Markdown would print as they are; they become code
spans of the name (the last part of it for a ``~`` name)."""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension

ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    short, name = match.groups()
    return f"`{name.rsplit('.', 1)[-1] if short else name}`"


class RolesToCode(Extension):
    """Rewrites the roles of every docstring griffe loads."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        """Called for each module, class, function and attribute."""
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_code, obj.docstring.value)
