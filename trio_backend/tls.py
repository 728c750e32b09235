"""TLS settings per registry host, the SSL contexts built from them, and certs.d.

certs.d is containers-certs.d(5); see docs/behaviour.md#endpoints-and-tls.

Contexts start from the system defaults (:func:`ssl.create_default_context`) and add extra CAs
and a client certificate. Whether a connection verifies is not decided here: the core decides
per request (``Request.tls_verify``, from ``ClientConfig.tls_verify`` and registries.conf
``insecure``), so there is one knob; ``verify=False`` turns verification off entirely. Only
HTTP/1.1 is offered in ALPN: the backend speaks nothing else.

Known differences from containers/image 5.23.1: the minimum TLS version is Python's default
(TLS 1.2) rather than Go's TLS 1.0, and when a certs directory holds several ``.cert``/``.key``
pairs only the first (by file name) is presented, since an ``ssl.SSLContext`` holds one chain.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, final

from sansio_registry.errors import ConfigError
from sansio_registry.http import Origin

__all__ = [
    "HOME_CERT_DIR",
    "SYSTEM_CERT_DIRS",
    "CertDirContents",
    "CertDirSearch",
    "HostTLS",
    "TLSConfig",
    "cert_dir_for_host",
    "host_port",
    "load_cert_dir",
]

#: Per-user certs.d, relative to ``$HOME``.
HOME_CERT_DIR: Final = ".config/containers/certs.d"
#: System-wide certs.d roots, in lookup order.
SYSTEM_CERT_DIRS: Final = ("/etc/containers/certs.d", "/etc/docker/certs.d")


def host_port(origin: Origin) -> str:
    """The ``host[:port]`` key of an origin, as certs.d names it (default port left out).

    Docker Hub's folder is ``docker.io``, the reference's domain, as containers-certs.d(5)
    users name it, although its connections go to ``registry-1.docker.io``.
    """
    netloc = origin.netloc
    return "docker.io" if netloc == "registry-1.docker.io" else netloc


@dataclass(frozen=True, slots=True, kw_only=True)
class HostTLS:
    """Certificate material for one host (verification itself is the core's decision).

    Attributes:
        ca_files: PEM files of extra trusted CAs, added to the system roots.
        client_cert: ``(certificate_file, key_file)`` to present, if the server asks.
    """

    ca_files: tuple[str, ...] = ()
    client_cert: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class CertDirContents:
    """What a certs directory provides: extra CAs and client key pairs, in file-name order."""

    ca_files: tuple[str, ...] = ()
    client_pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CertDirSearch:
    """Where :class:`TLSConfig` looks for certs directories (see :func:`cert_dir_for_host`).

    The default is containers/image's search: ``$HOME`` (read at lookup time), then the system
    dirs. ``CertDirSearch(enabled=False)`` turns certs directories off.
    """

    enabled: bool = True
    explicit_dir: str | None = None
    per_host_root: str | None = None
    home: str | None = None
    system_dirs: tuple[str, ...] = SYSTEM_CERT_DIRS


def cert_dir_for_host(
    host_port: str,
    *,
    explicit_dir: str | None = None,
    per_host_root: str | None = None,
    home: str | None = None,
    env: Mapping[str, str] | None = None,
    system_dirs: Sequence[str] = SYSTEM_CERT_DIRS,
) -> str | None:
    """The certs directory for ``host[:port]``, or None when there is none.

    An explicit directory wins (returned even if missing: it then simply holds nothing); then
    ``<per_host_root>/<host[:port]>``; else the first existing of
    ``$HOME/.config/containers/certs.d/<host[:port]>`` and ``<system_dir>/<host[:port]>`` for
    each system dir. ``home`` defaults to ``env["HOME"]`` (``env`` defaults to ``os.environ``).
    The docker.io directory is named ``docker.io``: callers pass the reference's domain.
    """
    if explicit_dir:
        return explicit_dir
    if per_host_root:
        return str(Path(per_host_root) / host_port)
    if home is None:
        home = (os.environ if env is None else env).get("HOME") or None
    candidates = [Path(home) / HOME_CERT_DIR] if home else []
    candidates.extend(Path(d) for d in system_dirs)
    for root in candidates:
        path = root / host_port
        try:
            path.stat()
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            # containers/image skips missing and unreadable candidates alike.
            continue
        except OSError as exc:
            raise ConfigError(f"reading certs directory {path}: {exc.strerror or exc}") from exc
        return str(path)
    return None


def load_cert_dir(path: str | None) -> CertDirContents:
    """List a certs directory: ``*.crt`` are CAs, ``*.cert`` + same-stem ``*.key`` client pairs.

    A missing or unreadable directory holds nothing. A ``.cert`` without its ``.key`` or a
    ``.key`` without its ``.cert`` is a :class:`ConfigError` with containers/image's texts.
    """
    if path is None:
        return CertDirContents()
    try:
        names = sorted(p.name for p in Path(path).iterdir())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return CertDirContents()
    except OSError as exc:
        raise ConfigError(f"reading certs directory {path}: {exc.strerror or exc}") from exc
    present = set(names)
    cas: list[str] = []
    pairs: list[tuple[str, str]] = []
    for name in names:
        if name.endswith(".crt"):
            cas.append(str(Path(path) / name))
        if name.endswith(".cert"):
            key = name[: -len(".cert")] + ".key"
            if key not in present:
                raise ConfigError(
                    f"missing key {key} for client certificate {name}. "
                    "Note that CA certificates should use the extension .crt"
                )
            pairs.append((str(Path(path) / name), str(Path(path) / key)))
        if name.endswith(".key"):
            cert = name[: -len(".key")] + ".cert"
            if cert not in present:
                raise ConfigError(f"missing client certificate {cert} for key {name}")
    return CertDirContents(tuple(cas), tuple(pairs))


@final
class TLSConfig:
    """Certificate material for every host the backend may talk to; SSL contexts cached.

    Which hosts are verified is not set here but in ``ClientConfig`` (``tls_verify``,
    registries.conf ``insecure``): each request says it (``Request.tls_verify``).

    Args:
        default: settings for hosts not named in ``hosts``.
        hosts: settings per ``host[:port]`` (default port left out, as in certs.d names).
        cert_dir: an explicit certs directory for every host (skopeo ``--cert-dir``).
        cert_dirs: where each host's certs directory is looked for; it adds its CAs
            and, unless the host's settings name one, its client certificate. Default: the
            standard search.
    """

    def __init__(
        self,
        *,
        default: HostTLS | None = None,
        hosts: Mapping[str, HostTLS] | None = None,
        cert_dir: str | None = None,
        cert_dirs: CertDirSearch | None = None,
    ) -> None:
        self._default = default if default is not None else HostTLS()
        self._hosts = {k.lower(): v for k, v in (hosts or {}).items()}
        search = cert_dirs if cert_dirs is not None else CertDirSearch()
        if cert_dir:
            search = replace(search, enabled=True, explicit_dir=cert_dir)
        self._cert_dirs = search
        self._contexts: dict[tuple[str, bool], ssl.SSLContext] = {}

    def settings_for(self, origin: Origin) -> HostTLS:
        """The configured settings for ``origin``'s host (before certs-directory additions)."""
        return self._hosts.get(host_port(origin), self._default)

    def cert_dir_contents_for(self, origin: Origin) -> CertDirContents:
        """What the host's certs directory contributes."""
        search = self._cert_dirs
        if not search.enabled:
            return CertDirContents()
        path = cert_dir_for_host(
            host_port(origin),
            explicit_dir=search.explicit_dir,
            per_host_root=search.per_host_root,
            home=search.home,
            system_dirs=search.system_dirs,
        )
        return load_cert_dir(path)

    def ssl_context_for(self, origin: Origin, *, verify: bool = True) -> ssl.SSLContext:
        """The client SSL context for ``origin``, built once per host.

        ``verify`` is the core's ``Request.tls_verify``: ``False`` (an insecure endpoint)
        turns certificate checks off; the CA and client-certificate settings apply either way.

        Raises:
            ConfigError: a configured CA file or client key pair cannot be loaded, or the
                certs directory is inconsistent.
        """
        key = (host_port(origin), verify)
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = self._build(origin, verify)
            self._contexts[key] = ctx
        return ctx

    def _build(self, origin: Origin, verify: bool) -> ssl.SSLContext:
        settings = self.settings_for(origin)
        from_dir = self.cert_dir_contents_for(origin)
        if verify:
            ctx = ssl.create_default_context()
        else:
            # No verification: skip loading the system CA bundle (~30 ms per context).
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        for ca in settings.ca_files:
            try:
                ctx.load_verify_locations(cafile=ca)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise ConfigError(f"loading CA certificates {ca}: {_reason(exc)}") from exc
        for ca in from_dir.ca_files:
            try:
                ctx.load_verify_locations(cafile=ca)
            except (OSError, ValueError):
                # Go's AppendCertsFromPEM ignores files without usable certificates.
                continue
        pair = settings.client_cert
        if pair is None and from_dir.client_pairs:
            pair = from_dir.client_pairs[0]
        if pair is not None:
            cert, key = pair
            try:
                ctx.load_cert_chain(certfile=cert, keyfile=key)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"loading client certificate {cert}: {_reason(exc)}") from exc
        return ctx


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
