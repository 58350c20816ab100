"""What falcoctl needs to push a package to an OCI registry, and the rules tarball.

falcoctl installs a *plugin* artifact by extracting its tar.gz layer into Falco's plugins
folder (``/usr/share/falco/plugins`` by default) as it is: folders and regular files only,
no links, no ``..``. A package's tarball is that layer: ``lib<NAME>.so`` at the top and its
``lib<NAME>.python/`` folder beside it. A *rulesfile* artifact is extracted the same way into
the rules folder: the rules tarball holds the rules file at its top.

Each artifact carries a config layer (``application/vnd.cncf.falco.plugin.config.v1+json``
and ``...rulesfile.config.v1+json``) that ``falcoctl registry push`` writes from its
options: ``name``, ``version``, ``requirements`` (for a plugin, ``plugin_api_version``:
the API version the library requires; for rules, ``engine_version_semver``) and, for rules,
``dependencies`` (the plugin, by name and version). :func:`artifacts` gives that config and
the push command that produces it, per artifact.
"""

from __future__ import annotations

import gzip
import io
import platform
import re
import shlex
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from ..build import BuildError
from ..validate import PluginMeta

PLUGIN_CONFIG_MEDIA_TYPE = "application/vnd.cncf.falco.plugin.config.v1+json"
PLUGIN_LAYER_MEDIA_TYPE = "application/vnd.cncf.falco.plugin.layer.v1+tar.gz"
RULES_CONFIG_MEDIA_TYPE = "application/vnd.cncf.falco.rulesfile.config.v1+json"
RULES_LAYER_MEDIA_TYPE = "application/vnd.cncf.falco.rulesfile.layer.v1+tar.gz"
# uname's machine names as OCI platforms (GOARCH) name them
OCI_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "s390x": "s390x"}


def oci_platform(machine: str | None = None) -> str:
    """The OCI platform (``linux/amd64``) of a machine (uname's name; default: this one)."""
    machine = machine or platform.machine()
    return f"linux/{OCI_ARCH.get(machine, machine)}"


def rules_name(plugin: str) -> str:
    """The rules artifact's name, as the official plugins name theirs."""
    return f"{plugin}-rules"


def read_rules(path: Path) -> list[Any]:
    """The entries of a rules file; BuildError when it is no readable YAML list."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BuildError(f"--rules {path}: not a readable rules file ({exc})") from None
    if not isinstance(doc, list):
        raise BuildError(f"--rules {path}: a rules file is a YAML list")
    return doc


def rules_tarball(rules: Sequence[Path], out: Path) -> Path:
    """A reproducible tar.gz with the rules files at its top."""
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise BuildError(f"rules files with the same name cannot go in one tarball: {names}")
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in rules:
                data = path.read_bytes()
                info = tarfile.TarInfo(path.name)
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                info.uname = info.gname = "root"
                tar.addfile(info, io.BytesIO(data))
    return out


def _rules_dependencies(doc: list[Any], meta: PluginMeta) -> list[dict[str, Any]]:
    """The rules' ``required_plugin_versions`` (falcoctl's dependencies) with the plugin."""
    deps = {meta.name: meta.version}
    for entry in doc:
        if isinstance(entry, dict) and "required_plugin_versions" in entry:
            for d in entry["required_plugin_versions"] or []:
                if isinstance(d, dict) and "name" in d and "version" in d:
                    deps.setdefault(str(d["name"]), str(d["version"]))
    return [{"name": name, "version": version} for name, version in sorted(deps.items())]


def _engine_requirement(doc: list[Any]) -> list[dict[str, str]]:
    for entry in doc:
        if isinstance(entry, dict) and "required_engine_version" in entry:
            version = entry["required_engine_version"]
            if isinstance(version, int):  # an old integer engine version means 0.N.0
                version = f"0.{version}.0"
            if not re.fullmatch(r"\d+\.\d+\.\d+.*", str(version)):
                raise BuildError(f"required_engine_version {version!r} is not a semver")
            return [{"name": "engine_version_semver", "version": str(version)}]
    return []


def artifacts(
    meta: PluginMeta,
    tarball: Path,
    rules: Sequence[Path] = (),
    rules_tar: Path | None = None,
    machine: str | None = None,
) -> dict[str, Any]:
    """The falcoctl artifacts of a package: per artifact its config layer and push command
    (``REGISTRY/...`` stands for the repository to push to)."""
    plugin_config = {
        "name": meta.name,
        "version": meta.version,
        "requirements": [{"name": "plugin_api_version", "version": meta.required_api_version}],
    }
    push = [
        "falcoctl", "registry", "push", "--type", "plugin",
        "--name", meta.name, "--version", meta.version,
        "--requires", f"plugin_api_version:{meta.required_api_version}",
        "--platform", oci_platform(machine),
        f"REGISTRY/{meta.name}:{meta.version}", tarball.name,
    ]  # fmt: skip
    out: dict[str, Any] = {
        "plugin": {
            "type": "plugin",
            "file": tarball.name,
            "platform": oci_platform(machine),
            "layer_media_type": PLUGIN_LAYER_MEDIA_TYPE,
            "config_media_type": PLUGIN_CONFIG_MEDIA_TYPE,
            "config": plugin_config,
            "push": shlex.join(push),
        }
    }
    if rules and rules_tar is not None:
        doc = [entry for path in rules for entry in read_rules(path)]
        deps = _rules_dependencies(doc, meta)
        config: dict[str, Any] = {
            "name": rules_name(meta.name),
            "version": meta.version,
            "dependencies": deps,
        }
        requirements = _engine_requirement(doc)
        if requirements:
            config["requirements"] = requirements
        push = [
            "falcoctl", "registry", "push", "--type", "rulesfile",
            "--name", config["name"], "--version", meta.version,
            *(a for d in deps for a in ("--depends-on", f"{d['name']}:{d['version']}")),
            *(a for r in requirements for a in ("--requires", f"{r['name']}:{r['version']}")),
            f"REGISTRY/{config['name']}:{meta.version}", rules_tar.name,
        ]  # fmt: skip
        out["rulesfile"] = {
            "type": "rulesfile",
            "file": rules_tar.name,
            "layer_media_type": RULES_LAYER_MEDIA_TYPE,
            "config_media_type": RULES_CONFIG_MEDIA_TYPE,
            "config": config,
            "push": shlex.join(push),
        }
    return out
