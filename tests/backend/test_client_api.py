"""RegistryClient's handles and results: one shape for every operation, over loopback fakes.

Every operation takes a reference string, an ImageRef or an opened ImageSource; results are
immutable; list_tags needs only a repository; the CLI reports mirror failures from the
error's data.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
import trio

from sansio_registry import ClientConfig, ImageRef
from sansio_registry.http import Request
from sansio_registry.testing.fake import FakeRegistry
from tests.backend.fake_server import OCI_MANIFEST, FakeServer, make_image, run_trio, serve_fake
from tests.backend.loopback import Exchange, free_port
from trio_backend import RegistryClient, open_client
from trio_backend.cli import main

INSECURE = ClientConfig(tls_verify=False)
IMAGE = make_image("api")


def registry() -> FakeRegistry:
    fake = FakeRegistry()
    fake.put_manifest("ns/app", "v1", IMAGE.manifest, OCI_MANIFEST)
    fake.blobs.setdefault("ns/app", {})[IMAGE.config_digest] = IMAGE.config
    return fake


def manifest_fetches(srv: FakeServer) -> int:
    return sum(1 for r in srv.seen if "/manifests/" in r.url)


async def tags_pages(ex: Exchange, request: Request) -> bool:
    """Answer the tags list in two pages (the fake registry has no tags endpoint)."""
    if request.url.endswith("/v2/ns/app/tags/list"):
        link = '</v2/ns/app/tags/list?last=v1>; rel="next"'
        await ex.respond(200, [("Link", link)], json.dumps({"tags": ["v1"]}).encode())
        return True
    if request.url.endswith("/v2/ns/app/tags/list?last=v1"):
        await ex.respond(200, body=json.dumps({"tags": ["v2"]}).encode())
        return True
    return False


@run_trio()
async def test_list_tags_takes_a_repository_and_fetches_no_manifest() -> None:
    async with serve_fake(registry(), intercept=tags_pages) as srv, open_client(INSECURE) as c:
        by_text = await c.list_tags(f"{srv.netloc}/ns/app")  # no tag: none needed
        by_ref = await c.list_tags(ImageRef.parse(f"{srv.netloc}/ns/app:no-such-tag"))
        assert manifest_fetches(srv) == 0
        source = await c.open_image(f"{srv.netloc}/ns/app:v1")
        by_source = await c.list_tags(source)
    assert by_text == by_ref == by_source == ("v1", "v2")


@run_trio()
async def test_every_operation_takes_a_string_a_reference_or_an_opened_source() -> None:
    async with serve_fake(registry()) as srv, open_client(INSECURE) as c:
        text = f"{srv.netloc}/ns/app:v1"
        source = await c.open_image(text)
        fetched = manifest_fetches(srv)
        for handle in (text, ImageRef.parse(text), source):
            assert (await c.get_manifest(handle)).raw == IMAGE.manifest
            assert (await c.resolve_image(handle)).raw == IMAGE.manifest
            assert await c.get_config(handle) == IMAGE.config
            assert await c.get_config_blob(handle, IMAGE.config_digest) == IMAGE.config
            async with c.open_blob(handle, IMAGE.config_digest) as stream:
                assert b"".join([chunk async for chunk in stream]) == IMAGE.config
        # the string and the reference were opened once per call; the source never again
        assert manifest_fetches(srv) - fetched == 2 * 5
        assert await c.open_image(source) is source


def test_open_blob_offers_no_way_to_skip_verification() -> None:
    assert "verify" not in inspect.signature(RegistryClient.open_blob).parameters


@run_trio()
async def test_results_are_immutable() -> None:
    async with serve_fake(registry(), intercept=tags_pages) as srv, open_client(INSECURE) as c:
        tags = await c.list_tags(f"{srv.netloc}/ns/app")
        signatures = await c.list_signatures(f"{srv.netloc}/ns/app:v1")
    assert isinstance(tags, tuple) and isinstance(signatures, tuple)


@run_trio()
async def test_cli_counts_failed_mirrors_from_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve_fake(registry()) as srv:
        dead = f"127.0.0.1:{free_port()}"
        conf = tmp_path / "registries.conf"
        conf.write_text(
            f'[[registry]]\nprefix = "{srv.netloc}"\nlocation = "{srv.netloc}"\ninsecure = true\n'
            f'[[registry.mirror]]\nlocation = "{dead}"\ninsecure = true\n'
        )
        ref = f"{srv.netloc}/ns/app:missing"
        # --retry-times 0: the dead mirror fails at once instead of after two waits
        argv: list[Any] = ["--registries-conf", str(conf), "inspect", "--retry-times", "0"]
        argv += ["--raw", ref]
        status = await trio.to_thread.run_sync(main, argv)
    assert status == 1
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"sansio-registry: inspect {ref}: reading manifest missing in ")
    assert line.endswith("[MANIFEST_UNKNOWN] (1 mirror(s) also failed; --debug shows them)")
