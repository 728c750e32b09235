"""Ready-made labs: a registry (plus issuer / TLS) started and seeded, as context managers.

The pytest fixtures wrap these; ``make demo`` and the benchmarks use them directly::

    with plain_lab() as lab:
        print(lab.ref(lab.images.app))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import trustme

from tests.lab.client import LabHTTP
from tests.lab.images import PushedImage, StandardImages, push_schema2_image, seed_standard_images
from tests.lab.registry import RegistryServer
from tests.lab.skopeo import skopeo_inspect, skopeo_inspect_raw
from tests.lab.tls import make_ca
from tests.lab.token_issuer import TokenIssuer

__all__ = [
    "BASIC_USERS",
    "TOKEN_USERS",
    "TOKEN_GRANTS",
    "Lab",
    "plain_lab",
    "basic_lab",
    "token_lab",
    "tls_lab",
]

#: htpasswd users of `basic_lab`.
BASIC_USERS: Mapping[str, str] = {"alice": "secret", "bob": "hunter2"}
#: Users of the token issuer in `token_lab`.
TOKEN_USERS: Mapping[str, str] = {"alice": "secret", "bob": "hunter2"}
#: alice may do anything; bob may pull ns/*; anyone may pull public/*.
TOKEN_GRANTS: Mapping[str, Mapping[str, set[str]]] = {
    "alice": {"*": {"*"}},
    "bob": {"ns/*": {"pull"}},
    "": {"public/*": {"pull"}},
}


@dataclass(slots=True)
class Lab:
    """A running, seeded registry and everything a test needs to reach it."""

    name: str
    server: RegistryServer
    images: StandardImages
    users: Mapping[str, str] = field(default_factory=dict)
    creds: tuple[str, str] | None = None  # a user allowed to push and pull everything
    issuer: TokenIssuer | None = None
    ca: trustme.CA | None = None
    public: PushedImage | None = None  # anonymous-pullable public/hello:v1 (token lab)

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def tls_verify(self) -> bool:
        """What skopeo's ``--tls-verify`` must be."""
        return self.server.tls_verify

    @property
    def ca_path(self) -> Path | None:
        return self.server.ca_path

    @property
    def cert_dir(self) -> Path | None:
        """certs.d/<host>/ (ca.crt [+ client.cert/key]); ``skopeo --cert-dir`` takes this."""
        return self.server.cert_dir

    @property
    def certs_d(self) -> Path | None:
        """The certs.d root containing `cert_dir`."""
        return self.server.certs_d

    def ref(self, image: PushedImage | str, *, by_digest: bool = False) -> str:
        """``host/repo:tag`` for a record, or ``host/<text>`` for a string."""
        if isinstance(image, str):
            return f"{self.host}/{image}"
        return image.ref(self.host, by_digest=by_digest)

    def http(self, creds: tuple[str, str] | Literal["default"] | None = "default") -> LabHTTP:
        """The lab's independent HTTP client (default: the lab's push credentials)."""
        return self.server.http(self.creds if creds == "default" else creds)

    def skopeo_args(
        self, creds: tuple[str, str] | Literal["default"] | None = "default"
    ) -> dict[str, Any]:
        """Keyword arguments for `skopeo_inspect[_raw]` that reach this registry."""
        return {
            "tls_verify": self.tls_verify,
            "creds": self.creds if creds == "default" else creds,
            "cert_dir": self.cert_dir,
        }

    def inspect_raw(
        self, image: PushedImage | str, *, by_digest: bool = False, **kwargs: Any
    ) -> bytes:
        """``skopeo inspect --raw`` of a seeded image (kwargs override `skopeo_args`)."""
        ref = self.ref(image, by_digest=by_digest)
        return skopeo_inspect_raw(ref, **{**self.skopeo_args(), **kwargs})

    def inspect(
        self, image: PushedImage | str, *, by_digest: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        """``skopeo inspect`` (parsed JSON) of a seeded image."""
        ref = self.ref(image, by_digest=by_digest)
        return skopeo_inspect(ref, **{**self.skopeo_args(), **kwargs})


@contextlib.contextmanager
def plain_lab(*, schema1: bool = True) -> Iterator[Lab]:
    """Insecure http, no auth, schema1 pushes enabled, standard images seeded."""
    with RegistryServer(schema1_enabled=schema1) as server:
        yield Lab("plain", server, seed_standard_images(server))


@contextlib.contextmanager
def basic_lab(*, users: Mapping[str, str] = BASIC_USERS) -> Iterator[Lab]:
    """htpasswd (bcrypt cost 4) Basic auth; the first user pushes."""
    with RegistryServer(auth="htpasswd", users=users) as server:
        images = seed_standard_images(server)
        yield Lab("basic", server, images, users=dict(users), creds=server.creds)


@contextlib.contextmanager
def token_lab(
    *,
    users: Mapping[str, str] = TOKEN_USERS,
    grants: Mapping[str, Mapping[str, set[str]]] = TOKEN_GRANTS,
    key_mode: Literal["kid", "x5c"] = "kid",
    expires_in: int | None = 300,
) -> Iterator[Lab]:
    """Bearer tokens from a `TokenIssuer`; alice pushes. Counters are reset after seeding."""
    with (
        TokenIssuer(
            users=users, grants=grants, key_mode=key_mode, expires_in=expires_in
        ) as issuer,
        RegistryServer(
            auth="token", token=issuer.registry_auth(), creds=("alice", users["alice"])
        ) as server,
    ):
        images = seed_standard_images(server)
        public = push_schema2_image(server, "public/hello", "v1")
        issuer.reset()
        yield Lab(
            "token",
            server,
            images,
            users=dict(users),
            creds=server.creds,
            issuer=issuer,
            public=public,
        )


@contextlib.contextmanager
def tls_lab(*, client_auth: bool = False) -> Iterator[Lab]:
    """HTTPS with a trustme CA (certs.d folder written); optionally requires client certs."""
    ca = make_ca()
    with RegistryServer(tls=ca, client_auth=client_auth) as server:
        yield Lab("tls", server, seed_standard_images(server), ca=ca)
