"""The fuzz pass (issue 10, item 10): malformed configs, open params and events through every
entry point of several plugins, through ``tests/fuzz_host.c`` (a host loading them as
libsinsp does). Nothing may crash or hang, and every failure must be a clear message.

The normal run makes a few hundred events per plugin; the sanitizer job
(``.ci/sanitizers``) runs it under ASan+UBSan with ``FALCO_PLUGIN_FUZZ_EVENTS`` more.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.chost import compile_test_host

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EVENTS = int(os.environ.get("FALCO_PLUGIN_FUZZ_EVENTS", "300"))

TARGETS = {
    "countdown": ("examples/countdown/plugin.py", '{"batch_size": 2}'),
    "json": ("examples/json/plugin.py", ""),
    "alltypes": ("tests/plugins/alltypes.py", ""),
    "picky": ("tests/plugins/picky.py", "testing"),
    "syscall_decoder": ("tests/plugins/syscall_decoder.py", ""),
    "faulty": ("tests/plugins/faulty.py", '{"fail_in": "extract"}'),
}


@pytest.fixture(scope="module")
def fuzz_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "fuzz_host"
    return compile_test_host(HERE / "fuzz_host.c", out)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_malformed_input_through_every_entry_point(
    fuzz_host: Path, falco_build, target: str
) -> None:
    path, good_config = TARGETS[target]
    lib = falco_build(str(ROOT / path))
    proc = subprocess.run(
        [str(fuzz_host), str(lib), str(sum(map(ord, target))), str(EVENTS), good_config],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stderr[-4000:]}"
    got = json.loads(proc.stdout)
    assert got["problems"] == 0 and got["calls"] > EVENTS and got["failures"] > 0, got
