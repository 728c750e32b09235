"""A registry whose tag lists come in pages, for clients that must follow ``Link``.

distribution 2.8 ignores ``n`` and ``last`` on ``GET /v2/<name>/tags/list`` and never sends
``Link``, so pagination (OCI distribution spec, "Listing Tags"; RFC 8288 ``rel="next"``) cannot
be exercised against it directly. `PagingProxy` is the lab's reverse proxy
(`~tests.lab.extension_server.ExtensionProxy`, without the extension) that cuts the real
registry's full list into pages of ``page_size`` tags (or the ``n`` asked for), in the
registry's order, each but the last with ``Link: </v2/<name>/tags/list?n=N&last=T>;
rel="next"``. Everything else is forwarded unchanged. stdlib only; imports nothing from the
product.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, quote, urlsplit

from tests.lab.extension_server import ExtensionProxy, _Handler

__all__ = ["PagingProxy"]

_TAGS_PATH = re.compile(r"^/v2/(?P<name>.+)/tags/list$")


class PagingProxy(ExtensionProxy):
    """In front of a plain-http ``upstream`` registry; tag lists split into pages."""

    def __init__(self, upstream: str, *, page_size: int = 100) -> None:
        super().__init__(upstream, advertise=False)
        self.page_size = page_size

    def tag_pages_served(self) -> list[str]:
        """The tag-list request targets answered, in order."""
        return [
            r.path
            for r in self.requests
            if r.method == "GET" and _TAGS_PATH.match(urlsplit(r.path).path)
        ]

    def _forward(
        self, handler: _Handler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes, int]:
        status, headers, answer, length = super()._forward(handler, body)
        target = urlsplit(handler.path)
        match = _TAGS_PATH.match(target.path)
        if handler.command != "GET" or match is None or status != 200:
            return status, headers, answer, length
        every: list[str] = json.loads(answer)["tags"] or []
        query = parse_qs(target.query)
        size = int(query.get("n", [str(self.page_size)])[0])
        last = query.get("last", [None])[0]
        start = every.index(last) + 1 if last is not None else 0
        page = every[start : start + size]
        headers = [(k, v) for k, v in headers if k.lower() != "link"]
        if start + size < len(every):
            following = f"/v2/{match['name']}/tags/list?n={size}&last={quote(page[-1])}"
            headers.append(("Link", f'<{following}>; rel="next"'))
        payload = json.dumps({"name": match["name"], "tags": page}).encode()
        return status, headers, payload, len(payload)
