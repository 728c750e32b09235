"""``sansio-registry list-tags`` against real registries, compared with ``skopeo list-tags``.

The output must be skopeo's bytes: ``{"Repository": …, "Tags": […]}`` indented by four spaces,
tags in the registry's order, a trailing newline. distribution 2.8 sends every tag in one
answer, so a `PagingProxy` in front of it cuts the list into pages linked by ``Link``: the
listing through the proxy must equal skopeo's listing of the registry itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.integration.test_inspect_cli import access
from tests.lab.cli import run_cli
from tests.lab.images import PushedImage, push_manifest, push_schema2_image
from tests.lab.labs import Lab
from tests.lab.paging import PagingProxy
from tests.lab.registry import RegistryServer
from tests.lab.skopeo import run_skopeo, skopeo_inspect, skopeo_list_tags

MANY = 250
REPO = "listing/many"


@pytest.fixture(scope="module")
def many_tags(plain_registry: Lab) -> PushedImage:
    """One image under 250 tags (none of them ``latest``), in a repository of its own."""
    image = push_schema2_image(plain_registry.server, REPO, "t000")
    http = plain_registry.http()
    for number in range(1, MANY):
        push_manifest(http, REPO, f"t{number:03d}", image.manifest, image.media_type)
    return image


def skopeo_bytes(lab: Lab, repository: str) -> bytes:
    return skopeo_list_tags(
        f"{lab.host}/{repository}",
        tls_verify=lab.tls_verify,
        creds=lab.creds,
        cert_dir=lab.cert_dir,
    )


def test_many_tags_match_skopeo_byte_for_byte(plain_registry: Lab, many_tags: PushedImage) -> None:
    ours = run_cli(
        ["list-tags", *access(plain_registry), f"docker://{plain_registry.host}/{REPO}"]
    )
    assert ours.returncode == 0, ours.describe()
    expected = skopeo_bytes(plain_registry, REPO)
    assert ours.stdout == expected
    listing = json.loads(expected)
    assert sorted(listing["Tags"]) == [f"t{n:03d}" for n in range(MANY)]


def test_pages_are_followed_to_the_same_listing(
    plain_registry: Lab, many_tags: PushedImage
) -> None:
    with PagingProxy(plain_registry.host, page_size=100) as proxy:
        ours = run_cli(["list-tags", "--tls-verify=false", f"docker://{proxy.host}/{REPO}"])
        pages = proxy.tag_pages_served()
    assert ours.returncode == 0, ours.describe()
    assert len(pages) == 3, pages  # 100 + 100 + 50, each asked once
    assert all("last=" in page for page in pages[1:]), pages
    # skopeo asks the registry itself (one page); only the host in "Repository" differs.
    expected = skopeo_bytes(plain_registry, REPO).replace(
        plain_registry.host.encode(), proxy.host.encode(), 1
    )
    assert ours.stdout == expected


@pytest.mark.parametrize("lab_name", ["basic_registry", "token_registry", "tls_registry"])
def test_access_flags_as_inspect(lab_name: str, request: pytest.FixtureRequest) -> None:
    lab = request.getfixturevalue(lab_name)
    assert isinstance(lab, Lab)
    repository = lab.images.app.repo
    ours = run_cli(["list-tags", *access(lab), f"docker://{lab.host}/{repository}"])
    assert ours.returncode == 0, ours.describe()
    assert ours.stdout == skopeo_bytes(lab, repository)


def test_emptied_repository_lists_no_tags_as_skopeo(
    registry_factory: Callable[..., RegistryServer],
) -> None:
    server = registry_factory()
    image = push_schema2_image(server, "ns/gone", "v1")
    deleted = server.http().request("DELETE", f"/v2/ns/gone/manifests/{image.digest}")
    assert deleted.status == 202
    ours = run_cli(["list-tags", "--tls-verify=false", f"docker://{server.host}/ns/gone"])
    assert ours.returncode == 0, ours.describe()
    expected = run_skopeo(["list-tags", "--tls-verify=false", f"docker://{server.host}/ns/gone"])
    assert ours.stdout == expected.stdout
    assert json.loads(ours.stdout)["Tags"] == []


@pytest.mark.parametrize("suffix", [":v1", "@sha256:" + "a" * 64])
def test_a_tag_or_digest_is_refused_as_skopeo_refuses_it(plain_registry: Lab, suffix: str) -> None:
    ref = f"docker://{plain_registry.host}/ns/app{suffix}"
    skopeo = run_skopeo(["list-tags", "--tls-verify=false", ref], check=False)
    assert skopeo.returncode != 0 and skopeo.stdout == b""
    assert b"No tag or digest allowed" in skopeo.stderr
    ours = run_cli(["list-tags", "--tls-verify=false", ref])
    assert ours.returncode == 2, ours.describe()
    assert ours.stdout == b""
    assert "no tag or digest allowed" in ours.stderr and len(ours.stderr_lines) == 1


def test_missing_repository_is_one_line_naming_it(plain_registry: Lab) -> None:
    ref = f"docker://{plain_registry.host}/ns/nothing-here"
    ours = run_cli(["list-tags", "--tls-verify=false", ref])
    assert ours.returncode == 1, ours.describe()
    assert ours.stdout == b"" and len(ours.stderr_lines) == 1
    assert ours.stderr.startswith(f"sansio-registry: list-tags {ref}: ")


def test_global_flags_after_the_command_as_skopeo(plain_registry: Lab) -> None:
    repository = f"docker://{plain_registry.host}/{plain_registry.images.app.repo}"
    args = ["list-tags", "--override-arch", "arm64", "--tls-verify=false", repository]
    ours = run_cli(args)
    assert ours.returncode == 0, ours.describe()
    assert ours.stdout == run_skopeo(args).stdout


def test_inspect_lists_each_repository_once_per_command(
    plain_registry: Lab, many_tags: PushedImage
) -> None:
    """A batch of REFs shares its repositories' tag lists (each REF's RepoTags as skopeo's)."""
    other = plain_registry.images.app.repo
    tags = [f"t{number:03d}" for number in range(40)]  # more than the per-host limit
    with PagingProxy(plain_registry.host, page_size=100) as proxy:
        refs = [f"docker://{proxy.host}/{REPO}:{tag}" for tag in tags]
        refs.append(f"docker://{proxy.host}/{other}:{plain_registry.images.app.tag}")
        ours = run_cli(["inspect", "--tls-verify=false", *refs])
        listings = [page for page in proxy.tag_pages_served() if "last=" not in page]
    assert ours.returncode == 0, ours.describe()
    assert sorted(listings) == sorted([f"/v2/{REPO}/tags/list", f"/v2/{other}/tags/list"])
    theirs = skopeo_inspect(f"{plain_registry.host}/{REPO}:t003", tls_verify=False)
    summaries = json.loads(ours.stdout)
    for summary in summaries[:-1]:
        assert summary["RepoTags"] == theirs["RepoTags"]
