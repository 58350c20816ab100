"""Fixtures of the k8saudit tests: free ports and a self-signed TLS certificate."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function giving a TCP port of 127.0.0.1 that nothing listens on."""

    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    return pick


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """(a PEM file with a self-signed certificate for localhost and its key, as the
    k8saudit plugins read it; the certificate alone, for clients to trust)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    both = tmp_path / "falco.pem"
    both.write_text(cert.read_text() + key.read_text())
    return both, cert
