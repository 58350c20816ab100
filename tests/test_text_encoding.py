"""The embedded interpreter runs in UTF-8 mode (issue 10, item 2): hosts never call
setlocale, and Falco does not either, so without it Python would take ASCII for every text
file, file name and pipe, and a plugin that works in its author's tests would fail in Falco."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from falco_plugin.testing import run_capture

PLUGINS = Path(__file__).resolve().parent / "plugins"
TEXT = ["Grüße aus Köln", "世界 — ✓ naïve café", "plain ascii"]


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "données-ü.txt"  # a non-ASCII file name too
    path.write_text("\n".join(TEXT) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("locale_env", [{}, {"LC_ALL": "C"}, {"LANG": "C.UTF-8"}])
def test_utf8_file_and_text_in_the_sdk_host(falco_build, data_file: Path, locale_env) -> None:
    lib = falco_build(str(PLUGINS / "utf8reader.py"))
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_CTYPE")}
    cap = run_capture(lib, open_params=str(data_file), env={**env, **locale_env})
    assert cap.ok, cap.error_message + cap.stderr
    assert cap.texts == TEXT
    infos = [json.loads(i) for i in cap.infos]
    assert [i["text"] for i in infos] == TEXT
    assert {i["fs"] for i in infos} == {"utf-8"}


def test_utf8_file_and_text_in_falco(falco_build, data_file: Path, falco_realhost: Path) -> None:
    from falco_plugin.realhost import FalcoPlugin, run_falco

    lib = falco_build(str(PLUGINS / "utf8reader.py"))
    rules = (
        "- rule: every line\n  desc: every line\n  condition: evt.num > 0\n"
        "  output: 'line %evt.plugininfo'\n  priority: INFO\n  source: utf8reader\n"
    )
    run = run_falco([FalcoPlugin(lib, open_params=str(data_file))], rules)
    assert run.ok, run.stderr
    texts = [json.loads(o[o.index("{") :])["text"] for o in run.outputs("every line")]
    assert texts == TEXT
