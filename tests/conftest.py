"""Suite-wide settings: a bounded hypothesis profile, and scripted transcripts always checked."""

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from sansio_registry.testing.transcript import transcripts_used_up

settings.register_profile(
    "ci",
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=100, deadline=None)
#: ``make test-long``: the property and fault-script tests, thousands of examples each.
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _every_transcript_used_up() -> Iterator[None]:
    """A test whose :class:`Transcript` still expected requests fails: no ``done()`` to forget."""
    with transcripts_used_up():
        yield
