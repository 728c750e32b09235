"""The registries the benchmarks read from, started and seeded (the test lab's pieces).

Two real ``docker-registry`` servers on free loopback ports: a plain-HTTP one (one-shot
commands, the big pulls) and a token-auth one whose issuer grants anonymous pull on
``bench/*`` (so every peer, python-dxf included, can take part over plain HTTP; the token
dance still happens) and counts its requests.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tests.lab.images import (
    MT_DOCKER_CONFIG,
    MT_DOCKER_LAYER,
    MT_DOCKER_V2,
    Blob,
    Platform,
    PushedImage,
    make_config,
    push_blob,
    push_manifest,
    push_schema2_image,
    random_layer,
)
from tests.lab.registry import RegistryServer
from tests.lab.token_issuer import TokenIssuer

__all__ = ["Tagged", "BigImage", "Seeded", "seeded_registries", "scale_refs"]

BATCH_REPO = "bench/batch"
BATCH_TAGS = 200
SCALE_REPOS = 50
SCALE_TAGS = 40
PUSHER = ("pusher", "pusher-password")


@dataclass(frozen=True, slots=True)
class Tagged:
    """One seeded tag: where it is and the digests a reader must end up with."""

    repo: str
    tag: str
    digest: str
    config_digest: str

    def ref(self, host: str) -> str:
        return f"{host}/{self.repo}:{self.tag}"


@dataclass(frozen=True, slots=True)
class BigImage(Tagged):
    """A pushed image whose layer bytes are not kept in memory: (digest, size) per layer."""

    layers: tuple[tuple[str, int], ...] = ()

    @property
    def size(self) -> int:
        return sum(size for _, size in self.layers)


@dataclass(frozen=True, slots=True)
class Seeded:
    """Both registries and what was pushed to them."""

    plain: RegistryServer
    token: RegistryServer
    issuer: TokenIssuer
    small: Tagged  # plain: one small schema2 image (one-shot commands)
    batch: tuple[Tagged, ...]  # token: BATCH_TAGS tags of one repository
    scale: tuple[Tagged, ...]  # token: SCALE_REPOS repositories x SCALE_TAGS tags
    big: BigImage  # plain: 64 MiB, one layer
    huge: BigImage | None  # plain: 1 GiB in 8 layers (skipped by --quick)


def _tagged(image: PushedImage) -> Tagged:
    assert image.tag is not None and image.config is not None
    return Tagged(image.repo, image.tag, image.digest, image.config.digest)


def _push_tags(server: RegistryServer, repo: str, tags: Sequence[str]) -> list[Tagged]:
    """Distinct small images (own layer, own config) under each tag of one repository."""
    with server.http() as http:
        return [_tagged(push_schema2_image(http, repo, tag)) for tag in tags]


def push_big_image(
    server: RegistryServer, repo: str, tag: str, layer_sizes: Sequence[int]
) -> BigImage:
    """Push incompressible layers one at a time, so at most one layer is in memory."""
    stubs: list[Blob] = []  # digest and diff_id only: what the config and manifest need
    pushed: list[tuple[str, int]] = []
    with server.http() as http:
        for seed, size in enumerate(layer_sizes):
            blob = random_layer(size, seed=seed, compresslevel=0)
            push_blob(http, repo, blob)
            stubs.append(Blob(blob.media_type, b"", blob.digest, diff_id=blob.diff_id))
            pushed.append((blob.digest, blob.size))
            del blob
        config = make_config(stubs, Platform(), media_type=MT_DOCKER_CONFIG)
        push_blob(http, repo, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MT_DOCKER_V2,
                "config": config.descriptor(),
                "layers": [
                    {"mediaType": MT_DOCKER_LAYER, "size": size, "digest": digest}
                    for digest, size in pushed
                ],
            },
            indent=3,
        ).encode()
        digest = push_manifest(http, repo, tag, manifest, MT_DOCKER_V2)
    return BigImage(repo, tag, digest, config.digest, tuple(pushed))


def scale_refs(seeded: Seeded, repos: int) -> list[str]:
    """References to every tag of the first ``repos`` scale repositories."""
    names = {f"bench/scale-{i:02d}" for i in range(repos)}
    return [t.ref(seeded.token.host) for t in seeded.scale if t.repo in names]


@contextlib.contextmanager
def seeded_registries(
    *, batch: bool, scale: bool, huge: bool, log: Callable[[str], None] = lambda _: None
) -> Iterator[Seeded]:
    """Start both registries and the issuer, push what the chosen cases read (the small and
    the 64 MiB images always); all stopped on exit."""
    grants = {"": {"bench/*": {"pull"}}, PUSHER[0]: {"*": {"*"}}}
    with (
        TokenIssuer(users=dict([PUSHER]), grants=grants, expires_in=3600) as issuer,
        RegistryServer(auth="token", token=issuer.registry_auth(), creds=PUSHER) as token,
        RegistryServer() as plain,
    ):
        log(f"registries: plain {plain.url}, token {token.url} (issuer {issuer.url})")
        small = _push_tags(plain, "bench/small", ["v1"])[0]
        jobs: list[tuple[str, list[str]]] = [
            (BATCH_REPO, [f"t{i:03d}" for i in range(BATCH_TAGS if batch else 0)])
        ]
        jobs += [
            (f"bench/scale-{r:02d}", [f"t{i:02d}" for i in range(SCALE_TAGS)])
            for r in range(SCALE_REPOS if scale else 0)
        ]
        log(f"seeding {sum(len(tags) for _, tags in jobs)} tags")
        # One thread per repository at a time: the registry mishandles concurrent pushes of a
        # blob into one repository, not pushes into different ones.
        pool = ThreadPoolExecutor(max_workers=4)
        try:
            pushed = list(pool.map(lambda job: _push_tags(token, *job), jobs))
        finally:  # after Ctrl-C, do not start the repositories still queued
            pool.shutdown(wait=True, cancel_futures=True)
        log("seeding the 64 MiB image")
        big = push_big_image(plain, "bench/big", "v1", [64 * 2**20])
        huge_image = None
        if huge:
            log("seeding the 1 GiB image (8 layers)")
            huge_image = push_big_image(plain, "bench/huge", "v1", [128 * 2**20] * 8)
        issuer.reset()
        yield Seeded(
            plain=plain,
            token=token,
            issuer=issuer,
            small=small,
            batch=tuple(pushed[0]),
            scale=tuple(t for repo in pushed[1:] for t in repo),
            big=big,
            huge=huge_image,
        )
