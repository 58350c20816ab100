"""``falco-plugin run --watch``: run, and run again whenever the plugin's files change.

The files watched are the plugins' own: for a plugin file (``plugin.py[:Class]``) the Python
files of its folder and below (its import space's private root, where its helpers live),
for ``module:Class`` the folder of that module, for a built library the library itself. A
change stops the run under way (the engine ends its captures as on Ctrl-C), rebuilds what
needs it (the build cache rebuilds a library only when the static facts changed; code is
read at init) and runs again. A run that fails, or a build that fails (a syntax error in
the middle of an edit), is reported and the watch goes on. Ctrl-C ends it. File events come
from watchfiles (inotify, with its debouncing).
"""

from __future__ import annotations

import importlib.util
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TextIO

from watchfiles import Change, PythonFilter, watch

from .host.engine import Session
from .loader import forget_spaces

#: A run: given the callback that learns of the engine's session, returns the exit status.
RunOnce = Callable[[Callable[[Session | None], None]], int]


def watched_paths(targets: Iterable[str]) -> tuple[list[Path], set[Path]]:
    """The folders to watch for the plugins' Python files, and the built libraries given
    as such (watched by their own path)."""
    folders: list[Path] = []
    libraries: set[Path] = set()
    for target in targets:
        path = Path(target)
        if path.suffix == ".so" or (path.is_file() and path.suffix != ".py"):
            libraries.add(path.resolve())
            folder = path.resolve().parent
        elif path.is_file():
            folder = path.resolve().parent
        else:
            spec_file = _module_file(target)
            if spec_file is None:
                continue
            folder = spec_file.parent
        if folder not in folders:
            folders.append(folder)
    return folders, libraries


def _module_file(target: str) -> Path | None:
    module = target.partition(":")[0]
    if not module.endswith(".py"):
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return None
        if spec is not None and spec.origin and spec.origin not in ("built-in", "frozen"):
            return Path(spec.origin).resolve()
    path = Path(module)
    return path.resolve() if path.is_file() else None


class _Filter(PythonFilter):
    """Python sources (watchfiles' filter: no caches, no virtualenvs) and the libraries."""

    def __init__(self, libraries: set[Path]) -> None:
        super().__init__()
        self.libraries = {str(p) for p in libraries}

    def __call__(self, change: Change, path: str) -> bool:
        return path in self.libraries or super().__call__(change, path)


class Watcher:
    """Runs ``run_once`` again and again, each time the watched files changed."""

    def __init__(
        self,
        targets: Sequence[str],
        run_once: RunOnce,
        *,
        errors: tuple[type[BaseException], ...] = (),
        err: TextIO | None = None,
        debounce_ms: int = 300,
    ) -> None:
        self.folders, libraries = watched_paths(targets)
        self.filter = _Filter(libraries)
        self.run_once = run_once
        self.errors = errors
        self.err = err or sys.stderr
        self.debounce_ms = debounce_ms
        self.changed = threading.Event()
        self.stopping = threading.Event()
        self.changes: set[str] = set()
        self.session: Session | None = None
        self.lock = threading.Lock()
        self.pending = 0  # changes seen
        self.built = 0  # changes the current run was built after
        self.runs = 0

    def say(self, text: str) -> None:
        """A line of the watch itself on stderr."""
        self.err.write(f"-- {text}\n")
        self.err.flush()

    def _watch(self) -> None:
        for changes in watch(
            *self.folders,
            watch_filter=self.filter,
            stop_event=self.stopping,
            debounce=self.debounce_ms,
            raise_interrupt=False,
        ):
            with self.lock:
                self.changes.update(path for _, path in changes)
                self.pending += 1
                self.changed.set()
            # stop the run under way, again until the main loop has taken the change (the
            # run may be starting: a signal before the engine is up is not seen)
            while not self.stopping.is_set():
                with self.lock:
                    if self.built >= self.pending:
                        break
                    session = self.session
                if session is not None:
                    session.signal(signal.SIGTERM)
                self.stopping.wait(0.1)

    def _on_session(self, session: Session | None) -> None:
        with self.lock:
            self.session = session

    def _run(self) -> int | None:
        """One build and run; None when it failed (reported) and the watch goes on."""
        self.runs += 1
        forget_spaces()  # the build imports the edited code, not the one loaded before
        try:
            return self.run_once(self._on_session)
        except self.errors as exc:
            self.say(f"falco-plugin: {exc}")
            return None

    def _describe_changes(self) -> str:
        with self.lock:
            names = sorted(self.changes)
            self.changes.clear()
            self.changed.clear()
            self.built = self.pending
        shown = ", ".join(Path(n).name for n in names[:3])
        return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    def run(self) -> int:
        """Runs until Ctrl-C (or SIGTERM); returns 130 then."""
        if not self.folders:
            self.say("falco-plugin: --watch found no files of the plugin to watch")
            return 2
        thread = threading.Thread(target=self._watch, name="falco-plugin-watch", daemon=True)
        thread.start()
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while True:
                rc = self._run()
                if rc is not None and rc >= 128 and not self.changed.is_set():
                    return rc  # the user stopped the run (Ctrl-C): the watch ends too
                folders = ", ".join(str(f) for f in self.folders)
                self.say(f"watching {folders} (Ctrl-C to stop)")
                while not self.changed.wait(0.2):
                    pass
                self.say(f"{self._describe_changes()} changed: building and running again")
        except KeyboardInterrupt:
            return 130
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.stopping.set()
            thread.join(timeout=5)
