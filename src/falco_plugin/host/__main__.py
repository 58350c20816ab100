"""``python -m falco_plugin.host ARGS...``: run the SDK's host from the command line."""

from . import main

raise SystemExit(main())
