"""A bearer-token issuer implementing the distribution token spec, for the registry to trust.

``GET /token?service=&scope=…&account=`` (optional Basic credentials) and the OAuth2
``POST /token`` form (``grant_type=password`` or ``refresh_token``). Tokens are RS256 JWTs signed
by a self-signed certificate the registry gets as ``rootcertbundle``; the header carries the
libtrust ``kid`` (default) or an ``x5c`` chain. Grants follow a small policy table. Every request
is recorded so tests can assert token caching; ``fail_next`` injects faults.
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import hashlib
import json
import secrets
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, Self

import jwt
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.lab.registry import TokenAuth
from tests.lab.serving import BackgroundHTTPServer, LoopbackService
from tests.lab.tls import write_server_cert

__all__ = [
    "Grants",
    "TokenRequest",
    "Fault",
    "SigningKey",
    "libtrust_key_id",
    "make_signing_key",
    "parse_scope",
    "TokenIssuer",
]

#: account ("" = anonymous) -> pattern -> actions. A pattern is an fnmatch glob matched
#: against the repository name for ``repository`` scopes and against ``type:name`` otherwise
#: (e.g. ``registry:catalog``). The action ``*`` allows every requested action.
Grants = Mapping[str, Mapping[str, Iterable[str]]]


def libtrust_key_id(public_key: Any) -> str:
    """libtrust's key ID: base32(sha256(DER SPKI)[:30]) in 4-char groups joined by ``:``."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An RSA key and the self-signed certificate the registry trusts."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def key_id(self) -> str:
        return libtrust_key_id(self.private_key.public_key())

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def x5c(self) -> list[str]:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return [base64.b64encode(der).decode()]


_KEY_CACHE: list[SigningKey] = []


def make_signing_key(*, fresh: bool = False) -> SigningKey:
    """An RSA-2048 key with a self-signed cert (cached per process: keygen costs ~50 ms)."""
    if _KEY_CACHE and not fresh:
        return _KEY_CACHE[0]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab token issuer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    signing = SigningKey(private_key=key, certificate=cert)
    if not fresh:
        _KEY_CACHE.append(signing)
    return signing


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """``type:name:actions`` (the name may hold ``:`` e.g. a port) or None if malformed."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    return kind, name, [a for a in actions.split(",") if a]


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One request the issuer saw."""

    method: str
    path: str
    scopes: tuple[str, ...]
    account: str | None  # the authenticated account, None when anonymous or refused
    grant_type: str | None  # POST only
    status: int
    had_basic: bool
    service: str | None


@dataclass(slots=True)
class Fault:
    """Answer the next ``count`` requests with ``status`` and ``body`` instead."""

    status: int
    body: bytes = b""
    count: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.issuer._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.issuer._handle(self, "POST")


class _Server(ThreadingHTTPServer):
    issuer: TokenIssuer


class TokenIssuer(LoopbackService):
    """The lab's token server; a context manager running in a background thread."""

    def __init__(
        self,
        *,
        service: str = "lab-registry",
        issuer: str = "lab-token-issuer",
        users: Mapping[str, str] | None = None,
        grants: Grants | None = None,
        refresh_tokens: Mapping[str, str] | None = None,
        expires_in: int | None = 300,
        key_mode: Literal["kid", "x5c"] = "kid",
        signing_key: SigningKey | None = None,
        tls: trustme.CA | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.service = service
        self.issuer = issuer
        self.users: dict[str, str] = dict(users or {})
        if grants is None:
            grants = {u: {"*": {"*"}} for u in self.users}
        self.grants: dict[str, dict[str, frozenset[str]]] = {
            acct: {pat: frozenset(acts) for pat, acts in table.items()}
            for acct, table in grants.items()
        }
        #: refresh token -> account (configured ones plus those issued).
        self.refresh_tokens: dict[str, str] = dict(refresh_tokens or {})
        self.expires_in = expires_in
        self.key_mode = key_mode
        self.signing_key = signing_key or make_signing_key()
        self.tls = tls
        self._workdir_arg = workdir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.workdir = Path()
        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._faults: list[Fault] = []
        self._server: BackgroundHTTPServer[_Server] | None = None
        self.port = 0

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def realm(self) -> str:
        return self.url + "/token"

    @property
    def cert_path(self) -> Path:
        """The signing certificate (PEM): the registry's ``rootcertbundle``."""
        return self.workdir / "token-signer.pem"

    def registry_auth(self) -> TokenAuth:
        """The registry-side settings (``RegistryServer(auth="token", token=...)``)."""
        return TokenAuth(
            realm=self.realm,
            service=self.service,
            issuer=self.issuer,
            rootcertbundle=self.cert_path,
        )

    # -- counters ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._requests)

    def count(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        scope: str | None = None,
        account: str | None = None,
        status: int | None = None,
    ) -> int:
        """How many recorded requests match every given filter (``scope``: one of its scopes)."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method)
            and (path is None or r.path == path)
            and (scope is None or scope in r.scopes)
            and (account is None or r.account == account)
            and (status is None or r.status == status)
        )

    def reset(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    def fail_next(
        self,
        status: int,
        body: bytes = b"",
        *,
        count: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Queue a fault: the next ``count`` token requests get ``status`` + ``body``."""
        with self._lock:
            self._faults.append(Fault(status, body, count, dict(headers or {})))

    # -- tokens ------------------------------------------------------------------------------

    def allowed_actions(self, account: str | None, kind: str, name: str) -> frozenset[str]:
        """The union of actions the policy gives ``account`` (and anonymous) on a resource."""
        subject = name if kind == "repository" else f"{kind}:{name}"
        out: set[str] = set()
        for acct in ("", account) if account else ("",):
            for pattern, actions in self.grants.get(acct, {}).items():
                if fnmatch.fnmatchcase(subject, pattern):
                    out |= actions
        return frozenset(out)

    def access_for(self, account: str | None, scopes: Iterable[str]) -> list[dict[str, Any]]:
        """The ``access`` claim: each requested resource with the granted subset of actions."""
        merged: dict[tuple[str, str], list[str]] = {}
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            kind, name, actions = parsed
            allowed = self.allowed_actions(account, kind, name)
            granted = merged.setdefault((kind, name), [])
            for action in actions:
                if ("*" in allowed or action in allowed) and action not in granted:
                    granted.append(action)
        return [{"type": k, "name": n, "actions": acts} for (k, n), acts in merged.items()]

    def issue(
        self,
        account: str | None,
        scopes: Iterable[str],
        *,
        expires_in: int | None = None,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> str:
        """Mint a signed token (also usable directly by tests, e.g. with a wrong audience)."""
        now = int(time.time())
        lifetime = expires_in if expires_in is not None else (self.expires_in or 60)
        claims = {
            "iss": issuer if issuer is not None else self.issuer,
            "sub": account or "",
            "aud": audience if audience is not None else self.service,
            "exp": now + lifetime,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": self.access_for(account, scopes),
        }
        header: dict[str, Any] = (
            {"kid": self.signing_key.key_id}
            if self.key_mode == "kid"
            else {"x5c": self.signing_key.x5c}
        )
        token: str = jwt.encode(
            claims, self.signing_key.private_key, algorithm="RS256", headers=header
        )
        return token

    def _token_body(
        self, account: str | None, scopes: list[str], *, refresh: bool
    ) -> dict[str, Any]:
        token = self.issue(account, scopes)
        body: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "issued_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if scopes:
            body["scope"] = " ".join(scopes)
        if refresh and account:
            rt = "rt-" + secrets.token_hex(12)
            with self._lock:
                self.refresh_tokens[rt] = account
            body["refresh_token"] = rt
        return body

    # -- HTTP --------------------------------------------------------------------------------

    def _handle(self, h: _Handler, method: str) -> None:
        parts = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        form: dict[str, list[str]] = {}
        if method == "POST":
            length = int(h.headers.get("Content-Length") or 0)
            raw = h.rfile.read(length) if length else b""
            form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        params = form if method == "POST" else query
        scopes = [s for v in params.get("scope", []) for s in v.split()]
        service = params["service"][0] if params.get("service") else None
        grant_type = form["grant_type"][0] if form.get("grant_type") else None
        authz = h.headers.get("Authorization") or ""
        had_basic = authz.lower().startswith("basic ")

        def finish(status: int, doc: Any, account: str | None, extra: Mapping[str, str]) -> None:
            data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
            with self._lock:
                self._requests.append(
                    TokenRequest(
                        method=method,
                        path=parts.path,
                        scopes=tuple(scopes),
                        account=account,
                        grant_type=grant_type,
                        status=status,
                        had_basic=had_basic,
                        service=service,
                    )
                )
            h.send_response(status)
            ctype = "application/json" if not isinstance(doc, bytes) else "text/plain"
            h.send_header("Content-Type", extra.get("Content-Type", ctype))
            for k, v in extra.items():
                if k != "Content-Type":
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)

        with self._lock:
            fault = self._faults[0] if self._faults else None
            if fault is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.pop(0)
        if fault is not None:
            finish(fault.status, fault.body, None, fault.headers)
            return
        if parts.path != "/token":
            finish(404, {"details": "not found"}, None, {})
            return
        refused = {"details": "incorrect username or password"}
        account: str | None = None
        if method == "GET":
            if authz:
                account = self._basic_account(authz)
                if account is None:
                    finish(401, refused, None, {})
                    return
            offline = (query.get("offline_token") or ["false"])[0].lower() == "true"
            finish(200, self._token_body(account, scopes, refresh=offline), account, {})
            return
        if grant_type == "password":
            user = (form.get("username") or [""])[0]
            password = (form.get("password") or [""])[0]
            if self.users.get(user) != password or not user:
                finish(401, refused, None, {})
                return
            offline = (form.get("access_type") or [""])[0] == "offline"
            finish(200, self._token_body(user, scopes, refresh=offline), user, {})
            return
        if grant_type == "refresh_token":
            rt = (form.get("refresh_token") or [""])[0]
            with self._lock:
                account = self.refresh_tokens.get(rt)
            if account is None:
                finish(401, {"details": "invalid refresh token"}, None, {})
                return
            body = self._token_body(account, scopes, refresh=False)
            body["refresh_token"] = rt
            finish(200, body, account, {})
            return
        finish(400, {"error": "unsupported_grant_type"}, None, {})

    def _basic_account(self, authz: str) -> str | None:
        scheme, _, value = authz.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user if user and self.users.get(user) == password else None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._workdir_arg is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lab-issuer-")
            self.workdir = Path(self._tmp.name)
        else:
            self.workdir = self._workdir_arg
            self.workdir.mkdir(parents=True, exist_ok=True)
        self.cert_path.write_bytes(self.signing_key.cert_pem)
        background = BackgroundHTTPServer(_Server, _Handler)
        server = background.server
        server.issuer = self
        if self.tls is not None:
            files = write_server_cert(self.tls, self.workdir / "tls")
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(files.cert, files.key)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self.port = background.port
        self._server = background.start()
        return self

    def stop(self) -> None:
        background, self._server = self._server, None
        if background is not None:
            background.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
