"""Helpers of the packaging tests: package once per session, extract, run."""

from __future__ import annotations

import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
YAMLFEED = EXAMPLES / "yamlfeed"
FEED_FIELDS = ["yamlfeed.kind", "yamlfeed.name", "yamlfeed.value[image]", "yamlfeed.parser"]


def extract(tarball: Path, dest: Path) -> Path:
    """Extract a package into ``dest``; returns the folder."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="data")
    return dest
