"""The sync example driver (``examples/sync_driver.py``) against the real registry.

A second backend, not the trio one, reads what the lab pushed: the manifest byte for byte,
the config blob (buffered, verified by the core) and a layer streamed and verified while it is
read, on the plain registry and on the token registry with credentials (one token, reused over
keep-alive connections). A wrong expected size is caught by the same verification.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from examples.sync_driver import Body, Connections, run, run_streamed
from sansio_registry import ClientConfig, ImageSource, RegistrySession
from sansio_registry.auth import Credentials
from sansio_registry.digest import Digest
from sansio_registry.errors import SizeMismatch
from sansio_registry.flows.blob import BlobDownload
from sansio_registry.reference import ImageRef
from tests.lab.labs import Lab


@pytest.fixture(params=["plain_registry", "token_registry"])
def lab(request: pytest.FixtureRequest) -> Lab:
    value = request.getfixturevalue(request.param)
    assert isinstance(value, Lab)
    return value


@pytest.fixture
def conns() -> Iterator[Connections]:
    with closing(Connections(timeout=20)) as pool:
        yield pool


def _config(lab: Lab) -> ClientConfig:
    creds = Credentials(username=lab.creds[0], password=lab.creds[1]) if lab.creds else None
    return ClientConfig(tls_verify=False, credentials=creds)


def _read_verified(download: BlobDownload, body: Body | None) -> bytes:
    """The body, hashed chunk by chunk as it arrives; raises unless size and digest match."""
    assert body is not None
    verifier = download.verifier()
    received = bytearray()
    try:
        while chunk := body.read():
            verifier.update(chunk)
            received += chunk
    finally:
        body.close()
    verifier.finish()
    return bytes(received)


def test_manifest_and_verified_blobs(lab: Lab, conns: Connections) -> None:
    image = lab.images.app
    assert image.config is not None and image.layers
    layer = image.layers[0]
    session = RegistrySession(_config(lab))
    tokens_before = lab.issuer.count(account="alice") if lab.issuer else 0

    source: ImageSource = run(session.open_image(ImageRef.parse(lab.ref(image))), conns)
    assert source.manifest.raw == image.manifest
    assert str(source.manifest.digest) == image.digest
    assert source.manifest.media_type == image.media_type

    config_digest = Digest.parse(image.config.digest)
    config = run(session.get_config_blob(source, config_digest, size=image.config.size), conns)
    assert config == image.config.data

    blob = session.open_blob(source, Digest.parse(layer.digest), size=layer.size)
    download, body = run_streamed(blob, conns)
    assert _read_verified(download, body) == layer.data

    if lab.issuer is not None:  # one token for the whole session, sent on every request
        assert lab.issuer.count(account="alice") - tokens_before == 1


def test_a_wrong_size_fails_verification(lab: Lab, conns: Connections) -> None:
    image = lab.images.app
    layer = image.layers[0]
    session = RegistrySession(_config(lab))
    source = run(session.open_image(ImageRef.parse(lab.ref(image))), conns)
    blob = session.open_blob(source, Digest.parse(layer.digest), size=layer.size - 1)
    download, body = run_streamed(blob, conns)
    with pytest.raises(SizeMismatch):
        _read_verified(download, body)
    # the abandoned connection was closed, not pooled: the next exchange still works
    again = run_streamed(session.open_blob(source, Digest.parse(layer.digest)), conns)
    assert _read_verified(*again) == layer.data


def _readme_block(needle: str) -> str:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    found = [b for b in blocks if needle in b]
    assert len(found) == 1
    return str(found[0])


def test_readme_example_runs(plain_registry: Lab) -> None:
    """The README's "Use it from your own IO" example, pointed at the lab registry."""
    code = _readme_block("from examples.sync_driver import").replace(
        "127.0.0.1:5000", plain_registry.host
    )
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # raises unless the layer verified
    download = namespace["download"]
    assert isinstance(download, BlobDownload)
    expected = plain_registry.images.app.layers[0]
    assert (str(download.digest), download.size) == (expected.digest, expected.size)


def test_readme_trio_example_runs(plain_registry: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's library example (trio client, load_config), pointed at the lab registry."""
    code = _readme_block("from trio_backend import load_config, open_client").replace(
        "127.0.0.1:5000", plain_registry.host
    )
    exec(compile(code, "README.md", "exec"), {})
    image = plain_registry.images.app
    assert image.config is not None
    printed = capsys.readouterr().out.split(" ", 2)
    assert printed[:2] == [image.digest, str(len(image.config.data))]
    assert f"{image.layers[0].size}" in printed[2] and "'v1'" in printed[2]
