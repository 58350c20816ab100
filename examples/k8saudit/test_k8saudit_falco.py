"""k8saudit and json in the real Falco with the official k8s_audit_rules.yaml, next to the
official Go plugins (k8saudit 0.18.0, json 0.7.4) run on the same input."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from falco_plugin.build import inspect_plugin
from falco_plugin.loader import PluginRef, import_module
from falco_plugin.realhost import FalcoPlugin, FalcoRun, run_falco

HERE = Path(__file__).resolve().parent
PLUGIN = str(HERE / "plugin.py")
JSON_PLUGIN = str(HERE.parent / "json" / "plugin.py")
CORPUS = HERE / "corpus" / "audit.jsonl"
make_corpus = import_module(PluginRef.parse(str(HERE / "corpus" / "make_corpus.py")))
ALL_RULES = ["-o", "rule_matching=all"]  # every matching rule alerts, not only the first
# The Go SDK's async extraction busy-waits; with two Go plugins on two cores a 45-event
# run takes 40 s instead of 0.3 s. It changes no result, so the comparisons turn it off.
GO_CONFIG = '{"useAsync": false}'


@pytest.fixture(scope="module")
def rules(reference: Path) -> Path:
    return reference / "k8s_audit_rules.yaml"


@pytest.fixture(scope="module")
def ours(falco_build) -> tuple[Path, Path]:
    return falco_build(PLUGIN), falco_build(JSON_PLUGIN)


def go_plugins(prefix: Path) -> tuple[Path, Path]:
    return prefix / "out" / "libk8saudit_go.so", prefix / "out" / "libjson_go.so"


def run(libs: tuple[Path, Path], params: str, rules: Any, config: str = "", **kw: Any) -> FalcoRun:
    k8saudit, json_lib = libs
    done = run_falco(
        [FalcoPlugin(k8saudit, config, params), FalcoPlugin(json_lib, config)], rules, **kw
    )
    assert done.ok, done.stderr[-3000:]
    return done


def alerts(done: FalcoRun) -> list[tuple[Any, ...]]:
    """Each alert without its time: rule, priority, source, output text, output fields."""
    return [
        (
            a["rule"],
            a["priority"],
            a["source"],
            a["output"].split(" ", 2)[2],
            {k: v for k, v in a["output_fields"].items() if k != "evt.time"},
        )
        for a in done.alerts
    ]


def check_expected_rules(done: FalcoRun) -> None:
    """Every rule the corpus is written to fire fired, as often as expected, each alert
    showing the output fields of its scenario; and no other rule fired."""
    expected = make_corpus.expected()
    fired: dict[str, list[dict[str, Any]]] = {}
    for a in done.alerts:
        fired.setdefault(a["rule"], []).append(a["output_fields"])
    assert sorted(fired) == sorted(expected)
    for rule, wanted in expected.items():
        assert len(fired[rule]) == len(wanted), rule
        for got, fields in zip(fired[rule], wanted, strict=True):
            assert {k: got.get(k) for k in fields} == fields, rule


@pytest.fixture(scope="module")
def corpus_runs(falco_realhost: Path, ours, rules: Path) -> tuple[FalcoRun, FalcoRun]:
    mine = run(ours, str(CORPUS), rules, options=ALL_RULES)
    theirs = run(go_plugins(falco_realhost), str(CORPUS), rules, GO_CONFIG, options=ALL_RULES)
    return mine, theirs


def test_the_corpus_fires_the_official_rules(corpus_runs) -> None:
    mine, _ = corpus_runs
    check_expected_rules(mine)
    assert len(make_corpus.expected()) >= 15
    # the bad lines are dropped and logged into Falco's log
    assert mine.logged("k8saudit: dropped input of 21 bytes: Expecting value")
    assert mine.logged("k8saudit: dropped input of 73 bytes: data not recognized as a k8s audit")
    assert mine.logged("k8saudit: dropped an audit event: no stageTimestamp")


def test_alerts_equal_the_official_go_plugins(corpus_runs) -> None:
    mine, theirs = corpus_runs
    check_expected_rules(theirs)  # the corpus means the same to the Go plugins
    assert alerts(mine) == alerts(theirs)


def field_refs() -> list[str]:
    """Every ka.* field of the port (list fields also with [0] and [1], key fields with
    keys the corpus has or lacks) and json.* / jevt.* fields."""
    keys = {
        "ka.uri.param": ["command", "labelSelector", "limit", "nope"],
        "ka.req.volume.hostpath": ["/etc", "/var/log*", "/nope"],
        "ka.req.binding.subject.has_name": ["x"],
    }
    refs: list[str] = []
    for spec in inspect_plugin(PLUGIN).fields:
        if spec.arg == 1:  # an index
            refs += [spec.name, f"{spec.name}[0]", f"{spec.name}[1]"]
        elif spec.arg == 2:  # a key
            refs += [f"{spec.name}[{key}]" for key in keys[spec.name]]
        else:
            refs.append(spec.name)
    pointers = ["/user/username", "user/groups", "/requestObject", "/sourceIPs/0", "/x/y"]
    refs += [f"json.value[{p}]" for p in pointers] + ["json.obj", "json.rawtime"]
    return refs + ["jevt.value[/annotations/authorization.k8s.io~1decision]", "jevt.obj"]


def test_every_field_equals_the_official_go_plugins(falco_realhost: Path, ours) -> None:
    refs = field_refs()
    output = " ".join(f"{r}=%{r}" for r in refs)
    rule = (
        "- rule: every field\n  desc: every field of both plugins\n  condition: evt.num > 0\n"
        f"  output: {json.dumps(output)}\n  priority: INFO\n  source: k8s_audit\n"
    )
    mine = run(ours, str(CORPUS), rule)
    theirs = run(go_plugins(falco_realhost), str(CORPUS), rule, GO_CONFIG)
    assert len(mine.alerts) == len(theirs.alerts) == 44
    for a, b in zip(mine.fields(), theirs.fields(), strict=True):
        assert {r: a[r] for r in refs} == {r: b[r] for r in refs}
    with_values = {r for f in theirs.fields() for r in refs if f[r] not in (None, "", [])}
    assert len(with_values) > 120  # the comparison is not one of absent values


# -------------------------------------------------------------------- the webhook


def feed_webhook(url: str, bodies: list[bytes], context: ssl.SSLContext) -> None:
    """POST each body once the endpoint listens (Falco takes a moment to start)."""
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                return  # Falco never listened: the test sees no alerts
            time.sleep(0.1)
    for body in bodies:
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            assert response.status == 200


def test_webhook_over_https_in_falco(
    falco_realhost: Path, ours, rules: Path, free_port, tls_files
) -> None:
    """The corpus POSTed as the API server does (EventLists) to this port and to the Go
    plugin, both over https: the same alerts as from the file."""
    pem, cert = tls_files
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    bodies = [
        f'{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{x}]}}'.encode()
        for x in lines
        if x.startswith('{"kind":"Event",')
    ]
    bodies += [x.encode() for x in lines if not x.startswith('{"kind":"Event",')]
    # Falco's -M counts event time: an innocent event a day after the corpus ends the run
    stop = make_corpus.event(
        99,
        "get",
        "leases",
        name="x",
        namespace="kube-system",
        user={"username": "system:kube-scheduler"},
        stage="RequestReceived",
    )
    stop["stageTimestamp"] = "2026-01-02T00:00:00Z"
    bodies.append(json.dumps(stop).encode())
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    results: dict[str, FalcoRun] = {}

    def serve(name: str, libs: tuple[Path, Path], config: dict[str, Any]) -> None:
        url = f"https://127.0.0.1:{free_port()}/k8s-audit"
        feeder = threading.Thread(target=feed_webhook, args=(url, bodies, context))
        feeder.start()
        results[name] = run(
            libs, url, rules, json.dumps(config), options=[*ALL_RULES, "-M", "3600"]
        )
        feeder.join()

    threads = [
        threading.Thread(target=serve, args=("ours", ours, {"sslCertificate": str(pem)})),
        threading.Thread(
            target=serve,
            args=(
                "go",
                go_plugins(falco_realhost),
                {"sslCertificate": str(pem), "useAsync": False},
            ),
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check_expected_rules(results["ours"])
    assert sorted(alerts(results["ours"])) == sorted(alerts(results["go"]))
