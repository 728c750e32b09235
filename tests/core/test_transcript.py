"""Scripted transcripts check themselves: a script not used up fails without a ``done()`` call."""

from __future__ import annotations

import pytest

from sansio_registry.errors import TransportError
from sansio_registry.flow import Flow, Steps, fetch
from sansio_registry.http import Request, Response
from sansio_registry.testing import run_sync
from sansio_registry.testing.transcript import Expect, Transcript, reply, transcripts_used_up

URL = "https://reg.test/v2/"


def _one_fetch() -> Flow[Response]:
    def steps() -> Steps[Response]:
        return (yield from fetch(Request(method="GET", url=URL)))

    return Flow(steps())


def test_a_script_left_over_fails_when_the_block_ends() -> None:
    left_over = f"script not used up; still expected: GET {URL}$"
    with pytest.raises(AssertionError, match=left_over), transcripts_used_up() as made:
        script = Transcript([Expect("GET", URL, reply(200)), Expect("GET", URL, reply(200))])
        assert run_sync(_one_fetch(), script).status == 200
    assert made == [script]


def test_a_script_used_up_passes() -> None:
    with transcripts_used_up() as made:
        script = Transcript([Expect("GET", URL, reply(204))])
        assert run_sync(_one_fetch(), script).status == 204
    assert made == [script]
    assert [r.url for r in script.seen] == [URL]


def test_an_error_in_the_block_is_not_masked_by_the_check() -> None:
    with pytest.raises(TransportError, match="boom"), transcripts_used_up():
        Transcript([Expect("GET", URL, reply(200))])
        raise TransportError("boom")


def test_blocks_nest_and_each_checks_its_own() -> None:
    with transcripts_used_up() as outer:
        first = Transcript([])
        with transcripts_used_up() as inner:
            second = Transcript([])
    assert (outer, inner) == ([first], [second])
