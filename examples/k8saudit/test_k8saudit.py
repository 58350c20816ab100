"""The k8saudit port in plain Python and through the SDK's C host: audit input, the three
sources (files, a followed file, the webhook), the ka.* fields, progress and metrics."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from falco_plugin import Eof, EventBatch, PluginError, Timeout
from falco_plugin.loader import PluginRef, import_module
from falco_plugin.testing import PluginSpec
from falco_plugin.unit import extract_field, make_event

HERE = Path(__file__).resolve().parent
PLUGIN = str(HERE / "plugin.py")
JSON_PLUGIN = str(HERE.parent / "json" / "plugin.py")
CORPUS = HERE / "corpus" / "audit.jsonl"
mod = import_module(PluginRef.parse(PLUGIN))

make_corpus = import_module(PluginRef.parse(str(HERE / "corpus" / "make_corpus.py")))

import k8saudit_events as events  # noqa: E402 (importable once the plugin's folder is on the path)
from k8saudit_sources import FollowInstance, WebhookInstance  # noqa: E402


def audit(n: int = 1, **changes) -> dict:
    doc = make_corpus.event(n, "get", "secrets", name="s", namespace="default")
    doc.update(changes)
    return doc


def parser(max_size: int = 1 << 20) -> events.AuditParser:
    return events.AuditParser(max_size, logging.getLogger("k8saudit-test"), events.Counters())


def drain(instance, *, until: int | None = None, seconds: float = 5.0) -> list[bytes]:
    """Payloads from next_batch until Eof, or until ``until`` events (Timeouts retried)."""
    out: list[bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = EventBatch()
        try:
            instance.next_batch(batch)
        except Eof:
            return out + batch.payloads()
        except Timeout:
            pass
        out += batch.payloads()
        if until is not None and len(out) >= until:
            return out
    raise AssertionError(f"no end after {seconds}s ({len(out)} events)")


# ------------------------------------------------------------------- audit input


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2026-01-01T00:00:00Z", 1_767_225_600 * 10**9),
        ("2026-01-01T00:00:00.5Z", 1_767_225_600 * 10**9 + 500_000_000),
        ("2026-01-01T00:00:00.123456789123Z", 1_767_225_600 * 10**9 + 123_456_789),
        ("2026-01-01T02:00:00.000001+02:00", 1_767_225_600 * 10**9 + 1000),
        ("2025-12-31T19:00:00-05:00", 1_767_225_600 * 10**9),
    ],
)
def test_stage_timestamps(text: str, ns: int) -> None:
    assert events.parse_timestamp(text) == ns


@pytest.mark.parametrize("text", ["2026-13-01T00:00:00Z", "2026-01-01 00:00:00Z", "", 17, None])
def test_bad_stage_timestamps(text) -> None:
    with pytest.raises(events.BadInput):
        events.parse_timestamp(text)


def test_events_lists_and_arrays() -> None:
    p = parser()
    one, two = audit(1), audit(2)
    assert [e.payload for e in p.parse(json.dumps(one).encode())] == [
        json.dumps(one, separators=(",", ":")).encode()
    ]
    listed = {"kind": "EventList", "items": [one, two]}
    assert len(p.parse(json.dumps(listed).encode())) == 2
    assert len(p.parse(json.dumps([one, listed]).encode())) == 3
    assert p.parse(json.dumps(one).encode())[0].ts == events.parse_timestamp(one["stageTimestamp"])
    assert p.counters.dropped == 0


def test_bad_input_is_dropped_and_counted(caplog) -> None:
    p = parser(max_size=2000)
    no_stamp = {k: v for k, v in audit(3).items() if k != "stageTimestamp"}
    big = audit(4, requestObject={"data": "x" * 3000})
    pieces = [
        b"not json",
        b'{"kind": "Pod"}',
        json.dumps([audit(5), {"kind": "Pod"}]).encode(),  # one bad element: all dropped
        json.dumps(no_stamp).encode(),
        json.dumps(big).encode(),
        b"NaN",
        json.dumps({"kind": "EventList", "items": [audit(6), no_stamp]}).encode(),
    ]
    with caplog.at_level(logging.WARNING, "k8saudit-test"):
        delivered = [e for piece in pieces for e in p.parse(piece)]
    assert len(delivered) == 1  # audit(6): the good item of the last EventList
    assert p.counters.dropped == 7
    assert "event larger than maxEventSize" in caplog.text
    assert "data not recognized as a k8s audit event" in caplog.text


def test_payload_is_compact_json_in_gos_escaping() -> None:
    doc = audit(7, requestURI="/api?a=1&b=<2>")
    payload = parser().parse(json.dumps(doc, indent=4).encode())[0].payload
    assert b"\n" not in payload and b'": ' not in payload and b", " not in payload
    assert b'"requestURI":"/api?a=1\\u0026b=\\u003c2\\u003e"' in payload


@pytest.mark.parametrize(
    ("text", "compact"),
    [
        (b'{"a":1,"b":[true,null],"c":{}}', True),
        (b'{"a":"x: y, z { [ ] }"}', True),  # spaces inside strings only
        (b'{"a": 1}', False),
        (b'{"a":1 }', False),
        (b'{"a":[1,\t2]}', False),
        (b'{"a":"q\\"b"}', False),  # an escaped quote: not sure, so not compact
    ],
)
def test_compact_text_is_recognized(text: bytes, compact: bool) -> None:
    assert events.is_compact(text) is compact


def test_a_compact_line_is_delivered_as_it_is() -> None:
    line = json.dumps(audit(8, requestURI="/x?a=1&b=2"), separators=(",", ":"))
    line = line.replace("&", "\\u0026").replace("/", "\\/")  # escapes Go would not write
    payload = parser().parse(line.encode())[0].payload
    assert payload == line.encode()  # kept as they are, as in the Go plugin


def test_corpus_is_what_its_script_writes() -> None:
    assert CORPUS.read_text(encoding="utf-8") == make_corpus.corpus_text(), (
        "run python examples/k8saudit/corpus/make_corpus.py"
    )


# ------------------------------------------------------------------------- sources


def plugin(**config) -> object:
    return mod.K8sAudit(mod.K8sAuditConfig(**config))


def test_file_source_reads_the_corpus_with_progress() -> None:
    p = plugin()
    instance = p.open(str(CORPUS))
    assert instance.get_progress().percent == 0
    payloads = drain(instance)
    assert len(payloads) == 44  # 42 scenarios, 3 of them holding two events; 3 bad lines
    assert instance.get_progress().percent == 100
    metrics = {m.name: m.value for m in p.get_metrics()}
    assert metrics["events"] == 44 and metrics["dropped"] == 3
    assert metrics["bytes_read"] == CORPUS.stat().st_size


def test_folder_source_reads_files_oldest_first(tmp_path: Path) -> None:
    for i, n in enumerate((3, 1, 2)):
        f = tmp_path / f"audit-{n}.log"
        f.write_text(json.dumps(audit(n)))  # no final newline: files are still separate
        stamp = 1_700_000_000 + i
        import os

        os.utime(f, (stamp, stamp))
    (tmp_path / "sub").mkdir()
    payloads = drain(plugin().open(str(tmp_path)))
    assert [json.loads(p)["auditID"] for p in payloads] == [audit(n)["auditID"] for n in (3, 1, 2)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("/no/such/file", "cannot read audit events from '/no/such/file'"),
        ("ftp://host/x", 'scheme "ftp" is not supported'),
        ("http://localhost/k8s-audit", "needs a port"),
    ],
)
def test_bad_open_params(params: str, message: str) -> None:
    with pytest.raises(PluginError, match=message):
        plugin().open(params)


def test_follow_reads_new_lines_across_truncation_and_rotation(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(json.dumps(audit(1)) + "\n")  # there before: not read
    p = parser()
    follow = FollowInstance(log, p, p.counters)
    with pytest.raises(Timeout):
        follow.next_batch(EventBatch())
    with log.open("a") as f:
        f.write(json.dumps(audit(2)) + "\n" + json.dumps(audit(3))[:50])  # one and a half
    assert [json.loads(x)["auditID"] for x in drain(follow, until=1)] == [audit(2)["auditID"]]
    with log.open("a") as f:
        f.write(json.dumps(audit(3))[50:] + "\n")  # the rest of the half line
    assert [json.loads(x)["auditID"] for x in drain(follow, until=1)] == [audit(3)["auditID"]]
    log.write_text(json.dumps(audit(4)) + "\n")  # truncated and rewritten in place
    assert [json.loads(x)["auditID"] for x in drain(follow, until=1)] == [audit(4)["auditID"]]
    log.rename(tmp_path / "audit.log.1")  # rotated: the new file is read from its start
    log.write_text(json.dumps(audit(5)) + "\n" + json.dumps(audit(6)) + "\n")
    got = drain(follow, until=2)
    assert [json.loads(x)["auditID"] for x in got] == [audit(n)["auditID"] for n in (5, 6)]
    follow.close()


def post(
    url: str,
    body: bytes,
    content_type: str = "application/json",
    method: str = "POST",
    context: ssl.SSLContext | None = None,
) -> tuple[int, str]:
    request = urllib.request.Request(url, body, {"Content-Type": content_type}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_webhook_accepts_event_lists_and_refuses_bad_requests(free_port) -> None:
    p = parser()
    port = free_port()
    hook = WebhookInstance(
        "127.0.0.1",
        port,
        "/k8s-audit",
        certificate=None,
        max_body=4096,
        parser=p,
        counters=p.counters,
    )
    url = f"http://127.0.0.1:{port}/k8s-audit"
    try:
        listed = json.dumps({"kind": "EventList", "items": [audit(1), audit(2)]}).encode()
        assert post(url, listed) == (200, "")
        assert drain(hook, until=2) == [e.payload for e in parser().parse(listed)]
        assert post(url, b"{}", method="GET") == (405, "GET method not allowed\n")
        assert post(url, listed, content_type="text/plain") == (400, "wrong Content Type\n")
        assert post(url, b"[" + b" " * 5000 + b"]")[0] == 400  # over max_body
        assert post(url + "/other", listed)[0] == 404
        assert post(url, b"not json") == (200, "")  # accepted, then dropped by the parser
        with pytest.raises(Timeout):
            hook.next_batch(EventBatch())
        assert (p.counters.requests, p.counters.rejected, p.counters.dropped) == (2, 4, 1)
    finally:
        hook.close()
    assert not hook.thread.is_alive()


def test_webhook_over_tls(free_port, tls_files) -> None:
    pem, cert = tls_files
    p = plugin(sslCertificate=str(pem))
    port = free_port()
    hook = p.open(f"https://127.0.0.1:{port}/k8s-audit")
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    try:
        assert post(
            f"https://127.0.0.1:{port}/k8s-audit", json.dumps(audit(9)).encode(), context=context
        ) == (200, "")
        assert len(drain(hook, until=1)) == 1
    finally:
        hook.close()


def test_webhook_port_in_use_fails_open() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(PluginError, match="cannot serve the webhook"):
            plugin().open(f"http://127.0.0.1:{s.getsockname()[1]}/x")


# -------------------------------------------------------------------------- fields


def fields_of(doc: dict) -> object:
    k8s = plugin()
    event = make_event(json.dumps(doc).encode(), source="k8s_audit")
    return lambda name: extract_field(k8s, name, event)


def test_fields_of_the_kitchen_sink_pod() -> None:
    line = next(x for x in CORPUS.read_text().splitlines() if '"name":"kitchen-sink"' in x)
    f = fields_of(json.loads(line))
    assert f("ka.target.pod.name") == "kitchen-sink"
    assert f("ka.req.pod.containers.image.repository") == [
        "registry.example.com",
        "envoyproxy/envoy",
    ]
    assert f("ka.req.pod.containers.command") == ["/bin/app --serve"]
    assert f("ka.req.pod.containers.host_port") == ["18080", "9090"]
    assert f("ka.req.pod.containers.add_capabilities") == ['["NET_ADMIN","SYS_TIME"]']
    assert f("ka.req.pod.containers.privileged") == ["false"]
    assert f("ka.req.container.privileged") == "false"
    assert f("ka.req.pod.containers.eff_run_as_user") == ["0", "0"]  # the Go plugin's quirk
    assert f("ka.req.pod.volumes.volume_type") == [
        "hostPath",
        "emptyDir",
        "configMap",
        "flexVolume",
    ]
    assert f("ka.req.pod.volumes.volume_type[2]") == ["configMap"]
    assert f("ka.req.pod.volumes.flexvolume_driver") == ["example/nfs"]
    assert f("ka.req.volume.hostpath[/var/log*]") == "true"
    assert f("ka.req.volume.hostpath[/etc]") == "false"
    assert f("ka.req.pod.supplemental_groups") == ["4000", "5000"]
    assert f("ka.impuser.name") == "ci-bot"
    assert f("ka.cluster.name") == "prod-eu"
    assert f("ka.auth.openshift.username") == "ocp-admin"
    assert f("ka.req.pod.initContainers.run_as_user") == ["0"]
    assert f("ka.req.pod.ephemeralContainers.name") == ["dbg"]


def test_fields_of_requests() -> None:
    f = fields_of(audit(1, requestURI="/api/v1/x?labelSelector=app%3Dweb+tier&command=a&command=b"))
    assert f("ka.uri.param[labelSelector]") == "app=web tier"
    assert f("ka.uri.param[command]") == "a"
    assert f("ka.uri.param[missing]") is None
    assert f("ka.response.code") == "200"
    assert f("ka.sourceips") is None  # read from requestObject.rules[], as the Go plugin does
    assert f("ka.req.binding.subject.has_name[anything]") == "true"
    binding = make_corpus.binding(
        "RoleBinding",
        "b",
        "edit",
        {"kind": "User", "name": "alice"},
        {"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
        {"kind": "Group", "name": "devs"},
    )
    g = fields_of(audit(2, requestObject=binding))
    assert g("ka.req.binding.subjects.user_names") == ["alice"]
    assert g("ka.req.binding.subjects.serviceaccount_ns_names") == ["build:ci"]
    assert g("ka.req.binding.subjects.group_names") == ["devs"]
    assert g("ka.req.binding.role") == "edit"
    with pytest.raises(PluginError, match="invalid URL escape"):
        fields_of(audit(3, requestURI="/x?a=%zz"))("ka.uri.param[a]")


def test_events_that_are_not_audit_events_have_no_fields() -> None:
    k8s = plugin()
    for payload in (b'{"kind": "Event"}', b"[1, 2]", b"plain text"):
        assert extract_field(k8s, "ka.verb", make_event(payload)) is None
        assert extract_field(k8s, "ka.req.pod.containers.image", make_event(payload)) is None


# -------------------------------------------------------------- the SDK's C host


def test_capture_with_the_json_plugin(falco_capture) -> None:
    cap = falco_capture(
        PLUGIN,
        open_params=str(CORPUS),
        extractors=[PluginSpec(JSON_PLUGIN)],
        fields=["ka.verb", "ka.target.resource", "json.value[/verb]", "jevt.value[/stage]"],
    )
    assert cap.ok, cap.error_message
    assert len(cap.events) == 44
    assert all(f["ka.verb"] == f["json.value[/verb]"] for f in cap.fields)
    assert cap.fields[0] == {
        "ka.verb": "list",
        "ka.target.resource": "pods",
        "json.value[/verb]": "list",
        "jevt.value[/stage]": "ResponseComplete",
    }
    assert cap.progress[0]["pct"] == 10000
    metrics = {m["name"]: m["value"] for m in cap.metrics[0]["items"]}
    assert (metrics["events"], metrics["dropped"]) == (44, 3)
    assert {e["ts"] for e in cap.events[:1]} == {
        events.parse_timestamp("2026-01-01T00:00:01.005001Z")
    }
