"""The plugin library's C event functions, for the event model's hot paths.

Inside a plugin library built with this SDK, the shim leaves an object on the import space's
``falco_plugin._runtime`` module (``native_events``): the header walk, ``RawEvent.parse``
and ``decode`` in C (``_native/shim_events.c``). :mod:`.raw` and :mod:`.typed` use it when
it is there and was made from the same event schema; elsewhere (a Python process, a test)
they run their Python code, which stays the reference.
"""

from __future__ import annotations

import sys
from typing import Any

#: The runtime module of the SDK copy this module belongs to (its import space's).
_RUNTIME = __name__.rsplit(".", 2)[0] + "._runtime"


def native() -> Any:
    """The shim's event functions, or None outside a plugin library."""
    return getattr(sys.modules.get(_RUNTIME), "native_events", None)
