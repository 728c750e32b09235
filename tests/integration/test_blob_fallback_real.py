"""Per-blob fallback against real registries: a mirror that has the manifest but lost a blob.

Go stops there (no per-blob fallback); we fetch that blob from the next pull source.
The mirror is made by pushing the whole image to a second real registry and then deleting one
layer blob from it with the registry's own API, so its manifest still names the blob.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.lab.images import PushedImage, make_layer, push_schema2_image
from tests.lab.mirrors import MirrorEntry, RegistryEntry, registries_conf_text
from tests.lab.registry import RegistryServer

pytestmark = pytest.mark.integration


def _two_layer_image(registry: RegistryServer) -> PushedImage:
    layers = [make_layer({"a.txt": b"first layer\n"}), make_layer({"b.txt": b"second\n" * 999})]
    return push_schema2_image(registry, "fb/app", "v1", layers=layers)


def _pull(conf: Path, ref: str, dest: Path) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-m", "trio_backend", "--registries-conf", str(conf), "pull", "-q"]
    return subprocess.run(
        [*argv, "--tls-verify=false", ref, str(dest)],
        capture_output=True,
        timeout=60,
        check=False,
    )


def _mirrored(
    registry_factory: Callable[..., RegistryServer], tmp_path: Path, *, lose_on_primary: bool
) -> tuple[RegistryServer, RegistryServer, PushedImage, str, Path]:
    """A primary and a mirror holding the same image; the mirror (and maybe the primary)
    lost the second layer's blob. Returns (primary, mirror, image, lost digest, conf)."""
    primary = registry_factory()
    mirror = registry_factory()
    image = _two_layer_image(primary)
    assert _two_layer_image(mirror).digest == image.digest
    lost = image.layers[1].digest
    for registry in (mirror, primary) if lose_on_primary else (mirror,):
        gone = registry.http().request("DELETE", f"/v2/{image.repo}/blobs/{lost}")
        assert gone.status == 202, gone
        assert registry.http().request("GET", f"/v2/{image.repo}/blobs/{lost}").status == 404
    conf = tmp_path / "registries.conf"
    mirror_entry = MirrorEntry(location=mirror.host, insecure=True)
    entry = RegistryEntry(location=primary.host, insecure=True, mirrors=(mirror_entry,))
    conf.write_text(registries_conf_text([entry]))
    return primary, mirror, image, lost, conf


def test_blob_missing_on_mirror_comes_from_the_primary(
    registry_factory: Callable[..., RegistryServer], tmp_path: Path
) -> None:
    primary, _, image, _, conf = _mirrored(registry_factory, tmp_path, lose_on_primary=False)
    dest = tmp_path / "out"
    done = _pull(conf, f"{primary.host}/{image.repo}:{image.tag}", dest)
    assert done.returncode == 0, done.stderr.decode()
    for layer in image.layers:
        data = (dest / layer.digest.removeprefix("sha256:")).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == layer.digest
    assert (dest / "manifest.json").read_bytes() == image.manifest


def test_blob_missing_everywhere_is_the_first_sources_error_with_a_note(
    registry_factory: Callable[..., RegistryServer], tmp_path: Path
) -> None:
    primary, mirror, image, lost, conf = _mirrored(
        registry_factory, tmp_path, lose_on_primary=True
    )
    dest = tmp_path / "out"
    done = _pull(conf, f"{primary.host}/{image.repo}:{image.tag}", dest)
    err = done.stderr.decode()
    assert done.returncode == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert lost in err and mirror.host in err and primary.host in err
    assert "BLOB_UNKNOWN" in err
    assert not (dest / lost.removeprefix("sha256:")).exists()
    assert not (dest / "manifest.json").exists()
