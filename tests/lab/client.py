"""A deliberately small, independent HTTP client for the lab (pushing, probing quirks).

It must not share code with the product's client: it is what the product is checked against.
stdlib ``http.client`` only; answers Basic and Bearer challenges (fetching tokens from the
challenge's realm with the configured credentials) and retries each request once after a 401.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

__all__ = ["HTTPResult", "LabHTTP", "parse_challenge", "basic_header"]

_PARAM_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True, slots=True)
class HTTPResult:
    """One response: status, headers (lower-cased names, last value wins) and the body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    header_list: tuple[tuple[str, str], ...] = field(default=())

    def json(self) -> object:
        return json.loads(self.body)


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """Split ``Bearer realm="…",service="…"`` into the scheme and its parameters."""
    scheme, _, rest = value.strip().partition(" ")
    params = {m[1].lower(): (m[2] if m[2] else m[3]) for m in _PARAM_RE.finditer(rest)}
    return scheme.lower(), params


def _repo_of(path: str) -> str:
    """The repository a /v2/ path is about (the token cache key), or '' for /v2/ itself."""
    m = re.match(r"^/v2/(.+?)/(?:manifests|blobs|tags)/", path)
    return m.group(1) if m else ""


class LabHTTP:
    """Requests against one registry origin (``host`` = ``127.0.0.1:PORT``)."""

    def __init__(
        self,
        host: str,
        *,
        scheme: str = "http",
        ssl_context: ssl.SSLContext | None = None,
        creds: tuple[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.scheme = scheme
        self.ssl_context = ssl_context
        self.creds = creds
        self.timeout = timeout
        self._auth: dict[str, str] = {}  # repo -> Authorization header value
        self._conns: dict[tuple[str, str], http.client.HTTPConnection] = {}
        #: Tokens fetched (for tests asserting the pusher's own behaviour).
        self.tokens_fetched = 0

    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                netloc, timeout=self.timeout, context=self.ssl_context
            )
        else:
            conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
        conn.connect()
        # http.client sends headers and body in two writes: without NODELAY, Nagle plus the
        # peer's delayed ACK stalls every request with a body ~40 ms on a reused connection.
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def close(self) -> None:
        """Close kept-alive connections (also done when the object is collected)."""
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # One-shot uses such as ``reg.http().request(...)`` must not leak sockets
        # (pytest turns the ResourceWarning into an error).
        conns = getattr(self, "_conns", None)
        if conns:
            self.close()

    def raw(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HTTPResult:
        """One request without any auth handling; ``url`` is a path or an absolute URL.

        Connections are kept alive per origin (a TLS handshake per request would dominate);
        a stale kept-alive connection is retried once on a fresh one.
        """
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme or self.scheme, parts.netloc or self.host)
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        for attempt in (0, 1):
            reused = key in self._conns
            conn = self._conns.pop(key, None) or self._connect(*key)
            try:
                conn.request(method, target, body=body, headers=dict(headers or {}))
                resp = conn.getresponse()
                data = resp.read()  # HEAD: http.client knows there is no body
            except (ConnectionError, http.client.RemoteDisconnected, BrokenPipeError):
                conn.close()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if resp.will_close:
                conn.close()
            else:
                self._conns[key] = conn
            pairs = tuple((k, v) for k, v in resp.getheaders())
            return HTTPResult(
                status=resp.status,
                headers={k.lower(): v for k, v in pairs},
                body=data,
                header_list=pairs,
            )
        raise AssertionError("unreachable")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HTTPResult:
        """A request that answers one auth challenge (Basic or Bearer) and retries once."""
        repo = _repo_of(urllib.parse.urlsplit(path).path)
        hdrs = dict(headers or {})
        if repo in self._auth:
            hdrs["Authorization"] = self._auth[repo]
        result = self.raw(method, path, body=body, headers=hdrs)
        if result.status != 401 or "www-authenticate" not in result.headers:
            return result
        auth = self._answer(result.headers["www-authenticate"])
        if auth is None:
            return result
        self._auth[repo] = auth
        hdrs["Authorization"] = auth
        return self.raw(method, path, body=body, headers=hdrs)

    def _answer(self, challenge: str) -> str | None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            return basic_header(*self.creds) if self.creds else None
        if scheme != "bearer" or "realm" not in params:
            return None
        return "Bearer " + self.fetch_token(
            params["realm"], params.get("service", ""), params.get("scope", "").split()
        )

    def fetch_token(self, realm: str, service: str, scopes: list[str]) -> str:
        """GET a token from ``realm`` (distribution token spec), with Basic creds if any."""
        query = [("service", service)] + [("scope", s) for s in scopes]
        sep = "&" if "?" in realm else "?"
        url = realm + sep + urllib.parse.urlencode(query)
        hdrs = {"Authorization": basic_header(*self.creds)} if self.creds else {}
        result = self.raw("GET", url, headers=hdrs)
        if result.status != 200:
            raise RuntimeError(f"token fetch from {realm} failed: {result.status} {result.body!r}")
        doc = result.json()
        assert isinstance(doc, dict)
        token = doc.get("token") or doc.get("access_token")
        assert isinstance(token, str)
        self.tokens_fetched += 1
        return token

    # -- registry conveniences ---------------------------------------------------------------

    def get_manifest(self, repo: str, ref: str, accept: str | list[str]) -> HTTPResult:
        accepts = [accept] if isinstance(accept, str) else accept
        return self.request(
            "GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ", ".join(accepts)}
        )

    def get_blob(self, repo: str, digest: str) -> HTTPResult:
        return self.request("GET", f"/v2/{repo}/blobs/{digest}")
