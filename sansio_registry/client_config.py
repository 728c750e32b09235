"""What a client is configured with: registries.conf, credentials and policy switches.

Immutable input; the shell reads files and passes their parsed contents in
(``trio_backend.load_config`` does it the CLI's way).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from sansio_registry.config.auth_json import (
    AuthFile,
    CredentialSearch,
    answer_search,
    search_credentials,
)
from sansio_registry.config.credential_helpers import HelperQuery
from sansio_registry.config.registries_conf import RegistriesConf
from sansio_registry.config.registries_d import RegistriesD
from sansio_registry.credentials import Credentials
from sansio_registry.errors import RegistryClientError
from sansio_registry.platform import WantedPlatform
from sansio_registry.reference import ImageRef
from sansio_registry.retry_policy import RetryPolicy
from sansio_registry.url_policy import UrlPolicy

__all__ = ["DEFAULT_USER_AGENT", "ClientConfig"]

DEFAULT_USER_AGENT: Final = "sansio-registry/0.1 (containers/image compatible)"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Everything a flow needs to know that is not a network answer.

    Attributes:
        registries: parsed registries.conf (mirrors, rewrites, insecure, blocked).
        credentials: explicit credentials from the caller (``--creds``, ``--registry-token``);
            bound to the logical registry host and never sent anywhere else
            (docs/behaviour.md#pull-sources-and-mirrors).
        auth_files: parsed auth.json / docker config files, in lookup order.
        use_auth_files: ``False`` for ``--no-creds``.
        tls_verify: ``None`` follows registries.conf; ``True``/``False`` overrides it for
            every endpoint (``--tls-verify``), as skopeo does. The one TLS-verification
            knob: each request carries the decision (``Request.tls_verify``) and backends only
            add certificate material (CAs, client certificates) to it.
        verify_content_digest: check ``Docker-Content-Digest`` against the bytes; switch off
            only for registries known to send wrong values.
        platform: which instance of a manifest list an image resolves to.
        registries_d: parsed registries.d (where lookaside signatures live).
        lookaside_default: the built-in lookaside when registries.d names none (a
            ``file://`` URL; containers/image uses /var/lib/containers/sigstore for root).
        helper_credentials: what credential helpers answered, filled in by the shell (it runs
            the :meth:`credential_search` of each host :meth:`credential_hosts` names before a
            flow starts); a helper query with no answer here counts as "nothing stored".
        retry: when and how long retry-safe requests are resent (429, 5xx, connections that
            failed before any response byte); see :class:`RetryPolicy`.
    """

    registries: RegistriesConf = field(default_factory=RegistriesConf)
    credentials: Credentials | None = None
    auth_files: tuple[AuthFile, ...] = ()
    use_auth_files: bool = True
    tls_verify: bool | None = None
    user_agent: str = DEFAULT_USER_AGENT
    verify_content_digest: bool = True
    platform: WantedPlatform | None = None
    registries_d: RegistriesD = field(default_factory=RegistriesD)
    lookaside_default: str = "file:///var/lib/containers/sigstore"
    helper_credentials: Mapping[HelperQuery, Credentials | None] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def credentials_for(self, logical: ImageRef, physical: ImageRef) -> Credentials | None:
        """The credentials an attempt at ``physical`` may use.

        Explicit credentials go only to the logical registry's own host (a mirror or a
        rewritten location on another host never sees them); every other host gets what the
        auth files hold for its physical name, as skopeo does.
        """
        if self.credentials is not None and physical.domain == logical.domain:
            return self.credentials
        if not self.use_auth_files:
            return None
        return answer_search(self.credential_search(physical), self.helper_credentials)

    def credential_search(self, physical: ImageRef) -> CredentialSearch:
        """The search for ``physical``'s credentials: registries.conf ``credential-helpers``
        in order, ``containers-auth.json`` meaning the auth files (containers-auth.json(5))."""
        helpers = self.registries.credential_helpers
        return search_credentials(self.auth_files, physical.name, helpers=helpers)

    def credential_hosts(self, ref: ImageRef) -> tuple[ImageRef, ...]:
        """Every physical reference whose credentials an operation on ``ref`` may look up:
        its pull sources and ``ref`` itself, minus those explicit credentials cover."""
        if not self.use_auth_files:
            return ()
        try:
            physical = [source.ref for source in self.registries.pull_sources(ref)]
        except RegistryClientError:  # a bad rewrite: the flow reports it
            physical = []
        refs = dict.fromkeys([*physical, ref])
        return tuple(
            r for r in refs if not (self.credentials is not None and r.domain == ref.domain)
        )

    @property
    def url_policy(self) -> UrlPolicy:
        """Which origins servers may send the client to are verified (TLS per origin)."""
        return UrlPolicy(tls_verify=self.tls_verify, registries=self.registries)

    def is_insecure(self, source_insecure: bool) -> bool:
        """Whether an endpoint may skip TLS verification and fall back to plain HTTP."""
        if self.tls_verify is not None:
            return not self.tls_verify
        return source_insecure
