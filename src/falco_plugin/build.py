"""``falco-plugin build``: a Python plugin class in, ``lib<NAME>.so`` out.

Imports the plugin in this interpreter to validate it and compute its static facts,
writes them into ``fp_meta.h`` next to a copy of the generic shim, and compiles the shim
against this interpreter's headers and libpython. The ``.so`` records this interpreter
and the roots of the plugin's import space (its folder, the SDK, the site-packages of this
environment: see ``_space.py``), whose source it embeds to open that space in ``plugin_init``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import keyword
import marshal
import os
import py_compile
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable
from pathlib import Path

from . import _runtime, _space, libpython
from ._cache import cache_dir
from .loader import PluginRef, import_roots, load_class
from .validate import PluginMeta, baked_facts, plugin_meta

NATIVE_DIR = Path(__file__).parent / "_native"
STDLIB_NAMES = frozenset(sys.stdlib_module_names)
SPACE_SOURCE = Path(_space.__file__).read_text(encoding="utf-8")
SPACE_FILENAME = "<falco_plugin._space, baked>"


class BuildError(Exception):
    """The plugin could not be compiled; the message holds the compiler's output."""


def inspect_plugin(target: str) -> PluginMeta:
    """Load ``path.py[:Class]`` or ``module:Class`` and validate it."""
    ref = PluginRef.parse(target)
    return plugin_meta(load_class(ref), ref)


def c_string(value: str) -> str:
    """A C string literal holding ``value`` as UTF-8 (escapes everything non-printable)."""
    out = []
    for byte in value.encode():
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F and ch != "?":  # '?' escaped: no trigraphs
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_array(values: Iterable[int]) -> str:
    """A C array initializer, with a trailing 0 so that it is never empty."""
    return "{" + "".join(f"{v}, " for v in values) + "0}"


def c_bytes(data: bytes) -> str:
    """A C array initializer of bytes, 24 a line."""
    rows = [", ".join(str(b) for b in data[i : i + 24]) for i in range(0, len(data), 24)]
    return "{" + ",\\\n    ".join(rows) + "}"


def space_code() -> bytes:
    """The import-space bootstrap (``_space.py``) compiled by this interpreter, marshalled:
    the library runs it without compiling at init (it checks the bytecode magic first)."""
    return marshal.dumps(compile(SPACE_SOURCE, SPACE_FILENAME, "exec", dont_inherit=True))


def meta_header(
    meta: PluginMeta, roots: list[_space.Root], extra: dict[str, str] | None = None
) -> str:
    """The generated fp_meta.h for one plugin; ``extra`` adds or replaces definitions (a
    packaged library's, see ``package``)."""
    defines = {
        "FP_META_NAME": c_string(meta.name),
        "FP_META_VERSION": c_string(meta.version),
        "FP_META_DESCRIPTION": c_string(meta.description),
        "FP_META_CONTACT": c_string(meta.contact),
        "FP_META_REQUIRED_API": c_string(meta.required_api_version),
        "FP_HAS_INIT_SCHEMA": str(int(bool(meta.init_schema))),
        "FP_META_INIT_SCHEMA": c_string(meta.init_schema),
        "FP_HAS_SOURCE": str(int(meta.has_source)),
        "FP_META_ID": f"{meta.plugin_id}u",
        "FP_META_EVENT_SOURCE": c_string(meta.event_source),
        "FP_HAS_SET_CONFIG": str(int(meta.hooks["set_config"])),
        "FP_HAS_METRICS": str(int(meta.hooks["get_metrics"])),
        "FP_HAS_LIST_OPEN_PARAMS": str(int(meta.hooks["list_open_params"])),
        "FP_HAS_EVENT_TO_STRING": str(int(meta.hooks["event_to_string"])),
        "FP_HAS_PROGRESS": str(int(meta.hooks["get_progress"])),
        "FP_HAS_EXTRACT": str(int(meta.has_extract)),
        "FP_META_FIELDS": c_string(meta.fields_json),
        "FP_NUM_FIELDS": str(len(meta.fields)),
        "FP_FIELD_TYPES": c_array(f.ftype for f in meta.fields),
        "FP_FIELD_LISTS": c_array(int(f.is_list) for f in meta.fields),
        "FP_FIELD_NAMES": "{" + "".join(f"{c_string(f.name)}, " for f in meta.fields) + "NULL}",
        "FP_META_FACTS": c_bytes(baked_facts(meta)),
        "FP_HAS_EXTRACT_SOURCES": str(int(meta.extract_sources is not None)),
        "FP_META_EXTRACT_SOURCES": c_string(json.dumps(meta.extract_sources or [])),
        "FP_NUM_EXTRACT_TYPES": str(len(meta.extract_types or [])),
        "FP_EXTRACT_TYPES": "{" + ", ".join(str(t) for t in meta.extract_types or [0]) + "}",
        "FP_EXTRACT_OFFSETS": str(int(meta.offsets)),
        "FP_HAS_PARSE": str(int(meta.has_parse)),
        "FP_HAS_PARSE_SOURCES": str(int(meta.parse_sources is not None)),
        "FP_META_PARSE_SOURCES": c_string(json.dumps(meta.parse_sources or [])),
        "FP_NUM_PARSE_TYPES": str(len(meta.parse_types or [])),
        "FP_PARSE_TYPES": "{" + ", ".join(str(t) for t in meta.parse_types or [0]) + "}",
        "FP_HAS_ASYNC": str(int(meta.has_async)),
        "FP_META_ASYNC_EVENTS": c_string(json.dumps(meta.async_events)),
        "FP_ASYNC_NAMES": "{"
        + ", ".join([*(c_string(n) for n in meta.async_events), "NULL"])
        + "}",
        "FP_HAS_ASYNC_SOURCES": str(int(meta.async_sources is not None)),
        "FP_META_ASYNC_SOURCES": c_string(json.dumps(meta.async_sources or [])),
        "FP_HAS_DUMP_STATE": str(int(meta.hooks.get("dump_state", False))),
        "FP_HAS_LISTEN": str(int(meta.has_listen)),
        "FP_WANTS_TABLES": str(int(meta.uses_tables)),
        "FP_HAS_EVENT_SCHEMA_VERSION": str(int(bool(meta.event_schema_version))),
        "FP_META_EVENT_SCHEMA_VERSION": c_string(meta.event_schema_version),
        "FP_PY_EXECUTABLE": c_string(python_executable()),
        "FP_MODULE_FILE": c_string(plugin_module(meta.ref)[0]),
        "FP_MODULE_NAME": c_string(plugin_module(meta.ref)[1]),
        "FP_CLASS_NAME": c_string(meta.class_name),
        "FP_IMPORT_ROOTS": c_string(_space.format_roots(roots)),
        "FP_RUNTIME_PROTOCOL": str(_runtime.PROTOCOL),
        "FP_PY_SOABI": c_string(interpreter_abi()),
        "FP_SPACE_CODE": c_bytes(space_code()),
        "FP_PY_MAGIC": c_bytes(importlib.util.MAGIC_NUMBER),
    }
    defines.update(extra or {})
    lines = [
        "/* Generated by falco-plugin build: the static facts of one plugin. Do not edit. */",
        "#pragma once",
    ]
    lines += [f"#define {key} {value}" for key, value in defines.items()]
    return "\n".join(lines) + "\n"


def plugin_module(ref: PluginRef) -> tuple[str, str]:
    """(file, module name) the library imports its plugin from: a plugin file whose name is
    a module name is imported by that name through the roots (so the library and its code
    can move together); other files by their path."""
    if not ref.module_file:
        return "", ref.module_name
    stem = os.path.splitext(os.path.basename(ref.module_file))[0]
    if stem.isidentifier() and not keyword.iskeyword(stem) and stem not in STDLIB_NAMES:
        return "", stem
    return ref.module_file, ""


def python_executable() -> str:
    """This interpreter, as an absolute path that keeps its virtualenv (no symlink resolving)."""
    return os.path.abspath(sys.executable)


def interpreter_abi() -> str:
    """This interpreter's full ABI tag (SOABI, e.g. ``cpython-311-x86_64-linux-gnu``): the
    library checks at init that the interpreter it runs in has the same."""
    return str(sysconfig.get_config_var("SOABI") or "")


def check_interpreter() -> None:
    """Refuse interpreters the shim cannot run in, with the reason."""
    exe = python_executable()
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise BuildError(
            f"{exe} has no shared libpython: build plugins with a Python "
            "configured with --enable-shared (most distribution and pyenv builds are)"
        )
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        raise BuildError(
            f"{exe} is a free-threaded build (Py_GIL_DISABLED): the plugin shim relies on "
            "the GIL; build plugins with a regular CPython"
        )
    if sysconfig.get_config_var("Py_DEBUG"):
        raise BuildError(
            f"{exe} is a debug build (Py_DEBUG): its ABI differs and its assertions would "
            "abort Falco; build plugins with a release CPython"
        )
    if not interpreter_abi():
        raise BuildError(f"{exe} reports no ABI tag (SOABI): not a CPython the SDK supports")


def compile_command(
    cc: str, source: Path, include: Path, output: Path, link: list[str] | None = None
) -> list[str]:
    """The compiler invocation for the shim, linked against this interpreter's libpython
    (``link``: how; default: :func:`libpython.development_link`). NDEBUG: an assert() in
    Python's inline headers must never abort the host."""
    check_interpreter()
    return [
        *shlex.split(cc),
        "-O2",
        "-g0",
        "-DNDEBUG",
        "-fPIC",
        "-shared",
        "-fvisibility=hidden",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers",
        "-Wno-cast-function-type",
        f"-I{include}",
        f"-I{NATIVE_DIR}",
        f"-I{sysconfig.get_paths()['include']}",
        *shlex.split(os.environ.get("FALCO_PLUGIN_CFLAGS", "")),  # e.g. sanitizers
        str(source),
        "-o",
        str(output),
        *(libpython.development_link(cc) if link is None else link),
    ]


def build(
    target: str,
    output: str | os.PathLike[str] | None = None,
    *,
    cc: str | None = None,
    roots: list[_space.Root] | None = None,
) -> Path:
    """Build the plugin ``target`` into a shared library; returns its path.

    ``roots`` replaces the import roots baked in (default: :func:`loader.import_roots`);
    a path may start with ``$ORIGIN``, the folder the library is loaded from. The plugin
    file's bytecode is written beside it once the library is built (a failed build leaves
    nothing in the author's folder).
    """
    meta = inspect_plugin(target)
    built = _compile(meta, output_path(meta, output), cc, roots)
    write_bytecode(meta)
    return built


def write_bytecode(meta: PluginMeta) -> None:
    """Write the bytecode of the plugin's file beside it (``__pycache__``, as ``py_compile``
    does), hash-checked: the library's init loads it instead of compiling the file, and only
    while it matches the file's source (an edited file is compiled again at init). Nothing
    is written when the file is a module found by name, or its folder cannot take it."""
    path = meta.ref.module_file
    if not path:
        return
    try:
        cached = importlib.util.cache_from_source(path)
        with open(path, "rb") as source, open(cached, "rb") as pyc:
            header, code = pyc.read(16), source.read()
        flags = int.from_bytes(header[4:8], "little")
        if (
            header[:4] == importlib.util.MAGIC_NUMBER
            and flags == 0b11
            and header[8:16] == importlib.util.source_hash(code)
        ):
            return  # written already, for this source
    except (OSError, ValueError, NotImplementedError):
        pass
    try:
        py_compile.compile(
            path, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
        )
    except (OSError, py_compile.PyCompileError):
        pass  # a read-only folder: the library compiles the file at init, as before


def output_path(meta: PluginMeta, output: str | os.PathLike[str] | None) -> Path:
    """Where ``build -o OUTPUT`` writes: OUTPUT, or ``OUTPUT/lib<NAME>.so`` for a folder
    (default: the current one). Refuses to write over the plugin's source, a Python file
    or any existing file that is not a shared library."""
    out = Path(output) if output is not None else Path.cwd()
    if out.is_dir():
        out = out / f"lib{meta.name}.so"
    out = out.resolve()
    source = meta.ref.module_file
    if source and os.path.exists(source) and out.exists() and os.path.samefile(out, source):
        raise BuildError(f"refusing to write the library over the plugin's source {source}")
    if out.suffix == ".py":
        raise BuildError(f"refusing to write the library to {out}: give a .so path or a folder")
    if out.exists() and not _is_shared_library(out):
        raise BuildError(f"refusing to overwrite {out}: it is not a shared library")
    return out


def _is_shared_library(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def native_sources() -> list[Path]:
    """Every file the shim is compiled from (the cache key covers them all)."""
    return sorted(p for p in NATIVE_DIR.iterdir() if p.suffix in (".c", ".h"))


def build_cached(target: str, *, cc: str | None = None) -> Path:
    """Build into the cache, reusing an earlier build with the same static facts and shim.

    The plugin's Python code is loaded at init, so only its static facts (and the SDK's C
    sources) decide whether the library must be rebuilt; the bytecode beside the plugin's
    file is brought up to date on a reused library too (an edited method body reuses it).
    """
    meta = inspect_plugin(target)
    digest = hashlib.sha256()
    digest.update(meta_header(meta, import_roots(meta.ref)).encode())
    for path in native_sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update((cc or os.environ.get("CC") or "cc").encode())
    digest.update(os.environ.get("FALCO_PLUGIN_CFLAGS", "").encode())
    for name in ("LIBDIR", "LDVERSION", "INSTSONAME"):  # the libpython it links
        digest.update(f"{name}={sysconfig.get_config_var(name)}\0".encode())
    digest.update(f"static={libpython.archive_key()}\0".encode())
    digest.update(sys.version.encode())
    out = cache_dir() / "plugins" / digest.hexdigest()[:20] / f"lib{meta.name}.so"
    built = out if out.is_file() else _compile(meta, out, cc)
    write_bytecode(meta)
    return built


def _compile(
    meta: PluginMeta,
    out: Path,
    cc: str | None,
    roots: list[_space.Root] | None = None,
    *,
    extra: dict[str, str] | None = None,
    link: list[str] | None = None,
) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(f"cannot create the folder of {out}: {exc.strerror}") from None
    compiler = cc or os.environ.get("CC") or "cc"
    with tempfile.TemporaryDirectory(prefix="falco-plugin-build-") as tmp:
        workdir = Path(tmp)
        header = meta_header(meta, import_roots(meta.ref) if roots is None else roots, extra)
        (workdir / "fp_meta.h").write_text(header)
        tmp_out = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        cmd = compile_command(compiler, NATIVE_DIR / "shim.c", workdir, tmp_out, link)
        if shutil.which(shlex.split(compiler)[0]) is None:
            raise BuildError(f"C compiler {compiler!r} not found (set CC)")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tmp_out.unlink(missing_ok=True)
            raise BuildError(f"compiling the shim failed:\n{shlex.join(cmd)}\n{proc.stderr}")
        # rename, never overwrite in place: a running host may have the old file mapped
        try:
            os.replace(tmp_out, out)
        except OSError as exc:
            tmp_out.unlink(missing_ok=True)
            raise BuildError(f"cannot write {out}: {exc.strerror}") from None
    return out
