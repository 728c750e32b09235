"""Where a server or the configuration may send the client, and with which TLS and credentials.

Every URL the client did not build from the reference itself passes through here: a redirect
``Location``, a token realm, a foreign-layer (external) URL, a lookaside base. (A ``Link``
next page keeps only its path and query, so it stays on the registry that sent it.)

* Schemes: ``https`` and ``http``; ``file`` only for a lookaside base from local
  configuration, never from a server's answer.
* TLS is decided per origin: verified unless that origin is itself configured insecure
  (registries.conf ``insecure`` for its host, or the endpoint being insecure) or verification
  is off globally (``ClientConfig.tls_verify=False``). An insecure registry's redirect to
  another origin is therefore verified.
* No downgrade: a redirect from a verified ``https`` origin to plain ``http`` is refused.
* Credentials (``Authorization``, ``Cookie``) never follow a redirect to another origin.
* At most :data:`MAX_REDIRECTS` redirects per exchange; a URL seen twice in one chain is a
  loop, refused as soon as it is seen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urljoin, urlsplit, urlunsplit

from sansio_registry.config.registries_conf import RegistriesConf
from sansio_registry.errors import LocalProtocolError, RemoteProtocolError
from sansio_registry.http import Origin, Request

__all__ = [
    "CONFIG_SCHEMES",
    "CREDENTIAL_HEADERS",
    "MAX_REDIRECTS",
    "SERVER_SCHEMES",
    "STRICT_POLICY",
    "UrlPolicy",
    "allowed_from_config",
    "allowed_from_server",
    "shown_url",
]

#: Schemes a server's answer may send the client to.
SERVER_SCHEMES: Final = frozenset({"https", "http"})
#: Schemes local configuration (a registries.d lookaside) may name.
CONFIG_SCHEMES: Final = SERVER_SCHEMES | {"file"}
#: Redirects followed per exchange before giving up (Go's net/http stops after 10 too).
MAX_REDIRECTS: Final = 10
#: Header lines bound to the origin they were given for (RFC 9110 §11.6.2, RFC 6265 §8.5).
CREDENTIAL_HEADERS: Final = ("Authorization", "Cookie")


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def allowed_from_server(url: str) -> bool:
    """Whether a server may send the client to ``url``: an absolute http(s) URL."""
    try:
        Origin.of(url)
    except LocalProtocolError:
        return False
    return True


def allowed_from_config(url: str) -> bool:
    """Whether local configuration may name ``url`` (by its scheme alone)."""
    return _scheme(url) in CONFIG_SCHEMES


def shown_url(url: str) -> str:
    """``url`` for a message: no user information, query or fragment (they may hold secrets,
    e.g. a presigned storage URL's signature)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<invalid URL>"


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """The configuration the URL rules need: which origins may skip TLS verification.

    ``tls_verify`` is ``ClientConfig.tls_verify`` (``None``: per origin, from ``registries``);
    ``insecure_hosts`` are ``host[:port]`` values of endpoints themselves configured insecure
    (an entry may name a namespace, not only a host).
    """

    tls_verify: bool | None = None
    registries: RegistriesConf = field(default_factory=RegistriesConf)
    insecure_hosts: frozenset[str] = frozenset()

    def with_insecure_host(self, host: str) -> UrlPolicy:
        """This policy, with ``host`` (``host[:port]``) allowed to skip verification."""
        return dataclasses.replace(self, insecure_hosts=self.insecure_hosts | {host.lower()})

    def verifies(self, origin: Origin) -> bool:
        """Whether requests to ``origin`` verify its TLS certificate."""
        if self.tls_verify is not None:
            return self.tls_verify
        host = origin.netloc
        return host not in self.insecure_hosts and not self.registries.is_insecure(host)

    def verifies_url(self, url: str) -> bool:
        """:meth:`verifies` for the origin of an http(s) ``url`` (``True`` for any other)."""
        try:
            return self.verifies(Origin.of(url))
        except LocalProtocolError:
            return True

    def redirect_target(self, request: Request, location: str) -> Request:
        """``request`` sent to where ``location`` points, or RemoteProtocolError.

        Applies every rule of the module docstring but the count and the loop (the chain's
        business): the scheme, no downgrade, TLS per origin, credentials kept home.
        """
        try:
            url = urljoin(request.url, location)
            origin = Origin.of(url)
        except (LocalProtocolError, ValueError):
            raise RemoteProtocolError(
                f"redirect to an unsupported location {shown_url(location)!r}"
            ) from None
        if origin == request.origin:
            return dataclasses.replace(request, url=url)
        source = request.origin
        if source.scheme == "https" and request.tls_verify and origin.scheme == "http":
            raise RemoteProtocolError(
                f"refusing a redirect from {shown_url(request.url)} to {shown_url(url)}: "
                "a TLS-verified origin may not lead to plain HTTP"
            )
        return dataclasses.replace(
            request,
            url=url,
            headers=request.headers.without(*CREDENTIAL_HEADERS),
            tls_verify=self.verifies(origin),
        )


#: Every origin verified unless a request says otherwise: the default for flows given no
#: configuration (tests, the conformance suite).
STRICT_POLICY: Final = UrlPolicy()
