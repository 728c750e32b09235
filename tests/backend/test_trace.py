"""The exchange trace's pure parts: Warning texts and URL redaction."""

from __future__ import annotations

import pytest

from sansio_registry.http import Headers
from trio_backend.trace import redact_url, warning_texts


@pytest.mark.parametrize(
    ("values", "texts"),
    [
        (['299 - "This image is deprecated"'], ("This image is deprecated",)),
        (['299 - "one", 299 - "two"'], ("one", "two")),
        (['299 registry.example "say \\"hi\\""'], ('say "hi"',)),
        (['199 - "not a 299"', "garbage"], ()),
        (['299 - "a"', '299 - "b"'], ("a", "b")),
    ],
)
def test_warning_texts(values: list[str], texts: tuple[str, ...]) -> None:
    headers = Headers(tuple(("Warning", v) for v in values))
    assert warning_texts(headers) == texts


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p4ss@sigs.example/a?x=1", "https://***@sigs.example/a?x=1"),
        ("https://reg.example/v2/", "https://reg.example/v2/"),
        ("http://tok@h:5000/x", "http://***@h:5000/x"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
