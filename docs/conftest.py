"""Every code sample of the documentation runs in the test suite (Sybil collects them).

Each page (``docs/**/*.md``) runs in a folder of its own (a new temporary folder, the
current directory while its samples run, with ``examples`` linked to the repository's), its
fenced blocks in order, sharing one Python namespace. What a block does depends on its
language:

- ``python``: run. With ``title="NAME"`` it is also written to the file NAME first (a
  plugin file that later samples build and run).
- ``sh``: run by bash (``set -euo pipefail``) with this environment's ``falco-plugin``
  on the PATH; a failing command fails the sample.
- ``text``: what the block before it printed (a command's stdout, or what a Python block
  printed), compared as doctest does with ELLIPSIS: ``...`` stands for any text.
- ``yaml``, ``toml``, ``json``: parsed; with ``title="NAME"`` written to the file NAME.
- any other language: an error, unless the block is marked as not run (below).

Directives in HTML comments, invisible on the site and on GitHub, say the rest:

- ``<!-- skip: next "why" -->``: the next block is not run, for the reason given (pytest
  reports it as skipped with that reason; a skip without a reason is an error).
- ``<!-- fragment: of PATH -->``: the next block is an excerpt of the file PATH (of the
  page's folder, or of the repository), which is what runs: its lines must appear in the
  file in order, as they are (indented alike); a line ``...`` stands for the code left out.
- ``<!-- invisible-code-block: python ... -->``: code run in the page's namespace and not
  shown: what a fragment needs before it, or the checks of what a sample did.

The fixtures ``falco_build`` and ``falco_capture`` are in every page's namespace, with
``REPO`` (the repository's folder); samples that need the real Falco call
``falco_plugin.realhost.require()`` (skipped without it, failed in CI).
"""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from sybil import Document, Example, Region, Sybil
from sybil.evaluators.python import pad
from sybil.parsers.markdown import SkipParser
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer, RawFencedCodeBlockLexer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
INFO = re.compile(r'(?P<language>[\w+-]*)(?P<attrs>[^\n]*)$\n', re.MULTILINE)
TITLE = re.compile(r'title="([^"]+)"')
OUTPUT = "_docs_last_output"


def _write_title(example: Example, attrs: str, source: str) -> None:
    title = TITLE.search(attrs)
    if title:
        path = Path(title.group(1))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


def _run_python(example: Example, source: str) -> None:
    code = compile(pad(source, example.line), example.path, "exec")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, example.namespace)
    example.namespace[OUTPUT] = printed.getvalue()


def _run_sh(example: Example, source: str) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + source],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(
            f"the commands failed (exit status {proc.returncode}):\n{source}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    example.namespace[OUTPUT] = proc.stdout


def _check_output(example: Example, source: str) -> None:
    got = example.namespace.pop(OUTPUT, None)
    if got is None:
        raise AssertionError("a text block shows output: it must follow a python or sh block")
    checker = doctest.OutputChecker()
    if not checker.check_output(source, got, doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE):
        raise AssertionError(f"the page shows:\n{source}\nbut the sample printed:\n{got}")


def _parse_data(language: str) -> Any:
    parsers = {"yaml": yaml.safe_load, "toml": tomllib.loads, "json": json.loads}
    return parsers[language]


def evaluate_block(example: Example) -> None:
    """Runs or checks one fenced block, by its language."""
    language, attrs, source = example.parsed
    if language == "python":
        _write_title(example, attrs, source)
        _run_python(example, source)
    elif language == "sh":
        _run_sh(example, source)
    elif language == "text":
        _check_output(example, source)
    elif language in ("yaml", "toml", "json"):
        _parse_data(language)(source)
        _write_title(example, attrs, source)
    else:
        raise AssertionError(
            f"no way to run a ```{language} sample: make it python, sh, text, yaml, toml or "
            'json, or say why it is not run with <!-- skip: next "why" --> before it'
        )


class FencedBlockParser:
    """Every fenced block of a page is an example: none is left out silently."""

    def __init__(self) -> None:
        self.lexer = RawFencedCodeBlockLexer(info_pattern=INFO)

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self.lexer(document):
            lexemes = region.lexemes
            region.parsed = (lexemes["language"], lexemes["attrs"], str(lexemes["source"]))
            region.evaluator = evaluate_block
            yield region


def _excerpt_of(fragment: str, text: str) -> str | None:
    """None when every part of ``fragment`` (parts split at ``...`` lines) appears in
    ``text`` in order, line by line, with the same extra indentation; else what is missing."""
    lines = text.splitlines()
    parts: list[list[str]] = [[]]
    for line in fragment.rstrip("\n").splitlines():
        if line.strip() == "...":
            parts.append([])
        else:
            parts[-1].append(line.rstrip())
    at = 0
    for part in (p for p in parts if p):
        first = part[0]
        depth = len(first) - len(first.lstrip())
        for start in range(at, len(lines) - len(part) + 1):
            pad_ = len(lines[start]) - len(lines[start].lstrip()) - depth
            if pad_ < 0:
                continue
            if all(
                (lines[start + i].rstrip() == " " * pad_ + want) if want else
                not lines[start + i].strip()
                for i, want in enumerate(part)
            ):  # fmt: skip
                at = start + len(part)
                break
        else:
            return "\n".join(part)
    return None


class FragmentParser:
    """``<!-- fragment: of PATH -->`` before a block: the block is an excerpt of PATH."""

    def __init__(self) -> None:
        self.directives = DirectiveInHTMLCommentLexer("fragment", arguments=r"of\s+\S+")
        self.blocks = RawFencedCodeBlockLexer(info_pattern=INFO)

    def __call__(self, document: Document) -> Iterable[Region]:
        blocks = list(self.blocks(document))
        for directive in self.directives(document):
            following = [b for b in blocks if b.start > directive.end]
            if not following:
                raise ValueError(f"{document.path}: a fragment directive with no block after it")
            block = following[0]
            path = directive.lexemes["arguments"].split(None, 1)[1]
            # the block's region is the fragment's: it is checked, not run
            blocks.remove(block)
            parsed = (path, str(block.lexemes["source"]))
            yield Region(block.start, block.end, parsed, check_fragment)


def check_fragment(example: Example) -> None:
    """The fragment's lines are in the file it is an excerpt of."""
    path_text, fragment = example.parsed
    path = Path(path_text)
    if not path.is_file():
        path = ROOT / path_text
    if not path.is_file():
        raise AssertionError(f"no file {path_text} for the fragment, here or in the repository")
    missing = _excerpt_of(fragment, path.read_text())
    if missing is not None:
        raise AssertionError(f"these lines of the fragment are not in {path_text}:\n{missing}")


class HiddenCodeParser:
    """``<!-- invisible-code-block: python ... -->``: code run and not shown."""

    def __init__(self) -> None:
        self.lexer = DirectiveInHTMLCommentLexer("invisible-code-block", arguments="python")

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self.lexer(document):
            source = textwrap.dedent(str(region.lexemes["source"]))
            region.parsed = ("python", "", source)
            region.evaluator = evaluate_block
            yield region


class ReasonedSkipParser(SkipParser):
    """Sybil's ``skip``, with a reason required for ``next`` and ``start``."""

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in super().__call__(document):
            action, reason = region.parsed
            if action in ("next", "start") and not (reason or "").strip():
                raise ValueError(
                    f"{document.path}: 'skip: {action}' needs a reason: skip: {action} \"why\""
                )
            yield region


class _Parsers:
    """The fragment parser takes its blocks from the block parser (a block is run or
    checked as an excerpt, never both)."""

    def __init__(self) -> None:
        self.fragments = FragmentParser()
        self.blocks = FencedBlockParser()

    def __call__(self, document: Document) -> Iterable[Region]:
        fragments = list(self.fragments(document))
        taken = {r.start for r in fragments}
        yield from fragments
        yield from (r for r in self.blocks(document) if r.start not in taken)


def _page_setup(namespace: dict[str, Any]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="falco-plugin-docs-"))
    (folder / "examples").symlink_to(ROOT / "examples")
    namespace["_docs_folder"] = folder
    namespace["REPO"] = ROOT  # for hidden checks that need the repository (or ../shared)
    namespace["_docs_cwd"] = os.getcwd()
    os.chdir(folder)


def _page_teardown(namespace: dict[str, Any]) -> None:
    os.chdir(namespace["_docs_cwd"])
    shutil.rmtree(namespace["_docs_folder"], ignore_errors=True)


pytest_collect_file = Sybil(
    parsers=[_Parsers(), HiddenCodeParser(), ReasonedSkipParser()],
    patterns=["*.md"],
    setup=_page_setup,
    teardown=_page_teardown,
    fixtures=["falco_build", "falco_capture"],
).pytest()
