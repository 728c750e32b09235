"""``sansio-registry signatures`` against a real registry and real GPG signatures by skopeo.

One registry (module scope) holds: ``sig/two:v1`` signed by two keys, ``sig/index:v1`` (an
OCI index signed with ``--all``: the index and each instance), ``sig/none:v1`` unsigned, and
``sig/cosign:v1`` with a cosign-style ``sha256-<hex>.sig`` attachment pushed by the test. The
project must find exactly the bytes skopeo wrote, through the lab's http lookaside and through
a ``file://`` registries.d; claims must name what skopeo signed. The extension API is faked by
`ExtensionProxy` in front of the same registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import yaml

from sansio_registry.config.registries_d import merge_registries_d, parse_registries_d_file
from sansio_registry.session import ClientConfig
from sansio_registry.signature import Signature
from tests.lab.cli import CLIResult, run_cli, run_cli_many
from tests.lab.extension_server import ExtensionProxy, atomic_entry
from tests.lab.extserver import StaticServer
from tests.lab.images import (
    MT_OCI_MANIFEST,
    Blob,
    PushedImage,
    push_blob,
    push_manifest,
    push_oci_image,
    push_oci_index,
    push_schema2_image,
    sha256_digest,
)
from tests.lab.registry import LabError, RegistryServer
from tests.lab.signing import GpgKey, Lookaside, sign_image, signature_paths
from trio_backend.client import open_client

COSIGN_MT = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANNOTATION = "dev.cosignproject.cosign/signature"


@dataclass
class World:
    reg: RegistryServer
    lookaside: Lookaside
    file_d: Path  # registries.d with lookaside: file://<sigdir>
    two: PushedImage
    index: PushedImage
    none: PushedImage
    keys: tuple[GpgKey, GpgKey]

    def ref(self, image: PushedImage, digest: str | None = None) -> str:
        if digest is not None:
            return f"{self.reg.host}/{image.repo}@{digest}"
        return image.ref(self.reg.host)


def write_registries_d(folder: Path, doc: Mapping[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test.yaml").write_text(yaml.safe_dump(doc))
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    try:
        with (
            RegistryServer() as reg,
            GpgKey("First Signer <first@example.invalid>") as first,
            GpgKey("Second Signer <second@example.invalid>") as second,
            Lookaside(reg.host) as lookaside,
        ):
            two = push_schema2_image(reg, "sig/two", "v1")
            index = push_oci_index(reg, "sig/index", "v1")
            none = push_oci_image(reg, "sig/none", "v1")
            sign_image(reg, two, first, lookaside)
            sign_image(reg, two, second, lookaside)
            sign_image(reg, index, first, lookaside)
            file_d = write_registries_d(
                tmp_path_factory.mktemp("file-d"),
                {"docker": {reg.host: {"lookaside": lookaside.sigdir.as_uri()}}},
            )
            yield World(reg, lookaside, file_d, two, index, none, (first, second))
    except LabError as exc:
        pytest.fail(f"lab did not start: {exc}", pytrace=False)


@dataclass(frozen=True)
class Line:
    """One line of ``signatures`` output."""

    number: int
    source: str
    format: str
    identity: str
    digest: str
    size: int
    location: str


def lines(result: CLIResult) -> list[Line]:
    assert result.returncode == 0, result.describe()
    assert result.stderr == "", result.describe()
    out = []
    for text in result.stdout.decode().splitlines():
        fields = text.split("\t")
        assert len(fields) == 7, text
        n, source, fmt, identity, digest, size, location = fields
        out.append(Line(int(n), source, fmt, identity, digest, int(size), location))
    return out


def signatures_args(registries_d: Path, ref: str, *extra: str) -> list[str]:
    return ["--registries.d", str(registries_d), "signatures", "--tls-verify=false", *extra, ref]


def check_lookaside_lines(
    found: list[Line], files: list[Path], *, identity: str, digest: str, location_base: str
) -> None:
    assert [x.number for x in found] == list(range(1, len(files) + 1))
    assert {x.source for x in found} == {"lookaside"}
    assert {x.format for x in found} == {"simple-signing"}
    assert {x.identity for x in found} == {identity}
    assert {x.digest for x in found} == {digest}
    assert [x.size for x in found] == [len(f.read_bytes()) for f in files]
    assert [x.location for x in found] == [
        f"{location_base}/{f.parent.name}/{f.name}" for f in files
    ]


# --- lookaside: http and file ------------------------------------------------------------------


def test_two_signatures_via_http_and_file(world: World, tmp_path: Path) -> None:
    two = world.two
    files = signature_paths(world.lookaside, two.repo, two.digest)
    assert len(files) == 2  # the lab made two (guards the test)
    ref = world.ref(two)
    via_http, via_file = run_cli_many(
        [
            signatures_args(world.lookaside.registries_d, ref, "-o", str(tmp_path / "h")),
            signatures_args(world.file_d, ref, "-o", str(tmp_path / "f")),
        ]
    )
    check_lookaside_lines(
        lines(via_http),
        files,
        identity=ref,
        digest=two.digest,
        location_base=f"{world.lookaside.url}/sig",
    )
    check_lookaside_lines(
        lines(via_file),
        files,
        identity=ref,
        digest=two.digest,
        location_base=f"{world.lookaside.sigdir.as_uri()}/sig",
    )
    for out in (tmp_path / "h", tmp_path / "f"):
        written = sorted(p.name for p in out.iterdir())
        assert written == ["signature-1", "signature-2"]
        for original in files:
            assert (out / original.name).read_bytes() == original.read_bytes()


def test_two_keys_made_two_different_signatures(world: World) -> None:
    files = signature_paths(world.lookaside, world.two.repo, world.two.digest)
    assert files[0].read_bytes() != files[1].read_bytes()


def test_signed_index_and_each_instance(world: World) -> None:
    index = world.index
    digests = [index.digest, *(inst.digest for inst in index.instances)]
    assert len(digests) == 4
    refs = [world.ref(index)] + [world.ref(index, d) for d in digests[1:]]
    results = run_cli_many(
        [signatures_args(d, r) for d in (world.lookaside.registries_d, world.file_d) for r in refs]
    )
    for i, result in enumerate(results):
        digest = digests[i % len(digests)]
        files = signature_paths(world.lookaside, index.repo, digest)
        assert len(files) == 1
        found = lines(result)
        # skopeo --all signs every manifest with the reference it copied to (the tag)
        assert [(x.identity, x.digest) for x in found] == [(world.ref(index), digest)]
        assert found[0].size == len(files[0].read_bytes())
        assert found[0].location.endswith(f"/sig/index@{digest.replace(':', '=')}/signature-1")


def test_unsigned_image_has_none(world: World) -> None:
    ref = world.ref(world.none)
    for result in run_cli_many(
        [signatures_args(world.lookaside.registries_d, ref), signatures_args(world.file_d, ref)]
    ):
        assert lines(result) == []


def test_client_api_bytes_equal_the_files(world: World) -> None:
    """The library (not only the CLI) returns exactly skopeo's bytes, for the index too."""
    files = parse_registries_d_file(
        (world.lookaside.registries_d / "lab.yaml").read_bytes(), path="lab.yaml"
    )
    config = ClientConfig(tls_verify=False, registries_d=merge_registries_d([files]))
    inst = world.index.instances[1]

    async def main() -> tuple[tuple[Signature, ...], tuple[Signature, ...]]:
        async with open_client(config) as client:
            two = await client.list_signatures(world.ref(world.two))
            one = await client.list_signatures(world.ref(world.index), inst.digest)
            return two, one

    two, one = trio.run(main)
    expected = signature_paths(world.lookaside, world.two.repo, world.two.digest)
    assert [s.raw for s in two] == [p.read_bytes() for p in expected]
    assert [s.raw for s in one] == [
        p.read_bytes() for p in signature_paths(world.lookaside, inst.repo, inst.digest)
    ]
    assert one[0].claims is not None and one[0].claims.manifest_digest == inst.digest


# --- the extension API ---------------------------------------------------------------------------


def static_lookaside(world: World, image: PushedImage) -> StaticServer:
    """A recording http lookaside holding the image's real signatures."""
    files = {
        f"/{image.repo}@{image.digest.replace(':', '=')}/{p.name}": p.read_bytes()
        for p in signature_paths(world.lookaside, image.repo, image.digest)
    }
    return StaticServer(files)


@pytest.mark.parametrize("advertise", [True, False])
def test_extension_api_replaces_lookaside(world: World, tmp_path: Path, advertise: bool) -> None:
    two = world.two
    originals = [p.read_bytes() for p in signature_paths(world.lookaside, two.repo, two.digest)]
    served = [originals[1]]  # the extension serves only the second key's signature
    with (
        ExtensionProxy(world.reg.host, advertise=advertise) as proxy,
        static_lookaside(world, two) as static,
    ):
        proxy.set_signatures(two.repo, two.digest, served)
        rd = write_registries_d(
            tmp_path / "d", {"docker": {proxy.host: {"lookaside": static.url}}}
        )
        result = run_cli(signatures_args(rd, f"{proxy.host}/{two.repo}:{two.tag}"))
        found = lines(result)
        lookaside_requests = static.requests
        extension_requests = proxy.extension_requests()
    if advertise:
        assert [x.source for x in found] == ["extension"]
        assert [x.size for x in found] == [len(served[0])]
        assert found[0].identity == world.ref(two)  # what skopeo signed (the real host)
        assert found[0].digest == two.digest
        assert lookaside_requests == []
        assert [r.path for r in extension_requests] == [
            f"/extensions/v2/{two.repo}/signatures/{two.digest}"
        ]
    else:  # control: the same set-up without the header reads the lookaside
        assert [x.source for x in found] == ["lookaside", "lookaside"]
        assert extension_requests == []
        assert [r.path.rsplit("/", 1)[1] for r in lookaside_requests] == [
            "signature-1",
            "signature-2",
            "signature-3",
        ]


def test_extension_entries_filtered(world: World, tmp_path: Path) -> None:
    """Only schemaVersion 2, type atomic entries count."""
    two = world.two
    sig = signature_paths(world.lookaside, two.repo, two.digest)[0].read_bytes()
    entries = [
        atomic_entry(two.digest, 1, b"OLD", schema_version=1),
        atomic_entry(two.digest, 2, sig),
        atomic_entry(two.digest, 3, b"OTHER", type_="other"),
    ]
    with ExtensionProxy(world.reg.host, {(two.repo, two.digest): entries}) as proxy:
        result = run_cli(
            signatures_args(
                world.file_d, f"{proxy.host}/{two.repo}:{two.tag}", "-o", str(tmp_path)
            )
        )
    found = lines(result)
    assert [(x.source, x.size) for x in found] == [("extension", len(sig))]
    assert (tmp_path / "signature-1").read_bytes() == sig


# --- sigstore attachments ---------------------------------------------------------------------


def push_attachment(
    reg: RegistryServer, image: PushedImage, payloads: list[bytes]
) -> tuple[str, list[dict[str, object]]]:
    """Push a cosign-style ``sha256-<hex>.sig`` OCI manifest for ``image``; returns its tag
    and layer descriptors."""
    config = Blob("application/vnd.oci.image.config.v1+json", b"{}", sha256_digest(b"{}"))
    layers: list[dict[str, object]] = []
    with reg.http() as http:
        push_blob(http, image.repo, config)
        for n, payload in enumerate(payloads, 1):
            blob = Blob(COSIGN_MT, payload, sha256_digest(payload))
            push_blob(http, image.repo, blob)
            layers.append(
                {
                    **blob.descriptor(),
                    "annotations": {SIG_ANNOTATION: f"MEUCIQ{n}==", "n": str(n)},
                }
            )
        doc = {
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": layers,
        }
        tag = image.digest.replace(":", "-", 1) + ".sig"
        push_manifest(http, image.repo, tag, json.dumps(doc).encode(), MT_OCI_MANIFEST)
    return tag, layers


def test_sigstore_attachments(world: World, tmp_path: Path) -> None:
    image = push_oci_image(world.reg, "sig/cosign", "v1")
    payloads = [
        json.dumps({"critical": {"image": {"docker-manifest-digest": image.digest}}}).encode(),
        b'{"second": true}',
    ]
    tag, layers = push_attachment(world.reg, image, payloads)
    rd_doc = {
        "docker": {
            world.reg.host: {
                "lookaside": (tmp_path / "empty").as_uri(),
                "use-sigstore-attachments": True,
            }
        }
    }
    rd = write_registries_d(tmp_path / "d", rd_doc)
    parsed = parse_registries_d_file((rd / "test.yaml").read_bytes(), path="test.yaml")
    config = ClientConfig(tls_verify=False, registries_d=merge_registries_d([parsed]))

    async def main() -> tuple[Signature, ...]:
        async with open_client(config) as client:
            return await client.list_signatures(world.ref(image))

    found = trio.run(main)
    assert [s.source for s in found] == ["sigstore", "sigstore"]
    assert [s.raw for s in found] == payloads
    assert {s.media_type for s in found} == {COSIGN_MT}
    assert [dict(s.annotations) for s in found] == [layer["annotations"] for layer in layers]
    assert tag in found[0].location
    # the CLI prints them too; the same registries.d without the flag finds nothing
    result = run_cli(signatures_args(rd, world.ref(image)))
    assert [(x.source, x.format, x.size) for x in lines(result)] == [
        ("sigstore", "sigstore", len(p)) for p in payloads
    ]
    off = write_registries_d(
        tmp_path / "off", {"docker": {world.reg.host: {"lookaside": (tmp_path / "e").as_uri()}}}
    )
    assert lines(run_cli(signatures_args(off, world.ref(image)))) == []
