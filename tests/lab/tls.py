"""TLS material for the lab: a trustme CA, server and client certificates written to files.

The registry needs PEM files on disk; containers/image (and so skopeo and our client's
certs.d support) reads a per-host folder holding ``ca.crt`` and optionally ``client.cert`` +
``client.key``. Everything here is throwaway and made fresh per process.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

__all__ = [
    "SERVER_IDENTITIES",
    "ServerCertFiles",
    "ClientCertFiles",
    "make_ca",
    "write_ca_cert",
    "write_server_cert",
    "issue_client_cert",
    "write_client_cert",
    "write_certs_d",
    "client_ssl_context",
]

#: Names every lab server certificate is valid for.
SERVER_IDENTITIES: tuple[str, ...] = ("127.0.0.1", "localhost", "registry.test")


@dataclass(frozen=True, slots=True)
class ServerCertFiles:
    """PEM files for a TLS server: ``cert`` holds the leaf followed by its chain."""

    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True, slots=True)
class ClientCertFiles:
    """PEM files for a TLS client certificate, named the way certs.d wants them."""

    cert: Path
    key: Path


def make_ca() -> trustme.CA:
    """A fresh ECDSA CA (ECDSA keys are generated in microseconds, RSA in tens of ms)."""
    return trustme.CA(organization_name="sansio-registry lab")


def write_ca_cert(ca: trustme.CA, path: Path) -> Path:
    """Write the CA certificate (PEM) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(path))
    return path


def write_server_cert(
    ca: trustme.CA, directory: Path, *, identities: tuple[str, ...] = SERVER_IDENTITIES
) -> ServerCertFiles:
    """Issue a server certificate for ``identities`` and write cert chain, key and CA."""
    directory.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert(*identities)
    cert = directory / "server.crt"
    key = directory / "server.key"
    with cert.open("wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    leaf.private_key_pem.write_to_path(str(key))
    return ServerCertFiles(cert=cert, key=key, ca=write_ca_cert(ca, directory / "ca.crt"))


def issue_client_cert(ca: trustme.CA, name: str = "lab-client") -> trustme.LeafCert:
    """A client certificate (the registry only checks that it chains to ``clientcas``)."""
    return ca.issue_cert(name, common_name=name)


def write_client_cert(leaf: trustme.LeafCert, directory: Path) -> ClientCertFiles:
    """Write ``client.cert`` (leaf + chain) and ``client.key`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert = directory / "client.cert"
    key = directory / "client.key"
    with cert.open("wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    leaf.private_key_pem.write_to_path(str(key))
    return ClientCertFiles(cert=cert, key=key)


def write_certs_d(
    ca: trustme.CA, root: Path, host: str, *, client: trustme.LeafCert | None = None
) -> Path:
    """Write a certs.d folder ``root/<host>/`` with ``ca.crt`` (and client files).

    Returns the per-host folder: that is what ``skopeo --cert-dir`` takes; ``root`` is what a
    certs.d search path takes.
    """
    folder = root / host
    write_ca_cert(ca, folder / "ca.crt")
    if client is not None:
        write_client_cert(client, folder)
    return folder


def client_ssl_context(
    ca: trustme.CA | None = None, *, client: trustme.LeafCert | None = None
) -> ssl.SSLContext:
    """An SSL context trusting ``ca`` (and presenting ``client``), for the lab's own HTTP."""
    ctx = ssl.create_default_context()
    if ca is not None:
        ca.configure_trust(ctx)
    if client is not None:
        client.configure_cert(ctx)
    return ctx
