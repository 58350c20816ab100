"""The ``falco-plugin`` command: build a plugin, run it through the SDK's host, describe it."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .build import BuildError, build, build_cached
from .loader import PluginLoadError
from .project import ProjectError, find_project
from .scaffold import ScaffoldError, add_new_command
from .validate import PluginDefinitionError

if TYPE_CHECKING:
    from .host.engine import Session

ELF_MAGIC = b"\x7fELF"


def plugin_library(target: str) -> Path:
    """A built library as given (a ``.so``, or any ELF shared object), or the cached build
    of a Python plugin (``file.py[:Class]`` or ``module:Class``)."""
    path = Path(target)
    if path.is_file():
        with path.open("rb") as f:
            magic = f.read(4)
        if magic == ELF_MAGIC:
            return path.resolve()
        if path.suffix == ".so":
            raise FileNotFoundError(
                f"{target} is not a plugin library: it is not an ELF shared object"
            )
        if path.suffix != ".py":
            raise FileNotFoundError(
                f"{target} is neither a plugin library (an ELF shared object, lib<name>.so) "
                "nor a Python plugin file (.py)"
            )
    elif path.suffix == ".so":
        raise FileNotFoundError(f"no such plugin library: {target}")
    return build_cached(target)


def cmd_build(args: argparse.Namespace) -> int:
    """``falco-plugin build``: the plugin (or the project's) into a library; prints its path."""
    out = build(args.plugin or find_project().target, args.output)
    print(out)
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    """``falco-plugin package``: the plugin (or the project's) and its rules, packaged."""
    from .package import package, package_info

    project = None if args.plugin else find_project()
    target = args.plugin or project.target  # type: ignore[union-attr]
    rules = args.rules or (project.rules_files if project else [])
    pkg = package(
        target, args.output, include=args.include or (), libpython=args.libpython, rules=rules
    )
    info = package_info(pkg)
    if args.metadata:
        Path(args.metadata).write_text(json.dumps(pkg.artifacts, indent=1) + "\n")
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(pkg.tarball)
    if pkg.rules_tarball:
        print(pkg.rules_tarball)
    print(
        f"{pkg.files} files, {pkg.size / 1e6:.1f} MB; Python {info['python']} "
        f"({pkg.libpython} libpython), {pkg.arch}, glibc >= {pkg.min_glibc}",
        file=sys.stderr,
    )
    for artifact in pkg.artifacts.values():
        print(f"push: {artifact['push']}", file=sys.stderr)  # type: ignore[index]
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``falco-plugin run``: one run, or with ``--watch`` a run after every change."""
    if not args.plugin and not args.capture:
        print("falco-plugin run: give a plugin, or --capture FILE.scap", file=sys.stderr)
        return 2
    if args.async_until and not args.async_wait:
        print("falco-plugin run: --async-until needs --async-wait MS", file=sys.stderr)
        return 2
    if args.watch:
        from .host import HostBuildError
        from .watch import Watcher  # the watch and the display: only for `run`

        targets = [*args.plugin, *(args.extractor or [])]
        errors = (*USER_ERRORS, HostBuildError)
        watcher = Watcher(targets, lambda started: run_once(args, started), errors=errors)
        return watcher.run()
    return run_once(args)


def run_once(
    args: argparse.Namespace, on_session: Callable[[Session | None], None] | None = None
) -> int:
    """One ``falco-plugin run``: build what needs it, run, show the events and the counts."""
    from .host import HostCommand, PluginArgs, run_streaming
    from .host.options import field_list
    from .runview import TICK_MS, RunView, wants_live_display

    plugins = [
        PluginArgs(str(plugin_library(path)), args.config if i == 0 else None,
                   args.open_params if i == 0 else None)
        for i, path in enumerate(args.plugin)
    ]  # fmt: skip
    configs = args.extractor_config or []
    for i, extractor in enumerate(args.extractor or []):
        config = configs[i] if i < len(configs) else None
        plugins.append(PluginArgs(str(plugin_library(extractor)), config))
    live = wants_live_display(sys.stderr, disabled=args.no_progress)
    cmd = HostCommand(
        "run",
        plugins,
        json=True,
        max_events=args.max_events,
        fields=field_list(args.fields) if args.fields else [],
        output=args.output,
        filter=args.filter,
        thread_tid=args.thread_tid,
        async_wait=args.async_wait or 0,
        async_until=args.async_until or 0,
        progress_every=TICK_MS if live else 0,
        capture=args.capture,
    )
    sessions: list[Session | None] = [None]

    def started(session: Session | None) -> None:
        sessions[0] = session
        if on_session is not None:
            on_session(session)

    def stop() -> None:  # stdout's reader is gone (`run ... | head`): end the captures
        if sessions[0] is not None:
            sessions[0].signal(signal.SIGTERM)

    with RunView(json_lines=args.json, live=live, on_closed_output=stop) as view:
        rc = run_streaming(cmd, stdout=view.on_record, stderr=view.on_message, on_session=started)
    view.print_counts()
    return 128 + signal.SIGPIPE if view.output_closed else rc


def cmd_info(args: argparse.Namespace) -> int:
    """``falco-plugin info``: what ``falco --plugin-info`` would print."""
    from .host import HostCommand, PluginArgs, run_streaming

    library = plugin_library(args.plugin)
    return run_streaming(HostCommand("info", [PluginArgs(str(library))], json=args.json))


def non_negative(text: str) -> int:
    """An argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative (0 means no limit)")
    return value


def parser() -> argparse.ArgumentParser:
    """The command line of ``falco-plugin`` (argparse)."""
    p = argparse.ArgumentParser(prog="falco-plugin", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build PLUGIN (file.py[:Class] or module:Class) into a .so")
    b.add_argument(
        "plugin", nargs="?", help="default: the plugin of the project here (pyproject.toml)"
    )
    b.add_argument("-o", "--output", help="the library, or a folder for lib<NAME>.so (default: .)")
    b.set_defaults(func=cmd_build)

    k = sub.add_parser(
        "package",
        help="package PLUGIN with everything it runs on (Python included) into a tarball that "
        "runs where Falco runs, with no Python there",
    )
    k.add_argument(
        "plugin", nargs="?", help="default: the plugin of the project here (pyproject.toml)"
    )
    k.add_argument("-o", "--output", help="the tarball (default: ./NAME-VERSION-ARCH.tar.gz)")
    k.add_argument(
        "--include",
        action="append",
        metavar="MODULE|FILE",
        help="a module the import analysis cannot see, or a data file of the plugin's folder "
        "(repeatable; also [tool.falco-plugin] include in pyproject.toml)",
    )
    k.add_argument(
        "--libpython",
        choices=("auto", "static", "shared"),
        default="auto",
        help="link the static libpython into the library, or ship the shared one beside it "
        "(auto: static when this interpreter's links)",
    )
    k.add_argument(
        "--rules",
        action="append",
        metavar="FILE.yaml",
        help="also package rules files as NAME-rules-VERSION.tar.gz (falcoctl's rulesfile; "
        "repeatable; default in a project: its rules)",
    )
    k.add_argument(
        "--metadata",
        metavar="FILE.json",
        help="write what falcoctl pushes per artifact (config layer, platform, push command)",
    )
    k.add_argument("--json", action="store_true", help="print what was made as JSON")
    k.set_defaults(func=cmd_package)

    r = sub.add_parser("run", help="run a capture through the SDK's host and print the events")
    r.add_argument(
        "plugin",
        nargs="*",
        help="built .so files, or plugin files/modules (built on the fly); the first is the "
        "event source, unless --capture gives the events",
    )
    r.add_argument(
        "--capture",
        metavar="FILE.scap",
        help="replay a scap capture (as Falco's replay engine does) into the plugins, which "
        "parse and extract its syscall events with libsinsp's threads table",
    )
    r.add_argument("--config", help="init config (JSON for plugins with a typed config)")
    r.add_argument("--open-params", help="the open params string")
    r.add_argument(
        "--max-events", type=non_negative, default=0, help="stop after N events (0: no limit)"
    )
    r.add_argument("--json", action="store_true", help="print the host's JSON lines")
    r.add_argument("--fields", help="comma-separated fields to print, e.g. countdown.remaining")
    r.add_argument("--output", help="an output format like Falco's, e.g. '%%countdown.text'")
    r.add_argument("--filter", help="only events matching, e.g. 'countdown.remaining > 3'")
    r.add_argument(
        "--extractor",
        action="append",
        help="a parse or extract plugin to load too (repeatable)",
    )
    r.add_argument(
        "--async-wait",
        type=non_negative,
        metavar="MS",
        help="keep delivering async events (and running routines) MS ms after the capture",
    )
    r.add_argument(
        "--async-until",
        type=non_negative,
        metavar="N",
        help="with --async-wait: stop waiting once the capture has delivered N async events",
    )
    r.add_argument(
        "--thread-tid",
        type=int,
        help="stamp this tid on plugin events (a thread of the host's threads table)",
    )
    r.add_argument(
        "--watch",
        action="store_true",
        help="run again (rebuilding what needs it) whenever the plugins' files change",
    )
    r.add_argument(
        "--no-progress",
        action="store_true",
        help="no live progress display on stderr (it is shown only when stderr is a terminal)",
    )
    r.add_argument(
        "--extractor-config",
        action="append",
        help="init config of the extractor given at the same position",
    )
    r.set_defaults(func=cmd_run)

    add_new_command(sub)

    i = sub.add_parser("info", help="what `falco --plugin-info` would print")
    i.add_argument("plugin")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)
    return p


#: The errors the CLI reports as a message (exit status 2) instead of a traceback; with
#: :func:`user_errors`, the SDK host's build error once the host is in use.
USER_ERRORS: tuple[type[Exception], ...] = (
    BuildError, PluginDefinitionError, PluginLoadError, FileNotFoundError, ProjectError,
    ScaffoldError,
)


def user_errors() -> tuple[type[Exception], ...]:
    """:data:`USER_ERRORS`, plus the host's build error if the host was imported (the host
    is imported only by the commands that run it, so ``build`` starts fast)."""
    engine = sys.modules.get("falco_plugin.host.engine")
    return USER_ERRORS if engine is None else (*USER_ERRORS, engine.HostBuildError)


def main(argv: list[str] | None = None) -> int:
    """Runs ``falco-plugin`` with ``argv``; returns the exit status (2 for the errors a user can
    fix)."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as exc:
        if not isinstance(exc, user_errors()):
            raise
        print(f"falco-plugin: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
