"""Credential helpers run for real: docker-credential-pass over a throwaway pass store, and
helper scripts of the tests' own for the failures no real helper makes on demand."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from sansio_registry.auth import Credentials
from sansio_registry.config.auth_json import parse_auth_file, search_credentials
from sansio_registry.config.credential_helpers import HelperQuery
from sansio_registry.errors import CredentialHelperError
from tests.lab.cli import run_cli
from tests.lab.credhelper import PassStore
from tests.lab.labs import Lab
from trio_backend.credential_helpers import CredentialHelpers

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pass_store() -> Iterator[PassStore]:
    with PassStore() as store:
        store.store("reg.example:5000", "alice", "s3cret")
        store.store("tok.example", "<token>", "REFRESH-1")
        yield store


def pass_env(store: PassStore) -> dict[str, str]:
    return {**os.environ, **store.env}


def test_pass_answers_a_stored_server(pass_store: PassStore) -> None:
    helpers = CredentialHelpers(env=pass_env(pass_store))
    got = trio.run(helpers.ask, HelperQuery("pass", "reg.example:5000"))
    assert got == Credentials("alice", "s3cret")


def test_pass_has_nothing_for_an_unknown_server(pass_store: PassStore) -> None:
    helpers = CredentialHelpers(env=pass_env(pass_store))
    assert trio.run(helpers.ask, HelperQuery("pass", "unknown.example")) is None


def test_pass_token_user_is_an_identity_token(pass_store: PassStore) -> None:
    helpers = CredentialHelpers(env=pass_env(pass_store))
    got = trio.run(helpers.ask, HelperQuery("pass", "tok.example"))
    assert got == Credentials(identity_token="REFRESH-1")


@pytest.mark.parametrize(
    "doc",
    [
        b'{"credHelpers": {"reg.example:5000": "pass"}}',
        b'{"credsStore": "pass", "auths": {"reg.example:5000": {}}}',
    ],
)
def test_a_search_through_an_auth_file_runs_pass(pass_store: PassStore, doc: bytes) -> None:
    helpers = CredentialHelpers(env=pass_env(pass_store))
    files = [parse_auth_file(doc, path="/config.json")]
    search = search_credentials(files, "reg.example:5000/ns/app")
    assert trio.run(helpers.search, search) == Credentials("alice", "s3cret")


def write_helper(folder: Path, name: str, script: str) -> dict[str, str]:
    path = folder / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{folder}:{os.environ.get('PATH', '')}"}


def test_a_crashing_helper_is_an_error_naming_it(tmp_path: Path) -> None:
    env = write_helper(tmp_path, "crash", "echo 'keyring is locked' >&2\nexit 3\n")
    helpers = CredentialHelpers(env=env)
    with pytest.raises(CredentialHelperError, match=r"docker-credential-crash.*keyring is locked"):
        trio.run(helpers.ask, HelperQuery("crash", "reg.example"))


def test_a_not_found_helper_means_anonymous(tmp_path: Path) -> None:
    env = write_helper(
        tmp_path, "empty", "echo 'credentials not found in native keychain'\nexit 1\n"
    )
    helpers = CredentialHelpers(env=env)
    assert trio.run(helpers.ask, HelperQuery("empty", "reg.example")) is None


def test_a_hanging_helper_is_cut_off_by_the_deadline(tmp_path: Path) -> None:
    env = write_helper(tmp_path, "hang", "exec sleep 60\n")
    helpers = CredentialHelpers(env=env, deadline=0.5)
    with pytest.raises(CredentialHelperError, match=r"docker-credential-hang did not answer"):
        trio.run(helpers.ask, HelperQuery("hang", "reg.example"))


def test_a_missing_helper_is_an_error_naming_it(tmp_path: Path) -> None:
    helpers = CredentialHelpers(env={"PATH": str(tmp_path)})
    with pytest.raises(CredentialHelperError, match="docker-credential-nosuch not found"):
        trio.run(helpers.ask, HelperQuery("nosuch", "reg.example"))


def test_each_server_is_asked_once_per_client(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    env = write_helper(
        tmp_path,
        "count",
        f'cat >> {log}\necho >> {log}\necho \'{{"Username":"u","Secret":"p"}}\'\n',
    )
    helpers = CredentialHelpers(env=env)

    async def many() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(helpers.ask, HelperQuery("count", "reg.example"))
        await helpers.ask(HelperQuery("count", "other.example"))

    trio.run(many)
    assert log.read_text().split() == ["reg.example", "other.example"]


# --- end to end: the CLI against the real Basic-auth registry, credentials only in pass ----


@pytest.fixture(scope="module")
def pass_with_registry(pass_store: PassStore, basic_registry: Lab) -> PassStore:
    user, password = basic_registry.creds or ("", "")
    pass_store.store(basic_registry.host, user, password)
    return pass_store


def cli_with_auth_file(store: PassStore, tmp_path: Path, doc: dict[str, object], ref: str) -> str:
    authfile = tmp_path / "config.json"
    authfile.write_text(json.dumps(doc))
    result = run_cli(
        ["inspect", "--raw", "--tls-verify=false", "--authfile", str(authfile), f"docker://{ref}"],
        env=store.env,
    )
    assert result.returncode == 0, result.describe()
    return result.stdout.decode()


@pytest.mark.parametrize("style", ["credHelpers", "credsStore"])
def test_cli_reads_a_private_image_with_credentials_from_pass(
    pass_with_registry: PassStore, basic_registry: Lab, tmp_path: Path, style: str
) -> None:
    host = basic_registry.host
    doc: dict[str, object] = (
        {"credHelpers": {host: "pass"}} if style == "credHelpers" else {"credsStore": "pass"}
    )
    ref = basic_registry.ref(basic_registry.images.app)
    raw = cli_with_auth_file(pass_with_registry, tmp_path, doc, ref)
    assert raw.encode() == basic_registry.inspect_raw(basic_registry.images.app)


def test_without_the_helper_the_same_image_is_unauthorized(
    basic_registry: Lab, tmp_path: Path
) -> None:
    authfile = tmp_path / "config.json"
    authfile.write_text("{}")
    ref = basic_registry.ref(basic_registry.images.app)
    result = run_cli(
        ["inspect", "--raw", "--tls-verify=false", "--authfile", str(authfile), f"docker://{ref}"]
    )
    assert result.returncode == 1
    assert "unauthorized" in result.stderr.lower(), result.describe()


def test_skopeo_agrees_through_cred_helpers(
    pass_with_registry: PassStore, basic_registry: Lab, tmp_path: Path
) -> None:
    """skopeo 1.9 runs credHelpers too (it ignores credsStore): the same bytes come back."""
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"credHelpers": {basic_registry.host: "pass"}}))
    ref = basic_registry.ref(basic_registry.images.app)
    ours = cli_with_auth_file(
        pass_with_registry, tmp_path, {"credHelpers": {basic_registry.host: "pass"}}, ref
    )
    theirs = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--authfile",
            str(authfile),
            f"docker://{ref}",
        ],
        env={**os.environ, **pass_with_registry.env},
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout.decode()
    assert ours == theirs


def test_a_failing_helper_is_one_line_naming_it(basic_registry: Lab, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = write_helper(bin_dir, "broken", "echo 'keyring locked' >&2\nexit 2\n")
    authfile = tmp_path / "config.json"
    authfile.write_text(json.dumps({"credsStore": "broken"}))
    ref = basic_registry.ref(basic_registry.images.app)
    result = run_cli(
        ["inspect", "--raw", "--tls-verify=false", "--authfile", str(authfile), f"docker://{ref}"],
        env={"PATH": env["PATH"]},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.describe()
    assert "docker-credential-broken" in lines[0] and "keyring locked" in lines[0]


def test_an_identity_token_from_pass_is_the_refresh_token_of_an_oauth2_post(
    pass_store: PassStore, token_registry: Lab, tmp_path: Path
) -> None:
    issuer = token_registry.issuer
    assert issuer is not None
    issuer.refresh_tokens["REFRESH-ALICE"] = "alice"
    pass_store.store(token_registry.host, "<token>", "REFRESH-ALICE")
    issuer.reset()
    ref = token_registry.ref(token_registry.images.app)
    doc = {"credHelpers": {token_registry.host: "pass"}}
    raw = cli_with_auth_file(pass_store, tmp_path, doc, ref)
    assert raw.encode() == token_registry.inspect_raw(token_registry.images.app)
    posts = [r for r in issuer.requests if r.method == "POST"]
    assert [(r.grant_type, r.account, r.status) for r in posts] == [
        ("refresh_token", "alice", 200)
    ]
