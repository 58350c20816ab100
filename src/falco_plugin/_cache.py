"""Where the SDK keeps what it builds (plugin libraries, the C host, libpython copies).

A module of its own so that building a plugin does not import the SDK host to find it.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The SDK's cache: ``$FALCO_PLUGIN_CACHE``, else ``$XDG_CACHE_HOME/falco-plugin``,
    else ``~/.cache/falco-plugin``."""
    env = os.environ.get("FALCO_PLUGIN_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "falco-plugin"
