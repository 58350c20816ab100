"""The capture listening capability: hear when captures open and close, and run periodic
work on the host's thread pool.

    class Janitor(ListenPlugin):
        def capture_open(self, listen: CaptureListen) -> None:
            self.routine = listen.subscribe(self.sweep, interval=1.0)

        def sweep(self) -> bool:        # return False to stop being called
            ...
            return True

        def capture_close(self, listen: CaptureListen) -> None:
            listen.unsubscribe(self.routine)

A routine is called again and again by the host's threads; the SDK waits ``interval``
seconds between two calls (waking early when unsubscribed) so it never spins a core.
Tables can be read and written in ``capture_open`` / ``capture_close``.
"""

from __future__ import annotations

from ._lean_typing import TYPE_CHECKING
from .base import Plugin

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol
else:
    from ._lean_typing import Protocol


class CaptureListen(Protocol):
    """What capture_open / capture_close receive (a C object inside the host)."""

    def subscribe(self, fn: Callable[[], bool | None], interval: float = 0.1) -> Any:
        """Run ``fn`` on the host's routine threads every ``interval`` seconds until it returns
        False; returns the routine's handle."""

    def unsubscribe(self, routine: Any) -> None:
        """Stop a routine that ``subscribe`` returned."""


class ListenPlugin(Plugin):
    """A plugin with the capture listening capability."""

    def capture_open(self, listen: CaptureListen) -> None:
        """A capture starts (routines are usually subscribed here)."""

    def capture_close(self, listen: CaptureListen) -> None:
        """The capture ends; routines still subscribed are unsubscribed by the SDK after this
        returns (and at destroy), waiting for a call in progress."""
