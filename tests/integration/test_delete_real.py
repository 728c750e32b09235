"""``sansio-registry delete`` against fresh real registries, cross-checked with ``skopeo delete``.

Each test gets its own registry (``registry_factory``): ``del/app`` pushed under ``v1`` and
``v2`` (one manifest, two tags) and signed by skopeo into the lab lookaside (http for reading,
a ``file://`` staging folder for writing). Deleting removes the manifest (every tag on its
digest) and the staging signatures; a dry run changes nothing; signatures that live only
behind an http lookaside make us refuse before the registry is touched, where skopeo deletes
the manifest and then fails (documented here as skopeo's behaviour).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.lab.cli import CLIResult, run_cli
from tests.lab.images import PushedImage, push_manifest, push_schema2_image
from tests.lab.registry import RegistryServer
from tests.lab.signing import GpgKey, Lookaside, sign_image, signature_paths
from tests.lab.skopeo import run_skopeo

ACCEPT = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
]
Factory = Callable[..., RegistryServer]


@pytest.fixture(scope="module")
def key() -> Iterator[GpgKey]:
    with GpgKey("Delete Tests <delete@example.invalid>") as k:
        yield k


@dataclass
class Signed:
    """A fresh registry with ``del/app:v1`` = ``:v2``, signed into ``lookaside``."""

    reg: RegistryServer
    image: PushedImage
    lookaside: Lookaside
    signatures: list[Path]

    @property
    def ref(self) -> str:
        return self.image.ref(self.reg.host)

    def status(self, reference: str) -> int:
        with self.reg.http() as http:
            return http.get_manifest(self.image.repo, reference, ACCEPT).status

    def uri(self, path: Path) -> str:
        """A signature file as our file:// lookaside URLs spell it (``@``/``=`` unescaped)."""
        rel = path.relative_to(self.lookaside.sigdir).as_posix()
        return f"{self.lookaside.sigdir.as_uri()}/{rel}"

    def statuses(self) -> list[int]:
        return [self.status(r) for r in ("v1", "v2", self.image.digest)]

    def delete(self, *args: str, registries_d: Path | None = None) -> CLIResult:
        rd = registries_d or self.lookaside.registries_d
        return run_cli(["--registries.d", str(rd), "delete", "--tls-verify=false", *args])


@pytest.fixture
def make_signed(registry_factory: Factory, key: GpgKey) -> Iterator[Callable[..., Signed]]:
    with contextlib.ExitStack() as stack:

        def make(**registry_kwargs: object) -> Signed:
            reg = registry_factory(**registry_kwargs)
            image = push_schema2_image(reg, "del/app", "v1")
            with reg.http() as http:
                push_manifest(http, image.repo, "v2", image.manifest, image.media_type)
            lookaside = stack.enter_context(Lookaside(reg.host))
            sigs = sign_image(reg, image, key, lookaside)
            assert [p.name for p in sigs] == ["signature-1"]
            return Signed(reg, image, lookaside, sigs)

        yield make


def http_only_registries_d(folder: Path, signed: Signed) -> Path:
    """registries.d whose only location for the registry is the http lookaside."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"docker": {signed.reg.host: {"lookaside": signed.lookaside.url}}}
    (folder / "http.yaml").write_text(yaml.safe_dump(doc))
    return folder


def one_line_error(result: CLIResult) -> str:
    assert result.returncode == 1, result.describe()
    assert len(result.stderr_lines) == 1, result.describe()
    assert "Traceback" not in result.stderr
    return result.stderr_lines[0]


def test_delete_removes_every_tag_and_the_staging_signatures(
    make_signed: Callable[..., Signed],
) -> None:
    s = make_signed()
    assert s.statuses() == [200, 200, 200]
    folder = s.signatures[0].parent
    result = s.delete(f"docker://{s.ref}")
    assert result.returncode == 0, result.describe()
    out = result.stdout.decode().splitlines()
    assert out[0] == f"Deleted {s.reg.host}/{s.image.repo}@{s.image.digest}"
    assert out[1:] == [f"  removed signature: {s.uri(s.signatures[0])}"]
    assert s.statuses() == [404, 404, 404]  # v2 went with v1: same digest
    assert signature_paths(s.lookaside, s.image.repo, s.image.digest) == []
    assert list(folder.iterdir()) == []
    # again, by tag and by digest: the typed not-found, one line
    for ref in (s.ref, f"{s.reg.host}/{s.image.repo}@{s.image.digest}"):
        line = one_line_error(s.delete(ref))
        assert "MANIFEST_UNKNOWN" in line, line
        assert line.startswith(f"sansio-registry: delete {ref}: ")


def test_dry_run_changes_nothing(make_signed: Callable[..., Signed]) -> None:
    s = make_signed()
    result = s.delete("--dry-run", s.ref)
    assert result.returncode == 0, result.describe()
    out = result.stdout.decode().splitlines()
    assert out == [
        f"Would delete {s.reg.host}/{s.image.repo}@{s.image.digest}",
        "  tags: v1, v2",
        f"  signature: {s.uri(s.signatures[0])}",
    ]
    assert s.statuses() == [200, 200, 200]
    assert signature_paths(s.lookaside, s.image.repo, s.image.digest) == s.signatures


def test_http_only_lookaside_refuses_before_the_manifest_is_touched(
    make_signed: Callable[..., Signed], tmp_path: Path
) -> None:
    s = make_signed()
    rd = http_only_registries_d(tmp_path / "d", s)
    dry = s.delete("--dry-run", s.ref, registries_d=rd)
    assert dry.returncode == 0, dry.describe()
    assert "read-only lookaside: delete would refuse" in dry.stdout.decode()
    line = one_line_error(s.delete(s.ref, registries_d=rd))
    http_sig = f"{s.lookaside.url}/{s.image.repo}@{s.image.digest.replace(':', '=')}/signature-1"
    assert "refusing to delete" in line and http_sig in line, line
    assert s.statuses() == [200, 200, 200]
    assert signature_paths(s.lookaside, s.image.repo, s.image.digest) == s.signatures


def test_registry_with_delete_disabled(registry_factory: Factory, tmp_path: Path) -> None:
    reg = registry_factory(delete_enabled=False)
    image = push_schema2_image(reg, "del/app", "v1")
    empty = tmp_path / "registries.d"
    empty.mkdir()
    result = run_cli(
        ["--registries.d", str(empty), "delete", "--tls-verify=false", image.ref(reg.host)]
    )
    line = one_line_error(result)
    assert "UNSUPPORTED" in line, line
    with reg.http() as http:
        assert http.get_manifest(image.repo, "v1", ACCEPT).status == 200


# --- cross-checks with skopeo delete on a twin registry ---------------------------------------


def skopeo_delete(s: Signed, registries_d: Path) -> tuple[int, str]:
    proc = run_skopeo(
        ["delete", "--tls-verify=false", f"docker://{s.ref}"],
        registries_d=registries_d,
        check=False,
    )
    return proc.returncode, proc.stderr.decode(errors="replace")


def test_same_end_state_as_skopeo(make_signed: Callable[..., Signed]) -> None:
    ours, theirs = make_signed(), make_signed()
    assert ours.image.digest == theirs.image.digest  # twins
    result = ours.delete(ours.ref)
    assert result.returncode == 0, result.describe()
    code, err = skopeo_delete(theirs, theirs.lookaside.registries_d)
    assert code == 0, err
    for s in (ours, theirs):
        assert s.statuses() == [404, 404, 404]
        assert signature_paths(s.lookaside, s.image.repo, s.image.digest) == []
        with s.reg.http() as http:
            tags = http.request("GET", f"/v2/{s.image.repo}/tags/list")
        assert tags.status == 200 and tags.json() == {"name": s.image.repo, "tags": None}


def test_skopeo_deletes_then_fails_on_an_http_lookaside(
    make_signed: Callable[..., Signed], tmp_path: Path
) -> None:
    """Go: the manifest is gone, then the signature step fails, leaving
    the signatures behind. We refuse first instead (previous tests)."""
    ours, theirs = make_signed(), make_signed()
    code, err = skopeo_delete(theirs, http_only_registries_d(tmp_path / "theirs", theirs))
    assert code != 0
    assert "Writing directly to a http lookaside" in err, err
    assert "is not supported. Configure a lookaside-staging: location" in err, err
    assert theirs.statuses() == [404, 404, 404]  # deleted anyway
    assert signature_paths(theirs.lookaside, theirs.image.repo, theirs.image.digest)
    # ours, same set-up: refused, nothing deleted
    rd = http_only_registries_d(tmp_path / "ours", ours)
    line = one_line_error(ours.delete(ours.ref, registries_d=rd))
    assert "refusing to delete" in line
    assert ours.statuses() == [200, 200, 200]
