"""Which credential helper is asked for which server, and what its answer means."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

import msgspec
import pytest

from sansio_registry.auth import Credentials
from sansio_registry.config.auth_json import AuthFile, parse_auth_file, search_credentials
from sansio_registry.config.credential_helpers import HelperQuery, parse_helper_reply
from sansio_registry.errors import ConfigError, CredentialHelperError


def auth_file(doc: Mapping[str, object], path: str = "/f.json") -> AuthFile:
    return parse_auth_file(msgspec.json.encode(doc), path=path)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def run_search(
    files: Sequence[AuthFile],
    name: str,
    answers: Mapping[HelperQuery, Credentials | None],
    helpers: Sequence[str] = ("containers-auth.json",),
) -> tuple[Credentials | None, list[HelperQuery]]:
    """Drive the search as a shell would; every query must have an answer in ``answers``."""
    asked: list[HelperQuery] = []
    search = search_credentials(files, name, helpers=helpers)
    answer: Credentials | None = None
    try:
        while True:
            query = search.send(answer)
            asked.append(query)
            answer = answers[query]
    except StopIteration as done:
        return done.value, asked


ALICE = Credentials("alice", "pw")


def test_cred_helpers_entry_is_asked_for_its_host_instead_of_auths() -> None:
    f = auth_file(
        {
            "auths": {"reg.example": {"auth": b64("file:user")}},
            "credHelpers": {"reg.example": "pass"},
        }
    )
    got, asked = run_search([f], "reg.example/ns/app", {HelperQuery("pass", "reg.example"): ALICE})
    assert (got, asked) == (ALICE, [HelperQuery("pass", "reg.example")])


def test_creds_store_is_the_default_helper_and_cred_helpers_wins_for_its_host() -> None:
    f = auth_file({"credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"}})
    gcr = HelperQuery("gcloud", "gcr.io")
    other = HelperQuery("desktop", "quay.io")
    assert run_search([f], "gcr.io/p/app", {gcr: ALICE}) == (ALICE, [gcr])
    assert run_search([f], "quay.io/ns/app", {other: ALICE}) == (ALICE, [other])


def test_docker_hub_is_asked_under_the_docker_cli_server_name() -> None:
    f = auth_file({"credsStore": "desktop"})
    hub = HelperQuery("desktop", "https://index.docker.io/v1/")
    assert run_search([f], "docker.io/library/busybox", {hub: ALICE}) == (ALICE, [hub])


def test_a_helper_with_nothing_lets_the_search_go_on_to_the_next_file() -> None:
    first = auth_file({"credsStore": "desktop"}, "/1.json")
    second = auth_file({"auths": {"reg.example": {"auth": b64("u:p")}}}, "/2.json")
    q = HelperQuery("desktop", "reg.example")
    assert run_search([first, second], "reg.example/app", {q: None}) == (
        Credentials("u", "p"),
        [q],
    )


def test_creds_store_hides_the_same_files_auths_as_the_docker_cli_does() -> None:
    f = auth_file({"credsStore": "desktop", "auths": {"reg.example": {"auth": b64("u:p")}}})
    q = HelperQuery("desktop", "reg.example")
    assert run_search([f], "reg.example/app", {q: None}) == (None, [q])


def test_registries_conf_helpers_are_asked_in_order_around_the_auth_files() -> None:
    f = auth_file({"auths": {"reg.example": {"auth": b64("file:pw")}}})
    first = HelperQuery("pass", "reg.example")
    got, asked = run_search(
        [f], "reg.example/app", {first: None}, helpers=["pass", "containers-auth.json", "never"]
    )
    assert got == Credentials("file", "pw")
    assert asked == [first]  # "never" is not reached: the auth file answered


def test_registries_conf_helper_for_docker_hub_is_asked_for_docker_io() -> None:
    q = HelperQuery("pass", "docker.io")
    assert run_search([], "docker.io/library/busybox", {q: ALICE}, helpers=["pass"]) == (
        ALICE,
        [q],
    )


def test_nothing_anywhere_is_anonymous() -> None:
    q = HelperQuery("pass", "reg.example")
    assert run_search([], "reg.example/app", {q: None}, helpers=["pass"]) == (None, [q])


def test_a_broken_auth_file_fails_only_when_reached() -> None:
    broken = AuthFile("/broken.json", error="reading JSON file: boom")
    q = HelperQuery("pass", "reg.example")
    assert run_search([broken], "reg.example/app", {q: ALICE}, helpers=["pass"]) == (ALICE, [q])
    with pytest.raises(ConfigError, match="boom"):
        run_search([broken], "reg.example/app", {})


QUERY = HelperQuery("pass", "reg.example")


def test_reply_with_username_and_secret() -> None:
    out = b'{"ServerURL":"reg.example","Username":"alice","Secret":"pw"}\n'
    assert parse_helper_reply(QUERY, 0, out) == Credentials("alice", "pw")


def test_token_username_means_an_identity_token() -> None:
    out = b'{"ServerURL":"reg.example","Username":"<token>","Secret":"REFRESH"}'
    assert parse_helper_reply(QUERY, 0, out) == Credentials(identity_token="REFRESH")


@pytest.mark.parametrize(
    ("status", "stdout"),
    [
        (1, b"credentials not found in native keychain\n"),  # osxkeychain, secretservice...
        (0, b'{"ServerURL":"reg.example","Username":"","Secret":""}\n'),  # pass 0.6
    ],
)
def test_not_found_is_none(status: int, stdout: bytes) -> None:
    assert parse_helper_reply(QUERY, status, stdout) is None


@pytest.mark.parametrize(
    ("status", "stdout", "stderr", "message"),
    [
        (1, b"", b"gpg: decryption failed: No secret key\n", "No secret key"),
        (2, b"", b"", "exit status 2"),
        (0, b"<html>", b"", "not its JSON answer"),
    ],
)
def test_other_failures_name_the_helper(
    status: int, stdout: bytes, stderr: bytes, message: str
) -> None:
    with pytest.raises(CredentialHelperError, match="docker-credential-pass") as info:
        parse_helper_reply(QUERY, status, stdout, stderr)
    assert message in str(info.value)
    assert isinstance(info.value, ConfigError)
