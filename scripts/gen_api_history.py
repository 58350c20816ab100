"""Generate ``falco_plugin/_api_history.py``: since which plugin API version each struct
member, API symbol and enum constant exists, from the releases of falcosecurity/libs.

Usage: ``python scripts/gen_api_history.py LIBS_GIT_DIR`` (a clone or mirror of
falcosecurity/libs with its tags). It reads ``userspace/plugin/plugin_api.h`` and
``plugin_types.h`` at every release tag ``X.Y.Z``, with the API version each declares, and
records for each name of the newest release the lowest released 3.x minor version V such that
every release declaring V or later has the name *as it is now*: a struct member at the same
position, an enum constant with the same value, a symbol (a ``plugin_api`` member, which the
host finds by name) at all. Releases, not commits: a host is what a release shipped (the
metric value types were renumbered after libs 0.17.0 and 0.17.1 shipped them with API 3.5.0,
so they count from 3.6.0).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "src" / "falco_plugin" / "_api_history.py"
HEADERS = ("userspace/plugin/plugin_api.h", "userspace/plugin/plugin_types.h")
RELEASE = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_IDENT = re.compile(r"[A-Za-z_]\w*")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def _block_end(text: str, start: int) -> int:
    """The index just past the brace that closes the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError("unbalanced braces")


def _members(body: str) -> list[str]:
    """Member names of a struct body; anonymous nested structs are flattened into it."""
    names: list[str] = []
    i = 0
    while i < len(body):
        brace, semi = body.find("{", i), body.find(";", i)
        if semi < 0:
            break
        if 0 <= brace < semi:  # a nested struct or union
            end = _block_end(body, brace)
            after = body.find(";", end)
            tail = body[end:after].strip()
            if tail:  # named: one member
                names.append(_IDENT.findall(tail)[-1])
            else:  # anonymous: its members are the parent's
                names.extend(_members(body[brace + 1 : end - 1]))
            i = after + 1
            continue
        stmt = body[i:semi].strip()
        i = semi + 1
        if not stmt:
            continue
        pointer = re.search(r"\(\s*\*\s*(\w+)\s*\)", stmt)
        if pointer:
            names.append(pointer[1])
        else:
            names.append(_IDENT.findall(re.sub(r"\[[^\]]*\]", "", stmt))[-1])
    return names


def parse_header(text: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    """``({struct alias: [member, ...]}, {enum constant: value text})`` of a header."""
    text = _COMMENT.sub("", text)
    structs: dict[str, list[str]] = {}
    enums: dict[str, str] = {}
    for match in re.finditer(r"typedef\s+(struct|enum)\s*\w*\s*\{", text):
        end = _block_end(text, match.end() - 1)
        body = text[match.end() : end - 1]
        alias = _IDENT.findall(text[end : text.find(";", end)])[-1]
        if match[1] == "struct":
            structs[alias] = _members(body)
        else:
            for item in body.split(","):
                name, _, value = item.partition("=")
                if name.strip():
                    enums[name.strip()] = " ".join(value.split())
    return structs, enums


def release_facts(repo: Path, tag: str) -> tuple[int, dict[str, int], dict[str, str]] | None:
    """(API minor, {"struct.member": position}, {constant: value}) of one release, or None
    when its headers are not there or declare no 3.x version."""
    texts = []
    for header in HEADERS:
        try:
            texts.append(git(repo, "show", f"{tag}:{header}"))
        except subprocess.CalledProcessError:
            return None
    major = re.search(r"PLUGIN_API_VERSION_MAJOR\s+(\d+)", texts[0])
    minor = re.search(r"PLUGIN_API_VERSION_MINOR\s+(\d+)", texts[0])
    if not major or not minor or major[1] != "3":
        return None
    members: dict[str, int] = {}
    constants: dict[str, str] = {}
    for text in texts:
        structs, enums = parse_header(text)
        for alias, names in structs.items():
            members.update({f"{alias}.{name}": pos for pos, name in enumerate(names)})
        constants.update(enums)
    return int(minor[1]), members, constants


def history(repo: Path) -> tuple[dict[str, int], dict[int, str]]:
    """{name: minor since} for the newest release's names, and {minor: first release}."""
    tags = sorted(
        (tuple(int(x) for x in m.groups()), m[0])
        for m in map(RELEASE.fullmatch, git(repo, "tag").split())
        if m
    )
    releases = [(tag, facts) for _, tag in tags if (facts := release_facts(repo, tag))]
    states = [facts for _, facts in releases]
    newest = releases[-1][1]
    current = {**newest[1], **newest[2]}
    first_release: dict[int, str] = {}
    for tag, (minor, _, _) in releases:
        first_release.setdefault(minor, tag)
    since: dict[str, int] = {}
    for name, now in current.items():
        by_name = name.startswith("plugin_api.")  # the host resolves symbols by name
        wrong = [
            minor
            for minor, members, constants in states
            if (name not in members and name not in constants)
            or (not by_name and {**members, **constants}[name] != now)
        ]
        last_wrong = max(wrong, default=-1)
        since[name] = min(m for m in first_release if m > last_wrong)  # a released version
    return since, first_release


def generate(since: dict[str, int], first_release: dict[int, str]) -> str:
    lines = [
        "# Generated by scripts/gen_api_history.py from the release tags of falcosecurity/libs.",
        "# Do not edit: run the script again on a newer libs checkout.",
        '"""Since which plugin API 3.x minor version each struct member, symbol (a member of',
        "``plugin_api``) and enum constant exists as it is now, in every released libsinsp.\"\"\"",
        "",
        "from __future__ import annotations",
        "",
        "#: The first libs release of each plugin API 3.x minor version.",
        "FIRST_RELEASE: dict[int, str] = {",
        *(f'    {minor}: "{tag}",' for minor, tag in sorted(first_release.items())),
        "}",
        "",
        '#: "struct.member" or constant name -> the minor version since which it is as now.',
        "API_SINCE: dict[str, int] = {",
        *(f'    "{name}": {minor},' for name, minor in sorted(since.items())),
        "}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    since, first_release = history(Path(args[0]))
    text = generate(since, first_release)
    if not OUTPUT.exists() or OUTPUT.read_text() != text:
        OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(since)} names, 3.{max(first_release)} newest)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
