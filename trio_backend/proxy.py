"""HTTP proxies: which one a URL goes through, and the ``CONNECT`` tunnel to it.

Selection follows Go's ``http.ProxyFromEnvironment`` (golang.org/x/net/http/httpproxy), so a
machine set up for skopeo or podman works unchanged:

* ``HTTPS_PROXY`` for https URLs, ``HTTP_PROXY`` for http URLs, upper case before lower case;
  ``HTTP_PROXY`` is ignored when ``REQUEST_METHOD`` is set (a CGI program must not take its
  proxy from a request header);
* ``localhost`` and loopback addresses never go through a proxy;
* ``NO_PROXY`` is a comma-separated list of ``*``, host names (``example.com`` matches it and
  its subdomains; ``.example.com`` and ``*.example.com`` only subdomains), ``host:port``, IP
  addresses and CIDR ranges.

An https registry is reached through a ``CONNECT`` tunnel, and TLS is then negotiated end to end
with the registry under its own name; a plain-http registry gets absolute-form requests sent
to the proxy. Credentials in the proxy URL become ``Proxy-Authorization``, sent to the proxy
only; :meth:`Proxy.redacted` is what every message shows.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote, urlsplit

import h11
import trio

from sansio_registry.errors import ProxyError

__all__ = ["NoProxyRule", "Proxy", "ProxySettings", "open_tunnel"]

#: A proxy's answer to CONNECT is a status line and a few headers; more is not a proxy.
MAX_CONNECT_HEAD: Final = 64 * 1024

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Proxy:
    """One proxy server: where it is, and the ``Proxy-Authorization`` it is owed."""

    scheme: str  # "http" or "https": how we talk to the proxy itself
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str) -> Proxy:
        """A proxy URL as Go accepts it: ``http://[user:pass@]host[:port]``, scheme optional."""
        value = text.strip()
        if "://" not in value:
            value = "http://" + value  # Go retries a scheme-less value as http
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise ProxyError(f"invalid proxy URL {_redact(text)!r}") from None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ProxyError(f"unsupported proxy scheme {scheme!r} in {_redact(text)!r}")
        if not parts.hostname:
            raise ProxyError(f"proxy URL {_redact(text)!r} has no host")
        authorization = None
        if parts.username is not None:
            userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(userinfo.encode()).decode("ascii")
        return cls(scheme, parts.hostname, port or _DEFAULT_PORTS[scheme], authorization)

    def redacted(self) -> str:
        """The proxy's URL for messages and logs: never its credentials."""
        auth = "***@" if self.authorization else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{auth}{host}:{self.port}"


def _redact(text: str) -> str:
    scheme, sep, rest = text.rpartition("://")
    at = rest.rfind("@")
    return f"{scheme}{sep}***@{rest[at + 1 :]}" if at != -1 else text


@dataclass(frozen=True, slots=True)
class NoProxyRule:
    """One ``NO_PROXY`` entry."""

    network: _IPNetwork | None = None  # an IP address or CIDR range
    suffix: str = ""  # ".example.com": subdomains match
    exact: str = ""  # "example.com": the host itself matches too
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> NoProxyRule | None:
        """The rule for one entry, or ``None`` for an empty one."""
        text = entry.strip().lower()
        if not text:
            return None
        try:
            return cls(network=ipaddress.ip_network(text, strict=False))
        except ValueError:
            pass
        host, port = text, None
        if text.count(":") == 1 or text.startswith("["):
            head, _, tail = text.rpartition(":")
            if tail.isascii() and tail.isdigit():
                host, port = head.strip("[]"), int(tail)
        try:
            return cls(network=ipaddress.ip_network(host), port=port)
        except ValueError:
            pass
        host = host.removeprefix("*")
        if host.startswith("."):
            return cls(suffix=host, port=port)
        return cls(suffix="." + host, exact=host, port=port)

    def matches(self, host: str, ip: _IPAddress | None, port: int) -> bool:
        """Whether a request to ``host:port`` must bypass the proxy."""
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return ip is not None and ip in self.network
        return host.endswith(self.suffix) or (bool(self.exact) and host == self.exact)


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """Which proxy each URL goes through; ``ProxySettings()`` means none at all."""

    http: Proxy | None = None
    https: Proxy | None = None
    no_proxy: tuple[NoProxyRule, ...] = ()
    bypass_all: bool = False  # NO_PROXY="*"

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ProxySettings:
        """The settings Go would read from ``env`` (the process environment by default)."""
        environ = os.environ if env is None else env

        def first(*names: str) -> str:
            return next((environ[n] for n in names if environ.get(n)), "")

        http = first("HTTP_PROXY", "http_proxy")
        if environ.get("REQUEST_METHOD"):
            http = ""
        return cls.of(
            http=http or None,
            https=first("HTTPS_PROXY", "https_proxy") or None,
            no_proxy=first("NO_PROXY", "no_proxy"),
        )

    @classmethod
    def of(
        cls, *, http: str | None = None, https: str | None = None, no_proxy: str = ""
    ) -> ProxySettings:
        """Settings from proxy URLs and a ``NO_PROXY``-style list (the library's option)."""
        entries = [e.strip() for e in no_proxy.split(",")]
        rules = tuple(r for e in entries if e != "*" and (r := NoProxyRule.parse(e)) is not None)
        return cls(
            http=Proxy.parse(http) if http else None,
            https=Proxy.parse(https) if https else None,
            no_proxy=rules,
            bypass_all="*" in entries,
        )

    def proxy_for(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy for a request to ``scheme://host:port``, or ``None`` to go direct."""
        proxy = self.https if scheme == "https" else self.http if scheme == "http" else None
        if proxy is None or self.bypass_all:
            return None
        name = host.lower().strip("[]").rstrip(".")
        if name == "localhost":
            return None
        try:
            ip: _IPAddress | None = ipaddress.ip_address(name)
        except ValueError:
            ip = None
        if ip is not None and ip.is_loopback:
            return None
        if any(rule.matches(name, ip, port) for rule in self.no_proxy):
            return None
        return proxy


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def open_tunnel(stream: trio.abc.Stream, proxy: Proxy, host: str, port: int) -> None:
    """Ask the proxy on ``stream`` for a tunnel to ``host:port``.

    On return, ``stream`` carries the tunnel. A refusal or a malformed answer is a
    :class:`ProxyError` naming the proxy; the caller closes ``stream``.
    """
    target = _authority(host, port)
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_CONNECT_HEAD)
    headers = [("Host", target)]
    if proxy.authorization:
        headers.append(("Proxy-Authorization", proxy.authorization))
    request = h11.Request(method="CONNECT", target=target, headers=headers)
    where = f"proxy {proxy.redacted()}"
    try:
        await stream.send_all(conn.send(request) or b"")
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(16384)
                if not data:
                    raise ProxyError(f"{where} closed the connection during CONNECT {target}")
                conn.receive_data(bytes(data))
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                break
            raise ProxyError(f"{where} sent an unexpected answer to CONNECT {target}")
    except h11.RemoteProtocolError as exc:
        raise ProxyError(f"{where} sent a malformed answer to CONNECT {target}: {exc}") from None
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise ProxyError(f"{where}: CONNECT {target}: {exc}") from None
    if not 200 <= event.status_code < 300:
        reason = event.reason.decode("latin-1", "replace")
        raise ProxyError(f"{where} refused CONNECT {target}: {event.status_code} {reason}".strip())
    if conn.trailing_data[0]:  # the registry speaks first only after our TLS ClientHello
        raise ProxyError(f"{where} sent data before the tunnel to {target} was open")
