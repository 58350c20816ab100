"""Write ``audit.jsonl``: Kubernetes audit events that exercise the official k8s audit rules.

Run ``python examples/k8saudit/corpus/make_corpus.py`` after changing a scenario; a test
checks that the committed file is what this script writes. Each scenario is one request
of a made-up cluster, written as the API server writes audit events (audit.k8s.io/v1, JSON
lines in Go's encoding). ``EXPECTED`` says which official rules each scenario must fire
in Falco, and the output fields that show it fired for the right reason.

A few lines are there for the source rather than the rules: an ``EventList`` and a JSON
array holding several events, and input that both plugins must drop (not JSON, not an
audit event, an event without ``stageTimestamp``).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

from falco_plugin.gojson import dumps

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "audit.jsonl"
BASE_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z
ADMIN = {"username": "admin", "groups": ["system:masters", "system:authenticated"]}
ALLOW = {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
RBAC = "rbac.authorization.k8s.io"


def stamp(second: int, micros: int) -> str:
    import datetime as dt

    when = dt.datetime.fromtimestamp(BASE_TIME + second, tz=dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"


def event(
    n: int,
    verb: str,
    resource: str,
    *,
    name: str | None = None,
    namespace: str | None = None,
    subresource: str | None = None,
    group: str = "",
    user: dict[str, Any] | None = None,
    code: int | None = None,
    stage: str = "ResponseComplete",
    uri: str | None = None,
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """One audit event, with the fields the API server writes in this order."""
    path = "/api/v1" if not group else f"/apis/{group}/v1"
    if uri is None:
        uri = path + (f"/namespaces/{namespace}" if namespace else "") + f"/{resource}"
        if name and verb not in ("create", "list"):
            uri += f"/{name}"
        if subresource:
            uri += f"/{subresource}"
    ref: dict[str, Any] = {"resource": resource}
    if namespace:
        ref["namespace"] = namespace
    if name:
        ref["name"] = name
    if subresource:
        ref["subresource"] = subresource
    ref["apiGroup" if group else "apiVersion"] = group or "v1"
    if group:
        ref["apiVersion"] = "v1"
    if code is None:
        code = {"create": 201}.get(verb, 200)
    status: dict[str, Any] = {"metadata": {}, "code": code}
    if reason:
        status["reason"] = reason
    doc: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"falco-plugin-corpus/{n}")),
        "stage": stage,
        "requestURI": uri,
        "verb": verb,
        "user": user or ADMIN,
        "sourceIPs": ["10.0.0.12"],
        "userAgent": "kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc",
        "objectRef": ref,
    }
    if stage != "ResponseStarted":
        doc["responseStatus"] = status
    if request is not None:
        doc["requestObject"] = request
    if response is not None:
        doc["responseObject"] = response
    doc["requestReceivedTimestamp"] = stamp(n, 1000)
    doc["stageTimestamp"] = stamp(n, 5000 + n)
    doc["annotations"] = annotations if annotations is not None else ALLOW
    return doc


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "creationTimestamp": None},
        "spec": {"containers": list(containers), **spec},
        "status": {},
    }


def container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "resources": {}, **extra}


def role(kind: str, name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": kind,
        "apiVersion": f"{RBAC}/v1",
        "metadata": {"name": name},
        "rules": list(rules),
    }


def binding(kind: str, name: str, role_name: str, *subjects: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": kind,
        "apiVersion": f"{RBAC}/v1",
        "metadata": {"name": name},
        "subjects": list(subjects),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role_name},
    }


def pod_create(n: int, name: str, ns: str, request: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": name, "namespace": ns, "uid": f"pod-uid-{n}"}
    return event(
        n,
        "create",
        "pods",
        name=name,
        namespace=ns,
        request=request,
        response={"kind": "Pod", "apiVersion": "v1", "metadata": meta},
    )


def scenarios() -> list[tuple[str, Any, dict[str, dict[str, Any]]]]:
    """(what, the event(s) of one line, {rule: output fields it must show})."""
    privileged = {"privileged": True}
    s: list[tuple[str, Any, dict[str, dict[str, Any]]]] = []
    add = s.append
    add(
        (
            "a user outside the allowed list reads pods",
            event(
                1,
                "list",
                "pods",
                namespace="default",
                user={"username": "mallory", "groups": ["dev"]},
            ),
            {"Disallowed K8s User": {"ka.user.name": "mallory", "ka.verb": "list"}},
        )
    )
    add(
        (
            "a pod with a privileged init container",
            pod_create(
                2,
                "debug-tools",
                "default",
                pod(
                    "debug-tools",
                    container("shell", "busybox:1.36"),
                    initContainers=[container("setup", "alpine:3.19", securityContext=privileged)],
                ),
            ),
            {
                "Create Privileged Pod": {
                    "ka.resp.name": "debug-tools",
                    "ka.req.pod.initContainers.image": ["alpine:3.19"],
                }
            },
        )
    )
    add(
        (
            "a pod mounting the host's /etc",
            pod_create(
                3,
                "etc-reader",
                "default",
                pod(
                    "etc-reader",
                    container("reader", "busybox:1.36"),
                    volumes=[{"name": "etc", "hostPath": {"path": "/etc", "type": "Directory"}}],
                ),
            ),
            {
                "Create Sensitive Mount Pod": {
                    "ka.resp.name": "etc-reader",
                    "ka.req.pod.containers.image": ["busybox:1.36"],
                }
            },
        )
    )
    add(
        (
            "a pod on the host network",
            pod_create(
                4,
                "net-probe",
                "default",
                pod("net-probe", container("probe", "nicolaka/netshoot:v0.13"), hostNetwork=True),
            ),
            {"Create HostNetwork Pod": {"ka.resp.name": "net-probe"}},
        )
    )
    add(
        (
            "a pod in the host's pid namespace",
            pod_create(
                5,
                "pid-probe",
                "default",
                pod("pid-probe", container("probe", "alpine:3.19"), hostPID=True),
            ),
            {"Create HostPid Pod": {"ka.resp.name": "pid-probe"}},
        )
    )
    add(
        (
            "a pod in the host's ipc namespace",
            pod_create(
                6,
                "ipc-probe",
                "default",
                pod("ipc-probe", container("probe", "alpine:3.19"), hostIPC=True),
            ),
            {"Create HostIPC Pod": {"ka.resp.name": "ipc-probe"}},
        )
    )
    add(
        (
            "a NodePort service",
            event(
                7,
                "create",
                "services",
                name="web",
                namespace="default",
                request={
                    "kind": "Service",
                    "apiVersion": "v1",
                    "metadata": {"name": "web"},
                    "spec": {
                        "type": "NodePort",
                        "ports": [
                            {"port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}
                        ],
                    },
                },
            ),
            {
                "Create NodePort Service": {"ka.target.name": "web"},
                "K8s Service Created": {"ka.target.name": "web"},
            },
        )
    )
    add(
        (
            "a config map holding a password",
            event(
                8,
                "create",
                "configmaps",
                name="app-settings",
                namespace="default",
                request={
                    "kind": "ConfigMap",
                    "apiVersion": "v1",
                    "metadata": {"name": "app-settings"},
                    "data": {"db_host": "db.internal", "db_password": "<hunter2>"},
                },
            ),
            {
                "Create/Modify Configmap With Private Credentials": {
                    "ka.req.configmap.name": "app-settings"
                },
                "K8s ConfigMap Created": {"ka.target.name": "app-settings"},
            },
        )
    )
    add(
        (
            "an anonymous request that was allowed",
            event(
                9,
                "get",
                "namespaces",
                name="kube-system",
                user={"username": "system:anonymous", "groups": ["system:unauthenticated"]},
                annotations={
                    "authorization.k8s.io/decision": "allow",
                    "authorization.k8s.io/reason": 'RBAC: allowed by ClusterRoleBinding "oops"',
                },
            ),
            {"Anonymous Request Allowed": {"ka.user.name": "system:anonymous"}},
        )
    )
    add(
        (
            "kubectl exec into a pod (the response has started)",
            event(
                10,
                "create",
                "pods",
                name="web-0",
                namespace="default",
                subresource="exec",
                stage="ResponseStarted",
                uri="/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=id&container=web&stdin=true&tty=true",
            ),
            {"Attach/Exec Pod": {"ka.target.name": "web-0", "ka.uri.param[command]": "sh"}},
        )
    )
    add(
        (
            "kubectl port-forward",
            event(
                11,
                "create",
                "pods",
                name="db-0",
                namespace="default",
                subresource="portforward",
                stage="ResponseStarted",
            ),
            {"port-forward": {"ka.target.name": "db-0"}},
        )
    )
    add(
        (
            "an ephemeral debug container",
            event(
                12,
                "patch",
                "pods",
                name="web-0",
                namespace="default",
                subresource="ephemeralcontainers",
                request={
                    "kind": "EphemeralContainers",
                    "apiVersion": "v1",
                    "metadata": {"name": "web-0"},
                    "ephemeralContainers": [
                        {"name": "debugger", "image": "busybox:1.36", "targetContainerName": "web"}
                    ],
                },
            ),
            {
                "EphemeralContainers Created": {
                    "jevt.value[/requestObject/ephemeralContainers/0/name]": "debugger"
                }
            },
        )
    )
    add(
        (
            "a namespace outside the allowed list",
            event(
                13,
                "create",
                "namespaces",
                name="crypto",
                request={"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "crypto"}},
            ),
            {
                "Create Disallowed Namespace": {"ka.target.name": "crypto"},
                "K8s Namespace Created": {"ka.target.name": "crypto"},
            },
        )
    )
    add(
        (
            "a pod in kube-system with an unknown image",
            pod_create(
                14,
                "helper",
                "kube-system",
                pod("helper", container("helper", "quay.io/evil/miner:latest")),
            ),
            {
                "Pod Created in Kube Namespace": {
                    "ka.target.namespace": "kube-system",
                    "ka.req.pod.containers.image": ["quay.io/evil/miner:latest"],
                }
            },
        )
    )
    add(
        (
            "a service account in kube-system",
            event(
                15,
                "create",
                "serviceaccounts",
                name="backdoor",
                namespace="kube-system",
                request={
                    "kind": "ServiceAccount",
                    "apiVersion": "v1",
                    "metadata": {"name": "backdoor"},
                },
            ),
            {
                "Service Account Created in Kube Namespace": {"ka.target.name": "backdoor"},
                "K8s Serviceaccount Created": {"ka.target.name": "backdoor"},
            },
        )
    )
    add(
        (
            "a system cluster role patched",
            event(16, "patch", "clusterroles", name="system:node", group=RBAC),
            {
                "System ClusterRole Modified/Deleted": {
                    "ka.target.name": "system:node",
                    "ka.verb": "patch",
                }
            },
        )
    )
    add(
        (
            "a binding to cluster-admin",
            event(
                17,
                "create",
                "clusterrolebindings",
                name="everyone-admin",
                group=RBAC,
                request=binding(
                    "ClusterRoleBinding",
                    "everyone-admin",
                    "cluster-admin",
                    {"kind": "Group", "apiGroup": RBAC, "name": "system:authenticated"},
                ),
            ),
            {
                "Attach to cluster-admin Role": {
                    "ka.req.binding.subjects": [
                        '{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"system:authenticated"}'
                    ]
                },
                "K8s ClusterRoleBinding Created": {"ka.req.binding.role": "cluster-admin"},
            },
        )
    )
    add(
        (
            "a cluster role with wildcards",
            event(
                18,
                "create",
                "clusterroles",
                name="god-mode",
                group=RBAC,
                request=role(
                    "ClusterRole",
                    "god-mode",
                    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                ),
            ),
            {
                "ClusterRole With Wildcard Created": {"ka.target.name": "god-mode"},
                "K8s ClusterRole Created": {"ka.target.name": "god-mode"},
            },
        )
    )
    add(
        (
            "a role that can write",
            event(
                19,
                "create",
                "roles",
                name="deployer",
                namespace="default",
                group=RBAC,
                request=role(
                    "Role",
                    "deployer",
                    {
                        "apiGroups": ["apps"],
                        "resources": ["deployments"],
                        "verbs": ["get", "create", "delete"],
                    },
                ),
            ),
            {
                "ClusterRole With Write Privileges Created": {"ka.target.name": "deployer"},
                "K8s Role Created": {"ka.target.name": "deployer"},
            },
        )
    )
    add(
        (
            "a role that can exec into pods",
            event(
                20,
                "create",
                "roles",
                name="shell-access",
                namespace="default",
                group=RBAC,
                request=role(
                    "Role",
                    "shell-access",
                    {"apiGroups": [""], "resources": ["pods", "pods/exec"], "verbs": ["get"]},
                ),
            ),
            {
                "ClusterRole With Pod Exec Created": {"ka.target.name": "shell-access"},
                "K8s Role Created": {"ka.target.name": "shell-access"},
            },
        )
    )
    add(
        (
            "a deployment created",
            event(21, "create", "deployments", name="shop", namespace="default", group="apps"),
            {"K8s Deployment Created": {"ka.target.name": "shop", "ka.response.code": "201"}},
        )
    )
    add(
        (
            "a deployment deleted",
            event(22, "delete", "deployments", name="shop", namespace="default", group="apps"),
            {"K8s Deployment Deleted": {"ka.target.name": "shop"}},
        )
    )
    add(
        (
            "a service deleted",
            event(23, "delete", "services", name="web", namespace="default"),
            {"K8s Service Deleted": {"ka.target.name": "web"}},
        )
    )
    add(
        (
            "a config map deleted",
            event(24, "delete", "configmaps", name="app-settings", namespace="default"),
            {"K8s ConfigMap Deleted": {"ka.target.name": "app-settings"}},
        )
    )
    add(
        (
            "a namespace deleted",
            event(25, "delete", "namespaces", name="crypto"),
            {"K8s Namespace Deleted": {"ka.target.name": "crypto"}},
        )
    )
    add(
        (
            "a service account deleted",
            event(26, "delete", "serviceaccounts", name="backdoor", namespace="kube-system"),
            {"K8s Serviceaccount Deleted": {"ka.target.name": "backdoor"}},
        )
    )
    add(
        (
            "a role deleted",
            event(27, "delete", "roles", name="deployer", namespace="default", group=RBAC),
            {"K8s Role Deleted": {"ka.target.name": "deployer"}},
        )
    )
    add(
        (
            "a cluster role deleted",
            event(28, "delete", "clusterroles", name="god-mode", group=RBAC),
            {"K8s ClusterRole Deleted": {"ka.target.name": "god-mode"}},
        )
    )
    add(
        (
            "a role binding created",
            event(
                29,
                "create",
                "rolebindings",
                name="dev-edit",
                namespace="default",
                group=RBAC,
                request=binding(
                    "RoleBinding",
                    "dev-edit",
                    "edit",
                    {"kind": "User", "apiGroup": RBAC, "name": "alice"},
                    {"kind": "ServiceAccount", "name": "ci", "namespace": "default"},
                ),
            ),
            {"K8s RoleBinding Created": {"ka.req.binding.role": "edit"}},
        )
    )
    add(
        (
            "a role binding deleted",
            event(30, "delete", "rolebindings", name="dev-edit", namespace="default", group=RBAC),
            {"K8s RoleBinding Deleted": {"ka.target.name": "dev-edit"}},
        )
    )
    add(
        (
            "a cluster role binding deleted",
            event(31, "delete", "clusterrolebindings", name="everyone-admin", group=RBAC),
            {"K8s ClusterRoleBinding Deleted": {"ka.target.name": "everyone-admin"}},
        )
    )
    add(
        (
            "a secret created",
            event(32, "create", "secrets", name="api-token", namespace="default"),
            {"K8s Secret Created": {"ka.target.name": "api-token"}},
        )
    )
    add(
        (
            "a secret deleted",
            event(33, "delete", "secrets", name="api-token", namespace="default"),
            {"K8s Secret Deleted": {"ka.target.name": "api-token"}},
        )
    )
    add(
        (
            "a secret read",
            event(34, "get", "secrets", name="db-creds", namespace="default"),
            {
                "K8s Secret Get Successfully": {
                    "ka.target.name": "db-creds",
                    "ka.response.code": "200",
                }
            },
        )
    )
    add(
        (
            "a secret read refused",
            event(
                35,
                "get",
                "secrets",
                name="db-creds",
                namespace="prod",
                user={"username": "kubelet", "groups": []},
                code=403,
                reason="Forbidden",
                annotations={
                    "authorization.k8s.io/decision": "forbid",
                    "authorization.k8s.io/reason": "",
                },
            ),
            {
                "K8s Secret Get Unsuccessfully Tried": {
                    "ka.response.code": "403",
                    "ka.auth.decision": "forbid",
                }
            },
        )
    )
    add(
        (
            "an ingress without TLS",
            event(
                36,
                "create",
                "ingresses",
                name="shop",
                namespace="default",
                group="networking.k8s.io",
                request={
                    "kind": "Ingress",
                    "apiVersion": "networking.k8s.io/v1",
                    "metadata": {"name": "shop"},
                    "spec": {
                        "rules": [
                            {
                                "http": {
                                    "paths": [
                                        {
                                            "path": "/",
                                            "pathType": "Prefix",
                                            "backend": {
                                                "service": {"name": "web", "port": {"number": 80}}
                                            },
                                        }
                                    ]
                                }
                            }
                        ]
                    },
                },
            ),
            {"Ingress Object without TLS Certificate Created": {"ka.target.name": "shop"}},
        )
    )
    add(
        (
            "the request stage of the same create: no rule looks at it",
            event(
                37,
                "create",
                "secrets",
                name="api-token",
                namespace="default",
                stage="RequestReceived",
            ),
            {},
        )
    )
    add(
        (
            "a system component at work: nothing to report",
            event(
                38,
                "update",
                "leases",
                name="kube-scheduler",
                namespace="kube-system",
                group="coordination.k8s.io",
                user={"username": "system:kube-scheduler", "groups": ["system:authenticated"]},
            ),
            {},
        )
    )
    add(
        (
            "an EventList (as the webhook sends them) with two events",
            {
                "kind": "EventList",
                "apiVersion": "audit.k8s.io/v1",
                "metadata": {},
                "items": [
                    event(39, "create", "secrets", name="from-list", namespace="default"),
                    event(40, "delete", "secrets", name="from-list", namespace="default"),
                ],
            },
            {
                "K8s Secret Created": {"ka.target.name": "from-list"},
                "K8s Secret Deleted": {"ka.target.name": "from-list"},
            },
        )
    )
    add(
        (
            "a JSON array holding an event and an EventList",
            [
                event(
                    41,
                    "create",
                    "configmaps",
                    name="in-array",
                    namespace="default",
                    request={"kind": "ConfigMap", "metadata": {"name": "in-array"}, "data": {}},
                ),
                {
                    "kind": "EventList",
                    "items": [
                        event(42, "delete", "configmaps", name="in-array", namespace="default")
                    ],
                },
            ],
            {
                "K8s ConfigMap Created": {"ka.target.name": "in-array"},
                "K8s ConfigMap Deleted": {"ka.target.name": "in-array"},
            },
        )
    )
    add(
        (
            "a pod using most of the pod spec: no rule fires, the fields have much to read",
            pod_create(
                44,
                "kitchen-sink",
                "default",
                pod(
                    "kitchen-sink",
                    container(
                        "app",
                        "registry.example.com:5000/team/app@sha256:0123abcd",
                        command=["/bin/app", "--serve"],
                        args=["--port", "8080"],
                        ports=[{"containerPort": 8080, "hostPort": 18080}, {"containerPort": 9090}],
                        securityContext={
                            "privileged": False,
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "runAsUser": 1000,
                            "procMount": "Default",
                            "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"]},
                        },
                    ),
                    container(
                        "sidecar", "envoyproxy/envoy:v1.30.1", securityContext={"runAsGroup": 3000}
                    ),
                    initContainers=[
                        container(
                            "migrate",
                            "app-migrations:7",
                            command=["migrate"],
                            securityContext={"runAsUser": 0},
                        )
                    ],
                    ephemeralContainers=[
                        container("dbg", "busybox:1.36", targetContainerName="app")
                    ],
                    securityContext={
                        "runAsUser": 2000,
                        "runAsGroup": 2000,
                        "fsGroup": 2000,
                        "supplementalGroups": [4000, 5000],
                    },
                    volumes=[
                        {"name": "logs", "hostPath": {"path": "/var/log/app"}},
                        {"name": "cache", "emptyDir": {}},
                        {"name": "cfg", "configMap": {"name": "app-config"}},
                        {"name": "nfs", "flexVolume": {"driver": "example/nfs"}},
                    ],
                ),
            )
            | {
                "impersonatedUser": {"username": "ci-bot"},
                "annotations": {
                    **ALLOW,
                    "cluster_name": "prod-eu",
                    "pod-security.kubernetes.io/audit-violations": 'would violate "restricted"',
                    "authentication.openshift.io/decision": "allow",
                    "authentication.openshift.io/username": "ocp-admin",
                },
            },
            {},
        )
    )
    add(
        (
            "a user with a non-ASCII name lists secrets with a label selector",
            event(
                45,
                "list",
                "secrets",
                namespace="default",
                user={"username": "zo\u00eb", "groups": ["dev"]},
                uri="/api/v1/namespaces/default/secrets?labelSelector=app%3Dweb+tier&limit=500",
            ),
            {
                "Disallowed K8s User": {
                    "ka.user.name": "zo\u00eb",
                    "ka.uri": "/api/v1/namespaces/default/secrets"
                    "?labelSelector=app%3Dweb+tier&limit=500",
                }
            },
        )
    )
    return s


BAD_LINES = [
    "this line is not JSON",
    dumps({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "not-an-audit-event"}}),
    dumps(
        {
            k: v
            for k, v in event(43, "get", "pods", namespace="default").items()
            if k != "stageTimestamp"
        }
    ),
]


def corpus_text() -> str:
    lines = [dumps(line) for _, line, _ in scenarios()]
    lines[3:3] = BAD_LINES  # bad input among good lines: it must not stop the source
    return "\n".join(lines) + "\n"


def expected() -> dict[str, list[dict[str, Any]]]:
    """Per rule that must fire, the output fields each of its alerts must show."""
    out: dict[str, list[dict[str, Any]]] = {}
    for _, _, rules in scenarios():
        for rule, fields in rules.items():
            out.setdefault(rule, []).append(fields)
    return out


def main() -> int:
    CORPUS.write_text(corpus_text(), encoding="utf-8")
    print(f"wrote {CORPUS} ({len(scenarios())} scenarios, {len(expected())} rules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
