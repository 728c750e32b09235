"""``--debug`` shows what was asked of whom, for every kind of registry, and never a secret;
``Warning: 299`` texts reach stderr once each and library callers as data."""

from __future__ import annotations

import base64
import logging
import re

import pytest
import trio

from sansio_registry.client_config import ClientConfig
from tests.lab.cli import run_cli
from tests.lab.extension_server import ExtensionProxy
from tests.lab.labs import Lab
from trio_backend.client import open_client

pytestmark = pytest.mark.integration

DEBUG_LINE = re.compile(r"^sansio-registry: DEBUG: (GET|POST|HEAD|DELETE) \S+ -> ")


def access_args(lab: Lab) -> list[str]:
    args = [f"--tls-verify={'true' if lab.tls_verify else 'false'}"]
    if lab.cert_dir is not None:
        args += ["--cert-dir", str(lab.cert_dir)]
    if lab.creds is not None:
        args += ["--creds", ":".join(lab.creds)]
    return args


def secrets_of(lab: Lab) -> list[str]:
    """Everything that must never appear: passwords, Basic blobs, bearer tokens."""
    found = [p for p in lab.users.values() if p]
    if lab.creds is not None:
        user, password = lab.creds
        found += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
    return found


@pytest.mark.parametrize(
    "lab_name", ["plain_registry", "basic_registry", "token_registry", "tls_registry"]
)
def test_debug_traces_every_exchange_and_no_secret(
    request: pytest.FixtureRequest, lab_name: str
) -> None:
    lab: Lab = request.getfixturevalue(lab_name)
    ref = lab.ref(lab.images.app)
    result = run_cli(["--debug", "inspect", "--raw", *access_args(lab), f"docker://{ref}"])
    assert result.returncode == 0, result.describe()
    lines = [line for line in result.stderr.splitlines() if DEBUG_LINE.match(line)]
    path = f"/v2/{lab.images.app.repo}/manifests/"
    assert any(f"{lab.host}/v2/ -> " in line for line in lines), result.stderr  # the ping
    assert any(path in line and "-> 200 in" in line for line in lines), result.stderr
    if lab_name == "token_registry":
        token_lines = [line for line in lines if "scope repository:" in line]
        assert token_lines, result.stderr
        assert f"scope repository:{lab.images.app.repo}:pull" in token_lines[0]
    whole = result.stderr + result.stdout.decode(errors="replace")
    for secret in secrets_of(lab):
        assert secret not in whole
    assert "Bearer " not in whole and "Basic " not in whole
    assert "eyJ" not in result.stderr  # no JWT (tokens start with a base64 '{"')


def test_without_debug_there_is_no_trace(plain_registry: Lab) -> None:
    ref = plain_registry.ref(plain_registry.images.app)
    result = run_cli(["inspect", "--raw", "--tls-verify=false", f"docker://{ref}"])
    assert result.returncode == 0, result.describe()
    assert result.stderr == ""


def test_the_library_logs_the_same_silently_by_default(
    token_registry: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    config = ClientConfig(tls_verify=False)
    ref = token_registry.ref(token_registry.public or token_registry.images.app)

    async def main() -> None:
        async with open_client(config) as client:
            with trio.fail_after(20):
                await client.get_manifest(ref)

    with caplog.at_level(logging.DEBUG, logger="trio_backend"):
        trio.run(main)
    messages = [r.getMessage() for r in caplog.records if r.name == "trio_backend.http"]
    assert any("/manifests/" in m and "-> 200" in m for m in messages), messages
    assert not any("eyJ" in m or "Bearer" in m for m in messages)


def test_registry_warnings_are_printed_once_each_and_kept_for_callers(
    plain_registry: Lab,
) -> None:
    warnings = [("Warning", '299 - "ns/app is deprecated"'), ("Warning", '299 - "slow down"')]
    with ExtensionProxy(plain_registry.host, advertise=False, extra_headers=warnings) as proxy:
        refs = [
            f"docker://{proxy.host}/{plain_registry.images.app.repo}:v1",
            f"docker://{proxy.host}/{plain_registry.images.oci.repo}:v1",
        ]
        result = run_cli(["inspect", "--raw", "--tls-verify=false", refs[0]])
        assert result.returncode == 0, result.describe()
        assert result.stderr.splitlines() == [
            "sansio-registry: WARNING: ns/app is deprecated",
            "sansio-registry: WARNING: slow down",
        ]

        async def main() -> tuple[str, ...]:
            async with open_client(ClientConfig(tls_verify=False)) as client:
                for ref in refs:
                    await client.get_manifest(ref.removeprefix("docker://"))
                return client.warnings

        assert trio.run(main) == ("ns/app is deprecated", "slow down")
