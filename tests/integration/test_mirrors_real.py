"""Mirrors from a real registries.conf, against real registries, a dead port and skopeo.

World (started once for the module): a primary registry P, a mirror registry M (reached
through a `RecordingProxy` X, so every byte sent to it is seen), and a dead port D. P and M hold
different images under the same tag; only P has ``mir/only-primary``. A second pair (PA, MA
behind XA) runs htpasswd auth where both accept alice, to prove explicit credentials stay with
the primary.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import trio

from sansio_registry.auth import Credentials
from sansio_registry.config.auth_json import AuthFile
from sansio_registry.errors import ManifestUnknown
from sansio_registry.flows.manifest import ImageSource
from sansio_registry.session import ClientConfig
from tests.lab.cli import CLIResult, run_cli_many
from tests.lab.images import PushedImage, push_schema2_image
from tests.lab.mirrors import (
    MirrorEntry,
    RecordingProxy,
    RegistryEntry,
    dead_host,
    registries_conf_text,
)
from tests.lab.registry import LabError, RegistryServer, require_binary
from tests.lab.skopeo import SKOPEO_BINARY, skopeo_inspect_raw
from trio_backend.auth_files import load_auth_files
from trio_backend.client import open_client
from trio_backend.config_files import load_registries_conf
from trio_backend.tls import CertDirSearch, TLSConfig

T = TypeVar("T")


def run(fn: Callable[[], Awaitable[T]], *, timeout: float = 20.0) -> T:
    async def bounded() -> T:
        with trio.fail_after(timeout):
            return await fn()

    return trio.run(bounded)


@dataclass(frozen=True, slots=True)
class World:
    primary: RegistryServer
    mirror: RegistryServer
    proxy: RecordingProxy
    dead: str
    p_app: PushedImage  # P's mir/app:v1
    m_app: PushedImage  # M's mir/app:v1 (other bytes)
    only_primary: PushedImage
    auth_primary: RegistryServer
    auth_mirror: RegistryServer
    auth_proxy: RecordingProxy
    pa_app: PushedImage
    ma_app: PushedImage


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    try:
        require_binary("docker-registry")
        require_binary(SKOPEO_BINARY)
    except LabError as exc:
        pytest.fail(str(exc), pytrace=False)
    with contextlib.ExitStack() as stack:
        try:
            primary = stack.enter_context(RegistryServer())
            mirror = stack.enter_context(RegistryServer())
            auth_primary = stack.enter_context(
                RegistryServer(auth="htpasswd", users={"alice": "secret"})
            )
            auth_mirror = stack.enter_context(
                RegistryServer(auth="htpasswd", users={"alice": "secret", "carol": "pw"})
            )
        except LabError as exc:
            pytest.fail(f"mirror lab did not start: {exc}", pytrace=False)
        proxy = stack.enter_context(RecordingProxy(mirror.host))
        auth_proxy = stack.enter_context(RecordingProxy(auth_mirror.host))
        primary_layers = [{"etc/where": b"primary\n"}]
        mirror_layers = [{"etc/where": b"mirror copy\n"}]
        yield World(
            primary=primary,
            mirror=mirror,
            proxy=proxy,
            dead=dead_host(),
            p_app=push_schema2_image(primary, "mir/app", "v1", layers=primary_layers),
            m_app=push_schema2_image(mirror, "mir/app", "v1", layers=mirror_layers),
            only_primary=push_schema2_image(primary, "mir/only-primary", "v1"),
            auth_primary=auth_primary,
            auth_mirror=auth_mirror,
            auth_proxy=auth_proxy,
            pa_app=push_schema2_image(auth_primary, "mir/app", "v1", layers=primary_layers),
            ma_app=push_schema2_image(auth_mirror, "mir/app", "v1", layers=mirror_layers),
        )


def write_conf(path: Path, *entries: RegistryEntry) -> Path:
    path.write_text(registries_conf_text(entries))
    return path


def main_conf(world: World, path: Path) -> Path:
    """P with mirrors [D, X→M], everything plain http (insecure)."""
    return write_conf(
        path,
        RegistryEntry(
            location=world.primary.host,
            insecure=True,
            mirrors=(
                MirrorEntry(world.dead, insecure=True),
                MirrorEntry(world.proxy.host, insecure=True),
            ),
        ),
    )


def library_config(
    conf: Path,
    tmp_path: Path,
    *,
    credentials: Credentials | None = None,
    auth_files: tuple[AuthFile, ...] = (),
) -> ClientConfig:
    """What the CLI builds from ``--registries-conf FILE`` (drop-ins pointed at nothing)."""
    registries = load_registries_conf(
        explicit_file=str(conf), explicit_dir=str(tmp_path / "no-drop-ins"), env={}
    )
    return ClientConfig(registries=registries, credentials=credentials, auth_files=auth_files)


NO_CERT_DIRS = TLSConfig(cert_dirs=CertDirSearch(enabled=False))


def _one_line(result: CLIResult) -> str:
    assert result.returncode == 1, result.describe()
    assert "Traceback" not in result.stderr
    lines = result.stderr_lines
    assert len(lines) == 1, result.describe()
    return lines[0]


# -- the mirror loop ----------------------------------------------------------------------------


def test_library_takes_the_first_mirror_that_has_it(world: World, tmp_path: Path) -> None:
    conf = main_conf(world, tmp_path / "registries.conf")
    config = library_config(conf, tmp_path)
    app = f"{world.primary.host}/mir/app:v1"
    only = f"{world.primary.host}/mir/only-primary:v1"
    missing = f"{world.primary.host}/mir/app:missing"

    async def go() -> tuple[ImageSource, ImageSource, ManifestUnknown]:
        async with open_client(config, tls=NO_CERT_DIRS) as client:
            a = await client.open_image(app)
            b = await client.open_image(only)
            try:
                await client.open_image(missing)
            except ManifestUnknown as exc:
                return a, b, exc
            raise AssertionError("no error for a manifest that is nowhere")

    a, b, exc = run(go)
    assert a.manifest.raw == world.m_app.manifest != world.p_app.manifest
    assert a.physical.domain == world.proxy.host
    assert a.logical.domain == world.primary.host  # the user's reference, not the mirror's
    assert b.manifest.raw == world.only_primary.manifest
    assert b.physical.domain == world.primary.host
    # Nowhere: the primary's own error type, one note per failed mirror, in try order.
    assert exc.code == "MANIFEST_UNKNOWN"
    assert world.primary.host in str(exc)
    notes = getattr(exc, "__notes__", [])
    assert len(notes) == 2, notes
    assert world.dead in notes[0] and "refused" in notes[0]
    assert world.proxy.host in notes[1] and "manifest unknown" in notes[1]
    # skopeo, given the same file, picks the same bytes.
    for ref, expected in ((app, world.m_app), (only, world.only_primary)):
        assert skopeo_inspect_raw(ref, tls_verify=False, registries_conf=conf) == expected.manifest


@pytest.mark.parametrize("how", ["flag", "env"])
def test_cli_with_registries_conf(world: World, tmp_path: Path, how: str) -> None:
    conf = main_conf(world, tmp_path / "registries.conf")
    globals_ = ["--registries-conf", str(conf)] if how == "flag" else []
    env = {"CONTAINERS_REGISTRIES_CONF": str(conf)} if how == "env" else None
    refs = ["mir/app:v1", "mir/only-primary:v1", "mir/app:missing"]
    app, only, missing = run_cli_many(
        [[*globals_, "inspect", "--raw", f"docker://{world.primary.host}/{ref}"] for ref in refs],
        env=env,
    )
    assert app.returncode == 0 and app.stdout == world.m_app.manifest, app.describe()
    assert only.returncode == 0 and only.stdout == world.only_primary.manifest, only.describe()
    line = _one_line(missing)
    assert "MANIFEST_UNKNOWN" in line
    assert f"{world.primary.host}/mir/app:missing" in line
    assert "2 mirror" in line


@pytest.mark.parametrize(
    "digest_only",
    [
        pytest.param("registry", id="mirror-by-digest-only"),
        pytest.param("mirror", id="pull-from-mirror=digest-only"),
    ],
)
def test_digest_only_mirror(world: World, tmp_path: Path, digest_only: str) -> None:
    conf = write_conf(
        tmp_path / "registries.conf",
        RegistryEntry(
            location=world.primary.host,
            insecure=True,
            mirror_by_digest_only=digest_only == "registry",
            mirrors=(
                MirrorEntry(
                    world.proxy.host,
                    insecure=True,
                    pull_from_mirror="digest-only" if digest_only == "mirror" else None,
                ),
            ),
        ),
    )
    by_tag = f"docker://{world.primary.host}/mir/app:v1"
    by_digest = f"docker://{world.primary.host}/mir/app@{world.m_app.digest}"
    world.proxy.reset()
    (tag,) = run_cli_many([["--registries-conf", str(conf), "inspect", "--raw", by_tag]])
    assert tag.returncode == 0 and tag.stdout == world.p_app.manifest, tag.describe()
    assert world.proxy.connections == 0, world.proxy.request_lines()

    config = library_config(conf, tmp_path)

    async def go() -> bytes:
        async with open_client(config, tls=NO_CERT_DIRS) as client:
            assert (await client.get_manifest(by_tag[9:])).raw == world.p_app.manifest
            assert world.proxy.connections == 0
            return (await client.get_manifest(by_digest[9:])).raw

    assert run(go) == world.m_app.manifest
    (dig,) = run_cli_many([["--registries-conf", str(conf), "inspect", "--raw", by_digest]])
    assert dig.returncode == 0 and dig.stdout == world.m_app.manifest, dig.describe()
    manifest_path = f"/v2/mir/app/manifests/{world.m_app.digest}"
    assert world.proxy.request_lines().count(("GET", manifest_path)) == 2


# -- credentials stay with the primary ----------------------------------------------------------


def auth_conf(world: World, path: Path) -> Path:
    return write_conf(
        path,
        RegistryEntry(
            location=world.auth_primary.host,
            insecure=True,
            mirrors=(MirrorEntry(world.auth_proxy.host, insecure=True),),
        ),
    )


def _auth_json(path: Path, entries: dict[str, tuple[str, str]]) -> Path:
    auths = {
        host: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()}
        for host, (u, p) in entries.items()
    }
    path.write_text(json.dumps({"auths": auths}))
    return path


@pytest.mark.fault("mirrors", "a mirror on another host never sees the credentials")
def test_explicit_creds_never_reach_the_mirror(world: World, tmp_path: Path) -> None:
    """The mirror would accept alice; it is tried, refuses anonymous access, and the primary
    (which gets alice) answers. skopeo does the same."""
    conf = auth_conf(world, tmp_path / "registries.conf")
    ref = f"{world.auth_primary.host}/mir/app:v1"
    world.auth_proxy.reset()
    (result,) = run_cli_many(
        [["--registries-conf", str(conf), "inspect", "--raw", "--creds", "alice:secret", ref]]
    )
    assert result.returncode == 0, result.describe()
    assert result.stdout == world.pa_app.manifest
    config = library_config(
        conf, tmp_path, credentials=Credentials(username="alice", password="secret")
    )

    async def go() -> bytes:
        async with open_client(config, tls=NO_CERT_DIRS) as client:
            return (await client.get_manifest(ref)).raw

    assert run(go) == world.pa_app.manifest
    seen = world.auth_proxy.request_lines()
    assert ("GET", "/v2/mir/app/manifests/v1") in seen, seen  # the mirror was tried
    assert not world.auth_proxy.saw_basic_user("alice"), world.auth_proxy.authorizations()
    theirs = skopeo_inspect_raw(
        ref, tls_verify=False, creds=("alice", "secret"), registries_conf=conf
    )
    assert theirs == world.pa_app.manifest


def test_auth_file_credentials_are_looked_up_per_mirror_host(world: World, tmp_path: Path) -> None:
    """Without explicit credentials, auth.json is consulted for each physical host."""
    conf = auth_conf(world, tmp_path / "registries.conf")
    auth = _auth_json(
        tmp_path / "auth.json",
        {world.auth_primary.host: ("alice", "secret"), world.auth_proxy.host: ("carol", "pw")},
    )
    ref = f"{world.auth_primary.host}/mir/app:v1"
    world.auth_proxy.reset()
    (result,) = run_cli_many(
        [["--registries-conf", str(conf), "inspect", "--raw", "--authfile", str(auth), ref]]
    )
    assert result.returncode == 0, result.describe()
    assert result.stdout == world.ma_app.manifest
    assert world.auth_proxy.saw_basic_user("carol")
    assert not world.auth_proxy.saw_basic_user("alice")
    config = library_config(conf, tmp_path, auth_files=load_auth_files(authfile=str(auth), env={}))

    async def go() -> bytes:
        async with open_client(config, tls=NO_CERT_DIRS) as client:
            return (await client.get_manifest(ref)).raw

    assert run(go) == world.ma_app.manifest


def test_skopeo_uses_auth_file_for_a_mirror_even_with_explicit_creds(
    world: World, tmp_path: Path
) -> None:
    """containers/image's behaviour: explicit creds are withheld from the mirror, but
    auth.json is still looked up for the mirror's own host."""
    conf = auth_conf(world, tmp_path / "registries.conf")
    auth = _auth_json(tmp_path / "auth.json", {world.auth_proxy.host: ("carol", "pw")})
    ref = f"{world.auth_primary.host}/mir/app:v1"
    world.auth_proxy.reset()
    theirs = skopeo_inspect_raw(
        ref, tls_verify=False, creds=("alice", "secret"), registries_conf=conf, authfile=auth
    )
    assert theirs == world.ma_app.manifest
    assert world.auth_proxy.saw_basic_user("carol")
    assert not world.auth_proxy.saw_basic_user("alice")


def test_auth_file_for_a_mirror_with_explicit_creds(world: World, tmp_path: Path) -> None:
    conf = auth_conf(world, tmp_path / "registries.conf")
    auth = _auth_json(tmp_path / "auth.json", {world.auth_proxy.host: ("carol", "pw")})
    ref = f"{world.auth_primary.host}/mir/app:v1"
    (result,) = run_cli_many(
        [
            [
                "--registries-conf",
                str(conf),
                "inspect",
                "--raw",
                "--creds",
                "alice:secret",
                "--authfile",
                str(auth),
                ref,
            ]
        ]
    )
    assert result.returncode == 0, result.describe()
    assert result.stdout == world.ma_app.manifest  # what skopeo returns (test above)
