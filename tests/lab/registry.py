"""A real CNCF distribution registry (``docker-registry serve``) on a loopback port.

`RegistryServer` writes a distribution 2.8 YAML config into a temp dir, starts the binary,
waits (bounded) until ``GET /v2/`` answers 200/401, and stops it on exit. It knows how to reach
itself (scheme, host, CA, default credentials), which is what the pusher, skopeo helpers and
fixtures need.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import bcrypt
import trustme
import yaml

from tests.lab.client import LabHTTP
from tests.lab.serving import Service
from tests.lab.tls import client_ssl_context, issue_client_cert, write_certs_d, write_server_cert

__all__ = [
    "REGISTRY_BINARY",
    "LabError",
    "TokenAuth",
    "free_port",
    "require_binary",
    "htpasswd_line",
    "RegistryServer",
]

#: The binary name from Debian's ``docker-registry`` package; overridable for other layouts.
REGISTRY_BINARY = os.environ.get("LAB_REGISTRY_BINARY", "docker-registry")

AuthMode = Literal["htpasswd", "token"]


class LabError(RuntimeError):
    """The lab itself could not be set up (missing binary, server did not start...)."""


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """What the registry's ``auth.token`` section needs to trust a token issuer."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the kernel picks; never assumes 5000)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def require_binary(name: str) -> str:
    """The full path of ``name`` or a `LabError` saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise LabError(
            f"{name!r} not found on PATH: the integration lab needs the Debian packages "
            "docker-registry and skopeo (run `make system-deps`, or "
            "`apt-get install docker-registry skopeo gnupg`)"
        )
    return path


def htpasswd_line(user: str, password: str, *, rounds: int = 4) -> str:
    """One htpasswd entry; bcrypt at cost 4 because the registry re-checks on every request."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds, prefix=b"2b"))
    return f"{user}:{hashed.decode()}"


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


class RegistryServer(Service):
    """A ``docker-registry serve`` subprocess on ``127.0.0.1:<free port>``.

    Use as a context manager. ``auth`` selects htpasswd (``users``) or token auth
    (``token``, usually ``TokenIssuer.registry_auth()``); ``tls`` a trustme CA that signs the
    server certificate; ``client_auth`` additionally requires a client certificate from that CA.
    ``config_overrides`` is deep-merged into the YAML config for quirk experiments.
    """

    def __init__(
        self,
        *,
        auth: AuthMode | None = None,
        tls: trustme.CA | None = None,
        delete_enabled: bool = True,
        schema1_enabled: bool = False,
        users: Mapping[str, str] | None = None,
        token: TokenAuth | None = None,
        creds: tuple[str, str] | None = None,
        client_auth: bool = False,
        workdir: Path | None = None,
        log_level: str = "warn",
        config_overrides: Mapping[str, Any] | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        if auth == "token" and token is None:
            raise LabError("auth='token' needs token=TokenAuth(...) (TokenIssuer.registry_auth())")
        if auth == "htpasswd" and not users:
            raise LabError("auth='htpasswd' needs a users dict")
        if client_auth and tls is None:
            raise LabError("client_auth needs tls")
        self.auth = auth
        self.tls = tls
        self.delete_enabled = delete_enabled
        self.schema1_enabled = schema1_enabled
        self.users: dict[str, str] = dict(users or {})
        self.token = token
        self.client_auth = client_auth
        self.log_level = log_level
        self.config_overrides = dict(config_overrides or {})
        self.start_timeout = start_timeout
        #: Credentials the pusher uses by default (first htpasswd user unless given).
        self.creds: tuple[str, str] | None = creds
        if self.creds is None and auth == "htpasswd":
            self.creds = next(iter(self.users.items()))
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._workdir_arg = workdir
        self.workdir = Path()
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.ca_path: Path | None = None
        self.cert_dir: Path | None = None
        self.certs_d: Path | None = None
        self.client_cert: trustme.LeafCert | None = None

    # -- addresses ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def tls_verify(self) -> bool:
        """The skopeo ``--tls-verify`` value that reaches this registry."""
        return self.tls is not None

    @property
    def storage_dir(self) -> Path:
        return self.workdir / "storage"

    @property
    def config_path(self) -> Path:
        return self.workdir / "config.yml"

    @property
    def log_path(self) -> Path:
        """stdout+stderr of the registry process."""
        return self.workdir / "registry.log"

    @property
    def htpasswd_path(self) -> Path:
        return self.workdir / "htpasswd"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client SSL context trusting the lab CA (and presenting the client cert)."""
        if self.tls is None:
            return None
        return client_ssl_context(self.tls, client=self.client_cert)

    def http(self, creds: tuple[str, str] | Literal["default"] | None = "default") -> LabHTTP:
        """A small authenticating HTTP client for this registry (default: pusher creds)."""
        return LabHTTP(
            self.host,
            scheme=self.scheme,
            ssl_context=self.ssl_context(),
            creds=self.creds if creds == "default" else creds,
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- config ------------------------------------------------------------------------------

    def build_config(self) -> dict[str, Any]:
        """The distribution 2.8 config as a dict (keys as in distribution's configuration docs)."""
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": self.log_level, "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage_dir)},
                "delete": {"enabled": self.delete_enabled},
                "cache": {"blobdescriptor": "inmemory"},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
        }
        if self.schema1_enabled:
            cfg["compatibility"] = {"schema1": {"enabled": True}}
        if self.auth == "htpasswd":
            cfg["auth"] = {"htpasswd": {"realm": "basic-realm", "path": str(self.htpasswd_path)}}
        elif self.auth == "token":
            assert self.token is not None
            cfg["auth"] = {
                "token": {
                    "realm": self.token.realm,
                    "service": self.token.service,
                    "issuer": self.token.issuer,
                    "rootcertbundle": str(self.token.rootcertbundle),
                }
            }
        if self.tls is not None:
            files = write_server_cert(self.tls, self.workdir / "tls")
            tls_cfg: dict[str, Any] = {"certificate": str(files.cert), "key": str(files.key)}
            if self.client_auth:
                tls_cfg["clientcas"] = [str(files.ca)]
            cfg["http"]["tls"] = tls_cfg
        return _deep_merge(cfg, self.config_overrides)

    def _write_files(self) -> None:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        if self.auth == "htpasswd":
            lines = [htpasswd_line(u, p) for u, p in self.users.items()]
            self.htpasswd_path.write_text("\n".join(lines) + "\n")
        if self.tls is not None:
            if self.client_auth and self.client_cert is None:
                self.client_cert = issue_client_cert(self.tls)
            self.certs_d = self.workdir / "certs.d"
            self.cert_dir = write_certs_d(
                self.tls, self.certs_d, self.host, client=self.client_cert
            )
            self.ca_path = self.cert_dir / "ca.crt"
        self.config_path.write_text(yaml.safe_dump(self.build_config(), sort_keys=False))

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        binary = require_binary(REGISTRY_BINARY)
        if self._workdir_arg is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lab-registry-")
            self.workdir = Path(self._tmp.name)
        else:
            self.workdir = self._workdir_arg
            self.workdir.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = free_port()
            self._write_files()
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [binary, "serve", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                )
            try:
                self._wait_ready()
                return self
            except LabError as exc:
                last_error = str(exc)
                self._stop_process()
                if "address already in use" not in self.log_tail():
                    break
        self._cleanup_dir()
        raise LabError(last_error)

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LabError(
                    f"docker-registry exited with {self.process.returncode} during start-up; "
                    f"config {self.config_path}; log tail:\n{self.log_tail()}"
                )
            try:
                status = self._probe()
            except (OSError, http.client.HTTPException) as exc:
                last = repr(exc)
            else:
                if status in (200, 401):
                    return
                last = f"HTTP {status}"
            time.sleep(0.02)
        raise LabError(
            f"docker-registry on {self.host} not ready after {self.start_timeout} s ({last}); "
            f"log tail:\n{self.log_tail()}"
        )

    def _probe(self) -> int:
        conn: http.client.HTTPConnection
        if self.tls is not None:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=1.0, context=self.ssl_context()
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
        try:
            conn.request("GET", "/v2/")
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def _stop_process(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def _cleanup_dir(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def stop(self) -> None:
        self._stop_process()
        self._cleanup_dir()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None
