"""The ``ka.*`` fields of the official k8saudit plugin, with the Go plugin's semantics.

Every field reads the audit event (the payload, decoded once per event): an event without
``auditID`` has no ``ka.*`` field. Values are strings: JSON strings as they are, anything
else as compact JSON (``200``, ``true``, ``{"k":"v"}``), as the Go plugin gives them.

Some fields keep quirks of the Go plugin on purpose, since rules were written against it:
``ka.req.pod.*.eff_run_as_user``/``eff_run_as_group`` and the pod-level default they use
read ``runAsUser``/``runAsGroup`` directly under the pod spec and the containers (not under
``securityContext``); ``ka.sourceips`` reads ``requestObject.rules[].sourceIPs``;
``ka.req.container.image.repository`` cuts an image at its first ``:`` (a registry port
included); ``ka.req.volume.hostpath[...]`` looks at the first volume only; and an index
argument (``[N]``) picks the N-th element of every array on a field's path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from falco_plugin import ExtractEvent, ExtractPlugin, PluginError, field
from falco_plugin.gojson import MISSING, get, loads, text

ANY = -1  # no index argument: every element of the arrays on the path
Extractor = Callable[[Any, Any], Any]  # (audit event, argument) -> value


class NotAvailable(Exception):
    """The event has no value for the field (an absent field, not an error)."""


def wrong_type(what: str) -> PluginError:
    return PluginError(f"wrong type conversion: {what}")


def decode_audit_event(payload: bytes) -> Any:
    """The audit event of a payload, or MISSING when it is not one (no ``auditID``)."""
    if not payload or payload[0] not in b"{[":
        return MISSING
    try:
        doc = loads(payload)
    except ValueError:
        return MISSING
    return doc if isinstance(doc, dict) and "auditID" in doc else MISSING


# ------------------------------------------------------------------- walking the JSON


def values_at(node: Any, index: int, keys: tuple[str, ...]) -> list[Any]:
    """The values at ``keys`` below ``node``; an array met on the way is walked into every
    element (``index`` ANY, MISSING standing for an element without the value) or only
    into element ``index``. An empty key stands for the element itself."""
    for position, key in enumerate(keys):
        if isinstance(node, list):
            if index == ANY:
                out: list[Any] = []
                for element in node:
                    try:
                        out += values_at(element, index, keys[position:])
                    except NotAvailable:
                        out.append(MISSING)
                return out
            if index >= len(node):
                raise NotAvailable
            node = node[index]
        if key:
            node = get(node, key)
            if node is MISSING:
                raise NotAvailable
    return [node]


def texts(values: list[Any]) -> list[str]:
    """Every value as text; an element without the value is an error."""
    if any(v is MISSING for v in values):
        raise wrong_type("an element has no value")
    return [text(v) for v in values]


def texts_present(values: list[Any]) -> list[str]:
    """The values present, as text."""
    return [text(v) for v in values if v is not MISSING]


def pod_values(doc: Any, pod_list: str, index: int, *keys: str) -> list[Any]:
    """Values of each container of a pod's container list (containers, initContainers or
    ephemeralContainers) in the request object."""
    return values_at(doc, index, ("requestObject", "spec", pod_list, *keys))


def joined_arrays(values: list[Any], what: str) -> list[str]:
    """Each container's command or args (a string array) joined with spaces."""
    out = []
    for value in values:
        if value is MISSING:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong_type(f"{what} is not an array of strings")
        out.append(" ".join(value))
    if not out:
        raise NotAvailable
    return out


def images(doc: Any, pod_list: str, index: int) -> list[str]:
    return texts(pod_values(doc, pod_list, index, "image"))


def repositories(doc: Any, pod_list: str, index: int) -> list[str]:
    return [image.split(":")[0].split("@")[0] for image in images(doc, pod_list, index)]


def host_ports(doc: Any, pod_list: str, index: int) -> list[str]:
    out = []
    for ports in pod_values(doc, pod_list, index, "ports"):
        if ports is MISSING:
            continue
        if not isinstance(ports, list):
            raise wrong_type("ports is not an array")
        for port in ports:
            value = get(port, "hostPort")
            if value is MISSING:
                value = get(port, "containerPort")  # with hostNetwork, the host's port too
            if value is not MISSING:
                out.append(text(value))
    return out


def effective(doc: Any, pod_list: str, index: int, key: str) -> list[str]:
    """Each container's value, or the pod's when the container has none (default "0")."""
    pod_value = get(doc, "requestObject", "spec", key)
    default = "0" if pod_value is MISSING else text(pod_value)
    return [default if v is MISSING else text(v) for v in pod_values(doc, pod_list, index, key)]


def rules_values(doc: Any, index: int, *keys: str) -> list[str]:
    """The strings of an array in each rule of a role (e.g. their verbs), flattened."""
    out: list[str] = []
    for value in values_at(doc, index, ("requestObject", "rules", *keys)):
        if isinstance(value, list):
            out += texts_present(value)
    return out


def subject_names(doc: Any, kind: str, namespaced: bool = False) -> list[str]:
    """Names of the subjects of a (cluster) role binding of one kind."""
    subjects = get(doc, "requestObject", "subjects")
    if subjects is MISSING:
        return []
    if not isinstance(subjects, list):
        raise wrong_type("subjects is not an array")
    out = []
    for subject in subjects:
        name, subject_kind = get(subject, "name"), get(subject, "kind")
        if name is MISSING or subject_kind is MISSING or text(subject_kind) != kind:
            continue
        if namespaced:
            namespace = get(subject, "namespace")
            if namespace is MISSING:
                continue
            out.append(f"{text(namespace)}:{text(name)}")
        else:
            out.append(text(name))
    return out


def query_param(uri: str, key: str) -> str | None:
    """The first value of a query parameter of a request URI (as Go's url package reads
    it: ``+`` is a space, a bad escape or a ``;`` separator is an error)."""
    query = urlsplit(uri).query
    found = None
    for part in query.split("&") if query else ():
        if ";" in part:
            raise PluginError(f"invalid semicolon separator in query of {uri!r}")
        name, _, value = part.partition("=")
        if "%" in part and not _valid_escapes(part):
            raise PluginError(f"invalid URL escape in query of {uri!r}")
        if found is None and unquote_plus(name) == key:
            found = unquote_plus(value)
    return found


def _valid_escapes(part: str) -> bool:
    pieces = part.split("%")[1:]
    return all(len(p) >= 2 and all(c in "0123456789abcdefABCDEF" for c in p[:2]) for p in pieces)


# ------------------------------------------------------------------ the special fields


def target_pod_name(doc: Any, _arg: Any) -> str:
    """The pod's name from the response, for requests on pods themselves."""
    resource, subresource = get(doc, "objectRef", "resource"), get(doc, "objectRef", "subresource")
    if resource != "pods" or (isinstance(subresource, str) and subresource):
        raise NotAvailable
    return at("responseObject", "metadata", "name")(doc, None)


def uri_param(doc: Any, key: str) -> str:
    uri = get(doc, "requestURI")
    if uri is MISSING:
        raise NotAvailable
    value = query_param(text(uri), key)
    if value is None:
        raise NotAvailable
    return value


def any_privileged(doc: Any, _arg: Any) -> str:
    values = pod_values(doc, "containers", ANY, "securityContext", "privileged")
    return "true" if any(v is True for v in values) else "false"


def volume_types(doc: Any, index: int) -> list[str]:
    """The kinds of the pod's volumes: the keys of each volume other than its name."""
    volumes = values_at(doc, index, ("requestObject", "spec", "volumes", ""))
    return [key for v in volumes if isinstance(v, dict) for key in v if key != "name"]


def uses_host_path(doc: Any, path: str) -> str:
    """ "true" when the first volume's host path is ``path`` (or starts with it, for a
    ``path`` ending in ``*``), else "false"."""
    paths = texts_present(
        values_at(doc, 0, ("requestObject", "spec", "volumes", "hostPath", "path"))
    )
    prefix = path[:-1] if path.endswith("*") else None
    hit = any(p == path or (prefix is not None and p.startswith(prefix)) for p in paths)
    return "true" if hit else "false"


def at(*keys: str) -> Extractor:
    """A value at fixed keys, as text (``extract.keys`` lets fields read it faster)."""

    def extract(doc: Any, _arg: Any) -> str:
        value = get(doc, *keys)
        if value is MISSING:
            raise NotAvailable
        return text(value)

    extract.keys = keys  # type: ignore[attr-defined]
    return extract


def list_at(*keys: str) -> Extractor:
    """A JSON array at fixed keys, each element as text."""

    def extract(doc: Any, _arg: Any) -> list[str]:
        value = get(doc, *keys)
        if value is MISSING:
            raise NotAvailable
        if not isinstance(value, list):
            raise wrong_type(f"{'.'.join(keys)} is not an array")
        return [text(v) for v in value]

    return extract


def per_container(*keys: str) -> Callable[[str], Extractor]:
    """A value of each container of a list that has it."""
    return lambda pods: lambda doc, i: texts_present(pod_values(doc, pods, i, *keys))


def _container_table() -> dict[str, tuple[str, Callable[[str], Extractor]]]:
    """Per-container field suffix: (what it holds, extractor for a container list)."""
    return {
        "args": (
            "args, joined by spaces",
            lambda pods: lambda d, i: joined_arrays(pod_values(d, pods, i, "args"), "args"),
        ),
        "command": (
            "commands, joined by spaces",
            lambda pods: lambda d, i: joined_arrays(pod_values(d, pods, i, "command"), "command"),
        ),
        "name": ("names", lambda pods: lambda d, i: texts(pod_values(d, pods, i, "name"))),
        "image": ("images", lambda pods: lambda d, i: images(d, pods, i)),
        "image.repository": (
            "image repositories (each image up to its first ':' or '@')",
            lambda pods: lambda d, i: repositories(d, pods, i),
        ),
        "host_port": (
            "host ports (the container port where no host port is set)",
            lambda pods: lambda d, i: host_ports(d, pods, i),
        ),
        "privileged": (
            "securityContext.privileged flags",
            per_container("securityContext", "privileged"),
        ),
        "allow_privilege_escalation": (
            "securityContext.allowPrivilegeEscalation flags",
            per_container("securityContext", "allowPrivilegeEscalation"),
        ),
        "read_only_fs": (
            "securityContext.readOnlyRootFilesystem flags",
            per_container("securityContext", "readOnlyRootFilesystem"),
        ),
        "run_as_user": (
            "securityContext.runAsUser uids",
            per_container("securityContext", "runAsUser"),
        ),
        "eff_run_as_user": (
            "uids they start with: runAsUser of the container, else of the pod, else 0",
            lambda pods: lambda d, i: effective(d, pods, i, "runAsUser"),
        ),
        "run_as_group": (
            "securityContext.runAsGroup gids",
            per_container("securityContext", "runAsGroup"),
        ),
        "eff_run_as_group": (
            "gids they start with: runAsGroup of the container, else of the pod, else 0",
            lambda pods: lambda d, i: effective(d, pods, i, "runAsGroup"),
        ),
        "proc_mount": (
            "securityContext.procMount types",
            per_container("securityContext", "procMount"),
        ),
        "add_capabilities": (
            "capabilities added by securityContext.capabilities.add",
            per_container("securityContext", "capabilities", "add"),
        ),
    }


CONTAINERS = _container_table()


def containers(suffix: str, pods: str = "containers") -> tuple[str, str, str, Extractor]:
    """The (name, shape, description, extractor) of a per-container field."""
    what, make = CONTAINERS[suffix]
    label = {"containers": "containers", "initContainers": "init containers"}.get(
        pods, "ephemeral containers"
    )
    return (
        f"ka.req.pod.{pods}.{suffix}",
        "list[i]",
        f"For a pod request: its {label}' {what}",
        make(pods),
    )


def first(extract: Extractor) -> Extractor:
    """The first value of a list extractor."""
    return lambda doc, _arg: extract(doc, 0)[0]


# the per-container fields of init and ephemeral containers, in the Go plugin's order
# (ephemeral containers have no ports)
OTHER_LISTS = (
    "name",
    "image",
    "image.repository",
    "command",
    "args",
    "privileged",
    "allow_privilege_escalation",
    "read_only_fs",
    "run_as_user",
    "eff_run_as_user",
    "run_as_group",
    "eff_run_as_group",
    "proc_mount",
    "add_capabilities",
)
REQ = "For a pod request"
RULES = "For a role or cluster role request: its rules'"
BINDING = "For a role binding or cluster role binding request"

# Every ka.* field, in the Go plugin's order: (name, shape, description, extractor).
# Shapes: "str" a string, "list" a list, "list[i]" a list with an optional index argument,
# "str[k]" a string with a required key argument.
FIELDS: list[tuple[str, str, str, Extractor]] = [
    ("ka.auditid", "str", "The audit event's unique id (auditID)", at("auditID")),
    (
        "ka.stage",
        "str",
        "The request's stage (RequestReceived, ResponseComplete, ...)",
        at("stage"),
    ),
    (
        "ka.auth.decision",
        "str",
        "The authorization decision (annotation)",
        at("annotations", "authorization.k8s.io/decision"),
    ),
    (
        "ka.auth.reason",
        "str",
        "Why the request was authorized or not (annotation)",
        at("annotations", "authorization.k8s.io/reason"),
    ),
    (
        "ka.auth.openshift.decision",
        "str",
        "OpenShift only: the authentication decision",
        at("annotations", "authentication.openshift.io/decision"),
    ),
    (
        "ka.validations.admission.policy.failure",
        "str",
        "Why a validating admission policy refused the request",
        at("annotations", "validation.policy.admission.k8s.io/validation_failure"),
    ),
    (
        "ka.security.pod.violations",
        "str",
        "The pod security standards the request violates",
        at("annotations", "pod-security.kubernetes.io/audit-violations"),
    ),
    (
        "ka.auth.openshift.username",
        "str",
        "OpenShift only: the authenticated user name",
        at("annotations", "authentication.openshift.io/username"),
    ),
    ("ka.user.name", "str", "The name of the user making the request", at("user", "username")),
    (
        "ka.user.groups",
        "list",
        "The groups of the user making the request",
        list_at("user", "groups"),
    ),
    (
        "ka.impuser.name",
        "str",
        "The user the request impersonates",
        at("impersonatedUser", "username"),
    ),
    ("ka.verb", "str", "The request's verb (get, create, delete, ...)", at("verb")),
    ("ka.uri", "str", "The request URI, as the client sent it", at("requestURI")),
    (
        "ka.uri.param",
        "str[k]",
        "A query parameter of the request URI: ka.uri.param[key] is val for ...?key=val",
        uri_param,
    ),
    (
        "ka.target.name",
        "str",
        "The name of the object the request is about",
        at("objectRef", "name"),
    ),
    (
        "ka.target.namespace",
        "str",
        "The namespace of the object the request is about",
        at("objectRef", "namespace"),
    ),
    (
        "ka.target.resource",
        "str",
        "The resource the request is about (pods, secrets, ...)",
        at("objectRef", "resource"),
    ),
    (
        "ka.target.subresource",
        "str",
        "The subresource the request is about (exec, ...)",
        at("objectRef", "subresource"),
    ),
    ("ka.target.pod.name", "str", "For a request on a pod itself: the pod's name", target_pod_name),
    (
        "ka.req.binding.subjects",
        "list",
        f"{BINDING}: its subjects",
        list_at("requestObject", "subjects"),
    ),
    (
        "ka.req.binding.subjects.user_names",
        "list",
        f"{BINDING}: the names of its user subjects",
        lambda d, _a: subject_names(d, "User"),
    ),
    (
        "ka.req.binding.subjects.serviceaccount_names",
        "list",
        f"{BINDING}: the names of its service account subjects",
        lambda d, _a: subject_names(d, "ServiceAccount"),
    ),
    (
        "ka.req.binding.subjects.serviceaccount_ns_names",
        "list",
        f"{BINDING}: its service account subjects as namespace:name",
        lambda d, _a: subject_names(d, "ServiceAccount", namespaced=True),
    ),
    (
        "ka.req.binding.subjects.group_names",
        "list",
        f"{BINDING}: the names of its group subjects",
        lambda d, _a: subject_names(d, "Group"),
    ),
    (
        "ka.req.binding.role",
        "str",
        f"{BINDING}: the role it binds",
        at("requestObject", "roleRef", "name"),
    ),
    (
        "ka.req.binding.subject.has_name",
        "str[k]",
        "Deprecated: always true, kept for old rules",
        lambda _d, _a: "true",
    ),
    (
        "ka.req.configmap.name",
        "str",
        "For a config map request: the config map's name",
        at("objectRef", "name"),
    ),
    (
        "ka.req.configmap.obj",
        "str",
        "For a config map request: its data, as JSON",
        at("requestObject", "data"),
    ),
    containers("args"),
    containers("command"),
    containers("name"),
    containers("image"),
    (
        "ka.req.container.image",
        "str",
        "Deprecated (ka.req.pod.containers.image): the first container's image",
        first(lambda d, i: images(d, "containers", i)),
    ),
    containers("image.repository"),
    (
        "ka.req.container.image.repository",
        "str",
        "Deprecated (ka.req.pod.containers.image.repository): the first container's repository",
        first(lambda d, i: repositories(d, "containers", i)),
    ),
    (
        "ka.req.pod.host_ipc",
        "str",
        f"{REQ}: its hostIPC flag",
        at("requestObject", "spec", "hostIPC"),
    ),
    (
        "ka.req.pod.host_network",
        "str",
        f"{REQ}: its hostNetwork flag",
        at("requestObject", "spec", "hostNetwork"),
    ),
    (
        "ka.req.container.host_network",
        "str",
        "Deprecated name of ka.req.pod.host_network",
        at("requestObject", "spec", "hostNetwork"),
    ),
    (
        "ka.req.pod.host_pid",
        "str",
        f"{REQ}: its hostPID flag",
        at("requestObject", "spec", "hostPID"),
    ),
    containers("host_port"),
    containers("privileged"),
    (
        "ka.req.container.privileged",
        "str",
        "Deprecated (ka.req.pod.containers.privileged): true if any container is privileged",
        any_privileged,
    ),
    containers("allow_privilege_escalation"),
    containers("read_only_fs"),
    (
        "ka.req.pod.run_as_user",
        "str",
        f"{REQ}: the pod's securityContext.runAsUser",
        at("requestObject", "spec", "securityContext", "runAsUser"),
    ),
    containers("run_as_user"),
    containers("eff_run_as_user"),
    (
        "ka.req.pod.run_as_group",
        "str",
        f"{REQ}: the pod's securityContext.runAsGroup",
        at("requestObject", "spec", "securityContext", "runAsGroup"),
    ),
    containers("run_as_group"),
    containers("eff_run_as_group"),
    containers("proc_mount"),
    (
        "ka.req.role.rules",
        "list",
        "For a role or cluster role request: its rules",
        list_at("requestObject", "rules"),
    ),
    (
        "ka.req.role.rules.apiGroups",
        "list[i]",
        f"{RULES} API groups",
        lambda d, i: rules_values(d, i, "apiGroups"),
    ),
    (
        "ka.req.role.rules.nonResourceURLs",
        "list[i]",
        f"{RULES} non-resource URLs",
        lambda d, i: rules_values(d, i, "nonResourceURLs"),
    ),
    (
        "ka.req.role.rules.verbs",
        "list[i]",
        f"{RULES} verbs",
        lambda d, i: rules_values(d, i, "verbs"),
    ),
    (
        "ka.req.role.rules.resources",
        "list[i]",
        f"{RULES} resources",
        lambda d, i: rules_values(d, i, "resources"),
    ),
    (
        "ka.req.pod.fs_group",
        "str",
        f"{REQ}: the pod's securityContext.fsGroup",
        at("requestObject", "spec", "securityContext", "fsGroup"),
    ),
    (
        "ka.req.pod.supplemental_groups",
        "list",
        f"{REQ}: the pod's securityContext.supplementalGroups",
        list_at("requestObject", "spec", "securityContext", "supplementalGroups"),
    ),
    containers("add_capabilities"),
    (
        "ka.req.service.type",
        "str",
        "For a service request: the service's type",
        at("requestObject", "spec", "type"),
    ),
    (
        "ka.req.service.ports",
        "list[i]",
        "For a service request: the service's ports, as JSON",
        lambda d, i: texts_present(values_at(d, i, ("requestObject", "spec", "ports"))),
    ),
    (
        "ka.req.pod.volumes.hostpath",
        "list[i]",
        f"{REQ}: the host paths of its volumes",
        lambda d, i: texts_present(
            values_at(d, i, ("requestObject", "spec", "volumes", "hostPath", "path"))
        ),
    ),
    (
        "ka.req.volume.hostpath",
        "str[k]",
        "Deprecated (ka.req.pod.volumes.hostpath): whether a volume uses a host path (prefix*)",
        uses_host_path,
    ),
    (
        "ka.req.pod.volumes.flexvolume_driver",
        "list[i]",
        f"{REQ}: the flexVolume drivers",
        lambda d, i: texts_present(
            values_at(d, i, ("requestObject", "spec", "volumes", "flexVolume", "driver"))
        ),
    ),
    ("ka.req.pod.volumes.volume_type", "list[i]", f"{REQ}: the types of its volumes", volume_types),
    (
        "ka.resp.name",
        "str",
        "The name of the object in the response",
        at("responseObject", "metadata", "name"),
    ),
    ("ka.response.code", "str", "The response's HTTP status code", at("responseStatus", "code")),
    (
        "ka.response.reason",
        "str",
        "Why the request failed (the response's reason)",
        at("responseStatus", "reason"),
    ),
    ("ka.useragent", "str", "The user agent of the client", at("userAgent")),
    (
        "ka.sourceips",
        "list[i]",
        "Client IP addresses (read as the Go plugin reads them)",
        lambda d, i: rules_values(d, i, "sourceIPs"),
    ),
    (
        "ka.cluster.name",
        "str",
        "The cluster's name (annotation cluster_name)",
        at("annotations", "cluster_name"),
    ),
    *(containers(suffix, "initContainers") for suffix in (*OTHER_LISTS, "host_port")),
    *(containers(suffix, "ephemeralContainers") for suffix in OTHER_LISTS),
]


# -------------------------------------------------------------- the fields as methods


def field_method(name: str, shape: str, desc: str, extract: Extractor) -> Any:
    """A method extracting one field with ``extract(audit_event, argument)``, marked with
    :func:`falco_plugin.field` (its annotations give the field's type and argument)."""
    if shape == "list[i]":

        def method(self: Any, event: ExtractEvent, index: int = ANY) -> Any:
            doc = event.context
            if doc is MISSING:
                return None
            try:
                return extract(doc, index)
            except NotAvailable:
                return None

        method.__annotations__ = {"event": ExtractEvent, "index": int, "return": list[str]}
    elif shape == "str[k]":

        def method(self: Any, event: ExtractEvent, key: str) -> Any:
            doc = event.context
            if doc is MISSING:
                return None
            try:
                return extract(doc, key)
            except NotAvailable:
                return None

        method.__annotations__ = {"event": ExtractEvent, "key": str, "return": str | None}
    elif hasattr(extract, "keys"):  # a value at fixed keys: the most used fields, inlined
        keys = extract.keys

        def method(self: Any, event: ExtractEvent) -> Any:
            node = event.context
            for key in keys:
                node = node.get(key, MISSING) if type(node) is dict else get(node, key)
            if node is MISSING:
                return None
            return node if type(node) is str else text(node)

        method.__annotations__ = {"event": ExtractEvent, "return": str | None}
    else:

        def method(self: Any, event: ExtractEvent) -> Any:
            doc = event.context
            if doc is MISSING:
                return None
            try:
                return extract(doc, None)
            except NotAvailable:
                return None

        returns = list[str] if shape == "list" else str | None
        method.__annotations__ = {"event": ExtractEvent, "return": returns}
    method.__name__ = method.__qualname__ = "field_" + name.replace(".", "_")
    return field(name, desc=desc)(method)


class AuditFields(ExtractPlugin):
    """The ka.* fields; a plugin class gets them by subclassing this one."""

    def make_context(self, event: ExtractEvent) -> Any:
        return decode_audit_event(event.payload)


for _spec in FIELDS:
    _method = field_method(*_spec)
    setattr(AuditFields, _method.__name__, _method)
