"""Import spaces: every plugin library gets modules of its own in the shared interpreter.

Several Python plugins share one interpreter inside Falco, and Falco reloads plugins in
place. An :class:`ImportSpace` gives one plugin library its **roots**: the folders its
imports resolve in, in order, each with a mode:

- ``private`` (the plugin's folder; a packager may add vendored pure-Python code): a module
  ``helpers`` found there is loaded as ``<prefix>.helpers``, where the prefix is unique to
  the space. Two plugins that both have a ``helpers.py`` each get their own, and a space
  opened again after :meth:`ImportSpace.close` executes fresh code.
- ``sdk`` (the SDK the plugin was built with): like private, for the ``falco_plugin``
  package only, so every plugin runs on the SDK it was built with, whatever the others use.
- ``shared`` (the site-packages of the environment the plugin was built in): third-party
  packages keep their real names (their compiled code imports itself by name, a shared
  library loads once per process, and ``importlib.metadata`` or pickling need real names).
  A package is loaded once per process; another plugin that finds the same name in another
  folder shares it when it is the same distribution version, and gets a clear
  :class:`SpaceError` otherwise. A plugin never silently gets another environment's version.

Packages with compiled extension modules found in a private root are shared as well.
Standard-library modules are the interpreter's own.

Inside the space, ``import x`` and ``from x import y`` work unchanged: private modules are
executed with builtins whose ``__import__`` maps the names the private roots provide onto
the space's names. Known limit: a dynamic import by absolute name that bypasses the import
statement (``importlib.import_module("helpers")``) does not see private modules; use the
import statement or a relative name (``importlib.import_module(f"{__package__}.helpers")``).

This module uses only the standard library: the C shim embeds its source and runs it to
open the space before any SDK module is imported (the SDK is found through the roots).
"""

from __future__ import annotations

import _imp
import builtins
import collections
import importlib._bootstrap as _bootstrap
import importlib._bootstrap_external as _external
import importlib.machinery as machinery
import os
import re
import sys
import threading
import types
from collections.abc import Iterable

TYPE_CHECKING = False  # typing is not imported at run time: it costs millions of instructions
if TYPE_CHECKING:
    from typing import Any, NamedTuple

# The contract of the process-wide registry of shared packages: spaces made by different SDK
# versions in one process agree on it (bump only with a compatible migration).
REGISTRY_NAME = "_falco_plugin_shared_packages"
REGISTRY_CONTRACT = 1

PRIVATE, SDK, SHARED = "private", "sdk", "shared"  # root modes
HOST, MISSING = "host", "missing"  # names from the interpreter's own sys.path, or nowhere
MODES = (PRIVATE, SDK, SHARED)
SDK_PACKAGE = "falco_plugin"
ORIGIN = "$ORIGIN"  # in a baked root: the folder of the plugin library

_builtin_import = builtins.__import__
# What importlib.util gives, taken where it takes it (the same functions): importlib.util
# imports contextlib, millions of instructions at every plugin start
_cache_from_source = _external.cache_from_source
_spec_from_file_location = _external.spec_from_file_location
_module_from_spec = _bootstrap.module_from_spec
_SOURCE_HASH_KEY = int.from_bytes(_external.MAGIC_NUMBER, "little")  # as importlib.util keys it
_STDLIB = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)
_EXTENSION_SUFFIXES = tuple(machinery.EXTENSION_SUFFIXES)
SOURCE_SUFFIXES = list(machinery.SOURCE_SUFFIXES)


class SpaceError(ImportError):
    """A plugin's modules cannot be imported as its roots say (the message says why)."""


if TYPE_CHECKING:

    class Root(NamedTuple):
        """One folder of an import space and how the names found there are imported."""

        mode: str  # PRIVATE, SDK or SHARED
        path: str

else:
    Root = collections.namedtuple("Root", ["mode", "path"])
    Root.__doc__ = "One folder of an import space and how the names found there are imported."


def format_roots(roots: Iterable[Root]) -> str:
    """Roots as baked into a plugin library: one ``mode=path`` a line."""
    lines = []
    for mode, path in roots:
        if mode not in MODES or "\n" in path or "\0" in path:
            raise ValueError(f"bad import root {mode}={path!r}")
        lines.append(f"{mode}={path}")
    return "\n".join(lines)


def parse_roots(text: str, origin: str = "") -> list[Root]:
    """The roots baked into a library; ``$ORIGIN`` stands for the library's folder."""
    roots = []
    for line in filter(None, text.split("\n")):
        mode, sep, path = line.partition("=")
        if not sep or mode not in MODES:
            raise SpaceError(f"bad import root in the plugin library: {line!r}")
        if path == ORIGIN or path.startswith(ORIGIN + "/"):
            if not origin:
                raise SpaceError(f"import root {path} is relative to an unknown library folder")
            path = origin + path[len(ORIGIN) :]
        roots.append(Root(mode, path))
    return roots


# ------------------------------------------------------------------ loaders of a space


class _InSpace:
    """What every loader of a space does: executes a module with the space's builtins (its
    ``__import__``), and hands every file it reads to the space's checker (a packaged
    library checks its code against the digests recorded when it was packaged: see
    _packaged.py). Mixed in before a file loader of importlib."""

    space_builtins: dict[str, Any] = {}
    checker: Any = None

    def get_data(self, path: str) -> bytes:
        data: bytes = super().get_data(path)  # type: ignore[misc]
        if self.checker is not None:
            self.checker.check(path, data)
        return data

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["__builtins__"] = self.space_builtins
        super().exec_module(module)  # type: ignore[misc]


class _SpaceSourceLoader(_InSpace, machinery.SourceFileLoader):  # type: ignore[misc]  # typeshed: two bases of SourceFileLoader disagree on source_to_code
    """A source file of the space."""


class _FreshSourceLoader(_SpaceSourceLoader):
    """For the plugin's own code: compiled from its source every time a space imports it
    (a timestamp-checked bytecode cache can miss an edit made within the second it was
    cached, and a root daemon should not write caches into the author's folders), unless
    a checked-hash ``.pyc`` (``py_compile --invalidation-mode checked-hash``) matches."""

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        source = self.get_data(path)
        try:
            cached = self.get_data(_cache_from_source(path))
        except (OSError, NotImplementedError, ValueError):
            cached = b""
        flags = int.from_bytes(cached[4:8], "little") if len(cached) >= 16 else 0
        if (
            cached[:4] == _external.MAGIC_NUMBER
            and flags & 0b11 == 0b11  # hash-based, checked against the source
            and cached[8:16] == _imp.source_hash(_SOURCE_HASH_KEY, source)
        ):
            import marshal

            return marshal.loads(memoryview(cached)[16:])
        return self.source_to_code(source, path)


class _SpaceSourcelessLoader(_InSpace, machinery.SourcelessFileLoader):
    """A bytecode-only file of the space (a packaged library's standard library)."""


# ------------------------------------------------------------------ shared packages


class _ClaimFinder:
    """Finds shared packages under their real names in the folder that claimed them (first
    on ``sys.meta_path``), and, last on it, names that shared code imports and nothing else
    provides, in the shared roots of every space (so a shared package finds the packages of
    its own environment). One pair per process."""

    def __init__(self, registry: Any, fallback: bool) -> None:
        self.registry = registry
        self.fallback = fallback

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if path is not None:
            return None
        claim = self.registry.claims.get(fullname)
        if claim is not None:
            return machinery.PathFinder.find_spec(fullname, [claim[0]])
        if not self.fallback or fullname in _STDLIB:
            return None
        for root in list(self.registry.search):
            spec = machinery.PathFinder.find_spec(fullname, [root])
            if spec is not None and spec.loader is not None:
                claim_shared(fullname, root, "a shared package")
                return spec
        return None

    def invalidate_caches(self) -> None:
        pass


def _registry() -> Any:
    """The process-wide registry: claims (shared name -> (folder, plugin)) and the shared
    folders searched for what shared code imports."""
    reg = sys.modules.get(REGISTRY_NAME)
    if reg is not None and getattr(reg, "CONTRACT", None) == REGISTRY_CONTRACT:
        return reg
    if reg is not None:
        raise SpaceError(
            f"another falco_plugin SDK in this process uses shared-package registry contract "
            f"{getattr(reg, 'CONTRACT', '?')}, this one {REGISTRY_CONTRACT}: build the plugins "
            "with SDK versions that can share a process"
        )
    reg = types.ModuleType(REGISTRY_NAME, "Packages shared by the plugins of this process.")
    reg.CONTRACT = REGISTRY_CONTRACT  # type: ignore[attr-defined]
    reg.claims = {}  # type: ignore[attr-defined]
    reg.search = []  # type: ignore[attr-defined]
    reg.lock = threading.RLock()  # type: ignore[attr-defined]
    sys.meta_path.insert(0, _ClaimFinder(reg, fallback=False))
    sys.meta_path.append(_ClaimFinder(reg, fallback=True))
    sys.modules[REGISTRY_NAME] = reg
    return reg


def _normalize(project: str) -> str:
    return re.sub(r"[-_.]+", "_", project).lower()


def distribution_version(root: str, name: str) -> str | None:
    """The version of the distribution in ``root`` that provides top-level module ``name``."""
    try:
        infos = [e for e in os.scandir(root) if e.name.endswith(".dist-info") and e.is_dir()]
    except OSError:
        return None
    for entry in infos:
        project, _, version = entry.name[: -len(".dist-info")].partition("-")
        if _normalize(project) == _normalize(name):
            return version
    for entry in infos:
        for listing in ("top_level.txt", "RECORD"):
            try:
                with open(os.path.join(entry.path, listing), encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            if name in {re.split(r"[/.,]", line, maxsplit=1)[0] for line in lines if line}:
                return entry.name[: -len(".dist-info")].partition("-")[2]
    return None


def _location_root(module: types.ModuleType) -> str | None:
    """The folder a loaded top-level module was found in."""
    paths = list(getattr(module, "__path__", None) or [])
    where = paths[0] if paths else getattr(module, "__file__", None)
    return os.path.dirname(os.path.realpath(where)) if where else None


def _same_dir(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and os.path.realpath(a) == os.path.realpath(b)


def claim_shared(name: str, root: str, label: str) -> None:
    """Let ``name`` (found in ``root`` by plugin ``label``) be imported by its real name.

    Shared when nothing else claimed it, when the same folder provides it, or when the
    other copy is the same distribution version; a SpaceError otherwise.
    """
    reg = _registry()
    with reg.lock:
        held = reg.claims.get(name)
        loaded = sys.modules.get(name)
        other = held[0] if held else (_location_root(loaded) if loaded is not None else None)
        if other is None or _same_dir(other, root):
            reg.claims.setdefault(name, (root, label))
            return
        mine, theirs = distribution_version(root, name), distribution_version(other, name)
        if mine is not None and mine == theirs:
            return
        owner = held[1] if held else "the host"
        raise SpaceError(
            f"plugin {label} needs {name} {mine or '(unknown version)'} from {root}, but "
            f"{owner} already loaded {name} {theirs or '(unknown version)'} from {other}: a "
            "package outside the plugin's own folder exists once per process; build both "
            f"plugins with the same version of {name}"
        )


# ------------------------------------------------------------------ the space


def _has_extension(paths: Iterable[str]) -> bool:
    for top in paths:
        for _folder, _dirs, files in os.walk(top):
            if any(f.endswith(_EXTENSION_SUFFIXES) for f in files):
                return True
    return False


def _prefix_for(label: str) -> str:
    clean = re.sub(r"\W", "_", label)[:40] or "plugin"
    return f"_fp_{clean}_{os.urandom(4).hex()}"


class ImportSpace:
    """The modules of one plugin library: see the module docstring.

    ``host_names`` are top-level names always taken from the interpreter's own modules
    (the build uses it so that the SDK doing the build is the one the plugin subclasses).
    """

    def __init__(
        self,
        label: str,
        roots: Iterable[Root | tuple[str, str]],
        host_names: Iterable[str] = (),
        checker: Any = None,
    ) -> None:
        self.label = label
        self.roots: list[Root] = []
        for mode, path in roots:
            real = Root(mode, os.path.realpath(path))
            if mode not in MODES:
                raise SpaceError(f"unknown import root mode {mode!r}")
            if os.path.isdir(real.path) and real not in self.roots:
                self.roots.append(real)
        self.prefix = _prefix_for(label)
        self._dot = self.prefix + "."
        self._kinds: dict[str, tuple[str, str | None]] = {n: (HOST, None) for n in host_names}
        self._claimed: set[str] = set()
        self._finders: dict[tuple[str, bool], machinery.FileFinder] = {}
        self._lock = threading.RLock()
        self._watched: list[tuple[str, Any]] = []  # see when_imported
        self.builtins = dict(builtins.__dict__)
        self.builtins["__import__"] = self._import
        self._checker = checker
        #: every file the space reads is checked against the digests recorded when the plugin
        #: was packaged: the code is the code its library was made with
        self.checked = checker is not None
        attrs = {"space_builtins": self.builtins, "checker": checker}
        sourceless = (type("Sourceless", (_SpaceSourcelessLoader,), attrs), [".pyc"])
        self._loaders = {  # fresh: the plugin's own code; cached: the SDK
            True: ((type("Fresh", (_FreshSourceLoader,), attrs), SOURCE_SUFFIXES), sourceless),
            False: ((type("Cached", (_SpaceSourceLoader,), attrs), SOURCE_SUFFIXES), sourceless),
        }
        reg = _registry()
        with reg.lock:
            reg.search.extend(r.path for r in self.roots if r.mode == SHARED)
        package = types.ModuleType(self.prefix, f"The import space of plugin {label}.")
        package.__path__ = []  # submodules come from this space's finder only
        package.__package__ = self.prefix
        package.__spec__ = machinery.ModuleSpec(self.prefix, None, is_package=True)
        sys.modules[self.prefix] = package
        sys.meta_path.insert(0, self)
        self.closed = False

    # -------------------------------------------------------------- public API

    def import_module(self, name: str) -> types.ModuleType:
        """Import ``name`` as the plugin's code would, and return that module."""
        module: types.ModuleType = self._import(name, None, None, ("__name__",), 0)
        return module

    def load_file(self, path: str) -> types.ModuleType:
        """Import the plugin file ``path`` as a module of the space (``<prefix>.<stem>``)."""
        stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0]) or "plugin"
        name = self._dot + stem
        module = sys.modules.get(name)
        if module is not None and _same_dir(getattr(module, "__file__", None), path):
            return module
        loader = self._loaders[True][0][0](name, path)
        spec = _spec_from_file_location(name, path, loader=loader)
        if spec is None:
            raise SpaceError(f"cannot load {path}")
        module = _module_from_spec(spec)
        sys.modules[name] = module
        try:
            loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module

    def owns(self, module_name: str) -> bool:
        """True for the names of this space's own modules."""
        return module_name == self.prefix or module_name.startswith(self._dot)

    def close(self) -> None:
        """Forget the space's modules: a space opened later executes fresh code. Shared
        packages stay loaded (a compiled module cannot be unloaded)."""
        if self.closed:
            return
        self.closed = True
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        for name in [n for n in sys.modules if self.owns(n)]:
            sys.modules.pop(name, None)
        logging = sys.modules.get("logging")
        if logging is not None:  # loggers named after the space's modules go with them
            manager = logging.Logger.manager
            with logging._lock:  # logging's own lock (an RLock) on every supported Python
                for name in [n for n in manager.loggerDict if self.owns(n)]:
                    logger = manager.loggerDict.pop(name)
                    for handler in list(getattr(logger, "handlers", ())):
                        logger.removeHandler(handler)

    # -------------------------------------------------------------- import machinery

    def kind_of(self, top: str) -> str:
        """How the top-level name ``top`` is imported in this space: PRIVATE (renamed into
        the space), SHARED (real name, claimed), HOST (the interpreter's own) or MISSING."""
        known = self._kinds.get(top) or self._classify(top)
        if known[0] == SHARED and top not in self._claimed:
            claim_shared(top, known[1] or "", self.label)
            self._claimed.add(top)
        return known[0]

    def _classify(self, top: str) -> tuple[str, str | None]:
        with self._lock:
            known = self._kinds.get(top)
            if known is None:
                known = self._kinds[top] = self._locate(top)
            return known

    def _locate(self, top: str) -> tuple[str, str | None]:
        if top in _STDLIB or not top.isidentifier():
            return HOST, None
        namespace: Root | None = None
        for root in self.roots:
            if root.mode == SDK and top != SDK_PACKAGE:
                continue
            spec = self._file_finder(root.path).find_spec(top)
            if spec is None:
                continue
            if spec.loader is None:  # a namespace portion: a regular package later wins
                namespace = namespace or root
                continue
            return self._mode_of(spec, root)
        if namespace is not None:
            return (SHARED, namespace.path) if namespace.mode == SHARED else (PRIVATE, None)
        # the interpreter's own path (the standard library; a Python host's own folders),
        # never a folder another plugin brought
        return (HOST, None) if machinery.PathFinder.find_spec(top) is not None else (MISSING, None)

    @staticmethod
    def _mode_of(spec: Any, root: Root) -> tuple[str, str | None]:
        if root.mode == SHARED:
            return SHARED, root.path
        folders = [p for p in spec.submodule_search_locations or () if os.path.isdir(p)]
        compiled = str(spec.origin or "").endswith(_EXTENSION_SUFFIXES) or _has_extension(folders)
        return (SHARED, root.path) if compiled else (PRIVATE, None)

    def _private_roots(self, top: str) -> list[str]:
        return [
            r.path
            for r in self.roots
            if r.mode == PRIVATE or (r.mode == SDK and top == SDK_PACKAGE)
        ]

    def _import(
        self,
        name: str,
        globals: Any = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        private = None
        if level == 0 and name:
            top = name.partition(".")[0]
            known = self._kinds.get(top)
            if known is None or (known[0] == SHARED and top not in self._claimed):
                kind = self.kind_of(top)
            else:
                kind = known[0]
            if kind == PRIVATE:
                private = top
            elif kind == MISSING:
                raise ModuleNotFoundError(
                    f"No module named {top!r} in the import roots of plugin {self.label}"
                    + self._hint(top),
                    name=top,
                )
        if private is not None:
            module = _builtin_import(self._dot + name, globals, locals, fromlist, 0)
            if not fromlist:
                module = sys.modules[self._dot + private]
        elif self._checker is None:
            module = _builtin_import(name, globals, locals, fromlist, level)
        else:
            try:
                module = _builtin_import(name, globals, locals, fromlist, level)
            except ModuleNotFoundError as exc:
                if getattr(exc, "falco_plugin_hint", False) or not exc.name:
                    raise
                hinted = ModuleNotFoundError(f"{exc.msg}{self._hint(exc.name)}", name=exc.name)
                hinted.falco_plugin_hint = True  # type: ignore[attr-defined]
                raise hinted from None
        if self._watched and not self._in_half_made_sdk_module(globals):
            self._seen_imports()
        return module

    def _in_half_made_sdk_module(self, globals: Any) -> bool:
        """Whether an import statement runs in a module of the SDK that is still being
        imported: the callbacks of :meth:`when_imported` may need that module (the runtime's
        logging start needs the SDK's logs module, which imports logging), so they wait for
        the statement that imports it."""
        name = globals.get("__name__", "") if globals else ""
        sdk = self._dot + SDK_PACKAGE
        if name != sdk and not name.startswith(sdk + "."):
            return False
        return bool(getattr(globals.get("__spec__"), "_initializing", False))

    def when_imported(self, name: str, callback: Any) -> None:
        """Call ``callback()`` once the module ``name`` is imported: at once when it is, else
        after the import statement of the space's code that brings it, or, when that
        statement is in an SDK module still being imported, after the statement importing
        that module (the runtime starts logging then: a plugin that never logs starts
        without ``logging``)."""
        with self._lock:
            self._watched.append((name, callback))
        self._seen_imports()

    def _seen_imports(self) -> None:
        with self._lock:
            ready = [w for w in self._watched if w[0] in sys.modules]
            self._watched = [w for w in self._watched if w[0] not in sys.modules]
        for _name, callback in ready:
            callback()

    def _hint(self, name: str) -> str:
        """How to add a missing module, for a packaged library."""
        return f": {self._checker.missing_hint(name)}" if self._checker is not None else ""

    def _file_finder(self, folder: str, fresh: bool = True) -> machinery.FileFinder:
        finder = self._finders.get((folder, fresh))
        if finder is None:
            if self._checker is None:
                finder = machinery.FileFinder(folder, *self._loaders[fresh])
            else:
                finder = self._checker.finder(folder, *self._loaders[fresh])
            self._finders[(folder, fresh)] = finder
        return finder

    def _find(self, fullname: str, entries: Iterable[str]) -> Any:
        """The spec of ``fullname`` (its last part looked up) in ``entries``, like PathFinder."""
        portions: list[str] = []
        tail = fullname[len(self._dot) :] if fullname.startswith(self._dot) else fullname
        fresh = tail.partition(".")[0] != SDK_PACKAGE
        for entry in entries:
            if not isinstance(entry, str) or not os.path.isdir(entry):
                continue
            spec = self._file_finder(entry, fresh).find_spec(fullname)
            if spec is None:
                continue
            if spec.loader is not None:
                return spec
            portions.extend(spec.submodule_search_locations or [])
        if portions:
            spec = machinery.ModuleSpec(fullname, None, is_package=True)
            spec.submodule_search_locations = portions
            return spec
        return None

    # sys.meta_path protocol: the space's own names
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not fullname.startswith(self._dot) or self.closed:
            return None
        tail = fullname[len(self._dot) :]
        if "." not in tail:
            if self.kind_of(tail) != PRIVATE:
                return None
            path = self._private_roots(tail)
        return self._find(fullname, path or ())

    def invalidate_caches(self) -> None:
        for finder in self._finders.values():
            finder.invalidate_caches()

    def find_distributions(self, context: Any = None) -> Any:
        """``importlib.metadata`` asked from the space's code looks in the space's roots."""
        if self.closed or not self._caller_inside():
            return iter(())
        from importlib.metadata import DistributionFinder, MetadataPathFinder

        name = getattr(context, "name", None)
        paths = [r.path for r in self.roots]
        return MetadataPathFinder.find_distributions(
            DistributionFinder.Context(name=name, path=paths)
        )

    def _caller_inside(self) -> bool:
        frame = sys._getframe(1)
        for _ in range(64):
            if frame is None:
                return False
            if self.owns(frame.f_globals.get("__name__", "")):
                return True
            frame = frame.f_back  # type: ignore[assignment]
        return False

    def __repr__(self) -> str:
        return f"<ImportSpace {self.prefix} of {self.label}>"


# ------------------------------------------------------------------ the host's signals

# What changes the process's signal dispositions (or sends it signals it does not handle).
SIGNAL_SETTERS = ("signal", "siginterrupt", "set_wakeup_fd", "alarm", "setitimer")


def lock_signals() -> None:
    """Refuse Python's ways to change signal dispositions, in the whole interpreter.

    Called by the shim in an interpreter it started (every line of Python there is plugin
    code): Falco stops on SIGTERM and reloads on SIGHUP through its own handlers, and a
    plugin that took one would keep Falco from stopping. Blocking signals in a thread
    (``pthread_sigmask``) stays allowed: the process still gets them.
    """
    import _signal  # type: ignore[import-not-found]

    _refuse_setters(_signal)
    if "signal" in sys.modules:
        _refuse_setters(sys.modules["signal"])
    elif not any(isinstance(f, _SignalHook) for f in sys.meta_path):
        # importing the signal module makes its enums (millions of instructions at every
        # plugin start): it is refused once something imports it
        sys.meta_path.insert(0, _SignalHook())


def _refuse_setters(module: Any) -> None:
    for name in SIGNAL_SETTERS:
        current = getattr(module, name, None)
        if current is None or getattr(current, "__falco_plugin_refused__", False):
            continue
        setattr(module, name, _refusal(name))


class _FirstImportHook:
    """First on ``sys.meta_path`` until the module ``name`` is imported: the spec the other
    finders give it, with the loader :meth:`wrap` makes of theirs."""

    name = ""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                break
        if spec is not None and spec.loader is not None:
            spec.loader = self.wrap(spec.loader)
        return spec

    def wrap(self, loader: Any) -> Any:
        raise NotImplementedError

    def invalidate_caches(self) -> None:
        pass


class _SignalHook(_FirstImportHook):
    """Until the signal module is imported: its loader refuses its setters once it has run
    (until then, its functions that call _signal's are refused there)."""

    name = "signal"

    def wrap(self, loader: Any) -> Any:
        return _RefusingLoader(loader)


class _RefusingLoader:
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.loader.exec_module(module)
        _refuse_setters(module)


def _refusal(name: str) -> Any:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"signal.{name}() is refused inside a Falco plugin: the host owns the process's "
            "signals (Falco stops on SIGTERM and reloads on SIGHUP with its own handlers)"
        )

    refused.__falco_plugin_refused__ = True  # type: ignore[attr-defined]
    refused.__name__ = name
    return refused


# ------------------------------------------------------------------ deferred standard modules

#: Standard modules that run at their first use, not at their import, in an interpreter a
#: plugin library started. ``inspect`` (with the ast, dis and tokenize modules it imports,
#: about 40 M instructions, a third of a plugin's start) is imported by ``dataclasses``, which
#: on Python 3.10 and 3.11 uses it only to write the docstring of a dataclass that has none.
#: Python 3.12 calls ``inspect.get_annotations`` for every dataclass: nothing to save there.
DEFERRED = ("inspect",) if sys.version_info < (3, 12) else ()


def defer_imports(names: Iterable[str] = DEFERRED) -> None:
    """Let the modules ``names``, when imported from now on, run at their first use.

    Called by the shim in an interpreter it started. The first import of such a module
    gives a module object whose code has not run: the first access to any of its attributes
    (or a change, or another import statement of it) runs the code in that same object, once
    (other threads wait for it), and turns it into a plain module. What its user sees then
    is the module an ordinary import makes (same object, same attributes, same loader). A
    failure of that run propagates from the access and frees the name, as a failed import
    does. Before its first use, ``type(module)`` is a subclass of ``types.ModuleType``.
    """
    for name in names:
        if name not in sys.modules and not any(
            isinstance(f, _DeferringHook) and f.name == name for f in sys.meta_path
        ):
            sys.meta_path.insert(0, _DeferringHook(name))


class _DeferringHook(_FirstImportHook):
    """Until the module ``name`` is imported: its loader defers running it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def wrap(self, loader: Any) -> Any:
        return _DeferringLoader(loader) if hasattr(loader, "exec_module") else loader


class _DeferringLoader:
    """Wraps a module's loader: creates the module, and runs it at its first use."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.lock = threading.RLock()
        self.running = False  # by the thread holding the lock (it may touch the module)

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        if type(module) is not types.ModuleType:  # a module of its own type: run it now
            self._forget(module)
            self.loader.exec_module(module)
            return
        deferred = type(module.__name__, (_DeferredModule,), {"_falco_plugin_loader": self})
        module.__class__ = deferred

    def run(self, module: types.ModuleType) -> None:
        """Run the module's code (once: other threads wait, and this thread, inside that
        code, touches the module as it is)."""
        with self.lock:
            if self.running or type(module) is types.ModuleType:
                return
            self.running = True
            try:
                self._forget(module)
                self.loader.exec_module(module)
                object.__setattr__(module, "__class__", types.ModuleType)
            except BaseException:
                name = types.ModuleType.__getattribute__(module, "__name__")
                if sys.modules.get(name) is module:
                    del sys.modules[name]  # as a failed import: the next one starts again
                raise
            finally:
                self.running = False

    def _forget(self, module: types.ModuleType) -> None:
        """The module's loader is the real one again, as an ordinary import leaves it."""
        namespace = types.ModuleType.__getattribute__(module, "__dict__")
        spec = namespace.get("__spec__")
        if getattr(spec, "loader", None) is self:
            spec.loader = self.loader
        if namespace.get("__loader__") is self:
            namespace["__loader__"] = self.loader


class _DeferredModule(types.ModuleType):
    """A module whose code has not run yet (see :func:`defer_imports`)."""

    _falco_plugin_loader: _DeferringLoader

    def __getattribute__(self, name: str) -> Any:
        type(self)._falco_plugin_loader.run(self)
        return types.ModuleType.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        type(self)._falco_plugin_loader.run(self)
        types.ModuleType.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        type(self)._falco_plugin_loader.run(self)
        types.ModuleType.__delattr__(self, name)


# ------------------------------------------------------------------ the shim's entry point


def setup_interpreter() -> None:
    """What the shim sets up in an interpreter it started (all the Python there is plugin
    code): the host keeps its signals, and the modules :data:`DEFERRED` run at first use."""
    lock_signals()
    defer_imports()


def running_abi() -> str:
    """The ABI tag (SOABI) of the interpreter this code runs in."""
    for suffix in machinery.EXTENSION_SUFFIXES:
        if suffix.startswith(".cpython-") and suffix.endswith(".so"):
            return suffix[1:-3]
    return ""


def open_runtime(
    label: str, roots: str, origin: str, protocol: int, abi: str = "", checker: Any = None
) -> tuple[ImportSpace, Any]:
    """Open the space of a plugin library and import the SDK runtime in it.

    Called by the C shim with its baked roots (``mode=path`` lines, ``$ORIGIN`` = the
    library's folder ``origin``); the shim was built for the interpreter ABI ``abi`` and
    runtime ``protocol``: the interpreter must have that ABI, and the runtime found through
    the roots must speak that protocol. A packaged library gives the ``checker`` its code
    is checked with (``check(path, data)`` raises on a file that is not as packaged).
    """
    if abi and running_abi() != abi:
        raise SpaceError(
            f"the plugin library was built for the Python ABI {abi}, but this process runs "
            f"Python {sys.version.split()[0]} with the ABI {running_abi() or 'unknown'}: "
            "rebuild the plugin with the interpreter it runs in"
        )
    space = ImportSpace(label, parse_roots(roots, origin), checker=checker)
    try:
        try:
            runtime = space.import_module(SDK_PACKAGE + "._runtime")
        except Exception as exc:
            where = ", ".join(f"{m}={p}" for m, p in space.roots) or "none of them exists"
            raise SpaceError(
                f"cannot import the falco_plugin SDK from the plugin's import roots ({where}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        found = getattr(runtime, "PROTOCOL", 1)
        if found != protocol:
            sdk = sys.modules.get(space.prefix + "." + SDK_PACKAGE)
            version = getattr(sdk, "__version__", "?")
            where = os.path.dirname(os.path.dirname(str(getattr(runtime, "__file__", "?"))))
            raise SpaceError(
                f"the plugin library speaks falco_plugin runtime protocol {protocol}, but the "
                f"SDK it found (falco_plugin {version} in {where}) speaks protocol {found}: "
                "rebuild the plugin with that SDK (falco-plugin build)"
            )
    except BaseException:
        space.close()
        raise
    return space, runtime
