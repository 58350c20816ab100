"""The yamlfeed example in the SDK host: documents, fields, bad feeds."""

from __future__ import annotations

from pathlib import Path

from falco_plugin.testing import run_capture

HERE = Path(__file__).parent
FIELDS = ["yamlfeed.kind", "yamlfeed.name", "yamlfeed.value[image]", "yamlfeed.value[port]"]


def test_documents_and_fields(falco_build) -> None:
    cap = run_capture(
        falco_build(str(HERE / "plugin.py")), open_params=str(HERE / "feed.yaml"), fields=FIELDS
    )
    assert cap.ok, cap.error_message
    assert [tuple(e["fields"].values()) for e in cap.events] == [
        ("Pod", "web", "nginx:1.27", None),
        ("Pod", "debug-shell", "busybox:1.36", None),
        ("Service", "web", None, "80"),
        ("Pod", "node-agent", "agent:2.1", None),
    ]


def test_a_bad_feed_fails_open(falco_build, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\n---\n- just\n- a list\n")
    cap = run_capture(falco_build(str(HERE / "plugin.py")), open_params=str(bad))
    assert "document 2 of" in cap.error_message and "is not a mapping" in cap.error_message
    cap = run_capture(falco_build(str(HERE / "plugin.py")), open_params=str(tmp_path / "none"))
    assert "cannot read the feed" in cap.error_message
