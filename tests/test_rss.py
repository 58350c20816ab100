"""Memory stays flat over millions of events with a filter on a plugin field, in the real
libsinsp (issue 10, item 10): the plugin's RSS after warming up is its RSS at the end.

The normal run makes 1 M events; the sanitizer and fuzz job (``.ci/sanitizers``) makes 10 M
(``FALCO_PLUGIN_RSS_EVENTS``). Run without sanitizers: they change how memory is used.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = int(os.environ.get("FALCO_PLUGIN_RSS_EVENTS", "1000000"))


def rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def test_rss_is_flat_over_many_events_with_a_filter(falco_build, falco_realhost: Path) -> None:
    if os.environ.get("FALCO_PLUGIN_CFLAGS"):
        pytest.skip("memory figures mean nothing under sanitizers")
    from falco_plugin.sinsp import driver_binary

    lib = falco_build(str(ROOT / "examples" / "countdown" / "plugin.py"))
    cmd = [str(driver_binary()), "--quiet", "--filter", "countdown.divisible[7] = true",
           str(lib), "--config", '{"batch_size": 64}', "--open-params", str(EVENTS)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, int]] = []
    start = time.monotonic()
    while proc.poll() is None:
        value = rss_kb(proc.pid)
        if value:
            samples.append((time.monotonic() - start, value))
        time.sleep(0.1)
    out, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    summaries = [json.loads(line)["summary"] for line in out.splitlines() if '"summary"' in line]
    assert summaries and summaries[-1]["events"] == EVENTS, out[-500:]
    print(f"RSS (kB) over {EVENTS} events:", samples[:: max(1, len(samples) // 10)])
    assert len(samples) >= 10, samples
    # warmed up after the first fifth of the run; then no growth beyond allocator noise
    warm = [kb for t, kb in samples if t >= samples[-1][0] / 5]
    assert max(warm) - warm[0] <= 2048, (warm[0], max(warm), samples[:: max(1, len(samples) // 20)])
