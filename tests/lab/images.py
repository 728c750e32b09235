"""Small deterministic images, built offline and pushed to a lab registry.

Layers are gzip'd tars with fixed mtimes/owners, configs and manifests are JSON with fixed
formatting, so the same arguments always give the same bytes and digests. Pushes use the
registry's upload API through `LabHTTP` (Basic or Bearer as the registry asks); signed schema1
images are made by ``skopeo copy --format v2s1`` from a ``dir:`` layout. Every push returns a
`PushedImage` record holding exactly the bytes that were stored, for comparisons.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import tarfile
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.lab.client import LabHTTP
from tests.lab.registry import LabError, RegistryServer
from tests.lab.skopeo import skopeo_copy

__all__ = [
    "MT_DOCKER_V2",
    "MT_DOCKER_LIST",
    "MT_DOCKER_CONFIG",
    "MT_DOCKER_LAYER",
    "MT_DOCKER_V1_SIGNED",
    "MT_DOCKER_V1",
    "MT_OCI_MANIFEST",
    "MT_OCI_INDEX",
    "MT_OCI_CONFIG",
    "MT_OCI_LAYER",
    "ALL_MANIFEST_TYPES",
    "Platform",
    "DEFAULT_PLATFORMS",
    "Blob",
    "PushedImage",
    "StandardImages",
    "sha256_digest",
    "schema1_payload",
    "schema1_digest",
    "make_layer",
    "random_layer",
    "make_config",
    "build_image",
    "BuiltImage",
    "push_blob",
    "push_manifest",
    "push_schema2_image",
    "push_oci_image",
    "push_oci_index",
    "push_docker_manifest_list",
    "write_dir_layout",
    "push_schema1_image",
    "seed_standard_images",
]

MT_DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MT_DOCKER_V1 = "application/vnd.docker.distribution.manifest.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

#: An Accept list like containers/image's: every manifest type.
ALL_MANIFEST_TYPES: tuple[str, ...] = (
    MT_OCI_MANIFEST,
    MT_OCI_INDEX,
    MT_DOCKER_V2,
    MT_DOCKER_LIST,
    MT_DOCKER_V1_SIGNED,
    MT_DOCKER_V1,
)

FIXED_CREATED = "2024-01-01T00:00:00Z"
FIXED_MTIME = 1704067200  # FIXED_CREATED as a Unix time


@dataclass(frozen=True, slots=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def as_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


DEFAULT_PLATFORMS: tuple[Platform, ...] = (
    Platform("linux", "amd64"),
    Platform("linux", "arm64", "v8"),
    Platform("linux", "arm", "v7"),
)


@dataclass(frozen=True, slots=True)
class Blob:
    """Blob bytes with their digest; ``diff_id`` is the uncompressed digest for layers."""

    media_type: str
    data: bytes
    digest: str
    diff_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, media_type: str | None = None) -> dict[str, Any]:
        return {
            "mediaType": media_type or self.media_type,
            "size": self.size,
            "digest": self.digest,
        }


@dataclass(frozen=True, slots=True)
class PushedImage:
    """What a push stored: exact manifest bytes, type, digest, and what they refer to."""

    repo: str
    tag: str | None
    manifest: bytes
    media_type: str
    digest: str
    config: Blob | None = None
    layers: tuple[Blob, ...] = ()
    platform: Platform | None = None
    instances: tuple[PushedImage, ...] = ()

    def ref(self, host: str, *, by_digest: bool = False) -> str:
        """``host/repo:tag`` (or ``@digest``), the docker reference without a transport."""
        if by_digest or self.tag is None:
            return f"{host}/{self.repo}@{self.digest}"
        return f"{host}/{self.repo}:{self.tag}"

    @property
    def is_list(self) -> bool:
        return bool(self.instances)

    def instance(self, platform: Platform | str) -> PushedImage:
        want = str(platform)
        for inst in self.instances:
            if str(inst.platform) == want:
                return inst
        raise KeyError(want)

    @property
    def blobs(self) -> tuple[Blob, ...]:
        """Every blob this image references (config first), instances included."""
        own = ((self.config,) if self.config else ()) + self.layers
        return own + tuple(b for i in self.instances for b in i.blobs)


@dataclass(frozen=True, slots=True)
class StandardImages:
    """The set `seed_standard_images` pushes."""

    app: PushedImage  # schema2 ns/app:v1
    oci: PushedImage  # OCI manifest ns/oci:v1
    multi: PushedImage  # OCI index ns/multi:v1
    list: PushedImage  # Docker manifest list ns/list:v1
    s1: PushedImage | None = None  # signed schema1 ns/s1:v1 (when the registry allows it)
    extra: tuple[PushedImage, ...] = field(default=())

    def all(self) -> tuple[PushedImage, ...]:
        base = (self.app, self.oci, self.multi, self.list)
        return base + ((self.s1,) if self.s1 else ()) + self.extra


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def schema1_payload(manifest: bytes) -> bytes:
    """The unsigned payload of a libtrust-signed schema1 manifest (what its digest covers).

    An independent re-implementation for the lab: the first signature's protected header says
    how many leading bytes to keep (``formatLength``) and what tail to append (``formatTail``).
    """
    doc = json.loads(manifest)
    protected = json.loads(_b64url(doc["signatures"][0]["protected"]))
    return manifest[: protected["formatLength"]] + _b64url(protected["formatTail"])


def schema1_digest(manifest: bytes) -> str:
    """sha256 of `schema1_payload`: the digest the registry and skopeo report."""
    return sha256_digest(schema1_payload(manifest))


# -- building -------------------------------------------------------------------------------


def make_layer(
    files: Mapping[str, bytes], *, media_type: str = MT_DOCKER_LAYER, compresslevel: int = 6
) -> Blob:
    """A gzip'd tar of ``files`` (sorted, mode 0644, root-owned, fixed mtime): deterministic."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = FIXED_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(
        filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=compresslevel
    ) as gz:
        gz.write(tar_bytes)
    data = packed.getvalue()
    return Blob(media_type, data, sha256_digest(data), diff_id=sha256_digest(tar_bytes))


def random_layer(
    size: int, *, seed: int = 0, media_type: str = MT_DOCKER_LAYER, compresslevel: int = 1
) -> Blob:
    """One file of ``size`` seeded pseudo-random (incompressible) bytes: for big-blob tests."""
    data = random.Random(seed).randbytes(size)
    return make_layer({"random.bin": data}, media_type=media_type, compresslevel=compresslevel)


def make_config(
    layers: Sequence[Blob], platform: Platform, *, media_type: str = MT_DOCKER_CONFIG
) -> Blob:
    """An image config JSON whose ``rootfs.diff_ids`` match ``layers``."""
    doc: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "created": FIXED_CREATED,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [
            {"created": FIXED_CREATED, "created_by": f"lab layer {i}"} for i in range(len(layers))
        ],
    }
    if platform.variant:
        doc["variant"] = platform.variant
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return Blob(media_type, data, sha256_digest(data))


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """A single-platform image built in memory, not yet pushed."""

    manifest: bytes
    media_type: str
    config: Blob
    layers: tuple[Blob, ...]
    platform: Platform

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)


def _default_layers(seed: str, platform: Platform) -> list[Mapping[str, bytes]]:
    return [{"etc/lab-release": f"{seed} {platform}\n".encode()}]


def build_image(
    *,
    oci: bool,
    layers: Sequence[Mapping[str, bytes] | Blob] | None = None,
    platform: Platform = DEFAULT_PLATFORMS[0],
    seed: str = "lab",
    annotations: Mapping[str, str] | None = None,
) -> BuiltImage:
    """Build a schema2 (``oci=False``) or OCI image manifest with its config and layers."""
    layer_mt = MT_OCI_LAYER if oci else MT_DOCKER_LAYER
    specs = layers if layers is not None else _default_layers(seed, platform)
    blobs = tuple(s if isinstance(s, Blob) else make_layer(s, media_type=layer_mt) for s in specs)
    config = make_config(blobs, platform, media_type=MT_OCI_CONFIG if oci else MT_DOCKER_CONFIG)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST if oci else MT_DOCKER_V2,
        "config": config.descriptor(),
        "layers": [b.descriptor(layer_mt) for b in blobs],
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    # Docker-style indent 3 for schema2, compact for OCI: clients must digest bytes, not JSON.
    text = json.dumps(doc, indent=3) if not oci else json.dumps(doc, separators=(",", ":"))
    return BuiltImage(
        manifest=text.encode(),
        media_type=MT_OCI_MANIFEST if oci else MT_DOCKER_V2,
        config=config,
        layers=blobs,
        platform=platform,
    )


# -- pushing --------------------------------------------------------------------------------


def _client(reg: RegistryServer | LabHTTP, creds: tuple[str, str] | None) -> LabHTTP:
    if isinstance(reg, LabHTTP):
        return reg
    return reg.http(creds) if creds is not None else reg.http()


def push_blob(http: LabHTTP, repo: str, blob: Blob) -> None:
    """Upload ``blob`` (POST an upload, PUT it whole with ``digest=``), unless present."""
    head = http.request("HEAD", f"/v2/{repo}/blobs/{blob.digest}")
    if head.status == 200:
        return
    start = http.request("POST", f"/v2/{repo}/blobs/uploads/", body=b"")
    if start.status != 202 or "location" not in start.headers:
        raise LabError(f"upload start for {repo} failed: {start.status} {start.body!r}")
    location = start.headers["location"]
    sep = "&" if urllib.parse.urlsplit(location).query else "?"
    url = f"{location}{sep}digest={urllib.parse.quote(blob.digest)}"
    done = http.request(
        "PUT",
        url,
        body=blob.data,
        headers={"Content-Type": "application/octet-stream"},
    )
    if done.status != 201:
        raise LabError(f"upload of {blob.digest} to {repo} failed: {done.status} {done.body!r}")


def push_manifest(http: LabHTTP, repo: str, ref: str, manifest: bytes, media_type: str) -> str:
    """PUT a manifest by tag or digest; returns (and checks) the registry's digest."""
    res = http.request(
        "PUT",
        f"/v2/{repo}/manifests/{ref}",
        body=manifest,
        headers={"Content-Type": media_type},
    )
    if res.status != 201:
        raise LabError(f"manifest PUT {repo}:{ref} failed: {res.status} {res.body!r}")
    digest = res.headers.get("docker-content-digest", "")
    if media_type not in (MT_DOCKER_V1_SIGNED, MT_DOCKER_V1) and digest != sha256_digest(manifest):
        raise LabError(f"registry digest {digest} != {sha256_digest(manifest)} for {repo}:{ref}")
    return digest


def _push_built(
    http: LabHTTP, repo: str, tag: str | None, img: BuiltImage, *, ref: str | None = None
) -> PushedImage:
    for blob in (img.config, *img.layers):
        push_blob(http, repo, blob)
    digest = push_manifest(http, repo, ref or tag or img.digest, img.manifest, img.media_type)
    return PushedImage(
        repo=repo,
        tag=tag,
        manifest=img.manifest,
        media_type=img.media_type,
        digest=digest,
        config=img.config,
        layers=img.layers,
        platform=img.platform,
    )


def push_schema2_image(
    reg: RegistryServer | LabHTTP,
    repo: str,
    tag: str,
    *,
    layers: Sequence[Mapping[str, bytes] | Blob] | None = None,
    arch: str = "amd64",
    os: str = "linux",
    variant: str | None = None,
    creds: tuple[str, str] | None = None,
) -> PushedImage:
    """Push a Docker schema2 image; the default layers depend on repo:tag and platform."""
    img = build_image(
        oci=False, layers=layers, platform=Platform(os, arch, variant), seed=f"{repo}:{tag}"
    )
    return _push_built(_client(reg, creds), repo, tag, img)


def push_oci_image(
    reg: RegistryServer | LabHTTP,
    repo: str,
    tag: str,
    *,
    layers: Sequence[Mapping[str, bytes] | Blob] | None = None,
    arch: str = "amd64",
    os: str = "linux",
    variant: str | None = None,
    annotations: Mapping[str, str] | None = None,
    creds: tuple[str, str] | None = None,
) -> PushedImage:
    """Push an OCI image manifest."""
    img = build_image(
        oci=True,
        layers=layers,
        platform=Platform(os, arch, variant),
        seed=f"{repo}:{tag}",
        annotations=annotations,
    )
    return _push_built(_client(reg, creds), repo, tag, img)


def _push_list(
    reg: RegistryServer | LabHTTP,
    repo: str,
    tag: str,
    platforms: Sequence[Platform],
    *,
    oci: bool,
    creds: tuple[str, str] | None,
) -> PushedImage:
    http = _client(reg, creds)
    instances = [
        _push_built(
            http, repo, None, build_image(oci=oci, platform=p, seed=f"{repo}:{tag}"), ref=None
        )
        for p in platforms
    ]
    list_mt = MT_OCI_INDEX if oci else MT_DOCKER_LIST
    doc = {
        "schemaVersion": 2,
        "mediaType": list_mt,
        "manifests": [
            {
                "mediaType": i.media_type,
                "size": len(i.manifest),
                "digest": i.digest,
                "platform": (i.platform or Platform()).as_json(),
            }
            for i in instances
        ],
    }
    manifest = json.dumps(doc, indent=3).encode()
    digest = push_manifest(http, repo, tag, manifest, list_mt)
    return PushedImage(
        repo=repo,
        tag=tag,
        manifest=manifest,
        media_type=list_mt,
        digest=digest,
        instances=tuple(instances),
    )


def push_oci_index(
    reg: RegistryServer | LabHTTP,
    repo: str,
    tag: str,
    *,
    platforms: Sequence[Platform] = DEFAULT_PLATFORMS,
    creds: tuple[str, str] | None = None,
) -> PushedImage:
    """Push an OCI index over one OCI image per platform (instances pushed by digest)."""
    return _push_list(reg, repo, tag, platforms, oci=True, creds=creds)


def push_docker_manifest_list(
    reg: RegistryServer | LabHTTP,
    repo: str,
    tag: str,
    *,
    platforms: Sequence[Platform] = DEFAULT_PLATFORMS,
    creds: tuple[str, str] | None = None,
) -> PushedImage:
    """Push a Docker manifest list over one schema2 image per platform."""
    return _push_list(reg, repo, tag, platforms, oci=False, creds=creds)


def write_dir_layout(img: BuiltImage, directory: Path) -> Path:
    """containers/image's ``dir:`` layout: manifest.json, blobs named by hex, version."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_bytes(img.manifest)
    for blob in (img.config, *img.layers):
        (directory / blob.digest.removeprefix("sha256:")).write_bytes(blob.data)
    (directory / "version").write_text("Directory Transport Version: 1.1\n")
    return directory


def push_schema1_image(
    reg: RegistryServer,
    repo: str,
    tag: str,
    *,
    layers: Sequence[Mapping[str, bytes] | Blob] | None = None,
    arch: str = "amd64",
    creds: tuple[str, str] | None = None,
    timeout: float = 60.0,
) -> PushedImage:
    """Push a signed schema1 image with ``skopeo copy --format v2s1`` (schema1 must be on).

    distribution 2.8 re-signs schema1 manifests on every GET (a fresh ECDSA signature with
    its own key), so no two reads give the same bytes: the record holds one read and the
    ``Docker-Content-Digest`` (= `schema1_digest` of any read); compare payloads, not bytes.
    """
    if not reg.schema1_enabled:
        raise LabError("schema1 pushes need RegistryServer(schema1_enabled=True)")
    img = build_image(
        oci=False, layers=layers, platform=Platform("linux", arch), seed=f"{repo}:{tag}"
    )
    use_creds = creds if creds is not None else reg.creds
    with tempfile.TemporaryDirectory(prefix="lab-s1-") as tmp:
        src = write_dir_layout(img, Path(tmp) / "image")
        skopeo_copy(
            f"dir:{src}",
            f"docker://{reg.host}/{repo}:{tag}",
            extra_args=["--format", "v2s1"],
            dest_tls_verify=reg.tls_verify,
            dest_creds=use_creds,
            dest_cert_dir=reg.cert_dir,
            timeout=timeout,
        )
    res = _client(reg, creds).get_manifest(repo, tag, MT_DOCKER_V1_SIGNED)
    if res.status != 200:
        raise LabError(f"schema1 {repo}:{tag} not readable after push: {res.status}")
    digest = res.headers.get("docker-content-digest", "")
    if digest != schema1_digest(res.body):
        raise LabError(f"schema1 {repo}:{tag}: header digest {digest} != payload digest")
    return PushedImage(
        repo=repo,
        tag=tag,
        manifest=res.body,
        media_type=res.headers.get("content-type", MT_DOCKER_V1_SIGNED),
        digest=digest,
        config=None,
        layers=img.layers,
        platform=img.platform,
    )


def seed_standard_images(
    reg: RegistryServer, *, schema1: bool | None = None, creds: tuple[str, str] | None = None
) -> StandardImages:
    """Push ``ns/app:v1`` (schema2), ``ns/oci:v1``, ``ns/multi:v1`` (OCI index),
    ``ns/list:v1`` (Docker list) and, if schema1 is enabled, ``ns/s1:v1``."""
    want_s1 = reg.schema1_enabled if schema1 is None else schema1
    with _client(reg, creds) as http:
        return StandardImages(
            app=push_schema2_image(http, "ns/app", "v1"),
            oci=push_oci_image(http, "ns/oci", "v1"),
            multi=push_oci_index(http, "ns/multi", "v1"),
            list=push_docker_manifest_list(http, "ns/list", "v1"),
            s1=push_schema1_image(reg, "ns/s1", "v1", creds=creds) if want_s1 else None,
        )
