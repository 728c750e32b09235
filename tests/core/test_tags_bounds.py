"""Tag listing: pages stay on the registry, never loop, and hold a bounded total."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sansio_registry.errors import RemoteProtocolError
from sansio_registry.flows.tags import MAX_TAG_LIST_BYTES, list_tags
from sansio_registry.http import MAX_MANIFEST_BODY, Request, Response
from sansio_registry.reference import ImageRef
from sansio_registry.session import ClientConfig, RegistryState
from sansio_registry.testing import run_sync
from sansio_registry.testing.transcript import Expect, Transcript, reply

H = "reg.test"
LIST = f"https://{H}/v2/ns/app/tags/list"


def page(tags: list[str], next_target: str | None = None) -> Response:
    link = () if next_target is None else (("Link", f'<{next_target}>; rel="next"'),)
    return reply(200, json.dumps({"name": "ns/app", "tags": tags}).encode(), *link)


def listing(transport: Callable[[Request], Response]) -> tuple[str, ...]:
    flow = list_tags(ImageRef.parse(f"{H}/ns/app"), config=ClientConfig(), state=RegistryState())
    return run_sync(flow, transport)


def test_an_absolute_link_is_asked_of_the_same_registry() -> None:
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(200)),
            Expect("GET", LIST, page(["a"], "https://evil.test/v2/ns/app/tags/list?last=a")),
            Expect("GET", f"{LIST}?last=a", page(["b"])),
        ]
    )
    assert listing(script) == ("a", "b")


def test_a_page_linking_back_is_a_loop() -> None:
    script = Transcript(
        [
            Expect("GET", f"https://{H}/v2/", reply(200)),
            Expect("GET", LIST, page(["a"], "/v2/ns/app/tags/list?last=a")),
            Expect("GET", f"{LIST}?last=a", page(["b"], "/v2/ns/app/tags/list")),
        ]
    )
    with pytest.raises(RemoteProtocolError, match="loop"):
        listing(script)
    script.done()


def test_the_pages_together_are_capped() -> None:
    big = ["t" * 100] * ((MAX_MANIFEST_BODY - 1000) // 104)
    asked: list[str] = []

    def transport(request: Request) -> Response:
        if request.url.endswith("/v2/"):
            return reply(200)
        asked.append(request.url)
        return page(big, f"/v2/ns/app/tags/list?last={len(asked)}")

    with pytest.raises(RemoteProtocolError, match=f"over {MAX_TAG_LIST_BYTES} bytes"):
        listing(transport)
    assert len(asked) == MAX_TAG_LIST_BYTES // len(page(big).body) + 1
