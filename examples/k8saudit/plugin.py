"""k8saudit: a port of the official ``k8saudit`` plugin (falcosecurity/plugins).

The Kubernetes audit event source (plugin id 1, source ``k8s_audit``) and its ``ka.*``
fields, with the Go plugin's name, config, open params and field semantics (version
0.18.0), so the official ``k8s_audit_rules.yaml`` runs unchanged with this plugin and the
``json`` plugin (``examples/json``).

Open params say where the events come from:

- a file path: the file's audit events, one JSON document a line (an ``Event``, an
  ``EventList`` or an array of them), until its end; a folder: all its files, oldest first;
- ``file://PATH``: follow a log file as it grows (across rotation), without end;
- ``http://HOST:PORT/PATH`` or ``https://...``: a webhook endpoint for the API server's
  audit webhook backend (``https`` with ``sslCertificate``, one PEM file holding the
  certificate and its key).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from k8saudit_events import AuditParser, Counters
from k8saudit_fields import AuditFields
from k8saudit_sources import FileInstance, FollowInstance, WebhookInstance

from falco_plugin import (
    Metric,
    OpenParam,
    PluginError,
    PluginEvent,
    SourceInstance,
    SourcePlugin,
)


@dataclasses.dataclass
class K8sAuditConfig:
    """Configuration of the k8saudit plugin."""

    ALLOW_UNKNOWN_KEYS: ClassVar[bool] = True  # the Go plugin ignores unknown keys too

    sslCertificate: str = dataclasses.field(  # noqa: N815 (the Go plugin's keys)
        default="/etc/falco/falco.pem",
        metadata={
            "title": "SSL certificate",
            "description": "PEM file with the certificate and key of the https webhook",
        },
    )
    useAsync: bool = dataclasses.field(  # noqa: N815
        default=True,
        metadata={
            "title": "Use async extraction",
            "description": "Accepted for compatibility with the Go plugin; no effect here",
        },
    )
    maxEventSize: int = dataclasses.field(  # noqa: N815
        default=262144,
        metadata={
            "title": "Maximum event size",
            "description": "Largest audit event in bytes (larger ones are dropped and logged)",
        },
    )
    webhookMaxBatchSize: int = dataclasses.field(  # noqa: N815
        default=12 * 1024 * 1024,
        metadata={
            "title": "Maximum webhook request size",
            "description": "Largest webhook request body in bytes (larger ones get a 400)",
        },
    )

    def __post_init__(self) -> None:
        for name in ("maxEventSize", "webhookMaxBatchSize"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


class K8sAudit(SourcePlugin, AuditFields):
    NAME = "k8saudit"
    VERSION = "0.18.0"  # the version of the Go plugin whose behaviour this port matches
    DESCRIPTION = "Kubernetes audit events from files and the API server's audit webhook"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"
    PLUGIN_ID = 1
    EVENT_SOURCE = "k8s_audit"

    def __init__(self, config: K8sAuditConfig) -> None:
        self.config = config
        self.counters = Counters()

    def open(self, params: str) -> SourceInstance:
        parser = AuditParser(self.config.maxEventSize, self.logger, self.counters)
        url = urlsplit(params.strip())
        if url.scheme in ("http", "https"):
            return self.open_webhook(params, url.scheme == "https", parser)
        if url.scheme == "file":
            return FollowInstance(Path(url.path), parser, self.counters)
        if url.scheme:
            raise PluginError(f'scheme "{url.scheme}" is not supported')
        return FileInstance(self.input_files(params.strip()), parser, self.counters)

    def input_files(self, text: str) -> list[Path]:
        """The file, or the files of the folder oldest first, as the Go plugin reads them."""
        path = Path(text)
        try:
            if not path.is_dir():
                path.stat()
                return [path]
            files = [p for p in path.iterdir() if not p.is_dir()]
            return sorted(files, key=lambda p: p.stat().st_mtime_ns)
        except OSError as exc:
            raise PluginError(f"cannot read audit events from {text!r}: {exc.strerror}") from None

    def open_webhook(self, params: str, tls: bool, parser: AuditParser) -> WebhookInstance:
        url = urlsplit(params.strip())
        try:
            port = url.port
        except ValueError:
            port = None
        if port is None:
            raise PluginError(
                f"the webhook address needs a port, e.g. http://:9765/k8s-audit (got {params!r})"
            )
        return WebhookInstance(
            url.hostname or "0.0.0.0",
            port,
            url.path,
            certificate=self.config.sslCertificate if tls else None,
            max_body=self.config.webhookMaxBatchSize,
            parser=parser,
            counters=self.counters,
        )

    def list_open_params(self) -> list[OpenParam]:
        return [
            OpenParam("http://:9765/k8s-audit", "the API server's audit webhook, over http"),
            OpenParam("https://:9765/k8s-audit", "the same over https (sslCertificate)"),
            OpenParam("/var/log/kubernetes/audit.log", "the audit events of a log file"),
            OpenParam("file:///var/log/kubernetes/audit.log", "a log file, followed as it grows"),
        ]

    def event_to_string(self, event: PluginEvent) -> str:
        return event.payload.decode(errors="replace")

    def get_metrics(self) -> list[Metric]:
        c = self.counters
        return [
            Metric("events", c.events),
            Metric("dropped", c.dropped),
            Metric("bytes_read", c.bytes),
            Metric("webhook_requests", c.requests),
            Metric("webhook_rejected", c.rejected),
        ]
