"""An in-memory model of registries and token servers, for driving the core without a network.

``FakeNetwork`` is a :data:`~sansio_registry.testing.Transport`: call it with a request and it
answers as the host named in the URL would. Hosts are :class:`FakeRegistry` (the distribution
API subset the core uses: ping, manifests, blobs, tags, deletes, optional basic or bearer auth)
or :class:`FakeTokenServer`. Every request is logged, so tests can check where credentials
went.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from sansio_registry.errors import TransportError
from sansio_registry.http import Headers, Origin, Request, Response

__all__ = [
    "FakeNetwork",
    "FakeRegistry",
    "FakeTokenServer",
    "error_body",
    "sha256_digest",
]


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=64)
def _served_digest(raw: bytes) -> str:
    """:func:`sha256_digest` of a stored manifest, hashed once however often it is served."""
    return sha256_digest(raw)


def error_body(code: str, message: str) -> bytes:
    """A distribution error envelope."""
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


def _json(status: int, body: bytes, **headers: str) -> Response:
    pairs = [("Content-Type", "application/json"), *headers.items()]
    return Response(status=status, headers=Headers(tuple(pairs)), body=body)


@dataclass
class FakeTokenServer:
    """A token issuer: grants ``repository:<repo>:<actions>`` to users its policy allows.

    Tokens are opaque strings ``tok-<n>``; :attr:`issued` maps them to (account, scopes), so
    a :class:`FakeRegistry` can check them.
    """

    service: str = "fake-registry"
    users: dict[str, str] = field(default_factory=dict)
    anonymous_pull: bool = True
    expires_in: int = 300
    issued: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    requests: int = 0

    def handle(self, request: Request) -> Response:
        """Answer ``GET /token?...`` (Basic auth optional)."""
        self.requests += 1
        query = parse_qs(urlsplit(request.url).query)
        account = ""
        auth = request.headers.get("Authorization")
        if auth is not None:
            try:
                user, _, password = (
                    base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
                )
            except (ValueError, UnicodeDecodeError):
                return _json(401, b'{"details":"bad credentials"}')
            if self.users.get(user) != password:
                return _json(401, b'{"details":"incorrect username or password"}')
            account = user
        elif not self.anonymous_pull:
            return _json(401, b'{"details":"authentication required"}')
        granted = frozenset(
            scope for scope in query.get("scope", []) if account or scope.endswith(":pull")
        )
        token = f"tok-{len(self.issued) + 1}"
        self.issued[token] = (account, granted)
        return _json(200, json.dumps({"token": token, "expires_in": self.expires_in}).encode())


@dataclass
class FakeRegistry:
    """One registry host (``GET /v2/<repo>/tags/list`` answers every tag in one page).

    Attributes:
        manifests: ``{repo: {tag or digest: (bytes, media type)}}``; a manifest stored under a
            tag is also served by its sha256 digest.
        auth: ``"none"``, ``"basic"`` (checked against ``users``) or ``"bearer"`` (tokens of
            ``token_server``, whose URL is ``realm``).
        fault: ``None`` or one of ``"ping404"``, ``"5xx"``, ``"wrong-digest"`` (serves other
            bytes than the tag's digest claims), ``"lying-header"``.
        delete_enabled: whether ``DELETE /v2/<repo>/manifests/<digest>`` works (202, and the
            manifest is gone under every tag); otherwise 405 ``UNSUPPORTED``, like a registry
            started without deletion.
    """

    manifests: dict[str, dict[str, tuple[bytes, str]]] = field(default_factory=dict)
    blobs: dict[str, dict[str, bytes]] = field(default_factory=dict)
    auth: str = "none"
    users: dict[str, str] = field(default_factory=dict)
    realm: str = ""
    token_server: FakeTokenServer | None = None
    fault: str | None = None
    supports_signatures: bool = False
    delete_enabled: bool = True

    def put_manifest(self, repo: str, tag: str, raw: bytes, media_type: str) -> str:
        """Store a manifest under ``tag`` (and its digest); return the digest."""
        digest = sha256_digest(raw)
        repo_manifests = self.manifests.setdefault(repo, {})
        repo_manifests[tag] = (raw, media_type)
        repo_manifests[digest] = (raw, media_type)
        return digest

    def _challenge(self) -> Headers:
        if self.auth == "basic":
            return Headers((("WWW-Authenticate", 'Basic realm="fake"'),))
        if self.auth == "bearer":
            service = self.token_server.service if self.token_server else ""
            return Headers(
                (("WWW-Authenticate", f'Bearer realm="{self.realm}",service="{service}"'),)
            )
        return Headers()

    def _unauthorized(self) -> Response:
        return Response(
            status=401,
            headers=self._challenge().with_("Content-Type", "application/json"),
            body=error_body("UNAUTHORIZED", "authentication required"),
        )

    def _authorized(self, request: Request, repo: str, action: str) -> bool:
        header = request.headers.get("Authorization") or ""
        if self.auth == "none":
            return True
        if self.auth == "basic":
            try:
                user, _, password = (
                    base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
                )
            except (ValueError, UnicodeDecodeError):
                return False
            return bool(user) and self.users.get(user) == password
        if self.token_server is None or not header.startswith("Bearer "):
            return False
        grant = self.token_server.issued.get(header.removeprefix("Bearer "))
        return grant is not None and any(
            scope.startswith(f"repository:{repo}:")
            and {"*", action} & set(scope.rsplit(":", 1)[1].split(","))  # "*": every action
            for scope in grant[1]
        )

    def handle(self, request: Request) -> Response:
        """Answer one request addressed to this host."""
        path = urlsplit(request.url).path
        if path == "/v2/":
            if self.fault == "ping404":
                return _json(404, b"404 page not found")
            headers = self._challenge()
            if self.supports_signatures:
                headers = headers.with_("X-Registry-Supports-Signatures", "1")
            status = 200 if self.auth == "none" else 401
            return Response(status=status, headers=headers, body=b"{}")
        if self.fault == "5xx":
            return _json(503, error_body("UNAVAILABLE", "service unavailable"))
        if not path.startswith("/v2/"):
            return _json(404, b"404 page not found")
        rest = path[len("/v2/") :]
        if rest.endswith("/tags/list"):
            return self._tags(request, rest.removesuffix("/tags/list"))
        for kind in ("manifests", "blobs"):
            marker = f"/{kind}/"
            if marker in rest:
                repo, _, reference = rest.rpartition(marker)
                return self._serve(request, kind, repo, reference)
        return _json(404, b"404 page not found")

    def _serve(self, request: Request, kind: str, repo: str, reference: str) -> Response:
        action = "delete" if request.method == "DELETE" else "pull"
        if not self._authorized(request, repo, action if action == "pull" else "*"):
            return self._unauthorized()
        if kind == "blobs":
            blob = self.blobs.get(repo, {}).get(reference)
            if blob is None:
                return _json(404, error_body("BLOB_UNKNOWN", "blob unknown to registry"))
            return Response(status=200, headers=Headers(), body=blob)
        entry = self.manifests.get(repo, {}).get(reference)
        if entry is None:
            return _json(404, error_body("MANIFEST_UNKNOWN", "manifest unknown"))
        if request.method == "DELETE":
            return self._delete(repo, reference)
        raw, media_type = entry
        digest = _served_digest(raw)
        if self.fault == "wrong-digest":
            raw = raw + b" "
        if self.fault == "lying-header":
            digest = sha256_digest(raw + b"lie")
        headers = Headers((("Content-Type", media_type), ("Docker-Content-Digest", digest)))
        return Response(status=200, headers=headers, body=raw)

    def _tags(self, request: Request, repo: str) -> Response:
        """One page of every tag of ``repo`` (the keys that are not digests), sorted."""
        if not self._authorized(request, repo, "pull"):
            return self._unauthorized()
        if repo not in self.manifests:
            return _json(404, error_body("NAME_UNKNOWN", "repository name not known to registry"))
        tags = sorted(k for k in self.manifests[repo] if not k.startswith("sha256:"))
        return _json(200, json.dumps({"name": repo, "tags": tags}).encode())

    def _delete(self, repo: str, digest: str) -> Response:
        if not self.delete_enabled:
            return _json(405, error_body("UNSUPPORTED", "The operation is unsupported."))
        if not digest.startswith("sha256:"):
            return _json(400, error_body("DIGEST_INVALID", "provided digest did not match"))
        stored = self.manifests[repo]
        gone = stored[digest]
        for key in [k for k, entry in stored.items() if entry == gone]:
            del stored[key]
        return Response(status=202, headers=Headers(), body=b"")


Host = FakeRegistry | FakeTokenServer


@dataclass
class FakeNetwork:
    """Hosts by ``host[:port]``; anything else is a dead host (connection refused).

    ``https_only`` hosts refuse plain HTTP and vice versa: a host is reachable over the
    schemes in ``schemes`` (default https).
    """

    hosts: dict[str, Host] = field(default_factory=dict)
    schemes: dict[str, frozenset[str]] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)
    clock: Callable[[], float] | None = None

    def add(
        self, netloc: str, host: Host, *, schemes: frozenset[str] = frozenset({"https"})
    ) -> None:
        """Put ``host`` on the network at ``netloc``."""
        self.hosts[netloc] = host
        self.schemes[netloc] = schemes

    def __call__(self, request: Request) -> Response:
        """Deliver ``request``: answer it, or raise TransportError for dead hosts."""
        self.log.append(request)
        parts = urlsplit(request.url)
        netloc = parts.netloc.lower()
        host = self.hosts.get(netloc)
        if host is None or parts.scheme.lower() not in self.schemes.get(netloc, frozenset()):
            # Origin.of refuses a URL that is not absolute http(s) (LocalProtocolError).
            raise TransportError(f"connecting to {Origin.of(request.url)}: connection refused")
        response = host.handle(request)
        if self.clock is not None:
            return Response(
                status=response.status,
                headers=response.headers,
                reason=response.reason,
                body=response.body,
                received_at=self.clock(),
            )
        return response
